//! Gateway integration tests against in-test fake backends.

mod fakes;
mod ops;
mod properties;
mod support;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use marketplace_platform::identity::Role;
use marketplace_proto::catalog::v1 as catalog;
use marketplace_proto::ordering::v1 as ordering;
use serde_json::{Value, json};
use support::{AUDIENCE, Harness, ISSUER, ROLES, SECRET, raw_call, token};

const PROBLEM: &str = "application/problem+json";

fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    assert_eq!(content_type(&response), PROBLEM);
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["status"], status);
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("https://")),
        "{body}"
    );
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}

fn bearer(role: Role) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {}", token(role)))]
}

#[tokio::test]
async fn rest_calls_reach_the_service_as_the_authenticated_principal() {
    let h = Harness::start().await;
    let admin = token(Role::ResellerAdmin);

    let response = h.get("/v1/plans?pageSize=5&query=autocad", &admin).await;
    assert_eq!(response.status(), 200);
    assert_eq!(content_type(&response), "application/json");
    assert_eq!(
        response.headers()["link"],
        "</v1/plans?pageSize=5&query=autocad&pageToken=ps%3D5>; rel=\"next\""
    );
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["plans"][0]["name"], "user-reseller_admin");
    assert_eq!(body["plans"][0]["description"], "autocad");
    assert_eq!(body["nextPageToken"], "ps=5");
    assert_eq!(body["totalSize"], 1);

    let response = h
        .get("/v1/plans/plan-autodesk-autocad-annual", &admin)
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"v1\"");
    let plan: Value = response.json().await.unwrap();
    assert_eq!(plan["id"], "plan-autodesk-autocad-annual");
    assert_eq!(plan["description"], "reseller_admin");
    assert_eq!(plan["vendorId"], "r1", "the tenant comes from the token");

    let response = h
        .http
        .get(h.url("/v1/plans/p1"))
        .bearer_auth(&admin)
        .header("if-none-match", "\"v1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);

    let response = h
        .get(
            "/v1/orders?statuses=ORDER_STATUS_DRAFT&statuses=ORDER_STATUS_COMPLETED",
            &admin,
        )
        .await;
    assert_eq!(response.status(), 200);
    let listed = response.json::<Value>().await.unwrap();
    assert_eq!(listed["nextPageToken"], "statuses=2");
    // An empty list still carries its array.
    assert_eq!(listed["orders"], serde_json::json!([]), "{listed}");

    let response = h.get("/v1/orders/o-1", &admin).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"e1\"");

    let response = h
        .post(
            "/v1/carts/cart-1:checkout",
            &admin,
            r#"{"acceptTerms": true}"#,
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["id"],
        "order-for-cart-1"
    );

    let response = h
        .post("/v1/customers", &admin, r#"{"name": "Contoso Ltd"}"#)
        .await;
    assert_eq!(response.status(), 200);
    let customer: Value = response.json().await.unwrap();
    assert_eq!(customer["resellerId"], "r1");
}

#[tokio::test]
async fn errors_are_problem_documents_and_bad_input_is_never_a_500() {
    let h = Harness::start_with(marketplace_platform::db::Backend::Sqlite, |s| {
        s.http.max_body_bytes = 1024;
        s.http.route_timeouts_ms.insert("GetPlan".into(), 300);
    })
    .await;
    let admin = token(Role::ResellerAdmin);

    let unauthenticated = h.http.get(h.url("/v1/plans")).send().await.unwrap();
    assert!(unauthenticated.headers().contains_key("www-authenticate"));
    problem(unauthenticated, 401).await;

    problem(h.get("/v1/plans/missing", &admin).await, 404).await;
    let bad = problem(h.get("/v1/plans/bad", &admin).await, 400).await;
    assert_eq!(bad["errors"][0]["field"], "plan_id");
    assert_eq!(bad["errors"][0]["description"], "bad id");

    let malformed = problem(h.post("/v1/customers", &admin, r#"{"name": "#).await, 400).await;
    assert!(
        malformed["detail"]
            .as_str()
            .unwrap()
            .contains("malformed JSON"),
        "{malformed}"
    );
    let unknown_field = problem(
        h.post("/v1/customers", &admin, r#"{"nmae": "x"}"#).await,
        400,
    )
    .await;
    assert!(
        unknown_field["detail"].as_str().unwrap().contains("nmae"),
        "{unknown_field}"
    );
    let wrong_type = problem(
        h.post("/v1/customers", &admin, r#"{"name": 42}"#).await,
        400,
    )
    .await;
    assert!(
        wrong_type["detail"]
            .as_str()
            .unwrap()
            .contains("invalid type"),
        "{wrong_type}"
    );
    problem(h.post("/v1/customers", &admin, "[1, 2]").await, 400).await;
    let service_violation = problem(
        h.post("/v1/customers", &admin, r#"{"name": ""}"#).await,
        400,
    )
    .await;
    assert_eq!(service_violation["errors"][0]["field"], "customer.name");

    let unknown_query = problem(h.get("/v1/plans?bogus=1", &admin).await, 400).await;
    assert_eq!(unknown_query["errors"][0]["field"], "bogus");
    problem(h.get("/v1/plans?pageSize=ten", &admin).await, 400).await;
    problem(
        h.get("/v1/notifications?unreadOnly=maybe", &admin).await,
        400,
    )
    .await;

    let huge = format!(r#"{{"name": "{}"}}"#, "x".repeat(4096));
    problem(h.post("/v1/customers", &admin, &huge).await, 413).await;
    let text = h
        .http
        .post(h.url("/v1/customers"))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    problem(text, 415).await;

    problem(h.get("/v1/nothing-here", &admin).await, 404).await;
    problem(
        h.http
            .delete(h.url("/v1/plans"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
        405,
    )
    .await;

    let timeout = problem(h.get("/v1/plans/slow", &admin).await, 504).await;
    assert!(
        timeout["detail"].as_str().unwrap().contains("GetPlan"),
        "{timeout}"
    );

    // The notification service is down in this test: 503, not 500.
    problem(h.get("/v1/notifications", &admin).await, 503).await;
}

#[tokio::test]
async fn rest_role_matrix_every_cell() {
    let h = Harness::start().await;
    let document: Value = h
        .http
        .get(h.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut cells = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/") {
            continue;
        }
        let concrete = concrete_path(path);
        for (method, operation) in item.as_object().unwrap() {
            let rpc = operation["operationId"].as_str().unwrap().replace('_', "/");
            let grpc_path = ROLE_PATHS
                .iter()
                .find(|p| p.ends_with(&rpc))
                .unwrap_or_else(|| panic!("{rpc} not in the matrix"));
            for role in ROLES {
                let allowed = gateway::allowed_roles(grpc_path).unwrap().contains(&role);
                let request = h
                    .http
                    .request(method.to_uppercase().parse().unwrap(), h.url(&concrete))
                    .bearer_auth(token(role));
                let request = if method == "get" || method == "delete" {
                    request
                } else {
                    request
                        .header("content-type", "application/json")
                        .body("{}")
                };
                let status = request.send().await.unwrap().status().as_u16();
                if allowed {
                    assert!(
                        status != 403 && status != 401,
                        "{role:?} {method} {path} should pass the edge, got {status}"
                    );
                } else {
                    assert_eq!(status, 403, "{role:?} {method} {path} should be forbidden");
                }
                cells += 1;
            }
        }
    }
    assert_eq!(cells, gateway::ROLE_MATRIX.len() * ROLES.len());
}

/// Every operation as a gRPC path (from the exported matrix).
static ROLE_PATHS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    gateway::ROLE_MATRIX
        .iter()
        .map(|(op, _)| format!("/marketplace.{op}"))
        .collect()
});

fn concrete_path(template: &str) -> String {
    let mut out = String::new();
    let mut in_var = false;
    for c in template.chars() {
        match c {
            '{' => {
                in_var = true;
                out.push('x');
            }
            '}' => in_var = false,
            _ if in_var => {}
            _ => out.push(c),
        }
    }
    out
}

#[tokio::test]
async fn grpc_role_matrix_every_cell() {
    let h = Harness::start().await;
    let channel = h.channel().await;
    for path in ROLE_PATHS.iter() {
        for role in ROLES {
            let allowed = gateway::allowed_roles(path).unwrap().contains(&role);
            let code = raw_call(channel.clone(), path, &bearer(role)).await;
            if allowed {
                assert!(
                    code != tonic::Code::PermissionDenied && code != tonic::Code::Unauthenticated,
                    "{role:?} {path} should pass the edge, got {code:?}"
                );
            } else {
                assert_eq!(code, tonic::Code::PermissionDenied, "{role:?} {path}");
            }
        }
    }
    assert_eq!(
        raw_call(
            channel.clone(),
            "/marketplace.catalog.v1.CatalogService/ListPlans",
            &[]
        )
        .await,
        tonic::Code::Unauthenticated
    );
    assert_eq!(
        raw_call(
            channel.clone(),
            "/marketplace.catalog.v1.CatalogService/Nope",
            &bearer(Role::Staff)
        )
        .await,
        tonic::Code::Unimplemented
    );
    assert_eq!(
        raw_call(channel, "/other.Service/Method", &bearer(Role::Staff)).await,
        tonic::Code::Unimplemented
    );
}

fn signed(claims: Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn claims(exp_offset: i64, aud: &str, iss: &str) -> Value {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    json!({"sub": "u1", "role": "reseller_admin", "reseller_id": "r1", "iss": iss, "aud": aud, "exp": now + exp_offset, "iat": now})
}

const EC_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg12uVUfOhViLNy/vU
f1qDmKKylVJY3dqsQS1JqS6YrYqhRANCAAR+NPdQhGlZwneY0h0kLXZq8GDtB0jw
/IVw77XHwxv3ZjG34Qm5UV74k/6C2Bnwza9oreOfMkhXFKspNkKi0Nhq
-----END PRIVATE KEY-----
";
const EC_JWKS: &str = r#"{"keys": [{"kty": "EC", "crv": "P-256", "x": "fjT3UIRpWcJ3mNIdJC12avBg7QdI8PyFcO-1x8Mb92Y", "y": "MbfhCblRXviT_oLYGfDNr2it458ySFcUqyk2QqLQ2Go", "kid": "test-es256", "alg": "ES256", "use": "sig"}]}"#;

#[tokio::test]
async fn bad_tokens_are_refused_on_both_protocols() {
    let jwks = std::env::temp_dir().join(format!(
        "gateway-jwks-{}.json",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&jwks, EC_JWKS).unwrap();
    let jwks_path = jwks.display().to_string();
    let h = Harness::start_with(marketplace_platform::db::Backend::Sqlite, move |s| {
        s.auth.jwks_file = Some(jwks_path)
    })
    .await;

    let es256 = |kid: &str| {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(
            &header,
            &claims(600, AUDIENCE, ISSUER),
            &EncodingKey::from_ec_pem(EC_PRIVATE_PEM.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let good = signed(claims(600, AUDIENCE, ISSUER), SECRET);
    let none = {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims(600, AUDIENCE, ISSUER).to_string());
        format!("{header}.{body}.")
    };
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let bad: Vec<(&str, String)> = vec![
        ("expired", signed(claims(-3600, AUDIENCE, ISSUER), SECRET)),
        (
            "wrong audience",
            signed(claims(600, "someone-else", ISSUER), SECRET),
        ),
        (
            "wrong issuer",
            signed(claims(600, AUDIENCE, "evil"), SECRET),
        ),
        (
            "wrong signature",
            signed(
                claims(600, AUDIENCE, ISSUER),
                "another-secret-that-is-32-bytes-long!!",
            ),
        ),
        ("alg none", none),
        ("garbage", "not.a.token".into()),
        ("unknown kid", es256("other-kid")),
        (
            "service role",
            signed(
                json!({"sub": "u1", "role": "service", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "iat": now}),
                SECRET,
            ),
        ),
        (
            "reseller role without reseller",
            signed(
                json!({"sub": "u1", "role": "reseller_user", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "iat": now}),
                SECRET,
            ),
        ),
    ];
    assert_eq!(h.get("/v1/plans", &good).await.status(), 200);
    assert_eq!(
        h.get("/v1/plans", &es256("test-es256")).await.status(),
        200,
        "ES256 via the JWKS file"
    );
    let channel = h.channel().await;
    for (what, token) in bad {
        let response = h.get("/v1/plans", &token).await;
        assert_eq!(response.status(), 401, "{what}");
        let body = problem(response, 401).await;
        assert_eq!(
            body["detail"], "invalid token",
            "{what}: no hint which check failed"
        );
        let code = raw_call(
            channel.clone(),
            "/marketplace.catalog.v1.CatalogService/ListPlans",
            &[("authorization", format!("Bearer {token}"))],
        )
        .await;
        assert_eq!(code, tonic::Code::Unauthenticated, "{what}");
    }
    let basic = h
        .http
        .get(h.url("/v1/plans"))
        .header("authorization", "Basic dTpw")
        .send()
        .await
        .unwrap();
    problem(basic, 401).await;
    let _ = std::fs::remove_file(jwks);
}

#[tokio::test]
async fn api_keys_are_shown_once_scoped_revocable_and_track_use() {
    for backend in marketplace_platform::db::testing::backends().await {
        let h = Harness::start_with(backend, |_| {}).await;
        let admin = token(Role::ResellerAdmin);

        let forbidden = h
            .post(
                "/v1/apiKeys",
                &token(Role::ResellerUser),
                r#"{"name": "erp", "role": "ROLE_RESELLER_USER"}"#,
            )
            .await;
        problem(forbidden, 403).await;
        let invalid = problem(
            h.post(
                "/v1/apiKeys",
                &admin,
                r#"{"name": "", "role": "ROLE_STAFF"}"#,
            )
            .await,
            400,
        )
        .await;
        assert_eq!(invalid["errors"].as_array().unwrap().len(), 2, "{invalid}");

        let created: Value = h
            .post(
                "/v1/apiKeys",
                &admin,
                r#"{"name": "erp", "role": "ROLE_RESELLER_USER"}"#,
            )
            .await
            .json()
            .await
            .unwrap();
        let secret = created["secret"].as_str().unwrap().to_string();
        let id = created["apiKey"]["id"].as_str().unwrap().to_string();
        assert!(secret.starts_with("mk_") && secret.len() > 40);
        assert!(secret.starts_with(created["apiKey"]["prefix"].as_str().unwrap()));
        assert_eq!(created["apiKey"]["resellerId"], "r1");
        assert_eq!(created["apiKey"]["role"], "ROLE_RESELLER_USER");

        // The key authenticates as a reseller user of r1 on REST and gRPC.
        let plan: Value = h
            .http
            .get(h.url("/v1/plans/p1"))
            .header("x-api-key", &secret)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(plan["description"], "reseller_user");
        assert_eq!(plan["vendorId"], "r1");
        assert_eq!(plan["name"], format!("apikey:{id}"));
        let channel = h.channel().await;
        assert_eq!(
            raw_call(
                channel.clone(),
                "/marketplace.catalog.v1.CatalogService/GetPlan",
                &[("x-api-key", secret.clone())]
            )
            .await,
            tonic::Code::Ok
        );
        // The same key presented as a bearer credential (recognised by its `mk_` prefix).
        let plan: Value = h
            .http
            .get(h.url("/v1/plans/p1"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(plan["name"], format!("apikey:{id}"), "{plan}");
        assert_eq!(
            raw_call(
                channel.clone(),
                "/marketplace.catalog.v1.CatalogService/GetPlan",
                &[("authorization", format!("Bearer {secret}"))]
            )
            .await,
            tonic::Code::Ok
        );
        problem(
            h.http
                .get(h.url("/v1/plans/p1"))
                .bearer_auth("mk_not-a-key")
                .send()
                .await
                .unwrap(),
            401,
        )
        .await;
        // ...and is refused what its role may not do.
        problem(
            h.http
                .post(h.url("/v1/apiKeys"))
                .header("x-api-key", &secret)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap(),
            403,
        )
        .await;

        // A replayed creation (same Idempotency-Key) returns the key without its secret: shown once.
        let create = |key: &'static str| {
            h.http
                .post(h.url("/v1/apiKeys"))
                .bearer_auth(&admin)
                .header("content-type", "application/json")
                .header("idempotency-key", key)
                .body(r#"{"name": "admin-bot", "role": "ROLE_RESELLER_ADMIN"}"#)
                .send()
        };
        let first: Value = create("replay-1").await.unwrap().json().await.unwrap();
        let admin_key = first["secret"].as_str().unwrap().to_string();
        let replay: Value = create("replay-1").await.unwrap().json().await.unwrap();
        assert_eq!(replay["apiKey"]["id"], first["apiKey"]["id"]);
        assert!(
            replay.get("secret").is_none(),
            "replay leaks the secret: {replay}"
        );
        // Even an admin-role key cannot mint keys that would outlive its revocation.
        problem(
            h.http
                .post(h.url("/v1/apiKeys"))
                .header("x-api-key", &admin_key)
                .header("content-type", "application/json")
                .body(r#"{"name": "child", "role": "ROLE_RESELLER_USER"}"#)
                .send()
                .await
                .unwrap(),
            403,
        )
        .await;

        let listed: Value = h.get("/v1/apiKeys", &admin).await.json().await.unwrap();
        let key = listed["apiKeys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id.as_str())
            .unwrap();
        assert_eq!(key["id"], id.as_str());
        assert!(
            key["lastUsedTime"].is_string(),
            "last use recorded: {listed}"
        );
        assert!(
            !listed.to_string().contains(&secret),
            "the secret is never shown again"
        );
        let other_reseller = gateway::demo_token(
            SECRET,
            ISSUER,
            AUDIENCE,
            "u2",
            "reseller_admin",
            Some("r2"),
            None,
            Duration::from_secs(60),
        );
        let theirs: Value = h
            .get("/v1/apiKeys", &other_reseller)
            .await
            .json()
            .await
            .unwrap();
        assert!(
            theirs["apiKeys"].as_array().is_none_or(|a| a.is_empty()),
            "{theirs}"
        );
        // Pagination: a page token is bound to its tenant and tamper-evident.
        let second = h
            .post(
                "/v1/apiKeys",
                &admin,
                r#"{"name": "crm", "role": "ROLE_RESELLER_ADMIN"}"#,
            )
            .await;
        assert_eq!(second.status(), 200);
        let page: Value = h
            .get("/v1/apiKeys?pageSize=1", &admin)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["apiKeys"].as_array().unwrap().len(), 1);
        let next = page["nextPageToken"].as_str().unwrap().to_string();
        let rest: Value = h
            .get(&format!("/v1/apiKeys?pageSize=1&pageToken={next}"), &admin)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(rest["apiKeys"].as_array().unwrap().len(), 1);
        assert_ne!(rest["apiKeys"][0]["id"], page["apiKeys"][0]["id"]);
        let stolen = problem(
            h.get(
                &format!("/v1/apiKeys?pageSize=1&pageToken={next}"),
                &other_reseller,
            )
            .await,
            400,
        )
        .await;
        assert_eq!(stolen["errors"][0]["field"], "page_token");
        problem(
            h.get(&format!("/v1/apiKeys?pageToken={next}x"), &admin)
                .await,
            400,
        )
        .await;
        problem(
            h.post(&format!("/v1/apiKeys/{id}:revoke"), &other_reseller, "{}")
                .await,
            404,
        )
        .await;

        let revoked: Value = h
            .post(&format!("/v1/apiKeys/{id}:revoke"), &admin, "{}")
            .await
            .json()
            .await
            .unwrap();
        assert!(revoked["revokeTime"].is_string());
        problem(
            h.http
                .get(h.url("/v1/plans"))
                .header("x-api-key", &secret)
                .send()
                .await
                .unwrap(),
            401,
        )
        .await;
        assert_eq!(
            raw_call(
                channel.clone(),
                "/marketplace.catalog.v1.CatalogService/GetPlan",
                &[("x-api-key", secret)]
            )
            .await,
            tonic::Code::Unauthenticated
        );
        let unknown = format!("mk_{}", "A".repeat(43));
        problem(
            h.http
                .get(h.url("/v1/plans"))
                .header("x-api-key", &unknown)
                .send()
                .await
                .unwrap(),
            401,
        )
        .await;
        problem(
            h.http
                .get(h.url("/v1/plans"))
                .header("x-api-key", "nonsense")
                .send()
                .await
                .unwrap(),
            401,
        )
        .await;
    }
}

#[tokio::test]
async fn idempotency_key_replays_the_first_response_and_refuses_a_different_body() {
    for backend in marketplace_platform::db::testing::backends().await {
        let h = Harness::start_with(backend, |_| {}).await;
        let admin = token(Role::ResellerAdmin);
        let post = |key: &'static str, body: &'static str| {
            h.http
                .post(h.url("/v1/customers"))
                .bearer_auth(&admin)
                .header("content-type", "application/json")
                .header("idempotency-key", key)
                .body(body)
                .send()
        };
        let first = post("k-1", r#"{"name": "Contoso"}"#).await.unwrap();
        assert_eq!(first.status(), 200);
        assert_eq!(first.headers()["etag"], "\"c1\"");
        let first: Value = first.json().await.unwrap();
        let retry = post("k-1", r#"{"name": "Contoso"}"#).await.unwrap();
        assert_eq!(retry.status(), 200);
        assert_eq!(retry.headers()["idempotent-replayed"], "true");
        assert_eq!(retry.headers()["etag"], "\"c1\"");
        assert_eq!(retry.json::<Value>().await.unwrap(), first);
        assert_eq!(
            h.observed
                .create_customer_calls
                .load(std::sync::atomic::Ordering::SeqCst),
            1
        );

        let conflict = problem(post("k-1", r#"{"name": "Fabrikam"}"#).await.unwrap(), 422).await;
        assert!(
            conflict["detail"]
                .as_str()
                .unwrap()
                .contains("Idempotency-Key")
        );

        let second: Value = post("k-2", r#"{"name": "Contoso"}"#)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_ne!(second["id"], first["id"]);

        // A rejected request is replayed too (same answer, no second call).
        problem(post("k-3", r#"{"name": ""}"#).await.unwrap(), 400).await;
        let calls = h
            .observed
            .create_customer_calls
            .load(std::sync::atomic::Ordering::SeqCst);
        problem(post("k-3", r#"{"name": ""}"#).await.unwrap(), 400).await;
        assert_eq!(
            h.observed
                .create_customer_calls
                .load(std::sync::atomic::Ordering::SeqCst),
            calls
        );

        // Keys are per caller: another user's identical key is a different request.
        let other = h
            .http
            .post(h.url("/v1/customers"))
            .bearer_auth(token(Role::ResellerUser))
            .header("content-type", "application/json")
            .header("idempotency-key", "k-1")
            .body(r#"{"name": "Other"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 200);

        // Checkout takes the key as its request id.
        let checkout = h
            .http
            .post(h.url("/v1/carts/cart-9:checkout"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .header("idempotency-key", "checkout-9")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(checkout.status(), 200);
        assert_eq!(*h.observed.last_request_id.lock().unwrap(), "checkout-9");
    }
}

#[tokio::test]
async fn order_watch_streams_server_sent_events() {
    let h = Harness::start().await;
    let response = h
        .get("/v1/orders/o-7:watch", &token(Role::CustomerUser))
        .await;
    assert_eq!(response.status(), 200);
    assert!(content_type(&response).starts_with("text/event-stream"));
    let text = response.text().await.unwrap();
    let events: Vec<&str> = text
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .collect();
    assert_eq!(events.len(), 4, "{text}");
    for (i, event) in events[..3].iter().enumerate() {
        assert!(
            event.contains(&format!("id: {}", i + 1)),
            "the order version is the event id: {event}"
        );
        let data = event
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap();
        let update: Value = serde_json::from_str(data).unwrap();
        assert_eq!(update["order"]["id"], "o-7");
        assert_eq!(update["change"], "order.status");
        assert_eq!(update["settled"].as_bool().unwrap_or(false), i == 2);
    }
    assert!(events[3].contains("event: end"), "{text}");

    // A reconnecting browser sends Last-Event-ID and resumes after that version.
    let resumed = h
        .http
        .get(h.url("/v1/orders/o-7:watch"))
        .bearer_auth(token(Role::CustomerUser))
        .header("last-event-id", "2")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events: Vec<&str> = resumed
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .collect();
    assert_eq!(events.len(), 2, "{resumed}");
    assert!(
        events[0].contains("id: 3") && events[0].contains("\"settled\":true"),
        "{resumed}"
    );
    let bad = h
        .http
        .get(h.url("/v1/orders/o-7:watch"))
        .bearer_auth(token(Role::CustomerUser))
        .header("last-event-id", "not-a-version")
        .send()
        .await
        .unwrap();
    problem(bad, 400).await;
}

#[tokio::test]
async fn grpc_proxy_forwards_streams_and_strips_client_identity() {
    let h = Harness::start().await;
    let channel = h.channel().await;
    let mut orders = ordering::order_service_client::OrderServiceClient::new(channel.clone());

    let mut request = tonic::Request::new(ordering::GetOrderRequest {
        order_id: "o-1".into(),
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", token(Role::ResellerUser))
            .parse()
            .unwrap(),
    );
    // A forged identity signed with another key must never reach the service.
    let forged = marketplace_platform::identity::IdentityKey::random();
    let staff = marketplace_platform::identity::Principal {
        subject: "mallory".into(),
        display_name: "Mallory".into(),
        role: Role::Staff,
        reseller_id: None,
        customer_id: None,
    };
    forged.attach(&mut request, &staff);
    let order = orders.get_order(request).await.unwrap().into_inner();
    assert_eq!(order.name, "user-reseller_user");

    let mut without_credentials = tonic::Request::new(ordering::GetOrderRequest {
        order_id: "o-1".into(),
    });
    forged.attach(&mut without_credentials, &staff);
    assert_eq!(
        orders
            .get_order(without_credentials)
            .await
            .unwrap_err()
            .code(),
        tonic::Code::Unauthenticated
    );

    let mut watch = tonic::Request::new(ordering::WatchOrderRequest {
        order_id: "o-2".into(),
        ..Default::default()
    });
    watch.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", token(Role::CustomerAdmin))
            .parse()
            .unwrap(),
    );
    let mut stream = orders.watch_order(watch).await.unwrap().into_inner();
    let mut updates = Vec::new();
    while let Some(update) = stream.message().await.unwrap() {
        updates.push(update);
    }
    assert_eq!(updates.len(), 3);
    assert!(updates[2].settled);

    // google.rpc details survive the proxy.
    let mut catalog_client = catalog::catalog_service_client::CatalogServiceClient::new(channel);
    let mut bad = tonic::Request::new(catalog::GetPlanRequest {
        plan_id: "bad".into(),
        reseller_id: String::new(),
    });
    bad.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", token(Role::ResellerUser))
            .parse()
            .unwrap(),
    );
    let status = catalog_client.get_plan(bad).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let error = marketplace_platform::ServiceError::from_status(&status);
    assert_eq!(error.violations[0].field, "plan_id");
}

/// A server stream through the proxy ends with DEADLINE_EXCEEDED at the client's
/// `grpc-timeout`, even though neither this client nor the service behind enforces it.
#[tokio::test]
async fn grpc_proxy_ends_streams_at_the_clients_deadline() {
    let h = Harness::start().await;
    let mut orders = ordering::order_service_client::OrderServiceClient::new(h.channel().await);
    let mut watch = tonic::Request::new(ordering::WatchOrderRequest {
        order_id: "forever".into(),
        ..Default::default()
    });
    let metadata = watch.metadata_mut();
    metadata.insert(
        "authorization",
        format!("Bearer {}", token(Role::ResellerUser))
            .parse()
            .unwrap(),
    );
    metadata.insert("grpc-timeout", "300m".parse().unwrap());
    let mut stream = orders.watch_order(watch).await.unwrap().into_inner();
    assert!(stream.message().await.unwrap().is_some());
    let end = tokio::time::timeout(std::time::Duration::from_secs(20), stream.message())
        .await
        .expect("the proxy ends the stream");
    let status = end.expect_err("DEADLINE_EXCEEDED");
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
}

#[tokio::test]
async fn grpc_reflection_and_health_are_served_without_credentials() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let h = Harness::start().await;
    let channel = h.channel().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.status, ServingStatus::Serving as i32);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "marketplace.ordering.v1.OrderService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.status, ServingStatus::Serving as i32);

    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(
            channel.clone(),
        );
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "marketplace.catalog.v1.CatalogService",
        "marketplace.ordering.v1.OrderService",
        "marketplace.ordering.v1.CartService",
        "marketplace.notification.v1.WebhookService",
        "marketplace.gateway.v1.ApiKeyService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }

    let mut alpha =
        tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient::new(
            channel,
        );
    let request = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let mut responses = alpha
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    assert!(responses.message().await.unwrap().is_some());
}

#[tokio::test]
async fn grpc_web_with_cors_exposes_grpc_status() {
    use prost::Message;
    let h = Harness::start().await;
    let message = catalog::GetPlanRequest {
        plan_id: "p1".into(),
        reseller_id: String::new(),
    }
    .encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    let url = format!("{}/marketplace.catalog.v1.CatalogService/GetPlan", h.grpc);

    let preflight = h
        .http
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-grpc-web,authorization",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert!(
        preflight
            .headers()
            .contains_key("access-control-allow-origin")
    );

    let response = h
        .http
        .post(&url)
        .header("origin", "https://app.example")
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header(
            "authorization",
            format!("Bearer {}", token(Role::ResellerUser)),
        )
        .body(frame)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        exposed.contains("grpc-status") && exposed.contains("grpc-message"),
        "{exposed}"
    );
    let body = response.bytes().await.unwrap();
    assert_eq!(body[0], 0, "data frame first");
    let length = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let plan = catalog::Plan::decode(&body[5..5 + length]).unwrap();
    assert_eq!(plan.name, "user-reseller_user");
    let trailers = String::from_utf8_lossy(&body[5 + length..]);
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
}

#[tokio::test]
async fn openapi_document_matches_the_routes_exactly() {
    let h = Harness::start().await;
    let response = h.http.get(h.url("/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();

    let mut operation_ids = std::collections::BTreeSet::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            assert!(
                operation_ids.insert(operation["operationId"].as_str().unwrap().to_string()),
                "duplicate operationId"
            );
            let url = h.url(&concrete_path(path));
            let status = h
                .http
                .request(method.to_uppercase().parse().unwrap(), &url)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            if path.starts_with("/v1/") {
                assert_eq!(status, 401, "{method} {path} is documented but not served");
            } else {
                assert_eq!(status, 200, "{method} {path}");
            }
            // Every $ref resolves.
            for reference in collect_refs(operation) {
                let name = reference.trim_start_matches("#/components/schemas/");
                assert!(
                    document["components"]["schemas"].get(name).is_some(),
                    "dangling {reference}"
                );
            }
        }
    }
    // Every public operation is documented, and nothing else is.
    for (op, _) in gateway::ROLE_MATRIX {
        let (service, method) = op.split_once('/').unwrap();
        let id = format!("{}_{method}", service.rsplit('.').next().unwrap());
        assert!(
            operation_ids.contains(&id),
            "{op} missing from the OpenAPI document"
        );
    }
    assert_eq!(operation_ids.len(), gateway::ROLE_MATRIX.len() + 3);
    // Undocumented paths and methods are not served.
    assert_eq!(
        h.http
            .get(h.url("/v1/unknown"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        h.http
            .put(h.url("/v1/plans"))
            .send()
            .await
            .unwrap()
            .status(),
        405
    );
    // Schemas use the canonical JSON names.
    let plan = &document["components"]["schemas"]["marketplace.catalog.v1.Plan"]["properties"];
    assert!(plan.get("autodeskProductId").is_some() && plan.get("autodesk_product_id").is_none());
}

fn collect_refs(value: &Value) -> Vec<String> {
    match value {
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| {
                if k == "$ref" {
                    v.as_str().map(|s| vec![s.to_string()]).unwrap_or_default()
                } else {
                    collect_refs(v)
                }
            })
            .collect(),
        Value::Array(items) => items.iter().flat_map(collect_refs).collect(),
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn rate_limit_per_principal_answers_429_with_retry_after() {
    let h = Harness::start_with(marketplace_platform::db::Backend::Sqlite, |s| {
        s.rate_limit.enabled = true;
        s.rate_limit.requests_per_second = 0.5;
        s.rate_limit.burst = 2.0;
    })
    .await;
    let user = token(Role::ResellerUser);
    assert_eq!(h.get("/v1/plans", &user).await.status(), 200);
    assert_eq!(h.get("/v1/plans", &user).await.status(), 200);
    let limited = h.get("/v1/plans", &user).await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3).contains(&retry_after));
    problem(limited, 429).await;
    assert_eq!(
        h.get("/v1/plans", &token(Role::ResellerAdmin))
            .await
            .status(),
        200,
        "another principal has its own bucket"
    );
    let channel = h.channel().await;
    assert_eq!(
        raw_call(
            channel,
            "/marketplace.catalog.v1.CatalogService/ListPlans",
            &bearer(Role::ResellerUser)
        )
        .await,
        tonic::Code::ResourceExhausted
    );
}

#[tokio::test]
async fn health_endpoints_answer() {
    let h = Harness::start().await;
    assert_eq!(
        h.http
            .get(h.url("/health/livez"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ready: Value = h
        .http
        .get(h.url("/health/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
}

#[tokio::test]
async fn jwks_url_keys_verify_es256_tokens() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(|| async { EC_JWKS }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let h = Harness::start_with(marketplace_platform::db::Backend::Sqlite, move |s| {
        s.auth.jwks_url = Some(jwks_url)
    })
    .await;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("test-es256".into());
    let token = jsonwebtoken::encode(
        &header,
        &claims(600, AUDIENCE, ISSUER),
        &EncodingKey::from_ec_pem(EC_PRIVATE_PEM.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(h.get("/v1/plans", &token).await.status(), 200);
    // An HS256 token signed with the public key material as a secret (algorithm confusion) fails.
    let confused = signed(claims(600, AUDIENCE, ISSUER), EC_JWKS);
    problem(h.get("/v1/plans", &confused).await, 401).await;
}

#[tokio::test]
async fn grpc_messages_over_the_size_limit_are_refused() {
    use prost::Message;
    let h = Harness::start_with(marketplace_platform::db::Backend::Sqlite, |s| {
        s.server.max_message_bytes = 1024
    })
    .await;
    let channel = h.channel().await;
    let small = catalog::GetPlanRequest {
        plan_id: "p1".into(),
        reseller_id: String::new(),
    }
    .encode_to_vec();
    let large = catalog::GetPlanRequest {
        plan_id: "p".repeat(4096),
        reseller_id: String::new(),
    }
    .encode_to_vec();
    let path = "/marketplace.catalog.v1.CatalogService/GetPlan";
    assert_eq!(
        support::raw_call_with(channel.clone(), path, &bearer(Role::ResellerUser), small).await,
        tonic::Code::Ok
    );
    assert_eq!(
        support::raw_call_with(channel, path, &bearer(Role::ResellerUser), large).await,
        tonic::Code::ResourceExhausted
    );
}

/// Drives every documented operation with malformed input derived from the OpenAPI document
/// (bad JSON, wrong shapes, unknown fields, mistyped and unknown query parameters, random bytes):
/// the gateway refuses all of it with a 4xx problem, never a 5xx.
#[tokio::test]
async fn openapi_driven_bad_input_never_yields_a_5xx() {
    let h = Harness::start().await;
    let document: Value = h
        .http
        .get(h.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/") {
            continue;
        }
        let url = h.url(&concrete_path(path));
        for (method, operation) in item.as_object().unwrap() {
            let rpc = operation["operationId"].as_str().unwrap().replace('_', "/");
            let grpc_path = ROLE_PATHS.iter().find(|p| p.ends_with(&rpc)).unwrap();
            let role = gateway::allowed_roles(grpc_path).unwrap()[0];
            let bearer = token(role);
            let http_method: reqwest::Method = method.to_uppercase().parse().unwrap();
            let send = |query: String, body: Option<Vec<u8>>| {
                let request = h
                    .http
                    .request(http_method.clone(), format!("{url}{query}"))
                    .bearer_auth(&bearer);
                let request = match body {
                    Some(body) => request
                        .header("content-type", "application/json")
                        .body(body),
                    None => request,
                };
                request.send()
            };
            let mut cases: Vec<(String, Option<Vec<u8>>)> =
                vec![("?definitelyNotAField=1".into(), None)];
            if operation.get("requestBody").is_some() {
                cases.push((
                    String::new(),
                    Some(b"{\"definitelyNotAField\": 1}".to_vec()),
                ));
                cases.push((String::new(), Some(b"{not json".to_vec())));
                cases.push((String::new(), Some(b"[1, 2, 3]".to_vec())));
                cases.push((String::new(), Some(b"\"text\"".to_vec())));
                for _ in 0..3 {
                    let mut junk = vec![b'#'];
                    junk.extend((0..(random() % 64)).map(|_| (random() % 256) as u8));
                    cases.push((String::new(), Some(junk)));
                }
            }
            for parameter in operation["parameters"].as_array().unwrap() {
                if parameter["in"] != "query" {
                    continue;
                }
                let name = parameter["name"].as_str().unwrap();
                let bad = match parameter["schema"]["type"].as_str() {
                    Some("integer") => "twelve",
                    Some("boolean") => "maybe",
                    Some("array") if parameter["schema"]["items"]["type"] == "integer" => "x",
                    _ => continue,
                };
                cases.push((format!("?{name}={bad}"), None));
            }
            for (query, body) in cases {
                let described = format!(
                    "{method} {path}{query} body={:?}",
                    body.as_ref()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                );
                let response = send(query, body).await.unwrap();
                let status = response.status().as_u16();
                assert!((400..500).contains(&status), "{described}: got {status}");
                assert_eq!(content_type(&response), PROBLEM, "{described}");
                checked += 1;
            }
        }
    }
    assert!(checked > 200, "only {checked} cases");
}

#[tokio::test]
async fn shutdown_turns_readiness_off_then_ends_streams_and_returns() {
    let mut h = Harness::start_with(marketplace_platform::db::Backend::Sqlite, |s| {
        s.http.grace_period_ms = 600;
        s.http.drain_timeout_ms = 2_000;
    })
    .await;
    let mut watch = h
        .get("/v1/orders/forever:watch", &token(Role::ResellerUser))
        .await;
    assert_eq!(watch.status(), 200);
    let first = watch.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("data:"));

    h.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    problem(
        h.http.get(h.url("/health/readyz")).send().await.unwrap(),
        503,
    )
    .await;

    let started = std::time::Instant::now();
    let running = h.running.take().unwrap();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("run returns")
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "streams end with the grace period, not the drain timeout"
    );
    let mut rest = String::new();
    while let Ok(Some(chunk)) = watch.chunk().await {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!rest.contains("event: error"), "{rest}");
}

#[tokio::test]
async fn grpc_unary_calls_get_the_route_deadline() {
    let h = Harness::start_with(marketplace_platform::db::Backend::Sqlite, |s| {
        s.http.route_timeouts_ms.insert("GetPlan".into(), 300);
    })
    .await;
    let mut client = catalog::catalog_service_client::CatalogServiceClient::new(h.channel().await);
    let mut request = tonic::Request::new(catalog::GetPlanRequest {
        plan_id: "slow".into(),
        reseller_id: String::new(),
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", token(Role::ResellerUser))
            .parse()
            .unwrap(),
    );
    let started = std::time::Instant::now();
    let status = client.get_plan(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn rest_cors_preflight_allows_browser_frontends() {
    let h = Harness::start().await;
    let preflight = h
        .http
        .request(reqwest::Method::OPTIONS, h.url("/v1/orders"))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,idempotency-key",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("idempotency-key"), "{allowed}");
    let response = h
        .http
        .get(h.url("/v1/plans/p1"))
        .header("origin", "https://shop.example")
        .bearer_auth(token(Role::ResellerUser))
        .send()
        .await
        .unwrap();
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("etag") && exposed.contains("retry-after"),
        "{exposed}"
    );
}
