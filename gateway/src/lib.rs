//! The API gateway: the public edge of the marketplace.
//!
//! * REST/JSON for frontends on the HTTP listener: every `google.api.http` binding of the public
//!   contracts, RFC 9457 problems, `Idempotency-Key`, `ETag`/`If-Match`, Server-Sent
//!   Events for live order status, OpenAPI 3.1 at `/openapi.json`, `/health/livez|readyz`.
//! * Native gRPC (and gRPC-Web with CORS) for partners on the gRPC listener: a transparent,
//!   authenticating proxy to the owning services, with health and reflection served locally.
//! * Authentication (JWT for people, API keys for partner systems), the role × operation matrix,
//!   rate limits per principal and per tenant, body size limits, per-route timeouts and a
//!   concurrency limit.
//! * Observability: every request is traced (started here when the caller sent no
//!   `traceparent`, answered as `traceparent` and `x-request-id`) and measured (Prometheus
//!   metrics by route/RPC, method and status; see `observe`).
//!
//! The caller's identity travels to the services as a signed `x-marketplace-identity` token;
//! client-sent identities are stripped.

// Problem documents are returned by value on the cold error path; boxing them buys nothing.
#![allow(clippy::result_large_err)]
#![warn(missing_docs)]

extern crate marketplace_platform as platform;

mod api_keys;
mod auth;
mod descriptor;
mod grpc_proxy;
mod idempotency;
mod jwt;
mod observe;
mod openapi;
mod problem;
mod ratelimit;
mod rest;
mod roles;
mod server;
mod state;
mod store;
mod tls;
mod upstream;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use platform::clock::SharedClock;
use platform::db::{DatabaseSettings, Migrations};
use platform::grpc_server::ServerSettings;
use platform::identity::IdentityKey;
use platform::paging::PageTokens;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use jwt::{AuthSettings, Claims, demo_token};
pub use problem::{PROBLEM_JSON, Problem, ProblemField};
pub use ratelimit::RateLimitSettings;
pub use roles::{MATRIX as ROLE_MATRIX, allowed_roles};

/// Settings of the REST listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    /// Default deadline of a REST call (milliseconds). Event streams are not limited by it.
    pub request_timeout_ms: u64,
    /// Per-operation deadlines by RPC name (e.g. `CheckoutCart = 60000`), case-insensitive.
    pub route_timeouts_ms: BTreeMap<String, u64>,
    /// Largest accepted request body (bytes).
    pub max_body_bytes: usize,
    /// Requests served at once.
    pub concurrency_limit: usize,
    /// How long readiness reports "not ready" before the listeners close (milliseconds).
    pub grace_period_ms: u64,
    /// How long in-flight requests may take to finish after that (milliseconds).
    pub drain_timeout_ms: u64,
    /// Origins allowed by CORS (`*` = any).
    pub cors_allowed_origins: Vec<String>,
    /// How long an `Idempotency-Key` is remembered (seconds).
    pub idempotency_ttl_secs: u64,
    /// Refuse POSTs without an `Idempotency-Key`.
    pub require_idempotency_key: bool,
    /// Longest life of a Server-Sent Events stream (seconds); clients reconnect after it.
    pub stream_max_secs: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            request_timeout_ms: 30_000,
            route_timeouts_ms: BTreeMap::new(),
            max_body_bytes: 1024 * 1024,
            concurrency_limit: 1024,
            grace_period_ms: 0,
            drain_timeout_ms: 10_000,
            cors_allowed_origins: vec!["*".to_string()],
            idempotency_ttl_secs: 24 * 3600,
            require_idempotency_key: false,
            stream_max_secs: 3600,
        }
    }
}

impl HttpSettings {
    /// The deadline of an operation.
    pub fn timeout_for(&self, rpc: &str) -> Duration {
        let ms = self
            .route_timeouts_ms
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(rpc))
            .map(|(_, ms)| *ms)
            .unwrap_or(self.request_timeout_ms);
        Duration::from_millis(ms.max(1))
    }

    /// Longest life of an event stream.
    pub fn stream_max_duration(&self) -> Duration {
        Duration::from_secs(self.stream_max_secs.max(1))
    }
}

fn default_catalog_url() -> String {
    "http://127.0.0.1:50051".into()
}
fn default_ordering_url() -> String {
    "http://127.0.0.1:50052".into()
}
fn default_provisioning_url() -> String {
    "http://127.0.0.1:50053".into()
}
fn default_notification_url() -> String {
    "http://127.0.0.1:50054".into()
}

/// Gateway settings.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// The gateway's own database (API keys, idempotency records).
    pub database: DatabaseSettings,
    /// gRPC listener: request timeout, concurrency limit, grace period, drain timeout.
    #[serde(default)]
    pub server: ServerSettings,
    /// REST listener.
    #[serde(default)]
    pub http: HttpSettings,
    /// JWT and API key authentication.
    #[serde(default)]
    pub auth: AuthSettings,
    /// Rate limits per principal and per tenant (both listeners).
    #[serde(default)]
    pub rate_limit: RateLimitSettings,
    /// Catalog service (`http://host:port`).
    #[serde(default = "default_catalog_url")]
    pub catalog_url: String,
    /// Ordering service.
    #[serde(default = "default_ordering_url")]
    pub ordering_url: String,
    /// Provisioning service.
    #[serde(default = "default_provisioning_url")]
    pub provisioning_url: String,
    /// Notification service.
    #[serde(default = "default_notification_url")]
    pub notification_url: String,
}

impl Settings {
    /// Settings with every default and the given database.
    pub fn with_database(database: DatabaseSettings) -> Self {
        Self {
            database,
            server: ServerSettings::default(),
            http: HttpSettings::default(),
            auth: AuthSettings::default(),
            rate_limit: RateLimitSettings::default(),
            catalog_url: default_catalog_url(),
            ordering_url: default_ordering_url(),
            provisioning_url: default_provisioning_url(),
            notification_url: default_notification_url(),
        }
    }
}

/// What the gateway is given by its host process.
#[derive(Debug, Clone)]
pub struct Dependencies {
    /// Signs the identity forwarded to services (and verifies it in the in-process API key service).
    pub identity: IdentityKey,
    /// Clock.
    pub clock: SharedClock,
    /// Page tokens of the API key list.
    pub page_tokens: PageTokens,
}

/// A built gateway, ready to serve.
pub struct App {
    gateway: Arc<state::Gateway>,
    settings: Settings,
    jwt: jwt::JwtVerifier,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("routes", &self.gateway.routes.len())
            .finish_non_exhaustive()
    }
}

impl App {
    /// Connects and migrates the database, loads the JWT keys, prepares the service channels
    /// (connected lazily), the routes and the OpenAPI document.
    pub async fn build(settings: Settings, deps: Dependencies) -> anyhow::Result<App> {
        let db = platform::db::Database::connect(&settings.database).await?;
        db.migrate(&Migrations {
            postgres: sqlx::migrate!("migrations/postgres"),
            sqlite: sqlx::migrate!("migrations/sqlite"),
        })
        .await?;
        let store = store::Store::new(db);
        let jwt = jwt::JwtVerifier::new(&settings.auth).await?;
        let api_keys = api_keys::ApiKeys::new(store.clone(), deps.clock.clone());
        let authenticator = auth::Authenticator::new(jwt.clone(), api_keys);

        let longest = settings
            .http
            .route_timeouts_ms
            .values()
            .copied()
            .chain([
                settings.http.request_timeout_ms,
                settings.server.request_timeout_ms,
            ])
            .max()
            .unwrap_or(30_000);
        let channel_timeout = Duration::from_millis(longest.max(1));
        let api_key_service = api_keys::ApiKeyGrpc::new(
            store.clone(),
            deps.identity.clone(),
            deps.clock.clone(),
            deps.page_tokens.clone(),
        );
        let upstreams = upstream::Upstreams {
            catalog: upstream::remote(&settings.catalog_url, channel_timeout)
                .map_err(|e| anyhow::anyhow!("setting `catalog_url`: {e}"))?,
            ordering: upstream::remote(&settings.ordering_url, channel_timeout)
                .map_err(|e| anyhow::anyhow!("setting `ordering_url`: {e}"))?,
            provisioning: upstream::remote(&settings.provisioning_url, channel_timeout)
                .map_err(|e| anyhow::anyhow!("setting `provisioning_url`: {e}"))?,
            notification: upstream::remote(&settings.notification_url, channel_timeout)
                .map_err(|e| anyhow::anyhow!("setting `notification_url`: {e}"))?,
            gateway: upstream::local(
                marketplace_proto::gateway::v1::api_key_service_server::ApiKeyServiceServer::new(
                    api_key_service,
                ),
            ),
        };

        let api = descriptor::Api::decode(marketplace_proto::FILE_DESCRIPTOR_SET)?;
        let routes = rest::build_routes(&api, &rest::registry())?;
        let openapi = serde_json::to_vec_pretty(&openapi::document(&api, &routes))?;
        let longest_rest = settings
            .http
            .route_timeouts_ms
            .values()
            .copied()
            .chain([settings.http.request_timeout_ms])
            .max()
            .unwrap_or(30_000);
        let idempotency = idempotency::Idempotency::new(
            store.clone(),
            deps.clock.clone(),
            Duration::from_secs(settings.http.idempotency_ttl_secs.max(1)),
            Duration::from_millis(longest_rest) + Duration::from_secs(5),
        );
        let gateway = state::Gateway {
            api,
            routes,
            upstreams,
            auth: authenticator,
            identity: deps.identity,
            limiter: ratelimit::RateLimiter::new(settings.rate_limit.clone()),
            idempotency,
            store,
            http: settings.http.clone(),
            grpc_max_request_bytes: settings.server.max_message_bytes.saturating_add(5),
            openapi: openapi.into(),
            stopping: CancellationToken::new(),
            shutdown: CancellationToken::new(),
        };
        Ok(App {
            gateway: Arc::new(gateway),
            settings,
            jwt,
        })
    }

    /// The OpenAPI document (also served at `/openapi.json`).
    pub fn openapi_json(&self) -> &[u8] {
        &self.gateway.openapi
    }

    /// Serves REST on `http_listener` and gRPC (+ gRPC-Web) on `grpc_listener` until `shutdown`
    /// is cancelled; then readiness turns off, the grace period passes, the listeners close and
    /// in-flight requests drain (up to the drain timeout).
    pub async fn run(
        self,
        http_listener: TcpListener,
        grpc_listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        if let Some(url) = self.settings.auth.jwks_url.clone() {
            self.jwt.spawn_refresh(
                url,
                Duration::from_secs(self.settings.auth.jwks_refresh_secs),
                self.gateway.shutdown.clone(),
            );
        }
        server::run(
            self.gateway,
            self.settings,
            http_listener,
            grpc_listener,
            shutdown,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_need_only_a_database_and_redact_secrets() {
        let settings: Settings = platform::config::load(
            "[database]\nurl = \"sqlite::memory:\"\n[auth]\njwt_hs256_secret = \"0123456789abcdef0123456789abcdef\"\n[http.route_timeouts_ms]\nCheckoutCart = 60000\n",
            None,
            "GATEWAY_SETTINGS_TEST_",
        )
        .unwrap();
        assert_eq!(settings.catalog_url, "http://127.0.0.1:50051");
        assert_eq!(settings.http.max_body_bytes, 1024 * 1024);
        assert_eq!(
            settings.http.timeout_for("checkoutcart"),
            Duration::from_secs(60)
        );
        assert_eq!(
            settings.http.timeout_for("GetOrder"),
            Duration::from_secs(30)
        );
        assert!(settings.rate_limit.enabled);
        assert!(!format!("{settings:?}").contains("0123456789abcdef"));
    }
}
