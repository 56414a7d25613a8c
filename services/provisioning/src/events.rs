//! Events: the `provisioning-from-ordering` consumer (jobs from `fulfilment_requested`,
//! cancellation from `fulfilment_cancel_requested`) and the builders of the events provisioning
//! publishes (`fulfilment_progressed`, `_succeeded`, `_inquiring`, `_failed`).

use std::collections::BTreeMap;
use std::sync::Arc;

use marketplace_platform::clock::{SharedClock, from_timestamp, to_micros};
use marketplace_platform::consumer::{EventHandler, HandleError};
use marketplace_platform::outbox::{Outbox, envelope};
use marketplace_proto::common::v1 as common;
use marketplace_proto::events::v1 as ev;
use marketplace_proto::events::v1::envelope::Payload;
use prost::Message;
use sqlx::AnyConnection;
use tokio::sync::Notify;

use crate::domain::connector::Success;
use crate::domain::error::VendorError;
use crate::domain::job::JobState;
use crate::domain::order::{
    BillingCycle, Change, Contact, Customer, FulfilmentOrder, Plan, Reseller, Term,
};
use crate::store;

/// Event source name.
pub(crate) const SOURCE: &str = "provisioning";
/// Durable consumer name.
pub(crate) const CONSUMER: &str = "provisioning-from-ordering";
/// Subjects consumed.
pub(crate) const SUBJECTS: [&str; 3] = [
    "marketplace.ordering.fulfilment_requested",
    "marketplace.ordering.fulfilment_cancel_requested",
    "marketplace.ordering.microsoft_tenant_link_requested",
];

/// The change of a proto `ChangeType` (unspecified / unknown → `None`).
pub(crate) fn change_from_proto(value: i32) -> Option<Change> {
    use common::ChangeType as C;
    Some(match C::try_from(value).ok()? {
        C::NewSubscription => Change::NewSubscription,
        C::SeatIncrease => Change::SeatIncrease,
        C::SeatDecrease => Change::SeatDecrease,
        C::Suspension => Change::Suspension,
        C::Resumption => Change::Resumption,
        C::Cancellation => Change::Cancellation,
        C::AutoRenewOn => Change::AutoRenewOn,
        C::AutoRenewOff => Change::AutoRenewOff,
        C::Renewal => Change::Renewal,
        C::MarkupChange => Change::MarkupChange,
        C::Unspecified => return None,
    })
}

/// The proto `ChangeType` of a change.
pub(crate) fn change_to_proto(change: Change) -> common::ChangeType {
    use common::ChangeType as C;
    match change {
        Change::NewSubscription => C::NewSubscription,
        Change::SeatIncrease => C::SeatIncrease,
        Change::SeatDecrease => C::SeatDecrease,
        Change::Suspension => C::Suspension,
        Change::Resumption => C::Resumption,
        Change::Cancellation => C::Cancellation,
        Change::AutoRenewOn => C::AutoRenewOn,
        Change::AutoRenewOff => C::AutoRenewOff,
        Change::Renewal => C::Renewal,
        Change::MarkupChange => C::MarkupChange,
    }
}

fn term(value: i32) -> Term {
    match common::Term::try_from(value) {
        Ok(common::Term::P1m) => Term::P1M,
        Ok(common::Term::P1y) => Term::P1Y,
        Ok(common::Term::P3y) => Term::P3Y,
        _ => Term::Unspecified,
    }
}

fn billing_cycle(value: i32) -> BillingCycle {
    match common::BillingCycle::try_from(value) {
        Ok(common::BillingCycle::Monthly) => BillingCycle::Monthly,
        Ok(common::BillingCycle::Annual) => BillingCycle::Annual,
        Ok(common::BillingCycle::Triennial) => BillingCycle::Triennial,
        _ => BillingCycle::Unspecified,
    }
}

/// The domain order of a `FulfilmentRequested`, with `parameters` as effective parameters.
pub(crate) fn order_from_proto(
    req: &ev::FulfilmentRequested,
    parameters: BTreeMap<String, String>,
) -> Option<FulfilmentOrder> {
    let reseller = req.reseller.clone().unwrap_or_default();
    let customer = req.customer.clone().unwrap_or_default();
    let plan = req.plan.clone().unwrap_or_default();
    let contact = |c: ev::ContactFacts| Contact {
        email: c.email,
        first_name: c.first_name,
        last_name: c.last_name,
        role: c.role,
        phone: c.phone,
    };
    Some(FulfilmentOrder {
        request_id: req.request_id.clone(),
        order_id: req.order_id.clone(),
        order_number: req.order_number.clone(),
        order_item_id: req.order_item_id.clone(),
        change: change_from_proto(req.change)?,
        reseller: Reseller {
            id: reseller.reseller_id,
            name: reseller.name,
            autodesk_partner_csn: reseller.autodesk_partner_csn,
            microsoft_mpn_id: reseller.microsoft_mpn_id,
        },
        customer: Customer {
            id: customer.customer_id,
            name: customer.name,
            contacts: customer.contacts.into_iter().map(contact).collect(),
            mca_contact: customer
                .microsoft_customer_agreement_contact
                .filter(|c| !c.email.is_empty())
                .map(contact),
            country_code: customer.country_code,
            microsoft_tenant_id: customer.microsoft_tenant_id,
            microsoft_tenant_domain: customer.microsoft_tenant_domain,
            microsoft_tenant_link_mode: customer.microsoft_tenant_link_mode,
            mca_accepted: customer.microsoft_customer_agreement_accepted,
            mca_accept_time: customer
                .microsoft_customer_agreement_accept_time
                .as_ref()
                .and_then(from_timestamp),
            autodesk_csn: customer.autodesk_csn,
            language_code: customer.language_code,
            city: customer.city,
            address_line1: customer.address_line1,
            postal_code: customer.postal_code,
        },
        plan: Plan {
            plan_id: plan.plan_id,
            vendor_id: plan.vendor_id,
            name: plan.name,
            vendor_sku: plan.vendor_sku,
            term: term(plan.term),
            billing_cycle: billing_cycle(plan.billing_cycle),
            connector: plan.connector,
        },
        quantity: req.quantity,
        previous_quantity: req.previous_quantity,
        parameters,
        subscription_id: req.subscription_id.clone(),
        vendor_subscription_id: req.vendor_subscription_id.clone(),
    })
}

/// Applies ordering's events; wakes the workers when a job was created.
pub(crate) struct FromOrdering {
    pub(crate) clock: SharedClock,
    pub(crate) outbox: Outbox,
    pub(crate) wake: Arc<Notify>,
    /// Wakes the tenant-link watcher.
    pub(crate) link_wake: Arc<Notify>,
}

impl FromOrdering {
    async fn requested(
        &self,
        conn: &mut AnyConnection,
        event: &ev::Envelope,
        req: &ev::FulfilmentRequested,
    ) -> Result<(), HandleError> {
        let mut missing = Vec::new();
        for (name, value) in [
            ("request_id", &req.request_id),
            ("order_id", &req.order_id),
            ("order_item_id", &req.order_item_id),
        ] {
            if value.trim().is_empty() {
                missing.push(name);
            }
        }
        if change_from_proto(req.change).is_none() {
            missing.push("change");
        }
        if !missing.is_empty() {
            return Err(HandleError::Reject(format!(
                "fulfilment_requested without {}",
                missing.join(", ")
            )));
        }
        let plan = req.plan.clone().unwrap_or_default();
        let reseller_id = req
            .reseller
            .as_ref()
            .map(|r| r.reseller_id.clone())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| event.reseller_id.clone());
        let customer_id = req
            .customer
            .as_ref()
            .map(|c| c.customer_id.clone())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| event.customer_id.clone());
        let parameters: BTreeMap<String, String> = req.parameters.clone().into_iter().collect();
        let job = store::NewJob {
            id: marketplace_platform::ids::new_id(),
            request_id: req.request_id.clone(),
            order_id: req.order_id.clone(),
            order_number: req.order_number.clone(),
            order_item_id: req.order_item_id.clone(),
            reseller_id,
            customer_id,
            vendor_id: plan.vendor_id.clone(),
            connector: plan.connector.clone(),
            plan_id: plan.plan_id.clone(),
            change_type: change_from_proto(req.change)
                .map(Change::as_str)
                .unwrap_or_default()
                .to_string(),
            quantity: i64::from(req.quantity),
            parameters: serde_json::to_string(&parameters).unwrap_or_else(|_| "{}".into()),
            request: req.encode_to_vec(),
            traceparent: event.traceparent.clone(),
        };
        let inserted = store::insert_job(conn, &job, to_micros(self.clock.now())).await?;
        if inserted {
            tracing::info!(job_id = %job.id, request_id = %job.request_id, connector = %job.connector, "fulfilment job queued");
            // The row commits with the inbox transaction right after this; workers that find
            // nothing yet look again for a few milliseconds after a wake-up.
            self.wake.notify_one();
        }
        Ok(())
    }

    async fn link_requested(
        &self,
        conn: &mut AnyConnection,
        event: &ev::Envelope,
        link: &ev::MicrosoftTenantLinkRequested,
    ) -> Result<(), HandleError> {
        let domain = link.tenant_domain.trim().to_ascii_lowercase();
        if link.customer_id.trim().is_empty() || domain.is_empty() {
            return Err(HandleError::Reject(
                "microsoft_tenant_link_requested without customer_id or tenant_domain".into(),
            ));
        }
        let reseller_id = link
            .reseller
            .as_ref()
            .map(|r| r.reseller_id.clone())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| event.reseller_id.clone());
        store::request_tenant_link(
            conn,
            &link.customer_id,
            &reseller_id,
            &domain,
            to_micros(self.clock.now()),
        )
        .await?;
        tracing::info!(customer = %link.customer_id, %domain, "watching the reseller relationship of an existing tenant");
        // The row commits with the inbox transaction right after this; the watcher looks again
        // each round while a request is pending.
        self.link_wake.notify_one();
        Ok(())
    }

    async fn cancel(
        &self,
        conn: &mut AnyConnection,
        cancel: &ev::FulfilmentCancelRequested,
    ) -> Result<(), HandleError> {
        let now = self.clock.now();
        match store::cancel_queued_by_request(conn, &cancel.request_id, to_micros(now)).await? {
            Some(job) => {
                tracing::info!(job_id = %job.id, request_id = %cancel.request_id, reason = %cancel.reason, "fulfilment job cancelled");
                let facts = JobFacts::of(&job);
                let event = progressed(
                    &facts,
                    JobState::Cancelled,
                    &job.vendor_reference,
                    &self.clock,
                );
                self.outbox.append(conn, &event, to_micros(now)).await?;
            }
            None => {
                tracing::info!(request_id = %cancel.request_id, "cancel ignored: the job is unknown or already reached the vendor")
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl EventHandler for FromOrdering {
    async fn handle(
        &self,
        conn: &mut AnyConnection,
        event: &ev::Envelope,
    ) -> Result<(), HandleError> {
        match &event.payload {
            Some(Payload::FulfilmentRequested(req)) => self.requested(conn, event, req).await,
            Some(Payload::FulfilmentCancelRequested(cancel)) => self.cancel(conn, cancel).await,
            Some(Payload::MicrosoftTenantLinkRequested(link)) => {
                self.link_requested(conn, event, link).await
            }
            _ => Ok(()),
        }
    }
}

/// What every provisioning event says about its job.
#[derive(Debug, Clone)]
pub(crate) struct JobFacts {
    pub(crate) job_id: String,
    pub(crate) request_id: String,
    pub(crate) order_id: String,
    pub(crate) order_number: String,
    pub(crate) order_item_id: String,
    pub(crate) reseller_id: String,
    pub(crate) customer_id: String,
    pub(crate) vendor_id: String,
    pub(crate) change: Change,
}

impl JobFacts {
    pub(crate) fn of(row: &store::JobRow) -> Self {
        Self {
            job_id: row.id.clone(),
            request_id: row.request_id.clone(),
            order_id: row.order_id.clone(),
            order_number: row.order_number.clone(),
            order_item_id: row.order_item_id.clone(),
            reseller_id: row.reseller_id.clone(),
            customer_id: row.customer_id.clone(),
            vendor_id: row.vendor_id.clone(),
            change: Change::parse(&row.change_type).unwrap_or(Change::NewSubscription),
        }
    }
}

fn wrap(facts: &JobFacts, payload: Payload, clock: &SharedClock) -> ev::Envelope {
    envelope(
        SOURCE,
        &facts.reseller_id,
        &facts.customer_id,
        payload,
        clock,
    )
}

/// `fulfilment_progressed`.
pub(crate) fn progressed(
    facts: &JobFacts,
    state: JobState,
    vendor_reference: &str,
    clock: &SharedClock,
) -> ev::Envelope {
    progressed_with(facts, state, vendor_reference, String::new(), clock)
}

/// `fulfilment_progressed` of a job that waits because the vendor refuses our credentials:
/// the item shows why (the error's code and message, which name the settings to check).
pub(crate) fn waiting_on_configuration(
    facts: &JobFacts,
    state: JobState,
    vendor_reference: &str,
    error: &VendorError,
    clock: &SharedClock,
) -> ev::Envelope {
    let message = format!("{} ({})", error.message, error.code);
    progressed_with(facts, state, vendor_reference, message, clock)
}

fn progressed_with(
    facts: &JobFacts,
    state: JobState,
    vendor_reference: &str,
    vendor_message: String,
    clock: &SharedClock,
) -> ev::Envelope {
    wrap(
        facts,
        Payload::FulfilmentProgressed(ev::FulfilmentProgressed {
            request_id: facts.request_id.clone(),
            order_id: facts.order_id.clone(),
            order_item_id: facts.order_item_id.clone(),
            job_state: state.proto_name().to_string(),
            vendor_reference: vendor_reference.to_string(),
            job_id: facts.job_id.clone(),
            vendor_message,
        }),
        clock,
    )
}

fn date(d: Option<time::Date>) -> Option<common::Date> {
    d.map(|d| common::Date {
        year: d.year(),
        month: i32::from(u8::from(d.month())),
        day: i32::from(d.day()),
    })
}

/// `fulfilment_succeeded`.
pub(crate) fn succeeded(facts: &JobFacts, success: &Success, clock: &SharedClock) -> ev::Envelope {
    wrap(
        facts,
        Payload::FulfilmentSucceeded(ev::FulfilmentSucceeded {
            request_id: facts.request_id.clone(),
            order_id: facts.order_id.clone(),
            order_item_id: facts.order_item_id.clone(),
            job_id: facts.job_id.clone(),
            vendor_subscription_id: success.vendor_subscription_id.clone(),
            term_start: date(success.term_start),
            term_end: date(success.term_end),
            portal_url: success.portal_url.clone(),
            vendor_message: success.message.clone(),
            vendor_reference: success.vendor_reference.clone(),
            change: change_to_proto(facts.change) as i32,
            quantity: success.quantity,
            microsoft_tenant_id: success.microsoft_tenant_id.clone(),
            microsoft_tenant_domain: success.microsoft_tenant_domain.clone(),
            autodesk_customer_csn: success.autodesk_customer_csn.clone(),
        }),
        clock,
    )
}

/// `fulfilment_inquiring`.
pub(crate) fn inquiring(
    facts: &JobFacts,
    error: &VendorError,
    clock: &SharedClock,
) -> ev::Envelope {
    wrap(
        facts,
        Payload::FulfilmentInquiring(ev::FulfilmentInquiring {
            request_id: facts.request_id.clone(),
            order_id: facts.order_id.clone(),
            order_item_id: facts.order_item_id.clone(),
            job_id: facts.job_id.clone(),
            vendor_code: error.code.clone(),
            vendor_message: error.message.clone(),
            field_violations: error
                .violations
                .iter()
                .map(|v| common::FieldViolation {
                    field: v.field.clone(),
                    description: v.description.clone(),
                })
                .collect(),
        }),
        clock,
    )
}

/// `fulfilment_failed` (always a staff alert).
pub(crate) fn failed(facts: &JobFacts, error: &VendorError, clock: &SharedClock) -> ev::Envelope {
    wrap(
        facts,
        Payload::FulfilmentFailed(ev::FulfilmentFailed {
            request_id: facts.request_id.clone(),
            order_id: facts.order_id.clone(),
            order_item_id: facts.order_item_id.clone(),
            job_id: facts.job_id.clone(),
            vendor_code: error.code.clone(),
            vendor_message: error.message.clone(),
            staff_alert: true,
            order_number: facts.order_number.clone(),
            vendor_id: facts.vendor_id.clone(),
            field_violations: error
                .violations
                .iter()
                .map(|v| common::FieldViolation {
                    field: v.field.clone(),
                    description: v.description.clone(),
                })
                .collect(),
        }),
        clock,
    )
}

/// `connector_health_changed` (a staff alert): `error` is the refusal, `None` the recovery.
pub(crate) fn connector_health(
    connector: &str,
    vendor_id: &str,
    error: Option<&VendorError>,
    clock: &SharedClock,
) -> ev::Envelope {
    envelope(
        SOURCE,
        "",
        "",
        Payload::ConnectorHealthChanged(ev::ConnectorHealthChanged {
            connector: connector.to_string(),
            vendor_id: vendor_id.to_string(),
            healthy: error.is_none(),
            vendor_code: error.map(|e| e.code.clone()).unwrap_or_default(),
            message: error.map(|e| e.message.clone()).unwrap_or_else(|| {
                "the vendor accepts the marketplace's credentials again; waiting jobs resume".into()
            }),
        }),
        clock,
    )
}

/// `microsoft_tenant_link_updated`.
pub(crate) fn tenant_link_updated(
    link: &store::TenantLinkRow,
    invitation_url: &str,
    tenant_id: &str,
    clock: &SharedClock,
) -> ev::Envelope {
    envelope(
        SOURCE,
        &link.reseller_id,
        &link.customer_id,
        Payload::MicrosoftTenantLinkUpdated(ev::MicrosoftTenantLinkUpdated {
            customer_id: link.customer_id.clone(),
            tenant_domain: link.domain.clone(),
            invitation_url: invitation_url.to_string(),
            tenant_id: tenant_id.to_string(),
        }),
        clock,
    )
}
