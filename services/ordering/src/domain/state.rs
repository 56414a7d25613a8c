//! The order state machine (design.md §4, seeds 000 and 004).
//!
//! A cart is an order in `STARTED`; checkout turns it into a stored order. Every transition is
//! declared in [`OrderStatus::can_become`] / [`ItemStatus::can_become`]; anything else is refused,
//! and every accepted transition is emitted as an `order_status_changed` /
//! `order_item_status_changed` event.
//!
//! ```text
//! order:
//!   STARTED ──BUY──▶ IN_PROGRESS ──first provisioning news──▶ PROVISIONING_STARTED
//!   STARTED ──save as draft──▶ DRAFT ──SubmitOrder──▶ IN_PROGRESS
//!   STARTED ──cart discarded──▶ DELETED        DRAFT ──discarded──▶ DELETED
//!   PROVISIONING_STARTED ──all items settled──▶ COMPLETED             (every item provisioned)
//!                                             ▶ COMPLETED_WITH_ERRORS (some provisioned, some failed)
//!                                             ▶ PROVISIONING_FAILED   (nothing provisioned)
//!   PROVISIONING_FAILED | COMPLETED_WITH_ERRORS ──ResubmitOrderItem──▶ PROVISIONING_STARTED
//!   PROVISIONING_FINISHED: reserved (shown by legacy views); never entered by this service.
//!
//! item:
//!   PENDING ──▶ PROVISIONING | INQUIRING | PROVISIONED | FAILED | CANCELLED
//!   PROVISIONING ──▶ INQUIRING | PROVISIONED | FAILED
//!   INQUIRING ──▶ PENDING (re-submitted) | PROVISIONING | PROVISIONED | FAILED
//!   FAILED ──▶ PENDING (re-submitted)
//!   PROVISIONED, CANCELLED, DELETED: final
//! ```
//! An order is *settled* (WatchOrder's `settled`) when no item is PENDING or PROVISIONING.

use serde::{Deserialize, Serialize};

/// Status of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// A cart: started, not purchased.
    Started,
    /// Provisioning started, not finished.
    ProvisioningStarted,
    /// Reserved; not entered by this service.
    ProvisioningFinished,
    /// Nothing could be provisioned; items may be corrected and re-submitted.
    ProvisioningFailed,
    /// Discarded.
    Deleted,
    /// Saved to finish later.
    Draft,
    /// Purchased (BUY), waiting for provisioning to begin.
    InProgress,
    /// Every item provisioned.
    Completed,
    /// Some items provisioned, some failed.
    CompletedWithErrors,
}

impl OrderStatus {
    /// Every status.
    pub const ALL: [Self; 9] = [
        Self::Started,
        Self::ProvisioningStarted,
        Self::ProvisioningFinished,
        Self::ProvisioningFailed,
        Self::Deleted,
        Self::Draft,
        Self::InProgress,
        Self::Completed,
        Self::CompletedWithErrors,
    ];

    /// Stored and event name (the `marketplace.ordering.v1.OrderStatus` value name).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "ORDER_STATUS_STARTED",
            Self::ProvisioningStarted => "ORDER_STATUS_PROVISIONING_STARTED",
            Self::ProvisioningFinished => "ORDER_STATUS_PROVISIONING_FINISHED",
            Self::ProvisioningFailed => "ORDER_STATUS_PROVISIONING_FAILED",
            Self::Deleted => "ORDER_STATUS_DELETED",
            Self::Draft => "ORDER_STATUS_DRAFT",
            Self::InProgress => "ORDER_STATUS_IN_PROGRESS",
            Self::Completed => "ORDER_STATUS_COMPLETED",
            Self::CompletedWithErrors => "ORDER_STATUS_COMPLETED_WITH_ERRORS",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The declared transitions.
    pub fn can_become(self, to: Self) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (Started, InProgress | Draft | Deleted)
                | (Draft, InProgress | Deleted)
                | (InProgress, ProvisioningStarted)
                | (
                    ProvisioningStarted,
                    Completed | CompletedWithErrors | ProvisioningFailed
                )
                | (
                    ProvisioningFailed | CompletedWithErrors,
                    ProvisioningStarted
                )
        )
    }

    /// Recent (changeable) view; the others are historical (processed).
    pub fn is_recent(self) -> bool {
        matches!(
            self,
            Self::Started
                | Self::ProvisioningStarted
                | Self::ProvisioningFinished
                | Self::ProvisioningFailed
                | Self::Deleted
        )
    }

    /// Submitted and not finished: blocks another Autodesk order of the reseller.
    pub fn is_open(self) -> bool {
        matches!(self, Self::InProgress | Self::ProvisioningStarted)
    }
}

/// Status of an order item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ItemStatus {
    /// Waiting to be sent to the vendor.
    Pending,
    /// Sent; waiting for the outcome.
    Provisioning,
    /// The vendor needs more information.
    Inquiring,
    /// Done.
    Provisioned,
    /// Refused by the vendor.
    Failed,
    /// Cancelled before reaching the vendor.
    Cancelled,
    /// Kept but not sent (removed from the cart).
    Deleted,
}

impl ItemStatus {
    /// Stored and event name (`marketplace.ordering.v1.OrderItemStatus` value name).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "ORDER_ITEM_STATUS_PENDING",
            Self::Provisioning => "ORDER_ITEM_STATUS_PROVISIONING",
            Self::Inquiring => "ORDER_ITEM_STATUS_INQUIRING",
            Self::Provisioned => "ORDER_ITEM_STATUS_PROVISIONED",
            Self::Failed => "ORDER_ITEM_STATUS_FAILED",
            Self::Cancelled => "ORDER_ITEM_STATUS_CANCELLED",
            Self::Deleted => "ORDER_ITEM_STATUS_DELETED",
        }
    }

    /// The declared transitions.
    pub fn can_become(self, to: Self) -> bool {
        use ItemStatus::*;
        matches!(
            (self, to),
            (
                Pending,
                Provisioning | Inquiring | Provisioned | Failed | Cancelled
            ) | (Provisioning, Inquiring | Provisioned | Failed)
                | (Inquiring, Pending | Provisioning | Provisioned | Failed)
                | (Failed, Pending)
        )
    }

    /// Still moving without anybody's action.
    pub fn is_moving(self) -> bool {
        matches!(self, Self::Pending | Self::Provisioning)
    }

    /// May be corrected and re-submitted.
    pub fn is_resubmittable(self) -> bool {
        matches!(self, Self::Inquiring | Self::Failed)
    }
}

/// The change an order item asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChangeType {
    /// A new subscription.
    #[default]
    NewSubscription,
    /// More seats.
    SeatIncrease,
    /// Fewer seats.
    SeatDecrease,
    /// Suspend.
    Suspension,
    /// Resume.
    Resumption,
    /// Cancel.
    Cancellation,
    /// Auto-renew on.
    AutoRenewOn,
    /// Auto-renew off.
    AutoRenewOff,
    /// Renewal at term end.
    Renewal,
    /// Reseller markup change (never shown to customer roles).
    MarkupChange,
}

impl ChangeType {
    /// The `marketplace.common.v1.ChangeType` value.
    pub fn code(self) -> i32 {
        match self {
            Self::NewSubscription => 1,
            Self::SeatIncrease => 2,
            Self::SeatDecrease => 3,
            Self::Suspension => 4,
            Self::Resumption => 5,
            Self::Cancellation => 6,
            Self::AutoRenewOn => 7,
            Self::AutoRenewOff => 8,
            Self::Renewal => 9,
            Self::MarkupChange => 10,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_order_transitions_only() {
        use OrderStatus::*;
        assert!(Started.can_become(InProgress));
        assert!(Draft.can_become(InProgress));
        assert!(InProgress.can_become(ProvisioningStarted));
        assert!(ProvisioningStarted.can_become(Completed));
        assert!(ProvisioningFailed.can_become(ProvisioningStarted));
        assert!(!Completed.can_become(ProvisioningStarted));
        assert!(!InProgress.can_become(Completed));
        assert!(!Deleted.can_become(InProgress));
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
            assert!(!s.can_become(ProvisioningFinished));
        }
    }

    #[test]
    fn declared_item_transitions_only() {
        use ItemStatus::*;
        assert!(Pending.can_become(Provisioning));
        assert!(Inquiring.can_become(Pending));
        assert!(Failed.can_become(Pending));
        assert!(!Provisioned.can_become(Failed));
        assert!(!Provisioning.can_become(Pending));
    }
}
