//! The notification service: turns ordering and provisioning events into notifications
//! (in-app feed, e-mail over SMTP, signed webhooks), each created exactly once per event and
//! channel, and delivered by lease-holding workers that retry only what failed.
//!
//! Start it like every service: [`App::build`] then [`App::run`]. The embedded marketplace also
//! runs [`sandbox_smtp::SmtpSink`] as its default mail server.

extern crate marketplace_platform as platform;

mod core;
pub mod domain;
mod email;
mod events;
mod grpc;
mod hub;
pub mod sandbox_smtp;
pub mod store;
pub mod templates;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use marketplace_proto::notification::v1::notification_service_server::NotificationServiceServer;
use marketplace_proto::notification::v1::webhook_service_server::WebhookServiceServer;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use platform::bus::SharedBus;
use platform::clock::SharedClock;
use platform::config::Secret;
use platform::consumer::Consumer;
use platform::db::{Database, DatabaseSettings, Migrations};
use platform::grpc_server::{GrpcServer, ServerSettings};
use platform::identity::IdentityKey;
use platform::paging::PageTokens;
use platform::supervisor::Supervisor;

pub use domain::retry::RetryPolicy;
pub use events::{FROM_ORDERING, FROM_PROVISIONING};

/// Settings of the notification service.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Database (PostgreSQL or SQLite URL).
    pub database: DatabaseSettings,
    /// gRPC server.
    #[serde(default)]
    pub server: ServerSettings,
    /// E-mail channel.
    #[serde(default)]
    pub smtp: SmtpSettings,
    /// Webhook channel.
    #[serde(default)]
    pub webhooks: WebhookSettings,
    /// Delivery workers.
    #[serde(default)]
    pub workers: WorkerSettings,
    /// Where staff alerts are e-mailed (empty = feed only). Default `staff@marketplace.example`.
    #[serde(default = "default_staff_email")]
    pub staff_email: String,
    /// Base URL of the reseller control panel, for links in notifications. Default `http://localhost:8080`.
    #[serde(default = "default_console_url")]
    pub console_url: String,
}

fn default_staff_email() -> String {
    "staff@marketplace.example".into()
}

fn default_console_url() -> String {
    "http://localhost:8080".into()
}

/// E-mail channel settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SmtpSettings {
    /// `smtp://host:port` (plain), `smtp://host?tls=required` (STARTTLS), `smtps://host` (TLS),
    /// with optional `user:password@`. Empty = e-mail disabled: deliveries are recorded as skipped.
    pub url: Secret,
    /// Sender mailbox. Default `Cloud Marketplace <notifications@marketplace.example>`.
    pub from: String,
    /// Pooled SMTP connections (and e-mails sent at once). Default 4.
    pub pool_size: u32,
    /// Timeout of one SMTP command (milliseconds). Default 10 000.
    pub timeout_ms: u64,
    /// Retries on transient SMTP errors (4xx, connection trouble). Default 2 s × 4ⁿ up to 1 h, 6 attempts.
    pub retry: RetryPolicy,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            url: Secret::default(),
            from: "Cloud Marketplace <notifications@marketplace.example>".into(),
            pool_size: 4,
            timeout_ms: 10_000,
            retry: RetryPolicy {
                base_ms: 2_000,
                factor: 4.0,
                max_delay_ms: 3_600_000,
                max_attempts: 6,
            },
        }
    }
}

/// Webhook channel settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WebhookSettings {
    /// Timeout of one HTTP attempt (milliseconds). Default 15 000.
    pub timeout_ms: u64,
    /// Retry schedule. Default 5 s × 5ⁿ up to 10 h, 9 attempts (≈ 1 day).
    pub retry: RetryPolicy,
    /// An endpoint failing (no success) for longer than this is disabled (milliseconds). Default 5 days.
    pub disable_after_ms: u64,
    /// How long the previous secret still signs after a rotation (milliseconds). Default 24 h.
    pub secret_overlap_ms: u64,
    /// Allow loopback URLs (http://127.0.0.1…, localhost): development and tests only. Default false.
    pub allow_loopback: bool,
    /// Requests in flight at once per worker. Default 64.
    pub concurrency: usize,
    /// Requests in flight at once to one endpoint (per worker), so a slow endpoint cannot take
    /// every slot. Default 16.
    pub per_endpoint_concurrency: usize,
    /// Bytes of the response body kept in the attempts log. Default 512.
    pub response_excerpt_bytes: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            timeout_ms: 15_000,
            retry: RetryPolicy::default(),
            disable_after_ms: 5 * 24 * 3_600_000,
            secret_overlap_ms: 24 * 3_600_000,
            allow_loopback: false,
            concurrency: 64,
            per_endpoint_concurrency: 16,
            response_excerpt_bytes: 512,
        }
    }
}

/// Delivery worker settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WorkerSettings {
    /// How often workers look for due deliveries when not woken (milliseconds). Default 250.
    pub poll_interval_ms: u64,
    /// How long a claimed delivery is reserved for its worker; after a crash it is retried once
    /// the lease expired (milliseconds). Default 60 000 (must exceed the SMTP and HTTP timeouts).
    pub lease_ms: u64,
    /// Deliveries claimed per batch. Default 128.
    pub batch_size: i64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            poll_interval_ms: 250,
            lease_ms: 60_000,
            batch_size: 128,
        }
    }
}

impl Settings {
    /// Settings with defaults for a database.
    pub fn new(database: DatabaseSettings) -> Self {
        Self {
            database,
            server: ServerSettings::default(),
            smtp: SmtpSettings::default(),
            webhooks: WebhookSettings::default(),
            workers: WorkerSettings::default(),
            staff_email: default_staff_email(),
            console_url: default_console_url(),
        }
    }

    /// Checks values that serde cannot, naming the setting.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.smtp
            .retry
            .validate("smtp.retry")
            .map_err(anyhow::Error::msg)?;
        self.webhooks
            .retry
            .validate("webhooks.retry")
            .map_err(anyhow::Error::msg)?;
        if !self.staff_email.is_empty() && !domain::preferences::is_email(&self.staff_email) {
            anyhow::bail!("setting `staff_email` is not an e-mail address");
        }
        if self.workers.batch_size < 1 {
            anyhow::bail!("setting `workers.batch_size` must be at least 1");
        }
        let longest = self.webhooks.timeout_ms.max(self.smtp.timeout_ms * 4);
        if self.workers.lease_ms <= longest {
            anyhow::bail!(
                "setting `workers.lease_ms` must exceed the webhook timeout and four SMTP command timeouts ({longest} ms)"
            );
        }
        Ok(())
    }
}

/// What the service gets from its host process.
#[derive(Clone)]
pub struct Dependencies {
    /// The event bus.
    pub bus: SharedBus,
    /// Verifies `x-marketplace-identity`.
    pub identity: IdentityKey,
    /// The clock.
    pub clock: SharedClock,
    /// Page-token signer.
    pub page_tokens: PageTokens,
}

impl std::fmt::Debug for Dependencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dependencies").finish_non_exhaustive()
    }
}

/// A built notification service.
pub struct App {
    core: Arc<core::Core>,
    deps: Dependencies,
    mailer: Option<email::Mailer>,
    sender: webhook::WebhookSender,
    consumers: Vec<(&'static str, tokio::task::JoinHandle<()>)>,
    background: CancellationToken,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

impl App {
    /// Connects the database, runs migrations, compiles the templates and subscribes the
    /// consumers (before any relay runs: the in-process bus drops events nobody subscribed to).
    pub async fn build(settings: Settings, deps: Dependencies) -> anyhow::Result<App> {
        settings.validate()?;
        let templates = templates::Templates::load()?;
        let mailer = email::Mailer::new(&settings.smtp)?;
        let sender = webhook::WebhookSender::new(&settings.webhooks)?;
        let db = Database::connect(&settings.database).await?;
        db.migrate(&Migrations {
            postgres: sqlx::migrate!("migrations/postgres"),
            sqlite: sqlx::migrate!("migrations/sqlite"),
        })
        .await?;
        let core = Arc::new(core::Core {
            db: db.clone(),
            clock: deps.clock.clone(),
            settings,
            templates,
            email_wake: Arc::new(Notify::new()),
            webhook_wake: Arc::new(Notify::new()),
            hub: hub::FeedHub::new(),
        });
        let background = CancellationToken::new();
        let handler = Arc::new(events::NotificationHandler { core: core.clone() });
        let mut consumers = Vec::new();
        for (name, subject) in [
            (FROM_ORDERING, "marketplace.ordering.>"),
            (FROM_PROVISIONING, "marketplace.provisioning.>"),
        ] {
            let consumer = Consumer {
                name: name.to_string(),
                subjects: vec![subject.to_string()],
                db: db.clone(),
                bus: deps.bus.clone(),
                handler: handler.clone(),
                outbox: None,
                clock: deps.clock.clone(),
            };
            consumers.push((name, consumer.start(background.clone()).await?));
        }
        Ok(App {
            core,
            deps,
            mailer,
            sender,
            consumers,
            background,
        })
    }

    /// The service database (tests and tools inspect deliveries through [`store`]).
    pub fn database(&self) -> &Database {
        &self.core.db
    }

    /// Starts the delivery workers, the feed hub and the gRPC server on `listener`; returns
    /// after `shutdown` is cancelled and everything drained.
    pub async fn run(
        mut self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let core = self.core.clone();
        let background = self.background.clone();
        let poll = Duration::from_millis(core.settings.workers.poll_interval_ms);
        let mut supervisor = Supervisor::new();
        for (name, consumer) in std::mem::take(&mut self.consumers) {
            supervisor.adopt(name, consumer);
        }
        supervisor.spawn(
            "notification gauges",
            platform::outbox::sample_gauges(core.db.clone(), "notification", background.clone()),
        );
        let worker_id = platform::ids::new_id();
        let email_slots = Arc::new(Semaphore::new(core.settings.smtp.pool_size.max(1) as usize));
        if let Some(mailer) = self.mailer.clone() {
            let owner = format!("email-{worker_id}");
            let (core, slots) = (core.clone(), email_slots.clone());
            let wake = core.email_wake.clone();
            let batch = move || {
                let (core, mailer, owner, slots) =
                    (core.clone(), mailer.clone(), owner.clone(), slots.clone());
                async move { email::run_batch(&core, &mailer, &owner, &slots).await }
            };
            supervisor.spawn(
                "notification e-mail sender",
                core::worker_loop("email", wake, poll, background.clone(), batch),
            );
        }
        let webhook_slots = webhook::Slots::new(
            core.settings.webhooks.concurrency,
            core.settings.webhooks.per_endpoint_concurrency,
        );
        {
            let owner = format!("webhook-{worker_id}");
            let (core, sender, slots) = (core.clone(), self.sender.clone(), webhook_slots.clone());
            let wake = core.webhook_wake.clone();
            let batch = move || {
                let (core, sender, owner, slots) =
                    (core.clone(), sender.clone(), owner.clone(), slots.clone());
                async move { webhook::run_batch(&core, &sender, &owner, &slots).await }
            };
            supervisor.spawn(
                "notification webhook sender",
                core::worker_loop("webhook", wake, poll, background.clone(), batch),
            );
        }
        supervisor.spawn(
            "notification feed hub",
            core.hub
                .clone()
                .run(core.db.clone(), poll, background.clone()),
        );

        let feed = grpc::FeedService {
            core: core.clone(),
            identity: self.deps.identity.clone(),
            page_tokens: self.deps.page_tokens.clone(),
        };
        let hooks = grpc::WebhookApi {
            core: core.clone(),
            identity: self.deps.identity.clone(),
            page_tokens: self.deps.page_tokens.clone(),
            sender: self.sender.clone(),
        };
        let result = GrpcServer::new(core.settings.server.clone())
            .add_service(platform::tuned_service!(
                NotificationServiceServer::new(feed),
                core.settings.server
            ))
            .add_service(platform::tuned_service!(
                WebhookServiceServer::new(hooks),
                core.settings.server
            ))
            .serve(listener, supervisor.server_shutdown(&shutdown))
            .await;
        supervisor.stopping();
        background.cancel();
        let supervised = supervisor.join(Some(Duration::from_secs(10))).await;
        // Let deliveries in flight record their outcome (an unrecorded one is retried after its lease).
        let drain = async {
            let _ = email_slots
                .acquire_many(core.settings.smtp.pool_size.max(1))
                .await;
            webhook_slots.drain().await;
        };
        let _ = tokio::time::timeout(Duration::from_secs(10), drain).await;
        result.and(supervised)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.background.cancel();
    }
}
