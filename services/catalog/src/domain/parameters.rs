//! Ordering parameters a plan needs (admin e-mail, tenant domain, partner CSN, MPN id, …):
//! typed, with one validation rule per type, so ordering and provisioning check them generically.

use serde::{Deserialize, Serialize};

use super::ids::Csn;

/// Type of a parameter; each has a validation rule ([`ParameterType::validate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParameterType {
    /// Free text (1–255 characters).
    Text,
    /// An e-mail address.
    Email,
    /// A DNS domain name, e.g. `contoso.onmicrosoft.com`.
    Domain,
    /// An Autodesk CSN: 10 digits.
    AutodeskCsn,
    /// A Microsoft partner MPN id / PartnerID: 6 or 7 digits.
    MpnId,
    /// An Azure AD tenant id (GUID).
    TenantId,
    /// One of the definition's choices.
    Choice,
    /// A phone number: optional `+`, then 6–20 digits, spaces, dashes or parentheses.
    Phone,
}

/// Where a parameter's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParameterScope {
    /// Entered per order line.
    OrderLine,
    /// Taken from the customer record.
    Customer,
    /// Taken from the reseller profile.
    Reseller,
}

/// One parameter definition of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterDefinition {
    /// Key, e.g. `admin_email`.
    pub key: String,
    /// Title shown in forms.
    pub title: String,
    /// Help text.
    #[serde(default)]
    pub description: String,
    /// Type (validation rule).
    #[serde(rename = "type")]
    pub kind: ParameterType,
    /// Source of the value.
    pub scope: ParameterScope,
    /// Whether a value is needed.
    pub required: bool,
    /// Allowed values of a [`ParameterType::Choice`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
}

impl ParameterType {
    /// Checks a value against the type's rule; the error says what is expected.
    pub fn validate(self, value: &str, choices: &[String]) -> Result<(), String> {
        let ok = match self {
            Self::Text => !value.trim().is_empty() && value.chars().count() <= 255,
            Self::Email => is_email(value),
            Self::Domain => is_domain(value),
            Self::AutodeskCsn => Csn::parse(value).is_ok(),
            Self::MpnId => {
                (6..=7).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
            }
            Self::TenantId => is_guid(value),
            Self::Choice => choices.iter().any(|c| c == value),
            Self::Phone => is_phone(value),
        };
        if ok {
            Ok(())
        } else {
            Err(self.expectation(choices))
        }
    }

    fn expectation(self, choices: &[String]) -> String {
        match self {
            Self::Text => "must be 1 to 255 characters".into(),
            Self::Email => "not an e-mail address".into(),
            Self::Domain => "not a domain name, e.g. contoso.onmicrosoft.com".into(),
            Self::AutodeskCsn => "an Autodesk CSN has exactly 10 digits".into(),
            Self::MpnId => "an MPN id has 6 or 7 digits".into(),
            Self::TenantId => {
                "a tenant id is a GUID, e.g. 11111111-2222-3333-4444-555555555555".into()
            }
            Self::Choice => format!("must be one of {}", choices.join(", ")),
            Self::Phone => "not a phone number".into(),
        }
    }
}

impl ParameterDefinition {
    /// Checks a supplied value (`None` or blank = missing) against the definition.
    pub fn validate_value(&self, value: Option<&str>) -> Result<(), String> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None if self.required => Err("required".into()),
            None => Ok(()),
            Some(v) => self.kind.validate(v, &self.choices),
        }
    }

    /// Checks the definition itself; returns `(field, problem)` pairs relative to the definition.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let key_ok = self.key.len() <= 64
            && self
                .key
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase())
            && self
                .key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !key_ok {
            out.push((
                "key",
                "1 to 64 characters: lower-case letters, digits and '_', starting with a letter"
                    .to_string(),
            ));
        }
        if self.title.trim().is_empty() || self.title.chars().count() > 200 {
            out.push(("title", "must be 1 to 200 characters".to_string()));
        }
        match self.kind {
            ParameterType::Choice
                if self.choices.is_empty() || self.choices.iter().any(|c| c.trim().is_empty()) =>
            {
                out.push(("choices", "a choice needs non-empty choices".to_string()));
            }
            ParameterType::Choice => {}
            _ if !self.choices.is_empty() => {
                out.push(("choices", "only a choice has choices".to_string()))
            }
            _ => {}
        }
        out
    }
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !local
            .chars()
            .any(|c| c.is_whitespace() || c == '@' || c.is_control())
        && is_domain(domain)
}

fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    s.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()))
}

fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_phone(s: &str) -> bool {
    let rest = s.strip_prefix('+').unwrap_or(s);
    let digits = rest.bytes().filter(u8::is_ascii_digit).count();
    (6..=20).contains(&digits)
        && rest
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'(' | b')'))
}

/// The standard definitions the seeded plans use.
pub mod standard {
    use super::*;

    fn def(
        key: &str,
        title: &str,
        description: &str,
        kind: ParameterType,
        scope: ParameterScope,
        required: bool,
    ) -> ParameterDefinition {
        ParameterDefinition {
            key: key.into(),
            title: title.into(),
            description: description.into(),
            kind,
            scope,
            required,
            choices: Vec::new(),
        }
    }

    /// Customer administrator e-mail (Autodesk Contract Manager, Microsoft global admin).
    pub fn admin_email() -> ParameterDefinition {
        def(
            "admin_email",
            "Administrator e-mail",
            "Receives the vendor's activation e-mail",
            ParameterType::Email,
            ParameterScope::Customer,
            true,
        )
    }

    /// Reseller's Autodesk partner CSN.
    pub fn partner_csn(required: bool) -> ParameterDefinition {
        def(
            "partner_csn",
            "Partner CSN",
            "The reseller's 10-digit Autodesk Customer Specific Number",
            ParameterType::AutodeskCsn,
            ParameterScope::Reseller,
            required,
        )
    }

    /// End customer's Autodesk CSN (when the customer already has one).
    pub fn customer_csn() -> ParameterDefinition {
        def(
            "customer_csn",
            "Customer CSN",
            "The end customer's Autodesk CSN, if known",
            ParameterType::AutodeskCsn,
            ParameterScope::Customer,
            false,
        )
    }

    /// Microsoft customer tenant domain.
    pub fn tenant_domain() -> ParameterDefinition {
        def(
            "tenant_domain",
            "Tenant domain",
            "The customer's Microsoft tenant, e.g. contoso.onmicrosoft.com",
            ParameterType::Domain,
            ParameterScope::Customer,
            true,
        )
    }

    /// Microsoft partner MPN id.
    pub fn mpn_id() -> ParameterDefinition {
        def(
            "mpn_id",
            "Partner MPN ID",
            "The reseller's Microsoft partner id (6 or 7 digits)",
            ParameterType::MpnId,
            ParameterScope::Reseller,
            true,
        )
    }

    /// Indirect reseller tenant id.
    pub fn indirect_reseller_tenant_id() -> ParameterDefinition {
        def(
            "indirect_reseller_tenant_id",
            "Indirect reseller tenant ID",
            "The reseller's Azure AD tenant id",
            ParameterType::TenantId,
            ParameterScope::Reseller,
            true,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_a_rule() {
        let none: &[String] = &[];
        assert!(
            ParameterType::Email
                .validate("admin@contoso.example", none)
                .is_ok()
        );
        assert!(
            ParameterType::Email
                .validate("admin@contoso", none)
                .is_err()
        );
        assert!(ParameterType::Email.validate("not an email", none).is_err());
        assert!(
            ParameterType::Domain
                .validate("contoso.onmicrosoft.com", none)
                .is_ok()
        );
        assert!(ParameterType::Domain.validate("-bad-.com", none).is_err());
        assert!(
            ParameterType::AutodeskCsn
                .validate("5100000001", none)
                .is_ok()
        );
        assert!(ParameterType::AutodeskCsn.validate("51000", none).is_err());
        assert!(ParameterType::MpnId.validate("1234567", none).is_ok());
        assert!(ParameterType::MpnId.validate("12345", none).is_err());
        assert!(
            ParameterType::TenantId
                .validate("11111111-2222-3333-4444-555555555555", none)
                .is_ok()
        );
        assert!(
            ParameterType::TenantId
                .validate("11111111-2222-3333-4444", none)
                .is_err()
        );
        assert!(
            ParameterType::Choice
                .validate("a", &["a".to_string()])
                .is_ok()
        );
        assert!(
            ParameterType::Choice
                .validate("b", &["a".to_string()])
                .is_err()
        );
        assert!(
            ParameterType::Phone
                .validate("+1 (555) 010-0000", none)
                .is_ok()
        );
        assert!(ParameterType::Phone.validate("call me", none).is_err());
        assert!(ParameterType::Text.validate(" ", none).is_err());
    }

    #[test]
    fn required_values_must_be_present() {
        let d = standard::admin_email();
        assert_eq!(d.validate_value(None), Err("required".into()));
        assert!(d.validate_value(Some("a@b.example")).is_ok());
        assert!(
            standard::partner_csn(false)
                .validate_value(Some(""))
                .is_ok()
        );
    }

    #[test]
    fn definitions_are_checked() {
        let mut d = standard::admin_email();
        assert!(d.problems().is_empty());
        d.key = "Admin Email".into();
        d.kind = ParameterType::Choice;
        let fields: Vec<_> = d.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, vec!["key", "choices"]);
    }
}
