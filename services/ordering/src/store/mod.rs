//! Storage: aggregates as JSON documents beside the columns queries filter, sort and lock on.
//! Portable SQL over `sqlx::Any` (`$n` placeholders, BIGINT µs timestamps, 0/1 flags).

mod carts;
mod clocks;
mod orders;
mod parties;
mod subscriptions;

pub(crate) use orders::OrderFilter;
pub(crate) use subscriptions::SubscriptionFilter;

use platform::ServiceError;
use platform::db::Database;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A keyset cursor: (created_at, id) of the last row of the previous page.
pub(crate) type Cursor = (i64, String);

/// Access to the ordering schema.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    db: Database,
    /// Lifecycle rules (reminder times are indexed on save).
    rules: std::sync::Arc<crate::domain::policy::Rules>,
}

impl Store {
    /// A store over `db` (migrated).
    pub(crate) fn new(db: Database, rules: crate::domain::policy::Rules) -> Self {
        Self {
            db,
            rules: std::sync::Arc::new(rules),
        }
    }

    /// The lifecycle rules.
    pub(crate) fn rules(&self) -> &crate::domain::policy::Rules {
        &self.rules
    }

    /// The database (backend-specific SQL such as `FOR UPDATE SKIP LOCKED`).
    pub(crate) fn db(&self) -> &Database {
        &self.db
    }

    /// Starts a transaction.
    pub(crate) async fn begin(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, ServiceError> {
        Ok(self.db.pool().begin().await?)
    }

    /// A pooled connection for reads.
    pub(crate) async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, ServiceError> {
        Ok(self.db.pool().acquire().await?)
    }

    /// Serialises per-reseller checkouts: upserts the reseller's guard row, which stays locked
    /// (PostgreSQL row lock; SQLite's single writer) until the transaction ends.
    pub(crate) async fn lock_reseller_checkout(
        &self,
        conn: &mut AnyConnection,
        reseller_id: &str,
    ) -> Result<(), ServiceError> {
        sqlx::query("INSERT INTO checkout_guards (reseller_id, seq) VALUES ($1, 1) ON CONFLICT (reseller_id) DO UPDATE SET seq = checkout_guards.seq + 1")
            .bind(reseller_id.to_string())
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// A bind value of a dynamically built query.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

/// Builds `WHERE` clauses with numbered placeholders.
#[derive(Debug, Default)]
pub(crate) struct Query {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Query {
    /// Adds a placeholder for `arg` and returns its name (`$n`).
    pub(crate) fn arg(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    /// Adds a clause.
    pub(crate) fn clause(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    /// Adds the keyset condition for descending (created_at, id). The leading
    /// `created_at <= cursor` is implied by the rest but is what lets both backends start the
    /// `(…, created_at, id)` index scan at the cursor: without it the OR is only a filter, and a
    /// deep page reads (and throws away) every row before it, as OFFSET would.
    pub(crate) fn after(&mut self, cursor: Option<&Cursor>) {
        if let Some((at, id)) = cursor {
            let bound = self.arg(Arg::Int(*at));
            let a = self.arg(Arg::Int(*at));
            let b = self.arg(Arg::Int(*at));
            let c = self.arg(Arg::Text(id.clone()));
            self.clause(format!(
                "created_at <= {bound} AND (created_at < {a} OR (created_at = {b} AND id < {c}))"
            ));
        }
    }

    /// Runs `SELECT doc, created_at, id FROM table WHERE … ORDER BY created_at DESC, id DESC LIMIT n`.
    pub(crate) async fn page<T: DeserializeOwned>(
        self,
        conn: &mut AnyConnection,
        table: &str,
        limit: i64,
    ) -> Result<(Vec<T>, Option<Cursor>), ServiceError> {
        self.page_any_of(conn, table, "", &[], limit).await
    }

    /// [`Self::page`] of the rows whose `column` is one of `values` (none = no such condition).
    /// With several values, one ordered and limited branch per value, merged by a
    /// `UNION ALL … ORDER BY … LIMIT`: each branch walks the `(…, column, created_at, id)` index
    /// from the top (PostgreSQL merges them lazily), so a page reads about `limit` rows, where
    /// `column IN (…)` would read every matching row of the tenant and then sort them.
    pub(crate) async fn page_any_of<T: DeserializeOwned>(
        mut self,
        conn: &mut AnyConnection,
        table: &str,
        column: &str,
        values: &[String],
        limit: i64,
    ) -> Result<(Vec<T>, Option<Cursor>), ServiceError> {
        let lim = self.arg(Arg::Int(limit + 1));
        let select = |clauses: &[String]| {
            let filter = if clauses.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", clauses.join(" AND "))
            };
            format!(
                "SELECT doc, created_at, id FROM {table}{filter} ORDER BY created_at DESC, id DESC LIMIT {lim}"
            )
        };
        let sql = match values {
            [] => select(&self.clauses),
            [one] => {
                let p = self.arg(Arg::Text(one.clone()));
                let mut clauses = self.clauses.clone();
                clauses.push(format!("{column} = {p}"));
                select(&clauses)
            }
            many => {
                let mut branches = Vec::with_capacity(many.len());
                for (i, value) in many.iter().enumerate() {
                    let p = self.arg(Arg::Text(value.clone()));
                    let mut clauses = self.clauses.clone();
                    clauses.push(format!("{column} = {p}"));
                    branches.push(format!(
                        "SELECT doc, created_at, id FROM ({}) AS b{i}",
                        select(&clauses)
                    ));
                }
                format!(
                    "{} ORDER BY created_at DESC, id DESC LIMIT {lim}",
                    branches.join(" UNION ALL ")
                )
            }
        };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for arg in self.args {
            query = match arg {
                Arg::Text(s) => query.bind(s),
                Arg::Int(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(conn).await?;
        let more = rows.len() as i64 > limit;
        let mut out = Vec::new();
        let mut last = None;
        for row in rows.iter().take(limit.max(0) as usize) {
            out.push(decode(row)?);
            last = Some((
                row.try_get::<i64, _>("created_at")?,
                row.try_get::<String, _>("id")?,
            ));
        }
        Ok((out, if more { last } else { None }))
    }
}

/// Serialises an aggregate document.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<String, ServiceError> {
    serde_json::to_string(value).map_err(|e| ServiceError::internal("encode document", e))
}

/// Deserialises the `doc` column of a row.
pub(crate) fn decode<T: DeserializeOwned>(row: &AnyRow) -> Result<T, ServiceError> {
    let doc: String = row.try_get("doc")?;
    serde_json::from_str(&doc).map_err(|e| ServiceError::internal("decode document", e))
}

/// Escapes `%`, `_` and `\` for a LIKE pattern and wraps it in `%…%`.
pub(crate) fn like_pattern(text: &str) -> String {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Fails with ABORTED unless exactly one row was updated.
pub(crate) fn expect_one(rows: u64, what: &str) -> Result<(), ServiceError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(ServiceError::conflict(format!(
            "{what} was changed concurrently; reload and retry"
        )))
    }
}

/// Fails with ABORTED when a client-sent etag (the version) is stale; an empty etag skips the check.
pub(crate) fn check_etag(etag: &str, version: i64, what: &str) -> Result<(), ServiceError> {
    if etag.is_empty() || etag == version.to_string() {
        Ok(())
    } else {
        Err(ServiceError::conflict(format!(
            "{what} changed since it was read (etag {etag}, now {version}); reload and retry"
        )))
    }
}
