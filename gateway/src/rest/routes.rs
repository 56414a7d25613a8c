//! Matching request paths against `google.api.http` templates, including a variable followed
//! by a custom verb in the same segment (`/v1/carts/{cart_id}:checkout`), which axum's router
//! cannot express.

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// A literal segment, e.g. `carts` or `plans:lookup`.
    Literal(String),
    /// A variable bound to a (possibly nested) request field, with an optional literal suffix.
    Variable { field: String, suffix: String },
}

/// A compiled path template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    segments: Vec<Segment>,
    /// Higher is more specific; more specific templates are tried first.
    specificity: usize,
}

impl Template {
    /// Compiles `/v1/plans/{plan_id}` style templates.
    pub(crate) fn parse(template: &str) -> Option<Self> {
        let mut segments = Vec::new();
        for part in template.strip_prefix('/')?.split('/') {
            if let Some(rest) = part.strip_prefix('{') {
                let (inner, suffix) = rest.split_once('}')?;
                let field = inner.split('=').next()?.to_string();
                segments.push(Segment::Variable {
                    field,
                    suffix: suffix.to_string(),
                });
            } else {
                segments.push(Segment::Literal(part.to_string()));
            }
        }
        let specificity = segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => 2 * l.len() + 1000,
                Segment::Variable { suffix, .. } => 2 * suffix.len(),
            })
            .sum();
        Some(Self {
            segments,
            specificity,
        })
    }

    /// Specificity for ordering.
    pub(crate) fn specificity(&self) -> usize {
        self.specificity
    }

    /// The variables of a matching path, as `(field path, decoded value)`.
    #[cfg(test)]
    pub(crate) fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        self.matches_parts(&split_path(path)?)
    }

    /// Like [`Self::matches`] over a path already split with [`split_path`].
    pub(crate) fn matches_parts(&self, parts: &[&str]) -> Option<Vec<(String, String)>> {
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut vars = Vec::new();
        for (segment, part) in self.segments.iter().zip(parts.iter().copied()) {
            match segment {
                Segment::Literal(literal) => {
                    if literal != part {
                        return None;
                    }
                }
                Segment::Variable { field, suffix } => {
                    let value = part.strip_suffix(suffix.as_str())?;
                    if value.is_empty() {
                        return None;
                    }
                    vars.push((field.clone(), percent_decode(value)?));
                }
            }
        }
        Some(vars)
    }

    /// The variable field paths, in order.
    pub(crate) fn variables(&self) -> Vec<&str> {
        self.segments
            .iter()
            .filter_map(|s| match s {
                Segment::Variable { field, .. } => Some(field.as_str()),
                Segment::Literal(_) => None,
            })
            .collect()
    }

    /// The OpenAPI path (`{plan.id}` variables keep their field path as the parameter name).
    pub(crate) fn openapi_path(&self) -> String {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => format!("/{l}"),
                Segment::Variable { field, suffix } => format!("/{{{field}}}{suffix}"),
            })
            .collect()
    }
}

/// The segments of a request path (`None` unless it starts with `/`).
pub(crate) fn split_path(path: &str) -> Option<Vec<&str>> {
    Some(path.strip_prefix('/')?.split('/').collect())
}

/// Decodes `%XX` escapes; `None` for malformed escapes or invalid UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_verbs_and_nested_fields() {
        let checkout = Template::parse("/v1/carts/{cart_id}:checkout").unwrap();
        let get = Template::parse("/v1/carts/{cart_id}").unwrap();
        assert_eq!(
            checkout.matches("/v1/carts/c1:checkout").unwrap(),
            vec![("cart_id".to_string(), "c1".to_string())]
        );
        assert!(checkout.matches("/v1/carts/c1").is_none());
        assert!(checkout.matches("/v1/carts/:checkout").is_none());
        assert!(checkout.specificity() > get.specificity());
        let patch = Template::parse("/v1/plans/{plan.id}").unwrap();
        assert_eq!(
            patch.matches("/v1/plans/a%20b").unwrap()[0],
            ("plan.id".to_string(), "a b".to_string())
        );
        assert!(patch.matches("/v1/plans/%zz").is_none());
        let lookup = Template::parse("/v1/plans:lookup").unwrap();
        assert!(lookup.matches("/v1/plans:lookup").is_some());
        assert_eq!(checkout.openapi_path(), "/v1/carts/{cart_id}:checkout");
    }
}
