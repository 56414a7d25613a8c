//! Price history of plans.

use sqlx::{AnyConnection, Row};

use super::{Arg, Sql};
use crate::domain::money::CurrencyCode;
use crate::domain::price::Price;

const COLUMNS: &str = "id, plan_id, currency_code, cost, msrp, effective_at, created_at";

fn price_from_row(row: &sqlx::any::AnyRow) -> Result<Price, sqlx::Error> {
    let currency: String = row.try_get("currency_code")?;
    Ok(Price {
        id: row.try_get("id")?,
        plan_id: row.try_get("plan_id")?,
        currency: CurrencyCode::parse(&currency).map_err(|_| {
            sqlx::Error::Decode(format!("stored price has currency {currency:?}").into())
        })?,
        cost: row.try_get("cost")?,
        msrp: row.try_get("msrp")?,
        effective_at: row.try_get("effective_at")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Every price of `plan_ids` effective at or before `at` (callers pick the one in effect).
pub async fn effective_by(
    conn: &mut AnyConnection,
    plan_ids: &[String],
    at: i64,
) -> Result<Vec<Price>, sqlx::Error> {
    if plan_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS} FROM prices WHERE effective_at <= "
    ));
    sql.bind(Arg::Int(at))
        .push(" AND plan_id IN ")
        .bind_list(plan_ids);
    sql.query()
        .fetch_all(conn)
        .await?
        .iter()
        .map(price_from_row)
        .collect()
}

/// Every price (the in-memory read model is loaded from this).
pub async fn all(conn: &mut AnyConnection) -> Result<Vec<Price>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM prices");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(conn)
        .await?
        .iter()
        .map(price_from_row)
        .collect()
}

/// A page of a plan's price history, newest effective first, after `(effective_at, id)`.
pub async fn history(
    conn: &mut AnyConnection,
    plan_id: &str,
    currency: Option<CurrencyCode>,
    after: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<Price>, sqlx::Error> {
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM prices WHERE plan_id = "));
    sql.bind(Arg::Text(plan_id.to_string()));
    if let Some(c) = currency {
        sql.push(" AND currency_code = ")
            .bind(Arg::Text(c.to_string()));
    }
    if let Some((at, id)) = after {
        sql.push(" AND (effective_at < ")
            .bind(Arg::Int(at))
            .push(" OR (effective_at = ")
            .bind(Arg::Int(at))
            .push(" AND id > ")
            .bind(Arg::Text(id))
            .push("))");
    }
    sql.push(" ORDER BY effective_at DESC, id LIMIT ")
        .bind(Arg::Int(limit));
    sql.query()
        .fetch_all(conn)
        .await?
        .iter()
        .map(price_from_row)
        .collect()
}

/// The price of a plan and currency effective exactly at `effective_at`, if any.
pub async fn at_exact(
    conn: &mut AnyConnection,
    plan_id: &str,
    currency: CurrencyCode,
    effective_at: i64,
) -> Result<Option<Price>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM prices WHERE plan_id = $1 AND currency_code = $2 AND effective_at = $3"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(plan_id.to_string())
        .bind(currency.to_string())
        .bind(effective_at)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(price_from_row).transpose()
}

/// Inserts a price unless one exists for the same plan, currency and moment (or id); returns
/// whether it was inserted.
pub async fn insert(conn: &mut AnyConnection, price: &Price) -> Result<bool, sqlx::Error> {
    let n = sqlx::query("INSERT INTO prices (id, plan_id, currency_code, cost, msrp, effective_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING")
        .bind(price.id.clone())
        .bind(price.plan_id.clone())
        .bind(price.currency.to_string())
        .bind(price.cost)
        .bind(price.msrp)
        .bind(price.effective_at)
        .bind(price.created_at)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if n == 1 {
        super::version::bump(conn).await?;
    }
    Ok(n == 1)
}
