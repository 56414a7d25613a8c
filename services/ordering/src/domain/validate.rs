//! Syntactic rules for the facts the vendors need (e-mail, domain, CSN, MPN id, tenant id).

/// A plausible e-mail address: one `@`, a non-empty local part and a dotted domain.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty() && !local.contains(char::is_whitespace) && is_domain(domain)
}

/// A DNS domain name with at least two labels, e.g. `contoso.onmicrosoft.com`.
pub fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    s.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// An Autodesk Customer Specific Number: exactly 10 digits.
pub fn is_csn(s: &str) -> bool {
    s.len() == 10 && s.chars().all(|c| c.is_ascii_digit())
}

/// A Microsoft partner MPN id / PartnerID: 6 or 7 digits.
pub fn is_mpn_id(s: &str) -> bool {
    (6..=7).contains(&s.len()) && s.chars().all(|c| c.is_ascii_digit())
}

/// An Azure AD tenant id: a GUID.
pub fn is_tenant_id(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

/// A phone number: digits with optional leading `+`, spaces, dashes and parentheses; 6–20 digits.
pub fn is_phone(s: &str) -> bool {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    (6..=20).contains(&digits)
        && s.chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || " -()".contains(c) || (c == '+' && i == 0))
}

/// A two-letter upper-case ISO-3166 country code.
pub fn is_country(s: &str) -> bool {
    s.len() == 2 && s.chars().all(|c| c.is_ascii_uppercase())
}

/// A three-letter upper-case ISO-4217 currency code.
pub fn is_currency(s: &str) -> bool {
    s.len() == 3 && s.chars().all(|c| c.is_ascii_uppercase())
}

/// A client-chosen id: 1–63 lowercase letters, digits and dashes, starting with a letter.
pub fn is_client_id(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_facts() {
        assert!(is_email("admin@contoso.example"));
        assert!(!is_email("admin@contoso"));
        assert!(!is_email("@contoso.example"));
        assert!(is_domain("contoso.onmicrosoft.com"));
        assert!(!is_domain("contoso"));
        assert!(is_csn("5100000001"));
        assert!(!is_csn("51000000"));
        assert!(is_mpn_id("1234567") && is_mpn_id("123456") && !is_mpn_id("12345"));
        assert!(is_tenant_id("11111111-2222-3333-4444-555555555555"));
        assert!(!is_tenant_id("nope"));
        assert!(is_phone("+1 (555) 010-0000"));
        assert!(is_client_id("reseller-demo") && !is_client_id("Reseller"));
    }
}
