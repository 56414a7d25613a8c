//! `chaos`: places orders through the gateway while a controller kills (`SIGKILL`) and restarts
//! the ordering, provisioning and notification processes and the standalone outbox relay at
//! random moments, and restarts NATS once; then checks that nothing was lost or done twice
//! (see [`marketplace_load::chaos`]).
//!
//! ```text
//! cargo build --release
//! cargo run --release -p marketplace-load --bin chaos -- [--orders 2000] [--clients 8]
//!     [--kill-every-ms 2500] [--min-actions 20] [--seed N] [--settle-seconds 300]
//!     [--json FILE] [--keep] [--binary PATH]
//! ```
//!
//! Exit status 1 when a check fails.

use std::time::Duration;

use marketplace_load::args::Args;
use marketplace_load::chaos::{ChaosOptions, run};

const OPTIONS: &[&str] = &[
    "orders",
    "clients",
    "kill-every-ms",
    "seed",
    "json",
    "keep",
    "binary",
    "settle-seconds",
    "min-actions",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse(std::env::args().skip(1), OPTIONS)?;
    let options = ChaosOptions {
        orders: args.get("orders", 2000)?,
        clients: args.get("clients", 8)?,
        kill_every: Duration::from_millis(args.get("kill-every-ms", 2500)?),
        min_actions: args.get("min-actions", 20)?,
        seed: args.get("seed", rand::random::<u64>())?,
        settle: Duration::from_secs(args.get("settle-seconds", 300)?),
        binary: args.value("binary").map(Into::into),
        keep: args.get("keep", false)?,
    };
    let json_path = args
        .value("json")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/load/chaos.json")
        });
    let report = run(options).await?;
    if let Some(parent) = json_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)?;
    println!("report written to {}", json_path.display());
    if report["passed"] == true {
        println!("PASSED");
        Ok(())
    } else {
        println!("FAILED");
        std::process::exit(1);
    }
}
