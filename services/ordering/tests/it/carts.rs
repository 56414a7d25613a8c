//! Carts: limits, parameters, product ids, etags, expiry, readiness.

use std::collections::HashMap;
use std::time::Duration;

use marketplace_platform as platform;
use marketplace_proto::events::v1 as ev;
use marketplace_proto::events::v1::envelope::Payload;
use marketplace_proto::ordering::v1 as pb;
use platform::identity::Role;
use tonic::Code;

use crate::backends;
use crate::fake_catalog::{AUTOCAD, AUTOCAD_PRODUCT_ID, M365, REVIT, UNIT_COST, UNIT_MARKUP};
use crate::support::{DEMO_CUSTOMER, Env, admin, person, staff};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn carts_expire_after_seven_days_on_the_moved_clock() {
    for backend in backends().await {
        let env = Env::start(backend).await;
        let p = admin();
        let cart = env.cart_with(&p, DEMO_CUSTOMER, AUTOCAD, 1).await;
        env.clock
            .advance(time::Duration::days(7) - time::Duration::minutes(1));
        let open = env
            .carts()
            .get_cart(env.req(
                pb::GetCartRequest {
                    cart_id: cart.id.clone(),
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(open.status, pb::CartStatus::Active as i32);
        env.clock.advance(time::Duration::minutes(2));
        let expired = env
            .carts()
            .get_cart(env.req(
                pb::GetCartRequest {
                    cart_id: cart.id.clone(),
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(expired.status, pb::CartStatus::Expired as i32);
        let add = pb::AddCartLineRequest {
            cart_id: cart.id.clone(),
            plan_id: AUTOCAD.into(),
            quantity: 1,
            ..Default::default()
        };
        assert_eq!(
            env.carts()
                .add_cart_line(env.req(add, &p))
                .await
                .unwrap_err()
                .code(),
            Code::FailedPrecondition
        );
        let err = env.buy(&p, &cart.id, "late").await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
        assert!(err.message().contains("expired"));
        let listed = env
            .carts()
            .list_carts(env.req(pb::ListCartsRequest::default(), &p))
            .await
            .unwrap()
            .into_inner();
        assert!(listed.carts.iter().all(|c| c.id != cart.id));
        env.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cart_lines_limits_parameters_product_ids_and_etags() {
    for backend in backends().await {
        let env = Env::start(backend).await;
        let p = admin();
        let cart = env.empty_cart(&p, DEMO_CUSTOMER).await;
        let add = |plan: &str, q: i32, params: &[(&str, &str)]| pb::AddCartLineRequest {
            cart_id: cart.id.clone(),
            plan_id: plan.into(),
            quantity: q,
            parameters: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
            ..Default::default()
        };
        let err = env
            .carts()
            .add_cart_line(env.req(add("plan-nope", 1, &[]), &p))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains("plan_id"), "{}", err.message());
        let err = env
            .carts()
            .add_cart_line(env.req(add(REVIT, 11, &[("project_code", "X")]), &p))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains("quantity"), "{}", err.message());
        let err = env
            .carts()
            .add_cart_line(env.req(
                add(
                    REVIT,
                    1,
                    &[("project_code", "X"), ("site_phone", "call me")],
                ),
                &p,
            ))
            .await
            .unwrap_err();
        assert!(
            err.message().contains("parameters.site_phone"),
            "{}",
            err.message()
        );
        let err = env
            .carts()
            .add_cart_line(env.req(add(REVIT, 1, &[]), &p))
            .await
            .unwrap_err();
        assert!(
            err.message().contains("parameters.project_code"),
            "{}",
            err.message()
        );
        let with_line = env
            .carts()
            .add_cart_line(env.req(add(REVIT, 1, &[("project_code", "P-1")]), &p))
            .await
            .unwrap()
            .into_inner();
        let by_product = pb::AddCartLineRequest {
            cart_id: cart.id.clone(),
            autodesk_product_id: AUTOCAD_PRODUCT_ID.into(),
            quantity: 2,
            ..Default::default()
        };
        let both = env
            .carts()
            .add_cart_line(env.req(by_product, &p))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(both.lines[1].plan_id, AUTOCAD);
        assert_eq!(
            both.total_price.as_ref().unwrap().amount_minor,
            3 * (UNIT_COST + UNIT_MARKUP)
        );
        // "+" within the limits, stale etag refused, remove keeps the line as DELETED.
        let line = both.lines[0].id.clone();
        let plus = pb::UpdateCartLineRequest {
            cart_id: cart.id.clone(),
            line_id: line.clone(),
            quantity: 2,
            etag: both.etag.clone(),
            ..Default::default()
        };
        let plus = env
            .carts()
            .update_cart_line(env.req(plus, &p))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(plus.lines[0].quantity, 2);
        let stale = pb::UpdateCartLineRequest {
            cart_id: cart.id.clone(),
            line_id: line.clone(),
            quantity: 3,
            etag: with_line.etag.clone(),
            ..Default::default()
        };
        assert_eq!(
            env.carts()
                .update_cart_line(env.req(stale, &p))
                .await
                .unwrap_err()
                .code(),
            Code::Aborted
        );
        let over = pb::UpdateCartLineRequest {
            cart_id: cart.id.clone(),
            line_id: line.clone(),
            quantity: 11,
            ..Default::default()
        };
        assert_eq!(
            env.carts()
                .update_cart_line(env.req(over, &p))
                .await
                .unwrap_err()
                .code(),
            Code::InvalidArgument
        );
        let removed = env
            .carts()
            .remove_cart_line(env.req(
                pb::RemoveCartLineRequest {
                    cart_id: cart.id.clone(),
                    line_id: line,
                    etag: String::new(),
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(removed.lines.len(), 2);
        assert_eq!(removed.lines[0].status, pb::CartLineStatus::Deleted as i32);
        assert_eq!(
            removed.total_price.as_ref().unwrap().amount_minor,
            2 * (UNIT_COST + UNIT_MARKUP)
        );
        // The removed line stays in the order as a DELETED item; only the live one is sent.
        let order = env.buy(&p, &cart.id, "with-removed").await.unwrap();
        assert_eq!(order.items.len(), 2);
        assert_eq!(order.items[0].status, pb::OrderItemStatus::Deleted as i32);
        assert_eq!(order.items[1].status, pb::OrderItemStatus::Pending as i32);
        assert_eq!(order.item_count, 1);
        env.wait_events("fulfilment", |_| !env.fulfilments(&order.id).is_empty())
            .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let sent = env.fulfilments(&order.id);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].order_item_id, order.items[1].id);
        env.provision(Payload::FulfilmentSucceeded(ev::FulfilmentSucceeded {
            request_id: format!("{}:0", order.items[1].id),
            order_id: order.id.clone(),
            order_item_id: order.items[1].id.clone(),
            vendor_subscription_id: "VS-9".into(),
            ..Default::default()
        }))
        .await;
        assert_eq!(
            env.order(&p, &order.id).await.unwrap().status,
            pb::OrderStatus::Completed as i32
        );
        env.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_lists_missing_facts_per_vendor() {
    for backend in backends().await {
        let env = Env::start(backend).await;
        let staff = staff();
        let create = pb::CreateResellerRequest {
            reseller: Some(pb::Reseller {
                name: "Other".into(),
                ..Default::default()
            }),
            reseller_id: "reseller-other".into(),
        };
        env.resellers()
            .create_reseller(env.req(create, &staff))
            .await
            .unwrap();
        let other = person(Role::ResellerAdmin, Some("reseller-other"), None);
        let customer = env.customer(&other, "Northwind", false).await;
        let cart = env.cart_with(&other, &customer.id, M365, 1).await;
        let ready = env
            .carts()
            .check_cart_readiness(env.req(
                pb::CheckCartReadinessRequest {
                    cart_id: cart.id.clone(),
                },
                &other,
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(!ready.ready);
        let ms = &ready.vendors[0];
        assert_eq!(ms.status, pb::ReadinessStatus::Inquiring as i32);
        let fields: Vec<&str> = ms.missing.iter().map(|m| m.field.as_str()).collect();
        assert!(fields.contains(&"reseller.microsoft_mpn_id"), "{fields:?}");
        assert!(
            fields.contains(&"reseller.microsoft_indirect_reseller_tenant_id"),
            "{fields:?}"
        );
        assert!(fields.contains(&"customer.agreements"), "{fields:?}");
        // The demo reseller with the demo customer is READY.
        let demo_cart = env.cart_with(&admin(), DEMO_CUSTOMER, M365, 1).await;
        let ready = env
            .carts()
            .check_cart_readiness(env.req(
                pb::CheckCartReadinessRequest {
                    cart_id: demo_cart.id.clone(),
                },
                &admin(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(ready.ready, "{:?}", ready.vendors);
        env.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retried_add_with_the_same_request_id_adds_one_line() {
    for backend in backends().await {
        let env = Env::start(backend).await;
        let p = admin();
        let cart = env.empty_cart(&p, DEMO_CUSTOMER).await;
        let add = |request_id: &str| pb::AddCartLineRequest {
            cart_id: cart.id.clone(),
            plan_id: AUTOCAD.into(),
            quantity: 1,
            etag: cart.etag.clone(),
            request_id: request_id.into(),
            ..Default::default()
        };
        let first = env
            .carts()
            .add_cart_line(env.req(add("retry-1"), &p))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(first.lines.len(), 1);
        // The answer was lost; the client retries the very same request (now-stale etag).
        let again = env
            .carts()
            .add_cart_line(env.req(add("retry-1"), &p))
            .await
            .expect("a retry is answered with the cart, not refused")
            .into_inner();
        assert_eq!(again.lines.len(), 1, "{again:?}");
        assert_eq!(again.lines[0].id, first.lines[0].id);
        assert_eq!(again.etag, first.etag, "the retry changed nothing");
        // Another request with the stale etag is a conflict; with no etag it adds a line.
        let stale = env
            .carts()
            .add_cart_line(env.req(add("retry-2"), &p))
            .await
            .unwrap_err();
        assert_eq!(stale.code(), Code::Aborted, "{stale:?}");
        let second = env
            .carts()
            .add_cart_line(env.req(
                pb::AddCartLineRequest {
                    etag: String::new(),
                    ..add("retry-2")
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(second.lines.len(), 2);
        let too_long = env
            .carts()
            .add_cart_line(env.req(add(&"x".repeat(201)), &p))
            .await
            .unwrap_err();
        assert_eq!(too_long.code(), Code::InvalidArgument);
        assert!(too_long.message().contains("request_id"), "{too_long:?}");
    }
}
