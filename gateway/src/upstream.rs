//! The services behind the gateway, by protobuf package, as one boxed gRPC transport type: a
//! lazily connected channel for remote services, the in-process `ApiKeyService` for the
//! gateway's own package. Typed unary and server-streaming calls over it carry the signed
//! identity and the per-route deadline.

use std::convert::Infallible;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use http::uri::PathAndQuery;
use platform::error::{FieldViolation, ServiceError, ServiceResult};
use platform::identity::IDENTITY_HEADER;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::body::Body;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

/// Error of a transport: carries the gRPC status tonic reports for it (a concrete type, since
/// boxed trait objects trip tonic's `Into<StdError>` bound inside `Send` futures).
#[derive(Debug)]
pub(crate) struct TransportError(tonic::Status);

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.message())
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// A gRPC transport to one service.
pub(crate) type Upstream =
    BoxCloneSyncService<http::Request<Body>, http::Response<Body>, TransportError>;

/// The transports by package.
#[derive(Clone)]
pub(crate) struct Upstreams {
    pub(crate) catalog: Upstream,
    pub(crate) ordering: Upstream,
    pub(crate) provisioning: Upstream,
    pub(crate) notification: Upstream,
    pub(crate) gateway: Upstream,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Upstreams")
    }
}

/// A transport to a remote service at `url`.
pub(crate) fn remote(url: &str, timeout: Duration) -> anyhow::Result<Upstream> {
    let channel = platform::grpc_client::channel(url, timeout)?;
    Ok(BoxCloneSyncService::new(channel.map_err(|e| {
        tracing::debug!(error = %e, "upstream transport error");
        TransportError(tonic::Status::unavailable("service unavailable"))
    })))
}

/// A transport to an in-process tonic service.
pub(crate) fn local<S>(service: S) -> Upstream
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    BoxCloneSyncService::new(
        service.map_err(|never: Infallible| -> TransportError { match never {} }),
    )
}

impl Upstreams {
    /// The service owning a gRPC path `/marketplace.<pkg>.v1.<Service>/<Method>`.
    pub(crate) fn for_path(&self, grpc_path: &str) -> Option<&Upstream> {
        let package = grpc_path.strip_prefix("/marketplace.")?.split('.').next()?;
        Some(match package {
            "catalog" => &self.catalog,
            "ordering" => &self.ordering,
            "provisioning" => &self.provisioning,
            "notification" => &self.notification,
            "gateway" => &self.gateway,
            _ => return None,
        })
    }
}

/// One call to make: where, what (JSON of the request message), as whom, how long.
pub(crate) struct Call {
    pub(crate) upstream: Upstream,
    pub(crate) path: String,
    pub(crate) request: serde_json::Value,
    /// Signed `x-marketplace-identity` token.
    pub(crate) identity: String,
    /// Deadline of a unary call.
    pub(crate) timeout: Option<Duration>,
    /// Incoming headers whose trace context continues upstream.
    pub(crate) traceparent: Option<http::HeaderValue>,
}

/// A stream of JSON messages.
pub(crate) type JsonStream = BoxStream<'static, ServiceResult<serde_json::Value>>;

/// A typed call over JSON, for one RPC.
#[derive(Clone, Copy)]
pub(crate) enum Invoker {
    /// Unary RPC.
    Unary(fn(Call) -> BoxFuture<'static, ServiceResult<serde_json::Value>>),
    /// Server-streaming RPC.
    Streaming(fn(Call) -> BoxFuture<'static, ServiceResult<JsonStream>>),
}

impl std::fmt::Debug for Invoker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Unary(_) => "Invoker::Unary",
            Self::Streaming(_) => "Invoker::Streaming",
        })
    }
}

/// The request message from its JSON; a mismatch names the offending field by its path in the
/// request (`customer.contacts[0].email`, or the unknown key itself), `body` when at the top.
fn message<Req: DeserializeOwned>(json: serde_json::Value) -> ServiceResult<Req> {
    serde_path_to_error::deserialize(json).map_err(|e| {
        let path = e.path().to_string();
        let field = if path.is_empty() || path == "." {
            "body"
        } else {
            path.as_str()
        };
        ServiceError::invalid_field(
            field,
            format!("does not match the request schema: {}", e.inner()),
        )
    })
}

fn request<Req>(call: &Call) -> ServiceResult<tonic::Request<Req>>
where
    Req: DeserializeOwned + prost::Message + prost::Name,
{
    let message: Req = message(call.request.clone())?;
    // The edge refuses what the service would: the same limits, before any upstream call.
    let violations = marketplace_proto::limits::check(&message);
    if !violations.is_empty() {
        return Err(ServiceError::invalid_fields(
            violations
                .into_iter()
                .map(|v| FieldViolation {
                    field: v.json_field,
                    description: v.description,
                })
                .collect(),
        ));
    }
    let mut request = tonic::Request::new(message);
    if let Ok(value) = call.identity.parse() {
        request.metadata_mut().insert(IDENTITY_HEADER, value);
    }
    if let Some(traceparent) = &call.traceparent
        && let Ok(value) = traceparent.to_str().unwrap_or_default().parse()
    {
        request.metadata_mut().insert("traceparent", value);
    }
    if let Some(timeout) = call.timeout {
        // The upstream deadline trails the gateway's own so the caller sees a clean 504.
        request.set_timeout(timeout + Duration::from_millis(100));
    }
    Ok(request)
}

fn path(call: &Call) -> ServiceResult<PathAndQuery> {
    PathAndQuery::try_from(call.path.as_str()).map_err(|e| ServiceError::internal("grpc path", e))
}

fn unavailable(error: impl std::fmt::Display) -> ServiceError {
    tracing::warn!(%error, "upstream unavailable");
    ServiceError::unavailable("service unavailable")
}

/// An upstream error as a service error; an operation the service does not implement (yet) is
/// unavailable rather than an internal error.
fn from_status(status: &tonic::Status) -> ServiceError {
    if status.code() == tonic::Code::Unimplemented {
        return ServiceError::unavailable("this operation is not available yet");
    }
    ServiceError::from_status(status)
}

fn to_json<T: Serialize>(message: &T) -> ServiceResult<serde_json::Value> {
    serde_json::to_value(message).map_err(|e| ServiceError::internal("encode response", e))
}

/// A unary call with request `Req` and response `Resp`.
pub(crate) fn unary<Req, Resp>(call: Call) -> BoxFuture<'static, ServiceResult<serde_json::Value>>
where
    Req: prost::Message + prost::Name + DeserializeOwned + Default + Send + 'static,
    Resp: prost::Message + Serialize + Default + Send + 'static,
{
    Box::pin(async move {
        let request = request::<Req>(&call)?;
        let path = path(&call)?;
        let mut grpc = tonic::client::Grpc::new(call.upstream);
        grpc.ready().await.map_err(unavailable)?;
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        let response = grpc
            .unary(request, path, codec)
            .await
            .map_err(|status| from_status(&status))?;
        to_json(response.get_ref())
    })
}

/// A server-streaming call with request `Req` and messages `Resp`.
pub(crate) fn streaming<Req, Resp>(call: Call) -> BoxFuture<'static, ServiceResult<JsonStream>>
where
    Req: prost::Message + prost::Name + DeserializeOwned + Default + Send + 'static,
    Resp: prost::Message + Serialize + Default + Send + 'static,
{
    Box::pin(async move {
        let mut call = call;
        call.timeout = None;
        let request = request::<Req>(&call)?;
        let path = path(&call)?;
        let mut grpc = tonic::client::Grpc::new(call.upstream);
        grpc.ready().await.map_err(unavailable)?;
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        let response = grpc
            .server_streaming(request, path, codec)
            .await
            .map_err(|status| from_status(&status))?;
        let stream = response.into_inner().map(|item| match item {
            Ok(message) => to_json(&message),
            Err(status) => Err(from_status(&status)),
        });
        Ok(stream.boxed())
    })
}

/// Registers typed invokers by gRPC path.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(crate) invokers: std::collections::HashMap<String, Invoker>,
}

impl Registry {
    /// Registers a unary RPC of `service` (full name).
    pub(crate) fn unary<Req, Resp>(&mut self, service: &str, method: &str)
    where
        Req: prost::Message + prost::Name + DeserializeOwned + Default + Send + 'static,
        Resp: prost::Message + Serialize + Default + Send + 'static,
    {
        self.invokers.insert(
            format!("/{service}/{method}"),
            Invoker::Unary(unary::<Req, Resp>),
        );
    }

    /// Registers a server-streaming RPC of `service` (full name).
    pub(crate) fn streaming<Req, Resp>(&mut self, service: &str, method: &str)
    where
        Req: prost::Message + prost::Name + DeserializeOwned + Default + Send + 'static,
        Resp: prost::Message + Serialize + Default + Send + 'static,
    {
        self.invokers.insert(
            format!("/{service}/{method}"),
            Invoker::Streaming(streaming::<Req, Resp>),
        );
    }
}
