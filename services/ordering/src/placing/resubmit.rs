//! Re-submitting a corrected INQUIRING or FAILED item: every profile-scoped parameter is resolved
//! again from the current customer and reseller; explicit parameters of the request win.

use std::collections::BTreeMap;

use platform::ServiceError;
use platform::identity::Principal;
use sqlx::AnyConnection;

use super::{autodesk_rule, visible_order};
use crate::context::Ctx;
use crate::domain::cart::into_result;
use crate::domain::order::Order;
use crate::domain::plan::{AUTODESK, ParamScope};
use crate::domain::readiness::resolve_parameters;
use crate::domain::state::{ItemStatus, OrderStatus};
use crate::domain::subscription::SubscriptionStatus;
use crate::events::{self, customer_facts, fulfilment_requested, reseller_facts};
use crate::store::check_etag;

/// Corrects an INQUIRING or FAILED item and sends it back to provisioning as a new attempt.
pub(crate) async fn resubmit(
    ctx: &Ctx,
    principal: &Principal,
    order_id: &str,
    item_id: &str,
    parameters: BTreeMap<String, String>,
    etag: &str,
) -> Result<Order, ServiceError> {
    let mut tx = ctx.store.begin().await?;
    let order = resubmit_in(ctx, &mut tx, principal, order_id, item_id, parameters, etag).await?;
    tx.commit().await?;
    ctx.outbox.notify();
    Ok(order)
}

/// [`resubmit`] inside the caller's transaction (the re-submission commits with it).
pub(crate) async fn resubmit_in(
    ctx: &Ctx,
    tx: &mut AnyConnection,
    principal: &Principal,
    order_id: &str,
    item_id: &str,
    parameters: BTreeMap<String, String>,
    etag: &str,
) -> Result<Order, ServiceError> {
    let (mut order, customer, reseller) = {
        let order = visible_order(principal, ctx.store.order(tx, order_id).await?, order_id)?;
        check_etag(etag, order.version, "order")?;
        let customer = ctx
            .store
            .customer(tx, &order.customer_id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("customer {}", order.customer_id)))?;
        let reseller = ctx.store.reseller(tx, &order.reseller_id).await?;
        (order, customer, reseller)
    };
    let index = order
        .items
        .iter()
        .position(|i| i.id == item_id)
        .ok_or_else(|| ServiceError::not_found(format!("order item {item_id}")))?;
    let item = order.items[index].clone();
    if !item.status.is_resubmittable() {
        return Err(ServiceError::precondition(
            "order_item.not_resubmittable",
            format!(
                "item {} is {}; only INQUIRING or FAILED items can be re-submitted",
                item.line_number,
                item.status.as_str()
            ),
        ));
    }
    // Customer- and reseller-scoped values are taken again from the current profiles (the
    // reseller may have corrected the customer or its own profile); only order-line values and
    // the request's explicit parameters are kept.
    let mut merged: BTreeMap<String, String> = item
        .parameters
        .iter()
        .filter(|(k, _)| {
            item.plan
                .parameters
                .iter()
                .any(|d| &d.key == *k && d.scope == ParamScope::OrderLine)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in parameters {
        if v.is_empty() {
            merged.remove(&k);
        } else {
            merged.insert(k, v);
        }
    }
    let line_values: BTreeMap<String, String> = merged
        .iter()
        .filter(|(k, _)| item.plan.parameters.iter().any(|d| &d.key == *k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    into_result(item.plan.check_parameters(&line_values, "parameters"))?;
    let facts = reseller_facts(&order.reseller_id, reseller.as_ref());
    let base = order.version;
    let time = ctx.time_of(tx, &order.customer_id).await?;
    let now = time.now;
    if item.plan.vendor_id == AUTODESK {
        autodesk_rule(ctx, tx, &order.reseller_id, &order.id).await?;
    }
    {
        let entry = &mut order.items[index];
        entry.resubmission += 1;
        entry.parameters = resolve_parameters(
            &entry.plan,
            &line_values,
            Some(&customer),
            reseller.as_ref(),
        );
        entry.parameter_errors.clear();
        entry.vendor_message.clear();
    }
    let change = order.transition_item(item_id, ItemStatus::Pending, now)?;
    events::record(ctx, tx, &mut order, change, &facts).await?;
    if matches!(
        order.status,
        OrderStatus::ProvisioningFailed | OrderStatus::CompletedWithErrors
    ) {
        let change =
            order.transition(OrderStatus::ProvisioningStarted, "item re-submitted", now)?;
        events::record(ctx, tx, &mut order, change, &facts).await?;
    }
    if let Some(mut sub) = ctx.store.subscription(tx, &item.subscription_id).await?
        && sub.status == SubscriptionStatus::NotProvisioned
    {
        let from = sub.set_status(
            SubscriptionStatus::Provisioning,
            "re-submitted",
            &order.id,
            now,
        );
        sub.vendor_message.clear();
        sub.parameters = order.items[index].parameters.clone();
        sub.version += 1;
        ctx.store.update_subscription(tx, &sub).await?;
        events::subscription_changed(ctx, tx, &sub, from, "re-submitted", &facts).await?;
    }
    let payload = fulfilment_requested(
        &order,
        &order.items[index],
        &facts,
        &customer_facts(&customer),
        time.offset_ms,
    );
    events::append(ctx, tx, &order.reseller_id, &order.customer_id, payload).await?;
    ctx.store.update_order(tx, &order, base).await?;
    Ok(order)
}
