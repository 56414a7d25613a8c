//! What operators see of each request: its trace (started here when the caller sent none, and
//! returned as `traceparent` and `x-request-id`), and the gateway's Prometheus metrics:
//!
//! * `gateway_requests_total{protocol, route, method, status}` and
//!   `gateway_request_duration_seconds{…}`: every REST request (route = path template,
//!   `unmatched` for none; status = HTTP status) and proxied gRPC call (route = RPC path,
//!   `unknown` for none; status = gRPC code name). A stream's duration ends when it opens.
//! * `gateway_upstream_errors_total{service, code}`: calls a service could not answer (unreachable,
//!   deadline, `INTERNAL`/`UNKNOWN`/`DATA_LOSS`).
//! * `gateway_rate_limited_total{protocol, scope}` (see [`crate::ratelimit`]),
//!   `gateway_idempotency_replays_total`, `gateway_open_streams{protocol = sse | grpc}`.
//! * `db_pool_connections{service = "gateway", state}` for the gateway's own database.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};

/// Header echoing the request id.
pub(crate) const REQUEST_ID: &str = "x-request-id";
const TRACEPARENT: &str = "traceparent";

/// The trace of one request.
#[derive(Debug, Clone)]
pub(crate) struct Trace {
    /// 32 lowercase hex digits.
    pub(crate) trace_id: String,
    /// The caller's `x-request-id`, or the trace id.
    pub(crate) request_id: String,
}

/// The trace id of a well-formed W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`, ids not zero).
fn trace_id_of(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    (hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && nonzero(trace)
        && hex(span, 16)
        && nonzero(span)
        && hex(flags, 2)
        && (version != "00" || parts.next().is_none()))
    .then_some(trace)
}

fn random_hex<const N: usize>() -> String {
    hex::encode(rand::random::<[u8; N]>())
}

/// Continues the caller's trace, or starts one: a request without a valid `traceparent` gets a
/// new one (trace id and parent span id random, sampled), written into `headers` so the
/// gateway's span and every service call belong to it. A request without `x-request-id` gets
/// the trace id as its request id.
pub(crate) fn start(headers: &mut HeaderMap) -> Trace {
    let incoming = headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(trace_id_of)
        .map(str::to_string);
    let trace_id = match incoming {
        Some(id) => id,
        None => {
            let id = random_hex::<16>();
            if let Ok(value) = HeaderValue::from_str(&format!("00-{id}-{}-01", random_hex::<8>())) {
                headers.insert(TRACEPARENT, value);
            }
            headers.remove("tracestate");
            id
        }
    };
    let request_id = match headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()) {
        Some(id) if !id.trim().is_empty() => id.to_string(),
        _ => {
            if let Ok(value) = HeaderValue::from_str(&trace_id) {
                headers.insert(REQUEST_ID, value);
            }
            trace_id.clone()
        }
    };
    Trace {
        trace_id,
        request_id,
    }
}

/// Middleware of both listeners: starts or continues the trace of every request (the [`Trace`]
/// is left in the request's extensions) and answers with `traceparent` and `x-request-id`.
pub(crate) async fn trace_requests(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let trace = start(request.headers_mut());
    let traceparent = request.headers().get(TRACEPARENT).cloned();
    let request_id = HeaderValue::from_str(&trace.request_id).ok();
    request.extensions_mut().insert(trace);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Some(value) = traceparent
        && !headers.contains_key(TRACEPARENT)
    {
        headers.insert(TRACEPARENT, value);
    }
    if let Some(value) = request_id {
        headers.insert(REQUEST_ID, value);
    }
    response
}

/// The trace [`trace_requests`] left in a request's extensions (a fresh one if it did not run).
pub(crate) fn trace_of(request: &mut axum::extract::Request) -> Trace {
    match request.extensions().get::<Trace>() {
        Some(trace) => trace.clone(),
        None => start(request.headers_mut()),
    }
}

/// Answers with the gateway's own span in the trace as `traceparent` when spans are exported
/// (otherwise [`trace_requests`] answers with the request's).
pub(crate) fn answer_span(response_headers: &mut HeaderMap, span: &tracing::Span, trace: &Trace) {
    let exported = span.in_scope(platform::propagation::current_traceparent).0;
    if trace_id_of(&exported) == Some(trace.trace_id.as_str())
        && let Ok(value) = HeaderValue::from_str(&exported)
    {
        response_headers.insert(TRACEPARENT, value);
    }
}

/// The span's `traceparent` when spans are exported, else the request's.
pub(crate) fn upstream_traceparent(request_headers: &HeaderMap) -> Option<HeaderValue> {
    let exported = platform::propagation::current_traceparent().0;
    if trace_id_of(&exported).is_some() {
        HeaderValue::from_str(&exported).ok()
    } else {
        request_headers.get(TRACEPARENT).cloned()
    }
}

/// A bounded `method` label: the standard HTTP methods, else `other`.
pub(crate) fn method_label(method: &http::Method) -> &'static str {
    use http::Method as M;
    match *method {
        M::GET => "GET",
        M::POST => "POST",
        M::PUT => "PUT",
        M::PATCH => "PATCH",
        M::DELETE => "DELETE",
        M::HEAD => "HEAD",
        M::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts and times one request.
pub(crate) fn record_request(
    protocol: &'static str,
    route: &str,
    method: &str,
    status: &str,
    elapsed: Duration,
) {
    let labels = [
        ("protocol", protocol.to_string()),
        ("route", route.to_string()),
        ("method", method.to_string()),
        ("status", status.to_string()),
    ];
    metrics::counter!("gateway_requests_total", &labels).increment(1);
    metrics::histogram!("gateway_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
}

/// The service owning an RPC path (`/marketplace.<service>.v1.X/Y`).
pub(crate) fn service_of(rpc_path: &str) -> &str {
    rpc_path
        .trim_start_matches('/')
        .split('.')
        .nth(1)
        .unwrap_or("unknown")
}

/// Counts a call `service` failed to answer, when `code` says so.
pub(crate) fn record_upstream(rpc_path: &str, code: tonic::Code) {
    use tonic::Code as C;
    if matches!(
        code,
        C::Unavailable | C::DeadlineExceeded | C::Internal | C::Unknown | C::DataLoss
    ) {
        metrics::counter!(
            "gateway_upstream_errors_total",
            "service" => service_of(rpc_path).to_string(),
            "code" => code_name(code)
        )
        .increment(1);
    }
}

/// Counts an idempotent replay.
pub(crate) fn record_replay() {
    metrics::counter!("gateway_idempotency_replays_total").increment(1);
}

/// Holds `gateway_open_streams{protocol}` one higher while alive.
#[derive(Debug)]
pub(crate) struct OpenStream(&'static str);

impl OpenStream {
    /// Counts a stream opened.
    pub(crate) fn new(protocol: &'static str) -> Self {
        metrics::gauge!("gateway_open_streams", "protocol" => protocol).increment(1.0);
        Self(protocol)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!("gateway_open_streams", "protocol" => self.0).decrement(1.0);
    }
}

/// The gRPC code's name as in the services' metrics (`OK`, `Unavailable`, …).
pub(crate) use platform::metrics::code_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_without_trace_context_gets_one() {
        let mut headers = HeaderMap::new();
        let trace = start(&mut headers);
        assert_eq!(trace.trace_id.len(), 32);
        assert_eq!(trace.request_id, trace.trace_id);
        let traceparent = headers[TRACEPARENT].to_str().unwrap();
        assert_eq!(trace_id_of(traceparent), Some(trace.trace_id.as_str()));
        assert_eq!(headers[REQUEST_ID], trace.trace_id.as_str());
    }

    #[test]
    fn a_valid_traceparent_is_continued_and_a_bad_one_replaced() {
        let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static(given));
        headers.insert(REQUEST_ID, HeaderValue::from_static("req-1"));
        let trace = start(&mut headers);
        assert_eq!(trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(trace.request_id, "req-1");
        assert_eq!(headers[TRACEPARENT], given);
        for bad in [
            "",
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(TRACEPARENT, HeaderValue::from_str(bad).unwrap());
            let trace = start(&mut headers);
            assert_ne!(trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736", "{bad}");
            assert!(trace_id_of(headers[TRACEPARENT].to_str().unwrap()).is_some());
        }
    }

    #[test]
    fn rpc_paths_name_their_service() {
        assert_eq!(
            service_of("/marketplace.catalog.v1.CatalogService/ListPlans"),
            "catalog"
        );
        assert_eq!(service_of("nonsense"), "unknown");
    }
}
