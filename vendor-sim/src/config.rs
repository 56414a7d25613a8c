//! Simulator configuration: credentials, business rules and the clock.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

/// Source of "now" for the simulators.
///
/// The simulators read two times from it:
/// - **wall time** (the clock as is) for authentication concerns: Autodesk request timestamps
///   (5-minute window) and token expiry, so a test that moves business time does not invalidate
///   the connector's signatures;
/// - **business time** (the clock plus the offset set with [`crate::VendorSim::set_now_offset`])
///   for everything else: provisioning delays, term dates, cart expiry, the 7-day NCE windows.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock ([`OffsetDateTime::now_utc`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

impl<F> Clock for F
where
    F: Fn() -> OffsetDateTime + Send + Sync + 'static,
{
    fn now(&self) -> OffsetDateTime {
        self()
    }
}

/// Everything a [`crate::VendorSim`] needs to start.
#[derive(Clone)]
pub struct SimConfig {
    /// How long an accepted order stays "Processing" / "pending" before it completes
    /// (measured in business time). Changeable at run time with
    /// [`crate::VendorSim::set_provisioning_delay`].
    pub provisioning_delay: Duration,
    /// The Autodesk partner app credentials the simulator accepts.
    pub autodesk: AutodeskCredentials,
    /// The Partner Center credentials the simulator accepts.
    pub microsoft: MicrosoftCredentials,
    /// Vendor business rules that tests may want to tune.
    pub rules: SimRules,
    /// The clock; defaults to [`SystemClock`].
    pub clock: Arc<dyn Clock>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            provisioning_delay: Duration::ZERO,
            autodesk: AutodeskCredentials::default(),
            microsoft: MicrosoftCredentials::default(),
            rules: SimRules::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("provisioning_delay", &self.provisioning_delay)
            .field("autodesk", &self.autodesk)
            .field("microsoft", &self.microsoft)
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

/// Autodesk partner app credentials (consumer key/secret, callback URL, partner CSN).
#[derive(Clone, PartialEq, Eq)]
pub struct AutodeskCredentials {
    /// The app's consumer key (the Basic user name of the token call).
    pub consumer_key: String,
    /// The app's consumer secret (Basic password; HMAC key of every signature).
    pub consumer_secret: String,
    /// The app's callback URL (first part of every signed message).
    pub callback_url: String,
    /// The partner's 10-digit Customer Serial Number, expected in the `CSN` header.
    pub partner_csn: String,
}

impl Default for AutodeskCredentials {
    fn default() -> Self {
        Self {
            consumer_key: "demo-autodesk-key".into(),
            consumer_secret: "demo-autodesk-secret".into(),
            callback_url: "https://marketplace.example/callback".into(),
            partner_csn: "5100000001".into(),
        }
    }
}

impl fmt::Debug for AutodeskCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AutodeskCredentials")
            .field("consumer_key", &self.consumer_key)
            .field("consumer_secret", &"<redacted>")
            .field("callback_url", &self.callback_url)
            .field("partner_csn", &self.partner_csn)
            .finish()
    }
}

/// Partner Center credentials: the static bearer token the connector sends.
#[derive(Clone, PartialEq, Eq)]
pub struct MicrosoftCredentials {
    /// Expected value of `Authorization: Bearer <token>`.
    pub bearer_token: String,
}

impl Default for MicrosoftCredentials {
    fn default() -> Self {
        Self {
            bearer_token: "demo-partner-center-token".into(),
        }
    }
}

impl fmt::Debug for MicrosoftCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MicrosoftCredentials")
            .field("bearer_token", &"<redacted>")
            .finish()
    }
}

/// Tunable vendor rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRules {
    /// Autodesk part numbers that are well formed but unknown to the vendor; orders for them
    /// end `Failed` with `UAN-GEN-00108`. Malformed part numbers (not 15 characters of
    /// `A-Z`, `0-9`, `-`) fail the same way.
    pub autodesk_unknown_part_numbers: Vec<String>,
    /// MPN ids that are well formed (6–7 digits) but still rejected at checkout with 800016.
    pub microsoft_invalid_mpn_ids: Vec<String>,
    /// Highest seat count of any NCE subscription (2002 above it).
    pub microsoft_max_seats: u32,
    /// Lower per-product seat limits, keyed by product id (the first part of a catalog item id).
    pub microsoft_plan_max_seats: HashMap<String, u32>,
}

impl Default for SimRules {
    fn default() -> Self {
        Self {
            autodesk_unknown_part_numbers: vec!["000000000000000".into()],
            microsoft_invalid_mpn_ids: vec!["0000000".into()],
            microsoft_max_seats: 300,
            microsoft_plan_max_seats: HashMap::new(),
        }
    }
}
