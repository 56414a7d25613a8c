//! The operations API (`marketplace.provisioning.v1.ProvisioningService`): staff list, inspect,
//! retry, cancel and re-submit jobs; resellers may read their own jobs.

use std::collections::BTreeMap;
use std::sync::Arc;

use marketplace_platform::clock::{SharedClock, micros_to_timestamp, to_micros};
use marketplace_platform::db::Database;
use marketplace_platform::identity::{IdentityKey, Principal, Role};
use marketplace_platform::outbox::Outbox;
use marketplace_platform::paging::{PageTokens, page_size};
use marketplace_platform::{ServiceError, ServiceResult};
use marketplace_proto::common::v1 as common;
use marketplace_proto::provisioning::v1 as pb;
use marketplace_proto::provisioning::v1::provisioning_service_server::ProvisioningService;
use tokio::sync::Notify;
use tonic::{Request, Response, Status};

use crate::domain::error::{ErrorClass, VendorError};
use crate::domain::job::{JobState, Refusal};
use crate::domain::order::Change;
use crate::events::{self, JobFacts, change_to_proto};
use crate::store::{self, JobRow};

/// The gRPC service.
pub(crate) struct Operations {
    pub(crate) db: Database,
    pub(crate) identity: IdentityKey,
    pub(crate) page_tokens: PageTokens,
    pub(crate) clock: SharedClock,
    pub(crate) outbox: Outbox,
    pub(crate) wake: Arc<Notify>,
}

fn state_to_proto(state: JobState) -> pb::JobState {
    match state {
        JobState::Queued => pb::JobState::Queued,
        JobState::Submitted => pb::JobState::Submitted,
        JobState::WaitingOnVendor => pb::JobState::WaitingOnVendor,
        JobState::Succeeded => pb::JobState::Succeeded,
        JobState::Inquiring => pb::JobState::Inquiring,
        JobState::Failed => pb::JobState::Failed,
        JobState::Cancelled => pb::JobState::Cancelled,
    }
}

fn state_from_proto(value: i32) -> Option<JobState> {
    Some(match pb::JobState::try_from(value).ok()? {
        pb::JobState::Queued => JobState::Queued,
        pb::JobState::Submitted => JobState::Submitted,
        pb::JobState::WaitingOnVendor => JobState::WaitingOnVendor,
        pb::JobState::Succeeded => JobState::Succeeded,
        pb::JobState::Inquiring => JobState::Inquiring,
        pb::JobState::Failed => JobState::Failed,
        pb::JobState::Cancelled => JobState::Cancelled,
        pb::JobState::Unspecified => return None,
    })
}

fn class_to_proto(class: ErrorClass) -> pb::ErrorClass {
    match class {
        ErrorClass::Transient => pb::ErrorClass::Transient,
        ErrorClass::Throttled => pb::ErrorClass::Throttled,
        ErrorClass::NeedsInput => pb::ErrorClass::NeedsInput,
        ErrorClass::Permanent => pb::ErrorClass::Permanent,
        ErrorClass::Conflict => pb::ErrorClass::Conflict,
        ErrorClass::Configuration => pb::ErrorClass::Configuration,
    }
}

/// The API view of a stored job.
pub(crate) fn job_to_proto(row: &JobRow) -> pb::Job {
    let state = JobState::parse(&row.state).unwrap_or(JobState::Queued);
    let parameters: BTreeMap<String, String> =
        serde_json::from_str(&row.parameters).unwrap_or_default();
    let last_error = row
        .last_error
        .as_deref()
        .and_then(|e| serde_json::from_str::<VendorError>(e).ok())
        .map(|e| pb::JobError {
            class: class_to_proto(e.class) as i32,
            vendor_code: e.code,
            message: e.message,
            field_violations: e
                .violations
                .into_iter()
                .map(|v| common::FieldViolation {
                    field: v.field,
                    description: v.description,
                })
                .collect(),
            occur_time: row.last_error_at.map(micros_to_timestamp),
        });
    pb::Job {
        id: row.id.clone(),
        order_id: row.order_id.clone(),
        order_item_id: row.order_item_id.clone(),
        reseller_id: row.reseller_id.clone(),
        customer_id: row.customer_id.clone(),
        vendor_id: row.vendor_id.clone(),
        change: Change::parse(&row.change_type)
            .map_or(common::ChangeType::Unspecified, change_to_proto) as i32,
        state: state_to_proto(state) as i32,
        attempts: i32::try_from(row.attempts).unwrap_or(i32::MAX),
        next_attempt_time: state
            .is_active()
            .then(|| micros_to_timestamp(row.next_attempt_at)),
        vendor_reference: row.vendor_reference.clone(),
        vendor_subscription_id: row.vendor_subscription_id.clone(),
        last_vendor_response: row.last_vendor_response.clone(),
        last_error,
        create_time: Some(micros_to_timestamp(row.created_at)),
        update_time: Some(micros_to_timestamp(row.updated_at)),
        plan_id: row.plan_id.clone(),
        quantity: i32::try_from(row.quantity).unwrap_or(i32::MAX),
        parameters: parameters.into_iter().collect(),
    }
}

fn refused(refusal: Refusal) -> ServiceError {
    ServiceError::precondition(refusal.rule, refusal.message)
}

fn domain_job(row: &JobRow) -> crate::domain::job::Job {
    crate::domain::job::Job {
        id: row.id.clone(),
        request_id: row.request_id.clone(),
        order_id: row.order_id.clone(),
        order_item_id: row.order_item_id.clone(),
        reseller_id: row.reseller_id.clone(),
        customer_id: row.customer_id.clone(),
        vendor_id: row.vendor_id.clone(),
        plan_id: row.plan_id.clone(),
        change: Change::parse(&row.change_type).unwrap_or(Change::NewSubscription),
        quantity: i32::try_from(row.quantity).unwrap_or(0),
        state: JobState::parse(&row.state).unwrap_or(JobState::Queued),
        attempts: i32::try_from(row.attempts).unwrap_or(0),
        next_attempt_at: marketplace_platform::clock::from_micros(row.next_attempt_at),
        vendor_reference: row.vendor_reference.clone(),
        vendor_subscription_id: row.vendor_subscription_id.clone(),
        last_vendor_response: row.last_vendor_response.clone(),
        last_error: None,
        parameters: serde_json::from_str(&row.parameters).unwrap_or_default(),
        created_at: marketplace_platform::clock::from_micros(row.created_at),
        updated_at: marketplace_platform::clock::from_micros(row.updated_at),
    }
}

impl Operations {
    /// A job the caller may see.
    async fn visible(&self, principal: &Principal, job_id: &str) -> ServiceResult<JobRow> {
        if job_id.trim().is_empty() {
            return Err(ServiceError::invalid_field("job_id", "required"));
        }
        let row = store::get(self.db.pool(), job_id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("job {job_id}")))?;
        if !principal.can_see(&row.reseller_id, None) {
            return Err(ServiceError::not_found(format!("job {job_id}")));
        }
        Ok(row)
    }

    async fn reload(&self, job_id: &str) -> ServiceResult<pb::Job> {
        let row = store::get(self.db.pool(), job_id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("job {job_id}")))?;
        Ok(job_to_proto(&row))
    }

    /// Applies an operator change, optionally announcing a state with an event in the same transaction.
    async fn change(
        &self,
        row: &JobRow,
        change: store::OpsChange,
        announce: Option<JobState>,
    ) -> ServiceResult<()> {
        let now = to_micros(self.clock.now());
        let mut tx = self.db.pool().begin().await?;
        if !store::ops_update(&mut tx, &row.id, &row.state, &change, now).await? {
            return Err(ServiceError::conflict(format!(
                "job {} changed meanwhile; read it again",
                row.id
            )));
        }
        if let Some(state) = announce {
            let event = events::progressed(
                &JobFacts::of(row),
                state,
                &row.vendor_reference,
                &self.clock,
            );
            self.outbox.append(&mut tx, &event, now).await?;
        }
        tx.commit().await?;
        if announce.is_some() {
            self.outbox.notify();
        }
        self.wake.notify_one();
        Ok(())
    }

    async fn list(
        &self,
        principal: &Principal,
        req: pb::ListJobsRequest,
    ) -> ServiceResult<pb::ListJobsResponse> {
        principal.require(&[Role::ResellerAdmin, Role::ResellerUser])?;
        let limit = page_size(req.page_size)?;
        let reseller = principal.reseller_filter(&req.reseller_id)?;
        let mut states = Vec::new();
        for (i, s) in req.states.iter().enumerate() {
            match state_from_proto(*s) {
                // Each state once: the list becomes bind parameters.
                Some(state) => {
                    let state = state.as_str().to_string();
                    if !states.contains(&state) {
                        states.push(state);
                    }
                }
                None => {
                    return Err(ServiceError::invalid_field(
                        format!("states[{i}]"),
                        "not a job state",
                    ));
                }
            }
        }
        let scope = format!(
            "{}|{}|{:?}|{}|{}",
            reseller.clone().unwrap_or_default(),
            req.vendor_id,
            states,
            req.order_id,
            principal.subject
        );
        let before_id: Option<String> = self.page_tokens.decode(&scope, &req.page_token)?;
        let filter = store::Filter {
            states,
            vendor_id: Some(req.vendor_id.clone()).filter(|v| !v.is_empty()),
            reseller_id: reseller,
            order_id: Some(req.order_id.clone()).filter(|v| !v.is_empty()),
            before_id,
        };
        let mut rows = store::list(self.db.pool(), &filter, limit + 1).await?;
        let next_page_token = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last()
                .map(|r| self.page_tokens.encode(&scope, &r.id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::ListJobsResponse {
            jobs: rows.iter().map(job_to_proto).collect(),
            next_page_token,
        })
    }

    async fn retry(
        &self,
        principal: &Principal,
        req: pb::RetryJobRequest,
    ) -> ServiceResult<pb::Job> {
        principal.require_staff()?;
        let row = self.visible(principal, &req.job_id).await?;
        let job = domain_job(&row);
        job.check_retry().map_err(refused)?;
        let now = to_micros(self.clock.now());
        let change = if job.state == JobState::Failed {
            // Start over as a new vendor order (new client reference).
            store::OpsChange {
                state: Some(JobState::Queued.as_str().into()),
                next_attempt_at: Some(now),
                restart: true,
                parameters: None,
            }
        } else {
            store::OpsChange {
                next_attempt_at: Some(now),
                ..store::OpsChange::default()
            }
        };
        self.change(&row, change, None).await?;
        self.reload(&row.id).await
    }

    async fn cancel(
        &self,
        principal: &Principal,
        req: pb::CancelJobRequest,
    ) -> ServiceResult<pb::Job> {
        principal.require_staff()?;
        let row = self.visible(principal, &req.job_id).await?;
        domain_job(&row).check_cancel().map_err(refused)?;
        tracing::info!(job_id = %row.id, reason = %req.reason, by = %principal.subject, "job cancelled by operator");
        let change = store::OpsChange {
            state: Some(JobState::Cancelled.as_str().into()),
            ..store::OpsChange::default()
        };
        self.change(&row, change, Some(JobState::Cancelled)).await?;
        self.reload(&row.id).await
    }

    async fn resubmit(
        &self,
        principal: &Principal,
        req: pb::ResubmitJobRequest,
    ) -> ServiceResult<pb::Job> {
        principal.require_staff()?;
        let mut violations = marketplace_platform::error::Violations::new();
        for key in req.parameters.keys() {
            if key.trim().is_empty() {
                violations.add("parameters", "parameter names must not be empty");
            }
        }
        violations.into_result()?;
        let row = self.visible(principal, &req.job_id).await?;
        let job = domain_job(&row);
        job.check_resubmit().map_err(refused)?;
        let mut parameters = job.parameters.clone();
        parameters.extend(req.parameters);
        let now = to_micros(self.clock.now());
        let change = store::OpsChange {
            state: Some(JobState::Queued.as_str().into()),
            next_attempt_at: Some(now),
            restart: true,
            parameters: Some(serde_json::to_string(&parameters).unwrap_or_else(|_| "{}".into())),
        };
        self.change(&row, change, None).await?;
        self.reload(&row.id).await
    }
}

#[tonic::async_trait]
impl ProvisioningService for Operations {
    async fn list_jobs(
        &self,
        request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let principal = self.identity.authenticate(&request)?;
        Ok(Response::new(
            self.list(&principal, request.into_inner()).await?,
        ))
    }

    async fn get_job(
        &self,
        request: Request<pb::GetJobRequest>,
    ) -> Result<Response<pb::Job>, Status> {
        let principal = self.identity.authenticate(&request)?;
        principal.require(&[Role::ResellerAdmin, Role::ResellerUser])?;
        let row = self.visible(&principal, &request.get_ref().job_id).await?;
        Ok(Response::new(job_to_proto(&row)))
    }

    async fn retry_job(
        &self,
        request: Request<pb::RetryJobRequest>,
    ) -> Result<Response<pb::Job>, Status> {
        let principal = self.identity.authenticate(&request)?;
        Ok(Response::new(
            self.retry(&principal, request.into_inner()).await?,
        ))
    }

    async fn cancel_job(
        &self,
        request: Request<pb::CancelJobRequest>,
    ) -> Result<Response<pb::Job>, Status> {
        let principal = self.identity.authenticate(&request)?;
        Ok(Response::new(
            self.cancel(&principal, request.into_inner()).await?,
        ))
    }

    async fn resubmit_job(
        &self,
        request: Request<pb::ResubmitJobRequest>,
    ) -> Result<Response<pb::Job>, Status> {
        let principal = self.identity.authenticate(&request)?;
        Ok(Response::new(
            self.resubmit(&principal, request.into_inner()).await?,
        ))
    }
}
