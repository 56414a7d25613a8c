//! Resellers and the profile facts the ordering rules need.

use serde::{Deserialize, Serialize};

use super::Problem;
use super::validate::{is_csn, is_currency, is_email, is_mpn_id, is_tenant_id};

/// A reseller: a tenant of the marketplace selling to its own customers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Reseller {
    /// Id (client-chosen or generated).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Autodesk partner CSN (10 digits), empty when the reseller has none.
    pub autodesk_partner_csn: String,
    /// Microsoft partner MPN id (6–7 digits).
    pub microsoft_mpn_id: String,
    /// Azure AD tenant id of the indirect reseller.
    pub microsoft_indirect_reseller_tenant_id: String,
    /// Where reseller notifications go.
    pub notification_email: String,
    /// Default currency of the reseller's price list.
    pub currency_code: String,
    /// Creation time (µs).
    pub created_at: i64,
    /// Last update (µs).
    pub updated_at: i64,
    /// Version for optimistic concurrency.
    pub version: i64,
}

/// Default currency when a reseller did not choose one.
pub const DEFAULT_CURRENCY: &str = "USD";

impl Reseller {
    /// Checks every set field; empty optional facts are allowed (readiness reports them).
    pub fn validate(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.name.trim().is_empty() {
            out.push(Problem::new("reseller.name", "must not be empty"));
        }
        if !self.autodesk_partner_csn.is_empty() && !is_csn(&self.autodesk_partner_csn) {
            out.push(Problem::new(
                "reseller.autodesk_partner_csn",
                "must be 10 digits",
            ));
        }
        if !self.microsoft_mpn_id.is_empty() && !is_mpn_id(&self.microsoft_mpn_id) {
            out.push(Problem::new(
                "reseller.microsoft_mpn_id",
                "must be 6 or 7 digits",
            ));
        }
        if !self.microsoft_indirect_reseller_tenant_id.is_empty()
            && !is_tenant_id(&self.microsoft_indirect_reseller_tenant_id)
        {
            out.push(Problem::new(
                "reseller.microsoft_indirect_reseller_tenant_id",
                "must be a tenant id (GUID)",
            ));
        }
        if !self.notification_email.is_empty() && !is_email(&self.notification_email) {
            out.push(Problem::new(
                "reseller.notification_email",
                "not an e-mail address",
            ));
        }
        if !self.currency_code.is_empty() && !is_currency(&self.currency_code) {
            out.push(Problem::new(
                "reseller.currency_code",
                "must be a three-letter ISO-4217 code",
            ));
        }
        out
    }

    /// The reseller's currency, or the default.
    pub fn currency(&self) -> &str {
        if self.currency_code.is_empty() {
            DEFAULT_CURRENCY
        } else {
            &self.currency_code
        }
    }

    /// The demo reseller seeded in embedded mode.
    pub fn demo(now: i64) -> Self {
        Self {
            id: "reseller-demo".into(),
            name: "Demo Reseller".into(),
            autodesk_partner_csn: "5100000001".into(),
            microsoft_mpn_id: "1234567".into(),
            microsoft_indirect_reseller_tenant_id: "11111111-2222-3333-4444-555555555555".into(),
            notification_email: "reseller@demo.example".into(),
            currency_code: DEFAULT_CURRENCY.into(),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}
