//! Helpers of the seed-journey tests: calls as any principal, waiting on an effect, the
//! sandbox vendors' control endpoints.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::Marketplace;

/// How long a journey waits for an asynchronous effect before failing.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// Which sandbox vendor.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Vendor {
    Autodesk,
    Microsoft,
}

/// Polls `GET path` as `token` until `done` holds, failing after [`WAIT`].
pub(crate) async fn until(
    m: &Marketplace,
    token: &str,
    path: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, value) = m.call(Method::GET, path, token, None).await;
        if status.is_success() && done(&value) {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition on {path} not reached; last: {status} {value}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls an order until it has settled into `status`.
pub(crate) async fn order_reaches(m: &Marketplace, order_id: &str, status: &str) -> Value {
    until(m, &m.token, &format!("/v1/orders/{order_id}"), |o| {
        o["status"] == status
    })
    .await
}

/// A customer of the demo reseller with one Contract Manager (and Global Admin) contact.
pub(crate) async fn customer(m: &Marketplace, name: &str, email: &str) -> String {
    let body = json!({
        "name": name,
        "contacts": [
            {"role": "CONTACT_ROLE_CONTRACT_MANAGER", "email": email, "firstName": "Cora", "lastName": "Manager"},
        ],
        "address": {"line1": "1 Main St", "city": "Oslo", "postalCode": "0150", "countryCode": "NO"}
    });
    let created = m.post("/v1/customers", body).await;
    created["id"].as_str().expect("customer id").to_string()
}

/// A cart of `customer_id` with one line per `(plan id, quantity)`; returns the cart id.
pub(crate) async fn cart(m: &Marketplace, customer_id: &str, lines: &[(&str, i32)]) -> String {
    let cart = m
        .post(
            "/v1/carts",
            json!({"customerId": customer_id, "currencyCode": "USD"}),
        )
        .await;
    let cart_id = cart["id"].as_str().expect("cart id").to_string();
    for (plan, quantity) in lines {
        m.post(
            &format!("/v1/carts/{cart_id}/lines"),
            json!({"planId": plan, "quantity": quantity}),
        )
        .await;
    }
    cart_id
}

/// BUY: checks the cart out and returns the order id.
pub(crate) async fn buy(m: &Marketplace, cart_id: &str) -> String {
    let order = m
        .post(
            &format!("/v1/carts/{cart_id}:checkout"),
            json!({"requestId": uuid::Uuid::new_v4().to_string(), "acceptTerms": true}),
        )
        .await;
    order["id"].as_str().expect("order id").to_string()
}

/// The base URL of a sandbox vendor (its `/_sim` control endpoints).
pub(crate) fn sim(m: &Marketplace, vendor: Vendor) -> String {
    let (autodesk, microsoft) = m
        .running
        .as_ref()
        .and_then(|r| r.vendor_addrs)
        .expect("the sandbox vendors run in this process");
    match vendor {
        Vendor::Autodesk => format!("http://{autodesk}"),
        Vendor::Microsoft => format!("http://{microsoft}"),
    }
}

/// A call to a sandbox control endpoint, asserting success.
pub(crate) async fn sim_call(
    m: &Marketplace,
    vendor: Vendor,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = m.http.request(method, format!("{}{path}", sim(m, vendor)));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("sandbox reachable");
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "sandbox {path} -> {status}: {value}");
    value
}

/// The sandbox journal entries of `operation`, oldest first.
pub(crate) async fn journal(m: &Marketplace, vendor: Vendor, operation: &str) -> Vec<Value> {
    let journal = sim_call(m, vendor, Method::GET, "/_sim/journal", None).await;
    journal["requests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["operation"] == operation)
        .collect()
}

/// The item of an order at `index`.
pub(crate) fn item(order: &Value, index: usize) -> &Value {
    &order["items"][index]
}
