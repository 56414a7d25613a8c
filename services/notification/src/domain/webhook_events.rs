//! Which bus events partners receive as webhooks, under which public type names, and the JSON
//! body they receive (Standard Webhooks shape: `{"type", "timestamp", "data"}`).

use marketplace_proto::events::v1::{Envelope, envelope::Payload};
use serde_json::{Value, json};

/// Type of test events sent with `SendTestWebhook`.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

/// Every public webhook event type (endpoint filters must name these).
pub const EVENT_TYPES: [&str; 10] = [
    "order.submitted",
    "order.completed",
    "order.status_changed",
    "order_item.status_changed",
    "order_item.provisioned",
    "order_item.inquiring",
    "order_item.failed",
    "subscription.activated",
    "subscription.status_changed",
    "subscription.reminder",
];

/// Whether `t` is a known event type (the test type included).
pub fn is_known_event_type(t: &str) -> bool {
    t == TEST_EVENT_TYPE || EVENT_TYPES.contains(&t)
}

/// The public type of a bus event, or `None` when partners do not receive it.
pub fn public_type(event: &Envelope) -> Option<&'static str> {
    Some(match event.payload.as_ref()? {
        Payload::OrderSubmitted(_) => "order.submitted",
        Payload::OrderStatusChanged(p) if p.to_status == "ORDER_STATUS_COMPLETED" => {
            "order.completed"
        }
        Payload::OrderStatusChanged(_) => "order.status_changed",
        Payload::OrderItemStatusChanged(_) => "order_item.status_changed",
        Payload::FulfilmentSucceeded(_) => "order_item.provisioned",
        Payload::FulfilmentInquiring(_) => "order_item.inquiring",
        Payload::FulfilmentFailed(_) => "order_item.failed",
        Payload::SubscriptionActivated(_) => "subscription.activated",
        Payload::SubscriptionStatusChanged(_) => "subscription.status_changed",
        Payload::SubscriptionReminder(_) => "subscription.reminder",
        Payload::FulfilmentRequested(_)
        | Payload::FulfilmentCancelRequested(_)
        | Payload::FulfilmentProgressed(_)
        | Payload::ResellerProfileChanged(_) => return None,
    })
}

/// Whether an endpoint with `filter` (empty = all) wants `event_type`.
pub fn wants(filter: &[String], event_type: &str) -> bool {
    filter.is_empty() || filter.iter().any(|t| t == event_type)
}

/// The JSON body sent for a bus event, in proto3 JSON (lowerCamelCase) for the payload.
pub fn body(event: &Envelope, event_type: &str, timestamp_rfc3339: &str) -> Value {
    let payload = match event.payload.as_ref() {
        Some(Payload::OrderSubmitted(p)) => to_json(p),
        Some(Payload::OrderStatusChanged(p)) => to_json(p),
        Some(Payload::OrderItemStatusChanged(p)) => to_json(p),
        Some(Payload::FulfilmentSucceeded(p)) => to_json(p),
        Some(Payload::FulfilmentInquiring(p)) => to_json(p),
        Some(Payload::FulfilmentFailed(p)) => to_json(p),
        Some(Payload::SubscriptionActivated(p)) => to_json(p),
        Some(Payload::SubscriptionStatusChanged(p)) => to_json(p),
        Some(Payload::SubscriptionReminder(p)) => to_json(p),
        _ => Value::Object(Default::default()),
    };
    let mut data = serde_json::Map::new();
    data.insert("eventId".into(), Value::String(event.id.clone()));
    data.insert(
        "resellerId".into(),
        Value::String(event.reseller_id.clone()),
    );
    data.insert(
        "customerId".into(),
        Value::String(event.customer_id.clone()),
    );
    data.insert(event.r#type.clone(), payload);
    json!({"type": event_type, "timestamp": timestamp_rfc3339, "data": data})
}

/// The body of a test event.
pub fn test_body(event_type: &str, endpoint_id: &str, timestamp_rfc3339: &str) -> Value {
    json!({"type": event_type, "timestamp": timestamp_rfc3339, "data": {"test": true, "endpointId": endpoint_id}})
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use marketplace_proto::events::v1::OrderStatusChanged;

    #[test]
    fn completed_orders_have_their_own_type() {
        let mut e = Envelope {
            payload: Some(Payload::OrderStatusChanged(OrderStatusChanged {
                to_status: "ORDER_STATUS_COMPLETED".into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(public_type(&e), Some("order.completed"));
        e.payload = Some(Payload::OrderStatusChanged(OrderStatusChanged::default()));
        assert_eq!(public_type(&e), Some("order.status_changed"));
        assert!(wants(&[], "order.completed"));
        assert!(!wants(&["order.submitted".into()], "order.completed"));
        assert!(EVENT_TYPES.iter().all(|t| is_known_event_type(t)));
    }
}
