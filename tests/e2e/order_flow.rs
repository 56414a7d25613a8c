//! The foundation's proof: a reseller lists plans, creates a customer, orders one plan and
//! watches the order reach completion with an active subscription, and the notification
//! service records the "subscription ready" notification — in both modes.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use crate::harness::{Marketplace, Mode, modes, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_order_flows_end_to_end_in_every_mode() {
    let modes = modes().await;
    eprintln!("running the order flow in {modes:?}");
    for mode in modes {
        let marketplace = start(mode).await;
        order_one_plan(&marketplace, mode).await;
        marketplace.stop().await;
    }
}

async fn order_one_plan(m: &Marketplace, mode: Mode) {
    // 1. Browse: the seeded catalog answers a search.
    let plans = m.get("/v1/plans?query=AutoCAD").await;
    let plan = plans["plans"]
        .as_array()
        .and_then(|plans| {
            plans
                .iter()
                .find(|p| p["id"] == "plan-autodesk-autocad-annual")
        })
        .unwrap_or_else(|| panic!("{mode:?}: AutoCAD plan listed: {plans}"))
        .clone();
    assert_eq!(plan["vendorId"], "autodesk");

    // 2. A new customer.
    let customer = m
        .post(
            "/v1/customers",
            json!({
                "name": "Fabrikam Engineering",
                "contacts": [{"role": "CONTACT_ROLE_CONTRACT_MANAGER", "email": "cm@fabrikam.example", "firstName": "Frida", "lastName": "Berg"}],
                "address": {"line1": "1 Main St", "city": "Oslo", "postalCode": "0150", "countryCode": "NO"}
            }),
        )
        .await;
    let customer_id = customer["id"].as_str().expect("customer id").to_string();

    // 3. Cart with one line, then BUY.
    let cart = m
        .post(
            "/v1/carts",
            json!({"customerId": customer_id, "currencyCode": "USD"}),
        )
        .await;
    let cart_id = cart["id"].as_str().expect("cart id").to_string();
    m.post(
        &format!("/v1/carts/{cart_id}/lines"),
        json!({"planId": "plan-autodesk-autocad-annual", "quantity": 2}),
    )
    .await;
    let order = m
        .post(
            &format!("/v1/carts/{cart_id}:checkout"),
            json!({"requestId": uuid::Uuid::new_v4().to_string(), "acceptTerms": true}),
        )
        .await;
    let order_id = order["id"].as_str().expect("order id").to_string();
    assert!(
        !order["number"].as_str().unwrap_or_default().is_empty(),
        "order number returned: {order}"
    );

    // 4. Watch it over Server-Sent Events until it settles.
    let statuses = watch_until_settled(m, &order_id).await;
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("ORDER_STATUS_COMPLETED"),
        "{mode:?}: statuses seen {statuses:?}"
    );
    eprintln!("{mode:?}: order {order_id} went through {statuses:?}");

    // 5. The subscription is active.
    let subscriptions = m
        .eventually(
            &format!("/v1/subscriptions?customerId={customer_id}"),
            Duration::from_secs(20),
            |v| {
                v["subscriptions"].as_array().is_some_and(|s| {
                    s.iter()
                        .any(|s| s["status"] == "SUBSCRIPTION_STATUS_ACTIVE")
                })
            },
        )
        .await;
    let subscription = &subscriptions["subscriptions"][0];
    assert_eq!(subscription["quantity"], 2);
    assert!(
        !subscription["vendorSubscriptionId"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );

    // 6. Metrics saw the checkout RPC, the outbox relays and the consumers.
    let metrics_addr = m
        .running
        .as_ref()
        .and_then(|r| r.metrics)
        .expect("metrics endpoint");
    let metrics = m
        .http
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    for needle in [
        "grpc_server_requests_total{method=\"/marketplace.ordering.v1.CartService/CheckoutCart\",code=\"OK\"}",
        "outbox_published_total",
        "events_consumed_total{consumer=\"provisioning-from-ordering\"",
    ] {
        assert!(
            metrics.contains(needle),
            "{mode:?}: /metrics lacks {needle}"
        );
    }

    // 7. The notification service recorded "subscription ready".
    m.eventually("/v1/notifications", Duration::from_secs(20), |v| {
        v["notifications"].as_array().is_some_and(|n| {
            n.iter().any(|n| {
                n["kind"] == "NOTIFICATION_KIND_SUBSCRIPTION_READY"
                    && n["orderId"] == Value::String(order_id.clone())
            })
        })
    })
    .await;
}

/// Reads the order's SSE stream and returns the order statuses seen, until `settled`.
async fn watch_until_settled(m: &Marketplace, order_id: &str) -> Vec<String> {
    let response = m
        .http
        .get(format!("{}/v1/orders/{order_id}:watch", m.base))
        .bearer_auth(&m.token)
        .header("Accept", "text/event-stream")
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("watch request");
    assert!(
        response.status().is_success(),
        "watch -> {}",
        response.status()
    );
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut statuses: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, stream.next()).await {
        buffer.push_str(&String::from_utf8_lossy(&chunk.expect("stream chunk")));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let data: String = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim)
                .collect();
            if data.is_empty() {
                continue;
            }
            let update: Value = serde_json::from_str(&data)
                .unwrap_or_else(|e| panic!("SSE data is JSON ({e}): {data}"));
            let status = update["order"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if statuses.last() != Some(&status) {
                statuses.push(status);
            }
            if update["settled"] == true {
                return statuses;
            }
        }
    }
    panic!("order {order_id} did not settle; statuses seen {statuses:?}");
}
