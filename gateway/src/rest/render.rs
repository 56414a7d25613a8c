//! The JSON of a response message as REST clients receive it: canonical proto3 JSON with the
//! lists of response messages always present (`{"orders": []}`, never `{}`) and timestamps in
//! RFC 3339 UTC with `Z` (`2026-12-06T21:00:00Z`; the JSON encoder writes `+00:00`).

use serde_json::Value;

use crate::descriptor::{Api, FieldKind};

const TIMESTAMP: &str = "google.protobuf.Timestamp";

/// Normalises `value`, the JSON of a `message`, in place.
pub(crate) fn response(api: &Api, message: &str, value: &mut Value) {
    if let Value::Object(map) = value {
        for field in api.always_present_lists(message) {
            if !map.contains_key(&field.json_name) {
                map.insert(field.json_name.clone(), Value::Array(Vec::new()));
            }
        }
    }
    timestamps(api, message, value, 0);
}

/// Rewrites every timestamp inside `value` (a `message`) to end in `Z`.
fn timestamps(api: &Api, message: &str, value: &mut Value, depth: usize) {
    let (Some(info), Value::Object(map)) = (api.message(message), value) else {
        return;
    };
    // Protobuf messages can be recursive; JSON produced from them is finite, but stay bounded.
    if depth > 32 {
        return;
    }
    for field in &info.fields {
        if field.kind != FieldKind::Message {
            continue;
        }
        let Some(present) = map.get_mut(&field.json_name) else {
            continue;
        };
        if field.type_name == TIMESTAMP {
            each(present, field.repeated, &mut |v| utc_z(v));
        } else if api.is_map(field) {
            let value_type = api
                .message(&field.type_name)
                .and_then(|entry| entry.field("value"))
                .filter(|v| v.kind == FieldKind::Message)
                .map(|v| v.type_name.clone());
            if let (Some(value_type), Value::Object(entries)) = (value_type, present) {
                for v in entries.values_mut() {
                    if value_type == TIMESTAMP {
                        utc_z(v);
                    } else {
                        timestamps(api, &value_type, v, depth + 1);
                    }
                }
            }
        } else {
            each(present, field.repeated, &mut |v| {
                timestamps(api, &field.type_name, v, depth + 1)
            });
        }
    }
}

fn each(value: &mut Value, repeated: bool, f: &mut dyn FnMut(&mut Value)) {
    match value {
        Value::Array(items) if repeated => items.iter_mut().for_each(f),
        _ if !repeated => f(value),
        _ => {}
    }
}

/// `…+00:00` → `…Z` (timestamps are always rendered in UTC).
fn utc_z(value: &mut Value) {
    if let Value::String(s) = value
        && let Some(stripped) = s.strip_suffix("+00:00")
    {
        *s = format!("{stripped}Z");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn api() -> Api {
        Api::decode(marketplace_proto::FILE_DESCRIPTOR_SET).expect("descriptor decodes")
    }

    #[test]
    fn empty_lists_are_present_and_timestamps_end_in_z() {
        let api = api();
        let mut empty = json!({});
        response(
            &api,
            "marketplace.ordering.v1.ListOrdersResponse",
            &mut empty,
        );
        assert_eq!(empty, json!({"orders": []}));

        let mut listed = json!({"orders": [{"id": "o1", "createTime": "2026-12-06T21:00:00.5+00:00",
            "items": [{"updateTime": "2026-12-06T21:00:01+00:00"}]}], "nextPageToken": "t"});
        response(
            &api,
            "marketplace.ordering.v1.ListOrdersResponse",
            &mut listed,
        );
        assert_eq!(listed["orders"][0]["createTime"], "2026-12-06T21:00:00.5Z");
        assert_eq!(
            listed["orders"][0]["items"][0]["updateTime"],
            "2026-12-06T21:00:01Z"
        );
        assert_eq!(listed["nextPageToken"], "t");

        // A resource (not a `…Response`) keeps proto3's omission of empty lists.
        let mut order = json!({"id": "o1"});
        response(&api, "marketplace.ordering.v1.Order", &mut order);
        assert_eq!(order, json!({"id": "o1"}));
    }
}
