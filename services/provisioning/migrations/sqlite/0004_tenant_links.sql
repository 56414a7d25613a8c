-- Reseller relationship requests of customers linking an existing Microsoft tenant: the
-- invitation link Partner Center gave and, once the customer accepted, the tenant id.
CREATE TABLE IF NOT EXISTS provisioning_tenant_links (
    customer_id TEXT PRIMARY KEY,
    reseller_id TEXT NOT NULL,
    domain TEXT NOT NULL,
    -- 'pending' (watching for the acceptance) or 'linked'.
    state TEXT NOT NULL,
    invitation_url TEXT NOT NULL DEFAULT '',
    tenant_id TEXT NOT NULL DEFAULT '',
    checks BIGINT NOT NULL DEFAULT 0,
    next_check_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS provisioning_tenant_links_due ON provisioning_tenant_links (state, next_check_at);
