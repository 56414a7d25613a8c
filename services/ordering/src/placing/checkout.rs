//! Checkout of a cart ("BUY" or DRAFT), idempotent by request id.

use std::collections::BTreeMap;

use platform::ServiceError;
use platform::identity::Principal;

use super::{
    Checkout, actor, autodesk_rule, microsoft_ready, order_name, submit_effects, terms,
    visible_cart,
};
use crate::context::Ctx;
use crate::domain::cart::{Cart, CartStatus, LineStatus, into_result};
use crate::domain::customer::Customer;
use crate::domain::order::{ItemPrice, Note, Order, OrderItem};
use crate::domain::plan::MICROSOFT;
use crate::domain::readiness::{self, resolve_parameters};
use crate::domain::reseller::Reseller;
use crate::domain::state::{ChangeType, ItemStatus, OrderStatus};
use crate::events::{self, reseller_facts};
use crate::store::check_etag;

/// Checks out a cart: BUY (IN_PROGRESS, fulfilment requested) or DRAFT. Idempotent by request id:
/// a retry returns the order the first attempt created and never creates a second one.
pub(crate) async fn checkout(
    ctx: &Ctx,
    principal: &Principal,
    req: Checkout,
) -> Result<Order, ServiceError> {
    super::notes::check_note_length("note", &req.note)?;
    let (now, cart, customer, reseller, started) = {
        let mut conn = ctx.store.conn().await?;
        let cart = visible_cart(
            principal,
            ctx.store.cart(&mut conn, &req.cart_id).await?,
            &req.cart_id,
        )?;
        let now = ctx.now_for(&mut conn, &cart.customer_id).await?;
        let key = request_key(&req.request_id, &cart.id);
        if let Some(existing) = ctx
            .store
            .order_by_request(&mut conn, &cart.reseller_id, &key)
            .await?
        {
            return same_cart(existing, &cart);
        }
        check_etag(&req.etag, cart.version, "cart")?;
        cart.ensure_open(now)?;
        if cart.active_lines().next().is_none() {
            return Err(ServiceError::precondition(
                "cart.empty",
                format!("cart {} has no lines", cart.id),
            ));
        }
        if cart.customer_id.is_empty() {
            return Err(ServiceError::invalid_field(
                "cart.customer_id",
                "select an existing customer or add a new one before checkout",
            ));
        }
        let customer = ctx
            .store
            .customer(&mut conn, &cart.customer_id)
            .await?
            .filter(|c| c.reseller_id == cart.reseller_id);
        let Some(customer) = customer else {
            return Err(ServiceError::invalid_field(
                "cart.customer_id",
                "no such customer of this reseller",
            ));
        };
        let reseller = ctx.store.reseller(&mut conn, &cart.reseller_id).await?;
        let started = super::started::started_order(ctx, &mut conn, &cart).await?;
        (now, cart, customer, reseller, started)
    };
    into_result(cart.line_problems().into_iter().map(|(_, p)| p).collect())?;
    let has_microsoft = cart
        .active_lines()
        .any(|(_, l)| l.plan.vendor_id == MICROSOFT);
    if !req.save_as_draft {
        terms(req.accept_terms)?;
        if has_microsoft {
            let vendors = readiness::check(&cart, Some(&customer), reseller.as_ref());
            microsoft_ready(&vendors, &customer)?;
        }
    }
    let lines: Vec<_> = cart.active_lines().map(|(_, l)| l.clone()).collect();
    let quote: Vec<(String, i32)> = lines
        .iter()
        .map(|l| (l.plan.plan_id.clone(), l.quantity))
        .collect();
    let prices = ctx
        .catalog
        .quote(principal, &cart.reseller_id, &cart.currency_code, &quote)
        .await?;
    let prices: BTreeMap<String, ItemPrice> =
        lines.iter().map(|l| l.id.clone()).zip(prices).collect();

    let mut order = build_order(
        principal,
        &cart,
        &customer,
        reseller.as_ref(),
        prices,
        &req,
        started.as_ref(),
        now,
    );
    let facts = reseller_facts(&cart.reseller_id, reseller.as_ref());
    let mut tx = ctx.store.begin().await?;
    let mut claimed = cart.clone();
    claimed.status = CartStatus::Ordered;
    claimed.order_id = order.id.clone();
    claimed.version += 1;
    claimed.updated_at = now;
    if let Err(error) = ctx.store.update_cart(&mut tx, &claimed).await {
        drop(tx);
        return concurrent_outcome(ctx, &cart, &order.request_key, error).await;
    }
    // The cart's STARTED order becomes this order (same id and number): replaced, never doubled.
    if let Some(started) = &started
        && let Err(error) = ctx
            .store
            .delete_started_order(&mut tx, &started.id, started.version)
            .await
    {
        drop(tx);
        return concurrent_outcome(ctx, &cart, &order.request_key, error).await;
    }
    if order.has_autodesk() && !req.save_as_draft {
        autodesk_rule(ctx, &mut tx, &cart.reseller_id, &order.id).await?;
    }
    if order.number.is_empty() {
        let seq = ctx.store.next_order_number(&mut tx).await?;
        order.number = Order::format_number(order_name(now).1, seq);
    }
    let to = if req.save_as_draft {
        OrderStatus::Draft
    } else {
        OrderStatus::InProgress
    };
    let reason = if req.save_as_draft {
        "saved as draft"
    } else {
        "bought"
    };
    let change = order.transition(to, reason, now)?;
    events::record(ctx, &mut tx, &mut order, change, &facts).await?;
    if !req.save_as_draft {
        submit_effects(
            ctx,
            &mut tx,
            &mut order,
            &customer,
            &facts,
            &principal.subject,
        )
        .await?;
    }
    if !ctx.store.insert_order(&mut tx, &order).await? {
        drop(tx);
        return concurrent_outcome(
            ctx,
            &cart,
            &order.request_key,
            ServiceError::conflict("checkout raced"),
        )
        .await;
    }
    tx.commit().await?;
    ctx.outbox.notify();
    Ok(order)
}

fn request_key(request_id: &str, cart_id: &str) -> String {
    if request_id.is_empty() {
        format!("cart:{cart_id}")
    } else {
        request_id.to_string()
    }
}

fn same_cart(existing: Order, cart: &Cart) -> Result<Order, ServiceError> {
    if existing.cart_id == cart.id {
        Ok(existing)
    } else {
        Err(ServiceError::precondition(
            "checkout.request_id_reused",
            format!(
                "request id already placed order {} for another cart",
                existing.number
            ),
        ))
    }
}

/// After losing a race on the cart or the request key: the winner's order when it was a retry
/// of the same checkout, else why this checkout cannot go on.
async fn concurrent_outcome(
    ctx: &Ctx,
    cart: &Cart,
    key: &str,
    error: ServiceError,
) -> Result<Order, ServiceError> {
    let mut conn = ctx.store.conn().await?;
    if let Some(existing) = ctx
        .store
        .order_by_request(&mut conn, &cart.reseller_id, key)
        .await?
    {
        return same_cart(existing, cart);
    }
    if let Some(now_cart) = ctx.store.cart(&mut conn, &cart.id).await? {
        let now = ctx.now_for(&mut conn, &now_cart.customer_id).await?;
        now_cart.ensure_open(now)?;
    }
    Err(error)
}

#[allow(clippy::too_many_arguments)]
fn build_order(
    principal: &Principal,
    cart: &Cart,
    customer: &Customer,
    reseller: Option<&Reseller>,
    mut prices: BTreeMap<String, ItemPrice>,
    req: &Checkout,
    started: Option<&Order>,
    now: i64,
) -> Order {
    // Items keep the ids their lines had in the STARTED order.
    let ids: BTreeMap<String, String> = cart
        .lines
        .iter()
        .map(|l| (l.id.clone(), l.id.clone()))
        .collect();
    // Removed lines are kept as DELETED items (shown, never sent, not priced).
    let items = cart
        .lines
        .iter()
        .enumerate()
        .map(|(i, line)| (i, line, prices.remove(&line.id)))
        .map(|(i, line, price)| OrderItem {
            id: ids.get(&line.id).cloned().unwrap_or_default(),
            line_number: i as i32 + 1,
            plan: line.plan.clone(),
            description: line.plan.name.clone(),
            change: ChangeType::NewSubscription,
            quantity: line.quantity,
            previous_quantity: 0,
            parameters: resolve_parameters(&line.plan, &line.parameters, Some(customer), reseller),
            status: if price.is_some() && line.status == LineStatus::Active {
                ItemStatus::Pending
            } else {
                ItemStatus::Deleted
            },
            price: price.unwrap_or_else(|| ItemPrice {
                currency_code: cart.currency_code.clone(),
                ..ItemPrice::default()
            }),
            vendor_message: String::new(),
            parameter_errors: Vec::new(),
            subscription_id: String::new(),
            vendor_subscription_id: String::new(),
            parent_item_id: ids.get(&line.parent_line_id).cloned().unwrap_or_default(),
            updated_at: now,
            resubmission: 0,
        })
        .collect();
    let mut created_by = actor(principal);
    if created_by.organization_name.is_empty() {
        created_by.organization_name = reseller.map(|r| r.name.clone()).unwrap_or_default();
    }
    let mut notes = started.map(|o| o.notes.clone()).unwrap_or_default();
    if !req.note.trim().is_empty() {
        notes.push(Note {
            text: req.note.trim().to_string(),
            author: created_by.clone(),
            created_at: now,
        });
    }
    let currency = if cart.currency_code.is_empty() {
        reseller
            .map(|r| r.currency().to_string())
            .unwrap_or_else(|| "USD".into())
    } else {
        cart.currency_code.clone()
    };
    let mut order = Order {
        id: started.map_or_else(platform::ids::new_id, |o| o.id.clone()),
        number: started.map(|o| o.number.clone()).unwrap_or_default(),
        name: started.map_or_else(|| order_name(now).0, |o| o.name.clone()),
        reseller_id: cart.reseller_id.clone(),
        customer_id: customer.id.clone(),
        customer_name: customer.name.clone(),
        status: OrderStatus::Started,
        items,
        created_by,
        created_at: started.map_or(now, |o| o.created_at),
        updated_at: now,
        submitted_at: None,
        notes,
        payment: req.payment.clone(),
        currency_code: currency,
        total_cost: 0,
        total_price: 0,
        cart_id: cart.id.clone(),
        version: started.map_or(0, |o| o.version),
        request_key: request_key(&req.request_id, &cart.id),
        submit_request_id: String::new(),
    };
    order.recompute_totals();
    order
}
