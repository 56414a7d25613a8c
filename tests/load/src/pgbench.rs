//! The database's ceiling: `pgbench` running one checkout-shaped transaction (an order row, its
//! item row and an outbox row, committed with the server's durability settings) on the same
//! PostgreSQL server, with the same client count as the load.

use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;
use sqlx::Connection as _;

/// What pgbench measured.
#[derive(Debug, Clone, Serialize)]
pub struct Ceiling {
    /// Transactions per second (without connection time).
    pub tps: f64,
    /// Average transaction latency, milliseconds.
    pub latency_avg_ms: f64,
    /// Client connections.
    pub clients: u32,
    /// Duration.
    pub seconds: u32,
    /// The server's `fsync` setting (must be `on` for a fair ceiling).
    pub fsync: String,
    /// The server's `synchronous_commit` setting.
    pub synchronous_commit: String,
}

const SCHEMA: &str = "
CREATE TABLE orders (
    id TEXT PRIMARY KEY, reseller_id TEXT NOT NULL, customer_id TEXT NOT NULL,
    number TEXT NOT NULL UNIQUE, status TEXT NOT NULL, request_key TEXT NOT NULL,
    has_autodesk BIGINT NOT NULL, markup_only BIGINT NOT NULL, created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL, version BIGINT NOT NULL, doc TEXT NOT NULL,
    UNIQUE (reseller_id, request_key));
CREATE INDEX orders_by_reseller ON orders (reseller_id, created_at, id);
CREATE TABLE order_items (
    id TEXT PRIMARY KEY, order_id TEXT NOT NULL REFERENCES orders (id), plan_id TEXT NOT NULL,
    quantity BIGINT NOT NULL, status TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE outbox (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL, headers TEXT NOT NULL, payload BYTEA NOT NULL,
    created_at BIGINT NOT NULL, published_at BIGINT);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
";

/// One checkout: order (≈1.5 KB document, like the service's), item, outbox event (≈400 B).
const SCRIPT: &str = "\\set r random(1, 1000000000)
BEGIN;
INSERT INTO orders VALUES ('o' || txid_current(), 'reseller-demo', 'c' || :r, 'N' || txid_current(), 'SUBMITTED', 'k' || txid_current(), 0, 0, (extract(epoch from clock_timestamp()) * 1000000)::bigint, (extract(epoch from clock_timestamp()) * 1000000)::bigint, 1, repeat(md5(:r::text), 48));
INSERT INTO order_items VALUES ('i' || txid_current(), 'o' || txid_current(), 'plan-ms365-business-basic-monthly', 1, 'PENDING', repeat(md5(:r::text), 12));
INSERT INTO outbox (id, subject, headers, payload, created_at) VALUES ('e' || txid_current(), 'marketplace.ordering.order_submitted', '[]', decode(repeat(md5(:r::text), 12), 'hex'), (extract(epoch from clock_timestamp()) * 1000000)::bigint);
COMMIT;
";

/// Runs the ceiling in a scratch database created from `admin_url` (dropped afterwards).
pub async fn measure(
    admin_url: &str,
    clients: u32,
    seconds: u32,
    run_dir: &Path,
) -> anyhow::Result<Ceiling> {
    let name = format!(
        "mkt_load_pgbench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let url = crate::cluster::url_with_database(admin_url, &name)?;
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .with_context(|| format!("cannot reach PostgreSQL at {admin_url}"))?;
    let fsync: String = sqlx::query_scalar("SHOW fsync")
        .fetch_one(&mut admin)
        .await?;
    let synchronous_commit: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&mut admin)
        .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    let result = run(&url, clients, seconds, run_dir).await;
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
    let (tps, latency_avg_ms) = result?;
    Ok(Ceiling {
        tps,
        latency_avg_ms,
        clients,
        seconds,
        fsync,
        synchronous_commit,
    })
}

async fn run(url: &str, clients: u32, seconds: u32, run_dir: &Path) -> anyhow::Result<(f64, f64)> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::raw_sql(SCHEMA).execute(&mut conn).await?;
    conn.close().await?;
    let script = run_dir.join("checkout.pgbench.sql");
    std::fs::write(&script, SCRIPT)?;
    let threads = clients.clamp(1, 4);
    let output = tokio::process::Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-c"])
        .arg(clients.to_string())
        .arg("-j")
        .arg(threads.to_string())
        .arg("-T")
        .arg(seconds.to_string())
        .arg("-f")
        .arg(&script)
        .arg(url)
        .output()
        .await
        .context("cannot run pgbench (install PostgreSQL's client tools)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "pgbench failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse_output(&stdout).with_context(|| format!("unexpected pgbench output:\n{stdout}"))
}

/// Reads `tps = …` and `latency average = … ms` from pgbench's report.
pub fn parse_output(stdout: &str) -> Option<(f64, f64)> {
    let number_after = |prefix: &str| {
        stdout.lines().find_map(|line| {
            line.trim()
                .strip_prefix(prefix)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<f64>().ok())
        })
    };
    Some((number_after("tps = ")?, number_after("latency average = ")?))
}

#[cfg(test)]
mod tests {
    use super::parse_output;

    #[test]
    fn reads_tps_and_latency() {
        let out = "number of transactions actually processed: 9000\nlatency average = 5.123 ms\ninitial connection time = 12.000 ms\ntps = 1561.748318 (without initial connection time)\n";
        assert_eq!(parse_output(out), Some((1561.748318, 5.123)));
        assert_eq!(parse_output("nothing"), None);
    }
}
