//! Deterministic fault injection.
//!
//! A [`Fault`] applies to the next `times` requests of one vendor (optionally one operation, see
//! [`crate::operations`]) and is then gone. Faults are checked in insertion order; a request
//! consumes at most one fault. Over HTTP they are posted as JSON to `POST /_sim/faults`, e.g.
//! `{"vendor":"microsoft","operation":"microsoft.checkout","kind":{"type":"rate_limited","retry_after_secs":3},"times":2}`.

use serde::{Deserialize, Serialize};

use crate::operations;

/// A simulated vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vendor {
    /// The Autodesk partner API.
    Autodesk,
    /// Microsoft Partner Center (new commerce).
    Microsoft,
}

impl Vendor {
    /// The prefix of this vendor's operation names (`"autodesk"`, `"microsoft"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::Autodesk => "autodesk",
            Vendor::Microsoft => "microsoft",
        }
    }
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// The vendor whose requests it hits.
    pub vendor: Vendor,
    /// The operation it hits (e.g. `"microsoft.checkout"`); `None` = any operation of the vendor.
    #[serde(default)]
    pub operation: Option<String>,
    /// What happens.
    pub kind: FaultKind,
    /// How many matching requests it applies to (default 1).
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// A fault for the next request of `vendor` (any operation, once).
    pub fn new(vendor: Vendor, kind: FaultKind) -> Self {
        Self {
            vendor,
            operation: None,
            kind,
            times: 1,
        }
    }

    /// Restricts the fault to one operation (see [`crate::operations`]).
    pub fn on(mut self, operation: impl Into<String>) -> Self {
        self.operation = Some(operation.into());
        self
    }

    /// Applies the fault to `times` matching requests.
    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    /// Partner Center's "order in progress" conflict (409, code 800060) on `operation`.
    pub fn microsoft_order_in_progress(operation: impl Into<String>) -> Self {
        Fault::new(
            Vendor::Microsoft,
            FaultKind::BusinessError {
                code: "800060".into(),
                status: 409,
                description: "Your order is still in progress; check the order history again in a few minutes".into(),
            },
        )
        .on(operation)
    }

    /// Checks that the operation (if any) exists for the vendor and that the kind is sane.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(op) = &self.operation {
            let known = operations::for_vendor(self.vendor);
            if !known.contains(&op.as_str()) {
                return Err(format!(
                    "unknown {} operation {op:?}; known: {}",
                    self.vendor.as_str(),
                    known.join(", ")
                ));
            }
            if let FaultKind::AsyncFailure { .. } = self.kind
                && !operations::ACCEPTING.contains(&op.as_str())
            {
                return Err(format!(
                    "async_failure only applies to order-accepting operations: {}",
                    operations::ACCEPTING.join(", ")
                ));
            }
        }
        match &self.kind {
            FaultKind::HttpStatus { status } | FaultKind::BusinessError { status, .. }
                if !(400..=599).contains(status) =>
            {
                Err(format!(
                    "status {status} is not an error status (400..=599)"
                ))
            }
            _ => Ok(()),
        }
    }
}

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status and a vendor-shaped generic error body; the request is not processed.
    HttpStatus {
        /// HTTP status (400..=599).
        status: u16,
    },
    /// Answer 429 with `Retry-After` and the vendor's throttling body; not processed.
    RateLimited {
        /// Value of `Retry-After` (seconds).
        retry_after_secs: u64,
    },
    /// Answer with a vendor-shaped error body carrying `code`; not processed.
    BusinessError {
        /// Vendor error code (numeric codes are sent as JSON numbers by the Microsoft simulator).
        code: String,
        /// HTTP status (400..=599).
        status: u16,
        /// Error description.
        description: String,
    },
    /// Wait this long, then process the request normally.
    Delay {
        /// Milliseconds to wait.
        ms: u64,
    },
    /// Process the request normally (its effects happen and are journaled), then close the
    /// connection without sending any byte of the response: the classic "the vendor did it but
    /// the answer was lost" case. Only possible when the router is served by
    /// [`crate::VendorSim::serve`]; a router served elsewhere holds the request for 120 s (or until
    /// the simulator shuts down) and then answers 504, longer than any sane client timeout.
    DropConnection,
    /// Accept the order normally (202 / 201) but let it end failed at the status endpoint with
    /// this code and message. Only consumed by order-accepting operations
    /// ([`crate::operations::ACCEPTING`]), and only when the order is actually accepted.
    AsyncFailure {
        /// Asynchronous error code.
        code: String,
        /// Error message.
        message: String,
    },
}

impl FaultKind {
    /// Short name of the kind (its serde tag).
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::HttpStatus { .. } => "http_status",
            FaultKind::RateLimited { .. } => "rate_limited",
            FaultKind::BusinessError { .. } => "business_error",
            FaultKind::Delay { .. } => "delay",
            FaultKind::DropConnection => "drop_connection",
            FaultKind::AsyncFailure { .. } => "async_failure",
        }
    }

    fn is_async(&self) -> bool {
        matches!(self, FaultKind::AsyncFailure { .. })
    }
}

/// The active faults with their remaining counts.
#[derive(Debug, Default)]
pub(crate) struct FaultBook {
    faults: Vec<Fault>,
}

impl FaultBook {
    pub(crate) fn push(&mut self, fault: Fault) {
        if fault.times > 0 {
            self.faults.push(fault);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.faults.clear();
    }

    pub(crate) fn active(&self) -> Vec<Fault> {
        self.faults.clone()
    }

    /// Consumes one application of the first fault matching a request (never an async failure).
    pub(crate) fn take_request_fault(
        &mut self,
        vendor: Vendor,
        operation: &str,
    ) -> Option<FaultKind> {
        self.take(vendor, operation, |k| !k.is_async())
    }

    /// Consumes one application of the first async-failure fault matching an accepted order.
    pub(crate) fn take_async_failure(
        &mut self,
        vendor: Vendor,
        operation: &str,
    ) -> Option<(String, String)> {
        match self.take(vendor, operation, FaultKind::is_async)? {
            FaultKind::AsyncFailure { code, message } => Some((code, message)),
            _ => None,
        }
    }

    fn take(
        &mut self,
        vendor: Vendor,
        operation: &str,
        accept: impl Fn(&FaultKind) -> bool,
    ) -> Option<FaultKind> {
        let index = self.faults.iter().position(|f| {
            f.vendor == vendor
                && f.operation.as_deref().is_none_or(|op| op == operation)
                && accept(&f.kind)
        })?;
        let fault = &mut self.faults[index];
        let kind = fault.kind.clone();
        fault.times -= 1;
        if fault.times == 0 {
            self.faults.remove(index);
        }
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_json_round_trip_uses_snake_case_tags() {
        let fault = Fault::new(
            Vendor::Microsoft,
            FaultKind::RateLimited {
                retry_after_secs: 7,
            },
        )
        .on(operations::MICROSOFT_CHECKOUT)
        .times(2);
        let json = serde_json::to_value(&fault).unwrap_or_default();
        assert_eq!(json["kind"]["type"], "rate_limited");
        assert_eq!(json["vendor"], "microsoft");
        let back: Fault = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, fault);
        let drop: Fault =
            serde_json::from_str(r#"{"vendor":"autodesk","kind":{"type":"drop_connection"}}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(drop.times, 1);
        assert_eq!(drop.kind, FaultKind::DropConnection);
    }

    #[test]
    fn faults_are_consumed_in_order_and_async_only_by_accepting_calls() {
        let mut book = FaultBook::default();
        book.push(Fault::new(
            Vendor::Autodesk,
            FaultKind::AsyncFailure {
                code: "X".into(),
                message: "m".into(),
            },
        ));
        book.push(Fault::new(Vendor::Autodesk, FaultKind::HttpStatus { status: 503 }).times(2));
        assert_eq!(
            book.take_request_fault(Vendor::Microsoft, "microsoft.checkout"),
            None
        );
        assert_eq!(
            book.take_request_fault(Vendor::Autodesk, "autodesk.order_status"),
            Some(FaultKind::HttpStatus { status: 503 })
        );
        assert!(
            book.take_request_fault(Vendor::Autodesk, "autodesk.token")
                .is_some()
        );
        assert_eq!(
            book.take_request_fault(Vendor::Autodesk, "autodesk.token"),
            None
        );
        assert!(
            book.take_async_failure(Vendor::Autodesk, "autodesk.place_order")
                .is_some()
        );
        assert!(book.active().is_empty());
    }
}
