//! The Autodesk partner API connector: signed order calls answered `202 {transactionId}`, then
//! status polling. Orders carry the job's stable client reference (`poNumber` and
//! `partnerOrderId`), so a repeat after a crash returns the first order instead of a second one.

mod auth;
mod wire;

use std::time::Duration;

use marketplace_platform::config::Secret;
use serde::Deserialize;
use serde_json::Value;

use crate::connectors::http::{Answer, Gate, client, text};
use crate::domain::connector::{
    Checkpoint, CheckpointSaver, Report, Step, Success, VendorConnector,
};
use crate::domain::error::{ErrorClass, VendorError};
use crate::domain::order::{Change, JobContext};

/// What staff check when Autodesk refuses our credentials (named, never their values).
pub(crate) const SETTINGS_TO_CHECK: &str = "Autodesk refused the marketplace's partner credentials: check the settings provisioning.autodesk.consumer_key, provisioning.autodesk.consumer_secret, provisioning.autodesk.callback_url and provisioning.autodesk.partner_csn against the partner app";

/// Autodesk endpoint and partner app credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AutodeskSettings {
    /// API base URL (`https://enterprise-api.autodesk.com`; the simulator's address in sandbox mode).
    pub base_url: String,
    /// Consumer key of the partner app.
    pub consumer_key: String,
    /// Consumer secret (HMAC key of every signature).
    pub consumer_secret: Secret,
    /// Callback URL of the partner app (part of every signed message).
    pub callback_url: String,
    /// Partner CSN sent in the `CSN` header (and as reseller CSN when the reseller has none).
    pub partner_csn: String,
    /// Per-call timeout (milliseconds).
    pub timeout_ms: u64,
}

impl Default for AutodeskSettings {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8701".into(),
            consumer_key: "demo-autodesk-key".into(),
            consumer_secret: Secret::new("demo-autodesk-secret"),
            callback_url: "https://marketplace.example/callback".into(),
            partner_csn: "5100000001".into(),
            timeout_ms: 20_000,
        }
    }
}

/// Talks to the Autodesk partner API.
#[derive(Debug)]
pub struct AutodeskConnector {
    settings: AutodeskSettings,
    client: reqwest::Client,
    tokens: auth::TokenCache,
    gate: Gate,
}

impl AutodeskConnector {
    /// A connector for `settings`; an error when its HTTP client cannot be built.
    pub fn new(settings: AutodeskSettings) -> anyhow::Result<Self> {
        let client = client(Duration::from_millis(settings.timeout_ms.max(1)))?;
        Ok(Self {
            settings,
            client,
            tokens: auth::TokenCache::default(),
            gate: Gate::default(),
        })
    }

    /// One signed API call; a rejected token is refreshed and the call repeated once.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        last: &mut Option<String>,
        operation: &str,
    ) -> Result<Answer, VendorError> {
        for attempt in 0..2 {
            let token = self
                .tokens
                .get(&self.client, &self.settings, |a| {
                    *last = Some(a.for_storage("autodesk.token"))
                })
                .await
                .inspect_err(|e| self.note_throttle(e))?;
            let ts = auth::timestamp();
            let signature = auth::signature(
                self.settings.consumer_secret.expose(),
                &self.settings.callback_url,
                &token,
                &ts,
            );
            let url = format!("{}{path}", self.settings.base_url.trim_end_matches('/'));
            let mut request = self
                .client
                .request(method.clone(), url)
                .header("Authorization", format!("Bearer {token}"))
                .header("timestamp", ts)
                .header("signature", signature)
                .header("CSN", &self.settings.partner_csn);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = super::http::send_traced(request, "autodesk", operation)
                .await
                .map_err(|e| {
                    VendorError::transient(
                        "network",
                        format!("no answer from Autodesk ({operation}): {e}"),
                    )
                })?;
            let answer = Answer::read(response).await.map_err(|e| {
                VendorError::transient(
                    "network",
                    format!("Autodesk answer unreadable ({operation}): {e}"),
                )
            })?;
            *last = Some(answer.for_storage(operation));
            if answer.status == 401 && attempt == 0 {
                self.tokens.invalidate(&token).await;
                continue;
            }
            return Ok(answer);
        }
        Err(VendorError::configuration(
            "unauthorized",
            format!("Autodesk rejected a fresh access token; {SETTINGS_TO_CHECK}"),
        ))
    }

    fn note_throttle(&self, error: &VendorError) {
        if let (ErrorClass::Throttled, Some(after)) = (error.class, error.retry_after) {
            self.gate.close_for(after);
        }
    }

    fn fail(&self, error: VendorError, last: Option<String>) -> Report {
        self.note_throttle(&error);
        Report {
            step: Step::Error(error),
            last_response: last,
        }
    }

    async fn poll(
        &self,
        job: &JobContext,
        transaction_id: &str,
        checkpoint: &mut Checkpoint,
        mut last: Option<String>,
    ) -> Report {
        checkpoint.polls += 1;
        let path = format!("/v1/orders/status/{transaction_id}");
        let answer = match self
            .call(
                reqwest::Method::GET,
                &path,
                None,
                &mut last,
                "autodesk.order_status",
            )
            .await
        {
            Ok(a) => a,
            Err(e) => return self.fail(e, last),
        };
        if !answer.ok() {
            return self.fail(wire::http_error(&answer), last);
        }
        let step = match wire::status(job, transaction_id, &answer.json()) {
            wire::Status::Processing(message) => Step::Waiting {
                vendor_reference: transaction_id.to_string(),
                message,
            },
            wire::Status::Completed(success) => Step::Succeeded(success),
            wire::Status::Failed(error) if error.code == "UAN-SUB-00104" => {
                // Auto-renew is already off: the change asked for holds.
                Step::Succeeded(Success {
                    vendor_subscription_id: job.order.vendor_subscription_id.clone(),
                    vendor_reference: transaction_id.to_string(),
                    message: error.message,
                    quantity: job.order.quantity,
                    ..Success::default()
                })
            }
            wire::Status::Failed(error) => Step::Error(error),
        };
        Report {
            step,
            last_response: last,
        }
    }
}

#[async_trait::async_trait]
impl VendorConnector for AutodeskConnector {
    fn name(&self) -> &'static str {
        "autodesk"
    }

    fn blocked_for(&self) -> Option<Duration> {
        self.gate.remaining()
    }

    async fn advance(
        &self,
        job: &JobContext,
        checkpoint: &mut Checkpoint,
        _saver: &dyn CheckpointSaver,
    ) -> Report {
        if let Some(transaction_id) = checkpoint.vendor_reference.clone() {
            return self.poll(job, &transaction_id, checkpoint, None).await;
        }
        if job.order.change == Change::MarkupChange {
            return Report::new(Step::Succeeded(Success {
                vendor_subscription_id: job.order.vendor_subscription_id.clone(),
                quantity: job.order.quantity,
                message: "markup changes need no vendor call".into(),
                ..Success::default()
            }));
        }
        let (endpoint, body) = match wire::order_body(job, &self.settings.partner_csn) {
            Ok(order) => order,
            Err(error) => return Report::new(Step::Error(error)),
        };
        let operation = match endpoint {
            wire::Endpoint::Fulfillment => "autodesk.place_order",
            wire::Endpoint::Revoke => "autodesk.revoke_order",
        };
        let mut last = None;
        checkpoint.reached_vendor = true;
        let answer = match self
            .call(
                reqwest::Method::POST,
                endpoint.path(),
                Some(&body),
                &mut last,
                operation,
            )
            .await
        {
            Ok(a) => a,
            Err(e) => return self.fail(e, last),
        };
        if !answer.ok() {
            return self.fail(wire::http_error(&answer), last);
        }
        let transaction_id = text(&answer.json(), "transactionId");
        if transaction_id.is_empty() {
            return self.fail(
                VendorError::transient(
                    "bad_response",
                    "Autodesk accepted the order without a transactionId",
                ),
                last,
            );
        }
        checkpoint.vendor_reference = Some(transaction_id.clone());
        // Orders often complete at once: look right away, then poll on the growing schedule.
        self.poll(job, &transaction_id, checkpoint, last).await
    }
}
