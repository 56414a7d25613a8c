//! The Microsoft Partner Center (new commerce) connector.
//!
//! New subscriptions: customer tenant created (or reused) → MCA attestation → cart → checkout →
//! per-line provisioning status polling. Changes: `PATCH` of the full subscription resource
//! (quantity, suspend / resume, cancel = status `deleted`, auto-renew).
//!
//! Idempotency follows Partner Center's rule: every state-changing call carries an
//! `MS-RequestId` that is stored with the job *before* the call, reused when the call got no
//! answer (timeout, dropped connection, crash) and replaced after any answer. A `429` closes a
//! vendor-wide gate until its `Retry-After` has passed.

mod errors;
mod flow;

use std::time::Duration;

use marketplace_platform::config::Secret;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::connectors::http::{Answer, Gate, client, text};
use crate::domain::connector::{
    Checkpoint, CheckpointSaver, Report, SaveError, Step, VendorConnector,
};
use crate::domain::error::{ErrorClass, VendorError};
use crate::domain::order::{Change, JobContext};

pub(crate) use errors::Call;

/// Partner Center endpoint and credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MicrosoftSettings {
    /// API base URL (`https://api.partnercenter.microsoft.com`; the simulator's address in sandbox mode).
    pub base_url: String,
    /// Bearer token of the partner application.
    pub bearer_token: Secret,
    /// Per-call timeout (milliseconds).
    pub timeout_ms: u64,
}

impl Default for MicrosoftSettings {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8702".into(),
            bearer_token: Secret::new("demo-partner-center-token"),
            timeout_ms: 20_000,
        }
    }
}

/// Talks to Partner Center.
#[derive(Debug)]
pub struct MicrosoftConnector {
    settings: MicrosoftSettings,
    client: reqwest::Client,
    gate: Gate,
    mca_template: Mutex<Option<String>>,
    invitation_url: Mutex<Option<String>>,
}

/// What Partner Center says about linking a customer's existing tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantLink {
    /// The partner's reseller relationship invitation link (to send to the customer).
    pub invitation_url: String,
    /// The tenant id once the customer accepted the relationship.
    pub tenant_id: Option<String>,
}

/// Why a round stopped early: the report to hand back.
pub(crate) type Stop = Box<Report>;

impl MicrosoftConnector {
    /// A connector for `settings`; an error when its HTTP client cannot be built.
    pub fn new(settings: MicrosoftSettings) -> anyhow::Result<Self> {
        let client = client(Duration::from_millis(settings.timeout_ms.max(1)))?;
        Ok(Self {
            settings,
            client,
            gate: Gate::default(),
            mca_template: Mutex::new(None),
            invitation_url: Mutex::new(None),
        })
    }

    /// Sends one call; `Err` means no answer arrived (the vendor may or may not have acted).
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        request_id: Option<&str>,
        if_match: Option<&str>,
        last: &mut Option<String>,
    ) -> Result<Answer, VendorError> {
        let url = format!("{}{path}", self.settings.base_url.trim_end_matches('/'));
        let request_id =
            request_id.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
        let mut request = self
            .client
            .request(method.clone(), url)
            .bearer_auth(self.settings.bearer_token.expose())
            .header("MS-RequestId", request_id)
            .header("MS-CorrelationId", uuid::Uuid::new_v4().to_string())
            .header("Accept", "application/json");
        if let Some(etag) = if_match {
            request = request.header("If-Match", etag);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let operation = format!("{method} {path}");
        let response = super::http::send_traced(request, "microsoft", &operation)
            .await
            .map_err(|e| {
                VendorError::transient(
                    "network",
                    format!("no answer from Partner Center ({operation}): {e}"),
                )
            })?;
        let answer = Answer::read(response).await.map_err(|e| {
            VendorError::transient(
                "network",
                format!("Partner Center answer unreadable ({operation}): {e}"),
            )
        })?;
        *last = Some(answer.for_storage(&operation));
        if answer.status == 429 {
            self.gate
                .close_for(answer.retry_after(Duration::from_secs(60)));
        }
        Ok(answer)
    }

    /// A read: any answer or an error report.
    pub(crate) async fn read(
        &self,
        path: &str,
        call: Call,
        last: &mut Option<String>,
    ) -> Result<Value, Stop> {
        match self
            .send(reqwest::Method::GET, path, None, None, None, last)
            .await
        {
            Ok(answer) if answer.ok() => Ok(answer.json()),
            Ok(answer) => Err(stop(errors::classify(call, &answer), last)),
            Err(e) => Err(stop(e, last)),
        }
    }

    /// A state-changing call under the step's `MS-RequestId`, saved with the job first.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn mutate(
        &self,
        checkpoint: &mut Checkpoint,
        saver: &dyn CheckpointSaver,
        step: &str,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        if_match: Option<&str>,
        call: Call,
        last: &mut Option<String>,
    ) -> Result<Value, Stop> {
        let (request_id, new) = checkpoint.request_id(step);
        if new {
            if matches!(call, Call::Checkout | Call::Patch) {
                checkpoint.reached_vendor = true;
            }
            match saver.save(checkpoint).await {
                Ok(()) => {}
                Err(SaveError::LeaseLost) => return Err(Box::new(Report::new(Step::LostLease))),
                Err(SaveError::Storage(e)) => {
                    return Err(stop(VendorError::transient("storage", e), last));
                }
            }
        }
        let answer = match self
            .send(method, path, Some(body), Some(&request_id), if_match, last)
            .await
        {
            Ok(answer) => answer,
            // No answer: keep the request id so the retry is recognised by the vendor.
            Err(e) => return Err(stop(e, last)),
        };
        let busy = answer.status == 409 && text(&answer.json(), "code") == "800064";
        if !busy {
            checkpoint.answered(step);
        }
        if answer.ok() {
            Ok(answer.json())
        } else {
            Err(stop(errors::classify(call, &answer), last))
        }
    }

    /// How long calls are refused after a 429 (`None` when open).
    pub fn blocked(&self) -> Option<Duration> {
        self.gate.remaining()
    }

    /// Linking the existing tenant `domain`: the reseller relationship invitation link (read
    /// once from `GET /v1/customers/relationshiprequests`) and, once the customer accepted it,
    /// the tenant id (the tenant then is among the partner's customers, found by domain).
    pub async fn tenant_link(&self, domain: &str) -> Result<TenantLink, VendorError> {
        let mut last = None;
        let invitation_url = {
            let mut cached = self.invitation_url.lock().await;
            match cached.as_ref() {
                Some(url) => url.clone(),
                None => {
                    let body = self
                        .read("/v1/customers/relationshiprequests", Call::Read, &mut last)
                        .await
                        .map_err(stop_error)?;
                    let url = text(&body, "url");
                    if url.is_empty() {
                        return Err(VendorError::transient(
                            "bad_response",
                            "Partner Center gave no reseller relationship invitation link",
                        ));
                    }
                    *cached = Some(url.clone());
                    url
                }
            }
        };
        let domain = domain.trim().to_ascii_lowercase();
        let filter =
            serde_json::json!({"Field": "Domain", "Value": domain, "Operator": "starts_with"});
        let mut url = reqwest::Url::parse("http://partner-center/v1/customers")
            .map_err(|e| VendorError::permanent("bad_request", e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("size", "500")
            .append_pair("filter", &filter.to_string());
        let path = format!("/v1/customers?{}", url.query().unwrap_or_default());
        let body = self
            .read(&path, Call::Read, &mut last)
            .await
            .map_err(stop_error)?;
        let tenant_id = body
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| {
                c.get("companyProfile")
                    .is_some_and(|p| text(p, "domain").eq_ignore_ascii_case(&domain))
            })
            .map(|c| text(c, "id"))
            .filter(|id| !id.is_empty());
        Ok(TenantLink {
            invitation_url,
            tenant_id,
        })
    }

    /// The MCA template id (read once from the agreement metadata).
    pub(crate) async fn mca_template(&self, last: &mut Option<String>) -> Result<String, Stop> {
        let mut cached = self.mca_template.lock().await;
        if let Some(id) = cached.as_ref() {
            return Ok(id.clone());
        }
        let body = self
            .read(
                "/v1/agreements?agreementType=MicrosoftCustomerAgreement",
                Call::Read,
                last,
            )
            .await?;
        let id = body
            .get("items")
            .and_then(Value::as_array)
            .and_then(|items| items.first())
            .map(|item| text(item, "templateId"))
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                stop(
                    VendorError::transient(
                        "bad_response",
                        "no Microsoft Customer Agreement template published",
                    ),
                    last,
                )
            })?;
        *cached = Some(id.clone());
        Ok(id)
    }
}

/// The error of a stopped read.
fn stop_error(stop: Stop) -> VendorError {
    match stop.step {
        Step::Error(e) => e,
        _ => VendorError::transient("network", "Partner Center call stopped"),
    }
}

/// A stop with an error.
pub(crate) fn stop(error: VendorError, last: &Option<String>) -> Stop {
    Box::new(Report {
        step: Step::Error(error),
        last_response: last.clone(),
    })
}

#[async_trait::async_trait]
impl VendorConnector for MicrosoftConnector {
    fn name(&self) -> &'static str {
        "microsoft_nce"
    }

    fn blocked_for(&self) -> Option<Duration> {
        self.gate.remaining()
    }

    async fn advance(
        &self,
        job: &JobContext,
        checkpoint: &mut Checkpoint,
        saver: &dyn CheckpointSaver,
    ) -> Report {
        let result = match job.order.change {
            Change::NewSubscription => flow::new_subscription(self, job, checkpoint, saver).await,
            Change::MarkupChange => Ok(flow::no_vendor_call(job)),
            Change::Renewal => flow::confirm_renewal(self, job, checkpoint).await,
            _ => flow::patch_subscription(self, job, checkpoint, saver).await,
        };
        match result {
            Ok(report) => report,
            Err(report) => {
                if let Step::Error(e) = &report.step
                    && e.class == ErrorClass::Throttled
                    && let Some(after) = e.retry_after
                {
                    self.gate.close_for(after);
                }
                *report
            }
        }
    }
}
