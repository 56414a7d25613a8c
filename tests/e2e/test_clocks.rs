//! Sandbox test clocks (issue 17) on the public API, both modes: a customer attached to a clock
//! lives at the clock's time — the NCE 7-day window and pro-rated refunds, seat decreases,
//! Autodesk's business-day cut-off, renewal and expiry at term end, cart expiry, reminders —
//! and the sandbox vendors agree on every date. Bad input changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime, Weekday};

use crate::harness::{Marketplace, modes, start, start_with};
use crate::journey_support::{buy, cart, customer, item, order_reaches, until};

const M365: &str = "plan-ms365-business-basic-annual";
const AUTOCAD: &str = "plan-autodesk-autocad-annual";

/// The clocks' start: Monday 2027-03-01 10:00 UTC.
fn t0() -> OffsetDateTime {
    OffsetDateTime::parse("2027-03-01T10:00:00Z", &Rfc3339).expect("time")
}

fn rfc(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("format")
}

/// A call that must succeed, as the demo reseller admin.
async fn ok(m: &Marketplace, method: Method, path: &str, body: Value) -> Value {
    let (status, value) = m.call(method.clone(), path, &m.token, Some(body)).await;
    assert!(status.is_success(), "{method} {path} -> {status}: {value}");
    value
}

/// A clock of the demo reseller frozen at `at`; returns its id.
async fn clock(m: &Marketplace, at: OffsetDateTime) -> String {
    let c = ok(
        m,
        Method::POST,
        "/v1/test-clocks",
        json!({"name": "rehearsal", "frozenTime": rfc(at)}),
    )
    .await;
    assert_eq!(c["status"], "TEST_CLOCK_STATUS_READY", "{c}");
    c["id"].as_str().expect("clock id").to_string()
}

async fn attach(m: &Marketplace, clock_id: &str, customer_id: &str) {
    let c = ok(
        m,
        Method::POST,
        &format!("/v1/test-clocks/{clock_id}:attachCustomer"),
        json!({"customerId": customer_id}),
    )
    .await;
    assert!(
        c["customerIds"]
            .as_array()
            .is_some_and(|ids| ids.iter().any(|i| i == customer_id)),
        "{c}"
    );
}

/// Advances the clock to `to` and waits until it is READY there.
async fn advance(m: &Marketplace, clock_id: &str, to: OffsetDateTime) -> Value {
    ok(
        m,
        Method::POST,
        &format!("/v1/test-clocks/{clock_id}:advance"),
        json!({"frozenTime": rfc(to)}),
    )
    .await;
    let ready = until(m, &m.token, &format!("/v1/test-clocks/{clock_id}"), |c| {
        c["status"] == "TEST_CLOCK_STATUS_READY"
    })
    .await;
    assert_eq!(ready["frozenTime"], rfc(to), "{ready}");
    ready
}

/// An NCE-ready customer (new tenant, MCA accepted).
async fn nce_customer(m: &Marketplace, slug: &str) -> String {
    let c = ok(
        m,
        Method::POST,
        "/v1/customers",
        json!({
            "name": format!("{slug} Inc"),
            "contacts": [
                {"role": "CONTACT_ROLE_GLOBAL_ADMIN", "email": format!("admin@{slug}.example"), "firstName": "Gina", "lastName": "Admin"}
            ],
            "address": {"line1": "1 Main St", "city": "Seattle", "postalCode": "98052", "countryCode": "US"},
            "microsoft": {"tenantDomain": format!("{slug}.onmicrosoft.com"), "linkMode": "TENANT_LINK_MODE_CREATE"}
        }),
    )
    .await;
    c["id"].as_str().expect("customer id").to_string()
}

async fn accept_mca(m: &Marketplace, customer_id: &str, slug: &str) {
    ok(
        m,
        Method::POST,
        &format!("/v1/customers/{customer_id}/agreements"),
        json!({"type": "AGREEMENT_TYPE_MICROSOFT_CUSTOMER_AGREEMENT", "contact": {"email": format!("alex@{slug}.example"), "firstName": "Alex", "lastName": "Accepter", "phone": "+1 425 555 0100"}}),
    )
    .await;
}

/// Buys one line, waits until the order is COMPLETED and the subscription ACTIVE.
async fn subscribe(m: &Marketplace, customer_id: &str, plan: &str, quantity: i32) -> Value {
    let order_id = buy(m, &cart(m, customer_id, &[(plan, quantity)]).await).await;
    let order = order_reaches(m, &order_id, "ORDER_STATUS_COMPLETED").await;
    let id = item(&order, 0)["subscriptionId"]
        .as_str()
        .expect("subscription")
        .to_string();
    until(m, &m.token, &format!("/v1/subscriptions/{id}"), |s| {
        s["status"] == "SUBSCRIPTION_STATUS_ACTIVE"
    })
    .await
}

fn date_of(v: &Value) -> Date {
    Date::from_calendar_date(
        v["year"].as_i64().expect("year") as i32,
        time::Month::try_from(v["month"].as_i64().expect("month") as u8).expect("month"),
        v["day"].as_i64().expect("day") as u8,
    )
    .expect("date")
}

fn minor(money: &Value) -> i64 {
    match &money["amountMinor"] {
        Value::String(s) => s.parse().expect("amount"),
        Value::Number(n) => n.as_i64().expect("amount"),
        _ => 0,
    }
}

/// The pro-rated amount of `seats` on day `today` of the first billing period (the ordering
/// rule: unit price × seats × unused days after today / days of the period).
fn prorated(sub: &Value, seats: i64, today: Date) -> i64 {
    let start = date_of(&sub["termStart"]);
    let end = date_of(&sub["termEnd"]);
    let last = if sub["billingCycle"] == "BILLING_CYCLE_MONTHLY" {
        let next = if start.month() == time::Month::December {
            start
                .replace_year(start.year() + 1)
                .and_then(|d| d.replace_month(time::Month::January))
        } else {
            start.replace_month(start.month().next())
        }
        .expect("next month");
        (next - Duration::days(1)).min(end)
    } else {
        end
    };
    let period = (last - start).whole_days() + 1;
    let unused = (last - today).whole_days().clamp(0, period);
    minor(&sub["price"]["unitPrice"]) * seats * unused / period
}

/// The notifications of `kind` about `subscription_id`.
async fn reminders(m: &Marketplace, subscription_id: &str, kind: &str) -> Vec<Value> {
    let (status, list) = m
        .call(
            Method::GET,
            "/v1/notifications?pageSize=200",
            &m.token,
            None,
        )
        .await;
    assert!(status.is_success(), "{status} {list}");
    list["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n["subscriptionId"] == subscription_id && n["kind"] == kind)
        .collect()
}

/// Waits until exactly one notification of `kind` about the subscription exists.
async fn one_reminder(m: &Marketplace, subscription_id: &str, kind: &str) -> Value {
    let deadline = tokio::time::Instant::now() + crate::journey_support::WAIT;
    loop {
        let found = reminders(m, subscription_id, kind).await;
        assert!(found.len() <= 1, "{kind} sent more than once: {found:?}");
        if let Some(one) = found.into_iter().next() {
            return one;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {kind} for {subscription_id}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nce_window_refunds_and_refusals_follow_the_clock() {
    for mode in modes().await {
        let m = start(mode).await;
        let t0 = t0();
        let clock_id = clock(&m, t0).await;
        let customer_id = nce_customer(&m, "clocked").await;
        attach(&m, &clock_id, &customer_id).await;
        accept_mca(&m, &customer_id, "clocked").await;
        let a = subscribe(&m, &customer_id, M365, 5).await;
        let b = subscribe(&m, &customer_id, M365, 5).await;
        let a_id = a["id"].as_str().expect("id").to_string();
        let b_id = b["id"].as_str().expect("id").to_string();

        // The vendor and the marketplace agree: the term starts on the clock's day, the
        // window opens at the clock's time.
        assert_eq!(date_of(&a["termStart"]), t0.date(), "{mode:?}: {a}");
        let window = &a["cancellationWindows"][0];
        assert_eq!(window["openTime"], rfc(t0), "{mode:?}: {a}");
        assert_eq!(window["closeTime"], rfc(t0 + Duration::days(7)), "{a}");

        // Day 2: a seat decrease is allowed, refunded pro rata to day 2.
        advance(&m, &clock_id, t0 + Duration::days(2)).await;
        let decrease = ok(
            &m,
            Method::POST,
            &format!("/v1/subscriptions/{a_id}:changeSeats"),
            json!({"quantity": 4, "requestId": uuid::Uuid::new_v4().to_string()}),
        )
        .await;
        let expected = prorated(&a, 1, (t0 + Duration::days(2)).date());
        assert!(expected > 0);
        assert_eq!(
            minor(&item(&decrease, 0)["price"]["totalPrice"]),
            -expected,
            "{mode:?}: {decrease}"
        );
        let id = decrease["id"].as_str().expect("order id").to_string();
        order_reaches(&m, &id, "ORDER_STATUS_COMPLETED").await;
        until(&m, &m.token, &format!("/v1/subscriptions/{a_id}"), |s| {
            s["quantity"] == 4 && s["status"] == "SUBSCRIPTION_STATUS_ACTIVE"
        })
        .await;

        // Day 3: cancelled with the refund pro-rated to day 3.
        advance(&m, &clock_id, t0 + Duration::days(3)).await;
        let day3 = (t0 + Duration::days(3)).date();
        let preview = m
            .get(&format!("/v1/subscriptions/{a_id}:previewCancellation"))
            .await;
        assert_eq!(preview["allowed"], true, "{mode:?}: {preview}");
        assert_eq!(
            minor(&preview["refund"]),
            prorated(&a, 4, day3),
            "{preview}"
        );
        let cancel = ok(
            &m,
            Method::POST,
            &format!("/v1/subscriptions/{a_id}:cancel"),
            json!({"requestId": uuid::Uuid::new_v4().to_string()}),
        )
        .await;
        assert_eq!(
            minor(&item(&cancel, 0)["price"]["totalPrice"]),
            -prorated(&a, 4, day3),
            "{mode:?}: {cancel}"
        );
        let id = cancel["id"].as_str().expect("order id").to_string();
        order_reaches(&m, &id, "ORDER_STATUS_COMPLETED").await;
        until(&m, &m.token, &format!("/v1/subscriptions/{a_id}"), |s| {
            s["status"] == "SUBSCRIPTION_STATUS_CANCELLED"
        })
        .await;
        // The window-closing reminder is due on day 6: not yet.
        assert!(
            reminders(&m, &b_id, "NOTIFICATION_KIND_CANCELLATION_WINDOW_CLOSING")
                .await
                .is_empty(),
            "{mode:?}: reminder before its time"
        );

        // Day 8: the marketplace refuses the cancel itself, naming the window's end.
        advance(&m, &clock_id, t0 + Duration::days(8)).await;
        let window_end = "2027-03-08 10:00 UTC";
        let (status, problem) = m
            .call(
                Method::POST,
                &format!("/v1/subscriptions/{b_id}:cancel"),
                &m.token,
                Some(json!({"requestId": uuid::Uuid::new_v4().to_string()})),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{mode:?}: {problem}"
        );
        assert_eq!(problem["rule"], "microsoft_nce.cancellation_window");
        assert!(problem.to_string().contains(window_end), "{problem}");

        // The reminder fired once, at day 6 (its deadline is the window's end); A's never
        // did (cancelled before).
        let reminder =
            one_reminder(&m, &b_id, "NOTIFICATION_KIND_CANCELLATION_WINDOW_CLOSING").await;
        assert!(
            reminder.to_string().contains(window_end),
            "{mode:?}: {reminder}"
        );
        assert!(
            reminders(&m, &a_id, "NOTIFICATION_KIND_CANCELLATION_WINDOW_CLOSING")
                .await
                .is_empty()
        );

        // Day 9: a seat decrease is refused, naming the window's end; nothing changed.
        advance(&m, &clock_id, t0 + Duration::days(9)).await;
        let (status, problem) = m
            .call(
                Method::POST,
                &format!("/v1/subscriptions/{b_id}:changeSeats"),
                &m.token,
                Some(json!({"quantity": 4, "requestId": uuid::Uuid::new_v4().to_string()})),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{mode:?}: {problem}"
        );
        assert_eq!(problem["rule"], "microsoft_nce.seat_decrease_window");
        assert!(problem.to_string().contains("2027-03-08"), "{problem}");
        let b_now = m.get(&format!("/v1/subscriptions/{b_id}")).await;
        assert_eq!(b_now["quantity"], 5);
        // Still exactly one reminder.
        assert_eq!(
            reminders(&m, &b_id, "NOTIFICATION_KIND_CANCELLATION_WINDOW_CLOSING")
                .await
                .len(),
            1
        );
        m.stop().await;
    }
}

/// `n` business days (Monday–Friday) before `day`.
fn business_days_before(day: Date, n: u32) -> Date {
    let mut d = day;
    let mut counted = 0;
    while counted < n {
        d -= Duration::days(1);
        if !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
            counted += 1;
        }
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn autodesk_cutoff_renewal_and_expiry_follow_the_clock() {
    for mode in modes().await {
        let m = start(mode).await;
        let t0 = t0();
        let clock_id = clock(&m, t0).await;
        let customer_id = customer(&m, "Clocked Design AS", "cora@clocked.example").await;
        attach(&m, &clock_id, &customer_id).await;
        let renewing = subscribe(&m, &customer_id, AUTOCAD, 2).await;
        let ending = subscribe(&m, &customer_id, AUTOCAD, 1).await;
        let r_id = renewing["id"].as_str().expect("id").to_string();
        let e_id = ending["id"].as_str().expect("id").to_string();
        assert_eq!(
            date_of(&renewing["termStart"]),
            t0.date(),
            "{mode:?}: {renewing}"
        );
        let end = date_of(&renewing["termEnd"]);
        assert!(end > t0.date() + Duration::days(300), "{renewing}");

        // Auto-renew off early: allowed, TERMINATED until term end.
        let off = ok(
            &m,
            Method::POST,
            &format!("/v1/subscriptions/{e_id}:setAutoRenew"),
            json!({"autoRenew": false, "requestId": uuid::Uuid::new_v4().to_string()}),
        )
        .await;
        let id = off["id"].as_str().expect("order id").to_string();
        order_reaches(&m, &id, "ORDER_STATUS_COMPLETED").await;
        until(&m, &m.token, &format!("/v1/subscriptions/{e_id}"), |s| {
            s["status"] == "SUBSCRIPTION_STATUS_TERMINATED"
        })
        .await;

        // The last day to turn auto-renew off is 5 business days before term end; its
        // reminder is due at the start of that day: not an hour before.
        let last = business_days_before(end, 5);
        let last_start = last.midnight().assume_utc();
        advance(&m, &clock_id, last_start - Duration::hours(1)).await;
        assert!(
            reminders(&m, &r_id, "NOTIFICATION_KIND_AUTO_RENEW_LAST_DAY")
                .await
                .is_empty(),
            "{mode:?}: reminder before its time"
        );

        // 4 business days before term end: refused, naming the last day.
        let refused_day = business_days_before(end, 4);
        advance(
            &m,
            &clock_id,
            refused_day.midnight().assume_utc() + Duration::hours(12),
        )
        .await;
        one_reminder(&m, &r_id, "NOTIFICATION_KIND_AUTO_RENEW_LAST_DAY").await;
        let (status, problem) = m
            .call(
                Method::POST,
                &format!("/v1/subscriptions/{r_id}:setAutoRenew"),
                &m.token,
                Some(json!({"autoRenew": false, "requestId": uuid::Uuid::new_v4().to_string()})),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{mode:?}: {problem}"
        );
        assert_eq!(problem["rule"], "autodesk.auto_renew_notice", "{problem}");
        let last_iso = format!(
            "{:04}-{:02}-{:02}",
            last.year(),
            u8::from(last.month()),
            last.day()
        );
        assert!(problem.to_string().contains(&last_iso), "{problem}");

        // Past term end: the auto-renewing term renews once, the terminated one expires.
        advance(
            &m,
            &clock_id,
            (end + Duration::days(2)).midnight().assume_utc(),
        )
        .await;
        let renewed = until(&m, &m.token, &format!("/v1/subscriptions/{r_id}"), |s| {
            s["status"] == "SUBSCRIPTION_STATUS_ACTIVE" && date_of(&s["termEnd"]) > end
        })
        .await;
        assert!(
            date_of(&renewed["termEnd"]) >= end + Duration::days(364),
            "{mode:?}: a year more: {renewed}"
        );
        until(&m, &m.token, &format!("/v1/subscriptions/{e_id}"), |s| {
            s["status"] == "SUBSCRIPTION_STATUS_EXPIRED"
        })
        .await;
        let orders = m
            .get(&format!(
                "/v1/orders?customerId={customer_id}&view=ORDER_VIEW_ALL&pageSize=100"
            ))
            .await;
        let renewals: Vec<&Value> = orders["orders"]
            .as_array()
            .map(|o| {
                o.iter()
                    .filter(|o| item(o, 0)["change"] == "CHANGE_TYPE_RENEWAL")
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(renewals.len(), 1, "{mode:?}: one renewal: {orders}");
        assert_eq!(item(renewals[0], 0)["subscriptionId"], r_id.as_str());
        // Each reminder fired once.
        assert_eq!(
            reminders(&m, &r_id, "NOTIFICATION_KIND_AUTO_RENEW_LAST_DAY")
                .await
                .len(),
            1
        );
        m.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cart_left_seven_days_expires_on_the_clock() {
    for mode in modes().await {
        let m = start(mode).await;
        let t0 = t0();
        let clock_id = clock(&m, t0).await;
        let customer_id = customer(&m, "Cart Leaver AS", "cora@leaver.example").await;
        attach(&m, &clock_id, &customer_id).await;
        let cart_id = cart(&m, &customer_id, &[(AUTOCAD, 1)]).await;
        let path = format!("/v1/carts/{cart_id}");
        let created = m.get(&path).await;
        assert_eq!(
            created["expireTime"],
            rfc(t0 + Duration::days(7)),
            "{mode:?}: {created}"
        );
        advance(&m, &clock_id, t0 + Duration::days(6)).await;
        assert_eq!(m.get(&path).await["status"], "CART_STATUS_ACTIVE");
        advance(&m, &clock_id, t0 + Duration::days(7) + Duration::minutes(1)).await;
        let expired = m.get(&path).await;
        assert_eq!(
            expired["status"], "CART_STATUS_EXPIRED",
            "{mode:?}: {expired}"
        );
        let (status, problem) = m
            .call(
                Method::POST,
                &format!("{path}:checkout"),
                &m.token,
                Some(json!({"requestId": "late", "acceptTerms": true})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["rule"], "cart.expired", "{problem}");
        // A customer on the real clock keeps its cart open.
        let real = customer(&m, "Real Time AS", "cora@real.example").await;
        let real_cart = cart(&m, &real, &[(AUTOCAD, 1)]).await;
        assert_eq!(
            m.get(&format!("/v1/carts/{real_cart}")).await["status"],
            "CART_STATUS_ACTIVE"
        );
        m.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_clock_input_is_refused_naming_the_field_and_changes_nothing() {
    for mode in modes().await {
        let m = start(mode).await;
        let t0 = t0();
        let clock_id = clock(&m, t0).await;
        let path = format!("/v1/test-clocks/{clock_id}");

        // Backwards, or to the same time.
        for to in [t0 - Duration::days(1), t0] {
            let (status, problem) = m
                .call(
                    Method::POST,
                    &format!("{path}:advance"),
                    &m.token,
                    Some(json!({"frozenTime": rfc(to)})),
                )
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{mode:?}: {problem}");
            assert!(problem.to_string().contains("frozen_time"), "{problem}");
        }
        // No target.
        let (status, problem) = m
            .call(
                Method::POST,
                &format!("{path}:advance"),
                &m.token,
                Some(json!({})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        assert!(problem.to_string().contains("frozen_time"), "{problem}");

        // Unknown clock.
        let (status, problem) = m
            .call(
                Method::POST,
                "/v1/test-clocks/no-such-clock:advance",
                &m.token,
                Some(json!({"frozenTime": rfc(t0 + Duration::days(1))})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");

        // A customer with orders on the real clock cannot be attached.
        let busy = customer(&m, "Busy AS", "cora@busy.example").await;
        cart(&m, &busy, &[(AUTOCAD, 1)]).await;
        let (status, problem) = m
            .call(
                Method::POST,
                &format!("{path}:attachCustomer"),
                &m.token,
                Some(json!({"customerId": busy})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{mode:?}: {problem}");
        assert!(problem.to_string().contains("customer_id"), "{problem}");

        // Another reseller's clock is not found for this reseller; customers cannot call.
        let customer_token = m.token_for("customer_admin", Some("reseller-demo"), Some(&busy));
        let (status, _) = m.call(Method::GET, &path, &customer_token, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // Nothing changed.
        let unchanged = m.get(&path).await;
        assert_eq!(unchanged["frozenTime"], rfc(t0), "{unchanged}");
        assert_eq!(unchanged["status"], "TEST_CLOCK_STATUS_READY");
        assert!(
            unchanged["customerIds"]
                .as_array()
                .is_none_or(|ids| ids.is_empty()),
            "{unchanged}"
        );
        m.stop().await;

        // Sandbox off: every clock call names the setting.
        let m = start_with(mode, |config| {
            marketplace::config::set_key(&mut config.ordering, "sandbox", json!(false));
        })
        .await;
        for (method, path, body) in [
            (
                Method::POST,
                "/v1/test-clocks",
                Some(json!({"name": "nope", "frozenTime": rfc(t0)})),
            ),
            (Method::GET, "/v1/test-clocks", None),
            (Method::GET, "/v1/test-clocks/x", None),
        ] {
            let (status, problem) = m.call(method, path, &m.token, body).await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{mode:?}: {path}: {problem}"
            );
            assert!(
                problem.to_string().contains("ordering.sandbox"),
                "{problem}"
            );
        }
        m.stop().await;
    }
}
