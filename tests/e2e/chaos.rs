//! A small chaos run in every test run (the full one is `cargo run --release -p
//! marketplace-load --bin chaos`): the distributed marketplace as separate processes of this
//! build, orders placed through the gateway while ordering, provisioning, notification and the
//! standalone outbox relay are killed with `SIGKILL` and restarted and NATS is restarted once;
//! then nothing may be lost, provisioned twice, or notified twice or not at all.

use std::time::Duration;

use marketplace_platform::db::testing;

use crate::harness::nats_url;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_survive_killed_processes_and_a_nats_restart() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if testing::postgres_admin_url().await.is_none() || nats_url().await.is_none() {
        return; // skipped outside CI (the helpers panic in CI when a service is missing)
    }
    let nats_server = std::process::Command::new("nats-server")
        .arg("--version")
        .output()
        .is_ok();
    if !nats_server {
        assert!(
            std::env::var_os("CI").is_none(),
            "the chaos test needs the nats-server binary (it restarts its own server)"
        );
        eprintln!("notice: nats-server not installed; skipping the chaos run");
        return;
    }
    let report = marketplace_load::chaos::run(marketplace_load::chaos::ChaosOptions {
        orders: 60,
        clients: 3,
        kill_every: Duration::from_millis(1500),
        min_actions: 6,
        seed: 20261122,
        settle: Duration::from_secs(240),
        binary: Some(env!("CARGO_BIN_EXE_marketplace").into()),
        keep: false,
    })
    .await
    .expect("chaos run completes");
    let counts = &report["counts"];
    assert_eq!(report["problems"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(counts["orders placed (accepted by the gateway)"], 60);
    assert_eq!(counts["orders ORDER_STATUS_COMPLETED"], 60);
    assert!(
        report["chaos_actions"].as_array().map_or(0, Vec::len) >= 6,
        "{report:#}"
    );
}
