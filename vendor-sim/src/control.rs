//! The `/_sim` control routes, served by both simulators:
//!
//! | route | body | effect |
//! |---|---|---|
//! | `POST /_sim/faults` | a [`Fault`] or an array of them | inject (201 with the active faults) |
//! | `GET /_sim/faults` | | the active faults with their remaining `times` |
//! | `DELETE /_sim/faults` | | clear all faults (204) |
//! | `POST /_sim/reset` | | forget all vendor state, journal, faults, delay and clock offset (204) |
//! | `PUT /_sim/delay` | `{"ms": 1500}` | set the provisioning delay (204) |
//! | `GET /_sim/delay` | | `{"ms": ...}` |
//! | `GET /_sim/journal` | | the [`crate::Journal`] |
//! | `PUT /_sim/clock` | `{"offset_secs": 691200}` | move business time (200 with the clock) |
//! | `GET /_sim/clock` | | `{"now": "...", "offset_secs": ...}` |
//! | `GET /health/livez` | | `200 {"status": "ok"}` (probes; never faulted) |
//! | `GET /health/readyz` | | `200 {"status": "ready"}`, `503` once shutting down |
//! | `POST /_sim/autodesk/credentials` | `{"consumer_secret": "..."}` (`null`: the configured one) | accept only this consumer secret; revokes issued tokens (204) |
//! | `POST /_sim/microsoft/credentials` | `{"bearer_token": "..."}` (`null`: the configured one) | accept only this bearer token, 401 for any other (204) |
//!
//! Errors: `400 {"error": "..."}`.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::VendorSim;
use crate::faults::Fault;
use crate::util::{parse_json, rfc3339};

/// The control routes.
pub(crate) fn routes() -> Router<VendorSim> {
    Router::new()
        .route(
            "/_sim/faults",
            post(add_faults).get(list_faults).delete(clear_faults),
        )
        .route("/_sim/reset", post(reset))
        .route("/health/livez", get(livez))
        .route("/health/readyz", get(readyz))
        .route("/_sim/delay", put(set_delay).get(get_delay))
        .route("/_sim/journal", get(journal))
        .route("/_sim/clock", put(set_clock).get(get_clock))
        .route("/_sim/autodesk/credentials", post(set_autodesk_credentials))
        .route(
            "/_sim/microsoft/credentials",
            post(set_microsoft_credentials),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AutodeskCredentialsBody {
    consumer_secret: Option<String>,
}

async fn set_autodesk_credentials(State(sim): State<VendorSim>, body: Bytes) -> Response {
    match parse_json::<AutodeskCredentialsBody>(&body) {
        Ok(c) => {
            sim.set_autodesk_consumer_secret(c.consumer_secret);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_request(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MicrosoftCredentialsBody {
    bearer_token: Option<String>,
}

async fn set_microsoft_credentials(State(sim): State<VendorSim>, body: Bytes) -> Response {
    match parse_json::<MicrosoftCredentialsBody>(&body) {
        Ok(c) => {
            sim.set_microsoft_bearer_token(c.bearer_token);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_request(e),
    }
}

async fn livez() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

async fn readyz(State(sim): State<VendorSim>) -> Response {
    if sim.shared.stopping.is_cancelled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "shutting down"})),
        )
            .into_response();
    }
    Json(json!({"status": "ready"})).into_response()
}

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": message.into()})),
    )
        .into_response()
}

async fn add_faults(State(sim): State<VendorSim>, body: Bytes) -> Response {
    let value: Value = match parse_json(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(e),
    };
    let faults: Result<Vec<Fault>, _> = match value {
        Value::Array(_) => serde_json::from_value(value),
        other => serde_json::from_value(other).map(|f| vec![f]),
    };
    let faults = match faults {
        Ok(f) => f,
        Err(e) => return bad_request(format!("not a fault: {e}")),
    };
    if let Some(err) = faults.iter().find_map(|f| f.validate().err()) {
        return bad_request(err);
    }
    for fault in faults {
        sim.inject(fault);
    }
    (StatusCode::CREATED, Json(sim.active_faults())).into_response()
}

async fn list_faults(State(sim): State<VendorSim>) -> Response {
    Json(sim.active_faults()).into_response()
}

async fn clear_faults(State(sim): State<VendorSim>) -> StatusCode {
    sim.clear_faults();
    StatusCode::NO_CONTENT
}

async fn reset(State(sim): State<VendorSim>) -> StatusCode {
    sim.reset();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct DelayBody {
    ms: u64,
}

async fn set_delay(State(sim): State<VendorSim>, body: Bytes) -> Response {
    match parse_json::<DelayBody>(&body) {
        Ok(d) => {
            sim.set_provisioning_delay(Duration::from_millis(d.ms));
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_request(e),
    }
}

async fn get_delay(State(sim): State<VendorSim>) -> Response {
    let ms = u64::try_from(sim.provisioning_delay().as_millis()).unwrap_or(u64::MAX);
    Json(json!({ "ms": ms })).into_response()
}

async fn journal(State(sim): State<VendorSim>) -> Response {
    Json(sim.journal()).into_response()
}

#[derive(Deserialize)]
struct ClockBody {
    offset_secs: i64,
}

fn clock_json(sim: &VendorSim) -> Response {
    Json(json!({
        "now": rfc3339(sim.now()),
        "offset_secs": sim.now_offset().whole_seconds(),
    }))
    .into_response()
}

async fn set_clock(State(sim): State<VendorSim>, body: Bytes) -> Response {
    match parse_json::<ClockBody>(&body) {
        Ok(c) => {
            sim.set_now_offset(time::Duration::seconds(c.offset_secs));
            clock_json(&sim)
        }
        Err(e) => bad_request(e),
    }
}

async fn get_clock(State(sim): State<VendorSim>) -> Response {
    clock_json(&sim)
}
