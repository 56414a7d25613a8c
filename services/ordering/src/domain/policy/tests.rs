//! Every vendor rule across its boundary: one day inside and one day outside each window,
//! business days across a weekend and a holiday.

use super::*;
use crate::domain::calendar::DAY_MICROS;
use crate::domain::lifecycle::{self, AtTermEnd, Provisioned};
use crate::domain::order::ItemPrice;
use crate::domain::plan::PlanInfo;
use crate::domain::subscription::ChangeWindow;
use microsoft::NcePolicy;

pub(crate) fn day(s: &str) -> Day {
    Day::parse(s).expect("date")
}

/// Noon UTC of `s` plus `days`.
fn at(s: &str, days: i64) -> Now {
    Now::at(day(s).start_micros().expect("day") + 12 * 3600 * 1_000_000 + days * DAY_MICROS)
}

pub(crate) fn sub(vendor: &str, start: &str, end: &str, quantity: i32) -> Subscription {
    Subscription {
        id: "sub-1".into(),
        reseller_id: "r".into(),
        customer_id: "c".into(),
        customer_name: "Contoso".into(),
        plan: PlanInfo {
            plan_id: "p".into(),
            vendor_id: vendor.into(),
            name: "Plan".into(),
            term: 2,
            billing_cycle: 2,
            commitment_months: 12,
            min_quantity: 1,
            ..PlanInfo::default()
        },
        quantity,
        status: SubscriptionStatus::Active,
        term_start: Some(day(start)),
        term_end: Some(day(end)),
        auto_renew: true,
        auto_renew_changeable: true,
        assigned_licenses: 0,
        vendor_subscription_id: "VS-1".into(),
        vendor_portal_url: String::new(),
        admin_contact: Default::default(),
        tenant_name: String::new(),
        price: ItemPrice {
            currency_code: "USD".into(),
            unit_cost: 30_000,
            unit_price: 36_500,
            ..ItemPrice::default()
        },
        cancellation_windows: Vec::new(),
        history: Vec::new(),
        vendor_message: String::new(),
        order_id: "o".into(),
        order_item_id: "i".into(),
        parameters: Default::default(),
        created_at: 0,
        updated_at: 0,
        version: 1,
        pending_order_id: String::new(),
        reminders_sent: Vec::new(),
    }
}

fn window(open: Now, quantity: i32, reason: &str) -> ChangeWindow {
    ChangeWindow {
        open_at: open.at,
        close_at: open.at + 7 * DAY_MICROS,
        quantity,
        reason: reason.into(),
    }
}

fn rule(e: ServiceError) -> String {
    e.rule.unwrap_or_default()
}

fn rules() -> Rules {
    Rules {
        calendar: Default::default(),
        term_end_notice_days: 30,
    }
}

#[test]
fn prorated_refund_is_computed_to_the_day() {
    let s = sub(MICROSOFT, "2026-11-22", "2027-11-21", 2);
    // 365-day annual period; the day of the change is charged, 364 days are refunded.
    assert_eq!(prorated(&s, 2, day("2026-11-22")), 36_500 * 2 * 364 / 365);
    assert_eq!(prorated(&s, 2, day("2027-11-21")), 0);
    let mut monthly = s.clone();
    monthly.plan.billing_cycle = 1;
    // Month 2026-12-22..2027-01-21 (31 days); on 2026-12-25, 27 days are unused.
    assert_eq!(
        billing_period(&monthly, day("2026-12-25")),
        Some((day("2026-12-22"), day("2027-01-21")))
    );
    assert_eq!(prorated(&monthly, 1, day("2026-12-25")), 36_500 * 27 / 31);
}

#[test]
fn nce_cancellation_only_inside_the_seven_day_window() {
    let mut s = sub(MICROSOFT, "2026-11-22", "2027-11-21", 2);
    let bought = at("2026-11-22", 0);
    s.cancellation_windows.push(window(bought, 2, "purchase"));
    let inside = at("2026-11-22", 6);
    let quote = NcePolicy.preview_cancellation(&s, inside);
    assert!(quote.allowed, "{quote:?}");
    assert_eq!(quote.refund, 36_500 * 2 * (364 - 6) / 365);
    assert_eq!(quote.window_close, Some(bought.at + 7 * DAY_MICROS));
    let accepted = decide(&s, Request::Cancel, &rules(), inside).unwrap();
    assert_eq!(accepted.change, ChangeType::Cancellation);
    assert_eq!(accepted.amount, -quote.refund);
    let outside = at("2026-11-22", 8);
    let quote = NcePolicy.preview_cancellation(&s, outside);
    assert!(!quote.allowed);
    assert_eq!(quote.rule, "microsoft_nce.cancellation_window");
    assert!(
        quote.explanation.contains("2026-11-29"),
        "{}",
        quote.explanation
    );
    let e = decide(&s, Request::Cancel, &rules(), outside).unwrap_err();
    assert_eq!(rule(e), "microsoft_nce.cancellation_window");
    // A seat-addition window does not allow cancelling the whole subscription.
    s.cancellation_windows
        .push(window(at("2026-12-10", 0), 1, "seat_addition"));
    assert!(
        !NcePolicy
            .preview_cancellation(&s, at("2026-12-11", 0))
            .allowed
    );
}

#[test]
fn nce_seat_decrease_only_for_seats_added_inside_a_window() {
    let mut s = sub(MICROSOFT, "2026-11-22", "2027-11-21", 8);
    s.cancellation_windows
        .push(window(at("2026-11-22", 0), 5, "purchase"));
    s.cancellation_windows
        .push(window(at("2026-12-10", 0), 3, "seat_addition"));
    // One day inside the seat-addition window (purchase window long closed): up to 3 seats.
    let inside = at("2026-12-10", 6);
    let ok = NcePolicy.change_seats(&s, 5, inside).unwrap();
    assert_eq!(ok.change, ChangeType::SeatDecrease);
    assert_eq!(ok.amount, -prorated(&s, 3, inside.today));
    assert!(ok.amount < 0);
    let e = NcePolicy.change_seats(&s, 4, inside).unwrap_err();
    assert_eq!(rule(e), "microsoft_nce.seat_decrease_window");
    // One day after it closed: nothing can be removed; the message names the close date.
    let e = NcePolicy
        .change_seats(&s, 7, at("2026-12-10", 8))
        .unwrap_err();
    assert!(e.message.contains("2026-12-17"), "{}", e.message);
    assert_eq!(rule(e), "microsoft_nce.seat_decrease_window");
    // Increases are always allowed during the term, charged pro rata.
    let up = NcePolicy.change_seats(&s, 10, at("2027-03-01", 0)).unwrap();
    assert_eq!(up.change, ChangeType::SeatIncrease);
    assert!(up.amount > 0);
}

#[test]
fn autodesk_never_refunds_and_cannot_be_cancelled_or_suspended() {
    let mut s = sub(AUTODESK, "2026-11-22", "2027-11-21", 5);
    let now = at("2026-11-23", 0);
    let quote = AUTODESK_POLICY.preview_cancellation(&s, now);
    assert!(!quote.allowed);
    assert_eq!(quote.rule, "autodesk.no_refunds");
    assert_eq!(
        rule(decide(&s, Request::Cancel, &rules(), now).unwrap_err()),
        "autodesk.no_refunds"
    );
    let down = decide(&s, Request::Seats(3), &rules(), now).unwrap();
    assert_eq!((down.change, down.amount), (ChangeType::SeatDecrease, 0));
    assert_eq!(
        rule(decide(&s, Request::Suspend, &rules(), now).unwrap_err()),
        "autodesk.no_suspension"
    );
    s.assigned_licenses = 4;
    assert_eq!(
        rule(decide(&s, Request::Seats(3), &rules(), now).unwrap_err()),
        "subscription.assigned_licenses"
    );
}

#[test]
fn autodesk_auto_renew_off_up_to_five_business_days_before_term_end() {
    // Term ends Tuesday 2026-12-15: the last day is Tuesday 2026-12-08 (weekend skipped).
    let s = sub(AUTODESK, "2025-12-16", "2026-12-15", 1);
    let off = Request::AutoRenew(false);
    let ok = decide(&s, off, &rules(), at("2026-12-08", 0)).unwrap();
    assert_eq!(ok.change, ChangeType::AutoRenewOff);
    let e = decide(&s, off, &rules(), at("2026-12-09", 0)).unwrap_err();
    assert!(e.message.contains("2026-12-08"), "{}", e.message);
    assert_eq!(rule(e), "autodesk.auto_renew_notice");
    // Term ends Monday 2026-12-14: back over the weekend to Monday 2026-12-07.
    let monday = sub(AUTODESK, "2025-12-15", "2026-12-14", 1);
    assert!(decide(&monday, off, &rules(), at("2026-12-07", 0)).is_ok());
    assert!(decide(&monday, off, &rules(), at("2026-12-08", 0)).is_err());
    // A holiday on Thursday 2026-12-10 moves the Tuesday-term's last day to Monday 2026-12-07.
    let holiday = Rules {
        calendar: crate::domain::calendar::BusinessCalendar::new([day("2026-12-10")]),
        term_end_notice_days: 30,
    };
    assert!(decide(&s, off, &holiday, at("2026-12-07", 0)).is_ok());
    let e = decide(&s, off, &holiday, at("2026-12-08", 0)).unwrap_err();
    assert!(e.message.contains("2026-12-07"), "{}", e.message);
}

#[test]
fn autodesk_auto_renew_off_needs_unassigned_licenses_and_never_comes_back() {
    let mut s = sub(AUTODESK, "2025-12-16", "2026-12-15", 3);
    s.assigned_licenses = 1;
    let now = at("2026-11-23", 0);
    assert_eq!(
        rule(decide(&s, Request::AutoRenew(false), &rules(), now).unwrap_err()),
        "autodesk.licenses_assigned"
    );
    s.assigned_licenses = 0;
    let accepted = decide(&s, Request::AutoRenew(false), &rules(), now).unwrap();
    let moved = lifecycle::apply(
        &mut s,
        &AUTODESK_POLICY,
        &Provisioned {
            change: accepted.change,
            quantity: 3,
            previous_quantity: 3,
            term_start: None,
            term_end: None,
            order_id: "o2".into(),
            now: now.at,
        },
    );
    assert_eq!(moved.map(|m| m.0), Some(SubscriptionStatus::Active));
    assert_eq!(s.status, SubscriptionStatus::Terminated);
    assert!(!s.auto_renew_changeable);
    assert_eq!(
        rule(decide(&s, Request::AutoRenew(true), &rules(), now).unwrap_err()),
        "autodesk.auto_renew_never_back_on"
    );
    // Usable until term end (inclusive), EXPIRED the day after.
    assert_eq!(lifecycle::at_term_end(&s, day("2026-12-15")), None);
    assert_eq!(
        lifecycle::at_term_end(&s, day("2026-12-16")),
        Some(AtTermEnd::Expire)
    );
}

#[test]
fn nce_auto_renew_and_suspension() {
    let mut s = sub(MICROSOFT, "2026-11-22", "2027-11-21", 2);
    let now = at("2027-06-01", 0);
    assert_eq!(
        rule(decide(&s, Request::AutoRenew(true), &rules(), now).unwrap_err()),
        "subscription.auto_renew_unchanged"
    );
    assert!(decide(&s, Request::AutoRenew(false), &rules(), now).is_ok());
    assert_eq!(
        rule(decide(&s, Request::Resume, &rules(), now).unwrap_err()),
        "subscription.status"
    );
    assert_eq!(
        decide(&s, Request::Suspend, &rules(), now).unwrap().change,
        ChangeType::Suspension
    );
    s.pending_order_id = "o9".into();
    assert_eq!(
        rule(decide(&s, Request::Suspend, &rules(), now).unwrap_err()),
        "subscription.change_in_progress"
    );
    s.pending_order_id.clear();
    // After the (inclusive) term end nothing changes any more.
    assert_eq!(
        rule(decide(&s, Request::Suspend, &rules(), at("2027-11-22", 0)).unwrap_err()),
        "subscription.term_ended"
    );
    assert!(decide(&s, Request::Suspend, &rules(), at("2027-11-21", 0)).is_ok());
}

#[test]
fn renewal_opens_the_next_inclusive_term_and_a_new_window() {
    let mut s = sub(MICROSOFT, "2026-11-22", "2027-11-21", 2);
    assert_eq!(lifecycle::at_term_end(&s, day("2027-11-21")), None);
    assert_eq!(
        lifecycle::at_term_end(&s, day("2027-11-22")),
        Some(AtTermEnd::Renew)
    );
    let now = at("2027-11-22", 0);
    lifecycle::apply(
        &mut s,
        &NCE_POLICY,
        &Provisioned {
            change: ChangeType::Renewal,
            quantity: 2,
            previous_quantity: 2,
            term_start: None,
            term_end: None,
            order_id: "r1".into(),
            now: now.at,
        },
    );
    assert_eq!(s.term_start, Some(day("2027-11-22")));
    assert_eq!(s.term_end, Some(day("2028-11-21")));
    assert!(
        NcePolicy
            .preview_cancellation(&s, at("2027-11-22", 6))
            .allowed
    );
    assert!(
        !NcePolicy
            .preview_cancellation(&s, at("2027-11-22", 8))
            .allowed
    );
    s.auto_renew = false;
    assert_eq!(
        lifecycle::at_term_end(&s, day("2028-11-22")),
        Some(AtTermEnd::Expire)
    );
}

#[test]
fn reminders_are_due_once() {
    let mut s = sub(MICROSOFT, "2026-11-22", "2027-11-21", 2);
    let bought = at("2026-11-22", 0);
    s.cancellation_windows.push(window(bought, 2, "purchase"));
    let policy = for_vendor(MICROSOFT);
    let remind = bought.at + 6 * DAY_MICROS;
    assert_eq!(
        lifecycle::next_reminder_at(&s, policy, &rules()),
        Some(remind)
    );
    assert!(
        lifecycle::take_due_reminders(&mut s, policy, &rules(), remind - DAY_MICROS).is_empty()
    );
    let due = lifecycle::take_due_reminders(&mut s, policy, &rules(), remind);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].kind, ReminderKind::CancellationWindowClosing);
    assert!(lifecycle::take_due_reminders(&mut s, policy, &rules(), remind).is_empty());
    // Term end approaching: 30 days before 2027-11-21.
    let term = day("2027-10-22").start_micros().unwrap();
    assert_eq!(
        lifecycle::next_reminder_at(&s, policy, &rules()),
        Some(term)
    );
    // Autodesk: the last day to disable auto-renew.
    let a = sub(AUTODESK, "2025-12-16", "2026-12-15", 1);
    let planned = lifecycle::planned_reminders(&a, for_vendor(AUTODESK), &rules());
    assert!(
        planned
            .iter()
            .any(|p| p.kind == ReminderKind::AutoRenewLastDay
                && p.remind_at == day("2026-12-08").start_micros().unwrap())
    );
}
