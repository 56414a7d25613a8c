//! Resellers and customers.

use platform::ServiceError;
use sqlx::AnyConnection;

use super::{Arg, Cursor, Query, Store, decode, encode, expect_one, like_pattern};
use crate::domain::customer::Customer;
use crate::domain::reseller::Reseller;

impl Store {
    /// A reseller by id.
    pub(crate) async fn reseller(
        &self,
        conn: &mut AnyConnection,
        id: &str,
    ) -> Result<Option<Reseller>, ServiceError> {
        let row = sqlx::query("SELECT doc FROM resellers WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(conn)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    /// Inserts a reseller; false when the id exists.
    pub(crate) async fn insert_reseller(
        &self,
        conn: &mut AnyConnection,
        r: &Reseller,
    ) -> Result<bool, ServiceError> {
        let rows = sqlx::query(
            "INSERT INTO resellers (id, name, created_at, updated_at, version, doc) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(r.id.clone())
        .bind(r.name.clone())
        .bind(r.created_at)
        .bind(r.updated_at)
        .bind(r.version)
        .bind(encode(r)?)
        .execute(conn)
        .await?
        .rows_affected();
        Ok(rows == 1)
    }

    /// Saves a reseller whose stored version is `r.version - 1`.
    pub(crate) async fn update_reseller(
        &self,
        conn: &mut AnyConnection,
        r: &Reseller,
    ) -> Result<(), ServiceError> {
        let rows = sqlx::query("UPDATE resellers SET name = $1, updated_at = $2, version = $3, doc = $4 WHERE id = $5 AND version = $6")
            .bind(r.name.clone())
            .bind(r.updated_at)
            .bind(r.version)
            .bind(encode(r)?)
            .bind(r.id.clone())
            .bind(r.version - 1)
            .execute(conn)
            .await?
            .rows_affected();
        expect_one(rows, "reseller")
    }

    /// A page of resellers.
    pub(crate) async fn list_resellers(
        &self,
        conn: &mut AnyConnection,
        after: Option<&Cursor>,
        limit: i64,
    ) -> Result<(Vec<Reseller>, Option<Cursor>), ServiceError> {
        let mut q = Query::default();
        q.after(after);
        q.page(conn, "resellers", limit).await
    }

    /// A customer by id.
    pub(crate) async fn customer(
        &self,
        conn: &mut AnyConnection,
        id: &str,
    ) -> Result<Option<Customer>, ServiceError> {
        let row = sqlx::query("SELECT doc FROM customers WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(conn)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    /// Inserts a customer; false when the id exists.
    pub(crate) async fn insert_customer(
        &self,
        conn: &mut AnyConnection,
        c: &Customer,
    ) -> Result<bool, ServiceError> {
        let rows = sqlx::query(
            "INSERT INTO customers (id, reseller_id, name, search_text, created_at, updated_at, version, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(c.id.clone())
        .bind(c.reseller_id.clone())
        .bind(c.name.clone())
        .bind(c.search_text())
        .bind(c.created_at)
        .bind(c.updated_at)
        .bind(c.version)
        .bind(encode(c)?)
        .execute(conn)
        .await?
        .rows_affected();
        Ok(rows == 1)
    }

    /// Saves a customer whose stored version is `c.version - 1`.
    pub(crate) async fn update_customer(
        &self,
        conn: &mut AnyConnection,
        c: &Customer,
    ) -> Result<(), ServiceError> {
        let rows = sqlx::query("UPDATE customers SET name = $1, search_text = $2, updated_at = $3, version = $4, doc = $5 WHERE id = $6 AND version = $7")
            .bind(c.name.clone())
            .bind(c.search_text())
            .bind(c.updated_at)
            .bind(c.version)
            .bind(encode(c)?)
            .bind(c.id.clone())
            .bind(c.version - 1)
            .execute(conn)
            .await?
            .rows_affected();
        expect_one(rows, "customer")
    }

    /// A page of customers, optionally of one reseller, matching `text`.
    pub(crate) async fn list_customers(
        &self,
        conn: &mut AnyConnection,
        reseller_id: Option<&str>,
        text: &str,
        after: Option<&Cursor>,
        limit: i64,
    ) -> Result<(Vec<Customer>, Option<Cursor>), ServiceError> {
        let mut q = Query::default();
        if let Some(r) = reseller_id {
            let p = q.arg(Arg::Text(r.to_string()));
            q.clause(format!("reseller_id = {p}"));
        }
        if !text.trim().is_empty() {
            let p = q.arg(Arg::Text(like_pattern(text.trim())));
            q.clause(format!("search_text LIKE {p} ESCAPE '\\'"));
        }
        q.after(after);
        q.page(conn, "customers", limit).await
    }
}
