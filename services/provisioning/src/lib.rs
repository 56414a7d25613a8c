//! Provisioning adapter service: turns ordering's `fulfilment_requested` events into durable
//! fulfilment jobs and carries them out at the vendors (Autodesk, Microsoft NCE) through
//! [`VendorConnector`](domain::connector::VendorConnector)s, reporting progress and outcomes as
//! events. Staff operate jobs through `marketplace.provisioning.v1.ProvisioningService`.
//!
//! Job life cycle (one job per `FulfilmentRequested.request_id`):
//! ```text
//! queued ──claim──▶ submitted ──vendor accepted──▶ waiting_on_vendor ──▶ succeeded
//!    │                  │  ▲ transient / 429 / conflict: retried       │
//!    │                  │  └ (backoff with jitter, Retry-After honoured) ├──▶ inquiring (reseller fixes, re-submits)
//!    └──▶ cancelled     └──────────────────────────────────────────────┴──▶ failed (staff alerted)
//! ```
//! Events: `fulfilment_progressed` (SUBMITTED, WAITING_ON_VENDOR with the vendor reference,
//! CANCELLED), `fulfilment_succeeded`, `fulfilment_inquiring`, `fulfilment_failed` (staff alert),
//! each committed in the same transaction as the job change (transactional outbox).
//!
//! Crash safety: a job's vendor calls are repeatable. Autodesk orders carry the job's stable
//! client reference (`poNumber` / `partnerOrderId` = job id, plus `-<n>` after a re-submission);
//! Partner Center calls carry an `MS-RequestId` stored with the job before the call, reused after
//! a lost answer and replaced after any answer. A worker dying between a vendor call and its
//! commit leaves the job leased; after the lease another worker repeats the call and the vendor
//! answers with the first result.

pub mod connectors;
pub mod domain;
mod events;
mod grpc;
mod links;
mod store;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use marketplace_platform::bus::SharedBus;
use marketplace_platform::clock::SharedClock;
use marketplace_platform::consumer::Consumer;
use marketplace_platform::db::{Database, DatabaseSettings, Migrations};
use marketplace_platform::grpc_server::{GrpcServer, ServerSettings};
use marketplace_platform::identity::IdentityKey;
use marketplace_platform::outbox::{Outbox, Relay, RelaySettings};
use marketplace_platform::paging::PageTokens;
use marketplace_platform::supervisor::Supervisor;
use marketplace_proto::provisioning::v1::provisioning_service_server::ProvisioningServiceServer;
use serde::Deserialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use connectors::Connectors;
pub use connectors::autodesk::{AutodeskConnector, AutodeskSettings};
pub use connectors::microsoft::{MicrosoftConnector, MicrosoftSettings};
pub use worker::{HookAction, WorkerHook, WorkerSettings};

/// Settings of the provisioning service.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Database (PostgreSQL or SQLite).
    pub database: DatabaseSettings,
    /// gRPC server.
    #[serde(default)]
    pub server: ServerSettings,
    /// Autodesk partner API (defaults: the local simulator with its demo credentials).
    #[serde(default)]
    pub autodesk: AutodeskSettings,
    /// Microsoft Partner Center (defaults: the local simulator with its demo credentials).
    #[serde(default)]
    pub microsoft: MicrosoftSettings,
    /// Workers, leases, backoff and attempt limits.
    #[serde(default)]
    pub worker: WorkerSettings,
    /// Publish the outbox from this process. False when standalone relays (`marketplace relay`)
    /// do it. Default true.
    #[serde(default = "default_true")]
    pub outbox_relay: bool,
}

fn default_true() -> bool {
    true
}

/// What the provisioning service gets from its host process.
#[derive(Clone)]
pub struct Dependencies {
    /// The event bus.
    pub bus: SharedBus,
    /// Verifies `x-marketplace-identity`.
    pub identity: IdentityKey,
    /// The clock.
    pub clock: SharedClock,
    /// Page token signer.
    pub page_tokens: PageTokens,
}

impl std::fmt::Debug for Dependencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dependencies").finish_non_exhaustive()
    }
}

/// The built service, ready to run.
pub struct App {
    settings: Settings,
    deps: Dependencies,
    db: Database,
    outbox: Outbox,
    wake: Arc<Notify>,
    connectors: Connectors,
    link_wake: Arc<Notify>,
    hook: Option<Arc<dyn WorkerHook>>,
    consumer: tokio::task::JoinHandle<()>,
    consumer_stop: CancellationToken,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("connectors", &self.connectors)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Connects the database, runs migrations and subscribes the `provisioning-from-ordering`
    /// consumer (before any relay runs: the in-process bus drops events nobody subscribed to yet).
    pub async fn build(settings: Settings, deps: Dependencies) -> anyhow::Result<App> {
        let db = Database::connect(&settings.database).await?;
        db.migrate(&Migrations {
            postgres: sqlx::migrate!("migrations/postgres"),
            sqlite: sqlx::migrate!("migrations/sqlite"),
        })
        .await?;
        let outbox = Outbox::new();
        let wake = Arc::new(Notify::new());
        let connectors = Connectors::new()
            .with(Arc::new(AutodeskConnector::new(settings.autodesk.clone())?))
            .with(Arc::new(MicrosoftConnector::new(
                settings.microsoft.clone(),
            )?));
        let consumer_stop = CancellationToken::new();
        let link_wake = Arc::new(Notify::new());
        let handler = events::FromOrdering {
            clock: deps.clock.clone(),
            outbox: outbox.clone(),
            wake: wake.clone(),
            link_wake: link_wake.clone(),
        };
        let consumer = Consumer {
            name: events::CONSUMER.to_string(),
            subjects: events::SUBJECTS.iter().map(|s| s.to_string()).collect(),
            db: db.clone(),
            bus: deps.bus.clone(),
            handler: Arc::new(handler),
            outbox: Some(outbox.clone()),
            clock: deps.clock.clone(),
        }
        .start(consumer_stop.clone())
        .await?;
        Ok(App {
            settings,
            deps,
            db,
            outbox,
            wake,
            connectors,
            link_wake,
            hook: None,
            consumer,
            consumer_stop,
        })
    }

    /// Replaces the connectors (tests, benchmarks, other vendor endpoints).
    pub fn with_connectors(mut self, connectors: Connectors) -> Self {
        self.connectors = connectors;
        self
    }

    /// Installs a worker hook (crash-safety tests).
    pub fn with_worker_hook(mut self, hook: Arc<dyn WorkerHook>) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Starts the outbox relay, the workers and the gRPC server on `listener`; returns after
    /// `shutdown` is cancelled and everything drained.
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let App {
            settings,
            deps,
            db,
            outbox,
            wake,
            connectors,
            link_wake,
            hook,
            consumer,
            consumer_stop,
        } = self;
        let background = CancellationToken::new();
        let mut supervisor = Supervisor::new();
        supervisor.adopt("provisioning-from-ordering consumer", consumer);
        let relay = Relay::new(
            db.clone(),
            deps.bus.clone(),
            outbox.clone(),
            deps.clock.clone(),
            RelaySettings {
                name: events::SOURCE.to_string(),
                ..RelaySettings::default()
            },
        );
        if settings.outbox_relay {
            supervisor.spawn("provisioning outbox relay", relay.run(background.clone()));
        }
        supervisor.spawn(
            "provisioning gauges",
            marketplace_platform::outbox::sample_gauges(
                db.clone(),
                "provisioning",
                background.clone(),
            ),
        );
        let watcher = links::Watcher {
            db: db.clone(),
            outbox: outbox.clone(),
            clock: deps.clock.clone(),
            // Its own client: the jobs' connector keeps its state (gate, caches) to itself.
            connector: Arc::new(MicrosoftConnector::new(settings.microsoft.clone())?),
            settings: settings.worker.clone(),
            wake: link_wake,
        };
        let pool = Arc::new(worker::Pool {
            db: db.clone(),
            outbox: outbox.clone(),
            clock: deps.clock.clone(),
            connectors,
            settings: settings.worker.clone(),
            wake: wake.clone(),
            hook,
            instance: uuid::Uuid::new_v4().simple().to_string(),
        });
        for worker in pool.spawn(&background) {
            supervisor.adopt("provisioning worker", worker);
        }
        supervisor.spawn(
            "provisioning tenant-link watcher",
            watcher.run(background.clone()),
        );
        let operations = grpc::Operations {
            db: db.clone(),
            identity: deps.identity.clone(),
            page_tokens: deps.page_tokens.clone(),
            clock: deps.clock.clone(),
            outbox,
            wake,
        };
        let service = marketplace_platform::tuned_service!(
            ProvisioningServiceServer::new(operations),
            settings.server
        );
        let served = GrpcServer::new(settings.server.clone())
            .add_service(service)
            .serve(listener, supervisor.server_shutdown(&shutdown))
            .await;

        // Stop taking work, let in-flight jobs finish (their leases protect them if they cannot).
        // Jobs still running after the drain are aborted; their leases hand them to the next run.
        supervisor.stopping();
        background.cancel();
        consumer_stop.cancel();
        let drain = Duration::from_millis(settings.worker.drain_timeout_ms);
        let supervised = supervisor.join(Some(drain)).await;
        db.close().await;
        served.and(supervised)
    }
}
