//! Webhook endpoints, deliveries (claimed with a lease) and the attempts log.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use platform::db::Database;

use super::status;

/// An endpoint row (secrets included: never log it).
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointRow {
    /// Id.
    pub id: String,
    /// Owning reseller.
    pub reseller_id: String,
    /// URL.
    pub url: String,
    /// Description.
    pub description: String,
    /// Event type filter (empty = all).
    pub event_types: Vec<String>,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// Why it was disabled automatically.
    pub disabled_reason: String,
    /// Current signing secret.
    pub secret: String,
    /// Previous secret, valid until `previous_secret_expires_at`.
    pub previous_secret: Option<String>,
    /// End of the rotation overlap.
    pub previous_secret_expires_at: Option<i64>,
    /// Since when deliveries fail without a success in between.
    pub failing_since: Option<i64>,
    /// Created.
    pub created_at: i64,
    /// Updated.
    pub updated_at: i64,
}

impl std::fmt::Debug for EndpointRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointRow")
            .field("id", &self.id)
            .field("reseller_id", &self.reseller_id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

const ENDPOINT_COLUMNS: &str = "id, reseller_id, url, description, event_types, enabled, disabled_reason, secret, previous_secret, previous_secret_expires_at, failing_since, created_at, updated_at";

fn endpoint(r: &AnyRow) -> Result<EndpointRow, sqlx::Error> {
    Ok(EndpointRow {
        id: r.try_get("id")?,
        reseller_id: r.try_get("reseller_id")?,
        url: r.try_get("url")?,
        description: r.try_get("description")?,
        event_types: serde_json::from_str(r.try_get::<&str, _>("event_types")?).unwrap_or_default(),
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        disabled_reason: r.try_get("disabled_reason")?,
        secret: r.try_get("secret")?,
        previous_secret: r.try_get("previous_secret")?,
        previous_secret_expires_at: r.try_get("previous_secret_expires_at")?,
        failing_since: r.try_get("failing_since")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Inserts an endpoint.
pub async fn insert_endpoint(pool: &AnyPool, e: &EndpointRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, reseller_id, url, description, event_types, enabled, disabled_reason, secret, previous_secret, previous_secret_expires_at, failing_since, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, NULL, $9, $10)",
    )
    .bind(e.id.clone())
    .bind(e.reseller_id.clone())
    .bind(e.url.clone())
    .bind(e.description.clone())
    .bind(serde_json::to_string(&e.event_types).unwrap_or_else(|_| "[]".into()))
    .bind(platform::db::flag(e.enabled))
    .bind(e.disabled_reason.clone())
    .bind(e.secret.clone())
    .bind(e.created_at)
    .bind(e.updated_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Saves the editable fields of an endpoint (URL, description, filter, enabled state, failure state).
pub async fn update_endpoint(pool: &AnyPool, e: &EndpointRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_endpoints SET url = $1, description = $2, event_types = $3, enabled = $4, disabled_reason = $5, failing_since = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(e.url.clone())
    .bind(e.description.clone())
    .bind(serde_json::to_string(&e.event_types).unwrap_or_else(|_| "[]".into()))
    .bind(platform::db::flag(e.enabled))
    .bind(e.disabled_reason.clone())
    .bind(e.failing_since)
    .bind(e.updated_at)
    .bind(e.id.clone())
    .execute(pool)
    .await?;
    Ok(())
}

/// Replaces the secret, keeping the previous one valid until `previous_expires_at`.
pub async fn rotate_secret(
    pool: &AnyPool,
    id: &str,
    secret: &str,
    previous: &str,
    previous_expires_at: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhook_endpoints SET secret = $1, previous_secret = $2, previous_secret_expires_at = $3, updated_at = $4 WHERE id = $5")
        .bind(secret.to_string())
        .bind(previous.to_string())
        .bind(previous_expires_at)
        .bind(now)
        .bind(id.to_string())
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes an endpoint (its deliveries and attempts go with it).
pub async fn delete_endpoint(pool: &AnyPool, id: &str) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let attempts = "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1)";
    sqlx::query(attempts)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// One endpoint.
pub async fn endpoint_by_id(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<EndpointRow>, sqlx::Error> {
    let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(endpoint).transpose()
}

/// A page of endpoints ordered by id, optionally of one reseller.
pub async fn list_endpoints(
    pool: &AnyPool,
    reseller: Option<&str>,
    after_id: Option<&str>,
    limit: i64,
) -> Result<Vec<EndpointRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE ($1 = '' OR reseller_id = $1) AND id > $2 ORDER BY id LIMIT $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(reseller.unwrap_or("").to_string())
        .bind(after_id.unwrap_or("").to_string())
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.iter().map(endpoint).collect()
}

/// Enabled endpoints of a reseller (inside the inbox transaction).
pub async fn enabled_endpoints(
    conn: &mut AnyConnection,
    reseller_id: &str,
) -> Result<Vec<EndpointRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE reseller_id = $1 AND enabled = 1 ORDER BY id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(reseller_id.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter().map(endpoint).collect()
}

/// A webhook delivery row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// Id.
    pub id: String,
    /// Endpoint.
    pub endpoint_id: String,
    /// Reseller.
    pub reseller_id: String,
    /// Event id (also the `webhook-id`).
    pub event_id: String,
    /// Public event type.
    pub event_type: String,
    /// JSON body.
    pub payload: String,
    /// Status.
    pub status: String,
    /// Attempts so far (a claim counts as one).
    pub attempts: i64,
    /// Next attempt.
    pub next_attempt_at: i64,
    /// Created.
    pub created_at: i64,
}

const DELIVERY_COLUMNS: &str = "id, endpoint_id, reseller_id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at";

fn delivery(r: &AnyRow) -> Result<DeliveryRow, sqlx::Error> {
    Ok(DeliveryRow {
        id: r.try_get("id")?,
        endpoint_id: r.try_get("endpoint_id")?,
        reseller_id: r.try_get("reseller_id")?,
        event_id: r.try_get("event_id")?,
        event_type: r.try_get("event_type")?,
        payload: r.try_get("payload")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Inserts a delivery; `false` when the event already has one for the endpoint.
pub async fn insert_delivery(
    conn: &mut AnyConnection,
    d: &DeliveryRow,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO webhook_deliveries (id, endpoint_id, reseller_id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
    )
    .bind(d.id.clone())
    .bind(d.endpoint_id.clone())
    .bind(d.reseller_id.clone())
    .bind(d.event_id.clone())
    .bind(d.event_type.clone())
    .bind(d.payload.clone())
    .bind(d.status.clone())
    .bind(d.attempts)
    .bind(d.next_attempt_at)
    .bind(d.created_at)
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
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    let rows = super::claim_due(
        db,
        "webhook_deliveries",
        DELIVERY_COLUMNS,
        owner,
        now,
        lease_until,
        limit,
    )
    .await?;
    rows.iter().map(delivery).collect()
}

/// Gives a claimed delivery back without attempting it (its endpoint is busy): the claim's
/// attempt is not counted and the delivery is due again at `next_attempt_at`.
pub async fn postpone(
    pool: &AnyPool,
    id: &str,
    owner: &str,
    next_attempt_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL, attempts = attempts - 1, next_attempt_at = $1 \
         WHERE id = $2 AND lease_owner = $3",
    )
    .bind(next_attempt_at)
    .bind(id.to_string())
    .bind(owner.to_string())
    .execute(pool)
    .await?;
    Ok(())
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow {
    /// HTTP status (0 = no response).
    pub status_code: i64,
    /// Latency.
    pub latency_ms: i64,
    /// Start of the response body.
    pub response_excerpt: String,
    /// Transport error.
    pub error: String,
    /// When.
    pub attempted_at: i64,
}

/// How an attempt changes the endpoint's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointHealth {
    /// Success: clear `failing_since`.
    Healthy,
    /// Failure: set `failing_since` if unset.
    Failing,
    /// Failing for too long: disable with a reason.
    Disable(String),
}

/// Records an attempt and its consequences made under `owner`'s lease; `false` when the lease was lost.
#[allow(clippy::too_many_arguments)]
pub async fn finish(
    pool: &AnyPool,
    delivery_id: &str,
    endpoint_id: &str,
    owner: &str,
    attempt: &AttemptRow,
    new_status: &str,
    next_attempt_at: i64,
    health: &EndpointHealth,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, lease_owner = NULL, lease_until = NULL WHERE id = $3 AND lease_owner = $4",
    )
    .bind(new_status.to_string())
    .bind(next_attempt_at)
    .bind(delivery_id.to_string())
    .bind(owner.to_string())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    insert_attempt(&mut tx, delivery_id, attempt).await?;
    let now = attempt.attempted_at;
    match health {
        EndpointHealth::Healthy => {
            sqlx::query("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL")
                .bind(endpoint_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        EndpointHealth::Failing => {
            sqlx::query("UPDATE webhook_endpoints SET failing_since = $1 WHERE id = $2 AND failing_since IS NULL")
                .bind(now)
                .bind(endpoint_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        EndpointHealth::Disable(reason) => {
            sqlx::query("UPDATE webhook_endpoints SET enabled = 0, disabled_reason = $1, updated_at = $2 WHERE id = $3")
                .bind(reason.clone())
                .bind(now)
                .bind(endpoint_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(true)
}

/// Appends to the attempts log.
pub async fn insert_attempt(
    conn: &mut AnyConnection,
    delivery_id: &str,
    a: &AttemptRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_attempts (id, delivery_id, status_code, latency_ms, response_excerpt, error, attempted_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(platform::ids::new_id())
    .bind(delivery_id.to_string())
    .bind(a.status_code)
    .bind(a.latency_ms)
    .bind(a.response_excerpt.clone())
    .bind(a.error.clone())
    .bind(a.attempted_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets a delivery's status outside a lease (test sends, disabled endpoints).
pub async fn set_status(
    pool: &AnyPool,
    delivery_id: &str,
    new_status: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhook_deliveries SET status = $1, lease_owner = NULL, lease_until = NULL WHERE id = $2")
        .bind(new_status.to_string())
        .bind(delivery_id.to_string())
        .execute(pool)
        .await?;
    Ok(())
}

/// Schedules a delivery again now (manual replay); the attempts log is kept.
pub async fn replay(pool: &AnyPool, delivery_id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, attempts = 0, lease_owner = NULL, lease_until = NULL WHERE id = $3",
    )
    .bind(status::PENDING.to_string())
    .bind(now)
    .bind(delivery_id.to_string())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One delivery.
pub async fn delivery_by_id(pool: &AnyPool, id: &str) -> Result<Option<DeliveryRow>, sqlx::Error> {
    let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(delivery).transpose()
}

/// A page of an endpoint's deliveries, newest first.
pub async fn list_deliveries(
    pool: &AnyPool,
    endpoint_id: &str,
    before_id: Option<&str>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(endpoint_id.to_string())
        .bind(before_id.unwrap_or("~").to_string())
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.iter().map(delivery).collect()
}

/// The attempts of a delivery, oldest first.
pub async fn attempts(pool: &AnyPool, delivery_id: &str) -> Result<Vec<AttemptRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT status_code, latency_ms, response_excerpt, error, attempted_at FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempted_at, id",
    )
    .bind(delivery_id.to_string())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AttemptRow {
                status_code: r.try_get("status_code")?,
                latency_ms: r.try_get("latency_ms")?,
                response_excerpt: r.try_get("response_excerpt")?,
                error: r.try_get("error")?,
                attempted_at: r.try_get("attempted_at")?,
            })
        })
        .collect()
}
