//! One trace follows an order from the gateway through ordering, the bus, provisioning, the
//! vendor call and notification. The marketplace runs in distributed mode (every service with
//! its own listener and PostgreSQL database, NATS JetStream between them) and exports its spans
//! over OTLP/gRPC to a receiver inside this test, which then checks that the spans of all
//! components share the trace id the client started, with every parent link resolvable.
//!
//! Its own test binary: the tracing subscriber and the OTLP exporter are process-global.

// Shared with the e2e binary, which uses more of it.
#[allow(dead_code)]
#[path = "e2e/harness.rs"]
mod harness;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::json;

/// A component's name and how to recognise its spans.
type SpanCheck = (&'static str, Box<dyn Fn(&Span) -> bool>);

/// Collects every exported span.
#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().expect("spans lock");
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    span.attributes.iter().find(|a| a.key == key).and_then(|a| {
        match a.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            other => Some(format!("{other:?}")),
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_trace_spans_gateway_ordering_bus_provisioning_vendor_and_notification() {
    if !harness::modes().await.contains(&harness::Mode::Distributed) {
        return;
    }
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind otlp");
    let otlp = listener.local_addr().expect("otlp addr");
    let server = receiver.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(server))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });
    let telemetry = marketplace_platform::telemetry::init(
        &marketplace_platform::telemetry::TelemetrySettings {
            otlp_endpoint: format!("http://{otlp}"),
            log_filter: "info,sqlx=warn,h2=warn,hyper=warn,tower=warn,async_nats=warn".into(),
            ..Default::default()
        },
    )
    .expect("telemetry");

    let m = harness::start(harness::Mode::Distributed).await;
    let trace_id: [u8; 16] = rand_bytes();
    let parent: [u8; 8] = rand_bytes();
    let traceparent = format!("00-{}-{}-01", hex::encode(trace_id), hex::encode(parent));

    let post = |path: String, body: serde_json::Value| {
        let request = m
            .http
            .post(format!("{}{path}", m.base))
            .bearer_auth(&m.token)
            .header("traceparent", traceparent.clone())
            .json(&body);
        async move {
            let response = request.send().await.expect("request");
            assert!(
                response.status().is_success(),
                "{path} -> {}",
                response.status()
            );
            response.json::<serde_json::Value>().await.expect("json")
        }
    };
    let cart = post(
        "/v1/carts".into(),
        json!({"customerId": "customer-demo", "currencyCode": "USD"}),
    )
    .await;
    let cart_id = cart["id"].as_str().expect("cart id").to_string();
    post(
        format!("/v1/carts/{cart_id}/lines"),
        json!({"planId": "plan-autodesk-autocad-annual", "quantity": 1}),
    )
    .await;
    let order = post(
        format!("/v1/carts/{cart_id}:checkout"),
        json!({"requestId": cart_id, "acceptTerms": true}),
    )
    .await;
    let order_id = order["id"].as_str().expect("order id").to_string();
    m.eventually(
        &format!("/v1/orders/{order_id}"),
        Duration::from_secs(30),
        |o| o["status"] == "ORDER_STATUS_COMPLETED",
    )
    .await;
    m.eventually("/v1/notifications", Duration::from_secs(30), |v| {
        v["notifications"].as_array().is_some_and(|n| {
            n.iter().any(|n| {
                n["orderId"] == order_id.as_str()
                    && n["kind"] == "NOTIFICATION_KIND_SUBSCRIPTION_READY"
            })
        })
    })
    .await;
    // A request without trace context starts a trace at the gateway, which answers with it
    // (the gateway's own span) and continues it into ordering.
    let untraced = m
        .http
        .get(format!("{}/v1/orders/{order_id}", m.base))
        .bearer_auth(&m.token)
        .send()
        .await
        .expect("request");
    assert!(untraced.status().is_success());
    let returned = untraced.headers()["traceparent"]
        .to_str()
        .expect("ascii")
        .to_string();
    let parts: Vec<&str> = returned.split('-').collect();
    assert_eq!(parts.len(), 4, "{returned}");
    let started_trace = hex::decode(parts[1]).expect("hex trace id");
    let gateway_span = hex::decode(parts[2]).expect("hex span id");
    assert_ne!(started_trace, trace_id.to_vec());
    assert_eq!(untraced.headers()["x-request-id"], parts[1]);

    tokio::time::sleep(Duration::from_millis(500)).await;
    m.stop().await;
    telemetry.shutdown();

    let spans = receiver.spans.lock().expect("spans").clone();
    let started: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == started_trace)
        .collect();
    assert!(
        started
            .iter()
            .any(|s| s.name.starts_with("rest") && s.span_id == gateway_span),
        "the returned traceparent names the gateway's span: {returned}; {:?}",
        started.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    assert!(
        started.iter().any(|s| {
            attribute(s, "rpc").is_some_and(|r| r.contains("GetOrder"))
                && s.parent_span_id == gateway_span
        }),
        "ordering's span continues the trace the gateway started: {:?}",
        started.iter().map(|s| &s.name).collect::<Vec<_>>()
    );

    let ours: Vec<&Span> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
    let describe = |s: &Span| {
        format!(
            "{} {:?}",
            s.name,
            s.attributes
                .iter()
                .map(|a| a.key.as_str())
                .collect::<Vec<_>>()
        )
    };
    let names: Vec<String> = ours.iter().map(|s| describe(s)).collect();

    // Every component is in the trace.
    let has = |pred: &dyn Fn(&Span) -> bool| ours.iter().any(|s| pred(s));
    let checks: [SpanCheck; 6] = [
        (
            "gateway",
            Box::new(|s: &Span| s.name.starts_with("rest") || s.name.starts_with("gateway")),
        ),
        (
            "ordering checkout",
            Box::new(|s: &Span| attribute(s, "rpc").is_some_and(|r| r.contains("CheckoutCart"))),
        ),
        (
            "provisioning consumer (bus)",
            Box::new(|s: &Span| {
                attribute(s, "consumer").as_deref() == Some("provisioning-from-ordering")
            }),
        ),
        (
            "provisioning job and vendor call",
            Box::new(|s: &Span| {
                s.name.starts_with("provisioning.") || s.name.starts_with("vendor.")
            }),
        ),
        (
            "ordering consumer",
            Box::new(|s: &Span| {
                attribute(s, "consumer").as_deref() == Some("ordering-from-provisioning")
            }),
        ),
        (
            "notification consumer",
            Box::new(|s: &Span| {
                attribute(s, "consumer").is_some_and(|c| c.starts_with("notification-from"))
            }),
        ),
    ];
    for (component, check) in &checks {
        assert!(
            has(check.as_ref()),
            "no {component} span in trace {}; spans in trace: {names:#?}",
            hex::encode(trace_id)
        );
    }

    // Parent links resolve inside the trace (or to the client's span).
    let ids: HashSet<&[u8]> = ours.iter().map(|s| s.span_id.as_slice()).collect();
    let dangling: Vec<String> = ours
        .iter()
        .filter(|s| {
            !s.parent_span_id.is_empty()
                && s.parent_span_id != parent
                && !ids.contains(s.parent_span_id.as_slice())
        })
        .map(|s| describe(s))
        .collect();
    assert!(
        dangling.is_empty(),
        "spans whose parent is missing from the trace: {dangling:#?}"
    );
    let by_name: HashMap<&str, usize> = ours.iter().fold(HashMap::new(), |mut m, s| {
        *m.entry(s.name.as_str()).or_default() += 1;
        m
    });
    eprintln!(
        "trace {} has {} spans: {by_name:?}",
        hex::encode(trace_id),
        ours.len()
    );
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    let uuid = uuid::Uuid::new_v4();
    for (i, b) in out.iter_mut().enumerate() {
        *b = uuid.as_bytes()[i % 16] ^ (i as u8);
    }
    out
}
