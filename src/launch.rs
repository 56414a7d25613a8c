//! Starting components. Every component is built first (database, migrations, consumer
//! subscriptions) and only then run (relays, workers, servers), so the in-process bus never
//! publishes before its subscribers exist.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use marketplace_platform::bus::{InProcessBus, NatsBus, NatsBusOptions, SharedBus};
use marketplace_platform::clock::{SharedClock, SystemClock};
use marketplace_platform::config::{ConfigError, redact_url};
use marketplace_platform::db::{Database, DatabaseSettings};
use marketplace_platform::identity::IdentityKey;
use marketplace_platform::outbox::{Outbox, Relay, RelaySettings};
use marketplace_platform::paging::PageTokens;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Role, component_settings, set_key, str_key};

/// A started marketplace (or single component).
#[derive(Debug)]
pub struct Running {
    /// Gateway REST address (when the gateway runs here).
    pub gateway_http: Option<SocketAddr>,
    /// Gateway gRPC address (when the gateway runs here).
    pub gateway_grpc: Option<SocketAddr>,
    /// The sandbox vendors (when they run here).
    pub vendor_sim: Option<vendor_sim::VendorSim>,
    /// Addresses of the sandbox vendors: (Autodesk, Microsoft).
    pub vendor_addrs: Option<(SocketAddr, SocketAddr)>,
    /// The sandbox SMTP server (when it runs here).
    pub smtp: Option<notification::sandbox_smtp::SmtpSink>,
    /// gRPC addresses of the services started here, by name.
    pub services: Vec<(&'static str, SocketAddr)>,
    /// Prometheus `/metrics` address of this process.
    pub metrics: Option<SocketAddr>,
    tasks: JoinSet<(&'static str, anyhow::Result<()>)>,
    shutdown: CancellationToken,
}

impl Running {
    /// Waits until every component stopped (after the shutdown token was cancelled) and
    /// reports the first failure. A component failing on its own cancels the others.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut first_error = None;
        while let Some(joined) = self.tasks.join_next().await {
            let (name, result) =
                joined.unwrap_or(("task", Err(anyhow::anyhow!("component task panicked"))));
            if let Err(error) = result {
                tracing::error!(component = name, error = %format!("{error:#}"), "component failed");
                first_error.get_or_insert(error.context(format!("{name} failed")));
                self.shutdown.cancel();
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Every address this process listens on: (component, what, address), e.g.
    /// `("gateway", "http", …)`, `("catalog", "grpc", …)`, `("process", "metrics", …)`.
    pub fn listen_addresses(&self) -> Vec<(&'static str, &'static str, SocketAddr)> {
        let mut addresses: Vec<_> = self
            .services
            .iter()
            .map(|(name, addr)| (*name, "grpc", *addr))
            .collect();
        addresses.extend(self.gateway_grpc.map(|addr| ("gateway", "grpc", addr)));
        addresses.extend(self.gateway_http.map(|addr| ("gateway", "http", addr)));
        if let Some((autodesk, microsoft)) = self.vendor_addrs {
            addresses.push(("vendor-sim", "autodesk http", autodesk));
            addresses.push(("vendor-sim", "microsoft http", microsoft));
        }
        addresses.extend(self.metrics.map(|addr| ("process", "metrics", addr)));
        addresses
    }

    /// Cancels and waits.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }
}

struct Shared {
    identity: IdentityKey,
    page_tokens: PageTokens,
    clock: SharedClock,
}

async fn bind(addr: &str, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ({what})"))
}

fn http_url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

async fn make_bus(config: &Config, shared_memory: &Option<SharedBus>) -> anyhow::Result<SharedBus> {
    if config.bus.url == "memory" {
        return shared_memory.clone().ok_or_else(|| {
            ConfigError(
                "setting `bus.url` = memory works only with role = all (one process)".into(),
            )
            .into()
        });
    }
    if !config.bus.url.starts_with("nats://") && !config.bus.url.starts_with("tls://") {
        return Err(ConfigError(format!(
            "setting `bus.url` (MARKETPLACE_BUS__URL) must be `memory` or a nats:// URL (got {:?})",
            redact_url(&config.bus.url)
        ))
        .into());
    }
    let options = NatsBusOptions {
        stream_prefix: config.bus.stream_prefix.clone(),
        subject_prefix: config.bus.subject_prefix.clone(),
        ..NatsBusOptions::default()
    };
    let bus = NatsBus::connect(&config.bus.url, options)
        .await
        .with_context(|| format!("cannot connect to NATS at {}", redact_url(&config.bus.url)))?;
    Ok(Arc::new(bus))
}

fn shared_keys(config: &Config) -> anyhow::Result<Shared> {
    let identity = if config.auth.internal_key.is_empty() {
        if config.role != Role::All {
            return Err(ConfigError(
                "setting `auth.internal_key` is required when components run in separate processes"
                    .into(),
            )
            .into());
        }
        IdentityKey::random()
    } else {
        let key = IdentityKey::new(config.auth.internal_key.expose().as_bytes())?;
        if config.auth.previous_internal_key.is_empty() {
            key
        } else {
            key.with_previous(config.auth.previous_internal_key.expose().as_bytes())?
        }
    };
    // Every replica must sign page tokens with the same key, or a token from one replica is
    // refused by the next: without an explicit key, derive one from the shared internal key.
    let page_tokens = if !config.auth.page_token_key.is_empty() {
        PageTokens::new(config.auth.page_token_key.expose().as_bytes())
    } else if !config.auth.internal_key.is_empty() {
        use sha2::Digest;
        let mut derived = sha2::Sha256::new();
        derived.update(b"marketplace page tokens\0");
        derived.update(config.auth.internal_key.expose().as_bytes());
        PageTokens::new(&derived.finalize())
    } else {
        PageTokens::random()
    };
    Ok(Shared {
        identity,
        page_tokens,
        clock: Arc::new(SystemClock),
    })
}

/// Starts what `config.role` asks for and returns once everything is serving.
pub async fn start(mut config: Config, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let shared = shared_keys(&config)?;
    let all = config.role == Role::All;
    let selected = config.role;
    let runs = |role: Role| all || selected == role;
    let memory_bus: Option<SharedBus> = all.then(|| Arc::new(InProcessBus::new()) as SharedBus);
    let mut tasks: JoinSet<(&'static str, anyhow::Result<()>)> = JoinSet::new();
    let mut services = Vec::new();
    let metrics = if config.migrate_only {
        None
    } else {
        marketplace_platform::metrics::spawn(&config.telemetry.metrics_listen, shutdown.clone())
            .await?
    };

    // Sandbox vendors.
    let (vendor_sim, vendor_addrs) = if runs(Role::VendorSim)
        && (config.vendor_sim.enabled || config.role == Role::VendorSim)
    {
        let sim = vendor_sim::VendorSim::new(vendor_sim::SimConfig {
            provisioning_delay: Duration::from_millis(config.vendor_sim.provisioning_delay_ms),
            ..vendor_sim::SimConfig::default()
        });
        let autodesk = bind(&config.vendor_sim.autodesk_listen, "autodesk simulator").await?;
        let microsoft = bind(&config.vendor_sim.microsoft_listen, "microsoft simulator").await?;
        let addrs = (autodesk.local_addr()?, microsoft.local_addr()?);
        set_key(
            &mut config.provisioning,
            "autodesk.base_url",
            json!(http_url(addrs.0)),
        );
        set_key(
            &mut config.provisioning,
            "microsoft.base_url",
            json!(http_url(addrs.1)),
        );
        let serving = sim.clone();
        let token = shutdown.clone();
        tasks.spawn(async move {
            (
                "vendor-sim",
                serving
                    .serve(autodesk, microsoft, token)
                    .await
                    .map_err(Into::into),
            )
        });
        (Some(sim), Some(addrs))
    } else {
        (None, None)
    };

    // Sandbox SMTP server, when the notification service runs here and has no SMTP server.
    let smtp = if runs(Role::Notification)
        && config.sandbox_smtp.enabled
        && str_key(&config.notification["smtp"], "url").is_empty()
    {
        let listener = bind(&config.sandbox_smtp.listen, "sandbox smtp").await?;
        let addr = listener.local_addr()?;
        let sink = notification::sandbox_smtp::SmtpSink::start(listener);
        let stopper = sink.clone();
        let token = shutdown.clone();
        tokio::spawn(async move {
            token.cancelled().await;
            stopper.stop();
        });
        set_key(
            &mut config.notification,
            "smtp.url",
            json!(format!("smtp://{addr}")),
        );
        Some(sink)
    } else {
        None
    };

    // Embedded mode: partner webhooks on this machine (loopback) are allowed for local testing,
    // unless configured otherwise; separate processes keep the safe default (refused).
    if all
        && config.notification["webhooks"]
            .get("allow_loopback")
            .is_none()
    {
        set_key(
            &mut config.notification,
            "webhooks.allow_loopback",
            json!(true),
        );
    }

    // Bind every service listener first, so peers know each other's addresses.
    let mut listeners = Vec::new();
    for (role, name) in [
        (Role::Catalog, "catalog"),
        (Role::Ordering, "ordering"),
        (Role::Provisioning, "provisioning"),
        (Role::Notification, "notification"),
    ] {
        if runs(role) {
            let section = section_mut(&mut config, name);
            let listener = bind(str_key(section, "listen"), name).await?;
            let addr = listener.local_addr()?;
            set_key(section, "url", json!(http_url(addr)));
            services.push((name, addr));
            listeners.push((name, listener));
        }
    }
    // Peers: in one process the addresses bound above; otherwise `<peer>.url` must be set.
    let peer = |name: &str, section: &Value, needed: bool| -> Result<String, ConfigError> {
        let url = str_key(section, "url").to_string();
        if url.is_empty() && needed && !config.migrate_only {
            return Err(ConfigError(format!(
                "setting `{name}.url` (MARKETPLACE_{}__URL) is required: where this component reaches {name}",
                name.to_uppercase()
            )));
        }
        // Never dialled when only migrating.
        Ok(if url.is_empty() {
            "http://127.0.0.1:9".to_string()
        } else {
            url
        })
    };
    let gateway_here = runs(Role::Gateway);
    let catalog_url = peer(
        "catalog",
        &config.catalog,
        gateway_here || runs(Role::Ordering),
    )?;
    let ordering_url = peer("ordering", &config.ordering, gateway_here)?;
    let provisioning_url = peer("provisioning", &config.provisioning, gateway_here)?;
    let notification_url = peer("notification", &config.notification, gateway_here)?;
    set_key(&mut config.ordering, "catalog_url", json!(catalog_url));
    for (key, url) in [
        ("catalog_url", &catalog_url),
        ("ordering_url", &ordering_url),
        ("provisioning_url", &provisioning_url),
        ("notification_url", &notification_url),
    ] {
        set_key(&mut config.gateway, key, json!(url));
    }

    // Build (migrate, seed, subscribe) every component before any of them runs.
    let mut runners: Vec<(&'static str, TcpListener, Runner)> = Vec::new();
    for (name, listener) in listeners {
        let bus = make_bus(&config, &memory_bus).await?;
        let runner = build_service(name, &config, &shared, bus)
            .await
            .with_context(|| format!("cannot start {name}"))?;
        runners.push((name, listener, runner));
    }
    let mut gateway_addrs = (None, None);
    let mut gateway_app = None;
    if runs(Role::Gateway) {
        let http = bind(str_key(&config.gateway, "listen_http"), "gateway http").await?;
        let grpc = bind(str_key(&config.gateway, "listen_grpc"), "gateway grpc").await?;
        gateway_addrs = (Some(http.local_addr()?), Some(grpc.local_addr()?));
        let settings: gateway::Settings = component_settings("gateway", &config.gateway)?;
        let deps = gateway::Dependencies {
            identity: shared.identity.clone(),
            clock: shared.clock.clone(),
            page_tokens: shared.page_tokens.clone(),
        };
        let app = gateway::App::build(settings, deps)
            .await
            .context("cannot start gateway")?;
        gateway_app = Some((app, http, grpc));
    }

    // Standalone outbox relays (role `relay` only; in role `all` the services run their own).
    let relays = if selected == Role::Relay && !config.migrate_only {
        build_relays(&config, &shared, &memory_bus).await?
    } else {
        Vec::new()
    };

    if config.migrate_only {
        tracing::info!(components = ?runners.iter().map(|(name, _, _)| *name).collect::<Vec<_>>(), gateway = gateway_app.is_some(), "migrations applied");
        shutdown.cancel();
        return Ok(Running {
            gateway_http: None,
            gateway_grpc: None,
            vendor_sim,
            vendor_addrs,
            smtp,
            services,
            metrics,
            tasks,
            shutdown,
        });
    }
    for (name, listener, runner) in runners {
        let token = shutdown.clone();
        tasks.spawn(async move { (name, runner.run(listener, token).await) });
    }
    for (relay, db, source) in relays {
        let token = shutdown.clone();
        // The relay process measures its source's backlog and its own pool too.
        tokio::spawn(marketplace_platform::outbox::sample_gauges(
            db,
            source,
            token.clone(),
        ));
        tasks.spawn(async move {
            relay.run(token).await;
            ("relay", Ok(()))
        });
    }
    if let Some((app, http, grpc)) = gateway_app {
        let token = shutdown.clone();
        tasks.spawn(async move { ("gateway", app.run(http, grpc, token).await) });
    }

    Ok(Running {
        gateway_http: gateway_addrs.0,
        gateway_grpc: gateway_addrs.1,
        vendor_sim,
        vendor_addrs,
        smtp,
        services,
        metrics,
        tasks,
        shutdown,
    })
}

/// One relay per configured source service, each on that service's database (with the database
/// and the source's name, whose backlog and pool gauges the relay process samples).
async fn build_relays(
    config: &Config,
    shared: &Shared,
    memory_bus: &Option<SharedBus>,
) -> anyhow::Result<Vec<(Relay, Database, &'static str)>> {
    let mut relays = Vec::new();
    for source in &config.relay.sources {
        let (section, source_name): (&Value, &'static str) = match source.as_str() {
            "ordering" => (&config.ordering, "ordering"),
            "provisioning" => (&config.provisioning, "provisioning"),
            other => {
                return Err(ConfigError(format!(
                    "setting `relay.sources` may hold `ordering` and `provisioning` (got {other:?})"
                ))
                .into());
            }
        };
        let settings: DatabaseSettings = marketplace_platform::config::from_value(
            &format!("{source}.database"),
            section.get("database").unwrap_or(&Value::Null),
        )?;
        let db = Database::connect(&settings)
            .await
            .with_context(|| format!("cannot connect to the {source} database"))?;
        let bus = make_bus(config, memory_bus).await?;
        relays.push((
            Relay::new(
                db.clone(),
                bus,
                Outbox::new(),
                shared.clock.clone(),
                RelaySettings {
                    name: source.clone(),
                    poll_interval: Duration::from_millis(config.relay.poll_interval_ms.max(1)),
                    ..RelaySettings::default()
                },
            ),
            db,
            source_name,
        ));
    }
    Ok(relays)
}

fn section_mut<'a>(config: &'a mut Config, name: &str) -> &'a mut Value {
    match name {
        "catalog" => &mut config.catalog,
        "ordering" => &mut config.ordering,
        "provisioning" => &mut config.provisioning,
        _ => &mut config.notification,
    }
}

/// A built service waiting to run (boxed: the apps differ a lot in size).
enum Runner {
    Catalog(Box<catalog::App>),
    Ordering(Box<ordering::App>),
    Provisioning(Box<provisioning::App>),
    Notification(Box<notification::App>),
}

impl Runner {
    async fn run(self, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
        match self {
            Self::Catalog(app) => app.run(listener, shutdown).await,
            Self::Ordering(app) => app.run(listener, shutdown).await,
            Self::Provisioning(app) => app.run(listener, shutdown).await,
            Self::Notification(app) => app.run(listener, shutdown).await,
        }
    }
}

async fn build_service(
    name: &str,
    config: &Config,
    shared: &Shared,
    bus: SharedBus,
) -> anyhow::Result<Runner> {
    let identity = shared.identity.clone();
    let clock = shared.clock.clone();
    let page_tokens = shared.page_tokens.clone();
    Ok(match name {
        "catalog" => Runner::Catalog(Box::new(
            catalog::App::build(
                component_settings("catalog", &config.catalog)?,
                catalog::Dependencies {
                    bus,
                    identity,
                    clock,
                    page_tokens,
                },
            )
            .await?,
        )),
        "ordering" => Runner::Ordering(Box::new(
            ordering::App::build(
                component_settings("ordering", &config.ordering)?,
                ordering::Dependencies {
                    bus,
                    identity,
                    clock,
                    page_tokens,
                },
            )
            .await?,
        )),
        "provisioning" => Runner::Provisioning(Box::new(
            provisioning::App::build(
                component_settings("provisioning", &config.provisioning)?,
                provisioning::Dependencies {
                    bus,
                    identity,
                    clock,
                    page_tokens,
                },
            )
            .await?,
        )),
        _ => Runner::Notification(Box::new(
            notification::App::build(
                component_settings("notification", &config.notification)?,
                notification::Dependencies {
                    bus,
                    identity,
                    clock,
                    page_tokens,
                },
            )
            .await?,
        )),
    })
}
