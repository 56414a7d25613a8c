//! The Autodesk partner API simulator.
//!
//! Routes:
//! - `POST /v2/oauth/generateaccesstoken?grant_type=client_credentials` → `200 {"access_token","token_type":"Bearer","expires_in":1799}`
//! - `POST /v2/orders/fulfillment` (New, AddSeats, Renewal, TurnOnAutoRenew) → `202 {"transactionId"}`
//! - `POST /v2/orders/revoke` (RemoveSeats, TurnOffAutoRenew) → `202 {"transactionId"}`
//! - `GET /v1/orders/status/{transactionId}` → `{"status","message","last_updated",...}`
//!
//! Idempotency: the client reference (`partnerOrderId`, else `poNumber`) identifies an order.
//! Posting an order with a reference that was already accepted returns `202` with the first
//! order's transaction id and changes nothing, whatever the rest of the body says.

mod auth;
mod error;
mod handlers;
mod request;
mod state;

use axum::Router;
use axum::routing::{get, post};
use http::Method;

pub use auth::signature;
pub(crate) use error::{AdError, rate_limited};
pub(crate) use state::AutodeskState;

use crate::VendorSim;
use crate::operations as ops;

/// Error codes the Autodesk simulator answers with. The numeric ones follow Autodesk's published
/// PlaceOrder gateway table; `UAN-GEN-00108` is Autodesk's "part number not found"; the other
/// `UAN-*` codes are the simulator's own, in Autodesk's style.
pub mod codes {
    /// 400: malformed or incomplete request.
    pub const MALFORMED_REQUEST: &str = "4000";
    /// 401: no CSN header.
    pub const MISSING_CSN: &str = "4100";
    /// 401: no signature header.
    pub const MISSING_SIGNATURE: &str = "4101";
    /// 401: no timestamp header.
    pub const MISSING_TIMESTAMP: &str = "4103";
    /// 401: no (or wrong scheme of) Authorization header.
    pub const MISSING_AUTHORIZATION: &str = "4104";
    /// 401: unknown or expired access token.
    pub const INVALID_TOKEN: &str = "4105";
    /// 401: token call with wrong consumer key/secret.
    pub const TOKEN_GENERATION_FAILED: &str = "4106";
    /// 403: CSN header is not the partner's CSN.
    pub const INVALID_CSN: &str = "4300";
    /// 403 (401 on the token call): signature mismatch.
    pub const INVALID_SIGNATURE: &str = "4301";
    /// 403 (401 on the token call): timestamp not unix seconds within 5 minutes.
    pub const INVALID_TIMESTAMP: &str = "4302";
    /// 404: unknown transaction id.
    pub const TRANSACTION_NOT_FOUND: &str = "UAN-ORD-00404";
    /// 429: throttled.
    pub const RATE_LIMITED: &str = "ERR-001";
    /// Async: part number unknown or malformed.
    pub const PART_NUMBER_NOT_FOUND: &str = "UAN-GEN-00108";
    /// Async: contract manager e-mail rejected.
    pub const INVALID_CONTACT_EMAIL: &str = "UAN-CON-00101";
    /// Async: subscription id unknown.
    pub const SUBSCRIPTION_NOT_FOUND: &str = "UAN-SUB-00101";
    /// Async: seat removal would leave no seat.
    pub const INVALID_SEAT_QUANTITY: &str = "UAN-SUB-00102";
    /// Async: auto-renew was turned off and cannot be turned on again (nor renewed).
    pub const AUTO_RENEW_CANNOT_BE_REENABLED: &str = "UAN-SUB-00103";
    /// Async: auto-renew is already off.
    pub const AUTO_RENEW_ALREADY_OFF: &str = "UAN-SUB-00104";
    /// Async: fewer than 5 business days before the term ends.
    pub const AUTO_RENEW_CUTOFF_PASSED: &str = "UAN-SUB-00105";
}

/// Token lifetime announced in `expires_in` and enforced.
pub const TOKEN_LIFETIME_SECS: i64 = 1799;

/// The Autodesk API routes (without the pipeline and control routes).
pub(crate) fn routes() -> Router<VendorSim> {
    Router::new()
        .route(
            "/v2/oauth/generateaccesstoken",
            post(handlers::generate_token),
        )
        .route("/v2/orders/fulfillment", post(handlers::fulfillment))
        .route("/v2/orders/revoke", post(handlers::revoke))
        .route(
            "/v1/orders/status/{transaction_id}",
            get(handlers::order_status),
        )
}

/// The operation name of a matched route.
pub(crate) fn operation(method: &Method, path: &str) -> &'static str {
    match (method.as_str(), path) {
        ("POST", "/v2/oauth/generateaccesstoken") => ops::AUTODESK_TOKEN,
        ("POST", "/v2/orders/fulfillment") => ops::AUTODESK_PLACE_ORDER,
        ("POST", "/v2/orders/revoke") => ops::AUTODESK_REVOKE_ORDER,
        ("GET", "/v1/orders/status/{transaction_id}") => ops::AUTODESK_ORDER_STATUS,
        _ => "autodesk.unknown",
    }
}
