//! Consumers: every ordering and provisioning event goes through the rules; the feed rows,
//! e-mail deliveries and webhook deliveries it causes are written inside the inbox
//! transaction, so a redelivered event creates nothing twice.

use std::sync::Arc;

use marketplace_proto::events::v1::{Envelope, envelope::Payload};
use sqlx::AnyConnection;
use time::format_description::well_known::Rfc3339;

use platform::consumer::{EventHandler, HandleError};

use crate::core::Core;
use crate::domain::rules::{self, RuleContext};
use crate::domain::webhook_events;
use crate::store::{emails, facts, feed, status, webhooks};

/// Durable consumer of ordering events.
pub const FROM_ORDERING: &str = "notification-from-ordering";
/// Durable consumer of provisioning events.
pub const FROM_PROVISIONING: &str = "notification-from-provisioning";

/// Applies events to the notification store.
#[derive(Debug, Clone)]
pub(crate) struct NotificationHandler {
    pub(crate) core: Arc<Core>,
}

fn order_id_of(event: &Envelope) -> &str {
    match event.payload.as_ref() {
        Some(Payload::OrderSubmitted(p)) => &p.order_id,
        Some(Payload::OrderStatusChanged(p)) => &p.order_id,
        Some(Payload::OrderItemStatusChanged(p)) => &p.order_id,
        Some(Payload::FulfilmentSucceeded(p)) => &p.order_id,
        Some(Payload::FulfilmentInquiring(p)) => &p.order_id,
        Some(Payload::FulfilmentFailed(p)) => &p.order_id,
        Some(Payload::SubscriptionActivated(p)) => &p.order_id,
        Some(Payload::SubscriptionStatusChanged(p)) => &p.order_id,
        _ => "",
    }
}

#[async_trait::async_trait]
impl EventHandler for NotificationHandler {
    async fn handle(&self, conn: &mut AnyConnection, event: &Envelope) -> Result<(), HandleError> {
        let core = &self.core;
        let now = core.now();
        let learned = rules::learned(event);
        if let Some(r) = &learned.reseller {
            facts::upsert_reseller(conn, r, now).await?;
        }
        if let Some(o) = &learned.order {
            facts::upsert_order(conn, o, now).await?;
        }
        let reseller = match learned.reseller {
            Some(r) => Some(r),
            None if !event.reseller_id.is_empty() => {
                facts::reseller(conn, &event.reseller_id).await?
            }
            None => None,
        };
        let order_id = order_id_of(event);
        let order = match learned.order {
            Some(o) => Some(o),
            None if !order_id.is_empty() => facts::order(conn, order_id).await?,
            None => None,
        };
        let preferences = facts::preferences(conn, &event.reseller_id).await?;
        let ctx = RuleContext {
            reseller: reseller.as_ref(),
            order: order.as_ref(),
            preferences: &preferences,
            staff_email: &core.settings.staff_email,
            console_url: &core.settings.console_url,
        };
        let mut wrote = false;
        for planned in rules::plan(event, &ctx) {
            let rendered = core
                .templates
                .render(planned.kind, planned.locale, &planned.vars)
                .map_err(|e| HandleError::Reject(e.to_string()))?;
            let row = feed::NotificationRow {
                seq: 0,
                id: platform::ids::new_id(),
                audience: planned.audience.as_str().to_string(),
                reseller_id: planned.reseller_id.clone(),
                customer_id: planned.customer_id.clone(),
                kind: planned.kind.as_str().to_string(),
                title: rendered.subject.clone(),
                body: rendered.summary.clone(),
                link: planned.link.clone(),
                order_id: planned.order_id.clone(),
                subscription_id: planned.subscription_id.clone(),
                event_id: event.id.clone(),
                read_at: None,
                created_at: now,
            };
            if !feed::insert(conn, &row).await? {
                continue;
            }
            wrote = true;
            for target in &planned.emails {
                let rendered = if target.locale == planned.locale {
                    rendered.clone()
                } else {
                    core.templates
                        .render(planned.kind, target.locale, &planned.vars)
                        .map_err(|e| HandleError::Reject(e.to_string()))?
                };
                let (state, note) = if core.settings.smtp.url.is_empty() {
                    (
                        status::SKIPPED,
                        "e-mail channel disabled (no smtp.url configured)",
                    )
                } else {
                    (status::PENDING, "")
                };
                let email = emails::EmailRow {
                    id: platform::ids::new_id(),
                    reseller_id: planned.reseller_id.clone(),
                    notification_id: row.id.clone(),
                    event_id: event.id.clone(),
                    kind: planned.kind.as_str().to_string(),
                    recipient: target.address.clone(),
                    subject: rendered.subject,
                    body_text: rendered.text,
                    body_html: rendered.html,
                    status: state.to_string(),
                    attempts: 0,
                    last_error: note.to_string(),
                    created_at: now,
                    delivered_at: None,
                };
                emails::insert(conn, &email, now).await?;
            }
        }
        if let Some(event_type) = webhook_events::public_type(event) {
            let endpoints = webhooks::enabled_endpoints(conn, &event.reseller_id).await?;
            let wanted: Vec<_> = endpoints
                .iter()
                .filter(|e| webhook_events::wants(&e.event_types, event_type))
                .collect();
            if !wanted.is_empty() {
                let timestamp = core.clock.now().format(&Rfc3339).unwrap_or_default();
                let body = webhook_events::body(event, event_type, &timestamp).to_string();
                for endpoint in wanted {
                    let delivery = webhooks::DeliveryRow {
                        id: platform::ids::new_id(),
                        endpoint_id: endpoint.id.clone(),
                        reseller_id: event.reseller_id.clone(),
                        event_id: event.id.clone(),
                        event_type: event_type.to_string(),
                        payload: body.clone(),
                        status: status::PENDING.to_string(),
                        attempts: 0,
                        next_attempt_at: now,
                        created_at: now,
                    };
                    wrote |= webhooks::insert_delivery(conn, &delivery).await?;
                }
            }
        }
        if wrote {
            core.wake_all();
        }
        Ok(())
    }
}
