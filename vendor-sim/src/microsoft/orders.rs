//! Orders and their provisioning status.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::Value;

use super::codes;
use super::error::MsError;
use super::state::Order;
use crate::VendorSim;

fn with_order(
    sim: &VendorSim,
    customer_id: &str,
    order_id: &str,
    view: impl FnOnce(&Order) -> Value,
) -> Result<Response, MsError> {
    let mut st = sim.lock();
    let now = st.now(sim.config());
    st.materialize(now, &sim.config().rules);
    if !st.microsoft.customers.contains_key(customer_id) {
        return Err(MsError::customer_not_found(customer_id));
    }
    let order = st
        .microsoft
        .orders
        .get(order_id)
        .filter(|o| o.customer_id == customer_id)
        .ok_or_else(|| {
            MsError::with_code(
                StatusCode::NOT_FOUND,
                codes::ORDER_NOT_FOUND,
                format!("order {order_id} was not found"),
            )
        })?;
    Ok(Json(view(order)).into_response())
}

/// `GET /v1/customers/{id}/orders/{orderId}`: `pending` until the provisioning delay has passed,
/// then `completed` with each line's `subscriptionId` (or `cancelled` after an async failure).
pub(crate) async fn get_order(
    State(sim): State<VendorSim>,
    Path((customer_id, order_id)): Path<(String, String)>,
) -> Result<Response, MsError> {
    with_order(&sim, &customer_id, &order_id, Order::json)
}

/// `GET /v1/customers/{id}/orders/{orderId}/provisioningstatus`: per line
/// `PrefulfillmentPending` → `Fulfilled` (or `Unfulfilled` after an async failure).
pub(crate) async fn provisioning_status(
    State(sim): State<VendorSim>,
    Path((customer_id, order_id)): Path<(String, String)>,
) -> Result<Response, MsError> {
    with_order(&sim, &customer_id, &order_id, Order::provisioning_json)
}
