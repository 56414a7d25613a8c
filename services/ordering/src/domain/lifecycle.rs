//! What happens to a subscription over its life, apart from the vendor rules of [`super::policy`]:
//! applying a provisioned change, the next term at renewal, what term end does (renew or
//! expire), and which reminders are due.
//!
//! ```text
//! PROVISIONING ──provisioned──▶ ACTIVE ──suspension──▶ SUSPENDED ──resumption──▶ ACTIVE
//! ACTIVE | SUSPENDED ──cancellation (NCE window)──▶ CANCELLED
//! ACTIVE ──auto-renew off (Autodesk)──▶ TERMINATED ──term end──▶ EXPIRED
//! ACTIVE, auto-renew on ──term end──▶ renewal order ──provisioned──▶ ACTIVE (next term)
//! ACTIVE auto-renew off | SUSPENDED ──term end──▶ EXPIRED
//! ```

use super::policy::{Planned, Rules, VendorPolicy, term_end_reminder};
use super::state::ChangeType;
use super::subscription::{
    ChangeWindow, Day, NCE_CANCELLATION_WINDOW_MICROS, Subscription, SubscriptionStatus,
};

/// A provisioned change of an existing subscription.
#[derive(Debug, Clone)]
pub struct Provisioned {
    /// The change.
    pub change: ChangeType,
    /// Seats after it.
    pub quantity: i32,
    /// Seats before it.
    pub previous_quantity: i32,
    /// Term dates the vendor reported (renewals), if any.
    pub term_start: Option<Day>,
    /// Term end the vendor reported, if any.
    pub term_end: Option<Day>,
    /// The change order.
    pub order_id: String,
    /// When (µs).
    pub now: i64,
}

/// Months of a plan's term (`marketplace.common.v1.Term`: 1 = P1M, 2 = P1Y, 3 = P3Y).
pub fn term_months(s: &Subscription) -> i32 {
    match s.plan.term {
        1 => 1,
        3 => 36,
        2 => 12,
        _ if s.plan.commitment_months > 0 => s.plan.commitment_months,
        _ => 12,
    }
}

/// The term after the current one: starts the day after the (inclusive) end.
pub fn next_term(s: &Subscription) -> Option<(Day, Day)> {
    let start = s.term_end?.plus_days(1)?;
    let end = start.plus_months(term_months(s))?.plus_days(-1)?;
    Some((start, end))
}

/// Applies a provisioned change; returns the status change (from, reason) when the status moved.
pub fn apply(
    s: &mut Subscription,
    policy: &dyn VendorPolicy,
    p: &Provisioned,
) -> Option<(SubscriptionStatus, String)> {
    s.pending_order_id.clear();
    s.updated_at = p.now;
    let windows = policy.opens_cancellation_windows();
    let (to, reason) = match p.change {
        ChangeType::SeatIncrease => {
            let added = p.quantity - s.quantity;
            s.quantity = p.quantity;
            if windows && added > 0 {
                s.cancellation_windows.push(ChangeWindow {
                    open_at: p.now,
                    close_at: p.now + NCE_CANCELLATION_WINDOW_MICROS,
                    quantity: added,
                    reason: "seat_addition".into(),
                });
            }
            return None;
        }
        ChangeType::SeatDecrease => {
            let mut removed = s.quantity - p.quantity;
            s.quantity = p.quantity;
            // Refundable seats are taken from the newest open windows first.
            for w in s.cancellation_windows.iter_mut().rev() {
                if removed <= 0 {
                    break;
                }
                if w.open_at <= p.now && p.now < w.close_at {
                    let take = w.quantity.min(removed);
                    w.quantity -= take;
                    removed -= take;
                }
            }
            return None;
        }
        ChangeType::Suspension => (SubscriptionStatus::Suspended, "suspended"),
        ChangeType::Resumption => (SubscriptionStatus::Active, "resumed"),
        ChangeType::Cancellation => {
            s.auto_renew = false;
            s.auto_renew_changeable = false;
            for w in &mut s.cancellation_windows {
                w.quantity = 0;
            }
            (
                SubscriptionStatus::Cancelled,
                "cancelled inside the cancellation window",
            )
        }
        ChangeType::AutoRenewOn => {
            s.auto_renew = true;
            return None;
        }
        ChangeType::AutoRenewOff => {
            s.auto_renew = false;
            let to = policy.status_after_auto_renew_off(s);
            if to == SubscriptionStatus::Terminated {
                s.auto_renew_changeable = false;
            }
            if to == s.status {
                return None;
            }
            (to, "auto-renew turned off: usable until term end")
        }
        ChangeType::Renewal => {
            let (start, end) = match (p.term_start, p.term_end) {
                (Some(a), Some(b)) if Some(b) > s.term_end => (a, b),
                _ => next_term(s)?,
            };
            s.term_start = Some(start);
            s.term_end = Some(end);
            if p.quantity > 0 {
                s.quantity = p.quantity;
            }
            if windows && let Some(open) = start.start_micros() {
                s.cancellation_windows.push(ChangeWindow {
                    open_at: open,
                    close_at: open + NCE_CANCELLATION_WINDOW_MICROS,
                    quantity: s.quantity,
                    reason: "renewal".into(),
                });
            }
            if s.status == SubscriptionStatus::Active {
                return None;
            }
            (SubscriptionStatus::Active, "renewed")
        }
        ChangeType::NewSubscription | ChangeType::MarkupChange => return None,
    };
    if s.status == to {
        return None;
    }
    let from = s.set_status(to, reason, &p.order_id, p.now);
    Some((from, reason.to_string()))
}

/// What term end does to a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtTermEnd {
    /// Auto-renew on: a renewal order is placed.
    Renew,
    /// Auto-renew off (or suspended, or TERMINATED): the subscription expires.
    Expire,
}

/// The first day after the current term, when [`at_term_end`] applies; None when nothing is
/// scheduled (no term yet, a change in flight, or a final status).
pub fn term_end_due(s: &Subscription) -> Option<Day> {
    if !s.pending_order_id.is_empty()
        || !matches!(
            s.status,
            SubscriptionStatus::Active
                | SubscriptionStatus::Suspended
                | SubscriptionStatus::Terminated
        )
    {
        return None;
    }
    s.term_end?.plus_days(1)
}

/// What to do once `today` is past the term (None while the term runs).
pub fn at_term_end(s: &Subscription, today: Day) -> Option<AtTermEnd> {
    let due = term_end_due(s)?;
    if today < due {
        return None;
    }
    Some(if s.status == SubscriptionStatus::Active && s.auto_renew {
        AtTermEnd::Renew
    } else {
        AtTermEnd::Expire
    })
}

/// Every reminder planned for the subscription (vendor ones and "term end approaching") that was
/// not sent yet.
pub fn planned_reminders(
    s: &Subscription,
    policy: Option<&dyn VendorPolicy>,
    rules: &Rules,
) -> Vec<Planned> {
    let mut all: Vec<Planned> = policy.map(|p| p.reminders(s, rules)).unwrap_or_default();
    all.extend(term_end_reminder(s, rules));
    all.retain(|r| !s.reminders_sent.contains(&r.key));
    all
}

/// When the next unsent reminder falls due (µs), for the scheduler's index.
pub fn next_reminder_at(
    s: &Subscription,
    policy: Option<&dyn VendorPolicy>,
    rules: &Rules,
) -> Option<i64> {
    planned_reminders(s, policy, rules)
        .into_iter()
        .map(|r| r.remind_at)
        .min()
}

/// Takes the reminders due at `now` (marked sent); ones whose deadline already passed (missed
/// during downtime) are marked sent without being returned.
pub fn take_due_reminders(
    s: &mut Subscription,
    policy: Option<&dyn VendorPolicy>,
    rules: &Rules,
    now: i64,
) -> Vec<Planned> {
    let mut out = Vec::new();
    for r in planned_reminders(s, policy, rules) {
        if r.remind_at > now {
            continue;
        }
        s.reminders_sent.push(r.key.clone());
        if now < r.deadline {
            out.push(r);
        }
    }
    out
}
