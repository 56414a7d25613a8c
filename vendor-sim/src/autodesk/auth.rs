//! Autodesk authentication: the client-credentials token call and the signed API calls.
//!
//! - Token call: `Authorization: Basic base64(key:secret)`, `timestamp` (unix seconds),
//!   `signature = Base64(HMAC-SHA256(secret, callback_url + consumer_key + timestamp))`.
//! - API call: `Authorization: Bearer <token>`, `timestamp`,
//!   `signature = Base64(HMAC-SHA256(secret, callback_url + access_token + timestamp))`,
//!   `CSN: <partner csn>`.
//!
//! Timestamps must be within 5 minutes of the (wall) clock, in either direction.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use time::OffsetDateTime;

use super::codes;
use super::error::AdError;
use crate::config::AutodeskCredentials;

/// Largest accepted distance between a request `timestamp` and the clock.
pub(crate) const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

/// `Base64(HMAC-SHA256(key = consumer_secret, msg = callback_url + subject + timestamp))`, where
/// `subject` is the consumer key (token call) or the access token (API calls).
pub fn signature(
    consumer_secret: &str,
    callback_url: &str,
    subject: &str,
    timestamp: &str,
) -> String {
    STANDARD.encode(
        mac(consumer_secret, callback_url, subject, timestamp)
            .finalize()
            .into_bytes(),
    )
}

fn mac(consumer_secret: &str, callback_url: &str, subject: &str, timestamp: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(consumer_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("hmac takes keys of any length"));
    mac.update(callback_url.as_bytes());
    mac.update(subject.as_bytes());
    mac.update(timestamp.as_bytes());
    mac
}

fn signature_matches(
    creds: &AutodeskCredentials,
    subject: &str,
    timestamp: &str,
    provided: &str,
) -> bool {
    let Ok(provided) = STANDARD.decode(provided.trim()) else {
        return false;
    };
    mac(
        &creds.consumer_secret,
        &creds.callback_url,
        subject,
        timestamp,
    )
    .verify_slice(&provided)
    .is_ok()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn timestamp_is_fresh(timestamp: &str, wall_now: OffsetDateTime) -> bool {
    timestamp
        .parse::<i64>()
        .is_ok_and(|ts| (wall_now.unix_timestamp() - ts).abs() <= TIMESTAMP_TOLERANCE_SECS)
}

/// The credentials part of `Authorization: <scheme> <credentials>` if the scheme matches.
fn credentials<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let value = header(headers, "authorization")?;
    let (given, rest) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// Checks a token request; every failure is a 401.
pub(crate) fn verify_token_request(
    creds: &AutodeskCredentials,
    headers: &HeaderMap,
    wall_now: OffsetDateTime,
) -> Result<(), AdError> {
    let basic = credentials(headers, "Basic").ok_or_else(|| {
        AdError::unauthorized(
            codes::MISSING_AUTHORIZATION,
            "Authorization: Basic base64(consumer_key:consumer_secret) is required",
        )
    })?;
    let decoded = STANDARD
        .decode(basic)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default();
    let valid_client = decoded
        .split_once(':')
        .is_some_and(|(key, secret)| key == creds.consumer_key && secret == creds.consumer_secret);
    if !valid_client {
        return Err(AdError::unauthorized(
            codes::TOKEN_GENERATION_FAILED,
            "consumer key or consumer secret is not valid",
        ));
    }
    let timestamp = header(headers, "timestamp").ok_or_else(|| {
        AdError::unauthorized(codes::MISSING_TIMESTAMP, "timestamp header is required")
    })?;
    let signature = header(headers, "signature").ok_or_else(|| {
        AdError::unauthorized(codes::MISSING_SIGNATURE, "signature header is required")
    })?;
    if !timestamp_is_fresh(timestamp, wall_now) {
        return Err(AdError::unauthorized(
            codes::INVALID_TIMESTAMP,
            "timestamp must be unix seconds within 5 minutes of the server time",
        ));
    }
    if !signature_matches(creds, &creds.consumer_key, timestamp, signature) {
        return Err(AdError::unauthorized(
            codes::INVALID_SIGNATURE,
            "signature does not match Base64(HMAC-SHA256(secret, callback_url + consumer_key + timestamp))",
        ));
    }
    Ok(())
}

/// Checks a signed API call against the issued tokens (token → expiry).
pub(crate) fn verify_api_call(
    creds: &AutodeskCredentials,
    tokens: &HashMap<String, OffsetDateTime>,
    headers: &HeaderMap,
    wall_now: OffsetDateTime,
) -> Result<(), AdError> {
    let token = credentials(headers, "Bearer").ok_or_else(|| {
        AdError::unauthorized(
            codes::MISSING_AUTHORIZATION,
            "Authorization: Bearer <access_token> is required",
        )
    })?;
    match tokens.get(token) {
        Some(expires) if *expires > wall_now => {}
        Some(_) => {
            return Err(AdError::unauthorized(
                codes::INVALID_TOKEN,
                "access token has expired; generate a new one",
            ));
        }
        None => {
            return Err(AdError::unauthorized(
                codes::INVALID_TOKEN,
                "access token is not valid",
            ));
        }
    }
    let timestamp = header(headers, "timestamp").ok_or_else(|| {
        AdError::unauthorized(codes::MISSING_TIMESTAMP, "timestamp header is required")
    })?;
    let signature = header(headers, "signature").ok_or_else(|| {
        AdError::unauthorized(codes::MISSING_SIGNATURE, "signature header is required")
    })?;
    let csn = header(headers, "csn")
        .ok_or_else(|| AdError::unauthorized(codes::MISSING_CSN, "CSN header is required"))?;
    if !timestamp_is_fresh(timestamp, wall_now) {
        return Err(AdError::forbidden(
            codes::INVALID_TIMESTAMP,
            "timestamp must be unix seconds within 5 minutes of the server time",
        ));
    }
    if !signature_matches(creds, token, timestamp, signature) {
        return Err(AdError::forbidden(
            codes::INVALID_SIGNATURE,
            "signature does not match Base64(HMAC-SHA256(secret, callback_url + access_token + timestamp))",
        ));
    }
    if csn != creds.partner_csn {
        return Err(AdError::forbidden(
            codes::INVALID_CSN,
            "CSN is not associated with this partner application",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_base64_hmac_sha256_of_the_concatenation() {
        let sig = signature("secret", "https://cb", "key", "1700000000");
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(b"secret").unwrap_or_else(|_| unreachable!());
        mac.update(b"https://cbkey1700000000");
        assert_eq!(sig, STANDARD.encode(mac.finalize().into_bytes()));
        let creds = AutodeskCredentials {
            consumer_secret: "secret".into(),
            callback_url: "https://cb".into(),
            ..AutodeskCredentials::default()
        };
        assert!(signature_matches(&creds, "key", "1700000000", &sig));
        assert!(!signature_matches(&creds, "key", "1700000001", &sig));
        assert!(!signature_matches(
            &creds,
            "key",
            "1700000000",
            "not base64!"
        ));
    }
}
