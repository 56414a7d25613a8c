//! E-mail deliveries: inserted in the inbox transaction, claimed by workers with a lease.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use platform::db::Database;

use super::status;

/// An e-mail delivery row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailRow {
    /// Id (also the Message-ID local part).
    pub id: String,
    /// Reseller concerned.
    pub reseller_id: String,
    /// Feed row it belongs to.
    pub notification_id: String,
    /// Causing event.
    pub event_id: String,
    /// Kind name.
    pub kind: String,
    /// Recipient address.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub body_text: String,
    /// HTML body.
    pub body_html: String,
    /// Status.
    pub status: String,
    /// Attempts made (a claim counts as one).
    pub attempts: i64,
    /// Last error.
    pub last_error: String,
    /// When created.
    pub created_at: i64,
    /// When delivered.
    pub delivered_at: Option<i64>,
}

const COLUMNS: &str = "id, reseller_id, notification_id, event_id, kind, recipient, subject, body_text, body_html, status, attempts, last_error, created_at, delivered_at";

fn from_row(r: &AnyRow) -> Result<EmailRow, sqlx::Error> {
    Ok(EmailRow {
        id: r.try_get("id")?,
        reseller_id: r.try_get("reseller_id")?,
        notification_id: r.try_get("notification_id")?,
        event_id: r.try_get("event_id")?,
        kind: r.try_get("kind")?,
        recipient: r.try_get("recipient")?,
        subject: r.try_get("subject")?,
        body_text: r.try_get("body_text")?,
        body_html: r.try_get("body_html")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        delivered_at: r.try_get("delivered_at")?,
    })
}

/// Inserts a delivery; `false` when (event, kind, recipient) already has one.
pub async fn insert(
    conn: &mut AnyConnection,
    e: &EmailRow,
    next_attempt_at: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO email_deliveries (id, reseller_id, notification_id, event_id, kind, recipient, subject, body_text, body_html, status, attempts, last_error, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $12, $13) ON CONFLICT DO NOTHING",
    )
    .bind(e.id.clone())
    .bind(e.reseller_id.clone())
    .bind(e.notification_id.clone())
    .bind(e.event_id.clone())
    .bind(e.kind.clone())
    .bind(e.recipient.clone())
    .bind(e.subject.clone())
    .bind(e.body_text.clone())
    .bind(e.body_html.clone())
    .bind(e.status.clone())
    .bind(e.last_error.clone())
    .bind(next_attempt_at)
    .bind(e.created_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Claims up to `limit` due deliveries for `owner` until `lease_until`.
pub async fn claim(
    db: &Database,
    owner: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<EmailRow>, sqlx::Error> {
    let rows = super::claim_due(
        db,
        "email_deliveries",
        COLUMNS,
        owner,
        now,
        lease_until,
        limit,
    )
    .await?;
    rows.iter().map(from_row).collect()
}

/// Records the outcome of an attempt made under `owner`'s lease.
pub async fn finish(
    pool: &AnyPool,
    id: &str,
    owner: &str,
    new_status: &str,
    error: &str,
    next_attempt_at: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let delivered = (new_status == status::SUCCEEDED).then_some(now);
    let done = sqlx::query(
        "UPDATE email_deliveries SET status = $1, last_error = $2, next_attempt_at = $3, delivered_at = $4, lease_owner = NULL, lease_until = NULL \
         WHERE id = $5 AND lease_owner = $6",
    )
    .bind(new_status.to_string())
    .bind(error.to_string())
    .bind(next_attempt_at)
    .bind(delivered)
    .bind(id.to_string())
    .bind(owner.to_string())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A page of deliveries, newest first (ids are time-ordered), optionally of one reseller.
pub async fn list(
    pool: &AnyPool,
    reseller: Option<&str>,
    before_id: Option<&str>,
    limit: i64,
) -> Result<Vec<EmailRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM email_deliveries WHERE ($1 = '' OR reseller_id = $1) AND id < $2 ORDER BY id DESC LIMIT $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(reseller.unwrap_or("").to_string())
        .bind(before_id.unwrap_or("~").to_string())
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Deliveries of one event (tests and tools).
pub async fn of_event(pool: &AnyPool, event_id: &str) -> Result<Vec<EmailRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM email_deliveries WHERE event_id = $1 ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(event_id.to_string())
        .fetch_all(pool)
        .await?;
    rows.iter().map(from_row).collect()
}
