//! Markup changes are orders (seed 004): the `ordering-from-catalog` consumer turns each
//! `marketplace.catalog.markup_changed` into one markup-change order per customer whose live
//! subscriptions the new markup reprices. Each item carries the subscription and its price at the
//! new markup; nothing goes to a vendor, so the order is complete at once (IN_PROGRESS →
//! PROVISIONING_STARTED → COMPLETED, every transition recorded and emitted) and the subscription's
//! price snapshot takes the new markup. Customer roles never see these orders (an order whose
//! only change is a markup change is hidden from them; markup lines of a mixed order too).

use std::collections::BTreeMap;
use std::sync::Arc;

use marketplace_proto::events::v1 as ev;
use marketplace_proto::events::v1::envelope::Payload;
use platform::ServiceError;
use platform::consumer::{EventHandler, HandleError};
use platform::error::ErrorCode;
use platform::identity::Principal;
use sqlx::AnyConnection;

use super::order_name;
use crate::context::Ctx;
use crate::domain::Actor;
use crate::domain::order::{ItemPrice, Order, OrderItem, Payment};
use crate::domain::state::{ChangeType, ItemStatus, OrderStatus};
use crate::domain::subscription::{Subscription, SubscriptionStatus};
use crate::events::{self, reseller_facts};
use crate::store::SubscriptionFilter;

/// Durable consumer name.
pub(crate) const CONSUMER_NAME: &str = "ordering-from-catalog";

/// Subjects the consumer listens to.
pub(crate) fn subjects() -> Vec<String> {
    vec![platform::outbox::subject("catalog", "markup_changed")]
}

/// Subscriptions a markup change reprices: live ones (the customer still pays for them).
const LIVE: [SubscriptionStatus; 4] = [
    SubscriptionStatus::Provisioning,
    SubscriptionStatus::Active,
    SubscriptionStatus::Suspended,
    SubscriptionStatus::Terminated,
];

/// Applies `markup_changed`.
#[derive(Debug, Clone)]
pub(crate) struct MarkupHandler {
    ctx: Arc<Ctx>,
}

impl MarkupHandler {
    /// A handler over the service context.
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Self { ctx }
    }
}

#[async_trait::async_trait]
impl EventHandler for MarkupHandler {
    async fn handle(
        &self,
        conn: &mut AnyConnection,
        event: &ev::Envelope,
    ) -> Result<(), HandleError> {
        let Some(Payload::MarkupChanged(change)) = &event.payload else {
            return Ok(());
        };
        let reseller_id = if change.reseller_id.is_empty() {
            event.reseller_id.as_str()
        } else {
            change.reseller_id.as_str()
        };
        if reseller_id.is_empty() {
            return Err(HandleError::Reject(
                "markup_changed without reseller id".into(),
            ));
        }
        apply(&self.ctx, conn, &event.id, reseller_id, change)
            .await
            .map_err(|e| match e.code {
                ErrorCode::InvalidArgument => HandleError::Reject(e.to_string()),
                _ => HandleError::Retry(e.to_string()),
            })
    }
}

/// The reseller's live subscriptions the changed markup applies to.
async fn affected(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    reseller_id: &str,
    change: &ev::MarkupChanged,
) -> Result<Vec<Subscription>, ServiceError> {
    let filter = SubscriptionFilter {
        reseller_id: Some(reseller_id.to_string()),
        vendor_id: (!change.vendor_id.is_empty()).then(|| change.vendor_id.clone()),
        statuses: LIVE.to_vec(),
        ..SubscriptionFilter::default()
    };
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let (page, next) = ctx
            .store
            .list_subscriptions(conn, &filter, after.as_ref(), 500)
            .await?;
        out.extend(
            page.into_iter()
                .filter(|s| change.plan_id.is_empty() || s.plan.plan_id == change.plan_id),
        );
        match next {
            Some(cursor) => after = Some(cursor),
            None => return Ok(out),
        }
    }
}

async fn apply(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    event_id: &str,
    reseller_id: &str,
    change: &ev::MarkupChanged,
) -> Result<(), ServiceError> {
    let subs = affected(ctx, conn, reseller_id, change).await?;
    if subs.is_empty() {
        return Ok(());
    }
    // Price every affected subscription at the markup now in force, per currency.
    let mut by_currency: BTreeMap<String, Vec<Subscription>> = BTreeMap::new();
    for s in subs {
        by_currency
            .entry(s.price.currency_code.clone())
            .or_default()
            .push(s);
    }
    let service = Principal::service("ordering");
    let mut repriced: BTreeMap<String, Vec<(Subscription, ItemPrice)>> = BTreeMap::new();
    for (currency, subs) in by_currency {
        let lines: Vec<(String, i32)> = subs
            .iter()
            .map(|s| (s.plan.plan_id.clone(), s.quantity.max(1)))
            .collect();
        let prices = ctx
            .catalog
            .quote(&service, reseller_id, &currency, &lines)
            .await?;
        for (s, price) in subs.into_iter().zip(prices) {
            if price.unit_markup != s.price.unit_markup || price.unit_price != s.price.unit_price {
                repriced
                    .entry(s.customer_id.clone())
                    .or_default()
                    .push((s, price));
            }
        }
    }
    if repriced.is_empty() {
        return Ok(());
    }
    let reseller = ctx.store.reseller(conn, reseller_id).await?;
    let facts = reseller_facts(reseller_id, reseller.as_ref());
    let by = Actor {
        user_id: change.changed_by.clone(),
        display_name: change.changed_by_name.clone(),
        organization_id: reseller_id.to_string(),
        organization_name: facts.name.clone(),
        role: change.changed_by_role.clone(),
    };
    for (customer_id, items) in repriced {
        let customer_name = ctx
            .store
            .customer(conn, &customer_id)
            .await?
            .map(|c| c.name)
            .unwrap_or_default();
        let key = format!("markup:{event_id}:{customer_id}");
        if ctx
            .store
            .order_by_request(conn, reseller_id, &key)
            .await?
            .is_some()
        {
            continue;
        }
        let now = ctx.now();
        let mut order = markup_order(
            reseller_id,
            &customer_id,
            &customer_name,
            &items,
            &by,
            key,
            now,
        );
        let seq = ctx.store.next_order_number(conn).await?;
        order.number = Order::format_number(order_name(now).1, seq);
        complete(ctx, conn, &mut order, &facts, now).await?;
        if !ctx.store.insert_order(conn, &order).await? {
            return Err(ServiceError::conflict("markup order placed concurrently"));
        }
        for (mut s, price) in items {
            s.price = price;
            s.updated_at = now;
            s.version += 1;
            ctx.store.update_subscription(conn, &s).await?;
        }
    }
    Ok(())
}

/// The markup-change order of one customer: one PENDING item per repriced subscription, priced
/// at the new markup for its seats; not yet numbered.
fn markup_order(
    reseller_id: &str,
    customer_id: &str,
    customer_name: &str,
    items: &[(Subscription, ItemPrice)],
    by: &Actor,
    request_key: String,
    now: i64,
) -> Order {
    let currency = items
        .first()
        .map(|(_, p)| p.currency_code.clone())
        .unwrap_or_default();
    let items = items
        .iter()
        .enumerate()
        .map(|(i, (s, price))| OrderItem {
            id: platform::ids::new_id(),
            line_number: i as i32 + 1,
            plan: s.plan.clone(),
            description: s.plan.name.clone(),
            change: ChangeType::MarkupChange,
            quantity: s.quantity,
            previous_quantity: s.quantity,
            parameters: BTreeMap::new(),
            price: price.clone(),
            status: ItemStatus::Pending,
            vendor_message: String::new(),
            parameter_errors: Vec::new(),
            subscription_id: s.id.clone(),
            vendor_subscription_id: s.vendor_subscription_id.clone(),
            parent_item_id: String::new(),
            updated_at: now,
            resubmission: 0,
        })
        .collect();
    let mut order = Order {
        id: platform::ids::new_id(),
        number: String::new(),
        name: order_name(now).0,
        reseller_id: reseller_id.to_string(),
        customer_id: customer_id.to_string(),
        customer_name: customer_name.to_string(),
        status: OrderStatus::Started,
        items,
        created_by: by.clone(),
        created_at: now,
        updated_at: now,
        submitted_at: Some(now),
        notes: Vec::new(),
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

/// Nothing to provision: records IN_PROGRESS, each item PROVISIONED, then the outcome.
async fn complete(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    order: &mut Order,
    facts: &ev::ResellerFacts,
    now: i64,
) -> Result<(), ServiceError> {
    let change = order.transition(OrderStatus::InProgress, "markup changed", now)?;
    events::record(ctx, conn, order, change, facts).await?;
    let ids: Vec<String> = order.items.iter().map(|i| i.id.clone()).collect();
    for id in ids {
        let change = order.transition_item(&id, ItemStatus::Provisioned, now)?;
        events::record(ctx, conn, order, change, facts).await?;
        for change in order.advance(now) {
            events::record(ctx, conn, order, change, facts).await?;
        }
    }
    Ok(())
}
