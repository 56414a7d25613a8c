//! One closed error-code enum, mapped to gRPC codes and HTTP statuses in one place.
//!
//! Services turn their domain errors into [`ServiceError`]; the gRPC layer turns that into a
//! `tonic::Status` carrying `google.rpc` details (`BadRequest` field violations,
//! `PreconditionFailure`, `RetryInfo`, `ErrorInfo`), which the gateway maps back to RFC 9457
//! problem+json. Internal errors are logged with their context and answered opaquely.

use std::fmt;
use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The closed set of error codes. Deliberately a small subset of gRPC codes: add variants
/// thoughtfully, every one must map to both protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Malformed input; names the fields.
    InvalidArgument,
    /// The resource does not exist or the caller may not see it.
    NotFound,
    /// The resource already exists.
    AlreadyExists,
    /// A business rule refuses the request in the current state.
    FailedPrecondition,
    /// Concurrent modification: stale etag or version.
    Aborted,
    /// The caller is known but may not do this.
    PermissionDenied,
    /// The caller is not authenticated.
    Unauthenticated,
    /// Rate limit or quota exceeded.
    ResourceExhausted,
    /// A dependency is temporarily unavailable; retry.
    Unavailable,
    /// The deadline passed.
    DeadlineExceeded,
    /// A bug or an unexpected failure; details are only logged.
    Internal,
}

impl ErrorCode {
    /// The gRPC status code.
    pub fn grpc_code(self) -> Code {
        match self {
            Self::InvalidArgument => Code::InvalidArgument,
            Self::NotFound => Code::NotFound,
            Self::AlreadyExists => Code::AlreadyExists,
            Self::FailedPrecondition => Code::FailedPrecondition,
            Self::Aborted => Code::Aborted,
            Self::PermissionDenied => Code::PermissionDenied,
            Self::Unauthenticated => Code::Unauthenticated,
            Self::ResourceExhausted => Code::ResourceExhausted,
            Self::Unavailable => Code::Unavailable,
            Self::DeadlineExceeded => Code::DeadlineExceeded,
            Self::Internal => Code::Internal,
        }
    }

    /// The HTTP status code.
    pub fn http_status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Self::InvalidArgument => S::BAD_REQUEST,
            Self::NotFound => S::NOT_FOUND,
            Self::AlreadyExists => S::CONFLICT,
            Self::FailedPrecondition => S::UNPROCESSABLE_ENTITY,
            Self::Aborted => S::PRECONDITION_FAILED,
            Self::PermissionDenied => S::FORBIDDEN,
            Self::Unauthenticated => S::UNAUTHORIZED,
            Self::ResourceExhausted => S::TOO_MANY_REQUESTS,
            Self::Unavailable => S::SERVICE_UNAVAILABLE,
            Self::DeadlineExceeded => S::GATEWAY_TIMEOUT,
            Self::Internal => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable machine-readable name, used as `ErrorInfo.reason` and problem `type` suffix.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "invalid_argument",
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::FailedPrecondition => "failed_precondition",
            Self::Aborted => "aborted",
            Self::PermissionDenied => "permission_denied",
            Self::Unauthenticated => "unauthenticated",
            Self::ResourceExhausted => "resource_exhausted",
            Self::Unavailable => "unavailable",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::Internal => "internal",
        }
    }

    /// Maps a gRPC code back (for errors received from another service).
    pub fn from_grpc(code: Code) -> Self {
        match code {
            Code::InvalidArgument | Code::OutOfRange => Self::InvalidArgument,
            Code::NotFound => Self::NotFound,
            Code::AlreadyExists => Self::AlreadyExists,
            Code::FailedPrecondition => Self::FailedPrecondition,
            Code::Aborted => Self::Aborted,
            Code::PermissionDenied => Self::PermissionDenied,
            Code::Unauthenticated => Self::Unauthenticated,
            Code::ResourceExhausted => Self::ResourceExhausted,
            Code::Unavailable | Code::Cancelled => Self::Unavailable,
            Code::DeadlineExceeded => Self::DeadlineExceeded,
            _ => Self::Internal,
        }
    }
}

/// One offending field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field, e.g. `customer.contacts[0].email`.
    pub field: String,
    /// What is wrong with it.
    pub description: String,
}

/// An error a service answers with.
#[derive(Debug, Clone)]
pub struct ServiceError {
    /// The code.
    pub code: ErrorCode,
    /// Human-readable message (lowercase, no trailing period). Opaque for internal errors.
    pub message: String,
    /// Field violations for [`ErrorCode::InvalidArgument`].
    pub violations: Vec<FieldViolation>,
    /// The business rule that refused a [`ErrorCode::FailedPrecondition`], e.g. `autodesk.one_order_at_a_time`.
    pub rule: Option<String>,
    /// When to retry, for throttling and unavailability.
    pub retry_after: Option<Duration>,
}

impl ServiceError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            violations: Vec::new(),
            rule: None,
            retry_after: None,
        }
    }

    /// Bad input in one field.
    pub fn invalid_field(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::invalid_fields(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }

    /// Bad input in several fields.
    pub fn invalid_fields(violations: Vec<FieldViolation>) -> Self {
        let message = match violations.as_slice() {
            [one] => format!("invalid {}: {}", one.field, one.description),
            many => format!("{} invalid fields", many.len()),
        };
        Self {
            violations,
            ..Self::new(ErrorCode::InvalidArgument, message)
        }
    }

    /// A resource the caller cannot see.
    pub fn not_found(what: impl fmt::Display) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// A business rule refuses the request.
    pub fn precondition(rule: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            rule: Some(rule.into()),
            ..Self::new(ErrorCode::FailedPrecondition, message)
        }
    }

    /// Stale etag or version.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Aborted, message)
    }

    /// The caller may not do this.
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PermissionDenied, message)
    }

    /// The caller is not authenticated.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }

    /// A dependency is down.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    /// An unexpected failure: logged here with its context, answered opaquely.
    #[track_caller]
    pub fn internal(context: &str, error: impl fmt::Display) -> Self {
        let location = std::panic::Location::caller();
        tracing::error!(%error, context, at = %location, "internal error");
        Self::new(ErrorCode::Internal, "internal error")
    }

    /// Converts an error received from another service's gRPC answer.
    pub fn from_status(status: &Status) -> Self {
        let code = ErrorCode::from_grpc(status.code());
        let mut error = Self::new(code, status.message());
        let details = status.get_error_details();
        if let Some(bad_request) = details.bad_request() {
            error.violations = bad_request
                .field_violations
                .iter()
                .map(|v| FieldViolation {
                    field: v.field.clone(),
                    description: v.description.clone(),
                })
                .collect();
        }
        if let Some(precondition) = details.precondition_failure() {
            error.rule = precondition.violations.first().map(|v| v.subject.clone());
        }
        if let Some(retry) = details.retry_info() {
            error.retry_after = retry.retry_delay;
        }
        error
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ServiceError {}

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Self {
        let mut details = ErrorDetails::new();
        details.set_error_info(
            error.code.as_str(),
            "marketplace",
            std::collections::HashMap::new(),
        );
        if !error.violations.is_empty() {
            for v in &error.violations {
                details.add_bad_request_violation(v.field.clone(), v.description.clone());
            }
        }
        if let Some(rule) = &error.rule {
            details.add_precondition_failure_violation("RULE", rule.clone(), error.message.clone());
        }
        if let Some(delay) = error.retry_after {
            details.set_retry_info(Some(delay));
        }
        Status::with_error_details(error.code.grpc_code(), error.message, details)
    }
}

impl From<sqlx::Error> for ServiceError {
    #[track_caller]
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => {
                tracing::warn!(%error, "database unavailable");
                Self::unavailable("database unavailable")
            }
            _ => Self::internal("database", error),
        }
    }
}

/// Shorthand result type.
pub type ServiceResult<T> = Result<T, ServiceError>;

/// Collects field violations while validating a request, then fails once with all of them.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a violation.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Records the error of a parse result and returns its value.
    pub fn check<T, E: fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.add(field, error.to_string());
                None
            }
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when empty, else an `InvalidArgument` naming every field.
    pub fn into_result(self) -> ServiceResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::invalid_fields(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_round_trips_field_violations_through_grpc() {
        let error = ServiceError::invalid_field("customer.name", "must not be empty");
        let status: Status = error.into();
        assert_eq!(status.code(), Code::InvalidArgument);
        let back = ServiceError::from_status(&status);
        assert_eq!(back.code, ErrorCode::InvalidArgument);
        assert_eq!(back.violations[0].field, "customer.name");
        assert_eq!(back.code.http_status(), http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn precondition_keeps_its_rule() {
        let status: Status =
            ServiceError::precondition("autodesk.one_order_at_a_time", "order ORD-1 is in the way")
                .into();
        let back = ServiceError::from_status(&status);
        assert_eq!(back.rule.as_deref(), Some("autodesk.one_order_at_a_time"));
        assert_eq!(
            back.code.http_status(),
            http::StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}
