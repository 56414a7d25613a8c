//! Notification rules and values, free of transport and storage concerns.

pub mod kind;
pub mod preferences;
pub mod retry;
pub mod rules;
pub mod signing;
pub mod webhook_events;
pub mod webhook_url;

pub use kind::{Audience, Kind};
pub use preferences::Preferences;
