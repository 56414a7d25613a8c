//! The ordering domain: rules and value types, free of transport (tonic) and storage (sqlx).

pub mod calendar;
pub mod cart;
pub mod customer;
pub mod lifecycle;
pub mod order;
pub mod plan;
pub mod policy;
pub mod readiness;
pub mod reseller;
pub mod state;
pub mod subscription;
pub mod test_clock;
pub mod validate;

use serde::{Deserialize, Serialize};

/// A field-level problem (a missing fact, a parameter failing its rule, a vendor complaint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Problem {
    /// Path of the field or parameter key, e.g. `parameters.mpn_id`.
    pub field: String,
    /// What is wrong.
    pub description: String,
}

impl Problem {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Who did something (stored with carts, orders, notes and agreements).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Actor {
    /// User id, API key id or service name.
    pub user_id: String,
    /// Display name.
    pub display_name: String,
    /// Organisation (reseller or customer id) the user acted for.
    pub organization_id: String,
    /// Organisation name when known.
    pub organization_name: String,
    /// Role claim (`staff`, `reseller_admin`, …).
    pub role: String,
}

/// An amount in minor units of `currency_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Amount(pub i64);
