//! The gRPC server every service runs: health v1, reflection v1 and v1alpha, per-request trace
//! spans continuing the caller's W3C context, request timeouts, a global concurrency limit,
//! optional gRPC-Web, and the shutdown sequence NOT_SERVING → grace period → drain → exit.

use std::convert::Infallible;
use std::time::Duration;

use http::Request;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::Service;

/// Applies the settings every generated service needs in the same way: gzip both ways and the
/// largest accepted message (`server.max_message_bytes`). Generated servers share no trait for
/// these methods, hence a macro.
///
/// ```ignore
/// GrpcServer::new(settings.clone()).add_service(marketplace_platform::tuned_service!(FooServiceServer::new(api), settings))
/// ```
#[macro_export]
macro_rules! tuned_service {
    ($service:expr, $settings:expr) => {
        $service
            .accept_compressed(::tonic::codec::CompressionEncoding::Gzip)
            .send_compressed(::tonic::codec::CompressionEncoding::Gzip)
            .max_decoding_message_size($settings.max_message_bytes)
    };
}

/// Server settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ServerSettings {
    /// Per-request timeout (milliseconds). Streams are not limited by it.
    pub request_timeout_ms: u64,
    /// Requests served at once across all connections.
    pub concurrency_limit: usize,
    /// How long NOT_SERVING is reported before the listener closes (milliseconds).
    pub grace_period_ms: u64,
    /// How long in-flight requests may take to finish after that (milliseconds).
    pub drain_timeout_ms: u64,
    /// Largest accepted message (bytes), applied to every service by [`tuned_service!`].
    pub max_message_bytes: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            request_timeout_ms: 30_000,
            concurrency_limit: 1024,
            grace_period_ms: 0,
            drain_timeout_ms: 10_000,
            max_message_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Builds and runs a service's gRPC server.
pub struct GrpcServer {
    routes: RoutesBuilder,
    reporter: HealthReporter,
    names: Vec<&'static str>,
    settings: ServerSettings,
}

impl std::fmt::Debug for GrpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcServer")
            .field("services", &self.names)
            .finish_non_exhaustive()
    }
}

impl GrpcServer {
    /// A server with health and reflection; add services with [`Self::add_service`].
    pub fn new(settings: ServerSettings) -> Self {
        let (reporter, health) = tonic_health::server::health_reporter();
        let mut routes = RoutesBuilder::default();
        routes.add_service(health);
        Self {
            routes,
            reporter,
            names: Vec::new(),
            settings,
        }
    }

    /// Adds a generated service.
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: Service<Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// The health reporter (to flip a service NOT_SERVING when a dependency is down).
    pub fn health_reporter(&self) -> HealthReporter {
        self.reporter.clone()
    }

    /// Serves on `listener` until `shutdown` is cancelled, then reports NOT_SERVING, waits the
    /// grace period, stops accepting, and drains in-flight requests up to the drain timeout.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(marketplace_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(marketplace_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
        let (reflection_v1, reflection_v1alpha) = self
            .names
            .iter()
            .fold((reflection_v1, reflection_v1alpha), |(a, b), name| {
                (a.with_service_name(*name), b.with_service_name(*name))
            });
        let mut routes = self.routes;
        routes.add_service(
            reflection_v1
                .with_service_name("grpc.health.v1.Health")
                .build_v1()?,
        );
        routes.add_service(
            reflection_v1alpha
                .with_service_name("grpc.health.v1.Health")
                .build_v1alpha()?,
        );

        for name in &self.names {
            self.reporter
                .set_service_status(*name, ServingStatus::Serving)
                .await;
        }
        self.reporter
            .set_service_status("", ServingStatus::Serving)
            .await;

        let settings = self.settings.clone();
        let trace = tower_http::trace::TraceLayer::new_for_grpc().make_span_with(|request: &Request<Body>| {
            let span = tracing::info_span!("grpc.server", rpc = %request.uri().path(), otel.kind = "server");
            crate::propagation::set_parent_from_headers(&span, request.headers());
            span
        });
        let layers = tower::ServiceBuilder::new()
            .layer(trace)
            .layer(crate::metrics::GrpcMetricsLayer)
            .map_response(undecodable_requests_are_invalid_arguments)
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                settings.concurrency_limit,
            ))
            .into_inner();
        let builder = tonic::transport::Server::builder()
            .timeout(Duration::from_millis(settings.request_timeout_ms))
            .tcp_nodelay(true)
            .http2_keepalive_interval(Some(Duration::from_secs(30)));

        let reporter = self.reporter.clone();
        let names = self.names.clone();
        let stop_accepting = CancellationToken::new();
        let stop = stop_accepting.clone();
        let grace = Duration::from_millis(settings.grace_period_ms);
        tokio::spawn(async move {
            shutdown.cancelled().await;
            for name in &names {
                reporter
                    .set_service_status(*name, ServingStatus::NotServing)
                    .await;
            }
            reporter
                .set_service_status("", ServingStatus::NotServing)
                .await;
            tokio::time::sleep(grace).await;
            stop.cancel();
        });

        // tonic ignores `Server::tcp_nodelay` for an incoming stream it did not create: set it on
        // the accepted sockets here, or every small response waits ~40 ms on Nagle's algorithm.
        let incoming =
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        let drain = Duration::from_millis(settings.drain_timeout_ms);
        let stop_for_timeout = stop_accepting.clone();
        let serve = builder
            .layer(layers)
            .add_routes(routes.routes())
            .serve_with_incoming_shutdown(incoming, stop_accepting.cancelled_owned());
        tokio::select! {
            result = serve => result?,
            _ = async { stop_for_timeout.cancelled().await; tokio::time::sleep(drain).await } => {
                tracing::warn!("drain timeout reached; closing remaining connections");
            }
        }
        Ok(())
    }
}

/// The caller's `grpc-timeout` (`<1-8 digits><H|M|S|m|u|n>`) from request headers, if valid.
/// tonic applies it to a call's response headers only; server streams use this to end with
/// DEADLINE_EXCEEDED once it has passed.
pub fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// The message tonic's protobuf codec gives a request that does not decode.
const DECODE_FAILURE: &str = "failed to decode Protobuf message";

/// A request that does not decode (bad varint, invalid UTF-8 in a string, truncated message) is
/// the caller's error: tonic answers it INTERNAL, this answers INVALID_ARGUMENT and says why.
/// Only trailers-only answers are touched — a request is decoded before its handler runs.
pub fn undecodable_requests_are_invalid_arguments<B>(
    mut response: http::Response<B>,
) -> http::Response<B> {
    let headers = response.headers();
    let internal = headers
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == b"13");
    let detail = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(|m| {
            percent_encoding::percent_decode_str(m)
                .decode_utf8_lossy()
                .into_owned()
        });
    if let (true, Some(detail)) = (internal, detail)
        && detail.starts_with(DECODE_FAILURE)
    {
        let status = tonic::Status::invalid_argument(format!(
            "the request message is not valid protobuf for this method ({detail})"
        ));
        let headers = response.headers_mut();
        headers.remove("grpc-message");
        headers.remove("grpc-status-details-bin");
        if let Err(error) = status.add_header(headers) {
            tracing::warn!(%error, "cannot rewrite a decode failure");
        }
    }
    response
}

#[cfg(test)]
mod timeout_tests {
    use super::*;

    #[test]
    fn parses_grpc_timeouts() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(grpc_timeout(&headers), None);
        for (value, expected) in [
            ("250m", Some(Duration::from_millis(250))),
            ("2S", Some(Duration::from_secs(2))),
            ("1H", Some(Duration::from_secs(3600))),
            ("x", None),
            ("12Q", None),
            ("+5S", None),
            ("123456789S", None),
        ] {
            headers.insert("grpc-timeout", http::HeaderValue::from_static(value));
            assert_eq!(grpc_timeout(&headers), expected, "{value}");
        }
    }
}
