//! Fulfilment jobs: states and the rules of the operations API.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::error::VendorError;
use super::order::Change;

/// State of a fulfilment job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Created, not yet sent to the vendor.
    Queued,
    /// The vendor call is being made (or is retried after a transient error).
    Submitted,
    /// The vendor accepted the request; polling for the outcome.
    WaitingOnVendor,
    /// Done at the vendor.
    Succeeded,
    /// The vendor needs more information (the reseller corrects and re-submits).
    Inquiring,
    /// Refused permanently (NOT_PROVISIONED, staff alerted).
    Failed,
    /// Stopped before it reached the vendor, or after it failed.
    Cancelled,
}

impl JobState {
    /// Every state.
    pub const ALL: [JobState; 7] = [
        Self::Queued,
        Self::Submitted,
        Self::WaitingOnVendor,
        Self::Succeeded,
        Self::Inquiring,
        Self::Failed,
        Self::Cancelled,
    ];

    /// Stable name (storage).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Submitted => "submitted",
            Self::WaitingOnVendor => "waiting_on_vendor",
            Self::Succeeded => "succeeded",
            Self::Inquiring => "inquiring",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// The `marketplace.provisioning.v1.JobState` name carried by events.
    pub fn proto_name(self) -> &'static str {
        match self {
            Self::Queued => "JOB_STATE_QUEUED",
            Self::Submitted => "JOB_STATE_SUBMITTED",
            Self::WaitingOnVendor => "JOB_STATE_WAITING_ON_VENDOR",
            Self::Succeeded => "JOB_STATE_SUCCEEDED",
            Self::Inquiring => "JOB_STATE_INQUIRING",
            Self::Failed => "JOB_STATE_FAILED",
            Self::Cancelled => "JOB_STATE_CANCELLED",
        }
    }

    /// Whether workers still work on it.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Queued | Self::Submitted | Self::WaitingOnVendor)
    }

    /// States workers pick up, as stored.
    pub const ACTIVE: [&'static str; 3] = ["queued", "submitted", "waiting_on_vendor"];
}

/// A job as the operations API shows it.
#[derive(Debug, Clone)]
pub struct Job {
    /// Id (UUIDv7).
    pub id: String,
    /// Ordering's request id.
    pub request_id: String,
    /// Order id.
    pub order_id: String,
    /// Order item id.
    pub order_item_id: String,
    /// Reseller id.
    pub reseller_id: String,
    /// Customer id.
    pub customer_id: String,
    /// Vendor id.
    pub vendor_id: String,
    /// Plan id.
    pub plan_id: String,
    /// The change.
    pub change: Change,
    /// Seats.
    pub quantity: i32,
    /// State.
    pub state: JobState,
    /// Vendor calls made (rounds of work).
    pub attempts: i32,
    /// When workers pick it up next.
    pub next_attempt_at: OffsetDateTime,
    /// Vendor transaction / order id.
    pub vendor_reference: String,
    /// Vendor subscription id once known.
    pub vendor_subscription_id: String,
    /// Last raw vendor response (truncated, secrets removed).
    pub last_vendor_response: String,
    /// Last vendor error.
    pub last_error: Option<(VendorError, OffsetDateTime)>,
    /// Effective parameters.
    pub parameters: BTreeMap<String, String>,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

/// Why an operation on a job is refused (a business rule, answered FAILED_PRECONDITION).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Rule name.
    pub rule: &'static str,
    /// Message naming the state in the way.
    pub message: String,
}

impl Job {
    /// A job can be cancelled before it reached the vendor, or once it failed / is inquiring.
    pub fn check_cancel(&self) -> Result<(), Refusal> {
        let allowed = match self.state {
            // Queued jobs were never claimed by a worker: nothing reached the vendor.
            JobState::Queued | JobState::Failed | JobState::Inquiring => true,
            _ => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(Refusal {
                rule: "provisioning.cancel_only_before_vendor_or_after_failure",
                message: format!(
                    "job {} is {} at the vendor and cannot be cancelled",
                    self.id,
                    self.state.as_str()
                ),
            })
        }
    }

    /// Retry now: active jobs skip their wait; failed jobs start over as a new vendor order.
    pub fn check_retry(&self) -> Result<(), Refusal> {
        if self.state.is_active() || self.state == JobState::Failed {
            Ok(())
        } else {
            Err(Refusal {
                rule: "provisioning.retry_active_or_failed",
                message: format!(
                    "job {} is {}; only active or failed jobs can be retried",
                    self.id,
                    self.state.as_str()
                ),
            })
        }
    }

    /// Re-submission with corrected parameters: INQUIRING or FAILED jobs only.
    pub fn check_resubmit(&self) -> Result<(), Refusal> {
        if matches!(self.state, JobState::Inquiring | JobState::Failed) {
            Ok(())
        } else {
            Err(Refusal {
                rule: "provisioning.resubmit_inquiring_or_failed",
                message: format!(
                    "job {} is {}; only inquiring or failed jobs can be re-submitted",
                    self.id,
                    self.state.as_str()
                ),
            })
        }
    }
}
