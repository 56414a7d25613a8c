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
