//! Transactional outbox: a state change and the events it causes commit in one transaction;
//! the [`Relay`] publishes committed rows to the bus and marks them published only after the
//! bus acknowledged them. A crash at any moment loses nothing; a re-publish after a crash is
//! de-duplicated by the bus (`Nats-Msg-Id` = event id) and by consumers' inboxes.

use std::sync::Arc;
use std::time::Duration;

use marketplace_proto::events::v1::{Envelope, envelope::Payload};
use prost::Message;
use sqlx::{AnyConnection, Row};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::bus::{OutgoingEvent, SharedBus};
use crate::clock::{SharedClock, to_micros, to_timestamp};
use crate::db::{Backend, Database};

/// Subject of an event: `marketplace.<source>.<type>`.
pub fn subject(source: &str, event_type: &str) -> String {
    format!("marketplace.{source}.{event_type}")
}

/// Builds an envelope stamped with a new UUIDv7, the time and the current trace context.
pub fn envelope(
    source: &str,
    reseller_id: &str,
    customer_id: &str,
    payload: Payload,
    clock: &SharedClock,
) -> Envelope {
    let (traceparent, tracestate) = crate::propagation::current_traceparent();
    Envelope {
        id: crate::ids::new_id(),
        r#type: event_type(&payload).to_string(),
        source: source.to_string(),
        occur_time: Some(to_timestamp(clock.now())),
        reseller_id: reseller_id.to_string(),
        customer_id: customer_id.to_string(),
        traceparent,
        tracestate,
        payload: Some(payload),
    }
}

/// The event type name of a payload (last subject token).
pub fn event_type(payload: &Payload) -> &'static str {
    match payload {
        Payload::OrderSubmitted(_) => "order_submitted",
        Payload::OrderStatusChanged(_) => "order_status_changed",
        Payload::OrderItemStatusChanged(_) => "order_item_status_changed",
        Payload::FulfilmentRequested(_) => "fulfilment_requested",
        Payload::FulfilmentCancelRequested(_) => "fulfilment_cancel_requested",
        Payload::FulfilmentProgressed(_) => "fulfilment_progressed",
        Payload::FulfilmentSucceeded(_) => "fulfilment_succeeded",
        Payload::FulfilmentInquiring(_) => "fulfilment_inquiring",
        Payload::FulfilmentFailed(_) => "fulfilment_failed",
        Payload::SubscriptionStatusChanged(_) => "subscription_status_changed",
        Payload::SubscriptionActivated(_) => "subscription_activated",
        Payload::SubscriptionReminder(_) => "subscription_reminder",
        Payload::ResellerProfileChanged(_) => "reseller_profile_changed",
        Payload::MicrosoftTenantLinkRequested(_) => "microsoft_tenant_link_requested",
        Payload::MicrosoftTenantLinkUpdated(_) => "microsoft_tenant_link_updated",
        Payload::MarkupChanged(_) => "markup_changed",
        Payload::ConnectorHealthChanged(_) => "connector_health_changed",
    }
}

/// The bus headers of an event: its W3C trace context, as JSON pairs.
fn trace_headers(envelope: &Envelope) -> String {
    let mut headers = Vec::new();
    if !envelope.traceparent.is_empty() {
        headers.push(("traceparent".to_string(), envelope.traceparent.clone()));
    }
    if !envelope.tracestate.is_empty() {
        headers.push(("tracestate".to_string(), envelope.tracestate.clone()));
    }
    serde_json::to_string(&headers).unwrap_or_else(|_| "[]".into())
}

/// Handle that producers use to append events and wake the relay.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    wake: Arc<Notify>,
}

impl Outbox {
    /// A new handle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an event inside the caller's transaction.
    pub async fn append(
        &self,
        conn: &mut AnyConnection,
        envelope: &Envelope,
        now_micros: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO outbox (id, subject, headers, payload, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(envelope.id.clone())
            .bind(subject(&envelope.source, &envelope.r#type))
            .bind(trace_headers(envelope))
            .bind(envelope.encode_to_vec())
            .bind(now_micros)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Appends many events inside the caller's transaction with multi-row inserts (batch
    /// producers such as schedulers: one round trip per 500 events instead of one per event).
    pub async fn append_all(
        &self,
        conn: &mut AnyConnection,
        envelopes: &[Envelope],
        now_micros: i64,
    ) -> Result<(), sqlx::Error> {
        for chunk in envelopes.chunks(500) {
            let placeholders: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let b = i * 5;
                    format!(
                        "(${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5
                    )
                })
                .collect();
            // Safe: only generated placeholders are interpolated; every value is bound.
            let sql = format!(
                "INSERT INTO outbox (id, subject, headers, payload, created_at) VALUES {}",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for envelope in chunk {
                query = query
                    .bind(envelope.id.clone())
                    .bind(subject(&envelope.source, &envelope.r#type))
                    .bind(trace_headers(envelope))
                    .bind(envelope.encode_to_vec())
                    .bind(now_micros);
            }
            query.execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Wakes the relay; call after the transaction committed.
    pub fn notify(&self) {
        self.wake.notify_one();
    }
}

/// Relay settings.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Rows per batch.
    pub batch_size: i64,
    /// Poll interval when not woken (other replicas' rows, retries after bus errors).
    pub poll_interval: Duration,
    /// How long published rows are kept.
    pub retention: Duration,
    /// Service name for metrics labels.
    pub name: String,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            batch_size: 100,
            poll_interval: Duration::from_millis(500),
            retention: Duration::from_secs(24 * 3600),
            name: "service".into(),
        }
    }
}

/// Publishes committed outbox rows to the bus.
#[derive(Clone)]
pub struct Relay {
    db: Database,
    bus: SharedBus,
    outbox: Outbox,
    clock: SharedClock,
    settings: RelaySettings,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay for one service's outbox.
    pub fn new(
        db: Database,
        bus: SharedBus,
        outbox: Outbox,
        clock: SharedClock,
        settings: RelaySettings,
    ) -> Self {
        Self {
            db,
            bus,
            outbox,
            clock,
            settings,
        }
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut last_cleanup = std::time::Instant::now();
        loop {
            let published = match self.publish_batch().await {
                Ok(n) => n,
                Err(error) => {
                    tracing::warn!(%error, "outbox relay batch failed; retrying");
                    0
                }
            };
            if last_cleanup.elapsed() > Duration::from_secs(60) {
                last_cleanup = std::time::Instant::now();
                if let Err(error) = self.cleanup().await {
                    tracing::warn!(%error, "outbox cleanup failed");
                }
            }
            if published as i64 >= self.settings.batch_size {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.outbox.wake.notified() => {}
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
    }

    /// Publishes one batch; returns how many rows were published.
    pub async fn publish_batch(&self) -> anyhow::Result<usize> {
        let select = format!(
            "SELECT seq, id, subject, headers, payload, created_at FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1{}",
            self.db.skip_locked()
        );
        match self.db.backend() {
            Backend::Postgres => {
                let mut tx = self.db.pool().begin().await?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
                    .bind(self.settings.batch_size)
                    .fetch_all(&mut *tx)
                    .await?;
                let done = self.publish_rows(&rows).await;
                self.mark_published(&mut tx, &done).await?;
                tx.commit().await?;
                Ok(done.len())
            }
            Backend::Sqlite => {
                // One relay per embedded process: no row locking needed, and no transaction is
                // held while consumers (which may share this process) handle the events.
                let rows = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
                    .bind(self.settings.batch_size)
                    .fetch_all(self.db.pool())
                    .await?;
                let done = self.publish_rows(&rows).await;
                let mut conn = self.db.pool().acquire().await?;
                self.mark_published(&mut conn, &done).await?;
                Ok(done.len())
            }
        }
    }

    async fn publish_rows(&self, rows: &[sqlx::any::AnyRow]) -> Vec<i64> {
        let mut done = Vec::with_capacity(rows.len());
        for row in rows {
            let (seq, created_at, event) = match decode_row(row) {
                Ok(decoded) => decoded,
                Err(e) => {
                    // Left unpublished: the backlog gauge shows it and the error says why.
                    tracing::error!(error = %e, "outbox row does not decode; left unpublished");
                    continue;
                }
            };
            let id = event.id.clone();
            let service = crate::metrics::subject_service(&event.subject).to_string();
            match self.bus.publish(event).await {
                Ok(()) => {
                    let lag = (to_micros(self.clock.now()) - created_at).max(0) as f64 / 1e6;
                    metrics::histogram!("outbox_relay_lag_seconds", "service" => service.clone())
                        .record(lag);
                    metrics::counter!("outbox_published_total", "service" => service).increment(1);
                    done.push(seq);
                }
                Err(error) if !error.is_transient() => {
                    // The bus will never take this event (e.g. an invalid subject): mark it
                    // handled so it cannot block the outbox, and keep it visible in the logs.
                    tracing::error!(%error, event_id = %id, "event rejected by the bus; dropped from the outbox");
                    done.push(seq);
                }
                Err(error) => {
                    // Keep order: stop at the first failure; the row stays and is retried.
                    tracing::warn!(%error, event_id = %id, "publish failed; will retry");
                    break;
                }
            }
        }
        done
    }

    async fn mark_published(
        &self,
        conn: &mut AnyConnection,
        seqs: &[i64],
    ) -> Result<(), sqlx::Error> {
        if seqs.is_empty() {
            return Ok(());
        }
        let list = seqs
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        // Safe: the list holds only integers read from the table.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE outbox SET published_at = $1 WHERE seq IN ({list})"
        )))
        .bind(to_micros(self.clock.now()))
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn cleanup(&self) -> Result<(), sqlx::Error> {
        let cutoff = to_micros(self.clock.now()) - self.settings.retention.as_micros() as i64;
        sqlx::query("DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < $1")
            .bind(cutoff)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Rows not yet published (backlog).
    pub async fn backlog(&self) -> Result<i64, sqlx::Error> {
        backlog(&self.db).await
    }
}

/// Rows of `db`'s outbox not yet published.
pub async fn backlog(db: &Database) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE published_at IS NULL")
        .fetch_one(db.pool())
        .await?;
    row.try_get("n")
}

/// Samples `service`'s outbox backlog and connection-pool gauges every [`GAUGE_INTERVAL`] until
/// `shutdown` — apart from the relay, so a relay that stopped shows as a growing backlog.
pub async fn sample_gauges(db: Database, service: &'static str, shutdown: CancellationToken) {
    let interval = GAUGE_INTERVAL;
    loop {
        match backlog(&db).await {
            Ok(rows) => metrics::gauge!("outbox_backlog", "service" => service).set(rows as f64),
            Err(error) => tracing::warn!(%error, service, "cannot measure the outbox backlog"),
        }
        db.record_pool_gauges(service);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// How often [`sample_gauges`] samples.
pub const GAUGE_INTERVAL: Duration = Duration::from_secs(5);

/// An outbox row as (sequence, created-at micros, event).
fn decode_row(row: &sqlx::any::AnyRow) -> Result<(i64, i64, OutgoingEvent), sqlx::Error> {
    let headers: Vec<(String, String)> =
        serde_json::from_str(row.try_get::<&str, _>("headers")?).unwrap_or_default();
    let payload: Vec<u8> = row.try_get("payload")?;
    let event = OutgoingEvent {
        id: row.try_get("id")?,
        subject: row.try_get("subject")?,
        headers,
        payload: payload.into(),
    };
    Ok((row.try_get("seq")?, row.try_get("created_at")?, event))
}

#[cfg(test)]
mod tests {
    use super::decode_row;

    #[tokio::test]
    async fn a_row_that_does_not_decode_is_an_error_not_a_panic() {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect("sqlite::memory:")
            .await
            .expect("sqlite");
        let missing = sqlx::query("SELECT 1 AS seq")
            .fetch_one(&pool)
            .await
            .expect("row");
        assert!(decode_row(&missing).is_err());
        let mistyped = sqlx::query(
            "SELECT 'one' AS seq, 'x' AS id, 's' AS subject, '[]' AS headers, x'00' AS payload, 0 AS created_at",
        )
        .fetch_one(&pool)
        .await
        .expect("row");
        assert!(decode_row(&mistyped).is_err());
    }
}
