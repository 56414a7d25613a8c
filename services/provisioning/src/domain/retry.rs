//! Retry policy: exponential backoff with full jitter, attempt limits per error class, and the
//! growing poll interval of jobs waiting on a vendor (jobs may take hours; that is normal).

use std::time::Duration;

use super::error::ErrorClass;

/// Retry and polling parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First backoff delay.
    pub backoff_base: Duration,
    /// Largest backoff delay.
    pub backoff_max: Duration,
    /// Attempts allowed after transient errors before the job fails.
    pub max_transient: u32,
    /// Attempts allowed after 429s before the job fails.
    pub max_throttled: u32,
    /// Attempts allowed after vendor conflicts before the job fails.
    pub max_conflict: u32,
    /// First poll delay after the vendor accepted.
    pub poll_initial: Duration,
    /// Largest poll delay.
    pub poll_max: Duration,
    /// Delay between probes of a job whose connector's credentials or setup were refused.
    pub probe_interval: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            max_transient: 10,
            max_throttled: 30,
            max_conflict: 20,
            poll_initial: Duration::from_secs(2),
            poll_max: Duration::from_secs(600),
            probe_interval: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// How many errors of `class` a job may hit before failing (0 for classes never retried).
    pub fn limit(&self, class: ErrorClass) -> u32 {
        match class {
            ErrorClass::Transient => self.max_transient,
            ErrorClass::Throttled => self.max_throttled,
            ErrorClass::Conflict => self.max_conflict,
            ErrorClass::NeedsInput | ErrorClass::Permanent => 0,
            // Refused credentials are ours to fix: the job waits for them, however long.
            ErrorClass::Configuration => u32::MAX,
        }
    }

    /// The ceiling of the backoff before the `n`-th retry (n ≥ 1): base·2^(n-1), capped.
    pub fn backoff_ceiling(&self, n: u32) -> Duration {
        let factor = 1u32
            .checked_shl(n.saturating_sub(1).min(30))
            .unwrap_or(u32::MAX);
        self.backoff_base
            .saturating_mul(factor)
            .min(self.backoff_max)
    }

    /// Backoff before the `n`-th retry with full jitter in [ceiling/2, ceiling] (`unit` in [0, 1]).
    pub fn backoff(&self, n: u32, unit: f64) -> Duration {
        let ceiling = self.backoff_ceiling(n);
        let unit = unit.clamp(0.0, 1.0);
        ceiling.mul_f64(0.5 + 0.5 * unit)
    }

    /// Delay before a retry after an error of `class`: never before the vendor's `retry_after`.
    pub fn retry_delay(
        &self,
        class: ErrorClass,
        n: u32,
        retry_after: Option<Duration>,
        unit: f64,
    ) -> Duration {
        if class == ErrorClass::Configuration {
            // A slow probe (jitter spreads the waiting jobs); a fix wakes them earlier.
            return self
                .probe_interval
                .mul_f64(0.8 + 0.2 * unit.clamp(0.0, 1.0));
        }
        let backoff = self.backoff(n, unit);
        match (class, retry_after) {
            // Retry-After is the rule; a little jitter after it spreads the replicas.
            (ErrorClass::Throttled, Some(after)) => {
                after + self.backoff_base.mul_f64(0.1 * unit.clamp(0.0, 1.0))
            }
            (_, Some(after)) => backoff.max(after),
            _ => backoff,
        }
    }

    /// Delay before the `polls`-th status poll (0-based): grows ×1.5 from the initial delay up to the max.
    pub fn poll_delay(&self, polls: u32) -> Duration {
        let mut delay = self.poll_initial;
        for _ in 0..polls.min(64) {
            delay = delay.mul_f64(1.5);
            if delay >= self.poll_max {
                return self.poll_max;
            }
        }
        delay.min(self.poll_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_is_capped() {
        let p = RetryPolicy {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        assert_eq!(p.backoff_ceiling(1), Duration::from_millis(100));
        assert_eq!(p.backoff_ceiling(3), Duration::from_millis(400));
        assert_eq!(p.backoff_ceiling(40), Duration::from_secs(1));
        assert_eq!(p.backoff(3, 0.0), Duration::from_millis(200));
        assert_eq!(p.backoff(3, 1.0), Duration::from_millis(400));
    }

    #[test]
    fn throttled_retries_never_before_retry_after() {
        let p = RetryPolicy::default();
        let d = p.retry_delay(ErrorClass::Throttled, 1, Some(Duration::from_secs(3)), 0.7);
        assert!(d >= Duration::from_secs(3));
        assert!(
            p.retry_delay(ErrorClass::Transient, 1, Some(Duration::from_secs(30)), 0.0)
                >= Duration::from_secs(30)
        );
    }

    #[test]
    fn refused_credentials_probe_slowly_and_never_exhaust_the_job() {
        let p = RetryPolicy {
            probe_interval: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        assert_eq!(p.limit(ErrorClass::Configuration), u32::MAX);
        for n in [1, 5, 1000] {
            let d = p.retry_delay(ErrorClass::Configuration, n, None, 0.5);
            assert!(
                d >= Duration::from_secs(48) && d <= Duration::from_secs(60),
                "{d:?}"
            );
        }
    }

    #[test]
    fn polling_slows_down_up_to_the_max() {
        let p = RetryPolicy::default();
        assert_eq!(p.poll_delay(0), Duration::from_secs(2));
        assert!(p.poll_delay(3) > p.poll_delay(2));
        assert_eq!(p.poll_delay(1000), Duration::from_secs(600));
        assert_eq!(p.limit(ErrorClass::Permanent), 0);
    }
}
