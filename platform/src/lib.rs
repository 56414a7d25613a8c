//! What every marketplace service does the same way.
//!
//! Services depend on this crate for configuration ([`config`]), telemetry ([`telemetry`],
//! [`propagation`]), the closed error-code enum ([`error`]), the caller's identity
//! ([`identity`]), gRPC server and client plumbing ([`grpc_server`], [`grpc_client`]), graceful
//! shutdown ([`shutdown`]), storage on PostgreSQL or SQLite chosen by URL ([`db`]), the
//! transactional outbox ([`outbox`]), idempotent consumers ([`consumer`]) and the event bus
//! ([`bus`]: NATS JetStream or in-process).

pub mod bus;
pub mod clock;
pub mod config;
pub mod consumer;
pub mod db;
pub mod error;
pub mod grpc_client;
pub mod grpc_server;
pub mod identity;
pub mod ids;
pub mod metrics;
pub mod outbox;
pub mod paging;
pub mod propagation;
pub mod shutdown;
pub mod supervisor;
pub mod telemetry;

pub use error::{ErrorCode, ServiceError, ServiceResult};
