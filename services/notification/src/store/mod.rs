//! SQL over `sqlx::Any` (both backends): feed, facts and preferences, e-mail deliveries,
//! webhook endpoints, deliveries and attempts.

pub mod emails;
pub mod facts;
pub mod feed;
pub mod webhooks;

/// Stored delivery statuses.
pub mod status {
    /// Waiting for its first attempt.
    pub const PENDING: &str = "pending";
    /// Failed at least once; another attempt is scheduled.
    pub const RETRYING: &str = "retrying";
    /// Delivered.
    pub const SUCCEEDED: &str = "succeeded";
    /// Gave up (permanent error or no attempts left).
    pub const FAILED: &str = "failed";
    /// Not sent on purpose (channel disabled, kind muted).
    pub const SKIPPED: &str = "skipped";
}

/// `$from, $from+1, …` placeholders for `n` values.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Leases up to `limit` due deliveries of `table` (e-mail or webhook) to `owner` until
/// `lease_until`, counting the attempt, and returns them with `columns`. One rule for both
/// channels: due and not leased (or the lease expired); `SKIP LOCKED` on PostgreSQL so replicas
/// never claim the same row. `table` and `columns` are constants of this crate, never input.
pub(crate) async fn claim_due(
    db: &platform::db::Database,
    table: &'static str,
    columns: &'static str,
    owner: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<sqlx::any::AnyRow>, sqlx::Error> {
    let sql = format!(
        "UPDATE {table} SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 WHERE id IN (\
         SELECT id FROM {table} WHERE status IN ('{p}', '{r}') AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
         ORDER BY next_attempt_at LIMIT $4{skip}) RETURNING {columns}",
        p = status::PENDING,
        r = status::RETRYING,
        skip = db.skip_locked()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(owner.to_string())
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(db.pool())
        .await
}
