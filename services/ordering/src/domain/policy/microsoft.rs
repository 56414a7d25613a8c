//! Microsoft NCE (seed 002, vendor-apis §1.4): a 7-day cancellation window opens with every
//! purchase, renewal and mid-term seat addition. Inside it the subscription (purchase/renewal
//! window) may be cancelled, or the seats that window added removed, with a pro-rated refund
//! (Kill Bill `IMMEDIATE` with prorated credit); outside it neither is possible. Seats may be
//! added at any time; suspension, resumption and auto-renew on/off are allowed during the term.
//! Term end dates are inclusive.

use platform::ServiceError;

use super::{
    Accepted, CancellationQuote, Now, Planned, ReminderKind, Rules, VendorPolicy, check_seat_count,
    money, prorated, require_in_term, require_status, when,
};
use crate::domain::calendar::DAY_MICROS;
use crate::domain::state::ChangeType;
use crate::domain::subscription::{ChangeWindow, Subscription, SubscriptionStatus};

/// Microsoft NCE's rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct NcePolicy;

/// Whether `w` is open at `now`.
pub fn is_open(w: &ChangeWindow, now: Now) -> bool {
    w.open_at <= now.at && now.at < w.close_at && w.quantity > 0
}

fn whole_subscription(w: &ChangeWindow) -> bool {
    w.reason == "purchase" || w.reason == "renewal"
}

impl VendorPolicy for NcePolicy {
    fn name(&self) -> &'static str {
        "microsoft_nce"
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
            return Ok(Accepted {
                change: ChangeType::SeatIncrease,
                quantity,
                previous_quantity: s.quantity,
                amount: prorated(s, added, now.today),
                explanation: format!(
                    "{added} seats added, charged pro rata; they can be removed with a refund for 7 days"
                ),
            });
        }
        let removed = s.quantity - quantity;
        let refundable: i32 = s
            .cancellation_windows
            .iter()
            .filter(|w| is_open(w, now))
            .map(|w| w.quantity)
            .sum();
        if removed > refundable {
            let last_close = s.cancellation_windows.iter().map(|w| w.close_at).max();
            let closed = match last_close {
                Some(at) if at <= now.at => format!("the last window closed on {}", when(at)),
                Some(at) => format!(
                    "only {refundable} seats are inside a window (it closes on {})",
                    when(at)
                ),
                None => "no window was ever opened".into(),
            };
            return Err(ServiceError::precondition(
                "microsoft_nce.seat_decrease_window",
                format!(
                    "Microsoft NCE allows removing seats only within 7 days of the purchase, renewal or seat addition that added them; {closed}"
                ),
            ));
        }
        let refund = prorated(s, removed, now.today);
        Ok(Accepted {
            change: ChangeType::SeatDecrease,
            quantity,
            previous_quantity: s.quantity,
            amount: -refund,
            explanation: format!(
                "{removed} seats removed inside the cancellation window; pro-rated refund {}",
                money(&s.price.currency_code, refund)
            ),
        })
    }

    fn suspend(&self, s: &Subscription, now: Now) -> Result<Accepted, ServiceError> {
        require_status(s, &[SubscriptionStatus::Active], "suspend")?;
        require_in_term(s, now)?;
        Ok(same(s, ChangeType::Suspension, "subscription suspended"))
    }

    fn resume(&self, s: &Subscription, now: Now) -> Result<Accepted, ServiceError> {
        require_status(s, &[SubscriptionStatus::Suspended], "resume")?;
        require_in_term(s, now)?;
        Ok(same(s, ChangeType::Resumption, "subscription resumed"))
    }

    fn preview_cancellation(&self, s: &Subscription, now: Now) -> CancellationQuote {
        let windows = s
            .cancellation_windows
            .iter()
            .filter(|w| whole_subscription(w));
        let open = windows
            .clone()
            .filter(|w| is_open(w, now))
            .map(|w| w.close_at)
            .max();
        let last = windows.map(|w| w.close_at).max();
        let refused = |rule: &str, explanation: String| CancellationQuote {
            allowed: false,
            rule: rule.into(),
            explanation,
            refund: 0,
            window_close: last,
        };
        if let Err(e) = require_status(
            s,
            &[SubscriptionStatus::Active, SubscriptionStatus::Suspended],
            "cancel",
        )
        .and_then(|()| require_in_term(s, now).map(|_| ()))
        {
            return refused(
                e.rule.as_deref().unwrap_or("subscription.status"),
                e.message,
            );
        }
        let Some(close) = open else {
            let closed = match last {
                Some(at) => format!("the window closed on {}", when(at)),
                None => "no cancellation window was opened".into(),
            };
            return refused(
                "microsoft_nce.cancellation_window",
                format!(
                    "Microsoft NCE subscriptions can be cancelled only within 7 days of purchase or renewal; {closed}"
                ),
            );
        };
        let refund = prorated(s, s.quantity, now.today);
        CancellationQuote {
            allowed: true,
            rule: "microsoft_nce.cancellation_window".into(),
            explanation: format!(
                "inside the 7-day cancellation window (closes {}): cancelled now with a pro-rated refund of {} for the unused days",
                when(close),
                money(&s.price.currency_code, refund)
            ),
            refund,
            window_close: Some(close),
        }
    }

    fn set_auto_renew(
        &self,
        s: &Subscription,
        on: bool,
        _rules: &Rules,
        now: Now,
    ) -> Result<Accepted, ServiceError> {
        require_status(
            s,
            &[SubscriptionStatus::Active, SubscriptionStatus::Suspended],
            if on {
                "turn auto-renew on"
            } else {
                "turn auto-renew off"
            },
        )?;
        let end = require_in_term(s, now)?;
        if s.auto_renew == on {
            return Err(ServiceError::precondition(
                "subscription.auto_renew_unchanged",
                format!(
                    "auto-renew of subscription {} is already {}",
                    s.id,
                    if on { "on" } else { "off" }
                ),
            ));
        }
        Ok(if on {
            same(s, ChangeType::AutoRenewOn, "auto-renew turned on")
        } else {
            Accepted {
                explanation: format!(
                    "auto-renew turned off: the subscription expires after {}",
                    end.iso()
                ),
                ..same(s, ChangeType::AutoRenewOff, "")
            }
        })
    }

    fn status_after_auto_renew_off(&self, s: &Subscription) -> SubscriptionStatus {
        s.status
    }

    fn opens_cancellation_windows(&self) -> bool {
        true
    }

    fn reminders(&self, s: &Subscription, _rules: &Rules) -> Vec<Planned> {
        if !matches!(
            s.status,
            SubscriptionStatus::Active | SubscriptionStatus::Suspended
        ) {
            return Vec::new();
        }
        s.cancellation_windows
            .iter()
            .filter(|w| w.quantity > 0)
            .map(|w| Planned {
                kind: ReminderKind::CancellationWindowClosing,
                key: format!("cancellation_window:{}:{}", w.reason, w.close_at),
                remind_at: w.close_at - DAY_MICROS,
                deadline: w.close_at,
            })
            .collect()
    }
}

fn same(s: &Subscription, change: ChangeType, explanation: &str) -> Accepted {
    Accepted {
        change,
        quantity: s.quantity,
        previous_quantity: s.quantity,
        amount: 0,
        explanation: explanation.into(),
    }
}
