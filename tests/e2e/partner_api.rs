//! The partner-facing API as an integrating system reads it (issue 16, points 7, 8 and 9), in
//! both modes:
//! - webhook payloads name their event one way (`type`, filters, delivery log and the served
//!   OpenAPI `webhooks` all use the dotted names; `data` holds the event's fields directly);
//! - an API key works as `X-Api-Key` and as `Authorization: Bearer mk_…`, on REST and gRPC;
//! - REST lists always carry their array (`{"orders": []}`), timestamps end in `Z`, and the
//!   served OpenAPI document says so.

use std::time::Duration;

use marketplace_proto::ordering::v1 as pb;
use marketplace_proto::ordering::v1::order_service_client::OrderServiceClient;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::harness::{Marketplace, Mode, modes, start};
use crate::streams::{grpc_channel, place_order};

/// One webhook request as received: lower-case header names and the JSON body.
#[derive(Debug)]
struct Received {
    headers: Vec<(String, String)>,
    body: Value,
}

/// A minimal HTTP/1.1 receiver on loopback that answers 204 to every POST.
async fn webhook_receiver() -> (String, mpsc::UnboundedReceiver<Received>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                loop {
                    let mut chunk = [0u8; 8192];
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    let Some(split) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buffer[..split]).to_string();
                    let headers: Vec<(String, String)> = head
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                        .collect();
                    let length: usize = headers
                        .iter()
                        .find(|(k, _)| k == "content-length")
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0);
                    let body_start = split + 4;
                    if buffer.len() < body_start + length {
                        continue;
                    }
                    let body = serde_json::from_slice(&buffer[body_start..body_start + length])
                        .unwrap_or(Value::Null);
                    buffer.drain(..body_start + length);
                    let _ = tx.send(Received { headers, body });
                    if socket
                        .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (url, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_payloads_use_one_event_type_vocabulary_in_every_mode() {
    for mode in modes().await {
        let m = start(mode).await;
        webhooks_one_vocabulary(&m, mode).await;
        m.stop().await;
    }
}

async fn webhooks_one_vocabulary(m: &Marketplace, mode: Mode) {
    // The served OpenAPI document lists the types; filters must use exactly those names.
    let openapi = m.get("/openapi.json").await;
    let documented: Vec<String> = openapi["webhooks"]
        .as_object()
        .expect("OpenAPI webhooks section")
        .keys()
        .cloned()
        .collect();
    for name in [
        "order.status_changed",
        "order.completed",
        "order_item.status_changed",
    ] {
        assert!(
            documented.iter().any(|d| d == name),
            "{mode:?}: {name} documented"
        );
    }
    let (status, problem) = m
        .call(
            reqwest::Method::POST,
            "/v1/webhookEndpoints",
            &m.token,
            Some(
                json!({"url": "http://127.0.0.1:9/hooks", "eventTypes": ["order_status_changed"]}),
            ),
        )
        .await;
    assert_eq!(
        status, 400,
        "{mode:?}: the bus name is not a public type: {problem}"
    );
    assert_eq!(
        problem["errors"][0]["field"], "endpoint.event_types[0]",
        "{mode:?}: {problem}"
    );

    let (url, mut received) = webhook_receiver().await;
    let filter = ["order.status_changed", "order.completed"];
    let created = m
        .post(
            "/v1/webhookEndpoints",
            json!({"url": url, "description": "e2e", "eventTypes": filter}),
        )
        .await;
    let endpoint_id = created["endpoint"]["id"]
        .as_str()
        .expect("endpoint id")
        .to_string();
    assert_eq!(created["endpoint"]["eventTypes"], json!(filter));

    let order_id = place_order(m).await;
    let mut types = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !types.iter().any(|t| t == "order.completed") {
        let hook = tokio::time::timeout_at(deadline, received.recv())
            .await
            .unwrap_or_else(|_| panic!("{mode:?}: order.completed delivered; got {types:?}"))
            .expect("receiver runs");
        let header = |name: &str| {
            hook.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert!(header("webhook-signature").starts_with("v1,"), "{hook:?}");
        let body = &hook.body;
        let event_type = body["type"].as_str().expect("type").to_string();
        assert!(
            filter.contains(&event_type.as_str()),
            "{mode:?}: only filtered types arrive: {body}"
        );
        let data = body["data"].as_object().expect("data object");
        assert_eq!(
            data["eventId"].as_str(),
            Some(header("webhook-id").as_str())
        );
        assert_eq!(data["resellerId"], "reseller-demo", "{body}");
        if data["orderId"] != Value::String(order_id.clone()) {
            continue;
        }
        // One name: the payload's fields are in `data` itself, not under the bus name.
        assert!(
            data.keys().all(|k| !k.contains('_')),
            "{mode:?}: no snake_case keys in data: {body}"
        );
        assert!(data.contains_key("toStatus"), "{body}");
        assert!(
            body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{body}"
        );
        types.push(event_type);
    }

    // The delivery log names the deliveries the same way.
    let log = m
        .eventually(
            &format!("/v1/webhookEndpoints/{endpoint_id}/deliveries"),
            Duration::from_secs(30),
            |v| {
                v["deliveries"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|d| d["eventType"] == "order.completed"))
            },
        )
        .await;
    for delivery in log["deliveries"].as_array().unwrap() {
        let t = delivery["eventType"].as_str().unwrap_or_default();
        assert!(filter.contains(&t), "{mode:?}: {delivery}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_keys_work_as_x_api_key_and_as_bearer_in_every_mode() {
    for mode in modes().await {
        let m = start(mode).await;
        api_keys_both_ways(&m, mode).await;
        m.stop().await;
    }
}

async fn api_keys_both_ways(m: &Marketplace, mode: Mode) {
    let created = m
        .post(
            "/v1/apiKeys",
            json!({"name": "erp", "role": "ROLE_RESELLER_USER"}),
        )
        .await;
    let secret = created["secret"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("mk_"));
    let order_id = place_order(m).await;
    let path = format!("/v1/orders/{order_id}");

    // REST: both header forms authenticate as the key.
    for (name, request) in [
        (
            "X-Api-Key",
            m.http
                .get(format!("{}{path}", m.base))
                .header("X-Api-Key", &secret),
        ),
        (
            "Authorization: Bearer",
            m.http.get(format!("{}{path}", m.base)).bearer_auth(&secret),
        ),
    ] {
        let response = request.send().await.expect("request");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "{mode:?} {name}: {body}");
        assert_eq!(body["id"], Value::String(order_id.clone()));
    }
    // A bearer credential with the key prefix is checked as a key (not as a JWT).
    let response = m
        .http
        .get(format!("{}{path}", m.base))
        .bearer_auth("mk_unknown")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401, "{mode:?}");

    // gRPC through the gateway: both metadata forms.
    let mut client = OrderServiceClient::new(grpc_channel(m));
    for (key, value) in [
        ("x-api-key", secret.clone()),
        ("authorization", format!("Bearer {secret}")),
    ] {
        let mut request = tonic::Request::new(pb::GetOrderRequest {
            order_id: order_id.clone(),
        });
        request
            .metadata_mut()
            .insert(key, value.parse().expect("metadata"));
        let order = client
            .get_order(request)
            .await
            .unwrap_or_else(|s| panic!("{mode:?} {key}: {s:?}"))
            .into_inner();
        assert_eq!(order.id, order_id);
    }

    // The served OpenAPI document says so.
    let openapi = m.get("/openapi.json").await;
    let schemes = &openapi["components"]["securitySchemes"];
    assert!(
        schemes["bearerAuth"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("mk_")),
        "{schemes}"
    );
    assert!(
        schemes["apiKey"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("Bearer mk_")),
        "{schemes}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rest_lists_carry_their_array_and_timestamps_end_in_z_in_every_mode() {
    for mode in modes().await {
        let m = start(mode).await;
        lists_and_timestamps(&m, mode).await;
        m.stop().await;
    }
}

async fn lists_and_timestamps(m: &Marketplace, mode: Mode) {
    // A customer without orders: the list answers its array, empty.
    let customer = m
        .post(
            "/v1/customers",
            json!({
                "name": "Empty Lists Ltd",
                "contacts": [{"role": "CONTACT_ROLE_CONTRACT_MANAGER", "email": "cm@empty.example", "firstName": "E", "lastName": "L"}],
                "address": {"line1": "1 Main St", "city": "Oslo", "postalCode": "0150", "countryCode": "NO"}
            }),
        )
        .await;
    let customer_id = customer["id"].as_str().expect("id").to_string();
    let orders = m.get(&format!("/v1/orders?customerId={customer_id}")).await;
    assert_eq!(orders["orders"], json!([]), "{mode:?}: {orders}");
    let subscriptions = m
        .get(&format!("/v1/subscriptions?customerId={customer_id}"))
        .await;
    assert_eq!(
        subscriptions["subscriptions"],
        json!([]),
        "{mode:?}: {subscriptions}"
    );

    // Timestamps are RFC 3339 in UTC with `Z`.
    let create_time = customer["createTime"].as_str().expect("createTime");
    assert!(create_time.ends_with('Z'), "{mode:?}: {create_time}");
    assert_eq!(create_time.as_bytes().get(10), Some(&b'T'), "{create_time}");
    let order_id = place_order(m).await;
    let order = m.get(&format!("/v1/orders/{order_id}")).await;
    for field in ["createTime", "updateTime"] {
        assert!(
            order[field].as_str().is_some_and(|t| t.ends_with('Z')),
            "{mode:?}: order {field}: {order}"
        );
    }
    let listed = m.get("/v1/orders").await;
    for o in listed["orders"].as_array().expect("orders") {
        assert!(
            o["createTime"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{o}"
        );
    }

    // The served OpenAPI document reflects both.
    let openapi = m.get("/openapi.json").await;
    let schemas = &openapi["components"]["schemas"];
    let list = &schemas["marketplace.ordering.v1.ListOrdersResponse"];
    assert!(
        list["required"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("orders"))),
        "{mode:?}: {list}"
    );
    let created = &schemas["marketplace.ordering.v1.Order"]["properties"]["createTime"];
    assert_eq!(created["format"], "date-time", "{created}");
    assert_eq!(created["pattern"], "Z$", "{created}");
}
