//! Notification preferences of a reseller.

use super::Kind;

/// Locales with their own templates; anything else falls back to English.
pub const SUPPORTED_LOCALES: [&str; 2] = ["en", "de"];

/// Preferences of one reseller (defaults when never saved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences {
    /// The reseller.
    pub reseller_id: String,
    /// Where "subscription ready" e-mails go; empty = the reseller's notification e-mail.
    pub subscription_ready_email: String,
    /// Kinds not to e-mail.
    pub muted_email_kinds: Vec<Kind>,
    /// Locale of e-mails to the reseller (`en` default).
    pub locale: String,
}

impl Preferences {
    /// The defaults of a reseller.
    pub fn defaults(reseller_id: &str) -> Self {
        Self {
            reseller_id: reseller_id.to_string(),
            subscription_ready_email: String::new(),
            muted_email_kinds: Vec::new(),
            locale: "en".into(),
        }
    }

    /// Whether e-mails of `kind` are muted.
    pub fn is_muted(&self, kind: Kind) -> bool {
        self.muted_email_kinds.contains(&kind)
    }
}

/// Normalises a locale tag to a supported template locale (`de-AT` → `de`, unknown → `en`).
pub fn template_locale(tag: &str) -> &'static str {
    let primary = tag
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    SUPPORTED_LOCALES
        .into_iter()
        .find(|l| *l == primary)
        .unwrap_or("en")
}

/// Checks an e-mail address loosely (one `@`, a dotted domain, no spaces, at most 254 chars).
pub fn is_email(s: &str) -> bool {
    if s.len() > 254
        || s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == ',')
    {
        return false;
    }
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}

/// Checks a locale tag (`en`, `de-AT`).
pub fn is_locale(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 16
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_and_emails() {
        assert_eq!(template_locale("de-AT"), "de");
        assert_eq!(template_locale("fr"), "en");
        assert_eq!(template_locale(""), "en");
        assert!(is_email("reseller@demo.example"));
        assert!(!is_email("no-at.example"));
        assert!(!is_email("a@b"));
        assert!(!is_email("a b@c.example"));
    }
}
