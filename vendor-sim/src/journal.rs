//! The journal: every vendor API request and every effective change the simulators made.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::faults::{FaultKind, Vendor};

/// A snapshot of everything the simulators saw and did (`GET /_sim/journal`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    /// Vendor API requests in completion order (control routes under `/_sim` are not recorded).
    pub requests: Vec<JournalEntry>,
    /// Exactly one entry per effective change of vendor state, in the order the changes took effect.
    pub effective_provisionings: Vec<EffectiveProvisioning>,
}

impl Journal {
    /// How many effective changes each client reference caused. A reference mapped to more than
    /// one entry means something was provisioned twice (except for multi-line orders, whose lines
    /// carry `#<line>` suffixes, see [`EffectiveProvisioning::client_reference`]).
    pub fn effective_count_by_reference(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for effect in &self.effective_provisionings {
            *counts.entry(effect.client_reference.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// The recorded requests of one operation (see [`crate::operations`]).
    pub fn requests_for<'a>(
        &'a self,
        operation: &'a str,
    ) -> impl Iterator<Item = &'a JournalEntry> + 'a {
        self.requests
            .iter()
            .filter(move |r| r.operation == operation)
    }
}

/// One vendor API request and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Position in the journal (starts at 1).
    pub seq: u64,
    /// Which simulator answered.
    pub vendor: Vendor,
    /// Operation name (see [`crate::operations`]).
    pub operation: String,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Selected request headers, lower-case names: `csn`, `timestamp`, `ms-requestid`,
    /// `ms-correlationid`, `if-match`, `content-type`, and `authorization` reduced to its scheme.
    pub headers: BTreeMap<String, String>,
    /// Request body: parsed JSON, a string if it was not JSON, `null` if empty.
    pub body: serde_json::Value,
    /// Response status (the status the simulator produced even if the connection was then dropped).
    pub status: u16,
    /// Response body, same conventions as `body`.
    pub response_body: serde_json::Value,
    /// The injected fault applied to this request, if any.
    pub fault: Option<FaultKind>,
    /// The response was replayed from an earlier request with the same `MS-RequestId`.
    pub replayed: bool,
    /// The connection was closed without sending the response.
    pub connection_dropped: bool,
    /// When the request arrived (business time).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// One effective change of vendor state (a subscription created, seats changed, cancelled...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveProvisioning {
    /// The vendor whose state changed.
    pub vendor: Vendor,
    /// `new`, `add_seats`, `remove_seats`, `renewal`, `auto_renew_off`, `auto_renew_on`,
    /// `suspend`, `resume`, `cancel`.
    pub operation: String,
    /// The client's reference for the change: Autodesk `partnerOrderId` (else `poNumber`);
    /// Microsoft checkout/PATCH `MS-RequestId` (else `cart:<cartId>` / `patch:<uuid>`).
    /// Orders with several lines get `#<line index>` appended per line.
    pub client_reference: String,
    /// The vendor subscription concerned.
    pub subscription_id: String,
    /// Seat count of the subscription after the change.
    pub quantity: u32,
    /// The vendor's reference of the request: Autodesk transaction id, Microsoft order id, or
    /// the subscription id for PATCH changes.
    pub vendor_reference: String,
    /// When the change took effect (business time).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Builds the reference of line `index` of an order with `lines` lines.
pub(crate) fn line_reference(base: &str, index: usize, lines: usize) -> String {
    if lines > 1 {
        format!("{base}#{index}")
    } else {
        base.to_owned()
    }
}
