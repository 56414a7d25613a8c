//! A component started on its own (distributed mode) logs every address it listens on, and its
//! `/metrics` carries what it measures from the start (the gateway's own requests and pool).

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Starts `marketplace <role>` with `env` and returns the process and its `listening` lines
/// as listener → address, once `expected` are all logged.
async fn start_component(
    role: &str,
    env: &[(&str, String)],
    expected: &[&str],
) -> (tokio::process::Child, BTreeMap<String, String>) {
    let data = std::env::temp_dir().join(format!("marketplace-listen-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&data).expect("temp dir");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_marketplace"));
    command
        .arg(role)
        .current_dir(&data)
        .env("MARKETPLACE_TELEMETRY__LOG_FORMAT", "json")
        .env("MARKETPLACE_TELEMETRY__METRICS_LISTEN", "127.0.0.1:0")
        .env(
            "MARKETPLACE_AUTH__INTERNAL_KEY",
            "listen-test-internal-key-0123456789abcdef",
        )
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("marketplace runs");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut listening = BTreeMap::new();
    let mut seen = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            let Ok(json) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            seen.push(line.clone());
            let fields = &json["fields"];
            if fields["message"] == "listening" {
                assert_eq!(fields["role"], role, "{line}");
                listening.insert(
                    fields["listener"].as_str().unwrap_or_default().to_string(),
                    fields["addr"].as_str().unwrap_or_default().to_string(),
                );
            }
            if fields["message"] == "component started" {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .unwrap_or_else(|_| panic!("{role} did not start; output:\n{}", seen.join("\n")));
    for listener in expected {
        assert!(
            listening.contains_key(*listener),
            "{role}: no `listening` line for {listener}: {listening:?}"
        );
    }
    // Keep draining stdout so the process never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, listening)
}

#[tokio::test]
async fn distributed_components_log_every_listen_address_and_serve_metrics() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let unreachable = "http://127.0.0.1:9".to_string();
    let dir = std::env::temp_dir().join(format!("marketplace-listen-db-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (mut gateway, listening) = start_component(
        "gateway",
        &[
            ("MARKETPLACE_GATEWAY__LISTEN_HTTP", "127.0.0.1:0".into()),
            ("MARKETPLACE_GATEWAY__LISTEN_GRPC", "127.0.0.1:0".into()),
            (
                "MARKETPLACE_GATEWAY__DATABASE__URL",
                format!("sqlite://{}", dir.join("gateway.db").display()),
            ),
            ("MARKETPLACE_CATALOG__URL", unreachable.clone()),
            ("MARKETPLACE_ORDERING__URL", unreachable.clone()),
            ("MARKETPLACE_PROVISIONING__URL", unreachable.clone()),
            ("MARKETPLACE_NOTIFICATION__URL", unreachable.clone()),
        ],
        &["grpc", "http", "metrics"],
    )
    .await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let rest = format!("http://{}", listening["http"]);
    let metrics = format!("http://{}/metrics", listening["metrics"]);
    assert_eq!(
        http.get(format!("{rest}/health/livez"))
            .send()
            .await
            .expect("gateway answers")
            .status(),
        200
    );
    // A request whose service is down: traced, counted, and an upstream error of catalog.
    let token = gateway::demo_token(
        "demo-only-hs256-secret-change-me-0123456789",
        "marketplace-demo",
        "marketplace",
        "listen-test",
        "reseller_admin",
        Some("reseller-demo"),
        None,
        Duration::from_secs(600),
    );
    let response = http
        .get(format!("{rest}/v1/plans"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("traceparent"));
    let mut text = String::new();
    for _ in 0..100 {
        text = http
            .get(&metrics)
            .send()
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics text");
        if text.contains("db_pool_connections{service=\"gateway\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for needle in [
        "db_pool_connections{service=\"gateway\"",
        "gateway_requests_total{protocol=\"rest\",route=\"/v1/plans\",method=\"GET\",status=\"503\"}",
        "gateway_upstream_errors_total{service=\"catalog\",code=\"Unavailable\"}",
        "gateway_request_duration_seconds_bucket{protocol=\"rest\",route=\"/v1/plans\"",
    ] {
        assert!(
            text.contains(needle),
            "no {needle} in the gateway's /metrics:\n{text}"
        );
    }
    gateway.kill().await.expect("stop gateway");

    // A service: its gRPC and metrics listeners (needs NATS; skipped where it is absent).
    if let Some(nats) = crate::harness::nats_url().await {
        let prefix = format!("E2E_{}", uuid::Uuid::new_v4().simple());
        let (mut catalog, _) = start_component(
            "catalog",
            &[
                ("MARKETPLACE_CATALOG__LISTEN", "127.0.0.1:0".into()),
                (
                    "MARKETPLACE_CATALOG__DATABASE__URL",
                    format!("sqlite://{}", dir.join("catalog.db").display()),
                ),
                ("MARKETPLACE_BUS__URL", nats.clone()),
                ("MARKETPLACE_BUS__STREAM_PREFIX", prefix.clone()),
                ("MARKETPLACE_BUS__SUBJECT_PREFIX", prefix.to_lowercase()),
            ],
            &["grpc", "metrics"],
        )
        .await;
        catalog.kill().await.expect("stop catalog");
        crate::harness::delete_streams(&nats, &prefix).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
