//! Orders, their status history (what WatchOrder streams) and the order-number counter.

use platform::ServiceError;
use sqlx::{AnyConnection, Row};

use super::{Arg, Cursor, Query, Store, decode, encode, expect_one};
use crate::domain::order::Order;
use crate::domain::state::OrderStatus;

/// Filters of an order listing.
#[derive(Debug, Clone, Default)]
pub(crate) struct OrderFilter {
    /// Only this reseller (None = all, staff).
    pub(crate) reseller_id: Option<String>,
    /// Only this customer.
    pub(crate) customer_id: Option<String>,
    /// Only these statuses (empty = any).
    pub(crate) statuses: Vec<OrderStatus>,
    /// Created at or after (µs).
    pub(crate) created_from: Option<i64>,
    /// Created before (µs).
    pub(crate) created_to: Option<i64>,
    /// Leave out orders whose only change is a markup change (customer roles).
    pub(crate) hide_markup_only: bool,
}

/// One recorded status change of an order.
#[derive(Debug, Clone)]
pub(crate) struct HistoryEntry {
    /// Order version after the change.
    pub(crate) version: i64,
    /// What changed (`order.status`, `items[0].status`).
    pub(crate) change: String,
    /// The order as it was right after the change.
    pub(crate) order: Order,
}

impl Store {
    /// An order by id.
    pub(crate) async fn order(
        &self,
        conn: &mut AnyConnection,
        id: &str,
    ) -> Result<Option<Order>, ServiceError> {
        let row = sqlx::query("SELECT doc FROM orders WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(conn)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    /// The order a checkout with `request_key` created for `reseller_id`.
    pub(crate) async fn order_by_request(
        &self,
        conn: &mut AnyConnection,
        reseller_id: &str,
        request_key: &str,
    ) -> Result<Option<Order>, ServiceError> {
        let row = sqlx::query("SELECT doc FROM orders WHERE reseller_id = $1 AND request_key = $2")
            .bind(reseller_id.to_string())
            .bind(request_key.to_string())
            .fetch_optional(conn)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    /// The reseller's orders still provisioning (items may wait on the reseller), oldest first.
    pub(crate) async fn provisioning_orders(
        &self,
        conn: &mut AnyConnection,
        reseller_id: &str,
    ) -> Result<Vec<Order>, ServiceError> {
        let rows = sqlx::query(
            "SELECT doc FROM orders WHERE reseller_id = $1 AND status = $2 ORDER BY created_at",
        )
        .bind(reseller_id.to_string())
        .bind(OrderStatus::ProvisioningStarted.as_str())
        .fetch_all(conn)
        .await?;
        rows.iter().map(decode).collect()
    }

    /// The reseller's submitted, unfinished Autodesk order, if any.
    pub(crate) async fn open_autodesk_order(
        &self,
        conn: &mut AnyConnection,
        reseller_id: &str,
    ) -> Result<Option<Order>, ServiceError> {
        let row = sqlx::query("SELECT doc FROM orders WHERE reseller_id = $1 AND has_autodesk = 1 AND status IN ($2, $3) ORDER BY created_at LIMIT 1")
            .bind(reseller_id.to_string())
            .bind(OrderStatus::InProgress.as_str())
            .bind(OrderStatus::ProvisioningStarted.as_str())
            .fetch_optional(conn)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    /// The next order number. PostgreSQL: from the `order_numbers` sequence, which takes no row
    /// lock, so concurrent checkouts never queue on a counter until the first one commits (a
    /// rolled-back checkout leaves a gap, as any sequence does). SQLite (one writer): the
    /// `counters` row, inside the caller's transaction.
    pub(crate) async fn next_order_number(
        &self,
        conn: &mut AnyConnection,
    ) -> Result<i64, ServiceError> {
        Ok(self.reserve_order_numbers(conn, 1).await?[0])
    }

    /// Reserves `n` (≥ 1) order numbers, ascending (not necessarily contiguous on PostgreSQL).
    pub(crate) async fn reserve_order_numbers(
        &self,
        tx: &mut AnyConnection,
        n: i64,
    ) -> Result<Vec<i64>, ServiceError> {
        let n = n.max(1);
        if self.db().backend() == platform::db::Backend::Sqlite {
            let row = sqlx::query(
                "UPDATE counters SET value = value + $1 WHERE name = 'order_number' RETURNING value",
            )
            .bind(n)
            .fetch_one(tx)
            .await?;
            let last: i64 = row.try_get("value")?;
            return Ok((last - n + 1..=last).collect());
        }
        let rows = sqlx::query(
            "SELECT nextval('order_numbers') AS value FROM generate_series(1, $1) ORDER BY 1",
        )
        .bind(n)
        .fetch_all(tx)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<i64, _>("value")?))
            .collect()
    }

    /// Which of `keys` already name an order of `reseller_id`: (request key, order id).
    pub(crate) async fn existing_request_keys(
        &self,
        conn: &mut AnyConnection,
        reseller_id: &str,
        keys: &[String],
    ) -> Result<Vec<(String, String)>, ServiceError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = (0..keys.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT request_key, id FROM orders WHERE reseller_id = $1 AND request_key IN ({})",
            list.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(reseller_id.to_string());
        for k in keys {
            q = q.bind(k.clone());
        }
        let rows = q.fetch_all(conn).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("request_key")?, r.try_get("id")?)))
            .collect()
    }

    /// Inserts an order; false when the reseller already has an order with its request key.
    pub(crate) async fn insert_order(
        &self,
        conn: &mut AnyConnection,
        o: &Order,
    ) -> Result<bool, ServiceError> {
        let rows = sqlx::query(
            "INSERT INTO orders (id, reseller_id, customer_id, number, status, request_key, has_autodesk, markup_only, created_at, updated_at, version, doc) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (reseller_id, request_key) DO NOTHING",
        )
        .bind(o.id.clone())
        .bind(o.reseller_id.clone())
        .bind(o.customer_id.clone())
        .bind(o.number.clone())
        .bind(o.status.as_str())
        .bind(o.request_key.clone())
        .bind(platform::db::flag(o.has_autodesk()))
        .bind(platform::db::flag(o.is_markup_only()))
        .bind(o.created_at)
        .bind(o.updated_at)
        .bind(o.version)
        .bind(encode(o)?)
        .execute(conn)
        .await?
        .rows_affected();
        Ok(rows == 1)
    }

    /// Inserts many orders in multi-row statements (renewal batches); ABORTED when any request
    /// key was taken meanwhile (the caller's transaction then rolls back).
    pub(crate) async fn insert_orders(
        &self,
        conn: &mut AnyConnection,
        orders: &[Order],
    ) -> Result<(), ServiceError> {
        for chunk in orders.chunks(200) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|r| {
                    let p: Vec<String> = (1..=12).map(|c| format!("${}", r * 12 + c)).collect();
                    format!("({})", p.join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO orders (id, reseller_id, customer_id, number, status, request_key, has_autodesk, markup_only, created_at, updated_at, version, doc) VALUES {} ON CONFLICT (reseller_id, request_key) DO NOTHING",
                rows.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for o in chunk {
                q = q
                    .bind(o.id.clone())
                    .bind(o.reseller_id.clone())
                    .bind(o.customer_id.clone())
                    .bind(o.number.clone())
                    .bind(o.status.as_str())
                    .bind(o.request_key.clone())
                    .bind(platform::db::flag(o.has_autodesk()))
                    .bind(platform::db::flag(o.is_markup_only()))
                    .bind(o.created_at)
                    .bind(o.updated_at)
                    .bind(o.version)
                    .bind(encode(o)?);
            }
            let inserted = q.execute(&mut *conn).await?.rows_affected();
            if inserted != chunk.len() as u64 {
                return Err(ServiceError::conflict(
                    "a renewal order was placed concurrently; the batch is retried",
                ));
            }
        }
        Ok(())
    }

    /// Records many history rows (`(order snapshot, change)`) in multi-row statements.
    pub(crate) async fn append_histories(
        &self,
        conn: &mut AnyConnection,
        rows: &[(Order, String)],
        now: i64,
    ) -> Result<(), ServiceError> {
        for chunk in rows.chunks(400) {
            let values: Vec<String> = (0..chunk.len())
                .map(|r| {
                    let p: Vec<String> = (1..=5).map(|c| format!("${}", r * 5 + c)).collect();
                    format!("({})", p.join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO order_history (order_id, version, change, created_at, snapshot) VALUES {} ON CONFLICT DO NOTHING",
                values.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (o, change) in chunk {
                q = q
                    .bind(o.id.clone())
                    .bind(o.version)
                    .bind(change.clone())
                    .bind(now)
                    .bind(encode(o)?);
            }
            q.execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Saves an order whose stored version is `expected`; ABORTED when someone else won.
    pub(crate) async fn update_order(
        &self,
        conn: &mut AnyConnection,
        o: &Order,
        expected: i64,
    ) -> Result<(), ServiceError> {
        let rows = sqlx::query("UPDATE orders SET status = $1, updated_at = $2, version = $3, doc = $4, markup_only = $5 WHERE id = $6 AND version = $7")
            .bind(o.status.as_str())
            .bind(o.updated_at)
            .bind(o.version)
            .bind(encode(o)?)
            .bind(platform::db::flag(o.is_markup_only()))
            .bind(o.id.clone())
            .bind(expected)
            .execute(conn)
            .await?
            .rows_affected();
        expect_one(rows, "order")
    }

    /// Removes a STARTED order whose stored version is `expected` (its cart changed, was
    /// discarded or checked out: the caller stores what it became, under the same id); ABORTED
    /// when someone else changed it.
    pub(crate) async fn delete_started_order(
        &self,
        conn: &mut AnyConnection,
        id: &str,
        expected: i64,
    ) -> Result<(), ServiceError> {
        let rows = sqlx::query("DELETE FROM orders WHERE id = $1 AND version = $2 AND status = $3")
            .bind(id.to_string())
            .bind(expected)
            .bind(OrderStatus::Started.as_str())
            .execute(conn)
            .await?
            .rows_affected();
        expect_one(rows, "order")
    }

    /// Records a status change with the order as it is now (version = `o.version`).
    pub(crate) async fn append_history(
        &self,
        conn: &mut AnyConnection,
        o: &Order,
        change: &str,
        now: i64,
    ) -> Result<(), ServiceError> {
        sqlx::query("INSERT INTO order_history (order_id, version, change, created_at, snapshot) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
            .bind(o.id.clone())
            .bind(o.version)
            .bind(change.to_string())
            .bind(now)
            .bind(encode(o)?)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Status changes of an order after `version`, oldest first.
    pub(crate) async fn history_after(
        &self,
        conn: &mut AnyConnection,
        order_id: &str,
        version: i64,
    ) -> Result<Vec<HistoryEntry>, ServiceError> {
        let rows = sqlx::query("SELECT version, change, snapshot AS doc FROM order_history WHERE order_id = $1 AND version > $2 ORDER BY version")
            .bind(order_id.to_string())
            .bind(version)
            .fetch_all(conn)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(HistoryEntry {
                    version: row.try_get("version")?,
                    change: row.try_get("change")?,
                    order: decode(row)?,
                })
            })
            .collect()
    }

    /// A page of orders.
    pub(crate) async fn list_orders(
        &self,
        conn: &mut AnyConnection,
        filter: &OrderFilter,
        after: Option<&Cursor>,
        limit: i64,
    ) -> Result<(Vec<Order>, Option<Cursor>), ServiceError> {
        let mut q = Query::default();
        if let Some(r) = &filter.reseller_id {
            let p = q.arg(Arg::Text(r.clone()));
            q.clause(format!("reseller_id = {p}"));
        }
        if let Some(c) = &filter.customer_id {
            let p = q.arg(Arg::Text(c.clone()));
            q.clause(format!("customer_id = {p}"));
        }
        if let Some(from) = filter.created_from {
            let p = q.arg(Arg::Int(from));
            q.clause(format!("created_at >= {p}"));
        }
        if let Some(to) = filter.created_to {
            let p = q.arg(Arg::Int(to));
            q.clause(format!("created_at < {p}"));
        }
        if filter.hide_markup_only {
            q.clause("markup_only = 0".into());
        }
        q.after(after);
        // A status list (the recent and historical views) is one merged branch per status,
        // each on `orders_by_status`.
        let statuses: Vec<String> = filter
            .statuses
            .iter()
            .map(|s| s.as_str().to_string())
            .collect();
        q.page_any_of(conn, "orders", "status", &statuses, limit)
            .await
    }
}
