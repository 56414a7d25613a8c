//! What ordering keeps of a catalog plan: a snapshot taken when a line is added, carried by the
//! order item and the `fulfilment_requested` event; plus generic parameter validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Problem;
use super::validate::{is_csn, is_domain, is_email, is_mpn_id, is_phone, is_tenant_id};

/// Vendor id of Autodesk.
pub const AUTODESK: &str = "autodesk";
/// Vendor id of Microsoft (NCE).
pub const MICROSOFT: &str = "microsoft";

/// The provisioning connector that fulfils `vendor_id`'s orders.
pub fn connector_for(vendor_id: &str) -> String {
    match vendor_id {
        AUTODESK => "autodesk".into(),
        MICROSOFT => "microsoft_nce".into(),
        other => other.to_string(),
    }
}

/// Type of an ordering parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// Free text.
    #[default]
    Text,
    /// E-mail address.
    Email,
    /// Domain name.
    Domain,
    /// Autodesk CSN.
    AutodeskCsn,
    /// Microsoft MPN id.
    MpnId,
    /// Azure AD tenant id.
    TenantId,
    /// One of `choices`.
    Choice,
    /// Phone number.
    Phone,
}

/// Where a parameter's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ParamScope {
    /// Entered per order line.
    #[default]
    OrderLine,
    /// From the customer record.
    Customer,
    /// From the reseller profile.
    Reseller,
}

/// An ordering parameter a plan needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ParamDef {
    /// Key, e.g. `admin_email`.
    pub key: String,
    /// Title shown to users.
    pub title: String,
    /// Type (validation rule).
    pub kind: ParamKind,
    /// Source of the value.
    pub scope: ParamScope,
    /// Whether a value is needed.
    pub required: bool,
    /// Allowed values for [`ParamKind::Choice`].
    pub choices: Vec<String>,
}

impl ParamDef {
    /// Checks one value against the parameter's rule.
    pub fn check(&self, value: &str) -> Result<(), String> {
        let ok = match self.kind {
            ParamKind::Text => !value.trim().is_empty(),
            ParamKind::Email => is_email(value),
            ParamKind::Domain => is_domain(value),
            ParamKind::AutodeskCsn => is_csn(value),
            ParamKind::MpnId => is_mpn_id(value),
            ParamKind::TenantId => is_tenant_id(value),
            ParamKind::Choice => self.choices.iter().any(|c| c == value),
            ParamKind::Phone => is_phone(value),
        };
        if ok {
            return Ok(());
        }
        Err(match self.kind {
            ParamKind::Text => "must not be empty".into(),
            ParamKind::Email => "not an e-mail address".into(),
            ParamKind::Domain => "not a domain name".into(),
            ParamKind::AutodeskCsn => "must be a 10-digit CSN".into(),
            ParamKind::MpnId => "must be a 6 or 7 digit MPN id".into(),
            ParamKind::TenantId => "must be a tenant id (GUID)".into(),
            ParamKind::Choice => format!("must be one of {}", self.choices.join(", ")),
            ParamKind::Phone => "not a phone number".into(),
        })
    }
}

/// The plan facts ordering snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PlanInfo {
    /// Plan id.
    pub plan_id: String,
    /// Vendor id (`autodesk`, `microsoft`).
    pub vendor_id: String,
    /// Plan name.
    pub name: String,
    /// Vendor product name.
    pub product_name: String,
    /// Vendor SKU (Autodesk part number / Microsoft catalog item id).
    pub vendor_sku: String,
    /// `marketplace.common.v1.Term` value.
    pub term: i32,
    /// `marketplace.common.v1.BillingCycle` value.
    pub billing_cycle: i32,
    /// Commitment in months.
    pub commitment_months: i32,
    /// Instalments over the commitment.
    pub instalments: i32,
    /// Smallest quantity.
    pub min_quantity: i32,
    /// Largest quantity (0 = unlimited).
    pub max_quantity: i32,
    /// Plans this one is an add-on of.
    pub parent_plan_ids: Vec<String>,
    /// Ordering parameters.
    pub parameters: Vec<ParamDef>,
    /// Autodesk 15-character product id.
    pub autodesk_product_id: String,
    /// Whether the plan is active (not retired).
    pub active: bool,
}

impl PlanInfo {
    /// The provisioning connector.
    pub fn connector(&self) -> String {
        connector_for(&self.vendor_id)
    }

    /// Checks a quantity against the plan's limits.
    pub fn check_quantity(&self, quantity: i32) -> Result<(), String> {
        let min = self.min_quantity.max(1);
        if quantity < min {
            return Err(format!("must be at least {min}"));
        }
        if self.max_quantity > 0 && quantity > self.max_quantity {
            return Err(format!("must be at most {}", self.max_quantity));
        }
        Ok(())
    }

    /// Checks the order-line parameters: unknown keys, required ones missing, values failing
    /// their rule. Customer- and reseller-scoped parameters may be given on the line to override
    /// the profile fact (they are then checked too). `prefix` names the field, e.g. `parameters`.
    pub fn check_parameters(
        &self,
        values: &BTreeMap<String, String>,
        prefix: &str,
    ) -> Vec<Problem> {
        let mut out = Vec::new();
        for key in values.keys() {
            if !self.parameters.iter().any(|p| &p.key == key) {
                out.push(Problem::new(
                    format!("{prefix}.{key}"),
                    "unknown parameter of this plan",
                ));
            }
        }
        for def in &self.parameters {
            match values.get(&def.key).filter(|v| !v.is_empty()) {
                Some(value) => {
                    if let Err(e) = def.check(value) {
                        out.push(Problem::new(format!("{prefix}.{}", def.key), e));
                    }
                }
                None if def.required && def.scope == ParamScope::OrderLine => {
                    out.push(Problem::new(format!("{prefix}.{}", def.key), "required"));
                }
                None => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_checked_by_type_and_scope() {
        let plan = PlanInfo {
            parameters: vec![
                ParamDef {
                    key: "admin_email".into(),
                    kind: ParamKind::Email,
                    required: true,
                    ..ParamDef::default()
                },
                ParamDef {
                    key: "mpn_id".into(),
                    kind: ParamKind::MpnId,
                    scope: ParamScope::Reseller,
                    required: true,
                    ..ParamDef::default()
                },
            ],
            ..PlanInfo::default()
        };
        let mut values = BTreeMap::new();
        assert_eq!(
            plan.check_parameters(&values, "parameters")[0].field,
            "parameters.admin_email"
        );
        values.insert("admin_email".into(), "a@b.example".into());
        assert!(plan.check_parameters(&values, "parameters").is_empty());
        values.insert("mpn_id".into(), "12".into());
        assert_eq!(
            plan.check_parameters(&values, "parameters")[0].field,
            "parameters.mpn_id"
        );
        values.insert("other".into(), "x".into());
        assert_eq!(plan.check_parameters(&values, "parameters").len(), 2);
        assert_eq!(connector_for("microsoft"), "microsoft_nce");
    }
}
