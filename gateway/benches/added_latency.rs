//! The gateway's added latency over calling the service directly, for `GetOrder`, over gRPC
//! (transparent proxy) and REST (transcoding), p50/p99. Run with
//! `cargo bench -p gateway --bench added_latency` (release build; single client, sequential).

#[path = "../tests/it/fakes.rs"]
mod fakes;
#[path = "../tests/it/support.rs"]
#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use marketplace_platform::identity::{Principal, Role};
use marketplace_proto::ordering::v1 as ordering;

const WARMUP: usize = 500;
const ITERATIONS: usize = 5_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn measure<F, Fut>(mut call: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..WARMUP {
        call().await;
    }
    let mut samples = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let started = Instant::now();
        call().await;
        samples.push(started.elapsed());
    }
    samples.sort();
    samples
}

fn report(name: &str, samples: &[Duration], baseline: &[Duration]) {
    let (p50, p99) = (percentile(samples, 0.50), percentile(samples, 0.99));
    let (b50, b99) = (percentile(baseline, 0.50), percentile(baseline, 0.99));
    println!(
        "{name:<28} p50 {:>8.1} µs  p99 {:>8.1} µs   added p50 {:>7.1} µs  added p99 {:>7.1} µs",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        (p50.as_secs_f64() - b50.as_secs_f64()) * 1e6,
        (p99.as_secs_f64() - b99.as_secs_f64()) * 1e6,
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let h = support::Harness::start().await;
        let principal = Principal {
            subject: "bench".into(),
            display_name: "bench".into(),
            role: Role::ResellerUser,
            reseller_id: Some("r1".into()),
            customer_id: None,
        };
        let token = support::token(Role::ResellerUser);

        let direct_channel = tonic::transport::Endpoint::from_shared(h.backend.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut direct = ordering::order_service_client::OrderServiceClient::new(direct_channel);
        let identity = h.identity.clone();
        let grpc_direct = measure(|| {
            let mut request = tonic::Request::new(ordering::GetOrderRequest {
                order_id: "o-1".into(),
            });
            identity.attach(&mut request, &principal);
            let mut client = direct.clone();
            async move {
                client.get_order(request).await.expect("direct call");
            }
        })
        .await;

        let mut via = ordering::order_service_client::OrderServiceClient::new(h.channel().await);
        let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
        let grpc_gateway = measure(|| {
            let mut request = tonic::Request::new(ordering::GetOrderRequest {
                order_id: "o-1".into(),
            });
            request
                .metadata_mut()
                .insert("authorization", bearer.clone());
            let mut client = via.clone();
            async move {
                client.get_order(request).await.expect("gateway call");
            }
        })
        .await;

        let url = h.url("/v1/orders/o-1");
        let rest_gateway = measure(|| {
            let request = h.http.get(&url).bearer_auth(&token);
            async move {
                let response = request.send().await.expect("rest call");
                assert!(response.status().is_success());
                let _ = response.bytes().await;
            }
        })
        .await;

        println!("GetOrder, {ITERATIONS} sequential calls after {WARMUP} warm-up calls");
        report("direct gRPC (baseline)", &grpc_direct, &grpc_direct);
        report("via gateway, gRPC", &grpc_gateway, &grpc_direct);
        report("via gateway, REST", &rest_gateway, &grpc_direct);
        let _ = (&mut direct, &mut via);
    });
}
