//! Integration tests of the ordering service, on SQLite and (when reachable) PostgreSQL.

mod carts;
mod checkout;
mod fake_catalog;
mod orders;
mod subscriptions;
mod support;
mod tenancy;

use marketplace_platform as platform;
use marketplace_proto::common::v1::Date;
use marketplace_proto::events::v1 as ev;
use marketplace_proto::events::v1::envelope::Payload;
use marketplace_proto::ordering::v1 as pb;

pub(crate) async fn backends() -> Vec<platform::db::Backend> {
    platform::db::testing::backends().await
}

pub(crate) fn types_for(events: &[ev::Envelope], order_id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| match &e.payload {
            Some(Payload::OrderSubmitted(p)) => p.order_id == order_id,
            Some(Payload::OrderStatusChanged(p)) => p.order_id == order_id,
            Some(Payload::OrderItemStatusChanged(p)) => p.order_id == order_id,
            Some(Payload::FulfilmentRequested(p)) => p.order_id == order_id,
            Some(Payload::SubscriptionActivated(p)) => p.order_id == order_id,
            Some(Payload::SubscriptionStatusChanged(p)) => p.order_id == order_id,
            _ => false,
        })
        .map(|e| e.r#type.clone())
        .collect()
}

pub(crate) fn succeeded(order: &pb::Order, attempt: i32) -> Payload {
    let item = &order.items[0];
    Payload::FulfilmentSucceeded(ev::FulfilmentSucceeded {
        request_id: format!("{}:{attempt}", item.id),
        order_id: order.id.clone(),
        order_item_id: item.id.clone(),
        job_id: "job-1".into(),
        vendor_subscription_id: "VS-0001".into(),
        term_start: Some(Date {
            year: 2026,
            month: 11,
            day: 22,
        }),
        term_end: Some(Date {
            year: 2027,
            month: 11,
            day: 21,
        }),
        portal_url: "https://manage.autodesk.example".into(),
        microsoft_tenant_id: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee".into(),
        ..Default::default()
    })
}

pub(crate) fn progressed(order: &pb::Order, attempt: i32) -> Payload {
    let item = &order.items[0];
    Payload::FulfilmentProgressed(ev::FulfilmentProgressed {
        request_id: format!("{}:{attempt}", item.id),
        order_id: order.id.clone(),
        order_item_id: item.id.clone(),
        job_state: "JOB_STATE_SUBMITTED".into(),
        ..Default::default()
    })
}
