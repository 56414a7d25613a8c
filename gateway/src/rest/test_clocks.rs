//! Sandbox test clock operations.

use marketplace_proto::ordering::v1 as pb;

use crate::upstream::Registry;

const SERVICE: &str = "marketplace.ordering.v1.TestClockService";

/// Registers the REST operations of `TestClockService`.
pub(crate) fn register(r: &mut Registry) {
    r.unary::<pb::CreateTestClockRequest, pb::TestClock>(SERVICE, "CreateTestClock");
    r.unary::<pb::GetTestClockRequest, pb::TestClock>(SERVICE, "GetTestClock");
    r.unary::<pb::ListTestClocksRequest, pb::ListTestClocksResponse>(SERVICE, "ListTestClocks");
    r.unary::<pb::AttachTestClockCustomerRequest, pb::TestClock>(
        SERVICE,
        "AttachTestClockCustomer",
    );
    r.unary::<pb::AdvanceTestClockRequest, pb::TestClock>(SERVICE, "AdvanceTestClock");
}
