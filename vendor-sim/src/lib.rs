//! Vendor simulators: real HTTP servers speaking the shapes of the **Autodesk partner API** and
//! the **Microsoft Partner Center (new commerce)** API, for the marketplace's sandbox mode and
//! tests.
//!
//! - Configurable provisioning delay: accepted orders stay `Processing` / `pending` until it has
//!   passed (in business time, see [`Clock`]), then complete.
//! - Deterministic fault injection ([`Fault`], also `POST /_sim/faults`).
//! - A [`Journal`] of every request and of every effective change, so tests can prove nothing was
//!   provisioned twice.
//! - Idempotency like the vendors: Autodesk orders are keyed by the client reference
//!   (`partnerOrderId`, else `poNumber`); Partner Center replays the first answer to a repeated
//!   `MS-RequestId` on the same route.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use vendor_sim::{SimConfig, VendorSim};
//! let sim = VendorSim::new(SimConfig::default());
//! let autodesk = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let microsoft = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! tokio::spawn(sim.clone().serve(autodesk, microsoft, shutdown.clone()));
//! // ... drive the connectors, then:
//! assert!(sim.journal().effective_count_by_reference().values().all(|n| *n == 1));
//! shutdown.cancel();
//! # Ok(()) }
//! ```

pub mod autodesk;
mod config;
mod control;
mod faults;
mod journal;
pub mod microsoft;
mod net;
pub mod operations;
mod pipeline;
mod state;
mod util;

use std::fmt;
use std::future::IntoFuture;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{
    AutodeskCredentials, Clock, MicrosoftCredentials, SimConfig, SimRules, SystemClock,
};
pub use faults::{Fault, FaultKind, Vendor};
pub use journal::{EffectiveProvisioning, Journal, JournalEntry};

use net::{KillSwitch, SimListener};
use state::{Shared, SimState};

/// Both simulators and their shared state. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct VendorSim {
    shared: Arc<Shared>,
}

impl fmt::Debug for VendorSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VendorSim")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl VendorSim {
    /// Creates the simulators (nothing listens until [`VendorSim::serve`] or until the routers
    /// are served).
    pub fn new(config: SimConfig) -> Self {
        let state = SimState::new(&config);
        Self {
            shared: Arc::new(Shared {
                config,
                state: Mutex::new(state),
                stopping: CancellationToken::new(),
            }),
        }
    }

    /// The configuration the simulators were created with.
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// The Autodesk API routes plus the `/_sim` control routes.
    pub fn autodesk_router(&self) -> Router {
        self.router(Vendor::Autodesk, autodesk::routes())
    }

    /// The Partner Center routes plus the `/_sim` control routes.
    pub fn microsoft_router(&self) -> Router {
        self.router(Vendor::Microsoft, microsoft::routes())
            .merge(microsoft::control_routes().with_state(self.clone()))
    }

    fn router(&self, vendor: Vendor, routes: Router<VendorSim>) -> Router {
        routes
            .route_layer(middleware::from_fn_with_state(
                (self.clone(), vendor),
                pipeline::vendor_pipeline,
            ))
            .merge(control::routes())
            .fallback(
                move |State(sim): State<VendorSim>, req: Request| async move {
                    pipeline::unknown_route(&sim, vendor, &req)
                },
            )
            .with_state(self.clone())
    }

    /// Serves the Autodesk simulator on `autodesk` and the Partner Center simulator on
    /// `microsoft` until `shutdown` is cancelled, then drains in-flight requests (injected delays
    /// are cut short) and returns.
    pub async fn serve(
        self,
        autodesk: TcpListener,
        microsoft: TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        tracing::info!(
            autodesk = %autodesk.local_addr()?,
            microsoft = %microsoft.local_addr()?,
            "vendor simulators listening"
        );
        let stopping = self.shared.stopping.clone();
        let watcher = shutdown.clone();
        tokio::spawn(async move {
            watcher.cancelled().await;
            stopping.cancel();
        });
        let autodesk = axum::serve(
            SimListener(autodesk),
            self.autodesk_router()
                .into_make_service_with_connect_info::<KillSwitch>(),
        )
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
        let microsoft = axum::serve(
            SimListener(microsoft),
            self.microsoft_router()
                .into_make_service_with_connect_info::<KillSwitch>(),
        )
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .into_future();
        tokio::try_join!(autodesk, microsoft)?;
        Ok(())
    }

    /// Injects a fault (see [`Fault`]). Faults whose `operation` is unknown for the vendor never
    /// match; [`Fault::validate`] tells why (the HTTP route rejects them with 400).
    pub fn inject(&self, fault: Fault) {
        if let Err(e) = fault.validate() {
            tracing::warn!(error = %e, "injected fault will never match");
        }
        self.lock().faults.push(fault);
    }

    /// The active faults with their remaining `times`.
    pub fn active_faults(&self) -> Vec<Fault> {
        self.lock().faults.active()
    }

    /// Removes every active fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Sets the provisioning delay of orders accepted from now on.
    pub fn set_provisioning_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// The current provisioning delay.
    pub fn provisioning_delay(&self) -> Duration {
        self.lock().delay
    }

    /// A snapshot of the journal (after completing every order that is due).
    pub fn journal(&self) -> Journal {
        self.materialize();
        self.lock().journal.clone()
    }

    /// The effective changes so far (same as `journal().effective_provisionings`).
    pub fn effective_provisionings(&self) -> Vec<EffectiveProvisioning> {
        self.materialize();
        self.lock().journal.effective_provisionings.clone()
    }

    /// Business time: the configured clock plus the offset.
    pub fn now(&self) -> OffsetDateTime {
        self.lock().now(&self.shared.config)
    }

    /// The offset added to the clock for business time.
    pub fn now_offset(&self) -> time::Duration {
        self.lock().now_offset
    }

    /// Moves business time to clock + `offset` (e.g. 8 days to pass the NCE cancellation window,
    /// or past the provisioning delay). Authentication keeps using the clock itself.
    pub fn set_now_offset(&self, offset: time::Duration) {
        self.lock().now_offset = offset;
    }

    /// Moves business time forward by `by`.
    pub fn advance_now(&self, by: time::Duration) {
        self.lock().now_offset += by;
    }

    /// Forgets all vendor state (customers, orders, subscriptions, idempotency records), the
    /// journal and the faults, and restores the configured delay and a zero clock offset.
    /// Issued Autodesk access tokens stay valid.
    pub fn reset(&self) {
        let mut st = self.lock();
        let tokens = std::mem::take(&mut st.autodesk.tokens);
        *st = SimState::new(&self.shared.config);
        st.autodesk.tokens = tokens;
    }

    /// The Autodesk credentials accepted now: the configured ones, with the consumer secret
    /// set by [`VendorSim::set_autodesk_consumer_secret`] if any.
    pub fn autodesk_credentials(&self) -> AutodeskCredentials {
        let mut creds = self.shared.config.autodesk.clone();
        if let Some(secret) = &self.lock().credentials.autodesk_consumer_secret {
            creds.consumer_secret = secret.clone();
        }
        creds
    }

    /// Accepts `secret` as the Autodesk consumer secret from now on (`None`: the configured
    /// one again). A changed secret revokes every issued access token, as a rotation does.
    pub fn set_autodesk_consumer_secret(&self, secret: Option<String>) {
        let mut st = self.lock();
        if st.credentials.autodesk_consumer_secret != secret {
            st.autodesk.tokens.clear();
        }
        st.credentials.autodesk_consumer_secret = secret;
    }

    /// The Partner Center credentials accepted now.
    pub fn microsoft_credentials(&self) -> MicrosoftCredentials {
        let mut creds = self.shared.config.microsoft.clone();
        if let Some(token) = &self.lock().credentials.microsoft_bearer_token {
            creds.bearer_token = token.clone();
        }
        creds
    }

    /// Accepts `token` as the Partner Center bearer token from now on (`None`: the configured
    /// one again); any other token is answered 401.
    pub fn set_microsoft_bearer_token(&self, token: Option<String>) {
        self.lock().credentials.microsoft_bearer_token = token;
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, SimState> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Wall time (the clock without the business offset), for authentication.
    pub(crate) fn wall_now(&self) -> OffsetDateTime {
        self.shared.config.clock.now()
    }

    /// Completes every order whose provisioning delay has passed.
    pub(crate) fn materialize(&self) {
        let mut st = self.lock();
        let now = st.now(&self.shared.config);
        st.materialize(now, &self.shared.config.rules);
    }

    /// Sleeps `duration`, or less if the simulators are shutting down.
    pub(crate) async fn pause(&self, duration: Duration) {
        tokio::select! {
            () = tokio::time::sleep(duration) => {}
            () = self.shared.stopping.cancelled() => {}
        }
    }
}
