//! Rate limits, on both listeners: every call takes one token from its principal's bucket (a
//! user or an API key) and one from its tenant's bucket (every user and key of a reseller,
//! customers of that reseller included, share one). Staff have no tenant and only the principal
//! limit. An empty bucket answers `RESOURCE_EXHAUSTED` / 429 with the wait (`Retry-After`).
//!
//! Buckets are [`governor`] GCRA cells in a sharded map (no global lock); idle ones are dropped
//! by [`RateLimiter::forget_idle`].

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use platform::error::ServiceError;
use platform::identity::Principal;
use serde::Deserialize;

/// Rate limit settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RateLimitSettings {
    /// Whether limits apply at all.
    pub enabled: bool,
    /// Sustained requests per second per principal (user or API key); 0 = no principal limit.
    pub requests_per_second: f64,
    /// Requests a principal may burst.
    pub burst: f64,
    /// Sustained requests per second per tenant (all users and keys of a reseller together);
    /// 0 = no tenant limit.
    pub tenant_requests_per_second: f64,
    /// Requests a tenant may burst.
    pub tenant_burst: f64,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            requests_per_second: 50.0,
            burst: 100.0,
            tenant_requests_per_second: 200.0,
            tenant_burst: 400.0,
        }
    }
}

/// Which budget refused a call (the `scope` label of `gateway_rate_limited_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Principal,
    Tenant,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Self::Principal => "principal",
            Self::Tenant => "tenant",
        }
    }
}

/// Per-principal and per-tenant buckets.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    principals: Option<DefaultKeyedRateLimiter<String>>,
    tenants: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

/// A quota of `rate` per second with bursts of `burst`; `None` when `rate` is not positive.
fn quota(rate: f64, burst: f64) -> Option<Quota> {
    if !rate.is_finite() || rate <= 0.0 {
        return None;
    }
    let period = Duration::try_from_secs_f64(1.0 / rate)
        .unwrap_or(Duration::from_secs(3600))
        .max(Duration::from_nanos(1));
    let burst =
        NonZeroU32::new(burst.clamp(1.0, f64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period).map(|q| q.allow_burst(burst))
}

impl RateLimiter {
    /// A limiter with `settings`.
    pub(crate) fn new(settings: RateLimitSettings) -> Self {
        let keyed = |rate, burst| {
            settings
                .enabled
                .then(|| quota(rate, burst))
                .flatten()
                .map(DefaultKeyedRateLimiter::keyed)
        };
        Self {
            principals: keyed(settings.requests_per_second, settings.burst),
            tenants: keyed(settings.tenant_requests_per_second, settings.tenant_burst),
            clock: DefaultClock::default(),
        }
    }

    fn take(
        &self,
        limiter: &Option<DefaultKeyedRateLimiter<String>>,
        key: &str,
    ) -> Result<(), Duration> {
        let Some(limiter) = limiter else {
            return Ok(());
        };
        limiter
            .check_key(&key.to_string())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Takes one token from the principal's bucket, then one from its tenant's, or tells which
    /// refused and how long to wait.
    pub(crate) fn check(&self, principal: &Principal) -> Result<(), (Scope, Duration)> {
        let tenant = principal.reseller_id.as_deref().unwrap_or("");
        self.take(&self.principals, &format!("{tenant}|{}", principal.subject))
            .map_err(|wait| (Scope::Principal, wait))?;
        if !tenant.is_empty() {
            self.take(&self.tenants, tenant)
                .map_err(|wait| (Scope::Tenant, wait))?;
        }
        Ok(())
    }

    /// [`Self::check`] as a service error carrying the retry delay (counted in
    /// `gateway_rate_limited_total{protocol, scope}`).
    pub(crate) fn admit(
        &self,
        principal: &Principal,
        protocol: &'static str,
    ) -> Result<(), ServiceError> {
        self.check(principal).map_err(|(scope, wait)| {
            metrics::counter!("gateway_rate_limited_total", "protocol" => protocol, "scope" => scope.as_str())
                .increment(1);
            let message = match scope {
                Scope::Principal => "rate limit exceeded; retry later",
                Scope::Tenant => "rate limit of your organization exceeded; retry later",
            };
            let mut error = ServiceError::new(platform::ErrorCode::ResourceExhausted, message);
            error.retry_after = Some(wait.max(Duration::from_secs(1)));
            error
        })
    }

    /// Drops buckets that have refilled completely (they would be created full again).
    pub(crate) fn forget_idle(&self) {
        for limiter in [&self.principals, &self.tenants].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use platform::identity::Role;

    use super::*;

    fn user(subject: &str, reseller: Option<&str>) -> Principal {
        Principal {
            subject: subject.into(),
            display_name: subject.into(),
            role: if reseller.is_some() {
                Role::ResellerUser
            } else {
                Role::Staff
            },
            reseller_id: reseller.map(str::to_string),
            customer_id: None,
        }
    }

    #[test]
    fn bucket_empties_then_refuses_with_a_wait() {
        let limiter = RateLimiter::new(RateLimitSettings {
            requests_per_second: 1.0,
            burst: 2.0,
            ..RateLimitSettings::default()
        });
        let a = user("a", Some("r1"));
        assert!(limiter.check(&a).is_ok());
        assert!(limiter.check(&a).is_ok());
        let (scope, wait) = limiter.check(&a).unwrap_err();
        assert_eq!(scope, Scope::Principal);
        assert!(wait > Duration::from_millis(500));
        assert!(
            limiter.check(&user("b", Some("r1"))).is_ok(),
            "buckets are per principal"
        );
    }

    #[test]
    fn a_tenants_principals_share_its_budget() {
        let limiter = RateLimiter::new(RateLimitSettings {
            requests_per_second: 100.0,
            burst: 100.0,
            tenant_requests_per_second: 0.1,
            tenant_burst: 3.0,
            ..RateLimitSettings::default()
        });
        for subject in ["a", "b", "c"] {
            assert!(limiter.check(&user(subject, Some("r1"))).is_ok());
        }
        let (scope, _) = limiter.check(&user("d", Some("r1"))).unwrap_err();
        assert_eq!(scope, Scope::Tenant);
        assert!(
            limiter.check(&user("a", Some("r2"))).is_ok(),
            "tenants apart"
        );
        assert!(limiter.check(&user("s", None)).is_ok(), "staff: no tenant");
        limiter.forget_idle();
    }

    #[test]
    fn disabled_or_zero_rates_admit_everything() {
        let off = RateLimiter::new(RateLimitSettings {
            enabled: false,
            requests_per_second: 0.001,
            burst: 1.0,
            ..RateLimitSettings::default()
        });
        let zero = RateLimiter::new(RateLimitSettings {
            requests_per_second: 0.0,
            tenant_requests_per_second: 0.0,
            ..RateLimitSettings::default()
        });
        for _ in 0..10 {
            assert!(off.check(&user("a", Some("r1"))).is_ok());
            assert!(zero.check(&user("a", Some("r1"))).is_ok());
        }
    }
}
