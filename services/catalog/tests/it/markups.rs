//! Markup administration: who may set them and how they are validated.

use marketplace_proto::catalog::v1::{
    self as pb, DeleteMarkupRequest, ListMarkupsRequest, SetMarkupRequest,
};
use marketplace_proto::common::v1::Money;
use tonic::Code;

use crate::support::*;

#[tokio::test]
async fn markups_are_per_reseller_and_validated() {
    on_each_backend(true, |h| async move {
        let admin = reseller_admin("reseller-demo");
        let pct = |bp: i32| pb::Markup {
            vendor_id: "autodesk".into(),
            kind: pb::MarkupKind::Percentage as i32,
            basis_points: bp,
            ..Default::default()
        };
        let set = |who: &marketplace_platform::identity::Principal, m: pb::Markup| {
            let (mut c, r) = (h.c(), h.req(who, SetMarkupRequest { markup: Some(m) }));
            async move { c.set_markup(r).await }
        };

        let first = set(&admin, pct(1_000)).await.unwrap().into_inner();
        assert_eq!(first.reseller_id, "reseller-demo");
        let replaced = set(&admin, pct(1_500)).await.unwrap().into_inner();
        assert_eq!(
            replaced.id, first.id,
            "one markup per vendor: replaced in place"
        );
        assert_eq!(replaced.basis_points, 1_500);
        let by_staff = set(
            &staff(),
            pb::Markup {
                reseller_id: "reseller-other".into(),
                ..pct(200)
            },
        )
        .await
        .unwrap()
        .into_inner();
        assert_eq!(by_staff.reseller_id, "reseller-other");

        let listed = h
            .c()
            .list_markups(h.req(
                &reseller_user("reseller-demo"),
                ListMarkupsRequest {
                    reseller_id: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .markups;
        assert_eq!(listed.len(), 1);
        expect_code(
            h.c()
                .list_markups(h.req(
                    &customer_user("reseller-demo"),
                    ListMarkupsRequest::default(),
                ))
                .await,
            Code::PermissionDenied,
        );
        expect_code(
            h.c()
                .list_markups(h.req(
                    &admin,
                    ListMarkupsRequest {
                        reseller_id: "reseller-other".into(),
                    },
                ))
                .await,
            Code::NotFound,
        );
        expect_code(
            set(&reseller_user("reseller-demo"), pct(1)).await,
            Code::PermissionDenied,
        );
        expect_code(
            set(
                &admin,
                pb::Markup {
                    reseller_id: "reseller-other".into(),
                    ..pct(1)
                },
            )
            .await,
            Code::NotFound,
        );

        for (markup, field) in [
            (pct(-1), "markup.basis_points"),
            (pct(100_001), "markup.basis_points"),
            (pb::Markup { kind: 0, ..pct(1) }, "markup.kind"),
            (
                pb::Markup {
                    vendor_id: String::new(),
                    ..pct(1)
                },
                "markup.vendor_id",
            ),
            (
                pb::Markup {
                    plan_id: "plan-autodesk-autocad-annual".into(),
                    ..pct(1)
                },
                "markup.plan_id",
            ),
            (
                pb::Markup {
                    kind: pb::MarkupKind::Fixed as i32,
                    ..pct(0)
                },
                "markup.fixed_amount",
            ),
            (
                pb::Markup {
                    kind: pb::MarkupKind::Fixed as i32,
                    fixed_amount: Some(Money {
                        currency_code: "usd".into(),
                        amount_minor: 5,
                    }),
                    ..pct(0)
                },
                "markup.fixed_amount.currency_code",
            ),
            (
                pb::Markup {
                    kind: pb::MarkupKind::Fixed as i32,
                    fixed_amount: Some(Money {
                        currency_code: "USD".into(),
                        amount_minor: -5,
                    }),
                    ..pct(0)
                },
                "markup.fixed_amount.amount_minor",
            ),
        ] {
            let status = expect_code(set(&admin, markup).await, Code::InvalidArgument);
            assert_eq!(violated_fields(&status), vec![field]);
        }
        expect_code(
            set(
                &admin,
                pb::Markup {
                    vendor_id: "adobe".into(),
                    ..pct(1)
                },
            )
            .await,
            Code::NotFound,
        );
        expect_code(
            set(
                &reseller_admin("reseller-nocsn"),
                pb::Markup {
                    vendor_id: String::new(),
                    plan_id: "plan-autodesk-revit-annual".into(),
                    ..pct(1)
                },
            )
            .await,
            Code::NotFound,
        );

        expect_code(
            h.c()
                .delete_markup(h.req(
                    &reseller_admin("reseller-other"),
                    DeleteMarkupRequest {
                        reseller_id: String::new(),
                        markup_id: first.id.clone(),
                    },
                ))
                .await,
            Code::NotFound,
        );
        h.c()
            .delete_markup(h.req(
                &admin,
                DeleteMarkupRequest {
                    reseller_id: String::new(),
                    markup_id: first.id.clone(),
                },
            ))
            .await
            .unwrap();
        expect_code(
            h.c()
                .delete_markup(h.req(
                    &admin,
                    DeleteMarkupRequest {
                        reseller_id: String::new(),
                        markup_id: first.id,
                    },
                ))
                .await,
            Code::NotFound,
        );
        h.stop().await;
    })
    .await;
}
