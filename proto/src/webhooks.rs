//! The public webhook vocabulary: every event type partners can receive (and filter endpoints
//! on), with the event message its `data` carries. One naming scheme everywhere: dotted
//! `<resource>.<event>` in lower snake case (`order.status_changed`), used as the payload's
//! `type`, in `WebhookEndpoint.event_types` filters, in deliveries and in the docs/OpenAPI.
//! The bus's own names (`order_status_changed`) are internal and never appear in a webhook.
//!
//! Body: `{"type": "<type>", "timestamp": "<RFC 3339, Z>", "data": {"eventId", "resellerId",
//! "customerId", …the fields of the event message in proto3 JSON…}}`.

/// One public webhook event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookEventType {
    /// Public name, e.g. `order.status_changed`.
    pub name: &'static str,
    /// Full name of the message whose fields `data` carries (empty for the test event).
    pub payload: &'static str,
    /// When it is sent.
    pub summary: &'static str,
}

/// Type of test events (`SendTestWebhook`); `data` is `{"test": true, "endpointId"}`.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

const fn t(name: &'static str, payload: &'static str, summary: &'static str) -> WebhookEventType {
    WebhookEventType {
        name,
        payload,
        summary,
    }
}

/// Every public webhook event type, in documentation order.
pub const WEBHOOK_EVENT_TYPES: [WebhookEventType; 10] = [
    t(
        "order.submitted",
        "marketplace.events.v1.OrderSubmitted",
        "An order was submitted for processing (bought).",
    ),
    t(
        "order.completed",
        "marketplace.events.v1.OrderStatusChanged",
        "An order reached ORDER_STATUS_COMPLETED (instead of `order.status_changed` for that change).",
    ),
    t(
        "order.status_changed",
        "marketplace.events.v1.OrderStatusChanged",
        "An order changed status (any change but the one to COMPLETED).",
    ),
    t(
        "order_item.status_changed",
        "marketplace.events.v1.OrderItemStatusChanged",
        "An order item changed status.",
    ),
    t(
        "order_item.provisioned",
        "marketplace.events.v1.FulfilmentSucceeded",
        "The vendor carried out an order item.",
    ),
    t(
        "order_item.inquiring",
        "marketplace.events.v1.FulfilmentInquiring",
        "The vendor needs more information about an order item (fix the parameters and resubmit).",
    ),
    t(
        "order_item.failed",
        "marketplace.events.v1.FulfilmentFailed",
        "The vendor refused an order item permanently.",
    ),
    t(
        "subscription.activated",
        "marketplace.events.v1.SubscriptionActivated",
        "A subscription became ready.",
    ),
    t(
        "subscription.status_changed",
        "marketplace.events.v1.SubscriptionStatusChanged",
        "A subscription changed status.",
    ),
    t(
        "subscription.reminder",
        "marketplace.events.v1.SubscriptionReminder",
        "A lifecycle reminder (cancellation window closing, auto-renew deadline, term end).",
    ),
];

/// The public event type called `name`, if any (the test type is not listed).
pub fn webhook_event_type(name: &str) -> Option<&'static WebhookEventType> {
    WEBHOOK_EVENT_TYPES.iter().find(|t| t.name == name)
}
