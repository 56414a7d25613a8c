//! gRPC clients between services: lazily connected channels with deadlines and keep-alive, a
//! layer that injects the caller's trace context, and retries for idempotent calls only.

use std::future::Future;
use std::time::Duration;

use tonic::body::Body;
use tonic::transport::{Channel, Endpoint};

/// A channel that injects W3C trace context into every request.
pub type TracedChannel =
    tower::util::MapRequest<Channel, fn(http::Request<Body>) -> http::Request<Body>>;

fn inject(mut request: http::Request<Body>) -> http::Request<Body> {
    crate::propagation::inject_headers(request.headers_mut());
    request
}

/// A lazily connected channel to `url` (`http://host:port`), failing calls after `timeout`.
pub fn channel(url: &str, timeout: Duration) -> anyhow::Result<TracedChannel> {
    let channel = Endpoint::from_shared(url.to_string())
        .map_err(|e| anyhow::anyhow!("invalid service address {url}: {e}"))?
        .connect_timeout(Duration::from_secs(3))
        .timeout(timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true)
        .connect_lazy();
    Ok(tower::util::MapRequest::new(channel, inject as fn(_) -> _))
}

/// Retries an idempotent call (reads, or writes carrying a request id) when the peer is
/// unavailable, with short exponential backoff. Never use for non-idempotent calls.
pub async fn retry_idempotent<T, F, Fut>(attempts: u32, mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    let mut delay = Duration::from_millis(50);
    let mut attempt = 1;
    loop {
        match call().await {
            Err(status) if attempt < attempts && status.code() == tonic::Code::Unavailable => {
                tracing::debug!(attempt, code = ?status.code(), "retrying idempotent call");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
                attempt += 1;
            }
            other => return other,
        }
    }
}
