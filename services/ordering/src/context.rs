//! What every handler shares.

use std::time::Duration;

use platform::clock::{SharedClock, to_micros};
use platform::identity::IdentityKey;
use platform::outbox::Outbox;
use platform::paging::PageTokens;
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::store::Store;
use crate::watch::WatchHub;

/// Shared state of the service's handlers.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) store: Store,
    pub(crate) identity: IdentityKey,
    pub(crate) clock: SharedClock,
    pub(crate) page_tokens: PageTokens,
    pub(crate) outbox: Outbox,
    pub(crate) catalog: Catalog,
    pub(crate) watch: WatchHub,
    pub(crate) watch_poll: Duration,
    /// Cancelled at shutdown: ends open WatchOrder streams so the server can drain.
    pub(crate) streams: CancellationToken,
}

impl Ctx {
    /// Now in µs.
    pub(crate) fn now(&self) -> i64 {
        to_micros(self.clock.now())
    }
}
