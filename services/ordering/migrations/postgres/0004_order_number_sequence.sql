-- Order numbers come from a sequence instead of the `counters` row: the row was updated inside
-- every checkout transaction and stayed locked until its commit, so all checkouts of the
-- service queued behind each other's fsync (issue 10's load run: 84 checkouts/s). A sequence
-- takes no row lock; a rolled-back checkout leaves a gap in the numbers.
CREATE SEQUENCE IF NOT EXISTS order_numbers;
SELECT setval('order_numbers', (SELECT value FROM counters WHERE name = 'order_number') + 1, false);
