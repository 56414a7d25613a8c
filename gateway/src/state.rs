//! What every request handler shares.

use platform::identity::IdentityKey;
use tokio_util::sync::CancellationToken;

use crate::HttpSettings;
use crate::auth::Authenticator;
use crate::descriptor::Api;
use crate::idempotency::Idempotency;
use crate::ratelimit::RateLimiter;
use crate::rest::Route;
use crate::store::Store;
use crate::upstream::Upstreams;

/// The gateway's shared state.
pub(crate) struct Gateway {
    pub(crate) api: Api,
    pub(crate) routes: Vec<Route>,
    pub(crate) upstreams: Upstreams,
    pub(crate) auth: Authenticator,
    pub(crate) identity: IdentityKey,
    pub(crate) limiter: RateLimiter,
    pub(crate) idempotency: Idempotency,
    pub(crate) store: Store,
    pub(crate) http: HttpSettings,
    /// Largest gRPC request body the proxy forwards (one message plus its 5-byte frame header).
    pub(crate) grpc_max_request_bytes: usize,
    pub(crate) openapi: bytes::Bytes,
    /// Cancelled as soon as shutdown starts (readiness turns off).
    pub(crate) stopping: CancellationToken,
    /// Cancelled when the gateway shuts down (ends open event streams, flips readiness).
    pub(crate) shutdown: CancellationToken,
}
