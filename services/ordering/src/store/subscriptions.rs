//! Subscriptions.

use platform::ServiceError;
use sqlx::{AnyConnection, Row};

use super::{Arg, Cursor, Query, Store, decode, encode, expect_one, like_pattern};
use crate::domain::lifecycle::{next_reminder_at, term_end_due};
use crate::domain::policy;
use crate::domain::subscription::{Subscription, SubscriptionStatus};

/// Filters of a subscription listing.
#[derive(Debug, Clone, Default)]
pub(crate) struct SubscriptionFilter {
    /// Only this reseller (None = all, staff).
    pub(crate) reseller_id: Option<String>,
    /// Only this customer.
    pub(crate) customer_id: Option<String>,
    /// Only this vendor.
    pub(crate) vendor_id: Option<String>,
    /// Only these statuses.
    pub(crate) statuses: Vec<SubscriptionStatus>,
    /// Text search.
    pub(crate) text: String,
}

impl Store {
    /// When the subscription's next reminder falls due (indexed).
    fn remind_at(&self, s: &Subscription) -> Option<i64> {
        next_reminder_at(s, policy::for_vendor(&s.plan.vendor_id), &self.rules)
    }

    /// Claims up to `limit` subscriptions of the clock `clock_id` ('' = the real clock) whose
    /// term ended before `today_key` (yyyymmdd), after
    /// the keyset `after` (the last `(due_day, id)` this worker claimed, so a pass never walks
    /// the index entries of rows it already handled), locked for this transaction; rows another
    /// replica holds are skipped (PostgreSQL `SKIP LOCKED`). Returns the rows and the new keyset.
    pub(crate) async fn claim_term_ends(
        &self,
        conn: &mut AnyConnection,
        clock_id: &str,
        today_key: i64,
        after: Option<&(i64, String)>,
        limit: i64,
    ) -> Result<(Vec<Subscription>, Option<(i64, String)>), ServiceError> {
        let (from_day, from_id) = after.cloned().unwrap_or((i64::MIN, String::new()));
        let sql = format!(
            "SELECT due_day, id, doc FROM subscriptions WHERE clock_id = $5 AND due_day <= $1 AND (due_day, id) > ($2, $3) ORDER BY due_day, id LIMIT $4{}",
            self.db().skip_locked()
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(today_key)
            .bind(from_day)
            .bind(from_id)
            .bind(limit)
            .bind(clock_id.to_string())
            .fetch_all(conn)
            .await?;
        let last = match rows.last() {
            Some(row) => Some((row.try_get("due_day")?, row.try_get("id")?)),
            None => None,
        };
        let subs = rows.iter().map(decode).collect::<Result<_, _>>()?;
        Ok((subs, last))
    }

    /// Claims up to `limit` subscriptions of the clock `clock_id` ('' = the real clock) with
    /// a reminder due at `now` (µs), locked likewise.
    pub(crate) async fn claim_reminders(
        &self,
        conn: &mut AnyConnection,
        clock_id: &str,
        now: i64,
        limit: i64,
    ) -> Result<Vec<Subscription>, ServiceError> {
        let sql = format!(
            "SELECT doc FROM subscriptions WHERE clock_id = $3 AND remind_at <= $1 ORDER BY remind_at LIMIT $2{}",
            self.db().skip_locked()
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(limit)
            .bind(clock_id.to_string())
            .fetch_all(conn)
            .await?;
        rows.iter().map(decode).collect()
    }

    /// A subscription by id.
    pub(crate) async fn subscription(
        &self,
        conn: &mut AnyConnection,
        id: &str,
    ) -> Result<Option<Subscription>, ServiceError> {
        let row = sqlx::query("SELECT doc FROM subscriptions WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(conn)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    /// Inserts a subscription.
    pub(crate) async fn insert_subscription(
        &self,
        conn: &mut AnyConnection,
        s: &Subscription,
    ) -> Result<(), ServiceError> {
        sqlx::query(
            "INSERT INTO subscriptions (id, reseller_id, customer_id, vendor_id, status, order_item_id, search_text, term_end_day, created_at, updated_at, version, doc, due_day, remind_at, clock_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, COALESCE((SELECT clock_id FROM customer_clocks WHERE customer_id = $3), ''))",
        )
        .bind(s.id.clone())
        .bind(s.reseller_id.clone())
        .bind(s.customer_id.clone())
        .bind(s.plan.vendor_id.clone())
        .bind(s.status.as_str())
        .bind(s.order_item_id.clone())
        .bind(s.search_text())
        .bind(s.term_end.map(|d| d.key()))
        .bind(s.created_at)
        .bind(s.updated_at)
        .bind(s.version)
        .bind(encode(s)?)
        .bind(term_end_due(s).map(|d| d.key()))
        .bind(self.remind_at(s))
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Saves a subscription whose stored version is `s.version - 1`.
    pub(crate) async fn update_subscription(
        &self,
        conn: &mut AnyConnection,
        s: &Subscription,
    ) -> Result<(), ServiceError> {
        let rows = sqlx::query(
            "UPDATE subscriptions SET status = $1, search_text = $2, term_end_day = $3, updated_at = $4, version = $5, doc = $6, due_day = $9, remind_at = $10 WHERE id = $7 AND version = $8",
        )
        .bind(s.status.as_str())
        .bind(s.search_text())
        .bind(s.term_end.map(|d| d.key()))
        .bind(s.updated_at)
        .bind(s.version)
        .bind(encode(s)?)
        .bind(s.id.clone())
        .bind(s.version - 1)
        .bind(term_end_due(s).map(|d| d.key()))
        .bind(self.remind_at(s))
        .execute(conn)
        .await?
        .rows_affected();
        expect_one(rows, "subscription")
    }

    /// Saves many subscriptions (each stored at `version - 1`): one multi-row statement per
    /// chunk on PostgreSQL, row by row on SQLite. ABORTED when any was changed meanwhile.
    pub(crate) async fn update_subscriptions(
        &self,
        conn: &mut AnyConnection,
        subs: &[Subscription],
    ) -> Result<(), ServiceError> {
        if self.db().backend() == platform::db::Backend::Sqlite {
            for s in subs {
                self.update_subscription(conn, s).await?;
            }
            return Ok(());
        }
        for chunk in subs.chunks(200) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|r| {
                    let p: Vec<String> = (1..=10).map(|c| format!("${}", r * 10 + c)).collect();
                    format!("({})", p.join(", "))
                })
                .collect();
            let sql = format!(
                "UPDATE subscriptions AS s SET status = v.status, search_text = v.search_text, term_end_day = v.term_end_day, updated_at = v.updated_at, version = v.version, doc = v.doc, due_day = v.due_day, remind_at = v.remind_at \
                 FROM (VALUES {}) AS v(id, expected, status, search_text, term_end_day, updated_at, version, doc, due_day, remind_at) \
                 WHERE s.id = v.id AND s.version = v.expected",
                rows.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for s in chunk {
                q = q
                    .bind(s.id.clone())
                    .bind(s.version - 1)
                    .bind(s.status.as_str())
                    .bind(s.search_text())
                    .bind(s.term_end.map(|d| d.key()))
                    .bind(s.updated_at)
                    .bind(s.version)
                    .bind(encode(s)?)
                    .bind(term_end_due(s).map(|d| d.key()))
                    .bind(self.remind_at(s));
            }
            let updated = q.execute(&mut *conn).await?.rows_affected();
            expect_all(updated, chunk.len())?;
        }
        Ok(())
    }

    /// A page of subscriptions.
    pub(crate) async fn list_subscriptions(
        &self,
        conn: &mut AnyConnection,
        filter: &SubscriptionFilter,
        after: Option<&Cursor>,
        limit: i64,
    ) -> Result<(Vec<Subscription>, Option<Cursor>), ServiceError> {
        let mut q = Query::default();
        for (column, value) in [
            ("reseller_id", &filter.reseller_id),
            ("customer_id", &filter.customer_id),
            ("vendor_id", &filter.vendor_id),
        ] {
            if let Some(v) = value {
                let p = q.arg(Arg::Text(v.clone()));
                q.clause(format!("{column} = {p}"));
            }
        }
        if !filter.statuses.is_empty() {
            let list: Vec<String> = filter
                .statuses
                .iter()
                .map(|s| q.arg(Arg::Text(s.as_str().to_string())))
                .collect();
            q.clause(format!("status IN ({})", list.join(", ")));
        }
        if !filter.text.trim().is_empty() {
            let p = q.arg(Arg::Text(like_pattern(filter.text.trim())));
            q.clause(format!("search_text LIKE {p} ESCAPE '\\'"));
        }
        q.after(after);
        q.page(conn, "subscriptions", limit).await
    }
}

fn expect_all(updated: u64, expected: usize) -> Result<(), ServiceError> {
    if updated == expected as u64 {
        Ok(())
    } else {
        Err(ServiceError::conflict(
            "subscriptions were changed concurrently; the batch is retried",
        ))
    }
}
