//! The marketplace as real processes: the distributed shape (one process per component, its own
//! PostgreSQL database each, NATS JetStream between them, optional standalone outbox relays) or
//! the embedded all-in-one (SQLite files, in-process bus). Components can be killed with
//! `SIGKILL` and restarted on the same addresses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use sqlx::Connection as _;

use crate::nats_server::NatsServer;
use crate::process::{Managed, free_port, wait_for_port};

/// Which shape to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One process per component, PostgreSQL, NATS JetStream.
    Distributed,
    /// One process, SQLite, in-process bus.
    Embedded,
}

impl Mode {
    /// Parses `distributed` or `embedded`.
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        match s {
            "distributed" => Ok(Self::Distributed),
            "embedded" => Ok(Self::Embedded),
            other => anyhow::bail!("mode must be distributed or embedded (got {other:?})"),
        }
    }
}

/// How to start the marketplace.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Shape.
    pub mode: Mode,
    /// The `marketplace` binary (build it with `cargo build --release`).
    pub binary: PathBuf,
    /// PostgreSQL admin URL; a fresh database per component is created from it (distributed).
    pub postgres_admin_url: String,
    /// Use this NATS server; `None` starts one of the run's own (distributed).
    pub nats_url: Option<String>,
    /// Run the outbox relays as a separate `relay` process instead of inside the services.
    pub standalone_relays: bool,
    /// SMTP server for the notification service; `None` = its in-process sandbox.
    pub smtp_url: Option<String>,
    /// Where logs, SQLite files and the NATS store go.
    pub run_dir: PathBuf,
    /// Pool size of every service's database (PostgreSQL).
    pub db_pool: u32,
    /// More `MARKETPLACE_*` settings for every process.
    pub extra_env: Vec<(String, String)>,
}

impl ClusterOptions {
    /// Defaults: release binary of this workspace, local PostgreSQL, own NATS, relays inside the
    /// services, sandbox SMTP, a fresh directory under `target/load-runs/`.
    pub fn new(mode: Mode) -> Self {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let run_dir = workspace.join("target/load-runs").join(format!(
            "{}-{}",
            match mode {
                Mode::Distributed => "distributed",
                Mode::Embedded => "embedded",
            },
            uuid::Uuid::new_v4().simple()
        ));
        Self {
            mode,
            binary: workspace.join("target/release/marketplace"),
            postgres_admin_url: std::env::var("MARKETPLACE_TEST_DATABASE_URL")
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into()),
            nats_url: None,
            standalone_relays: false,
            smtp_url: None,
            run_dir,
            db_pool: 16,
            extra_env: Vec::new(),
        }
    }
}

/// JWT settings the gateway of this cluster accepts (HS256 demo signing).
const JWT_ISSUER: &str = "marketplace-load";
const JWT_AUDIENCE: &str = "marketplace";

/// The components of the distributed shape, in start order.
pub const COMPONENTS: [&str; 6] = [
    "vendor-sim",
    "catalog",
    "ordering",
    "provisioning",
    "notification",
    "gateway",
];

/// A running marketplace.
#[derive(Debug)]
pub struct Cluster {
    /// Shape.
    pub mode: Mode,
    /// Gateway REST base URL.
    pub gateway_http: String,
    /// Gateway gRPC URL.
    pub gateway_grpc: String,
    /// Autodesk and Microsoft simulator base URLs.
    pub vendor_urls: (String, String),
    /// Database URL of each component (distributed).
    pub databases: BTreeMap<String, String>,
    /// The bus URL and the stream prefix (distributed).
    pub bus: Option<(String, String)>,
    /// Where logs go.
    pub run_dir: PathBuf,
    processes: BTreeMap<String, Managed>,
    ports: BTreeMap<String, u16>,
    nats: Option<NatsServer>,
    admin_url: String,
    /// Database name of each component (distributed), to drop afterwards.
    database_names: BTreeMap<String, String>,
    jwt_secret: String,
}

impl Cluster {
    /// Starts every component and returns once all serve.
    pub async fn start(options: ClusterOptions) -> anyhow::Result<Self> {
        anyhow::ensure!(
            options.binary.exists(),
            "{} not found: build it first with `cargo build --release`",
            options.binary.display()
        );
        std::fs::create_dir_all(&options.run_dir)?;
        let jwt_secret = hex::encode(rand::random::<[u8; 32]>());
        let internal_key = hex::encode(rand::random::<[u8; 32]>());
        let mut common = vec![
            ("MARKETPLACE_TELEMETRY__LOG_FORMAT".into(), "json".into()),
            (
                "MARKETPLACE_TELEMETRY__LOG_FILTER".into(),
                "warn,async_nats=error".into(),
            ),
            ("MARKETPLACE_AUTH__INTERNAL_KEY".into(), internal_key),
            (
                "MARKETPLACE_GATEWAY__AUTH__JWT_HS256_SECRET".into(),
                jwt_secret.clone(),
            ),
            (
                "MARKETPLACE_GATEWAY__AUTH__JWT_ISSUER".into(),
                JWT_ISSUER.into(),
            ),
            (
                "MARKETPLACE_GATEWAY__AUTH__JWT_AUDIENCE".into(),
                JWT_AUDIENCE.into(),
            ),
            // One load-tool principal drives far more than a person would.
            (
                "MARKETPLACE_GATEWAY__RATE_LIMIT__ENABLED".into(),
                "false".into(),
            ),
            (
                "MARKETPLACE_VENDOR_SIM__PROVISIONING_DELAY_MS".into(),
                "0".into(),
            ),
            (
                "MARKETPLACE_NOTIFICATION__WEBHOOKS__ALLOW_LOOPBACK".into(),
                "true".into(),
            ),
        ];
        common.extend(options.extra_env.iter().cloned());
        if let Some(url) = &options.smtp_url {
            common.push(("MARKETPLACE_NOTIFICATION__SMTP__URL".into(), url.clone()));
        }
        let mut ports = BTreeMap::new();
        for name in [
            "catalog",
            "ordering",
            "provisioning",
            "notification",
            "gateway-http",
            "gateway-grpc",
            "autodesk",
            "microsoft",
        ] {
            ports.insert(name.to_string(), free_port()?);
        }
        let port = |name: &str| ports[name];
        let addr = |name: &str| format!("127.0.0.1:{}", port(name));
        let vendor_urls = (
            format!("http://{}", addr("autodesk")),
            format!("http://{}", addr("microsoft")),
        );
        common.extend([
            (
                "MARKETPLACE_GATEWAY__LISTEN_HTTP".into(),
                addr("gateway-http"),
            ),
            (
                "MARKETPLACE_GATEWAY__LISTEN_GRPC".into(),
                addr("gateway-grpc"),
            ),
            (
                "MARKETPLACE_VENDOR_SIM__AUTODESK_LISTEN".into(),
                addr("autodesk"),
            ),
            (
                "MARKETPLACE_VENDOR_SIM__MICROSOFT_LISTEN".into(),
                addr("microsoft"),
            ),
        ]);

        let mut cluster = Self {
            mode: options.mode,
            gateway_http: format!("http://{}", addr("gateway-http")),
            gateway_grpc: format!("http://{}", addr("gateway-grpc")),
            vendor_urls,
            databases: BTreeMap::new(),
            bus: None,
            run_dir: options.run_dir.clone(),
            processes: BTreeMap::new(),
            ports: ports.clone(),
            nats: None,
            admin_url: options.postgres_admin_url.clone(),
            database_names: BTreeMap::new(),
            jwt_secret,
        };
        match options.mode {
            Mode::Embedded => cluster.start_embedded(&options, common).await?,
            Mode::Distributed => cluster.start_distributed(&options, common).await?,
        }
        Ok(cluster)
    }

    async fn start_embedded(
        &mut self,
        options: &ClusterOptions,
        mut env: Vec<(String, String)>,
    ) -> anyhow::Result<()> {
        for component in [
            "gateway",
            "catalog",
            "ordering",
            "provisioning",
            "notification",
        ] {
            let file = options.run_dir.join(format!("{component}.db"));
            env.push((
                format!(
                    "MARKETPLACE_{}__DATABASE__URL",
                    component.to_ascii_uppercase()
                ),
                format!("sqlite://{}", file.display()),
            ));
        }
        let process = Managed::new(
            "all",
            &options.binary,
            vec!["all".into()],
            env,
            &options.run_dir,
        );
        self.processes.insert("all".into(), process);
        self.restart("all").await
    }

    async fn start_distributed(
        &mut self,
        options: &ClusterOptions,
        mut common: Vec<(String, String)>,
    ) -> anyhow::Result<()> {
        let bus_url = match &options.nats_url {
            Some(url) => url.clone(),
            None => {
                let nats = NatsServer::start(&options.run_dir).await?;
                let url = nats.url();
                self.nats = Some(nats);
                url
            }
        };
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let stream_prefix = format!("LOAD_{}", &unique[..12]);
        self.bus = Some((bus_url.clone(), stream_prefix.clone()));
        common.extend([
            ("MARKETPLACE_BUS__URL".into(), bus_url),
            ("MARKETPLACE_BUS__STREAM_PREFIX".into(), stream_prefix),
            (
                "MARKETPLACE_BUS__SUBJECT_PREFIX".into(),
                format!("load{}", &unique[..12]),
            ),
        ]);
        for service in ["catalog", "ordering", "provisioning", "notification"] {
            let upper = service.to_ascii_uppercase();
            common.push((
                format!("MARKETPLACE_{upper}__URL"),
                format!("http://127.0.0.1:{}", self.ports[service]),
            ));
        }
        for component in [
            "gateway",
            "catalog",
            "ordering",
            "provisioning",
            "notification",
        ] {
            let name = format!("mkt_load_{}_{component}", &unique[..12]);
            let url = self.create_database(&name).await?;
            self.database_names.insert(component.to_string(), name);
            let upper = component.to_ascii_uppercase();
            common.push((format!("MARKETPLACE_{upper}__DATABASE__URL"), url.clone()));
            common.push((
                format!("MARKETPLACE_{upper}__DATABASE__MAX_CONNECTIONS"),
                options.db_pool.to_string(),
            ));
            self.databases.insert(component.to_string(), url);
        }
        common.push((
            "MARKETPLACE_PROVISIONING__AUTODESK__BASE_URL".into(),
            self.vendor_urls.0.clone(),
        ));
        common.push((
            "MARKETPLACE_PROVISIONING__MICROSOFT__BASE_URL".into(),
            self.vendor_urls.1.clone(),
        ));
        let mut names: Vec<&str> = COMPONENTS.to_vec();
        if options.standalone_relays {
            common.push(("MARKETPLACE_ORDERING__OUTBOX_RELAY".into(), "false".into()));
            common.push((
                "MARKETPLACE_PROVISIONING__OUTBOX_RELAY".into(),
                "false".into(),
            ));
            names.push("relay");
        }
        for name in &names {
            let mut env = common.clone();
            let upper = name.to_ascii_uppercase();
            if self.ports.contains_key(*name) {
                env.push((
                    format!("MARKETPLACE_{upper}__LISTEN"),
                    format!("127.0.0.1:{}", self.ports[*name]),
                ));
            }
            let process = Managed::new(
                name,
                &options.binary,
                vec![(*name).to_string()],
                env,
                &options.run_dir,
            );
            self.processes.insert((*name).to_string(), process);
        }
        // Migrate every component once first, so that concurrent restarts later never race
        // on a fresh schema.
        for name in [
            "catalog",
            "ordering",
            "provisioning",
            "notification",
            "gateway",
        ] {
            self.migrate(name, options).await?;
        }
        for name in names {
            self.restart(name).await?;
        }
        Ok(())
    }

    async fn migrate(&self, name: &str, options: &ClusterOptions) -> anyhow::Result<()> {
        let env: Vec<(String, String)> = self.env_of(name);
        let output = tokio::process::Command::new(&options.binary)
            .arg(name)
            .arg("--migrate-only")
            .envs(env)
            .output()
            .await?;
        anyhow::ensure!(
            output.status.success(),
            "{name} --migrate-only failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }

    fn env_of(&self, name: &str) -> Vec<(String, String)> {
        self.processes[name].env().to_vec()
    }

    async fn create_database(&self, name: &str) -> anyhow::Result<String> {
        let url = url_with_database(&self.admin_url, name)?;
        let mut admin = sqlx::PgConnection::connect(&self.admin_url)
            .await
            .with_context(|| format!("cannot reach PostgreSQL at {}", self.admin_url))?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        Ok(url)
    }

    /// Names of the processes (`all` in embedded mode).
    pub fn process_names(&self) -> Vec<String> {
        self.processes.keys().cloned().collect()
    }

    /// Kills a component with `SIGKILL`.
    pub async fn kill9(&mut self, name: &str) -> anyhow::Result<()> {
        let process = self
            .processes
            .get_mut(name)
            .with_context(|| format!("no process {name}"))?;
        process.kill9().await;
        Ok(())
    }

    /// Pauses (`SIGSTOP`) or resumes (`SIGCONT`) components.
    pub async fn pause(&self, names: &[&str], pause: bool) {
        for name in names {
            if let Some(process) = self.processes.get(*name) {
                process.pause(pause).await;
            }
        }
    }

    /// (Re)starts a component and waits until it serves.
    pub async fn restart(&mut self, name: &str) -> anyhow::Result<()> {
        let process = self
            .processes
            .get_mut(name)
            .with_context(|| format!("no process {name}"))?;
        process.kill9().await;
        process.spawn()?;
        let ready = self.wait_ready(name).await;
        if let Err(error) = ready {
            let tail = self.processes[name].log_tail(20);
            anyhow::bail!("{name} did not become ready: {error:#}\n--- {name} log ---\n{tail}");
        }
        Ok(())
    }

    async fn wait_ready(&mut self, name: &str) -> anyhow::Result<()> {
        let deadline = Duration::from_secs(60);
        match name {
            "all" | "gateway" => {
                let url = format!("{}/health/readyz", self.gateway_http);
                let http = reqwest::Client::builder().no_proxy().build()?;
                let until = tokio::time::Instant::now() + deadline;
                loop {
                    if let Some(status) = self.processes.get_mut(name).and_then(Managed::exited) {
                        anyhow::bail!("exited with {status}");
                    }
                    let ok = http
                        .get(&url)
                        .timeout(Duration::from_secs(2))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    if ok {
                        return Ok(());
                    }
                    anyhow::ensure!(tokio::time::Instant::now() < until, "{url} not ready");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            "vendor-sim" => {
                wait_for_port(self.ports["autodesk"], deadline).await?;
                wait_for_port(self.ports["microsoft"], deadline).await
            }
            "relay" => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                match self.processes.get_mut(name).and_then(Managed::exited) {
                    Some(status) => anyhow::bail!("exited with {status}"),
                    None => Ok(()),
                }
            }
            service => self.wait_serving(service, deadline).await,
        }
    }

    async fn wait_serving(&mut self, service: &str, deadline: Duration) -> anyhow::Result<()> {
        let url = format!("http://127.0.0.1:{}", self.ports[service]);
        let until = tokio::time::Instant::now() + deadline;
        loop {
            if let Some(status) = self.processes.get_mut(service).and_then(Managed::exited) {
                anyhow::bail!("exited with {status}");
            }
            if serving(&url).await {
                return Ok(());
            }
            anyhow::ensure!(tokio::time::Instant::now() < until, "{url} not serving");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A process that exited on its own since it was (re)started, with its log tail.
    pub fn crashed(&mut self) -> Option<(String, String)> {
        for (name, process) in self.processes.iter_mut() {
            if let Some(status) = process.exited() {
                return Some((name.clone(), format!("{status}\n{}", process.log_tail(20))));
            }
        }
        None
    }

    /// Resident memory of every process, KiB.
    pub fn rss_kib(&self) -> BTreeMap<String, u64> {
        self.processes
            .iter()
            .filter_map(|(name, p)| p.rss_kib().map(|rss| (name.clone(), rss)))
            .collect()
    }

    /// Process ids of the running components (and the run's own NATS server), by pid.
    pub fn pids(&self) -> BTreeMap<u32, String> {
        let mut pids: BTreeMap<u32, String> = self
            .processes
            .iter()
            .filter_map(|(name, p)| p.pid().map(|pid| (pid, name.clone())))
            .collect();
        if let Some(pid) = self.nats.as_ref().and_then(NatsServer::pid) {
            pids.insert(pid, "nats".into());
        }
        pids
    }

    /// PostgreSQL backend processes serving this cluster's databases, as `pg:<component>`
    /// (to attribute the database's CPU to the component whose queries it ran).
    pub async fn postgres_backends(&self) -> BTreeMap<u32, String> {
        let mut out = BTreeMap::new();
        let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await else {
            return out;
        };
        let rows: Vec<(i32, String)> = sqlx::query_as(
            "SELECT pid, datname::text FROM pg_stat_activity WHERE datname IS NOT NULL",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap_or_default();
        for (pid, datname) in rows {
            if let Some((component, _)) = self
                .database_names
                .iter()
                .find(|(_, name)| **name == datname)
            {
                out.insert(pid as u32, format!("pg:{component}"));
            }
        }
        out
    }

    /// How many times each process was started.
    pub fn starts(&self) -> BTreeMap<String, u32> {
        self.processes
            .iter()
            .map(|(name, p)| (name.clone(), p.starts))
            .collect()
    }

    /// Restarts the run's own NATS server (distributed mode with an own server).
    pub async fn restart_nats(&mut self) -> anyhow::Result<()> {
        let nats = self
            .nats
            .as_mut()
            .context("this run uses an external NATS server")?;
        nats.restart().await
    }

    /// A bearer token for a principal of this cluster's gateway.
    pub fn token(
        &self,
        subject: &str,
        role: &str,
        reseller_id: Option<&str>,
        customer_id: Option<&str>,
    ) -> String {
        gateway::demo_token(
            &self.jwt_secret,
            JWT_ISSUER,
            JWT_AUDIENCE,
            subject,
            role,
            reseller_id,
            customer_id,
            Duration::from_secs(6 * 3600),
        )
    }

    /// Stops every process (`SIGTERM`, drain), NATS, and drops the databases unless `keep`.
    pub async fn stop(mut self, keep: bool) -> anyhow::Result<()> {
        for name in [
            "gateway",
            "all",
            "relay",
            "notification",
            "provisioning",
            "ordering",
            "catalog",
            "vendor-sim",
        ] {
            if let Some(process) = self.processes.get_mut(name) {
                process.terminate(Duration::from_secs(15)).await;
            }
        }
        if let Some(nats) = self.nats.as_mut() {
            nats.stop().await;
        }
        if !keep {
            let mut admin = sqlx::PgConnection::connect(&self.admin_url).await;
            if let Ok(admin) = admin.as_mut() {
                for name in self.database_names.values() {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut *admin)
                    .await;
                }
            }
            if self.mode == Mode::Distributed && self.nats.is_none() {
                // An external NATS keeps our streams otherwise.
                if let Some((url, prefix)) = &self.bus {
                    let _ = delete_streams(url, prefix).await;
                }
            }
        }
        Ok(())
    }
}

/// Deletes every JetStream stream whose name starts with `prefix`.
pub async fn delete_streams(url: &str, prefix: &str) -> anyhow::Result<()> {
    use futures::TryStreamExt as _;
    let client = async_nats::connect(url).await?;
    let js = async_nats::jetstream::new(client);
    let names: Vec<String> = js.stream_names().try_collect().await?;
    for name in names.into_iter().filter(|n| n.starts_with(prefix)) {
        let _ = js.delete_stream(&name).await;
    }
    Ok(())
}

/// Whether the gRPC health service at `url` answers SERVING.
async fn serving(url: &str) -> bool {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(url.to_string()) else {
        return false;
    };
    let Ok(channel) = endpoint
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(2))
        .connect()
        .await
    else {
        return false;
    };
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32)
}

/// `postgres://…/admin_db?x` with the database replaced by `name` (credentials, host and
/// parameters kept); an admin URL without a database path is an error.
pub(crate) fn url_with_database(admin: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin, None),
    };
    let slash = base.rfind('/').filter(|at| !base[..*at].ends_with('/'));
    let Some(slash) = slash else {
        anyhow::bail!(
            "the PostgreSQL admin URL {admin} names no database (expected postgres://user@host:port/postgres)"
        );
    };
    let mut url = format!("{}/{name}", &base[..slash]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::url_with_database;

    #[test]
    fn database_is_replaced_keeping_credentials_and_query() {
        assert_eq!(
            url_with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x").unwrap(),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert!(url_with_database("postgres://h", "x").is_err());
    }
}
