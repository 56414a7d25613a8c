//! The Partner Center flows: new subscription (tenant → MCA → cart → checkout → status) and
//! subscription changes (`PATCH` of the full resource).

use reqwest::Method;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::{Call, MicrosoftConnector, Stop, errors, stop};
use crate::connectors::http::text;
use crate::domain::connector::{Checkpoint, CheckpointSaver, Report, Step, Success};
use crate::domain::error::VendorError;
use crate::domain::order::{Change, JobContext};

type Round = Result<Report, Stop>;

/// Changes that need nothing at the vendor.
pub(super) fn no_vendor_call(job: &JobContext) -> Report {
    Report::new(Step::Succeeded(Success {
        vendor_subscription_id: job.order.vendor_subscription_id.clone(),
        quantity: job.order.quantity,
        message: "markup changes need no vendor call".into(),
        ..Success::default()
    }))
}

fn date(value: &Value, key: &str) -> Option<time::Date> {
    let s = text(value, key);
    time::Date::parse(
        s.get(..10).unwrap_or(&s),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// A new subscription, as far as it gets in one round.
pub(super) async fn new_subscription(
    pc: &MicrosoftConnector,
    job: &JobContext,
    cp: &mut Checkpoint,
    saver: &dyn CheckpointSaver,
) -> Round {
    let mut last = None;
    if let Some(order_id) = cp.vendor_reference.clone() {
        return poll(pc, job, cp, &order_id, &mut last).await;
    }
    let order = &job.order;
    let customer = &order.customer;

    // 1. The customer tenant: reuse the known one, else create it.
    if cp.customer_tenant_id.is_none() {
        if !customer.microsoft_tenant_id.trim().is_empty() {
            cp.customer_tenant_id = Some(customer.microsoft_tenant_id.trim().to_string());
            cp.customer_tenant_domain = Some(customer.microsoft_tenant_domain.clone());
        } else if customer.microsoft_tenant_link_mode == "link_existing" {
            // An existing tenant is never created: it is linked once the customer accepts the
            // reseller relationship (the item resumes then).
            return Err(stop(
                VendorError::needs_input(
                    "relationship_pending",
                    format!(
                        "waiting for the customer to accept the reseller relationship for {}",
                        customer.microsoft_tenant_domain
                    ),
                    "customer.microsoft.reseller_relationship",
                ),
                &last,
            ));
        } else {
            let domain = Some(customer.microsoft_tenant_domain.trim())
                .filter(|d| !d.is_empty())
                .or_else(|| order.parameter("microsoft_tenant_domain"))
                .map(str::to_ascii_lowercase);
            let Some(domain) = domain else {
                return Err(stop(
                    VendorError::needs_input(
                        "missing_domain",
                        "a new Microsoft tenant needs a domain (x.onmicrosoft.com)",
                        "customer.microsoft_tenant_domain",
                    ),
                    &last,
                ));
            };
            let contact = customer
                .contact("global_admin")
                .map(|(_, c)| c.clone())
                .unwrap_or_default();
            let body = json!({
                "billingProfile": {
                    "email": contact.email,
                    "culture": "en-US",
                    "language": if customer.language_code.is_empty() { "en" } else { customer.language_code.as_str() },
                    "companyName": customer.name,
                    "defaultAddress": {
                        "firstName": contact.first_name,
                        "lastName": contact.last_name,
                        "addressLine1": customer.address_line1,
                        "city": customer.city,
                        "postalCode": customer.postal_code,
                        "country": customer.country_code,
                        "phoneNumber": contact.phone,
                    },
                },
                "companyProfile": {"domain": domain},
            });
            let created = pc
                .mutate(
                    cp,
                    saver,
                    "create_customer",
                    Method::POST,
                    "/v1/customers",
                    &body,
                    None,
                    Call::CreateCustomer,
                    &mut last,
                )
                .await?;
            let id = text(&created, "id");
            if id.is_empty() {
                return Err(stop(
                    VendorError::transient("bad_response", "customer created without an id"),
                    &last,
                ));
            }
            cp.customer_tenant_id = Some(id);
            cp.customer_tenant_domain = Some(domain);
        }
    }
    let tenant = cp.customer_tenant_id.clone().unwrap_or_default();

    // 2. MCA attestation (when the customer accepted it; otherwise checkout answers 13605).
    if !cp.mca_confirmed && customer.mca_accepted {
        let template = pc.mca_template(&mut last).await?;
        // Microsoft: `primaryContact` is the person who accepted the agreement.
        let contact = customer
            .mca_contact
            .clone()
            .or_else(|| customer.contact("global_admin").map(|(_, c)| c.clone()))
            .unwrap_or_default();
        let agreed = customer
            .mca_accept_time
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| {
                time::OffsetDateTime::now_utc()
                    .format(&Rfc3339)
                    .unwrap_or_default()
            });
        let body = json!({
            "primaryContact": {"firstName": contact.first_name, "lastName": contact.last_name, "email": contact.email, "phoneNumber": contact.phone},
            "templateId": template,
            "dateAgreed": agreed,
            "type": "MicrosoftCustomerAgreement",
        });
        let path = format!("/v1/customers/{tenant}/agreements");
        pc.mutate(
            cp,
            saver,
            "create_agreement",
            Method::POST,
            &path,
            &body,
            None,
            Call::Agreement,
            &mut last,
        )
        .await?;
        cp.mca_confirmed = true;
    }

    // 3. The cart.
    if cp.cart_id.is_none() {
        let mut line = json!({
            "id": 0,
            "catalogItemId": order.plan.vendor_sku,
            "friendlyName": order.plan.name,
            "quantity": order.quantity,
            "billingCycle": order.plan.billing_cycle.as_vendor_str(),
            "termDuration": order.plan.term.iso(),
        });
        let mpn = order
            .parameter("mpn_id")
            .unwrap_or(order.reseller.microsoft_mpn_id.trim());
        if !mpn.is_empty() {
            line["partnerIdOnRecord"] = json!(mpn);
        }
        let body = json!({"lineItems": [line]});
        let path = format!("/v1/customers/{tenant}/carts");
        let cart = pc
            .mutate(
                cp,
                saver,
                "create_cart",
                Method::POST,
                &path,
                &body,
                None,
                Call::CreateCart,
                &mut last,
            )
            .await?;
        let id = text(&cart, "id");
        if id.is_empty() {
            return Err(stop(
                VendorError::transient("bad_response", "cart created without an id"),
                &last,
            ));
        }
        cp.cart_id = Some(id);
    }
    let cart = cp.cart_id.clone().unwrap_or_default();

    // 4. Checkout: the order.
    let path = format!("/v1/customers/{tenant}/carts/{cart}/checkout");
    let result = match pc
        .mutate(
            cp,
            saver,
            "checkout",
            Method::POST,
            &path,
            &json!({}),
            None,
            Call::Checkout,
            &mut last,
        )
        .await
    {
        Ok(result) => result,
        Err(report) => {
            if let Step::Error(e) = &report.step
                && e.code == "800008"
            {
                // The cart is gone (expired): build a new one next round.
                cp.cart_id = None;
            }
            return Err(report);
        }
    };
    if let Some(error) = result
        .get("orderErrors")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        let code = text(error, "code");
        return Err(stop(
            errors::by_code(Call::Checkout, 400, code, text(error, "description")),
            &last,
        ));
    }
    let order_id = result
        .get("orders")
        .and_then(Value::as_array)
        .and_then(|o| o.first())
        .map(|o| text(o, "id"))
        .filter(|id| !id.is_empty());
    let Some(order_id) = order_id else {
        return Err(stop(
            VendorError::transient("bad_response", "checkout answered without an order"),
            &last,
        ));
    };
    cp.vendor_reference = Some(order_id.clone());

    // 5. Look at once (orders may complete immediately), then poll on the growing schedule.
    poll(pc, job, cp, &order_id, &mut last).await
}

/// Per-line provisioning status of an order.
async fn poll(
    pc: &MicrosoftConnector,
    job: &JobContext,
    cp: &mut Checkpoint,
    order_id: &str,
    last: &mut Option<String>,
) -> Round {
    cp.polls += 1;
    let tenant = cp.customer_tenant_id.clone().unwrap_or_default();
    let status = pc
        .read(
            &format!("/v1/customers/{tenant}/orders/{order_id}/provisioningstatus"),
            Call::Read,
            last,
        )
        .await?;
    let line = status
        .get("items")
        .and_then(Value::as_array)
        .and_then(|i| i.first())
        .cloned()
        .unwrap_or(Value::Null);
    match text(&line, "status").as_str() {
        "Fulfilled" => {
            let subscription_id = text(&line, "subscriptionId");
            let sub = if subscription_id.is_empty() {
                Value::Null
            } else {
                pc.read(
                    &format!("/v1/customers/{tenant}/subscriptions/{subscription_id}"),
                    Call::Read,
                    last,
                )
                .await?
            };
            Ok(Report {
                step: Step::Succeeded(success(
                    job,
                    cp,
                    order_id,
                    &subscription_id,
                    &sub,
                    format!("order {order_id} fulfilled"),
                )),
                last_response: last.clone(),
            })
        }
        "Unfulfilled" => {
            let error = line.get("error").cloned().unwrap_or(Value::Null);
            let code = Some(text(&error, "code"))
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "unfulfilled".into());
            let message = Some(text(&error, "description"))
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| format!("order {order_id} was not fulfilled"));
            Err(stop(
                errors::by_code(Call::Checkout, 400, code, message),
                last,
            ))
        }
        _ => Ok(Report {
            step: Step::Waiting {
                vendor_reference: order_id.to_string(),
                message: format!("order {order_id} is being provisioned"),
            },
            last_response: last.clone(),
        }),
    }
}

fn success(
    job: &JobContext,
    cp: &Checkpoint,
    reference: &str,
    subscription_id: &str,
    sub: &Value,
    message: String,
) -> Success {
    let quantity = crate::connectors::http::vendor_quantity(sub, job.order.quantity);
    Success {
        vendor_subscription_id: subscription_id.to_string(),
        vendor_reference: reference.to_string(),
        term_start: date(sub, "effectiveStartDate"),
        term_end: date(sub, "commitmentEndDate"),
        message,
        quantity,
        microsoft_tenant_id: cp.customer_tenant_id.clone().unwrap_or_default(),
        microsoft_tenant_domain: cp.customer_tenant_domain.clone().unwrap_or_default(),
        ..Success::default()
    }
}

/// A subscription change: read the full resource, change it, `PATCH` it back with its etag.
pub(super) async fn patch_subscription(
    pc: &MicrosoftConnector,
    job: &JobContext,
    cp: &mut Checkpoint,
    saver: &dyn CheckpointSaver,
) -> Round {
    let mut last = None;
    let order = &job.order;
    let tenant = Some(order.customer.microsoft_tenant_id.trim().to_string())
        .filter(|t| !t.is_empty())
        .or_else(|| cp.customer_tenant_id.clone());
    let Some(tenant) = tenant else {
        return Err(stop(
            VendorError::needs_input(
                "missing_tenant",
                "the customer has no Microsoft tenant id",
                "customer.microsoft_tenant_id",
            ),
            &last,
        ));
    };
    cp.customer_tenant_id = Some(tenant.clone());
    let subscription_id = order.vendor_subscription_id.trim().to_string();
    if subscription_id.is_empty() {
        return Err(stop(
            VendorError::permanent(
                "missing_subscription",
                "the change names no Microsoft subscription id",
            ),
            &last,
        ));
    }
    let path = format!("/v1/customers/{tenant}/subscriptions/{subscription_id}");
    let mut sub = pc.read(&path, Call::Read, &mut last).await?;
    let etag = sub
        .get("attributes")
        .map(|a| text(a, "etag"))
        .unwrap_or_default();
    let Value::Object(map) = &mut sub else {
        return Err(stop(
            VendorError::transient("bad_response", "subscription answer is not an object"),
            &last,
        ));
    };
    match order.change {
        Change::SeatIncrease | Change::SeatDecrease => {
            map.insert("quantity".into(), json!(order.quantity));
        }
        Change::Suspension => {
            map.insert("status".into(), json!("suspended"));
        }
        Change::Resumption => {
            map.insert("status".into(), json!("active"));
        }
        Change::Cancellation => {
            map.insert("status".into(), json!("deleted"));
        }
        Change::AutoRenewOn | Change::AutoRenewOff => {
            map.insert(
                "autoRenewEnabled".into(),
                json!(order.change == Change::AutoRenewOn),
            );
        }
        Change::NewSubscription | Change::Renewal | Change::MarkupChange => {
            return Err(stop(
                VendorError::permanent("unsupported_change", "not a subscription change"),
                &last,
            ));
        }
    }
    let if_match = Some(etag.as_str()).filter(|e| !e.is_empty());
    let updated = pc
        .mutate(
            cp,
            saver,
            "patch",
            Method::PATCH,
            &path,
            &sub,
            if_match,
            Call::Patch,
            &mut last,
        )
        .await?;
    cp.vendor_reference = Some(subscription_id.clone());
    Ok(Report {
        step: Step::Succeeded(success(
            job,
            cp,
            &subscription_id,
            &subscription_id,
            &updated,
            format!("subscription {subscription_id} updated"),
        )),
        last_response: last,
    })
}

/// A renewal: new-commerce subscriptions renew themselves at term end when auto-renew is on, so
/// the vendor step is to confirm that the subscription is live and set to renew (no PATCH, and
/// nothing to repeat on a retry). Auto-renew off or a deleted subscription cannot renew.
pub(super) async fn confirm_renewal(
    pc: &MicrosoftConnector,
    job: &JobContext,
    cp: &mut Checkpoint,
) -> Round {
    let mut last = None;
    let order = &job.order;
    let tenant = Some(order.customer.microsoft_tenant_id.trim().to_string())
        .filter(|t| !t.is_empty())
        .or_else(|| cp.customer_tenant_id.clone());
    let (Some(tenant), subscription_id) = (tenant, order.vendor_subscription_id.trim().to_string())
    else {
        return Err(stop(
            VendorError::needs_input(
                "missing_tenant",
                "the customer has no Microsoft tenant id",
                "customer.microsoft_tenant_id",
            ),
            &last,
        ));
    };
    if subscription_id.is_empty() {
        return Err(stop(
            VendorError::permanent(
                "missing_subscription",
                "the renewal names no Microsoft subscription id",
            ),
            &last,
        ));
    }
    let path = format!("/v1/customers/{tenant}/subscriptions/{subscription_id}");
    let sub = pc.read(&path, Call::Read, &mut last).await?;
    let status = text(&sub, "status");
    let auto_renew = sub
        .get("autoRenewEnabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if status == "deleted" || status == "expired" {
        return Err(stop(
            VendorError::permanent(
                "not_renewable",
                format!("Microsoft subscription {subscription_id} is {status} and cannot renew"),
            ),
            &last,
        ));
    }
    if !auto_renew {
        return Err(stop(
            VendorError::permanent(
                "auto_renew_off",
                format!(
                    "auto-renew is off for Microsoft subscription {subscription_id}; it will not renew"
                ),
            ),
            &last,
        ));
    }
    cp.customer_tenant_id = Some(tenant);
    cp.vendor_reference = Some(subscription_id.clone());
    Ok(Report {
        step: Step::Succeeded(success(
            job,
            cp,
            &subscription_id,
            &subscription_id,
            &sub,
            format!("subscription {subscription_id} renews at Microsoft (auto-renew on)"),
        )),
        last_response: last,
    })
}
