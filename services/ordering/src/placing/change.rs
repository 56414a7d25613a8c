//! Subscription changes placed as orders: the vendor policy decides
//! ([`crate::domain::policy`]); an accepted change becomes an order with one item carrying the
//! requested change, the subscription and its vendor subscription id, bought at once
//! (IN_PROGRESS, `order_submitted`, `fulfilment_requested`), so it shows in order history and
//! tracking. The subscription remembers the order in flight (one change at a time); the
//! provisioning outcome updates it (`events`). A refused change writes nothing.

use marketplace_proto::events::v1 as ev;
use platform::ServiceError;
use platform::identity::{Principal, Role};
use sqlx::AnyConnection;

use super::{actor_in, autodesk_rule, order_name, submit_effects};
use crate::context::Ctx;
use crate::domain::Actor;
use crate::domain::customer::Customer;
use crate::domain::order::{ItemPrice, Note, Order, OrderItem, Payment};
use crate::domain::plan::AUTODESK;
use crate::domain::policy::{self, Accepted, Now, Request};
use crate::domain::state::{ChangeType, ItemStatus, OrderStatus};
use crate::domain::subscription::Subscription;
use crate::events::{self, reseller_facts};
use crate::store::check_etag;

/// Roles that may change subscriptions (staff always may).
const CHANGERS: [Role; 3] = [Role::ResellerAdmin, Role::ResellerUser, Role::CustomerAdmin];

/// A change asked for through the API.
#[derive(Debug, Clone)]
pub(crate) struct ChangeRequest {
    pub(crate) subscription_id: String,
    pub(crate) request: Request,
    /// Idempotency key: a retry with the same id returns the first order.
    pub(crate) request_id: String,
    /// Expected subscription etag (empty = any).
    pub(crate) etag: String,
    /// Why (kept as a note on the order).
    pub(crate) reason: String,
}

/// A subscription the caller may see, or NOT_FOUND.
pub(crate) fn visible_subscription(
    p: &Principal,
    s: Option<Subscription>,
    id: &str,
) -> Result<Subscription, ServiceError> {
    match s {
        Some(s) if p.can_see(&s.reseller_id, Some(&s.customer_id)) => Ok(s),
        _ => Err(ServiceError::not_found(format!("subscription {id}"))),
    }
}

/// Places a change order, or refuses it (FAILED_PRECONDITION naming the rule and date) without
/// writing anything.
pub(crate) async fn place_change(
    ctx: &Ctx,
    principal: &Principal,
    req: ChangeRequest,
) -> Result<Order, ServiceError> {
    principal.require(&CHANGERS)?;
    super::notes::check_note_length("reason", &req.reason)?;
    let mut tx = ctx.store.begin().await?;
    let sub = visible_subscription(
        principal,
        ctx.store
            .subscription(&mut tx, &req.subscription_id)
            .await?,
        &req.subscription_id,
    )?;
    let now = ctx.now_for(&mut tx, &sub.customer_id).await?;
    let key = if req.request_id.is_empty() {
        format!("change:{}", platform::ids::new_id())
    } else {
        format!("change:{}:{}", sub.id, req.request_id)
    };
    if let Some(existing) = ctx
        .store
        .order_by_request(&mut tx, &sub.reseller_id, &key)
        .await?
    {
        return Ok(existing);
    }
    check_etag(&req.etag, sub.version, "subscription")?;
    let accepted = policy::decide(&sub, req.request, ctx.store.rules(), Now::at(now))?;
    let customer = ctx
        .store
        .customer(&mut tx, &sub.customer_id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("customer {}", sub.customer_id)))?;
    let by = actor_in(ctx, &mut tx, principal).await?;
    let mut order = change_order(&sub, &customer, &accepted, by.clone(), key, now);
    if !req.reason.trim().is_empty() {
        order.notes.push(Note {
            text: req.reason.trim().to_string(),
            author: by,
            created_at: now,
        });
    }
    if sub.plan.vendor_id == AUTODESK {
        autodesk_rule(ctx, &mut tx, &sub.reseller_id, &order.id).await?;
    }
    let reseller = ctx.store.reseller(&mut tx, &sub.reseller_id).await?;
    let facts = reseller_facts(&sub.reseller_id, reseller.as_ref());
    let seq = ctx.store.next_order_number(&mut tx).await?;
    let placed = Placed {
        facts: &facts,
        customer: &customer,
        number: seq,
        created_by: &principal.subject,
    };
    submit_change(ctx, &mut tx, &mut order, sub, &placed).await?;
    tx.commit().await?;
    ctx.outbox.notify();
    Ok(order)
}

/// The order of an accepted change of `s`: one PENDING item, priced with the policy's charge or
/// refund (negative), the policy's explanation as its first note; not yet numbered.
pub(crate) fn change_order(
    s: &Subscription,
    customer: &Customer,
    accepted: &Accepted,
    created_by: Actor,
    request_key: String,
    now: i64,
) -> Order {
    let currency = s.price.currency_code.clone();
    let total_cost = if s.price.unit_price == 0 {
        0
    } else {
        let cost = i128::from(accepted.amount) * i128::from(s.price.unit_cost)
            / i128::from(s.price.unit_price);
        i64::try_from(cost).unwrap_or_default()
    };
    let item = OrderItem {
        id: platform::ids::new_id(),
        line_number: 1,
        plan: s.plan.clone(),
        description: s.plan.name.clone(),
        change: accepted.change,
        quantity: accepted.quantity,
        previous_quantity: accepted.previous_quantity,
        parameters: s.parameters.clone(),
        price: ItemPrice {
            currency_code: currency.clone(),
            unit_cost: s.price.unit_cost,
            unit_markup: s.price.unit_markup,
            unit_price: s.price.unit_price,
            unit_msrp: s.price.unit_msrp,
            total_cost,
            total_price: accepted.amount,
            price_id: s.price.price_id.clone(),
        },
        status: ItemStatus::Pending,
        vendor_message: String::new(),
        parameter_errors: Vec::new(),
        subscription_id: s.id.clone(),
        vendor_subscription_id: s.vendor_subscription_id.clone(),
        parent_item_id: String::new(),
        updated_at: now,
        resubmission: 0,
    };
    let mut order = Order {
        id: platform::ids::new_id(),
        number: String::new(),
        name: order_name(now).0,
        reseller_id: s.reseller_id.clone(),
        customer_id: s.customer_id.clone(),
        customer_name: customer.name.clone(),
        status: OrderStatus::Started,
        items: vec![item],
        created_by: created_by.clone(),
        created_at: now,
        updated_at: now,
        submitted_at: None,
        // What the policy decided (refund, what happens at term end), shown with the order.
        notes: vec![Note {
            text: accepted.explanation.clone(),
            author: created_by,
            created_at: now,
        }],
        payment: Payment::default(),
        currency_code: currency,
        total_cost: 0,
        total_price: 0,
        cart_id: String::new(),
        version: 0,
        request_key,
        submit_request_id: String::new(),
    };
    order.recompute_totals();
    order
}

/// What a change order is placed with (read or reserved by the caller, once per batch for the
/// scheduler).
pub(crate) struct Placed<'a> {
    /// Reseller facts for the events.
    pub(crate) facts: &'a ev::ResellerFacts,
    /// The subscription's customer.
    pub(crate) customer: &'a Customer,
    /// Order-number sequence value.
    pub(crate) number: i64,
    /// Who placed it (user id or service).
    pub(crate) created_by: &'a str,
}

/// Numbers and buys a change order inside `conn`'s transaction: IN_PROGRESS with its history row
/// and events, `fulfilment_requested`, the subscription marked as changing. Fails with ABORTED
/// when the subscription or the request key was taken concurrently.
pub(crate) async fn submit_change(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    order: &mut Order,
    mut sub: Subscription,
    placed: &Placed<'_>,
) -> Result<(), ServiceError> {
    let now = ctx.now_for(conn, &sub.customer_id).await?;
    let facts = placed.facts;
    order.number = Order::format_number(order_name(now).1, placed.number);
    let reason = match order.items.first().map(|i| i.change) {
        Some(ChangeType::Renewal) => "renewal at term end",
        _ => "subscription change requested",
    };
    let change = order.transition(OrderStatus::InProgress, reason, now)?;
    events::record(ctx, conn, order, change, facts).await?;
    submit_effects(ctx, conn, order, placed.customer, facts, placed.created_by).await?;
    if !ctx.store.insert_order(conn, order).await? {
        return Err(ServiceError::conflict(
            "this change was placed concurrently; reload the subscription",
        ));
    }
    sub.pending_order_id = order.id.clone();
    sub.updated_at = now;
    sub.version += 1;
    ctx.store.update_subscription(conn, &sub).await
}
