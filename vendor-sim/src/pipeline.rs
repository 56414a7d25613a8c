//! The per-request pipeline every vendor route goes through:
//! fault injection → (Microsoft) authentication and `MS-RequestId` replay → handler →
//! (Microsoft) response headers → journal → (fault) connection drop.
//!
//! The work runs in a spawned task, so a client that gives up (timeout, disconnect) does not
//! cancel it: like a real vendor, the simulator finishes what it received.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};

use crate::faults::{FaultKind, Vendor};
use crate::journal::JournalEntry;
use crate::microsoft::idempotency::{Claim, IdempotencyKey};
use crate::net::KillSwitch;
use crate::util::body_for_journal;
use crate::{VendorSim, autodesk, microsoft};

/// Largest request body the simulators read.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long a dropped-connection fault holds the request when the router is not served by
/// [`VendorSim::serve`] (so the connection cannot be killed).
const DROP_FALLBACK_HOLD: Duration = Duration::from_secs(120);

/// Headers copied into the journal (authorization is reduced to its scheme).
const JOURNALED_HEADERS: &[&str] = &[
    "csn",
    "timestamp",
    "ms-requestid",
    "ms-correlationid",
    "if-match",
    "content-type",
];

/// Header with the caller's business time for this request (RFC 3339): the marketplace sends
/// the customer's test-clock time, so simulator and marketplace agree on every date.
pub(crate) const SANDBOX_TIME_HEADER: &str = "x-sandbox-time";

tokio::task_local! {
    /// The business time of the request being handled, when its caller sent one.
    pub(crate) static REQUEST_TIME: Option<time::OffsetDateTime>;
}

/// The `x-sandbox-time` of a request, if present and valid.
fn request_time(headers: &HeaderMap) -> Option<time::OffsetDateTime> {
    let value = headers.get(SANDBOX_TIME_HEADER)?.to_str().ok()?;
    time::OffsetDateTime::parse(value.trim(), &time::format_description::well_known::Rfc3339).ok()
}

/// The middleware (`route_layer`) in front of every vendor route.
pub(crate) async fn vendor_pipeline(
    State((sim, vendor)): State<(VendorSim, Vendor)>,
    req: Request,
    next: Next,
) -> Response {
    let operation = operation_of(vendor, req.method(), req.extensions().get::<MatchedPath>());
    let at = request_time(req.headers());
    match tokio::spawn(REQUEST_TIME.scope(at, process(sim, vendor, operation, req, next))).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, operation, "simulator request task failed");
            vendor_error(
                vendor,
                StatusCode::INTERNAL_SERVER_ERROR,
                "500",
                "internal simulator error",
            )
        }
    }
}

fn operation_of(vendor: Vendor, method: &Method, path: Option<&MatchedPath>) -> &'static str {
    let path = path.map(MatchedPath::as_str).unwrap_or_default();
    match vendor {
        Vendor::Autodesk => autodesk::operation(method, path),
        Vendor::Microsoft => microsoft::operation(method, path),
    }
}

async fn process(
    sim: VendorSim,
    vendor: Vendor,
    operation: &'static str,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let kill = parts
        .extensions
        .get::<ConnectInfo<KillSwitch>>()
        .map(|c| c.0.clone());
    let request_headers = parts.headers.clone();
    let mut entry = JournalEntry {
        seq: 0,
        vendor,
        operation: operation.to_owned(),
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_owned(),
        headers: journaled_headers(&parts.headers),
        body: serde_json::Value::Null,
        status: 0,
        response_body: serde_json::Value::Null,
        fault: None,
        replayed: false,
        connection_dropped: false,
        at: sim.now(),
    };

    let response = match to_bytes(body, MAX_BODY_BYTES).await {
        Err(_) => vendor_error(
            vendor,
            StatusCode::PAYLOAD_TOO_LARGE,
            "413",
            "request body is unreadable or larger than 1 MiB",
        ),
        Ok(bytes) => {
            entry.body = body_for_journal(&bytes);
            sim.materialize();
            let fault = sim.lock().faults.take_request_fault(vendor, operation);
            entry.fault.clone_from(&fault);
            match fault {
                Some(FaultKind::HttpStatus { status }) => {
                    let status =
                        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    let message = format!("simulated failure: HTTP {}", status.as_u16());
                    vendor_error(vendor, status, &status.as_u16().to_string(), &message)
                }
                Some(FaultKind::RateLimited { retry_after_secs }) => {
                    vendor_rate_limited(vendor, retry_after_secs)
                }
                Some(FaultKind::BusinessError {
                    code,
                    status,
                    description,
                }) => {
                    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                    vendor_error(vendor, status, &code, &description)
                }
                Some(FaultKind::Delay { ms }) => {
                    sim.pause(Duration::from_millis(ms)).await;
                    handle(&sim, vendor, parts, bytes, next, &mut entry).await
                }
                Some(FaultKind::DropConnection | FaultKind::AsyncFailure { .. }) | None => {
                    handle(&sim, vendor, parts, bytes, next, &mut entry).await
                }
            }
        }
    };

    let (mut parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    if vendor == Vendor::Microsoft {
        microsoft::add_response_headers(&request_headers, &mut parts.headers);
    }
    entry.status = parts.status.as_u16();
    entry.response_body = body_for_journal(&bytes);
    sim.materialize();

    let drop_connection = matches!(entry.fault, Some(FaultKind::DropConnection));
    if drop_connection {
        entry.connection_dropped = true;
        tracing::info!(
            vendor = vendor.as_str(),
            operation,
            "dropping connection (injected fault)"
        );
        sim.lock().record_request(entry);
        return match kill {
            Some(kill) => {
                kill.kill();
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
            None => {
                sim.pause(DROP_FALLBACK_HOLD).await;
                vendor_error(
                    vendor,
                    StatusCode::GATEWAY_TIMEOUT,
                    "504",
                    "connection dropped (simulated)",
                )
            }
        };
    }

    tracing::debug!(
        vendor = vendor.as_str(),
        operation,
        status = entry.status,
        "vendor request"
    );
    sim.lock().record_request(entry);
    Response::from_parts(parts, Body::from(bytes))
}

/// Authentication and idempotent replay (Microsoft), then the handler.
async fn handle(
    sim: &VendorSim,
    vendor: Vendor,
    parts: Parts,
    bytes: Bytes,
    next: Next,
    entry: &mut JournalEntry,
) -> Response {
    if vendor == Vendor::Microsoft {
        if let Err(e) = microsoft::check_auth(&sim.microsoft_credentials(), &parts.headers) {
            return e.into_response();
        }
        if let Some(key) = IdempotencyKey::from_request(&parts) {
            match sim.claim_idempotency_key(&key).await {
                Claim::Replay(stored) => {
                    entry.replayed = true;
                    return stored.into_response();
                }
                Claim::Busy => return microsoft::request_in_progress().into_response(),
                Claim::Claimed(guard) => {
                    let response = next
                        .run(Request::from_parts(parts, Body::from(bytes)))
                        .await;
                    let (parts, body) = response.into_parts();
                    let body = to_bytes(body, usize::MAX).await.unwrap_or_default();
                    guard.complete(&parts, body.clone());
                    return Response::from_parts(parts, Body::from(body));
                }
            }
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Any request no vendor route matched: a vendor-shaped 404, journaled.
pub(crate) fn unknown_route(sim: &VendorSim, vendor: Vendor, req: &Request) -> Response {
    let message = format!("no such resource: {} {}", req.method(), req.uri().path());
    let status = StatusCode::NOT_FOUND;
    let mut response = vendor_error(vendor, status, "404", &message);
    if vendor == Vendor::Microsoft {
        microsoft::add_response_headers(req.headers(), response.headers_mut());
    }
    let entry = JournalEntry {
        seq: 0,
        vendor,
        operation: format!("{}.unknown", vendor.as_str()),
        method: req.method().to_string(),
        path: req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_owned(),
        headers: journaled_headers(req.headers()),
        body: serde_json::Value::Null,
        status: status.as_u16(),
        response_body: serde_json::json!({"error": message}),
        fault: None,
        replayed: false,
        connection_dropped: false,
        at: sim.now(),
    };
    sim.lock().record_request(entry);
    response
}

fn journaled_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = JOURNALED_HEADERS
        .iter()
        .filter_map(|name| {
            let value = headers.get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect();
    if let Some(auth) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let scheme = auth.split_whitespace().next().unwrap_or_default();
        out.insert("authorization".into(), scheme.to_owned());
    }
    out
}

/// A vendor-shaped error body with `code`.
pub(crate) fn vendor_error(
    vendor: Vendor,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response {
    match vendor {
        Vendor::Autodesk => autodesk::AdError::new(status, code, message).into_response(),
        Vendor::Microsoft => microsoft::MsError::new(status, code, message).into_response(),
    }
}

fn vendor_rate_limited(vendor: Vendor, retry_after_secs: u64) -> Response {
    match vendor {
        Vendor::Autodesk => autodesk::rate_limited(retry_after_secs),
        Vendor::Microsoft => microsoft::rate_limited(retry_after_secs),
    }
}
