//! Autodesk route handlers.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::json;

use super::error::AdError;
use super::request::{Endpoint, WireOrder};
use super::{TOKEN_LIFETIME_SECS, auth, codes};
use crate::VendorSim;
use crate::faults::Vendor;
use crate::operations as ops;
use crate::util::{parse_json, random_token};

/// `POST /v2/oauth/generateaccesstoken?grant_type=client_credentials`.
pub(crate) async fn generate_token(
    State(sim): State<VendorSim>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, AdError> {
    let grant_type = query
        .as_ref()
        .ok()
        .and_then(|q| q.get("grant_type"))
        .map(String::as_str);
    if grant_type != Some("client_credentials") {
        return Err(AdError::bad_request(
            "query parameter grant_type=client_credentials is required",
        ));
    }
    let wall_now = sim.wall_now();
    auth::verify_token_request(&sim.autodesk_credentials(), &headers, wall_now)?;
    let token = random_token(21);
    let expires_at = wall_now + time::Duration::seconds(TOKEN_LIFETIME_SECS);
    sim.lock()
        .autodesk
        .issue_token(token.clone(), wall_now, expires_at);
    let body = json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME_SECS,
    });
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// `POST /v2/orders/fulfillment`.
pub(crate) async fn fulfillment(
    State(sim): State<VendorSim>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AdError> {
    place(
        &sim,
        &headers,
        &body,
        Endpoint::Fulfillment,
        ops::AUTODESK_PLACE_ORDER,
    )
}

/// `POST /v2/orders/revoke`.
pub(crate) async fn revoke(
    State(sim): State<VendorSim>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AdError> {
    place(
        &sim,
        &headers,
        &body,
        Endpoint::Revoke,
        ops::AUTODESK_REVOKE_ORDER,
    )
}

fn place(
    sim: &VendorSim,
    headers: &HeaderMap,
    body: &[u8],
    endpoint: Endpoint,
    operation: &str,
) -> Result<Response, AdError> {
    let wall_now = sim.wall_now();
    let creds = sim.autodesk_credentials();
    auth::verify_api_call(&creds, &sim.lock().autodesk.tokens, headers, wall_now)?;
    let request = parse_json::<WireOrder>(body)
        .map_err(AdError::bad_request)?
        .validate(endpoint)?;

    let mut st = sim.lock();
    let transaction_id = match st.autodesk.transaction_for(&request.reference) {
        Some(existing) => {
            tracing::info!(reference = %request.reference, transaction_id = existing, "autodesk order replayed by reference");
            existing.to_owned()
        }
        None => {
            let now = st.now(sim.config());
            let due = st.due_at(now);
            let injected = st.faults.take_async_failure(Vendor::Autodesk, operation);
            st.autodesk.accept(request, now, due, injected)
        }
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "transactionId": transaction_id })),
    )
        .into_response())
}

/// `GET /v1/orders/status/{transactionId}`.
pub(crate) async fn order_status(
    State(sim): State<VendorSim>,
    Path(transaction_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AdError> {
    let wall_now = sim.wall_now();
    let creds = sim.autodesk_credentials();
    let mut st = sim.lock();
    auth::verify_api_call(&creds, &st.autodesk.tokens, &headers, wall_now)?;
    let now = st.now(sim.config());
    st.materialize(now, &sim.config().rules);
    let body = st.autodesk.status_json(&transaction_id).ok_or_else(|| {
        AdError::new(
            StatusCode::NOT_FOUND,
            codes::TRANSACTION_NOT_FOUND,
            format!("transaction {transaction_id} not found"),
        )
    })?;
    Ok((StatusCode::OK, Json(body)).into_response())
}
