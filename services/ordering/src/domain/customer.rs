//! End customers of a reseller: contacts with vendor admin roles, vendor identities, agreements.

use serde::{Deserialize, Serialize};

use super::validate::{is_country, is_csn, is_domain, is_email, is_phone, is_tenant_id};
use super::{Actor, Problem};

/// Vendor admin role of a contact (seed 003).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ContactRole {
    /// Not given.
    #[default]
    Unspecified,
    /// Autodesk Contract Manager (primary admin).
    ContractManager,
    /// Autodesk Software Coordinator (secondary admin).
    SoftwareCoordinator,
    /// Microsoft tenant global admin.
    GlobalAdmin,
    /// Billing contact.
    Billing,
}

impl ContactRole {
    /// The name carried in events (`ContactFacts.role`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "",
            Self::ContractManager => "contract_manager",
            Self::SoftwareCoordinator => "software_coordinator",
            Self::GlobalAdmin => "global_admin",
            Self::Billing => "billing",
        }
    }
}

/// A person at the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Contact {
    /// Vendor admin role.
    pub role: ContactRole,
    /// E-mail address.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Phone number.
    pub phone: String,
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Address {
    /// Street line 1.
    pub line1: String,
    /// Street line 2.
    pub line2: String,
    /// City.
    pub city: String,
    /// State or region.
    pub state: String,
    /// Postal code.
    pub postal_code: String,
    /// ISO-3166 alpha-2.
    pub country_code: String,
}

/// How the customer's Microsoft tenant is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TenantLinkMode {
    /// Not chosen (or the tenant is already known).
    #[default]
    Unspecified,
    /// A new tenant with the requested domain.
    Create,
    /// Link the customer's existing tenant.
    LinkExisting,
}

impl TenantLinkMode {
    /// The name carried in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "",
            Self::Create => "create",
            Self::LinkExisting => "link_existing",
        }
    }
}

/// The customer's Microsoft identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MicrosoftIdentity {
    /// Tenant id once known: reused automatically for later orders.
    pub tenant_id: String,
    /// Tenant domain, e.g. `contoso.onmicrosoft.com`.
    pub tenant_domain: String,
    /// How the tenant is obtained while it is unknown.
    pub link_mode: TenantLinkMode,
    /// Tenant display name.
    pub tenant_name: String,
    /// The reseller relationship request when linking an existing tenant.
    #[serde(default)]
    pub relationship: ResellerRelationship,
}

/// State of a reseller relationship request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RelationshipStatus {
    /// No request (the tenant is created, or already known).
    #[default]
    None,
    /// Waiting for the customer to accept the invitation.
    Pending,
    /// Accepted: the tenant id is known.
    Accepted,
}

/// The reseller relationship request of a customer linking its existing Microsoft tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ResellerRelationship {
    /// State.
    pub status: RelationshipStatus,
    /// Invitation link to send to the customer's global admin (empty until Partner Center gave it).
    pub invitation_url: String,
    /// The tenant domain the request is for.
    pub tenant_domain: String,
    /// When the customer accepted (µs; 0 while pending).
    pub accepted_at: i64,
}

/// The field readiness and provisioning name while a relationship request is pending.
pub const RELATIONSHIP_FIELD: &str = "customer.microsoft.reseller_relationship";

/// Agreement types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AgreementKind {
    /// Not given.
    #[default]
    Unspecified,
    /// Microsoft Customer Agreement.
    MicrosoftCustomerAgreement,
}

/// An agreement accepted on behalf of the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Agreement {
    /// Which agreement.
    pub kind: AgreementKind,
    /// Who recorded the acceptance.
    pub accepted_by: Actor,
    /// When (µs).
    pub accept_time: i64,
    /// The customer contact who accepted.
    pub contact: Contact,
    /// Agreement template.
    pub template_id: String,
}

/// Current Microsoft Customer Agreement template id recorded with acceptances.
pub const MCA_TEMPLATE_ID: &str = "mca-2026-01";

/// An end customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Customer {
    /// Id.
    pub id: String,
    /// Owning reseller.
    pub reseller_id: String,
    /// Name.
    pub name: String,
    /// Contacts with vendor admin roles.
    pub contacts: Vec<Contact>,
    /// Address.
    pub address: Address,
    /// Microsoft identity.
    pub microsoft: MicrosoftIdentity,
    /// Autodesk end-customer CSN.
    pub autodesk_csn: String,
    /// Accepted agreements.
    pub agreements: Vec<Agreement>,
    /// Preferred language (BCP-47).
    pub language_code: String,
    /// Creation (µs).
    pub created_at: i64,
    /// Last update (µs).
    pub updated_at: i64,
    /// Version for optimistic concurrency.
    pub version: i64,
}

impl Customer {
    /// Checks the customer; every problem names its field.
    pub fn validate(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.name.trim().is_empty() {
            out.push(Problem::new("customer.name", "must not be empty"));
        }
        for (i, c) in self.contacts.iter().enumerate() {
            if !is_email(&c.email) {
                out.push(Problem::new(
                    format!("customer.contacts[{i}].email"),
                    "not an e-mail address",
                ));
            }
            if !c.phone.is_empty() && !is_phone(&c.phone) {
                out.push(Problem::new(
                    format!("customer.contacts[{i}].phone"),
                    "not a phone number",
                ));
            }
        }
        let managers = self
            .contacts
            .iter()
            .filter(|c| c.role == ContactRole::ContractManager)
            .count();
        if managers > 1 {
            out.push(Problem::new(
                "customer.contacts",
                "at most one contract manager",
            ));
        }
        if !self.address.country_code.is_empty() && !is_country(&self.address.country_code) {
            out.push(Problem::new(
                "customer.address.country_code",
                "must be a two-letter ISO-3166 code",
            ));
        }
        let ms = &self.microsoft;
        if !ms.tenant_id.is_empty() && !is_tenant_id(&ms.tenant_id) {
            out.push(Problem::new(
                "customer.microsoft.tenant_id",
                "must be a tenant id (GUID)",
            ));
        }
        if !ms.tenant_domain.is_empty() && !is_domain(&ms.tenant_domain) {
            out.push(Problem::new(
                "customer.microsoft.tenant_domain",
                "not a domain name",
            ));
        }
        if ms.link_mode == TenantLinkMode::Create
            && ms.tenant_domain.is_empty()
            && ms.tenant_id.is_empty()
        {
            out.push(Problem::new(
                "customer.microsoft.tenant_domain",
                "required to create a tenant",
            ));
        }
        if ms.link_mode == TenantLinkMode::LinkExisting
            && ms.tenant_domain.is_empty()
            && ms.tenant_id.is_empty()
        {
            out.push(Problem::new(
                "customer.microsoft.tenant_domain",
                "required to link an existing tenant (its domain, e.g. contoso.onmicrosoft.com)",
            ));
        }
        if !self.autodesk_csn.is_empty() && !is_csn(&self.autodesk_csn) {
            out.push(Problem::new("customer.autodesk.csn", "must be 10 digits"));
        }
        out
    }

    /// The contact with `role`, if any.
    pub fn contact(&self, role: ContactRole) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.role == role)
    }

    /// The admin contact shown on subscriptions: the vendor's admin role first, then anyone.
    pub fn admin_contact(&self, vendor_id: &str) -> Option<&Contact> {
        let preferred = if vendor_id == "microsoft" {
            ContactRole::GlobalAdmin
        } else {
            ContactRole::ContractManager
        };
        self.contact(preferred).or_else(|| self.contacts.first())
    }

    /// The Microsoft Customer Agreement acceptance, if recorded.
    pub fn mca(&self) -> Option<&Agreement> {
        self.agreements
            .iter()
            .rev()
            .find(|a| a.kind == AgreementKind::MicrosoftCustomerAgreement)
    }

    /// Lower-case text matched by customer search (name, contact e-mails, tenant domain, CSN).
    pub fn search_text(&self) -> String {
        let mut parts = vec![
            self.name.clone(),
            self.microsoft.tenant_domain.clone(),
            self.autodesk_csn.clone(),
            self.microsoft.tenant_id.clone(),
        ];
        parts.extend(
            self.contacts
                .iter()
                .map(|c| format!("{} {} {}", c.email, c.first_name, c.last_name)),
        );
        parts.join(" ").to_lowercase()
    }

    /// Whether the customer waits for a reseller relationship request to be accepted: linking
    /// an existing tenant whose id is still unknown.
    pub fn links_existing_tenant(&self) -> bool {
        self.microsoft.link_mode == TenantLinkMode::LinkExisting
            && self.microsoft.tenant_id.is_empty()
            && !self.microsoft.tenant_domain.is_empty()
    }

    /// Opens a reseller relationship request for the tenant domain when the customer links an
    /// existing tenant and none is pending for that domain yet; true when one was opened (the
    /// caller asks provisioning for it in the same transaction).
    pub fn open_relationship_request(&mut self) -> bool {
        if !self.links_existing_tenant() {
            if self.microsoft.tenant_id.is_empty() {
                self.microsoft.relationship = ResellerRelationship::default();
            }
            return false;
        }
        let domain = self.microsoft.tenant_domain.to_ascii_lowercase();
        let r = &self.microsoft.relationship;
        if r.status == RelationshipStatus::Pending && r.tenant_domain == domain {
            return false;
        }
        self.microsoft.relationship = ResellerRelationship {
            status: RelationshipStatus::Pending,
            tenant_domain: domain,
            ..ResellerRelationship::default()
        };
        true
    }

    /// Applies what provisioning learned about the pending relationship request for `domain`
    /// (the invitation link, then the tenant id once accepted); true when something changed.
    pub fn learn_relationship(
        &mut self,
        domain: &str,
        invitation_url: &str,
        tenant_id: &str,
        now: i64,
    ) -> bool {
        let r = &mut self.microsoft.relationship;
        if r.status != RelationshipStatus::Pending
            || !r.tenant_domain.eq_ignore_ascii_case(domain)
            || !self.microsoft.tenant_id.is_empty()
        {
            return false;
        }
        let mut changed = false;
        if !invitation_url.is_empty() && r.invitation_url != invitation_url {
            r.invitation_url = invitation_url.to_string();
            changed = true;
        }
        if !tenant_id.is_empty() {
            r.status = RelationshipStatus::Accepted;
            r.accepted_at = now;
            self.microsoft.tenant_id = tenant_id.to_string();
            changed = true;
        }
        changed
    }

    /// Records what a successful provisioning learned: the Microsoft tenant (reused later) and
    /// the Autodesk CSN. Returns whether anything changed.
    pub fn learn_vendor_identity(
        &mut self,
        tenant_id: &str,
        tenant_domain: &str,
        autodesk_csn: &str,
    ) -> bool {
        let mut changed = false;
        if !tenant_id.is_empty() && self.microsoft.tenant_id != tenant_id {
            self.microsoft.tenant_id = tenant_id.to_string();
            self.microsoft.link_mode = TenantLinkMode::Unspecified;
            changed = true;
        }
        if !tenant_domain.is_empty() && self.microsoft.tenant_domain.is_empty() {
            self.microsoft.tenant_domain = tenant_domain.to_string();
            changed = true;
        }
        if !autodesk_csn.is_empty() && self.autodesk_csn != autodesk_csn {
            self.autodesk_csn = autodesk_csn.to_string();
            changed = true;
        }
        changed
    }

    /// The demo customer seeded in embedded mode.
    pub fn demo(now: i64) -> Self {
        let admin = Contact {
            role: ContactRole::ContractManager,
            email: "admin@contoso.example".into(),
            first_name: "Alex".into(),
            last_name: "Admin".into(),
            phone: String::new(),
        };
        let global_admin = Contact {
            role: ContactRole::GlobalAdmin,
            ..admin.clone()
        };
        Self {
            id: "customer-demo".into(),
            reseller_id: "reseller-demo".into(),
            name: "Contoso Ltd".into(),
            contacts: vec![admin.clone(), global_admin],
            address: Address {
                line1: "1 Main Street".into(),
                city: "Seattle".into(),
                state: "WA".into(),
                postal_code: "98101".into(),
                country_code: "US".into(),
                ..Address::default()
            },
            microsoft: MicrosoftIdentity {
                tenant_id: String::new(),
                tenant_domain: "contoso.onmicrosoft.com".into(),
                link_mode: TenantLinkMode::Create,
                tenant_name: "Contoso".into(),
                relationship: ResellerRelationship::default(),
            },
            autodesk_csn: String::new(),
            agreements: vec![Agreement {
                kind: AgreementKind::MicrosoftCustomerAgreement,
                accepted_by: Actor {
                    user_id: "seed".into(),
                    display_name: "Demo seed".into(),
                    organization_id: "reseller-demo".into(),
                    ..Actor::default()
                },
                accept_time: now,
                contact: admin,
                template_id: MCA_TEMPLATE_ID.into(),
            }],
            language_code: "en".into(),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}
