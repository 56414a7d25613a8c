//! The webhook channel: signed HTTP deliveries (Standard Webhooks), the worker that claims due
//! deliveries with a lease, retries with exponential backoff (honouring `Retry-After`), and
//! disables endpoints that keep failing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::dns::{Name, Resolve, Resolving};
use tokio::sync::Semaphore;

use crate::WebhookSettings;
use crate::core::Core;
use crate::domain::retry::{NextStep, parse_retry_after};
use crate::domain::signing::{SigningSecret, signature_header};
use crate::domain::webhook_url::check_ip;
use crate::store::webhooks::{AttemptRow, DeliveryRow, EndpointHealth, EndpointRow};
use crate::store::{status, webhooks};

/// Resolves host names but refuses addresses a webhook must never reach (link-local,
/// metadata; loopback unless allowed), so DNS cannot smuggle a request inside.
#[derive(Debug)]
struct GuardedResolver {
    allow_loopback: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| matches!(check_ip(a.ip()), Ok(loopback) if !loopback || allow_loopback))
                .collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves to no allowed address").into());
            }
            let iter: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(iter)
        })
    }
}

/// Makes signed webhook requests.
#[derive(Debug, Clone)]
pub(crate) struct WebhookSender {
    client: reqwest::Client,
    excerpt_bytes: usize,
}

/// Result of one HTTP attempt.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) attempt: AttemptRow,
    pub(crate) success: bool,
    pub(crate) retry_after: Option<Duration>,
}

impl WebhookSender {
    pub(crate) fn new(settings: &WebhookSettings) -> anyhow::Result<Self> {
        crate::email::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms))
            .connect_timeout(Duration::from_millis(settings.timeout_ms.min(10_000)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("marketplace-webhooks/1")
            .pool_max_idle_per_host(settings.concurrency.max(1))
            .dns_resolver(Arc::new(GuardedResolver {
                allow_loopback: settings.allow_loopback,
            }))
            .build()?;
        Ok(Self {
            client,
            excerpt_bytes: settings.response_excerpt_bytes,
        })
    }

    /// Sends `payload` to `endpoint`, signed with every secret currently valid.
    #[tracing::instrument(name = "webhook.attempt", skip_all, fields(endpoint_id = %endpoint.id, webhook_id = %msg_id))]
    pub(crate) async fn attempt(
        &self,
        endpoint: &EndpointRow,
        msg_id: &str,
        payload: &str,
        now: time::OffsetDateTime,
    ) -> Outcome {
        let now_micros = platform::clock::to_micros(now);
        let current = SigningSecret::parse(&endpoint.secret);
        let previous = match (
            &endpoint.previous_secret,
            endpoint.previous_secret_expires_at,
        ) {
            (Some(s), Some(until)) if until > now_micros => SigningSecret::parse(s),
            _ => None,
        };
        let secrets: Vec<&SigningSecret> = current.iter().chain(previous.iter()).collect();
        let timestamp = now.unix_timestamp();
        let signature = signature_header(&secrets, msg_id, timestamp, payload.as_bytes());
        let started = Instant::now();
        let request = self
            .client
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(payload.to_string());
        let mut attempt = AttemptRow {
            status_code: 0,
            latency_ms: 0,
            response_excerpt: String::new(),
            error: String::new(),
            attempted_at: now_micros,
        };
        let mut retry_after = None;
        let mut success = false;
        match request.send().await {
            Ok(mut response) => {
                let code = response.status();
                attempt.status_code = i64::from(code.as_u16());
                success = code.is_success();
                retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, now));
                let mut body = Vec::new();
                loop {
                    match response.chunk().await {
                        Ok(Some(chunk)) => {
                            body.extend_from_slice(
                                &chunk[..chunk
                                    .len()
                                    .min(self.excerpt_bytes.saturating_sub(body.len()))],
                            );
                            if body.len() >= self.excerpt_bytes {
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            attempt.error = format!("reading response: {}", describe(&e));
                            break;
                        }
                    }
                }
                attempt.response_excerpt = String::from_utf8_lossy(&body).into_owned();
            }
            Err(e) => attempt.error = describe(&e),
        }
        attempt.latency_ms = started.elapsed().as_millis() as i64;
        Outcome {
            attempt,
            success,
            retry_after,
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    // The URL is the partner's; the error chain holds no secret.
    let mut message = kind.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// Limits requests in flight: in total, and per endpoint so that one slow endpoint cannot take
/// every slot from the others.
#[derive(Debug)]
pub(crate) struct Slots {
    total: Arc<Semaphore>,
    size: usize,
    per_endpoint: usize,
    in_flight: Mutex<HashMap<String, usize>>,
}

impl Slots {
    pub(crate) fn new(total: usize, per_endpoint: usize) -> Arc<Self> {
        let size = total.max(1);
        Arc::new(Self {
            total: Arc::new(Semaphore::new(size)),
            size,
            per_endpoint: per_endpoint.max(1),
            in_flight: Mutex::default(),
        })
    }

    fn try_reserve(&self, endpoint_id: &str) -> bool {
        let Ok(mut map) = self.in_flight.lock() else {
            return true;
        };
        let n = map.entry(endpoint_id.to_string()).or_default();
        if *n >= self.per_endpoint {
            return false;
        }
        *n += 1;
        true
    }

    fn release(&self, endpoint_id: &str) {
        if let Ok(mut map) = self.in_flight.lock()
            && let Some(n) = map.get_mut(endpoint_id)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(endpoint_id);
            }
        }
    }

    /// Waits until every request in flight finished (shutdown).
    pub(crate) async fn drain(&self) {
        let _ = self
            .total
            .acquire_many(u32::try_from(self.size).unwrap_or(u32::MAX))
            .await;
    }
}

/// How long a delivery whose endpoint has all its slots busy waits before it is claimed again.
const ENDPOINT_BUSY_DELAY_MICROS: i64 = 50_000;

/// Claims as many due deliveries as there are free slots and starts each in its own task
/// (a slow endpoint never holds up the others); returns how many were claimed. A finished
/// delivery frees its slot and wakes the worker.
pub(crate) async fn run_batch(
    core: &Arc<Core>,
    sender: &WebhookSender,
    owner: &str,
    slots: &Arc<Slots>,
) -> anyhow::Result<usize> {
    let settings = &core.settings;
    let free = (slots.total.available_permits() as i64).min(settings.workers.batch_size);
    if free == 0 {
        return Ok(0);
    }
    let now = core.now();
    let lease_until = now + (settings.workers.lease_ms as i64) * 1000;
    let rows = webhooks::claim(&core.db, owner, now, lease_until, free).await?;
    let n = rows.len();
    let mut endpoints: HashMap<String, Option<Arc<EndpointRow>>> = HashMap::new();
    for row in rows {
        if !endpoints.contains_key(&row.endpoint_id) {
            let mut conn = core.db.pool().acquire().await?;
            let e = webhooks::endpoint_by_id(&mut conn, &row.endpoint_id)
                .await?
                .map(Arc::new);
            endpoints.insert(row.endpoint_id.clone(), e);
        }
        let endpoint = match endpoints.get(&row.endpoint_id).cloned().flatten() {
            Some(e) if e.enabled => e,
            _ => {
                webhooks::set_status(core.db.pool(), &row.id, status::FAILED).await?;
                continue;
            }
        };
        if !slots.try_reserve(&endpoint.id) {
            webhooks::postpone(
                core.db.pool(),
                &row.id,
                owner,
                now + ENDPOINT_BUSY_DELAY_MICROS,
            )
            .await?;
            continue;
        }
        let permit = slots.total.clone().acquire_owned().await?;
        let (core, sender, owner, slots) = (
            core.clone(),
            sender.clone(),
            owner.to_string(),
            slots.clone(),
        );
        tokio::spawn(async move {
            let outcome = sender
                .attempt(&endpoint, &row.event_id, &row.payload, core.clock.now())
                .await;
            if let Err(error) = record(&core, &owner, &row, &endpoint, &outcome).await {
                // The lease expires and the delivery is attempted again.
                tracing::warn!(delivery_id = %row.id, %error, "cannot record webhook attempt");
            }
            slots.release(&endpoint.id);
            drop(permit);
            core.webhook_wake.notify_one();
        });
    }
    Ok(n)
}

async fn record(
    core: &Core,
    owner: &str,
    row: &DeliveryRow,
    endpoint: &EndpointRow,
    outcome: &Outcome,
) -> anyhow::Result<()> {
    let settings = &core.settings.webhooks;
    let now = outcome.attempt.attempted_at;
    let (state, next, health) = if outcome.success {
        (status::SUCCEEDED, now, EndpointHealth::Healthy)
    } else {
        let failing_for = endpoint.failing_since.map(|since| now - since).unwrap_or(0);
        if failing_for > (settings.disable_after_ms as i64) * 1000 {
            let reason = format!(
                "disabled after failing for more than {} s",
                settings.disable_after_ms / 1000
            );
            tracing::warn!(endpoint_id = %endpoint.id, "webhook endpoint disabled after failing too long");
            (status::FAILED, now, EndpointHealth::Disable(reason))
        } else {
            match settings
                .retry
                .after_failure(row.attempts.max(0) as u32, outcome.retry_after)
            {
                NextStep::GiveUp => (status::FAILED, now, EndpointHealth::Failing),
                NextStep::RetryAfter(delay) => (
                    status::RETRYING,
                    now + delay.as_micros() as i64,
                    EndpointHealth::Failing,
                ),
            }
        }
    };
    metrics::counter!("notification_deliveries_total", "channel" => "webhook", "outcome" => state)
        .increment(1);
    if state == status::SUCCEEDED {
        let delay = (now - row.created_at).max(0) as f64 / 1e6;
        metrics::histogram!("notification_delivery_delay_seconds", "channel" => "webhook")
            .record(delay);
    }
    if !webhooks::finish(
        core.db.pool(),
        &row.id,
        &endpoint.id,
        owner,
        &outcome.attempt,
        state,
        next,
        &health,
    )
    .await?
    {
        tracing::warn!(delivery_id = %row.id, "webhook lease lost before recording the outcome");
    }
    Ok(())
}
