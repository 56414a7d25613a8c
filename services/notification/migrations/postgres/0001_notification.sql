-- In-app feed: one row per notification (reseller audience or staff audience).
CREATE TABLE notifications (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    audience TEXT NOT NULL,
    reseller_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    link TEXT NOT NULL,
    order_id TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    read_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (event_id, kind, audience)
);
CREATE INDEX notifications_feed ON notifications (audience, reseller_id, seq);

-- Preferences per reseller.
CREATE TABLE notification_preferences (
    reseller_id TEXT PRIMARY KEY,
    subscription_ready_email TEXT NOT NULL,
    muted_email_kinds TEXT NOT NULL,
    locale TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Facts learned from events (event-carried state transfer), used to resolve recipients.
CREATE TABLE known_resellers (
    reseller_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    notification_email TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE known_orders (
    order_id TEXT PRIMARY KEY,
    reseller_id TEXT NOT NULL,
    order_number TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    customer_name TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- E-mail deliveries: rows claimed by workers with a lease.
CREATE TABLE email_deliveries (
    id TEXT PRIMARY KEY,
    reseller_id TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    UNIQUE (event_id, kind, recipient)
);
CREATE INDEX email_deliveries_due ON email_deliveries (status, next_attempt_at);
CREATE INDEX email_deliveries_reseller ON email_deliveries (reseller_id, created_at);

-- Webhook endpoints of resellers.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    reseller_id TEXT NOT NULL,
    url TEXT NOT NULL,
    description TEXT NOT NULL,
    event_types TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    disabled_reason TEXT NOT NULL,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_expires_at BIGINT,
    failing_since BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_reseller ON webhook_endpoints (reseller_id, id);

-- One event to one endpoint.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    reseller_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

-- Attempts log.
CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    status_code BIGINT NOT NULL,
    latency_ms BIGINT NOT NULL,
    response_excerpt TEXT NOT NULL,
    error TEXT NOT NULL,
    attempted_at BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempted_at);
