//! The journeys' calls over the gateway's REST/JSON API (what frontends use).

use std::time::Duration;

use futures::StreamExt as _;
use serde_json::{Value, json};

/// Why a call failed.
#[derive(Debug, Clone)]
pub enum CallError {
    /// No HTTP answer (connection refused or reset, timeout).
    Transport(String),
    /// An HTTP error status with its body.
    Status(u16, String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "transport: {e}"),
            Self::Status(code, body) => write!(f, "HTTP {code}: {body}"),
        }
    }
}

impl std::error::Error for CallError {}

impl CallError {
    /// Whether retrying the same request (same idempotency key) may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Status(code, _) => matches!(code, 429 | 502 | 503 | 504),
        }
    }
}

/// A REST client of one principal.
#[derive(Debug, Clone)]
pub struct Rest {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// The Microsoft NCE plan the journeys buy (monthly term: no Autodesk one-order-at-a-time rule).
pub const NCE_PLAN: &str = "plan-ms365-business-basic-monthly";
/// The Autodesk plan the journeys buy.
pub const AUTODESK_PLAN: &str = "plan-autodesk-autocad-annual";

impl Rest {
    /// A client for `base` (the gateway's REST URL) with a bearer token.
    pub fn new(base: &str, token: &str) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("static reqwest configuration");
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
        }
    }

    /// One call; a body makes it a write with `idempotency_key` (or a fresh key).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, CallError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            let key = idempotency_key
                .map(str::to_string)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            request = request.header("Idempotency-Key", key).json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        if !status.is_success() {
            return Err(CallError::Status(status.as_u16(), text));
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| CallError::Transport(format!("bad JSON: {e}")))
    }

    /// Catalog search (first page).
    pub async fn search_plans(&self, query: &str) -> Result<Value, CallError> {
        self.call(
            reqwest::Method::GET,
            &format!("/v1/plans?query={query}&pageSize=20"),
            None,
            None,
        )
        .await
    }

    /// One plan with its prices.
    pub async fn get_plan(&self, plan_id: &str) -> Result<Value, CallError> {
        self.call(
            reqwest::Method::GET,
            &format!("/v1/plans/{plan_id}"),
            None,
            None,
        )
        .await
    }

    /// Creates a customer ready for Microsoft NCE (new tenant, MCA accepted); returns its id.
    /// `tag` makes names and the tenant domain unique; the key prefix makes retries idempotent.
    pub async fn create_customer(&self, tag: &str) -> Result<String, CallError> {
        let body = json!({
            "name": format!("Load Customer {tag}"),
            "contacts": [
                {"role": "CONTACT_ROLE_CONTRACT_MANAGER", "email": format!("cm-{tag}@load.example"), "firstName": "Casey", "lastName": "Manager"},
                {"role": "CONTACT_ROLE_GLOBAL_ADMIN", "email": format!("ga-{tag}@load.example"), "firstName": "Gale", "lastName": "Admin"}
            ],
            "address": {"line1": "1 Main St", "city": "Oslo", "postalCode": "0150", "countryCode": "NO"},
            "microsoft": {"tenantDomain": format!("load{}.onmicrosoft.com", tag.replace('-', "")), "linkMode": "TENANT_LINK_MODE_CREATE"}
        });
        let customer = self
            .call(
                reqwest::Method::POST,
                "/v1/customers",
                Some(&body),
                Some(&format!("customer-{tag}")),
            )
            .await?;
        let id = customer["id"].as_str().unwrap_or_default().to_string();
        self.call(
            reqwest::Method::POST,
            &format!("/v1/customers/{id}/agreements"),
            Some(&json!({"type": "AGREEMENT_TYPE_MICROSOFT_CUSTOMER_AGREEMENT"})),
            Some(&format!("agreement-{tag}")),
        )
        .await?;
        Ok(id)
    }

    /// Creates a cart for `customer_id`; returns its id.
    pub async fn create_cart(&self, customer_id: &str, key: &str) -> Result<String, CallError> {
        let cart = self
            .call(
                reqwest::Method::POST,
                "/v1/carts",
                Some(&json!({"customerId": customer_id, "currencyCode": "USD"})),
                Some(key),
            )
            .await?;
        Ok(cart["id"].as_str().unwrap_or_default().to_string())
    }

    /// Adds a line.
    pub async fn add_line(
        &self,
        cart_id: &str,
        plan_id: &str,
        quantity: u32,
        key: &str,
    ) -> Result<Value, CallError> {
        self.call(
            reqwest::Method::POST,
            &format!("/v1/carts/{cart_id}/lines"),
            Some(&json!({"planId": plan_id, "quantity": quantity})),
            Some(key),
        )
        .await
    }

    /// Buys the cart; the same `request_id` always yields the same order.
    pub async fn checkout(&self, cart_id: &str, request_id: &str) -> Result<Value, CallError> {
        self.call(
            reqwest::Method::POST,
            &format!("/v1/carts/{cart_id}:checkout"),
            Some(&json!({"requestId": request_id, "acceptTerms": true})),
            Some(&format!("checkout-{request_id}")),
        )
        .await
    }

    /// One order.
    pub async fn get_order(&self, order_id: &str) -> Result<Value, CallError> {
        self.call(
            reqwest::Method::GET,
            &format!("/v1/orders/{order_id}"),
            None,
            None,
        )
        .await
    }

    /// A page of order history (`query` without the leading `?`).
    pub async fn list_orders(&self, query: &str) -> Result<Value, CallError> {
        self.call(
            reqwest::Method::GET,
            &format!("/v1/orders?{query}"),
            None,
            None,
        )
        .await
    }

    /// Follows the order's Server-Sent Events until it settles; returns its final status.
    pub async fn watch_until_settled(
        &self,
        order_id: &str,
        timeout: Duration,
    ) -> Result<String, CallError> {
        let response = self
            .http
            .get(format!("{}/v1/orders/{order_id}:watch", self.base))
            .bearer_auth(&self.token)
            .header("Accept", "text/event-stream")
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(CallError::Status(status.as_u16(), body));
        }
        let mut stream = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| CallError::Transport(e.to_string()))?;
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let data: String = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim)
                    .collect();
                let Ok(update) = serde_json::from_str::<Value>(&data) else {
                    continue;
                };
                if update["settled"] == true {
                    return Ok(update["order"]["status"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string());
                }
            }
        }
        Err(CallError::Transport(
            "watch stream ended before the order settled".into(),
        ))
    }
}
