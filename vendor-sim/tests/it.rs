//! Integration tests: both simulators on 127.0.0.1:0, driven over plain HTTP with reqwest.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use vendor_sim::{
    Fault, FaultKind, Journal, SimConfig, Vendor, VendorSim, autodesk, microsoft, operations as ops,
};

// ---------------------------------------------------------------------------------------------
// harness

struct Sim {
    sim: VendorSim,
    autodesk: String,
    microsoft: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
    /// Seconds added to the wall clock (only when started with `start_with_manual_clock`).
    wall_offset: Arc<AtomicI64>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn start() -> Sim {
    start_with(SimConfig::default(), Arc::new(AtomicI64::new(0))).await
}

async fn start_with_manual_clock() -> Sim {
    let offset = Arc::new(AtomicI64::new(0));
    let clock_offset = offset.clone();
    let config = SimConfig {
        clock: Arc::new(move || {
            OffsetDateTime::now_utc() + time::Duration::seconds(clock_offset.load(Ordering::SeqCst))
        }),
        ..SimConfig::default()
    };
    start_with(config, offset).await
}

async fn start_with(config: SimConfig, wall_offset: Arc<AtomicI64>) -> Sim {
    let sim = VendorSim::new(config);
    let autodesk = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let microsoft = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let autodesk_url = format!("http://{}", autodesk.local_addr().expect("addr"));
    let microsoft_url = format!("http://{}", microsoft.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    tokio::spawn(sim.clone().serve(autodesk, microsoft, shutdown.clone()));
    // reqwest is built without a TLS crypto provider (plain http only); it still wants one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client");
    Sim {
        sim,
        autodesk: autodesk_url,
        microsoft: microsoft_url,
        http,
        shutdown,
        wall_offset,
    }
}

async fn send(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.expect("request failed");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn header(map: &mut HeaderMap, name: &'static str, value: &str) {
    map.insert(name, HeaderValue::from_str(value).expect("header value"));
}

// --- Autodesk client ---

impl Sim {
    fn timestamp(&self) -> String {
        (OffsetDateTime::now_utc().unix_timestamp() + self.wall_offset.load(Ordering::SeqCst))
            .to_string()
    }

    fn token_headers(&self, secret: &str, timestamp: &str) -> HeaderMap {
        let creds = &self.sim.config().autodesk;
        let basic = base64_encode(&format!("{}:{}", creds.consumer_key, creds.consumer_secret));
        let mut h = HeaderMap::new();
        header(&mut h, "authorization", &format!("Basic {basic}"));
        header(&mut h, "timestamp", timestamp);
        header(
            &mut h,
            "signature",
            &autodesk::signature(secret, &creds.callback_url, &creds.consumer_key, timestamp),
        );
        h
    }

    async fn request_token(&self, headers: HeaderMap) -> Reply {
        send(
            self.http
                .post(format!(
                    "{}/v2/oauth/generateaccesstoken?grant_type=client_credentials",
                    self.autodesk
                ))
                .headers(headers),
        )
        .await
    }

    async fn ad_token(&self) -> String {
        let creds = &self.sim.config().autodesk;
        let reply = self
            .request_token(self.token_headers(&creds.consumer_secret, &self.timestamp()))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    fn ad_headers(&self, token: &str) -> HeaderMap {
        let creds = &self.sim.config().autodesk;
        let ts = self.timestamp();
        let mut h = HeaderMap::new();
        header(&mut h, "authorization", &format!("Bearer {token}"));
        header(&mut h, "timestamp", &ts);
        header(
            &mut h,
            "signature",
            &autodesk::signature(&creds.consumer_secret, &creds.callback_url, token, &ts),
        );
        header(&mut h, "csn", &creds.partner_csn);
        h
    }

    async fn ad_post_with(&self, path: &str, headers: HeaderMap, body: &Value) -> Reply {
        send(
            self.http
                .post(format!("{}{path}", self.autodesk))
                .headers(headers)
                .json(body),
        )
        .await
    }

    async fn ad_order(&self, token: &str, body: &Value) -> Reply {
        let path = match body["action"].as_str() {
            Some("RemoveSeats" | "TurnOffAutoRenew") => "/v2/orders/revoke",
            _ => "/v2/orders/fulfillment",
        };
        self.ad_post_with(path, self.ad_headers(token), body).await
    }

    /// Places an order that must be accepted; returns the transaction id.
    async fn ad_accepted(&self, token: &str, body: &Value) -> String {
        let reply = self.ad_order(token, body).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
        reply.body["transactionId"]
            .as_str()
            .expect("transactionId")
            .to_owned()
    }

    async fn ad_status(&self, token: &str, transaction_id: &str) -> Value {
        let reply = send(
            self.http
                .get(format!(
                    "{}/v1/orders/status/{transaction_id}",
                    self.autodesk
                ))
                .headers(self.ad_headers(token)),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body
    }

    // --- Microsoft client ---

    async fn ms(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        request_id: Option<&str>,
    ) -> Reply {
        let mut h = HeaderMap::new();
        header(
            &mut h,
            "authorization",
            &format!("Bearer {}", self.sim.config().microsoft.bearer_token),
        );
        header(
            &mut h,
            "ms-correlationid",
            &uuid::Uuid::new_v4().to_string(),
        );
        if let Some(id) = request_id {
            header(&mut h, "ms-requestid", id);
        }
        let mut req = self
            .http
            .request(method, format!("{}/v1{path}", self.microsoft))
            .headers(h);
        if let Some(body) = body {
            req = req.json(body);
        }
        send(req).await
    }

    async fn ms_ok(&self, method: Method, path: &str, body: Option<&Value>) -> Value {
        let reply = self
            .ms(method, path, body, Some(&uuid::Uuid::new_v4().to_string()))
            .await;
        assert!(
            reply.status.is_success(),
            "{path}: {} {}",
            reply.status,
            reply.body
        );
        reply.body
    }

    /// A customer with an attested MCA; returns the tenant id.
    async fn ms_customer(&self, domain_prefix: &str, with_mca: bool) -> String {
        let customer = self
            .ms_ok(
                Method::POST,
                "/customers",
                Some(&customer_body(domain_prefix)),
            )
            .await;
        let id = customer["id"].as_str().expect("customer id").to_owned();
        if with_mca {
            let meta = self
                .ms_ok(
                    Method::GET,
                    "/agreements?agreementType=MicrosoftCustomerAgreement",
                    None,
                )
                .await;
            let template = meta["items"][0]["templateId"]
                .as_str()
                .expect("templateId")
                .to_owned();
            self.ms_ok(
                Method::POST,
                &format!("/customers/{id}/agreements"),
                Some(&mca_body(&template)),
            )
            .await;
        }
        id
    }

    async fn ms_cart(&self, customer: &str, quantity: u32, mpn: &str) -> String {
        let cart = self
            .ms_ok(
                Method::POST,
                &format!("/customers/{customer}/carts"),
                Some(&cart_body(quantity, mpn)),
            )
            .await;
        assert_eq!(cart["status"], "Active");
        cart["id"].as_str().expect("cart id").to_owned()
    }

    async fn ms_checkout(&self, customer: &str, cart: &str, request_id: &str) -> Reply {
        self.ms(
            Method::POST,
            &format!("/customers/{customer}/carts/{cart}/checkout"),
            None,
            Some(request_id),
        )
        .await
    }

    /// Customer with MCA + cart + checkout (delay 0): returns (customer, subscription id).
    async fn ms_subscription(&self, domain_prefix: &str, quantity: u32) -> (String, String) {
        let customer = self.ms_customer(domain_prefix, true).await;
        let cart = self.ms_cart(&customer, quantity, "1234567").await;
        let reply = self
            .ms_checkout(&customer, &cart, &uuid::Uuid::new_v4().to_string())
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let sub = reply.body["orders"][0]["lineItems"][0]["subscriptionId"]
            .as_str()
            .expect("fulfilled at once with delay 0")
            .to_owned();
        (customer, sub)
    }

    async fn ms_patch(&self, customer: &str, sub: &str, change: impl FnOnce(&mut Value)) -> Reply {
        let path = format!("/customers/{customer}/subscriptions/{sub}");
        let mut resource = self.ms_ok(Method::GET, &path, None).await;
        change(&mut resource);
        self.ms(
            Method::PATCH,
            &path,
            Some(&resource),
            Some(&uuid::Uuid::new_v4().to_string()),
        )
        .await
    }

    // --- control ---

    async fn control(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{}/_sim{path}", self.microsoft));
        if let Some(body) = body {
            req = req.json(body);
        }
        send(req).await
    }
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn new_order(po: &str, part: &str, email: &str, quantity: u32) -> Value {
    json!({
        "action": "New",
        "poNumber": po,
        "reseller": "5100000002",
        "soldTo": "5100000002",
        "endCustomerAccount": {"csn": null, "name": "Acme Engineering", "addressLine1": "1 Main St", "city": "Berlin", "countryCode": "DE"},
        "endCustomerContractManager": {"firstName": "Ada", "lastName": "Lovelace", "email": email},
        "items": [{"partNumber": part, "quantity": quantity}],
    })
}

fn change_order(action: &str, po: &str, subscription: &str, quantity: Option<u32>) -> Value {
    let mut item = json!({"subscriptionId": subscription});
    if let Some(q) = quantity {
        item["quantity"] = json!(q);
    }
    json!({"action": action, "poNumber": po, "items": [item]})
}

fn customer_body(domain_prefix: &str) -> Value {
    json!({
        "companyProfile": {"domain": format!("{domain_prefix}.onmicrosoft.com")},
        "billingProfile": {
            "email": "admin@contoso.example",
            "culture": "en-US",
            "language": "en",
            "companyName": "Contoso",
            "defaultAddress": {"firstName": "Gena", "lastName": "Soto", "addressLine1": "1 Main St", "city": "Redmond", "state": "WA", "postalCode": "98052", "country": "US", "phoneNumber": "4255550101"}
        }
    })
}

fn mca_body(template: &str) -> Value {
    json!({
        "primaryContact": {"firstName": "Gena", "lastName": "Soto", "email": "gena@contoso.example"},
        "templateId": template,
        "dateAgreed": "2026-11-20T00:00:00Z",
        "type": "MicrosoftCustomerAgreement",
    })
}

fn cart_body(quantity: u32, mpn: &str) -> Value {
    json!({
        "lineItems": [{
            "id": 0,
            "catalogItemId": "CFQ7TTC0LH18:0001:CFQ7TTC0K18P",
            "friendlyName": "Microsoft 365 Business Basic",
            "quantity": quantity,
            "billingCycle": "monthly",
            "termDuration": "P1Y",
            "partnerIdOnRecord": mpn,
            "provisioningContext": {},
        }]
    })
}

fn effective_ops(journal: &Journal) -> Vec<&str> {
    journal
        .effective_provisionings
        .iter()
        .map(|e| e.operation.as_str())
        .collect()
}

const PART: &str = "C1RK1WW1762T548";

// ---------------------------------------------------------------------------------------------
// Autodesk

#[tokio::test]
async fn autodesk_token_requires_a_valid_signature_and_fresh_timestamp() {
    let s = start().await;
    let creds = s.sim.config().autodesk.clone();

    let ok = s
        .request_token(s.token_headers(&creds.consumer_secret, &s.timestamp()))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body["token_type"], "Bearer");
    assert_eq!(ok.body["expires_in"], 1799);
    assert!(
        ok.body["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );

    let bad_signature = s
        .request_token(s.token_headers("wrong-secret", &s.timestamp()))
        .await;
    assert_eq!(bad_signature.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        bad_signature.body["errorCode"],
        autodesk::codes::INVALID_SIGNATURE
    );

    let stale = (OffsetDateTime::now_utc().unix_timestamp() - 600).to_string();
    let stale = s
        .request_token(s.token_headers(&creds.consumer_secret, &stale))
        .await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED);
    assert_eq!(stale.body["errorCode"], autodesk::codes::INVALID_TIMESTAMP);

    let mut missing = s.token_headers(&creds.consumer_secret, &s.timestamp());
    missing.remove("signature");
    let missing = s.request_token(missing).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing.body["errorCode"],
        autodesk::codes::MISSING_SIGNATURE
    );

    let mut wrong_basic = s.token_headers(&creds.consumer_secret, &s.timestamp());
    header(
        &mut wrong_basic,
        "authorization",
        &format!("Basic {}", base64_encode("demo-autodesk-key:nope")),
    );
    let wrong_basic = s.request_token(wrong_basic).await;
    assert_eq!(wrong_basic.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong_basic.body["errorCode"],
        autodesk::codes::TOKEN_GENERATION_FAILED
    );
}

#[tokio::test]
async fn autodesk_api_calls_need_token_signature_timestamp_and_csn() {
    let s = start().await;
    let token = s.ad_token().await;
    let body = new_order("PO-AUTH", PART, "ada@acme.example", 1);
    let path = "/v2/orders/fulfillment";

    let mut no_csn = s.ad_headers(&token);
    no_csn.remove("csn");
    let r = s.ad_post_with(path, no_csn, &body).await;
    assert_eq!(
        (r.status, r.body["errorCode"].clone()),
        (StatusCode::UNAUTHORIZED, json!("4100"))
    );

    let mut wrong_csn = s.ad_headers(&token);
    header(&mut wrong_csn, "csn", "5199999999");
    let r = s.ad_post_with(path, wrong_csn, &body).await;
    assert_eq!(
        (r.status, r.body["errorCode"].clone()),
        (StatusCode::FORBIDDEN, json!("4300"))
    );

    let mut bad_sig = s.ad_headers(&token);
    header(
        &mut bad_sig,
        "signature",
        &autodesk::signature("x", "y", &token, "1"),
    );
    let r = s.ad_post_with(path, bad_sig, &body).await;
    assert_eq!(
        (r.status, r.body["errorCode"].clone()),
        (StatusCode::FORBIDDEN, json!("4301"))
    );

    let r = s
        .ad_post_with(path, s.ad_headers("not-a-token"), &body)
        .await;
    assert_eq!(
        (r.status, r.body["errorCode"].clone()),
        (StatusCode::UNAUTHORIZED, json!("4105"))
    );

    assert!(s.sim.journal().effective_provisionings.is_empty());
}

#[tokio::test]
async fn credentials_can_be_refused_and_accepted_again_over_the_control_api() {
    let s = start().await;
    let token = s.ad_token().await;
    let set = |body: Value, path: &'static str| {
        let s = &s;
        async move {
            let r = s.control(Method::POST, path, Some(&body)).await;
            assert_eq!(r.status, StatusCode::NO_CONTENT, "{path}: {}", r.body);
        }
    };

    // Autodesk: a rotated secret revokes the issued token and refuses ours (4105, then 4106).
    set(
        json!({"consumer_secret": "rotated"}),
        "/autodesk/credentials",
    )
    .await;
    let r = s
        .ad_order(&token, &new_order("PO-CRED-1", PART, "ada@acme.example", 1))
        .await;
    assert_eq!(
        (r.status, r.body["errorCode"].clone()),
        (
            StatusCode::UNAUTHORIZED,
            json!(autodesk::codes::INVALID_TOKEN)
        )
    );
    let creds = s.sim.config().autodesk.clone();
    let refused = s
        .request_token(s.token_headers(&creds.consumer_secret, &s.timestamp()))
        .await;
    assert_eq!(
        (refused.status, refused.body["errorCode"].clone()),
        (
            StatusCode::UNAUTHORIZED,
            json!(autodesk::codes::TOKEN_GENERATION_FAILED)
        )
    );
    set(json!({"consumer_secret": null}), "/autodesk/credentials").await;
    let fresh = s.ad_token().await;
    s.ad_accepted(&fresh, &new_order("PO-CRED-1", PART, "ada@acme.example", 1))
        .await;

    // Partner Center: another accepted token makes ours 401, until it is restored.
    set(
        json!({"bearer_token": "someone-else"}),
        "/microsoft/credentials",
    )
    .await;
    let r = s
        .ms(
            Method::GET,
            "/agreements?agreementType=MicrosoftCustomerAgreement",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    set(json!({}), "/microsoft/credentials").await;
    let r = s
        .ms(
            Method::GET,
            "/agreements?agreementType=MicrosoftCustomerAgreement",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let bad = s
        .control(
            Method::POST,
            "/autodesk/credentials",
            Some(&json!({"secret": "x"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn autodesk_tokens_expire() {
    let s = start_with_manual_clock().await;
    let token = s.ad_token().await;
    s.ad_accepted(&token, &new_order("PO-EXP-1", PART, "ada@acme.example", 1))
        .await;
    s.wall_offset.store(1800, Ordering::SeqCst);
    let r = s
        .ad_order(&token, &new_order("PO-EXP-2", PART, "ada@acme.example", 1))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["errorCode"], autodesk::codes::INVALID_TOKEN);
    let fresh = s.ad_token().await;
    s.ad_accepted(&fresh, &new_order("PO-EXP-2", PART, "ada@acme.example", 1))
        .await;
}

#[tokio::test]
async fn autodesk_order_is_processing_until_the_delay_passes_then_completed() {
    let s = start().await;
    s.sim.set_provisioning_delay(Duration::from_secs(3600));
    let token = s.ad_token().await;
    let tx = s
        .ad_accepted(&token, &new_order("PO-1001", PART, "ada@acme.example", 3))
        .await;

    let status = s.ad_status(&token, &tx).await;
    assert_eq!(status["status"], "Processing");
    assert!(status["last_updated"].is_string() && status["message"].is_string());
    assert!(s.sim.effective_provisionings().is_empty());

    s.sim.advance_now(time::Duration::hours(2));
    let status = s.ad_status(&token, &tx).await;
    assert_eq!(status["status"], "Completed", "{status}");
    let sub = &status["subscriptions"][0];
    assert!(sub["subscriptionId"].is_string());
    assert_eq!(sub["quantity"], 3);
    assert_eq!(sub["partNumber"], PART);
    let start = time::Date::parse(
        sub["startDate"].as_str().unwrap_or_default(),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .expect("startDate");
    let end = time::Date::parse(
        sub["endDate"].as_str().unwrap_or_default(),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .expect("endDate");
    assert!(
        (end - start).whole_days() >= 364 && (end - start).whole_days() <= 365,
        "12-month term"
    );
    assert!(
        status["accountPortalUrl"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://manage.autodesk.com/"))
    );
    assert!(
        status["endCustomerCsn"]
            .as_str()
            .is_some_and(|c| c.len() == 10)
    );

    let effects = s.sim.effective_provisionings();
    assert_eq!(effects.len(), 1);
    assert_eq!(effects[0].operation, "new");
    assert_eq!(effects[0].client_reference, "PO-1001");
    assert_eq!(effects[0].vendor_reference, tx);
}

#[tokio::test]
async fn autodesk_same_po_number_returns_the_same_transaction_and_provisions_once() {
    let s = start().await;
    let token = s.ad_token().await;
    let order = new_order("PO-DUP", PART, "ada@acme.example", 2);
    let first = s.ad_accepted(&token, &order).await;
    let second = s.ad_accepted(&token, &order).await;
    assert_eq!(first, second);
    // partnerOrderId wins over poNumber as the reference
    let mut a = new_order("PO-A", PART, "ada@acme.example", 1);
    a["partnerOrderId"] = json!("mk-order-7");
    let mut b = new_order("PO-B", PART, "ada@acme.example", 1);
    b["partnerOrderId"] = json!("mk-order-7");
    assert_eq!(
        s.ad_accepted(&token, &a).await,
        s.ad_accepted(&token, &b).await
    );

    let journal = s.sim.journal();
    assert_eq!(journal.requests_for(ops::AUTODESK_PLACE_ORDER).count(), 4);
    let counts = journal.effective_count_by_reference();
    assert_eq!(counts.get("PO-DUP"), Some(&1));
    assert_eq!(counts.get("mk-order-7"), Some(&1));
    assert_eq!(journal.effective_provisionings.len(), 2);
}

#[tokio::test]
async fn autodesk_business_errors_fail_the_order_asynchronously() {
    let s = start().await;
    let token = s.ad_token().await;

    let tx = s
        .ad_accepted(
            &token,
            &new_order("PO-BADPART", "000000000000000", "ada@acme.example", 1),
        )
        .await;
    let status = s.ad_status(&token, &tx).await;
    assert_eq!(status["status"], "Failed");
    assert_eq!(
        status["error"]["code"],
        autodesk::codes::PART_NUMBER_NOT_FOUND
    );

    let tx = s
        .ad_accepted(
            &token,
            &new_order("PO-SHORTPART", "ABC", "ada@acme.example", 1),
        )
        .await;
    assert_eq!(
        s.ad_status(&token, &tx).await["error"]["code"],
        autodesk::codes::PART_NUMBER_NOT_FOUND
    );

    let tx = s
        .ad_accepted(
            &token,
            &new_order("PO-BADMAIL", PART, "ada@acme.invalid", 1),
        )
        .await;
    let status = s.ad_status(&token, &tx).await;
    assert_eq!(status["status"], "Failed");
    assert_eq!(
        status["error"]["code"],
        autodesk::codes::INVALID_CONTACT_EMAIL
    );
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.contains("ada@acme.invalid"))
    );

    let tx = s
        .ad_accepted(
            &token,
            &change_order("AddSeats", "PO-NOSUB", "72000000999999", Some(1)),
        )
        .await;
    assert_eq!(
        s.ad_status(&token, &tx).await["error"]["code"],
        autodesk::codes::SUBSCRIPTION_NOT_FOUND
    );

    assert!(s.sim.effective_provisionings().is_empty());
}

#[tokio::test]
async fn autodesk_rejects_malformed_orders_synchronously() {
    let s = start().await;
    let token = s.ad_token().await;
    let path = "/v2/orders/fulfillment";

    let not_json = send(
        s.http
            .post(format!("{}{path}", s.autodesk))
            .headers(s.ad_headers(&token))
            .body("{not json"),
    )
    .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        not_json.body["errorCode"],
        autodesk::codes::MALFORMED_REQUEST
    );

    let mut no_items = new_order("PO-X", PART, "ada@acme.example", 1);
    no_items["items"] = json!([]);
    let r = s.ad_post_with(path, s.ad_headers(&token), &no_items).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["developerMessage"]
            .as_str()
            .is_some_and(|m| m.contains("items"))
    );

    let mut no_po = new_order("PO-X", PART, "ada@acme.example", 1);
    no_po.as_object_mut().map(|o| o.remove("poNumber"));
    let r = s.ad_post_with(path, s.ad_headers(&token), &no_po).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let wrong_type = json!({"action": "New", "poNumber": 5});
    let r = s
        .ad_post_with(path, s.ad_headers(&token), &wrong_type)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let wrong_endpoint = change_order("RemoveSeats", "PO-Y", "72000000000001", Some(1));
    let r = s
        .ad_post_with(path, s.ad_headers(&token), &wrong_endpoint)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["developerMessage"]
            .as_str()
            .is_some_and(|m| m.contains("/v2/orders/revoke"))
    );

    let unknown = send(s.http.get(format!("{}/v2/nothing-here", s.autodesk))).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.body["errorCode"].is_string());
}

#[tokio::test]
async fn autodesk_seat_changes_never_refund_and_auto_renew_off_is_final() {
    let s = start().await;
    let token = s.ad_token().await;
    let tx = s
        .ad_accepted(&token, &new_order("PO-NEW", PART, "ada@acme.example", 3))
        .await;
    let sub = s.ad_status(&token, &tx).await["subscriptions"][0]["subscriptionId"]
        .as_str()
        .expect("subscription")
        .to_owned();

    let tx = s
        .ad_accepted(&token, &change_order("AddSeats", "PO-ADD", &sub, Some(2)))
        .await;
    let status = s.ad_status(&token, &tx).await;
    assert_eq!(status["subscriptions"][0]["quantity"], 5);

    let tx = s
        .ad_accepted(
            &token,
            &change_order("RemoveSeats", "PO-REMOVE", &sub, Some(1)),
        )
        .await;
    let status = s.ad_status(&token, &tx).await;
    assert_eq!(status["status"], "Completed");
    assert_eq!(status["subscriptions"][0]["quantity"], 4);
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.contains("no refund"))
    );

    let tx = s
        .ad_accepted(
            &token,
            &change_order("RemoveSeats", "PO-REMOVE-ALL", &sub, Some(4)),
        )
        .await;
    assert_eq!(
        s.ad_status(&token, &tx).await["error"]["code"],
        autodesk::codes::INVALID_SEAT_QUANTITY
    );

    let tx = s
        .ad_accepted(
            &token,
            &change_order("TurnOffAutoRenew", "PO-OFF", &sub, None),
        )
        .await;
    let status = s.ad_status(&token, &tx).await;
    assert_eq!(status["status"], "Completed");
    assert_eq!(status["subscriptions"][0]["autoRenew"], false);

    for (action, po) in [("TurnOnAutoRenew", "PO-ON"), ("Renewal", "PO-RENEW")] {
        let tx = s
            .ad_accepted(&token, &change_order(action, po, &sub, None))
            .await;
        let status = s.ad_status(&token, &tx).await;
        assert_eq!(status["status"], "Failed", "{action}");
        assert_eq!(
            status["error"]["code"],
            autodesk::codes::AUTO_RENEW_CANNOT_BE_REENABLED
        );
    }

    let journal = s.sim.journal();
    assert_eq!(
        effective_ops(&journal),
        ["new", "add_seats", "remove_seats", "auto_renew_off"]
    );
    assert_eq!(journal.effective_provisionings[2].quantity, 4);
}

#[tokio::test]
async fn autodesk_renewal_extends_the_term_by_twelve_months() {
    let s = start().await;
    let token = s.ad_token().await;
    let tx = s
        .ad_accepted(&token, &new_order("PO-R1", PART, "ada@acme.example", 1))
        .await;
    let before = s.ad_status(&token, &tx).await["subscriptions"][0].clone();
    let sub = before["subscriptionId"].as_str().expect("sub").to_owned();
    let tx = s
        .ad_accepted(&token, &change_order("Renewal", "PO-R2", &sub, None))
        .await;
    let after = s.ad_status(&token, &tx).await["subscriptions"][0].clone();
    let year = |v: &Value| {
        v["endDate"]
            .as_str()
            .and_then(|d| d.get(..4))
            .and_then(|y| y.parse::<i32>().ok())
    };
    assert_eq!(year(&after), year(&before).map(|y| y + 1));
    assert_eq!(effective_ops(&s.sim.journal()), ["new", "renewal"]);
}

// ---------------------------------------------------------------------------------------------
// Microsoft

#[tokio::test]
async fn microsoft_customer_mca_cart_checkout_provisioning_and_seat_change() {
    let s = start().await;
    s.sim.set_provisioning_delay(Duration::from_secs(600));

    let customer = s
        .ms_ok(
            Method::POST,
            "/customers",
            Some(&customer_body("contosoflow")),
        )
        .await;
    let id = customer["id"].as_str().expect("id").to_owned();
    assert_eq!(customer["companyProfile"]["tenantId"], id.as_str());
    assert!(customer["userCredentials"]["userName"].is_string());
    assert!(customer["billingProfile"]["attributes"]["etag"].is_string());
    let fetched = s
        .ms_ok(Method::GET, &format!("/customers/{id}"), None)
        .await;
    assert_eq!(
        fetched["companyProfile"]["domain"],
        "contosoflow.onmicrosoft.com"
    );
    assert!(fetched.get("userCredentials").is_none());

    let meta = s
        .ms_ok(
            Method::GET,
            "/agreements?agreementType=MicrosoftCustomerAgreement",
            None,
        )
        .await;
    assert_eq!(meta["items"][0]["templateId"], microsoft::MCA_TEMPLATE_ID);
    let mca = s
        .ms(
            Method::POST,
            &format!("/customers/{id}/agreements"),
            Some(&mca_body(microsoft::MCA_TEMPLATE_ID)),
            None,
        )
        .await;
    assert_eq!(mca.status, StatusCode::CREATED);
    assert!(mca.body["userId"].is_string());
    // Partner Center checks the attestation: the published template, and a reachable person
    // who accepted it.
    let mut unreachable = mca_body(microsoft::MCA_TEMPLATE_ID);
    unreachable["primaryContact"]["email"] = json!("gena@contoso.invalid");
    for (body, what) in [
        (mca_body("mca-2026-01"), "templateId"),
        (unreachable, "primaryContact.email"),
    ] {
        let refused = s
            .ms(
                Method::POST,
                &format!("/customers/{id}/agreements"),
                Some(&body),
                None,
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{what}: {}",
            refused.body
        );
        assert_eq!(refused.body["code"], 800002);
        assert!(
            refused.body["description"]
                .as_str()
                .unwrap_or_default()
                .contains(what),
            "{}",
            refused.body
        );
    }

    let cart = s
        .ms_ok(
            Method::POST,
            &format!("/customers/{id}/carts"),
            Some(&cart_body(3, "1234567")),
        )
        .await;
    assert_eq!(cart["status"], "Active");
    let created = OffsetDateTime::parse(
        cart["creationTimeStamp"].as_str().unwrap_or_default(),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("created");
    let expires = OffsetDateTime::parse(
        cart["expirationTimeStamp"].as_str().unwrap_or_default(),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("expires");
    assert_eq!((expires - created).whole_days(), 7);
    let cart_id = cart["id"].as_str().expect("cart id");

    let checkout = s.ms_checkout(&id, cart_id, "req-checkout-1").await;
    assert_eq!(checkout.status, StatusCode::CREATED, "{}", checkout.body);
    assert_eq!(checkout.body["orderErrors"], json!([]));
    let order = &checkout.body["orders"][0];
    assert_eq!(order["status"], "pending");
    let order_id = order["id"].as_str().expect("order id").to_owned();

    // polling reuses one MS-RequestId: GETs are never replayed
    let prov_path = format!("/customers/{id}/orders/{order_id}/provisioningstatus");
    let prov = s
        .ms(Method::GET, &prov_path, None, Some("req-poll"))
        .await
        .body;
    assert_eq!(prov["items"][0]["status"], "PrefulfillmentPending");
    assert_eq!(prov["items"][0]["lineItemNumber"], 0);

    s.sim.advance_now(time::Duration::minutes(11));
    let prov = s
        .ms(Method::GET, &prov_path, None, Some("req-poll"))
        .await
        .body;
    assert_eq!(prov["items"][0]["status"], "Fulfilled");
    assert_eq!(
        prov["items"][0]["quantityProvisioningInformation"][0]["quantity"],
        3
    );
    let order = s
        .ms_ok(
            Method::GET,
            &format!("/customers/{id}/orders/{order_id}"),
            None,
        )
        .await;
    assert_eq!(order["status"], "completed");
    let sub_id = order["lineItems"][0]["subscriptionId"]
        .as_str()
        .expect("linked subscription")
        .to_owned();

    let sub = s
        .ms_ok(
            Method::GET,
            &format!("/customers/{id}/subscriptions/{sub_id}"),
            None,
        )
        .await;
    assert_eq!(sub["quantity"], 3);
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["autoRenewEnabled"], true);
    assert_eq!(sub["offerId"], "CFQ7TTC0LH18:0001");
    assert_eq!(sub["termDuration"], "P1Y");
    assert_eq!(sub["billingCycle"], "monthly");
    assert_eq!(sub["partnerId"], "1234567");
    for field in [
        "creationDate",
        "effectiveStartDate",
        "commitmentEndDate",
        "friendlyName",
    ] {
        assert!(sub[field].is_string(), "{field}");
    }
    assert!(sub["attributes"]["etag"].is_string());

    let patched = s.ms_patch(&id, &sub_id, |r| r["quantity"] = json!(5)).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["quantity"], 5);
    assert_ne!(
        patched.body["attributes"]["etag"],
        sub["attributes"]["etag"]
    );

    let journal = s.sim.journal();
    assert_eq!(effective_ops(&journal), ["new", "add_seats"]);
    assert_eq!(
        journal.effective_provisionings[0].client_reference,
        "req-checkout-1"
    );
    assert_eq!(journal.effective_provisionings[0].subscription_id, sub_id);
    assert_eq!(journal.effective_provisionings[1].quantity, 5);
}

#[tokio::test]
async fn microsoft_request_id_replays_the_first_response_without_new_effects() {
    let s = start().await;
    let first = s
        .ms(
            Method::POST,
            "/customers",
            Some(&customer_body("replay")),
            Some("req-cust-1"),
        )
        .await;
    let again = s
        .ms(
            Method::POST,
            "/customers",
            Some(&customer_body("replay")),
            Some("req-cust-1"),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(first.body, again.body);
    assert_eq!(again.headers["ms-requestid"], "req-cust-1");
    assert!(again.headers.contains_key("ms-correlationid"));
    assert!(again.headers.contains_key("ms-cv"));
    assert!(again.headers.contains_key("ms-serverid"));

    let taken = s
        .ms(
            Method::POST,
            "/customers",
            Some(&customer_body("replay")),
            Some("req-cust-2"),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.body["code"], microsoft::codes::DOMAIN_IN_USE);
    assert_eq!(taken.body["source"], "PartnerFD");

    let customer = first.body["id"].as_str().expect("id").to_owned();
    let meta = s.ms_ok(Method::GET, "/agreements", None).await;
    let template = meta["items"][0]["templateId"]
        .as_str()
        .expect("template")
        .to_owned();
    s.ms_ok(
        Method::POST,
        &format!("/customers/{customer}/agreements"),
        Some(&mca_body(&template)),
    )
    .await;
    let cart = s.ms_cart(&customer, 2, "1234567").await;

    // concurrent twins and a later retry all get the first answer
    let (a, b) = tokio::join!(
        s.ms_checkout(&customer, &cart, "req-co-1"),
        s.ms_checkout(&customer, &cart, "req-co-1")
    );
    let c = s.ms_checkout(&customer, &cart, "req-co-1").await;
    for r in [&a, &b, &c] {
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["orders"][0]["id"], a.body["orders"][0]["id"]);
    }
    // a new request id on the ordered cart is a new (refused) checkout
    let d = s.ms_checkout(&customer, &cart, "req-co-2").await;
    assert_eq!(d.status, StatusCode::BAD_REQUEST);
    assert_eq!(d.body["code"], 800065);

    let journal = s.sim.journal();
    assert_eq!(
        journal.effective_count_by_reference().get("req-co-1"),
        Some(&1)
    );
    assert_eq!(journal.effective_provisionings.len(), 1);
    assert_eq!(
        journal
            .requests_for(ops::MICROSOFT_CHECKOUT)
            .filter(|r| r.replayed)
            .count(),
        2
    );
    assert_eq!(
        journal
            .requests_for(ops::MICROSOFT_CREATE_CUSTOMER)
            .filter(|r| r.replayed)
            .count(),
        1
    );
    let entry = journal
        .requests_for(ops::MICROSOFT_CHECKOUT)
        .next()
        .expect("journaled");
    assert_eq!(
        entry.headers.get("ms-requestid").map(String::as_str),
        Some("req-co-1")
    );
    assert_eq!(
        entry.headers.get("authorization").map(String::as_str),
        Some("Bearer")
    );
}

#[tokio::test]
async fn microsoft_checkout_without_mca_is_refused_with_13605() {
    let s = start().await;
    let customer = s.ms_customer("nomca", false).await;
    let cart = s.ms_cart(&customer, 1, "1234567").await;
    let r = s.ms_checkout(&customer, &cart, "req-nomca").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["code"], 13605);
    assert_eq!(r.body["data"], json!([]));
    assert!(s.sim.effective_provisionings().is_empty());
}

#[tokio::test]
async fn microsoft_invalid_reseller_mpn_is_refused_with_800016() {
    let s = start().await;
    let customer = s.ms_customer("mpncheck", true).await;
    for mpn in ["12345", "12a4567", "0000000"] {
        let cart = s.ms_cart(&customer, 1, mpn).await;
        let r = s.ms_checkout(&customer, &cart, &format!("req-{mpn}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{mpn}");
        assert_eq!(r.body["code"], 800016, "{mpn}");
    }
    let cart = s.ms_cart(&customer, 1, "123456").await;
    assert_eq!(
        s.ms_checkout(&customer, &cart, "req-ok").await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn microsoft_subscription_rules_cancel_window_quantity_suspension_etag() {
    let s = start().await;

    // cancel inside the 7-day window, then the deleted subscription cannot change
    let (customer, sub) = s.ms_subscription("cancelok", 2).await;
    let r = s
        .ms_patch(&customer, &sub, |r| r["status"] = json!("deleted"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "deleted");
    let r = s
        .ms_patch(&customer, &sub, |r| r["quantity"] = json!(4))
        .await;
    assert_eq!(r.body["code"], 2011);

    // quantity limits, seat decrease inside the window, suspension
    let (customer, sub) = s.ms_subscription("rules", 5).await;
    let r = s
        .ms_patch(&customer, &sub, |r| r["quantity"] = json!(301))
        .await;
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(2002))
    );
    let r = s
        .ms_patch(&customer, &sub, |r| r["quantity"] = json!(0))
        .await;
    assert_eq!(r.body["code"], 2002);
    let r = s
        .ms_patch(&customer, &sub, |r| r["quantity"] = json!(4))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = s
        .ms_patch(&customer, &sub, |r| r["status"] = json!("suspended"))
        .await;
    assert_eq!(r.body["status"], "suspended");
    let r = s
        .ms_patch(&customer, &sub, |r| r["quantity"] = json!(6))
        .await;
    assert_eq!(r.body["code"], 2001);
    let r = s
        .ms_patch(&customer, &sub, |r| r["status"] = json!("active"))
        .await;
    assert_eq!(r.body["status"], "active");
    let r = s
        .ms_patch(&customer, &sub, |r| r["autoRenewEnabled"] = json!(false))
        .await;
    assert_eq!(r.body["autoRenewEnabled"], false);

    // stale etag
    let path = format!("/customers/{customer}/subscriptions/{sub}");
    let mut h = HeaderMap::new();
    header(&mut h, "authorization", "Bearer demo-partner-center-token");
    header(&mut h, "if-match", "stale-etag");
    let r = send(
        s.http
            .patch(format!("{}/v1{path}", s.microsoft))
            .headers(h)
            .json(&json!({"quantity": 7})),
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (StatusCode::PRECONDITION_FAILED, json!(2055))
    );

    // after 7 days: no cancellation, no seat decrease, increases still fine
    s.sim.advance_now(time::Duration::days(8));
    let r = s
        .ms_patch(&customer, &sub, |r| r["status"] = json!("deleted"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["code"], microsoft::codes::STATUS_CHANGE_NOT_ALLOWED);
    assert!(
        r.body["description"]
            .as_str()
            .is_some_and(|d| d.contains("7 days"))
    );
    let r = s
        .ms_patch(&customer, &sub, |r| r["quantity"] = json!(3))
        .await;
    assert_eq!(r.body["code"], microsoft::codes::SEAT_DECREASE_NOT_ALLOWED);
    let r = s
        .ms_patch(&customer, &sub, |r| r["quantity"] = json!(6))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = s
        .ms_patch(&customer, &sub, |r| r["quantity"] = json!(5))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "seats added in the last 7 days can be removed: {}",
        r.body
    );

    let journal = s.sim.journal();
    assert_eq!(
        effective_ops(&journal),
        [
            "new",
            "cancel",
            "new",
            "remove_seats",
            "suspend",
            "resume",
            "auto_renew_off",
            "add_seats",
            "remove_seats"
        ]
    );
}

#[tokio::test]
async fn microsoft_rejects_bad_input_and_bad_tokens_with_partner_center_errors() {
    let s = start().await;
    let r = send(
        s.http
            .post(format!("{}/v1/customers", s.microsoft))
            .header("authorization", "Bearer demo-partner-center-token")
            .body("{oops"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["code"], 800002);
    assert_eq!(r.body["source"], "PartnerFD");

    let r = send(
        s.http
            .get(format!("{}/v1/customers/x", s.microsoft))
            .header("authorization", "Bearer wrong"),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.headers.contains_key("ms-requestid"));

    let customer = s.ms_customer("badinput", true).await;
    let mut cart = cart_body(1, "1234567");
    cart["lineItems"][0]["termDuration"] = json!("P2Y");
    let r = s
        .ms(
            Method::POST,
            &format!("/customers/{customer}/carts"),
            Some(&cart),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(800002))
    );
    let r = s
        .ms(
            Method::POST,
            &format!("/customers/{customer}/carts"),
            Some(&cart_body(500, "1234567")),
            None,
        )
        .await;
    assert_eq!(r.body["code"], 800067);
    let r = s
        .ms(
            Method::GET,
            &format!("/customers/{customer}/orders/nope"),
            None,
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (StatusCode::NOT_FOUND, json!(20000))
    );
    let r = s
        .ms(
            Method::GET,
            &format!("/customers/{customer}/subscriptions/nope"),
            None,
            None,
        )
        .await;
    assert_eq!(r.body["code"], 20003);
}

// ---------------------------------------------------------------------------------------------
// faults

#[tokio::test]
async fn http_status_fault_applies_times_then_is_gone() {
    let s = start().await;
    s.sim.inject(
        Fault::new(Vendor::Autodesk, FaultKind::HttpStatus { status: 503 })
            .on(ops::AUTODESK_TOKEN)
            .times(2),
    );
    let creds = s.sim.config().autodesk.clone();
    for _ in 0..2 {
        let r = s
            .request_token(s.token_headers(&creds.consumer_secret, &s.timestamp()))
            .await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.body["errorCode"].is_string());
    }
    s.ad_token().await;
    assert!(s.sim.active_faults().is_empty());
}

#[tokio::test]
async fn rate_limited_fault_answers_429_with_retry_after() {
    let s = start().await;
    s.sim.inject(
        Fault::new(
            Vendor::Microsoft,
            FaultKind::RateLimited {
                retry_after_secs: 7,
            },
        )
        .on(ops::MICROSOFT_CREATE_CUSTOMER),
    );
    s.sim.inject(Fault::new(
        Vendor::Autodesk,
        FaultKind::RateLimited {
            retry_after_secs: 3,
        },
    ));

    let r = s
        .ms(
            Method::POST,
            "/customers",
            Some(&customer_body("throttled")),
            Some("req-429"),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers["retry-after"], "7");
    assert_eq!(
        r.body,
        json!({"statusCode": 429, "message": "Rate limit is exceeded. Try again in 7 seconds."})
    );
    // a throttled answer is not stored: the retry with the same MS-RequestId is processed
    let r = s
        .ms(
            Method::POST,
            "/customers",
            Some(&customer_body("throttled")),
            Some("req-429"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    let creds = s.sim.config().autodesk.clone();
    let r = s
        .request_token(s.token_headers(&creds.consumer_secret, &s.timestamp()))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers["retry-after"], "3");
    s.ad_token().await;
}

#[tokio::test]
async fn business_error_fault_uses_the_vendor_error_shape() {
    let s = start().await;
    let customer = s.ms_customer("conflict", true).await;
    let cart = s.ms_cart(&customer, 1, "1234567").await;
    s.sim
        .inject(Fault::microsoft_order_in_progress(ops::MICROSOFT_CHECKOUT));
    let r = s.ms_checkout(&customer, &cart, "req-conflict-1").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], 800060);
    assert_eq!(r.body["source"], "PartnerFD");
    let r = s.ms_checkout(&customer, &cart, "req-conflict-1").await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "fault answers are not replayed"
    );

    s.sim.inject(
        Fault::new(
            Vendor::Autodesk,
            FaultKind::BusinessError {
                code: "UAN-GEN-00203".into(),
                status: 400,
                description: "Invalid CSN".into(),
            },
        )
        .on(ops::AUTODESK_PLACE_ORDER),
    );
    let token = s.ad_token().await;
    let r = s
        .ad_order(&token, &new_order("PO-BE", PART, "ada@acme.example", 1))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["errorCode"], "UAN-GEN-00203");
    s.ad_accepted(&token, &new_order("PO-BE", PART, "ada@acme.example", 1))
        .await;
    assert_eq!(s.sim.effective_provisionings().len(), 2);
}

#[tokio::test]
async fn delay_fault_delays_then_processes() {
    let s = start().await;
    s.sim.inject(
        Fault::new(Vendor::Microsoft, FaultKind::Delay { ms: 50 })
            .on(ops::MICROSOFT_GET_CUSTOMER)
            .times(2),
    );
    let customer = s.ms_customer("delayed", false).await;
    for _ in 0..3 {
        s.ms_ok(Method::GET, &format!("/customers/{customer}"), None)
            .await;
    }
    let journal = s.sim.journal();
    let delayed = journal
        .requests_for(ops::MICROSOFT_GET_CUSTOMER)
        .filter(|r| r.fault == Some(FaultKind::Delay { ms: 50 }))
        .count();
    assert_eq!(delayed, 2);
}

#[tokio::test]
async fn drop_connection_fault_processes_but_loses_the_answer() {
    let s = start().await;

    // Partner Center: the retry with the same MS-RequestId gets the stored answer
    let customer = s.ms_customer("dropped", true).await;
    let cart = s.ms_cart(&customer, 2, "1234567").await;
    s.sim.inject(
        Fault::new(Vendor::Microsoft, FaultKind::DropConnection).on(ops::MICROSOFT_CHECKOUT),
    );
    let lost = s
        .http
        .post(format!(
            "{}/v1/customers/{customer}/carts/{cart}/checkout",
            s.microsoft
        ))
        .header("authorization", "Bearer demo-partner-center-token")
        .header("ms-requestid", "req-drop-1")
        .send()
        .await;
    assert!(lost.is_err(), "the connection must close without an answer");
    let retry = s.ms_checkout(&customer, &cart, "req-drop-1").await;
    assert_eq!(retry.status, StatusCode::CREATED);

    // Autodesk: the retry with the same poNumber gets the same transaction
    let token = s.ad_token().await;
    s.sim.inject(
        Fault::new(Vendor::Autodesk, FaultKind::DropConnection).on(ops::AUTODESK_PLACE_ORDER),
    );
    let order = new_order("PO-DROP", PART, "ada@acme.example", 1);
    let lost = s
        .http
        .post(format!("{}/v2/orders/fulfillment", s.autodesk))
        .headers(s.ad_headers(&token))
        .json(&order)
        .send()
        .await;
    assert!(lost.is_err());
    s.ad_accepted(&token, &order).await;

    let journal = s.sim.journal();
    let counts = journal.effective_count_by_reference();
    assert_eq!(counts.get("req-drop-1"), Some(&1));
    assert_eq!(counts.get("PO-DROP"), Some(&1));
    assert_eq!(
        journal
            .requests
            .iter()
            .filter(|r| r.connection_dropped)
            .count(),
        2
    );
    let ad_tx: Vec<&Value> = journal
        .requests_for(ops::AUTODESK_PLACE_ORDER)
        .map(|r| &r.response_body["transactionId"])
        .collect();
    assert_eq!(ad_tx.len(), 2);
    assert_eq!(ad_tx[0], ad_tx[1]);
}

#[tokio::test]
async fn async_failure_fault_accepts_then_fails_the_order() {
    let s = start().await;
    let token = s.ad_token().await;
    s.sim.inject(
        Fault::new(
            Vendor::Autodesk,
            FaultKind::AsyncFailure {
                code: "E-SIM-1".into(),
                message: "backend order system error".into(),
            },
        )
        .on(ops::AUTODESK_PLACE_ORDER),
    );
    let tx = s
        .ad_accepted(
            &token,
            &new_order("PO-ASYNC-1", PART, "ada@acme.example", 1),
        )
        .await;
    let status = s.ad_status(&token, &tx).await;
    assert_eq!(status["status"], "Error");
    assert_eq!(status["error"]["code"], "E-SIM-1");
    let tx = s
        .ad_accepted(
            &token,
            &new_order("PO-ASYNC-2", PART, "ada@acme.example", 1),
        )
        .await;
    assert_eq!(s.ad_status(&token, &tx).await["status"], "Completed");

    let customer = s.ms_customer("asyncfail", true).await;
    s.sim.inject(Fault::new(
        Vendor::Microsoft,
        FaultKind::AsyncFailure {
            code: "800069".into(),
            message: "order failed risk management check".into(),
        },
    ));
    let cart = s.ms_cart(&customer, 1, "1234567").await;
    let r = s.ms_checkout(&customer, &cart, "req-async-1").await;
    assert_eq!(r.status, StatusCode::CREATED);
    let order_id = r.body["orders"][0]["id"]
        .as_str()
        .expect("order")
        .to_owned();
    assert_eq!(r.body["orders"][0]["status"], "cancelled");
    let prov = s
        .ms_ok(
            Method::GET,
            &format!("/customers/{customer}/orders/{order_id}/provisioningstatus"),
            None,
        )
        .await;
    assert_eq!(prov["items"][0]["status"], "Unfulfilled");
    assert_eq!(prov["items"][0]["error"]["code"], "800069");

    let cart = s.ms_cart(&customer, 1, "1234567").await;
    let r = s.ms_checkout(&customer, &cart, "req-async-2").await;
    assert_eq!(r.body["orders"][0]["status"], "completed");

    assert_eq!(effective_ops(&s.sim.journal()), ["new", "new"]);
}

// ---------------------------------------------------------------------------------------------
// control routes

#[tokio::test]
async fn control_routes_inject_faults_set_delay_clock_journal_and_reset() {
    let s = start().await;
    let fault = json!({"vendor": "microsoft", "operation": "microsoft.create_cart", "kind": {"type": "http_status", "status": 500}, "times": 1});
    let r = s.control(Method::POST, "/faults", Some(&fault)).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body[0]["kind"]["type"], "http_status");
    let bad = json!({"vendor": "microsoft", "operation": "microsoft.nope", "kind": {"type": "drop_connection"}});
    assert_eq!(
        s.control(Method::POST, "/faults", Some(&bad)).await.status,
        StatusCode::BAD_REQUEST
    );
    let not_json = send(
        s.http
            .post(format!("{}/_sim/faults", s.autodesk))
            .body("nope"),
    )
    .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);

    let customer = s.ms_customer("control", true).await;
    let r = s
        .ms(
            Method::POST,
            &format!("/customers/{customer}/carts"),
            Some(&cart_body(1, "1234567")),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.body["code"], 500);
    assert_eq!(
        s.control(Method::GET, "/faults", None).await.body,
        json!([])
    );

    assert_eq!(
        s.control(Method::PUT, "/delay", Some(&json!({"ms": 90000})))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(s.sim.provisioning_delay(), Duration::from_secs(90));
    assert_eq!(
        s.control(Method::GET, "/delay", None).await.body["ms"],
        90000
    );

    let clock = s
        .control(Method::PUT, "/clock", Some(&json!({"offset_secs": 3600})))
        .await;
    assert_eq!(clock.body["offset_secs"], 3600);
    assert_eq!(s.sim.now_offset(), time::Duration::hours(1));

    let journal = s.control(Method::GET, "/journal", None).await;
    let journal: Journal = serde_json::from_value(journal.body).expect("journal deserializes");
    assert!(
        journal
            .requests
            .iter()
            .any(|r| r.operation == ops::MICROSOFT_CREATE_CART && r.status == 500)
    );

    assert_eq!(
        s.control(Method::POST, "/reset", None).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(s.sim.journal().requests.is_empty());
    assert_eq!(s.sim.provisioning_delay(), Duration::ZERO);
    assert_eq!(s.sim.now_offset(), time::Duration::ZERO);
    let r = s
        .ms(Method::GET, &format!("/customers/{customer}"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn serve_returns_after_shutdown_and_cuts_injected_delays_short() {
    let s = start().await;
    let sim = VendorSim::new(SimConfig::default());
    let autodesk = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let microsoft = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/v1/agreements",
        microsoft.local_addr().expect("addr")
    );
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(sim.clone().serve(autodesk, microsoft, shutdown.clone()));

    sim.inject(Fault::new(
        Vendor::Microsoft,
        FaultKind::Delay { ms: 3_600_000 },
    ));
    let request = tokio::spawn(
        s.http
            .get(url)
            .header("authorization", "Bearer demo-partner-center-token")
            .send(),
    );
    // wait until the request holds the fault
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !sim.active_faults().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "request never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    let served = tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("serve returns after shutdown");
    assert!(matches!(served, Ok(Ok(()))));
    let answered = request
        .await
        .expect("task")
        .expect("in-flight request is answered");
    assert_eq!(answered.status(), StatusCode::OK);
}

#[tokio::test]
async fn microsoft_existing_tenant_links_by_accepting_the_reseller_relationship() {
    let s = start().await;
    // A customer that already has a tenant: unknown to the partner, its domain taken.
    let created = s
        .control(
            Method::POST,
            "/microsoft/tenants",
            Some(&json!({"domain": "Fabrikam.onmicrosoft.com", "companyName": "Fabrikam"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["relationshipToPartner"], "none");
    let tenant = created.body["tenantId"]
        .as_str()
        .expect("tenant id")
        .to_owned();
    let filter = "/customers?filter=%7B%22Field%22%3A%22Domain%22%2C%22Value%22%3A%22fabrikam.onmicrosoft.com%22%2C%22Operator%22%3A%22starts_with%22%7D";
    let none = s.ms_ok(Method::GET, filter, None).await;
    assert_eq!(none["totalCount"], 0, "{none}");
    let unknown = s
        .ms(Method::GET, &format!("/customers/{tenant}"), None, None)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let taken = s
        .ms(
            Method::POST,
            "/customers",
            Some(&customer_body("fabrikam")),
            Some("req-fab"),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);
    assert_eq!(taken.body["code"], microsoft::codes::DOMAIN_IN_USE);

    // The invitation link, and the customer's click on it.
    let request = s
        .ms_ok(Method::GET, "/customers/relationshiprequests", None)
        .await;
    let url = request["url"].as_str().expect("url").to_owned();
    assert!(url.contains(microsoft::PARTNER_TENANT_ID), "{url}");
    let wrong = s
        .control(
            Method::POST,
            &format!("/microsoft/tenants/{tenant}/accept-relationship"),
            Some(&json!({"invitationUrl": "https://example.invalid"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.body);
    let accepted = s
        .control(
            Method::POST,
            &format!("/microsoft/tenants/{tenant}/accept-relationship"),
            Some(&json!({"invitationUrl": url})),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["relationshipToPartner"], "reseller");

    // Now a customer of the partner: found by domain, and orders go to its tenant.
    let found = s.ms_ok(Method::GET, filter, None).await;
    assert_eq!(found["totalCount"], 1, "{found}");
    assert_eq!(found["items"][0]["id"], tenant.as_str());
    assert_eq!(found["items"][0]["relationshipToPartner"], "reseller");
    let cart = s.ms_cart(&tenant, 1, "1234567").await;
    assert!(!cart.is_empty());

    // Bad input on the control and filter calls.
    let bad = s
        .control(
            Method::POST,
            "/microsoft/tenants",
            Some(&json!({"domain": "not a domain"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let dup = s
        .control(
            Method::POST,
            "/microsoft/tenants",
            Some(&json!({"domain": "fabrikam.onmicrosoft.com"})),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT, "{}", dup.body);
    let missing = s
        .control(
            Method::POST,
            "/microsoft/tenants/no-such-tenant/accept-relationship",
            Some(&json!({"invitationUrl": url})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
    let bad_filter = s
        .ms(Method::GET, "/customers?filter=nope", None, None)
        .await;
    assert_eq!(
        bad_filter.status,
        StatusCode::BAD_REQUEST,
        "{}",
        bad_filter.body
    );
    assert_eq!(bad_filter.body["code"], microsoft::codes::INVALID_INPUT);
}

#[tokio::test]
async fn both_simulators_answer_health_probes() {
    let sim = start().await;
    for base in [&sim.autodesk, &sim.microsoft] {
        for (path, status) in [("/health/livez", "ok"), ("/health/readyz", "ready")] {
            let reply = send(sim.http.get(format!("{base}{path}"))).await;
            assert_eq!(reply.status, StatusCode::OK, "{base}{path}");
            assert_eq!(reply.body["status"], status);
        }
    }
    sim.shutdown.cancel();
}
