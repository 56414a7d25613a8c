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
