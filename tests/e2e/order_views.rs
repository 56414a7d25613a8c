//! Order views as seed 004 reads them, through the gateway in both modes: recent orders include
//! STARTED carts and DELETED ones (and a checked-out cart is that same order, exactly once
//! across the views); the list opens on RECENT; "created by" is user and organization on every
//! order type; markup changes are orders that customer roles never see.

use std::collections::BTreeSet;
use std::time::Duration;

use marketplace_proto::ordering::v1 as pb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tonic_types::StatusExt;

use crate::harness::{Marketplace, Mode, modes, start};

const AUTOCAD: &str = "plan-autodesk-autocad-annual";
const RESELLER: &str = "reseller-demo";

/// A new customer of the demo reseller with an Autodesk contract manager; returns its id.
async fn customer(m: &Marketplace, name: &str) -> String {
    let created = m
        .post(
            "/v1/customers",
            json!({
                "name": name,
                "contacts": [{"role": "CONTACT_ROLE_CONTRACT_MANAGER", "email": "cm@views.example", "firstName": "Vera", "lastName": "View"}],
                "address": {"line1": "1 Main St", "city": "Oslo", "postalCode": "0150", "countryCode": "NO"}
            }),
        )
        .await;
    created["id"].as_str().expect("customer id").to_string()
}

/// A cart of `customer_id` with one AutoCAD line; returns (cart id, line id).
async fn cart_with_line(m: &Marketplace, customer_id: &str, quantity: i32) -> (String, String) {
    let cart = m
        .post(
            "/v1/carts",
            json!({"customerId": customer_id, "currencyCode": "USD"}),
        )
        .await;
    let cart_id = cart["id"].as_str().expect("cart id").to_string();
    let cart = m
        .post(
            &format!("/v1/carts/{cart_id}/lines"),
            json!({"planId": AUTOCAD, "quantity": quantity}),
        )
        .await;
    let line_id = cart["lines"][0]["id"]
        .as_str()
        .expect("line id")
        .to_string();
    (cart_id, line_id)
}

/// Buys a cart; returns the order.
async fn buy(m: &Marketplace, cart_id: &str) -> Value {
    m.post(
        &format!("/v1/carts/{cart_id}:checkout"),
        json!({"requestId": uuid::Uuid::new_v4().to_string(), "acceptTerms": true}),
    )
    .await
}

/// Waits until the order is COMPLETED (sandbox vendors answer at once).
async fn completed(m: &Marketplace, order_id: &str) -> Value {
    m.eventually(
        &format!("/v1/orders/{order_id}"),
        Duration::from_secs(30),
        |o| o["status"] == "ORDER_STATUS_COMPLETED",
    )
    .await
}

fn orders(page: &Value) -> Vec<Value> {
    page["orders"].as_array().cloned().unwrap_or_default()
}

/// Every order of a view, one page of `page_size` at a time (`query` without paging).
async fn walk(m: &Marketplace, token: &str, query: &str, page_size: usize) -> Vec<Value> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let mut path = format!("/v1/orders?pageSize={page_size}&pageToken={page_token}");
        if !query.is_empty() {
            path.push('&');
            path.push_str(query);
        }
        let (status, page) = m.call(Method::GET, &path, token, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {page}");
        let got = orders(&page);
        assert!(got.len() <= page_size, "page larger than asked: {page}");
        all.extend(got);
        page_token = page["nextPageToken"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if page_token.is_empty() {
            return all;
        }
    }
}

fn ids(orders: &[Value]) -> Vec<String> {
    orders
        .iter()
        .map(|o| o["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn find<'a>(orders: &'a [Value], id: &str) -> Option<&'a Value> {
    orders.iter().find(|o| o["id"] == id)
}

/// A gRPC request through the gateway with `token`.
fn grpc_request<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("metadata"),
    );
    request
}

async fn grpc_orders(
    m: &Marketplace,
) -> pb::order_service_client::OrderServiceClient<tonic::transport::Channel> {
    let addr = m
        .running
        .as_ref()
        .and_then(|r| r.gateway_grpc)
        .expect("gateway gRPC");
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("gateway gRPC connects");
    pb::order_service_client::OrderServiceClient::new(channel)
}

/// Asserts an INVALID_ARGUMENT whose BadRequest names `field`.
fn names_field(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let bad = status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("BadRequest details: {status:?}"));
    assert!(
        bad.field_violations.iter().any(|v| v.field == field),
        "violation names {field}: {bad:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recent_orders_include_started_and_deleted_carts_each_order_once() {
    for mode in modes().await {
        let m = start(mode).await;
        started_and_deleted(&m, mode).await;
        m.stop().await;
    }
}

async fn started_and_deleted(m: &Marketplace, mode: Mode) {
    let customer_id = customer(m, "Started Views AS").await;

    // A cart with a customer chosen is a STARTED order in the recent view, with its lines.
    let (started_cart, started_line) = cart_with_line(m, &customer_id, 3).await;
    let recent = walk(m, &m.token, "view=ORDER_VIEW_RECENT", 50).await;
    let started = recent
        .iter()
        .find(|o| o["cartId"] == started_cart.as_str())
        .unwrap_or_else(|| panic!("{mode:?}: the open cart is a recent order: {recent:?}"))
        .clone();
    let started_id = started["id"].as_str().expect("order id").to_string();
    assert_eq!(started["status"], "ORDER_STATUS_STARTED", "{started}");
    assert_eq!(started["view"], "ORDER_VIEW_RECENT");
    assert_eq!(started["customerId"], customer_id.as_str());
    assert_eq!(started["customerName"], "Started Views AS");
    assert_eq!(started["items"][0]["planId"], AUTOCAD);
    assert_eq!(started["items"][0]["id"], started_line.as_str());
    assert_eq!(started["items"][0]["quantity"], 3);
    assert!(!started["number"].as_str().unwrap_or_default().is_empty());
    // Priced with the cart's live prices (as the cart shows them).
    let cart = m.get(&format!("/v1/carts/{started_cart}")).await;
    let unit = cart["lines"][0]["price"]["unitPrice"].clone();
    assert!(
        unit["amountMinor"].is_string(),
        "{mode:?}: cart priced: {cart}"
    );
    assert_eq!(started["items"][0]["price"]["unitPrice"], unit, "{started}");
    assert_eq!(
        started["totalPrice"], started["items"][0]["price"]["totalPrice"],
        "{mode:?}: {started}"
    );
    // The detail answers too, and follows the cart's changes.
    let (status, _) = m
        .call(
            Method::PATCH,
            &format!("/v1/carts/{started_cart}/lines/{started_line}"),
            &m.token,
            Some(json!({"quantity": 4})),
        )
        .await;
    assert!(status.is_success(), "{mode:?}: update line: {status}");
    let detail = m.get(&format!("/v1/orders/{started_id}")).await;
    assert_eq!(detail["status"], "ORDER_STATUS_STARTED");
    assert_eq!(detail["items"][0]["quantity"], 4, "{detail}");
    let cart = m.get(&format!("/v1/carts/{started_cart}")).await;
    assert_eq!(
        detail["items"][0]["price"]["totalPrice"], cart["lines"][0]["price"]["totalPrice"],
        "{mode:?}: repriced for 4 seats: {detail} vs {cart}"
    );
    assert_eq!(
        detail["totalPrice"],
        cart["lines"][0]["price"]["totalPrice"]
    );

    // A cart without a customer is no order yet; choosing the customer starts it.
    let cart = m.post("/v1/carts", json!({"currencyCode": "USD"})).await;
    let later_cart = cart["id"].as_str().expect("cart id").to_string();
    m.post(
        &format!("/v1/carts/{later_cart}/lines"),
        json!({"planId": AUTOCAD, "quantity": 1}),
    )
    .await;
    let recent = walk(m, &m.token, "view=ORDER_VIEW_ALL", 50).await;
    assert!(
        recent.iter().all(|o| o["cartId"] != later_cart.as_str()),
        "{mode:?}: no customer, no order"
    );
    let (status, body) = m
        .call(
            Method::PATCH,
            &format!("/v1/carts/{later_cart}?updateMask=customer_id"),
            &m.token,
            Some(json!({"customerId": customer_id})),
        )
        .await;
    assert!(
        status.is_success(),
        "{mode:?}: choose customer: {status} {body}"
    );
    let recent = walk(m, &m.token, "view=ORDER_VIEW_RECENT", 50).await;
    let later = recent
        .iter()
        .find(|o| o["cartId"] == later_cart.as_str())
        .unwrap_or_else(|| panic!("{mode:?}: customer chosen, order started: {recent:?}"));
    assert_eq!(later["status"], "ORDER_STATUS_STARTED");
    assert_eq!(
        later["id"], body["orderId"],
        "{mode:?}: the cart names its order"
    );

    // A discarded cart is a DELETED order, still in the recent view, its lines kept.
    let (deleted_cart, _) = cart_with_line(m, &customer_id, 1).await;
    let (status, body) = m
        .call(
            Method::DELETE,
            &format!("/v1/carts/{deleted_cart}"),
            &m.token,
            None,
        )
        .await;
    assert!(
        status.is_success(),
        "{mode:?}: discard cart: {status} {body}"
    );
    let recent = walk(m, &m.token, "view=ORDER_VIEW_RECENT", 50).await;
    let deleted = recent
        .iter()
        .find(|o| o["cartId"] == deleted_cart.as_str())
        .unwrap_or_else(|| panic!("{mode:?}: the discarded cart is a recent order: {recent:?}"))
        .clone();
    let deleted_id = deleted["id"].as_str().expect("id").to_string();
    assert_eq!(deleted["status"], "ORDER_STATUS_DELETED", "{deleted}");
    assert_eq!(deleted["items"][0]["planId"], AUTOCAD);
    assert_eq!(deleted["items"][0]["status"], "ORDER_ITEM_STATUS_DELETED");

    // Checkout turns the STARTED order into the purchase: same id and number, never two orders.
    let bought = buy(m, &started_cart).await;
    assert_eq!(bought["id"], started_id.as_str(), "{mode:?}: {bought}");
    assert_eq!(bought["number"], started["number"]);
    let done = completed(m, &started_id).await;
    assert_eq!(done["items"][0]["id"], started_line.as_str());
    assert_eq!(done["items"][0]["quantity"], 4);

    // Walking every view page by page meets each order exactly once.
    let recent = walk(m, &m.token, "view=ORDER_VIEW_RECENT", 1).await;
    let historical = walk(m, &m.token, "view=ORDER_VIEW_HISTORICAL", 1).await;
    let all = walk(m, &m.token, "view=ORDER_VIEW_ALL", 2).await;
    let mut seen = ids(&recent);
    seen.extend(ids(&historical));
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "{mode:?}: an order twice: {seen:?}"
    );
    let all_ids: BTreeSet<String> = ids(&all).into_iter().collect();
    assert_eq!(
        all_ids.len(),
        all.len(),
        "{mode:?}: ALL lists an order twice"
    );
    assert_eq!(
        unique.into_iter().cloned().collect::<BTreeSet<_>>(),
        all_ids,
        "{mode:?}: recent + historical = all"
    );
    assert!(find(&recent, &deleted_id).is_some());
    assert!(find(&recent, &started_id).is_none());
    assert_eq!(
        find(&historical, &started_id).map(|o| o["status"].clone()),
        Some(json!("ORDER_STATUS_COMPLETED"))
    );
    assert_eq!(
        all.iter()
            .filter(|o| o["cartId"] == started_cart.as_str())
            .count(),
        1,
        "{mode:?}: one order per cart"
    );

    // The customer sees its STARTED and DELETED orders too.
    let (_, open_cart_line) = cart_with_line(m, &customer_id, 2).await;
    let customer_token = m.token_for("customer_admin", Some(RESELLER), Some(&customer_id));
    let theirs = walk(m, &customer_token, "view=ORDER_VIEW_RECENT", 50).await;
    assert!(
        theirs.iter().any(|o| o["status"] == "ORDER_STATUS_STARTED"
            && o["items"][0]["id"] == open_cart_line.as_str()),
        "{mode:?}: customer sees the started order: {theirs:?}"
    );
    assert!(find(&theirs, &deleted_id).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_order_list_opens_on_recent_orders() {
    for mode in modes().await {
        let m = start(mode).await;
        opens_on_recent(&m, mode).await;
        m.stop().await;
    }
}

async fn opens_on_recent(m: &Marketplace, mode: Mode) {
    let customer_id = customer(m, "Recent First GmbH").await;
    let (cart, _) = cart_with_line(m, &customer_id, 1).await;
    let order = buy(m, &cart).await;
    let order_id = order["id"].as_str().expect("id").to_string();
    completed(m, &order_id).await;
    let (open_cart, _) = cart_with_line(m, &customer_id, 1).await;

    // REST: no view = RECENT; ALL and HISTORICAL still reach the completed order.
    let default = walk(m, &m.token, "", 50).await;
    assert!(
        default.iter().all(|o| o["view"] == "ORDER_VIEW_RECENT"),
        "{mode:?}: {default:?}"
    );
    assert!(find(&default, &order_id).is_none());
    assert!(default.iter().any(|o| o["cartId"] == open_cart.as_str()));
    let all = walk(m, &m.token, "view=ORDER_VIEW_ALL", 50).await;
    assert!(find(&all, &order_id).is_some());
    assert!(all.iter().any(|o| o["cartId"] == open_cart.as_str()));
    let historical = walk(m, &m.token, "view=ORDER_VIEW_HISTORICAL", 50).await;
    assert!(find(&historical, &order_id).is_some());

    // gRPC: the same default.
    let mut client = grpc_orders(m).await;
    let listed = client
        .list_orders(grpc_request(
            pb::ListOrdersRequest {
                page_size: 50,
                ..Default::default()
            },
            &m.token,
        ))
        .await
        .expect("list over gRPC")
        .into_inner();
    assert!(!listed.orders.is_empty());
    assert!(
        listed
            .orders
            .iter()
            .all(|o| o.view == pb::OrderView::Recent as i32)
    );
    assert!(listed.orders.iter().all(|o| o.id != order_id));
    let listed = client
        .list_orders(grpc_request(
            pb::ListOrdersRequest {
                page_size: 50,
                view: pb::OrderView::All as i32,
                ..Default::default()
            },
            &m.token,
        ))
        .await
        .expect("list ALL over gRPC")
        .into_inner();
    assert!(listed.orders.iter().any(|o| o.id == order_id));

    // Bad input names the field: gRPC INVALID_ARGUMENT, REST 400 problem+json.
    let status = client
        .list_orders(grpc_request(
            pb::ListOrdersRequest {
                view: 42,
                ..Default::default()
            },
            &m.token,
        ))
        .await
        .expect_err("unknown view refused");
    names_field(&status, "view");
    let (status, problem) = m
        .call(Method::GET, "/v1/orders?view=42", &m.token, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{mode:?}: {problem}");
    assert!(
        problem["errors"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["field"] == "view")),
        "{mode:?}: {problem}"
    );

    // The served OpenAPI document knows the ALL view.
    let openapi = m.get("/openapi.json").await.to_string();
    assert!(
        openapi.contains("ORDER_VIEW_ALL"),
        "OpenAPI lists ORDER_VIEW_ALL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn created_by_is_user_and_organization_on_every_order_type() {
    for mode in modes().await {
        let m = start(mode).await;
        created_by(&m, mode).await;
        m.stop().await;
    }
}

async fn created_by(m: &Marketplace, mode: Mode) {
    let reseller = m.get(&format!("/v1/resellers/{RESELLER}")).await;
    let reseller_name = reseller["name"]
        .as_str()
        .expect("reseller name")
        .to_string();
    assert!(!reseller_name.is_empty());
    let customer_id = customer(m, "Creator Check Oy").await;
    let (cart, _) = cart_with_line(m, &customer_id, 2).await;
    let order = buy(m, &cart).await;
    let order_id = order["id"].as_str().expect("id").to_string();
    assert_eq!(
        order["createdBy"]["organizationName"],
        reseller_name.as_str()
    );
    assert_eq!(order["createdBy"]["organizationId"], RESELLER);
    completed(m, &order_id).await;
    let subscriptions = m
        .eventually(
            &format!("/v1/subscriptions?customerId={customer_id}"),
            Duration::from_secs(30),
            |v| {
                v["subscriptions"].as_array().is_some_and(|s| {
                    s.iter()
                        .any(|s| s["status"] == "SUBSCRIPTION_STATUS_ACTIVE")
                })
            },
        )
        .await;
    let subscription_id = subscriptions["subscriptions"][0]["id"]
        .as_str()
        .expect("subscription id")
        .to_string();

    // A seat change by the reseller: user and the reseller's organization.
    let change = m
        .post(
            &format!("/v1/subscriptions/{subscription_id}:changeSeats"),
            json!({"quantity": 3, "requestId": uuid::Uuid::new_v4().to_string()}),
        )
        .await;
    let change_id = change["id"].as_str().expect("order id").to_string();
    for shown in [
        change.clone(),
        m.get(&format!("/v1/orders/{change_id}")).await,
    ] {
        assert_eq!(
            shown["createdBy"]["userId"], "e2e-reseller-admin",
            "{shown}"
        );
        assert_eq!(
            shown["createdBy"]["organizationName"],
            reseller_name.as_str(),
            "{mode:?}: {shown}"
        );
        assert_eq!(shown["createdBy"]["organizationId"], RESELLER);
    }
    completed(m, &change_id).await;

    // A seat change by a customer admin: user and the customer's organization.
    let customer_token = m.token_for("customer_admin", Some(RESELLER), Some(&customer_id));
    let (status, change) = m
        .call(
            Method::POST,
            &format!("/v1/subscriptions/{subscription_id}:changeSeats"),
            &customer_token,
            Some(json!({"quantity": 4, "requestId": uuid::Uuid::new_v4().to_string()})),
        )
        .await;
    assert!(
        status.is_success(),
        "{mode:?}: customer seat change: {status} {change}"
    );
    assert_eq!(change["createdBy"]["userId"], "e2e-customer_admin");
    assert_eq!(
        change["createdBy"]["organizationName"], "Creator Check Oy",
        "{mode:?}: {change}"
    );
    assert_eq!(change["createdBy"]["organizationId"], customer_id.as_str());
    let change_id = change["id"].as_str().expect("order id").to_string();
    completed(m, &change_id).await;

    // Auto-renew off by the reseller: the same.
    let (status, renew) = m
        .call(
            Method::POST,
            &format!("/v1/subscriptions/{subscription_id}:setAutoRenew"),
            &m.token,
            Some(json!({"autoRenew": false, "requestId": uuid::Uuid::new_v4().to_string()})),
        )
        .await;
    if status.is_success() {
        assert_eq!(
            renew["createdBy"]["organizationName"],
            reseller_name.as_str(),
            "{mode:?}: {renew}"
        );
    } else {
        // Autodesk refuses auto-renew off while licenses are assigned or too close to term
        // end; the rule, not the creator, decides here.
        assert!(status.is_client_error(), "{mode:?}: {status} {renew}");
    }

    // In every listing, no order lacks its organization.
    let all = walk(m, &m.token, "view=ORDER_VIEW_ALL", 50).await;
    for o in all
        .iter()
        .filter(|o| o["customerId"] == customer_id.as_str())
    {
        assert!(
            !o["createdBy"]["organizationName"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "{mode:?}: created by without organization: {o}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn markup_changes_are_orders_customer_roles_never_see() {
    for mode in modes().await {
        let m = start(mode).await;
        markup_orders(&m, mode).await;
        m.stop().await;
    }
}

fn is_markup_order(o: &Value) -> bool {
    o["requestedChanges"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c == "CHANGE_TYPE_MARKUP_CHANGE"))
}

async fn markup_orders(m: &Marketplace, mode: Mode) {
    let reseller = m.get(&format!("/v1/resellers/{RESELLER}")).await;
    let reseller_name = reseller["name"]
        .as_str()
        .expect("reseller name")
        .to_string();
    let customer_id = customer(m, "Markup Watch AB").await;
    let (cart, _) = cart_with_line(m, &customer_id, 2).await;
    let bought = buy(m, &cart).await;
    let bought_id = bought["id"].as_str().expect("id").to_string();
    completed(m, &bought_id).await;
    let subscription = m
        .eventually(
            &format!("/v1/subscriptions?customerId={customer_id}"),
            Duration::from_secs(30),
            |v| {
                v["subscriptions"].as_array().is_some_and(|s| {
                    s.iter()
                        .any(|s| s["status"] == "SUBSCRIPTION_STATUS_ACTIVE")
                })
            },
        )
        .await["subscriptions"][0]
        .clone();
    let subscription_id = subscription["id"].as_str().expect("id").to_string();
    let old_markup = subscription["price"]["unitMarkup"]["amountMinor"].clone();

    // The reseller admin sets a plan markup that reprices the customer's AutoCAD seats.
    let (status, markup) = m
        .call(
            Method::PUT,
            &format!("/v1/resellers/{RESELLER}/markups"),
            &m.token,
            Some(json!({"planId": AUTOCAD, "kind": "MARKUP_KIND_PERCENTAGE", "basisPoints": 3737})),
        )
        .await;
    assert!(
        status.is_success(),
        "{mode:?}: set markup: {status} {markup}"
    );

    // A markup-change order appears for the reseller: completed, one markup line per repriced
    // subscription, created by the user and the reseller organization.
    let listed = m
        .eventually(
            &format!("/v1/orders?view=ORDER_VIEW_ALL&customerId={customer_id}&pageSize=50"),
            Duration::from_secs(30),
            |v| {
                orders(v)
                    .iter()
                    .any(|o| is_markup_order(o) && o["status"] == "ORDER_STATUS_COMPLETED")
            },
        )
        .await;
    let order = orders(&listed)
        .into_iter()
        .find(is_markup_order)
        .expect("markup order");
    let order_id = order["id"].as_str().expect("id").to_string();
    assert_eq!(order["view"], "ORDER_VIEW_HISTORICAL");
    assert_eq!(
        order["items"][0]["change"], "CHANGE_TYPE_MARKUP_CHANGE",
        "{order}"
    );
    assert_eq!(order["items"][0]["markupOnly"], true);
    assert_eq!(
        order["items"][0]["subscriptionId"],
        subscription_id.as_str()
    );
    assert_eq!(order["items"][0]["quantity"], 2);
    assert_eq!(order["createdBy"]["userId"], "e2e-reseller-admin");
    assert_eq!(
        order["createdBy"]["organizationName"],
        reseller_name.as_str()
    );
    assert_ne!(
        order["items"][0]["price"]["unitMarkup"]["amountMinor"], old_markup,
        "{mode:?}: priced at the new markup: {order}"
    );
    // The subscription now carries the new markup.
    let after = m.get(&format!("/v1/subscriptions/{subscription_id}")).await;
    assert_eq!(
        after["price"]["unitMarkup"], order["items"][0]["price"]["unitMarkup"],
        "{mode:?}: {after}"
    );

    // Deleting the markup reprices again: a second markup order, the old markup back.
    let markup_id = markup["id"].as_str().expect("markup id").to_string();
    let (status, body) = m
        .call(
            Method::DELETE,
            &format!("/v1/resellers/{RESELLER}/markups/{markup_id}"),
            &m.token,
            None,
        )
        .await;
    assert!(
        status.is_success(),
        "{mode:?}: delete markup: {status} {body}"
    );
    let listed = m
        .eventually(
            &format!("/v1/orders?view=ORDER_VIEW_ALL&customerId={customer_id}&pageSize=50"),
            Duration::from_secs(30),
            |v| {
                orders(v)
                    .iter()
                    .filter(|o| is_markup_order(o) && o["status"] == "ORDER_STATUS_COMPLETED")
                    .count()
                    == 2
            },
        )
        .await;
    let second = orders(&listed)
        .into_iter()
        .find(|o| is_markup_order(o) && o["id"] != order_id.as_str())
        .expect("second markup order");
    assert_eq!(
        second["items"][0]["price"]["unitMarkup"]["amountMinor"], old_markup,
        "{mode:?}: back to the markup before: {second}"
    );
    let second_id = second["id"].as_str().expect("id").to_string();

    // Staff see it too.
    let staff = m.token_for("staff", None, None);
    let (status, seen) = m
        .call(Method::GET, &format!("/v1/orders/{order_id}"), &staff, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{mode:?}: staff get: {seen}");
    let staff_list = walk(
        m,
        &staff,
        &format!("view=ORDER_VIEW_ALL&resellerId={RESELLER}&customerId={customer_id}"),
        50,
    )
    .await;
    assert!(
        find(&staff_list, &order_id).is_some(),
        "{mode:?}: staff list"
    );

    // Customer roles never see it: not in any view, not by id (REST and gRPC).
    let mut client = grpc_orders(m).await;
    for role in ["customer_admin", "customer_user"] {
        let token = m.token_for(role, Some(RESELLER), Some(&customer_id));
        for view in ["", "view=ORDER_VIEW_ALL", "view=ORDER_VIEW_HISTORICAL"] {
            let theirs = walk(m, &token, view, 50).await;
            assert!(
                theirs
                    .iter()
                    .all(|o| !is_markup_order(o) && o["id"] != order_id.as_str()),
                "{mode:?}: {role} sees a markup order in {view:?}: {theirs:?}"
            );
            assert!(
                view.is_empty() || find(&theirs, &bought_id).is_some(),
                "{mode:?}: {role} still sees its purchase"
            );
        }
        for hidden in [&order_id, &second_id] {
            let (status, body) = m
                .call(Method::GET, &format!("/v1/orders/{hidden}"), &token, None)
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{mode:?}: {role}: {body}");
        }
        let status = client
            .get_order(grpc_request(
                pb::GetOrderRequest {
                    order_id: order_id.clone(),
                },
                &token,
            ))
            .await
            .expect_err("hidden over gRPC");
        assert_eq!(status.code(), tonic::Code::NotFound, "{mode:?}: {role}");
    }
}
