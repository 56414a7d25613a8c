//! Carts and checkout.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::codes;
use super::error::MsError;
use super::state::{CART_LIFETIME, Cart, CartLine, CartStatus, max_seats, term_months};
use crate::VendorSim;
use crate::faults::Vendor;
use crate::operations as ops;
use crate::util::parse_json;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewCart {
    #[serde(default)]
    line_items: Vec<NewLine>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewLine {
    id: Option<i64>,
    catalog_item_id: Option<String>,
    friendly_name: Option<String>,
    quantity: Option<i64>,
    billing_cycle: Option<String>,
    term_duration: Option<String>,
    partner_id_on_record: Option<String>,
    provisioning_context: Option<Value>,
}

fn validate_line(sim: &VendorSim, index: usize, line: NewLine) -> Result<CartLine, MsError> {
    let field = |name: &str| format!("lineItems[{index}].{name}");
    let catalog_item_id = line
        .catalog_item_id
        .map(|c| c.trim().to_owned())
        .ok_or_else(|| MsError::invalid_input(format!("{} is required", field("catalogItemId"))))?;
    let parts: Vec<&str> = catalog_item_id.split(':').collect();
    let [product_id, sku_id, availability_id] = parts.as_slice() else {
        return Err(MsError::invalid_input(format!(
            "{} must be productId:skuId:availabilityId",
            field("catalogItemId")
        )));
    };
    if [product_id, sku_id, availability_id]
        .iter()
        .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return Err(MsError::invalid_input(format!(
            "{} must be productId:skuId:availabilityId (alphanumeric parts)",
            field("catalogItemId")
        )));
    }
    let term_duration = line
        .term_duration
        .filter(|t| term_months(t).is_some())
        .ok_or_else(|| {
            MsError::invalid_input(format!("{} must be P1M, P1Y or P3Y", field("termDuration")))
        })?;
    let billing_cycle = line
        .billing_cycle
        .map(|b| b.to_ascii_lowercase())
        .filter(|b| match b.as_str() {
            "monthly" => true,
            "annual" => term_duration != "P1M",
            "triennial" => term_duration == "P3Y",
            _ => false,
        })
        .ok_or_else(|| {
            MsError::invalid_input(format!(
                "{} must be monthly, annual (P1Y/P3Y) or triennial (P3Y)",
                field("billingCycle")
            ))
        })?;
    let quantity = line.quantity.unwrap_or(0);
    if quantity < 1 {
        return Err(MsError::invalid_input(format!(
            "{} must be at least 1",
            field("quantity")
        )));
    }
    let max = max_seats(&sim.config().rules, product_id);
    if quantity > i64::from(max) {
        return Err(MsError::with_code(
            StatusCode::BAD_REQUEST,
            codes::SEAT_LIMIT_EXCEEDED,
            format!(
                "desired seat count {quantity} exceeds the maximum of {max} seats per subscription"
            ),
        ));
    }
    let provisioning_context = match line.provisioning_context {
        None | Some(Value::Null) => json!({}),
        Some(Value::Object(map)) => Value::Object(map),
        Some(_) => {
            return Err(MsError::invalid_input(format!(
                "{} must be an object",
                field("provisioningContext")
            )));
        }
    };
    Ok(CartLine {
        id: line.id.unwrap_or(index as i64),
        product_id: (*product_id).to_owned(),
        sku_id: (*sku_id).to_owned(),
        catalog_item_id,
        friendly_name: line.friendly_name,
        quantity: quantity as u32,
        billing_cycle,
        term_duration,
        partner_id_on_record: line
            .partner_id_on_record
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty()),
        provisioning_context,
    })
}

/// `POST /v1/customers/{id}/carts` → 201 cart (status `Active`, expires in 7 days).
pub(crate) async fn create_cart(
    State(sim): State<VendorSim>,
    Path(customer_id): Path<String>,
    body: Bytes,
) -> Result<Response, MsError> {
    let request: NewCart = parse_json(&body).map_err(MsError::invalid_input)?;
    if request.line_items.is_empty() {
        return Err(MsError::invalid_input(
            "lineItems must contain at least one line item",
        ));
    }
    let lines = request
        .line_items
        .into_iter()
        .enumerate()
        .map(|(i, line)| validate_line(&sim, i, line))
        .collect::<Result<Vec<_>, _>>()?;

    let mut st = sim.lock();
    if !st.microsoft.customers.contains_key(&customer_id) {
        return Err(MsError::customer_not_found(&customer_id));
    }
    let now = st.now(sim.config());
    let cart = Cart {
        id: uuid::Uuid::new_v4().to_string(),
        customer_id,
        created_at: now,
        modified_at: now,
        expires_at: now + CART_LIFETIME,
        status: CartStatus::Active,
        lines,
    };
    let body = cart.json();
    st.microsoft.carts.insert(cart.id.clone(), cart);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn cart_not_found(cart_id: &str) -> MsError {
    MsError::with_code(
        StatusCode::NOT_FOUND,
        codes::CART_NOT_FOUND,
        format!("unable to retrieve cart {cart_id}"),
    )
}

/// `GET /v1/customers/{id}/carts/{cartId}`.
pub(crate) async fn get_cart(
    State(sim): State<VendorSim>,
    Path((customer_id, cart_id)): Path<(String, String)>,
) -> Result<Response, MsError> {
    let st = sim.lock();
    let cart = st
        .microsoft
        .carts
        .get(&cart_id)
        .filter(|c| c.customer_id == customer_id)
        .ok_or_else(|| cart_not_found(&cart_id))?;
    Ok(Json(cart.json()).into_response())
}

/// 6–7 digits and not configured as invalid.
fn valid_reseller_mpn(sim: &VendorSim, mpn: &str) -> bool {
    (6..=7).contains(&mpn.len())
        && mpn.bytes().all(|b| b.is_ascii_digit())
        && !sim
            .config()
            .rules
            .microsoft_invalid_mpn_ids
            .iter()
            .any(|m| m == mpn)
}

/// `POST /v1/customers/{id}/carts/{cartId}/checkout` → 201 `{orders, orderErrors}`.
pub(crate) async fn checkout(
    State(sim): State<VendorSim>,
    Path((customer_id, cart_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, MsError> {
    let mut st = sim.lock();
    let now = st.now(sim.config());
    let customer = st
        .microsoft
        .customers
        .get(&customer_id)
        .ok_or_else(|| MsError::customer_not_found(&customer_id))?;
    let has_mca = !customer.agreements.is_empty();
    let cart = st
        .microsoft
        .carts
        .get(&cart_id)
        .filter(|c| c.customer_id == customer_id)
        .ok_or_else(|| cart_not_found(&cart_id))?;
    if cart.status == CartStatus::Ordered {
        return Err(MsError::with_code(
            StatusCode::BAD_REQUEST,
            codes::CART_ALREADY_SUBMITTED,
            format!("cannot check out cart {cart_id}: it was already submitted"),
        ));
    }
    if cart.expires_at < now {
        return Err(MsError::with_code(
            StatusCode::BAD_REQUEST,
            codes::CART_NOT_FOUND,
            format!("unable to retrieve cart {cart_id}: it expired"),
        ));
    }
    if !has_mca {
        return Err(MsError::with_code(
            StatusCode::FORBIDDEN,
            codes::MCA_NOT_ACCEPTED,
            "the partner must confirm that the customer accepted the Microsoft Customer Agreement, or the customer must accept it in the Microsoft admin center",
        ));
    }
    if let Some(mpn) = cart
        .lines
        .iter()
        .filter_map(|l| l.partner_id_on_record.as_deref())
        .find(|mpn| !valid_reseller_mpn(&sim, mpn))
    {
        return Err(MsError::with_code(
            StatusCode::BAD_REQUEST,
            codes::INVALID_RESELLER_MPN,
            format!("MPN id {mpn} is not a valid indirect reseller"),
        ));
    }

    let reference = headers
        .get("ms-requestid")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("cart:{cart_id}"));
    let due = st.due_at(now);
    let injected = st
        .faults
        .take_async_failure(Vendor::Microsoft, ops::MICROSOFT_CHECKOUT);
    let order_id = st
        .microsoft
        .place_order(&cart_id, reference, now, due, injected)
        .ok_or_else(|| cart_not_found(&cart_id))?;
    st.materialize(now, &sim.config().rules);
    let order = st
        .microsoft
        .orders
        .get(&order_id)
        .map(|o| o.json())
        .unwrap_or(Value::Null);
    Ok((
        StatusCode::CREATED,
        Json(json!({"orders": [order], "orderErrors": []})),
    )
        .into_response())
}
