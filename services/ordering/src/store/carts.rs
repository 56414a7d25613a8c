//! Carts.

use platform::ServiceError;
use sqlx::AnyConnection;

use super::{Arg, Cursor, Query, Store, decode, encode, expect_one};
use crate::domain::cart::Cart;

impl Store {
    /// A cart by id.
    pub(crate) async fn cart(
        &self,
        conn: &mut AnyConnection,
        id: &str,
    ) -> Result<Option<Cart>, ServiceError> {
        let row = sqlx::query("SELECT doc FROM carts WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(conn)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    /// Inserts a new cart.
    pub(crate) async fn insert_cart(
        &self,
        conn: &mut AnyConnection,
        c: &Cart,
    ) -> Result<(), ServiceError> {
        sqlx::query(
            "INSERT INTO carts (id, reseller_id, customer_id, status, expire_at, created_at, updated_at, version, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(c.id.clone())
        .bind(c.reseller_id.clone())
        .bind(c.customer_id.clone())
        .bind(c.status.as_str())
        .bind(c.expire_at)
        .bind(c.created_at)
        .bind(c.updated_at)
        .bind(c.version)
        .bind(encode(c)?)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Saves a cart whose stored version is `c.version - 1`; ABORTED when someone else won.
    pub(crate) async fn update_cart(
        &self,
        conn: &mut AnyConnection,
        c: &Cart,
    ) -> Result<(), ServiceError> {
        let rows = sqlx::query("UPDATE carts SET customer_id = $1, status = $2, updated_at = $3, version = $4, doc = $5 WHERE id = $6 AND version = $7")
            .bind(c.customer_id.clone())
            .bind(c.status.as_str())
            .bind(c.updated_at)
            .bind(c.version)
            .bind(encode(c)?)
            .bind(c.id.clone())
            .bind(c.version - 1)
            .execute(conn)
            .await?
            .rows_affected();
        expect_one(rows, "cart")
    }

    /// A page of a reseller's carts with the given stored status, optionally of one customer,
    /// not expired at `now`.
    pub(crate) async fn list_carts(
        &self,
        conn: &mut AnyConnection,
        reseller_id: &str,
        customer_id: &str,
        now: i64,
        after: Option<&Cursor>,
        limit: i64,
    ) -> Result<(Vec<Cart>, Option<Cursor>), ServiceError> {
        let mut q = Query::default();
        let p = q.arg(Arg::Text(reseller_id.to_string()));
        q.clause(format!("reseller_id = {p}"));
        let p = q.arg(Arg::Text("ACTIVE".into()));
        q.clause(format!("status = {p}"));
        let p = q.arg(Arg::Int(now));
        q.clause(format!("expire_at > {p}"));
        if !customer_id.is_empty() {
            let p = q.arg(Arg::Text(customer_id.to_string()));
            q.clause(format!("customer_id = {p}"));
        }
        q.after(after);
        q.page(conn, "carts", limit).await
    }
}
