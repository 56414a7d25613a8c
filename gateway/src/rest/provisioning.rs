//! Provisioning job operations.

use marketplace_proto::provisioning::v1 as pb;

use crate::upstream::Registry;

const SERVICE: &str = "marketplace.provisioning.v1.ProvisioningService";

/// Registers the REST operations of `ProvisioningService`.
pub(crate) fn register(r: &mut Registry) {
    r.unary::<pb::ListJobsRequest, pb::ListJobsResponse>(SERVICE, "ListJobs");
    r.unary::<pb::GetJobRequest, pb::Job>(SERVICE, "GetJob");
    r.unary::<pb::RetryJobRequest, pb::Job>(SERVICE, "RetryJob");
    r.unary::<pb::CancelJobRequest, pb::Job>(SERVICE, "CancelJob");
    r.unary::<pb::ResubmitJobRequest, pb::Job>(SERVICE, "ResubmitJob");
}
