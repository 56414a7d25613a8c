//! Authentication of a REST request or gRPC call from its headers (gRPC metadata are headers):
//! `Authorization: Bearer <JWT>` for people; for partner systems an API key, presented either as
//! `X-Api-Key: mk_…` or as `Authorization: Bearer mk_…` (a bearer credential with the API-key
//! prefix is a key, never a JWT). Credentials are never logged.

use http::HeaderMap;
use platform::error::{ServiceError, ServiceResult};
use platform::identity::Principal;

use crate::api_keys::{ApiKeys, KEY_PREFIX};
use crate::jwt::JwtVerifier;

/// Header carrying an API key.
pub(crate) const API_KEY_HEADER: &str = "x-api-key";

/// Verifies bearer tokens and API keys.
#[derive(Debug, Clone)]
pub(crate) struct Authenticator {
    jwt: JwtVerifier,
    api_keys: ApiKeys,
}

impl Authenticator {
    /// An authenticator over both credential kinds.
    pub(crate) fn new(jwt: JwtVerifier, api_keys: ApiKeys) -> Self {
        Self { jwt, api_keys }
    }

    /// The caller of a request, or `UNAUTHENTICATED`.
    pub(crate) async fn authenticate(&self, headers: &HeaderMap) -> ServiceResult<Principal> {
        if let Some(value) = headers.get(http::header::AUTHORIZATION) {
            let value = value
                .to_str()
                .map_err(|_| ServiceError::unauthenticated("malformed Authorization header"))?;
            let (scheme, token) = value
                .split_once(' ')
                .ok_or_else(|| ServiceError::unauthenticated("malformed Authorization header"))?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(ServiceError::unauthenticated(
                    "only Bearer tokens are accepted",
                ));
            }
            let token = token.trim();
            if token.starts_with(KEY_PREFIX) {
                return self.api_keys.authenticate(token).await;
            }
            return self.jwt.verify(token).await;
        }
        if let Some(value) = headers.get(API_KEY_HEADER) {
            let key = value
                .to_str()
                .map_err(|_| ServiceError::unauthenticated("invalid API key"))?;
            return self.api_keys.authenticate(key.trim()).await;
        }
        Err(ServiceError::unauthenticated(
            "missing credentials: send Authorization: Bearer <token or API key> or X-Api-Key",
        ))
    }
}
