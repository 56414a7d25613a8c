//! The Microsoft Partner Center (new commerce) simulator.
//!
//! Every route needs `Authorization: Bearer <configured token>` (401 otherwise). Responses echo
//! `MS-RequestId` and `MS-CorrelationId` (generated when absent) and add `MS-CV` and
//! `MS-ServerId`. A request carrying an `MS-RequestId` already answered on the same route
//! (method + path) gets the stored first answer replayed without any new effect
//! (only for POST, PATCH, PUT and DELETE; see the crate README).

mod carts;
mod customers;
mod error;
pub(crate) mod idempotency;
mod orders;
mod state;
mod subscriptions;
mod tenants;

use axum::Router;
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

pub(crate) use error::{MsError, rate_limited, request_in_progress};
pub(crate) use state::MicrosoftState;

use crate::VendorSim;
use crate::config::MicrosoftCredentials;
use crate::operations as ops;

/// The template id the simulator publishes for the Microsoft Customer Agreement
/// (`GET /v1/agreements?agreementType=MicrosoftCustomerAgreement`).
pub const MCA_TEMPLATE_ID: &str = "3e4f7d2a-9c61-4b8e-a5d0-71c2b6e9f410";

/// The simulated partner's own tenant id (the `partnerId` of its reseller relationship
/// invitation link, `GET /v1/customers/relationshiprequests`).
pub const PARTNER_TENANT_ID: &str = "5b1c0c6e-2f4d-4e8a-9a77-3d0c5e1f2a90";

pub(crate) use tenants::control_routes;

/// Partner Center error codes the simulator answers with (numbers in the JSON body). All but
/// [`CUSTOMER_NOT_FOUND`](codes::CUSTOMER_NOT_FOUND), [`DOMAIN_IN_USE`](codes::DOMAIN_IN_USE) and
/// [`UNAUTHORIZED`](codes::UNAUTHORIZED) are Partner Center's published codes; the simulator's use
/// of [`STATUS_CHANGE_NOT_ALLOWED`](codes::STATUS_CHANGE_NOT_ALLOWED) for an NCE cancellation after
/// the 7-day window and of [`SEAT_DECREASE_NOT_ALLOWED`](codes::SEAT_DECREASE_NOT_ALLOWED) for a
/// seat decrease after it are its own choice.
pub mod codes {
    /// 401: missing or wrong bearer token (simulator's choice).
    pub const UNAUTHORIZED: u32 = 401;
    /// 400: invalid request input.
    pub const INVALID_INPUT: u32 = 800002;
    /// 404: customer unknown (simulator's choice, "no commerce relationship").
    pub const CUSTOMER_NOT_FOUND: u32 = 20002;
    /// 409: the customer domain is already taken (simulator's choice).
    pub const DOMAIN_IN_USE: u32 = 600100;
    /// 403: MCA not attested for the customer.
    pub const MCA_NOT_ACCEPTED: u32 = 13605;
    /// 400: `partnerIdOnRecord` is not a valid indirect reseller MPN id.
    pub const INVALID_RESELLER_MPN: u32 = 800016;
    /// 404 (or 400 when expired): unable to retrieve the cart.
    pub const CART_NOT_FOUND: u32 = 800008;
    /// 409: the first request with this MS-RequestId is still being processed.
    pub const REQUEST_IN_PROGRESS: u32 = 800064;
    /// 400: the cart was already checked out.
    pub const CART_ALREADY_SUBMITTED: u32 = 800065;
    /// 409: order in progress (used by [`crate::Fault::microsoft_order_in_progress`]).
    pub const ORDER_IN_PROGRESS: u32 = 800060;
    /// 400: cart quantity above the plan's maximum seat count.
    pub const SEAT_LIMIT_EXCEEDED: u32 = 800067;
    /// 404: order unknown.
    pub const ORDER_NOT_FOUND: u32 = 20000;
    /// 404: subscription unknown.
    pub const SUBSCRIPTION_NOT_FOUND: u32 = 20003;
    /// 400: quantity change while the subscription is suspended.
    pub const QUANTITY_CHANGE_WHILE_SUSPENDED: u32 = 2001;
    /// 400: quantity outside 1..=max.
    pub const QUANTITY_OUT_OF_RANGE: u32 = 2002;
    /// 400: the subscription is deleted and cannot be updated.
    pub const SUBSCRIPTION_DELETED: u32 = 2011;
    /// 412: `If-Match` etag is stale.
    pub const ETAG_MISMATCH: u32 = 2055;
    /// 400: status transition not allowed (incl. cancellation after the 7-day window).
    pub const STATUS_CHANGE_NOT_ALLOWED: u32 = 800040;
    /// 400: seat decrease outside the 7-day window.
    pub const SEAT_DECREASE_NOT_ALLOWED: u32 = 800027;
}

/// The Partner Center routes (without the pipeline and control routes).
pub(crate) fn routes() -> Router<VendorSim> {
    Router::new()
        .route(
            "/v1/customers",
            post(customers::create_customer).get(customers::list_customers),
        )
        .route(
            "/v1/customers/relationshiprequests",
            get(customers::relationship_request),
        )
        .route("/v1/customers/{customer_id}", get(customers::get_customer))
        .route("/v1/agreements", get(customers::agreement_metadata))
        .route(
            "/v1/customers/{customer_id}/agreements",
            post(customers::create_agreement).get(customers::list_agreements),
        )
        .route(
            "/v1/customers/{customer_id}/carts",
            post(carts::create_cart),
        )
        .route(
            "/v1/customers/{customer_id}/carts/{cart_id}",
            get(carts::get_cart),
        )
        .route(
            "/v1/customers/{customer_id}/carts/{cart_id}/checkout",
            post(carts::checkout),
        )
        .route(
            "/v1/customers/{customer_id}/orders/{order_id}",
            get(orders::get_order),
        )
        .route(
            "/v1/customers/{customer_id}/orders/{order_id}/provisioningstatus",
            get(orders::provisioning_status),
        )
        .route(
            "/v1/customers/{customer_id}/subscriptions",
            get(subscriptions::list_subscriptions),
        )
        .route(
            "/v1/customers/{customer_id}/subscriptions/{subscription_id}",
            get(subscriptions::get_subscription).patch(subscriptions::patch_subscription),
        )
}

/// The operation name of a matched route.
pub(crate) fn operation(method: &Method, path: &str) -> &'static str {
    match (method.as_str(), path) {
        ("POST", "/v1/customers") => ops::MICROSOFT_CREATE_CUSTOMER,
        ("GET", "/v1/customers") => ops::MICROSOFT_LIST_CUSTOMERS,
        ("GET", "/v1/customers/relationshiprequests") => ops::MICROSOFT_RELATIONSHIP_REQUEST,
        ("GET", "/v1/customers/{customer_id}") => ops::MICROSOFT_GET_CUSTOMER,
        ("GET", "/v1/agreements") => ops::MICROSOFT_AGREEMENT_METADATA,
        ("POST", "/v1/customers/{customer_id}/agreements") => ops::MICROSOFT_CREATE_AGREEMENT,
        ("GET", "/v1/customers/{customer_id}/agreements") => ops::MICROSOFT_LIST_AGREEMENTS,
        ("POST", "/v1/customers/{customer_id}/carts") => ops::MICROSOFT_CREATE_CART,
        ("GET", "/v1/customers/{customer_id}/carts/{cart_id}") => ops::MICROSOFT_GET_CART,
        ("POST", "/v1/customers/{customer_id}/carts/{cart_id}/checkout") => ops::MICROSOFT_CHECKOUT,
        ("GET", "/v1/customers/{customer_id}/orders/{order_id}") => ops::MICROSOFT_GET_ORDER,
        ("GET", "/v1/customers/{customer_id}/orders/{order_id}/provisioningstatus") => {
            ops::MICROSOFT_PROVISIONING_STATUS
        }
        ("GET", "/v1/customers/{customer_id}/subscriptions") => ops::MICROSOFT_LIST_SUBSCRIPTIONS,
        ("GET", "/v1/customers/{customer_id}/subscriptions/{subscription_id}") => {
            ops::MICROSOFT_GET_SUBSCRIPTION
        }
        ("PATCH", "/v1/customers/{customer_id}/subscriptions/{subscription_id}") => {
            ops::MICROSOFT_PATCH_SUBSCRIPTION
        }
        _ => "microsoft.unknown",
    }
}

/// Checks `Authorization: Bearer <configured token>`.
pub(crate) fn check_auth(creds: &MicrosoftCredentials, headers: &HeaderMap) -> Result<(), MsError> {
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    if presented == Some(creds.bearer_token.as_str()) {
        Ok(())
    } else {
        Err(MsError::with_code(
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHORIZED,
            "authentication failed: a valid Authorization: Bearer token is required",
        ))
    }
}

/// Echoes `MS-RequestId` / `MS-CorrelationId` (or generates them) and adds `MS-CV`, `MS-ServerId`.
pub(crate) fn add_response_headers(request: &HeaderMap, response: &mut HeaderMap) {
    for name in ["ms-requestid", "ms-correlationid"] {
        let value = request
            .get(name)
            .cloned()
            .or_else(|| HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).ok());
        if let Some(value) = value {
            response.insert(name, value);
        }
    }
    let cv = format!("{}.0", crate::util::random_token(16));
    if let Ok(cv) = HeaderValue::from_str(&cv) {
        response.insert("ms-cv", cv);
    }
    response.insert("ms-serverid", HeaderValue::from_static("vendor-sim-pc-01"));
}
