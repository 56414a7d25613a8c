//! Submitting a DRAFT order.

use platform::ServiceError;
use platform::identity::Principal;

use super::{autodesk_rule, microsoft_ready, submit_effects, terms, visible_order};
use crate::context::Ctx;
use crate::domain::order::Order;
use crate::domain::plan::MICROSOFT;
use crate::domain::readiness;
use crate::domain::state::{ItemStatus, OrderStatus};
use crate::events::{self, reseller_facts};
use crate::store::check_etag;

/// Submits a DRAFT order (IN_PROGRESS, fulfilment requested). A retry with the same request id
/// returns the submitted order.
pub(crate) async fn submit(
    ctx: &Ctx,
    principal: &Principal,
    order_id: &str,
    request_id: &str,
    accept_terms: bool,
    etag: &str,
) -> Result<Order, ServiceError> {
    let (mut order, customer, reseller) = {
        let mut conn = ctx.store.conn().await?;
        let order = visible_order(
            principal,
            ctx.store.order(&mut conn, order_id).await?,
            order_id,
        )?;
        if order.status != OrderStatus::Draft {
            if !request_id.is_empty() && order.submit_request_id == request_id {
                return Ok(order);
            }
            return Err(ServiceError::precondition(
                "order.not_draft",
                format!(
                    "order {} is {} and cannot be submitted",
                    order.number,
                    order.status.as_str()
                ),
            ));
        }
        check_etag(etag, order.version, "order")?;
        let customer = ctx
            .store
            .customer(&mut conn, &order.customer_id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("customer {}", order.customer_id)))?;
        let reseller = ctx.store.reseller(&mut conn, &order.reseller_id).await?;
        (order, customer, reseller)
    };
    terms(accept_terms)?;
    if order.has_vendor(MICROSOFT) {
        let vendors = readiness::check(&order.as_cart(), Some(&customer), reseller.as_ref());
        microsoft_ready(&vendors, &customer)?;
    }
    // A draft was not placed yet: it is bought at today's prices.
    let pending: Vec<usize> = (0..order.items.len())
        .filter(|&i| order.items[i].status == ItemStatus::Pending)
        .collect();
    let quote: Vec<(String, i32)> = pending
        .iter()
        .map(|&i| (order.items[i].plan.plan_id.clone(), order.items[i].quantity))
        .collect();
    let prices = ctx
        .catalog
        .quote(principal, &order.reseller_id, &order.currency_code, &quote)
        .await?;
    for (&i, price) in pending.iter().zip(prices) {
        order.items[i].price = price;
    }
    order.recompute_totals();
    let facts = reseller_facts(&order.reseller_id, reseller.as_ref());
    let base = order.version;
    let mut tx = ctx.store.begin().await?;
    let now = ctx.now_for(&mut tx, &order.customer_id).await?;
    if order.has_autodesk() {
        autodesk_rule(ctx, &mut tx, &order.reseller_id, &order.id).await?;
    }
    order.submit_request_id = request_id.to_string();
    let change = order.transition(OrderStatus::InProgress, "draft submitted", now)?;
    events::record(ctx, &mut tx, &mut order, change, &facts).await?;
    submit_effects(
        ctx,
        &mut tx,
        &mut order,
        &customer,
        &facts,
        &principal.subject,
    )
    .await?;
    ctx.store.update_order(&mut tx, &order, base).await?;
    tx.commit().await?;
    ctx.outbox.notify();
    Ok(order)
}
