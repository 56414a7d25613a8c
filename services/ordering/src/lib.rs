//! Ordering service: resellers, customers, carts and checkout, orders with live tracking
//! (`WatchOrder`), and the subscriptions provisioning creates.
//!
//! Follows `docs/service-conventions.md`: [`Settings`], [`Dependencies`] and [`App`] here; rules in
//! [`domain`]; SQL in `store`; gRPC in `grpc`; events and consumers in `events`. The order state
//! machine is documented in [`domain::state`].

extern crate marketplace_platform as platform;

mod catalog;
mod clocks;
mod context;
pub mod domain;
mod events;
mod grpc;
mod placing;
mod scheduler;
mod seed;
mod store;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use marketplace_proto::ordering::v1::cart_service_server::CartServiceServer;
use marketplace_proto::ordering::v1::customer_service_server::CustomerServiceServer;
use marketplace_proto::ordering::v1::order_service_server::OrderServiceServer;
use marketplace_proto::ordering::v1::reseller_service_server::ResellerServiceServer;
use marketplace_proto::ordering::v1::subscription_service_server::SubscriptionServiceServer;
use marketplace_proto::ordering::v1::test_clock_service_server::TestClockServiceServer;
use platform::consumer::Consumer;
use platform::db::{Database, Migrations};
use platform::outbox::{Outbox, Relay, RelaySettings};
use platform::supervisor::Supervisor;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// Settings of the ordering service.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Database (PostgreSQL or SQLite by URL).
    pub database: platform::db::DatabaseSettings,
    /// gRPC server.
    #[serde(default)]
    pub server: platform::grpc_server::ServerSettings,
    /// Address of the catalog service, e.g. `http://127.0.0.1:50051`.
    #[serde(default = "default_catalog_url")]
    pub catalog_url: String,
    /// Deadline of catalog calls (milliseconds). Default 5000.
    #[serde(default = "default_catalog_timeout_ms")]
    pub catalog_timeout_ms: u64,
    /// Seed the demo reseller `reseller-demo` and customer `customer-demo` (idempotent). Default false.
    #[serde(default)]
    pub seed_demo: bool,
    /// How often a WatchOrder stream re-reads the order even without an event (milliseconds),
    /// so that a missed event never leaves a watcher stuck. Default 2000.
    #[serde(default = "default_watch_poll_ms")]
    pub watch_poll_interval_ms: u64,
    /// Holidays (`YYYY-MM-DD`) skipped by business-day rules (Autodesk: auto-renew may be turned
    /// off only up to 5 business days before term end). Default none (weekends only).
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Days before term end when the "term end approaching" reminder is sent. Default 30.
    #[serde(default = "default_term_end_reminder_days")]
    pub term_end_reminder_days: i64,
    /// How often the lifecycle scheduler looks for due renewals, expiries and reminders
    /// (milliseconds). Default 60000.
    #[serde(default = "default_scheduler_interval_ms")]
    pub scheduler_interval_ms: u64,
    /// Subscriptions claimed per scheduler transaction. Default 500.
    #[serde(default = "default_scheduler_batch")]
    pub scheduler_batch: i64,
    /// Scheduler transactions run at once on PostgreSQL (disjoint rows by `SKIP LOCKED`;
    /// SQLite always 1). Default 4.
    #[serde(default = "default_scheduler_concurrency")]
    pub scheduler_concurrency: usize,
    /// Publish the outbox from this process. False when standalone relays (`marketplace relay`)
    /// do it. Default true.
    #[serde(default = "default_true")]
    pub outbox_relay: bool,
    /// Sandbox test clocks (TestClockService; customers attached to a clock live at its
    /// time). Default false; the embedded configuration turns it on, production leaves it off.
    #[serde(default)]
    pub sandbox: bool,
    /// How long an advancing test clock waits for the orders of its customers in flight to be
    /// carried out before each step (milliseconds). Default 30000.
    #[serde(default = "default_test_clock_settle_ms")]
    pub test_clock_settle_ms: u64,
}

fn default_test_clock_settle_ms() -> u64 {
    30_000
}

fn default_true() -> bool {
    true
}

fn default_scheduler_concurrency() -> usize {
    4
}

fn default_term_end_reminder_days() -> i64 {
    30
}

fn default_scheduler_interval_ms() -> u64 {
    60_000
}

fn default_scheduler_batch() -> i64 {
    500
}

fn default_catalog_url() -> String {
    "http://127.0.0.1:50051".into()
}

fn default_catalog_timeout_ms() -> u64 {
    5_000
}

fn default_watch_poll_ms() -> u64 {
    2_000
}

impl Settings {
    /// Settings with defaults for everything but the database and the catalog address.
    pub fn new(database: platform::db::DatabaseSettings, catalog_url: impl Into<String>) -> Self {
        Self {
            database,
            server: platform::grpc_server::ServerSettings::default(),
            catalog_url: catalog_url.into(),
            catalog_timeout_ms: default_catalog_timeout_ms(),
            seed_demo: false,
            watch_poll_interval_ms: default_watch_poll_ms(),
            holidays: Vec::new(),
            term_end_reminder_days: default_term_end_reminder_days(),
            scheduler_interval_ms: default_scheduler_interval_ms(),
            scheduler_batch: default_scheduler_batch(),
            scheduler_concurrency: default_scheduler_concurrency(),
            outbox_relay: true,
            sandbox: false,
            test_clock_settle_ms: default_test_clock_settle_ms(),
        }
    }

    /// The lifecycle rules these settings configure; fails on a holiday that is not a date.
    pub fn rules(&self) -> anyhow::Result<domain::policy::Rules> {
        let calendar = domain::calendar::BusinessCalendar::parse(&self.holidays)
            .map_err(|bad| anyhow::anyhow!("ordering.holidays: not YYYY-MM-DD dates: {bad:?}"))?;
        Ok(domain::policy::Rules {
            calendar,
            term_end_notice_days: self.term_end_reminder_days.max(1),
        })
    }
}

/// What the ordering service is given by its host process.
#[derive(Clone)]
pub struct Dependencies {
    /// The event bus.
    pub bus: platform::bus::SharedBus,
    /// Verifies callers' identity; signs calls to the catalog.
    pub identity: platform::identity::IdentityKey,
    /// The clock (cart expiry and every time-based rule).
    pub clock: platform::clock::SharedClock,
    /// Page-token signer.
    pub page_tokens: platform::paging::PageTokens,
}

impl std::fmt::Debug for Dependencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dependencies").finish_non_exhaustive()
    }
}

/// The built ordering service, ready to [`App::run`].
pub struct App {
    settings: Settings,
    ctx: Arc<context::Ctx>,
    db: Database,
    bus: platform::bus::SharedBus,
    background: CancellationToken,
    tasks: Vec<(&'static str, tokio::task::JoinHandle<()>)>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

impl App {
    /// Connects the database, runs migrations, seeds demo data when asked, and subscribes the
    /// consumers (the provisioning consumer and this replica's WatchOrder fan-out) before any
    /// relay runs.
    pub async fn build(settings: Settings, deps: Dependencies) -> anyhow::Result<App> {
        let db = Database::connect(&settings.database).await?;
        db.migrate(&Migrations {
            postgres: sqlx::migrate!("migrations/postgres"),
            sqlite: sqlx::migrate!("migrations/sqlite"),
        })
        .await?;
        let outbox = Outbox::new();
        let store = store::Store::new(db.clone(), settings.rules()?);
        if settings.seed_demo {
            seed::demo(&store, &outbox, &deps.clock).await?;
        }
        let catalog = catalog::Catalog::new(
            &settings.catalog_url,
            Duration::from_millis(settings.catalog_timeout_ms),
            deps.identity.clone(),
        )?;
        let background = CancellationToken::new();
        let mut tasks = Vec::new();
        let (watch, watch_task) = watch::WatchHub::start(&deps.bus, background.clone()).await?;
        tasks.push(("ordering watch fan-out", watch_task));
        let ctx = Arc::new(context::Ctx {
            store,
            identity: deps.identity.clone(),
            clock: deps.clock.clone(),
            page_tokens: deps.page_tokens.clone(),
            outbox: outbox.clone(),
            catalog,
            watch,
            watch_poll: Duration::from_millis(settings.watch_poll_interval_ms.max(50)),
            streams: CancellationToken::new(),
            sandbox: settings.sandbox,
            clock_settle: Duration::from_millis(settings.test_clock_settle_ms),
            scheduler_batch: settings.scheduler_batch.max(1),
            scheduler_concurrency: settings.scheduler_concurrency,
        });
        let consumer = Consumer {
            name: "ordering-from-provisioning".into(),
            subjects: vec!["marketplace.provisioning.>".into()],
            db: db.clone(),
            bus: deps.bus.clone(),
            handler: Arc::new(events::ProvisioningHandler::new(ctx.clone())),
            outbox: Some(outbox.clone()),
            clock: deps.clock.clone(),
        };
        tasks.push((
            "ordering-from-provisioning consumer",
            consumer.start(background.clone()).await?,
        ));
        let markups = Consumer {
            name: placing::markup::CONSUMER_NAME.into(),
            subjects: placing::markup::subjects(),
            db: db.clone(),
            bus: deps.bus.clone(),
            handler: Arc::new(placing::markup::MarkupHandler::new(ctx.clone())),
            outbox: Some(outbox),
            clock: deps.clock.clone(),
        };
        tasks.push((
            "ordering-from-catalog consumer",
            markups.start(background.clone()).await?,
        ));
        Ok(App {
            settings,
            ctx,
            db,
            bus: deps.bus,
            background,
            tasks,
        })
    }

    /// Runs the lifecycle scheduler once until nothing is due (renewal orders and expiries at
    /// term end, then reminders), as the background scheduler does every
    /// `scheduler_interval_ms`; returns how many subscriptions reached term end. Used by the
    /// renewal benchmark and by operators catching up by hand.
    pub async fn run_scheduler_once(&self) -> anyhow::Result<usize> {
        let scheduler = scheduler::Scheduler::new(
            self.ctx.clone(),
            Duration::from_millis(self.settings.scheduler_interval_ms.max(10)),
            self.settings.scheduler_batch.max(1),
            self.settings.scheduler_concurrency,
        );
        let done = scheduler.catch_up().await?;
        self.ctx.outbox.notify();
        Ok(done)
    }

    /// Advances test clock `clock_id` to `to` (µs) and waits until it is READY, as
    /// `AdvanceTestClock` does in the background; returns how many subscriptions reached term
    /// end on the way. Used by the test-clock benchmark.
    pub async fn advance_test_clock(&self, clock_id: &str, to: i64) -> anyhow::Result<usize> {
        let mut conn = self.ctx.store.conn().await?;
        if !self
            .ctx
            .store
            .start_advance(&mut conn, clock_id, to, self.ctx.now())
            .await?
        {
            anyhow::bail!("test clock {clock_id} is not READY before {to}");
        }
        drop(conn);
        Ok(clocks::advance(&self.ctx, clock_id).await?)
    }

    /// Starts the outbox relay and the gRPC server on `listener`; returns after `shutdown` is
    /// cancelled and everything drained.
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let relay = Relay::new(
            self.db.clone(),
            self.bus.clone(),
            self.ctx.outbox.clone(),
            self.ctx.clock.clone(),
            RelaySettings {
                name: "ordering".to_string(),
                ..RelaySettings::default()
            },
        );
        let mut supervisor = Supervisor::new();
        for (name, task) in self.tasks {
            supervisor.adopt(name, task);
        }
        if self.settings.outbox_relay {
            supervisor.spawn("ordering outbox relay", relay.run(self.background.clone()));
        }
        supervisor.spawn(
            "ordering gauges",
            platform::outbox::sample_gauges(self.db.clone(), "ordering", self.background.clone()),
        );
        let scheduler = scheduler::Scheduler::new(
            self.ctx.clone(),
            Duration::from_millis(self.settings.scheduler_interval_ms.max(10)),
            self.settings.scheduler_batch.max(1),
            self.settings.scheduler_concurrency,
        );
        supervisor.spawn("ordering scheduler", scheduler.run(self.background.clone()));
        if self.ctx.sandbox {
            // Advances interrupted by a restart go on from where they stopped.
            let mut conn = self.ctx.store.conn().await?;
            for clock in self.ctx.store.list_clocks(&mut conn, None).await? {
                if clock.status == domain::test_clock::ClockStatus::Advancing {
                    tokio::spawn(clocks::run_advance(self.ctx.clone(), clock.id));
                }
            }
        }
        let streams = self.ctx.streams.clone();
        let server_stop = supervisor.server_shutdown(&shutdown);
        let watched = server_stop.clone();
        tokio::spawn(async move {
            watched.cancelled().await;
            streams.cancel();
        });
        let server = platform::grpc_server::GrpcServer::new(self.settings.server.clone())
            .add_service(platform::tuned_service!(
                ResellerServiceServer::new(grpc::Resellers(self.ctx.clone())),
                self.settings.server
            ))
            .add_service(platform::tuned_service!(
                CustomerServiceServer::new(grpc::Customers(self.ctx.clone())),
                self.settings.server
            ))
            .add_service(platform::tuned_service!(
                CartServiceServer::new(grpc::Carts(self.ctx.clone())),
                self.settings.server
            ))
            .add_service(platform::tuned_service!(
                OrderServiceServer::new(grpc::Orders(self.ctx.clone())),
                self.settings.server
            ))
            .add_service(platform::tuned_service!(
                SubscriptionServiceServer::new(grpc::Subscriptions(self.ctx.clone())),
                self.settings.server
            ))
            .add_service(platform::tuned_service!(
                TestClockServiceServer::new(grpc::TestClocks(self.ctx.clone())),
                self.settings.server
            ));
        let result = server.serve(listener, server_stop).await;
        self.ctx.streams.cancel();
        supervisor.stopping();
        self.background.cancel();
        let supervised = supervisor.join(None).await;
        self.db.close().await;
        result.and(supervised)
    }
}
