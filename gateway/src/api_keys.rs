//! API keys for partner systems: created by a reseller admin, shown once, stored as the SHA-256
//! of a 256-bit random secret, scoped to a reseller and a role, revocable, last use recorded.
//!
//! [`ApiKeyGrpc`] serves `marketplace.gateway.v1.ApiKeyService` in-process; the gateway reaches it
//! like any other service, with the signed identity attached.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use marketplace_proto::common::v1 as common;
use marketplace_proto::gateway::v1 as pb;
use platform::clock::{SharedClock, micros_to_timestamp, to_micros};
use platform::error::{ServiceError, ServiceResult};
use platform::identity::{IdentityKey, Principal, Role};
use platform::paging::{PageTokens, page_size};
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use crate::store::{ApiKeyRecord, Store};

/// Prefix of every API key, so leaked keys are recognisable by secret scanners.
pub(crate) const KEY_PREFIX: &str = "mk_";

/// Last-used time is written at most this often per key (micros).
const TOUCH_GRANULARITY_MICROS: i64 = 60 * 1_000_000;

/// A fresh random key: `mk_` + base64url of 32 random bytes.
pub(crate) fn generate_key() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored hash of a key.
pub(crate) fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn role_to_proto(role: &str) -> i32 {
    match Role::parse(role) {
        Some(Role::Staff) => common::Role::Staff as i32,
        Some(Role::ResellerAdmin) => common::Role::ResellerAdmin as i32,
        Some(Role::ResellerUser) => common::Role::ResellerUser as i32,
        Some(Role::CustomerAdmin) => common::Role::CustomerAdmin as i32,
        Some(Role::CustomerUser) => common::Role::CustomerUser as i32,
        _ => common::Role::Unspecified as i32,
    }
}

fn to_proto(record: &ApiKeyRecord) -> pb::ApiKey {
    pb::ApiKey {
        id: record.id.clone(),
        reseller_id: record.reseller_id.clone(),
        name: record.name.clone(),
        role: role_to_proto(&record.role),
        prefix: record.prefix.clone(),
        create_time: Some(micros_to_timestamp(record.create_time)),
        last_used_time: record.last_used_time.map(micros_to_timestamp),
        revoke_time: record.revoke_time.map(micros_to_timestamp),
        created_by: Some(common::Actor {
            user_id: record.created_by_subject.clone(),
            display_name: record.created_by_name.clone(),
            organization_id: record.reseller_id.clone(),
            organization_name: String::new(),
            role: common::Role::ResellerAdmin as i32,
        }),
    }
}

/// Authenticates partner systems by API key.
#[derive(Debug, Clone)]
pub(crate) struct ApiKeys {
    store: Store,
    clock: SharedClock,
}

impl ApiKeys {
    /// Keys in `store`.
    pub(crate) fn new(store: Store, clock: SharedClock) -> Self {
        Self { store, clock }
    }

    /// The principal of a presented key; unknown and revoked keys are refused alike.
    pub(crate) async fn authenticate(&self, key: &str) -> ServiceResult<Principal> {
        let refused = || ServiceError::unauthenticated("invalid API key");
        if !key.starts_with(KEY_PREFIX) || key.len() > 128 {
            return Err(refused());
        }
        let record = self
            .store
            .api_key_by_hash(&hash_key(key))
            .await?
            .ok_or_else(refused)?;
        if record.revoke_time.is_some() {
            return Err(refused());
        }
        let role = Role::parse(&record.role)
            .filter(|r| r.is_reseller())
            .ok_or_else(refused)?;
        let now = to_micros(self.clock.now());
        if let Err(error) = self
            .store
            .touch_api_key(&record.id, now, TOUCH_GRANULARITY_MICROS)
            .await
        {
            tracing::warn!(%error, key_id = %record.id, "cannot record API key use");
        }
        Ok(Principal {
            subject: format!("apikey:{}", record.id),
            display_name: record.name,
            role,
            reseller_id: Some(record.reseller_id),
            customer_id: None,
        })
    }
}

/// `marketplace.gateway.v1.ApiKeyService`.
#[derive(Debug, Clone)]
pub(crate) struct ApiKeyGrpc {
    store: Store,
    identity: IdentityKey,
    clock: SharedClock,
    page_tokens: PageTokens,
}

impl ApiKeyGrpc {
    /// The service over `store`.
    pub(crate) fn new(
        store: Store,
        identity: IdentityKey,
        clock: SharedClock,
        page_tokens: PageTokens,
    ) -> Self {
        Self {
            store,
            identity,
            clock,
            page_tokens,
        }
    }

    async fn create(
        &self,
        principal: &Principal,
        request: pb::CreateApiKeyRequest,
    ) -> ServiceResult<pb::CreateApiKeyResponse> {
        principal.require(&[Role::ResellerAdmin])?;
        // A leaked key must not be able to mint keys that outlive its own revocation.
        if principal.subject.starts_with("apikey:") {
            return Err(ServiceError::permission_denied(
                "API keys cannot create API keys; sign in as a reseller admin",
            ));
        }
        let reseller_id = principal
            .reseller_id
            .clone()
            .ok_or_else(|| ServiceError::permission_denied("API keys belong to a reseller"))?;
        let mut violations = platform::error::Violations::new();
        let name = request.name.trim().to_string();
        if name.is_empty() {
            violations.add("name", "must not be empty");
        } else if name.chars().count() > 100 {
            violations.add("name", "must be at most 100 characters");
        }
        let role = match common::Role::try_from(request.role) {
            Ok(common::Role::ResellerAdmin) => Role::ResellerAdmin,
            Ok(common::Role::ResellerUser) => Role::ResellerUser,
            _ => {
                violations.add("role", "must be ROLE_RESELLER_ADMIN or ROLE_RESELLER_USER");
                Role::ResellerUser
            }
        };
        violations.into_result()?;
        let secret = generate_key();
        let record = ApiKeyRecord {
            id: platform::ids::new_id(),
            reseller_id,
            name,
            role: role.as_str().to_string(),
            prefix: secret.chars().take(KEY_PREFIX.len() + 8).collect(),
            created_by_subject: principal.subject.clone(),
            created_by_name: principal.display_name.clone(),
            create_time: to_micros(self.clock.now()),
            last_used_time: None,
            revoke_time: None,
        };
        self.store
            .insert_api_key(&record, &hash_key(&secret))
            .await?;
        tracing::info!(key_id = %record.id, reseller_id = %record.reseller_id, role = %record.role, "API key created");
        Ok(pb::CreateApiKeyResponse {
            api_key: Some(to_proto(&record)),
            secret,
        })
    }

    async fn list(
        &self,
        principal: &Principal,
        request: pb::ListApiKeysRequest,
    ) -> ServiceResult<pb::ListApiKeysResponse> {
        principal.require(&[Role::ResellerAdmin])?;
        let reseller = principal.reseller_filter("")?;
        let scope = format!("apikeys:{}", reseller.as_deref().unwrap_or("*"));
        let limit = page_size(request.page_size)?;
        let after: String = self
            .page_tokens
            .decode(&scope, &request.page_token)?
            .unwrap_or_default();
        let mut rows = self
            .store
            .list_api_keys(reseller.as_deref(), &after, limit + 1)
            .await?;
        let next_page_token = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last()
                .map(|last| self.page_tokens.encode(&scope, &last.id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::ListApiKeysResponse {
            api_keys: rows.iter().map(to_proto).collect(),
            next_page_token,
        })
    }

    async fn revoke(
        &self,
        principal: &Principal,
        request: pb::RevokeApiKeyRequest,
    ) -> ServiceResult<pb::ApiKey> {
        principal.require(&[Role::ResellerAdmin])?;
        let not_found = || ServiceError::not_found(format!("API key {}", request.api_key_id));
        let record = self
            .store
            .api_key(&request.api_key_id)
            .await?
            .ok_or_else(not_found)?;
        if !principal.can_see(&record.reseller_id, None) {
            return Err(not_found());
        }
        self.store
            .revoke_api_key(&record.id, to_micros(self.clock.now()))
            .await?;
        tracing::info!(key_id = %record.id, "API key revoked");
        let record = self
            .store
            .api_key(&record.id)
            .await?
            .ok_or_else(not_found)?;
        Ok(to_proto(&record))
    }
}

#[tonic::async_trait]
impl pb::api_key_service_server::ApiKeyService for ApiKeyGrpc {
    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        let principal = self.identity.authenticate(&request)?;
        Ok(Response::new(
            self.create(&principal, request.into_inner()).await?,
        ))
    }

    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        let principal = self.identity.authenticate(&request)?;
        Ok(Response::new(
            self.list(&principal, request.into_inner()).await?,
        ))
    }

    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::ApiKey>, Status> {
        let principal = self.identity.authenticate(&request)?;
        Ok(Response::new(
            self.revoke(&principal, request.into_inner()).await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_hashed() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX));
        assert_eq!(a.len(), KEY_PREFIX.len() + 43);
        assert_eq!(hash_key(&a).len(), 64);
        assert_ne!(hash_key(&a), a);
    }
}
