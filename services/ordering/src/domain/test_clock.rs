//! Sandbox test clocks (design.md §9): a clock frozen at a time, moved only forward; the
//! customers attached to it live at its time.

use platform::ServiceError;

/// The setting that enables test clocks (named in every refusal when it is off).
pub const SANDBOX_SETTING: &str = "ordering.sandbox";

/// Status of a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockStatus {
    /// At its frozen time.
    Ready,
    /// Running what fell due on the way to `advancing_to`.
    Advancing,
}

impl ClockStatus {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "READY",
            Self::Advancing => "ADVANCING",
        }
    }

    /// From the stored name (unknown = READY).
    pub fn parse(s: &str) -> Self {
        if s == "ADVANCING" {
            Self::Advancing
        } else {
            Self::Ready
        }
    }
}

/// A test clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestClock {
    /// Id.
    pub id: String,
    /// Owner.
    pub reseller_id: String,
    /// Name.
    pub name: String,
    /// The clock's time (µs).
    pub frozen_at: i64,
    /// Status.
    pub status: ClockStatus,
    /// Target of the advance in progress (µs).
    pub advancing_to: Option<i64>,
    /// Attached customers.
    pub customer_ids: Vec<String>,
    /// Creation, real time (µs).
    pub created_at: i64,
    /// Last change, real time (µs).
    pub updated_at: i64,
}

impl TestClock {
    /// Whether the clock may be moved to `to` now: forward only, one advance at a time.
    pub fn check_advance(&self, to: i64) -> Result<(), ServiceError> {
        if self.status == ClockStatus::Advancing {
            return Err(ServiceError::precondition(
                "test_clock.status",
                format!(
                    "test clock {} is still ADVANCING; wait until it is READY",
                    self.id
                ),
            ));
        }
        if to <= self.frozen_at {
            return Err(ServiceError::invalid_field(
                "frozen_time",
                format!(
                    "a test clock only moves forward: {} is not after the clock's time {}",
                    iso(to),
                    iso(self.frozen_at)
                ),
            ));
        }
        Ok(())
    }
}

/// `at` (µs) as RFC 3339.
pub fn iso(at: i64) -> String {
    platform::clock::from_micros(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Refuses when test clocks are off in this deployment.
pub fn require_sandbox(sandbox: bool) -> Result<(), ServiceError> {
    if sandbox {
        Ok(())
    } else {
        Err(ServiceError::precondition(
            SANDBOX_SETTING,
            format!(
                "test clocks are disabled in this deployment (setting `{SANDBOX_SETTING}` is off)"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> TestClock {
        TestClock {
            id: "c".into(),
            reseller_id: "r".into(),
            name: "n".into(),
            frozen_at: 1_000,
            status: ClockStatus::Ready,
            advancing_to: None,
            customer_ids: Vec::new(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn only_forward_and_one_at_a_time() {
        let c = clock();
        assert!(c.check_advance(1_001).is_ok());
        assert!(c.check_advance(1_000).is_err());
        assert!(c.check_advance(999).is_err());
        let busy = TestClock {
            status: ClockStatus::Advancing,
            ..clock()
        };
        assert!(busy.check_advance(2_000).is_err());
    }

    #[test]
    fn off_names_the_setting() {
        let e = require_sandbox(false).unwrap_err();
        assert!(format!("{e}").contains(SANDBOX_SETTING));
    }
}
