//! Retry schedules: exponential backoff from configuration, `Retry-After` honoured.

use std::time::Duration;

use serde::Deserialize;

/// An exponential retry schedule: attempt `n` (1-based) failed → wait `base · factor^(n-1)`,
/// capped at `max_delay`; give up after `max_attempts` attempts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct RetryPolicy {
    /// Delay after the first failed attempt (milliseconds).
    pub base_ms: u64,
    /// Growth factor between consecutive delays (≥ 1).
    pub factor: f64,
    /// Longest delay between attempts (milliseconds).
    pub max_delay_ms: u64,
    /// Attempts in total, the first one included.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // 5 s, 25 s, ~2 min, ~10 min, ~52 min, ~4 h, 10 h, 10 h: like svix's schedule.
        Self {
            base_ms: 5_000,
            factor: 5.0,
            max_delay_ms: 10 * 3_600_000,
            max_attempts: 9,
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Try again after this long.
    RetryAfter(Duration),
    /// No attempts left.
    GiveUp,
}

impl RetryPolicy {
    /// The step after attempt number `attempts` failed; `retry_after` is the peer's hint.
    pub fn after_failure(&self, attempts: u32, retry_after: Option<Duration>) -> NextStep {
        if attempts >= self.max_attempts {
            return NextStep::GiveUp;
        }
        let exponent = attempts.saturating_sub(1).min(64) as i32;
        let computed = (self.base_ms as f64) * self.factor.max(1.0).powi(exponent);
        let computed = Duration::from_millis(computed.min(self.max_delay_ms as f64) as u64);
        let delay = match retry_after {
            Some(hint) => hint.min(Duration::from_millis(self.max_delay_ms)),
            None => computed,
        };
        NextStep::RetryAfter(delay)
    }

    /// Checks the values, naming the setting `prefix.*` that is wrong.
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        if self.max_attempts == 0 {
            return Err(format!(
                "setting `{prefix}.max_attempts` must be at least 1"
            ));
        }
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return Err(format!("setting `{prefix}.factor` must be a number ≥ 1"));
        }
        Ok(())
    }
}

/// Parses an HTTP `Retry-After` value: delta seconds or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: time::OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let format = time::format_description::well_known::Rfc2822;
    let at = time::OffsetDateTime::parse(value, &format).ok()?;
    let delta = at - now;
    Some(if delta.is_negative() {
        Duration::ZERO
    } else {
        Duration::from_millis(delta.whole_milliseconds() as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_capped_and_retry_after_honoured() {
        let p = RetryPolicy {
            base_ms: 100,
            factor: 2.0,
            max_delay_ms: 500,
            max_attempts: 5,
        };
        assert_eq!(
            p.after_failure(1, None),
            NextStep::RetryAfter(Duration::from_millis(100))
        );
        assert_eq!(
            p.after_failure(2, None),
            NextStep::RetryAfter(Duration::from_millis(200))
        );
        assert_eq!(
            p.after_failure(4, None),
            NextStep::RetryAfter(Duration::from_millis(500))
        );
        assert_eq!(p.after_failure(5, None), NextStep::GiveUp);
        assert_eq!(
            p.after_failure(1, Some(Duration::from_millis(300))),
            NextStep::RetryAfter(Duration::from_millis(300))
        );
        assert_eq!(
            p.after_failure(1, Some(Duration::from_secs(60))),
            NextStep::RetryAfter(Duration::from_millis(500))
        );
    }

    #[test]
    fn retry_after_forms() {
        let now = time::macros::datetime!(2026-01-01 00:00:00 UTC);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:00:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
