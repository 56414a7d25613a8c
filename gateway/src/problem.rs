//! RFC 9457 `application/problem+json` answers, built from [`ServiceError`] so REST and gRPC
//! report the same code, message and field violations.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use platform::error::{ErrorCode, FieldViolation, ServiceError};
use serde::Serialize;

/// Media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Base of the problem `type` URIs.
const TYPE_BASE: &str = "https://marketplace.example/problems/";

/// One offending field.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProblemField {
    /// Path of the field, e.g. `customer.contacts[0].email`.
    pub field: String,
    /// What is wrong with it.
    pub description: String,
}

/// A problem document.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// URI identifying the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What went wrong in this occurrence.
    pub detail: String,
    /// Field violations (bad input).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
    /// The business rule that refused the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Seconds to wait before retrying (also sent as `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none", rename = "retryAfter")]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of `code` with a detail message.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::from(ServiceError::new(code, detail))
    }

    /// A problem with an explicit status that has no error code (404 route, 405, 413).
    pub fn with_status(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("{TYPE_BASE}{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            rule: None,
            retry_after: None,
        }
    }

    /// Bad input naming one field.
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        Self::from(ServiceError::invalid_field(field, description))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

fn title(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::InvalidArgument => "Invalid request",
        ErrorCode::NotFound => "Not found",
        ErrorCode::AlreadyExists => "Already exists",
        ErrorCode::FailedPrecondition => "Business rule refused the request",
        ErrorCode::Aborted => "Stale version",
        ErrorCode::PermissionDenied => "Forbidden",
        ErrorCode::Unauthenticated => "Unauthenticated",
        ErrorCode::ResourceExhausted => "Too many requests",
        ErrorCode::Unavailable => "Service unavailable",
        ErrorCode::DeadlineExceeded => "Timed out",
        ErrorCode::Internal => "Internal error",
    }
}

impl From<ServiceError> for Problem {
    fn from(error: ServiceError) -> Self {
        let status = error.code.http_status();
        Self {
            kind: format!("{TYPE_BASE}{}", error.code.as_str()),
            title: title(error.code).to_string(),
            status: status.as_u16(),
            detail: error.message,
            errors: error
                .violations
                .into_iter()
                .map(|FieldViolation { field, description }| ProblemField { field, description })
                .collect(),
            rule: error.rule,
            retry_after: error
                .retry_after
                .map(|d| d.as_secs_f64().ceil().max(1.0) as u64),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"marketplace\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_violations_become_errors() {
        let problem = Problem::from(ServiceError::invalid_field(
            "customer.name",
            "must not be empty",
        ));
        assert_eq!(problem.status, 400);
        assert_eq!(problem.errors[0].field, "customer.name");
        let json = serde_json::to_value(&problem).unwrap();
        assert_eq!(
            json["type"],
            "https://marketplace.example/problems/invalid_argument"
        );
    }
}
