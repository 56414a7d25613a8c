//! Catalog service: vendors, categories, service plans (SKUs) with terms, billing cycles,
//! add-ons and ordering parameters; prices with effective dates; per-reseller markups;
//! Autodesk CSN eligibility (specialized vs Open catalog); browse and search; staff
//! administration and price-list import. Read by the gateway and by ordering over gRPC.

pub mod domain;
pub mod events;
pub mod grpc;
pub mod seed;
pub mod service;
pub mod store;

use std::sync::Arc;

use marketplace_platform::bus::SharedBus;
use marketplace_platform::clock::SharedClock;
use marketplace_platform::consumer::Consumer;
use marketplace_platform::db::{Database, DatabaseSettings, Migrations};
use marketplace_platform::grpc_server::{GrpcServer, ServerSettings};
use marketplace_platform::identity::IdentityKey;
use marketplace_platform::outbox::{Relay, RelaySettings};
use marketplace_platform::paging::PageTokens;
use marketplace_platform::supervisor::Supervisor;
use marketplace_proto::catalog::v1::catalog_service_server::CatalogServiceServer;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::service::read_model::ReadModel;

/// How stale a replica's in-memory read model may get after another replica's change (its own
/// changes are seen at once).
pub const READ_MODEL_REFRESH: std::time::Duration = std::time::Duration::from_millis(200);

/// Settings of the catalog service.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// The catalog database.
    pub database: DatabaseSettings,
    /// The gRPC server.
    #[serde(default)]
    pub server: ServerSettings,
    /// Seed the demo catalog (and the demo reseller's CSN) at start-up; idempotent.
    #[serde(default)]
    pub seed_demo: bool,
}

/// What the catalog service gets from its host.
#[derive(Clone)]
pub struct Dependencies {
    /// The event bus (ordering's reseller profile changes come from it).
    pub bus: SharedBus,
    /// Verifies `x-marketplace-identity`.
    pub identity: IdentityKey,
    /// The clock every time rule reads.
    pub clock: SharedClock,
    /// Page token signer.
    pub page_tokens: PageTokens,
}

impl std::fmt::Debug for Dependencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dependencies").finish_non_exhaustive()
    }
}

/// A built catalog service, ready to [`App::run`].
pub struct App {
    settings: Settings,
    db: Database,
    api: grpc::CatalogApi,
    relay: Relay,
    consumer: JoinHandle<()>,
    consumer_stop: DropGuard,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The catalog's migration sets.
pub fn migrations() -> Migrations {
    Migrations {
        postgres: sqlx::migrate::Migrator::with_migrations(POSTGRES.migrations.to_vec()),
        sqlite: sqlx::migrate::Migrator::with_migrations(SQLITE.migrations.to_vec()),
    }
}

impl App {
    /// Connects the database, runs migrations, seeds demo data when asked, and subscribes the
    /// consumers (before any relay runs: the in-process bus drops events nobody subscribed to).
    pub async fn build(settings: Settings, deps: Dependencies) -> anyhow::Result<App> {
        let db = Database::connect(&settings.database).await?;
        db.migrate(&migrations()).await?;
        let store = store::Store::new(db.clone());
        if settings.seed_demo {
            seed::seed_demo(&store).await?;
        }
        let read_model = Arc::new(ReadModel::load(store.clone(), READ_MODEL_REFRESH).await?);
        let stop = CancellationToken::new();
        let consumer = Consumer {
            name: events::CONSUMER_NAME.to_string(),
            subjects: events::subjects(),
            db: db.clone(),
            bus: deps.bus.clone(),
            handler: Arc::new(events::ResellerProfileHandler::new(read_model.clone())),
            outbox: None,
            clock: deps.clock.clone(),
        }
        .start(stop.clone())
        .await?;
        let catalog = service::Catalog::new(
            store,
            deps.clock.clone(),
            deps.page_tokens.clone(),
            read_model,
        );
        let relay = Relay::new(
            db.clone(),
            deps.bus.clone(),
            catalog.outbox().clone(),
            deps.clock.clone(),
            RelaySettings {
                name: "catalog".to_string(),
                ..RelaySettings::default()
            },
        );
        let api = grpc::CatalogApi::new(catalog, deps.identity.clone());
        Ok(App {
            settings,
            db,
            api,
            relay,
            consumer,
            consumer_stop: stop.drop_guard(),
        })
    }

    /// Starts the outbox relay (`markup_changed`) and serves gRPC on `listener`; returns after
    /// `shutdown` is cancelled and everything drained.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let App {
            settings,
            db,
            api,
            relay,
            consumer,
            consumer_stop,
        } = self;
        let service =
            marketplace_platform::tuned_service!(CatalogServiceServer::new(api), settings.server);
        let gauges_stop = CancellationToken::new();
        let mut supervisor = Supervisor::new();
        supervisor.adopt("catalog reseller-profile consumer", consumer);
        let relay_stop = CancellationToken::new();
        supervisor.spawn("catalog outbox relay", relay.run(relay_stop.clone()));
        supervisor.spawn(
            "catalog gauges",
            marketplace_platform::outbox::sample_gauges(db.clone(), "catalog", gauges_stop.clone()),
        );
        let served = GrpcServer::new(settings.server.clone())
            .add_service(service)
            .serve(listener, supervisor.server_shutdown(&shutdown))
            .await;
        supervisor.stopping();
        drop(consumer_stop);
        gauges_stop.cancel();
        relay_stop.cancel();
        let supervised = supervisor.join(None).await;
        db.close().await;
        served.and(supervised)
    }
}
