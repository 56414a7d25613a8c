//! What operators rely on: rate limits per principal and tenant, metrics, trace ids in the
//! access log and responses, JWKS key rotation.

use std::time::Duration;

use marketplace_platform::identity::Role;

use super::{bearer, problem};
use crate::support::{AUDIENCE, Harness, ISSUER, SECRET, raw_call, token};

#[tokio::test]
async fn rate_limit_per_tenant_is_shared_by_all_users_of_a_reseller() {
    let h = Harness::start_with(marketplace_platform::db::Backend::Sqlite, |s| {
        s.rate_limit.enabled = true;
        s.rate_limit.requests_per_second = 100.0;
        s.rate_limit.burst = 100.0;
        s.rate_limit.tenant_requests_per_second = 0.05;
        s.rate_limit.tenant_burst = 3.0;
    })
    .await;
    for role in [Role::ResellerUser, Role::ResellerAdmin, Role::CustomerUser] {
        assert_eq!(h.get("/v1/plans", &token(role)).await.status(), 200);
    }
    let limited = h.get("/v1/plans", &token(Role::ResellerAdmin)).await;
    assert!(limited.headers().contains_key("retry-after"));
    let body = problem(limited, 429).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("organization"),
        "{body}"
    );
    let channel = h.channel().await;
    assert_eq!(
        raw_call(
            channel.clone(),
            "/marketplace.catalog.v1.CatalogService/ListPlans",
            &bearer(Role::CustomerAdmin)
        )
        .await,
        tonic::Code::ResourceExhausted,
        "gRPC shares the tenant's budget"
    );
    let other_reseller = gateway::demo_token(
        SECRET,
        ISSUER,
        AUDIENCE,
        "user-of-r2",
        "reseller_user",
        Some("r2"),
        None,
        Duration::from_secs(600),
    );
    assert_eq!(h.get("/v1/plans", &other_reseller).await.status(), 200);
    assert_eq!(h.get("/v1/plans", &token(Role::Staff)).await.status(), 200);
}

/// The value of the first sample of `name` carrying every label of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .find(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn token_of(subject: &str, reseller: &str) -> String {
    gateway::demo_token(
        SECRET,
        ISSUER,
        AUDIENCE,
        subject,
        "reseller_admin",
        Some(reseller),
        None,
        Duration::from_secs(600),
    )
}

async fn eventually_sample(name: &str, labels: &[(&str, &str)], at_least: f64) -> String {
    let handle = marketplace_platform::metrics::install();
    for _ in 0..200 {
        let text = handle.render();
        if sample(&text, name, labels).is_some_and(|v| v >= at_least) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no {name}{labels:?} >= {at_least} in:\n{}", handle.render());
}

#[tokio::test]
async fn metrics_count_requests_upstream_errors_limits_replays_streams_and_the_pool() {
    let handle = marketplace_platform::metrics::install();
    let h = Harness::start_with(marketplace_platform::db::Backend::Sqlite, |s| {
        s.rate_limit.enabled = true;
        s.rate_limit.requests_per_second = 0.01;
        s.rate_limit.burst = 3.0;
    })
    .await;
    let admin = token_of("metrics-admin", "r-metrics");
    assert_eq!(h.get("/v1/plans", &admin).await.status(), 200);
    assert_eq!(h.get("/v1/no-such-route", &admin).await.status(), 404);
    // Provisioning is unreachable in the harness.
    let unavailable = h
        .get("/v1/provisioningJobs", &token(Role::Staff))
        .await
        .status();
    assert_eq!(unavailable, 503);
    // An idempotent replay.
    for _ in 0..2 {
        let response = h
            .http
            .post(h.url("/v1/customers"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .header("idempotency-key", "metrics-replay")
            .body(r#"{"name": "Contoso"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    // The principal's third token went to the replay; the next call is refused.
    assert_eq!(h.get("/v1/plans", &admin).await.status(), 429);
    let channel = h.channel().await;
    let grpc_user = token_of("metrics-grpc", "r-metrics-grpc");
    assert_eq!(
        raw_call(
            channel.clone(),
            "/marketplace.catalog.v1.CatalogService/ListPlans",
            &[("authorization", format!("Bearer {grpc_user}"))]
        )
        .await,
        tonic::Code::Ok
    );

    // Streams that stay open: one SSE, one gRPC server stream.
    let sse_user = token_of("metrics-sse", "r-metrics-sse");
    let mut sse = h.get("/v1/orders/forever:watch", &sse_user).await;
    assert_eq!(sse.status(), 200);
    assert!(sse.chunk().await.unwrap().is_some());
    let mut orders = marketplace_proto::ordering::v1::order_service_client::OrderServiceClient::new(
        channel.clone(),
    );
    let mut watch = tonic::Request::new(marketplace_proto::ordering::v1::WatchOrderRequest {
        order_id: "forever".into(),
        ..Default::default()
    });
    watch.metadata_mut().insert(
        "authorization",
        format!("Bearer {grpc_user}").parse().unwrap(),
    );
    let mut stream = orders.watch_order(watch).await.unwrap().into_inner();
    assert!(stream.message().await.unwrap().is_some());

    let text = eventually_sample("gateway_open_streams", &[("protocol", "grpc")], 1.0).await;
    assert!(
        sample(&text, "gateway_open_streams", &[("protocol", "sse")]).is_some_and(|v| v >= 1.0),
        "{text}"
    );
    let rest = |route: &str, method: &str, status: &str| {
        sample(
            &text,
            "gateway_requests_total",
            &[
                ("protocol", "rest"),
                ("route", route),
                ("method", method),
                ("status", status),
            ],
        )
        .unwrap_or(0.0)
    };
    assert!(rest("/v1/plans", "GET", "200") >= 1.0, "{text}");
    assert!(rest("/v1/plans", "GET", "429") >= 1.0, "{text}");
    assert!(rest("unmatched", "GET", "404") >= 1.0, "{text}");
    assert!(rest("/v1/customers", "POST", "200") >= 2.0, "{text}");
    assert!(
        sample(
            &text,
            "gateway_request_duration_seconds_count",
            &[
                ("protocol", "rest"),
                ("route", "/v1/plans"),
                ("status", "200")
            ]
        )
        .is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "gateway_requests_total",
            &[
                ("protocol", "grpc"),
                ("route", "/marketplace.catalog.v1.CatalogService/ListPlans"),
                ("status", "OK")
            ]
        )
        .is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "gateway_upstream_errors_total",
            &[("service", "provisioning"), ("code", "Unavailable")]
        )
        .is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "gateway_rate_limited_total",
            &[("protocol", "rest"), ("scope", "principal")]
        )
        .is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert!(
        sample(&text, "gateway_idempotency_replays_total", &[]).is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "db_pool_connections",
            &[("service", "gateway"), ("state", "idle")]
        )
        .is_some(),
        "{text}"
    );
    drop(stream);
    drop(sse);
    drop(handle);
}

/// Log output captured by a test's own (thread-local) JSON subscriber.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut out) = self.0.lock() {
            out.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The access log lines of `protocol`.
    fn access(&self, protocol: &str) -> Vec<serde_json::Value> {
        self.lines()
            .into_iter()
            .filter(|l| l["target"] == "gateway::access" && l["fields"]["protocol"] == protocol)
            .collect()
    }
}

fn trace_id_of(traceparent: &str) -> String {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[1].len(), 32, "{traceparent}");
    assert!(
        parts[1].bytes().all(|b| b.is_ascii_hexdigit()),
        "{traceparent}"
    );
    assert_ne!(parts[1], "0".repeat(32));
    parts[1].to_string()
}

/// The process's log output from the first call on: a global JSON subscriber (a scoped one would
/// miss events whose callsites another test thread registered first).
fn captured() -> Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            let subscriber = tracing_subscriber::fmt()
                .json()
                .with_current_span(true)
                .with_env_filter("gateway::access=info")
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("the only global subscriber");
            captured
        })
        .clone()
}

#[tokio::test]
async fn a_trace_is_started_logged_and_returned_when_the_caller_sends_none() {
    let captured = captured();
    let h = Harness::start().await;

    // REST without trace context.
    let response = h.get("/v1/plans", &token(Role::ResellerUser)).await;
    assert_eq!(response.status(), 200);
    let traceparent = response.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_string();
    let trace_id = trace_id_of(&traceparent);
    assert_eq!(response.headers()["x-request-id"], trace_id.as_str());
    assert_eq!(
        trace_id_of(&h.observed.last_traceparent.lock().unwrap()),
        trace_id,
        "the service call continues the trace"
    );
    let access = captured.access("rest");
    assert!(
        access
            .iter()
            .any(|l| l["fields"]["trace_id"] == trace_id.as_str()
                && l["fields"]["request_id"] == trace_id.as_str()),
        "{access:?}"
    );
    assert!(
        access.iter().all(|l| l["fields"]["trace_id"]
            .as_str()
            .is_some_and(|t| t.len() == 32)),
        "every access line has a trace id: {access:?}"
    );

    // REST with the caller's trace context and request id: both continue.
    let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response = h
        .http
        .get(h.url("/v1/plans"))
        .bearer_auth(token(Role::ResellerUser))
        .header("traceparent", given)
        .header("x-request-id", "client-req-1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        trace_id_of(response.headers()["traceparent"].to_str().unwrap()),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(response.headers()["x-request-id"], "client-req-1");
    // A refused request is traced too.
    let refused = h.get("/v1/plans", "not-a-token").await;
    assert_eq!(refused.status(), 401);
    let refused_id = trace_id_of(refused.headers()["traceparent"].to_str().unwrap());
    assert!(
        captured
            .access("rest")
            .iter()
            .any(|l| l["fields"]["trace_id"] == refused_id.as_str() && l["fields"]["status"] == 401),
        "{:?}",
        captured.access("rest")
    );

    // gRPC without trace context: the same, in the response metadata.
    let mut grpc = tonic::client::Grpc::new(h.channel().await);
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(Vec::new());
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", token(Role::ResellerUser))
            .parse()
            .unwrap(),
    );
    let response = grpc
        .unary(
            request,
            http::uri::PathAndQuery::from_static(
                "/marketplace.catalog.v1.CatalogService/ListPlans",
            ),
            crate::support::RawCodec,
        )
        .await
        .unwrap();
    let traceparent = response
        .metadata()
        .get("traceparent")
        .unwrap()
        .to_str()
        .unwrap();
    let grpc_trace = trace_id_of(traceparent);
    assert_ne!(grpc_trace, trace_id);
    assert_eq!(
        response
            .metadata()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap(),
        grpc_trace
    );
    assert_eq!(
        trace_id_of(&h.observed.last_traceparent.lock().unwrap()),
        grpc_trace
    );
    let access = captured.access("grpc");
    assert!(
        access
            .iter()
            .any(|l| l["fields"]["trace_id"] == grpc_trace.as_str()),
        "{access:?}"
    );
}

const RSA_PEM: &str = include_str!("keys/rsa-test-only.pem");
const EC384_PEM: &str = include_str!("keys/ec384-test-only.pem");
/// The IdP's JWKS after a rotation: an RS384, a PS256 (same RSA key) and an ES384 key.
const ROTATED_JWKS: &str = include_str!("keys/rotated-jwks.json");

fn id_token(alg: jsonwebtoken::Algorithm, kid: &str, key: &jsonwebtoken::EncodingKey) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(
        &header,
        &serde_json::json!({
            "sub": format!("idp-{kid}"), "role": "reseller_admin", "reseller_id": "r1",
            "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "iat": now
        }),
        key,
    )
    .unwrap()
}

#[tokio::test]
async fn an_unknown_kid_fetches_the_jwks_again_at_once_and_keys_verify_their_own_alg() {
    use jsonwebtoken::{Algorithm, EncodingKey};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    // An IdP whose JWKS starts empty of the keys the tokens below use.
    let served = Arc::new(Mutex::new(r#"{"keys": []}"#.to_string()));
    let fetches = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_url = format!("http://{}/jwks", listener.local_addr().unwrap());
    let app = {
        let (served, fetches) = (served.clone(), fetches.clone());
        axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let (served, fetches) = (served.clone(), fetches.clone());
                async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    served.lock().unwrap().clone()
                }
            }),
        )
    };
    tokio::spawn(async move { axum::serve(listener, app).await });
    let h = Harness::start_with(marketplace_platform::db::Backend::Sqlite, move |s| {
        s.auth.jwks_url = Some(jwks_url);
        s.auth.jwks_refresh_secs = 3600;
        s.auth.jwks_refetch_min_secs = 3600;
    })
    .await;
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "fetched at start");

    // The IdP rotates; the first token with a new kid works without waiting for the refresh.
    *served.lock().unwrap() = ROTATED_JWKS.to_string();
    let rsa = EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).unwrap();
    let ec384 = EncodingKey::from_ec_pem(EC384_PEM.as_bytes()).unwrap();
    let rs384 = id_token(Algorithm::RS384, "rot-rs384", &rsa);
    assert_eq!(h.get("/v1/plans", &rs384).await.status(), 200);
    assert_eq!(fetches.load(Ordering::SeqCst), 2, "one immediate fetch");
    assert_eq!(
        h.get("/v1/plans", &id_token(Algorithm::PS256, "rot-ps256", &rsa))
            .await
            .status(),
        200
    );
    assert_eq!(
        h.get(
            "/v1/plans",
            &id_token(Algorithm::ES384, "rot-es384", &ec384)
        )
        .await
        .status(),
        200
    );
    let channel = h.channel().await;
    assert_eq!(
        raw_call(
            channel,
            "/marketplace.catalog.v1.CatalogService/ListPlans",
            &[("authorization", format!("Bearer {rs384}"))]
        )
        .await,
        tonic::Code::Ok
    );

    // A key verifies only the algorithm its JWK names.
    for confused in [
        id_token(Algorithm::RS256, "rot-rs384", &rsa),
        id_token(Algorithm::RS384, "rot-ps256", &rsa),
        id_token(Algorithm::PS256, "rot-rs384", &rsa),
    ] {
        problem(h.get("/v1/plans", &confused).await, 401).await;
    }

    // Unknown kids do not make the gateway hammer the IdP: at most one fetch per interval.
    for i in 0..5 {
        let unknown = id_token(Algorithm::RS384, &format!("nobody-{i}"), &rsa);
        problem(h.get("/v1/plans", &unknown).await, 401).await;
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "rate-limited: no fetch within jwks_refetch_min_secs"
    );
}
