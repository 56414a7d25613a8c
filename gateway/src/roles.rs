//! The declared role × operation matrix enforced at the edge, for REST and gRPC alike.
//!
//! Deny by default: an operation missing from the matrix is refused for everyone. Services
//! enforce roles and tenant scoping themselves as well (defence in depth); this matrix only
//! stops calls that can never succeed before they reach a service.

use platform::identity::Role;

use Role::{
    CustomerAdmin as CA, CustomerUser as CU, ResellerAdmin as RA, ResellerUser as RU, Staff as S,
};

const ALL: &[Role] = &[S, RA, RU, CA, CU];
const RESELLERS: &[Role] = &[S, RA, RU];
const RESELLER_ADMINS: &[Role] = &[S, RA];
const BUYERS: &[Role] = &[S, RA, RU, CA];
const STAFF: &[Role] = &[S];

/// Which roles may call each operation, by gRPC method (`Service/Method`, package omitted).
pub const MATRIX: &[(&str, &[Role])] = &[
    // catalog
    ("catalog.v1.CatalogService/ListVendors", ALL),
    ("catalog.v1.CatalogService/ListCategories", ALL),
    ("catalog.v1.CatalogService/ListPlans", ALL),
    ("catalog.v1.CatalogService/GetPlan", ALL),
    ("catalog.v1.CatalogService/LookupPlan", ALL),
    ("catalog.v1.CatalogService/QuotePrices", RESELLERS),
    ("catalog.v1.CatalogService/CreatePlan", STAFF),
    ("catalog.v1.CatalogService/UpdatePlan", STAFF),
    ("catalog.v1.CatalogService/RetirePlan", STAFF),
    ("catalog.v1.CatalogService/ListPrices", RESELLERS),
    ("catalog.v1.CatalogService/CreatePrice", STAFF),
    ("catalog.v1.CatalogService/ImportPriceList", STAFF),
    ("catalog.v1.CatalogService/ListMarkups", RESELLERS),
    ("catalog.v1.CatalogService/SetMarkup", RESELLER_ADMINS),
    ("catalog.v1.CatalogService/DeleteMarkup", RESELLER_ADMINS),
    // resellers
    ("ordering.v1.ResellerService/CreateReseller", STAFF),
    ("ordering.v1.ResellerService/GetReseller", RESELLERS),
    ("ordering.v1.ResellerService/ListResellers", STAFF),
    (
        "ordering.v1.ResellerService/UpdateReseller",
        RESELLER_ADMINS,
    ),
    // customers
    ("ordering.v1.CustomerService/CreateCustomer", RESELLERS),
    ("ordering.v1.CustomerService/GetCustomer", ALL),
    ("ordering.v1.CustomerService/ListCustomers", RESELLERS),
    ("ordering.v1.CustomerService/UpdateCustomer", BUYERS),
    ("ordering.v1.CustomerService/AcceptAgreement", BUYERS),
    // carts
    ("ordering.v1.CartService/CreateCart", BUYERS),
    ("ordering.v1.CartService/GetCart", BUYERS),
    ("ordering.v1.CartService/ListCarts", BUYERS),
    ("ordering.v1.CartService/UpdateCart", BUYERS),
    ("ordering.v1.CartService/AddCartLine", BUYERS),
    ("ordering.v1.CartService/UpdateCartLine", BUYERS),
    ("ordering.v1.CartService/RemoveCartLine", BUYERS),
    ("ordering.v1.CartService/DeleteCart", BUYERS),
    ("ordering.v1.CartService/CheckCartReadiness", BUYERS),
    ("ordering.v1.CartService/CheckoutCart", BUYERS),
    // orders
    ("ordering.v1.OrderService/ListOrders", ALL),
    ("ordering.v1.OrderService/GetOrder", ALL),
    ("ordering.v1.OrderService/WatchOrder", ALL),
    ("ordering.v1.OrderService/AddOrderNote", ALL),
    ("ordering.v1.OrderService/SubmitOrder", BUYERS),
    ("ordering.v1.OrderService/ResubmitOrderItem", BUYERS),
    // subscriptions
    ("ordering.v1.SubscriptionService/ListSubscriptions", ALL),
    ("ordering.v1.SubscriptionService/GetSubscription", ALL),
    ("ordering.v1.SubscriptionService/ChangeSeats", BUYERS),
    (
        "ordering.v1.SubscriptionService/SuspendSubscription",
        RESELLERS,
    ),
    (
        "ordering.v1.SubscriptionService/ResumeSubscription",
        RESELLERS,
    ),
    (
        "ordering.v1.SubscriptionService/PreviewCancellation",
        BUYERS,
    ),
    ("ordering.v1.SubscriptionService/CancelSubscription", BUYERS),
    ("ordering.v1.SubscriptionService/SetAutoRenew", BUYERS),
    (
        "ordering.v1.SubscriptionService/UpdateAssignedLicenses",
        BUYERS,
    ),
    // sandbox test clocks (staff, and reseller admins for their own clocks)
    (
        "ordering.v1.TestClockService/CreateTestClock",
        RESELLER_ADMINS,
    ),
    ("ordering.v1.TestClockService/GetTestClock", RESELLER_ADMINS),
    (
        "ordering.v1.TestClockService/ListTestClocks",
        RESELLER_ADMINS,
    ),
    (
        "ordering.v1.TestClockService/AttachTestClockCustomer",
        RESELLER_ADMINS,
    ),
    (
        "ordering.v1.TestClockService/AdvanceTestClock",
        RESELLER_ADMINS,
    ),
    // provisioning operations
    ("provisioning.v1.ProvisioningService/ListJobs", RESELLERS),
    ("provisioning.v1.ProvisioningService/GetJob", RESELLERS),
    ("provisioning.v1.ProvisioningService/RetryJob", STAFF),
    ("provisioning.v1.ProvisioningService/CancelJob", STAFF),
    ("provisioning.v1.ProvisioningService/ResubmitJob", STAFF),
    // notifications
    ("notification.v1.NotificationService/ListNotifications", ALL),
    ("notification.v1.NotificationService/GetUnreadCount", ALL),
    (
        "notification.v1.NotificationService/MarkNotificationsRead",
        ALL,
    ),
    (
        "notification.v1.NotificationService/WatchNotifications",
        ALL,
    ),
    (
        "notification.v1.NotificationService/GetPreferences",
        RESELLERS,
    ),
    (
        "notification.v1.NotificationService/UpdatePreferences",
        RESELLER_ADMINS,
    ),
    (
        "notification.v1.NotificationService/ListEmailDeliveries",
        RESELLER_ADMINS,
    ),
    // webhooks
    (
        "notification.v1.WebhookService/CreateWebhookEndpoint",
        RESELLER_ADMINS,
    ),
    (
        "notification.v1.WebhookService/GetWebhookEndpoint",
        RESELLER_ADMINS,
    ),
    (
        "notification.v1.WebhookService/ListWebhookEndpoints",
        RESELLER_ADMINS,
    ),
    (
        "notification.v1.WebhookService/UpdateWebhookEndpoint",
        RESELLER_ADMINS,
    ),
    (
        "notification.v1.WebhookService/DeleteWebhookEndpoint",
        RESELLER_ADMINS,
    ),
    (
        "notification.v1.WebhookService/RotateWebhookSecret",
        RESELLER_ADMINS,
    ),
    (
        "notification.v1.WebhookService/SendTestWebhook",
        RESELLER_ADMINS,
    ),
    (
        "notification.v1.WebhookService/ListWebhookDeliveries",
        RESELLER_ADMINS,
    ),
    (
        "notification.v1.WebhookService/ReplayWebhookDelivery",
        RESELLER_ADMINS,
    ),
    // API keys (owned by the gateway)
    ("gateway.v1.ApiKeyService/CreateApiKey", &[RA]),
    ("gateway.v1.ApiKeyService/ListApiKeys", RESELLER_ADMINS),
    ("gateway.v1.ApiKeyService/RevokeApiKey", RESELLER_ADMINS),
];

/// The roles allowed to call a gRPC method (`/marketplace.catalog.v1.CatalogService/GetPlan`),
/// or `None` when the operation is not declared (refused).
pub fn allowed_roles(grpc_path: &str) -> Option<&'static [Role]> {
    let key = grpc_path.strip_prefix("/marketplace.")?;
    MATRIX
        .iter()
        .find(|(op, _)| *op == key)
        .map(|(_, roles)| *roles)
}

/// Whether `role` may call the method.
pub(crate) fn is_allowed(grpc_path: &str, role: Role) -> bool {
    allowed_roles(grpc_path).is_some_and(|roles| roles.contains(&role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_public_method_is_declared_and_nothing_else() {
        let api = crate::descriptor::Api::decode(marketplace_proto::FILE_DESCRIPTOR_SET).unwrap();
        for method in &api.methods {
            assert!(
                allowed_roles(&method.path).is_some(),
                "{} missing from the role matrix",
                method.path
            );
        }
        for (op, _) in MATRIX {
            assert!(
                api.method(&format!("/marketplace.{op}")).is_some(),
                "{op} is not a public method"
            );
        }
        assert!(!is_allowed(
            "/marketplace.catalog.v1.CatalogService/CreatePlan",
            Role::ResellerAdmin
        ));
        assert!(is_allowed(
            "/marketplace.catalog.v1.CatalogService/CreatePlan",
            Role::Staff
        ));
        assert!(!is_allowed(
            "/marketplace.catalog.v1.CatalogService/Nope",
            Role::Staff
        ));
    }
}
