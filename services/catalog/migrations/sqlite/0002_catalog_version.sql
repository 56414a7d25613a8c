-- A counter bumped by every change to what readers cache (plans, prices, eligibility), so each
-- replica's in-memory read model knows when to reload.
CREATE TABLE IF NOT EXISTS catalog_version (
    id INTEGER PRIMARY KEY,
    version INTEGER NOT NULL
);
INSERT INTO catalog_version (id, version) VALUES (1, 0) ON CONFLICT DO NOTHING;
