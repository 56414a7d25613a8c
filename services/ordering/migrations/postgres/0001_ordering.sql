-- Ordering schema. Aggregates are stored as JSON documents (`doc`) next to the columns that
-- queries filter, sort and lock on. Timestamps: BIGINT microseconds; booleans: BIGINT 0/1.

CREATE TABLE resellers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    doc TEXT NOT NULL
);

CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    reseller_id TEXT NOT NULL,
    name TEXT NOT NULL,
    search_text TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX customers_by_reseller ON customers (reseller_id, created_at, id);

CREATE TABLE carts (
    id TEXT PRIMARY KEY,
    reseller_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    status TEXT NOT NULL,
    expire_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX carts_by_reseller ON carts (reseller_id, created_at, id);

CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    reseller_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    number TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    request_key TEXT NOT NULL,
    has_autodesk BIGINT NOT NULL,
    markup_only BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    doc TEXT NOT NULL,
    UNIQUE (reseller_id, request_key)
);
CREATE INDEX orders_by_reseller ON orders (reseller_id, created_at, id);
CREATE INDEX orders_open_autodesk ON orders (reseller_id, has_autodesk, status);

-- One row per status change of an order or its items: the snapshot watchers stream, in order.
CREATE TABLE order_history (
    order_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    change TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    snapshot TEXT NOT NULL,
    PRIMARY KEY (order_id, version)
);

CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    reseller_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    vendor_id TEXT NOT NULL,
    status TEXT NOT NULL,
    order_item_id TEXT NOT NULL,
    search_text TEXT NOT NULL,
    term_end_day BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX subscriptions_by_reseller ON subscriptions (reseller_id, created_at, id);
CREATE INDEX subscriptions_by_term_end ON subscriptions (term_end_day);
CREATE INDEX subscriptions_by_item ON subscriptions (order_item_id);

-- Serialises checkouts of one reseller (Autodesk allows one order at a time): every such
-- checkout upserts its reseller's row first, which locks it until the transaction ends.
CREATE TABLE checkout_guards (
    reseller_id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL
);

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('order_number', 0);
