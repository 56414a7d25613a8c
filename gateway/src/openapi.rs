//! The OpenAPI 3.1 document served at `/openapi.json`, generated from the same descriptor model
//! as the REST routes, so it lists exactly the operations the gateway serves with their canonical
//! JSON schemas.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use marketplace_proto::limits::{self, Scalar};
use marketplace_proto::webhooks::WEBHOOK_EVENT_TYPES;

use crate::descriptor::{Api, FieldInfo, FieldKind};
use crate::rest::Route;

/// The document.
pub(crate) fn document(api: &Api, routes: &[Route]) -> Value {
    let mut paths = Map::new();
    let mut referenced = BTreeSet::new();
    let mut ordered: Vec<&Route> = routes.iter().collect();
    ordered.sort_by(|a, b| {
        a.pattern
            .cmp(&b.pattern)
            .then(a.method.as_str().cmp(b.method.as_str()))
    });
    for route in ordered {
        let Some(method) = api.method(&route.grpc_path) else {
            continue;
        };
        let Some(binding) = method.http.as_ref() else {
            continue;
        };
        let service_short = method.service.rsplit('.').next().unwrap_or_default();
        let vars = route.template.variables();
        let mut parameters: Vec<Value> = vars
            .iter()
            .map(|v| json!({"name": v, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let input = api.message(&method.input);
        if binding.body != "*"
            && let Some(input) = input
        {
            for field in &input.fields {
                if vars.contains(&field.name.as_str())
                    || field.name == binding.body
                    || !queryable(field)
                {
                    continue;
                }
                let schema = field_schema(api, &method.input, field, &mut referenced);
                parameters.push(json!({"name": field.json_name, "in": "query", "required": false, "description": field.comment, "schema": schema}));
            }
        }
        if binding.method == http::Method::POST {
            parameters.push(json!({
                "name": "Idempotency-Key", "in": "header", "required": false,
                "description": "Makes the POST safe to retry: a retry with the same key returns the first response; the same key with a different request is refused (422).",
                "schema": {"type": "string", "maxLength": 255}
            }));
        }
        let has_etag = input.is_some_and(|m| {
            m.field("etag").is_some()
                || m.field(&binding.body)
                    .and_then(|f| api.message(&f.type_name))
                    .is_some_and(|b| b.field("etag").is_some())
        });
        if method.server_streaming && input.is_some_and(|m| m.field("after_version").is_some()) {
            parameters.push(json!({"name": "Last-Event-ID", "in": "header", "required": false, "description": "Resume after this event id (the `version` of the last update received).", "schema": {"type": "string"}}));
        }
        if has_etag {
            parameters.push(json!({"name": "If-Match", "in": "header", "required": false, "description": "ETag of the version being changed (optimistic concurrency).", "schema": {"type": "string"}}));
        }
        let mut operation = json!({
            "operationId": format!("{service_short}_{}", method.name),
            "tags": [service_short],
            "summary": method.comment,
            "parameters": parameters,
            "security": [{"bearerAuth": []}, {"apiKey": []}],
            "responses": {
                "default": {"description": "Error", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            }
        });
        let ok = if method.server_streaming {
            referenced.insert(method.output.clone());
            json!({"description": format!("Server-Sent Events: each `data:` is a JSON {}; an `error` event carries a problem; `end` closes the stream.", method.output),
                   "content": {"text/event-stream": {"schema": {"type": "string"}, "x-event-data": reference(&method.output)}}})
        } else {
            referenced.insert(method.output.clone());
            json!({"description": "OK", "content": {"application/json": {"schema": reference(&method.output)}}})
        };
        operation["responses"]["200"] = ok;
        let body_schema = match binding.body.as_str() {
            "" => None,
            "*" => Some(method.input.clone()),
            field => input
                .and_then(|m| m.field(field))
                .map(|f| f.type_name.clone()),
        };
        if let Some(schema) = body_schema {
            referenced.insert(schema.clone());
            operation["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": reference(&schema)}}});
        }
        let path_item = paths
            .entry(route.template.openapi_path())
            .or_insert_with(|| Value::Object(Map::new()));
        path_item[route.method.as_str().to_ascii_lowercase()] = operation;
    }
    for (path, summary) in [
        ("/health/livez", "Liveness: the process is up."),
        (
            "/health/readyz",
            "Readiness: the gateway can serve (database reachable, not shutting down).",
        ),
        ("/openapi.json", "This document."),
    ] {
        paths.insert(
            path.to_string(),
            json!({"get": {"operationId": path.trim_start_matches('/').replace(['/', '.'], "_"), "tags": ["System"], "summary": summary, "security": [],
                   "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
                                 "default": {"description": "Error", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}}}),
        );
    }
    // Webhook payloads are described from the event messages their `data` carries.
    referenced.extend(WEBHOOK_EVENT_TYPES.iter().map(|t| t.payload.to_string()));
    let mut schemas = Map::new();
    let mut pending: Vec<String> = referenced.into_iter().collect();
    let mut done = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !done.insert(name.clone()) || wkt(&name).is_some() {
            continue;
        }
        let Some(message) = api.message(&name) else {
            continue;
        };
        let mut nested = BTreeSet::new();
        let mut properties = Map::new();
        for field in &message.fields {
            let mut schema = field_schema(api, &name, field, &mut nested);
            if !field.comment.is_empty()
                && let Some(object) = schema.as_object_mut()
            {
                object.insert("description".into(), Value::String(field.comment.clone()));
            }
            properties.insert(field.json_name.clone(), schema);
        }
        let mut schema =
            json!({"type": "object", "properties": properties, "additionalProperties": false});
        let required: Vec<Value> = api
            .always_present_lists(&name)
            .into_iter()
            .map(|f| Value::String(f.json_name.clone()))
            .collect();
        if !required.is_empty() {
            schema["required"] = Value::Array(required);
        }
        if !message.comment.is_empty() {
            schema["description"] = Value::String(message.comment.clone());
        }
        schemas.insert(name, schema);
        pending.extend(nested.into_iter().filter(|n| !done.contains(n)));
    }
    schemas.insert(
        "Problem".into(),
        json!({
            "type": "object",
            "description": "RFC 9457 problem details.",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string", "format": "uri"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}, "description": {"type": "string"}}}},
                "rule": {"type": "string"},
                "retryAfter": {"type": "integer"}
            }
        }),
    );
    let webhooks = webhooks(&mut schemas);
    let document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Marketplace API",
            "version": "v1",
            "description": "REST/JSON API of the cloud-software marketplace. Canonical proto3 JSON (lowerCamelCase, int64 as strings, RFC 3339 timestamps in UTC with `Z`); the lists of every `…Response` are always present (an empty list is `[]`); errors are RFC 9457 problems; every POST accepts an Idempotency-Key. Authenticate with `Authorization: Bearer <JWT>` or with an API key (`mk_…`), sent as `X-Api-Key: mk_…` or as `Authorization: Bearer mk_…`."
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "webhooks": webhooks,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT or API key (mk_…)",
                               "description": "A JWT, or an API key: a bearer credential starting with `mk_` is verified as an API key."},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key",
                           "description": "An API key (`mk_…`); the same key is also accepted as `Authorization: Bearer mk_…`."}
            }
        }
    });
    with_enums(api, document)
}

/// The `webhooks` section: one entry per public event type (the vocabulary of
/// [`marketplace_proto::webhooks`]), each a signed POST whose `data` holds the event's ids and
/// the fields of its event message. Endpoint filters (`WebhookEndpoint.eventTypes`) are limited
/// to the same names.
fn webhooks(schemas: &mut Map<String, Value>) -> Value {
    let names: Vec<String> = WEBHOOK_EVENT_TYPES
        .iter()
        .map(|t| format!("`{}`", t.name))
        .collect();
    if let Some(filter) = schemas
        .get_mut("marketplace.notification.v1.WebhookEndpoint")
        .and_then(|s| s.pointer_mut("/properties/eventTypes"))
    {
        filter["description"] = Value::String(format!(
            "Event types to send (empty = all); the names of the `webhooks` section: {}.",
            names.join(", ")
        ));
    }
    let ids = [
        ("eventId", "Event id (also the `webhook-id` header)."),
        ("resellerId", "Reseller the event belongs to."),
        (
            "customerId",
            "Customer the event concerns (empty when none).",
        ),
    ];
    let headers = json!([
        {"name": "webhook-id", "in": "header", "required": true, "description": "Event id, stable across retries and replays.", "schema": {"type": "string"}},
        {"name": "webhook-timestamp", "in": "header", "required": true, "description": "Unix seconds of this attempt.", "schema": {"type": "string"}},
        {"name": "webhook-signature", "in": "header", "required": true, "description": "Standard Webhooks signature(s) `v1,<base64 HMAC-SHA256>` of `<id>.<timestamp>.<body>`, space separated during a secret rotation.", "schema": {"type": "string"}}
    ]);
    let mut out = Map::new();
    let test = marketplace_proto::webhooks::TEST_EVENT_TYPE;
    let listed = WEBHOOK_EVENT_TYPES
        .iter()
        .map(|t| (t.name, t.payload, t.summary))
        .chain([(test, "", "A test event sent by SendTestWebhook.")]);
    for (name, payload, summary) in listed {
        let data = if payload.is_empty() {
            json!({"type": "object", "properties": {"test": {"type": "boolean"}, "endpointId": {"type": "string"}}})
        } else {
            let mut properties = schemas
                .get(payload)
                .and_then(|s| s.get("properties"))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for (id, description) in ids {
                properties.insert(
                    id.into(),
                    json!({"type": "string", "description": description}),
                );
            }
            json!({"type": "object", "required": ["eventId", "resellerId", "customerId"], "properties": properties,
                   "description": format!("The event's ids and the fields of {payload} (proto3 JSON).")})
        };
        out.insert(
            name.to_string(),
            json!({"post": {
                "operationId": format!("webhook_{}", name.replace('.', "_")),
                "tags": ["Webhooks"],
                "summary": summary,
                "parameters": headers,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object",
                    "required": ["type", "timestamp", "data"],
                    "properties": {
                        "type": {"type": "string", "const": name},
                        "timestamp": wkt("google.protobuf.Timestamp"),
                        "data": data
                    }
                }}}},
                "responses": {"2XX": {"description": "Acknowledged; anything else is retried with backoff."}}
            }}),
        );
    }
    Value::Object(out)
}

fn reference(name: &str) -> Value {
    wkt(name).unwrap_or_else(|| json!({"$ref": format!("#/components/schemas/{name}")}))
}

fn wkt(name: &str) -> Option<Value> {
    Some(match name {
        "google.protobuf.Timestamp" => {
            json!({"type": "string", "format": "date-time", "pattern": "Z$",
            "description": "RFC 3339 in UTC with `Z`, e.g. `2026-12-06T21:00:00Z` (fractional seconds when not whole)."})
        }
        "google.protobuf.Duration" => {
            json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$"})
        }
        "google.protobuf.Empty" => json!({"type": "object"}),
        "google.protobuf.Struct" => json!({"type": "object"}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.FieldMask" => json!({"type": "string"}),
        "google.protobuf.StringValue" | "google.protobuf.BytesValue" => json!({"type": "string"}),
        "google.protobuf.BoolValue" => json!({"type": "boolean"}),
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => json!({"type": "integer"}),
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => {
            json!({"type": "string", "format": "int64"})
        }
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => json!({"type": "number"}),
        _ => return None,
    })
}

fn queryable(field: &FieldInfo) -> bool {
    field.kind != FieldKind::Message || field.type_name == "google.protobuf.Timestamp"
}

/// Adds the contract's input limits (`marketplace_proto::limits`) to a scalar's schema.
fn with_limits(mut schema: Value, message: &str, field: &FieldInfo) -> Value {
    let scalar = match field.kind {
        FieldKind::String => Scalar::String,
        FieldKind::Int32 | FieldKind::Int64 | FieldKind::UInt32 | FieldKind::UInt64 => {
            Scalar::Integer
        }
        _ => Scalar::Other,
    };
    if let Some(object) = schema.as_object_mut() {
        for (keyword, value) in limits::openapi_keywords(message, &field.name, scalar) {
            object.insert(keyword.into(), value);
        }
    }
    schema
}

fn scalar_schema(kind: FieldKind) -> Value {
    match kind {
        FieldKind::Double | FieldKind::Float => json!({"type": "number"}),
        FieldKind::Int64 | FieldKind::UInt64 => json!({"type": "string", "format": "int64"}),
        FieldKind::Int32 | FieldKind::UInt32 => json!({"type": "integer", "format": "int32"}),
        FieldKind::Bool => json!({"type": "boolean"}),
        FieldKind::Bytes => json!({"type": "string", "format": "byte"}),
        _ => json!({"type": "string"}),
    }
}

/// The schema of a field: map entries and enums are inlined, messages referenced.
fn field_schema(
    api: &Api,
    message: &str,
    field: &FieldInfo,
    referenced: &mut BTreeSet<String>,
) -> Value {
    let single = match field.kind {
        FieldKind::Enum => json!({"type": "string", "x-proto-enum": field.type_name}),
        FieldKind::Message => {
            if let Some(known) = wkt(&field.type_name) {
                known
            } else if let Some(entry) = api.message(&field.type_name).filter(|m| m.map_entry) {
                let value = entry
                    .field("value")
                    .map(|v| field_schema(api, &field.type_name, v, referenced))
                    .unwrap_or_else(|| json!({}));
                return json!({"type": "object", "additionalProperties": value});
            } else {
                referenced.insert(field.type_name.clone());
                reference(&field.type_name)
            }
        }
        kind => with_limits(scalar_schema(kind), message, field),
    };
    if field.repeated {
        json!({"type": "array", "items": single})
    } else {
        single
    }
}

/// Fills enum values in (a second pass, where the enum table is at hand).
fn with_enums(api: &Api, mut document: Value) -> Value {
    fn walk(api: &Api, value: &mut Value) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(name)) = map.remove("x-proto-enum")
                    && let Some(values) = api.enums.get(&name)
                {
                    map.insert(
                        "enum".into(),
                        Value::Array(
                            values
                                .iter()
                                .map(|(n, _)| Value::String(n.clone()))
                                .collect(),
                        ),
                    );
                }
                for child in map.values_mut() {
                    walk(api, child);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| walk(api, i)),
            _ => {}
        }
    }
    walk(api, &mut document);
    document
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> Api {
        Api::decode(marketplace_proto::FILE_DESCRIPTOR_SET).expect("descriptor decodes")
    }

    #[test]
    fn every_webhook_type_is_described_with_its_payload_fields() {
        let api = api();
        let document = document(&api, &[]);
        let webhooks = document["webhooks"].as_object().expect("webhooks");
        assert_eq!(webhooks.len(), WEBHOOK_EVENT_TYPES.len() + 1);
        for t in WEBHOOK_EVENT_TYPES {
            let body =
                &webhooks[t.name]["post"]["requestBody"]["content"]["application/json"]["schema"];
            assert_eq!(body["properties"]["type"]["const"], t.name);
            let data = body["properties"]["data"]["properties"]
                .as_object()
                .expect("data properties");
            let message = api.message(t.payload).expect("payload message");
            for field in &message.fields {
                assert!(
                    data.contains_key(&field.json_name),
                    "{}: {}",
                    t.name,
                    field.json_name
                );
            }
            assert!(data.contains_key("eventId"));
        }
    }

    /// docs/webhooks.md documents every type and every field of its `data`.
    #[test]
    fn the_webhook_guide_documents_every_type_and_field() {
        let api = api();
        let guide =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/webhooks.md"))
                .expect("docs/webhooks.md");
        for t in WEBHOOK_EVENT_TYPES {
            let row = guide
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", t.name)))
                .unwrap_or_else(|| panic!("docs/webhooks.md has a row for {}", t.name));
            let same_as = row
                .split("as `")
                .nth(1)
                .and_then(|rest| rest.split('`').next())
                .and_then(|other| {
                    guide
                        .lines()
                        .find(|l| l.starts_with(&format!("| `{other}` |")))
                });
            let documented = same_as.unwrap_or(row);
            for field in &api.message(t.payload).expect("payload").fields {
                assert!(
                    documented.contains(&format!("`{}`", field.json_name)),
                    "docs/webhooks.md: {} lacks `{}`",
                    t.name,
                    field.json_name
                );
            }
        }
    }

    #[test]
    fn security_schemes_accept_api_keys_both_ways() {
        let document = document(&api(), &[]);
        let schemes = &document["components"]["securitySchemes"];
        assert!(
            schemes["bearerAuth"]["description"]
                .as_str()
                .unwrap()
                .contains("mk_")
        );
        assert_eq!(schemes["apiKey"]["name"], "X-Api-Key");
        let filter = &document["components"]["schemas"]["marketplace.notification.v1.WebhookEndpoint"]
            ["properties"]["eventTypes"]["items"]["enum"];
        assert!(
            filter
                .as_array()
                .is_none_or(|names| names.len() == WEBHOOK_EVENT_TYPES.len())
        );
    }
}
