//! The e-mail channel: a pooled lettre SMTP transport and the worker that claims due
//! deliveries with a lease, sends them and schedules retries for transient SMTP errors.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Semaphore;

use crate::SmtpSettings;
use crate::core::Core;
use crate::domain::retry::NextStep;
use crate::store::{emails, status};

/// Sends e-mails over SMTP.
#[derive(Clone)]
pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// Why an e-mail was not sent.
#[derive(Debug)]
pub(crate) struct SendError {
    /// Worth retrying (4xx, connection trouble, timeout).
    pub(crate) transient: bool,
    /// What happened.
    pub(crate) message: String,
}

impl Mailer {
    /// A mailer for `settings`, or `None` when the e-mail channel is disabled (empty URL).
    pub(crate) fn new(settings: &SmtpSettings) -> anyhow::Result<Option<Self>> {
        if settings.url.is_empty() {
            return Ok(None);
        }
        install_crypto_provider();
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("setting `smtp.from` is not a mailbox: {e}"))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.url.expose())
            .map_err(|e| anyhow::anyhow!("setting `smtp.url` is invalid: {e}"))?
            .timeout(Some(Duration::from_millis(settings.timeout_ms)))
            .pool_config(PoolConfig::new().max_size(settings.pool_size.max(1)))
            .build();
        Ok(Some(Self { transport, from }))
    }

    /// Sends one delivery.
    #[tracing::instrument(name = "email.send", skip_all, fields(delivery_id = %row.id))]
    pub(crate) async fn send(&self, row: &emails::EmailRow) -> Result<(), SendError> {
        let permanent = |message: String| SendError {
            transient: false,
            message,
        };
        let to: Mailbox = row
            .recipient
            .parse()
            .map_err(|e| permanent(format!("invalid recipient: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(row.subject.clone())
            .message_id(Some(format!("<{}@notification.marketplace>", row.id)))
            .multipart(MultiPart::alternative_plain_html(
                row.body_text.clone(),
                row.body_html.clone(),
            ))
            .map_err(|e| permanent(format!("cannot build message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => Err(SendError {
                transient: !e.is_permanent(),
                message: e.to_string(),
            }),
        }
    }
}

/// Installs ring as the rustls provider once (ignores "already installed").
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Claims as many due deliveries as there are free slots and sends each in its own task;
/// returns how many were claimed. A finished delivery frees its slot and wakes the worker.
pub(crate) async fn run_batch(
    core: &Arc<Core>,
    mailer: &Mailer,
    owner: &str,
    slots: &Arc<Semaphore>,
) -> anyhow::Result<usize> {
    let settings = &core.settings;
    let free = (slots.available_permits() as i64).min(settings.workers.batch_size);
    if free == 0 {
        return Ok(0);
    }
    let now = core.now();
    let lease_until = now + (settings.workers.lease_ms as i64) * 1000;
    let rows = emails::claim(&core.db, owner, now, lease_until, free).await?;
    let n = rows.len();
    for row in rows {
        let permit = slots.clone().acquire_owned().await?;
        let (core, mailer, owner) = (core.clone(), mailer.clone(), owner.to_string());
        tokio::spawn(async move {
            let outcome = mailer.send(&row).await;
            if let Err(error) = record(&core, &owner, &row, outcome).await {
                // The lease expires and the delivery is attempted again.
                tracing::warn!(delivery_id = %row.id, %error, "cannot record e-mail outcome");
            }
            drop(permit);
            core.email_wake.notify_one();
        });
    }
    Ok(n)
}

async fn record(
    core: &Core,
    owner: &str,
    row: &emails::EmailRow,
    outcome: Result<(), SendError>,
) -> anyhow::Result<()> {
    let settings = &core.settings;
    let now = core.now();
    let (state, error, next) = match outcome {
        Ok(()) => (status::SUCCEEDED, String::new(), now),
        Err(e) if !e.transient => (status::FAILED, e.message, now),
        Err(e) => match settings
            .smtp
            .retry
            .after_failure(row.attempts.max(0) as u32, None)
        {
            NextStep::GiveUp => (status::FAILED, e.message, now),
            NextStep::RetryAfter(delay) => {
                (status::RETRYING, e.message, now + delay.as_micros() as i64)
            }
        },
    };
    metrics::counter!("notification_deliveries_total", "channel" => "email", "outcome" => state)
        .increment(1);
    if state == status::SUCCEEDED {
        let delay = (now - row.created_at).max(0) as f64 / 1e6;
        metrics::histogram!("notification_delivery_delay_seconds", "channel" => "email")
            .record(delay);
    } else {
        tracing::warn!(delivery_id = %row.id, attempts = row.attempts, status = state, error = %error, "e-mail not delivered");
    }
    if !emails::finish(core.db.pool(), &row.id, owner, state, &error, next, now).await? {
        tracing::warn!(delivery_id = %row.id, "e-mail lease lost before recording the outcome");
    }
    Ok(())
}
