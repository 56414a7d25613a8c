//! The two listeners and the shutdown sequence: REST (axum) and gRPC + gRPC-Web (tonic server
//! over an axum router whose fallback is the proxy, with health and reflection served locally).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::RoutesBuilder;
use tonic_health::ServingStatus;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::Settings;
use crate::problem::Problem;
use crate::state::Gateway;

const EXPOSED_HEADERS: &[&str] = &[
    "link",
    "x-request-id",
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "etag",
    "retry-after",
    "idempotent-replayed",
];
const ALLOWED_HEADERS: &[&str] = &[
    "x-request-id",
    "authorization",
    "content-type",
    "x-api-key",
    "idempotency-key",
    "if-match",
    "if-none-match",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "traceparent",
    "tracestate",
];

fn cors(origins: &[String]) -> CorsLayer {
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(
            ALLOWED_HEADERS
                .iter()
                .map(|h| HeaderName::from_static(h))
                .collect::<Vec<_>>(),
        )
        .expose_headers(
            EXPOSED_HEADERS
                .iter()
                .map(|h| HeaderName::from_static(h))
                .collect::<Vec<_>>(),
        )
        .max_age(Duration::from_secs(600))
}

async fn livez() -> Response {
    axum::Json(serde_json::json!({"status": "ok"})).into_response()
}

async fn readyz(State(gw): State<Arc<Gateway>>) -> Response {
    if gw.stopping.is_cancelled() {
        return Problem::new(platform::ErrorCode::Unavailable, "shutting down").into_response();
    }
    match gw.store.database().check().await {
        Ok(()) => axum::Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(error) => {
            tracing::warn!(%error, "readiness: database unreachable");
            Problem::new(platform::ErrorCode::Unavailable, "database unreachable").into_response()
        }
    }
}

async fn openapi(State(gw): State<Arc<Gateway>>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        gw.openapi.clone(),
    )
        .into_response()
}

/// The REST router.
pub(crate) fn rest_router(gw: Arc<Gateway>) -> Router {
    let layers = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn(crate::observe::trace_requests))
        .layer(cors(&gw.http.cors_allowed_origins))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            gw.http.concurrency_limit.max(1),
        ));
    Router::new()
        .route("/health/livez", get(livez))
        .route("/health/readyz", get(readyz))
        .route("/openapi.json", get(openapi))
        .fallback(crate::rest::dispatch)
        .with_state(gw)
        .layer(layers)
}

/// Serves both listeners until `shutdown`, then runs the shutdown sequence.
pub(crate) async fn run(
    gw: Arc<Gateway>,
    settings: Settings,
    http_listener: TcpListener,
    grpc_listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (reporter, health) = tonic_health::server::health_reporter();
    let mut reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(marketplace_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name("grpc.health.v1.Health");
    let mut reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(marketplace_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name("grpc.health.v1.Health");
    for name in &gw.api.services {
        reflection_v1 = reflection_v1.with_service_name(name.clone());
        reflection_v1alpha = reflection_v1alpha.with_service_name(name.clone());
        reporter
            .set_service_status(name.as_str(), ServingStatus::Serving)
            .await;
    }
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;

    let proxy = Router::new()
        .fallback(crate::grpc_proxy::proxy)
        .with_state(gw.clone())
        .layer(axum::middleware::from_fn(crate::observe::trace_requests));
    let mut routes = RoutesBuilder::from(proxy);
    routes.add_service(health);
    routes.add_service(reflection_v1.build_v1()?);
    routes.add_service(reflection_v1alpha.build_v1alpha()?);

    // Shutdown: readiness off and NOT_SERVING at once, listeners close after the grace period.
    let grace = Duration::from_millis(
        settings
            .http
            .grace_period_ms
            .max(settings.server.grace_period_ms),
    );
    let drain = Duration::from_millis(
        settings
            .http
            .drain_timeout_ms
            .max(settings.server.drain_timeout_ms),
    );
    {
        let gw = gw.clone();
        let names = gw.api.services.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            gw.stopping.cancel();
            for name in &names {
                reporter
                    .set_service_status(name.as_str(), ServingStatus::NotServing)
                    .await;
            }
            reporter
                .set_service_status("", ServingStatus::NotServing)
                .await;
            tokio::time::sleep(grace).await;
            gw.shutdown.cancel();
        });
    }
    tokio::spawn(platform::db::sample_pool_gauges(
        gw.store.database().clone(),
        "gateway",
        platform::outbox::GAUGE_INTERVAL,
        gw.shutdown.clone(),
    ));
    {
        let gw = gw.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = gw.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(600)) => {
                        gw.idempotency.purge().await;
                        gw.limiter.forget_idle();
                    }
                }
            }
        });
    }

    let grpc = tonic::transport::Server::builder()
        .accept_http1(true)
        .tcp_nodelay(true)
        .timeout(Duration::from_millis(
            settings.server.request_timeout_ms.max(1),
        ))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .layer(cors(&settings.http.cors_allowed_origins))
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            settings.server.concurrency_limit.max(1),
        ))
        .add_routes(routes.routes())
        .serve_with_incoming_shutdown(
            // tonic ignores `tcp_nodelay` for an external incoming stream: set it here.
            tonic::transport::server::TcpIncoming::from(grpc_listener).with_nodelay(Some(true)),
            gw.shutdown.clone().cancelled_owned(),
        );
    let http_listener = axum::serve::ListenerExt::tap_io(http_listener, |tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    let rest = axum::serve(http_listener, rest_router(gw.clone()))
        .with_graceful_shutdown(gw.shutdown.clone().cancelled_owned());

    tracing::info!(routes = gw.routes.len(), "gateway serving REST and gRPC");
    let servers = async {
        let (grpc, rest) = tokio::join!(grpc, async { rest.await });
        grpc?;
        rest?;
        anyhow::Ok(())
    };
    tokio::select! {
        result = servers => result,
        _ = async { gw.shutdown.cancelled().await; tokio::time::sleep(drain).await } => {
            tracing::warn!("drain timeout reached; closing remaining connections");
            Ok(())
        }
    }
}
