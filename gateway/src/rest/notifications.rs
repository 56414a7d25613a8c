//! Notification feed, preferences, e-mail deliveries and webhook endpoints.

use marketplace_proto::notification::v1 as pb;

use crate::upstream::Registry;

const NOTIFICATIONS: &str = "marketplace.notification.v1.NotificationService";
const WEBHOOKS: &str = "marketplace.notification.v1.WebhookService";

/// Registers the REST operations of `NotificationService` and `WebhookService`.
pub(crate) fn register(r: &mut Registry) {
    r.unary::<pb::ListNotificationsRequest, pb::ListNotificationsResponse>(
        NOTIFICATIONS,
        "ListNotifications",
    );
    r.unary::<pb::GetUnreadCountRequest, pb::GetUnreadCountResponse>(
        NOTIFICATIONS,
        "GetUnreadCount",
    );
    r.unary::<pb::MarkNotificationsReadRequest, pb::MarkNotificationsReadResponse>(
        NOTIFICATIONS,
        "MarkNotificationsRead",
    );
    r.streaming::<pb::WatchNotificationsRequest, pb::Notification>(
        NOTIFICATIONS,
        "WatchNotifications",
    );
    r.unary::<pb::GetPreferencesRequest, pb::Preferences>(NOTIFICATIONS, "GetPreferences");
    r.unary::<pb::UpdatePreferencesRequest, pb::Preferences>(NOTIFICATIONS, "UpdatePreferences");
    r.unary::<pb::ListEmailDeliveriesRequest, pb::ListEmailDeliveriesResponse>(
        NOTIFICATIONS,
        "ListEmailDeliveries",
    );
    r.unary::<pb::CreateWebhookEndpointRequest, pb::CreateWebhookEndpointResponse>(
        WEBHOOKS,
        "CreateWebhookEndpoint",
    );
    r.unary::<pb::GetWebhookEndpointRequest, pb::WebhookEndpoint>(WEBHOOKS, "GetWebhookEndpoint");
    r.unary::<pb::ListWebhookEndpointsRequest, pb::ListWebhookEndpointsResponse>(
        WEBHOOKS,
        "ListWebhookEndpoints",
    );
    r.unary::<pb::UpdateWebhookEndpointRequest, pb::WebhookEndpoint>(
        WEBHOOKS,
        "UpdateWebhookEndpoint",
    );
    r.unary::<pb::DeleteWebhookEndpointRequest, pb::DeleteWebhookEndpointResponse>(
        WEBHOOKS,
        "DeleteWebhookEndpoint",
    );
    r.unary::<pb::RotateWebhookSecretRequest, pb::RotateWebhookSecretResponse>(
        WEBHOOKS,
        "RotateWebhookSecret",
    );
    r.unary::<pb::SendTestWebhookRequest, pb::WebhookDelivery>(WEBHOOKS, "SendTestWebhook");
    r.unary::<pb::ListWebhookDeliveriesRequest, pb::ListWebhookDeliveriesResponse>(
        WEBHOOKS,
        "ListWebhookDeliveries",
    );
    r.unary::<pb::ReplayWebhookDeliveryRequest, pb::WebhookDelivery>(
        WEBHOOKS,
        "ReplayWebhookDelivery",
    );
}
