//! `WebhookService`: endpoints, secrets, test sends, the delivery log and replays.

use std::sync::Arc;

use marketplace_proto::notification::v1 as pb;
use marketplace_proto::notification::v1::webhook_service_server::WebhookService;
use time::format_description::well_known::Rfc3339;
use tonic::{Request, Response, Status};

use platform::clock::micros_to_timestamp;
use platform::error::{ServiceError, ServiceResult, Violations};
use platform::identity::{IdentityKey, Principal, Role};
use platform::paging::{PageTokens, page_size};

use super::convert;
use crate::core::Core;
use crate::domain::signing::SigningSecret;
use crate::domain::webhook_events::{self, TEST_EVENT_TYPE};
use crate::domain::webhook_url::WebhookUrl;
use crate::store::status;
use crate::store::webhooks::{self, DeliveryRow, EndpointRow};
use crate::webhook::WebhookSender;

/// Implements `marketplace.notification.v1.WebhookService`.
#[derive(Debug, Clone)]
pub(crate) struct WebhookApi {
    pub(crate) core: Arc<Core>,
    pub(crate) identity: IdentityKey,
    pub(crate) page_tokens: PageTokens,
    pub(crate) sender: WebhookSender,
}

const MAX_DESCRIPTION: usize = 512;
const MAX_EVENT_TYPES: usize = 32;

fn db(e: sqlx::Error) -> ServiceError {
    ServiceError::from(e)
}

impl WebhookApi {
    fn admin<T: marketplace_proto::prost::Message + marketplace_proto::prost::Name>(
        &self,
        request: &Request<T>,
    ) -> ServiceResult<Principal> {
        let principal = self.identity.authenticate(request)?;
        principal.require(&[Role::ResellerAdmin])?;
        Ok(principal)
    }

    /// The endpoint if the caller may see it; another reseller's endpoint is NOT_FOUND.
    async fn owned_endpoint(&self, principal: &Principal, id: &str) -> ServiceResult<EndpointRow> {
        if !platform::ids::is_uuid(id) {
            return Err(ServiceError::invalid_field(
                "endpoint_id",
                "not an endpoint id",
            ));
        }
        let mut conn = self.core.db.pool().acquire().await.map_err(db)?;
        match webhooks::endpoint_by_id(&mut conn, id).await.map_err(db)? {
            Some(e) if principal.can_see(&e.reseller_id, None) => Ok(e),
            _ => Err(ServiceError::not_found(format!("webhook endpoint {id}"))),
        }
    }

    fn validate_fields(
        &self,
        v: &mut Violations,
        endpoint: &pb::WebhookEndpoint,
        check: impl Fn(&str) -> bool,
    ) -> Option<WebhookUrl> {
        let mut url = None;
        if check("url") {
            url = v.check(
                "endpoint.url",
                WebhookUrl::parse(
                    endpoint.url.trim(),
                    self.core.settings.webhooks.allow_loopback,
                ),
            );
        }
        if check("description") && endpoint.description.chars().count() > MAX_DESCRIPTION {
            v.add(
                "endpoint.description",
                format!("at most {MAX_DESCRIPTION} characters"),
            );
        }
        if check("event_types") {
            if endpoint.event_types.len() > MAX_EVENT_TYPES {
                v.add(
                    "endpoint.event_types",
                    format!("at most {MAX_EVENT_TYPES} event types"),
                );
            }
            for (i, t) in endpoint.event_types.iter().enumerate() {
                if marketplace_proto::webhooks::webhook_event_type(t).is_none() {
                    v.add(
                        format!("endpoint.event_types[{i}]"),
                        format!(
                            "unknown event type {t:?}; known: {}",
                            webhook_events::WEBHOOK_EVENT_TYPES
                                .map(|t| t.name)
                                .join(", ")
                        ),
                    );
                }
            }
        }
        url
    }
}

fn dedup(types: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in types {
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    out
}

#[tonic::async_trait]
impl WebhookService for WebhookApi {
    async fn create_webhook_endpoint(
        &self,
        request: Request<pb::CreateWebhookEndpointRequest>,
    ) -> Result<Response<pb::CreateWebhookEndpointResponse>, Status> {
        let principal = self.admin(&request)?;
        let wanted = request.into_inner().endpoint.unwrap_or_default();
        let reseller = principal.reseller_scope(&wanted.reseller_id)?;
        let mut v = Violations::new();
        let url = self.validate_fields(&mut v, &wanted, |_| true);
        v.into_result()?;
        let Some(url) = url else {
            return Err(ServiceError::invalid_field("endpoint.url", "required").into());
        };
        let now = self.core.now();
        let secret = SigningSecret::generate();
        let row = EndpointRow {
            id: platform::ids::new_id(),
            reseller_id: reseller,
            url: url.as_str().to_string(),
            description: wanted.description.trim().to_string(),
            event_types: dedup(&wanted.event_types),
            enabled: true,
            disabled_reason: String::new(),
            secret: secret.expose().to_string(),
            previous_secret: None,
            previous_secret_expires_at: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        webhooks::insert_endpoint(self.core.db.pool(), &row)
            .await
            .map_err(db)?;
        tracing::info!(endpoint_id = %row.id, reseller_id = %row.reseller_id, "webhook endpoint created");
        Ok(Response::new(pb::CreateWebhookEndpointResponse {
            endpoint: Some(convert::endpoint(&row)),
            secret: secret.expose().to_string(),
        }))
    }

    async fn get_webhook_endpoint(
        &self,
        request: Request<pb::GetWebhookEndpointRequest>,
    ) -> Result<Response<pb::WebhookEndpoint>, Status> {
        let principal = self.identity.authenticate(&request)?;
        principal.require(&[Role::ResellerAdmin, Role::ResellerUser])?;
        let e = self
            .owned_endpoint(&principal, &request.get_ref().endpoint_id)
            .await?;
        Ok(Response::new(convert::endpoint(&e)))
    }

    async fn list_webhook_endpoints(
        &self,
        request: Request<pb::ListWebhookEndpointsRequest>,
    ) -> Result<Response<pb::ListWebhookEndpointsResponse>, Status> {
        let principal = self.identity.authenticate(&request)?;
        principal.require(&[Role::ResellerAdmin, Role::ResellerUser])?;
        let reseller = principal.reseller_filter("")?;
        let req = request.into_inner();
        let limit = page_size(req.page_size)?;
        let scope = format!("endpoints:{}", reseller.as_deref().unwrap_or("*"));
        let after: Option<String> = self.page_tokens.decode(&scope, &req.page_token)?;
        let mut rows = webhooks::list_endpoints(
            self.core.db.pool(),
            reseller.as_deref(),
            after.as_deref(),
            limit + 1,
        )
        .await
        .map_err(db)?;
        let next_page_token = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last()
                .map(|r| self.page_tokens.encode(&scope, &r.id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListWebhookEndpointsResponse {
            endpoints: rows.iter().map(convert::endpoint).collect(),
            next_page_token,
        }))
    }

    async fn update_webhook_endpoint(
        &self,
        request: Request<pb::UpdateWebhookEndpointRequest>,
    ) -> Result<Response<pb::WebhookEndpoint>, Status> {
        let principal = self.admin(&request)?;
        let req = request.into_inner();
        let wanted = req.endpoint.unwrap_or_default();
        let mut row = self.owned_endpoint(&principal, &wanted.id).await?;
        let mut v = Violations::new();
        for path in &req.update_mask {
            if !matches!(
                path.as_str(),
                "url" | "description" | "event_types" | "enabled"
            ) {
                v.add("update_mask", format!("unknown or read-only field {path}"));
            }
        }
        let has = |f: &str| req.update_mask.is_empty() || req.update_mask.iter().any(|m| m == f);
        let url = self.validate_fields(&mut v, &wanted, has);
        v.into_result()?;
        if let Some(url) = url {
            row.url = url.as_str().to_string();
        }
        if has("description") {
            row.description = wanted.description.trim().to_string();
        }
        if has("event_types") {
            row.event_types = dedup(&wanted.event_types);
        }
        if has("enabled") {
            if wanted.enabled && !row.enabled {
                // Re-enabled by its owner: the failure clock starts over.
                row.disabled_reason.clear();
                row.failing_since = None;
            }
            if !wanted.enabled {
                row.disabled_reason.clear();
            }
            row.enabled = wanted.enabled;
        }
        row.updated_at = self.core.now();
        webhooks::update_endpoint(self.core.db.pool(), &row)
            .await
            .map_err(db)?;
        Ok(Response::new(convert::endpoint(&row)))
    }

    async fn delete_webhook_endpoint(
        &self,
        request: Request<pb::DeleteWebhookEndpointRequest>,
    ) -> Result<Response<pb::DeleteWebhookEndpointResponse>, Status> {
        let principal = self.admin(&request)?;
        let row = self
            .owned_endpoint(&principal, &request.get_ref().endpoint_id)
            .await?;
        webhooks::delete_endpoint(self.core.db.pool(), &row.id)
            .await
            .map_err(db)?;
        Ok(Response::new(pb::DeleteWebhookEndpointResponse {}))
    }

    async fn rotate_webhook_secret(
        &self,
        request: Request<pb::RotateWebhookSecretRequest>,
    ) -> Result<Response<pb::RotateWebhookSecretResponse>, Status> {
        let principal = self.admin(&request)?;
        let row = self
            .owned_endpoint(&principal, &request.get_ref().endpoint_id)
            .await?;
        let now = self.core.now();
        let until = now + (self.core.settings.webhooks.secret_overlap_ms as i64) * 1000;
        let secret = SigningSecret::generate();
        webhooks::rotate_secret(
            self.core.db.pool(),
            &row.id,
            secret.expose(),
            &row.secret,
            until,
            now,
        )
        .await
        .map_err(db)?;
        tracing::info!(endpoint_id = %row.id, "webhook secret rotated");
        Ok(Response::new(pb::RotateWebhookSecretResponse {
            secret: secret.expose().to_string(),
            previous_secret_expire_time: Some(micros_to_timestamp(until)),
        }))
    }

    async fn send_test_webhook(
        &self,
        request: Request<pb::SendTestWebhookRequest>,
    ) -> Result<Response<pb::WebhookDelivery>, Status> {
        let principal = self.admin(&request)?;
        let req = request.into_inner();
        let endpoint = self.owned_endpoint(&principal, &req.endpoint_id).await?;
        let event_type = if req.event_type.is_empty() {
            TEST_EVENT_TYPE.to_string()
        } else {
            req.event_type.clone()
        };
        if !webhook_events::is_known_event_type(&event_type) {
            return Err(ServiceError::invalid_field(
                "event_type",
                format!("unknown event type {event_type:?}"),
            )
            .into());
        }
        let now = self.core.clock.now();
        let now_micros = platform::clock::to_micros(now);
        let timestamp = now.format(&Rfc3339).unwrap_or_default();
        let row = DeliveryRow {
            id: platform::ids::new_id(),
            endpoint_id: endpoint.id.clone(),
            reseller_id: endpoint.reseller_id.clone(),
            event_id: format!("test_{}", platform::ids::new_id()),
            event_type: event_type.clone(),
            payload: webhook_events::test_body(&event_type, &endpoint.id, &timestamp).to_string(),
            status: status::PENDING.to_string(),
            attempts: 1,
            next_attempt_at: i64::MAX,
            created_at: now_micros,
        };
        let mut conn = self.core.db.pool().acquire().await.map_err(db)?;
        webhooks::insert_delivery(&mut conn, &row)
            .await
            .map_err(db)?;
        // A test send is attempted once, right now, whatever the endpoint's state.
        let outcome = self
            .sender
            .attempt(&endpoint, &row.event_id, &row.payload, now)
            .await;
        webhooks::insert_attempt(&mut conn, &row.id, &outcome.attempt)
            .await
            .map_err(db)?;
        drop(conn);
        let final_status = if outcome.success {
            status::SUCCEEDED
        } else {
            status::FAILED
        };
        webhooks::set_status(self.core.db.pool(), &row.id, final_status)
            .await
            .map_err(db)?;
        let row = DeliveryRow {
            status: final_status.to_string(),
            ..row
        };
        Ok(Response::new(convert::delivery(&row, &[outcome.attempt])))
    }

    async fn list_webhook_deliveries(
        &self,
        request: Request<pb::ListWebhookDeliveriesRequest>,
    ) -> Result<Response<pb::ListWebhookDeliveriesResponse>, Status> {
        let principal = self.identity.authenticate(&request)?;
        principal.require(&[Role::ResellerAdmin, Role::ResellerUser])?;
        let req = request.into_inner();
        let endpoint = self.owned_endpoint(&principal, &req.endpoint_id).await?;
        let limit = page_size(req.page_size)?.min(100);
        let scope = format!("deliveries:{}", endpoint.id);
        let before: Option<String> = self.page_tokens.decode(&scope, &req.page_token)?;
        let pool = self.core.db.pool();
        let mut rows = webhooks::list_deliveries(pool, &endpoint.id, before.as_deref(), limit + 1)
            .await
            .map_err(db)?;
        let next_page_token = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last()
                .map(|r| self.page_tokens.encode(&scope, &r.id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let mut deliveries = Vec::with_capacity(rows.len());
        for row in &rows {
            let attempts = webhooks::attempts(pool, &row.id).await.map_err(db)?;
            deliveries.push(convert::delivery(row, &attempts));
        }
        Ok(Response::new(pb::ListWebhookDeliveriesResponse {
            deliveries,
            next_page_token,
        }))
    }

    async fn replay_webhook_delivery(
        &self,
        request: Request<pb::ReplayWebhookDeliveryRequest>,
    ) -> Result<Response<pb::WebhookDelivery>, Status> {
        let principal = self.admin(&request)?;
        let req = request.into_inner();
        let endpoint = self.owned_endpoint(&principal, &req.endpoint_id).await?;
        let pool = self.core.db.pool();
        let not_found = || ServiceError::not_found(format!("webhook delivery {}", req.delivery_id));
        let row = webhooks::delivery_by_id(pool, &req.delivery_id)
            .await
            .map_err(db)?
            .filter(|d| d.endpoint_id == endpoint.id)
            .ok_or_else(not_found)?;
        if !endpoint.enabled {
            return Err(ServiceError::precondition(
                "webhook.endpoint_disabled",
                format!(
                    "endpoint {} is disabled; enable it before replaying",
                    endpoint.id
                ),
            )
            .into());
        }
        webhooks::replay(pool, &row.id, self.core.now())
            .await
            .map_err(db)?;
        self.core.webhook_wake.notify_one();
        let row = webhooks::delivery_by_id(pool, &row.id)
            .await
            .map_err(db)?
            .ok_or_else(not_found)?;
        let attempts = webhooks::attempts(pool, &row.id).await.map_err(db)?;
        Ok(Response::new(convert::delivery(&row, &attempts)))
    }
}
