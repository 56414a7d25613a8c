//! Autodesk authentication: client-credentials token with the `timestamp` + HMAC-SHA256
//! `signature` headers, cached and refreshed before it expires; signed API call headers.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Mutex;

use super::AutodeskSettings;
use crate::connectors::http::{Answer, text};
use crate::domain::error::VendorError;

/// Refresh this long before the announced expiry.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// `Base64(HMAC-SHA256(key = secret, msg = callback_url + subject + timestamp))`.
pub(crate) fn signature(
    secret: &str,
    callback_url: &str,
    subject: &str,
    timestamp: &str,
) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) else {
        // HMAC takes keys of any length; this branch cannot be reached.
        return String::new();
    };
    mac.update(callback_url.as_bytes());
    mac.update(subject.as_bytes());
    mac.update(timestamp.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Unix seconds now, as the `timestamp` header.
pub(crate) fn timestamp() -> String {
    time::OffsetDateTime::now_utc().unix_timestamp().to_string()
}

#[derive(Clone)]
struct Cached {
    token: String,
    refresh_at: Instant,
}

/// The cached access token.
#[derive(Default)]
pub(crate) struct TokenCache {
    cached: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCache(<redacted>)")
    }
}

impl TokenCache {
    /// Drops the cached token (after the vendor rejected it).
    pub(crate) async fn invalidate(&self, token: &str) {
        let mut guard = self.cached.lock().await;
        if guard.as_ref().is_some_and(|c| c.token == token) {
            *guard = None;
        }
    }

    /// A valid token: the cached one, or a new one from the token endpoint.
    pub(crate) async fn get(
        &self,
        client: &reqwest::Client,
        settings: &AutodeskSettings,
        on_answer: impl FnOnce(&Answer),
    ) -> Result<String, VendorError> {
        let mut guard = self.cached.lock().await;
        if let Some(cached) = guard.as_ref().filter(|c| c.refresh_at > Instant::now()) {
            return Ok(cached.token.clone());
        }
        let secret = settings.consumer_secret.expose();
        let ts = timestamp();
        let basic = STANDARD.encode(format!("{}:{}", settings.consumer_key, secret));
        let url = format!(
            "{}/v2/oauth/generateaccesstoken?grant_type=client_credentials",
            settings.base_url.trim_end_matches('/')
        );
        let response = client
            .post(url)
            .header("Authorization", format!("Basic {basic}"))
            .header("timestamp", &ts)
            .header(
                "signature",
                signature(secret, &settings.callback_url, &settings.consumer_key, &ts),
            )
            .send()
            .await
            .map_err(|e| {
                VendorError::transient(
                    "network",
                    format!("no answer from the Autodesk token endpoint: {e}"),
                )
            })?;
        let answer = Answer::read(response).await.map_err(|e| {
            VendorError::transient("network", format!("Autodesk token answer unreadable: {e}"))
        })?;
        on_answer(&answer);
        if !answer.ok() {
            return Err(super::wire::http_error(&answer));
        }
        let body = answer.json();
        let token = text(&body, "access_token");
        if token.is_empty() {
            return Err(VendorError::transient(
                "bad_token_response",
                "Autodesk token answer has no access_token",
            ));
        }
        let lifetime = body
            .get("expires_in")
            .and_then(serde_json::Value::as_u64)
            // A vendor answer never decides an absurd lifetime (it would overflow `Instant`).
            .map_or(1799, |secs| secs.clamp(60, 24 * 3600));
        let refresh_in = Duration::from_secs(lifetime)
            .saturating_sub(REFRESH_MARGIN)
            .max(Duration::from_secs(1));
        *guard = Some(Cached {
            token: token.clone(),
            refresh_at: Instant::now() + refresh_in,
        });
        tracing::debug!(expires_in = lifetime, "autodesk access token refreshed");
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_simulator() {
        assert_eq!(
            signature("secret", "https://cb", "key", "1700000000"),
            vendor_sim::autodesk::signature("secret", "https://cb", "key", "1700000000")
        );
    }
}
