//! Conversions between stored rows / domain values and the wire types.

use marketplace_proto::notification::v1 as pb;
use platform::clock::micros_to_timestamp;

use crate::domain::Kind;
use crate::store::emails::EmailRow;
use crate::store::feed::NotificationRow;
use crate::store::status;
use crate::store::webhooks::{AttemptRow, DeliveryRow, EndpointRow};

/// Wire kind of a domain kind.
pub(crate) fn kind_to_pb(kind: Kind) -> pb::NotificationKind {
    use pb::NotificationKind as K;
    match kind {
        Kind::OrderSubmitted => K::OrderSubmitted,
        Kind::SubscriptionReady => K::SubscriptionReady,
        Kind::OrderProcessed => K::OrderProcessed,
        Kind::ActivationComplete => K::ActivationComplete,
        Kind::ProvisioningFailed => K::ProvisioningFailed,
        Kind::VendorNeedsInformation => K::VendorNeedsInformation,
        Kind::CancellationWindowClosing => K::CancellationWindowClosing,
        Kind::AutoRenewLastDay => K::AutoRenewLastDay,
        Kind::TermEndApproaching => K::TermEndApproaching,
        Kind::StaffAlert => K::StaffAlert,
    }
}

/// Domain kind of a wire value (`None` for unspecified or unknown values).
pub(crate) fn kind_from_pb(value: i32) -> Option<Kind> {
    Kind::ALL
        .into_iter()
        .find(|k| kind_to_pb(*k) as i32 == value)
}

fn stored_kind(name: &str) -> i32 {
    Kind::parse(name).map(|k| kind_to_pb(k) as i32).unwrap_or(0)
}

fn delivery_status(s: &str) -> pb::DeliveryStatus {
    match s {
        status::PENDING => pb::DeliveryStatus::Pending,
        status::RETRYING => pb::DeliveryStatus::Retrying,
        status::SUCCEEDED => pb::DeliveryStatus::Succeeded,
        status::SKIPPED => pb::DeliveryStatus::Skipped,
        _ => pb::DeliveryStatus::Failed,
    }
}

pub(crate) fn notification(row: &NotificationRow) -> pb::Notification {
    pb::Notification {
        id: row.id.clone(),
        kind: stored_kind(&row.kind),
        reseller_id: row.reseller_id.clone(),
        customer_id: row.customer_id.clone(),
        title: row.title.clone(),
        body: row.body.clone(),
        link: row.link.clone(),
        order_id: row.order_id.clone(),
        subscription_id: row.subscription_id.clone(),
        read: row.read_at.is_some(),
        create_time: Some(micros_to_timestamp(row.created_at)),
        event_id: row.event_id.clone(),
    }
}

pub(crate) fn email(row: &EmailRow) -> pb::EmailDelivery {
    pb::EmailDelivery {
        id: row.id.clone(),
        reseller_id: row.reseller_id.clone(),
        kind: stored_kind(&row.kind),
        recipient: row.recipient.clone(),
        subject: row.subject.clone(),
        status: delivery_status(&row.status) as i32,
        attempts: row.attempts.clamp(0, i64::from(i32::MAX)) as i32,
        last_error: if row.status == status::SKIPPED && !row.last_error.starts_with("skipped") {
            format!("skipped: {}", row.last_error)
        } else {
            row.last_error.clone()
        },
        create_time: Some(micros_to_timestamp(row.created_at)),
        deliver_time: row.delivered_at.map(micros_to_timestamp),
        event_id: row.event_id.clone(),
    }
}

pub(crate) fn endpoint(row: &EndpointRow) -> pb::WebhookEndpoint {
    pb::WebhookEndpoint {
        id: row.id.clone(),
        reseller_id: row.reseller_id.clone(),
        url: row.url.clone(),
        description: row.description.clone(),
        event_types: row.event_types.clone(),
        enabled: row.enabled,
        disabled_reason: row.disabled_reason.clone(),
        create_time: Some(micros_to_timestamp(row.created_at)),
        update_time: Some(micros_to_timestamp(row.updated_at)),
        failing_since_time: row.failing_since.map(micros_to_timestamp),
    }
}

pub(crate) fn attempt(a: &AttemptRow) -> pb::WebhookAttempt {
    pb::WebhookAttempt {
        status_code: a.status_code.clamp(0, 999) as i32,
        latency_ms: a.latency_ms,
        response_excerpt: a.response_excerpt.clone(),
        error: a.error.clone(),
        attempt_time: Some(micros_to_timestamp(a.attempted_at)),
    }
}

pub(crate) fn delivery(row: &DeliveryRow, attempts: &[AttemptRow]) -> pb::WebhookDelivery {
    let waiting = row.status == status::PENDING || row.status == status::RETRYING;
    pb::WebhookDelivery {
        id: row.id.clone(),
        endpoint_id: row.endpoint_id.clone(),
        event_id: row.event_id.clone(),
        event_type: row.event_type.clone(),
        status: delivery_status(&row.status) as i32,
        attempts: attempts.iter().map(attempt).collect(),
        next_attempt_time: waiting.then(|| micros_to_timestamp(row.next_attempt_at)),
        create_time: Some(micros_to_timestamp(row.created_at)),
    }
}
