-- Sandbox test clocks (issue 17). A customer attached to a clock lives at the clock's frozen
-- time; its subscriptions carry the clock (`clock_id`, '' = the real clock) so the real-time
-- scheduler and each clock's advance claim only their own due rows through the same indexes.
CREATE TABLE test_clocks (
    id TEXT PRIMARY KEY,
    reseller_id TEXT NOT NULL,
    name TEXT NOT NULL,
    frozen_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    advancing_to BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX test_clocks_by_reseller ON test_clocks (reseller_id, created_at, id);
CREATE TABLE customer_clocks (
    customer_id TEXT PRIMARY KEY,
    clock_id TEXT NOT NULL
);
CREATE INDEX customer_clocks_by_clock ON customer_clocks (clock_id, customer_id);
ALTER TABLE subscriptions ADD COLUMN clock_id TEXT NOT NULL DEFAULT '';
DROP INDEX subscriptions_due;
DROP INDEX subscriptions_remind;
CREATE INDEX subscriptions_due ON subscriptions (clock_id, due_day, id);
CREATE INDEX subscriptions_remind ON subscriptions (clock_id, remind_at);
