//! Autodesk-shaped error bodies.
//!
//! Shape (modelled on Autodesk's API gateway errors):
//! `{"errorCode": "4301", "developerMessage": "...", "userMessage": "Forbidden"}`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use super::codes;

/// An Autodesk API error answer.
#[derive(Debug, Clone)]
pub(crate) struct AdError {
    status: StatusCode,
    code: String,
    message: String,
}

impl AdError {
    pub(crate) fn new(
        status: StatusCode,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// 400 with [`codes::MALFORMED_REQUEST`].
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::MALFORMED_REQUEST, message)
    }

    pub(crate) fn unauthorized(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub(crate) fn forbidden(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }
}

impl IntoResponse for AdError {
    fn into_response(self) -> Response {
        let user_message = self.status.canonical_reason().unwrap_or("Error");
        let body = json!({
            "errorCode": self.code,
            "developerMessage": self.message,
            "userMessage": user_message,
        });
        (self.status, Json(body)).into_response()
    }
}

/// 429 with `Retry-After`.
pub(crate) fn rate_limited(retry_after_secs: u64) -> Response {
    let mut response = AdError::new(
        StatusCode::TOO_MANY_REQUESTS,
        codes::RATE_LIMITED,
        format!("rate limit of this API is exceeded; retry after {retry_after_secs} seconds"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}
