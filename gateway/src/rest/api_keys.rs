//! API key operations (served by the gateway itself).

use marketplace_proto::gateway::v1 as pb;

use crate::upstream::Registry;

const SERVICE: &str = "marketplace.gateway.v1.ApiKeyService";

/// Registers the REST operations of `ApiKeyService`.
pub(crate) fn register(r: &mut Registry) {
    r.unary::<pb::CreateApiKeyRequest, pb::CreateApiKeyResponse>(SERVICE, "CreateApiKey");
    r.unary::<pb::ListApiKeysRequest, pb::ListApiKeysResponse>(SERVICE, "ListApiKeys");
    r.unary::<pb::RevokeApiKeyRequest, pb::ApiKey>(SERVICE, "RevokeApiKey");
}
