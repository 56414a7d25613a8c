//! Subscriptions owned by ordering: created when an order item is submitted (PROVISIONING), made
//! ACTIVE or NOT_PROVISIONED by provisioning's outcome. Lifecycle changes (issue 6) build on the
//! status history and the change windows kept here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::customer::Contact;
use super::order::ItemPrice;
use super::plan::PlanInfo;

/// Status of a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubscriptionStatus {
    /// Being provisioned.
    Provisioning,
    /// Live.
    Active,
    /// Provisioning failed; the vendor's error is kept.
    NotProvisioned,
    /// Suspended.
    Suspended,
    /// No longer active, auto-renew off.
    Disabled,
    /// Auto-renew off: usable until term end.
    Terminated,
    /// Past term end without renewal.
    Expired,
    /// Cancelled.
    Cancelled,
}

impl SubscriptionStatus {
    /// Every status.
    pub const ALL: [Self; 8] = [
        Self::Provisioning,
        Self::Active,
        Self::NotProvisioned,
        Self::Suspended,
        Self::Disabled,
        Self::Terminated,
        Self::Expired,
        Self::Cancelled,
    ];

    /// Stored and event name (`marketplace.ordering.v1.SubscriptionStatus` value name).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "SUBSCRIPTION_STATUS_PROVISIONING",
            Self::Active => "SUBSCRIPTION_STATUS_ACTIVE",
            Self::NotProvisioned => "SUBSCRIPTION_STATUS_NOT_PROVISIONED",
            Self::Suspended => "SUBSCRIPTION_STATUS_SUSPENDED",
            Self::Disabled => "SUBSCRIPTION_STATUS_DISABLED",
            Self::Terminated => "SUBSCRIPTION_STATUS_TERMINATED",
            Self::Expired => "SUBSCRIPTION_STATUS_EXPIRED",
            Self::Cancelled => "SUBSCRIPTION_STATUS_CANCELLED",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct Day {
    /// Year.
    pub year: i32,
    /// Month 1–12.
    pub month: i32,
    /// Day 1–31.
    pub day: i32,
}

impl Day {
    /// `yyyymmdd` as an integer (indexed for term-end scans).
    pub fn key(self) -> i64 {
        i64::from(self.year) * 10_000 + i64::from(self.month) * 100 + i64::from(self.day)
    }
}

/// One status change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// Before (None at creation).
    pub from: Option<SubscriptionStatus>,
    /// After.
    pub to: SubscriptionStatus,
    /// When (µs).
    pub at: i64,
    /// Why.
    pub reason: String,
    /// Order that caused it.
    pub order_id: String,
}

/// A window in which a change is allowed (NCE cancellation window).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeWindow {
    /// Opens (µs).
    pub open_at: i64,
    /// Closes (µs).
    pub close_at: i64,
    /// Seats added in it.
    pub quantity: i32,
    /// `purchase`, `renewal`, `seat_addition`.
    pub reason: String,
}

/// A vendor subscription of a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Id.
    pub id: String,
    /// Reseller.
    pub reseller_id: String,
    /// Customer.
    pub customer_id: String,
    /// Customer name.
    pub customer_name: String,
    /// Plan snapshot.
    pub plan: PlanInfo,
    /// Seats.
    pub quantity: i32,
    /// Status.
    pub status: SubscriptionStatus,
    /// First day of the current term.
    pub term_start: Option<Day>,
    /// Last day of the current term (inclusive).
    pub term_end: Option<Day>,
    /// Auto-renew.
    pub auto_renew: bool,
    /// Whether auto-renew can still be turned on.
    pub auto_renew_changeable: bool,
    /// Licenses assigned to users.
    pub assigned_licenses: i32,
    /// Vendor's id.
    pub vendor_subscription_id: String,
    /// Vendor portal.
    pub vendor_portal_url: String,
    /// Admin contact.
    pub admin_contact: Contact,
    /// Microsoft tenant name.
    pub tenant_name: String,
    /// Price snapshot.
    pub price: ItemPrice,
    /// Cancellation windows.
    pub cancellation_windows: Vec<ChangeWindow>,
    /// Status history.
    pub history: Vec<StatusChange>,
    /// Vendor's error when NOT_PROVISIONED.
    pub vendor_message: String,
    /// Order that created it.
    pub order_id: String,
    /// Order item that created it.
    pub order_item_id: String,
    /// Parameters it was ordered with.
    pub parameters: BTreeMap<String, String>,
    /// Creation (µs).
    pub created_at: i64,
    /// Last change (µs).
    pub updated_at: i64,
    /// Version (etag).
    pub version: i64,
    /// The change order in flight (a change, or the renewal), empty when none: one change at a
    /// time.
    #[serde(default)]
    pub pending_order_id: String,
    /// Keys of the reminders already sent (each is sent once).
    #[serde(default)]
    pub reminders_sent: Vec<String>,
}

/// NCE cancellation window length (µs): 7 days.
pub const NCE_CANCELLATION_WINDOW_MICROS: i64 = 7 * 24 * 3600 * 1_000_000;

impl Subscription {
    /// Changes the status and records it in the history. Returns the previous status.
    pub fn set_status(
        &mut self,
        to: SubscriptionStatus,
        reason: &str,
        order_id: &str,
        now: i64,
    ) -> SubscriptionStatus {
        let from = self.status;
        self.status = to;
        self.updated_at = now;
        self.history.push(StatusChange {
            from: Some(from),
            to,
            at: now,
            reason: reason.to_string(),
            order_id: order_id.to_string(),
        });
        from
    }

    /// Lower-case text matched by subscription search.
    pub fn search_text(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.plan.name,
            self.plan.product_name,
            self.plan.vendor_id,
            self.vendor_subscription_id,
            self.customer_name
        )
        .to_lowercase()
    }
}
