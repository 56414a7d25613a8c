//! Provisioning rules, free of transport and storage: job states and transitions, vendor error
//! classes and retry policy, the fulfilment order a connector carries out, and the
//! [`VendorConnector`](connector::VendorConnector) contract.

pub mod connector;
pub mod error;
pub mod job;
pub mod order;
pub mod retry;
pub mod transition;
