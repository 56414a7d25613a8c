//! Per-principal rate limits: one token bucket per caller (user, API key), refilled
//! continuously. An empty bucket answers `RESOURCE_EXHAUSTED` / 429 with the wait time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use platform::error::ServiceError;
use serde::Deserialize;

/// Rate limit settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RateLimitSettings {
    /// Whether limits apply at all.
    pub enabled: bool,
    /// Sustained requests per second per principal.
    pub requests_per_second: f64,
    /// Bucket size: requests a principal may burst.
    pub burst: f64,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            requests_per_second: 50.0,
            burst: 100.0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets by principal key.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    settings: RateLimitSettings,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Buckets idle this long are forgotten (they would be full anyway).
const IDLE: Duration = Duration::from_secs(600);

impl RateLimiter {
    /// A limiter with `settings`.
    pub(crate) fn new(settings: RateLimitSettings) -> Self {
        Self {
            settings,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`, or tells how long to wait.
    pub(crate) fn check(&self, key: &str) -> Result<(), Duration> {
        if !self.settings.enabled || self.settings.requests_per_second <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let rate = self.settings.requests_per_second;
        let burst = self.settings.burst.max(1.0);
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() > 100_000 {
            buckets.retain(|_, b| now.duration_since(b.last) < IDLE);
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let elapsed = now.duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::try_from_secs_f64((1.0 - bucket.tokens) / rate)
                .unwrap_or(Duration::from_secs(3600)))
        }
    }

    /// [`Self::check`] as a service error carrying the retry delay.
    pub(crate) fn admit(&self, key: &str) -> Result<(), ServiceError> {
        self.check(key).map_err(|wait| {
            let mut error = ServiceError::new(
                platform::ErrorCode::ResourceExhausted,
                "rate limit exceeded; retry later",
            );
            error.retry_after = Some(wait.max(Duration::from_secs(1)));
            error
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_then_refuses_with_a_wait() {
        let limiter = RateLimiter::new(RateLimitSettings {
            enabled: true,
            requests_per_second: 1.0,
            burst: 2.0,
        });
        assert!(limiter.check("a").is_ok());
        assert!(limiter.check("a").is_ok());
        let wait = limiter.check("a").unwrap_err();
        assert!(wait > Duration::from_millis(500));
        assert!(limiter.check("b").is_ok(), "buckets are per principal");
    }
}
