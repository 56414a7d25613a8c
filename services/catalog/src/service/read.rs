//! Browsing and searching: vendors, categories, plans, lookup by vendor ids, price history.

use marketplace_platform::error::{ServiceError, ServiceResult};
use marketplace_platform::identity::{Principal, Role};
use marketplace_platform::paging;
use serde::{Deserialize, Serialize};

use super::read_model::PlanFilter;
use super::{Catalog, PlanView};
use crate::domain::eligibility::Audience;
use crate::domain::ids::{AutodeskProductId, MicrosoftCatalogItemId};
use crate::domain::money::CurrencyCode;
use crate::domain::plan::{BillingCycle, Category, Plan, Term, Vendor};
use crate::domain::price::Price;
use crate::store::{plans, prices, vendors};

/// Most words a search may have.
pub const MAX_QUERY_WORDS: usize = 10;
/// Longest search text.
pub const MAX_QUERY_CHARS: usize = 200;

/// A plan listing request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPlans {
    /// Requested page size (0 = default).
    pub page_size: i32,
    /// Page token of the previous page.
    pub page_token: String,
    /// Free text.
    pub query: String,
    /// Vendor filter.
    pub vendor_id: String,
    /// Category filter.
    pub category_id: String,
    /// Term filter.
    pub term: Option<Term>,
    /// Billing cycle filter.
    pub billing_cycle: Option<BillingCycle>,
    /// Include retired plans (staff only).
    pub include_retired: bool,
    /// Only add-ons of this plan.
    pub parent_plan_id: String,
    /// Reseller whose eligibility applies (staff).
    pub reseller_id: String,
}

/// One page of plans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanPage {
    /// Plans.
    pub plans: Vec<PlanView>,
    /// Token of the next page (empty at the end).
    pub next_page_token: String,
    /// Matching plans over all pages.
    pub total_size: i64,
}

#[derive(Serialize, Deserialize)]
struct PlanCursor {
    k: String,
    i: String,
}

#[derive(Serialize, Deserialize)]
struct PriceCursor {
    t: i64,
    i: String,
}

/// A vendor id lookup request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookup {
    /// Autodesk product id.
    pub autodesk_product_id: String,
    /// Microsoft catalog item id.
    pub microsoft_catalog_item_id: String,
    /// Reseller whose eligibility applies (staff).
    pub reseller_id: String,
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Splits a search into lower-case words.
pub fn search_words(query: &str) -> ServiceResult<Vec<String>> {
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(ServiceError::invalid_field(
            "query",
            format!("at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    if words.len() > MAX_QUERY_WORDS {
        return Err(ServiceError::invalid_field(
            "query",
            format!("at most {MAX_QUERY_WORDS} words"),
        ));
    }
    Ok(words)
}

impl Catalog {
    /// Every vendor.
    pub async fn list_vendors(&self) -> ServiceResult<Vec<Vendor>> {
        let mut conn = self.conn().await?;
        Ok(vendors::list_vendors(&mut conn).await?)
    }

    /// Categories with the number of plans the caller may see.
    pub async fn list_categories(
        &self,
        principal: &Principal,
        vendor_id: &str,
    ) -> ServiceResult<Vec<Category>> {
        let mut conn = self.conn().await?;
        let audience = self.audience(&mut conn, principal, "").await?;
        Ok(vendors::list_categories(
            &mut conn,
            (!vendor_id.is_empty()).then_some(vendor_id),
            !audience.sees_specialized(),
        )
        .await?)
    }

    /// Lists or searches the plans visible to the caller, in a stable order (from the read model).
    pub async fn list_plans(
        &self,
        principal: &Principal,
        req: ListPlans,
    ) -> ServiceResult<PlanPage> {
        let limit = paging::page_size(req.page_size)?;
        if req.include_retired && !principal.role.is_privileged() {
            return Err(ServiceError::permission_denied(
                "only staff may list retired plans",
            ));
        }
        let words = search_words(&req.query)?;
        let snapshot = self.snapshot().await?;
        let audience = Self::cached_audience(&snapshot, principal, &req.reseller_id)?;
        let filter = PlanFilter {
            words,
            vendor_id: opt(&req.vendor_id),
            category_id: opt(&req.category_id),
            term: req.term,
            billing_cycle: req.billing_cycle,
            include_retired: req.include_retired,
            parent_plan_id: opt(&req.parent_plan_id),
            open_only: !audience.sees_specialized(),
        };
        let scope = format!("plans|{audience:?}|{filter:?}");
        let after = self
            .page_tokens
            .decode::<PlanCursor>(&scope, &req.page_token)?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let (mut page, total) = snapshot.list(
            &filter,
            after.as_ref().map(|c| (c.k.as_str(), c.i.as_str())),
            limit.saturating_add(1),
        );
        let more = page.len() > limit;
        page.truncate(limit);
        let next_page_token = match page.last() {
            Some(e) if more => self.page_tokens.encode(
                &scope,
                &PlanCursor {
                    k: e.sort_key.clone(),
                    i: e.plan.id.clone(),
                },
            ),
            _ => String::new(),
        };
        let now = self.now();
        Ok(PlanPage {
            plans: page.into_iter().map(|e| snapshot.view(e, now)).collect(),
            next_page_token,
            total_size: i64::try_from(total).unwrap_or(i64::MAX),
        })
    }

    /// One plan with its current prices; a plan the caller may not see is not found.
    pub async fn get_plan(
        &self,
        principal: &Principal,
        plan_id: &str,
        reseller_id: &str,
    ) -> ServiceResult<PlanView> {
        if plan_id.is_empty() {
            return Err(ServiceError::invalid_field("plan_id", "must not be empty"));
        }
        let snapshot = self.snapshot().await?;
        let audience = Self::cached_audience(&snapshot, principal, reseller_id)?;
        let entry = snapshot
            .plan(plan_id)
            .ok_or_else(|| ServiceError::not_found(format!("plan {plan_id}")))?;
        Self::visible(principal, &audience, &entry.plan)
            .map_err(|e| e.unwrap_or_else(|| ServiceError::not_found(format!("plan {plan_id}"))))?;
        Ok(snapshot.view(entry, self.now()))
    }

    /// Resolves an Autodesk product id or a Microsoft catalog item id to exactly one plan.
    pub async fn lookup_plan(&self, principal: &Principal, req: Lookup) -> ServiceResult<PlanView> {
        let (key, what) = match (
            req.autodesk_product_id.is_empty(),
            req.microsoft_catalog_item_id.is_empty(),
        ) {
            (true, true) => {
                return Err(ServiceError::invalid_field(
                    "autodesk_product_id",
                    "give autodesk_product_id or microsoft_catalog_item_id",
                ));
            }
            (false, false) => {
                return Err(ServiceError::invalid_field(
                    "microsoft_catalog_item_id",
                    "give only one of autodesk_product_id and microsoft_catalog_item_id",
                ));
            }
            (false, true) => {
                let id = AutodeskProductId::parse(&req.autodesk_product_id)
                    .map_err(|e| ServiceError::invalid_field("autodesk_product_id", e.0))?;
                (id.to_string(), "Autodesk product id")
            }
            (true, false) => {
                let id = MicrosoftCatalogItemId::parse(&req.microsoft_catalog_item_id)
                    .map_err(|e| ServiceError::invalid_field("microsoft_catalog_item_id", e.0))?;
                (id.to_string(), "Microsoft catalog item id")
            }
        };
        let snapshot = self.snapshot().await?;
        let audience = Self::cached_audience(&snapshot, principal, &req.reseller_id)?;
        let not_found = || ServiceError::not_found(format!("plan with {what} {key}"));
        let entry = snapshot.plan_by_vendor_id(&key).ok_or_else(not_found)?;
        Self::visible(principal, &audience, &entry.plan)
            .map_err(|e| e.unwrap_or_else(not_found))?;
        Ok(snapshot.view(entry, self.now()))
    }

    /// Whether `audience` may see `plan`. A hidden plan is answered as not found (`Err(None)`),
    /// except to a service acting for a reseller (ordering adding a cart line), which is told why
    /// the reseller may not sell it (`autodesk.csn_required`, naming the plan).
    fn visible(
        principal: &Principal,
        audience: &Audience,
        plan: &Plan,
    ) -> Result<(), Option<ServiceError>> {
        if audience.can_see(plan.tier) {
            return Ok(());
        }
        if principal.role == Role::Service
            && let Err((rule, message)) = audience.check_sellable(plan)
        {
            return Err(Some(ServiceError::precondition(rule, message)));
        }
        Err(None)
    }

    /// A page of a visible plan's price history, newest first.
    pub async fn list_prices(
        &self,
        principal: &Principal,
        plan_id: &str,
        currency: &str,
        page_size: i32,
        page_token: &str,
    ) -> ServiceResult<(Vec<Price>, String)> {
        let limit = paging::page_size(page_size)?;
        let currency = opt(currency)
            .map(|c| CurrencyCode::parse(&c))
            .transpose()
            .map_err(|e| ServiceError::invalid_field("currency_code", e.0))?;
        let mut conn = self.conn().await?;
        let audience = self.audience(&mut conn, principal, "").await?;
        plans::get(&mut conn, plan_id)
            .await?
            .filter(|p| audience.can_see(p.tier))
            .ok_or_else(|| ServiceError::not_found(format!("plan {plan_id}")))?;
        let scope = format!("prices|{plan_id}|{currency:?}");
        let after = self
            .page_tokens
            .decode::<PriceCursor>(&scope, page_token)?
            .map(|c| (c.t, c.i));
        let mut rows = prices::history(&mut conn, plan_id, currency, after, limit + 1).await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next = match rows.last() {
            Some(p) if more => self.page_tokens.encode(
                &scope,
                &PriceCursor {
                    t: p.effective_at,
                    i: p.id.clone(),
                },
            ),
            _ => String::new(),
        };
        Ok((rows, next))
    }
}
