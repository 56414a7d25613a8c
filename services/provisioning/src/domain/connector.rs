//! The contract between the worker and a vendor: one [`VendorConnector`] per vendor API.
//!
//! A connector advances a job by one round of vendor calls ([`VendorConnector::advance`]) and
//! reports a [`Step`]. Whatever it must remember across rounds, crashes and replicas lives in the
//! job's [`Checkpoint`], which the worker stores with the outcome. When a vendor call must be
//! repeatable after a crash (Partner Center's `MS-RequestId`), the connector first records the
//! key in the checkpoint and asks the worker to make it durable ([`CheckpointSaver::save`])
//! *before* calling.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::Date;

use super::error::VendorError;
use super::order::JobContext;

/// Connector-owned progress of a job, stored as JSON with the job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Vendor reference of the accepted request (Autodesk transaction id, Microsoft order id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_reference: Option<String>,
    /// Microsoft customer tenant id created or reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_tenant_id: Option<String>,
    /// Microsoft customer tenant domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_tenant_domain: Option<String>,
    /// Microsoft Customer Agreement attested for the tenant.
    #[serde(default)]
    pub mca_confirmed: bool,
    /// Microsoft cart id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart_id: Option<String>,
    /// Idempotency keys (`MS-RequestId`) of calls that may have reached the vendor without an
    /// answer, by step name. Reused on the retry after a timeout; dropped after any response.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_ids: BTreeMap<String, String>,
    /// Status polls made while waiting on the vendor.
    #[serde(default)]
    pub polls: u32,
    /// Whether any vendor call that may change vendor state was made.
    #[serde(default)]
    pub reached_vendor: bool,
}

impl Checkpoint {
    /// The idempotency key of `step`, and whether it is new (then it must be saved before use).
    pub fn request_id(&mut self, step: &str) -> (String, bool) {
        if let Some(id) = self.request_ids.get(step) {
            return (id.clone(), false);
        }
        let id = uuid::Uuid::new_v4().to_string();
        self.request_ids.insert(step.to_string(), id.clone());
        (id, true)
    }

    /// Forgets the key of `step` after the vendor answered.
    pub fn answered(&mut self, step: &str) {
        self.request_ids.remove(step);
    }
}

/// What a successful change produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Success {
    /// Vendor subscription id.
    pub vendor_subscription_id: String,
    /// Vendor reference (transaction / order id).
    pub vendor_reference: String,
    /// Term start.
    pub term_start: Option<Date>,
    /// Term end (inclusive).
    pub term_end: Option<Date>,
    /// Vendor portal link (Autodesk Account Portal).
    pub portal_url: String,
    /// Vendor message.
    pub message: String,
    /// Seats after the change.
    pub quantity: i32,
    /// Microsoft tenant id created or reused.
    pub microsoft_tenant_id: String,
    /// Microsoft tenant domain.
    pub microsoft_tenant_domain: String,
    /// Autodesk end-customer CSN.
    pub autodesk_customer_csn: String,
}

/// The outcome of one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The vendor accepted; poll again later.
    Waiting {
        /// Vendor transaction / order id.
        vendor_reference: String,
        /// Vendor message.
        message: String,
    },
    /// Done.
    Succeeded(Success),
    /// A classified error (retried or final depending on its class).
    Error(VendorError),
    /// The worker lost the job (lease taken over) while saving: stop without recording anything.
    LostLease,
}

/// The result of [`VendorConnector::advance`].
#[derive(Debug, Clone)]
pub struct Report {
    /// The outcome.
    pub step: Step,
    /// The last raw vendor response (truncated, secrets removed), for operators.
    pub last_response: Option<String>,
}

impl Report {
    /// A report without a raw response.
    pub fn new(step: Step) -> Self {
        Self {
            step,
            last_response: None,
        }
    }
}

/// Why a checkpoint could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// Another worker owns the job now.
    #[error("lease lost")]
    LeaseLost,
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(String),
}

/// Makes a checkpoint durable (the worker's side of the contract).
#[async_trait::async_trait]
pub trait CheckpointSaver: Send + Sync {
    /// Stores `checkpoint` with the job, only if this worker still holds the job's lease.
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), SaveError>;
}

/// A vendor API: carries out fulfilment orders.
#[async_trait::async_trait]
pub trait VendorConnector: Send + Sync + 'static {
    /// Connector name as in `PlanFacts.connector` (`autodesk`, `microsoft_nce`).
    fn name(&self) -> &'static str;

    /// If the vendor told us to slow down, until when no call may be made (vendor-wide).
    fn blocked_for(&self) -> Option<Duration> {
        None
    }

    /// Advances the job by one round of vendor calls. Never panics on vendor input.
    async fn advance(
        &self,
        job: &JobContext,
        checkpoint: &mut Checkpoint,
        saver: &dyn CheckpointSaver,
    ) -> Report;
}
