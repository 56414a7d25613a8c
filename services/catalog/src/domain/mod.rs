//! Catalog rules and newtypes; knows nothing of gRPC or SQL.

pub mod eligibility;
pub mod ids;
pub mod import;
pub mod markup;
pub mod money;
pub mod parameters;
pub mod plan;
pub mod price;
pub mod quote;
