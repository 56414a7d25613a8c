//! JWT bearer tokens for people: issuer, audience and keys from configuration. Public keys come
//! from a JWKS file or URL (refreshed in the background, and fetched again at once — at most
//! every `jwks_refetch_min_secs` — when a token names a `kid` the gateway does not know, so a
//! rotated IdP key works from its first token). Each key verifies only the algorithm its JWK
//! names in `alg` (RS256/384/512, PS256/384/512, ES256, ES384; without `alg`: RS256 for RSA,
//! ES256/ES384 by curve); symmetric JWKs are ignored. HS256 with a shared secret exists only for
//! the embedded demo. `alg: none`, expired tokens, a wrong audience or issuer and a bad
//! signature are all refused as `UNAUTHENTICATED` without saying which check failed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use platform::config::Secret;
use platform::error::{ServiceError, ServiceResult};
use platform::identity::{Principal, Role};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// An optional setting where a blank value (e.g. `MARKETPLACE_GATEWAY__AUTH__JWKS_URL=`, the
/// only way an overlay can switch off a base value) means "not set".
fn blank_as_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.trim().is_empty()))
}

/// Authentication settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AuthSettings {
    /// Expected `iss` claim.
    pub jwt_issuer: String,
    /// Expected `aud` claim.
    pub jwt_audience: String,
    /// Shared HS256 secret (embedded demo only; empty disables HS256). At least 32 bytes.
    pub jwt_hs256_secret: Secret,
    /// Path of a JWKS document with the RS256/ES256 verification keys (blank = none).
    #[serde(deserialize_with = "blank_as_none")]
    pub jwks_file: Option<String>,
    /// URL of a JWKS document, fetched at start and every `jwks_refresh_secs` (blank = none).
    #[serde(deserialize_with = "blank_as_none")]
    pub jwks_url: Option<String>,
    /// How often the JWKS URL is fetched again.
    pub jwks_refresh_secs: u64,
    /// Least time between two fetches of the JWKS URL caused by tokens with an unknown `kid`.
    pub jwks_refetch_min_secs: u64,
    /// Clock skew tolerated on `exp`/`nbf` (seconds).
    pub leeway_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_issuer: "marketplace".into(),
            jwt_audience: "marketplace-api".into(),
            jwt_hs256_secret: Secret::default(),
            jwks_file: None,
            jwks_url: None,
            jwks_refresh_secs: 300,
            jwks_refetch_min_secs: 30,
            leeway_secs: 30,
        }
    }
}

/// Claims of a marketplace access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// `staff`, `reseller_admin`, `reseller_user`, `customer_admin` or `customer_user`.
    pub role: String,
    /// Reseller of reseller and customer roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reseller_id: Option<String>,
    /// Customer of customer roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
}

impl Claims {
    /// The principal these claims describe, when the role and tenant claims are consistent.
    pub fn principal(&self) -> ServiceResult<Principal> {
        let invalid = || ServiceError::unauthenticated("invalid token");
        let role = Role::parse(&self.role).ok_or_else(invalid)?;
        let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        let reseller_id = nonempty(&self.reseller_id);
        let customer_id = nonempty(&self.customer_id);
        match role {
            Role::ResellerAdmin | Role::ResellerUser if reseller_id.is_none() => {
                return Err(invalid());
            }
            Role::CustomerAdmin | Role::CustomerUser
                if reseller_id.is_none() || customer_id.is_none() =>
            {
                return Err(invalid());
            }
            _ => {}
        }
        if self.sub.is_empty() {
            return Err(invalid());
        }
        Ok(Principal {
            subject: self.sub.clone(),
            display_name: self
                .name
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| self.sub.clone()),
            role,
            reseller_id: if role == Role::Staff {
                None
            } else {
                reseller_id
            },
            customer_id: if role.is_customer() {
                customer_id
            } else {
                None
            },
        })
    }
}

/// Signs an HS256 demo token (the all-in-one binary prints one for the demo reseller admin).
///
/// `role` is the claim value: `staff`, `reseller_admin`, `reseller_user`, `customer_admin` or
/// `customer_user` (anything else yields a token the gateway refuses). Reseller roles need
/// `reseller_id`, customer roles both ids.
#[allow(clippy::too_many_arguments)]
pub fn demo_token(
    secret: &str,
    issuer: &str,
    audience: &str,
    subject: &str,
    role: &str,
    reseller_id: Option<&str>,
    customer_id: Option<&str>,
    ttl: Duration,
) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = Claims {
        sub: subject.to_string(),
        role: role.to_string(),
        reseller_id: reseller_id.map(str::to_string),
        customer_id: customer_id.map(str::to_string),
        name: Some(subject.to_string()),
        iss: issuer.to_string(),
        aud: audience.to_string(),
        exp: now + ttl.as_secs(),
        iat: now,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_default()
}

struct PublicKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Verifies access tokens.
#[derive(Clone)]
pub(crate) struct JwtVerifier {
    issuer: String,
    audience: String,
    leeway: u64,
    hs256: Option<Arc<DecodingKey>>,
    file_keys: Arc<Vec<PublicKey>>,
    url_keys: Arc<RwLock<Arc<Vec<PublicKey>>>>,
    /// Fetching the JWKS URL again on an unknown `kid`.
    refetch: Option<Arc<Refetch>>,
    /// Recently verified tokens (by SHA-256), so a client's repeated calls skip the signature check.
    verified: Arc<Mutex<HashMap<[u8; 32], Verified>>>,
}

/// The JWKS URL and when it was last fetched for an unknown `kid` (the lock also makes
/// concurrent requests with new kids wait for one fetch).
struct Refetch {
    url: String,
    min_interval: Duration,
    last: tokio::sync::Mutex<Option<Instant>>,
}

/// A cached verification: the principal, valid until the token expires or `CACHE_FOR` passes.
#[derive(Clone)]
struct Verified {
    principal: Principal,
    valid_until: u64,
}

/// How long a verification is reused (seconds); bounds the effect of a key rotation.
const CACHE_FOR: u64 = 60;
/// Most tokens remembered at once.
const CACHE_ENTRIES: usize = 10_000;

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A verifier from settings; loads the JWKS file and fetches the JWKS URL once.
    pub(crate) async fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let secret = settings.jwt_hs256_secret.expose();
        if !secret.is_empty() && secret.len() < 32 {
            anyhow::bail!("setting `auth.jwt_hs256_secret` must be at least 32 bytes");
        }
        let mut file_keys = Vec::new();
        if let Some(path) = &settings.jwks_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("setting `auth.jwks_file`: cannot read {path}: {e}")
            })?;
            file_keys =
                parse_jwks(&text).map_err(|e| anyhow::anyhow!("setting `auth.jwks_file`: {e}"))?;
        }
        let mut url_keys = Vec::new();
        if let Some(url) = &settings.jwks_url {
            url_keys = fetch_jwks(url)
                .await
                .map_err(|e| anyhow::anyhow!("setting `auth.jwks_url`: {e}"))?;
        }
        if secret.is_empty() && file_keys.is_empty() && url_keys.is_empty() {
            tracing::warn!(
                "no JWT verification keys configured (auth.jwt_hs256_secret, auth.jwks_file, auth.jwks_url): only API keys will authenticate"
            );
        }
        Ok(Self {
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            leeway: settings.leeway_secs,
            hs256: (!secret.is_empty())
                .then(|| Arc::new(DecodingKey::from_secret(secret.as_bytes()))),
            file_keys: Arc::new(file_keys),
            url_keys: Arc::new(RwLock::new(Arc::new(url_keys))),
            refetch: settings.jwks_url.clone().map(|url| {
                Arc::new(Refetch {
                    url,
                    min_interval: Duration::from_secs(settings.jwks_refetch_min_secs),
                    last: tokio::sync::Mutex::new(None),
                })
            }),
            verified: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Refreshes keys from the JWKS URL every `every` until `shutdown` (keeps the old keys on failure).
    pub(crate) fn spawn_refresh(
        &self,
        url: String,
        every: Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let keys = self.url_keys.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(every.max(Duration::from_secs(1))) => {}
                }
                match fetch_jwks(&url).await {
                    Ok(fresh) => {
                        if let Ok(mut guard) = keys.write() {
                            *guard = Arc::new(fresh);
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "JWKS refresh failed; keeping the previous keys")
                    }
                }
            }
        });
    }

    /// Verifies a token and returns its principal (reusing a recent verification of the same
    /// token). A token whose `kid` no key has makes the JWKS URL be fetched again first (at
    /// most once per `jwks_refetch_min_secs`).
    pub(crate) async fn verify(&self, token: &str) -> ServiceResult<Principal> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = jsonwebtoken::get_current_timestamp();
        if let Ok(cache) = self.verified.lock()
            && let Some(hit) = cache.get(&digest)
            && now < hit.valid_until
        {
            return Ok(hit.principal.clone());
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| ServiceError::unauthenticated("invalid token"))?;
        if let Some(kid) = header.kid.as_deref()
            && header.alg != Algorithm::HS256
            && !self.knows(kid)
        {
            self.refetch_for(kid).await;
        }
        let (principal, exp) = self.verify_uncached(token, &header)?;
        if let Ok(mut cache) = self.verified.lock() {
            if cache.len() >= CACHE_ENTRIES {
                cache.retain(|_, v| now < v.valid_until);
                if cache.len() >= CACHE_ENTRIES {
                    cache.clear();
                }
            }
            let valid_until = exp.min(now + CACHE_FOR);
            cache.insert(
                digest,
                Verified {
                    principal: principal.clone(),
                    valid_until,
                },
            );
        }
        Ok(principal)
    }

    fn url_keys(&self) -> Arc<Vec<PublicKey>> {
        self.url_keys
            .read()
            .map(|k| k.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Whether a configured key has `kid`.
    fn knows(&self, kid: &str) -> bool {
        self.file_keys
            .iter()
            .chain(self.url_keys().iter())
            .any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Fetches the JWKS URL again for an unknown `kid`, unless it was fetched less than
    /// `jwks_refetch_min_secs` ago (or another request just did, finding the key).
    async fn refetch_for(&self, kid: &str) {
        let Some(refetch) = &self.refetch else {
            return;
        };
        let mut last = refetch.last.lock().await;
        if self.knows(kid) || last.is_some_and(|at| at.elapsed() < refetch.min_interval) {
            return;
        }
        *last = Some(Instant::now());
        match fetch_jwks(&refetch.url).await {
            Ok(fresh) => {
                tracing::info!(
                    kid,
                    keys = fresh.len(),
                    "JWKS fetched again for an unknown key id"
                );
                if let Ok(mut guard) = self.url_keys.write() {
                    *guard = Arc::new(fresh);
                }
            }
            Err(error) => {
                tracing::warn!(%error, kid, "JWKS fetch for an unknown key id failed; keeping the previous keys")
            }
        }
    }

    fn verify_uncached(
        &self,
        token: &str,
        header: &jsonwebtoken::Header,
    ) -> ServiceResult<(Principal, u64)> {
        let invalid = || ServiceError::unauthenticated("invalid token");
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        let claims = match header.alg {
            Algorithm::HS256 => {
                let key = self.hs256.as_ref().ok_or_else(invalid)?;
                jsonwebtoken::decode::<Claims>(token, key, &validation)
                    .map_err(|_| invalid())?
                    .claims
            }
            alg if public_key_algorithm(alg) => {
                let url_keys = self.url_keys();
                let candidates = self
                    .file_keys
                    .iter()
                    .chain(url_keys.iter())
                    .filter(|k| k.algorithm == alg)
                    .filter(|k| header.kid.is_none() || k.kid == header.kid);
                let mut verified = None;
                for candidate in candidates {
                    if let Ok(data) =
                        jsonwebtoken::decode::<Claims>(token, &candidate.key, &validation)
                    {
                        verified = Some(data.claims);
                        break;
                    }
                }
                verified.ok_or_else(invalid)?
            }
            _ => return Err(invalid()),
        };
        Ok((claims.principal()?, claims.exp))
    }
}

/// The public-key algorithms JWKS keys may verify.
fn public_key_algorithm(alg: Algorithm) -> bool {
    use Algorithm as A;
    matches!(
        alg,
        A::RS256 | A::RS384 | A::RS512 | A::PS256 | A::PS384 | A::PS512 | A::ES256 | A::ES384
    )
}

/// The algorithm a JWK verifies: its `alg` when that fits the key type, else the usual one for
/// the key type (RS256; ES256 / ES384 by curve); `None` for keys we do not verify with.
fn jwk_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    use Algorithm as A;
    let named = match jwk.common.key_algorithm {
        None => None,
        Some(KeyAlgorithm::RS256) => Some(A::RS256),
        Some(KeyAlgorithm::RS384) => Some(A::RS384),
        Some(KeyAlgorithm::RS512) => Some(A::RS512),
        Some(KeyAlgorithm::PS256) => Some(A::PS256),
        Some(KeyAlgorithm::PS384) => Some(A::PS384),
        Some(KeyAlgorithm::PS512) => Some(A::PS512),
        Some(KeyAlgorithm::ES256) => Some(A::ES256),
        Some(KeyAlgorithm::ES384) => Some(A::ES384),
        // Symmetric, encryption-only or unsupported: never a verification key here.
        Some(_) => return None,
    };
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => match named {
            None => Some(A::RS256),
            Some(alg @ (A::RS256 | A::RS384 | A::RS512 | A::PS256 | A::PS384 | A::PS512)) => {
                Some(alg)
            }
            Some(_) => None,
        },
        AlgorithmParameters::EllipticCurve(ec) => {
            let by_curve = match ec.curve {
                EllipticCurve::P256 => A::ES256,
                EllipticCurve::P384 => A::ES384,
                _ => return None,
            };
            named.map_or(Some(by_curve), |alg| (alg == by_curve).then_some(alg))
        }
        _ => None,
    }
}

fn parse_jwks(text: &str) -> anyhow::Result<Vec<PublicKey>> {
    let set: JwkSet =
        serde_json::from_str(text).map_err(|e| anyhow::anyhow!("not a JWKS document: {e}"))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let Some(algorithm) = jwk_algorithm(jwk) else {
            tracing::warn!(kid = ?jwk.common.key_id, alg = ?jwk.common.key_algorithm, "JWKS key ignored: not a supported signature key");
            continue;
        };
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| anyhow::anyhow!("bad key {:?}: {e}", jwk.common.key_id))?;
        keys.push(PublicKey {
            kid: jwk.common.key_id.clone(),
            algorithm,
            key,
        });
    }
    Ok(keys)
}

async fn fetch_jwks(url: &str) -> anyhow::Result<Vec<PublicKey>> {
    crate::tls::ensure_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let text = client
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    parse_jwks(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_jwks_settings_mean_not_set() {
        let settings: AuthSettings =
            serde_json::from_str(r#"{"jwks_url": "  ", "jwks_file": ""}"#).unwrap();
        assert_eq!(settings.jwks_url, None);
        assert_eq!(settings.jwks_file, None);
        let settings: AuthSettings =
            serde_json::from_str(r#"{"jwks_url": "https://idp.example/jwks"}"#).unwrap();
        assert_eq!(
            settings.jwks_url.as_deref(),
            Some("https://idp.example/jwks")
        );
    }

    #[test]
    fn jwks_keys_verify_only_their_named_algorithm_and_symmetric_keys_are_ignored() {
        let text = r#"{"keys": [
            {"kty": "oct", "kid": "hmac", "alg": "HS256", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "p256-named-384", "alg": "ES384", "crv": "P-256", "x": "fjT3UIRpWcJ3mNIdJC12avBg7QdI8PyFcO-1x8Mb92Y", "y": "MbfhCblRXviT_oLYGfDNr2it458ySFcUqyk2QqLQ2Go"},
            {"kty": "EC", "kid": "p256", "crv": "P-256", "x": "fjT3UIRpWcJ3mNIdJC12avBg7QdI8PyFcO-1x8Mb92Y", "y": "MbfhCblRXviT_oLYGfDNr2it458ySFcUqyk2QqLQ2Go"},
            {"kty": "RSA", "kid": "rsa", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB", "alg": "PS256"}
        ]}"#;
        let keys = parse_jwks(text).unwrap();
        let named: Vec<_> = keys
            .iter()
            .map(|k| (k.kid.clone().unwrap_or_default(), k.algorithm))
            .collect();
        assert_eq!(
            named,
            vec![
                ("p256".to_string(), Algorithm::ES256),
                ("rsa".to_string(), Algorithm::PS256)
            ]
        );
    }
}
