//! Subjects, subject filters, headers and names: matching and validation shared by the backends.

use super::{BusError, SubscriptionSpec};

/// The first token of every event subject: `marketplace.<service>.<event>`.
pub const SUBJECT_ROOT: &str = "marketplace";

/// Header names with this prefix (compared case-insensitively) are reserved for the bus.
pub(crate) const RESERVED_HEADER_PREFIX: &str = "nats-";

/// The longest accepted event id, in bytes.
const MAX_EVENT_ID_LEN: usize = 128;

/// Whether `subject` matches `filter` with NATS wildcard semantics: tokens are separated by `.`,
/// a `*` token matches exactly one token and a final `>` token matches one or more tokens.
/// Wildcard characters inside a longer token are literal. Empty strings match nothing.
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    if filter.is_empty() || subject.is_empty() {
        return false;
    }
    let mut subject_tokens = subject.split('.');
    let mut filter_tokens = filter.split('.').peekable();
    while let Some(filter_token) = filter_tokens.next() {
        if filter_token == ">" && filter_tokens.peek().is_none() {
            return subject_tokens.next().is_some();
        }
        match subject_tokens.next() {
            Some(token) if filter_token == "*" || filter_token == token => {}
            _ => return false,
        }
    }
    subject_tokens.next().is_none()
}

/// Checks a subject to publish on and returns its service token.
pub(crate) fn validate_subject(subject: &str) -> Result<&str, BusError> {
    let invalid = |reason| BusError::InvalidSubject {
        subject: subject.to_owned(),
        reason,
    };
    let tokens = split_tokens(subject).map_err(invalid)?;
    if tokens.iter().any(|token| token.contains(['*', '>'])) {
        return Err(invalid("a subject to publish on cannot contain wildcards"));
    }
    if tokens.len() < 3 {
        return Err(invalid("expected marketplace.<service>.<event>"));
    }
    service_token(&tokens).map_err(invalid)
}

/// Checks a subscription filter and returns its service token.
pub(crate) fn validate_filter(filter: &str) -> Result<&str, BusError> {
    let invalid = |reason| BusError::InvalidSubject {
        subject: filter.to_owned(),
        reason,
    };
    let tokens = split_tokens(filter).map_err(invalid)?;
    let last = tokens.len() - 1;
    for (index, token) in tokens.iter().enumerate() {
        let wildcard = *token == "*" || (*token == ">" && index == last);
        if !wildcard && token.contains(['*', '>']) {
            return Err(invalid(
                "wildcards must be whole tokens and `>` must be the last token",
            ));
        }
    }
    if tokens.len() < 3 {
        return Err(invalid("expected marketplace.<service>.<event filter>"));
    }
    service_token(&tokens).map_err(invalid)
}

/// Checks a subject or filter prefix (may be empty) and returns it without a trailing `.`.
pub(crate) fn validate_subject_prefix(prefix: &str) -> Result<&str, BusError> {
    let prefix = prefix.strip_suffix('.').unwrap_or(prefix);
    if prefix.is_empty() {
        return Ok(prefix);
    }
    let tokens = split_tokens(prefix).map_err(|reason| BusError::InvalidSubject {
        subject: prefix.to_owned(),
        reason,
    })?;
    if tokens.iter().any(|token| token.contains(['*', '>'])) {
        return Err(BusError::InvalidSubject {
            subject: prefix.to_owned(),
            reason: "a subject prefix cannot contain wildcards",
        });
    }
    Ok(prefix)
}

/// Checks headers given at publish time.
pub(crate) fn validate_headers(headers: &[(String, String)]) -> Result<(), BusError> {
    for (name, value) in headers {
        let invalid = |reason| BusError::InvalidHeader {
            name: name.clone(),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("name is empty"));
        }
        if !name
            .bytes()
            .all(|byte| byte.is_ascii_graphic() && byte != b':')
        {
            return Err(invalid(
                "name must be printable ascii without spaces or colons",
            ));
        }
        if name
            .get(..RESERVED_HEADER_PREFIX.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(RESERVED_HEADER_PREFIX))
        {
            return Err(invalid("names starting with nats- are reserved"));
        }
        if value.contains(['\r', '\n']) {
            return Err(invalid("value cannot contain line breaks"));
        }
    }
    Ok(())
}

/// Checks an event id: 1 to 128 printable ASCII characters without spaces.
pub(crate) fn validate_event_id(id: &str) -> Result<(), BusError> {
    if id.is_empty() || id.len() > MAX_EVENT_ID_LEN {
        return Err(BusError::Invalid {
            what: "event id",
            reason: format!("must be 1 to {MAX_EVENT_ID_LEN} characters long"),
        });
    }
    if !id.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(BusError::Invalid {
            what: "event id",
            reason: "must be printable ascii without spaces".to_owned(),
        });
    }
    Ok(())
}

/// Checks a durable consumer name: letters, digits, `-` and `_`.
pub(crate) fn validate_durable_name(name: &str) -> Result<(), BusError> {
    if is_name(name) {
        Ok(())
    } else {
        Err(BusError::Invalid {
            what: "durable name",
            reason: format!("{name:?} must be non-empty and use only letters, digits, - and _"),
        })
    }
}

/// Whether `name` is non-empty and uses only letters, digits, `-` and `_`.
pub(crate) fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// Checks a subscription spec and returns the service token of each filter, in order.
pub(crate) fn validate_spec(spec: &SubscriptionSpec) -> Result<Vec<&str>, BusError> {
    validate_durable_name(&spec.durable_name)?;
    if spec.subjects.is_empty() {
        return Err(BusError::Invalid {
            what: "subscription",
            reason: "at least one subject filter is required".to_owned(),
        });
    }
    if spec.max_batch == 0 {
        return Err(BusError::Invalid {
            what: "subscription",
            reason: "max_batch must be at least 1".to_owned(),
        });
    }
    if spec.ack_wait.is_zero() {
        return Err(BusError::Invalid {
            what: "subscription",
            reason: "ack_wait must be positive".to_owned(),
        });
    }
    spec.subjects
        .iter()
        .map(|filter| validate_filter(filter))
        .collect()
}

fn split_tokens(subject: &str) -> Result<Vec<&str>, &'static str> {
    if subject.is_empty() {
        return Err("subject is empty");
    }
    if subject
        .chars()
        .any(|character| character.is_whitespace() || character.is_control())
    {
        return Err("subject cannot contain whitespace or control characters");
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    if tokens.iter().any(|token| token.is_empty()) {
        return Err("subject cannot contain empty tokens");
    }
    Ok(tokens)
}

fn service_token<'a>(tokens: &[&'a str]) -> Result<&'a str, &'static str> {
    if tokens.first() != Some(&SUBJECT_ROOT) {
        return Err("the first token must be marketplace");
    }
    match tokens.get(1) {
        Some(service) if is_name(service) => Ok(service),
        _ => Err("the service token must use only letters, digits, - and _"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_subjects_validate() {
        assert_eq!(
            validate_subject("marketplace.ordering.order_submitted").ok(),
            Some("ordering")
        );
        assert!(validate_subject("marketplace.ordering").is_err());
        assert!(validate_subject("other.ordering.x").is_err());
        assert!(validate_subject("marketplace.ordering.*").is_err());
        assert!(validate_subject("marketplace..x").is_err());
        assert!(validate_subject("marketplace.ordering.a b").is_err());
        assert_eq!(
            validate_filter("marketplace.ordering.>").ok(),
            Some("ordering")
        );
        assert_eq!(
            validate_filter("marketplace.ordering.*").ok(),
            Some("ordering")
        );
        assert!(validate_filter("marketplace.*.x").is_err());
        assert!(validate_filter("marketplace.>").is_err());
        assert!(validate_filter("marketplace.ordering.>.x").is_err());
        assert!(validate_filter("marketplace.ordering.x*").is_err());
    }

    #[test]
    fn headers_validate() {
        let ok = vec![("traceparent".to_owned(), "00-ab-cd-01".to_owned())];
        assert!(validate_headers(&ok).is_ok());
        let reserved = vec![("NATS-Msg-Id".to_owned(), "x".to_owned())];
        assert!(validate_headers(&reserved).is_err());
        let broken = vec![("x".to_owned(), "a\r\nb".to_owned())];
        assert!(validate_headers(&broken).is_err());
        let colon = vec![("a:b".to_owned(), "x".to_owned())];
        assert!(validate_headers(&colon).is_err());
    }

    #[test]
    fn prefixes_and_ids_validate() {
        assert_eq!(validate_subject_prefix("").ok(), Some(""));
        assert_eq!(validate_subject_prefix("test-1.").ok(), Some("test-1"));
        assert!(validate_subject_prefix("a.*").is_err());
        assert!(validate_event_id("0190f3c2-7d2e-7c4e-8a3b-1f2e3d4c5b6a").is_ok());
        assert!(validate_event_id("").is_err());
        assert!(validate_event_id("a b").is_err());
        assert!(validate_durable_name("provisioning-from-ordering").is_ok());
        assert!(validate_durable_name("a.b").is_err());
    }
}
