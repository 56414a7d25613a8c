//! Load, ceiling and chaos runs against the marketplace started as real processes.
//!
//! - `cargo run --release -p marketplace-load --bin load` — user journeys over REST and gRPC
//!   with per-operation throughput and latency percentiles, the checkout rate against a
//!   `pgbench` ceiling of the same transaction shape, order-to-active latency, idle memory.
//! - `cargo run --release -p marketplace-load --bin chaos` — orders placed while components are
//!   killed with `SIGKILL` and restarted; asserts nothing was lost or done twice.
//!
//! See `docs/performance.md` for the method and the latest figures.

pub mod args;
pub mod chaos;
pub mod cluster;
pub mod cpu;
pub mod grpc;
pub mod nats_server;
pub mod pgbench;
pub mod process;
pub mod rest;
pub mod stats;
