//! SubscriptionService: listing and detail. Lifecycle changes (seats, suspension, cancellation,
//! auto-renew) arrive with issue 6 and answer UNIMPLEMENTED until then.

use marketplace_proto::ordering::v1 as pb;
use marketplace_proto::ordering::v1::subscription_service_server::SubscriptionService;
use platform::ServiceError;
use platform::identity::Principal;

use super::{Reply, Subscriptions, convert, cursor, next_token, own_customer, principal, reply};
use crate::store::SubscriptionFilter;

fn later<T>() -> Reply<T> {
    Err(tonic::Status::unimplemented(
        "subscription changes are not available yet",
    ))
}

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
        _request: tonic::Request<pb::ChangeSeatsRequest>,
    ) -> Reply<pb::Order> {
        later()
    }

    async fn suspend_subscription(
        &self,
        _request: tonic::Request<pb::SuspendSubscriptionRequest>,
    ) -> Reply<pb::Order> {
        later()
    }

    async fn resume_subscription(
        &self,
        _request: tonic::Request<pb::ResumeSubscriptionRequest>,
    ) -> Reply<pb::Order> {
        later()
    }

    async fn preview_cancellation(
        &self,
        _request: tonic::Request<pb::PreviewCancellationRequest>,
    ) -> Reply<pb::PreviewCancellationResponse> {
        later()
    }

    async fn cancel_subscription(
        &self,
        _request: tonic::Request<pb::CancelSubscriptionRequest>,
    ) -> Reply<pb::Order> {
        later()
    }

    async fn set_auto_renew(
        &self,
        _request: tonic::Request<pb::SetAutoRenewRequest>,
    ) -> Reply<pb::Order> {
        later()
    }

    async fn update_assigned_licenses(
        &self,
        _request: tonic::Request<pb::UpdateAssignedLicensesRequest>,
    ) -> Reply<pb::Subscription> {
        later()
    }
}
