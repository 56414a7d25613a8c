//! Vendor errors and how they are classified.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Class of a vendor error: decides whether the job is retried and how it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Network, timeout, 5xx: retried with exponential backoff.
    Transient,
    /// 429: retried after the vendor's `Retry-After`, never earlier.
    Throttled,
    /// A business error the reseller can fix: the job becomes INQUIRING.
    NeedsInput,
    /// Permanent failure: the job becomes FAILED (NOT_PROVISIONED) and staff are alerted.
    Permanent,
    /// The vendor is busy with a conflicting order: retried later.
    Conflict,
    /// The vendor refused our credentials or setup (401/403, Autodesk 4106): nothing the
    /// reseller did. The job waits with a slow probe (never exhausting its attempts), staff are
    /// alerted once per connector, and the first accepted call resumes the waiting jobs.
    Configuration,
}

impl ErrorClass {
    /// Stable name (storage, logs).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Throttled => "throttled",
            Self::NeedsInput => "needs_input",
            Self::Permanent => "permanent",
            Self::Conflict => "conflict",
            Self::Configuration => "configuration",
        }
    }

    /// Whether a job hitting this class is tried again.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::Transient | Self::Throttled | Self::Conflict | Self::Configuration
        )
    }
}

/// A field-level problem reported by the vendor, in marketplace terms
/// (e.g. `parameters.mpn_id`, `quantity`, `customer.contacts[0].email`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldViolation {
    /// Path of the offending field or ordering parameter.
    pub field: String,
    /// What the vendor said about it.
    pub description: String,
}

/// A classified vendor error, kept on the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorError {
    /// The class.
    pub class: ErrorClass,
    /// The vendor's code (`800016`, `UAN-GEN-00108`, `http_503`, `timeout`...).
    pub code: String,
    /// The vendor's message (or ours for network errors).
    pub message: String,
    /// Field violations (for [`ErrorClass::NeedsInput`]).
    #[serde(default)]
    pub violations: Vec<FieldViolation>,
    /// When the vendor allows the next call (429 `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_millis")]
    pub retry_after: Option<Duration>,
}

impl VendorError {
    /// An error of `class`.
    pub fn new(class: ErrorClass, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            class,
            code: code.into(),
            message: message.into(),
            violations: Vec::new(),
            retry_after: None,
        }
    }

    /// A transient error.
    pub fn transient(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Transient, code, message)
    }

    /// Our credentials or setup were refused; `message` names the settings to check (never a
    /// secret).
    pub fn configuration(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Configuration, code, message)
    }

    /// A permanent error.
    pub fn permanent(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Permanent, code, message)
    }

    /// A business error on one field the reseller can fix.
    pub fn needs_input(
        code: impl Into<String>,
        message: impl Into<String>,
        field: impl Into<String>,
    ) -> Self {
        let message = message.into();
        let violation = FieldViolation {
            field: field.into(),
            description: message.clone(),
        };
        Self {
            violations: vec![violation],
            ..Self::new(ErrorClass::NeedsInput, code, message)
        }
    }

    /// A permanent refusal that names the field to correct before a re-submission (the vendor
    /// refused the end customer's data: the job fails, staff are alerted, the reseller may fix it).
    pub fn refused(
        code: impl Into<String>,
        message: impl Into<String>,
        field: impl Into<String>,
    ) -> Self {
        Self {
            class: ErrorClass::Permanent,
            ..Self::needs_input(code, message, field)
        }
    }

    /// A 429 with the vendor's `Retry-After`.
    pub fn throttled(
        code: impl Into<String>,
        message: impl Into<String>,
        retry_after: Duration,
    ) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(ErrorClass::Throttled, code, message)
        }
    }
}

impl fmt::Display for VendorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} error {}: {}",
            self.class.as_str(),
            self.code,
            self.message
        )
    }
}

mod opt_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}
