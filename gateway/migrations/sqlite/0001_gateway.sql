-- API keys for partner systems: only a SHA-256 hash of the secret is stored.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    reseller_id TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    prefix TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_by_subject TEXT NOT NULL,
    created_by_name TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    last_used_time BIGINT,
    revoke_time BIGINT
);
CREATE INDEX api_keys_by_reseller ON api_keys (reseller_id, id);

-- Responses of POST requests carrying an Idempotency-Key, replayed on retry.
CREATE TABLE idempotency_records (
    scope TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    status_code BIGINT NOT NULL,
    body TEXT NOT NULL,
    etag TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    expire_time BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX idempotency_records_by_expiry ON idempotency_records (expire_time);
