//! The `marketplace` binary's library: starts the gateway, the four services and the sandbox
//! vendors and SMTP server, either all in one process (embedded mode: SQLite + in-process bus,
//! or any mix of URLs) or one component per process (distributed mode: PostgreSQL + NATS).

pub mod config;
pub mod launch;

pub use config::{Config, Role};
pub use launch::{Running, start};
