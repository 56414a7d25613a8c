//! `MS-RequestId` idempotency: the first response to a request id on a route (method + path) is
//! stored and replayed, status and body, for every later request with the same id on that route,
//! without running the handler again. A request that arrives while the first one is still being
//! processed waits for it (up to 30 s) and then gets the same replay.
//!
//! Only state-changing methods (POST, PATCH, PUT, DELETE) are replayed: a GET always reads the
//! current state, so a client that polls with one request id still sees progress. Answers that
//! did not come from a handler (authentication failures, injected faults) are never stored.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};

use crate::VendorSim;

const WAIT_FOR_IN_FLIGHT: Duration = Duration::from_secs(30);
const POLL_IN_FLIGHT: Duration = Duration::from_millis(20);

/// Request id + route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct IdempotencyKey {
    request_id: String,
    method: String,
    path: String,
}

impl IdempotencyKey {
    /// The key of a state-changing request that carries a non-empty `MS-RequestId`.
    pub(crate) fn from_request(parts: &Parts) -> Option<Self> {
        if parts.method == http::Method::GET || parts.method == http::Method::HEAD {
            return None;
        }
        let request_id = parts.headers.get("ms-requestid")?.to_str().ok()?.trim();
        if request_id.is_empty() {
            return None;
        }
        Some(Self {
            request_id: request_id.to_ascii_lowercase(),
            method: parts.method.to_string(),
            path: parts.uri.path().to_ascii_lowercase(),
        })
    }
}

/// A stored first response.
#[derive(Debug, Clone)]
pub(crate) struct StoredResponse {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

impl IntoResponse for StoredResponse {
    fn into_response(self) -> Response {
        let mut response = (self.status, Body::from(self.body)).into_response();
        if let Some(content_type) = self.content_type {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type);
        }
        response
    }
}

#[derive(Debug)]
enum Slot {
    InFlight,
    Done(StoredResponse),
}

/// All request ids seen.
#[derive(Debug, Default)]
pub(crate) struct IdempotencyStore {
    slots: HashMap<IdempotencyKey, Slot>,
}

/// Outcome of claiming a key.
pub(crate) enum Claim {
    /// The key is new: run the handler, then [`ClaimGuard::complete`].
    Claimed(ClaimGuard),
    /// The key was answered before: replay this.
    Replay(StoredResponse),
    /// The first request with this key is still running after the wait.
    Busy,
}

/// Releases an unfinished claim when dropped (e.g. the handler panicked), so the key can be retried.
pub(crate) struct ClaimGuard {
    sim: VendorSim,
    key: Option<IdempotencyKey>,
}

impl ClaimGuard {
    /// Stores the response for later replays.
    pub(crate) fn complete(mut self, parts: &http::response::Parts, body: Bytes) {
        if let Some(key) = self.key.take() {
            let stored = StoredResponse {
                status: parts.status,
                content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
                body,
            };
            self.sim
                .lock()
                .idempotency
                .slots
                .insert(key, Slot::Done(stored));
        }
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.sim.lock().idempotency.slots.remove(&key);
        }
    }
}

impl VendorSim {
    /// Claims `key`, or returns the stored response, waiting for an in-flight twin if needed.
    pub(crate) async fn claim_idempotency_key(&self, key: &IdempotencyKey) -> Claim {
        let deadline = tokio::time::Instant::now() + WAIT_FOR_IN_FLIGHT;
        loop {
            {
                let mut st = self.lock();
                match st.idempotency.slots.get(key) {
                    Some(Slot::Done(stored)) => return Claim::Replay(stored.clone()),
                    Some(Slot::InFlight) => {}
                    None => {
                        st.idempotency.slots.insert(key.clone(), Slot::InFlight);
                        return Claim::Claimed(ClaimGuard {
                            sim: self.clone(),
                            key: Some(key.clone()),
                        });
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Claim::Busy;
            }
            tokio::time::sleep(POLL_IN_FLIGHT).await;
        }
    }
}
