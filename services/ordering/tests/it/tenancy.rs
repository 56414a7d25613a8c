//! Resellers, customers and tenant isolation.

use marketplace_platform as platform;
use marketplace_proto::ordering::v1 as pb;
use platform::identity::Role;
use tonic::Code;

use crate::backends;
use crate::fake_catalog::AUTOCAD;
use crate::support::{DEMO, DEMO_CUSTOMER, Env, admin, person, staff};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_seed_and_reseller_profile() {
    for backend in backends().await {
        let env = Env::start(backend).await;
        let r = env
            .resellers()
            .get_reseller(env.req(
                pb::GetResellerRequest {
                    reseller_id: String::new(),
                },
                &admin(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.autodesk_partner_csn, "5100000001");
        assert_eq!(r.microsoft_mpn_id, "1234567");
        assert_eq!(r.notification_email, "reseller@demo.example");
        let c = env
            .customers()
            .get_customer(env.req(
                pb::GetCustomerRequest {
                    customer_id: DEMO_CUSTOMER.into(),
                },
                &admin(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(c.name, "Contoso Ltd");
        assert_eq!(c.agreements.len(), 1);
        env.wait_events("reseller_profile_changed", |e| {
            e.iter().any(|e| e.r#type == "reseller_profile_changed")
        })
        .await;

        // Update with a stale etag is refused; a bad MPN id names the field.
        let mut update = r.clone();
        update.etag = "999".into();
        let err = env
            .resellers()
            .update_reseller(env.req(
                pb::UpdateResellerRequest {
                    reseller: Some(update),
                    update_mask: vec![],
                },
                &admin(),
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Aborted);
        let mut update = r.clone();
        update.microsoft_mpn_id = "12".into();
        let err = env
            .resellers()
            .update_reseller(env.req(
                pb::UpdateResellerRequest {
                    reseller: Some(update),
                    update_mask: vec!["microsoft_mpn_id".into()],
                },
                &admin(),
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        // Reseller users may not list resellers; staff may.
        let err = env
            .resellers()
            .list_resellers(env.req(pb::ListResellersRequest::default(), &admin()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
        let all = env
            .resellers()
            .list_resellers(env.req(pb::ListResellersRequest::default(), &staff()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(all.resellers.len(), 1);
        env.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_tenants_get_not_found() {
    for backend in backends().await {
        let env = Env::start(backend).await;
        let p = admin();
        let cart = env.cart_with(&p, DEMO_CUSTOMER, AUTOCAD, 1).await;
        let order = env.buy(&p, &cart.id, "x").await.unwrap();
        let stranger = person(Role::ResellerAdmin, Some("reseller-other"), None);
        let other_customer = person(Role::CustomerAdmin, Some(DEMO), Some("customer-other"));
        for who in [&stranger, &other_customer] {
            assert_eq!(
                env.order(who, &order.id).await.unwrap_err().code(),
                Code::NotFound
            );
            let w = env
                .orders()
                .watch_order(env.req(
                    pb::WatchOrderRequest {
                        order_id: order.id.clone(),
                        ..Default::default()
                    },
                    who,
                ))
                .await
                .unwrap_err();
            assert_eq!(w.code(), Code::NotFound);
            let c = env
                .customers()
                .get_customer(env.req(
                    pb::GetCustomerRequest {
                        customer_id: DEMO_CUSTOMER.into(),
                    },
                    who,
                ))
                .await
                .unwrap_err();
            assert_eq!(c.code(), Code::NotFound);
            let l = env
                .orders()
                .list_orders(env.req(
                    pb::ListOrdersRequest {
                        view: pb::OrderView::All as i32,
                        ..Default::default()
                    },
                    who,
                ))
                .await
                .unwrap()
                .into_inner();
            assert!(l.orders.is_empty());
        }
        let g = env
            .carts()
            .get_cart(env.req(
                pb::GetCartRequest {
                    cart_id: cart.id.clone(),
                },
                &stranger,
            ))
            .await
            .unwrap_err();
        assert_eq!(g.code(), Code::NotFound);
        assert_eq!(
            env.buy(&stranger, &cart.id, "y").await.unwrap_err().code(),
            Code::NotFound
        );
        let r = env
            .resellers()
            .get_reseller(env.req(
                pb::GetResellerRequest {
                    reseller_id: DEMO.into(),
                },
                &stranger,
            ))
            .await
            .unwrap_err();
        assert_eq!(r.code(), Code::NotFound);
        // A cart for another reseller's customer is bad input, not a leak.
        let foreign = pb::Cart {
            customer_id: DEMO_CUSTOMER.into(),
            ..Default::default()
        };
        let e = env
            .carts()
            .create_cart(env.req(
                pb::CreateCartRequest {
                    cart: Some(foreign),
                },
                &stranger,
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        // No identity at all.
        let anonymous = env
            .orders()
            .get_order(tonic::Request::new(pb::GetOrderRequest {
                order_id: order.id.clone(),
            }))
            .await
            .unwrap_err();
        assert_eq!(anonymous.code(), Code::Unauthenticated);
        env.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn customers_are_validated_searched_and_updated_with_etags() {
    for backend in backends().await {
        let env = Env::start(backend).await;
        let p = admin();
        let bad = pb::Customer {
            name: "Bad".into(),
            contacts: vec![pb::Contact {
                email: "not-an-email".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let err = env
            .customers()
            .create_customer(env.req(
                pb::CreateCustomerRequest {
                    customer: Some(bad),
                },
                &p,
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(
            err.message().contains("customer.contacts[0].email"),
            "{}",
            err.message()
        );
        let fabrikam = env.customer(&p, "Fabrikam Inc", false).await;
        let found = env
            .customers()
            .list_customers(env.req(
                pb::ListCustomersRequest {
                    query: "FABRIKAM.onmicrosoft".into(),
                    ..Default::default()
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(found.customers.len(), 1);
        assert_eq!(found.customers[0].id, fabrikam.id);
        let by_mail = env
            .customers()
            .list_customers(env.req(
                pb::ListCustomersRequest {
                    query: "admin@contoso".into(),
                    ..Default::default()
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(by_mail.customers.len(), 1);
        let mut update = fabrikam.clone();
        update.autodesk = Some(pb::AutodeskIdentity {
            csn: "5100000099".into(),
        });
        let updated = env
            .customers()
            .update_customer(env.req(
                pb::UpdateCustomerRequest {
                    customer: Some(update.clone()),
                    update_mask: vec!["autodesk.csn".into()],
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(updated.autodesk.unwrap().csn, "5100000099");
        let stale = env
            .customers()
            .update_customer(env.req(
                pb::UpdateCustomerRequest {
                    customer: Some(update),
                    update_mask: vec!["name".into()],
                },
                &p,
            ))
            .await
            .unwrap_err();
        assert_eq!(stale.code(), Code::Aborted);
        env.stop().await;
    }
}

#[test]
fn settings_have_documented_defaults() {
    let settings: ordering::Settings =
        serde_json::from_value(serde_json::json!({"database": {"url": "sqlite://ordering.db"}}))
            .unwrap();
    assert_eq!(settings.catalog_url, "http://127.0.0.1:50051");
    assert_eq!(settings.catalog_timeout_ms, 5_000);
    assert_eq!(settings.watch_poll_interval_ms, 2_000);
    assert!(!settings.seed_demo);
}
