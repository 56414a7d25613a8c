//! Graceful shutdown of a real service process under steady load: on SIGTERM the health
//! service turns NOT_SERVING first, requests already sent complete, and the process exits
//! cleanly within its grace period plus drain window.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use marketplace_platform::db::{Backend, testing};
use marketplace_platform::identity::{IdentityKey, Principal, Role};
use marketplace_proto::catalog::v1::GetPlanRequest;
use marketplace_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::harness::nats_url;

const GRACE_MS: u64 = 1_500;
const DRAIN_MS: u64 = 3_000;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_reports_not_serving_then_drains_and_exits() {
    let Some(nats) = nats_url().await else { return };
    let key = "shutdown-test-internal-key-0123456789abcdef";
    let port = free_port();
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let stream_prefix = format!("SHUT_{unique}");
    let data = testing::fresh_database_url(Backend::Sqlite).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_marketplace"))
        .arg("catalog")
        .env("MARKETPLACE_CATALOG__LISTEN", format!("127.0.0.1:{port}"))
        .env("MARKETPLACE_CATALOG__DATABASE__URL", &data)
        .env(
            "MARKETPLACE_CATALOG__SERVER__GRACE_PERIOD_MS",
            GRACE_MS.to_string(),
        )
        .env(
            "MARKETPLACE_CATALOG__SERVER__DRAIN_TIMEOUT_MS",
            DRAIN_MS.to_string(),
        )
        .env("MARKETPLACE_BUS__URL", &nats)
        .env("MARKETPLACE_BUS__STREAM_PREFIX", &stream_prefix)
        .env("MARKETPLACE_BUS__SUBJECT_PREFIX", format!("shut{unique}"))
        .env("MARKETPLACE_AUTH__INTERNAL_KEY", key)
        .env("MARKETPLACE_TELEMETRY__METRICS_LISTEN", "")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn marketplace catalog");
    let pid = child.id().expect("child pid");

    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("endpoint")
        .connect_lazy();
    let mut health = HealthClient::new(channel.clone());
    let service = "marketplace.catalog.v1.CatalogService".to_string();
    let status_of = |health: &mut HealthClient<tonic::transport::Channel>| {
        let mut health = health.clone();
        let service = service.clone();
        async move {
            health
                .check(HealthCheckRequest { service })
                .await
                .map(|r| r.into_inner().status)
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(status) = status_of(&mut health).await
            && status == ServingStatus::Serving as i32
        {
            break;
        }
        if let Ok(Some(exit)) = child.try_wait() {
            panic!("catalog exited before serving: {exit:?} (its stderr is above)");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "catalog never became SERVING"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Steady load from 4 clients; they stop sending once health says NOT_SERVING, as a load
    // balancer or a well-behaved client would.
    let identity = IdentityKey::new(key.as_bytes()).expect("key");
    let principal = Principal {
        subject: "load".into(),
        display_name: "load".into(),
        role: Role::Staff,
        reseller_id: None,
        customer_id: None,
    };
    let draining = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (draining, ok, failed) = (draining.clone(), ok.clone(), failed.clone());
        let mut client = CatalogServiceClient::new(channel.clone());
        let (identity, principal) = (identity.clone(), principal.clone());
        load.push(tokio::spawn(async move {
            while !draining.load(Ordering::SeqCst) {
                let mut request = tonic::Request::new(GetPlanRequest {
                    plan_id: "plan-that-may-not-exist".into(),
                    ..Default::default()
                });
                identity.attach(&mut request, &principal);
                match client.get_plan(request).await {
                    Ok(_) => ok.fetch_add(1, Ordering::SeqCst),
                    Err(status) if status.code() == tonic::Code::NotFound => {
                        ok.fetch_add(1, Ordering::SeqCst)
                    }
                    Err(status) => {
                        eprintln!("request failed before NOT_SERVING: {status:?}");
                        failed.fetch_add(1, Ordering::SeqCst)
                    }
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = ok.load(Ordering::SeqCst);
    assert!(before > 0, "load reached the service");

    // SIGTERM: health must flip to NOT_SERVING while the server still answers.
    let sent = tokio::time::Instant::now();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill")
            .success()
    );
    let mut saw_not_serving = false;
    while sent.elapsed() < Duration::from_millis(GRACE_MS) {
        match status_of(&mut health).await {
            Ok(status) if status == ServingStatus::NotServing as i32 => {
                saw_not_serving = true;
                break;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(status) => {
                panic!("health stopped answering before reporting NOT_SERVING: {status:?}")
            }
        }
    }
    draining.store(true, Ordering::SeqCst);
    assert!(
        saw_not_serving,
        "health turned NOT_SERVING within the grace period"
    );
    for task in load {
        task.await.expect("load task");
    }
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "no request failed before NOT_SERVING was visible"
    );
    assert!(
        ok.load(Ordering::SeqCst) > before,
        "requests kept succeeding during the grace period"
    );

    let exit = tokio::time::timeout(
        Duration::from_millis(GRACE_MS + DRAIN_MS + 5_000),
        child.wait(),
    )
    .await
    .expect("process exited within grace + drain")
    .expect("exit status");
    assert!(exit.success(), "clean exit after SIGTERM: {exit:?}");
    crate::harness::delete_streams(&nats, &stream_prefix).await;
}

/// `marketplace <role> --migrate-only` (the Kubernetes migration Jobs) applies the migrations
/// and exits 0 instead of serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_only_applies_migrations_and_exits() {
    let Some(nats) = nats_url().await else { return };
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let stream_prefix = format!("MIG_{unique}");
    let data = testing::fresh_database_url(Backend::Sqlite).await;
    let status = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_marketplace"))
            .args(["ordering", "--migrate-only"])
            .env("MARKETPLACE_ORDERING__DATABASE__URL", &data)
            .env("MARKETPLACE_BUS__URL", &nats)
            .env("MARKETPLACE_BUS__STREAM_PREFIX", &stream_prefix)
            .env("MARKETPLACE_BUS__SUBJECT_PREFIX", format!("mig{unique}"))
            .env(
                "MARKETPLACE_AUTH__INTERNAL_KEY",
                "migrate-only-test-internal-key-0123456789",
            )
            .stdout(Stdio::null())
            .status(),
    )
    .await
    .expect("exits instead of serving")
    .expect("runs");
    assert!(status.success(), "migrate-only exit status: {status:?}");
    let file = data.trim_start_matches("sqlite://");
    let bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    assert!(
        bytes > 0,
        "the ordering database was created and migrated at {file}"
    );
    crate::harness::delete_streams(&nats, &stream_prefix).await;

    // A bad setting names itself and exits non-zero.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_marketplace"))
        .arg("ordering")
        .env("MARKETPLACE_ORDERING__DATABASE__URL", "mysql://nope")
        .env("MARKETPLACE_CATALOG__URL", "http://127.0.0.1:9")
        .env("MARKETPLACE_BUS__URL", &nats)
        .env(
            "MARKETPLACE_AUTH__INTERNAL_KEY",
            "migrate-only-test-internal-key-0123456789",
        )
        .output()
        .await
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("database.url"),
        "error names the setting: {stderr}"
    );
}
