//! Vendors and categories.

use sqlx::{AnyConnection, Row};

use crate::domain::plan::{Category, Vendor};

fn vendor(row: &sqlx::any::AnyRow) -> Result<Vendor, sqlx::Error> {
    Ok(Vendor {
        id: row.try_get("id")?,
        display_name: row.try_get("display_name")?,
        description: row.try_get("description")?,
        connector: row.try_get("connector")?,
        portal_url: row.try_get("portal_url")?,
    })
}

/// Every vendor in display order.
pub async fn list_vendors(conn: &mut AnyConnection) -> Result<Vec<Vendor>, sqlx::Error> {
    let rows = sqlx::query("SELECT id, display_name, description, connector, portal_url FROM vendors ORDER BY sort_order, id").fetch_all(conn).await?;
    rows.iter().map(vendor).collect()
}

/// One vendor.
pub async fn get_vendor(conn: &mut AnyConnection, id: &str) -> Result<Option<Vendor>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, display_name, description, connector, portal_url FROM vendors WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(vendor).transpose()
}

/// Inserts a vendor unless it exists.
pub async fn insert_vendor(
    conn: &mut AnyConnection,
    v: &Vendor,
    sort_order: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO vendors (id, display_name, description, connector, portal_url, sort_order) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING")
        .bind(v.id.clone())
        .bind(v.display_name.clone())
        .bind(v.description.clone())
        .bind(v.connector.clone())
        .bind(v.portal_url.clone())
        .bind(sort_order)
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts a category unless it exists.
pub async fn insert_category(
    conn: &mut AnyConnection,
    c: &Category,
    sort_order: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO categories (id, vendor_id, display_name, sort_order) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
        .bind(c.id.clone())
        .bind(c.vendor_id.clone())
        .bind(c.display_name.clone())
        .bind(sort_order)
        .execute(conn)
        .await?;
    Ok(())
}

/// Categories (of one vendor when `vendor_id` is set), with the number of plans visible to the
/// caller (`open_only` hides the specialized catalog).
pub async fn list_categories(
    conn: &mut AnyConnection,
    vendor_id: Option<&str>,
    open_only: bool,
) -> Result<Vec<Category>, sqlx::Error> {
    let tier = if open_only {
        " AND p.tier = 'open'"
    } else {
        ""
    };
    let sql = format!(
        "SELECT c.id, c.vendor_id, c.display_name, \
         (SELECT COUNT(*) FROM plans p WHERE p.category_id = c.id AND p.state = 'active'{tier}) AS plan_count \
         FROM categories c WHERE ($1 = '' OR c.vendor_id = $2) ORDER BY c.vendor_id, c.sort_order, c.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(vendor_id.unwrap_or("").to_string())
        .bind(vendor_id.unwrap_or("").to_string())
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Category {
                id: r.try_get("id")?,
                vendor_id: r.try_get("vendor_id")?,
                display_name: r.try_get("display_name")?,
                plan_count: r.try_get("plan_count")?,
            })
        })
        .collect()
}

/// One category.
pub async fn get_category(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<Category>, sqlx::Error> {
    let row = sqlx::query("SELECT id, vendor_id, display_name FROM categories WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.map(|r| {
        Ok(Category {
            id: r.try_get("id")?,
            vendor_id: r.try_get("vendor_id")?,
            display_name: r.try_get("display_name")?,
            plan_count: 0,
        })
    })
    .transpose()
}
