//! SubscriptionService: listing and detail, the lifecycle changes (each placed as an order by
//! `placing::place_change` after the vendor policy accepted it), the cancellation preview and
//! the assigned-licenses count.

use marketplace_proto::ordering::v1 as pb;
use marketplace_proto::ordering::v1::subscription_service_server::SubscriptionService;
use platform::ServiceError;
use platform::error::ErrorCode;
use platform::identity::{Principal, Role};

use super::{Reply, Subscriptions, convert, cursor, next_token, own_customer, principal, reply};
use crate::domain::policy::{self, Now, Request};
use crate::placing::{ChangeRequest, place_change, visible_subscription};
use crate::store::SubscriptionFilter;

/// Roles that may record assigned licenses (staff always may).
const LICENSE_KEEPERS: [Role; 3] = [Role::ResellerAdmin, Role::ResellerUser, Role::CustomerAdmin];

impl Subscriptions {
    async fn list(
        &self,
        p: &Principal,
        req: pb::ListSubscriptionsRequest,
    ) -> Result<pb::ListSubscriptionsResponse, ServiceError> {
        let ctx = &self.0;
        let reseller = p.reseller_filter(&req.reseller_id)?;
        let customer = match own_customer(p)? {
            Some(own) if !req.customer_id.is_empty() && req.customer_id != own => {
                return Ok(pb::ListSubscriptionsResponse::default());
            }
            Some(own) => Some(own),
            None => Some(req.customer_id.clone()).filter(|c| !c.is_empty()),
        };
        let mut statuses = Vec::new();
        for (i, s) in req.statuses.iter().enumerate() {
            statuses.push(convert::subscription_status_from(*s).ok_or_else(|| {
                ServiceError::invalid_field(format!("statuses[{i}]"), "unknown subscription status")
            })?);
        }
        let filter = SubscriptionFilter {
            reseller_id: reseller,
            customer_id: customer,
            vendor_id: Some(req.vendor_id.clone()).filter(|v| !v.is_empty()),
            statuses,
            text: req.query.clone(),
        };
        let limit = platform::paging::page_size(req.page_size)?;
        let scope = format!("subscriptions:{filter:?}");
        let after = cursor(ctx, &scope, &req.page_token)?;
        let mut conn = ctx.store.conn().await?;
        let (items, next) = ctx
            .store
            .list_subscriptions(&mut conn, &filter, after.as_ref(), limit)
            .await?;
        Ok(pb::ListSubscriptionsResponse {
            subscriptions: items
                .iter()
                .map(|s| convert::subscription(s, p.role.is_customer()))
                .collect(),
            next_page_token: next_token(ctx, &scope, next),
        })
    }

    async fn get(&self, p: &Principal, id: &str) -> Result<pb::Subscription, ServiceError> {
        let mut conn = self.0.store.conn().await?;
        match self.0.store.subscription(&mut conn, id).await? {
            Some(s) if p.can_see(&s.reseller_id, Some(&s.customer_id)) => {
                Ok(convert::subscription(&s, p.role.is_customer()))
            }
            _ => Err(ServiceError::not_found(format!("subscription {id}"))),
        }
    }
}

impl Subscriptions {
    async fn place(&self, p: &Principal, change: ChangeRequest) -> Result<pb::Order, ServiceError> {
        let order = place_change(&self.0, p, change).await?;
        Ok(convert::order(&order, p.role.is_customer()))
    }

    async fn preview(
        &self,
        p: &Principal,
        id: &str,
    ) -> Result<pb::PreviewCancellationResponse, ServiceError> {
        let ctx = &self.0;
        let mut conn = ctx.store.conn().await?;
        let sub = visible_subscription(p, ctx.store.subscription(&mut conn, id).await?, id)?;
        let now = ctx.now_for(&mut conn, &sub.customer_id).await?;
        let quote = policy::of(&sub)?.preview_cancellation(&sub, Now::at(now));
        Ok(pb::PreviewCancellationResponse {
            allowed: quote.allowed,
            rule: quote.rule,
            explanation: quote.explanation,
            refund: convert::money(&sub.price.currency_code, quote.refund),
            window_close_time: quote.window_close.map(platform::clock::micros_to_timestamp),
        })
    }

    /// Sets the assigned licenses; a concurrent internal update (provisioning, the scheduler)
    /// is retried here, since the caller sent no version to conflict with.
    async fn assigned_licenses(
        &self,
        p: &Principal,
        id: &str,
        assigned: i32,
    ) -> Result<pb::Subscription, ServiceError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.assign_licenses_once(p, id, assigned).await {
                Err(e) if e.code == ErrorCode::Aborted && attempts < 5 => continue,
                result => return result,
            }
        }
    }

    async fn assign_licenses_once(
        &self,
        p: &Principal,
        id: &str,
        assigned: i32,
    ) -> Result<pb::Subscription, ServiceError> {
        p.require(&LICENSE_KEEPERS)?;
        let ctx = &self.0;
        let mut tx = ctx.store.begin().await?;
        let mut sub = visible_subscription(p, ctx.store.subscription(&mut tx, id).await?, id)?;
        if assigned < 0 || assigned > sub.quantity {
            return Err(ServiceError::invalid_field(
                "assigned_licenses",
                format!(
                    "must be between 0 and the {} seats of the subscription",
                    sub.quantity
                ),
            ));
        }
        sub.assigned_licenses = assigned;
        sub.updated_at = ctx.now();
        sub.version += 1;
        ctx.store.update_subscription(&mut tx, &sub).await?;
        tx.commit().await?;
        Ok(convert::subscription(&sub, p.role.is_customer()))
    }
}

#[tonic::async_trait]
impl SubscriptionService for Subscriptions {
    async fn list_subscriptions(
        &self,
        request: tonic::Request<pb::ListSubscriptionsRequest>,
    ) -> Reply<pb::ListSubscriptionsResponse> {
        let p = principal(&self.0, &request)?;
        reply(self.list(&p, request.into_inner()).await)
    }

    async fn get_subscription(
        &self,
        request: tonic::Request<pb::GetSubscriptionRequest>,
    ) -> Reply<pb::Subscription> {
        let p = principal(&self.0, &request)?;
        reply(self.get(&p, &request.get_ref().subscription_id).await)
    }

    async fn change_seats(
        &self,
        request: tonic::Request<pb::ChangeSeatsRequest>,
    ) -> Reply<pb::Order> {
        let p = principal(&self.0, &request)?;
        let r = request.into_inner();
        if r.quantity < 1 {
            return Err(ServiceError::invalid_field("quantity", "must be at least 1 seat").into());
        }
        let change = ChangeRequest {
            subscription_id: r.subscription_id,
            request: Request::Seats(r.quantity),
            request_id: r.request_id,
            etag: r.etag,
            reason: String::new(),
        };
        reply(self.place(&p, change).await)
    }

    async fn suspend_subscription(
        &self,
        request: tonic::Request<pb::SuspendSubscriptionRequest>,
    ) -> Reply<pb::Order> {
        let p = principal(&self.0, &request)?;
        let r = request.into_inner();
        let change = ChangeRequest {
            subscription_id: r.subscription_id,
            request: Request::Suspend,
            request_id: r.request_id,
            etag: String::new(),
            reason: r.reason,
        };
        reply(self.place(&p, change).await)
    }

    async fn resume_subscription(
        &self,
        request: tonic::Request<pb::ResumeSubscriptionRequest>,
    ) -> Reply<pb::Order> {
        let p = principal(&self.0, &request)?;
        let r = request.into_inner();
        let change = ChangeRequest {
            subscription_id: r.subscription_id,
            request: Request::Resume,
            request_id: r.request_id,
            etag: String::new(),
            reason: String::new(),
        };
        reply(self.place(&p, change).await)
    }

    async fn preview_cancellation(
        &self,
        request: tonic::Request<pb::PreviewCancellationRequest>,
    ) -> Reply<pb::PreviewCancellationResponse> {
        let p = principal(&self.0, &request)?;
        reply(self.preview(&p, &request.get_ref().subscription_id).await)
    }

    async fn cancel_subscription(
        &self,
        request: tonic::Request<pb::CancelSubscriptionRequest>,
    ) -> Reply<pb::Order> {
        let p = principal(&self.0, &request)?;
        let r = request.into_inner();
        let change = ChangeRequest {
            subscription_id: r.subscription_id,
            request: Request::Cancel,
            request_id: r.request_id,
            etag: String::new(),
            reason: r.reason,
        };
        reply(self.place(&p, change).await)
    }

    async fn set_auto_renew(
        &self,
        request: tonic::Request<pb::SetAutoRenewRequest>,
    ) -> Reply<pb::Order> {
        let p = principal(&self.0, &request)?;
        let r = request.into_inner();
        let change = ChangeRequest {
            subscription_id: r.subscription_id,
            request: Request::AutoRenew(r.auto_renew),
            request_id: r.request_id,
            etag: String::new(),
            reason: String::new(),
        };
        reply(self.place(&p, change).await)
    }

    async fn update_assigned_licenses(
        &self,
        request: tonic::Request<pb::UpdateAssignedLicensesRequest>,
    ) -> Reply<pb::Subscription> {
        let p = principal(&self.0, &request)?;
        let r = request.into_inner();
        reply(
            self.assigned_licenses(&p, &r.subscription_id, r.assigned_licenses)
                .await,
        )
    }
}
