//! The contract's input limits, in one place: the maximum length of every string field (by the
//! field's meaning, read from its name, with explicit exceptions) and the range of page sizes.
//! Services check every request against them ([`check`]), the gateway checks REST bodies with
//! the same rules before forwarding and writes them into the OpenAPI document (`maxLength`, `minimum`, `maximum`, `format`), and `docs/api-limits.md`
//! lists them.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage, FieldDescriptor, ReflectMessage, Value};

/// Fields with a limit other than their name's rule: (message full name, field, max length).
const EXCEPTIONS: &[(&str, &str, usize)] = &[
    // A whole price list file travels in one field (the gateway's body limit still applies).
    (
        "marketplace.catalog.v1.ImportPriceListRequest",
        "content",
        4 * 1024 * 1024,
    ),
];

/// Largest page a list call serves; `page_size` is between 0 (the default) and this.
pub const MAX_PAGE_SIZE: i64 = 1000;

/// Maximum length, in characters, of string field `field` of message `message` (full name).
pub fn max_length(message: &str, field: &str) -> usize {
    if let Some((_, _, max)) = EXCEPTIONS
        .iter()
        .find(|(m, f, _)| *m == message && *f == field)
    {
        return *max;
    }
    by_name(field)
}

/// The rule by the field's meaning.
fn by_name(field: &str) -> usize {
    let ends = |suffix: &str| field == suffix.trim_start_matches('_') || field.ends_with(suffix);
    if ends("_email") || field == "email" || field == "recipient" {
        254
    } else if ends("_url") || field == "link" {
        2048
    } else if field == "page_token" || field == "next_page_token" || field == "update_mask" {
        2048
    } else if ends("_domain") {
        253
    } else if ends("_id") || ends("_ids") || field == "etag" || ends("_csn") || field == "csn" {
        128
    } else if ends("_code") || field == "locale" {
        35
    } else if field == "phone" {
        32
    } else if ends("name") || ends("_names") || field == "title" || field == "subject" {
        200
    } else if ends("note")
        || ends("text")
        || ends("description")
        || ends("message")
        || ends("reason")
        || field == "body"
        || field == "terms"
        || field == "explanation"
    {
        4000
    } else if field == "query" {
        200
    } else {
        1024
    }
}

/// Limits of a map's keys and values.
const MAP_KEY_MAX: usize = 64;
/// See [`MAP_KEY_MAX`].
const MAP_VALUE_MAX: usize = 1024;

/// A request field over its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Path in proto names, e.g. `customer.contacts[0].email` (what the services name).
    pub field: String,
    /// The same path in proto3 JSON names, e.g. `customer.contacts[0].email` (the REST edge's).
    pub json_field: String,
    /// What is wrong.
    pub description: String,
}

/// A field's path in both namings.
#[derive(Debug, Clone, Default)]
struct Path {
    proto: String,
    json: String,
}

impl Path {
    fn field(&self, field: &FieldDescriptor) -> Self {
        Self {
            proto: format!("{}{}", self.proto, field.name()),
            json: format!("{}{}", self.json, field.json_name()),
        }
    }

    fn suffix(&self, suffix: &str) -> Self {
        Self {
            proto: format!("{}{suffix}", self.proto),
            json: format!("{}{suffix}", self.json),
        }
    }

    fn violation(&self, description: String) -> Violation {
        Violation {
            field: self.proto.clone(),
            json_field: self.json.clone(),
            description,
        }
    }
}

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(crate::FILE_DESCRIPTOR_SET)
            .expect("the compiled-in descriptor set decodes")
    })
}

/// Checks `message` against the limits; empty when it is within them.
pub fn check<T: prost::Message + prost::Name>(message: &T) -> Vec<Violation> {
    let Some(descriptor) = pool().get_message_by_name(&T::full_name()) else {
        return Vec::new();
    };
    let Ok(dynamic) = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(&dynamic, &Path::default(), &mut out);
    out
}

fn walk(message: &DynamicMessage, prefix: &Path, out: &mut Vec<Violation>) {
    let name = message.descriptor().full_name().to_string();
    for (field, value) in message.fields() {
        let path = prefix.field(&field);
        check_value(&name, &field, value, &path, out);
    }
}

fn check_value(
    message: &str,
    field: &FieldDescriptor,
    value: &Value,
    path: &Path,
    out: &mut Vec<Violation>,
) {
    match value {
        Value::String(s) => {
            let max = max_length(message, field.name());
            let length = s.chars().count();
            if length > max {
                out.push(path.violation(format!("at most {max} characters (got {length})")));
            }
        }
        Value::I32(n) if field.name() == "page_size" => page_size(i64::from(*n), path, out),
        Value::I64(n) if field.name() == "page_size" => page_size(*n, path, out),
        Value::Message(m) => walk(m, &path.suffix("."), out),
        Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                check_value(message, field, item, &path.suffix(&format!("[{i}]")), out);
            }
        }
        Value::Map(entries) => {
            for (key, item) in entries {
                let key = key.as_str().unwrap_or_default();
                if key.chars().count() > MAP_KEY_MAX {
                    out.push(path.violation(format!("keys are at most {MAP_KEY_MAX} characters")));
                }
                let entry = path.suffix(&format!(".{key}"));
                if let Value::String(s) = item
                    && s.chars().count() > MAP_VALUE_MAX
                {
                    out.push(entry.violation(format!("at most {MAP_VALUE_MAX} characters")));
                } else if let Value::Message(m) = item {
                    walk(m, &entry.suffix("."), out);
                }
            }
        }
        _ => {}
    }
}

fn page_size(n: i64, path: &Path, out: &mut Vec<Violation>) {
    if !(0..=MAX_PAGE_SIZE).contains(&n) {
        out.push(path.violation(format!("must be between 0 and {MAX_PAGE_SIZE}")));
    }
}

/// The shape of a scalar field, for [`openapi_keywords`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    /// A string.
    String,
    /// An integer.
    Integer,
    /// Anything else (no limits).
    Other,
}

/// The limits of a field as OpenAPI keywords (for the gateway's document): `maxLength` for
/// strings, `format: email` for e-mails (the services check the address), `minimum`/`maximum`
/// for page sizes.
pub fn openapi_keywords(
    message: &str,
    field: &str,
    scalar: Scalar,
) -> Vec<(&'static str, serde_json::Value)> {
    let mut out = Vec::new();
    match scalar {
        Scalar::String => {
            out.push(("maxLength", max_length(message, field).into()));
            if field == "email" || field.ends_with("_email") {
                out.push(("format", "email".into()));
            }
        }
        Scalar::Integer if field == "page_size" => {
            out.push(("minimum", 0.into()));
            out.push(("maximum", MAX_PAGE_SIZE.into()));
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ordering::v1 as pb;

    #[test]
    fn names_decide_limits_with_explicit_exceptions() {
        assert_eq!(max_length("x", "notification_email"), 254);
        assert_eq!(max_length("x", "customer_id"), 128);
        assert_eq!(max_length("x", "name"), 200);
        assert_eq!(max_length("x", "first_name"), 200);
        assert_eq!(max_length("x", "note"), 4000);
        assert_eq!(max_length("x", "portal_url"), 2048);
        assert_eq!(
            max_length("marketplace.catalog.v1.ImportPriceListRequest", "content"),
            4 * 1024 * 1024
        );
    }

    #[test]
    fn a_long_nested_field_is_named_by_its_path() {
        let request = pb::CreateCustomerRequest {
            customer: Some(pb::Customer {
                name: "x".repeat(300_000),
                contacts: vec![pb::Contact {
                    email: format!("{}@example.com", "a".repeat(300)),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        };
        let violations = check(&request);
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            ["customer.name", "customer.contacts[0].email"],
            "{violations:?}"
        );
        assert!(check(&pb::CreateCustomerRequest::default()).is_empty());
    }

    #[test]
    fn page_sizes_are_bounded() {
        let request = pb::ListOrdersRequest {
            page_size: 5000,
            ..Default::default()
        };
        assert_eq!(check(&request)[0].json_field, "pageSize");
    }
}
