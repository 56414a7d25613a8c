//! Cart operations, including checkout.

use marketplace_proto::ordering::v1 as pb;

use crate::upstream::Registry;

const SERVICE: &str = "marketplace.ordering.v1.CartService";

/// Registers the REST operations of `CartService`.
pub(crate) fn register(r: &mut Registry) {
    r.unary::<pb::CreateCartRequest, pb::Cart>(SERVICE, "CreateCart");
    r.unary::<pb::GetCartRequest, pb::Cart>(SERVICE, "GetCart");
    r.unary::<pb::ListCartsRequest, pb::ListCartsResponse>(SERVICE, "ListCarts");
    r.unary::<pb::UpdateCartRequest, pb::Cart>(SERVICE, "UpdateCart");
    r.unary::<pb::AddCartLineRequest, pb::Cart>(SERVICE, "AddCartLine");
    r.unary::<pb::UpdateCartLineRequest, pb::Cart>(SERVICE, "UpdateCartLine");
    r.unary::<pb::RemoveCartLineRequest, pb::Cart>(SERVICE, "RemoveCartLine");
    r.unary::<pb::DeleteCartRequest, pb::Cart>(SERVICE, "DeleteCart");
    r.unary::<pb::CheckCartReadinessRequest, pb::CheckCartReadinessResponse>(
        SERVICE,
        "CheckCartReadiness",
    );
    r.unary::<pb::CheckoutCartRequest, pb::Order>(SERVICE, "CheckoutCart");
}
