//! Quotes: effective-dated prices, markups, seat limits, unknown and retired plans.

use marketplace_platform::clock::to_timestamp;
use marketplace_proto::catalog::v1::{
    self as pb, CreatePriceRequest, GetPlanRequest, QuoteLineRequest, QuotePricesRequest,
    RetirePlanRequest, SetMarkupRequest,
};
use marketplace_proto::common::v1::Money;
use tonic::Code;

use crate::support::*;

const PLAN: &str = "plan-ms365-business-basic-annual";

fn usd(amount_minor: i64) -> Option<Money> {
    Some(Money {
        currency_code: "USD".into(),
        amount_minor,
    })
}

fn lines(items: &[(&str, i32)]) -> Vec<QuoteLineRequest> {
    items
        .iter()
        .map(|(p, q)| QuoteLineRequest {
            plan_id: (*p).into(),
            quantity: *q,
        })
        .collect()
}

#[tokio::test]
async fn quotes_use_the_price_in_effect_at_the_quoted_moment() {
    on_each_backend(true, |h| async move {
        let who = reseller_admin("reseller-demo");
        let now = time::OffsetDateTime::now_utc();
        let later = now + time::Duration::days(30);
        let created = h
            .c()
            .create_price(h.req(
                &staff(),
                CreatePriceRequest {
                    plan_id: PLAN.into(),
                    price: Some(pb::Price {
                        currency_code: "USD".into(),
                        cost: usd(9_000),
                        msrp: usd(10_000),
                        effective_time: Some(to_timestamp(later)),
                        ..Default::default()
                    }),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(created.plan_id, PLAN);

        let quote_at = |at: Option<time::OffsetDateTime>| QuotePricesRequest {
            reseller_id: String::new(),
            currency_code: "USD".into(),
            lines: lines(&[(PLAN, 10)]),
            price_time: at.map(to_timestamp),
        };
        let before = h
            .c()
            .quote_prices(h.req(&who, quote_at(None)))
            .await
            .unwrap()
            .into_inner();
        assert_ne!(
            before.lines[0].price_id, created.id,
            "a future price does not affect quotes now"
        );
        let seeded_cost = before.lines[0].unit_cost.as_ref().unwrap().amount_minor;
        assert_eq!(
            before.total_cost.as_ref().unwrap().amount_minor,
            seeded_cost * 10
        );

        let just_before = h
            .c()
            .quote_prices(h.req(&who, quote_at(Some(later - time::Duration::seconds(1)))))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(just_before.lines[0].price_id, before.lines[0].price_id);
        let after = h
            .c()
            .quote_prices(h.req(&who, quote_at(Some(later))))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(after.lines[0].price_id, created.id);
        assert_eq!(after.lines[0].unit_cost, usd(9_000));
        assert_eq!(after.lines[0].unit_msrp, usd(10_000));
        assert_eq!(after.total_price, usd(90_000));

        // Moving the clock past the effective date changes quotes without price_time, and GetPlan.
        h.clock.advance(time::Duration::days(31));
        let moved = h
            .c()
            .quote_prices(h.req(&who, quote_at(None)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(moved.lines[0].price_id, created.id);
        let plan = h
            .c()
            .get_plan(h.req(
                &who,
                GetPlanRequest {
                    plan_id: PLAN.into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(plan.prices.iter().any(|p| p.id == created.id));
        let history = h
            .c()
            .list_prices(h.req(
                &who,
                pb::ListPricesRequest {
                    plan_id: PLAN.into(),
                    currency_code: "USD".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(history.prices[0].id, created.id, "newest first");
        assert!(history.prices.len() >= 2);
        h.stop().await;
    })
    .await;
}

#[tokio::test]
async fn markups_plan_beats_vendor_and_fixed_only_in_its_currency() {
    on_each_backend(true, |h| async move {
        let admin = reseller_admin("reseller-demo");
        let set = |markup: pb::Markup| {
            let (mut c, r) = (
                h.c(),
                h.req(
                    &admin,
                    SetMarkupRequest {
                        markup: Some(markup),
                    },
                ),
            );
            async move { c.set_markup(r).await }
        };
        set(pb::Markup {
            vendor_id: "microsoft".into(),
            kind: pb::MarkupKind::Percentage as i32,
            basis_points: 1_250,
            ..Default::default()
        })
        .await
        .unwrap();
        let quote = |currency: &str| QuotePricesRequest {
            currency_code: currency.into(),
            lines: lines(&[(PLAN, 3), ("plan-ms365-e3-annual", 2)]),
            ..Default::default()
        };
        let q = h
            .c()
            .quote_prices(h.req(&admin, quote("USD")))
            .await
            .unwrap()
            .into_inner();
        for line in &q.lines {
            let cost = line.unit_cost.as_ref().unwrap().amount_minor;
            let markup = line.unit_markup.as_ref().unwrap().amount_minor;
            assert_eq!(markup, (cost * 1_250 + 5_000) / 10_000);
            assert_eq!(
                line.unit_price.as_ref().unwrap().amount_minor,
                cost + markup
            );
            assert_eq!(
                line.total_price.as_ref().unwrap().amount_minor,
                (cost + markup) * i64::from(line.quantity)
            );
        }
        let sum: i64 = q
            .lines
            .iter()
            .map(|l| l.total_price.as_ref().unwrap().amount_minor)
            .sum();
        assert_eq!(q.total_price, usd(sum));

        set(pb::Markup {
            plan_id: PLAN.into(),
            kind: pb::MarkupKind::Fixed as i32,
            fixed_amount: usd(150),
            ..Default::default()
        })
        .await
        .unwrap();
        let q = h
            .c()
            .quote_prices(h.req(&admin, quote("USD")))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            q.lines[0].unit_markup,
            usd(150),
            "plan markup beats vendor markup"
        );
        let e3_cost = q.lines[1].unit_cost.as_ref().unwrap().amount_minor;
        assert_eq!(
            q.lines[1].unit_markup,
            usd((e3_cost * 1_250 + 5_000) / 10_000),
            "other plans keep the vendor markup"
        );

        let eur = h
            .c()
            .quote_prices(h.req(&admin, quote("EUR")))
            .await
            .unwrap()
            .into_inner();
        let cost = eur.lines[0].unit_cost.as_ref().unwrap().amount_minor;
        assert_eq!(
            eur.lines[0].unit_markup.as_ref().unwrap().amount_minor,
            (cost * 1_250 + 5_000) / 10_000,
            "a USD fixed markup does not apply to EUR"
        );
        assert_eq!(
            eur.lines[0].unit_markup.as_ref().unwrap().currency_code,
            "EUR"
        );

        // Another reseller is unaffected by these markups.
        let other = h
            .c()
            .quote_prices(h.req(&reseller_admin("reseller-other"), quote("USD")))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(other.lines[0].unit_markup, usd(0));
        h.stop().await;
    })
    .await;
}

#[tokio::test]
async fn bad_quotes_name_the_line_plan_or_rule() {
    on_each_backend(true, |h| async move {
        let who = reseller_admin("reseller-demo");
        let ask = |currency: &str, items: &[(&str, i32)]| QuotePricesRequest {
            currency_code: currency.into(),
            lines: lines(items),
            ..Default::default()
        };
        let status = expect_code(
            h.c()
                .quote_prices(h.req(&who, ask("USD", &[(PLAN, 1), (PLAN, 301)])))
                .await,
            Code::InvalidArgument,
        );
        assert_eq!(
            violated_fields(&status),
            vec!["lines[1].quantity"],
            "Business plans stop at 300 seats"
        );
        let status = expect_code(
            h.c()
                .quote_prices(h.req(&who, ask("USD", &[(PLAN, 0)])))
                .await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec!["lines[0].quantity"]);
        let status = expect_code(
            h.c()
                .quote_prices(h.req(&who, ask("USD", &[(PLAN, 1), ("plan-does-not-exist", 1)])))
                .await,
            Code::NotFound,
        );
        assert!(
            status.message().contains("plan-does-not-exist"),
            "{}",
            status.message()
        );
        let status = expect_code(
            h.c()
                .quote_prices(h.req(&who, ask("usd", &[(PLAN, 1)])))
                .await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec!["currency_code"]);
        let status = expect_code(
            h.c().quote_prices(h.req(&who, ask("USD", &[]))).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec!["lines"]);
        let status = expect_code(
            h.c()
                .quote_prices(h.req(&who, ask("CHF", &[(PLAN, 1)])))
                .await,
            Code::FailedPrecondition,
        );
        assert_eq!(
            broken_rule(&status).as_deref(),
            Some("catalog.price_missing")
        );
        let past = QuotePricesRequest {
            price_time: Some(to_timestamp(time::macros::datetime!(2020-01-01 0:00 UTC))),
            ..ask("USD", &[(PLAN, 1)])
        };
        let status = expect_code(
            h.c().quote_prices(h.req(&who, past)).await,
            Code::FailedPrecondition,
        );
        assert_eq!(
            broken_rule(&status).as_deref(),
            Some("catalog.price_missing")
        );

        let plan = h
            .c()
            .get_plan(h.req(
                &staff(),
                GetPlanRequest {
                    plan_id: PLAN.into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        h.c()
            .retire_plan(h.req(
                &staff(),
                RetirePlanRequest {
                    plan_id: PLAN.into(),
                    etag: plan.etag,
                },
            ))
            .await
            .unwrap();
        let status = expect_code(
            h.c()
                .quote_prices(h.req(&who, ask("USD", &[(PLAN, 1)])))
                .await,
            Code::FailedPrecondition,
        );
        assert_eq!(
            broken_rule(&status).as_deref(),
            Some("catalog.plan_retired")
        );
        h.stop().await;
    })
    .await;
}
