//! Opaque, tamper-evident page tokens bound to the caller's tenant: a token from one tenant is
//! useless to another, and a modified token is rejected as `INVALID_ARGUMENT`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

use crate::error::{ServiceError, ServiceResult};

/// Signs and checks page tokens.
#[derive(Clone)]
pub struct PageTokens {
    key: Vec<u8>,
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens(<redacted>)")
    }
}

/// Default and maximum page sizes.
pub const DEFAULT_PAGE_SIZE: i32 = 50;
/// Largest page a caller may ask for.
pub const MAX_PAGE_SIZE: i32 = 500;

/// Clamps a requested page size (0 = default); negative sizes are bad input.
pub fn page_size(requested: i32) -> ServiceResult<i64> {
    match requested {
        n if n < 0 => Err(ServiceError::invalid_field(
            "page_size",
            "must not be negative",
        )),
        0 => Ok(i64::from(DEFAULT_PAGE_SIZE)),
        n => Ok(i64::from(n.min(MAX_PAGE_SIZE))),
    }
}

impl PageTokens {
    /// Tokens signed with `key`.
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    /// Random key (tokens survive only the process; fine for embedded mode and tests).
    pub fn random() -> Self {
        let key: [u8; 32] = rand::random();
        Self::new(&key)
    }

    /// The keyed MAC state over `scope` and `body` (the token carries its first 16 bytes).
    fn mac(&self, scope: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("hmac accepts any key length");
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(body);
        mac
    }

    /// Encodes a cursor for `scope` (tenant + query).
    pub fn encode<T: Serialize>(&self, scope: &str, cursor: &T) -> String {
        let body = serde_json::to_vec(cursor).unwrap_or_default();
        let mut bytes = self.mac(scope, &body).finalize().into_bytes()[..16].to_vec();
        bytes.extend_from_slice(&body);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Decodes a cursor; empty token = first page.
    pub fn decode<T: DeserializeOwned>(
        &self,
        scope: &str,
        token: &str,
    ) -> ServiceResult<Option<T>> {
        if token.is_empty() {
            return Ok(None);
        }
        let invalid = || ServiceError::invalid_field("page_token", "invalid or expired page token");
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        if bytes.len() < 16 {
            return Err(invalid());
        }
        let (mac, body) = bytes.split_at(16);
        // Constant-time comparison: the time to refuse a forged token says nothing about the MAC.
        self.mac(scope, body)
            .verify_truncated_left(mac)
            .map_err(|_| invalid())?;
        serde_json::from_slice(body)
            .map(Some)
            .map_err(|_| invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_tokens_are_rejected_not_panicked_on(token in "\\PC{0,200}") {
            let tokens = PageTokens::new(b"fixed-key-for-property-tests-0001");
            let decoded = tokens.decode::<(i64, String)>("r1", &token);
            prop_assert!(token.is_empty() || decoded.is_err());
        }

        #[test]
        fn tokens_round_trip_only_in_their_scope(n in any::<i64>(), s in "\\PC{0,40}", scope in "[a-z0-9-]{1,20}") {
            let tokens = PageTokens::new(b"fixed-key-for-property-tests-0001");
            let token = tokens.encode(&scope, &(n, s.clone()));
            prop_assert_eq!(tokens.decode::<(i64, String)>(&scope, &token).unwrap(), Some((n, s)));
            let other = format!("{scope}x");
            prop_assert!(tokens.decode::<(i64, String)>(&other, &token).is_err());
        }
    }

    #[test]
    fn tokens_are_bound_to_scope_and_tamper_evident() {
        let tokens = PageTokens::random();
        let t = tokens.encode("r1", &(42_i64, "abc"));
        assert_eq!(
            tokens.decode::<(i64, String)>("r1", &t).unwrap(),
            Some((42, "abc".to_string()))
        );
        assert!(tokens.decode::<(i64, String)>("r2", &t).is_err());
        let mut tampered = t.clone();
        tampered.push('A');
        assert!(tokens.decode::<(i64, String)>("r1", &tampered).is_err());
        assert!(tokens.decode::<(i64, String)>("r1", "%%%").is_err());
        assert!(page_size(-1).is_err());
        assert_eq!(page_size(10_000).unwrap(), 500);
    }
}
