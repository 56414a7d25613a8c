//! A real HTTP webhook receiver (axum on 127.0.0.1:0) that verifies every request with its own
//! implementation of the Standard Webhooks check and answers from a script of behaviours.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// 200 "ok".
    Ok,
    /// The given status.
    Status(u16),
    /// 429 with `Retry-After: <secs>`.
    TooMany(u64),
    /// Sleep this many milliseconds, then 200.
    Slow(u64),
}

/// A request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) id: String,
    pub(crate) body: serde_json::Value,
    /// Which of the known secrets verified the signature.
    pub(crate) verified_by: Vec<String>,
    pub(crate) signature_count: usize,
}

#[derive(Default)]
struct Inner {
    script: Mutex<VecDeque<Behaviour>>,
    default: Mutex<Option<Behaviour>>,
    secrets: Mutex<Vec<String>>,
    received: Mutex<Vec<Received>>,
    notify: Notify,
}

/// A running receiver.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    inner: Arc<Inner>,
    shutdown: CancellationToken,
}

/// Independent Standard Webhooks verification: the secret's base64 part is the key; the signed
/// content is `{id}.{timestamp}.{body}`; the header lists `v1,<base64>` signatures separated by
/// spaces; the timestamp must be within five minutes.
pub(crate) fn verify_standard_webhook(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let (id, ts, sigs) = (
        get("webhook-id"),
        get("webhook-timestamp"),
        get("webhook-signature"),
    );
    let Ok(ts_num) = ts.parse::<i64>() else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if (now - ts_num).abs() > 300 || id.is_empty() {
        return false;
    }
    let Some(key_b64) = secret.strip_prefix("whsec_") else {
        return false;
    };
    let Ok(key) = B64.decode(key_b64) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
        return false;
    };
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    sigs.split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| B64.decode(s).ok())
        .any(|sig| {
            // Constant-time comparison.
            sig.len() == expected.len()
                && sig
                    .iter()
                    .zip(expected.iter())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        })
}

async fn handle(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let secrets = inner.secrets.lock().map(|s| s.clone()).unwrap_or_default();
    let verified_by = secrets
        .iter()
        .filter(|s| verify_standard_webhook(s, &headers, &body))
        .cloned()
        .collect();
    let signature_count = headers
        .get("webhook-signature")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(' ').count())
        .unwrap_or(0);
    let received = Received {
        id: headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        verified_by,
        signature_count,
    };
    let behaviour = inner
        .script
        .lock()
        .ok()
        .and_then(|mut s| s.pop_front())
        .or_else(|| inner.default.lock().ok().and_then(|d| *d))
        .unwrap_or(Behaviour::Ok);
    if let Ok(mut r) = inner.received.lock() {
        r.push(received);
    }
    inner.notify.notify_waiters();
    if let Behaviour::Slow(ms) = behaviour {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    match behaviour {
        Behaviour::Ok | Behaviour::Slow(_) => (StatusCode::OK, "ok").into_response(),
        Behaviour::Status(code) => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            format!("status {code} from receiver"),
        )
            .into_response(),
        Behaviour::TooMany(secs) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", secs.to_string())],
            "slow down",
        )
            .into_response(),
    }
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        Self::start_on(
            TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind receiver"),
        )
        .await
    }

    pub(crate) async fn start_on(listener: TcpListener) -> Receiver {
        let addr = listener.local_addr().expect("addr");
        let inner = Arc::new(Inner::default());
        let shutdown = CancellationToken::new();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(handle))
            .with_state(inner.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        });
        Receiver {
            addr,
            inner,
            shutdown,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Answers the next requests with these behaviours, then with the default.
    pub(crate) fn script(&self, behaviours: &[Behaviour]) {
        if let Ok(mut s) = self.inner.script.lock() {
            s.extend(behaviours.iter().copied());
        }
    }

    /// What to answer once the script is used up.
    pub(crate) fn set_default(&self, behaviour: Behaviour) {
        if let Ok(mut d) = self.inner.default.lock() {
            *d = Some(behaviour);
        }
    }

    /// Secrets to verify with.
    pub(crate) fn trust(&self, secret: &str) {
        if let Ok(mut s) = self.inner.secrets.lock() {
            s.push(secret.to_string());
        }
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.inner
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Waits for at least `n` requests.
    pub(crate) async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.notify.notified();
            let r = self.received();
            if r.len() >= n {
                return r;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.received();
            }
        }
    }

    pub(crate) fn stop(&self) {
        self.shutdown.cancel();
    }
}

#[test]
fn independent_verifier_accepts_the_reference_vector_shape() {
    // Our verifier checks the timestamp window, so build a fresh signature with the spec's recipe.
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
        .to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(
        &B64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("b64"),
    )
    .expect("key");
    mac.update(format!("msg_1.{now}.{{}}").as_bytes());
    let sig = format!("v1,{}", B64.encode(mac.finalize().into_bytes()));
    let mut headers = HeaderMap::new();
    headers.insert("webhook-id", "msg_1".parse().expect("h"));
    headers.insert("webhook-timestamp", now.parse().expect("h"));
    headers.insert(
        "webhook-signature",
        format!("v1,AAAA {sig}").parse().expect("h"),
    );
    assert!(verify_standard_webhook(secret, &headers, b"{}"));
    assert!(!verify_standard_webhook(secret, &headers, b"{ }"));
}
