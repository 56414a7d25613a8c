-- Fulfilment jobs: one per FulfilmentRequested.request_id.
CREATE TABLE IF NOT EXISTS provisioning_jobs (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    order_number TEXT NOT NULL,
    order_item_id TEXT NOT NULL,
    reseller_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    vendor_id TEXT NOT NULL,
    connector TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    change_type TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    state TEXT NOT NULL,
    generation BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    error_counts TEXT NOT NULL DEFAULT '{}',
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    vendor_reference TEXT NOT NULL DEFAULT '',
    vendor_subscription_id TEXT NOT NULL DEFAULT '',
    last_vendor_response TEXT NOT NULL DEFAULT '',
    last_error TEXT,
    last_error_at BIGINT,
    checkpoint TEXT NOT NULL DEFAULT '{}',
    parameters TEXT NOT NULL DEFAULT '{}',
    request BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS provisioning_jobs_due ON provisioning_jobs (next_attempt_at)
    WHERE state IN ('queued', 'submitted', 'waiting_on_vendor');
CREATE INDEX IF NOT EXISTS provisioning_jobs_order ON provisioning_jobs (order_id);
CREATE INDEX IF NOT EXISTS provisioning_jobs_reseller ON provisioning_jobs (reseller_id, id);

-- Vendor accounts created or reused for a customer (Microsoft tenant, Autodesk end-customer CSN).
CREATE TABLE IF NOT EXISTS provisioning_vendor_accounts (
    connector TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    domain TEXT NOT NULL DEFAULT '',
    agreement_confirmed BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (connector, customer_id)
);
