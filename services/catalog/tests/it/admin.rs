//! Staff administration: create, update (etag), retire plans; create prices.

use marketplace_proto::catalog::v1::{
    self as pb, CreatePlanRequest, CreatePriceRequest, GetPlanRequest, ListPlansRequest,
    RetirePlanRequest, UpdatePlanRequest,
};
use marketplace_proto::common::v1::{BillingCycle, Money, Term};
use tonic::Code;

use crate::support::*;

fn autodesk_plan(id: &str, product_id: &str) -> pb::Plan {
    pb::Plan {
        id: id.into(),
        vendor_id: "autodesk".into(),
        category_id: "autodesk-design".into(),
        product_name: "AutoCAD Mechanical".into(),
        name: "AutoCAD Mechanical - Annual".into(),
        term: Term::P1y as i32,
        billing_cycle: BillingCycle::Annual as i32,
        support_level: pb::SupportLevel::Basic as i32,
        min_quantity: 1,
        max_quantity: 50,
        autodesk_product_id: product_id.into(),
        tier: pb::CatalogTier::Specialized as i32,
        parameters: vec![pb::ParameterDefinition {
            key: "admin_email".into(),
            title: "Admin e-mail".into(),
            r#type: pb::ParameterType::Email as i32,
            scope: pb::ParameterScope::Customer as i32,
            required: true,
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn only_staff_administer_the_catalog() {
    on_each_backend(true, |h| async move {
        for who in [
            reseller_admin("reseller-demo"),
            customer_user("reseller-demo"),
        ] {
            expect_code(
                h.c()
                    .create_plan(h.req(
                        &who,
                        CreatePlanRequest {
                            plan: Some(autodesk_plan("plan-x", "ACMEC001YABWWL1")),
                        },
                    ))
                    .await,
                Code::PermissionDenied,
            );
            expect_code(
                h.c()
                    .retire_plan(h.req(
                        &who,
                        RetirePlanRequest {
                            plan_id: "plan-autodesk-autocad-annual".into(),
                            etag: String::new(),
                        },
                    ))
                    .await,
                Code::PermissionDenied,
            );
            expect_code(
                h.c()
                    .create_price(h.req(
                        &who,
                        CreatePriceRequest {
                            plan_id: "plan-autodesk-autocad-annual".into(),
                            price: None,
                        },
                    ))
                    .await,
                Code::PermissionDenied,
            );
            expect_code(
                h.c()
                    .import_price_list(h.req(&who, pb::ImportPriceListRequest::default()))
                    .await,
                Code::PermissionDenied,
            );
            expect_code(
                h.c()
                    .update_plan(h.req(
                        &who,
                        UpdatePlanRequest {
                            plan: Some(pb::Plan::default()),
                            update_mask: vec![],
                        },
                    ))
                    .await,
                Code::PermissionDenied,
            );
        }
        h.stop().await;
    })
    .await;
}

#[tokio::test]
async fn plans_are_created_validated_updated_with_etags_and_retired() {
    on_each_backend(true, |h| async move {
        let created = h
            .c()
            .create_plan(h.req(
                &staff(),
                CreatePlanRequest {
                    plan: Some(autodesk_plan("plan-acm-annual", "acmec001yabwwl1")),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(created.autodesk_product_id, "ACMEC001YABWWL1");
        assert_eq!(created.vendor_sku, "ACMEC001YABWWL1");
        assert_eq!((created.commitment_months, created.instalments), (12, 1));
        assert_eq!(created.state, pb::PlanState::Active as i32);
        assert!(!created.etag.is_empty());

        let status = expect_code(
            h.c()
                .create_plan(h.req(
                    &staff(),
                    CreatePlanRequest {
                        plan: Some(autodesk_plan("plan-acm-other", "ACMEC001YABWWL1")),
                    },
                ))
                .await,
            Code::AlreadyExists,
        );
        assert!(status.message().contains("plan-acm-annual"));
        expect_code(
            h.c()
                .create_plan(h.req(
                    &staff(),
                    CreatePlanRequest {
                        plan: Some(autodesk_plan("plan-acm-annual", "ACMEC002YABWWL1")),
                    },
                ))
                .await,
            Code::AlreadyExists,
        );

        let bad = pb::Plan {
            autodesk_product_id: "ACMEC-01".into(),
            term: Term::P1m as i32,
            billing_cycle: BillingCycle::Monthly as i32,
            max_quantity: -3,
            ..autodesk_plan("Bad Id", "")
        };
        let status = expect_code(
            h.c()
                .create_plan(h.req(&staff(), CreatePlanRequest { plan: Some(bad) }))
                .await,
            Code::InvalidArgument,
        );
        let fields = violated_fields(&status);
        for f in [
            "plan.id",
            "plan.term",
            "plan.max_quantity",
            "plan.autodesk_product_id",
        ] {
            assert!(fields.contains(&f.to_string()), "{f} in {fields:?}");
        }
        let ms_specialized = pb::Plan {
            vendor_id: "microsoft".into(),
            category_id: "microsoft-365".into(),
            microsoft_catalog_item_id: "CFQ7TTC0ZZZZ:0001:CFQ7TTC0ZZZA".into(),
            support_level: 0,
            ..autodesk_plan("plan-ms-new", "")
        };
        let status = expect_code(
            h.c()
                .create_plan(h.req(
                    &staff(),
                    CreatePlanRequest {
                        plan: Some(ms_specialized),
                    },
                ))
                .await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec!["plan.tier"]);
        let wrong_category = pb::Plan {
            category_id: "microsoft-365".into(),
            ..autodesk_plan("plan-acm-2", "ACMEC003YABWWL1")
        };
        let status = expect_code(
            h.c()
                .create_plan(h.req(
                    &staff(),
                    CreatePlanRequest {
                        plan: Some(wrong_category),
                    },
                ))
                .await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec!["plan.category_id"]);
        let unknown_vendor = pb::Plan {
            vendor_id: "adobe".into(),
            ..autodesk_plan("plan-acm-3", "ACMEC004YABWWL1")
        };
        let status = expect_code(
            h.c()
                .create_plan(h.req(
                    &staff(),
                    CreatePlanRequest {
                        plan: Some(unknown_vendor),
                    },
                ))
                .await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec!["plan.vendor_id"]);

        // An add-on of the new plan shows up on its parent.
        let addon = pb::Plan {
            product_name: "AutoCAD Mechanical Toolset".into(),
            name: "Toolset".into(),
            parent_plan_ids: vec!["plan-acm-annual".into()],
            ..autodesk_plan("plan-acm-toolset", "ACMTS001YABWWL1")
        };
        h.c()
            .create_plan(h.req(&staff(), CreatePlanRequest { plan: Some(addon) }))
            .await
            .unwrap();
        let parent = h
            .c()
            .get_plan(h.req(
                &staff(),
                GetPlanRequest {
                    plan_id: "plan-acm-annual".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(parent.addon_plan_ids, vec!["plan-acm-toolset"]);
        let nested = pb::Plan {
            parent_plan_ids: vec!["plan-acm-toolset".into()],
            ..autodesk_plan("plan-acm-nested", "ACMTS002YABWWL1")
        };
        let status = expect_code(
            h.c()
                .create_plan(h.req(&staff(), CreatePlanRequest { plan: Some(nested) }))
                .await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec!["plan.parent_plan_ids[0]"]);

        // Update with the etag; a stale etag is refused.
        let change = pb::Plan {
            id: created.id.clone(),
            etag: created.etag.clone(),
            name: "AutoCAD Mechanical - Annual (2027)".into(),
            max_quantity: 20,
            ..Default::default()
        };
        let updated = h
            .c()
            .update_plan(h.req(
                &staff(),
                UpdatePlanRequest {
                    plan: Some(change.clone()),
                    update_mask: vec!["name".into(), "maxQuantity".into()],
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(updated.name, "AutoCAD Mechanical - Annual (2027)");
        assert_eq!(updated.max_quantity, 20);
        assert_eq!(
            updated.product_name, "AutoCAD Mechanical",
            "fields outside the mask are kept"
        );
        assert_ne!(updated.etag, created.etag);
        expect_code(
            h.c()
                .update_plan(h.req(
                    &staff(),
                    UpdatePlanRequest {
                        plan: Some(change.clone()),
                        update_mask: vec!["name".into()],
                    },
                ))
                .await,
            Code::Aborted,
        );
        let status = expect_code(
            h.c()
                .update_plan(h.req(
                    &staff(),
                    UpdatePlanRequest {
                        plan: Some(pb::Plan {
                            etag: updated.etag.clone(),
                            ..change.clone()
                        }),
                        update_mask: vec!["term".into()],
                    },
                ))
                .await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec!["update_mask[0]"]);
        let status = expect_code(
            h.c()
                .update_plan(h.req(
                    &staff(),
                    UpdatePlanRequest {
                        plan: Some(pb::Plan {
                            etag: String::new(),
                            ..change.clone()
                        }),
                        update_mask: vec!["name".into()],
                    },
                ))
                .await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec!["plan.etag"]);
        let status = expect_code(
            h.c()
                .update_plan(h.req(
                    &staff(),
                    UpdatePlanRequest {
                        plan: Some(pb::Plan {
                            etag: updated.etag.clone(),
                            min_quantity: 30,
                            ..change.clone()
                        }),
                        update_mask: vec!["min_quantity".into()],
                    },
                ))
                .await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec!["plan.max_quantity"]);
        let found = h
            .c()
            .list_plans(h.req(
                &staff(),
                ListPlansRequest {
                    query: "(2027)".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(found.plans.len(), 1, "search text follows updates");

        // Retire: hidden from listings, still readable, no longer updatable.
        expect_code(
            h.c()
                .retire_plan(h.req(
                    &staff(),
                    RetirePlanRequest {
                        plan_id: created.id.clone(),
                        etag: created.etag.clone(),
                    },
                ))
                .await,
            Code::Aborted,
        );
        let retired = h
            .c()
            .retire_plan(h.req(
                &staff(),
                RetirePlanRequest {
                    plan_id: created.id.clone(),
                    etag: updated.etag.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(retired.state, pb::PlanState::Retired as i32);
        let again = h
            .c()
            .retire_plan(h.req(
                &staff(),
                RetirePlanRequest {
                    plan_id: created.id.clone(),
                    etag: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(again.etag, retired.etag, "retiring twice changes nothing");
        let listed = h
            .c()
            .list_plans(h.req(
                &staff(),
                ListPlansRequest {
                    query: "mechanical".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(listed.plans.iter().all(|p| p.id != created.id));
        let with_retired = h
            .c()
            .list_plans(h.req(
                &staff(),
                ListPlansRequest {
                    query: "mechanical".into(),
                    include_retired: true,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(with_retired.plans.iter().any(|p| p.id == created.id));
        h.c()
            .get_plan(h.req(
                &reseller_user("reseller-demo"),
                GetPlanRequest {
                    plan_id: created.id.clone(),
                    ..Default::default()
                },
            ))
            .await
            .expect("retired plans stay readable");
        let status = expect_code(
            h.c()
                .update_plan(h.req(
                    &staff(),
                    UpdatePlanRequest {
                        plan: Some(pb::Plan {
                            etag: retired.etag.clone(),
                            ..change
                        }),
                        update_mask: vec!["name".into()],
                    },
                ))
                .await,
            Code::FailedPrecondition,
        );
        assert_eq!(
            broken_rule(&status).as_deref(),
            Some("catalog.plan_retired")
        );
        expect_code(
            h.c()
                .retire_plan(h.req(
                    &staff(),
                    RetirePlanRequest {
                        plan_id: "plan-nope".into(),
                        etag: String::new(),
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
async fn prices_are_validated() {
    on_each_backend(true, |h| async move {
        let money = |c: &str, a: i64| {
            Some(Money {
                currency_code: c.into(),
                amount_minor: a,
            })
        };
        let create = |plan: &str, price: pb::Price| {
            let (mut c, r) = (
                h.c(),
                h.req(
                    &staff(),
                    CreatePriceRequest {
                        plan_id: plan.into(),
                        price: Some(price),
                    },
                ),
            );
            async move { c.create_price(r).await }
        };
        let plan = "plan-autodesk-autocad-annual";
        let good = pb::Price {
            currency_code: "EUR".into(),
            cost: money("EUR", 100_000),
            msrp: money("EUR", 120_000),
            ..Default::default()
        };
        let status = expect_code(
            create(
                plan,
                pb::Price {
                    cost: money("EUR", -1),
                    ..good.clone()
                },
            )
            .await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec!["price.cost.amount_minor"]);
        let status = expect_code(
            create(
                plan,
                pb::Price {
                    msrp: money("EUR", 1_000_000_000_000),
                    ..good.clone()
                },
            )
            .await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec!["price.msrp.amount_minor"]);
        let status = expect_code(
            create(
                plan,
                pb::Price {
                    currency_code: "EURO".into(),
                    ..good.clone()
                },
            )
            .await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec!["price.currency_code"]);
        let status = expect_code(
            create(
                plan,
                pb::Price {
                    cost: money("USD", 1),
                    ..good.clone()
                },
            )
            .await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), vec!["price.cost.currency_code"]);
        expect_code(create("plan-nope", good.clone()).await, Code::NotFound);
        let at = Some(marketplace_platform::clock::to_timestamp(
            time::macros::datetime!(2030-01-01 0:00 UTC),
        ));
        create(
            plan,
            pb::Price {
                effective_time: at,
                ..good.clone()
            },
        )
        .await
        .unwrap();
        expect_code(
            create(
                plan,
                pb::Price {
                    effective_time: at,
                    ..good
                },
            )
            .await,
            Code::AlreadyExists,
        );
        h.stop().await;
    })
    .await;
}
