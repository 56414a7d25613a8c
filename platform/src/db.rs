//! Storage: one sqlx `Any` pool over PostgreSQL (production) or SQLite (embedded), chosen by the
//! database URL. Every service owns its schema and brings two migration sets (one per backend);
//! the platform adds its own tables (outbox, processed events) under a separate migrations table.
//!
//! Queries are runtime-checked and portable: `$1` placeholders, `ON CONFLICT`, `RETURNING`,
//! timestamps as BIGINT microseconds, money as BIGINT minor units. The only backend-specific SQL
//! is row locking ([`Database::skip_locked`]).

use std::borrow::Cow;
use std::time::Duration;

use serde::Deserialize;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use crate::config::{Secret, redact_url};

/// Which database engine a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// SQLite (file or memory).
    Sqlite,
}

impl Backend {
    /// The backend of a URL, or an error naming the setting.
    pub fn of_url(url: &str) -> Result<Self, crate::config::ConfigError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err(crate::config::ConfigError(format!(
                "setting `database.url` must start with postgres:// or sqlite: (got {})",
                redact_url(url)
            )))
        }
    }
}

/// Database settings of a service.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `postgres://user:pass@host/db` or `sqlite://path/to/file.db`.
    pub url: Secret,
    /// Pool size (SQLite: 1 writer connection avoids lock upgrades under load).
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// How long to wait for a connection before failing a request.
    #[serde(default = "default_acquire_timeout_ms")]
    pub acquire_timeout_ms: u64,
}

fn default_acquire_timeout_ms() -> u64 {
    5_000
}

/// The two migration sets of a service.
#[derive(Debug)]
pub struct Migrations {
    /// PostgreSQL migrations (`sqlx::migrate!("migrations/postgres")`).
    pub postgres: Migrator,
    /// SQLite migrations (`sqlx::migrate!("migrations/sqlite")`).
    pub sqlite: Migrator,
}

/// A connection pool and its backend.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

static PLATFORM_POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
static PLATFORM_SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");

impl Database {
    /// Connects (creating a missing SQLite file and its directory).
    pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        install_default_drivers();
        let url = settings.url.expose();
        let backend = Backend::of_url(url)?;
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let max = settings.max_connections.unwrap_or(match backend {
            Backend::Postgres => 10,
            Backend::Sqlite => 1,
        });
        let mut options = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms));
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;")
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = options
            .connect(&url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to database {}: {e}", redact_url(&url)))?;
        Ok(Self { pool, backend })
    }

    /// Runs the platform's and the service's migrations.
    pub async fn migrate(&self, service: &Migrations) -> anyhow::Result<()> {
        let (platform, own) = match self.backend {
            Backend::Postgres => (&PLATFORM_POSTGRES, &service.postgres),
            Backend::Sqlite => (&PLATFORM_SQLITE, &service.sqlite),
        };
        let mut platform = Migrator::with_migrations(platform.migrations.to_vec());
        platform.dangerous_set_table_name(Cow::Borrowed("_platform_migrations"));
        platform.run(&self.pool).await?;
        own.run(&self.pool).await?;
        Ok(())
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// `FOR UPDATE SKIP LOCKED` on PostgreSQL; nothing on SQLite (one writer at a time anyway).
    pub fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// Cheap readiness check.
    pub async fn check(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Sets `db_pool_connections{service, state = idle | used}` from the pool as it is now.
    pub fn record_pool_gauges(&self, service: &'static str) {
        let idle = self.pool.num_idle() as f64;
        metrics::gauge!("db_pool_connections", "service" => service, "state" => "idle").set(idle);
        metrics::gauge!("db_pool_connections", "service" => service, "state" => "used")
            .set(f64::from(self.pool.size()) - idle);
    }
}

/// Records `db`'s pool gauges every `interval` until `shutdown` (for a component without an
/// outbox; those with one use [`crate::outbox::sample_gauges`]).
pub async fn sample_pool_gauges(
    db: Database,
    service: &'static str,
    interval: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        db.record_pool_gauges(service);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

fn prepare_sqlite_url(url: &str) -> anyhow::Result<String> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.contains("mode=memory") {
        return Ok(url.to_string());
    }
    if let Some(parent) = std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)?;
    }
    let query = if query.is_empty() {
        "mode=rwc".to_string()
    } else if query.contains("mode=") {
        query.to_string()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// Maps a boolean to the stored integer (both backends store BOOLEAN-ish columns as BIGINT/INTEGER).
pub fn flag(b: bool) -> i64 {
    i64::from(b)
}

pub mod testing {
    //! Fresh databases for tests on either backend.
    //!
    //! PostgreSQL comes from `MARKETPLACE_TEST_DATABASE_URL` (an admin URL; each test gets its own
    //! new database). When it is unset, tests use `postgres://postgres@127.0.0.1:5432/postgres`
    //! if it answers; otherwise PostgreSQL variants are skipped with a notice — unless `CI` is
    //! set, where an unreachable PostgreSQL fails the run loudly.

    use super::*;
    use sqlx::Connection;

    /// Default admin URL tried when the env var is unset.
    pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

    /// The backends to run a test on: SQLite always, PostgreSQL when reachable (required in CI).
    pub async fn backends() -> Vec<Backend> {
        let mut out = vec![Backend::Sqlite];
        if postgres_admin_url().await.is_some() {
            out.push(Backend::Postgres);
        }
        out
    }

    /// The admin URL when PostgreSQL is reachable. Panics in CI when it is not.
    pub async fn postgres_admin_url() -> Option<String> {
        install_default_drivers();
        let explicit = std::env::var("MARKETPLACE_TEST_DATABASE_URL")
            .ok()
            .filter(|s| !s.is_empty());
        let url = explicit
            .clone()
            .unwrap_or_else(|| DEFAULT_ADMIN_URL.to_string());
        let reachable =
            tokio::time::timeout(Duration::from_secs(5), sqlx::AnyConnection::connect(&url)).await;
        match reachable {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                Some(url)
            }
            _ if std::env::var_os("CI").is_some() || explicit.is_some() => {
                panic!(
                    "PostgreSQL is required but unreachable at {} (CI or MARKETPLACE_TEST_DATABASE_URL set)",
                    redact_url(&url)
                )
            }
            _ => {
                eprintln!(
                    "notice: PostgreSQL not reachable at {}; skipping PostgreSQL variants",
                    redact_url(&url)
                );
                None
            }
        }
    }

    /// A URL of a brand-new empty database on `backend`.
    pub async fn fresh_database_url(backend: Backend) -> String {
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join("marketplace-tests");
                std::fs::create_dir_all(&dir).expect("temp dir");
                format!(
                    "sqlite://{}/{}.db",
                    dir.display(),
                    uuid::Uuid::new_v4().simple()
                )
            }
            Backend::Postgres => {
                let admin = postgres_admin_url().await.expect("PostgreSQL reachable");
                let name = format!("mkt_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::AnyConnection::connect(&admin)
                    .await
                    .expect("connect admin");
                conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("create database");
                let _ = conn.close().await;
                let mut url = url::Url::parse(&admin).expect("admin url");
                url.set_path(&format!("/{name}"));
                url.to_string()
            }
        }
    }

    /// Settings for a brand-new database on `backend`.
    pub async fn fresh_settings(backend: Backend) -> DatabaseSettings {
        DatabaseSettings {
            url: Secret::new(fresh_database_url(backend).await),
            max_connections: None,
            acquire_timeout_ms: 10_000,
        }
    }
}
