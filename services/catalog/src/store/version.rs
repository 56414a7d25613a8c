//! The catalog version: bumped inside every transaction that changes plans, prices or
//! eligibility, read by the in-memory read model to decide when to reload.

use sqlx::{AnyConnection, Row};

/// Bumps the version (call inside the changing transaction).
pub async fn bump(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE catalog_version SET version = version + 1 WHERE id = 1")
        .execute(conn)
        .await?;
    Ok(())
}

/// The current version.
pub async fn current(conn: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT version FROM catalog_version WHERE id = 1")
        .fetch_one(conn)
        .await?
        .try_get("version")
}
