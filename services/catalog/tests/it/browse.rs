//! Vendors, the seeded catalog, lookup by vendor ids, search and pagination.

use std::collections::HashSet;

use marketplace_proto::catalog::v1::{
    self as pb, GetPlanRequest, ListPlansRequest, ListVendorsRequest, LookupPlanRequest,
};
use marketplace_proto::common::v1::{BillingCycle, Term};
use tonic::Code;

use crate::support::*;

async fn all_plans(
    h: &Harness,
    principal: &marketplace_platform::identity::Principal,
    mut req: ListPlansRequest,
) -> (Vec<pb::Plan>, i32) {
    let mut out = Vec::new();
    loop {
        let page = h
            .c()
            .list_plans(h.req(principal, req.clone()))
            .await
            .expect("list")
            .into_inner();
        out.extend(page.plans);
        if page.next_page_token.is_empty() {
            return (out, page.total_size);
        }
        req.page_token = page.next_page_token;
    }
}

#[tokio::test]
async fn seeded_catalog_has_both_vendors_and_the_demo_plans() {
    on_each_backend(true, |h| async move {
        let vendors = h
            .c()
            .list_vendors(h.req(&reseller_user("reseller-demo"), ListVendorsRequest {}))
            .await
            .unwrap()
            .into_inner()
            .vendors;
        let connectors: Vec<(String, String)> = vendors
            .iter()
            .map(|v| (v.id.clone(), v.connector.clone()))
            .collect();
        assert_eq!(
            connectors,
            vec![
                ("autodesk".into(), "autodesk".into()),
                ("microsoft".into(), "microsoft_nce".into())
            ]
        );

        let autocad = h
            .c()
            .get_plan(h.req(
                &reseller_user("reseller-demo"),
                GetPlanRequest {
                    plan_id: "plan-autodesk-autocad-annual".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(autocad.product_name, "AutoCAD");
        assert_eq!(autocad.term, Term::P1y as i32);
        assert_eq!(autocad.billing_cycle, BillingCycle::Annual as i32);
        assert_eq!(autocad.support_level, pb::SupportLevel::Basic as i32);
        assert_eq!(autocad.autodesk_product_id.len(), 15);
        assert_eq!(autocad.vendor_sku, autocad.autodesk_product_id);
        assert_eq!((autocad.commitment_months, autocad.instalments), (12, 1));
        let usd = autocad
            .prices
            .iter()
            .find(|p| p.currency_code == "USD")
            .expect("USD price");
        assert!(usd.cost.as_ref().unwrap().amount_minor > 0);
        assert!(autocad.parameters.iter().any(|p| p.key == "admin_email"
            && p.required
            && p.r#type == pb::ParameterType::Email as i32));

        let basic = h
            .c()
            .get_plan(h.req(
                &ordering_service(),
                GetPlanRequest {
                    plan_id: "plan-ms365-business-basic-annual".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(basic.vendor_id, "microsoft");
        assert_eq!(basic.vendor_sku, basic.microsoft_catalog_item_id);
        assert_eq!(basic.microsoft_catalog_item_id.split(':').count(), 3);
        assert!(basic.prices.iter().any(|p| p.currency_code == "USD"));
        assert!(
            basic
                .addon_plan_ids
                .contains(&"plan-ms-teams-phone-standard-annual".to_string())
        );
        let keys: Vec<&str> = basic.parameters.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "admin_email",
                "tenant_domain",
                "mpn_id",
                "indirect_reseller_tenant_id"
            ]
        );

        let monthly = h
            .c()
            .get_plan(h.req(
                &staff(),
                GetPlanRequest {
                    plan_id: "plan-autodesk-autocad-monthly".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (monthly.commitment_months, monthly.instalments),
            (12, 12),
            "monthly pre-paid = 12 instalments"
        );

        let (plans, total) = all_plans(
            &h,
            &staff(),
            ListPlansRequest {
                page_size: 500,
                ..Default::default()
            },
        )
        .await;
        assert!(total >= 200, "{total} plans");
        assert_eq!(plans.len() as i32, total);
        let currencies: HashSet<String> = plans
            .iter()
            .flat_map(|p| p.prices.iter().map(|x| x.currency_code.clone()))
            .collect();
        assert!(currencies.len() >= 3, "{currencies:?}");
        let terms: HashSet<i32> = plans.iter().map(|p| p.term).collect();
        assert_eq!(terms.len(), 3);
        h.stop().await;
    })
    .await;
}

#[tokio::test]
async fn seeding_twice_changes_nothing() {
    for backend in marketplace_platform::db::testing::backends().await {
        let database = marketplace_platform::db::testing::fresh_settings(backend).await;
        let first = Harness::start_on(database.clone(), true).await;
        let (before, _) = all_plans(
            &first,
            &staff(),
            ListPlansRequest {
                page_size: 500,
                include_retired: true,
                ..Default::default()
            },
        )
        .await;
        first.stop().await;
        let second = Harness::start_on(database, true).await;
        let (after, _) = all_plans(
            &second,
            &staff(),
            ListPlansRequest {
                page_size: 500,
                include_retired: true,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(before, after);
        second.stop().await;
    }
}

#[tokio::test]
async fn lookup_resolves_vendor_ids_to_exactly_one_plan() {
    on_each_backend(true, |h| async move {
        let who = reseller_user("reseller-demo");
        let autocad = h
            .c()
            .get_plan(h.req(
                &who,
                GetPlanRequest {
                    plan_id: "plan-autodesk-autocad-annual".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let found = h
            .c()
            .lookup_plan(h.req(
                &who,
                LookupPlanRequest {
                    autodesk_product_id: autocad.autodesk_product_id.to_lowercase(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(found.id, "plan-autodesk-autocad-annual");
        assert_eq!(found.support_level, pb::SupportLevel::Basic as i32);

        let basic = h
            .c()
            .get_plan(h.req(
                &who,
                GetPlanRequest {
                    plan_id: "plan-ms365-business-basic-annual".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let found = h
            .c()
            .lookup_plan(h.req(
                &who,
                LookupPlanRequest {
                    microsoft_catalog_item_id: basic.microsoft_catalog_item_id.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(found.id, basic.id);

        for (req, field) in [
            (
                LookupPlanRequest {
                    autodesk_product_id: "ACD-1".into(),
                    ..Default::default()
                },
                "autodesk_product_id",
            ),
            (
                LookupPlanRequest {
                    autodesk_product_id: "ACDXX001YABWWL1X".into(),
                    ..Default::default()
                },
                "autodesk_product_id",
            ),
            (
                LookupPlanRequest {
                    microsoft_catalog_item_id: "CFQ7TTC0LH18:0001".into(),
                    ..Default::default()
                },
                "microsoft_catalog_item_id",
            ),
            (LookupPlanRequest::default(), "autodesk_product_id"),
            (
                LookupPlanRequest {
                    autodesk_product_id: autocad.autodesk_product_id.clone(),
                    microsoft_catalog_item_id: basic.microsoft_catalog_item_id.clone(),
                    ..Default::default()
                },
                "microsoft_catalog_item_id",
            ),
        ] {
            let status = expect_code(
                h.c().lookup_plan(h.req(&who, req)).await,
                Code::InvalidArgument,
            );
            assert_eq!(violated_fields(&status), vec![field]);
        }
        let status = expect_code(
            h.c()
                .lookup_plan(h.req(
                    &who,
                    LookupPlanRequest {
                        autodesk_product_id: "ZZZZZ999YABWWL1".into(),
                        ..Default::default()
                    },
                ))
                .await,
            Code::NotFound,
        );
        assert!(status.message().contains("ZZZZZ999YABWWL1"));
        expect_code(
            h.c()
                .get_plan(h.req(
                    &who,
                    GetPlanRequest {
                        plan_id: "plan-nope".into(),
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
async fn search_filters_and_cursor_pagination_are_stable() {
    on_each_backend(true, |h| async move {
        let who = reseller_user("reseller-demo");
        let list = |req: ListPlansRequest| {
            let h = &h;
            let who = who.clone();
            async move { h.c().list_plans(h.req(&who, req)).await }
        };
        let page = list(ListPlansRequest {
            query: "autocad".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
        assert!(!page.plans.is_empty());
        assert!(
            page.plans
                .iter()
                .all(|p| p.product_name.starts_with("AutoCAD")),
            "{:?}",
            page.plans.iter().map(|p| &p.name).collect::<Vec<_>>()
        );
        assert_eq!(
            page.total_size, 8,
            "AutoCAD and AutoCAD LT, 4 variants each"
        );

        let page = list(ListPlansRequest {
            query: "  AutoCAD   lt ".into(),
            term: Term::P1y as i32,
            billing_cycle: BillingCycle::Monthly as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
        assert_eq!(
            page.plans.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
            vec!["plan-autodesk-autocad-lt-monthly"]
        );

        let autocad = h
            .c()
            .get_plan(h.req(
                &who,
                GetPlanRequest {
                    plan_id: "plan-autodesk-autocad-annual".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let page = list(ListPlansRequest {
            query: autocad.autodesk_product_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
        assert_eq!(page.plans.len(), 1, "search by product id");
        let page = list(ListPlansRequest {
            query: "CFQ7TTC0LH18".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
        assert!(
            page.plans
                .iter()
                .all(|p| p.product_name == "Microsoft 365 Business Basic")
                && !page.plans.is_empty()
        );
        let page = list(ListPlansRequest {
            query: "security".into(),
            vendor_id: "microsoft".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
        assert!(page.plans.len() > 3, "category names are searchable");
        let page = list(ListPlansRequest {
            query: "100%_".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
        assert!(page.plans.is_empty(), "LIKE wildcards are literal");

        let addons = list(ListPlansRequest {
            parent_plan_id: "plan-ms365-e3-annual".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
        let ids: HashSet<String> = addons.plans.iter().map(|p| p.id.clone()).collect();
        assert!(
            ids.contains("plan-ms365-e5-security-annual")
                && ids.contains("plan-ms365-copilot-annual"),
            "{ids:?}"
        );

        // Walk Microsoft in pages of 7: every plan once, in a stable order.
        let mut req = ListPlansRequest {
            vendor_id: "microsoft".into(),
            page_size: 7,
            ..Default::default()
        };
        let mut seen = Vec::new();
        let total;
        loop {
            let page = list(req.clone()).await.unwrap().into_inner();
            assert!(page.plans.len() <= 7);
            seen.extend(page.plans.into_iter().map(|p| p.id));
            if page.next_page_token.is_empty() {
                total = page.total_size;
                break;
            }
            req.page_token = page.next_page_token;
        }
        assert_eq!(seen.len() as i32, total);
        assert_eq!(
            seen.iter().collect::<HashSet<_>>().len(),
            seen.len(),
            "no duplicates across pages"
        );
        let again: Vec<String> = list(ListPlansRequest {
            vendor_id: "microsoft".into(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .plans
        .into_iter()
        .map(|p| p.id)
        .collect();
        assert_eq!(seen, again, "pages concatenate to the full, stable order");

        let first = list(ListPlansRequest {
            page_size: 5,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
        let mut tampered = first.next_page_token.clone();
        tampered.insert(3, 'x');
        let status = expect_code(
            list(ListPlansRequest {
                page_size: 5,
                page_token: tampered,
                ..Default::default()
            })
            .await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec!["page_token"]);
        let status = expect_code(
            list(ListPlansRequest {
                page_size: 5,
                page_token: first.next_page_token.clone(),
                query: "revit".into(),
                ..Default::default()
            })
            .await,
            Code::InvalidArgument,
        );
        assert_eq!(
            violated_fields(&status),
            vec!["page_token"],
            "a token is bound to its query"
        );
        let other = h
            .c()
            .list_plans(h.req(
                &reseller_user("reseller-other"),
                ListPlansRequest {
                    page_size: 5,
                    page_token: first.next_page_token,
                    ..Default::default()
                },
            ))
            .await;
        expect_code(other, Code::InvalidArgument);
        expect_code(
            list(ListPlansRequest {
                page_size: -1,
                ..Default::default()
            })
            .await,
            Code::InvalidArgument,
        );
        expect_code(
            list(ListPlansRequest {
                term: 42,
                ..Default::default()
            })
            .await,
            Code::InvalidArgument,
        );
        expect_code(
            list(ListPlansRequest {
                include_retired: true,
                ..Default::default()
            })
            .await,
            Code::PermissionDenied,
        );

        let categories = h
            .c()
            .list_categories(h.req(
                &who,
                pb::ListCategoriesRequest {
                    vendor_id: "autodesk".into(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .categories;
        assert!(categories.iter().all(|c| c.vendor_id == "autodesk") && categories.len() >= 5);
        assert!(categories.iter().any(|c| c.plan_count > 0));
        h.stop().await;
    })
    .await;
}

#[tokio::test]
async fn callers_must_be_authenticated() {
    on_each_backend(false, |h| async move {
        let status = h.c().list_vendors(ListVendorsRequest {}).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        let mut forged = tonic::Request::new(ListVendorsRequest {});
        marketplace_platform::identity::IdentityKey::random().attach(&mut forged, &staff());
        assert_eq!(
            h.c().list_vendors(forged).await.unwrap_err().code(),
            Code::Unauthenticated
        );
        let empty = h
            .c()
            .list_plans(h.req(&staff(), ListPlansRequest::default()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (empty.plans.len(), empty.total_size),
            (0, 0),
            "nothing seeded without seed_demo"
        );
        h.stop().await;
    })
    .await;
}

#[tokio::test]
async fn replicas_on_one_database_see_each_others_changes() {
    for backend in marketplace_platform::db::testing::backends().await {
        let database = marketplace_platform::db::testing::fresh_settings(backend).await;
        let a = Harness::start_on(database.clone(), true).await;
        let b = Harness::start_on(database, false).await;
        let get = |h: &Harness| {
            let (mut c, r) = (
                h.c(),
                h.req(
                    &staff(),
                    GetPlanRequest {
                        plan_id: "plan-autodesk-autocad-annual".into(),
                        ..Default::default()
                    },
                ),
            );
            async move { c.get_plan(r).await.unwrap().into_inner() }
        };
        let before = get(&b).await;
        let change = pb::Plan {
            id: before.id.clone(),
            etag: before.etag.clone(),
            name: "AutoCAD - Annual (renamed)".into(),
            ..Default::default()
        };
        a.c()
            .update_plan(a.req(
                &staff(),
                pb::UpdatePlanRequest {
                    plan: Some(change),
                    update_mask: vec!["name".into()],
                },
            ))
            .await
            .unwrap();
        assert_eq!(
            get(&a).await.name,
            "AutoCAD - Annual (renamed)",
            "a replica sees its own change at once"
        );
        tokio::time::sleep(catalog::READ_MODEL_REFRESH + std::time::Duration::from_millis(50))
            .await;
        assert_eq!(
            get(&b).await.name,
            "AutoCAD - Annual (renamed)",
            "another replica sees it within the refresh interval"
        );
        a.stop().await;
        b.stop().await;
    }
}
