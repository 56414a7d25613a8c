//! Staff administration of plans and prices.

use marketplace_platform::error::{ErrorCode, ServiceError, ServiceResult};
use marketplace_platform::identity::Principal;
use sqlx::AnyConnection;

use super::{Catalog, PlanView, invalid, update_mask};
use crate::domain::money::CurrencyCode;
use crate::domain::plan::{Plan, PlanInput, PlanState, ValidPlan};
use crate::domain::price::{Price, check_amounts};
use crate::service::quote::PLAN_RETIRED;
use crate::store::plans::Names;
use crate::store::{plans, prices, vendors};

/// A new price as a client sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceInput {
    /// Currency code.
    pub currency_code: String,
    /// Currency given with the cost (empty = same).
    pub cost_currency: String,
    /// Cost (minor units).
    pub cost: i64,
    /// Currency given with the MSRP (empty = same).
    pub msrp_currency: String,
    /// MSRP (minor units).
    pub msrp: i64,
    /// Effective from (µs); `None` = now.
    pub effective_at: Option<i64>,
}

/// Checks what a plan refers to: its category (same vendor) and its parents (existing plans
/// of the same vendor that are not add-ons themselves). Returns the names for search.
async fn check_references(
    conn: &mut AnyConnection,
    plan: &ValidPlan,
    vendor_name: &str,
) -> ServiceResult<(String, String)> {
    let category = vendors::get_category(conn, &plan.category_id).await?;
    let category = match category {
        Some(c) if c.vendor_id == plan.vendor_id => c,
        Some(_) => {
            return Err(ServiceError::invalid_field(
                "plan.category_id",
                format!("category {} belongs to another vendor", plan.category_id),
            ));
        }
        None => {
            return Err(ServiceError::invalid_field(
                "plan.category_id",
                format!("unknown category {}", plan.category_id),
            ));
        }
    };
    let mut parents = plans::get_many(conn, &plan.parent_plan_ids).await?;
    plans::fill_links(conn, &mut parents).await?;
    let mut problems = Vec::new();
    for (i, id) in plan.parent_plan_ids.iter().enumerate() {
        match parents.iter().find(|p| &p.id == id) {
            None => problems.push((
                format!("parent_plan_ids[{i}]"),
                format!("unknown plan {id}"),
            )),
            Some(p) if p.vendor_id != plan.vendor_id => problems.push((
                format!("parent_plan_ids[{i}]"),
                format!("plan {id} is of another vendor"),
            )),
            Some(p) if !p.parent_plan_ids.is_empty() => problems.push((
                format!("parent_plan_ids[{i}]"),
                format!("plan {id} is itself an add-on"),
            )),
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        return Err(invalid("plan.", problems));
    }
    Ok((vendor_name.to_string(), category.display_name))
}

impl Catalog {
    /// Creates a plan (staff).
    pub async fn create_plan(
        &self,
        principal: &Principal,
        input: PlanInput,
    ) -> ServiceResult<PlanView> {
        principal.require_staff()?;
        if input.vendor_id.is_empty() {
            return Err(ServiceError::invalid_field(
                "plan.vendor_id",
                "must not be empty",
            ));
        }
        let mut tx = self.store.pool().begin().await?;
        let vendor = vendors::get_vendor(&mut tx, &input.vendor_id)
            .await?
            .ok_or_else(|| {
                ServiceError::invalid_field(
                    "plan.vendor_id",
                    format!("unknown vendor {}", input.vendor_id),
                )
            })?;
        let plan = input
            .validate(&vendor, &marketplace_platform::ids::new_id())
            .map_err(|p| invalid("plan.", p))?;
        let (vendor_name, category_name) =
            check_references(&mut tx, &plan, &vendor.display_name).await?;
        if let Some((owner, field)) = plans::owner_of_vendor_id(&mut tx, &plan).await? {
            return Err(ServiceError::new(
                ErrorCode::AlreadyExists,
                format!("plan {owner} already has this {field}"),
            ));
        }
        let now = self.now();
        if !plans::insert(
            &mut tx,
            &plan,
            Names {
                vendor: &vendor_name,
                category: &category_name,
            },
            now,
        )
        .await?
        {
            return Err(ServiceError::new(
                ErrorCode::AlreadyExists,
                format!("plan {} already exists", plan.id),
            ));
        }
        tx.commit().await?;
        self.read_model.invalidate();
        self.reread(plan.id.as_str()).await
    }

    async fn reread(&self, id: &str) -> ServiceResult<PlanView> {
        let mut conn = self.conn().await?;
        let plan = plans::get(&mut conn, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("plan {id}")))?;
        let mut views = self.with_prices(&mut conn, vec![plan]).await?;
        views
            .pop()
            .ok_or_else(|| ServiceError::not_found(format!("plan {id}")))
    }

    async fn current_for_change(
        &self,
        conn: &mut AnyConnection,
        id: &str,
        etag: &str,
        etag_field: &str,
        etag_required: bool,
    ) -> ServiceResult<Plan> {
        if id.is_empty() {
            return Err(ServiceError::invalid_field(
                if etag_field == "etag" {
                    "plan_id"
                } else {
                    "plan.id"
                },
                "must not be empty",
            ));
        }
        if etag_required && etag.is_empty() {
            return Err(ServiceError::invalid_field(
                etag_field,
                "required: send the etag of the plan you read",
            ));
        }
        let plan = plans::get(conn, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("plan {id}")))?;
        if !etag.is_empty() && etag != plan.etag() {
            return Err(ServiceError::conflict(format!(
                "plan {id} changed since it was read (etag {etag}, now {})",
                plan.etag()
            )));
        }
        Ok(plan)
    }

    /// Updates the masked fields of a plan at its etag (staff).
    pub async fn update_plan(
        &self,
        principal: &Principal,
        input: PlanInput,
        etag: &str,
        mask: &[String],
    ) -> ServiceResult<PlanView> {
        principal.require_staff()?;
        let fields = update_mask::parse(mask).map_err(|errors| {
            invalid(
                "update_mask",
                errors
                    .into_iter()
                    .map(|(i, e)| (format!("[{i}]"), e))
                    .collect(),
            )
        })?;
        let mut tx = self.store.pool().begin().await?;
        let current = self
            .current_for_change(&mut tx, &input.id, etag, "plan.etag", true)
            .await?;
        if current.state == PlanState::Retired {
            return Err(ServiceError::precondition(
                PLAN_RETIRED,
                format!("plan {} is retired and cannot change", current.id),
            ));
        }
        let vendor = vendors::get_vendor(&mut tx, &current.vendor_id)
            .await?
            .ok_or_else(|| ServiceError::internal("update plan", "vendor of a plan vanished"))?;
        let merged = update_mask::apply(PlanInput::from(&current), input, &fields);
        let plan = merged
            .validate(&vendor, "")
            .map_err(|p| invalid("plan.", p))?;
        let (vendor_name, category_name) =
            check_references(&mut tx, &plan, &vendor.display_name).await?;
        if !plans::update(
            &mut tx,
            &plan,
            Names {
                vendor: &vendor_name,
                category: &category_name,
            },
            self.now(),
            current.version,
        )
        .await?
        {
            return Err(ServiceError::conflict(format!(
                "plan {} changed concurrently",
                plan.id
            )));
        }
        tx.commit().await?;
        self.read_model.invalidate();
        self.reread(plan.id.as_str()).await
    }

    /// Retires a plan (staff): no longer sold or listed; existing subscriptions unaffected.
    pub async fn retire_plan(
        &self,
        principal: &Principal,
        plan_id: &str,
        etag: &str,
    ) -> ServiceResult<PlanView> {
        principal.require_staff()?;
        let mut tx = self.store.pool().begin().await?;
        let current = self
            .current_for_change(&mut tx, plan_id, etag, "etag", false)
            .await?;
        if current.state == PlanState::Active
            && !plans::retire(&mut tx, plan_id, self.now(), current.version).await?
        {
            return Err(ServiceError::conflict(format!(
                "plan {plan_id} changed concurrently"
            )));
        }
        // End the transaction before re-reading: SQLite pools hold a single connection.
        tx.commit().await?;
        self.read_model.invalidate();
        self.reread(plan_id).await
    }

    /// Adds a price effective from a moment (staff); an existing price for the same plan,
    /// currency and moment is never overwritten.
    pub async fn create_price(
        &self,
        principal: &Principal,
        plan_id: &str,
        input: PriceInput,
    ) -> ServiceResult<Price> {
        principal.require_staff()?;
        if plan_id.is_empty() {
            return Err(ServiceError::invalid_field("plan_id", "must not be empty"));
        }
        let mut problems: Vec<(String, String)> = Vec::new();
        let currency = CurrencyCode::parse(&input.currency_code)
            .map_err(|e| problems.push(("currency_code".into(), e.0)))
            .ok();
        if let Some(c) = currency {
            for (field, given) in [
                ("cost.currency_code", &input.cost_currency),
                ("msrp.currency_code", &input.msrp_currency),
            ] {
                if !given.is_empty() && given != c.as_str() {
                    problems.push((field.into(), format!("must be the price currency {c}")));
                }
            }
        }
        if let Err(errors) = check_amounts(input.cost, input.msrp) {
            problems.extend(
                errors
                    .into_iter()
                    .map(|(f, e)| (format!("{f}.amount_minor"), e.0)),
            );
        }
        let currency = match currency {
            Some(c) if problems.is_empty() => c,
            _ => return Err(invalid("price.", problems)),
        };
        let mut tx = self.store.pool().begin().await?;
        plans::get(&mut tx, plan_id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("plan {plan_id}")))?;
        let now = self.now();
        let price = Price {
            id: marketplace_platform::ids::new_id(),
            plan_id: plan_id.to_string(),
            currency,
            cost: input.cost,
            msrp: input.msrp,
            effective_at: input.effective_at.unwrap_or(now),
            created_at: now,
        };
        if !prices::insert(&mut tx, &price).await? {
            return Err(ServiceError::new(
                ErrorCode::AlreadyExists,
                format!("plan {plan_id} already has a {currency} price effective at that moment"),
            ));
        }
        tx.commit().await?;
        self.read_model.invalidate();
        Ok(price)
    }
}
