-- Order history listing (issue 10: p99 ≤ 10 ms with 1,000,000 orders, keyset pagination). Each
-- ListOrders filter gets an index that ends in the listing's order (created_at, id), so a page
-- reads about page-size rows instead of every order of the reseller and a sort
-- (`cargo bench -p ordering --bench history` prints the plans).
--   customer filter: a customer has a small share of its reseller's orders. customer_id leads
--     (staff may filter by customer alone); reseller_id follows, so the usual reseller + customer
--     filter is two equalities on one index, read in order.
--   status filter: rare statuses (PROVISIONING_FAILED, DRAFT); a status list (the recent and
--     historical views) is one merged branch per status on this index (`Query::page_any_of`).
CREATE INDEX orders_by_customer ON orders (customer_id, reseller_id, created_at, id);
CREATE INDEX orders_by_status ON orders (reseller_id, status, created_at, id);
