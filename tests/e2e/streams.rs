//! Live order status over the public API (issue 16, points 5 and 6), in both modes:
//! - resume means resume: a WatchOrder (gRPC, through the gateway) and an SSE watch dropped
//!   mid-order and resumed with the last version seen receive every missed transition exactly
//!   once, in order, then follow live;
//! - streams end: once the order is settled the stream ends cleanly (gRPC OK, SSE closed) unless
//!   the caller asks to keep following; a `grpc-timeout` ends a stream with DEADLINE_EXCEEDED
//!   even when the client does not enforce it.

use std::time::Duration;

use futures::StreamExt;
use marketplace_proto::ordering::v1 as pb;
use marketplace_proto::ordering::v1::order_service_client::OrderServiceClient;
use serde_json::{Value, json};
use tonic::transport::Channel;

use crate::harness::{Marketplace, Mode, modes, start};

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub(crate) struct SseEvent {
    pub(crate) id: Option<String>,
    pub(crate) event: String,
    pub(crate) data: String,
}

/// Reads Server-Sent Events off a response.
pub(crate) struct SseReader {
    stream: futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
}

impl SseReader {
    /// Opens `GET path` as an event stream (optionally resuming with `Last-Event-ID`).
    pub(crate) async fn open(m: &Marketplace, path: &str, last_event_id: Option<i64>) -> Self {
        let mut request = m
            .http
            .get(format!("{}{path}", m.base))
            .bearer_auth(&m.token)
            .header("Accept", "text/event-stream")
            .timeout(Duration::from_secs(120));
        if let Some(last) = last_event_id {
            request = request.header("Last-Event-ID", last.to_string());
        }
        let response = request.send().await.expect("watch request");
        assert!(
            response.status().is_success(),
            "GET {path} -> {}",
            response.status()
        );
        Self {
            stream: response
                .bytes_stream()
                .map(|c| c.map(|b| b.to_vec()))
                .boxed(),
            buffer: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped), or None once the server closed the stream.
    pub(crate) async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    id: None,
                    event: "message".into(),
                    data: String::new(),
                };
                let mut any = false;
                for line in raw.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        event.id = Some(v.trim().to_string());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event.event = v.trim().to_string();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("data:") {
                        event.data.push_str(v.trim());
                        any = true;
                    }
                }
                if any {
                    return Some(event);
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(60), self.stream.next())
                .await
                .expect("the event stream makes progress");
            match chunk {
                Some(chunk) => self
                    .buffer
                    .push_str(&String::from_utf8_lossy(&chunk.expect("stream chunk"))),
                None => return None,
            }
        }
    }

    /// The next order update (`data:` of a message event), None once an `end` event arrived and
    /// the server closed the stream; any other event fails the test.
    async fn next_update(&mut self) -> Option<Value> {
        let event = self.next().await?;
        match event.event.as_str() {
            "message" => {
                let update: Value = serde_json::from_str(&event.data)
                    .unwrap_or_else(|e| panic!("SSE data is JSON ({e}): {}", event.data));
                assert_eq!(
                    event.id.as_deref(),
                    update["version"].as_str(),
                    "the event id is the update's version"
                );
                Some(update)
            }
            "end" => {
                assert!(
                    self.next().await.is_none(),
                    "the server closes the stream after `end`"
                );
                None
            }
            other => panic!("unexpected SSE event {other}: {}", event.data),
        }
    }
}

/// A gRPC client of the gateway's gRPC port.
pub(crate) fn grpc_channel(m: &Marketplace) -> Channel {
    let addr = m
        .running
        .as_ref()
        .and_then(|r| r.gateway_grpc)
        .expect("gateway gRPC listener");
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect_lazy()
}

/// `message` with the harness's bearer token.
pub(crate) fn authed<T>(m: &Marketplace, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", m.token).parse().expect("metadata"),
    );
    request
}

/// Sets the sandbox vendors' provisioning delay (vendor-sim control endpoint).
async fn vendor_delay(m: &Marketplace, ms: u64) {
    let (autodesk, microsoft) = m
        .running
        .as_ref()
        .and_then(|r| r.vendor_addrs)
        .expect("vendor-sim runs here");
    for addr in [autodesk, microsoft] {
        let response = m
            .http
            .put(format!("http://{addr}/_sim/delay"))
            .json(&json!({"ms": ms}))
            .send()
            .await
            .expect("vendor-sim control");
        assert!(response.status().is_success(), "{}", response.status());
    }
}

/// A new customer with one AutoCAD order; returns the order id.
pub(crate) async fn place_order(m: &Marketplace) -> String {
    let customer = m
        .post(
            "/v1/customers",
            json!({
                "name": format!("Streams {}", uuid::Uuid::new_v4().simple()),
                "contacts": [{"role": "CONTACT_ROLE_CONTRACT_MANAGER", "email": "cm@streams.example", "firstName": "Sam", "lastName": "Stream"}],
                "address": {"line1": "1 Main St", "city": "Oslo", "postalCode": "0150", "countryCode": "NO"}
            }),
        )
        .await;
    let customer_id = customer["id"].as_str().expect("customer id").to_string();
    let cart = m
        .post(
            "/v1/carts",
            json!({"customerId": customer_id, "currencyCode": "USD"}),
        )
        .await;
    let cart_id = cart["id"].as_str().expect("cart id").to_string();
    m.post(
        &format!("/v1/carts/{cart_id}/lines"),
        json!({"planId": "plan-autodesk-autocad-annual", "quantity": 1}),
    )
    .await;
    let order = m
        .post(
            &format!("/v1/carts/{cart_id}:checkout"),
            json!({"requestId": uuid::Uuid::new_v4().to_string(), "acceptTerms": true}),
        )
        .await;
    order["id"].as_str().expect("order id").to_string()
}

/// The order's current version (its etag), over REST.
async fn order_version(m: &Marketplace, order_id: &str) -> i64 {
    let order = m.get(&format!("/v1/orders/{order_id}")).await;
    order["etag"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("order has a numeric etag: {order}"))
}

/// Waits until the order's version passes `version` (a transition happened).
async fn wait_for_version_after(m: &Marketplace, order_id: &str, version: i64) {
    m.eventually(
        &format!("/v1/orders/{order_id}"),
        Duration::from_secs(30),
        |o| {
            o["etag"]
                .as_str()
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > version)
        },
    )
    .await;
}

/// Every update of a gRPC watch until the server ends it with OK.
async fn drain_grpc(stream: &mut tonic::Streaming<pb::WatchOrderResponse>) -> Vec<(i64, bool)> {
    let mut seen = Vec::new();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(60), stream.message())
            .await
            .expect("the watch makes progress")
            .unwrap_or_else(|status| panic!("the watch ends with OK, not {status:?}"));
        match next {
            Some(update) => seen.push((update.version, update.settled)),
            None => return seen,
        }
    }
}

/// Every update of an SSE watch until the server closes it.
async fn drain_sse(reader: &mut SseReader) -> Vec<(i64, bool)> {
    let mut seen = Vec::new();
    while let Some(update) = reader.next_update().await {
        let version = update["version"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .expect("version");
        seen.push((version, update["settled"] == true));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropped_watches_resume_with_every_missed_transition_once_in_every_mode() {
    for mode in modes().await {
        let m = start(mode).await;
        resume_after_drop(&m, mode).await;
        m.stop().await;
    }
}

async fn resume_after_drop(m: &Marketplace, mode: Mode) {
    // Slow vendors keep the order in flight while the watchers are away.
    vendor_delay(m, 1500).await;
    let order_id = place_order(m).await;
    let path = format!("/v1/orders/{order_id}:watch");

    // A reference watcher that never disconnects.
    let mut reference = SseReader::open(m, &path, None).await;
    let first = reference.next_update().await.expect("initial update");
    let reference_start: i64 = first["version"].as_str().unwrap().parse().unwrap();
    let reference = tokio::spawn(async move {
        let mut seen = vec![(reference_start, first["settled"] == true)];
        seen.extend(drain_sse(&mut reference).await);
        seen
    });

    // gRPC watcher: read the first update, then drop the connection.
    let mut client = OrderServiceClient::new(grpc_channel(m));
    let mut dropped = client
        .watch_order(authed(
            m,
            pb::WatchOrderRequest {
                order_id: order_id.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect("watch over gRPC")
        .into_inner();
    let grpc_seen = dropped
        .message()
        .await
        .expect("first gRPC update")
        .expect("an update");
    assert_eq!(grpc_seen.change, "initial");
    let grpc_last = grpc_seen.version;
    drop(dropped);
    drop(client);

    // SSE watcher: same.
    let mut sse = SseReader::open(m, &path, None).await;
    let sse_first = sse.next_update().await.expect("first SSE update");
    let sse_last: i64 = sse_first["version"].as_str().unwrap().parse().unwrap();
    drop(sse);

    // Transitions happen while both are away.
    wait_for_version_after(m, &order_id, grpc_last.max(sse_last)).await;

    // Both come back with the last version they saw.
    let mut client = OrderServiceClient::new(grpc_channel(m));
    let mut resumed = client
        .watch_order(authed(
            m,
            pb::WatchOrderRequest {
                order_id: order_id.clone(),
                after_version: grpc_last,
                ..Default::default()
            },
        ))
        .await
        .expect("resumed watch over gRPC")
        .into_inner();
    let mut sse = SseReader::open(m, &path, Some(sse_last)).await;
    let (grpc_after, sse_after) = tokio::join!(drain_grpc(&mut resumed), drain_sse(&mut sse));
    let reference = reference.await.expect("reference watcher");

    // The reference saw every transition, each once, ending settled (and its stream closed).
    let versions = |seen: &[(i64, bool)]| seen.iter().map(|(v, _)| *v).collect::<Vec<_>>();
    let all = versions(&reference);
    assert!(
        all.windows(2).all(|w| w[0] < w[1]),
        "{mode:?}: reference versions increase: {all:?}"
    );
    assert_eq!(
        reference.last().map(|(_, s)| *s),
        Some(true),
        "{mode:?}: ends settled"
    );
    let final_version = order_version(m, &order_id).await;
    assert_eq!(all.last(), Some(&final_version), "{mode:?}");
    for (name, last, after) in [
        ("gRPC", grpc_last, &grpc_after),
        ("SSE", sse_last, &sse_after),
    ] {
        let expected: Vec<i64> = all.iter().copied().filter(|v| *v > last).collect();
        assert!(
            !expected.is_empty(),
            "{mode:?} {name}: transitions were missed"
        );
        assert_eq!(
            versions(after),
            expected,
            "{mode:?} {name}: the resumed watch (after {last}) sends every missed transition exactly once, in order"
        );
        assert_eq!(after.last().map(|(_, s)| *s), Some(true), "{mode:?} {name}");
    }
    eprintln!(
        "{mode:?}: reference {reference:?}; gRPC after {grpc_last}: {grpc_after:?}; SSE after {sse_last}: {sse_after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watches_end_once_settled_unless_following_and_at_the_grpc_deadline_in_every_mode() {
    for mode in modes().await {
        let m = start(mode).await;
        streams_end(&m, mode).await;
        m.stop().await;
    }
}

async fn streams_end(m: &Marketplace, mode: Mode) {
    let order_id = place_order(m).await;
    let path = format!("/v1/orders/{order_id}:watch");
    m.eventually(
        &format!("/v1/orders/{order_id}"),
        Duration::from_secs(30),
        |o| o["status"] == "ORDER_STATUS_COMPLETED",
    )
    .await;
    let version = order_version(m, &order_id).await;

    // SSE of a settled order: its state, then `end`, then the server closes the stream.
    let mut sse = SseReader::open(m, &path, None).await;
    let seen = drain_sse(&mut sse).await;
    assert_eq!(seen, vec![(version, true)], "{mode:?}");
    // Resumed at the current version: nothing to send, closed at once.
    let mut sse = SseReader::open(m, &path, Some(version)).await;
    assert!(drain_sse(&mut sse).await.is_empty(), "{mode:?}");

    // A version the order never had is bad input, not an empty stream.
    let response = m
        .http
        .get(format!("{}{path}", m.base))
        .bearer_auth(&m.token)
        .header("Accept", "text/event-stream")
        .header("Last-Event-ID", (version + 10).to_string())
        .send()
        .await
        .expect("watch request");
    assert_eq!(response.status(), 400, "{mode:?}");
    let problem: Value = response.json().await.expect("problem document");
    assert_eq!(
        problem["errors"][0]["field"], "after_version",
        "{mode:?}: {problem}"
    );

    // gRPC: the same, ending with OK.
    let mut client = OrderServiceClient::new(grpc_channel(m));
    let mut stream = client
        .watch_order(authed(
            m,
            pb::WatchOrderRequest {
                order_id: order_id.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect("watch")
        .into_inner();
    assert_eq!(
        drain_grpc(&mut stream).await,
        vec![(version, true)],
        "{mode:?}"
    );

    // Asking to keep following holds the stream open past the settled update, until the
    // caller's grpc-timeout: sent as plain metadata, so this client does not enforce it; the
    // gateway and the service do.
    let mut request = authed(
        m,
        pb::WatchOrderRequest {
            order_id: order_id.clone(),
            follow_after_settled: true,
            ..Default::default()
        },
    );
    request
        .metadata_mut()
        .insert("grpc-timeout", "700m".parse().expect("metadata"));
    let mut stream = client
        .watch_order(request)
        .await
        .expect("watch")
        .into_inner();
    let first = stream
        .message()
        .await
        .expect("first update")
        .expect("update");
    assert!(first.settled, "{mode:?}");
    let end = tokio::time::timeout(Duration::from_secs(30), stream.message())
        .await
        .expect("the deadline ends the stream");
    let status = end.expect_err("ends with an error status");
    assert_eq!(
        status.code(),
        tonic::Code::DeadlineExceeded,
        "{mode:?}: {status:?}"
    );

    // Over SSE, `followAfterSettled=true` keeps the stream open after the settled update (where
    // the plain watches above closed at once).
    let mut following = SseReader::open(
        m,
        &format!("{path}?followAfterSettled=true"),
        Some(version - 1),
    )
    .await;
    let last = following.next_update().await.expect("the settled update");
    assert_eq!(last["settled"], true, "{mode:?}");
    let still_open = tokio::time::timeout(Duration::from_millis(500), following.next()).await;
    assert!(
        still_open.is_err(),
        "{mode:?}: a following SSE stream stays open: {still_open:?}"
    );
}
