//! Which bus events partners receive as webhooks, under which public type names (the vocabulary
//! is [`marketplace_proto::webhooks`]), and the JSON body they receive (Standard Webhooks shape:
//! `{"type", "timestamp", "data"}`, `data` being the event's fields plus its ids).

use marketplace_proto::events::v1::{Envelope, envelope::Payload};
use serde_json::{Value, json};

pub use marketplace_proto::webhooks::{TEST_EVENT_TYPE, WEBHOOK_EVENT_TYPES};

/// Whether `t` is a known event type (the test type included).
pub fn is_known_event_type(t: &str) -> bool {
    t == TEST_EVENT_TYPE || marketplace_proto::webhooks::webhook_event_type(t).is_some()
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
        | Payload::ResellerProfileChanged(_)
        | Payload::MarkupChanged(_)
        | Payload::ConnectorHealthChanged(_)
        | Payload::MicrosoftTenantLinkRequested(_)
        | Payload::MicrosoftTenantLinkUpdated(_) => return None,
    })
}

/// Whether an endpoint with `filter` (empty = all) wants `event_type`.
pub fn wants(filter: &[String], event_type: &str) -> bool {
    filter.is_empty() || filter.iter().any(|t| t == event_type)
}

/// The JSON body sent for a bus event: `data` holds the event's ids and the fields of its payload
/// in proto3 JSON (lowerCamelCase), timestamps in UTC with `Z`.
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
    let mut data = match payload {
        Value::Object(fields) => fields,
        _ => serde_json::Map::new(),
    };
    data.insert("eventId".into(), Value::String(event.id.clone()));
    data.insert(
        "resellerId".into(),
        Value::String(event.reseller_id.clone()),
    );
    data.insert(
        "customerId".into(),
        Value::String(event.customer_id.clone()),
    );
    let mut data = Value::Object(data);
    utc_z(&mut data);
    json!({"type": event_type, "timestamp": timestamp_rfc3339, "data": data})
}

/// Rewrites RFC 3339 timestamps in UTC written as `+00:00` (the proto3 JSON encoder's way) to
/// the `Z` form every other timestamp partners see uses.
fn utc_z(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Some(stripped) = s.strip_suffix("+00:00")
                && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .is_ok()
            {
                *s = format!("{stripped}Z");
            }
        }
        Value::Array(items) => items.iter_mut().for_each(utc_z),
        Value::Object(map) => map.values_mut().for_each(utc_z),
        _ => {}
    }
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
        assert!(
            WEBHOOK_EVENT_TYPES
                .iter()
                .all(|t| is_known_event_type(t.name))
        );
    }

    /// Every bus event partners receive maps to a listed type whose documented payload is the
    /// event's message, and its `data` holds the payload's fields directly (no second name).
    #[test]
    fn bodies_name_the_event_once_and_carry_the_listed_payload() {
        use marketplace_proto::events::v1 as ev;
        let cases: Vec<(Payload, &str)> = vec![
            (
                Payload::OrderSubmitted(ev::OrderSubmitted {
                    order_id: "o1".into(),
                    ..Default::default()
                }),
                "marketplace.events.v1.OrderSubmitted",
            ),
            (
                Payload::OrderStatusChanged(ev::OrderStatusChanged {
                    order_id: "o1".into(),
                    ..Default::default()
                }),
                "marketplace.events.v1.OrderStatusChanged",
            ),
            (
                Payload::OrderItemStatusChanged(ev::OrderItemStatusChanged {
                    order_id: "o1".into(),
                    ..Default::default()
                }),
                "marketplace.events.v1.OrderItemStatusChanged",
            ),
            (
                Payload::FulfilmentSucceeded(ev::FulfilmentSucceeded {
                    order_id: "o1".into(),
                    ..Default::default()
                }),
                "marketplace.events.v1.FulfilmentSucceeded",
            ),
            (
                Payload::FulfilmentInquiring(ev::FulfilmentInquiring {
                    order_id: "o1".into(),
                    ..Default::default()
                }),
                "marketplace.events.v1.FulfilmentInquiring",
            ),
            (
                Payload::FulfilmentFailed(ev::FulfilmentFailed {
                    order_id: "o1".into(),
                    ..Default::default()
                }),
                "marketplace.events.v1.FulfilmentFailed",
            ),
            (
                Payload::SubscriptionActivated(ev::SubscriptionActivated {
                    order_id: "o1".into(),
                    ..Default::default()
                }),
                "marketplace.events.v1.SubscriptionActivated",
            ),
            (
                Payload::SubscriptionStatusChanged(ev::SubscriptionStatusChanged {
                    order_id: "o1".into(),
                    ..Default::default()
                }),
                "marketplace.events.v1.SubscriptionStatusChanged",
            ),
            (
                Payload::SubscriptionReminder(ev::SubscriptionReminder {
                    subscription_id: "s1".into(),
                    deadline_time: Some(marketplace_proto::pbjson_types::Timestamp {
                        seconds: 1_796_000_000,
                        nanos: 0,
                    }),
                    ..Default::default()
                }),
                "marketplace.events.v1.SubscriptionReminder",
            ),
        ];
        for (payload, message) in cases {
            let event = Envelope {
                id: "e1".into(),
                r#type: platform_type(&payload).into(),
                reseller_id: "r1".into(),
                customer_id: "c1".into(),
                payload: Some(payload),
                ..Default::default()
            };
            let name = public_type(&event).expect("public");
            let listed = marketplace_proto::webhooks::webhook_event_type(name).expect("listed");
            assert_eq!(listed.payload, message, "{name}");
            let body = body(&event, name, "2026-12-06T21:00:00Z");
            assert_eq!(body["type"], name);
            let data = body["data"].as_object().unwrap();
            assert_eq!(data["eventId"], "e1");
            assert_eq!(data["resellerId"], "r1");
            assert!(
                data.contains_key("orderId") || data.contains_key("subscriptionId"),
                "{name}: {body}"
            );
            assert!(!data.contains_key(&event.r#type), "{name}: {body}");
            if let Some(deadline) = data.get("deadlineTime") {
                assert!(deadline.as_str().unwrap().ends_with('Z'), "{deadline}");
            }
        }
    }

    fn platform_type(payload: &Payload) -> &'static str {
        match payload {
            Payload::OrderSubmitted(_) => "order_submitted",
            Payload::OrderStatusChanged(_) => "order_status_changed",
            Payload::OrderItemStatusChanged(_) => "order_item_status_changed",
            Payload::FulfilmentSucceeded(_) => "fulfilment_succeeded",
            Payload::FulfilmentInquiring(_) => "fulfilment_inquiring",
            Payload::FulfilmentFailed(_) => "fulfilment_failed",
            Payload::SubscriptionActivated(_) => "subscription_activated",
            Payload::SubscriptionStatusChanged(_) => "subscription_status_changed",
            Payload::SubscriptionReminder(_) => "subscription_reminder",
            _ => "other",
        }
    }
}
