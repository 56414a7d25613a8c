//! Autodesk (seeds 000 and 001): no returns or refunds; auto-renew may be turned off only up to
//! 5 business days before term end and only once every license is un-assigned; once off it can
//! never be turned back on (TERMINATED: usable until term end, then EXPIRED). Autodesk has no
//! suspension. Seats may be added (pro-rated charge) or removed (never refunded).

use platform::ServiceError;

use super::{
    Accepted, CancellationQuote, Now, Planned, ReminderKind, Rules, VendorPolicy, check_seat_count,
    prorated, require_in_term, require_status,
};
use crate::domain::calendar::DAY_MICROS;
use crate::domain::state::ChangeType;
use crate::domain::subscription::{Day, Subscription, SubscriptionStatus};

/// Business days before term end after which auto-renew can no longer be turned off.
pub const AUTO_RENEW_NOTICE_BUSINESS_DAYS: u32 = 5;

/// Autodesk's rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct AutodeskPolicy;

impl AutodeskPolicy {
    /// The last day auto-renew may be turned off for a term ending on `term_end`.
    pub fn last_day_to_disable(rules: &Rules, term_end: Day) -> Option<Day> {
        rules
            .calendar
            .business_days_before(term_end, AUTO_RENEW_NOTICE_BUSINESS_DAYS)
    }
}

impl VendorPolicy for AutodeskPolicy {
    fn name(&self) -> &'static str {
        "autodesk"
    }

    fn change_seats(
        &self,
        s: &Subscription,
        quantity: i32,
        now: Now,
    ) -> Result<Accepted, ServiceError> {
        require_status(s, &[SubscriptionStatus::Active], "change seats")?;
        require_in_term(s, now)?;
        check_seat_count(s, quantity)?;
        if quantity > s.quantity {
            let added = quantity - s.quantity;
            let amount = prorated(s, added, now.today);
            Ok(Accepted {
                change: ChangeType::SeatIncrease,
                quantity,
                previous_quantity: s.quantity,
                amount,
                explanation: format!(
                    "{added} seats added, charged pro rata for the rest of the billing period"
                ),
            })
        } else {
            Ok(Accepted {
                change: ChangeType::SeatDecrease,
                quantity,
                previous_quantity: s.quantity,
                amount: 0,
                explanation: "Autodesk does not permit returns or refunds: seats removed without a refund (rule autodesk.no_refunds)".into(),
            })
        }
    }

    fn suspend(&self, s: &Subscription, _now: Now) -> Result<Accepted, ServiceError> {
        Err(ServiceError::precondition(
            "autodesk.no_suspension",
            format!(
                "Autodesk subscriptions cannot be suspended (subscription {}); turn auto-renew off to end it at term end",
                s.id
            ),
        ))
    }

    fn resume(&self, s: &Subscription, _now: Now) -> Result<Accepted, ServiceError> {
        Err(ServiceError::precondition(
            "autodesk.no_suspension",
            format!(
                "Autodesk subscriptions cannot be suspended or resumed (subscription {})",
                s.id
            ),
        ))
    }

    fn preview_cancellation(&self, s: &Subscription, _now: Now) -> CancellationQuote {
        let end = s
            .term_end
            .map(|d| d.iso())
            .unwrap_or_else(|| "term end".into());
        CancellationQuote {
            allowed: false,
            rule: "autodesk.no_refunds".into(),
            explanation: format!(
                "Autodesk does not permit returns or refunds; the subscription is paid until its term end ({end}). Turn auto-renew off (up to 5 business days before term end, after un-assigning all licenses) so that it ends then"
            ),
            refund: 0,
            window_close: None,
        }
    }

    fn set_auto_renew(
        &self,
        s: &Subscription,
        on: bool,
        rules: &Rules,
        now: Now,
    ) -> Result<Accepted, ServiceError> {
        if on {
            if !s.auto_renew_changeable || s.status == SubscriptionStatus::Terminated {
                return Err(ServiceError::precondition(
                    "autodesk.auto_renew_never_back_on",
                    format!(
                        "auto-renew of Autodesk subscription {} was turned off and can never be turned back on; order a new subscription to continue after {}",
                        s.id,
                        s.term_end.map(|d| d.iso()).unwrap_or_default()
                    ),
                ));
            }
            require_status(s, &[SubscriptionStatus::Active], "turn auto-renew on")?;
            require_in_term(s, now)?;
            if s.auto_renew {
                return Err(ServiceError::precondition(
                    "subscription.auto_renew_unchanged",
                    format!("auto-renew of subscription {} is already on", s.id),
                ));
            }
            return Ok(accepted(
                s,
                ChangeType::AutoRenewOn,
                "auto-renew turned on".into(),
            ));
        }
        require_status(s, &[SubscriptionStatus::Active], "turn auto-renew off")?;
        let end = require_in_term(s, now)?;
        let Some(last) = AutodeskPolicy::last_day_to_disable(rules, end) else {
            return Err(ServiceError::precondition(
                "autodesk.auto_renew_notice",
                "the last day to turn auto-renew off cannot be computed from the holiday calendar",
            ));
        };
        if now.today > last {
            return Err(ServiceError::precondition(
                "autodesk.auto_renew_notice",
                format!(
                    "Autodesk allows turning auto-renew off only up to 5 business days before term end ({}); the last day was {}",
                    end.iso(),
                    last.iso()
                ),
            ));
        }
        if s.assigned_licenses > 0 {
            return Err(ServiceError::precondition(
                "autodesk.licenses_assigned",
                format!(
                    "{} licenses are still assigned to users; un-assign every license in the Autodesk Account portal before turning auto-renew off (last day {})",
                    s.assigned_licenses,
                    last.iso()
                ),
            ));
        }
        Ok(accepted(
            s,
            ChangeType::AutoRenewOff,
            format!(
                "auto-renew turned off: the subscription becomes TERMINATED, stays usable until {} and then expires; it can never be turned back on",
                end.iso()
            ),
        ))
    }

    fn status_after_auto_renew_off(&self, _s: &Subscription) -> SubscriptionStatus {
        SubscriptionStatus::Terminated
    }

    fn opens_cancellation_windows(&self) -> bool {
        false
    }

    fn reminders(&self, s: &Subscription, rules: &Rules) -> Vec<Planned> {
        let mut out = Vec::new();
        if s.status == SubscriptionStatus::Active
            && s.auto_renew
            && let Some(end) = s.term_end
            && let Some(last) = AutodeskPolicy::last_day_to_disable(rules, end)
            && let Some(start) = last.start_micros()
        {
            out.push(Planned {
                kind: ReminderKind::AutoRenewLastDay,
                key: format!("auto_renew_last_day:{}", end.iso()),
                remind_at: start,
                deadline: start + DAY_MICROS,
            });
        }
        out
    }
}

fn accepted(s: &Subscription, change: ChangeType, explanation: String) -> Accepted {
    Accepted {
        change,
        quantity: s.quantity,
        previous_quantity: s.quantity,
        amount: 0,
        explanation,
    }
}
