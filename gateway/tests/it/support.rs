//! Test harness: a gateway on 127.0.0.1:0 (REST and gRPC) in front of the fakes, tokens for any
//! role, and a raw-bytes gRPC codec for calling every method generically.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut};
use gateway::{App, Dependencies, Settings};
use marketplace_platform::db::Backend;
use marketplace_platform::identity::{IdentityKey, Role};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::fakes::{self, Fake, Observed};

pub(crate) const SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";
pub(crate) const ISSUER: &str = "test-issuer";
pub(crate) const AUDIENCE: &str = "test-audience";

pub(crate) struct Harness {
    pub(crate) rest: String,
    pub(crate) grpc: String,
    pub(crate) observed: Arc<Observed>,
    /// URL of the fake catalog/ordering backend (for direct calls).
    #[allow(dead_code)]
    pub(crate) backend: String,
    /// The internal identity key the gateway signs with.
    #[allow(dead_code)]
    pub(crate) identity: IdentityKey,
    pub(crate) http: reqwest::Client,
    pub(crate) shutdown: CancellationToken,
    pub(crate) running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Harness {
    /// A gateway on SQLite with default test settings.
    pub(crate) async fn start() -> Self {
        Self::start_with(Backend::Sqlite, |_| {}).await
    }

    /// A gateway on `backend`, with settings adjusted by `customize`.
    pub(crate) async fn start_with(
        backend: Backend,
        customize: impl FnOnce(&mut Settings),
    ) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let identity = IdentityKey::random();
        let observed = Arc::new(Observed::default());
        let fake_url = fakes::start(Fake {
            identity: identity.clone(),
            observed: observed.clone(),
        })
        .await;
        let database = marketplace_platform::db::testing::fresh_settings(backend).await;
        let mut settings = Settings::with_database(database);
        settings.catalog_url = fake_url.clone();
        settings.ordering_url = fake_url.clone();
        settings.provisioning_url = "http://127.0.0.1:1".into();
        settings.notification_url = "http://127.0.0.1:1".into();
        settings.auth.jwt_issuer = ISSUER.into();
        settings.auth.jwt_audience = AUDIENCE.into();
        settings.auth.jwt_hs256_secret = marketplace_platform::config::Secret::new(SECRET);
        settings.rate_limit.enabled = false;
        customize(&mut settings);
        let deps = Dependencies {
            identity: identity.clone(),
            clock: marketplace_platform::clock::system(),
            page_tokens: marketplace_platform::paging::PageTokens::random(),
        };
        let app = App::build(settings, deps).await.expect("gateway builds");
        let http_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind rest");
        let grpc_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind grpc");
        let rest = format!("http://{}", http_listener.local_addr().expect("rest addr"));
        let grpc = format!("http://{}", grpc_listener.local_addr().expect("grpc addr"));
        let shutdown = CancellationToken::new();
        let running = Some(tokio::spawn(app.run(
            http_listener,
            grpc_listener,
            shutdown.clone(),
        )));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        Self {
            rest,
            grpc,
            observed,
            backend: fake_url,
            identity,
            http,
            shutdown,
            running,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.rest)
    }

    /// A GET with a bearer token.
    pub(crate) async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// A POST of a JSON text with a bearer token.
    pub(crate) async fn post(&self, path: &str, token: &str, body: &str) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request")
    }

    /// A channel to the gateway's gRPC listener.
    pub(crate) async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(self.grpc.clone())
            .expect("endpoint")
            .connect()
            .await
            .expect("connect grpc")
    }
}

/// An HS256 token for `role` (reseller `r1`, customer `c1` where the role needs them).
pub(crate) fn token(role: Role) -> String {
    let reseller = (role != Role::Staff).then_some("r1");
    let customer = role.is_customer().then_some("c1");
    gateway::demo_token(
        SECRET,
        ISSUER,
        AUDIENCE,
        &format!("user-{}", role.as_str()),
        role.as_str(),
        reseller,
        customer,
        Duration::from_secs(600),
    )
}

/// Every role the gateway issues.
pub(crate) const ROLES: [Role; 5] = [
    Role::Staff,
    Role::ResellerAdmin,
    Role::ResellerUser,
    Role::CustomerAdmin,
    Role::CustomerUser,
];

/// A codec sending and receiving raw protobuf bytes (an empty message is valid for every type).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RawCodec;

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RawEncoder;

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        let bytes = src.copy_to_bytes(src.remaining());
        Ok(Some(bytes.to_vec()))
    }
}

/// Calls any method with an empty request and the given metadata; returns the status code.
pub(crate) async fn raw_call(
    channel: tonic::transport::Channel,
    path: &str,
    metadata: &[(&'static str, String)],
) -> tonic::Code {
    raw_call_with(channel, path, metadata, Vec::new()).await
}

/// Calls any method with an encoded request message and the given metadata.
pub(crate) async fn raw_call_with(
    channel: tonic::transport::Channel,
    path: &str,
    metadata: &[(&'static str, String)],
    message: Vec<u8>,
) -> tonic::Code {
    let mut grpc = tonic::client::Grpc::new(channel);
    if grpc.ready().await.is_err() {
        return tonic::Code::Unavailable;
    }
    let mut request = tonic::Request::new(message);
    for (key, value) in metadata {
        request
            .metadata_mut()
            .insert(*key, value.parse().expect("metadata value"));
    }
    let path = http::uri::PathAndQuery::try_from(path).expect("path");
    match grpc.unary(request, path, RawCodec).await {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    }
}
