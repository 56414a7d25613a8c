//! Checkout: events in one transaction, idempotency, the Autodesk one-order rule, the real catalog.

use std::time::Duration;

use marketplace_proto::events::v1::envelope::Payload;
use marketplace_proto::ordering::v1 as pb;
use tonic::Code;

use crate::fake_catalog::{AUTOCAD, M365, UNIT_COST, UNIT_MARKUP};
use crate::support::{DEMO, DEMO_CUSTOMER, Env, admin};
use crate::{backends, progressed, succeeded, types_for};

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
        // An empty cart, and a cart without a customer, are refused.
        let empty = pb::CreateCartRequest {
            cart: Some(pb::Cart {
                customer_id: DEMO_CUSTOMER.into(),
                ..Default::default()
            }),
        };
        let empty = env
            .carts()
            .create_cart(env.req(empty, &p))
            .await
            .unwrap()
            .into_inner();
        let err = env.buy(&p, &empty.id, "e").await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
        assert!(err.message().contains("no lines"), "{}", err.message());
        let nobody = env.cart_with(&p, "", AUTOCAD, 1).await;
        let err = env.buy(&p, &nobody.id, "n").await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(
            err.message().contains("cart.customer_id"),
            "{}",
            err.message()
        );
        // Selecting a customer: only one of this reseller.
        let select = |customer: &str| pb::UpdateCartRequest {
            cart: Some(pb::Cart {
                id: nobody.id.clone(),
                customer_id: customer.into(),
                ..Default::default()
            }),
            update_mask: vec!["customer_id".into()],
        };
        let err = env
            .carts()
            .update_cart(env.req(select("customer-nope"), &p))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        let selected = env
            .carts()
            .update_cart(env.req(select(DEMO_CUSTOMER), &p))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(selected.customer_id, DEMO_CUSTOMER);
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
            .list_orders(env.req(
                pb::ListOrdersRequest {
                    view: pb::OrderView::All as i32,
                    ..Default::default()
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        // Only the carts' own STARTED orders: the refused checkouts bought nothing.
        assert!(
            orders
                .orders
                .iter()
                .all(|o| o.status == pb::OrderStatus::Started as i32),
            "{:?}",
            orders.orders
        );
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
            .list_orders(env.req(
                pb::ListOrdersRequest {
                    view: pb::OrderView::All as i32,
                    ..Default::default()
                },
                &p,
            ))
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
