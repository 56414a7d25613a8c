//! Operation names: the journal's `operation` field and the [`crate::Fault::operation`] filter.

use crate::faults::Vendor;

/// `POST /v2/oauth/generateaccesstoken`.
pub const AUTODESK_TOKEN: &str = "autodesk.token";
/// `POST /v2/orders/fulfillment` (New, AddSeats, Renewal, TurnOnAutoRenew).
pub const AUTODESK_PLACE_ORDER: &str = "autodesk.place_order";
/// `POST /v2/orders/revoke` (RemoveSeats, TurnOffAutoRenew).
pub const AUTODESK_REVOKE_ORDER: &str = "autodesk.revoke_order";
/// `GET /v1/orders/status/{transactionId}`.
pub const AUTODESK_ORDER_STATUS: &str = "autodesk.order_status";

/// `POST /v1/customers`.
pub const MICROSOFT_CREATE_CUSTOMER: &str = "microsoft.create_customer";
/// `GET /v1/customers` (the partner's customers, filtered by domain or company name).
pub const MICROSOFT_LIST_CUSTOMERS: &str = "microsoft.list_customers";
/// `GET /v1/customers/relationshiprequests` (the reseller relationship invitation link).
pub const MICROSOFT_RELATIONSHIP_REQUEST: &str = "microsoft.relationship_request";
/// `GET /v1/customers/{id}`.
pub const MICROSOFT_GET_CUSTOMER: &str = "microsoft.get_customer";
/// `GET /v1/agreements`.
pub const MICROSOFT_AGREEMENT_METADATA: &str = "microsoft.agreement_metadata";
/// `POST /v1/customers/{id}/agreements`.
pub const MICROSOFT_CREATE_AGREEMENT: &str = "microsoft.create_agreement";
/// `GET /v1/customers/{id}/agreements`.
pub const MICROSOFT_LIST_AGREEMENTS: &str = "microsoft.list_agreements";
/// `POST /v1/customers/{id}/carts`.
pub const MICROSOFT_CREATE_CART: &str = "microsoft.create_cart";
/// `GET /v1/customers/{id}/carts/{cartId}`.
pub const MICROSOFT_GET_CART: &str = "microsoft.get_cart";
/// `POST /v1/customers/{id}/carts/{cartId}/checkout`.
pub const MICROSOFT_CHECKOUT: &str = "microsoft.checkout";
/// `GET /v1/customers/{id}/orders/{orderId}`.
pub const MICROSOFT_GET_ORDER: &str = "microsoft.get_order";
/// `GET /v1/customers/{id}/orders/{orderId}/provisioningstatus`.
pub const MICROSOFT_PROVISIONING_STATUS: &str = "microsoft.provisioning_status";
/// `GET /v1/customers/{id}/subscriptions`.
pub const MICROSOFT_LIST_SUBSCRIPTIONS: &str = "microsoft.list_subscriptions";
/// `GET /v1/customers/{id}/subscriptions/{subId}`.
pub const MICROSOFT_GET_SUBSCRIPTION: &str = "microsoft.get_subscription";
/// `PATCH /v1/customers/{id}/subscriptions/{subId}`.
pub const MICROSOFT_PATCH_SUBSCRIPTION: &str = "microsoft.patch_subscription";

/// Every Autodesk operation.
pub const AUTODESK: &[&str] = &[
    AUTODESK_TOKEN,
    AUTODESK_PLACE_ORDER,
    AUTODESK_REVOKE_ORDER,
    AUTODESK_ORDER_STATUS,
];

/// Every Microsoft operation.
pub const MICROSOFT: &[&str] = &[
    MICROSOFT_CREATE_CUSTOMER,
    MICROSOFT_LIST_CUSTOMERS,
    MICROSOFT_RELATIONSHIP_REQUEST,
    MICROSOFT_GET_CUSTOMER,
    MICROSOFT_AGREEMENT_METADATA,
    MICROSOFT_CREATE_AGREEMENT,
    MICROSOFT_LIST_AGREEMENTS,
    MICROSOFT_CREATE_CART,
    MICROSOFT_GET_CART,
    MICROSOFT_CHECKOUT,
    MICROSOFT_GET_ORDER,
    MICROSOFT_PROVISIONING_STATUS,
    MICROSOFT_LIST_SUBSCRIPTIONS,
    MICROSOFT_GET_SUBSCRIPTION,
    MICROSOFT_PATCH_SUBSCRIPTION,
];

/// Operations that accept an order asynchronously, so [`crate::FaultKind::AsyncFailure`] applies.
pub const ACCEPTING: &[&str] = &[
    AUTODESK_PLACE_ORDER,
    AUTODESK_REVOKE_ORDER,
    MICROSOFT_CHECKOUT,
];

/// The operations of one vendor.
pub fn for_vendor(vendor: Vendor) -> &'static [&'static str] {
    match vendor {
        Vendor::Autodesk => AUTODESK,
        Vendor::Microsoft => MICROSOFT,
    }
}
