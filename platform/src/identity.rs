//! The caller's identity as services see it.
//!
//! The gateway authenticates people (JWT) and partner systems (API keys), then forwards the
//! principal to services as a short-lived token signed with the internal key, in the
//! `x-marketplace-identity` metadata entry. Services verify it and never trust a tenant id sent
//! by a client: tenant scoping is derived from the verified principal ([`Principal::reseller_scope`]).

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{FieldViolation, ServiceError, ServiceResult};

/// Metadata / header carrying the signed principal between services.
pub const IDENTITY_HEADER: &str = "x-marketplace-identity";

const AUDIENCE: &str = "marketplace-internal";

/// Roles of the marketplace, plus `Service` for service-to-service calls made without a user
/// (event handlers, schedulers). The gateway never issues `Service`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Distributor staff.
    Staff,
    /// Reseller administrator.
    ResellerAdmin,
    /// Reseller user.
    ResellerUser,
    /// Customer administrator.
    CustomerAdmin,
    /// Customer user.
    CustomerUser,
    /// Another marketplace service acting on its own.
    Service,
}

impl Role {
    /// Parses the role claim.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "staff" => Self::Staff,
            "reseller_admin" => Self::ResellerAdmin,
            "reseller_user" => Self::ResellerUser,
            "customer_admin" => Self::CustomerAdmin,
            "customer_user" => Self::CustomerUser,
            _ => return None,
        })
    }

    /// The claim value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Staff => "staff",
            Self::ResellerAdmin => "reseller_admin",
            Self::ResellerUser => "reseller_user",
            Self::CustomerAdmin => "customer_admin",
            Self::CustomerUser => "customer_user",
            Self::Service => "service",
        }
    }

    /// Customer roles never see markup changes.
    pub fn is_customer(self) -> bool {
        matches!(self, Self::CustomerAdmin | Self::CustomerUser)
    }

    /// Reseller roles.
    pub fn is_reseller(self) -> bool {
        matches!(self, Self::ResellerAdmin | Self::ResellerUser)
    }

    /// Roles with access to every tenant.
    pub fn is_privileged(self) -> bool {
        matches!(self, Self::Staff | Self::Service)
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// User id, API key id or service name.
    pub subject: String,
    /// Name shown in "created by".
    #[serde(default)]
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Reseller the caller belongs to (reseller and customer roles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reseller_id: Option<String>,
    /// Customer the caller belongs to (customer roles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
}

impl Principal {
    /// A service acting on its own (no user), e.g. an event handler.
    pub fn service(name: &str) -> Self {
        Self {
            subject: name.to_string(),
            display_name: name.to_string(),
            role: Role::Service,
            reseller_id: None,
            customer_id: None,
        }
    }

    /// Fails unless the caller has one of `roles` (staff and services always pass).
    pub fn require(&self, roles: &[Role]) -> ServiceResult<()> {
        if self.role.is_privileged() || roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ServiceError::permission_denied(format!(
                "role {} may not do this",
                self.role.as_str()
            )))
        }
    }

    /// Fails unless the caller is staff (or a service).
    pub fn require_staff(&self) -> ServiceResult<()> {
        self.require(&[])
    }

    /// The reseller whose data the request may touch. Staff and services choose one with
    /// `requested` (which must then be set); everyone else gets their own reseller and a
    /// different `requested` id is answered as not found, leaking nothing.
    pub fn reseller_scope(&self, requested: &str) -> ServiceResult<String> {
        if self.role.is_privileged() {
            if requested.is_empty() {
                return Err(ServiceError::invalid_field(
                    "reseller_id",
                    "required for staff",
                ));
            }
            return Ok(requested.to_string());
        }
        let own = self
            .reseller_id
            .clone()
            .ok_or_else(|| ServiceError::permission_denied("caller has no reseller"))?;
        if !requested.is_empty() && requested != own {
            return Err(ServiceError::not_found(format!("reseller {requested}")));
        }
        Ok(own)
    }

    /// Like [`Self::reseller_scope`] but staff may leave it empty to mean every reseller.
    pub fn reseller_filter(&self, requested: &str) -> ServiceResult<Option<String>> {
        if self.role.is_privileged() && requested.is_empty() {
            return Ok(None);
        }
        self.reseller_scope(requested).map(Some)
    }

    /// Whether the caller may see data of `reseller_id` / `customer_id`.
    pub fn can_see(&self, reseller_id: &str, customer_id: Option<&str>) -> bool {
        if self.role.is_privileged() {
            return true;
        }
        if self.reseller_id.as_deref() != Some(reseller_id) {
            return false;
        }
        if self.role.is_customer() {
            return customer_id.is_some() && self.customer_id.as_deref() == customer_id;
        }
        true
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    aud: String,
    exp: u64,
    iat: u64,
    p: Principal,
}

/// Signs and verifies internal identity tokens with the shared internal key (HS256).
#[derive(Clone)]
pub struct IdentityKey {
    encoding: EncodingKey,
    /// The current key first, then the previous one during a rotation.
    decoding: Vec<DecodingKey>,
    ttl: Duration,
}

impl std::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityKey(<redacted>)")
    }
}

impl IdentityKey {
    /// A key from the shared secret (at least 32 bytes).
    pub fn new(secret: &[u8]) -> Result<Self, crate::config::ConfigError> {
        if secret.len() < 32 {
            return Err(crate::config::ConfigError(
                "setting `auth.internal_key` must be at least 32 bytes".into(),
            ));
        }
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: vec![DecodingKey::from_secret(secret)],
            ttl: Duration::from_secs(300),
        })
    }

    /// Also accepts tokens signed with `previous` (key rotation: every component first learns
    /// the new key as the second accepted one, then signs with it; see the runbook).
    pub fn with_previous(mut self, previous: &[u8]) -> Result<Self, crate::config::ConfigError> {
        if previous.len() < 32 {
            return Err(crate::config::ConfigError(
                "setting `auth.previous_internal_key` must be at least 32 bytes".into(),
            ));
        }
        self.decoding.push(DecodingKey::from_secret(previous));
        Ok(self)
    }

    /// A random key (embedded mode and tests: every component shares the process).
    pub fn random() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self::new(&bytes).expect("32 random bytes are a valid key")
    }

    /// Signs a principal into a token.
    pub fn sign(&self, principal: &Principal) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: principal.subject.clone(),
            aud: AUDIENCE.into(),
            iat: now,
            exp: now + self.ttl.as_secs(),
            p: principal.clone(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default()
    }

    /// Verifies a token.
    pub fn verify(&self, token: &str) -> ServiceResult<Principal> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 5;
        self.decoding
            .iter()
            .find_map(|key| jsonwebtoken::decode::<Claims>(token, key, &validation).ok())
            .map(|data| data.claims.p)
            .ok_or_else(|| ServiceError::unauthenticated("invalid internal identity"))
    }

    /// Authenticates a gRPC request by its identity metadata, then checks the message against
    /// the contract's input limits (`marketplace_proto::limits`): every RPC passes here, so no
    /// over-long field reaches a use case or a table.
    pub fn authenticate<T>(&self, request: &tonic::Request<T>) -> ServiceResult<Principal>
    where
        T: prost::Message + prost::Name,
    {
        let token = request
            .metadata()
            .get(IDENTITY_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ServiceError::unauthenticated("missing identity"))?;
        let principal = self.verify(token)?;
        let violations = marketplace_proto::limits::check(request.get_ref());
        if !violations.is_empty() {
            return Err(ServiceError::invalid_fields(
                violations
                    .into_iter()
                    .map(|v| FieldViolation {
                        field: v.field,
                        description: v.description,
                    })
                    .collect(),
            ));
        }
        Ok(principal)
    }

    /// Attaches a principal to an outgoing gRPC request.
    pub fn attach<T>(&self, request: &mut tonic::Request<T>, principal: &Principal) {
        if let Ok(value) = self.sign(principal).parse() {
            request.metadata_mut().insert(IDENTITY_HEADER, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reseller_user() -> Principal {
        Principal {
            subject: "u1".into(),
            display_name: "U".into(),
            role: Role::ResellerUser,
            reseller_id: Some("r1".into()),
            customer_id: None,
        }
    }

    #[test]
    fn token_round_trip_and_tamper_detection() {
        let key = IdentityKey::random();
        let token = key.sign(&reseller_user());
        assert_eq!(key.verify(&token).unwrap(), reseller_user());
        assert!(IdentityKey::random().verify(&token).is_err());
        assert!(key.verify(&format!("{token}x")).is_err());
    }

    #[test]
    fn previous_key_is_accepted_during_rotation() {
        let old = [7u8; 32];
        let new = [9u8; 32];
        let token = IdentityKey::new(&old).unwrap().sign(&reseller_user());
        assert!(IdentityKey::new(&new).unwrap().verify(&token).is_err());
        let rotating = IdentityKey::new(&new).unwrap().with_previous(&old).unwrap();
        assert_eq!(rotating.verify(&token).unwrap(), reseller_user());
    }

    #[test]
    fn reseller_scope_never_trusts_client_ids() {
        let p = reseller_user();
        assert_eq!(p.reseller_scope("").unwrap(), "r1");
        assert_eq!(
            p.reseller_scope("r2").unwrap_err().code,
            crate::error::ErrorCode::NotFound
        );
        let staff = Principal {
            role: Role::Staff,
            reseller_id: None,
            ..p
        };
        assert_eq!(staff.reseller_scope("r2").unwrap(), "r2");
        assert!(staff.reseller_filter("").unwrap().is_none());
    }
}
