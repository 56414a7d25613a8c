//! Catalog integration tests: the service is started on a fresh database (SQLite always,
//! PostgreSQL when reachable), bound to 127.0.0.1:0, and called over gRPC with a signed principal.

mod admin;
mod browse;
mod eligibility;
mod imports;
mod markups;
mod parsers;
mod price_list_parsers;
mod quotes;
mod support;
