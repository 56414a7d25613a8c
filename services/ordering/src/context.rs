//! What every handler shares.

use std::time::Duration;

use platform::ServiceError;
use platform::clock::{SharedClock, to_micros};
use platform::identity::IdentityKey;
use platform::outbox::Outbox;
use platform::paging::PageTokens;
use sqlx::AnyConnection;
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
    /// Sandbox test clocks enabled (`ordering.sandbox`); off, only the real clock is read.
    pub(crate) sandbox: bool,
    /// How long an advancing test clock waits for the orders it placed to be carried out
    /// before it moves on.
    pub(crate) clock_settle: Duration,
    /// Subscriptions claimed per scheduler transaction.
    pub(crate) scheduler_batch: i64,
    /// Scheduler transactions at once.
    pub(crate) scheduler_concurrency: usize,
}

impl Ctx {
    /// Now in µs.
    pub(crate) fn now(&self) -> i64 {
        to_micros(self.clock.now())
    }

    /// Now in µs for `customer_id`: its test clock's time when sandbox is on and one is
    /// attached, else the real clock (no lookup at all when sandbox is off).
    pub(crate) async fn now_for(
        &self,
        conn: &mut AnyConnection,
        customer_id: &str,
    ) -> Result<i64, ServiceError> {
        Ok(self.time_of(conn, customer_id).await?.now)
    }

    /// The customer's time and how far it is from the real clock.
    pub(crate) async fn time_of(
        &self,
        conn: &mut AnyConnection,
        customer_id: &str,
    ) -> Result<CustomerTime, ServiceError> {
        let real = self.now();
        if !self.sandbox || customer_id.is_empty() {
            return Ok(CustomerTime::real(real));
        }
        Ok(match self.store.customer_clock(conn, customer_id).await? {
            Some((_, frozen)) => CustomerTime {
                now: frozen,
                offset_ms: (frozen - real) / 1_000,
            },
            None => CustomerTime::real(real),
        })
    }
}

/// A customer's "now".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CustomerTime {
    /// µs.
    pub(crate) now: i64,
    /// The customer's time minus the real time (ms; 0 on the real clock), sent to the vendors.
    pub(crate) offset_ms: i64,
}

impl CustomerTime {
    fn real(now: i64) -> Self {
        Self { now, offset_ms: 0 }
    }
}
