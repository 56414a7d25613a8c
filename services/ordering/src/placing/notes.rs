//! Notes on orders.

use platform::ServiceError;
use platform::identity::Principal;

use super::{actor, visible_order};
use crate::context::Ctx;
use crate::domain::order::{Note, Order};

/// Adds a note to an order.
pub(crate) async fn add_note(
    ctx: &Ctx,
    principal: &Principal,
    order_id: &str,
    text: &str,
) -> Result<Order, ServiceError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ServiceError::invalid_field("text", "must not be empty"));
    }
    if text.chars().count() > 2000 {
        return Err(ServiceError::invalid_field(
            "text",
            "at most 2000 characters",
        ));
    }
    let mut tx = ctx.store.begin().await?;
    let mut order = visible_order(
        principal,
        ctx.store.order(&mut tx, order_id).await?,
        order_id,
    )?;
    let base = order.version;
    let now = ctx.now();
    order.notes.push(Note {
        text: text.to_string(),
        author: actor(principal),
        created_at: now,
    });
    order.version += 1;
    order.updated_at = now;
    ctx.store.update_order(&mut tx, &order, base).await?;
    tx.commit().await?;
    Ok(order)
}
