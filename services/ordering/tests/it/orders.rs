//! Orders: visibility, tracking, failures and re-submission, drafts, views and pages.

use std::time::Duration;

use marketplace_platform as platform;
use marketplace_proto::events::v1 as ev;
use marketplace_proto::events::v1::envelope::Payload;
use marketplace_proto::ordering::v1 as pb;
use platform::identity::Role;
use tonic::Code;

use crate::fake_catalog::{AUTOCAD, M365};
use crate::support::{DEMO, DEMO_CUSTOMER, Env, admin, person};
use crate::{backends, progressed, succeeded, types_for};

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
            total_cost: 500,
            total_price: 750,
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
    let items_len = items.len() as i64;
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
        total_cost: 500 * items_len,
        total_price: 750 * items_len,
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
            .list_orders(env.req(
                pb::ListOrdersRequest {
                    view: pb::OrderView::All as i32,
                    ..Default::default()
                },
                &reseller,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(all.orders.len(), 2);
        assert!(env.order(&reseller, &markup_only).await.is_ok());
        let full = env.order(&reseller, &mixed).await.unwrap();
        assert_eq!(
            full.total_price.as_ref().map(|t| t.amount_minor),
            Some(1500)
        );
        for who in [&customer, &customer_user] {
            let seen = env
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
            // Every total shown to a customer leaves the markup lines out.
            assert_eq!(m.total_price.as_ref().map(|t| t.amount_minor), Some(750));
            assert!(m.total_cost.is_none());
            assert!(m.total_cost.is_none());
        }
        let r = env.order(&reseller, &mixed).await.unwrap();
        assert_eq!(r.items.len(), 2);
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
                    // INQUIRING is settled: keep following through the resubmission.
                    follow_after_settled: true,
                    ..Default::default()
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

/// Every update of a watch until the server ends it (OK).
async fn drain(
    env: &Env,
    p: &platform::identity::Principal,
    request: pb::WatchOrderRequest,
) -> Vec<pb::WatchOrderResponse> {
    let mut stream = env
        .orders()
        .watch_order(env.req(request, p))
        .await
        .unwrap()
        .into_inner();
    let mut updates = Vec::new();
    while let Some(update) = tokio::time::timeout(Duration::from_secs(20), stream.message())
        .await
        .expect("the watch ends by itself")
        .unwrap()
    {
        updates.push(update);
    }
    updates
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_order_resumes_after_a_version_and_ends_once_settled() {
    for backend in backends().await {
        let env = Env::start(backend).await;
        let p = admin();
        let cart = env.cart_with(&p, DEMO_CUSTOMER, AUTOCAD, 1).await;
        let order = env.buy(&p, &cart.id, "resume").await.unwrap();
        let bought: i64 = order.etag.parse().unwrap();
        env.provision(progressed(&order, 0)).await;
        env.provision(succeeded(&order, 0)).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let done = loop {
            let now = env.order(&p, &order.id).await.unwrap();
            if now.status == pb::OrderStatus::Completed as i32 {
                break now;
            }
            assert!(tokio::time::Instant::now() < deadline, "order completes");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let current: i64 = done.etag.parse().unwrap();

        // Resuming after the checkout version replays every later transition once, oldest
        // first, and the stream ends with OK at the settled one.
        let resumed = drain(
            &env,
            &p,
            pb::WatchOrderRequest {
                order_id: order.id.clone(),
                after_version: bought,
                ..Default::default()
            },
        )
        .await;
        let versions: Vec<i64> = resumed.iter().map(|u| u.version).collect();
        let expected: Vec<i64> = (bought + 1..=current).collect();
        assert_eq!(versions, expected, "[{backend:?}] {resumed:?}");
        let changes: Vec<&str> = resumed.iter().map(|u| u.change.as_str()).collect();
        assert_eq!(
            changes,
            [
                "items[0].status",
                "order.status",
                "items[0].status",
                "order.status"
            ],
            "[{backend:?}]"
        );
        assert!(resumed.iter().rev().skip(1).all(|u| !u.settled));
        assert!(resumed.last().unwrap().settled);

        // A fresh watch of a settled order sends its state and ends; a resume at the current
        // version has nothing to send and ends too.
        let fresh = drain(
            &env,
            &p,
            pb::WatchOrderRequest {
                order_id: order.id.clone(),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(fresh.len(), 1, "[{backend:?}] {fresh:?}");
        assert_eq!(fresh[0].change, "initial");
        assert_eq!(fresh[0].version, current);
        let caught_up = drain(
            &env,
            &p,
            pb::WatchOrderRequest {
                order_id: order.id.clone(),
                after_version: current,
                ..Default::default()
            },
        )
        .await;
        assert!(caught_up.is_empty(), "[{backend:?}] {caught_up:?}");

        // Asking to follow keeps the stream open after the settled update.
        let mut following = env
            .orders()
            .watch_order(env.req(
                pb::WatchOrderRequest {
                    order_id: order.id.clone(),
                    after_version: current - 1,
                    follow_after_settled: true,
                },
                &p,
            ))
            .await
            .unwrap()
            .into_inner();
        let last = following.message().await.unwrap().unwrap();
        assert!(last.settled);
        assert!(
            tokio::time::timeout(Duration::from_millis(300), following.message())
                .await
                .is_err(),
            "the stream stays open"
        );

        // Versions the order never had are refused, naming the field.
        for bad in [-1, current + 1] {
            let error = env
                .orders()
                .watch_order(env.req(
                    pb::WatchOrderRequest {
                        order_id: order.id.clone(),
                        after_version: bad,
                        ..Default::default()
                    },
                    &p,
                ))
                .await
                .map(|_| ())
                .expect_err("refused");
            assert_eq!(error.code(), Code::InvalidArgument, "{error:?}");
            assert!(
                error.message().contains("after_version")
                    || format!("{error:?}").contains("after_version")
            );
        }
        env.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_order_ends_at_the_callers_deadline() {
    for backend in backends().await {
        let env = Env::start(backend).await;
        let p = admin();
        let cart = env.cart_with(&p, DEMO_CUSTOMER, AUTOCAD, 1).await;
        let order = env.buy(&p, &cart.id, "deadline").await.unwrap();
        let mut request = env.req(
            pb::WatchOrderRequest {
                order_id: order.id.clone(),
                ..Default::default()
            },
            &p,
        );
        // Sent as plain metadata: this client does not enforce it, the server must.
        request
            .metadata_mut()
            .insert("grpc-timeout", "300m".parse().unwrap());
        let mut stream = env
            .orders()
            .watch_order(request)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stream.message().await.unwrap().unwrap().change, "initial");
        let end = tokio::time::timeout(Duration::from_secs(20), stream.message())
            .await
            .expect("the stream ends");
        let status = end.expect_err("an error status");
        assert_eq!(
            status.code(),
            Code::DeadlineExceeded,
            "[{backend:?}] {status:?}"
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
                    ..Default::default()
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
                    view: pb::OrderView::All as i32,
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
                    view: pb::OrderView::All as i32,
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
            view: pb::OrderView::All as i32,
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
