//! Per-reseller markups.

use sqlx::{AnyConnection, Row};

use crate::domain::markup::{Markup, MarkupKind, MarkupTarget};
use crate::domain::money::{CurrencyCode, Money};

const COLUMNS: &str = "id, reseller_id, vendor_id, plan_id, kind, basis_points, fixed_currency, fixed_amount, update_time";

fn markup_from_row(row: &sqlx::any::AnyRow) -> Result<Markup, sqlx::Error> {
    let bad =
        |what: &str| sqlx::Error::Decode(format!("stored markup has an invalid {what}").into());
    let vendor_id: String = row.try_get("vendor_id")?;
    let plan_id: String = row.try_get("plan_id")?;
    let kind: String = row.try_get("kind")?;
    let target = if plan_id.is_empty() {
        MarkupTarget::Vendor(vendor_id)
    } else {
        MarkupTarget::Plan(plan_id)
    };
    let kind = match kind.as_str() {
        "percentage" => MarkupKind::Percentage(
            i32::try_from(row.try_get::<i64, _>("basis_points")?)
                .map_err(|_| bad("basis points"))?,
        ),
        "fixed" => {
            let currency: String = row.try_get("fixed_currency")?;
            MarkupKind::Fixed(Money::new(
                CurrencyCode::parse(&currency).map_err(|_| bad("currency"))?,
                row.try_get("fixed_amount")?,
            ))
        }
        _ => return Err(bad("kind")),
    };
    Ok(Markup {
        id: row.try_get("id")?,
        reseller_id: row.try_get("reseller_id")?,
        target,
        kind,
        update_time: row.try_get("update_time")?,
    })
}

/// A reseller's markups (vendor markups first, then plan markups).
pub async fn list(conn: &mut AnyConnection, reseller_id: &str) -> Result<Vec<Markup>, sqlx::Error> {
    let sql =
        format!("SELECT {COLUMNS} FROM markups WHERE reseller_id = $1 ORDER BY plan_id, vendor_id");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(reseller_id.to_string())
        .fetch_all(conn)
        .await?
        .iter()
        .map(markup_from_row)
        .collect()
}

/// Creates or replaces the markup of a reseller for its target; returns the stored markup.
pub async fn upsert(conn: &mut AnyConnection, markup: &Markup) -> Result<Markup, sqlx::Error> {
    let (vendor_id, plan_id) = match &markup.target {
        MarkupTarget::Vendor(v) => (v.clone(), String::new()),
        MarkupTarget::Plan(p) => (String::new(), p.clone()),
    };
    let (kind, bp, currency, amount) = match markup.kind {
        MarkupKind::Percentage(bp) => ("percentage", i64::from(bp), String::new(), 0),
        MarkupKind::Fixed(m) => ("fixed", 0, m.currency.to_string(), m.amount_minor),
    };
    let sql = format!(
        "INSERT INTO markups ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (reseller_id, vendor_id, plan_id) DO UPDATE SET kind = excluded.kind, basis_points = excluded.basis_points, \
         fixed_currency = excluded.fixed_currency, fixed_amount = excluded.fixed_amount, update_time = excluded.update_time \
         RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(markup.id.clone())
        .bind(markup.reseller_id.clone())
        .bind(vendor_id)
        .bind(plan_id)
        .bind(kind)
        .bind(bp)
        .bind(currency)
        .bind(amount)
        .bind(markup.update_time)
        .fetch_one(conn)
        .await?;
    markup_from_row(&row)
}

/// Deletes a markup of a reseller; returns what it was, if it existed.
pub async fn delete(
    conn: &mut AnyConnection,
    reseller_id: &str,
    id: &str,
) -> Result<Option<Markup>, sqlx::Error> {
    let sql = format!("DELETE FROM markups WHERE reseller_id = $1 AND id = $2 RETURNING {COLUMNS}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(reseller_id.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(markup_from_row).transpose()
}
