//! STARTED and DELETED orders (seed 004): an open cart with a customer chosen shows in the
//! recent view as a STARTED order with its lines; discarding the cart makes that order DELETED
//! (`order_status_changed`); checkout turns the same order (same id, number and creation time)
//! into IN_PROGRESS or DRAFT, so no purchase ever appears twice across the views.
//!
//! The order is kept in step with its cart inside the cart's own transaction; each change stores
//! it anew under its id (the row is replaced, its version bumped).

use std::collections::BTreeMap;

use platform::ServiceError;
use sqlx::AnyConnection;

use super::order_name;
use crate::context::Ctx;
use crate::domain::cart::{Cart, CartStatus};
use crate::domain::order::{ItemPrice, Order};
use crate::domain::state::OrderStatus;
use crate::events::{self, reseller_facts};

/// The cart's STARTED order, if it has one.
pub(crate) async fn started_order(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    cart: &Cart,
) -> Result<Option<Order>, ServiceError> {
    if cart.order_id.is_empty() {
        return Ok(None);
    }
    Ok(ctx
        .store
        .order(conn, &cart.order_id)
        .await?
        .filter(|o| o.status == OrderStatus::Started && o.cart_id == cart.id))
}

/// Brings the cart's order in step with the cart (`cart` as it is about to be saved, inside the
/// caller's transaction): starts it once the cart has a customer, mirrors its lines and customer,
/// drops it when the customer is cleared, makes it DELETED when the cart is discarded. Sets
/// `cart.order_id`.
pub(crate) async fn sync(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    cart: &mut Cart,
    now: i64,
) -> Result<(), ServiceError> {
    let open = cart.status == CartStatus::Active;
    let Some(mut order) = started_order(ctx, conn, cart).await? else {
        if open && !cart.customer_id.is_empty() {
            let name = customer_name(ctx, conn, &cart.customer_id).await?;
            let mut order = Order::started(cart, &name, now);
            let (display, year) = order_name(now);
            let seq = ctx.store.next_order_number(conn).await?;
            order.name = display;
            order.number = Order::format_number(year, seq);
            store(ctx, conn, &order).await?;
            cart.order_id = order.id;
        }
        return Ok(());
    };
    ctx.store
        .delete_started_order(conn, &order.id, order.version)
        .await?;
    if open && cart.customer_id.is_empty() {
        // No customer, no order (seed 004: started = a cart with a customer chosen).
        cart.order_id.clear();
        return Ok(());
    }
    let name = if cart.customer_id == order.customer_id {
        order.customer_name.clone()
    } else {
        customer_name(ctx, conn, &cart.customer_id).await?
    };
    order.mirror(cart, &name, now);
    if cart.status == CartStatus::Deleted {
        let change = order.transition(OrderStatus::Deleted, "cart discarded", now)?;
        let reseller = ctx.store.reseller(conn, &cart.reseller_id).await?;
        let facts = reseller_facts(&cart.reseller_id, reseller.as_ref());
        events::record(ctx, conn, &mut order, change, &facts).await?;
    } else {
        order.version += 1;
    }
    store(ctx, conn, &order).await
}

/// Best effort after a cart change committed: prices the cart's STARTED order with the live
/// prices just quoted for the cart (line id → seats, price), unless the order changed since.
pub(crate) async fn price(
    ctx: &Ctx,
    cart: &Cart,
    prices: &BTreeMap<String, (i32, ItemPrice)>,
) -> Result<(), ServiceError> {
    if prices.is_empty() || cart.status != CartStatus::Active {
        return Ok(());
    }
    let mut tx = ctx.store.begin().await?;
    let Some(mut order) = started_order(ctx, &mut tx, cart).await? else {
        return Ok(());
    };
    if !order.price_started(prices) {
        return Ok(());
    }
    let base = order.version;
    order.version += 1;
    ctx.store.update_order(&mut tx, &order, base).await?;
    tx.commit().await?;
    Ok(())
}

async fn customer_name(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    customer_id: &str,
) -> Result<String, ServiceError> {
    Ok(ctx
        .store
        .customer(conn, customer_id)
        .await?
        .map(|c| c.name)
        .unwrap_or_default())
}

async fn store(ctx: &Ctx, conn: &mut AnyConnection, order: &Order) -> Result<(), ServiceError> {
    if ctx.store.insert_order(conn, order).await? {
        Ok(())
    } else {
        Err(ServiceError::conflict(
            "the cart's order was changed concurrently; reload the cart and retry",
        ))
    }
}
