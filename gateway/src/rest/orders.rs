//! Order operations, including the live status stream (Server-Sent Events).

use marketplace_proto::ordering::v1 as pb;

use crate::upstream::Registry;

const SERVICE: &str = "marketplace.ordering.v1.OrderService";

/// Registers the REST operations of `OrderService`.
pub(crate) fn register(r: &mut Registry) {
    r.unary::<pb::ListOrdersRequest, pb::ListOrdersResponse>(SERVICE, "ListOrders");
    r.unary::<pb::GetOrderRequest, pb::Order>(SERVICE, "GetOrder");
    r.streaming::<pb::WatchOrderRequest, pb::WatchOrderResponse>(SERVICE, "WatchOrder");
    r.unary::<pb::AddOrderNoteRequest, pb::Order>(SERVICE, "AddOrderNote");
    r.unary::<pb::SubmitOrderRequest, pb::Order>(SERVICE, "SubmitOrder");
    r.unary::<pb::ResubmitOrderItemRequest, pb::Order>(SERVICE, "ResubmitOrderItem");
}
