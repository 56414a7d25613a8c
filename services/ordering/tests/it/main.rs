//! Integration tests of the ordering service, on SQLite and (when reachable) PostgreSQL.

mod fake_catalog;
mod support;

use std::collections::HashMap;
use std::time::Duration;

use marketplace_platform as platform;
use marketplace_proto::common::v1::Date;
use marketplace_proto::events::v1 as ev;
use marketplace_proto::events::v1::envelope::Payload;
use marketplace_proto::ordering::v1 as pb;
use platform::identity::Role;
use tonic::Code;

use fake_catalog::{AUTOCAD, AUTOCAD_PRODUCT_ID, M365, REVIT, UNIT_COST, UNIT_MARKUP};
use support::{DEMO, DEMO_CUSTOMER, Env, admin, person, staff};

async fn backends() -> Vec<platform::db::Backend> {
    platform::db::testing::backends().await
}

fn types_for(events: &[ev::Envelope], order_id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| match &e.payload {
            Some(Payload::OrderSubmitted(p)) => p.order_id == order_id,
            Some(Payload::OrderStatusChanged(p)) => p.order_id == order_id,
            Some(Payload::OrderItemStatusChanged(p)) => p.order_id == order_id,
            Some(Payload::FulfilmentRequested(p)) => p.order_id == order_id,
            Some(Payload::SubscriptionActivated(p)) => p.order_id == order_id,
            Some(Payload::SubscriptionStatusChanged(p)) => p.order_id == order_id,
            _ => false,
        })
        .map(|e| e.r#type.clone())
        .collect()
}

fn succeeded(order: &pb::Order, attempt: i32) -> Payload {
    let item = &order.items[0];
    Payload::FulfilmentSucceeded(ev::FulfilmentSucceeded {
        request_id: format!("{}:{attempt}", item.id),
        order_id: order.id.clone(),
        order_item_id: item.id.clone(),
        job_id: "job-1".into(),
        vendor_subscription_id: "VS-0001".into(),
        term_start: Some(Date {
            year: 2026,
            month: 11,
            day: 22,
        }),
        term_end: Some(Date {
            year: 2027,
            month: 11,
            day: 21,
        }),
        portal_url: "https://manage.autodesk.example".into(),
        microsoft_tenant_id: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee".into(),
        ..Default::default()
    })
}

fn progressed(order: &pb::Order, attempt: i32) -> Payload {
    let item = &order.items[0];
    Payload::FulfilmentProgressed(ev::FulfilmentProgressed {
        request_id: format!("{}:{attempt}", item.id),
        order_id: order.id.clone(),
        order_item_id: item.id.clone(),
        job_state: "JOB_STATE_SUBMITTED".into(),
        ..Default::default()
    })
}

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
async fn checkout_emits_events_in_one_transaction_and_provisioning_completes_the_order() {
    for backend in backends().await {
        let env = Env::start(backend).await;
        let p = admin();
        let cart = env.cart_with(&p, DEMO_CUSTOMER, AUTOCAD, 3).await;
        assert_eq!(
            cart.lines[0]
                .price
                .as_ref()
                .unwrap()
                .unit_price
                .as_ref()
                .unwrap()
                .amount_minor,
            UNIT_COST + UNIT_MARKUP
        );
        let order = env.buy(&p, &cart.id, "req-1").await.unwrap();
        assert_eq!(order.status, pb::OrderStatus::InProgress as i32);
        assert!(order.number.starts_with("ORD-"), "{}", order.number);
        assert!(order.name.starts_with("Order #"));
        assert_eq!(
            order.total_price.as_ref().unwrap().amount_minor,
            3 * (UNIT_COST + UNIT_MARKUP)
        );
        let item = &order.items[0];
        assert_eq!(
            item.price
                .as_ref()
                .unwrap()
                .unit_markup
                .as_ref()
                .unwrap()
                .amount_minor,
            UNIT_MARKUP
        );
        assert_eq!(item.status, pb::OrderItemStatus::Pending as i32);

        let events = env
            .wait_events("checkout events", |e| types_for(e, &order.id).len() >= 3)
            .await;
        let types = types_for(&events, &order.id);
        assert_eq!(
            types,
            vec![
                "order_status_changed",
                "order_submitted",
                "fulfilment_requested"
            ],
            "{types:?}"
        );
        let f = env.fulfilments(&order.id).remove(0);
        assert_eq!(f.request_id, format!("{}:0", item.id));
        let plan = f.plan.unwrap();
        assert_eq!(plan.vendor_sku, "057O1-WW8695-L563");
        assert_eq!(plan.connector, "autodesk");
        assert_eq!(
            f.reseller.as_ref().unwrap().autodesk_partner_csn,
            "5100000001"
        );
        let customer = f.customer.unwrap();
        assert_eq!(customer.microsoft_tenant_domain, "contoso.onmicrosoft.com");
        assert!(customer.microsoft_customer_agreement_accepted);
        assert!(
            customer
                .contacts
                .iter()
                .any(|c| c.role == "contract_manager" && c.email == "admin@contoso.example")
        );
        assert_eq!(
            f.parameters.get("admin_email").map(String::as_str),
            Some("admin@contoso.example")
        );
        let cart_now = env
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
        assert_eq!(cart_now.status, pb::CartStatus::Ordered as i32);
        assert_eq!(cart_now.order_id, order.id);

        env.provision(progressed(&order, 0)).await;
        let now = env.order(&p, &order.id).await.unwrap();
        assert_eq!(now.status, pb::OrderStatus::ProvisioningStarted as i32);
        assert_eq!(
            now.items[0].status,
            pb::OrderItemStatus::Provisioning as i32
        );
        env.provision(succeeded(&order, 0)).await;
        let done = env.order(&p, &order.id).await.unwrap();
        assert_eq!(done.status, pb::OrderStatus::Completed as i32);
        assert_eq!(
            done.items[0].status,
            pb::OrderItemStatus::Provisioned as i32
        );
        let sub = env
            .subscriptions()
            .get_subscription(env.req(
                pb::GetSubscriptionRequest {
                    subscription_id: done.items[0].subscription_id.clone(),
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(sub.status, pb::SubscriptionStatus::Active as i32);
        assert_eq!(sub.vendor_subscription_id, "VS-0001");
        assert_eq!(sub.term_end.unwrap().year, 2027);
        assert_eq!(sub.vendor_portal_url, "https://manage.autodesk.example");
        assert_eq!(sub.admin_contact.unwrap().email, "admin@contoso.example");
        let events = env
            .wait_events("activation", |e| {
                e.iter().any(|e| e.r#type == "subscription_activated")
            })
            .await;
        let activated = events.iter().find_map(|e| match &e.payload {
            Some(Payload::SubscriptionActivated(a)) => Some(a.clone()),
            _ => None,
        });
        let activated = activated.unwrap();
        assert_eq!(
            activated.reseller.unwrap().notification_email,
            "reseller@demo.example"
        );
        assert_eq!(activated.customer.unwrap().name, "Contoso Ltd");
        // The tenant learned from the vendor is kept for the next order (reused).
        let c = env
            .customers()
            .get_customer(env.req(
                pb::GetCustomerRequest {
                    customer_id: DEMO_CUSTOMER.into(),
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            c.microsoft.unwrap().tenant_id,
            "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
        );
        // A duplicate outcome changes nothing.
        env.provision(succeeded(&order, 0)).await;
        assert_eq!(env.order(&p, &order.id).await.unwrap().etag, done.etag);
        let subs = env
            .subscriptions()
            .list_subscriptions(env.req(
                pb::ListSubscriptionsRequest {
                    query: "autocad".into(),
                    ..Default::default()
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(subs.subscriptions.len(), 1);
        env.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn end_to_end_with_the_real_catalog() {
    for backend in backends().await {
        let env = Env::start_real(backend).await;
        let p = admin();
        // Autodesk by plan id, then the same plan straight by its Autodesk product id.
        let cart = env.cart_with(&p, DEMO_CUSTOMER, AUTOCAD, 2).await;
        let product_id = {
            let mut catalog =
                marketplace_proto::catalog::v1::catalog_service_client::CatalogServiceClient::new(
                    tonic::transport::Channel::from_shared(env.catalog_url().to_string())
                        .unwrap()
                        .connect_lazy(),
                );
            let plan = catalog
                .get_plan(env.req(
                    marketplace_proto::catalog::v1::GetPlanRequest {
                        plan_id: AUTOCAD.into(),
                        reseller_id: DEMO.into(),
                    },
                    &p,
                ))
                .await
                .unwrap()
                .into_inner();
            plan.autodesk_product_id
        };
        assert_eq!(product_id.len(), 15);
        let by_product = pb::AddCartLineRequest {
            cart_id: cart.id.clone(),
            autodesk_product_id: product_id,
            quantity: 1,
            ..Default::default()
        };
        let cart = env
            .carts()
            .add_cart_line(env.req(by_product, &p))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(cart.lines[1].plan_id, AUTOCAD);
        let price = cart.lines[0]
            .price
            .clone()
            .expect("live price from the catalog");
        assert!(price.unit_price.unwrap().amount_minor > 0);
        let ready = env
            .carts()
            .check_cart_readiness(env.req(
                pb::CheckCartReadinessRequest {
                    cart_id: cart.id.clone(),
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(ready.ready, "{:?}", ready.vendors);
        let order = env.buy(&p, &cart.id, "real-1").await.unwrap();
        assert!(order.total_price.unwrap().amount_minor > 0);
        env.wait_events("fulfilment", |_| env.fulfilments(&order.id).len() == 2)
            .await;
        let f = env.fulfilments(&order.id).remove(0);
        let plan = f.plan.unwrap();
        assert_eq!(plan.connector, "autodesk");
        assert!(!plan.vendor_sku.is_empty());
        assert_eq!(
            f.parameters.get("partner_csn").map(String::as_str),
            Some("5100000001")
        );
        assert_eq!(
            f.parameters.get("admin_email").map(String::as_str),
            Some("admin@contoso.example")
        );
        // Microsoft NCE for the demo customer: READY with the demo reseller's facts.
        let ms = env.cart_with(&p, DEMO_CUSTOMER, M365, 5).await;
        let ready = env
            .carts()
            .check_cart_readiness(env.req(
                pb::CheckCartReadinessRequest {
                    cart_id: ms.id.clone(),
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(ready.ready, "{:?}", ready.vendors);
        let order = env.buy(&p, &ms.id, "real-2").await.unwrap();
        env.wait_events("nce fulfilment", |_| env.fulfilments(&order.id).len() == 1)
            .await;
        let f = env.fulfilments(&order.id).remove(0);
        assert_eq!(f.plan.unwrap().connector, "microsoft_nce");
        assert_eq!(
            f.parameters
                .get("indirect_reseller_tenant_id")
                .map(String::as_str),
            Some("11111111-2222-3333-4444-555555555555")
        );
        env.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_checkout_writes_nothing() {
    for backend in backends().await {
        let env = Env::start(backend).await;
        let p = admin();
        let cart = env.cart_with(&p, DEMO_CUSTOMER, M365, 1).await;
        let req = pb::CheckoutCartRequest {
            cart_id: cart.id.clone(),
            request_id: "r".into(),
            accept_terms: false,
            ..Default::default()
        };
        let err = env
            .carts()
            .checkout_cart(env.req(req, &p))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
        // NCE needs the Microsoft Customer Agreement.
        let fabrikam = env.customer(&p, "Fabrikam", false).await;
        let cart2 = env.cart_with(&p, &fabrikam.id, M365, 1).await;
        let err = env.buy(&p, &cart2.id, "r2").await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
        assert!(
            err.message().contains("Microsoft Customer Agreement"),
            "{}",
            err.message()
        );
        let orders = env
            .orders()
            .list_orders(env.req(pb::ListOrdersRequest::default(), &p))
            .await
            .unwrap()
            .into_inner();
        assert!(orders.orders.is_empty());
        let still = env
            .carts()
            .get_cart(env.req(
                pb::GetCartRequest {
                    cart_id: cart2.id.clone(),
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(still.status, pb::CartStatus::Active as i32);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            env.recorded()
                .iter()
                .all(|e| e.r#type == "reseller_profile_changed")
        );
        // Accepting the agreement unblocks it.
        let accept = pb::AcceptAgreementRequest {
            customer_id: fabrikam.id.clone(),
            r#type: pb::AgreementType::MicrosoftCustomerAgreement as i32,
            contact: None,
        };
        let agreement = env
            .customers()
            .accept_agreement(env.req(accept, &p))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(agreement.accepted_by.unwrap().user_id, p.subject);
        assert_eq!(agreement.contact.unwrap().email, "ga@fabrikam.example");
        let order = env.buy(&p, &cart2.id, "r2").await.unwrap();
        let f = env
            .wait_events("fulfilment", |e| {
                types_for(e, &order.id).contains(&"fulfilment_requested".to_string())
            })
            .await;
        let _ = f;
        let f = env.fulfilments(&order.id).remove(0);
        let plan = f.plan.unwrap();
        assert_eq!(plan.connector, "microsoft_nce");
        assert_eq!(plan.vendor_sku, "CFQ7TTC0LH18:0001:P1Y");
        assert_eq!(
            f.parameters.get("mpn_id").map(String::as_str),
            Some("1234567")
        );
        assert_eq!(
            f.parameters.get("tenant_domain").map(String::as_str),
            Some("fabrikam.onmicrosoft.com")
        );
        assert!(f.customer.unwrap().microsoft_customer_agreement_accepted);
        env.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkout_is_idempotent_under_retries() {
    for backend in backends().await {
        let env = Env::start(backend).await;
        let p = admin();
        let cart = env.cart_with(&p, DEMO_CUSTOMER, M365, 2).await;
        let attempts = (0..6).map(|_| env.buy(&p, &cart.id, "same-request"));
        let results = futures::future::join_all(attempts).await;
        let ids: Vec<String> = results
            .into_iter()
            .map(|r| r.expect("every retry succeeds").id)
            .collect();
        assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
        let again = env.buy(&p, &cart.id, "same-request").await.unwrap();
        assert_eq!(again.id, ids[0]);
        let other = env.buy(&p, &cart.id, "another-request").await.unwrap_err();
        assert_eq!(other.code(), Code::FailedPrecondition);
        let orders = env
            .orders()
            .list_orders(env.req(pb::ListOrdersRequest::default(), &p))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(orders.orders.len(), 1);
        env.wait_events("fulfilment", |e| {
            types_for(e, &ids[0]).contains(&"fulfilment_requested".to_string())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(env.fulfilments(&ids[0]).len(), 1);
        env.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn autodesk_allows_one_order_at_a_time_under_concurrent_checkouts() {
    for backend in backends().await {
        let env = Env::start(backend).await;
        let p = admin();
        let a = env.cart_with(&p, DEMO_CUSTOMER, AUTOCAD, 1).await;
        let b = env.cart_with(&p, DEMO_CUSTOMER, AUTOCAD, 1).await;
        let (ra, rb) = tokio::join!(env.buy(&p, &a.id, "a"), env.buy(&p, &b.id, "b"));
        let (winner, loser) = match (ra, rb) {
            (Ok(o), Err(e)) | (Err(e), Ok(o)) => (o, e),
            other => panic!("[{backend:?}] exactly one checkout must win: {other:?}"),
        };
        assert_eq!(loser.code(), Code::FailedPrecondition);
        assert!(
            loser.message().contains(&winner.number),
            "{} should name {}",
            loser.message(),
            winner.number
        );
        let loser_cart = if winner.cart_id == a.id { &b } else { &a };
        // The refused checkout left its cart open; it can be bought once the first order finished.
        env.provision(succeeded(&winner, 0)).await;
        assert_eq!(
            env.order(&p, &winner.id).await.unwrap().status,
            pb::OrderStatus::Completed as i32
        );
        let second = env.buy(&p, &loser_cart.id, "c").await.unwrap();
        assert_eq!(second.status, pb::OrderStatus::InProgress as i32);
        // A Microsoft order is not held up by the open Autodesk order.
        let ms = env.cart_with(&p, DEMO_CUSTOMER, M365, 1).await;
        env.buy(&p, &ms.id, "ms").await.unwrap();
        env.stop().await;
    }
}

/// Stores an order as the subscription-change flow records it (used for visibility rules).
async fn insert_change_order(env: &Env, markup_only: bool) -> String {
    use ordering::domain::order::{ItemPrice, Order, OrderItem, Payment};
    use ordering::domain::plan::PlanInfo;
    use ordering::domain::state::{ChangeType, ItemStatus, OrderStatus};
    use sqlx::Connection;
    let now = platform::clock::to_micros(time::OffsetDateTime::now_utc());
    let item = |change: ChangeType, n: i32| OrderItem {
        id: platform::ids::new_id(),
        line_number: n,
        plan: PlanInfo {
            plan_id: M365.into(),
            vendor_id: "microsoft".into(),
            name: "M365".into(),
            ..PlanInfo::default()
        },
        description: "M365".into(),
        change,
        quantity: 5,
        previous_quantity: 5,
        parameters: Default::default(),
        price: ItemPrice {
            currency_code: "USD".into(),
            unit_cost: 100,
            unit_markup: 50,
            unit_price: 150,
            ..ItemPrice::default()
        },
        status: ItemStatus::Provisioned,
        vendor_message: String::new(),
        parameter_errors: vec![],
        subscription_id: String::new(),
        vendor_subscription_id: String::new(),
        parent_item_id: String::new(),
        updated_at: now,
        resubmission: 0,
    };
    let mut items = vec![item(ChangeType::MarkupChange, 1)];
    if !markup_only {
        items.push(item(ChangeType::SeatIncrease, 2));
    }
    let order = Order {
        id: platform::ids::new_id(),
        number: format!("ORD-TEST-{}", if markup_only { 1 } else { 2 }),
        name: "Order #test".into(),
        reseller_id: DEMO.into(),
        customer_id: DEMO_CUSTOMER.into(),
        customer_name: "Contoso Ltd".into(),
        status: OrderStatus::Completed,
        items,
        created_by: Default::default(),
        created_at: now,
        updated_at: now,
        submitted_at: Some(now),
        notes: vec![],
        payment: Payment::default(),
        currency_code: "USD".into(),
        total_cost: 0,
        total_price: 0,
        cart_id: String::new(),
        version: 1,
        request_key: platform::ids::new_id(),
        submit_request_id: String::new(),
    };
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&env.db_url).await.unwrap();
    sqlx::query("INSERT INTO orders (id, reseller_id, customer_id, number, status, request_key, has_autodesk, markup_only, created_at, updated_at, version, doc) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9, 1, $10)")
        .bind(order.id.clone())
        .bind(order.reseller_id.clone())
        .bind(order.customer_id.clone())
        .bind(order.number.clone())
        .bind(order.status.as_str())
        .bind(order.request_key.clone())
        .bind(i64::from(markup_only))
        .bind(now)
        .bind(now)
        .bind(serde_json::to_string(&order).unwrap())
        .execute(&mut conn)
        .await
        .unwrap();
    order.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn customer_roles_never_see_markup_changes() {
    for backend in backends().await {
        let env = Env::start(backend).await;
        let markup_only = insert_change_order(&env, true).await;
        let mixed = insert_change_order(&env, false).await;
        let reseller = admin();
        let customer = person(Role::CustomerAdmin, Some(DEMO), Some(DEMO_CUSTOMER));
        let customer_user = person(Role::CustomerUser, Some(DEMO), Some(DEMO_CUSTOMER));
        let all = env
            .orders()
            .list_orders(env.req(pb::ListOrdersRequest::default(), &reseller))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(all.orders.len(), 2);
        assert!(env.order(&reseller, &markup_only).await.is_ok());
        for who in [&customer, &customer_user] {
            let seen = env
                .orders()
                .list_orders(env.req(pb::ListOrdersRequest::default(), who))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(seen.orders.len(), 1, "{:?}", who.role);
            assert_eq!(seen.orders[0].id, mixed);
            assert_eq!(
                env.order(who, &markup_only).await.unwrap_err().code(),
                Code::NotFound
            );
            let m = env.order(who, &mixed).await.unwrap();
            assert_eq!(m.items.len(), 1);
            assert!(m.items.iter().all(
                |i| i.change != marketplace_proto::common::v1::ChangeType::MarkupChange as i32
            ));
            assert!(
                !m.requested_changes
                    .contains(&(marketplace_proto::common::v1::ChangeType::MarkupChange as i32))
            );
            assert!(m.items[0].price.as_ref().unwrap().unit_markup.is_none());
            assert!(m.total_cost.is_none());
        }
        let r = env.order(&reseller, &mixed).await.unwrap();
        assert_eq!(r.items.len(), 2);
        env.stop().await;
    }
}

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
        let cart = env
            .carts()
            .create_cart(env.req(
                pb::CreateCartRequest {
                    cart: Some(pb::Cart {
                        customer_id: DEMO_CUSTOMER.into(),
                        ..Default::default()
                    }),
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
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
async fn watch_order_delivers_each_transition_in_order() {
    for backend in backends().await {
        let env = Env::start(backend).await;
        let p = admin();
        let cart = env.cart_with(&p, DEMO_CUSTOMER, AUTOCAD, 1).await;
        let order = env.buy(&p, &cart.id, "w").await.unwrap();
        let mut stream = env
            .orders()
            .watch_order(env.req(
                pb::WatchOrderRequest {
                    order_id: order.id.clone(),
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        let first = stream.message().await.unwrap().unwrap();
        assert_eq!(first.change, "initial");
        assert_eq!(
            first.order.as_ref().unwrap().status,
            pb::OrderStatus::InProgress as i32
        );
        assert!(!first.settled);
        let item = order.items[0].id.clone();
        env.provision(progressed(&order, 0)).await;
        env.provision(Payload::FulfilmentInquiring(ev::FulfilmentInquiring {
            request_id: format!("{item}:0"),
            order_id: order.id.clone(),
            order_item_id: item.clone(),
            vendor_message: "contract manager e-mail rejected".into(),
            field_violations: vec![marketplace_proto::common::v1::FieldViolation {
                field: "parameters.admin_email".into(),
                description: "invalid".into(),
            }],
            ..Default::default()
        }))
        .await;
        let resubmit = pb::ResubmitOrderItemRequest {
            order_id: order.id.clone(),
            item_id: item.clone(),
            parameters: [("admin_email".to_string(), "cm@contoso.example".to_string())].into(),
            etag: String::new(),
        };
        let resubmitted = env
            .orders()
            .resubmit_order_item(env.req(resubmit, &p))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            resubmitted.items[0].status,
            pb::OrderItemStatus::Pending as i32
        );
        env.provision(succeeded(&order, 0)).await; // an earlier attempt: ignored
        env.provision(succeeded(&order, 1)).await;
        let mut seen = Vec::new();
        let mut last_version = first.order.unwrap().etag.parse::<i64>().unwrap();
        while seen.len() < 6 {
            let next = tokio::time::timeout(Duration::from_secs(10), stream.message())
                .await
                .expect("watch update in time")
                .unwrap()
                .unwrap();
            let o = next.order.unwrap();
            let version: i64 = o.etag.parse().unwrap();
            assert!(version > last_version, "versions increase");
            last_version = version;
            let status = if next.change == "order.status" {
                pb::OrderStatus::try_from(o.status)
                    .unwrap()
                    .as_str_name()
                    .to_string()
            } else {
                pb::OrderItemStatus::try_from(o.items[0].status)
                    .unwrap()
                    .as_str_name()
                    .to_string()
            };
            seen.push((next.change.clone(), status, next.settled));
        }
        let expected = [
            ("items[0].status", "ORDER_ITEM_STATUS_PROVISIONING", false),
            ("order.status", "ORDER_STATUS_PROVISIONING_STARTED", false),
            ("items[0].status", "ORDER_ITEM_STATUS_INQUIRING", true),
            ("items[0].status", "ORDER_ITEM_STATUS_PENDING", false),
            ("items[0].status", "ORDER_ITEM_STATUS_PROVISIONED", false),
            ("order.status", "ORDER_STATUS_COMPLETED", true),
        ];
        let expected: Vec<(String, String, bool)> = expected
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), *c))
            .collect();
        assert_eq!(seen, expected, "[{backend:?}]");
        let f = env.fulfilments(&order.id);
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].resubmission, 1);
        assert_eq!(f[1].request_id, format!("{item}:1"));
        assert_eq!(
            f[1].parameters.get("admin_email").map(String::as_str),
            Some("cm@contoso.example")
        );
        let contacts = &f[1].customer.as_ref().unwrap().contacts;
        assert!(
            contacts
                .iter()
                .any(|c| c.role == "contract_manager" && c.email == "cm@contoso.example")
        );
        env.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_order_works_across_replicas() {
    for backend in backends().await {
        let env = Env::start(backend).await;
        let replica = env.replica().await;
        let p = admin();
        let cart = env.cart_with(&p, DEMO_CUSTOMER, AUTOCAD, 1).await;
        let order = env.buy(&p, &cart.id, "rep").await.unwrap();
        // Watch on the other replica: the changes are made by whichever replica consumes them.
        let mut client =
            marketplace_proto::ordering::v1::order_service_client::OrderServiceClient::new(
                replica.channel.clone(),
            );
        let mut stream = client
            .watch_order(env.req(
                pb::WatchOrderRequest {
                    order_id: order.id.clone(),
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stream.message().await.unwrap().unwrap().change, "initial");
        env.provision(progressed(&order, 0)).await;
        env.provision(succeeded(&order, 0)).await;
        let mut last = None;
        let started = std::time::Instant::now();
        while last
            .as_ref()
            .is_none_or(|u: &pb::WatchOrderResponse| !u.settled)
        {
            let next = tokio::time::timeout(Duration::from_secs(10), stream.message())
                .await
                .expect("update in time")
                .unwrap()
                .unwrap();
            last = Some(next);
        }
        let last = last.unwrap();
        assert_eq!(
            last.order.unwrap().status,
            pb::OrderStatus::Completed as i32
        );
        assert_eq!(last.change, "order.status");
        assert!(started.elapsed() < Duration::from_secs(10));
        drop(stream);
        replica.stop().await;
        // The remaining replica keeps publishing once the other one is gone.
        let again = env.cart_with(&p, DEMO_CUSTOMER, AUTOCAD, 1).await;
        let second = env.buy(&p, &again.id, "rep2").await.unwrap();
        env.wait_events("events after a replica left", |e| {
            types_for(e, &second.id).len() >= 3
        })
        .await;
        env.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_items_keep_the_vendor_message_and_can_be_resubmitted() {
    for backend in backends().await {
        let env = Env::start(backend).await;
        let p = admin();
        let cart = env.cart_with(&p, DEMO_CUSTOMER, M365, 1).await;
        let order = env.buy(&p, &cart.id, "f").await.unwrap();
        let item = order.items[0].id.clone();
        env.provision(Payload::FulfilmentFailed(ev::FulfilmentFailed {
            request_id: format!("{item}:0"),
            order_id: order.id.clone(),
            order_item_id: item.clone(),
            vendor_code: "InvalidTenant".into(),
            vendor_message: "the tenant domain is taken".into(),
            staff_alert: true,
            ..Default::default()
        }))
        .await;
        let failed = env.order(&p, &order.id).await.unwrap();
        assert_eq!(failed.status, pb::OrderStatus::ProvisioningFailed as i32);
        assert_eq!(failed.items[0].status, pb::OrderItemStatus::Failed as i32);
        assert!(
            failed.items[0]
                .vendor_message
                .contains("the tenant domain is taken")
        );
        let sub = env
            .subscriptions()
            .get_subscription(env.req(
                pb::GetSubscriptionRequest {
                    subscription_id: failed.items[0].subscription_id.clone(),
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(sub.status, pb::SubscriptionStatus::NotProvisioned as i32);
        assert!(sub.vendor_message.contains("tenant domain is taken"));
        // A bad correction is refused; a good one re-submits.
        let bad = pb::ResubmitOrderItemRequest {
            order_id: order.id.clone(),
            item_id: item.clone(),
            parameters: [("tenant_domain".to_string(), "nope".to_string())].into(),
            etag: String::new(),
        };
        assert_eq!(
            env.orders()
                .resubmit_order_item(env.req(bad, &p))
                .await
                .unwrap_err()
                .code(),
            Code::InvalidArgument
        );
        let good = pb::ResubmitOrderItemRequest {
            order_id: order.id.clone(),
            item_id: item.clone(),
            parameters: [(
                "tenant_domain".to_string(),
                "contoso2.onmicrosoft.com".to_string(),
            )]
            .into(),
            etag: failed.etag.clone(),
        };
        let again = env
            .orders()
            .resubmit_order_item(env.req(good, &p))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(again.status, pb::OrderStatus::ProvisioningStarted as i32);
        let sub = env
            .subscriptions()
            .get_subscription(env.req(
                pb::GetSubscriptionRequest {
                    subscription_id: failed.items[0].subscription_id.clone(),
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(sub.status, pb::SubscriptionStatus::Provisioning as i32);
        env.wait_events("second fulfilment", |_| {
            env.fulfilments(&order.id).len() == 2
        })
        .await;
        let f = env.fulfilments(&order.id);
        assert_eq!(
            f[1].parameters.get("tenant_domain").map(String::as_str),
            Some("contoso2.onmicrosoft.com")
        );
        assert_eq!(
            f[1].customer.as_ref().unwrap().microsoft_tenant_domain,
            "contoso2.onmicrosoft.com"
        );
        // A provisioned or pending item cannot be re-submitted.
        let twice = pb::ResubmitOrderItemRequest {
            order_id: order.id.clone(),
            item_id: item.clone(),
            parameters: Default::default(),
            etag: String::new(),
        };
        assert_eq!(
            env.orders()
                .resubmit_order_item(env.req(twice, &p))
                .await
                .unwrap_err()
                .code(),
            Code::FailedPrecondition
        );
        env.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drafts_views_notes_and_keyset_pages() {
    for backend in backends().await {
        let env = Env::start(backend).await;
        let p = admin();
        let cart = env.cart_with(&p, DEMO_CUSTOMER, AUTOCAD, 1).await;
        let req = pb::CheckoutCartRequest {
            cart_id: cart.id.clone(),
            request_id: "d".into(),
            save_as_draft: true,
            note: "finish monday".into(),
            ..Default::default()
        };
        let draft = env
            .carts()
            .checkout_cart(env.req(req, &p))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(draft.status, pb::OrderStatus::Draft as i32);
        assert_eq!(draft.notes[0].text, "finish monday");
        assert!(env.fulfilments(&draft.id).is_empty());
        for i in 0..3 {
            let c = env.cart_with(&p, DEMO_CUSTOMER, M365, 1).await;
            env.buy(&p, &c.id, &format!("m{i}")).await.unwrap();
        }
        let historical_drafts = pb::ListOrdersRequest {
            view: pb::OrderView::Historical as i32,
            state: pb::OrderStateFilter::Draft as i32,
            ..Default::default()
        };
        let drafts = env
            .orders()
            .list_orders(env.req(historical_drafts, &p))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(drafts.orders.len(), 1);
        let recent = env
            .orders()
            .list_orders(env.req(
                pb::ListOrdersRequest {
                    view: pb::OrderView::Recent as i32,
                    ..Default::default()
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(recent.orders.is_empty());
        let page1 = env
            .orders()
            .list_orders(env.req(
                pb::ListOrdersRequest {
                    page_size: 3,
                    ..Default::default()
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page1.orders.len(), 3);
        assert!(!page1.next_page_token.is_empty());
        let page2 = env
            .orders()
            .list_orders(env.req(
                pb::ListOrdersRequest {
                    page_size: 3,
                    page_token: page1.next_page_token.clone(),
                    ..Default::default()
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page2.orders.len(), 1);
        assert_eq!(page2.orders[0].id, draft.id);
        assert!(page2.next_page_token.is_empty());
        let tampered = pb::ListOrdersRequest {
            page_size: 3,
            page_token: format!("{}x", page1.next_page_token),
            ..Default::default()
        };
        assert_eq!(
            env.orders()
                .list_orders(env.req(tampered, &p))
                .await
                .unwrap_err()
                .code(),
            Code::InvalidArgument
        );
        let noted = env
            .orders()
            .add_order_note(env.req(
                pb::AddOrderNoteRequest {
                    order_id: draft.id.clone(),
                    text: "PO attached".into(),
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(noted.notes.len(), 2);
        // Submitting the draft needs the terms; a stale etag is refused; then it is bought once.
        let no_terms = pb::SubmitOrderRequest {
            order_id: draft.id.clone(),
            request_id: "s".into(),
            accept_terms: false,
            etag: String::new(),
        };
        assert_eq!(
            env.orders()
                .submit_order(env.req(no_terms, &p))
                .await
                .unwrap_err()
                .code(),
            Code::FailedPrecondition
        );
        let stale = pb::SubmitOrderRequest {
            order_id: draft.id.clone(),
            request_id: "s".into(),
            accept_terms: true,
            etag: draft.etag.clone(),
        };
        assert_eq!(
            env.orders()
                .submit_order(env.req(stale, &p))
                .await
                .unwrap_err()
                .code(),
            Code::Aborted
        );
        let submit = pb::SubmitOrderRequest {
            order_id: draft.id.clone(),
            request_id: "s".into(),
            accept_terms: true,
            etag: noted.etag.clone(),
        };
        let bought = env
            .orders()
            .submit_order(env.req(submit.clone(), &p))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(bought.status, pb::OrderStatus::InProgress as i32);
        let retry = env
            .orders()
            .submit_order(env.req(submit, &p))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(retry.id, bought.id);
        env.wait_events("draft fulfilment", |_| {
            env.fulfilments(&draft.id).len() == 1
        })
        .await;
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
                .list_orders(env.req(pb::ListOrdersRequest::default(), who))
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
