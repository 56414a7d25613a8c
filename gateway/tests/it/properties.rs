//! Property tests of the REST edge ("fuzzing" at CI size): JSON bodies for the main POST/PATCH
//! operations, generated from the served OpenAPI document like
//! `openapi_driven_bad_input_never_yields_a_5xx` does, and arbitrary `Authorization` headers.
//!
//! * Valid bodies reach the service intact (the fakes record what they decoded).
//! * Arbitrary JSON never yields a 5xx, and whatever is refused changes nothing.
//! * A valid body with one field mutated (wrong type, out-of-range number, huge string, unknown
//!   field) is refused with a 400 problem naming exactly that field, and changes nothing; a huge
//!   string where a string belongs is over the field's documented maximum length
//!   (`marketplace_proto::limits`) and refused naming the field, or refused with 413; only a
//!   whole file's `content` is taken.
//! * Any `Authorization` header is answered 401, never a panic or a 5xx.
//!
//! Each case is an HTTP request, so the case counts are small.

use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use marketplace_platform::db::Backend;
use marketplace_platform::identity::Role;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::{Harness, token};
use crate::{PROBLEM, concrete_path, content_type};

/// Body limit of these gateways: some huge strings fit, some are refused with 413.
const MAX_BODY: usize = 16 * 1024;

/// The operations exercised, by OpenAPI `operationId`, with the request field their body fills
/// (`""` for `body: "*"`).
const OPERATIONS: [(&str, &str); 9] = [
    ("CustomerService_CreateCustomer", "customer"),
    ("CustomerService_UpdateCustomer", "customer"),
    ("CartService_CreateCart", "cart"),
    ("CartService_UpdateCart", "cart"),
    ("CartService_AddCartLine", ""),
    ("CartService_UpdateCartLine", ""),
    ("CartService_CheckoutCart", ""),
    ("WebhookService_CreateWebhookEndpoint", "endpoint"),
    ("WebhookService_UpdateWebhookEndpoint", "endpoint"),
];

/// 64 cases (one HTTP request each) in CI; `PROPTEST_CASES=5000` for a longer hunt.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(64),
        ..ProptestConfig::default()
    }
}

/// What a JSON body field is, from its schema.
#[derive(Debug, Clone)]
enum Kind {
    Message(Map<String, Value>),
    Map(Value),
    Array(Value),
    /// `google.protobuf.Struct`/`Empty`: anything object-shaped goes.
    Opaque,
    Enum(Vec<String>),
    Int32,
    Int64,
    Bool,
    Number,
    Bytes,
    Timestamp,
    Duration,
    Str,
}

fn kind(document: &Value, schema: &Value) -> Kind {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return kind(document, &document["components"]["schemas"][name]);
    }
    if let Some(values) = schema["enum"].as_array() {
        return Kind::Enum(
            values
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
        );
    }
    match (schema["type"].as_str(), schema["format"].as_str()) {
        (Some("object"), _) => match (schema.get("properties"), schema.get("additionalProperties"))
        {
            (Some(Value::Object(properties)), _) => Kind::Message(properties.clone()),
            (None, Some(value)) if value.is_object() => Kind::Map(value.clone()),
            _ => Kind::Opaque,
        },
        (Some("array"), _) => Kind::Array(schema["items"].clone()),
        (Some("integer"), _) => Kind::Int32,
        (Some("string"), Some("int64")) => Kind::Int64,
        (Some("string"), Some("byte")) => Kind::Bytes,
        (Some("string"), Some("date-time")) => Kind::Timestamp,
        (Some("string"), _) if schema.get("pattern").is_some() => Kind::Duration,
        (Some("boolean"), _) => Kind::Bool,
        (Some("number"), _) => Kind::Number,
        _ => Kind::Str,
    }
}

/// One REST operation under test.
#[derive(Debug)]
struct Operation {
    /// RPC name, as the fakes record it.
    rpc: String,
    method: reqwest::Method,
    url: String,
    /// Request field the body fills (`""` for the whole request).
    body_field: &'static str,
    /// Top-level body fields the URL path sets (the client cannot get them wrong).
    path_fields: Vec<String>,
    schema: Value,
}

impl Operation {
    /// The problem `field` of a body path.
    fn field(&self, path: &[Seg]) -> String {
        let mut out = self.body_field.to_string();
        for seg in path {
            match seg {
                Seg::Key(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
                Seg::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    harness: Harness,
    token: String,
    document: Value,
    operations: Vec<Operation>,
}

impl Fixture {
    /// A gateway in front of the fakes (webhook endpoints included), on its own runtime, shared
    /// by the cases of one property.
    fn start(customize: impl FnOnce(&mut gateway::Settings)) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let harness = runtime.block_on(Harness::start_with(Backend::Sqlite, |s| {
            s.notification_url = s.catalog_url.clone();
            s.http.max_body_bytes = MAX_BODY;
            customize(s);
        }));
        let document: Value = runtime.block_on(async {
            harness
                .http
                .get(harness.url("/openapi.json"))
                .send()
                .await
                .expect("openapi")
                .json()
                .await
                .expect("openapi json")
        });
        let mut operations = Vec::new();
        for (path, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("operations") {
                let id = operation["operationId"].as_str().unwrap_or_default();
                let Some((_, body_field)) = OPERATIONS.iter().find(|(op, _)| *op == id) else {
                    continue;
                };
                let schema =
                    operation["requestBody"]["content"]["application/json"]["schema"].clone();
                let path_fields = path
                    .split('{')
                    .skip(1)
                    .filter_map(|part| part.split_once('}').map(|(var, _)| var))
                    .filter_map(|var| match body_field.is_empty() {
                        true => Some(camel(var)),
                        false => var
                            .strip_prefix(&format!("{body_field}."))
                            .map(String::from),
                    })
                    .collect();
                operations.push(Operation {
                    rpc: id
                        .split_once('_')
                        .map(|(_, rpc)| rpc.to_string())
                        .unwrap_or_default(),
                    method: method.to_uppercase().parse().expect("method"),
                    url: harness.url(&concrete_path(path)),
                    body_field,
                    path_fields,
                    schema,
                });
            }
        }
        assert_eq!(operations.len(), OPERATIONS.len(), "{operations:#?}");
        Self {
            runtime,
            harness,
            token: token(Role::ResellerAdmin),
            document,
            operations,
        }
    }

    fn send(&self, operation: &Operation, body: Vec<u8>) -> Answer {
        self.runtime.block_on(async {
            let response = self
                .harness
                .http
                .request(operation.method.clone(), &operation.url)
                .bearer_auth(&self.token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            let content_type = content_type(&response);
            let body = response.json().await.unwrap_or(Value::Null);
            Answer {
                status,
                content_type,
                body,
            }
        })
    }

    /// Changes applied by the fakes, and customers listed through the gateway.
    fn state(&self) -> (usize, usize) {
        let customers = self.runtime.block_on(async {
            let response = self.harness.get("/v1/customers", &self.token).await;
            assert_eq!(response.status(), 200);
            let list: Value = response.json().await.expect("list json");
            list["customers"].as_array().map_or(0, Vec::len)
        });
        (
            self.harness.observed.writes.load(Ordering::SeqCst),
            customers,
        )
    }

    fn received(&self, operation: &Operation) -> Value {
        let received = self.harness.observed.received.lock().expect("received");
        let request = received
            .get(operation.rpc.as_str())
            .cloned()
            .unwrap_or_default();
        if operation.body_field.is_empty() {
            request
        } else {
            request[camel(operation.body_field)].clone()
        }
    }

    /// Strategy for a valid body of `operation`.
    fn valid_body(&self, operation: &Operation) -> BoxedStrategy<Value> {
        valid(&self.document, &operation.schema, 0)
    }

    /// Every field name of an operation's body (both spellings), to seed arbitrary objects.
    fn field_names(&self, schema: &Value, depth: usize, out: &mut Vec<String>) {
        if depth > 4 {
            return;
        }
        match kind(&self.document, schema) {
            Kind::Message(properties) => {
                for (name, schema) in &properties {
                    out.push(name.clone());
                    out.push(snake(name));
                    self.field_names(schema, depth + 1, out);
                }
            }
            Kind::Map(value) | Kind::Array(value) => self.field_names(&value, depth + 1, out),
            _ => {}
        }
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn snake(camel: &str) -> String {
    let mut out = String::new();
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A valid value of a schema: every field present, strings non-empty, numbers non-zero (so
/// that the canonical JSON the service sees still has them).
fn valid(document: &Value, schema: &Value, depth: usize) -> BoxedStrategy<Value> {
    match kind(document, schema) {
        Kind::Message(_) | Kind::Map(_) | Kind::Array(_) if depth > 4 => Just(json!({})).boxed(),
        Kind::Message(properties) => properties
            .iter()
            .map(|(name, schema)| {
                let name = name.clone();
                valid(document, schema, depth + 1)
                    .prop_map(move |v| (name.clone(), v))
                    .boxed()
            })
            .collect::<Vec<_>>()
            .prop_map(|fields| Value::Object(fields.into_iter().collect()))
            .boxed(),
        Kind::Map(value) => {
            proptest::collection::btree_map("[a-z]{1,8}", valid(document, &value, depth + 1), 0..3)
                .prop_map(|entries| Value::Object(entries.into_iter().collect()))
                .boxed()
        }
        Kind::Array(items) => proptest::collection::vec(valid(document, &items, depth + 1), 0..3)
            .prop_map(Value::Array)
            .boxed(),
        Kind::Opaque => Just(json!({})).boxed(),
        Kind::Enum(values) => {
            // Not the `…_UNSPECIFIED` zero value, which canonical JSON leaves out.
            let skip = usize::from(values.len() > 1);
            let values: Vec<String> = values.into_iter().skip(skip).collect();
            proptest::sample::select(values)
                .prop_map(Value::String)
                .boxed()
        }
        Kind::Int32 => prop_oneof![1..=i32::MAX, i32::MIN..=-1]
            .prop_map(Value::from)
            .boxed(),
        Kind::Int64 => any::<i64>()
            .prop_filter("non-zero", |n| *n != 0)
            .prop_map(|n| Value::String(n.to_string()))
            .boxed(),
        Kind::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Kind::Number => (-1e9..1e9_f64)
            .prop_filter("non-zero", |n| *n != 0.0)
            .prop_map(Value::from)
            .boxed(),
        Kind::Bytes => proptest::collection::vec(any::<u8>(), 1..16)
            .prop_map(|b| Value::String(STANDARD.encode(b)))
            .boxed(),
        Kind::Timestamp => (0_i64..4_102_444_800)
            .prop_map(|s| {
                Value::String(
                    OffsetDateTime::from_unix_timestamp(s)
                        .expect("in range")
                        .format(&Rfc3339)
                        .expect("formats"),
                )
            })
            .boxed(),
        Kind::Duration => (1_u32..1_000_000)
            .prop_map(|s| Value::String(format!("{s}s")))
            .boxed(),
        Kind::Str => "\\PC{1,24}".prop_map(Value::String).boxed(),
    }
}

/// A step of a path into a JSON body.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Every node of a body with its path and kind (the root included, path variables and the
/// inside of opaque objects left out).
fn nodes(
    document: &Value,
    operation: &Operation,
    value: &Value,
    schema: &Value,
    path: Vec<Seg>,
    out: &mut Vec<(Vec<Seg>, Kind)>,
) {
    let node_kind = kind(document, schema);
    match (&node_kind, value) {
        (Kind::Message(properties), Value::Object(fields)) => {
            for (key, child) in fields {
                if path.is_empty() && operation.path_fields.contains(key) {
                    continue;
                }
                if let Some(schema) = properties.get(key) {
                    let mut child_path = path.clone();
                    child_path.push(Seg::Key(key.clone()));
                    nodes(document, operation, child, schema, child_path, out);
                }
            }
        }
        (Kind::Map(schema), Value::Object(fields)) => {
            for (key, child) in fields {
                let mut child_path = path.clone();
                child_path.push(Seg::Key(key.clone()));
                nodes(document, operation, child, schema, child_path, out);
            }
        }
        (Kind::Array(schema), Value::Array(items)) => {
            for (i, child) in items.iter().enumerate() {
                let mut child_path = path.clone();
                child_path.push(Seg::Index(i));
                nodes(document, operation, child, schema, child_path, out);
            }
        }
        _ => {}
    }
    if !matches!(node_kind, Kind::Opaque) {
        out.push((path, node_kind));
    }
}

fn get_mut<'a>(value: &'a mut Value, path: &[Seg]) -> &'a mut Value {
    path.iter().fold(value, |node, seg| match seg {
        Seg::Key(key) => &mut node[key.as_str()],
        Seg::Index(i) => &mut node[*i],
    })
}

fn get<'a>(value: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    path.iter().try_fold(value, |node, seg| match seg {
        Seg::Key(key) => node.get(key.as_str()),
        Seg::Index(i) => node.get(*i),
    })
}

/// Checks that every value sent in a valid body reached the service unchanged.
fn arrived_intact(
    document: &Value,
    operation: &Operation,
    sent: &Value,
    received: &Value,
) -> Result<(), TestCaseError> {
    let mut all = Vec::new();
    nodes(
        document,
        operation,
        sent,
        &operation.schema,
        Vec::new(),
        &mut all,
    );
    for (path, node_kind) in all {
        let value = get(sent, &path).expect("a sent node");
        let got = get(received, &path);
        let field = operation.field(&path);
        match node_kind {
            Kind::Str | Kind::Enum(_) | Kind::Int64 | Kind::Bytes => {
                prop_assert_eq!(got, Some(value), "{} lost", field);
            }
            Kind::Int32 | Kind::Number => {
                prop_assert_eq!(
                    got.and_then(Value::as_f64),
                    value.as_f64(),
                    "{} lost",
                    field
                );
            }
            Kind::Bool if value == &Value::Bool(true) => {
                prop_assert_eq!(got, Some(value), "{} lost", field);
            }
            Kind::Timestamp => {
                let instant = |v: Option<&Value>| {
                    v.and_then(Value::as_str)
                        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
                };
                prop_assert_eq!(instant(got), instant(Some(value)), "{} lost", field);
            }
            _ => {}
        }
    }
    Ok(())
}

/// What a mutated body must get.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// A 400 naming this field.
    Refused(String),
    /// Taken as sent (a huge file `content`).
    Taken(Vec<Seg>, Value),
}

/// The four ways of getting one field wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    /// Another JSON type than the field's.
    WrongType,
    /// The right JSON type, but no value of the field (numbers out of range, unknown enum
    /// values, impossible times, bad base64).
    OutOfRange,
    /// A huge string.
    Huge,
    /// A field the message does not have.
    Unknown,
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(Value),
    Huge(Value),
    Unknown(String),
}

/// The ways to get a field of `kind` wrong, by category.
fn mutations(kind: &Kind, huge: &str, unknown: &str) -> Vec<(Category, Mutation)> {
    use Category::{Huge, OutOfRange, Unknown, WrongType};
    let replace = |category: Category, values: Vec<Value>| -> Vec<(Category, Mutation)> {
        values
            .into_iter()
            .map(|v| (category, Mutation::Replace(v)))
            .collect()
    };
    // A huge string that is no number, enum value, time or base64 either.
    let bad_huge = || replace(Huge, vec![Value::String(format!("*{huge}"))]);
    let containers = || vec![json!({"a": 1}), json!(["x"])];
    let mut out = match kind {
        Kind::Message(_) => {
            let mut out = replace(
                WrongType,
                vec![json!("text"), json!(7), json!(true), json!(["x"])],
            );
            out.push((Unknown, Mutation::Unknown(unknown.to_string())));
            out
        }
        Kind::Map(_) => replace(
            WrongType,
            vec![json!("text"), json!(7), json!(true), json!(["x"])],
        ),
        Kind::Array(_) => replace(
            WrongType,
            vec![json!("text"), json!(7), json!(true), json!({"a": 1})],
        ),
        Kind::Opaque => Vec::new(),
        Kind::Enum(_) => [
            replace(
                WrongType,
                [vec![json!(true), json!(1.5)], containers()].concat(),
            ),
            replace(
                OutOfRange,
                vec![json!(99_999), json!(-1), json!("NOT_A_VALUE")],
            ),
            bad_huge(),
        ]
        .concat(),
        Kind::Int32 => [
            replace(
                WrongType,
                [vec![json!(true), json!("twelve")], containers()].concat(),
            ),
            replace(
                OutOfRange,
                vec![
                    json!(2_147_483_648_i64),
                    json!(-2_147_483_649_i64),
                    json!(1e40),
                    json!(1.5),
                    json!("2147483648"),
                    json!("1e3"),
                ],
            ),
            bad_huge(),
        ]
        .concat(),
        Kind::Int64 => [
            replace(
                WrongType,
                [vec![json!(true), json!("12x")], containers()].concat(),
            ),
            replace(
                OutOfRange,
                vec![
                    json!(1.5),
                    json!("9223372036854775808"),
                    json!(1e30),
                    json!("-9223372036854775809"),
                ],
            ),
            bad_huge(),
        ]
        .concat(),
        Kind::Bool => [
            replace(
                WrongType,
                [vec![json!("true"), json!(1)], containers()].concat(),
            ),
            bad_huge(),
        ]
        .concat(),
        Kind::Number => [
            replace(
                WrongType,
                [vec![json!(true), json!("abc")], containers()].concat(),
            ),
            bad_huge(),
        ]
        .concat(),
        Kind::Bytes => [
            replace(
                WrongType,
                [vec![json!(7), json!(true)], containers()].concat(),
            ),
            replace(OutOfRange, vec![json!("***")]),
            bad_huge(),
        ]
        .concat(),
        Kind::Timestamp => [
            replace(
                WrongType,
                [vec![json!(7), json!(true)], containers()].concat(),
            ),
            replace(
                OutOfRange,
                vec![
                    json!("yesterday"),
                    json!("2024-13-45T00:00:00Z"),
                    json!("10000-01-01T00:00:00Z"),
                ],
            ),
            bad_huge(),
        ]
        .concat(),
        Kind::Duration => [
            replace(
                WrongType,
                [vec![json!(7), json!(true)], containers()].concat(),
            ),
            replace(OutOfRange, vec![json!("soon")]),
            bad_huge(),
        ]
        .concat(),
        Kind::Str => replace(
            WrongType,
            [vec![json!(42), json!(true)], containers()].concat(),
        ),
    };
    if matches!(kind, Kind::Str) {
        out.push((Huge, Mutation::Huge(Value::String(huge.to_string()))));
    }
    out
}

/// Applies one mutation at `path`; returns what the gateway must answer.
fn mutate(operation: &Operation, body: &mut Value, path: &[Seg], mutation: Mutation) -> Expect {
    let node = get_mut(body, path);
    match mutation {
        Mutation::Replace(value) => {
            *node = value;
            // The top of the body is the transcoder's to refuse; anything inside is named by its
            // path in the request.
            Expect::Refused(if path.is_empty() {
                "body".into()
            } else {
                operation.field(path)
            })
        }
        Mutation::Huge(value) => {
            *node = value.clone();
            // Longer than every string limit but a whole file's.
            if path.last() == Some(&Seg::Key("content".into())) {
                Expect::Taken(path.to_vec(), value)
            } else {
                Expect::Refused(operation.field(path))
            }
        }
        Mutation::Unknown(key) => {
            if let Some(object) = node.as_object_mut() {
                object.insert(key.clone(), json!("surprise"));
            }
            let mut path = path.to_vec();
            path.push(Seg::Key(key));
            Expect::Refused(operation.field(&path))
        }
    }
}

fn is_problem(answer: &Answer) -> Result<(), TestCaseError> {
    prop_assert_eq!(&answer.content_type, PROBLEM, "{:?}", answer);
    prop_assert_eq!(
        answer.body["status"].as_u64(),
        Some(u64::from(answer.status))
    );
    Ok(())
}

/// Arbitrary JSON, with object keys often taken from the operation's real field names.
fn arbitrary_json(names: Vec<String>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::String),
        proptest::sample::select(names.clone()).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        let key = prop_oneof![proptest::sample::select(names.clone()), "\\PC{0,8}"];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

static ARBITRARY: OnceLock<Fixture> = OnceLock::new();
static VALID: OnceLock<Fixture> = OnceLock::new();
static MUTATED: OnceLock<Fixture> = OnceLock::new();
static AUTH: OnceLock<Fixture> = OnceLock::new();

fn fixture(cell: &'static OnceLock<Fixture>) -> &'static Fixture {
    cell.get_or_init(|| Fixture::start(|_| {}))
}

fn operation_index() -> impl Strategy<Value = usize> {
    0..OPERATIONS.len()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn valid_bodies_reach_the_service_intact(
        (op, body) in operation_index().prop_flat_map(|op| {
            let f = fixture(&VALID);
            (Just(op), f.valid_body(&f.operations[op]))
        }),
    ) {
        let f = fixture(&VALID);
        let operation = &f.operations[op];
        let (writes, _) = f.state();
        let answer = f.send(operation, body.to_string().into_bytes());
        prop_assert_eq!(answer.status, 200, "{} {}: {:?}", operation.rpc, body, answer);
        prop_assert_eq!(f.state().0, writes + 1);
        arrived_intact(&f.document, operation, &body, &f.received(operation))?;
    }

    #[test]
    fn arbitrary_json_is_never_a_5xx_and_refused_json_changes_nothing(
        (op, body) in operation_index().prop_flat_map(|op| {
            let f = fixture(&ARBITRARY);
            let mut names = Vec::new();
            f.field_names(&f.operations[op].schema, 0, &mut names);
            (Just(op), arbitrary_json(names))
        }),
    ) {
        let f = fixture(&ARBITRARY);
        let operation = &f.operations[op];
        let before = f.state();
        let answer = f.send(operation, body.to_string().into_bytes());
        prop_assert!(answer.status < 500, "{} {}: {:?}", operation.rpc, body, answer);
        if answer.status != 200 {
            is_problem(&answer)?;
            prop_assert_eq!(f.state(), before, "refused but changed: {}", body);
        }
        if answer.status == 400 {
            let field = answer.body["errors"][0]["field"].as_str().unwrap_or_default();
            prop_assert!(!field.is_empty(), "{:?}", answer);
        }
    }

    #[test]
    fn one_bad_field_is_named_and_changes_nothing(
        (op, body) in operation_index().prop_flat_map(|op| {
            let f = fixture(&MUTATED);
            (Just(op), f.valid_body(&f.operations[op]))
        }),
        category in proptest::sample::select(vec![
            Category::WrongType,
            Category::OutOfRange,
            Category::Huge,
            Category::Unknown,
        ]),
        node in any::<Index>(),
        which in any::<Index>(),
        huge in prop_oneof!["[a-z]{4001,6000}", "\\PC{4001,6000}", "[a-z]{17000,20000}"],
        unknown in "zz\\PC{0,10}",
    ) {
        let f = fixture(&MUTATED);
        let operation = &f.operations[op];
        let mut all = Vec::new();
        nodes(&f.document, operation, &body, &operation.schema, Vec::new(), &mut all);
        // A node that can be got wrong in this way (any node can take a wrong type).
        let candidates = |category: Category| -> Vec<(Vec<Seg>, Vec<Mutation>)> {
            all.iter()
                .map(|(path, kind)| {
                    let options = mutations(kind, &huge, &unknown)
                        .into_iter()
                        .filter(|(c, _)| *c == category)
                        .map(|(_, m)| m)
                        .collect::<Vec<_>>();
                    (path.clone(), options)
                })
                .filter(|(_, options)| !options.is_empty())
                .collect()
        };
        let mut eligible = candidates(category);
        if eligible.is_empty() {
            eligible = candidates(Category::WrongType);
        }
        let (path, options) = node.get(&eligible).clone();
        let mutation = which.get(&options).clone();
        let mut body = body;
        let expect = mutate(operation, &mut body, &path, mutation);
        let text = body.to_string();
        let before = f.state();
        let answer = f.send(operation, text.clone().into_bytes());
        let described = format!("{} {:?} at {:?}", operation.rpc, expect, path);
        prop_assert!(answer.status < 500, "{}: {:?}", described, answer);
        if text.len() > MAX_BODY {
            prop_assert_eq!(answer.status, 413, "{}", described);
        }
        match (&expect, answer.status) {
            (_, 413) => {}
            (Expect::Refused(field), _) => {
                prop_assert_eq!(answer.status, 400, "{}: {:?}", described, answer);
                prop_assert_eq!(&answer.body["errors"][0]["field"], field, "{}: {:?}", described, answer);
                prop_assert_eq!(answer.body["errors"].as_array().map(Vec::len), Some(1));
            }
            (Expect::Taken(path, value), _) => {
                prop_assert_eq!(answer.status, 200, "{}: {:?}", described, answer);
                let received = f.received(operation);
                prop_assert_eq!(get(&received, path), Some(value), "{}", described);
            }
        }
        if answer.status != 200 {
            is_problem(&answer)?;
            prop_assert_eq!(f.state(), before, "{}: refused but changed", described);
        }
    }

    #[test]
    fn any_authorization_header_is_a_401(header in authorization()) {
        let f = AUTH.get_or_init(|| {
            let jwks = std::env::temp_dir().join(format!(
                "gateway-properties-jwks-{}.json",
                uuid::Uuid::new_v4().simple()
            ));
            std::fs::write(&jwks, crate::EC_JWKS).expect("write jwks");
            let path = jwks.display().to_string();
            Fixture::start(move |s| s.auth.jwks_file = Some(path))
        });
        let value = reqwest::header::HeaderValue::from_bytes(&header).expect("a header value");
        let answer = f.runtime.block_on(async {
            let response = f
                .harness
                .http
                .get(f.harness.url("/v1/plans"))
                .header("authorization", value)
                .send()
                .await
                .expect("request");
            let challenge = response.headers().contains_key("www-authenticate");
            let status = response.status().as_u16();
            let content_type = content_type(&response);
            (status, content_type, challenge)
        });
        prop_assert_eq!(answer, (401, PROBLEM.to_string(), true), "{:?}", String::from_utf8_lossy(&header));
    }
}

/// `Authorization` values: bytes a header may carry, bearer-looking junk, and JWT-shaped tokens
/// with arbitrary headers (any `alg`, `kid`), claims and signatures.
fn authorization() -> impl Strategy<Value = Vec<u8>> {
    let header_byte = prop_oneof![0x20_u8..0x7f, Just(b'\t'), 0x80_u8..=0xff];
    let segment =
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|b| URL_SAFE_NO_PAD.encode(b));
    let alg = proptest::sample::select(vec![
        "none", "HS256", "HS384", "HS512", "RS256", "ES256", "ES384", "PS256", "EdDSA", "", "hs256",
    ]);
    let jwt_header =
        (alg, proptest::option::of("\\PC{0,12}"), any::<bool>()).prop_map(|(alg, kid, typ)| {
            let mut header = json!({"alg": alg});
            if let Some(kid) = kid {
                header["kid"] = json!(kid);
            }
            if typ {
                header["typ"] = json!("JWT");
            }
            URL_SAFE_NO_PAD.encode(header.to_string())
        });
    let claims = (
        proptest::option::of("\\PC{0,12}"),
        proptest::sample::select(vec!["staff", "reseller_admin", "service", "", "root"]),
        any::<i64>(),
        prop_oneof![Just(crate::support::ISSUER.to_string()), "\\PC{0,8}"],
        prop_oneof![Just(crate::support::AUDIENCE.to_string()), "\\PC{0,8}"],
    )
        .prop_map(|(sub, role, exp, iss, aud)| {
            URL_SAFE_NO_PAD.encode(
                json!({"sub": sub, "role": role, "reseller_id": "r1", "exp": exp, "iss": iss, "aud": aud})
                    .to_string(),
            )
        });
    let scheme = proptest::sample::select(vec![
        "Bearer ", "bearer ", "BEARER  ", "Basic ", "Bearer", "",
    ]);
    prop_oneof![
        proptest::collection::vec(header_byte, 0..200),
        (scheme.clone(), "[A-Za-z0-9_.=+/-]{0,200}")
            .prop_map(|(s, t)| format!("{s}{t}").into_bytes()),
        (scheme, jwt_header, claims, segment)
            .prop_map(|(s, h, c, sig)| format!("{s}{h}.{c}.{sig}").into_bytes()),
    ]
}
