-- Catalog schema: vendors, categories, plans, add-on links, prices, markups, reseller eligibility.
CREATE TABLE IF NOT EXISTS vendors (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    description TEXT NOT NULL,
    connector TEXT NOT NULL,
    portal_url TEXT NOT NULL,
    sort_order INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS categories (
    id TEXT PRIMARY KEY,
    vendor_id TEXT NOT NULL REFERENCES vendors (id),
    display_name TEXT NOT NULL,
    sort_order INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS plans (
    id TEXT PRIMARY KEY,
    vendor_id TEXT NOT NULL REFERENCES vendors (id),
    category_id TEXT NOT NULL REFERENCES categories (id),
    product_name TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    term TEXT NOT NULL,
    billing_cycle TEXT NOT NULL,
    commitment_months INTEGER NOT NULL,
    instalments INTEGER NOT NULL,
    support_level TEXT NOT NULL,
    min_quantity INTEGER NOT NULL,
    max_quantity INTEGER NOT NULL,
    parameters TEXT NOT NULL,
    autodesk_product_id TEXT UNIQUE,
    microsoft_catalog_item_id TEXT UNIQUE,
    vendor_sku TEXT NOT NULL,
    tier TEXT NOT NULL,
    state TEXT NOT NULL,
    sort_key TEXT NOT NULL,
    search_text TEXT NOT NULL,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS plans_order ON plans (sort_key, id);
CREATE INDEX IF NOT EXISTS plans_vendor_order ON plans (vendor_id, sort_key, id);

CREATE TABLE IF NOT EXISTS plan_addons (
    parent_plan_id TEXT NOT NULL REFERENCES plans (id),
    addon_plan_id TEXT NOT NULL REFERENCES plans (id),
    PRIMARY KEY (parent_plan_id, addon_plan_id)
);
CREATE INDEX IF NOT EXISTS plan_addons_addon ON plan_addons (addon_plan_id);

CREATE TABLE IF NOT EXISTS prices (
    id TEXT PRIMARY KEY,
    plan_id TEXT NOT NULL REFERENCES plans (id),
    currency_code TEXT NOT NULL,
    cost INTEGER NOT NULL,
    msrp INTEGER NOT NULL,
    effective_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (plan_id, currency_code, effective_at)
);

CREATE TABLE IF NOT EXISTS markups (
    id TEXT PRIMARY KEY,
    reseller_id TEXT NOT NULL,
    vendor_id TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    basis_points INTEGER NOT NULL,
    fixed_currency TEXT NOT NULL,
    fixed_amount INTEGER NOT NULL,
    update_time INTEGER NOT NULL,
    UNIQUE (reseller_id, vendor_id, plan_id)
);

CREATE TABLE IF NOT EXISTS reseller_eligibility (
    reseller_id TEXT PRIMARY KEY,
    autodesk_partner_csn TEXT NOT NULL,
    changed_at INTEGER NOT NULL
);
