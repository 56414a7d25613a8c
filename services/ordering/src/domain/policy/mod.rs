//! Vendor policies for subscription changes (design.md §4): one [`VendorPolicy`] per vendor
//! ([`autodesk::AutodeskPolicy`], [`microsoft::NcePolicy`]), chosen by [`for_vendor`], plus the
//! rules every vendor shares (status, term not over, quantity limits) and the pro-rating
//! arithmetic (Kill Bill's `IMMEDIATE` billing policy: credit for the unused days of the current
//! billing period, to the day).
//!
//! A policy only decides; it changes nothing. A refusal is `FAILED_PRECONDITION` naming the rule
//! and the relevant date.

pub mod autodesk;
pub mod microsoft;

use platform::ServiceError;

use super::calendar::{BusinessCalendar, DAY_MICROS};
use super::plan::{AUTODESK, MICROSOFT};
use super::state::ChangeType;
use super::subscription::{Day, Subscription, SubscriptionStatus};

/// Settings the policies read (from `ordering::Settings`).
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Holidays for business-day arithmetic.
    pub calendar: BusinessCalendar,
    /// Days before term end when "term end approaching" is sent.
    pub term_end_notice_days: i64,
}

/// "Now" for a decision: the instant and its UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// µs.
    pub at: i64,
    /// UTC calendar day of `at`.
    pub today: Day,
}

impl Now {
    /// `at` and its day.
    pub fn at(at: i64) -> Self {
        Self {
            at,
            today: Day::of_micros(at),
        }
    }
}

/// A change the caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// New total seat count.
    Seats(i32),
    /// Suspend.
    Suspend,
    /// Resume.
    Resume,
    /// Cancel.
    Cancel,
    /// Turn auto-renew on (true) or off (false).
    AutoRenew(bool),
}

/// An accepted change: what to order and what it costs (negative = refund).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The order item's requested change.
    pub change: ChangeType,
    /// Seats after the change.
    pub quantity: i32,
    /// Seats before.
    pub previous_quantity: i32,
    /// Charge (positive) or pro-rated refund (negative), minor units of the price currency.
    pub amount: i64,
    /// What the user is told (refund, what happens at term end).
    pub explanation: String,
}

/// What a cancellation would do now (PreviewCancellation, and the check of CancelSubscription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancellationQuote {
    /// Whether it is allowed.
    pub allowed: bool,
    /// The deciding rule, e.g. `microsoft_nce.cancellation_window`, `autodesk.no_refunds`.
    pub rule: String,
    /// Why, with the relevant date.
    pub explanation: String,
    /// Pro-rated refund (positive number of minor units) when allowed.
    pub refund: i64,
    /// When the cancellation window closes or closed (µs).
    pub window_close: Option<i64>,
}

impl CancellationQuote {
    /// The quote as a result: the refusal when not allowed.
    pub fn into_result(self) -> Result<Self, ServiceError> {
        if self.allowed {
            Ok(self)
        } else {
            Err(ServiceError::precondition(self.rule, self.explanation))
        }
    }
}

/// The rules of one vendor.
pub trait VendorPolicy: Send + Sync {
    /// Rule-name prefix, e.g. `autodesk`.
    fn name(&self) -> &'static str;
    /// Whether (and at what price) the seat count may become `quantity` now.
    fn change_seats(
        &self,
        s: &Subscription,
        quantity: i32,
        now: Now,
    ) -> Result<Accepted, ServiceError>;
    /// Whether the subscription may be suspended now.
    fn suspend(&self, s: &Subscription, now: Now) -> Result<Accepted, ServiceError>;
    /// Whether a suspended subscription may be resumed now.
    fn resume(&self, s: &Subscription, now: Now) -> Result<Accepted, ServiceError>;
    /// What cancelling now would do.
    fn preview_cancellation(&self, s: &Subscription, now: Now) -> CancellationQuote;
    /// Whether auto-renew may be turned on/off now.
    fn set_auto_renew(
        &self,
        s: &Subscription,
        on: bool,
        rules: &Rules,
        now: Now,
    ) -> Result<Accepted, ServiceError>;
    /// The status a subscription takes when auto-renew is turned off (Autodesk: TERMINATED).
    fn status_after_auto_renew_off(&self, s: &Subscription) -> SubscriptionStatus;
    /// Whether changes that add seats (purchase, renewal, seat addition) open a cancellation window.
    fn opens_cancellation_windows(&self) -> bool;
    /// The reminders this vendor's rules call for in the current term: (kind, key, remind at,
    /// deadline), in µs.
    fn reminders(&self, s: &Subscription, rules: &Rules) -> Vec<Planned>;
}

/// Kinds of reminders (events.proto `ReminderKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderKind {
    /// NCE cancellation window closes tomorrow.
    CancellationWindowClosing,
    /// Autodesk: last day to turn auto-renew off.
    AutoRenewLastDay,
    /// The term ends soon.
    TermEndApproaching,
}

/// A reminder planned for a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Kind.
    pub kind: ReminderKind,
    /// Unique per subscription and occasion (sent once).
    pub key: String,
    /// When to send (µs).
    pub remind_at: i64,
    /// The deadline it is about (µs); not sent any more once passed.
    pub deadline: i64,
}

/// Autodesk's rules.
static AUTODESK_POLICY: autodesk::AutodeskPolicy = autodesk::AutodeskPolicy;
/// Microsoft NCE's rules.
static NCE_POLICY: microsoft::NcePolicy = microsoft::NcePolicy;

/// The policy of `vendor_id`, None for a vendor without lifecycle rules.
pub fn for_vendor(vendor_id: &str) -> Option<&'static dyn VendorPolicy> {
    match vendor_id {
        AUTODESK => Some(&AUTODESK_POLICY),
        MICROSOFT => Some(&NCE_POLICY),
        _ => None,
    }
}

/// The policy of a subscription's vendor, or a refusal.
pub fn of(s: &Subscription) -> Result<&'static dyn VendorPolicy, ServiceError> {
    for_vendor(&s.plan.vendor_id).ok_or_else(|| {
        ServiceError::precondition(
            "subscription.vendor_rules",
            format!(
                "vendor {} has no subscription change rules",
                s.plan.vendor_id
            ),
        )
    })
}

/// Decides `request` for `s` now (calendar-dependent rules use `rules`).
pub fn decide(
    s: &Subscription,
    request: Request,
    rules: &Rules,
    now: Now,
) -> Result<Accepted, ServiceError> {
    let policy = of(s)?;
    match request {
        Request::Seats(q) => policy.change_seats(s, q, now),
        Request::Suspend => policy.suspend(s, now),
        Request::Resume => policy.resume(s, now),
        Request::Cancel => {
            let quote = policy.preview_cancellation(s, now).into_result()?;
            Ok(Accepted {
                change: ChangeType::Cancellation,
                quantity: s.quantity,
                previous_quantity: s.quantity,
                amount: -quote.refund,
                explanation: quote.explanation,
            })
        }
        Request::AutoRenew(on) => policy.set_auto_renew(s, on, rules, now),
    }
}

/// Shared: the subscription must be in one of `allowed` and no other change may be in flight.
pub fn require_status(
    s: &Subscription,
    allowed: &[SubscriptionStatus],
    what: &str,
) -> Result<(), ServiceError> {
    if !s.pending_order_id.is_empty() {
        return Err(ServiceError::precondition(
            "subscription.change_in_progress",
            format!(
                "order {} is still changing subscription {}; wait until it is provisioned",
                s.pending_order_id, s.id
            ),
        ));
    }
    if !allowed.contains(&s.status) {
        return Err(ServiceError::precondition(
            "subscription.status",
            format!(
                "cannot {what}: subscription {} is {}",
                s.id,
                s.status.as_str()
            ),
        ));
    }
    Ok(())
}

/// Shared: the current term must not be over (term end inclusive).
pub fn require_in_term(s: &Subscription, now: Now) -> Result<Day, ServiceError> {
    let Some(end) = s.term_end else {
        return Err(ServiceError::precondition(
            "subscription.term_unknown",
            format!("subscription {} has no term dates yet", s.id),
        ));
    };
    if now.today > end {
        return Err(ServiceError::precondition(
            "subscription.term_ended",
            format!("the term of subscription {} ended on {}", s.id, end.iso()),
        ));
    }
    Ok(end)
}

/// Shared: a new seat count must differ from the current one and fit the plan's limits.
pub fn check_seat_count(s: &Subscription, quantity: i32) -> Result<(), ServiceError> {
    if quantity == s.quantity {
        return Err(ServiceError::invalid_field(
            "quantity",
            format!("the subscription already has {quantity} seats"),
        ));
    }
    s.plan
        .check_quantity(quantity)
        .map_err(|e| ServiceError::invalid_field("quantity", e))?;
    if quantity < s.assigned_licenses {
        return Err(ServiceError::precondition(
            "subscription.assigned_licenses",
            format!(
                "{} licenses are assigned to users; un-assign them before going down to {quantity} seats",
                s.assigned_licenses
            ),
        ));
    }
    Ok(())
}

/// The billing period containing `today`: (first day, last day), inside the current term.
/// Monthly billing: months from term start; annual: years; triennial (or unknown): the term.
pub fn billing_period(s: &Subscription, today: Day) -> Option<(Day, Day)> {
    let (start, end) = (s.term_start?, s.term_end?);
    let months = match s.plan.billing_cycle {
        1 => 1,
        2 => 12,
        _ => return Some((start, end)),
    };
    let mut first = start;
    for k in 1..=480 {
        let next = start.plus_months(months * k)?;
        if next > today || next > end {
            let last = next.plus_days(-1)?.min(end);
            return Some((first, last));
        }
        first = next;
    }
    None
}

/// Pro-rated amount for `seats` of the subscription for the days of the current billing period
/// after `today` (the day of the change is charged): `unit price × seats × unused days / period
/// days`, rounded down, never negative.
pub fn prorated(s: &Subscription, seats: i32, today: Day) -> i64 {
    let Some((first, last)) = billing_period(s, today) else {
        return 0;
    };
    let (Some(period), Some(unused)) = (first.days_until(last), today.days_until(last)) else {
        return 0;
    };
    let period = i128::from(period + 1);
    let unused = i128::from(unused.clamp(0, period as i64));
    let amount = i128::from(s.price.unit_price) * i128::from(seats.max(0)) * unused / period;
    i64::try_from(amount.max(0)).unwrap_or(i64::MAX)
}

/// Formats a µs instant as `YYYY-MM-DD HH:MM UTC`.
pub fn when(micros: i64) -> String {
    let t = platform::clock::from_micros(micros);
    format!(
        "{} {:02}:{:02} UTC",
        Day::of(t.date()).iso(),
        t.hour(),
        t.minute()
    )
}

/// Formats an amount of minor units with its currency (e.g. `USD 12.34`).
pub fn money(currency: &str, minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{currency} {sign}{}.{:02}", abs / 100, abs % 100)
}

/// The common "term end approaching" reminder, `rules.term_end_notice_days` before term end.
pub fn term_end_reminder(s: &Subscription, rules: &Rules) -> Option<Planned> {
    if !matches!(
        s.status,
        SubscriptionStatus::Active | SubscriptionStatus::Suspended | SubscriptionStatus::Terminated
    ) {
        return None;
    }
    let end = s.term_end?;
    let end_start = end.start_micros()?;
    Some(Planned {
        kind: ReminderKind::TermEndApproaching,
        key: format!("term_end:{}", end.iso()),
        remind_at: end_start - rules.term_end_notice_days.max(1) * DAY_MICROS,
        deadline: end_start + DAY_MICROS,
    })
}

#[cfg(test)]
pub(crate) mod tests;
