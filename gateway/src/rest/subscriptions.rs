//! Subscription operations.

use marketplace_proto::ordering::v1 as pb;

use crate::upstream::Registry;

const SERVICE: &str = "marketplace.ordering.v1.SubscriptionService";

/// Registers the REST operations of `SubscriptionService`.
pub(crate) fn register(r: &mut Registry) {
    r.unary::<pb::ListSubscriptionsRequest, pb::ListSubscriptionsResponse>(
        SERVICE,
        "ListSubscriptions",
    );
    r.unary::<pb::GetSubscriptionRequest, pb::Subscription>(SERVICE, "GetSubscription");
    r.unary::<pb::ChangeSeatsRequest, pb::Order>(SERVICE, "ChangeSeats");
    r.unary::<pb::SuspendSubscriptionRequest, pb::Order>(SERVICE, "SuspendSubscription");
    r.unary::<pb::ResumeSubscriptionRequest, pb::Order>(SERVICE, "ResumeSubscription");
    r.unary::<pb::PreviewCancellationRequest, pb::PreviewCancellationResponse>(
        SERVICE,
        "PreviewCancellation",
    );
    r.unary::<pb::CancelSubscriptionRequest, pb::Order>(SERVICE, "CancelSubscription");
    r.unary::<pb::SetAutoRenewRequest, pb::Order>(SERVICE, "SetAutoRenew");
    r.unary::<pb::UpdateAssignedLicensesRequest, pb::Subscription>(
        SERVICE,
        "UpdateAssignedLicenses",
    );
}
