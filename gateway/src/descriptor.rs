//! The public contracts as data: services, methods with their `google.api.http` bindings,
//! messages and enums, decoded from the embedded descriptor set.
//!
//! The REST routes, the query-parameter coercion, the role matrix check and the OpenAPI
//! document are all derived from this one model, so they cannot drift from the protos.
//! (`prost-types` drops extensions, so the few descriptor messages needed are declared here
//! with the `google.api.http` option field included.)

use std::collections::BTreeMap;

use marketplace_proto::google::api::HttpRule;
use marketplace_proto::google::api::http_rule::Pattern;
use prost::Message;

mod raw {
    //! Minimal mirrors of `google/protobuf/descriptor.proto` (only the fields we read).
    #![allow(unreachable_pub)]

    use marketplace_proto::google::api::HttpRule;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct FileDescriptorSet {
        #[prost(message, repeated, tag = "1")]
        pub file: Vec<FileDescriptorProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct FileDescriptorProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub package: String,
        #[prost(message, repeated, tag = "4")]
        pub message_type: Vec<DescriptorProto>,
        #[prost(message, repeated, tag = "5")]
        pub enum_type: Vec<EnumDescriptorProto>,
        #[prost(message, repeated, tag = "6")]
        pub service: Vec<ServiceDescriptorProto>,
        #[prost(message, optional, tag = "9")]
        pub source_code_info: Option<SourceCodeInfo>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct DescriptorProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, repeated, tag = "2")]
        pub field: Vec<FieldDescriptorProto>,
        #[prost(message, repeated, tag = "3")]
        pub nested_type: Vec<DescriptorProto>,
        #[prost(message, repeated, tag = "4")]
        pub enum_type: Vec<EnumDescriptorProto>,
        #[prost(message, optional, tag = "7")]
        pub options: Option<MessageOptions>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MessageOptions {
        #[prost(bool, tag = "7")]
        pub map_entry: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct FieldDescriptorProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(int32, tag = "3")]
        pub number: i32,
        #[prost(int32, tag = "4")]
        pub label: i32,
        #[prost(int32, tag = "5")]
        pub r#type: i32,
        #[prost(string, tag = "6")]
        pub type_name: String,
        #[prost(string, tag = "10")]
        pub json_name: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EnumDescriptorProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, repeated, tag = "2")]
        pub value: Vec<EnumValueDescriptorProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EnumValueDescriptorProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(int32, tag = "2")]
        pub number: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ServiceDescriptorProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, repeated, tag = "2")]
        pub method: Vec<MethodDescriptorProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MethodDescriptorProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub input_type: String,
        #[prost(string, tag = "3")]
        pub output_type: String,
        #[prost(message, optional, tag = "4")]
        pub options: Option<MethodOptions>,
        #[prost(bool, tag = "5")]
        pub client_streaming: bool,
        #[prost(bool, tag = "6")]
        pub server_streaming: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MethodOptions {
        /// `google.api.http` (extension 72295728).
        #[prost(message, optional, tag = "72295728")]
        pub http: Option<HttpRule>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SourceCodeInfo {
        #[prost(message, repeated, tag = "1")]
        pub location: Vec<Location>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Location {
        #[prost(int32, repeated, tag = "1")]
        pub path: Vec<i32>,
        #[prost(string, tag = "3")]
        pub leading_comments: String,
    }
}

/// Scalar kind of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    Double,
    Float,
    Int64,
    UInt64,
    Int32,
    UInt32,
    Bool,
    String,
    Bytes,
    Enum,
    Message,
}

impl FieldKind {
    fn from_proto(t: i32) -> Self {
        match t {
            1 => Self::Double,
            2 => Self::Float,
            3 | 16 | 18 => Self::Int64,
            4 | 6 => Self::UInt64,
            5 | 15 | 17 => Self::Int32,
            7 | 13 => Self::UInt32,
            8 => Self::Bool,
            12 => Self::Bytes,
            14 => Self::Enum,
            11 | 10 => Self::Message,
            _ => Self::String,
        }
    }
}

/// A field of a message.
#[derive(Debug, Clone)]
pub(crate) struct FieldInfo {
    /// Proto name (`page_size`).
    pub(crate) name: String,
    /// Canonical JSON name (`pageSize`).
    pub(crate) json_name: String,
    pub(crate) kind: FieldKind,
    pub(crate) repeated: bool,
    /// Full type name of a message or enum field, without the leading dot.
    pub(crate) type_name: String,
    pub(crate) comment: String,
}

/// A message type.
#[derive(Debug, Clone)]
pub(crate) struct MessageInfo {
    pub(crate) fields: Vec<FieldInfo>,
    pub(crate) map_entry: bool,
    pub(crate) comment: String,
}

impl MessageInfo {
    /// The field called `name` (proto or JSON name).
    pub(crate) fn field(&self, name: &str) -> Option<&FieldInfo> {
        self.fields
            .iter()
            .find(|f| f.name == name || f.json_name == name)
    }
}

/// The REST binding of a method.
#[derive(Debug, Clone)]
pub(crate) struct HttpBinding {
    pub(crate) method: http::Method,
    /// Path template, e.g. `/v1/carts/{cart_id}:checkout`.
    pub(crate) template: String,
    /// `""` (no body), `"*"` (the whole request) or a top-level field name.
    pub(crate) body: String,
}

/// An RPC of a public service.
#[derive(Debug, Clone)]
pub(crate) struct MethodInfo {
    /// `marketplace.catalog.v1.CatalogService`.
    pub(crate) service: String,
    /// `GetPlan`.
    pub(crate) name: String,
    /// `/marketplace.catalog.v1.CatalogService/GetPlan`.
    pub(crate) path: String,
    pub(crate) input: String,
    pub(crate) output: String,
    pub(crate) server_streaming: bool,
    pub(crate) http: Option<HttpBinding>,
    pub(crate) comment: String,
}

/// The decoded contracts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Api {
    pub(crate) services: Vec<String>,
    pub(crate) methods: Vec<MethodInfo>,
    pub(crate) messages: BTreeMap<String, MessageInfo>,
    pub(crate) enums: BTreeMap<String, Vec<(String, i32)>>,
}

impl Api {
    /// Decodes the descriptor set of the public contracts (`marketplace.*` services).
    pub(crate) fn decode(bytes: &[u8]) -> anyhow::Result<Self> {
        let set = raw::FileDescriptorSet::decode(bytes)?;
        let mut api = Self::default();
        for file in &set.file {
            let comments: BTreeMap<Vec<i32>, String> = file
                .source_code_info
                .iter()
                .flat_map(|info| info.location.iter())
                .filter(|l| !l.leading_comments.trim().is_empty())
                .map(|l| (l.path.clone(), clean_comment(&l.leading_comments)))
                .collect();
            let prefix = if file.package.is_empty() {
                String::new()
            } else {
                format!("{}.", file.package)
            };
            for (index, message) in file.message_type.iter().enumerate() {
                api.add_message(&prefix, message, &comments, vec![4, index as i32]);
            }
            for e in &file.enum_type {
                api.add_enum(&prefix, e);
            }
            if !file.package.starts_with("marketplace.") {
                continue;
            }
            for (si, service) in file.service.iter().enumerate() {
                let full = format!("{prefix}{}", service.name);
                api.services.push(full.clone());
                for (mi, method) in service.method.iter().enumerate() {
                    let http = method
                        .options
                        .as_ref()
                        .and_then(|o| o.http.as_ref())
                        .and_then(binding);
                    api.methods.push(MethodInfo {
                        service: full.clone(),
                        name: method.name.clone(),
                        path: format!("/{full}/{}", method.name),
                        input: method.input_type.trim_start_matches('.').to_string(),
                        output: method.output_type.trim_start_matches('.').to_string(),
                        server_streaming: method.server_streaming,
                        http,
                        comment: comments
                            .get(&vec![6, si as i32, 2, mi as i32])
                            .cloned()
                            .unwrap_or_default(),
                    });
                }
            }
        }
        Ok(api)
    }

    fn add_message(
        &mut self,
        prefix: &str,
        message: &raw::DescriptorProto,
        comments: &BTreeMap<Vec<i32>, String>,
        path: Vec<i32>,
    ) {
        let full = format!("{prefix}{}", message.name);
        let fields = message
            .field
            .iter()
            .enumerate()
            .map(|(fi, f)| {
                let mut field_path = path.clone();
                field_path.extend([2, fi as i32]);
                FieldInfo {
                    name: f.name.clone(),
                    json_name: if f.json_name.is_empty() {
                        f.name.clone()
                    } else {
                        f.json_name.clone()
                    },
                    kind: FieldKind::from_proto(f.r#type),
                    repeated: f.label == 3,
                    type_name: f.type_name.trim_start_matches('.').to_string(),
                    comment: comments.get(&field_path).cloned().unwrap_or_default(),
                }
            })
            .collect();
        let info = MessageInfo {
            fields,
            map_entry: message.options.as_ref().is_some_and(|o| o.map_entry),
            comment: comments.get(&path).cloned().unwrap_or_default(),
        };
        self.messages.insert(full.clone(), info);
        let nested_prefix = format!("{full}.");
        for (ni, nested) in message.nested_type.iter().enumerate() {
            let mut nested_path = path.clone();
            nested_path.extend([3, ni as i32]);
            self.add_message(&nested_prefix, nested, comments, nested_path);
        }
        for e in &message.enum_type {
            self.add_enum(&nested_prefix, e);
        }
    }

    fn add_enum(&mut self, prefix: &str, e: &raw::EnumDescriptorProto) {
        self.enums.insert(
            format!("{prefix}{}", e.name),
            e.value.iter().map(|v| (v.name.clone(), v.number)).collect(),
        );
    }

    /// The repeated fields every JSON rendering of `message` carries, empty as `[]` (proto3 JSON
    /// "emit defaults" for the lists of response messages, named `…Response`): REST answers fill
    /// them in and the OpenAPI document marks them required.
    pub(crate) fn always_present_lists(&self, message: &str) -> Vec<&FieldInfo> {
        if !message.ends_with("Response") {
            return Vec::new();
        }
        self.message(message)
            .map(|m| {
                m.fields
                    .iter()
                    .filter(|f| f.repeated && !self.is_map(f))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `field` is a map (a repeated map-entry message).
    pub(crate) fn is_map(&self, field: &FieldInfo) -> bool {
        field.kind == FieldKind::Message
            && self.message(&field.type_name).is_some_and(|m| m.map_entry)
    }

    /// A message by full name.
    pub(crate) fn message(&self, name: &str) -> Option<&MessageInfo> {
        self.messages.get(name)
    }

    /// The methods with a REST binding.
    pub(crate) fn bound_methods(&self) -> impl Iterator<Item = (&MethodInfo, &HttpBinding)> {
        self.methods
            .iter()
            .filter_map(|m| m.http.as_ref().map(|h| (m, h)))
    }

    /// A method by gRPC path.
    pub(crate) fn method(&self, path: &str) -> Option<&MethodInfo> {
        self.methods.iter().find(|m| m.path == path)
    }
}

fn binding(rule: &HttpRule) -> Option<HttpBinding> {
    let (method, template) = match rule.pattern.as_ref()? {
        Pattern::Get(t) => (http::Method::GET, t),
        Pattern::Put(t) => (http::Method::PUT, t),
        Pattern::Post(t) => (http::Method::POST, t),
        Pattern::Delete(t) => (http::Method::DELETE, t),
        Pattern::Patch(t) => (http::Method::PATCH, t),
        Pattern::Custom(c) => (http::Method::from_bytes(c.kind.as_bytes()).ok()?, &c.path),
    };
    Some(HttpBinding {
        method,
        template: template.clone(),
        body: rule.body.clone(),
    })
}

fn clean_comment(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_http_bindings_and_json_names() {
        let api = Api::decode(marketplace_proto::FILE_DESCRIPTOR_SET).unwrap();
        let checkout = api
            .method("/marketplace.ordering.v1.CartService/CheckoutCart")
            .unwrap();
        let http = checkout.http.as_ref().unwrap();
        assert_eq!(http.method, http::Method::POST);
        assert_eq!(http.template, "/v1/carts/{cart_id}:checkout");
        assert_eq!(http.body, "*");
        let request = api
            .message("marketplace.ordering.v1.ListPlansRequest")
            .or(api.message("marketplace.catalog.v1.ListPlansRequest"))
            .unwrap();
        assert_eq!(request.field("page_size").unwrap().json_name, "pageSize");
        assert!(
            api.methods.iter().all(|m| m.http.is_some()),
            "every public method has a REST binding"
        );
    }
}
