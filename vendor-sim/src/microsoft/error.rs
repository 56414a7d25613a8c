//! Partner Center-shaped error bodies:
//! `{"code": 800065, "description": "...", "data": [], "source": "PartnerFD"}`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::codes;

/// A Partner Center error answer.
#[derive(Debug, Clone)]
pub(crate) struct MsError {
    status: StatusCode,
    code: Value,
    description: String,
}

impl MsError {
    /// An error with `code` sent as a JSON number when it is numeric, else as a string.
    pub(crate) fn new(status: StatusCode, code: &str, description: impl Into<String>) -> Self {
        let code = code
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::from(code));
        Self {
            status,
            code,
            description: description.into(),
        }
    }

    pub(crate) fn with_code(status: StatusCode, code: u32, description: impl Into<String>) -> Self {
        Self {
            status,
            code: Value::from(code),
            description: description.into(),
        }
    }

    /// 400 / 800002 (invalid request input).
    pub(crate) fn invalid_input(description: impl Into<String>) -> Self {
        Self::with_code(StatusCode::BAD_REQUEST, codes::INVALID_INPUT, description)
    }

    pub(crate) fn customer_not_found(customer_id: &str) -> Self {
        Self::with_code(
            StatusCode::NOT_FOUND,
            codes::CUSTOMER_NOT_FOUND,
            format!(
                "customer {customer_id} was not found or has no relationship with this partner"
            ),
        )
    }
}

impl IntoResponse for MsError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "description": self.description,
            "data": [],
            "source": "PartnerFD",
        });
        (self.status, Json(body)).into_response()
    }
}

/// 429 with `Retry-After` and Partner Center's throttling body.
pub(crate) fn rate_limited(retry_after_secs: u64) -> Response {
    let body = json!({
        "statusCode": 429,
        "message": format!("Rate limit is exceeded. Try again in {retry_after_secs} seconds."),
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// 409 / 800064: the first request with the same `MS-RequestId` is still being processed.
pub(crate) fn request_in_progress() -> MsError {
    MsError::with_code(
        StatusCode::CONFLICT,
        codes::REQUEST_IN_PROGRESS,
        "the request is being processed by another request with the same MS-RequestId",
    )
}
