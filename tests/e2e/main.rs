//! End-to-end tests of the whole marketplace through the gateway, in both modes:
//! embedded (one process, SQLite, in-process bus) and distributed (every service with its own
//! listener and PostgreSQL database, NATS JetStream between them).

mod autodesk_journeys;
mod bad_messages;
mod catalog_gating;
mod chaos;
mod harness;
mod journey_support;
mod microsoft_journeys;
mod observability;
mod order_flow;
mod order_views;
mod partner_api;
mod shutdown;
mod startup_errors;
mod startup_logs;
mod streams;
mod tenant_link;
mod test_clocks;
mod vendor_credentials;
