//! Price-list import: validated as a whole, applied atomically, rejected rows reported.

use marketplace_proto::catalog::v1::{
    self as pb, GetPlanRequest, ImportPriceListRequest, ListPricesRequest, PriceListFormat,
};
use tonic::Code;

use crate::support::*;

async fn price_count(h: &Harness, plan: &str) -> usize {
    h.c()
        .list_prices(h.req(
            &staff(),
            ListPricesRequest {
                plan_id: plan.into(),
                page_size: 500,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .prices
        .len()
}

#[tokio::test]
async fn an_import_with_a_bad_row_changes_nothing_and_reports_every_row() {
    on_each_backend(true, |h| async move {
        let autocad = h.c().get_plan(h.req(&staff(), GetPlanRequest { plan_id: "plan-autodesk-autocad-annual".into(), ..Default::default() })).await.unwrap().into_inner();
        let basic = h.c().get_plan(h.req(&staff(), GetPlanRequest { plan_id: "plan-ms365-business-basic-annual".into(), ..Default::default() })).await.unwrap().into_inner();
        let before = (price_count(&h, &autocad.id).await, price_count(&h, &basic.id).await);
        let good_rows = format!(
            "plan-autodesk-autocad-annual,,,USD,1800.00,2100.00,2027-02-01\n\
             ,{},,EUR,1700,1950.5,2027-02-01\n\
             ,,{},USD,6.60,7.20,2027-02-01T00:00:00Z\n",
            autocad.autodesk_product_id, basic.microsoft_catalog_item_id
        );
        let header = "plan_id,autodesk_product_id,microsoft_catalog_item_id,currency,cost,msrp,effective_date\n";
        let bad = format!(
            "{header}{good_rows}\
             plan-unknown,,,USD,1,1,2027-02-01\n\
             ,ACD-BAD,,USD,1,1,2027-02-01\n\
             plan-autodesk-autocad-annual,,,usd,-5,1.234,02/01/2027\n\
             plan-autodesk-autocad-annual,,,USD,1800.00,2100.00,2027-02-01\n"
        );
        let import = |content: String, format: PriceListFormat, validate_only: bool| {
            let (mut c, r) = (h.c(), h.req(&staff(), ImportPriceListRequest { format: format as i32, content, validate_only }));
            async move { c.import_price_list(r).await }
        };
        let report = import(bad, PriceListFormat::Csv, false).await.unwrap().into_inner();
        assert!(!report.applied);
        assert_eq!(report.accepted_rows, 3);
        let rejected: Vec<(i32, &str)> = report.rejected_rows.iter().map(|r| (r.row, r.field.as_str())).collect();
        assert_eq!(
            rejected,
            vec![(4, "plan_id"), (5, "autodesk_product_id"), (6, "currency"), (6, "effective_date"), (7, "effective_date")],
            "{:#?}",
            report.rejected_rows
        );
        assert_eq!((price_count(&h, &autocad.id).await, price_count(&h, &basic.id).await), before, "nothing applied");

        let good = format!("{header}{good_rows}");
        let dry = import(good.clone(), PriceListFormat::Csv, true).await.unwrap().into_inner();
        assert!(!dry.applied && dry.rejected_rows.is_empty() && dry.accepted_rows == 3);
        assert_eq!(price_count(&h, &autocad.id).await, before.0);

        let report = import(good.clone(), PriceListFormat::Csv, false).await.unwrap().into_inner();
        assert!(report.applied && report.accepted_rows == 3, "{report:?}");
        assert_eq!((price_count(&h, &autocad.id).await, price_count(&h, &basic.id).await), (before.0 + 2, before.1 + 1));
        let again = import(good, PriceListFormat::Csv, false).await.unwrap().into_inner();
        assert!(again.applied, "re-importing the same file is accepted");
        assert_eq!(price_count(&h, &autocad.id).await, before.0 + 2, "and adds nothing");

        let contradicting = format!("{header}plan-autodesk-autocad-annual,,,USD,1.00,2.00,2027-02-01\n");
        let report = import(contradicting, PriceListFormat::Csv, false).await.unwrap().into_inner();
        assert!(!report.applied);
        assert_eq!(report.rejected_rows[0].field, "effective_date");

        let json = format!(
            r#"[{{"autodesk_product_id":"{}","currency":"GBP","cost":"1500.00","msrp":1700,"effective_date":"2027-03-01"}},
                {{"plan_id":"plan-ms365-business-basic-annual","currency":"JPY","cost":"900","msrp":"1000","effective_date":"2027-03-01"}}]"#,
            autocad.autodesk_product_id
        );
        let report = import(json, PriceListFormat::Json, false).await.unwrap().into_inner();
        assert!(report.applied, "{report:?}");
        let quote = h
            .c()
            .quote_prices(h.req(&reseller_admin("reseller-demo"), pb::QuotePricesRequest {
                currency_code: "JPY".into(),
                lines: vec![pb::QuoteLineRequest { plan_id: "plan-ms365-business-basic-annual".into(), quantity: 2 }],
                price_time: Some(marketplace_platform::clock::to_timestamp(time::macros::datetime!(2027-03-02 0:00 UTC))),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(quote.total_cost.unwrap().amount_minor, 1_800, "JPY has no minor digits");

        let status = expect_code(import("currency,cost\nUSD,1\n".into(), PriceListFormat::Csv, false).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&status), vec!["content"]);
        let status = expect_code(import("{not json".into(), PriceListFormat::Json, false).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&status), vec!["content"]);
        let status = expect_code(import("x".into(), PriceListFormat::Unspecified, false).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&status), vec!["format"]);
        h.stop().await;
    })
    .await;
}
