//! Reseller and order facts learned from events, and preferences.

use sqlx::{AnyConnection, Row};

use crate::domain::Kind;
use crate::domain::Preferences;
use crate::domain::rules::{OrderFacts, ResellerContact};

/// Remembers (or refreshes) a reseller's contact facts.
pub async fn upsert_reseller(
    conn: &mut AnyConnection,
    r: &ResellerContact,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO known_resellers (reseller_id, name, notification_email, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (reseller_id) DO UPDATE SET name = excluded.name, notification_email = excluded.notification_email, updated_at = excluded.updated_at",
    )
    .bind(r.reseller_id.clone())
    .bind(r.name.clone())
    .bind(r.notification_email.clone())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A remembered reseller.
pub async fn reseller(
    conn: &mut AnyConnection,
    reseller_id: &str,
) -> Result<Option<ResellerContact>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT reseller_id, name, notification_email FROM known_resellers WHERE reseller_id = $1",
    )
    .bind(reseller_id.to_string())
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(ResellerContact {
            reseller_id: r.try_get("reseller_id")?,
            name: r.try_get("name")?,
            notification_email: r.try_get("notification_email")?,
        })
    })
    .transpose()
}

/// Remembers an order.
pub async fn upsert_order(
    conn: &mut AnyConnection,
    o: &OrderFacts,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO known_orders (order_id, reseller_id, order_number, customer_id, customer_name, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (order_id) DO UPDATE SET order_number = excluded.order_number, customer_name = excluded.customer_name, updated_at = excluded.updated_at",
    )
    .bind(o.order_id.clone())
    .bind(o.reseller_id.clone())
    .bind(o.order_number.clone())
    .bind(o.customer_id.clone())
    .bind(o.customer_name.clone())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A remembered order.
pub async fn order(
    conn: &mut AnyConnection,
    order_id: &str,
) -> Result<Option<OrderFacts>, sqlx::Error> {
    let row = sqlx::query("SELECT order_id, reseller_id, order_number, customer_id, customer_name FROM known_orders WHERE order_id = $1")
        .bind(order_id.to_string())
        .fetch_optional(conn)
        .await?;
    row.map(|r| {
        Ok(OrderFacts {
            order_id: r.try_get("order_id")?,
            reseller_id: r.try_get("reseller_id")?,
            order_number: r.try_get("order_number")?,
            customer_id: r.try_get("customer_id")?,
            customer_name: r.try_get("customer_name")?,
        })
    })
    .transpose()
}

/// The preferences of a reseller (defaults when never saved).
pub async fn preferences(
    conn: &mut AnyConnection,
    reseller_id: &str,
) -> Result<Preferences, sqlx::Error> {
    let row = sqlx::query("SELECT subscription_ready_email, muted_email_kinds, locale FROM notification_preferences WHERE reseller_id = $1")
        .bind(reseller_id.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        None => Preferences::defaults(reseller_id),
        Some(r) => Preferences {
            reseller_id: reseller_id.to_string(),
            subscription_ready_email: r.try_get("subscription_ready_email")?,
            muted_email_kinds: r
                .try_get::<String, _>("muted_email_kinds")?
                .split(',')
                .filter_map(Kind::parse)
                .collect(),
            locale: r.try_get("locale")?,
        },
    })
}

/// Saves preferences.
pub async fn save_preferences(
    conn: &mut AnyConnection,
    p: &Preferences,
    now: i64,
) -> Result<(), sqlx::Error> {
    let muted = p
        .muted_email_kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(",");
    sqlx::query(
        "INSERT INTO notification_preferences (reseller_id, subscription_ready_email, muted_email_kinds, locale, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (reseller_id) DO UPDATE SET subscription_ready_email = excluded.subscription_ready_email, \
         muted_email_kinds = excluded.muted_email_kinds, locale = excluded.locale, updated_at = excluded.updated_at",
    )
    .bind(p.reseller_id.clone())
    .bind(p.subscription_ready_email.clone())
    .bind(muted)
    .bind(p.locale.clone())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
