//! Reseller and customer operations.

use marketplace_proto::ordering::v1 as pb;

use crate::upstream::Registry;

const RESELLERS: &str = "marketplace.ordering.v1.ResellerService";
const CUSTOMERS: &str = "marketplace.ordering.v1.CustomerService";

/// Registers the REST operations of `ResellerService` and `CustomerService`.
pub(crate) fn register(r: &mut Registry) {
    r.unary::<pb::CreateResellerRequest, pb::Reseller>(RESELLERS, "CreateReseller");
    r.unary::<pb::GetResellerRequest, pb::Reseller>(RESELLERS, "GetReseller");
    r.unary::<pb::ListResellersRequest, pb::ListResellersResponse>(RESELLERS, "ListResellers");
    r.unary::<pb::UpdateResellerRequest, pb::Reseller>(RESELLERS, "UpdateReseller");
    r.unary::<pb::CreateCustomerRequest, pb::Customer>(CUSTOMERS, "CreateCustomer");
    r.unary::<pb::GetCustomerRequest, pb::Customer>(CUSTOMERS, "GetCustomer");
    r.unary::<pb::ListCustomersRequest, pb::ListCustomersResponse>(CUSTOMERS, "ListCustomers");
    r.unary::<pb::UpdateCustomerRequest, pb::Customer>(CUSTOMERS, "UpdateCustomer");
    r.unary::<pb::AcceptAgreementRequest, pb::Agreement>(CUSTOMERS, "AcceptAgreement");
}
