-- Subscription lifecycle (issue 6): the scheduler's due columns, each indexed so a tick reads
-- only what is due (never a full-table pass).
--   due_day:   yyyymmdd of the first day after the term (renew or expire then); NULL when nothing
--              is scheduled (no term yet, a change in flight, final status).
--   remind_at: µs when the next unsent reminder falls due; NULL when none.
ALTER TABLE subscriptions ADD COLUMN due_day BIGINT;
ALTER TABLE subscriptions ADD COLUMN remind_at BIGINT;
CREATE INDEX subscriptions_due ON subscriptions (due_day, id);
CREATE INDEX subscriptions_remind ON subscriptions (remind_at);
CREATE INDEX subscriptions_by_customer ON subscriptions (customer_id, created_at, id);
