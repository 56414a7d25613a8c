//! Plans, their add-on links, browse/search with keyset pagination.

use sqlx::{AnyConnection, Row};

use super::Sql;
use crate::domain::ids::{AutodeskProductId, MicrosoftCatalogItemId};
use crate::domain::plan::{BillingCycle, Plan, PlanState, SupportLevel, Term, Tier, ValidPlan};

const COLUMNS: &str = "id, vendor_id, category_id, product_name, name, description, term, billing_cycle, commitment_months, instalments, \
    support_level, min_quantity, max_quantity, parameters, autodesk_product_id, microsoft_catalog_item_id, vendor_sku, tier, state, \
    sort_key, create_time, update_time, version";

fn decode_error(what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("stored plan has an invalid {what}: {value:?}").into())
}

fn plan_from_row(row: &sqlx::any::AnyRow) -> Result<Plan, sqlx::Error> {
    let text = |c: &str| -> Result<String, sqlx::Error> { row.try_get::<String, _>(c) };
    let int = |c: &str| -> Result<i32, sqlx::Error> {
        let v: i64 = row.try_get(c)?;
        i32::try_from(v).map_err(|_| decode_error(c, &v.to_string()))
    };
    let term = text("term")?;
    let cycle = text("billing_cycle")?;
    let support = text("support_level")?;
    let tier = text("tier")?;
    let state = text("state")?;
    let parameters = text("parameters")?;
    let autodesk: Option<String> = row.try_get("autodesk_product_id")?;
    let microsoft: Option<String> = row.try_get("microsoft_catalog_item_id")?;
    Ok(Plan {
        id: text("id")?,
        vendor_id: text("vendor_id")?,
        category_id: text("category_id")?,
        product_name: text("product_name")?,
        name: text("name")?,
        description: text("description")?,
        term: Term::parse(&term).ok_or_else(|| decode_error("term", &term))?,
        billing_cycle: BillingCycle::parse(&cycle)
            .ok_or_else(|| decode_error("billing cycle", &cycle))?,
        commitment_months: int("commitment_months")?,
        instalments: int("instalments")?,
        support_level: SupportLevel::parse(&support)
            .ok_or_else(|| decode_error("support level", &support))?,
        min_quantity: int("min_quantity")?,
        max_quantity: int("max_quantity")?,
        parent_plan_ids: Vec::new(),
        addon_plan_ids: Vec::new(),
        parameters: serde_json::from_str(&parameters)
            .map_err(|_| decode_error("parameters", &parameters))?,
        autodesk_product_id: autodesk
            .map(|s| AutodeskProductId::parse(&s).map_err(|_| decode_error("product id", &s)))
            .transpose()?,
        microsoft_catalog_item_id: microsoft
            .map(|s| {
                MicrosoftCatalogItemId::parse(&s).map_err(|_| decode_error("catalog item id", &s))
            })
            .transpose()?,
        vendor_sku: text("vendor_sku")?,
        tier: Tier::parse(&tier).ok_or_else(|| decode_error("tier", &tier))?,
        state: PlanState::parse(&state).ok_or_else(|| decode_error("state", &state))?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
        version: row.try_get("version")?,
    })
}

/// Fills `parent_plan_ids` and `addon_plan_ids` of `plans` (add-on lists hide retired add-ons).
pub async fn fill_links(conn: &mut AnyConnection, plans: &mut [Plan]) -> Result<(), sqlx::Error> {
    if plans.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = plans.iter().map(|p| p.id.clone()).collect();
    let mut sql = Sql::new(
        "SELECT l.parent_plan_id, l.addon_plan_id, a.state FROM plan_addons l JOIN plans a ON a.id = l.addon_plan_id WHERE l.parent_plan_id IN ",
    );
    sql.bind_list(&ids)
        .push(" OR l.addon_plan_id IN ")
        .bind_list(&ids)
        .push(" ORDER BY l.parent_plan_id, l.addon_plan_id");
    let rows = sql.query().fetch_all(conn).await?;
    for row in rows {
        let parent: String = row.try_get("parent_plan_id")?;
        let addon: String = row.try_get("addon_plan_id")?;
        let addon_state: String = row.try_get("state")?;
        for plan in plans.iter_mut() {
            if plan.id == parent && addon_state == PlanState::Active.as_str() {
                plan.addon_plan_ids.push(addon.clone());
            }
            if plan.id == addon {
                plan.parent_plan_ids.push(parent.clone());
            }
        }
    }
    Ok(())
}

async fn one(
    conn: &mut AnyConnection,
    column: &str,
    value: String,
) -> Result<Option<Plan>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM plans WHERE {column} = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let mut plans = [plan_from_row(&row)?];
    fill_links(conn, &mut plans).await?;
    let [plan] = plans;
    Ok(Some(plan))
}

/// A plan by id.
pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<Plan>, sqlx::Error> {
    one(conn, "id", id.to_string()).await
}

/// The plan of an Autodesk product id.
pub async fn get_by_autodesk_id(
    conn: &mut AnyConnection,
    id: &AutodeskProductId,
) -> Result<Option<Plan>, sqlx::Error> {
    one(conn, "autodesk_product_id", id.to_string()).await
}

/// The plan of a Microsoft catalog item id.
pub async fn get_by_microsoft_id(
    conn: &mut AnyConnection,
    id: &MicrosoftCatalogItemId,
) -> Result<Option<Plan>, sqlx::Error> {
    one(conn, "microsoft_catalog_item_id", id.to_string()).await
}

/// Plans by id (missing ids are left out), without links.
pub async fn get_many(conn: &mut AnyConnection, ids: &[String]) -> Result<Vec<Plan>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM plans WHERE id IN "));
    sql.bind_list(ids);
    sql.query()
        .fetch_all(conn)
        .await?
        .iter()
        .map(plan_from_row)
        .collect()
}

/// Every plan with its links, sort key and searchable text, in `(sort_key, id)` order (the
/// in-memory read model is loaded from this).
pub async fn all(conn: &mut AnyConnection) -> Result<Vec<(Plan, String, String)>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS}, search_text FROM plans ORDER BY sort_key, id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await?;
    let mut plans = Vec::with_capacity(rows.len());
    let mut index = std::collections::HashMap::with_capacity(rows.len());
    for row in &rows {
        let plan = plan_from_row(row)?;
        index.insert(plan.id.clone(), plans.len());
        plans.push((
            plan,
            row.try_get::<String, _>("sort_key")?,
            row.try_get::<String, _>("search_text")?,
        ));
    }
    let links = sqlx::query("SELECT parent_plan_id, addon_plan_id FROM plan_addons ORDER BY parent_plan_id, addon_plan_id").fetch_all(conn).await?;
    for row in links {
        let parent: String = row.try_get("parent_plan_id")?;
        let addon: String = row.try_get("addon_plan_id")?;
        let addon_active = index
            .get(&addon)
            .is_some_and(|&i| plans[i].0.state == PlanState::Active);
        if let (Some(&p), true) = (index.get(&parent), addon_active) {
            plans[p].0.addon_plan_ids.push(addon.clone());
        }
        if let Some(&a) = index.get(&addon) {
            plans[a].0.parent_plan_ids.push(parent);
        }
    }
    Ok(plans)
}

/// The searchable text of a plan: every name and id a reseller might type, lower-cased.
pub fn search_text(plan: &ValidPlan, vendor_name: &str, category_name: &str) -> String {
    let ids = [
        plan.autodesk_product_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        plan.microsoft_catalog_item_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    ];
    [
        plan.id.as_str(),
        &plan.name,
        &plan.product_name,
        &plan.vendor_id,
        vendor_name,
        category_name,
        &ids[0],
        &ids[1],
        &plan.vendor_sku,
    ]
    .join(" ")
    .to_lowercase()
}

/// The stable order of plans: vendor, product, name (ties broken by id).
pub fn sort_key(plan: &ValidPlan) -> String {
    format!(
        "{}|{}|{}",
        plan.vendor_id,
        plan.product_name.to_lowercase(),
        plan.name.to_lowercase()
    )
}

/// Names used to build the searchable text.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    /// Vendor display name.
    pub vendor: &'a str,
    /// Category display name.
    pub category: &'a str,
}

/// Inserts a plan (and its links to parents) unless its id or vendor ids exist; returns
/// whether it was inserted.
pub async fn insert(
    conn: &mut AnyConnection,
    plan: &ValidPlan,
    names: Names<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let parameters = serde_json::to_string(&plan.parameters).unwrap_or_else(|_| "[]".into());
    let inserted = sqlx::query(
        "INSERT INTO plans (id, vendor_id, category_id, product_name, name, description, term, billing_cycle, commitment_months, instalments, \
         support_level, min_quantity, max_quantity, parameters, autodesk_product_id, microsoft_catalog_item_id, vendor_sku, tier, state, \
         sort_key, search_text, create_time, update_time, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, 'active', $19, $20, $21, $21, 1) ON CONFLICT DO NOTHING",
    )
    .bind(plan.id.to_string())
    .bind(plan.vendor_id.clone())
    .bind(plan.category_id.clone())
    .bind(plan.product_name.clone())
    .bind(plan.name.clone())
    .bind(plan.description.clone())
    .bind(plan.term.as_str())
    .bind(plan.billing_cycle.as_str())
    .bind(i64::from(plan.commitment_months))
    .bind(i64::from(plan.instalments))
    .bind(plan.support_level.as_str())
    .bind(i64::from(plan.min_quantity))
    .bind(i64::from(plan.max_quantity))
    .bind(parameters)
    .bind(plan.autodesk_product_id.as_ref().map(ToString::to_string))
    .bind(plan.microsoft_catalog_item_id.as_ref().map(ToString::to_string))
    .bind(plan.vendor_sku.clone())
    .bind(plan.tier.as_str())
    .bind(sort_key(plan))
    .bind(search_text(plan, names.vendor, names.category))
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        replace_parents(conn, plan.id.as_str(), &plan.parent_plan_ids).await?;
        super::version::bump(conn).await?;
    }
    Ok(inserted)
}

/// Replaces the mutable fields of a plan at `expected_version`; returns whether it matched.
pub async fn update(
    conn: &mut AnyConnection,
    plan: &ValidPlan,
    names: Names<'_>,
    now: i64,
    expected_version: i64,
) -> Result<bool, sqlx::Error> {
    let parameters = serde_json::to_string(&plan.parameters).unwrap_or_else(|_| "[]".into());
    let updated = sqlx::query(
        "UPDATE plans SET category_id = $1, product_name = $2, name = $3, description = $4, support_level = $5, min_quantity = $6, \
         max_quantity = $7, parameters = $8, vendor_sku = $9, tier = $10, sort_key = $11, search_text = $12, update_time = $13, \
         version = version + 1 WHERE id = $14 AND version = $15",
    )
    .bind(plan.category_id.clone())
    .bind(plan.product_name.clone())
    .bind(plan.name.clone())
    .bind(plan.description.clone())
    .bind(plan.support_level.as_str())
    .bind(i64::from(plan.min_quantity))
    .bind(i64::from(plan.max_quantity))
    .bind(parameters)
    .bind(plan.vendor_sku.clone())
    .bind(plan.tier.as_str())
    .bind(sort_key(plan))
    .bind(search_text(plan, names.vendor, names.category))
    .bind(now)
    .bind(plan.id.to_string())
    .bind(expected_version)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if updated {
        replace_parents(conn, plan.id.as_str(), &plan.parent_plan_ids).await?;
        super::version::bump(conn).await?;
    }
    Ok(updated)
}

async fn replace_parents(
    conn: &mut AnyConnection,
    addon_id: &str,
    parents: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM plan_addons WHERE addon_plan_id = $1")
        .bind(addon_id.to_string())
        .execute(&mut *conn)
        .await?;
    for parent in parents {
        sqlx::query("INSERT INTO plan_addons (parent_plan_id, addon_plan_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(parent.clone())
            .bind(addon_id.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Retires a plan at `expected_version`; returns whether it matched.
pub async fn retire(
    conn: &mut AnyConnection,
    id: &str,
    now: i64,
    expected_version: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query("UPDATE plans SET state = 'retired', update_time = $1, version = version + 1 WHERE id = $2 AND version = $3")
        .bind(now)
        .bind(id.to_string())
        .bind(expected_version)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if n == 1 {
        super::version::bump(conn).await?;
    }
    Ok(n == 1)
}

/// The plan owning an Autodesk or Microsoft id, if any (to report duplicates).
pub async fn owner_of_vendor_id(
    conn: &mut AnyConnection,
    plan: &ValidPlan,
) -> Result<Option<(String, &'static str)>, sqlx::Error> {
    let checks = [
        (
            "autodesk_product_id",
            plan.autodesk_product_id.as_ref().map(ToString::to_string),
        ),
        (
            "microsoft_catalog_item_id",
            plan.microsoft_catalog_item_id
                .as_ref()
                .map(ToString::to_string),
        ),
    ];
    for (column, value) in checks {
        let Some(value) = value else { continue };
        let sql = format!("SELECT id FROM plans WHERE {column} = $1");
        if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(&mut *conn)
            .await?
        {
            return Ok(Some((row.try_get("id")?, column)));
        }
    }
    Ok(None)
}

/// Every plan reference `(id, autodesk id, microsoft id)` for resolving price-list rows.
pub async fn references(
    conn: &mut AnyConnection,
) -> Result<Vec<(String, Option<String>, Option<String>)>, sqlx::Error> {
    let rows = sqlx::query("SELECT id, autodesk_product_id, microsoft_catalog_item_id FROM plans")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                r.try_get("autodesk_product_id")?,
                r.try_get("microsoft_catalog_item_id")?,
            ))
        })
        .collect()
}
