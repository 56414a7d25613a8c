//! W3C trace-context propagation over gRPC metadata / HTTP headers and bus message headers.
//!
//! Becomes a no-op when no global propagator is installed, which is what tests get by default.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct PairsInjector<'a>(&'a mut Vec<(String, String)>);

impl Injector for PairsInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_string(), value));
    }
}

struct PairsExtractor<'a>(&'a [(String, String)]);

impl Extractor for PairsExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// Writes the current span's context into HTTP headers (or gRPC metadata, which are headers).
pub fn inject_headers(headers: &mut http::HeaderMap) {
    let context = Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&context, &mut HeaderInjector(headers))
    });
}

/// Reads a context from HTTP headers.
pub fn extract_headers(headers: &http::HeaderMap) -> Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// The current span's context as `(traceparent, tracestate)` pairs, for events.
pub fn current_pairs() -> Vec<(String, String)> {
    let context = Span::current().context();
    let mut pairs = Vec::new();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&context, &mut PairsInjector(&mut pairs))
    });
    pairs
}

/// Reads a context from key/value pairs (bus headers or event envelope fields).
pub fn extract_pairs(pairs: &[(String, String)]) -> Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&PairsExtractor(pairs)))
}

/// Makes `span` a child of the remote context in `pairs` (if any).
pub fn set_parent_from_pairs(span: &Span, pairs: &[(String, String)]) {
    let _ = span.set_parent(extract_pairs(pairs));
}

/// Makes `span` a child of the remote context in `headers` (if any).
pub fn set_parent_from_headers(span: &Span, headers: &http::HeaderMap) {
    let _ = span.set_parent(extract_headers(headers));
}

/// The W3C `traceparent`/`tracestate` of the current span ("" when not sampled or disabled).
pub fn current_traceparent() -> (String, String) {
    let pairs = current_pairs();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    (get("traceparent"), get("tracestate"))
}
