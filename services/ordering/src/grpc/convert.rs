//! Domain ↔ wire conversions.

use std::collections::{BTreeMap, HashMap};

use marketplace_proto::common::v1 as common;
use marketplace_proto::ordering::v1 as pb;
use platform::clock::micros_to_timestamp;

use crate::domain::cart::{Cart, CartStatus, LineStatus};
use crate::domain::customer::{
    Address, Agreement, AgreementKind, Contact, ContactRole, Customer, MicrosoftIdentity,
    RelationshipStatus, ResellerRelationship, TenantLinkMode,
};
use crate::domain::order::{ItemPrice, Order, Payment};
use crate::domain::readiness::VendorReadiness;
use crate::domain::reseller::Reseller;
use crate::domain::state::{ChangeType, ItemStatus, OrderStatus};
use crate::domain::subscription::{Day, Subscription, SubscriptionStatus};
use crate::domain::{Actor, Problem};

/// A money value.
pub(crate) fn money(currency: &str, amount: i64) -> Option<common::Money> {
    Some(common::Money {
        currency_code: currency.to_string(),
        amount_minor: amount,
    })
}

/// Field violations of the wire.
pub(crate) fn violations(problems: &[Problem]) -> Vec<common::FieldViolation> {
    crate::events::violations(problems)
}

/// The wire actor.
pub(crate) fn actor(a: &Actor) -> common::Actor {
    let role = match a.role.as_str() {
        "staff" => common::Role::Staff,
        "reseller_admin" => common::Role::ResellerAdmin,
        "reseller_user" => common::Role::ResellerUser,
        "customer_admin" => common::Role::CustomerAdmin,
        "customer_user" => common::Role::CustomerUser,
        _ => common::Role::Unspecified,
    };
    common::Actor {
        user_id: a.user_id.clone(),
        display_name: a.display_name.clone(),
        organization_id: a.organization_id.clone(),
        organization_name: a.organization_name.clone(),
        role: role as i32,
    }
}

/// The wire reseller (etag = version).
pub(crate) fn reseller(r: &Reseller) -> pb::Reseller {
    pb::Reseller {
        id: r.id.clone(),
        name: r.name.clone(),
        autodesk_partner_csn: r.autodesk_partner_csn.clone(),
        microsoft_mpn_id: r.microsoft_mpn_id.clone(),
        microsoft_indirect_reseller_tenant_id: r.microsoft_indirect_reseller_tenant_id.clone(),
        notification_email: r.notification_email.clone(),
        currency_code: r.currency().to_string(),
        create_time: Some(micros_to_timestamp(r.created_at)),
        update_time: Some(micros_to_timestamp(r.updated_at)),
        etag: r.version.to_string(),
    }
}

fn contact_role(role: i32) -> ContactRole {
    match pb::ContactRole::try_from(role).unwrap_or_default() {
        pb::ContactRole::ContractManager => ContactRole::ContractManager,
        pb::ContactRole::SoftwareCoordinator => ContactRole::SoftwareCoordinator,
        pb::ContactRole::GlobalAdmin => ContactRole::GlobalAdmin,
        pb::ContactRole::Billing => ContactRole::Billing,
        pb::ContactRole::Unspecified => ContactRole::Unspecified,
    }
}

fn contact_role_pb(role: ContactRole) -> i32 {
    (match role {
        ContactRole::ContractManager => pb::ContactRole::ContractManager,
        ContactRole::SoftwareCoordinator => pb::ContactRole::SoftwareCoordinator,
        ContactRole::GlobalAdmin => pb::ContactRole::GlobalAdmin,
        ContactRole::Billing => pb::ContactRole::Billing,
        ContactRole::Unspecified => pb::ContactRole::Unspecified,
    }) as i32
}

/// A contact from the wire (trimmed).
pub(crate) fn contact_from(c: &pb::Contact) -> Contact {
    Contact {
        role: contact_role(c.role),
        email: c.email.trim().to_string(),
        first_name: c.first_name.trim().to_string(),
        last_name: c.last_name.trim().to_string(),
        phone: c.phone.trim().to_string(),
    }
}

/// The wire contact.
pub(crate) fn contact(c: &Contact) -> pb::Contact {
    pb::Contact {
        role: contact_role_pb(c.role),
        email: c.email.clone(),
        first_name: c.first_name.clone(),
        last_name: c.last_name.clone(),
        phone: c.phone.clone(),
    }
}

/// An address from the wire (country upper-cased).
pub(crate) fn address_from(a: &Option<common::Address>) -> Address {
    let a = a.clone().unwrap_or_default();
    Address {
        line1: a.line1,
        line2: a.line2,
        city: a.city,
        state: a.state,
        postal_code: a.postal_code,
        country_code: a.country_code.to_uppercase(),
    }
}

/// A Microsoft identity from the wire (ids and domains lower-cased).
pub(crate) fn microsoft_from(m: &Option<pb::MicrosoftIdentity>) -> MicrosoftIdentity {
    let m = m.clone().unwrap_or_default();
    let link_mode = match pb::TenantLinkMode::try_from(m.link_mode).unwrap_or_default() {
        pb::TenantLinkMode::Create => TenantLinkMode::Create,
        pb::TenantLinkMode::LinkExisting => TenantLinkMode::LinkExisting,
        pb::TenantLinkMode::Unspecified => TenantLinkMode::Unspecified,
    };
    MicrosoftIdentity {
        tenant_id: m.tenant_id.trim().to_lowercase(),
        tenant_domain: m.tenant_domain.trim().to_lowercase(),
        link_mode,
        tenant_name: m.tenant_name,
        // Output only: kept by the service, never taken from the wire.
        relationship: ResellerRelationship::default(),
    }
}

/// The wire reseller relationship request (absent when there is none).
fn relationship(r: &ResellerRelationship) -> Option<pb::ResellerRelationship> {
    let status = match r.status {
        RelationshipStatus::None => return None,
        RelationshipStatus::Pending => pb::ResellerRelationshipStatus::Pending,
        RelationshipStatus::Accepted => pb::ResellerRelationshipStatus::Accepted,
    };
    Some(pb::ResellerRelationship {
        status: status as i32,
        invitation_url: r.invitation_url.clone(),
        tenant_domain: r.tenant_domain.clone(),
        accept_time: (r.accepted_at > 0).then(|| micros_to_timestamp(r.accepted_at)),
    })
}

/// The wire agreement.
pub(crate) fn agreement(a: &Agreement) -> pb::Agreement {
    pb::Agreement {
        r#type: match a.kind {
            AgreementKind::MicrosoftCustomerAgreement => {
                pb::AgreementType::MicrosoftCustomerAgreement as i32
            }
            AgreementKind::Unspecified => 0,
        },
        accepted_by: Some(actor(&a.accepted_by)),
        accept_time: Some(micros_to_timestamp(a.accept_time)),
        contact: Some(contact(&a.contact)),
        template_id: a.template_id.clone(),
    }
}

/// The wire customer (etag = version).
pub(crate) fn customer(c: &Customer) -> pb::Customer {
    pb::Customer {
        id: c.id.clone(),
        reseller_id: c.reseller_id.clone(),
        name: c.name.clone(),
        contacts: c.contacts.iter().map(contact).collect(),
        address: Some(common::Address {
            line1: c.address.line1.clone(),
            line2: c.address.line2.clone(),
            city: c.address.city.clone(),
            state: c.address.state.clone(),
            postal_code: c.address.postal_code.clone(),
            country_code: c.address.country_code.clone(),
        }),
        microsoft: Some(pb::MicrosoftIdentity {
            tenant_id: c.microsoft.tenant_id.clone(),
            tenant_domain: c.microsoft.tenant_domain.clone(),
            link_mode: match c.microsoft.link_mode {
                TenantLinkMode::Create => pb::TenantLinkMode::Create as i32,
                TenantLinkMode::LinkExisting => pb::TenantLinkMode::LinkExisting as i32,
                TenantLinkMode::Unspecified => 0,
            },
            tenant_name: c.microsoft.tenant_name.clone(),
            reseller_relationship: relationship(&c.microsoft.relationship),
        }),
        autodesk: Some(pb::AutodeskIdentity {
            csn: c.autodesk_csn.clone(),
        }),
        agreements: c.agreements.iter().map(agreement).collect(),
        language_code: c.language_code.clone(),
        create_time: Some(micros_to_timestamp(c.created_at)),
        update_time: Some(micros_to_timestamp(c.updated_at)),
        etag: c.version.to_string(),
    }
}

/// How much of a price a role may see: customer roles see only their price.
pub(crate) fn price(p: &ItemPrice, customer_view: bool) -> pb::ItemPrice {
    let c = &p.currency_code;
    let hidden = |v: i64| if customer_view { None } else { money(c, v) };
    pb::ItemPrice {
        unit_cost: hidden(p.unit_cost),
        unit_markup: hidden(p.unit_markup),
        unit_price: money(c, p.unit_price),
        unit_msrp: money(c, p.unit_msrp),
        total_cost: hidden(p.total_cost),
        total_price: money(c, p.total_price),
        price_id: p.price_id.clone(),
    }
}

fn cart_status(s: CartStatus) -> i32 {
    (match s {
        CartStatus::Active => pb::CartStatus::Active,
        CartStatus::Ordered => pb::CartStatus::Ordered,
        CartStatus::Expired => pb::CartStatus::Expired,
        CartStatus::Deleted => pb::CartStatus::Deleted,
    }) as i32
}

fn map(m: &BTreeMap<String, String>) -> HashMap<String, String> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A cart with the live prices of its active lines (by line id).
pub(crate) fn cart(
    c: &Cart,
    now: i64,
    prices: &BTreeMap<String, ItemPrice>,
    customer_view: bool,
) -> pb::Cart {
    let mut total_cost = 0i64;
    let mut total_price = 0i64;
    let lines = c
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let live = prices.get(&l.id).filter(|_| l.status == LineStatus::Active);
            if let Some(p) = live {
                total_cost = total_cost.saturating_add(p.total_cost);
                total_price = total_price.saturating_add(p.total_price);
            }
            pb::CartLine {
                id: l.id.clone(),
                plan_id: l.plan.plan_id.clone(),
                plan_name: l.plan.name.clone(),
                vendor_id: l.plan.vendor_id.clone(),
                quantity: l.quantity,
                min_quantity: l.plan.min_quantity,
                max_quantity: l.plan.max_quantity,
                parameters: map(&l.parameters),
                parameter_errors: if l.status == LineStatus::Active {
                    violations(
                        &l.plan
                            .check_parameters(&l.parameters, &format!("lines[{i}].parameters")),
                    )
                } else {
                    Vec::new()
                },
                price: live.map(|p| price(p, customer_view)),
                status: (if l.status == LineStatus::Active {
                    pb::CartLineStatus::Active
                } else {
                    pb::CartLineStatus::Deleted
                }) as i32,
                parent_line_id: l.parent_line_id.clone(),
                autodesk_product_id: l.plan.autodesk_product_id.clone(),
            }
        })
        .collect();
    pb::Cart {
        id: c.id.clone(),
        reseller_id: c.reseller_id.clone(),
        customer_id: c.customer_id.clone(),
        currency_code: c.currency_code.clone(),
        lines,
        status: cart_status(c.status_at(now)),
        total_cost: if customer_view {
            None
        } else {
            money(&c.currency_code, total_cost)
        },
        total_price: money(&c.currency_code, total_price),
        create_time: Some(micros_to_timestamp(c.created_at)),
        update_time: Some(micros_to_timestamp(c.updated_at)),
        expire_time: Some(micros_to_timestamp(c.expire_at)),
        order_id: c.order_id.clone(),
        created_by: Some(actor(&c.created_by)),
        etag: c.version.to_string(),
    }
}

/// The wire readiness of one vendor.
pub(crate) fn readiness(v: &VendorReadiness) -> pb::VendorReadiness {
    pb::VendorReadiness {
        vendor_id: v.vendor_id.clone(),
        status: (if v.is_ready() {
            pb::ReadinessStatus::Ready
        } else {
            pb::ReadinessStatus::Inquiring
        }) as i32,
        missing: violations(&v.missing),
    }
}

/// The wire order status.
pub(crate) fn order_status(s: OrderStatus) -> pb::OrderStatus {
    pb::OrderStatus::from_str_name(s.as_str()).unwrap_or_default()
}

/// The domain status of a wire status.
pub(crate) fn order_status_from(s: i32) -> Option<OrderStatus> {
    pb::OrderStatus::try_from(s)
        .ok()
        .and_then(|s| OrderStatus::parse(s.as_str_name()))
}

fn item_status(s: ItemStatus) -> i32 {
    pb::OrderItemStatus::from_str_name(s.as_str()).unwrap_or_default() as i32
}

fn change(c: ChangeType) -> i32 {
    c.code()
}

/// Payment details from the wire.
pub(crate) fn payment_from(p: &Option<pb::PaymentDetails>) -> Payment {
    let p = p.clone().unwrap_or_default();
    Payment {
        method: p.method,
        terms: p.terms,
        purchase_order_number: p.purchase_order_number,
    }
}

/// An order as `customer_view` callers may see it: markup changes and costs left out.
pub(crate) fn order(o: &Order, customer_view: bool) -> pb::Order {
    let items: Vec<pb::OrderItem> = o
        .items
        .iter()
        .filter(|i| !(customer_view && i.change == ChangeType::MarkupChange))
        .map(|i| pb::OrderItem {
            id: i.id.clone(),
            line_number: i.line_number,
            plan_id: i.plan.plan_id.clone(),
            plan_name: i.plan.name.clone(),
            vendor_id: i.plan.vendor_id.clone(),
            description: i.description.clone(),
            change: change(i.change),
            quantity: i.quantity,
            previous_quantity: i.previous_quantity,
            parameters: map(&i.parameters),
            price: Some(price(&i.price, customer_view)),
            status: item_status(i.status),
            vendor_message: i.vendor_message.clone(),
            parameter_errors: violations(&i.parameter_errors),
            subscription_id: i.subscription_id.clone(),
            parent_item_id: i.parent_item_id.clone(),
            update_time: Some(micros_to_timestamp(i.updated_at)),
            markup_only: i.change == ChangeType::MarkupChange,
        })
        .collect();
    let requested: Vec<i32> = o
        .requested_changes()
        .into_iter()
        .filter(|c| !(customer_view && *c == ChangeType::MarkupChange))
        .map(change)
        .collect();
    let status = order_status(o.status);
    pb::Order {
        id: o.id.clone(),
        number: o.number.clone(),
        name: o.name.clone(),
        reseller_id: o.reseller_id.clone(),
        customer_id: o.customer_id.clone(),
        customer_name: o.customer_name.clone(),
        status: status as i32,
        item_count: items
            .iter()
            .filter(|i| i.status != pb::OrderItemStatus::Deleted as i32)
            .count() as i32,
        items,
        requested_changes: requested,
        created_by: Some(actor(&o.created_by)),
        create_time: Some(micros_to_timestamp(o.created_at)),
        update_time: Some(micros_to_timestamp(o.updated_at)),
        submit_time: o.submitted_at.map(micros_to_timestamp),
        notes: o
            .notes
            .iter()
            .map(|n| pb::OrderNote {
                text: n.text.clone(),
                author: Some(actor(&n.author)),
                create_time: Some(micros_to_timestamp(n.created_at)),
            })
            .collect(),
        payment: Some(pb::PaymentDetails {
            method: o.payment.method.clone(),
            terms: o.payment.terms.clone(),
            purchase_order_number: o.payment.purchase_order_number.clone(),
        }),
        total_cost: if customer_view {
            None
        } else {
            money(&o.currency_code, o.total_cost)
        },
        total_price: money(
            &o.currency_code,
            if customer_view {
                o.customer_total_price()
            } else {
                o.total_price
            },
        ),
        cart_id: o.cart_id.clone(),
        etag: o.version.to_string(),
        view: (if o.status.is_recent() {
            pb::OrderView::Recent
        } else {
            pb::OrderView::Historical
        }) as i32,
    }
}

fn date(d: Option<Day>) -> Option<common::Date> {
    d.map(|d| common::Date {
        year: d.year,
        month: d.month,
        day: d.day,
    })
}

/// The domain status of a wire subscription status.
pub(crate) fn subscription_status_from(s: i32) -> Option<SubscriptionStatus> {
    pb::SubscriptionStatus::try_from(s)
        .ok()
        .and_then(|s| SubscriptionStatus::parse(s.as_str_name()))
}

fn subscription_status(s: SubscriptionStatus) -> i32 {
    pb::SubscriptionStatus::from_str_name(s.as_str()).unwrap_or_default() as i32
}

/// The wire subscription; customer roles see no cost or markup.
pub(crate) fn subscription(s: &Subscription, customer_view: bool) -> pb::Subscription {
    pb::Subscription {
        id: s.id.clone(),
        reseller_id: s.reseller_id.clone(),
        customer_id: s.customer_id.clone(),
        customer_name: s.customer_name.clone(),
        vendor_id: s.plan.vendor_id.clone(),
        plan_id: s.plan.plan_id.clone(),
        plan_name: s.plan.name.clone(),
        quantity: s.quantity,
        status: subscription_status(s.status),
        term_start: date(s.term_start),
        term_end: date(s.term_end),
        term: s.plan.term,
        billing_cycle: s.plan.billing_cycle,
        commitment_months: s.plan.commitment_months,
        instalments: s.plan.instalments,
        auto_renew: s.auto_renew,
        auto_renew_changeable: s.auto_renew_changeable,
        assigned_licenses: s.assigned_licenses,
        vendor_subscription_id: s.vendor_subscription_id.clone(),
        vendor_portal_url: s.vendor_portal_url.clone(),
        admin_contact: Some(contact(&s.admin_contact)),
        tenant_name: s.tenant_name.clone(),
        price: Some(price(&s.price, customer_view)),
        currency_code: s.price.currency_code.clone(),
        cancellation_windows: s
            .cancellation_windows
            .iter()
            .map(|w| pb::ChangeWindow {
                open_time: Some(micros_to_timestamp(w.open_at)),
                close_time: Some(micros_to_timestamp(w.close_at)),
                quantity: w.quantity,
                reason: w.reason.clone(),
            })
            .collect(),
        history: s
            .history
            .iter()
            .map(|h| pb::SubscriptionStatusChange {
                from: h.from.map(subscription_status).unwrap_or_default(),
                to: subscription_status(h.to),
                change_time: Some(micros_to_timestamp(h.at)),
                reason: h.reason.clone(),
                order_id: h.order_id.clone(),
            })
            .collect(),
        vendor_message: s.vendor_message.clone(),
        order_id: s.order_id.clone(),
        create_time: Some(micros_to_timestamp(s.created_at)),
        update_time: Some(micros_to_timestamp(s.updated_at)),
        etag: s.version.to_string(),
        parameters: map(&s.parameters),
    }
}
