//! Readiness per vendor before checkout (seed 002 steps 8–9) and the facts sent to the vendor.
//!
//! Rules are kept per vendor here, not scattered: Microsoft NCE needs the partner MPN id, the
//! indirect reseller tenant id, a customer tenant (reused, created or linked), a global admin and
//! the Microsoft Customer Agreement; Autodesk needs a Contract Manager contact.

use std::collections::BTreeMap;

use super::Problem;
use super::cart::Cart;
use super::customer::{ContactRole, Customer, RELATIONSHIP_FIELD, TenantLinkMode};
use super::plan::{AUTODESK, MICROSOFT, ParamScope, PlanInfo};
use super::reseller::Reseller;

/// Readiness of one vendor's lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorReadiness {
    /// Vendor.
    pub vendor_id: String,
    /// Missing or invalid facts; empty = READY, else INQUIRING.
    pub missing: Vec<Problem>,
}

impl VendorReadiness {
    /// READY?
    pub fn is_ready(&self) -> bool {
        self.missing.is_empty()
    }
}

/// The profile fact a customer- or reseller-scoped parameter is taken from.
fn profile_fact(
    key: &str,
    scope: ParamScope,
    customer: Option<&Customer>,
    reseller: Option<&Reseller>,
    vendor_id: &str,
) -> (String, String) {
    match scope {
        ParamScope::Reseller => {
            let r = reseller.cloned().unwrap_or_default();
            match key {
                "partner_csn" | "autodesk_partner_csn" => (
                    "reseller.autodesk_partner_csn".into(),
                    r.autodesk_partner_csn,
                ),
                "mpn_id" | "microsoft_mpn_id" => {
                    ("reseller.microsoft_mpn_id".into(), r.microsoft_mpn_id)
                }
                "indirect_reseller_tenant_id" => (
                    "reseller.microsoft_indirect_reseller_tenant_id".into(),
                    r.microsoft_indirect_reseller_tenant_id,
                ),
                "notification_email" => {
                    ("reseller.notification_email".into(), r.notification_email)
                }
                other => (format!("reseller.{other}"), String::new()),
            }
        }
        ParamScope::Customer => {
            let c = customer.cloned().unwrap_or_default();
            let admin = c.admin_contact(vendor_id).cloned().unwrap_or_default();
            match key {
                "admin_email" | "contact_email" => ("customer.contacts.email".into(), admin.email),
                "admin_first_name" | "first_name" => {
                    ("customer.contacts.first_name".into(), admin.first_name)
                }
                "admin_last_name" | "last_name" => {
                    ("customer.contacts.last_name".into(), admin.last_name)
                }
                "tenant_domain" => (
                    "customer.microsoft.tenant_domain".into(),
                    c.microsoft.tenant_domain,
                ),
                "tenant_id" => ("customer.microsoft.tenant_id".into(), c.microsoft.tenant_id),
                "csn" | "customer_csn" | "autodesk_csn" => {
                    ("customer.autodesk.csn".into(), c.autodesk_csn)
                }
                "country" | "country_code" => (
                    "customer.address.country_code".into(),
                    c.address.country_code,
                ),
                other => (format!("customer.{other}"), String::new()),
            }
        }
        ParamScope::OrderLine => (format!("parameters.{key}"), String::new()),
    }
}

/// The parameters sent to provisioning: the line's values plus customer- and reseller-scoped
/// facts taken from the profiles (a value on the line wins).
pub fn resolve_parameters(
    plan: &PlanInfo,
    line: &BTreeMap<String, String>,
    customer: Option<&Customer>,
    reseller: Option<&Reseller>,
) -> BTreeMap<String, String> {
    let mut out = line.clone();
    for def in &plan.parameters {
        if def.scope == ParamScope::OrderLine || out.get(&def.key).is_some_and(|v| !v.is_empty()) {
            continue;
        }
        let (_, value) = profile_fact(&def.key, def.scope, customer, reseller, &plan.vendor_id);
        if !value.is_empty() {
            out.insert(def.key.clone(), value);
        }
    }
    out
}

/// Readiness of every vendor of the cart's active lines.
pub fn check(
    cart: &Cart,
    customer: Option<&Customer>,
    reseller: Option<&Reseller>,
) -> Vec<VendorReadiness> {
    let mut vendors: Vec<VendorReadiness> = Vec::new();
    for (index, line) in cart.active_lines() {
        let vendor = line.plan.vendor_id.clone();
        let position = match vendors.iter().position(|v| v.vendor_id == vendor) {
            Some(p) => p,
            None => {
                vendors.push(VendorReadiness {
                    vendor_id: vendor.clone(),
                    missing: vendor_facts(&vendor, customer, reseller),
                });
                vendors.len() - 1
            }
        };
        let mut missing = line
            .plan
            .check_parameters(&line.parameters, &format!("lines[{index}].parameters"));
        for def in line
            .plan
            .parameters
            .iter()
            .filter(|d| d.required && d.scope != ParamScope::OrderLine)
        {
            if line.parameters.get(&def.key).is_some_and(|v| !v.is_empty()) {
                continue;
            }
            let (field, value) = profile_fact(&def.key, def.scope, customer, reseller, &vendor);
            if value.is_empty() {
                missing.push(Problem::new(
                    field,
                    format!(
                        "{} is required",
                        if def.title.is_empty() {
                            &def.key
                        } else {
                            &def.title
                        }
                    ),
                ));
            } else if let Err(e) = def.check(&value) {
                missing.push(Problem::new(field, e));
            }
        }
        let entry = &mut vendors[position];
        for p in missing {
            if !entry.missing.iter().any(|m| m.field == p.field) {
                entry.missing.push(p);
            }
        }
    }
    vendors
}

/// Facts a vendor always needs, whatever the plan's parameters say.
fn vendor_facts(
    vendor_id: &str,
    customer: Option<&Customer>,
    reseller: Option<&Reseller>,
) -> Vec<Problem> {
    let mut out = Vec::new();
    let Some(customer) = customer else {
        out.push(Problem::new(
            "cart.customer_id",
            "select an existing customer or add a new one",
        ));
        return out;
    };
    match vendor_id {
        MICROSOFT => {
            let r = reseller.cloned().unwrap_or_default();
            if r.microsoft_mpn_id.is_empty() {
                out.push(Problem::new(
                    "reseller.microsoft_mpn_id",
                    "the partner MPN id is required for Microsoft NCE",
                ));
            }
            if r.microsoft_indirect_reseller_tenant_id.is_empty() {
                out.push(Problem::new(
                    "reseller.microsoft_indirect_reseller_tenant_id",
                    "the indirect reseller tenant id is required for Microsoft NCE",
                ));
            }
            let ms = &customer.microsoft;
            if ms.tenant_id.is_empty() {
                if ms.tenant_domain.is_empty() {
                    out.push(Problem::new(
                        "customer.microsoft.tenant_domain",
                        "create a new tenant or link the customer's existing one",
                    ));
                } else if ms.link_mode == TenantLinkMode::Unspecified {
                    out.push(Problem::new(
                        "customer.microsoft.link_mode",
                        "choose to create the tenant or link the existing one",
                    ));
                } else if ms.link_mode == TenantLinkMode::LinkExisting {
                    out.push(Problem::new(
                        RELATIONSHIP_FIELD,
                        format!(
                            "waiting for the customer to accept the reseller relationship for {}: send the invitation link ({RELATIONSHIP_FIELD}.invitation_url) to the customer's global admin",
                            ms.tenant_domain
                        ),
                    ));
                }
            }
            if customer.contact(ContactRole::GlobalAdmin).is_none() && customer.contacts.is_empty()
            {
                out.push(Problem::new(
                    "customer.contacts",
                    "a global admin contact is required for Microsoft",
                ));
            }
            if customer.mca().is_none() {
                out.push(Problem::new(
                    "customer.agreements",
                    "the Microsoft Customer Agreement must be accepted",
                ));
            }
        }
        AUTODESK if customer.contact(ContactRole::ContractManager).is_none() => {
            out.push(Problem::new(
                "customer.contacts",
                "a Contract Manager contact is required for Autodesk",
            ));
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;
    use crate::domain::cart::{CartLine, LineStatus};
    use crate::domain::plan::{ParamDef, ParamKind};

    fn cart_with(vendor: &str, params: Vec<ParamDef>) -> Cart {
        let mut cart = Cart::new(
            "c".into(),
            "r".into(),
            "k".into(),
            "USD".into(),
            Actor::default(),
            0,
        );
        cart.lines.push(CartLine {
            id: "l".into(),
            plan: PlanInfo {
                plan_id: "p".into(),
                vendor_id: vendor.into(),
                parameters: params,
                active: true,
                ..PlanInfo::default()
            },
            quantity: 1,
            parameters: BTreeMap::new(),
            status: LineStatus::Active,
            parent_line_id: String::new(),
            request_id: String::new(),
        });
        cart
    }

    fn mpn() -> ParamDef {
        ParamDef {
            key: "mpn_id".into(),
            kind: ParamKind::MpnId,
            scope: ParamScope::Reseller,
            required: true,
            ..ParamDef::default()
        }
    }

    #[test]
    fn microsoft_needs_partner_facts_tenant_and_agreement() {
        let cart = cart_with(MICROSOFT, vec![mpn()]);
        let customer = Customer {
            id: "k".into(),
            ..Customer::default()
        };
        let vendors = check(&cart, Some(&customer), Some(&Reseller::default()));
        let fields: Vec<&str> = vendors[0]
            .missing
            .iter()
            .map(|p| p.field.as_str())
            .collect();
        assert!(fields.contains(&"reseller.microsoft_mpn_id"));
        assert!(fields.contains(&"reseller.microsoft_indirect_reseller_tenant_id"));
        assert!(fields.contains(&"customer.microsoft.tenant_domain"));
        assert!(fields.contains(&"customer.agreements"));
        // The MPN id problem is reported once even though the plan asks for it too.
        assert_eq!(
            fields
                .iter()
                .filter(|f| **f == "reseller.microsoft_mpn_id")
                .count(),
            1
        );
        let demo = check(&cart, Some(&Customer::demo(0)), Some(&Reseller::demo(0)));
        assert!(demo[0].is_ready(), "{:?}", demo[0].missing);
    }

    #[test]
    fn a_value_on_the_line_overrides_the_profile_fact() {
        let mut cart = cart_with(MICROSOFT, vec![mpn()]);
        cart.lines[0]
            .parameters
            .insert("mpn_id".into(), "7654321".into());
        let resolved = resolve_parameters(
            &cart.lines[0].plan,
            &cart.lines[0].parameters,
            None,
            Some(&Reseller::demo(0)),
        );
        assert_eq!(resolved.get("mpn_id").map(String::as_str), Some("7654321"));
        let from_profile = resolve_parameters(
            &cart.lines[0].plan,
            &BTreeMap::new(),
            None,
            Some(&Reseller::demo(0)),
        );
        assert_eq!(
            from_profile.get("mpn_id").map(String::as_str),
            Some("1234567")
        );
    }

    #[test]
    fn autodesk_needs_a_contract_manager_and_a_customer() {
        let cart = cart_with(AUTODESK, vec![]);
        let vendors = check(&cart, Some(&Customer::default()), None);
        assert_eq!(vendors[0].missing[0].field, "customer.contacts");
        let none = check(&cart, None, None);
        assert_eq!(none[0].missing[0].field, "cart.customer_id");
        assert!(check(&cart, Some(&Customer::demo(0)), None)[0].is_ready());
    }

    #[test]
    fn linking_an_existing_tenant_waits_for_the_relationship_then_is_ready() {
        let cart = cart_with(MICROSOFT, vec![]);
        let mut customer = Customer::demo(0);
        customer.microsoft.link_mode = TenantLinkMode::LinkExisting;
        customer.microsoft.tenant_domain = "Fabrikam.onmicrosoft.com".into();
        assert!(customer.open_relationship_request());
        assert!(
            !customer.open_relationship_request(),
            "one request per domain"
        );
        let waiting = check(&cart, Some(&customer), Some(&Reseller::demo(0)));
        let problem = waiting[0]
            .missing
            .iter()
            .find(|p| p.field == RELATIONSHIP_FIELD)
            .expect("INQUIRING on the relationship");
        assert!(
            problem
                .description
                .contains("waiting for the customer to accept the reseller relationship"),
            "{problem:?}"
        );
        // Another domain's answer changes nothing; this domain's link, then its tenant, do.
        assert!(!customer.learn_relationship("other.onmicrosoft.com", "https://x", "t", 1));
        assert!(customer.learn_relationship("fabrikam.onmicrosoft.com", "https://invite", "", 1));
        assert_eq!(
            customer.microsoft.relationship.invitation_url,
            "https://invite"
        );
        assert!(!check(&cart, Some(&customer), Some(&Reseller::demo(0)))[0].is_ready());
        let tenant = "11111111-2222-3333-4444-555555555555";
        assert!(customer.learn_relationship("fabrikam.onmicrosoft.com", "", tenant, 2));
        assert_eq!(customer.microsoft.tenant_id, tenant);
        let ready = check(&cart, Some(&customer), Some(&Reseller::demo(0)));
        assert!(ready[0].is_ready(), "{:?}", ready[0].missing);
        assert!(!customer.learn_relationship("fabrikam.onmicrosoft.com", "", tenant, 3));
    }
}
