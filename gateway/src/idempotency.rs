//! `Idempotency-Key` on POST: the first response is stored (per caller and key) and returned
//! again to a retry; the same key with a different request is refused (422), and a retry while
//! the first request still runs is refused (409).

use std::time::Duration;

use platform::clock::{SharedClock, to_micros};
use platform::error::ErrorCode;
use platform::identity::Principal;
use sha2::{Digest, Sha256};

use crate::problem::Problem;
use crate::store::Store;

/// Request header carrying the key.
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Response header marking a replayed response.
pub(crate) const REPLAYED: &str = "idempotent-replayed";

/// A claimed key, to complete once the response is known.
#[derive(Debug)]
pub(crate) struct Claim {
    scope: String,
    key: String,
}

/// A stored first response.
#[derive(Debug)]
pub(crate) struct Replay {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) etag: String,
}

/// What to do with a request carrying a key.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// First time: run it, then [`Idempotency::complete`].
    Proceed(Claim),
    /// Answered before: return the stored response.
    Replay(Replay),
}

/// Idempotency records.
#[derive(Debug, Clone)]
pub(crate) struct Idempotency {
    store: Store,
    clock: SharedClock,
    ttl: Duration,
    stale_after: Duration,
}

impl Idempotency {
    /// Records kept for `ttl`; a pending record older than `stale_after` (longer than any
    /// request may run) belongs to an abandoned request and an identical retry takes it over.
    pub(crate) fn new(
        store: Store,
        clock: SharedClock,
        ttl: Duration,
        stale_after: Duration,
    ) -> Self {
        Self {
            store,
            clock,
            ttl,
            stale_after,
        }
    }

    /// Validates the key and claims it, or finds the earlier answer.
    pub(crate) async fn begin(
        &self,
        principal: &Principal,
        key: &str,
        method: &str,
        route: &str,
        body: &[u8],
    ) -> Result<Outcome, Problem> {
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Problem::invalid(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            ));
        }
        let scope = format!(
            "{}|{}|{}",
            principal.role.as_str(),
            principal.reseller_id.as_deref().unwrap_or(""),
            principal.subject
        );
        let mut hasher = Sha256::new();
        hasher.update(method.as_bytes());
        hasher.update([0]);
        hasher.update(route.as_bytes());
        hasher.update([0]);
        hasher.update(body);
        let hash = hex::encode(hasher.finalize());
        let now = to_micros(self.clock.now());
        let expire = now + self.ttl.as_micros() as i64;
        let existing = self
            .store
            .claim_idempotency_key(
                &scope,
                key,
                &hash,
                now,
                expire,
                now - self.stale_after.as_micros() as i64,
            )
            .await
            .map_err(Problem::from)?;
        let Some(record) = existing else {
            return Ok(Outcome::Proceed(Claim {
                scope,
                key: key.to_string(),
            }));
        };
        if record.request_hash != hash {
            return Err(Problem::from(platform::ServiceError::new(
                ErrorCode::FailedPrecondition,
                "this Idempotency-Key was already used for a different request",
            )));
        }
        if record.state != "done" {
            return Err(Problem::from(platform::ServiceError::new(
                ErrorCode::AlreadyExists,
                "a request with this Idempotency-Key is still being processed; retry later",
            )));
        }
        Ok(Outcome::Replay(Replay {
            status: u16::try_from(record.status_code).unwrap_or(200),
            body: record.body,
            etag: record.etag,
        }))
    }

    /// Stores the first response (or releases the key when the outcome is worth retrying).
    pub(crate) async fn complete(&self, claim: Claim, status: u16, body: &str, etag: &str) {
        let keep = (200..300).contains(&status) || matches!(status, 400 | 404 | 412 | 422);
        let result = if keep {
            self.store
                .complete_idempotency_key(&claim.scope, &claim.key, i64::from(status), body, etag)
                .await
        } else {
            self.store
                .release_idempotency_key(&claim.scope, &claim.key)
                .await
        };
        if let Err(error) = result {
            tracing::warn!(%error, "cannot record idempotent response");
        }
    }

    /// Releases a claim without a response (stream, panic guard).
    pub(crate) async fn release(&self, claim: Claim) {
        if let Err(error) = self
            .store
            .release_idempotency_key(&claim.scope, &claim.key)
            .await
        {
            tracing::warn!(%error, "cannot release idempotency key");
        }
    }

    /// Deletes expired records.
    pub(crate) async fn purge(&self) {
        match self
            .store
            .purge_idempotency(to_micros(self.clock.now()))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!(purged = n, "expired idempotency records deleted"),
            Err(error) => tracing::warn!(%error, "cannot purge idempotency records"),
        }
    }
}
