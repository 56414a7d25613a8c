//! Subscriptions: read and `PATCH` (seat changes, suspend/resume, cancel, auto-renew).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use super::codes;
use super::error::MsError;
use super::state::{CANCELLATION_WINDOW, Subscription, SubscriptionStatus, max_seats};
use crate::VendorSim;
use crate::config::SimRules;
use crate::faults::Vendor;
use crate::journal::EffectiveProvisioning;
use crate::util::{self, parse_json};

fn not_found(subscription_id: &str) -> MsError {
    MsError::with_code(
        StatusCode::NOT_FOUND,
        codes::SUBSCRIPTION_NOT_FOUND,
        format!("subscription {subscription_id} was not found"),
    )
}

/// `GET /v1/customers/{id}/subscriptions`.
pub(crate) async fn list_subscriptions(
    State(sim): State<VendorSim>,
    Path(customer_id): Path<String>,
) -> Result<Response, MsError> {
    let mut st = sim.lock();
    let now = st.now(sim.config());
    st.materialize(now, &sim.config().rules);
    if !st.microsoft.customers.contains_key(&customer_id) {
        return Err(MsError::customer_not_found(&customer_id));
    }
    let mut subs: Vec<&Subscription> = st
        .microsoft
        .subscriptions
        .values()
        .filter(|s| s.customer_id == customer_id)
        .collect();
    subs.sort_by_key(|s| (s.created_at, s.id.clone()));
    let items: Vec<_> = subs.iter().map(|s| s.json(now)).collect();
    Ok(Json(json!({"totalCount": items.len(), "items": items, "attributes": {"objectType": "Collection"}})).into_response())
}

/// `GET /v1/customers/{id}/subscriptions/{subId}`.
pub(crate) async fn get_subscription(
    State(sim): State<VendorSim>,
    Path((customer_id, subscription_id)): Path<(String, String)>,
) -> Result<Response, MsError> {
    let mut st = sim.lock();
    let now = st.now(sim.config());
    st.materialize(now, &sim.config().rules);
    if !st.microsoft.customers.contains_key(&customer_id) {
        return Err(MsError::customer_not_found(&customer_id));
    }
    let sub = st
        .microsoft
        .subscriptions
        .get(&subscription_id)
        .filter(|s| s.customer_id == customer_id)
        .ok_or_else(|| not_found(&subscription_id))?;
    Ok(Json(sub.json(now)).into_response())
}

/// The fields of the (full) subscription resource a PATCH may change; others are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionPatch {
    quantity: Option<i64>,
    status: Option<String>,
    auto_renew_enabled: Option<bool>,
    friendly_name: Option<String>,
}

/// `PATCH /v1/customers/{id}/subscriptions/{subId}` with the full subscription resource.
///
/// Checked in this order: deleted (2011), `If-Match` etag (412 / 2055), cancellation window
/// (800040), suspension (2001), quantity range (2002), seat-decrease window (800027). Everything is
/// validated before anything changes; each effective change is journaled once.
pub(crate) async fn patch_subscription(
    State(sim): State<VendorSim>,
    Path((customer_id, subscription_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, MsError> {
    let patch: SubscriptionPatch = parse_json(&body).map_err(MsError::invalid_input)?;
    let reference = headers
        .get("ms-requestid")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map_or_else(|| format!("patch:{}", uuid::Uuid::new_v4()), str::to_owned);
    let if_match = headers
        .get(http::header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().trim_matches('"').to_owned());

    let mut st = sim.lock();
    let now = st.now(sim.config());
    st.materialize(now, &sim.config().rules);
    if !st.microsoft.customers.contains_key(&customer_id) {
        return Err(MsError::customer_not_found(&customer_id));
    }
    let current = st
        .microsoft
        .subscriptions
        .get(&subscription_id)
        .filter(|s| s.customer_id == customer_id)
        .cloned()
        .ok_or_else(|| not_found(&subscription_id))?;
    if current.status == SubscriptionStatus::Deleted {
        return Err(MsError::with_code(
            StatusCode::BAD_REQUEST,
            codes::SUBSCRIPTION_DELETED,
            format!("subscription {subscription_id} is deleted and cannot be updated"),
        ));
    }
    if let Some(etag) = if_match.filter(|e| !e.is_empty() && e != "*")
        && etag != current.etag
    {
        return Err(MsError::with_code(
            StatusCode::PRECONDITION_FAILED,
            codes::ETAG_MISMATCH,
            "etag is no longer valid; read the subscription again",
        ));
    }

    let (updated, changes) = apply_patch(&current, &patch, now, &sim.config().rules)?;
    let count = changes.len();
    for operation in changes {
        let client_reference = if count > 1 {
            format!("{reference}#{operation}")
        } else {
            reference.clone()
        };
        st.journal
            .effective_provisionings
            .push(EffectiveProvisioning {
                vendor: Vendor::Microsoft,
                operation: operation.to_owned(),
                client_reference,
                subscription_id: updated.id.clone(),
                quantity: updated.quantity,
                vendor_reference: updated.id.clone(),
                at: now,
            });
    }
    let body = updated.json(now);
    st.microsoft
        .subscriptions
        .insert(updated.id.clone(), updated);
    Ok(Json(body).into_response())
}

fn parse_status(
    status: Option<&str>,
    current: SubscriptionStatus,
) -> Result<SubscriptionStatus, MsError> {
    match status.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(current),
        Some("active") => Ok(SubscriptionStatus::Active),
        Some("suspended") => Ok(SubscriptionStatus::Suspended),
        Some("deleted") => Ok(SubscriptionStatus::Deleted),
        Some(other) => Err(MsError::invalid_input(format!(
            "status {other:?} is not one of active, suspended, deleted"
        ))),
    }
}

/// The updated subscription and its effective changes (journal operation names), or the error.
fn apply_patch(
    current: &Subscription,
    patch: &SubscriptionPatch,
    now: OffsetDateTime,
    rules: &SimRules,
) -> Result<(Subscription, Vec<&'static str>), MsError> {
    let target = parse_status(patch.status.as_deref(), current.status)?;
    let mut updated = current.clone();
    let mut changes = Vec::new();

    if target == SubscriptionStatus::Deleted {
        if !current.in_cancellation_window(now) {
            return Err(MsError::with_code(
                StatusCode::BAD_REQUEST,
                codes::STATUS_CHANGE_NOT_ALLOWED,
                format!(
                    "subscription {} can be cancelled only within 7 days of purchase or renewal; the window ended {}",
                    current.id,
                    util::rfc3339(current.window_start + CANCELLATION_WINDOW)
                ),
            ));
        }
        updated.status = SubscriptionStatus::Deleted;
        updated.auto_renew = false;
        changes.push("cancel");
    } else {
        if let Some(quantity) = patch.quantity.filter(|q| *q != i64::from(current.quantity)) {
            if current.status == SubscriptionStatus::Suspended
                || target == SubscriptionStatus::Suspended
            {
                return Err(MsError::with_code(
                    StatusCode::BAD_REQUEST,
                    codes::QUANTITY_CHANGE_WHILE_SUSPENDED,
                    "quantity cannot be increased or decreased while the subscription is suspended",
                ));
            }
            let max = max_seats(rules, &current.product_id);
            if !(1..=i64::from(max)).contains(&quantity) {
                return Err(MsError::with_code(
                    StatusCode::BAD_REQUEST,
                    codes::QUANTITY_OUT_OF_RANGE,
                    format!(
                        "quantity {quantity} is not within the allowed minimum 1 and maximum {max}"
                    ),
                ));
            }
            let quantity = quantity as u32;
            if quantity > current.quantity {
                updated
                    .seat_additions
                    .push((now, quantity - current.quantity));
                changes.push("add_seats");
            } else {
                let floor = current.seat_floor(now);
                if quantity < floor {
                    return Err(MsError::with_code(
                        StatusCode::BAD_REQUEST,
                        codes::SEAT_DECREASE_NOT_ALLOWED,
                        format!(
                            "seats can be reduced only within 7 days of purchase, renewal or their addition; the lowest allowed quantity now is {floor}"
                        ),
                    ));
                }
                consume_recent_additions(&mut updated, current.quantity - quantity);
                changes.push("remove_seats");
            }
            updated.quantity = quantity;
        }
        match (current.status, target) {
            (SubscriptionStatus::Active, SubscriptionStatus::Suspended) => changes.push("suspend"),
            (SubscriptionStatus::Suspended, SubscriptionStatus::Active) => changes.push("resume"),
            _ => {}
        }
        updated.status = target;
        if let Some(auto_renew) = patch
            .auto_renew_enabled
            .filter(|a| *a != current.auto_renew)
        {
            updated.auto_renew = auto_renew;
            changes.push(if auto_renew {
                "auto_renew_on"
            } else {
                "auto_renew_off"
            });
        }
    }

    let renamed = patch
        .friendly_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty() && *n != current.friendly_name);
    if let Some(name) = renamed {
        updated.friendly_name = name.to_owned();
    }
    if !changes.is_empty() || renamed.is_some() {
        updated.new_etag();
    }
    Ok((updated, changes))
}

/// Removing seats first takes back the most recent additions.
fn consume_recent_additions(sub: &mut Subscription, mut removed: u32) {
    while removed > 0 {
        let Some((_, added)) = sub.seat_additions.last_mut() else {
            break;
        };
        if *added > removed {
            *added -= removed;
            break;
        }
        removed -= *added;
        sub.seat_additions.pop();
    }
}
