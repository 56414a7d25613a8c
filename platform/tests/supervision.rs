//! A component whose background task dies stops serving: its health turns NOT_SERVING and its
//! server returns an error naming the task (the process then exits non-zero).

use std::time::Duration;

use marketplace_platform::grpc_server::{GrpcServer, ServerSettings};
use marketplace_platform::supervisor::Supervisor;
use tokio_util::sync::CancellationToken;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test]
async fn a_dead_background_task_turns_health_not_serving_and_fails_the_component() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let mut supervisor = Supervisor::new();
    let (die, dies) = tokio::sync::oneshot::channel::<()>();
    supervisor.spawn("outbox relay", async move {
        let _ = dies.await;
    });
    let server_stop = supervisor.server_shutdown(&shutdown);
    let settings = ServerSettings {
        grace_period_ms: 60_000,
        ..ServerSettings::default()
    };
    let server = tokio::spawn(GrpcServer::new(settings).serve(listener, server_stop));

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect_lazy();
    let health = HealthClient::new(channel);
    let status = |mut health: HealthClient<tonic::transport::Channel>| async move {
        health
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map(|r| r.into_inner().status)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while status(health.clone()).await.ok() != Some(ServingStatus::Serving as i32) {
        assert!(tokio::time::Instant::now() < deadline, "never served");
        tokio::task::yield_now().await;
    }

    // The relay ends on its own while nobody asked the component to stop.
    let _ = die.send(());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if status(health.clone()).await.ok() == Some(ServingStatus::NotServing as i32) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "health never turned NOT_SERVING"
        );
        tokio::task::yield_now().await;
    }
    assert!(!shutdown.is_cancelled());

    supervisor.stopping();
    let error = supervisor
        .join(None)
        .await
        .expect_err("the component fails");
    assert!(
        error
            .to_string()
            .contains("`outbox relay` stopped unexpectedly"),
        "{error}"
    );
    server.abort();
}
