//! Native gRPC for partners: a transparent proxy. Any `/marketplace.<pkg>.v1.<Service>/<Method>`
//! call is authenticated from its metadata (`authorization: Bearer …` or `x-api-key`), checked
//! against the role matrix and the rate limit, stripped of client credentials and of any
//! client-sent identity, given the signed identity, and forwarded as-is (HTTP/2, streaming both
//! ways, trailers included) to the owning service. Health and reflection are answered locally.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::response::Response;
use http::HeaderValue;
use platform::identity::IDENTITY_HEADER;
use tonic::Status;
use tower::ServiceExt;
use tracing::Instrument;

use crate::auth::API_KEY_HEADER;
use crate::state::Gateway;

/// The axum fallback proxying every call not served locally.
pub(crate) async fn proxy(State(gw): State<Arc<Gateway>>, mut request: Request) -> Response {
    let started = Instant::now();
    let trace = crate::observe::trace_of(&mut request);
    let path = request.uri().path().to_string();
    let mut subject = String::from("-");
    let span = tracing::info_span!(
        "grpc.proxy",
        rpc = %path,
        trace_id = %trace.trace_id,
        otel.kind = "server"
    );
    platform::propagation::set_parent_from_headers(&span, request.headers());
    let mut response = match forward(&gw, request, &mut subject)
        .instrument(span.clone())
        .await
    {
        Ok(response) => response,
        Err(status) => status.into_http::<axum::body::Body>(),
    };
    crate::observe::answer_span(response.headers_mut(), &span, &trace);
    let code = grpc_code(response.headers());
    let elapsed = started.elapsed();
    let known = gw.api.method(&path).is_some();
    crate::observe::record_request(
        "grpc",
        if known { &path } else { "unknown" },
        "POST",
        crate::observe::code_name(code),
        elapsed,
    );
    tracing::info!(
        target: "gateway::access",
        protocol = "grpc",
        principal = %subject,
        route = %path,
        status = code as i32,
        latency_us = elapsed.as_micros() as u64,
        trace_id = %trace.trace_id,
        request_id = %trace.request_id,
        "request"
    );
    response
}

/// The status of a trailers-only answer (`OK` when the status follows in the trailers).
fn grpc_code(headers: &http::HeaderMap) -> tonic::Code {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from_i32)
}

async fn forward(gw: &Gateway, request: Request, subject: &mut String) -> Result<Response, Status> {
    let path = request.uri().path().to_string();
    let is_grpc = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if !is_grpc {
        return Err(Status::invalid_argument(
            "the gRPC port accepts only gRPC (application/grpc) and gRPC-Web requests",
        ));
    }
    let upstream = gw
        .upstreams
        .for_path(&path)
        .filter(|_| crate::roles::allowed_roles(&path).is_some())
        .ok_or_else(|| Status::unimplemented(format!("unknown method {path}")))?
        .clone();
    let principal = gw.auth.authenticate(request.headers()).await?;
    *subject = principal.subject.clone();
    if !crate::roles::is_allowed(&path, principal.role) {
        return Err(platform::ServiceError::permission_denied(format!(
            "role {} may not call {path}",
            principal.role.as_str()
        ))
        .into());
    }
    gw.limiter.admit(&principal, "grpc")?;

    let (mut parts, body) = request.into_parts();
    parts.headers.remove(http::header::AUTHORIZATION);
    parts.headers.remove(API_KEY_HEADER);
    parts.headers.remove(IDENTITY_HEADER);
    let identity = HeaderValue::from_str(&gw.identity.sign(&principal))
        .map_err(|_| Status::internal("internal error"))?;
    parts.headers.insert(IDENTITY_HEADER, identity);
    // With span export on, the service's span is a child of the proxy's.
    platform::propagation::inject_headers(&mut parts.headers);
    // Every public RPC takes a single request message (no client streaming), so the request is
    // read whole: this enforces the message size limit before anything reaches a service.
    let limit = gw.grpc_max_request_bytes;
    let body = axum::body::to_bytes(body, limit).await.map_err(|_| {
        Status::resource_exhausted(format!("request message larger than {limit} bytes"))
    })?;
    // Unary calls get the route's deadline (or the client's, when shorter); streams run until the
    // client's deadline, if it sent one.
    let deadline = gw
        .api
        .method(&path)
        .filter(|m| !m.server_streaming)
        .map(|m| gw.http.timeout_for(&m.name))
        .map(|route| {
            platform::grpc_server::grpc_timeout(&parts.headers)
                .map_or(route, |client| client.min(route))
        });
    let stream_deadline = gw
        .api
        .method(&path)
        .filter(|m| m.server_streaming)
        .and_then(|_| platform::grpc_server::grpc_timeout(&parts.headers));
    if let Some(deadline) = deadline
        && let Ok(value) = HeaderValue::from_str(&format!("{}m", deadline.as_millis() + 100))
    {
        parts.headers.insert(GRPC_TIMEOUT, value);
    }
    let forwarded = http::Request::from_parts(
        parts,
        tonic::body::Body::new(http_body_util::Full::new(body)),
    );
    let call = upstream.oneshot(forwarded);
    let response = match deadline {
        Some(deadline) => tokio::time::timeout(deadline, call).await.map_err(|_| {
            crate::observe::record_upstream(&path, tonic::Code::DeadlineExceeded);
            Status::deadline_exceeded(format!(
                "{path} did not answer within {} ms",
                deadline.as_millis()
            ))
        })?,
        None => call.await,
    };
    let response = response.map_err(|error| {
        tracing::warn!(%error, route = %path, "upstream unavailable");
        crate::observe::record_upstream(&path, tonic::Code::Unavailable);
        Status::unavailable("service unavailable")
    })?;
    crate::observe::record_upstream(&path, grpc_code(response.headers()));
    let streaming = gw.api.method(&path).is_some_and(|m| m.server_streaming);
    let response = response.map(axum::body::Body::new);
    if !streaming {
        return Ok(response);
    }
    // A server stream counts as open until its body is dropped (ended, cut off or abandoned).
    let open = crate::observe::OpenStream::new("grpc");
    let response = response.map(|body| {
        axum::body::Body::new(http_body_util::BodyExt::map_frame(body, move |frame| {
            let _ = &open;
            frame
        }))
    });
    // A server stream ends with DEADLINE_EXCEEDED at the client's `grpc-timeout`, whether or not
    // the service behind (or the client) enforces it.
    match stream_deadline {
        Some(deadline) => Ok(response.map(|body| until_deadline(body, deadline, path))),
        None => Ok(response),
    }
}

/// `body` cut off at `deadline`, ending with DEADLINE_EXCEEDED trailers (dropping the rest
/// cancels the upstream call).
fn until_deadline(body: axum::body::Body, deadline: Duration, path: String) -> axum::body::Body {
    use futures::StreamExt;
    use http_body::Frame;
    let expiry = Box::pin(tokio::time::sleep(deadline));
    let frames = http_body_util::BodyStream::new(body);
    let stream = futures::stream::unfold(Some((frames, expiry)), move |state| {
        let path = path.clone();
        async move {
            let (mut frames, mut expiry) = state?;
            tokio::select! {
                biased;
                frame = frames.next() => frame.map(|frame| (frame, Some((frames, expiry)))),
                _ = &mut expiry => {
                    let status = Status::deadline_exceeded(format!(
                        "{path} reached the call's deadline ({} ms)",
                        deadline.as_millis()
                    ));
                    let mut trailers = http::HeaderMap::new();
                    if let Err(error) = status.add_header(&mut trailers) {
                        tracing::warn!(%error, "deadline trailers");
                    }
                    Some((Ok(Frame::trailers(trailers)), None))
                }
            }
        }
    });
    axum::body::Body::new(http_body_util::StreamBody::new(stream))
}

const GRPC_TIMEOUT: &str = "grpc-timeout";
