//! A gRPC request that does not decode is the caller's mistake: INVALID_ARGUMENT, never
//! INTERNAL — through the gateway's proxy and at the service itself, for a unary call and a
//! server stream.

use crate::harness::{modes, start};

/// Sends one raw gRPC message to `url` and returns the `grpc-status` it was answered with.
async fn grpc_status_of(url: &str, token: &str, message: &[u8]) -> (String, String) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .expect("h2 client");
    let mut body = vec![0u8];
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(message);
    let response = client
        .post(url)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .expect("sent");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    (header("grpc-status"), header("grpc-message"))
}

#[tokio::test]
async fn undecodable_messages_are_invalid_arguments_in_every_mode() {
    // Field 1 (a string) with a length that is not a valid varint, then with invalid UTF-8.
    let bad_varint: &[u8] = &[
        0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ];
    let bad_utf8: &[u8] = &[0x0a, 0x02, 0xff, 0xfe];
    for mode in modes().await {
        let m = start(mode).await;
        let running = m.running.as_ref().expect("running");
        let gateway = format!("http://{}", running.gateway_grpc.expect("gateway grpc"));
        let ordering = running
            .services
            .iter()
            .find(|(name, _)| *name == "ordering")
            .map(|(_, addr)| format!("http://{addr}"))
            .expect("ordering runs");
        for base in [&gateway, &ordering] {
            for method in ["OrderService/GetOrder", "OrderService/WatchOrder"] {
                for message in [bad_varint, bad_utf8] {
                    let url = format!("{base}/marketplace.ordering.v1.{method}");
                    let (status, text) = grpc_status_of(&url, &m.token, message).await;
                    assert_eq!(
                        status, "3",
                        "{mode:?} {url} {message:?}: INVALID_ARGUMENT expected, got {status} {text}"
                    );
                    assert!(text.contains("not%20valid%20protobuf"), "{text}");
                }
            }
        }
    }
}

/// Asserts a gRPC refusal as INVALID_ARGUMENT whose BadRequest names `field`.
fn assert_names_field<T: std::fmt::Debug>(
    result: Result<tonic::Response<T>, tonic::Status>,
    field: &str,
) {
    let status = result.expect_err("an unknown enum value is refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let details =
        tonic_types::StatusExt::get_details_bad_request(&status).expect("BadRequest details");
    assert!(
        details.field_violations.iter().any(|v| v.field == field),
        "{field} not named: {details:?}"
    );
}

#[tokio::test]
async fn unknown_enum_values_are_refused_naming_the_field_in_every_mode() {
    use marketplace_proto::ordering::v1 as pb;
    use marketplace_proto::ordering::v1::customer_service_client::CustomerServiceClient;
    use marketplace_proto::ordering::v1::order_service_client::OrderServiceClient;
    use marketplace_proto::ordering::v1::subscription_service_client::SubscriptionServiceClient;

    use crate::streams::{authed, grpc_channel};

    for mode in modes().await {
        let m = start(mode).await;
        let mut orders = OrderServiceClient::new(grpc_channel(&m));
        let listed = orders
            .list_orders(authed(
                &m,
                pb::ListOrdersRequest {
                    view: 99,
                    ..Default::default()
                },
            ))
            .await;
        assert_names_field(listed, "view");
        let listed = orders
            .list_orders(authed(
                &m,
                pb::ListOrdersRequest {
                    statuses: vec![99],
                    ..Default::default()
                },
            ))
            .await;
        assert_names_field(listed, "statuses[0]");
        let mut subscriptions = SubscriptionServiceClient::new(grpc_channel(&m));
        let listed = subscriptions
            .list_subscriptions(authed(
                &m,
                pb::ListSubscriptionsRequest {
                    statuses: vec![99],
                    ..Default::default()
                },
            ))
            .await;
        assert_names_field(listed, "statuses[0]");

        let mut customers = CustomerServiceClient::new(grpc_channel(&m));
        let customer = |role: i32, link_mode: i32| pb::Customer {
            name: "Enum Test Ltd".into(),
            contacts: vec![pb::Contact {
                role,
                email: "it@enum-test.example".into(),
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                ..Default::default()
            }],
            microsoft: Some(pb::MicrosoftIdentity {
                link_mode,
                ..Default::default()
            }),
            ..Default::default()
        };
        let before = m.get("/v1/customers?pageSize=100").await;
        let created = customers
            .create_customer(authed(
                &m,
                pb::CreateCustomerRequest {
                    customer: Some(customer(99, 0)),
                },
            ))
            .await;
        assert_names_field(created, "customer.contacts[0].role");
        let created = customers
            .create_customer(authed(
                &m,
                pb::CreateCustomerRequest {
                    customer: Some(customer(1, 42)),
                },
            ))
            .await;
        assert_names_field(created, "customer.microsoft.link_mode");
        assert_eq!(
            m.get("/v1/customers?pageSize=100").await,
            before,
            "nothing was created"
        );

        // Over REST an unknown enum number or name is a 400 naming the field.
        for path in ["/v1/orders?view=99", "/v1/orders?view=ORDER_VIEW_NOPE"] {
            let (status, body) = m.call(reqwest::Method::GET, path, &m.token, None).await;
            assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{path}: {body}");
            assert!(body.to_string().contains("view"), "{path}: {body}");
        }
        m.stop().await;
    }
}

#[tokio::test]
async fn over_long_strings_are_refused_naming_the_field_and_nothing_is_stored_in_every_mode() {
    use marketplace_proto::ordering::v1 as pb;
    use marketplace_proto::ordering::v1::customer_service_client::CustomerServiceClient;
    use serde_json::json;

    use crate::streams::{authed, grpc_channel};

    for mode in modes().await {
        let m = start(mode).await;
        let before = m.get("/v1/customers?pageSize=100").await;
        let huge = "x".repeat(300 * 1024);

        // REST: refused at the edge, naming the field.
        let (status, body) = m
            .call(
                reqwest::Method::POST,
                "/v1/customers",
                &m.token,
                Some(json!({"name": huge, "contacts": [{"email": "a@b.example", "firstName": "A", "lastName": "B"}]})),
            )
            .await;
        assert!(
            status == reqwest::StatusCode::BAD_REQUEST
                || status == reqwest::StatusCode::PAYLOAD_TOO_LARGE,
            "{status}: {body}"
        );
        let long_name = "x".repeat(201);
        let (status, body) = m
            .call(
                reqwest::Method::POST,
                "/v1/customers",
                &m.token,
                Some(json!({"name": long_name, "contacts": [{"email": format!("{}@b.example", "a".repeat(300)), "firstName": "A", "lastName": "B"}]})),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
        let fields: Vec<&str> = body["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert!(fields.contains(&"customer.name"), "{body}");
        assert!(fields.contains(&"customer.contacts[0].email"), "{body}");

        // gRPC (through the gateway's proxy to the service): refused by the service itself.
        let mut customers = CustomerServiceClient::new(grpc_channel(&m));
        let status = customers
            .create_customer(authed(
                &m,
                pb::CreateCustomerRequest {
                    customer: Some(pb::Customer {
                        name: huge.clone(),
                        ..Default::default()
                    }),
                },
            ))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        let details =
            tonic_types::StatusExt::get_details_bad_request(&status).expect("BadRequest details");
        assert_eq!(
            details.field_violations[0].field, "customer.name",
            "{details:?}"
        );
        assert!(
            details.field_violations[0]
                .description
                .contains("at most 200"),
            "{details:?}"
        );
        assert_eq!(
            m.get("/v1/customers?pageSize=100").await,
            before,
            "nothing stored"
        );

        // The served OpenAPI carries the same limits.
        let openapi = m.get("/openapi.json").await;
        let customer = &openapi["components"]["schemas"]["marketplace.ordering.v1.Customer"];
        assert_eq!(
            customer["properties"]["name"]["maxLength"], 200,
            "{customer}"
        );
        let contact = &openapi["components"]["schemas"]["marketplace.ordering.v1.Contact"];
        assert_eq!(
            contact["properties"]["email"]["maxLength"], 254,
            "{contact}"
        );
        assert_eq!(
            contact["properties"]["email"]["format"], "email",
            "{contact}"
        );
        m.stop().await;
    }
}
