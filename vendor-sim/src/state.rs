//! The mutable state shared by both simulators.

use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::autodesk::AutodeskState;
use crate::config::{SimConfig, SimRules};
use crate::faults::FaultBook;
use crate::journal::{Journal, JournalEntry};
use crate::microsoft::MicrosoftState;
use crate::microsoft::idempotency::IdempotencyStore;

/// Immutable configuration plus the locked state.
pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    pub(crate) state: Mutex<SimState>,
    /// Cancelled when [`crate::VendorSim::serve`] shuts down: cuts injected delays short.
    pub(crate) stopping: CancellationToken,
}

/// Everything that changes while the simulators run.
pub(crate) struct SimState {
    pub(crate) delay: Duration,
    pub(crate) now_offset: time::Duration,
    pub(crate) faults: FaultBook,
    pub(crate) journal: Journal,
    pub(crate) autodesk: AutodeskState,
    pub(crate) microsoft: MicrosoftState,
    pub(crate) idempotency: IdempotencyStore,
    /// Credentials accepted instead of the configured ones (`/_sim/*/credentials`).
    pub(crate) credentials: CredentialOverrides,
}

/// Run-time replacements of the configured credentials, to make the simulators refuse the
/// connectors' credentials and later accept them again.
#[derive(Debug, Clone, Default)]
pub(crate) struct CredentialOverrides {
    /// Autodesk consumer secret accepted instead of the configured one.
    pub(crate) autodesk_consumer_secret: Option<String>,
    /// Partner Center bearer token accepted instead of the configured one.
    pub(crate) microsoft_bearer_token: Option<String>,
}

impl SimState {
    pub(crate) fn new(config: &SimConfig) -> Self {
        Self {
            delay: config.provisioning_delay,
            now_offset: time::Duration::ZERO,
            faults: FaultBook::default(),
            journal: Journal::default(),
            autodesk: AutodeskState::default(),
            microsoft: MicrosoftState::default(),
            idempotency: IdempotencyStore::default(),
            credentials: CredentialOverrides::default(),
        }
    }

    /// Business time: the customer's time of the request in flight when its caller sent one
    /// (`x-sandbox-time`, a marketplace test clock), else the clock plus the test offset.
    pub(crate) fn now(&self, config: &SimConfig) -> OffsetDateTime {
        if let Ok(Some(at)) = crate::pipeline::REQUEST_TIME.try_with(|t| *t) {
            return at;
        }
        config.clock.now() + self.now_offset
    }

    /// When an order accepted at `now` completes.
    pub(crate) fn due_at(&self, now: OffsetDateTime) -> OffsetDateTime {
        now + self.delay
    }

    /// Completes every accepted order whose provisioning delay has passed, recording the
    /// effective changes. Called around every request and before every journal snapshot, so
    /// completion needs no background task and happens in a deterministic order.
    pub(crate) fn materialize(&mut self, now: OffsetDateTime, rules: &SimRules) {
        let effects = &mut self.journal.effective_provisionings;
        self.autodesk.materialize(now, rules, effects);
        self.microsoft.materialize(now, effects);
    }

    pub(crate) fn record_request(&mut self, mut entry: JournalEntry) {
        entry.seq = self.journal.requests.len() as u64 + 1;
        self.journal.requests.push(entry);
    }
}
