//! Builds the JSON of a gRPC request message from a REST request, per its `google.api.http`
//! binding: the body (whole or one field), path variables and query parameters (typed by the
//! descriptor, so `pageSize=10` becomes a number and `unreadOnly=true` a boolean). Unknown query
//! parameters and malformed JSON are refused with a problem naming them.

use serde_json::{Map, Value};

use crate::descriptor::{Api, FieldKind, HttpBinding, MessageInfo, MethodInfo};
use crate::problem::Problem;

/// Inputs of one REST call.
pub(crate) struct RestInput<'a> {
    pub(crate) path_vars: Vec<(String, String)>,
    pub(crate) query: Option<&'a str>,
    pub(crate) body: &'a [u8],
    /// `If-Match` value (without quotes) to set as the request's etag.
    pub(crate) if_match: Option<String>,
    /// `Idempotency-Key` to use as the request id when the client did not set one.
    pub(crate) request_id: Option<String>,
    /// SSE `Last-Event-ID` of a reconnecting stream, resumed via the request's `after_version`.
    pub(crate) last_event_id: Option<String>,
}

/// The request message as JSON.
pub(crate) fn build(
    api: &Api,
    method: &MethodInfo,
    binding: &HttpBinding,
    input: RestInput<'_>,
) -> Result<Value, Problem> {
    let message = api
        .message(&method.input)
        .ok_or_else(|| Problem::invalid("body", "unknown request type"))?;
    let mut root = Map::new();
    // Top-level fields sent in a resource body (for the implied update mask, AIP-134).
    let mut body_fields: Vec<String> = Vec::new();
    match binding.body.as_str() {
        "" => {}
        "*" => {
            if let Some(body) = parse_body(input.body)? {
                root = object(body, "body")?;
            }
        }
        field => {
            if let Some(body) = parse_body(input.body)? {
                let info = message
                    .field(field)
                    .ok_or_else(|| Problem::invalid(field, "unknown body field"))?;
                let body = object(body, "body")?;
                if let Some(resource) = api.message(&info.type_name) {
                    body_fields = body
                        .keys()
                        .filter_map(|key| resource.field(key))
                        .map(|f| f.name.clone())
                        .filter(|name| name != "etag" && name != "id")
                        .collect();
                }
                root.insert(info.json_name.clone(), Value::Object(body));
            }
        }
    }
    for (path, value) in &input.path_vars {
        set_path(
            api,
            message,
            &mut root,
            path,
            Value::String(value.clone()),
            false,
        )?;
    }
    if let Some(query) = input.query {
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if binding.body == "*" {
                return Err(Problem::invalid(
                    &key,
                    "unknown query parameter (this operation takes a JSON body)",
                ));
            }
            // `/v1/orders/A?orderId=B` must not act on B: the path names the resource.
            if input
                .path_vars
                .iter()
                .any(|(path, _)| snake(path) == snake(&key))
            {
                return Err(Problem::invalid(&key, "is set by the URL path"));
            }
            set_path(
                api,
                message,
                &mut root,
                &key,
                Value::String(value.into_owned()),
                true,
            )?;
        }
    }
    // AIP-134: an update without an explicit mask changes only the fields it sends, so a PATCH
    // of `{"autodeskPartnerCsn": …}` never wipes the other fields of the resource.
    if let Some(mask) = message.field("update_mask")
        && !body_fields.is_empty()
        && !root.contains_key(&mask.json_name)
        && !root.contains_key(&mask.name)
    {
        root.insert(
            mask.json_name.clone(),
            Value::Array(body_fields.into_iter().map(Value::String).collect()),
        );
    }
    if let Some(etag) = input.if_match {
        set_etag(api, message, binding, &mut root, etag);
    }
    if let Some(last) = input.last_event_id
        && let Some(field) = message.field("after_version")
        && !root.contains_key(&field.json_name)
        && !root.contains_key(&field.name)
    {
        let version: i64 = last.trim().parse().map_err(|_| {
            Problem::invalid("Last-Event-ID", "must be an event id sent by this stream")
        })?;
        root.insert(field.json_name.clone(), Value::String(version.to_string()));
    }
    if let Some(request_id) = input.request_id
        && let Some(field) = message.field("request_id")
    {
        let current = root.get(&field.json_name).or_else(|| root.get(&field.name));
        if current.is_none_or(|v| v.as_str().is_some_and(str::is_empty)) {
            root.remove(&field.name);
            root.insert(field.json_name.clone(), Value::String(request_id));
        }
    }
    Ok(Value::Object(root))
}

/// A field path in proto spelling: `cartId` → `cart_id`, `plan.id` stays `plan.id`.
fn snake(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn parse_body(body: &[u8]) -> Result<Option<Value>, Problem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| Problem::invalid("body", format!("malformed JSON: {e}")))
}

fn object(value: Value, what: &str) -> Result<Map<String, Value>, Problem> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(Problem::invalid(what, "must be a JSON object")),
    }
}

/// Sets a dotted field path; query values are coerced to the field's JSON type.
fn set_path(
    api: &Api,
    message: &MessageInfo,
    root: &mut Map<String, Value>,
    path: &str,
    value: Value,
    from_query: bool,
) -> Result<(), Problem> {
    let unknown = || {
        Problem::invalid(
            path,
            if from_query {
                "unknown query parameter"
            } else {
                "unknown path variable"
            },
        )
    };
    let parts: Vec<&str> = path.split('.').collect();
    let mut current_message = message;
    let mut current = root;
    for (i, part) in parts.iter().enumerate() {
        let field = current_message.field(part).ok_or_else(unknown)?;
        let last = i + 1 == parts.len();
        if last {
            if field.kind == FieldKind::Message
                && field.type_name != "google.protobuf.Timestamp"
                && field.type_name != "google.protobuf.Duration"
            {
                return Err(unknown());
            }
            let value = if from_query {
                coerce(field.kind, value, path)?
            } else {
                value
            };
            if field.name != field.json_name
                && let Some(existing) = current.remove(&field.name)
            {
                current.insert(field.json_name.clone(), existing);
            }
            if field.repeated {
                // `updateMask=name,contacts` is the usual field-mask spelling in a query.
                let values = match value {
                    Value::String(text) if from_query && field.name.ends_with("_mask") => text
                        .split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(|p| Value::String(p.to_string()))
                        .collect(),
                    other => vec![other],
                };
                let entry = current
                    .entry(field.json_name.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                match entry {
                    Value::Array(items) => items.extend(values),
                    other => *other = Value::Array(values),
                }
            } else {
                current.insert(field.json_name.clone(), value);
            }
            return Ok(());
        }
        if field.kind != FieldKind::Message || field.repeated {
            return Err(unknown());
        }
        current_message = api.message(&field.type_name).ok_or_else(unknown)?;
        if field.name != field.json_name
            && let Some(existing) = current.remove(&field.name)
        {
            current.entry(field.json_name.clone()).or_insert(existing);
        }
        let entry = current
            .entry(field.json_name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if entry.is_null() {
            *entry = Value::Object(Map::new());
        }
        current = entry
            .as_object_mut()
            .ok_or_else(|| Problem::invalid(path, "must be a JSON object"))?;
    }
    Err(unknown())
}

fn coerce(kind: FieldKind, value: Value, name: &str) -> Result<Value, Problem> {
    let Value::String(text) = value else {
        return Ok(value);
    };
    Ok(match kind {
        FieldKind::Bool => match text.as_str() {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(Problem::invalid(name, "must be true or false")),
        },
        FieldKind::Int32 | FieldKind::UInt32 => {
            let n: i64 = text
                .parse()
                .map_err(|_| Problem::invalid(name, "must be an integer"))?;
            Value::from(n)
        }
        FieldKind::Int64 | FieldKind::UInt64 => {
            text.parse::<i128>()
                .map_err(|_| Problem::invalid(name, "must be an integer"))?;
            Value::String(text)
        }
        FieldKind::Double | FieldKind::Float => {
            let n: f64 = text
                .parse()
                .map_err(|_| Problem::invalid(name, "must be a number"))?;
            serde_json::Number::from_f64(n)
                .map(Value::Number)
                .ok_or_else(|| Problem::invalid(name, "must be a finite number"))?
        }
        FieldKind::String | FieldKind::Bytes | FieldKind::Enum | FieldKind::Message => {
            Value::String(text)
        }
    })
}

/// `If-Match` sets the top-level `etag`, or the body message's `etag` (`customer.etag`).
fn set_etag(
    api: &Api,
    message: &MessageInfo,
    binding: &HttpBinding,
    root: &mut Map<String, Value>,
    etag: String,
) {
    if let Some(field) = message.field("etag") {
        root.remove(&field.name);
        root.insert(field.json_name.clone(), Value::String(etag));
        return;
    }
    let Some(body_field) = message.field(&binding.body) else {
        return;
    };
    let Some(body_message) = api.message(&body_field.type_name) else {
        return;
    };
    if let Some(etag_field) = body_message.field("etag") {
        let entry = root
            .entry(body_field.json_name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(object) = entry.as_object_mut() {
            object.remove(&etag_field.name);
            object.insert(etag_field.json_name.clone(), Value::String(etag));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> Api {
        Api::decode(marketplace_proto::FILE_DESCRIPTOR_SET).unwrap()
    }

    fn input<'a>(vars: &[(&str, &str)], query: Option<&'a str>, body: &'a [u8]) -> RestInput<'a> {
        RestInput {
            path_vars: vars
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            query,
            body,
            if_match: None,
            request_id: None,
            last_event_id: None,
        }
    }

    #[test]
    fn query_parameters_are_typed_and_unknown_ones_refused() {
        let api = api();
        let method = api
            .method("/marketplace.ordering.v1.OrderService/ListOrders")
            .unwrap();
        let binding = method.http.clone().unwrap();
        let json = build(&api, method, &binding, input(&[], Some("pageSize=10&statuses=ORDER_STATUS_DRAFT&statuses=ORDER_STATUS_COMPLETED&view=ORDER_VIEW_RECENT"), b"")).unwrap();
        assert_eq!(json["pageSize"], 10);
        assert_eq!(json["statuses"].as_array().unwrap().len(), 2);
        let request: marketplace_proto::ordering::v1::ListOrdersRequest =
            serde_json::from_value(json).unwrap();
        assert_eq!(request.page_size, 10);
        let error = build(&api, method, &binding, input(&[], Some("bogus=1"), b"")).unwrap_err();
        assert_eq!(error.errors[0].field, "bogus");
        assert!(
            build(
                &api,
                method,
                &binding,
                input(&[], Some("pageSize=ten"), b"")
            )
            .is_err()
        );
    }

    #[test]
    fn a_query_parameter_cannot_override_the_path() {
        let api = api();
        let method = api
            .method("/marketplace.ordering.v1.OrderService/GetOrder")
            .unwrap();
        let binding = method.http.clone().unwrap();
        let error = build(
            &api,
            method,
            &binding,
            input(&[("order_id", "A")], Some("orderId=B"), b""),
        )
        .unwrap_err();
        assert!(error.detail.contains("orderId"), "{}", error.detail);
        assert!(
            build(
                &api,
                method,
                &binding,
                input(&[("order_id", "A")], None, b"")
            )
            .is_ok()
        );
    }

    #[test]
    fn body_field_path_variables_and_if_match() {
        let api = api();
        let method = api
            .method("/marketplace.ordering.v1.CustomerService/UpdateCustomer")
            .unwrap();
        let binding = method.http.clone().unwrap();
        let mut rest = input(
            &[("customer.id", "c1")],
            Some("updateMask=name,contacts&updateMask=address"),
            br#"{"name":"Contoso","id":"ignored"}"#,
        );
        rest.if_match = Some("v7".into());
        let json = build(&api, method, &binding, rest).unwrap();
        let request: marketplace_proto::ordering::v1::UpdateCustomerRequest =
            serde_json::from_value(json).unwrap();
        let customer = request.customer.unwrap();
        assert_eq!(customer.id, "c1");
        assert_eq!(customer.etag, "v7");
        assert_eq!(customer.name, "Contoso");
        assert_eq!(request.update_mask, ["name", "contacts", "address"]);
        let error = build(
            &api,
            method,
            &binding,
            input(&[("customer.id", "c1")], None, b"{not json"),
        )
        .unwrap_err();
        assert!(error.detail.contains("malformed JSON"), "{}", error.detail);
    }

    #[test]
    fn checkout_takes_the_idempotency_key_as_request_id() {
        let api = api();
        let method = api
            .method("/marketplace.ordering.v1.CartService/CheckoutCart")
            .unwrap();
        let binding = method.http.clone().unwrap();
        let mut rest = input(&[("cart_id", "k1")], None, br#"{"accept_terms":true}"#);
        rest.request_id = Some("idem-1".into());
        let json = build(&api, method, &binding, rest).unwrap();
        let request: marketplace_proto::ordering::v1::CheckoutCartRequest =
            serde_json::from_value(json).unwrap();
        assert_eq!(request.cart_id, "k1");
        assert_eq!(request.request_id, "idem-1");
        assert!(request.accept_terms);
    }

    #[test]
    fn adding_a_cart_line_takes_the_idempotency_key_as_request_id() {
        let api = api();
        let method = api
            .method("/marketplace.ordering.v1.CartService/AddCartLine")
            .unwrap();
        let binding = method.http.clone().unwrap();
        let mut rest = input(
            &[("cart_id", "k1")],
            None,
            br#"{"planId":"p1","quantity":2}"#,
        );
        rest.request_id = Some("idem-2".into());
        let json = build(&api, method, &binding, rest).unwrap();
        let request: marketplace_proto::ordering::v1::AddCartLineRequest =
            serde_json::from_value(json).unwrap();
        assert_eq!(request.cart_id, "k1");
        assert_eq!(request.plan_id, "p1");
        assert_eq!(request.request_id, "idem-2");
    }
}
