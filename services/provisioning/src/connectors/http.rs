//! HTTP plumbing shared by the connectors: the answer of one call, throttling gates, and
//! sanitising vendor responses before they are stored.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::Value;

/// Largest stored vendor response (characters).
const MAX_STORED_RESPONSE: usize = 2_000;

/// The answer of one HTTP call: status, headers and body (never trusted to be JSON).
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) text: String,
}

impl Answer {
    /// Reads a response fully.
    pub(crate) async fn read(response: reqwest::Response) -> Result<Self, reqwest::Error> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await?;
        Ok(Self {
            status,
            headers,
            text,
        })
    }

    /// Whether the status is 2xx.
    pub(crate) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// `Retry-After` in seconds (HTTP dates are not used by these vendors); `default` if absent or bad.
    pub(crate) fn retry_after(&self, default: Duration) -> Duration {
        self.headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|secs| Duration::from_secs(secs.min(24 * 3600)))
            .unwrap_or(default)
    }

    /// The body for operators: secrets removed, truncated.
    pub(crate) fn for_storage(&self, operation: &str) -> String {
        let body = match serde_json::from_str::<Value>(&self.text) {
            Ok(mut value) => {
                redact(&mut value);
                value.to_string()
            }
            // Not JSON: may hold anything (a token in plain text); keep only its size.
            Err(_) => format!("<non-JSON body, {} bytes>", self.text.len()),
        };
        truncate(&format!("{operation} → HTTP {}: {body}", self.status))
    }
}

/// Parts of key names whose values never leave the connector (matched case-insensitively
/// anywhere in the key: `refresh_token`, `client_secret`, `accessToken`, …).
const SECRET_KEY_PARTS: &[&str] = &["password", "token", "secret", "credential"];

/// A vendor quantity, or `fallback` when absent or not a valid seat count (never truncated).
pub(crate) fn vendor_quantity(value: &Value, fallback: i32) -> i32 {
    value
        .get("quantity")
        .and_then(Value::as_i64)
        .and_then(|q| i32::try_from(q).ok())
        .filter(|q| *q >= 0)
        .unwrap_or(fallback)
}

/// Replaces secret values in a JSON document by `<redacted>`.
pub(crate) fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let lower = key.to_ascii_lowercase();
                if SECRET_KEY_PARTS.iter().any(|s| lower.contains(s)) {
                    *v = Value::String("<redacted>".into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// Truncates to [`MAX_STORED_RESPONSE`] characters.
pub(crate) fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_STORED_RESPONSE {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX_STORED_RESPONSE).collect();
        out.push('…');
        out
    }
}

/// A string field of a JSON object (numbers are rendered as text).
pub(crate) fn text(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// A vendor-wide "do not call before" gate, closed by a 429's `Retry-After`.
#[derive(Debug, Default)]
pub struct Gate {
    until: Mutex<Option<Instant>>,
}

impl Gate {
    /// Closes the gate for `duration` (extends, never shortens).
    pub fn close_for(&self, duration: Duration) {
        let until = Instant::now() + duration;
        let mut guard = self
            .until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.is_none_or(|current| current < until) {
            *guard = Some(until);
        }
    }

    /// How long the gate stays closed, if it is.
    pub fn remaining(&self) -> Option<Duration> {
        let guard = self
            .until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard
            .and_then(|until| until.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }
}

/// A client with the connector timeouts; an error when it cannot be built (never a client
/// without timeouts).
pub(crate) fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    super::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the vendor HTTP client: {e}"))
}

/// Header carrying the customer's time (RFC 3339) to the sandbox vendors, for customers
/// attached to a sandbox test clock; the simulators take it as their business time.
pub(crate) const SANDBOX_TIME_HEADER: &str = "x-sandbox-time";

tokio::task_local! {
    /// The customer's test-clock offset from the real time (ms) for the vendor calls of the
    /// job being worked on; unset or 0 on the real clock.
    pub(crate) static TEST_CLOCK_OFFSET_MS: i64;
}

/// The customer's time to send the vendors, when the job's customer is on a test clock.
fn sandbox_time() -> Option<String> {
    let offset = TEST_CLOCK_OFFSET_MS
        .try_with(|o| *o)
        .ok()
        .filter(|o| *o != 0)?;
    (time::OffsetDateTime::now_utc() + time::Duration::milliseconds(offset))
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// Sends `request` inside a `vendor.call` span, carrying the W3C trace context in its headers so
/// the vendor call joins the order's trace.
pub(crate) async fn send_traced(
    request: reqwest::RequestBuilder,
    vendor: &'static str,
    operation: &str,
) -> reqwest::Result<reqwest::Response> {
    use tracing::Instrument;
    let span = tracing::info_span!("vendor.call", vendor, operation, otel.kind = "client");
    async move {
        let mut headers = http::HeaderMap::new();
        marketplace_platform::propagation::inject_headers(&mut headers);
        if let Some(at) = sandbox_time()
            && let Ok(value) = http::HeaderValue::from_str(&at)
        {
            headers.insert(SANDBOX_TIME_HEADER, value);
        }
        request.headers(headers).send().await
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_long_bodies_truncated() {
        let mut v = serde_json::json!({"userCredentials": {"userName": "a", "password": "p"}, "items": [{"access_token": "t"}], "id": "x"});
        redact(&mut v);
        let s = v.to_string();
        assert!(!s.contains("\"p\"") && !s.contains("\"t\""), "{s}");
        assert!(s.contains("\"x\""));
        assert!(truncate(&"a".repeat(5000)).chars().count() <= MAX_STORED_RESPONSE + 1);
    }

    #[test]
    fn gate_closes_and_opens() {
        let gate = Gate::default();
        assert!(gate.remaining().is_none());
        gate.close_for(Duration::from_secs(5));
        assert!(gate.remaining().is_some_and(|d| d > Duration::from_secs(4)));
    }
}
