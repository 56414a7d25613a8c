//! Placing orders: checkout ("BUY" or save as DRAFT), submitting a draft, re-submitting an item,
//! notes. Each commits the order, its status changes, its subscriptions and its events in one
//! transaction. Shared here: visibility, the checkout rules and what buying does.

mod change;
mod checkout;
pub(crate) mod markup;
mod notes;
mod resubmit;
mod resume;
mod started;
mod submit;

pub(crate) use change::{ChangeRequest, change_order, place_change, visible_subscription};
pub(crate) use checkout::checkout;
pub(crate) use notes::add_note;
pub(crate) use resubmit::resubmit;
pub(crate) use resume::{resume_waiting_on, resume_waiting_on_profile};
pub(crate) use started::{price as price_started, sync as sync_started};
pub(crate) use submit::submit;

use marketplace_proto::events::v1 as ev;
use marketplace_proto::events::v1::envelope::Payload;
use platform::ServiceError;
use platform::identity::Principal;
use sqlx::AnyConnection;

use crate::context::Ctx;
use crate::domain::Actor;
use crate::domain::cart::Cart;
use crate::domain::customer::Customer;
use crate::domain::order::{Order, OrderItem, Payment};
use crate::domain::plan::MICROSOFT;
use crate::domain::state::{ChangeType, ItemStatus};
use crate::domain::subscription::{Subscription, SubscriptionStatus};
use crate::events::{self, customer_facts, fulfilment_requested};
/// A checkout request, decoded.
#[derive(Debug, Clone, Default)]
pub(crate) struct Checkout {
    pub(crate) cart_id: String,
    pub(crate) request_id: String,
    pub(crate) accept_terms: bool,
    pub(crate) save_as_draft: bool,
    pub(crate) note: String,
    pub(crate) etag: String,
    pub(crate) payment: Payment,
}

/// The actor of a principal.
pub(crate) fn actor(p: &Principal) -> Actor {
    Actor {
        user_id: p.subject.clone(),
        display_name: p.display_name.clone(),
        organization_id: p
            .customer_id
            .clone()
            .or_else(|| p.reseller_id.clone())
            .unwrap_or_default(),
        organization_name: String::new(),
        role: p.role.as_str().to_string(),
    }
}

/// The actor of a principal with its organization's name ("created by" is user and
/// organization): the customer's for customer roles, the reseller's for reseller roles (empty
/// for staff and unknown organizations).
pub(crate) async fn actor_in(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    p: &Principal,
) -> Result<Actor, ServiceError> {
    let mut a = actor(p);
    a.organization_name = match (&p.customer_id, &p.reseller_id) {
        (Some(c), _) if p.role.is_customer() => ctx.store.customer(conn, c).await?.map(|c| c.name),
        (_, Some(r)) => ctx.store.reseller(conn, r).await?.map(|r| r.name),
        _ => None,
    }
    .unwrap_or_default();
    Ok(a)
}

/// A cart the caller may see, or NOT_FOUND.
pub(crate) fn visible_cart(
    p: &Principal,
    cart: Option<Cart>,
    id: &str,
) -> Result<Cart, ServiceError> {
    match cart {
        Some(c)
            if p.can_see(
                &c.reseller_id,
                if p.role.is_customer() {
                    Some(c.customer_id.as_str())
                } else {
                    None
                },
            ) =>
        {
            Ok(c)
        }
        _ => Err(ServiceError::not_found(format!("cart {id}"))),
    }
}

/// An order the caller may see, or NOT_FOUND (customer roles never see markup-only orders).
pub(crate) fn visible_order(
    p: &Principal,
    order: Option<Order>,
    id: &str,
) -> Result<Order, ServiceError> {
    match order {
        Some(o)
            if p.can_see(&o.reseller_id, Some(o.customer_id.as_str()))
                && !(p.role.is_customer() && o.is_markup_only()) =>
        {
            Ok(o)
        }
        _ => Err(ServiceError::not_found(format!("order {id}"))),
    }
}

pub(super) fn terms(accepted: bool) -> Result<(), ServiceError> {
    if accepted {
        Ok(())
    } else {
        Err(ServiceError::precondition(
            "checkout.terms_acceptance",
            "the terms and conditions must be accepted to buy",
        ))
    }
}

pub(super) fn agreement(
    order_has_microsoft: bool,
    customer: &Customer,
) -> Result<(), ServiceError> {
    if order_has_microsoft && customer.mca().is_none() {
        return Err(ServiceError::precondition(
            "microsoft.customer_agreement_required",
            format!(
                "customer {} has not accepted the Microsoft Customer Agreement, required before any Microsoft NCE purchase",
                customer.name
            ),
        ));
    }
    Ok(())
}

/// Seed 002 steps 8–9: Microsoft NCE is bought only when its readiness is READY. While it is
/// INQUIRING the purchase is refused naming every missing fact (nothing is created); when the
/// agreement is all that is missing, the agreement rule answers.
pub(super) fn microsoft_ready(
    vendors: &[crate::domain::readiness::VendorReadiness],
    customer: &Customer,
) -> Result<(), ServiceError> {
    let Some(microsoft) = vendors.iter().find(|v| v.vendor_id == MICROSOFT) else {
        return Ok(());
    };
    let missing: Vec<_> = microsoft
        .missing
        .iter()
        .filter(|p| p.field != "customer.agreements")
        .collect();
    if missing.is_empty() {
        return agreement(true, customer);
    }
    let all = &microsoft.missing;
    let listed: Vec<String> = all
        .iter()
        .map(|p| format!("{} ({})", p.field, p.description))
        .collect();
    let mut error = ServiceError::precondition(
        "microsoft.readiness_inquiring",
        format!(
            "Microsoft NCE readiness is INQUIRING; complete before buying: {}",
            listed.join("; ")
        ),
    );
    error.violations = all
        .iter()
        .map(|p| platform::error::FieldViolation {
            field: p.field.clone(),
            description: p.description.clone(),
        })
        .collect();
    Err(error)
}

/// Autodesk allows one order at a time per reseller: takes the reseller's checkout guard (held
/// until the transaction ends) and refuses while another Autodesk order is unfinished.
pub(super) async fn autodesk_rule(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    reseller_id: &str,
    this_order: &str,
) -> Result<(), ServiceError> {
    ctx.store.lock_reseller_checkout(conn, reseller_id).await?;
    if let Some(open) = ctx.store.open_autodesk_order(conn, reseller_id).await?
        && open.id != this_order
    {
        return Err(ServiceError::precondition(
            "autodesk.one_order_at_a_time",
            format!(
                "Autodesk allows one order at a time: order {} ({}) is not finished yet; complete it before placing another Autodesk order",
                open.number,
                open.status.as_str()
            ),
        ));
    }
    Ok(())
}

fn new_subscription(
    order: &Order,
    item: &OrderItem,
    customer: &Customer,
    now: i64,
) -> Subscription {
    let auto_renew = true;
    Subscription {
        id: platform::ids::new_id(),
        reseller_id: order.reseller_id.clone(),
        customer_id: order.customer_id.clone(),
        customer_name: customer.name.clone(),
        plan: item.plan.clone(),
        quantity: item.quantity,
        status: SubscriptionStatus::Provisioning,
        term_start: None,
        term_end: None,
        auto_renew,
        auto_renew_changeable: true,
        assigned_licenses: 0,
        vendor_subscription_id: String::new(),
        vendor_portal_url: String::new(),
        admin_contact: customer
            .admin_contact(&item.plan.vendor_id)
            .cloned()
            .unwrap_or_default(),
        tenant_name: if item.plan.vendor_id == MICROSOFT {
            customer.microsoft.tenant_name.clone()
        } else {
            String::new()
        },
        price: item.price.clone(),
        cancellation_windows: Vec::new(),
        history: vec![crate::domain::subscription::StatusChange {
            from: None,
            to: SubscriptionStatus::Provisioning,
            at: now,
            reason: "ordered".into(),
            order_id: order.id.clone(),
        }],
        vendor_message: String::new(),
        order_id: order.id.clone(),
        order_item_id: item.id.clone(),
        parameters: item.parameters.clone(),
        created_at: now,
        updated_at: now,
        version: 1,
        pending_order_id: String::new(),
        reminders_sent: Vec::new(),
    }
}

/// What buying does beyond the status change: subscriptions for new-subscription items,
/// `order_submitted`, and one `fulfilment_requested` per item.
pub(crate) async fn submit_effects(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    order: &mut Order,
    customer: &Customer,
    reseller: &ev::ResellerFacts,
    created_by: &str,
) -> Result<(), ServiceError> {
    let time = ctx.time_of(conn, &customer.id).await?;
    let now = time.now;
    order.submitted_at = Some(now);
    for index in 0..order.items.len() {
        if order.items[index].change == ChangeType::NewSubscription
            && order.items[index].subscription_id.is_empty()
            && order.items[index].status == ItemStatus::Pending
        {
            let sub = new_subscription(order, &order.items[index], customer, now);
            ctx.store.insert_subscription(conn, &sub).await?;
            order.items[index].subscription_id = sub.id.clone();
        }
    }
    let customer_facts = customer_facts(customer);
    let payload = Payload::OrderSubmitted(ev::OrderSubmitted {
        order_id: order.id.clone(),
        order_number: order.number.clone(),
        reseller: Some(reseller.clone()),
        customer: Some(customer_facts.clone()),
        item_count: order.items.len() as i32,
        total_price: Some(marketplace_proto::common::v1::Money {
            currency_code: order.currency_code.clone(),
            amount_minor: order.total_price,
        }),
        created_by: created_by.to_string(),
        plan_names: order.items.iter().map(|i| i.plan.name.clone()).collect(),
    });
    events::append(ctx, conn, &order.reseller_id, &order.customer_id, payload).await?;
    for item in order
        .items
        .iter()
        .filter(|i| i.status == ItemStatus::Pending)
    {
        let payload = fulfilment_requested(order, item, reseller, &customer_facts, time.offset_ms);
        events::append(ctx, conn, &order.reseller_id, &order.customer_id, payload).await?;
    }
    Ok(())
}

pub(crate) fn order_name(now: i64) -> (String, i32) {
    let t = platform::clock::from_micros(now);
    (
        Order::format_name(t.day(), t.month() as u8, t.year()),
        t.year(),
    )
}
