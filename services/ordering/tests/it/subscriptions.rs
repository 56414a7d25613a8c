//! Subscription lifecycle (issue 6) on both backends: every change placed as an order and
//! carried out through provisioning, the vendor rules across their boundaries with the clock
//! moved (one day inside and one day outside each window; business days across a weekend and a
//! holiday), renewals and expiries by the scheduler (several replicas, catch-up after
//! downtime), reminders once, and refusals that change nothing.

use std::time::Duration;

use marketplace_proto::common::v1::{ChangeType, Date};
use marketplace_proto::events::v1 as ev;
use marketplace_proto::events::v1::envelope::Payload;
use marketplace_proto::ordering::v1 as pb;
use platform::ServiceError;
use tonic::Code;

use crate::fake_catalog::{AUTOCAD, M365};
use crate::platform;
use crate::support::{DEMO_CUSTOMER, Env, admin};

fn date(s: &str) -> Option<Date> {
    let mut p = s.split('-').map(|x| x.parse::<i32>().unwrap());
    Some(Date {
        year: p.next().unwrap(),
        month: p.next().unwrap(),
        day: p.next().unwrap(),
    })
}

/// `fulfilment_succeeded` for the first item of `order`, with term dates when given.
fn done(order: &pb::Order, vsid: &str, term: Option<(&str, &str)>) -> Payload {
    let item = &order.items[0];
    Payload::FulfilmentSucceeded(ev::FulfilmentSucceeded {
        request_id: format!("{}:0", item.id),
        order_id: order.id.clone(),
        order_item_id: item.id.clone(),
        job_id: format!("job-{}", item.id),
        vendor_subscription_id: vsid.into(),
        term_start: term.and_then(|t| date(t.0)),
        term_end: term.and_then(|t| date(t.1)),
        change: item.change,
        ..Default::default()
    })
}

async fn get(env: &Env, id: &str) -> pb::Subscription {
    env.subscriptions()
        .get_subscription(env.req(
            pb::GetSubscriptionRequest {
                subscription_id: id.into(),
            },
            &admin(),
        ))
        .await
        .expect("get subscription")
        .into_inner()
}

/// Polls the subscription until `ok` holds.
async fn wait_sub(
    env: &Env,
    id: &str,
    what: &str,
    ok: impl Fn(&pb::Subscription) -> bool,
) -> pb::Subscription {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let s = get(env, id).await;
        if ok(&s) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "[{:?}] timed out waiting for {what}: {:?} {:?}",
            env.backend,
            s.status(),
            s.term_end
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Buys one subscription of `plan` for the demo customer and activates it with `term`.
async fn active(
    env: &Env,
    plan: &str,
    quantity: i32,
    vsid: &str,
    term: (&str, &str),
) -> pb::Subscription {
    let cart = env.cart_with(&admin(), DEMO_CUSTOMER, plan, quantity).await;
    let order = env.buy(&admin(), &cart.id, "").await.expect("buy");
    env.provision(done(&order, vsid, Some(term))).await;
    wait_sub(env, &order.items[0].subscription_id, "activation", |s| {
        s.status() == pb::SubscriptionStatus::Active
    })
    .await
}

/// Provisions a change order and waits until the subscription has no change in flight.
async fn complete(env: &Env, order: &pb::Order, term: Option<(&str, &str)>) -> pb::Subscription {
    let sub = &order.items[0].subscription_id;
    let before = get(env, sub).await.etag;
    env.provision(done(order, "", term)).await;
    wait_sub(env, sub, "change applied", |s| s.etag != before).await
}

/// Asserts a refusal naming `rule` and that nothing changed: no event, same subscription.
async fn refused<T: std::fmt::Debug>(
    env: &Env,
    sub: &pb::Subscription,
    events_before: usize,
    result: Result<tonic::Response<T>, tonic::Status>,
    rule: &str,
) -> String {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let error = ServiceError::from_status(&status);
    assert_eq!(error.rule.as_deref(), Some(rule), "{}", error.message);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Reminders come from the scheduler on its own; anything else would come from the refusal.
    let emitted: Vec<String> = env.recorded()[events_before..]
        .iter()
        .filter(|e| e.r#type != "subscription_reminder")
        .map(|e| e.r#type.clone())
        .collect();
    assert!(emitted.is_empty(), "a refused change emitted {emitted:?}");
    let now = get(env, &sub.id).await;
    // Only the scheduler's reminder bookkeeping may have touched it meanwhile.
    assert_eq!(
        (now.quantity, now.status, now.auto_renew, now.term_end),
        (sub.quantity, sub.status, sub.auto_renew, sub.term_end),
        "a refused change wrote"
    );
    error.message
}

fn reminders(env: &Env, sub: &str, kind: ev::ReminderKind) -> usize {
    env.recorded()
        .iter()
        .filter(|e| matches!(&e.payload, Some(Payload::SubscriptionReminder(r)) if r.subscription_id == sub && r.kind == kind as i32))
        .count()
}

fn requested(env: &Env, sub: &str, change: ChangeType) -> Vec<ev::FulfilmentRequested> {
    env.recorded()
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(Payload::FulfilmentRequested(f))
                if f.subscription_id == sub && f.change == change as i32 =>
            {
                Some(f)
            }
            _ => None,
        })
        .collect()
}

async fn settle(env: &Env) -> usize {
    tokio::time::sleep(Duration::from_millis(400)).await;
    env.recorded().len()
}

#[tokio::test]
async fn nce_cancellation_inside_the_window_refunds_and_outside_is_refused() {
    for backend in crate::backends().await {
        let env = Env::start(backend).await;
        env.set_time("2026-11-23", 10);
        let term = ("2026-11-23", "2027-11-22");
        let one = active(&env, M365, 2, "MS-1", term).await;
        let two = active(&env, M365, 2, "MS-2", term).await;
        assert_eq!(one.cancellation_windows.len(), 1);
        let mut subs = env.subscriptions();

        // Six days after purchase: inside the window.
        env.set_time("2026-11-29", 10);
        let preview = subs
            .preview_cancellation(env.req(
                pb::PreviewCancellationRequest {
                    subscription_id: one.id.clone(),
                },
                &admin(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(preview.allowed, "{preview:?}");
        assert_eq!(preview.rule, "microsoft_nce.cancellation_window");
        let refund = preview.refund.clone().unwrap().amount_minor;
        assert!(refund > 0);
        let order = subs
            .cancel_subscription(env.req(
                pb::CancelSubscriptionRequest {
                    subscription_id: one.id.clone(),
                    request_id: "c1".into(),
                    reason: "wrong plan".into(),
                },
                &admin(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(order.items[0].change, ChangeType::Cancellation as i32);
        assert_eq!(
            order.items[0]
                .price
                .as_ref()
                .unwrap()
                .total_price
                .as_ref()
                .unwrap()
                .amount_minor,
            -refund
        );
        assert_eq!(order.status(), pb::OrderStatus::InProgress);
        // The refund is shown with the order, and the reason given is kept as a note.
        assert!(
            order
                .notes
                .iter()
                .any(|n| n.text.contains("pro-rated refund")),
            "{:?}",
            order.notes
        );
        assert!(order.notes.iter().any(|n| n.text == "wrong plan"));
        // A retry with the same request id returns the same order.
        let again = subs
            .cancel_subscription(env.req(
                pb::CancelSubscriptionRequest {
                    subscription_id: one.id.clone(),
                    request_id: "c1".into(),
                    reason: String::new(),
                },
                &admin(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(again.id, order.id);
        env.wait_events("fulfilment of the cancellation", |_| {
            !requested(&env, &one.id, ChangeType::Cancellation).is_empty()
        })
        .await;
        let asked = requested(&env, &one.id, ChangeType::Cancellation);
        assert_eq!(asked.len(), 1);
        assert_eq!(asked[0].vendor_subscription_id, "MS-1");
        assert_eq!(asked[0].order_id, order.id);
        let cancelled = complete(&env, &order, None).await;
        assert_eq!(cancelled.status(), pb::SubscriptionStatus::Cancelled);
        assert!(!cancelled.auto_renew);
        let tracked = env.order(&admin(), &order.id).await.unwrap();
        assert_eq!(tracked.status(), pb::OrderStatus::Completed);

        // Eight days after purchase: outside; refused with the date the window closed.
        env.set_time("2026-12-01", 10);
        let before = settle(&env).await;
        let two = get(&env, &two.id).await;
        let preview = subs
            .preview_cancellation(env.req(
                pb::PreviewCancellationRequest {
                    subscription_id: two.id.clone(),
                },
                &admin(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(!preview.allowed);
        assert!(preview.window_close_time.is_some());
        let result = subs
            .cancel_subscription(env.req(
                pb::CancelSubscriptionRequest {
                    subscription_id: two.id.clone(),
                    ..Default::default()
                },
                &admin(),
            ))
            .await;
        let message = refused(
            &env,
            &two,
            before,
            result,
            "microsoft_nce.cancellation_window",
        )
        .await;
        assert!(message.contains("2026-11-30"), "{message}");
        env.stop().await;
    }
}

#[tokio::test]
async fn nce_seats_decrease_only_inside_the_window_that_added_them() {
    for backend in crate::backends().await {
        let env = Env::start(backend).await;
        env.set_time("2026-11-23", 10);
        let sub = active(&env, M365, 5, "MS-1", ("2026-11-23", "2027-11-22")).await;
        let mut subs = env.subscriptions();
        let seats = |q: i32, id: &str| pb::ChangeSeatsRequest {
            subscription_id: sub.id.clone(),
            quantity: q,
            request_id: id.into(),
            etag: String::new(),
        };

        // Day 8: the purchase window is closed; removing seats is refused.
        env.set_time("2026-12-01", 10);
        let before = settle(&env).await;
        let sub = get(&env, &sub.id).await;
        let result = subs.change_seats(env.req(seats(4, "d1"), &admin())).await;
        let message = refused(
            &env,
            &sub,
            before,
            result,
            "microsoft_nce.seat_decrease_window",
        )
        .await;
        assert!(message.contains("2026-11-30"), "{message}");

        // Adding 3 seats opens a window for them.
        let order = subs
            .change_seats(env.req(seats(8, "u1"), &admin()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(order.items[0].change, ChangeType::SeatIncrease as i32);
        assert_eq!(order.items[0].previous_quantity, 5);
        let up = complete(&env, &order, None).await;
        assert_eq!(up.quantity, 8);
        assert_eq!(up.cancellation_windows.len(), 2);

        // One change at a time: while a decrease is in flight another change is refused.
        env.set_time("2026-12-07", 10);
        let order = subs
            .change_seats(env.req(seats(5, "d2"), &admin()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(order.items[0].change, ChangeType::SeatDecrease as i32);
        assert!(
            order.items[0]
                .price
                .as_ref()
                .unwrap()
                .total_price
                .as_ref()
                .unwrap()
                .amount_minor
                < 0
        );
        let pending = get(&env, &sub.id).await;
        let before = settle(&env).await;
        let result = subs.change_seats(env.req(seats(6, "d3"), &admin())).await;
        refused(
            &env,
            &pending,
            before,
            result,
            "subscription.change_in_progress",
        )
        .await;
        let down = complete(&env, &order, None).await;
        assert_eq!(down.quantity, 5);

        // A change the vendor refuses leaves the subscription as it was and free for the next.
        let suspend = pb::SuspendSubscriptionRequest {
            subscription_id: sub.id.clone(),
            request_id: "s1".into(),
            reason: String::new(),
        };
        let order = subs
            .suspend_subscription(env.req(suspend, &admin()))
            .await
            .unwrap()
            .into_inner();
        let before = get(&env, &sub.id).await.etag;
        env.provision(Payload::FulfilmentFailed(ev::FulfilmentFailed {
            request_id: format!("{}:0", order.items[0].id),
            order_id: order.id.clone(),
            order_item_id: order.items[0].id.clone(),
            vendor_code: "2001".into(),
            vendor_message: "cannot be suspended now".into(),
            ..Default::default()
        }))
        .await;
        let after = wait_sub(&env, &sub.id, "failure applied", |s| s.etag != before).await;
        assert_eq!(after.status(), pb::SubscriptionStatus::Active);
        assert_eq!(
            env.order(&admin(), &order.id).await.unwrap().status(),
            pb::OrderStatus::ProvisioningFailed
        );

        // Add 2 seats again (window closes 2026-12-14 10:00); day 8 after it: refused.
        let order = subs
            .change_seats(env.req(seats(7, "u2"), &admin()))
            .await
            .unwrap()
            .into_inner();
        complete(&env, &order, None).await;
        env.set_time("2026-12-15", 10);
        let before = settle(&env).await;
        let now = get(&env, &sub.id).await;
        let result = subs.change_seats(env.req(seats(6, "d4"), &admin())).await;
        refused(
            &env,
            &now,
            before,
            result,
            "microsoft_nce.seat_decrease_window",
        )
        .await;
        env.stop().await;
    }
}

#[tokio::test]
async fn autodesk_auto_renew_off_business_days_licenses_then_expiry_and_renewal() {
    for backend in crate::backends().await {
        // Thursday 2026-12-10 is a holiday: 5 business days before Tuesday 2026-12-15 is then
        // Monday 2026-12-07 (over the weekend of 12–13 and the holiday).
        let env = Env::start_tuned(backend, |s| s.holidays = vec!["2026-12-10".into()]).await;
        env.set_time("2026-11-23", 10);
        let term = ("2025-12-16", "2026-12-15");
        let a = active(&env, AUTOCAD, 3, "AD-1", term).await;
        let b = active(&env, AUTOCAD, 3, "AD-2", term).await;
        let mut subs = env.subscriptions();
        let off = |id: &str, r: &str| pb::SetAutoRenewRequest {
            subscription_id: id.into(),
            auto_renew: false,
            request_id: r.into(),
        };
        let on = |id: &str, r: &str| pb::SetAutoRenewRequest {
            subscription_id: id.into(),
            auto_renew: true,
            request_id: r.into(),
        };
        subs.update_assigned_licenses(env.req(
            pb::UpdateAssignedLicensesRequest {
                subscription_id: a.id.clone(),
                assigned_licenses: 2,
            },
            &admin(),
        ))
        .await
        .unwrap();

        // Autodesk never refunds: cancellation refused with the explanation.
        let before = settle(&env).await;
        let b_now = get(&env, &b.id).await;
        let result = subs
            .cancel_subscription(env.req(
                pb::CancelSubscriptionRequest {
                    subscription_id: b.id.clone(),
                    ..Default::default()
                },
                &admin(),
            ))
            .await;
        refused(&env, &b_now, before, result, "autodesk.no_refunds").await;

        // The last day (Monday 2026-12-07): licenses still assigned → refused; un-assigned → accepted.
        env.set_time("2026-12-07", 12);
        env.wait_events("auto-renew last-day reminder", |_| {
            reminders(&env, &b.id, ev::ReminderKind::AutoRenewLastDay) == 1
        })
        .await;
        let before = settle(&env).await;
        let a_now = get(&env, &a.id).await;
        let result = subs
            .set_auto_renew(env.req(off(&a.id, "o1"), &admin()))
            .await;
        refused(&env, &a_now, before, result, "autodesk.licenses_assigned").await;
        subs.update_assigned_licenses(env.req(
            pb::UpdateAssignedLicensesRequest {
                subscription_id: a.id.clone(),
                assigned_licenses: 0,
            },
            &admin(),
        ))
        .await
        .unwrap();
        let order = subs
            .set_auto_renew(env.req(off(&a.id, "o2"), &admin()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(order.items[0].change, ChangeType::AutoRenewOff as i32);
        let terminated = complete(&env, &order, None).await;
        assert_eq!(terminated.status(), pb::SubscriptionStatus::Terminated);
        assert!(!terminated.auto_renew && !terminated.auto_renew_changeable);
        // Never back on.
        let before = settle(&env).await;
        let result = subs
            .set_auto_renew(env.req(on(&a.id, "o3"), &admin()))
            .await;
        refused(
            &env,
            &terminated,
            before,
            result,
            "autodesk.auto_renew_never_back_on",
        )
        .await;

        // One day later (Tuesday 2026-12-08, a business day before the holiday shift): refused.
        env.set_time("2026-12-08", 12);
        let before = settle(&env).await;
        let b_now = get(&env, &b.id).await;
        let result = subs
            .set_auto_renew(env.req(off(&b.id, "o4"), &admin()))
            .await;
        let message = refused(&env, &b_now, before, result, "autodesk.auto_renew_notice").await;
        assert!(message.contains("2026-12-07"), "{message}");

        // Term end is inclusive: on 2026-12-15 nothing happens yet.
        let replica = env.replica().await;
        env.set_time("2026-12-15", 20);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            get(&env, &a.id).await.status(),
            pb::SubscriptionStatus::Terminated
        );
        assert!(requested(&env, &b.id, ChangeType::Renewal).is_empty());

        // The day after: TERMINATED expires, auto-renew on renews — once, with two replicas.
        env.set_time("2026-12-16", 1);
        wait_sub(&env, &a.id, "expiry", |s| {
            s.status() == pb::SubscriptionStatus::Expired
        })
        .await;
        env.wait_events("renewal order", |_| {
            !requested(&env, &b.id, ChangeType::Renewal).is_empty()
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let renewals = requested(&env, &b.id, ChangeType::Renewal);
        assert_eq!(renewals.len(), 1, "renewed twice");
        assert_eq!(renewals[0].vendor_subscription_id, "AD-2");
        let renewal = env.order(&admin(), &renewals[0].order_id).await.unwrap();
        let renewed = complete(&env, &renewal, None).await;
        assert_eq!(renewed.term_start, date("2026-12-16"));
        assert_eq!(renewed.term_end, date("2027-12-15"));
        assert_eq!(renewed.status(), pb::SubscriptionStatus::Active);
        assert_eq!(
            reminders(&env, &b.id, ev::ReminderKind::TermEndApproaching),
            1
        );
        replica.stop().await;
        env.stop().await;
    }
}

#[tokio::test]
async fn nce_renewal_opens_a_new_window_and_the_scheduler_catches_up() {
    for backend in crate::backends().await {
        let env = Env::start(backend).await;
        env.set_time("2026-11-23", 10);
        let term = ("2026-11-23", "2027-11-22");
        let renewing = active(&env, M365, 4, "MS-1", term).await;
        let expiring = active(&env, M365, 1, "MS-2", term).await;
        let mut subs = env.subscriptions();

        // The cancellation-window reminder: one day before it closes, once.
        env.set_time("2026-11-29", 11);
        env.wait_events("window reminder", |_| {
            reminders(
                &env,
                &renewing.id,
                ev::ReminderKind::CancellationWindowClosing,
            ) == 1
        })
        .await;

        // Suspend and resume.
        let order = subs
            .suspend_subscription(env.req(
                pb::SuspendSubscriptionRequest {
                    subscription_id: renewing.id.clone(),
                    request_id: "s1".into(),
                    reason: "unpaid".into(),
                },
                &admin(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            complete(&env, &order, None).await.status(),
            pb::SubscriptionStatus::Suspended
        );
        let order = subs
            .resume_subscription(env.req(
                pb::ResumeSubscriptionRequest {
                    subscription_id: renewing.id.clone(),
                    request_id: "r1".into(),
                },
                &admin(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            complete(&env, &order, None).await.status(),
            pb::SubscriptionStatus::Active
        );

        // Auto-renew off for the other one.
        let order = subs
            .set_auto_renew(env.req(
                pb::SetAutoRenewRequest {
                    subscription_id: expiring.id.clone(),
                    auto_renew: false,
                    request_id: "a1".into(),
                },
                &admin(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(!complete(&env, &order, None).await.auto_renew);

        // The day after the inclusive term end: renewal order, then a new term and window.
        env.set_time("2027-11-23", 1);
        env.wait_events("renewal", |_| {
            !requested(&env, &renewing.id, ChangeType::Renewal).is_empty()
        })
        .await;
        wait_sub(&env, &expiring.id, "expiry", |s| {
            s.status() == pb::SubscriptionStatus::Expired
        })
        .await;
        let renewal = requested(&env, &renewing.id, ChangeType::Renewal).remove(0);
        let renewal = env.order(&admin(), &renewal.order_id).await.unwrap();
        let renewed = complete(&env, &renewal, None).await;
        assert_eq!(renewed.term_end, date("2028-11-22"));
        let window = |id: &str| pb::PreviewCancellationRequest {
            subscription_id: id.into(),
        };
        env.set_time("2027-11-29", 12);
        assert!(
            subs.preview_cancellation(env.req(window(&renewing.id), &admin()))
                .await
                .unwrap()
                .into_inner()
                .allowed
        );
        env.set_time("2027-12-01", 12);
        assert!(
            !subs
                .preview_cancellation(env.req(window(&renewing.id), &admin()))
                .await
                .unwrap()
                .into_inner()
                .allowed
        );

        // Downtime past the next term end: the scheduler catches up at once.
        env.set_time("2029-01-10", 12);
        env.wait_events("catch-up renewal", |_| {
            requested(&env, &renewing.id, ChangeType::Renewal).len() == 2
        })
        .await;
        env.stop().await;
    }
}

#[tokio::test]
async fn list_and_detail_show_the_seed_004_facts() {
    for backend in crate::backends().await {
        let env = Env::start(backend).await;
        env.set_time("2026-11-23", 10);
        let ms = active(&env, M365, 2, "MS-1", ("2026-11-23", "2027-11-22")).await;
        let ad = active(&env, AUTOCAD, 1, "AD-1", ("2026-11-23", "2027-11-22")).await;
        assert_eq!(
            ms.admin_contact.as_ref().unwrap().email,
            "admin@contoso.example"
        );
        assert!(!ms.admin_contact.as_ref().unwrap().first_name.is_empty());
        assert_eq!(ms.tenant_name, "Contoso");
        assert!(ms.price.as_ref().unwrap().unit_price.is_some());
        assert_eq!(ms.term_end, date("2027-11-22"));
        let list = |vendor: &str, statuses: Vec<i32>| pb::ListSubscriptionsRequest {
            customer_id: DEMO_CUSTOMER.into(),
            vendor_id: vendor.into(),
            statuses,
            ..Default::default()
        };
        let mut subs = env.subscriptions();
        let all = subs
            .list_subscriptions(env.req(list("", vec![]), &admin()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(all.subscriptions.len(), 2);
        let autodesk = subs
            .list_subscriptions(env.req(list("autodesk", vec![]), &admin()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(autodesk.subscriptions.len(), 1);
        assert_eq!(autodesk.subscriptions[0].id, ad.id);
        let cancelled = subs
            .list_subscriptions(env.req(
                list("", vec![pb::SubscriptionStatus::Cancelled as i32]),
                &admin(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(cancelled.subscriptions.is_empty());
        let bad = subs
            .update_assigned_licenses(env.req(
                pb::UpdateAssignedLicensesRequest {
                    subscription_id: ad.id.clone(),
                    assigned_licenses: 5,
                },
                &admin(),
            ))
            .await
            .unwrap_err();
        assert_eq!(bad.code(), Code::InvalidArgument);
        env.stop().await;
    }
}
