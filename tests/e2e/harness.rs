//! Starting the marketplace for a test and talking to its gateway.

use std::time::Duration;

use marketplace::{Config, Role, Running};
use marketplace_platform::db::{Backend, testing};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Which deployment shape a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// One process, SQLite files, in-process bus.
    Embedded,
    /// Separate listeners and PostgreSQL databases per service, NATS JetStream.
    Distributed,
}

/// A running marketplace plus a REST client with a demo reseller-admin token.
pub(crate) struct Marketplace {
    pub(crate) running: Option<Running>,
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) token: String,
    shutdown: CancellationToken,
    /// NATS URL and stream prefix to delete afterwards (distributed mode).
    nats_streams: Option<(String, String)>,
    /// JWT secret, issuer and audience, to mint tokens for other principals.
    jwt: (String, String, String),
}

impl Drop for Marketplace {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// NATS URL for distributed tests, or None (skipped) when unreachable outside CI.
pub(crate) async fn nats_url() -> Option<String> {
    let explicit = std::env::var("MARKETPLACE_TEST_NATS_URL")
        .ok()
        .filter(|s| !s.is_empty());
    let url = explicit
        .clone()
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_string());
    let host = url.trim_start_matches("nats://").to_string();
    let reachable = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(&host),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    if reachable {
        Some(url)
    } else if std::env::var_os("CI").is_some() || explicit.is_some() {
        panic!(
            "NATS JetStream is required but unreachable at {url} (CI or MARKETPLACE_TEST_NATS_URL set)"
        );
    } else {
        eprintln!("notice: NATS not reachable at {url}; skipping distributed variant");
        None
    }
}

/// The modes available on this machine (distributed needs PostgreSQL and NATS; required in CI).
pub(crate) async fn modes() -> Vec<Mode> {
    let mut modes = vec![Mode::Embedded];
    if testing::postgres_admin_url().await.is_some() && nats_url().await.is_some() {
        modes.push(Mode::Distributed);
    }
    modes
}

/// Sets `path` (dotted) in a service's configuration section.
pub(crate) fn set(section: &mut Value, path: &str, value: Value) {
    marketplace::config::set_key(section, path, value);
}

/// Starts the marketplace in `mode` with zero-delay sandbox vendors.
pub(crate) async fn start(mode: Mode) -> Marketplace {
    start_with(mode, |_| {}).await
}

/// Like [`start`], with `tweak` applied to the configuration last.
pub(crate) async fn start_with(mode: Mode, tweak: impl FnOnce(&mut Config)) -> Marketplace {
    marketplace_platform::telemetry::init_for_tests();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = Config::load(None).expect("default config loads");
    config.role = Role::All;
    config.vendor_sim.provisioning_delay_ms = 0;
    set(&mut config.gateway, "listen_http", json!("127.0.0.1:0"));
    set(&mut config.gateway, "listen_grpc", json!("127.0.0.1:0"));
    let backend = match mode {
        Mode::Embedded => Backend::Sqlite,
        Mode::Distributed => Backend::Postgres,
    };
    for section in [
        &mut config.gateway,
        &mut config.catalog,
        &mut config.ordering,
        &mut config.provisioning,
        &mut config.notification,
    ] {
        let url = testing::fresh_database_url(backend).await;
        set(section, "database.url", json!(url));
    }
    let mut nats_streams = None;
    if mode == Mode::Distributed {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        config.bus.url = nats_url().await.expect("nats reachable");
        config.bus.stream_prefix = format!("E2E_{unique}");
        config.bus.subject_prefix = format!("e2e{unique}");
        nats_streams = Some((config.bus.url.clone(), config.bus.stream_prefix.clone()));
    }
    let secret = config.gateway["auth"]["jwt_hs256_secret"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let issuer = config.gateway["auth"]["jwt_issuer"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let audience = config.gateway["auth"]["jwt_audience"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    tweak(&mut config);
    let shutdown = CancellationToken::new();
    let running = marketplace::start(config, shutdown.clone())
        .await
        .expect("marketplace starts");
    let base = format!("http://{}", running.gateway_http.expect("gateway runs"));
    let jwt = (secret.clone(), issuer.clone(), audience.clone());
    let token = gateway::demo_token(
        &secret,
        &issuer,
        &audience,
        "e2e-reseller-admin",
        "reseller_admin",
        Some("reseller-demo"),
        None,
        Duration::from_secs(3600),
    );
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client");
    Marketplace {
        running: Some(running),
        base,
        http,
        token,
        shutdown,
        nats_streams,
        jwt,
    }
}

impl Marketplace {
    /// A bearer token for another principal.
    pub(crate) fn token_for(
        &self,
        role: &str,
        reseller_id: Option<&str>,
        customer_id: Option<&str>,
    ) -> String {
        let (secret, issuer, audience) = &self.jwt;
        gateway::demo_token(
            secret,
            issuer,
            audience,
            &format!("e2e-{role}"),
            role,
            reseller_id,
            customer_id,
            Duration::from_secs(3600),
        )
    }

    /// A request with `token`, returning status and JSON body (no success assertion).
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (reqwest::StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request
                .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
                .json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// GET a JSON resource, asserting success.
    pub(crate) async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "GET {path} -> {status}: {body}");
        body
    }

    /// POST JSON, asserting success.
    pub(crate) async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .json(&body)
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path} -> {status}: {body}");
        body
    }

    /// Polls `GET path` until `done` holds, failing after `deadline`.
    pub(crate) async fn eventually(
        &self,
        path: &str,
        deadline: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let value = self.get(path).await;
            if done(&value) {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "condition on {path} not reached; last: {value}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops everything and reports component failures.
    pub(crate) async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("clean shutdown");
        }
        if let Some((url, prefix)) = self.nats_streams.take() {
            delete_streams(&url, &prefix).await;
        }
    }
}

/// Deletes this test's JetStream streams so repeated runs leave nothing behind.
pub(crate) async fn delete_streams(url: &str, prefix: &str) {
    use futures::TryStreamExt;
    let Ok(client) = async_nats::connect(url).await else {
        return;
    };
    let jetstream = async_nats::jetstream::new(client);
    let names: Vec<String> = jetstream
        .stream_names()
        .try_collect()
        .await
        .unwrap_or_default();
    for name in names.into_iter().filter(|n| n.starts_with(prefix)) {
        let _ = jetstream.delete_stream(&name).await;
    }
}
