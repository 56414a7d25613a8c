//! Autodesk CSN gating: listing, get, lookup and quotes; CSNs come from ordering's events.

use marketplace_proto::catalog::v1::{
    GetPlanRequest, ListCategoriesRequest, ListPlansRequest, LookupPlanRequest, QuoteLineRequest,
    QuotePricesRequest,
};
use tonic::Code;

use crate::support::*;

const SPECIALIZED: &str = "plan-autodesk-revit-annual";
const OPEN: &str = "plan-autodesk-autocad-annual";

fn quote(reseller: &str, plan: &str) -> QuotePricesRequest {
    QuotePricesRequest {
        reseller_id: reseller.into(),
        currency_code: "USD".into(),
        lines: vec![QuoteLineRequest {
            plan_id: plan.into(),
            quantity: 1,
        }],
        price_time: None,
    }
}

#[tokio::test]
async fn without_csn_only_the_open_catalog_is_visible_and_sellable() {
    on_each_backend(true, |h| async move {
        let who = reseller_admin("reseller-nocsn");
        let revit = h
            .c()
            .get_plan(h.req(
                &staff(),
                GetPlanRequest {
                    plan_id: SPECIALIZED.into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            revit.tier,
            marketplace_proto::catalog::v1::CatalogTier::Specialized as i32
        );

        let listed = h
            .c()
            .list_plans(h.req(
                &who,
                ListPlansRequest {
                    vendor_id: "autodesk".into(),
                    page_size: 500,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(!listed.plans.is_empty());
        assert!(
            listed
                .plans
                .iter()
                .all(|p| p.tier == marketplace_proto::catalog::v1::CatalogTier::Open as i32)
        );
        let all = h
            .c()
            .list_plans(h.req(
                &staff(),
                ListPlansRequest {
                    vendor_id: "autodesk".into(),
                    page_size: 500,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(all.total_size > listed.total_size);

        expect_code(
            h.c()
                .get_plan(h.req(
                    &who,
                    GetPlanRequest {
                        plan_id: SPECIALIZED.into(),
                        ..Default::default()
                    },
                ))
                .await,
            Code::NotFound,
        );
        expect_code(
            h.c()
                .lookup_plan(h.req(
                    &who,
                    LookupPlanRequest {
                        autodesk_product_id: revit.autodesk_product_id.clone(),
                        ..Default::default()
                    },
                ))
                .await,
            Code::NotFound,
        );
        h.c()
            .get_plan(h.req(
                &who,
                GetPlanRequest {
                    plan_id: OPEN.into(),
                    ..Default::default()
                },
            ))
            .await
            .expect("open plan visible");

        let status = expect_code(
            h.c()
                .quote_prices(h.req(&who, quote("", SPECIALIZED)))
                .await,
            Code::FailedPrecondition,
        );
        assert_eq!(
            broken_rule(&status).as_deref(),
            Some("autodesk.csn_required")
        );
        // Ordering (a service) quoting on the reseller's behalf is refused the same way.
        let status = expect_code(
            h.c()
                .quote_prices(h.req(&ordering_service(), quote("reseller-nocsn", SPECIALIZED)))
                .await,
            Code::FailedPrecondition,
        );
        assert_eq!(
            broken_rule(&status).as_deref(),
            Some("autodesk.csn_required")
        );
        // Staff looking on behalf of the reseller see what the reseller sees.
        expect_code(
            h.c()
                .get_plan(h.req(
                    &staff(),
                    GetPlanRequest {
                        plan_id: SPECIALIZED.into(),
                        reseller_id: "reseller-nocsn".into(),
                    },
                ))
                .await,
            Code::NotFound,
        );
        let categories = h
            .c()
            .list_categories(h.req(
                &who,
                ListCategoriesRequest {
                    vendor_id: "autodesk".into(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .categories;
        let collections = categories
            .iter()
            .find(|c| c.id == "autodesk-collections")
            .unwrap();
        assert_eq!(
            collections.plan_count, 0,
            "the collections are all specialized"
        );

        // The reseller enters its CSN in ordering: the specialized catalog opens.
        h.reseller_profile_changed("reseller-nocsn", "5100000042", 0)
            .await;
        h.c()
            .get_plan(h.req(
                &who,
                GetPlanRequest {
                    plan_id: SPECIALIZED.into(),
                    ..Default::default()
                },
            ))
            .await
            .expect("visible with a CSN");
        h.c()
            .lookup_plan(h.req(
                &who,
                LookupPlanRequest {
                    autodesk_product_id: revit.autodesk_product_id.clone(),
                    ..Default::default()
                },
            ))
            .await
            .expect("lookup with a CSN");
        h.c()
            .quote_prices(h.req(&who, quote("", SPECIALIZED)))
            .await
            .expect("quote with a CSN");
        let listed_now = h
            .c()
            .list_plans(h.req(
                &who,
                ListPlansRequest {
                    vendor_id: "autodesk".into(),
                    page_size: 500,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed_now.total_size, all.total_size);

        // A malformed CSN locks it again; an older event arriving late changes nothing.
        h.reseller_profile_changed("reseller-nocsn", "51-000", 10)
            .await;
        expect_code(
            h.c()
                .get_plan(h.req(
                    &who,
                    GetPlanRequest {
                        plan_id: SPECIALIZED.into(),
                        ..Default::default()
                    },
                ))
                .await,
            Code::NotFound,
        );
        h.reseller_profile_changed("reseller-nocsn", "5100000042", 5)
            .await;
        expect_code(
            h.c()
                .get_plan(h.req(
                    &who,
                    GetPlanRequest {
                        plan_id: SPECIALIZED.into(),
                        ..Default::default()
                    },
                ))
                .await,
            Code::NotFound,
        );
        h.stop().await;
    })
    .await;
}

#[tokio::test]
async fn redelivered_events_and_undecodable_events_change_nothing() {
    on_each_backend(true, |h| async move {
        let who = reseller_user("reseller-x");
        let id = h
            .reseller_profile_changed("reseller-x", "5100000099", 0)
            .await;
        h.c()
            .get_plan(h.req(
                &who,
                GetPlanRequest {
                    plan_id: SPECIALIZED.into(),
                    ..Default::default()
                },
            ))
            .await
            .expect("visible");
        // A newer change removes the CSN; redelivering the first event must not restore it.
        h.reseller_profile_changed("reseller-x", "", 5).await;
        let first = marketplace_proto::events::v1::Envelope {
            id: id.clone(),
            r#type: "reseller_profile_changed".into(),
            source: "ordering".into(),
            occur_time: Some(marketplace_platform::clock::to_timestamp(
                time::OffsetDateTime::now_utc() + time::Duration::hours(1),
            )),
            payload: Some(
                marketplace_proto::events::v1::envelope::Payload::ResellerProfileChanged(
                    marketplace_proto::events::v1::ResellerProfileChanged {
                        reseller: Some(marketplace_proto::events::v1::ResellerFacts {
                            reseller_id: "reseller-x".into(),
                            autodesk_partner_csn: "5100000099".into(),
                            ..Default::default()
                        }),
                    },
                ),
            ),
            ..Default::default()
        };
        h.publish(&id, prost::Message::encode_to_vec(&first)).await;
        expect_code(
            h.c()
                .get_plan(h.req(
                    &who,
                    GetPlanRequest {
                        plan_id: SPECIALIZED.into(),
                        ..Default::default()
                    },
                ))
                .await,
            Code::NotFound,
        );
        h.publish(
            &marketplace_platform::ids::new_id(),
            b"not protobuf".to_vec(),
        )
        .await;
        h.c()
            .list_vendors(h.req(&who, Default::default()))
            .await
            .expect("still serving");
        h.stop().await;
    })
    .await;
}

#[tokio::test]
async fn tenancy_comes_from_the_principal() {
    on_each_backend(true, |h| async move {
        // reseller-demo has the demo CSN; its users and customers see specialized plans.
        let customer = customer_user("reseller-demo");
        h.c()
            .get_plan(h.req(
                &customer,
                GetPlanRequest {
                    plan_id: SPECIALIZED.into(),
                    ..Default::default()
                },
            ))
            .await
            .expect("customer of a CSN reseller");
        // Asking for another reseller's view is answered as not found.
        let status = expect_code(
            h.c()
                .get_plan(h.req(
                    &reseller_user("reseller-nocsn"),
                    GetPlanRequest {
                        plan_id: OPEN.into(),
                        reseller_id: "reseller-demo".into(),
                    },
                ))
                .await,
            Code::NotFound,
        );
        assert!(status.message().contains("reseller-demo"));
        expect_code(
            h.c()
                .quote_prices(h.req(
                    &reseller_user("reseller-nocsn"),
                    quote("reseller-demo", OPEN),
                ))
                .await,
            Code::NotFound,
        );
        // Staff must say for whom they quote.
        let status = expect_code(
            h.c().quote_prices(h.req(&staff(), quote("", OPEN))).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec!["reseller_id"]);
        h.stop().await;
    })
    .await;
}
