//! Events: builders of the ordering events (facts carried to provisioning and notification),
//! the recorder that turns order status changes into history rows and events, and the
//! `ordering-from-provisioning` consumer that moves items, orders and subscriptions.

use std::sync::Arc;

use marketplace_proto::common::v1::{Date, FieldViolation};
use marketplace_proto::events::v1 as ev;
use marketplace_proto::events::v1::envelope::Payload;
use platform::ServiceError;
use platform::clock::micros_to_timestamp;
use platform::consumer::{EventHandler, HandleError};
use platform::error::ErrorCode;
use sqlx::AnyConnection;

use crate::context::Ctx;
use crate::domain::Problem;
use crate::domain::customer::{Customer, RELATIONSHIP_FIELD};
use crate::domain::lifecycle::{self, Provisioned};
use crate::domain::order::{Change, Order, OrderItem};
use crate::domain::plan::{MICROSOFT, PlanInfo};
use crate::domain::policy;
use crate::domain::reseller::Reseller;
use crate::domain::state::{ChangeType, ItemStatus};
use crate::domain::subscription::{
    ChangeWindow, Day, NCE_CANCELLATION_WINDOW_MICROS, Subscription, SubscriptionStatus,
};

/// The producing service name.
pub(crate) const SOURCE: &str = "ordering";

/// Reseller facts carried by events (only the id when the profile is unknown).
pub(crate) fn reseller_facts(id: &str, r: Option<&Reseller>) -> ev::ResellerFacts {
    let Some(r) = r else {
        return ev::ResellerFacts {
            reseller_id: id.to_string(),
            ..Default::default()
        };
    };
    ev::ResellerFacts {
        reseller_id: r.id.clone(),
        name: r.name.clone(),
        autodesk_partner_csn: r.autodesk_partner_csn.clone(),
        microsoft_mpn_id: r.microsoft_mpn_id.clone(),
        microsoft_indirect_reseller_tenant_id: r.microsoft_indirect_reseller_tenant_id.clone(),
        notification_email: r.notification_email.clone(),
    }
}

fn contact_facts(k: &crate::domain::customer::Contact) -> ev::ContactFacts {
    ev::ContactFacts {
        email: k.email.clone(),
        first_name: k.first_name.clone(),
        last_name: k.last_name.clone(),
        role: k.role.as_str().to_string(),
        phone: k.phone.clone(),
    }
}

/// Customer facts carried by events.
pub(crate) fn customer_facts(c: &Customer) -> ev::CustomerFacts {
    let mca = c.mca();
    ev::CustomerFacts {
        customer_id: c.id.clone(),
        name: c.name.clone(),
        contacts: c.contacts.iter().map(contact_facts).collect(),
        microsoft_customer_agreement_contact: mca.map(|a| contact_facts(&a.contact)),
        country_code: c.address.country_code.clone(),
        microsoft_tenant_id: c.microsoft.tenant_id.clone(),
        microsoft_tenant_domain: c.microsoft.tenant_domain.clone(),
        microsoft_tenant_link_mode: c.microsoft.link_mode.as_str().to_string(),
        microsoft_customer_agreement_accepted: mca.is_some(),
        autodesk_csn: c.autodesk_csn.clone(),
        language_code: c.language_code.clone(),
        microsoft_customer_agreement_accept_time: mca.map(|a| micros_to_timestamp(a.accept_time)),
        city: c.address.city.clone(),
        address_line1: c.address.line1.clone(),
        postal_code: c.address.postal_code.clone(),
    }
}

/// Plan facts carried by `fulfilment_requested`.
pub(crate) fn plan_facts(p: &PlanInfo) -> ev::PlanFacts {
    ev::PlanFacts {
        plan_id: p.plan_id.clone(),
        vendor_id: p.vendor_id.clone(),
        name: p.name.clone(),
        vendor_sku: p.vendor_sku.clone(),
        term: p.term,
        billing_cycle: p.billing_cycle,
        commitment_months: p.commitment_months,
        connector: p.connector(),
    }
}

/// Field violations of the wire.
pub(crate) fn violations(problems: &[Problem]) -> Vec<FieldViolation> {
    problems
        .iter()
        .map(|p| FieldViolation {
            field: p.field.clone(),
            description: p.description.clone(),
        })
        .collect()
}

/// Appends one event to the outbox inside `conn`'s transaction.
pub(crate) async fn append(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    reseller_id: &str,
    customer_id: &str,
    payload: Payload,
) -> Result<(), ServiceError> {
    let envelope =
        platform::outbox::envelope(SOURCE, reseller_id, customer_id, payload, &ctx.clock);
    ctx.outbox.append(conn, &envelope, ctx.now()).await?;
    Ok(())
}

/// Records one status change: bumps the order version, stores the snapshot watchers stream,
/// and emits `order_status_changed` / `order_item_status_changed`.
pub(crate) async fn record(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    order: &mut Order,
    change: Change,
    reseller: &ev::ResellerFacts,
) -> Result<(), ServiceError> {
    let described = change.describe(order);
    let payload = status_payload(order, change, reseller);
    ctx.store
        .append_history(conn, order, &described, ctx.now())
        .await?;
    append(ctx, conn, &order.reseller_id, &order.customer_id, payload).await
}

/// Bumps the order version for one status change and builds its event (the caller stores the
/// history row and appends the event).
pub(crate) fn status_payload(
    order: &mut Order,
    change: Change,
    reseller: &ev::ResellerFacts,
) -> Payload {
    order.version += 1;
    match change {
        Change::Order { from, to, reason } => Payload::OrderStatusChanged(ev::OrderStatusChanged {
            order_id: order.id.clone(),
            order_number: order.number.clone(),
            from_status: from.as_str().to_string(),
            to_status: to.as_str().to_string(),
            reason,
            reseller: Some(reseller.clone()),
            customer_name: order.customer_name.clone(),
            version: order.version,
        }),
        Change::Item { item_id, from, to } => {
            let item = order.items.iter().find(|i| i.id == item_id);
            Payload::OrderItemStatusChanged(ev::OrderItemStatusChanged {
                order_id: order.id.clone(),
                order_item_id: item_id.clone(),
                from_status: from.as_str().to_string(),
                to_status: to.as_str().to_string(),
                vendor_message: item.map(|i| i.vendor_message.clone()).unwrap_or_default(),
                parameter_errors: item
                    .map(|i| violations(&i.parameter_errors))
                    .unwrap_or_default(),
                version: order.version,
            })
        }
    }
}

/// `fulfilment_requested` for the current attempt of `item`.
pub(crate) fn fulfilment_requested(
    order: &Order,
    item: &OrderItem,
    reseller: &ev::ResellerFacts,
    customer: &ev::CustomerFacts,
    test_clock_offset_ms: i64,
) -> Payload {
    let mut reseller = reseller.clone();
    let mut customer = customer.clone();
    overlay(
        &item.parameters,
        &item.plan.vendor_id,
        &mut reseller,
        &mut customer,
    );
    Payload::FulfilmentRequested(ev::FulfilmentRequested {
        request_id: item.request_id(),
        order_id: order.id.clone(),
        order_number: order.number.clone(),
        order_item_id: item.id.clone(),
        change: item.change.code(),
        reseller: Some(reseller),
        customer: Some(customer),
        plan: Some(plan_facts(&item.plan)),
        quantity: item.quantity,
        previous_quantity: item.previous_quantity,
        parameters: item.parameters.clone().into_iter().collect(),
        subscription_id: item.subscription_id.clone(),
        vendor_subscription_id: item.vendor_subscription_id.clone(),
        resubmission: item.resubmission,
        test_clock_offset_ms,
    })
}

/// Makes the facts agree with the item's parameters: a value entered on the line or corrected by
/// a re-submission (e.g. `tenant_domain`, `mpn_id`, `admin_email`) wins over the profile fact.
fn overlay(
    parameters: &std::collections::BTreeMap<String, String>,
    vendor_id: &str,
    reseller: &mut ev::ResellerFacts,
    customer: &mut ev::CustomerFacts,
) {
    for (key, value) in parameters.iter().filter(|(_, v)| !v.is_empty()) {
        let value = value.clone();
        match key.as_str() {
            "partner_csn" | "autodesk_partner_csn" => reseller.autodesk_partner_csn = value,
            "mpn_id" | "microsoft_mpn_id" => reseller.microsoft_mpn_id = value,
            "indirect_reseller_tenant_id" => reseller.microsoft_indirect_reseller_tenant_id = value,
            "tenant_domain" => customer.microsoft_tenant_domain = value,
            "tenant_id" => customer.microsoft_tenant_id = value,
            "customer_csn" | "csn" | "autodesk_csn" => customer.autodesk_csn = value,
            "admin_email" | "contact_email" => {
                let role = if vendor_id == MICROSOFT {
                    "global_admin"
                } else {
                    "contract_manager"
                };
                match customer.contacts.iter_mut().find(|c| c.role == role) {
                    Some(contact) => contact.email = value,
                    None => customer.contacts.push(ev::ContactFacts {
                        email: value,
                        role: role.to_string(),
                        ..Default::default()
                    }),
                }
            }
            _ => {}
        }
    }
}

/// Emits `subscription_status_changed`.
pub(crate) async fn subscription_changed(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    s: &Subscription,
    from: SubscriptionStatus,
    reason: &str,
    reseller: &ev::ResellerFacts,
) -> Result<(), ServiceError> {
    let payload = Payload::SubscriptionStatusChanged(ev::SubscriptionStatusChanged {
        subscription_id: s.id.clone(),
        from_status: from.as_str().to_string(),
        to_status: s.status.as_str().to_string(),
        reason: reason.to_string(),
        order_id: s.order_id.clone(),
        plan_name: s.plan.name.clone(),
        reseller: Some(reseller.clone()),
    });
    append(ctx, conn, &s.reseller_id, &s.customer_id, payload).await
}

/// What provisioning reported about one attempt.
enum Outcome {
    /// Still provisioning; the reason it waits, if any (e.g. the vendor refuses our credentials).
    Progressed(String),
    Succeeded(ev::FulfilmentSucceeded),
    Inquiring(ev::FulfilmentInquiring),
    Failed(ev::FulfilmentFailed),
}

/// The `ordering-from-provisioning` consumer.
pub(crate) struct ProvisioningHandler {
    ctx: Arc<Ctx>,
}

impl ProvisioningHandler {
    /// A handler sharing the service context.
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Self { ctx }
    }
}

#[async_trait::async_trait]
impl EventHandler for ProvisioningHandler {
    async fn handle(
        &self,
        conn: &mut AnyConnection,
        event: &ev::Envelope,
    ) -> Result<(), HandleError> {
        let (order_id, item_id, request_id, outcome) = match &event.payload {
            Some(Payload::FulfilmentProgressed(p)) => (
                &p.order_id,
                &p.order_item_id,
                &p.request_id,
                Outcome::Progressed(p.vendor_message.clone()),
            ),
            Some(Payload::FulfilmentSucceeded(p)) => (
                &p.order_id,
                &p.order_item_id,
                &p.request_id,
                Outcome::Succeeded(p.clone()),
            ),
            Some(Payload::FulfilmentInquiring(p)) => (
                &p.order_id,
                &p.order_item_id,
                &p.request_id,
                Outcome::Inquiring(p.clone()),
            ),
            Some(Payload::FulfilmentFailed(p)) => (
                &p.order_id,
                &p.order_item_id,
                &p.request_id,
                Outcome::Failed(p.clone()),
            ),
            Some(Payload::MicrosoftTenantLinkUpdated(p)) => {
                return tenant_link_updated(&self.ctx, conn, p)
                    .await
                    .map_err(|e| HandleError::Retry(e.to_string()));
            }
            _ => return Ok(()),
        };
        apply(&self.ctx, conn, order_id, item_id, request_id, outcome)
            .await
            .map_err(|e| match e.code {
                ErrorCode::InvalidArgument => HandleError::Reject(e.to_string()),
                _ => HandleError::Retry(e.to_string()),
            })
    }
}

/// What provisioning learned about a customer's reseller relationship request: the invitation
/// link, then the tenant id once the customer accepted. The tenant is recorded on the customer
/// (readiness turns READY, orders reuse it) and items waiting on the relationship resume, all
/// in the consumer's transaction.
async fn tenant_link_updated(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    p: &ev::MicrosoftTenantLinkUpdated,
) -> Result<(), ServiceError> {
    let Some(mut customer) = ctx.store.customer(conn, &p.customer_id).await? else {
        tracing::warn!(customer = %p.customer_id, "tenant link of an unknown customer; ignored");
        return Ok(());
    };
    let now = ctx.now();
    if !customer.learn_relationship(&p.tenant_domain, &p.invitation_url, &p.tenant_id, now) {
        return Ok(());
    }
    customer.version += 1;
    customer.updated_at = now;
    ctx.store.update_customer(conn, &customer).await?;
    if !customer.microsoft.tenant_id.is_empty() {
        tracing::info!(customer = %customer.id, tenant = %customer.microsoft.tenant_id, "existing Microsoft tenant linked");
        crate::placing::resume_waiting_on(
            ctx,
            conn,
            &customer.reseller_id,
            Some(&customer.id),
            &[RELATIONSHIP_FIELD, "customer.microsoft.tenant_id"],
        )
        .await?;
    }
    Ok(())
}

fn day(d: &Option<Date>) -> Option<Day> {
    d.as_ref().filter(|d| d.year > 0).map(|d| Day {
        year: d.year,
        month: d.month,
        day: d.day,
    })
}

async fn apply(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    order_id: &str,
    item_id: &str,
    request_id: &str,
    outcome: Outcome,
) -> Result<(), ServiceError> {
    let Some(mut order) = ctx.store.order(conn, order_id).await? else {
        tracing::warn!(order_id, "provisioning event for an unknown order; ignored");
        return Ok(());
    };
    let Some(item) = order.items.iter().find(|i| i.id == item_id).cloned() else {
        tracing::warn!(
            order_id,
            item_id,
            "provisioning event for an unknown order item; ignored"
        );
        return Ok(());
    };
    if !request_id.is_empty() && item.request_id() != request_id {
        tracing::info!(order_id, item_id, request_id, current = %item.request_id(), "event of an earlier attempt; ignored");
        return Ok(());
    }
    let now = ctx.now_for(conn, &order.customer_id).await?;
    if let Outcome::Progressed(message) = &outcome
        && item.status == ItemStatus::Provisioning
    {
        // Only why it waits may change (shown at once, cleared when the job moves on).
        if item.vendor_message != *message {
            if let Some(entry) = order.items.iter_mut().find(|i| i.id == item_id) {
                entry.vendor_message = message.clone();
                entry.updated_at = now;
            }
            let base = order.version;
            order.version += 1;
            order.updated_at = now;
            ctx.store.update_order(conn, &order, base).await?;
        }
        return Ok(());
    }
    let target = match &outcome {
        Outcome::Progressed(_) => Some(ItemStatus::Provisioning),
        Outcome::Succeeded(_) => Some(ItemStatus::Provisioned),
        Outcome::Inquiring(_) => Some(ItemStatus::Inquiring),
        Outcome::Failed(_) => Some(ItemStatus::Failed),
    };
    let Some(target) = target else { return Ok(()) };
    if item.status == target || !item.status.can_become(target) {
        tracing::info!(
            order_id,
            item_id,
            from = item.status.as_str(),
            to = target.as_str(),
            "transition not applicable; ignored"
        );
        return Ok(());
    }
    let reseller = ctx.store.reseller(conn, &order.reseller_id).await?;
    let facts = reseller_facts(&order.reseller_id, reseller.as_ref());
    let base = order.version;
    if let Some(entry) = order.items.iter_mut().find(|i| i.id == item_id) {
        match &outcome {
            Outcome::Progressed(message) => entry.vendor_message = message.clone(),
            Outcome::Succeeded(s) => {
                entry.vendor_message = s.vendor_message.clone();
                entry.parameter_errors.clear();
                if !s.vendor_subscription_id.is_empty() {
                    entry.vendor_subscription_id = s.vendor_subscription_id.clone();
                }
            }
            Outcome::Inquiring(i) => {
                entry.vendor_message = i.vendor_message.clone();
                entry.parameter_errors = i
                    .field_violations
                    .iter()
                    .map(|v| Problem::new(v.field.clone(), v.description.clone()))
                    .collect();
            }
            Outcome::Failed(f) => {
                entry.vendor_message = if f.vendor_code.is_empty() {
                    f.vendor_message.clone()
                } else {
                    format!("{} ({})", f.vendor_message, f.vendor_code)
                };
                // A refusal may name what to correct before a re-submission.
                entry.parameter_errors = f
                    .field_violations
                    .iter()
                    .map(|v| Problem::new(v.field.clone(), v.description.clone()))
                    .collect();
            }
        }
    }
    let change = order.transition_item(item_id, target, now)?;
    record(ctx, conn, &mut order, change, &facts).await?;
    for change in order.advance(now) {
        record(ctx, conn, &mut order, change, &facts).await?;
    }
    let new_subscription = item.change == ChangeType::NewSubscription;
    match outcome {
        Outcome::Succeeded(s) if new_subscription => {
            activate(ctx, conn, &order, item_id, &s, &facts, now).await?
        }
        Outcome::Succeeded(s) => changed(ctx, conn, &order, &item, Some(&s), &facts, now).await?,
        Outcome::Failed(f) if new_subscription => {
            not_provisioned(ctx, conn, &order, item_id, &f.vendor_message, &facts, now).await?
        }
        Outcome::Failed(_) => changed(ctx, conn, &order, &item, None, &facts, now).await?,
        Outcome::Progressed(_) | Outcome::Inquiring(_) => {}
    }
    ctx.store.update_order(conn, &order, base).await
}

async fn activate(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    order: &Order,
    item_id: &str,
    s: &ev::FulfilmentSucceeded,
    facts: &ev::ResellerFacts,
    now: i64,
) -> Result<(), ServiceError> {
    let Some(item) = order.items.iter().find(|i| i.id == item_id) else {
        return Ok(());
    };
    let mut customer = ctx.store.customer(conn, &order.customer_id).await?;
    if let Some(c) = customer.as_mut()
        && c.learn_vendor_identity(
            &s.microsoft_tenant_id,
            &s.microsoft_tenant_domain,
            &s.autodesk_customer_csn,
        )
    {
        c.version += 1;
        c.updated_at = now;
        ctx.store.update_customer(conn, c).await?;
    }
    let Some(mut sub) = ctx.store.subscription(conn, &item.subscription_id).await? else {
        tracing::warn!(item_id, "provisioned item without a subscription");
        return Ok(());
    };
    sub.vendor_subscription_id = s.vendor_subscription_id.clone();
    sub.vendor_portal_url = s.portal_url.clone();
    sub.term_start = day(&s.term_start).or(sub.term_start);
    sub.term_end = day(&s.term_end).or(sub.term_end);
    sub.vendor_message.clear();
    if s.quantity > 0 {
        sub.quantity = s.quantity;
    }
    if sub.plan.vendor_id == MICROSOFT {
        sub.cancellation_windows.push(ChangeWindow {
            open_at: now,
            close_at: now + NCE_CANCELLATION_WINDOW_MICROS,
            quantity: sub.quantity,
            reason: "purchase".into(),
        });
    }
    let from = sub.set_status(
        SubscriptionStatus::Active,
        "provisioned by the vendor",
        &order.id,
        now,
    );
    sub.version += 1;
    ctx.store.update_subscription(conn, &sub).await?;
    subscription_changed(ctx, conn, &sub, from, "provisioned by the vendor", facts).await?;
    let payload = Payload::SubscriptionActivated(ev::SubscriptionActivated {
        subscription_id: sub.id.clone(),
        order_id: order.id.clone(),
        order_number: order.number.clone(),
        plan_name: sub.plan.name.clone(),
        vendor_id: sub.plan.vendor_id.clone(),
        quantity: sub.quantity,
        vendor_subscription_id: sub.vendor_subscription_id.clone(),
        portal_url: sub.vendor_portal_url.clone(),
        reseller: Some(facts.clone()),
        customer: customer.as_ref().map(customer_facts),
        term_end: sub.term_end.map(|d| Date {
            year: d.year,
            month: d.month,
            day: d.day,
        }),
    });
    append(ctx, conn, &order.reseller_id, &order.customer_id, payload).await
}

async fn not_provisioned(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    order: &Order,
    item_id: &str,
    message: &str,
    facts: &ev::ResellerFacts,
    now: i64,
) -> Result<(), ServiceError> {
    let Some(item) = order.items.iter().find(|i| i.id == item_id) else {
        return Ok(());
    };
    let Some(mut sub) = ctx.store.subscription(conn, &item.subscription_id).await? else {
        return Ok(());
    };
    if sub.status != SubscriptionStatus::Provisioning {
        return Ok(());
    }
    sub.vendor_message = message.to_string();
    let from = sub.set_status(SubscriptionStatus::NotProvisioned, message, &order.id, now);
    sub.version += 1;
    ctx.store.update_subscription(conn, &sub).await?;
    subscription_changed(ctx, conn, &sub, from, message, facts).await
}

/// The outcome of a change of an existing subscription: applied when provisioned (seats,
/// status, auto-renew, next term), or only the in-flight mark cleared when the vendor refused
/// (the subscription stays as it was).
async fn changed(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    order: &Order,
    item: &OrderItem,
    success: Option<&ev::FulfilmentSucceeded>,
    facts: &ev::ResellerFacts,
    now: i64,
) -> Result<(), ServiceError> {
    let Some(mut sub) = ctx.store.subscription(conn, &item.subscription_id).await? else {
        tracing::warn!(item_id = %item.id, "change of an unknown subscription; ignored");
        return Ok(());
    };
    // A change re-submitted after it failed (no longer in flight) still applies when the vendor
    // carried it out.
    let current =
        sub.pending_order_id == order.id || (sub.pending_order_id.is_empty() && success.is_some());
    if !current {
        tracing::info!(subscription = %sub.id, order = %order.id, "outcome of a change that is not in flight; ignored");
        return Ok(());
    }
    let Some(success) = success else {
        if item.change == ChangeType::Renewal {
            // A failed renewal stays in flight (staff are alerted; the reseller re-submits the
            // item): the scheduler must not place it again, the term must not expire under it.
            tracing::warn!(subscription = %sub.id, order = %order.id, "renewal refused by the vendor; waiting for a re-submission");
            return Ok(());
        }
        sub.pending_order_id.clear();
        sub.updated_at = now;
        sub.version += 1;
        return ctx.store.update_subscription(conn, &sub).await;
    };
    let Some(rules) = policy::for_vendor(&sub.plan.vendor_id) else {
        sub.pending_order_id.clear();
        sub.version += 1;
        return ctx.store.update_subscription(conn, &sub).await;
    };
    let provisioned = Provisioned {
        change: item.change,
        // Seat changes carry the requested total; a renewal may report the renewed seats.
        quantity: if item.change == ChangeType::Renewal && success.quantity > 0 {
            success.quantity
        } else {
            item.quantity
        },
        previous_quantity: item.previous_quantity,
        term_start: day(&success.term_start),
        term_end: day(&success.term_end),
        order_id: order.id.clone(),
        now,
    };
    let moved = lifecycle::apply(&mut sub, rules, &provisioned);
    sub.version += 1;
    ctx.store.update_subscription(conn, &sub).await?;
    if let Some((from, reason)) = moved {
        let mut event_sub = sub.clone();
        event_sub.order_id = order.id.clone();
        subscription_changed(ctx, conn, &event_sub, from, &reason, facts).await?;
    }
    Ok(())
}
