//! Notes on orders.

use platform::ServiceError;
use platform::identity::Principal;

use super::{actor_in, visible_order};
use crate::context::Ctx;
use crate::domain::order::{Note, Order};

/// The longest note, change reason or checkout note (characters).
pub(crate) const MAX_NOTE_CHARS: usize = 2000;

/// Refuses a note longer than [`MAX_NOTE_CHARS`], naming `field` (never cuts client text).
pub(crate) fn check_note_length(field: &str, text: &str) -> Result<(), ServiceError> {
    if text.trim().chars().count() > MAX_NOTE_CHARS {
        return Err(ServiceError::invalid_field(
            field,
            format!("at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    Ok(())
}

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
    check_note_length("text", text)?;
    let mut tx = ctx.store.begin().await?;
    let mut order = visible_order(
        principal,
        ctx.store.order(&mut tx, order_id).await?,
        order_id,
    )?;
    let base = order.version;
    let now = ctx.now();
    let author = actor_in(ctx, &mut tx, principal).await?;
    order.notes.push(Note {
        text: text.to_string(),
        author,
        created_at: now,
    });
    order.version += 1;
    order.updated_at = now;
    ctx.store.update_order(&mut tx, &order, base).await?;
    tx.commit().await?;
    Ok(order)
}
