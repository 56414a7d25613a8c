//! What operators rely on: rate limits per principal and tenant, metrics, trace ids in the
//! access log and responses, JWKS key rotation.

use std::time::Duration;

use marketplace_platform::identity::Role;

use super::{bearer, problem};
use crate::support::{AUDIENCE, Harness, ISSUER, SECRET, raw_call, token};

#[tokio::test]
async fn rate_limit_per_tenant_is_shared_by_all_users_of_a_reseller() {
    let h = Harness::start_with(marketplace_platform::db::Backend::Sqlite, |s| {
        s.rate_limit.enabled = true;
        s.rate_limit.requests_per_second = 100.0;
        s.rate_limit.burst = 100.0;
        s.rate_limit.tenant_requests_per_second = 0.05;
        s.rate_limit.tenant_burst = 3.0;
    })
    .await;
    for role in [Role::ResellerUser, Role::ResellerAdmin, Role::CustomerUser] {
        assert_eq!(h.get("/v1/plans", &token(role)).await.status(), 200);
    }
    let limited = h.get("/v1/plans", &token(Role::ResellerAdmin)).await;
    assert!(limited.headers().contains_key("retry-after"));
    let body = problem(limited, 429).await;
    assert!(
        body["detail"].as_str().unwrap_or_default().contains("organization"),
        "{body}"
    );
    let channel = h.channel().await;
    assert_eq!(
        raw_call(
            channel.clone(),
            "/marketplace.catalog.v1.CatalogService/ListPlans",
            &bearer(Role::CustomerAdmin)
        )
        .await,
        tonic::Code::ResourceExhausted,
        "gRPC shares the tenant's budget"
    );
    let other_reseller = gateway::demo_token(
        SECRET,
        ISSUER,
        AUDIENCE,
        "user-of-r2",
        "reseller_user",
        Some("r2"),
        None,
        Duration::from_secs(600),
    );
    assert_eq!(h.get("/v1/plans", &other_reseller).await.status(), 200);
    assert_eq!(h.get("/v1/plans", &token(Role::Staff)).await.status(), 200);
}
