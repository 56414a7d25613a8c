//! Durable, idempotent event consumption: each delivery is applied inside one transaction that
//! also records its event id in `processed_events`, then acknowledged. A redelivery of an event
//! already applied is acknowledged without running the handler again.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use marketplace_proto::events::v1::Envelope;
use prost::Message;
use sqlx::AnyConnection;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::bus::{Delivery, SharedBus, SubscriptionSpec};
use crate::clock::{SharedClock, to_micros};
use crate::db::Database;
use crate::outbox::Outbox;

/// Why a handler did not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Try again later (dependency down, optimistic-lock conflict).
    #[error("retry: {0}")]
    Retry(String),
    /// The event can never be applied; it is dead-lettered and acknowledged.
    #[error("rejected: {0}")]
    Reject(String),
}

impl From<sqlx::Error> for HandleError {
    fn from(error: sqlx::Error) -> Self {
        Self::Retry(error.to_string())
    }
}

/// Applies events of one consumer inside the inbox transaction.
#[async_trait::async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// Applies `event` using `conn` (an open transaction). Outbox rows appended here commit
    /// atomically with the inbox record.
    async fn handle(&self, conn: &mut AnyConnection, event: &Envelope) -> Result<(), HandleError>;
}

/// A durable consumer bound to one service database.
pub struct Consumer {
    /// Inbox name, also the durable consumer name, e.g. `provisioning-from-ordering`.
    pub name: String,
    /// Subject filters.
    pub subjects: Vec<String>,
    /// The service database holding the inbox.
    pub db: Database,
    /// The bus.
    pub bus: SharedBus,
    /// The handler.
    pub handler: Arc<dyn EventHandler>,
    /// Woken after each applied event (the handler may have appended outbox rows).
    pub outbox: Option<Outbox>,
    /// Clock for inbox timestamps.
    pub clock: SharedClock,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("name", &self.name)
            .field("subjects", &self.subjects)
            .finish_non_exhaustive()
    }
}

/// Outcome of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The handler ran and committed.
    Applied,
    /// Already applied before: nothing done.
    Duplicate,
    /// Dead-lettered.
    Rejected,
}

impl Consumer {
    /// Subscribes (durably) and returns the running loop; subscribe first so that in-process
    /// publishers started afterwards find the subscriber.
    pub async fn start(
        self,
        shutdown: CancellationToken,
    ) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let spec = SubscriptionSpec::new(self.name.clone(), self.subjects.clone());
        let mut stream = self.bus.subscribe(spec).await?;
        Ok(tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    next = stream.next() => next,
                };
                match next {
                    None => break,
                    Some(Err(error)) => {
                        tracing::warn!(consumer = %self.name, %error, "bus delivery error");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Some(Ok(delivery)) => self.process(delivery).await,
                }
            }
        }))
    }

    async fn process(&self, delivery: Delivery) {
        let span = tracing::info_span!("consume", consumer = %self.name, subject = %delivery.subject, event_id = %delivery.id);
        crate::propagation::set_parent_from_pairs(&span, &delivery.headers);
        async {
            match self.apply(&delivery.id, &delivery.subject, &delivery.payload).await {
                Ok(outcome) => {
                    let label = match outcome {
                        Applied::Applied => "applied",
                        Applied::Duplicate => "duplicate",
                        Applied::Rejected => "rejected",
                    };
                    metrics::counter!("events_consumed_total", "consumer" => self.name.clone(), "outcome" => label).increment(1);
                    if let (Applied::Applied, Some(outbox)) = (outcome, &self.outbox) {
                        outbox.notify();
                    }
                    if let Err(error) = delivery.ack().await {
                        tracing::warn!(%error, "ack failed; the event will be redelivered and skipped");
                    }
                }
                Err(error) => {
                    metrics::counter!("events_consumed_total", "consumer" => self.name.clone(), "outcome" => "retry").increment(1);
                    tracing::warn!(%error, "event not applied; will be redelivered");
                    let _ = delivery.nack(Some(Duration::from_millis(500))).await;
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Applies one event exactly once (public for tests and tools).
    pub async fn apply(
        &self,
        event_id: &str,
        subject: &str,
        payload: &[u8],
    ) -> Result<Applied, HandleError> {
        let now = to_micros(self.clock.now());
        let mut tx = self.db.pool().begin().await?;
        let inserted = sqlx::query("INSERT INTO processed_events (consumer, event_id, processed_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(self.name.clone())
            .bind(event_id.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(Applied::Duplicate);
        }
        let outcome = match Envelope::decode(payload) {
            Ok(envelope) => {
                if let Some(occurred) = envelope
                    .occur_time
                    .as_ref()
                    .and_then(crate::clock::from_timestamp)
                {
                    let lag = (self.clock.now() - occurred).as_seconds_f64().max(0.0);
                    metrics::histogram!("event_consumer_lag_seconds", "consumer" => self.name.clone()).record(lag);
                }
                self.handler.handle(&mut tx, &envelope).await
            }
            Err(error) => Err(HandleError::Reject(format!("undecodable event: {error}"))),
        };
        match outcome {
            Ok(()) => {
                tx.commit().await?;
                Ok(Applied::Applied)
            }
            Err(HandleError::Reject(reason)) => {
                drop(tx);
                tracing::error!(consumer = %self.name, event_id, %reason, "event dead-lettered");
                let mut tx = self.db.pool().begin().await?;
                sqlx::query("INSERT INTO processed_events (consumer, event_id, processed_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .bind(self.name.clone())
                    .bind(event_id.to_string())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO dead_events (consumer, event_id, subject, error, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING")
                    .bind(self.name.clone())
                    .bind(event_id.to_string())
                    .bind(subject.to_string())
                    .bind(reason)
                    .bind(payload.to_vec())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Applied::Rejected)
            }
            Err(retry) => Err(retry),
        }
    }
}
