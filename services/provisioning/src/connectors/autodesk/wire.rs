//! Autodesk wire format: order bodies per change, the status answer, and error mapping.

use std::time::Duration;

use serde_json::{Value, json};

use crate::connectors::http::{Answer, text};
use crate::domain::connector::Success;
use crate::domain::error::{ErrorClass, VendorError};
use crate::domain::order::{Change, JobContext};

/// Where an order goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `/v2/orders/fulfillment`.
    Fulfillment,
    /// `/v2/orders/revoke`.
    Revoke,
}

impl Endpoint {
    pub(crate) fn path(self) -> &'static str {
        match self {
            Self::Fulfillment => "/v2/orders/fulfillment",
            Self::Revoke => "/v2/orders/revoke",
        }
    }
}

/// The order to place for a job: endpoint and body, or why it cannot be placed.
pub(crate) fn order_body(
    job: &JobContext,
    fallback_reseller_csn: &str,
) -> Result<(Endpoint, Value), VendorError> {
    let order = &job.order;
    let reference = job.client_reference();
    let subscription = || {
        if order.vendor_subscription_id.trim().is_empty() {
            Err(VendorError::permanent(
                "missing_subscription",
                "the change names no Autodesk subscription id",
            ))
        } else {
            Ok(order.vendor_subscription_id.trim().to_string())
        }
    };
    let base = |action: &str, items: Value| json!({"action": action, "poNumber": reference, "partnerOrderId": reference, "items": items});
    let (endpoint, body) = match order.change {
        Change::NewSubscription => {
            let customer = &order.customer;
            let Some((index, contact)) = customer.contact("contract_manager") else {
                return Err(VendorError::needs_input(
                    "missing_contract_manager",
                    "Autodesk needs a contract manager contact for a new subscription",
                    "customer.contacts",
                ));
            };
            let _ = index;
            let reseller = if order.reseller.autodesk_partner_csn.trim().is_empty() {
                fallback_reseller_csn.to_string()
            } else {
                order.reseller.autodesk_partner_csn.trim().to_string()
            };
            let csn = Some(customer.autodesk_csn.trim()).filter(|c| !c.is_empty());
            let mut body = base(
                "New",
                json!([{"partNumber": order.plan.vendor_sku, "quantity": order.quantity}]),
            );
            if let Value::Object(map) = &mut body {
                map.insert("reseller".into(), json!(reseller));
                map.insert("soldTo".into(), json!(reseller));
                map.insert(
                    "endCustomerAccount".into(),
                    json!({
                        "csn": csn,
                        "name": customer.name,
                        "countryCode": customer.country_code,
                        "addressLine1": customer.address_line1,
                        "city": customer.city,
                        "postalCode": customer.postal_code,
                    }),
                );
                map.insert(
                    "endCustomerContractManager".into(),
                    json!({
                        "firstName": contact.first_name,
                        "lastName": contact.last_name,
                        "email": contact.email,
                        "countryCode": customer.country_code,
                        "language": customer.language_code,
                    }),
                );
            }
            (Endpoint::Fulfillment, body)
        }
        Change::SeatIncrease => (
            Endpoint::Fulfillment,
            base(
                "AddSeats",
                json!([{"subscriptionId": subscription()?, "quantity": order.seat_delta()}]),
            ),
        ),
        Change::SeatDecrease => (
            Endpoint::Revoke,
            base(
                "RemoveSeats",
                json!([{"subscriptionId": subscription()?, "quantity": order.seat_delta()}]),
            ),
        ),
        Change::Renewal => {
            let mut item = json!({"subscriptionId": subscription()?});
            if order.quantity > 0 {
                item["quantity"] = json!(order.quantity);
            }
            (Endpoint::Fulfillment, base("Renewal", json!([item])))
        }
        // Autodesk subscriptions end by turning auto-renew off (they stay usable until the term ends).
        Change::AutoRenewOff | Change::Cancellation => (
            Endpoint::Revoke,
            base(
                "TurnOffAutoRenew",
                json!([{"subscriptionId": subscription()?}]),
            ),
        ),
        Change::AutoRenewOn => (
            Endpoint::Fulfillment,
            base(
                "TurnOnAutoRenew",
                json!([{"subscriptionId": subscription()?}]),
            ),
        ),
        Change::Suspension | Change::Resumption => {
            return Err(VendorError::permanent(
                "unsupported_change",
                format!(
                    "Autodesk subscriptions cannot be {}",
                    if order.change == Change::Suspension {
                        "suspended"
                    } else {
                        "resumed"
                    }
                ),
            ));
        }
        Change::MarkupChange => {
            return Err(VendorError::permanent(
                "unsupported_change",
                "markup changes need no vendor call",
            ));
        }
    };
    Ok((endpoint, body))
}

/// What the status endpoint says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    /// Still processing.
    Processing(String),
    /// Done.
    Completed(Success),
    /// Ended with an error.
    Failed(VendorError),
}

fn date(value: &Value, key: &str) -> Option<time::Date> {
    let s = text(value, key);
    time::Date::parse(
        s.get(..10).unwrap_or(&s),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// Interprets a status answer body.
pub(crate) fn status(job: &JobContext, transaction_id: &str, body: &Value) -> Status {
    let message = text(body, "message");
    match text(body, "status").as_str() {
        "Completed" => {
            let subscriptions = body
                .get("subscriptions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let wanted = job.order.vendor_subscription_id.trim();
            let sub = subscriptions
                .iter()
                .find(|s| !wanted.is_empty() && text(s, "subscriptionId") == wanted)
                .or_else(|| subscriptions.first())
                .cloned()
                .unwrap_or(Value::Null);
            let quantity = crate::connectors::http::vendor_quantity(&sub, job.order.quantity);
            Status::Completed(Success {
                vendor_subscription_id: text(&sub, "subscriptionId"),
                vendor_reference: transaction_id.to_string(),
                term_start: date(&sub, "startDate"),
                term_end: date(&sub, "endDate"),
                portal_url: Some(text(body, "accountPortalUrl"))
                    .filter(|u| !u.is_empty())
                    .unwrap_or_else(|| text(&sub, "accountPortalUrl")),
                message,
                quantity,
                autodesk_customer_csn: text(body, "endCustomerCsn"),
                ..Success::default()
            })
        }
        "Failed" | "Error" => {
            let error = body.get("error").cloned().unwrap_or(Value::Null);
            let code = Some(text(&error, "code"))
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "unknown".into());
            let detail = Some(text(&error, "message"))
                .filter(|m| !m.is_empty())
                .unwrap_or(message);
            Status::Failed(async_error(job, &code, &detail))
        }
        _ => Status::Processing(message),
    }
}

/// Maps an asynchronous order error code to our classes. A refusal of the end customer's data
/// (`UAN-CON-00101`) is permanent (seed 004: "Provisioning failed" / "Completed with errors") but
/// names the field, so the reseller can correct the customer and re-submit.
pub(crate) fn async_error(job: &JobContext, code: &str, message: &str) -> VendorError {
    match code {
        "UAN-CON-00101" => {
            let index = job
                .order
                .customer
                .contact("contract_manager")
                .map_or(0, |(i, _)| i);
            VendorError::refused(code, message, format!("customer.contacts[{index}].email"))
        }
        "UAN-SUB-00102" => VendorError::needs_input(code, message, "quantity"),
        _ => VendorError::permanent(code, message),
    }
}

/// Maps a synchronous (HTTP) error answer.
pub(crate) fn http_error(answer: &Answer) -> VendorError {
    let body = answer.json();
    let code = Some(text(&body, "errorCode"))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| format!("http_{}", answer.status));
    let message = Some(text(&body, "developerMessage"))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("Autodesk answered HTTP {}", answer.status));
    match answer.status {
        429 => VendorError::throttled(code, message, answer.retry_after(Duration::from_secs(60))),
        400 => match field_of(&message) {
            Some(field) => VendorError::needs_input(code, message, field),
            None => VendorError::permanent(code, message),
        },
        // Refused credentials (4106), signatures or CSN: our setup, not the reseller's order.
        401 | 403 => {
            VendorError::configuration(code, format!("{message}; {}", super::SETTINGS_TO_CHECK))
        }
        408 => VendorError::transient(code, message),
        404 => VendorError::permanent(code, message),
        409 => VendorError::new(ErrorClass::Conflict, code, message),
        s if s >= 500 => VendorError::transient(code, message),
        _ => VendorError::permanent(code, message),
    }
}

/// The marketplace field a synchronous validation message is about, when the reseller can fix it.
fn field_of(message: &str) -> Option<&'static str> {
    let pairs = [
        (
            "endCustomerContractManager.email",
            "customer.contacts.email",
        ),
        ("endCustomerContractManager", "customer.contacts"),
        ("endCustomerAccount.countryCode", "customer.country_code"),
        ("endCustomerAccount.name", "customer.name"),
        ("endCustomerAccount.csn", "customer.autodesk_csn"),
        ("reseller", "reseller.autodesk_partner_csn"),
        ("quantity", "quantity"),
    ];
    pairs
        .iter()
        .find(|(needle, _)| message.contains(needle))
        .map(|(_, field)| *field)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::order::{Contact, Customer, FulfilmentOrder, Plan, Reseller};

    fn job(change: Change, quantity: i32, previous: i32) -> JobContext {
        JobContext {
            job_id: "job-1".into(),
            generation: 0,
            order: FulfilmentOrder {
                request_id: "r".into(),
                order_id: "o".into(),
                order_number: "ORD-1".into(),
                order_item_id: "i".into(),
                change,
                reseller: Reseller {
                    autodesk_partner_csn: "5100000009".into(),
                    ..Reseller::default()
                },
                customer: Customer {
                    name: "Acme".into(),
                    country_code: "DE".into(),
                    contacts: vec![Contact {
                        email: "a@acme.example".into(),
                        role: "contract_manager".into(),
                        ..Contact::default()
                    }],
                    ..Customer::default()
                },
                plan: Plan {
                    vendor_sku: "C1RK1WW1762T548".into(),
                    ..Plan::default()
                },
                quantity,
                previous_quantity: previous,
                parameters: BTreeMap::new(),
                subscription_id: String::new(),
                vendor_subscription_id: "72000000000001".into(),
            },
        }
    }

    #[test]
    fn orders_carry_the_stable_reference_and_the_right_action() {
        let (endpoint, body) = order_body(&job(Change::NewSubscription, 3, 0), "5100000001")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(endpoint, Endpoint::Fulfillment);
        assert_eq!(
            (body["action"].as_str(), body["poNumber"].as_str()),
            (Some("New"), Some("job-1"))
        );
        assert_eq!(body["reseller"], "5100000009");
        assert_eq!(body["endCustomerAccount"]["csn"], Value::Null);
        let (endpoint, body) =
            order_body(&job(Change::SeatDecrease, 2, 5), "x").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (
                endpoint,
                body["action"].as_str(),
                body["items"][0]["quantity"].as_i64()
            ),
            (Endpoint::Revoke, Some("RemoveSeats"), Some(3))
        );
        let (endpoint, body) =
            order_body(&job(Change::Cancellation, 2, 2), "x").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (endpoint, body["action"].as_str()),
            (Endpoint::Revoke, Some("TurnOffAutoRenew"))
        );
        assert_eq!(
            order_body(&job(Change::Suspension, 2, 2), "x")
                .map(|_| ())
                .unwrap_err()
                .class,
            ErrorClass::Permanent
        );
        let mut resubmitted = job(Change::NewSubscription, 1, 0);
        resubmitted.generation = 2;
        let (_, body) = order_body(&resubmitted, "x").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body["partnerOrderId"], "job-1-2");
    }

    #[test]
    fn status_answers_are_read_defensively() {
        let j = job(Change::NewSubscription, 1, 0);
        assert!(matches!(
            status(&j, "t", &Value::Null),
            Status::Processing(_)
        ));
        assert!(matches!(
            status(
                &j,
                "t",
                &serde_json::json!({"status": "Completed", "subscriptions": "nope"})
            ),
            Status::Completed(_)
        ));
        let failed = status(
            &j,
            "t",
            &serde_json::json!({"status": "Failed", "error": {"code": "UAN-CON-00101", "message": "bad e-mail"}}),
        );
        let Status::Failed(error) = failed else {
            panic!("not failed")
        };
        assert_eq!(error.violations[0].field, "customer.contacts[0].email");
        assert_eq!(error.class, ErrorClass::Permanent, "a refusal ends the job");
    }

    #[test]
    fn refused_credentials_are_a_configuration_error_naming_the_settings() {
        let answer = |status: u16, code: &str| Answer {
            status,
            headers: Default::default(),
            text: format!(
                r#"{{"errorCode":"{code}","developerMessage":"consumer key or consumer secret is not valid"}}"#
            ),
        };
        for (status, code) in [(401, "4106"), (403, "4301")] {
            let e = http_error(&answer(status, code));
            assert_eq!(
                (e.class, e.code.as_str()),
                (ErrorClass::Configuration, code)
            );
            assert!(
                e.message.contains("provisioning.autodesk.consumer_secret"),
                "{e}"
            );
        }
        assert_eq!(http_error(&answer(408, "x")).class, ErrorClass::Transient);
    }
}
