//! Quoting (plan, quantity) lines for a reseller, as ordering does at checkout.

use marketplace_platform::error::{ServiceError, ServiceResult, Violations};
use marketplace_platform::identity::Principal;

use super::Catalog;
use crate::domain::eligibility::Audience;
use crate::domain::markup::Markup;
use crate::domain::money::CurrencyCode;
use crate::domain::plan::PlanState;
use crate::domain::price::in_effect;
use crate::domain::quote::{QuotedLine, check_quantity, quote_line, totals};
use crate::store::{markups, plans, prices};

/// Most lines one quote may have.
pub const MAX_LINES: usize = 200;

/// The rule a quote of a retired plan breaks.
pub const PLAN_RETIRED: &str = "catalog.plan_retired";
/// The rule a quote of a plan without a price in the currency breaks.
pub const PRICE_MISSING: &str = "catalog.price_missing";

/// A quote request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteRequest {
    /// Reseller (staff and services must set it).
    pub reseller_id: String,
    /// Currency.
    pub currency_code: String,
    /// `(plan id, quantity)` lines.
    pub lines: Vec<(String, i32)>,
    /// Moment to price at (µs); `None` = now.
    pub price_time: Option<i64>,
}

/// A priced quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// Currency.
    pub currency: CurrencyCode,
    /// Lines in request order.
    pub lines: Vec<QuotedLine>,
    /// Sum of line costs.
    pub total_cost: i64,
    /// Sum of line prices.
    pub total_price: i64,
}

impl Catalog {
    /// Prices lines for a reseller: checks eligibility (specialized plans need a CSN), seat
    /// limits, plan state and prices, then applies the reseller's markups.
    pub async fn quote(&self, principal: &Principal, req: QuoteRequest) -> ServiceResult<Quote> {
        let reseller_id = principal.reseller_scope(&req.reseller_id)?;
        let mut v = Violations::new();
        let currency = v.check(
            "currency_code",
            CurrencyCode::parse(&req.currency_code).map_err(|e| e.0),
        );
        if req.lines.is_empty() {
            v.add("lines", "at least one line is needed");
        }
        if req.lines.len() > MAX_LINES {
            v.add("lines", format!("at most {MAX_LINES} lines"));
        }
        for (i, (plan_id, quantity)) in req.lines.iter().enumerate() {
            if plan_id.is_empty() {
                v.add(format!("lines[{i}].plan_id"), "must not be empty");
            }
            if *quantity <= 0 {
                v.add(format!("lines[{i}].quantity"), "must be positive");
            }
        }
        v.into_result()?;
        let currency =
            currency.ok_or_else(|| ServiceError::internal("quote", "currency checked above"))?;
        let at = req.price_time.unwrap_or_else(|| self.now());

        let mut conn = self.conn().await?;
        let ids: Vec<String> = req.lines.iter().map(|(p, _)| p.clone()).collect();
        let found = plans::get_many(&mut conn, &ids).await?;
        let plan_of = |id: &str| found.iter().find(|p| p.id == id);
        if let Some((missing, _)) = req.lines.iter().find(|(id, _)| plan_of(id).is_none()) {
            return Err(ServiceError::not_found(format!("plan {missing}")));
        }
        let mut v = Violations::new();
        for (i, (plan_id, quantity)) in req.lines.iter().enumerate() {
            if let Some(Err(problem)) = plan_of(plan_id).map(|plan| check_quantity(plan, *quantity))
            {
                v.add(format!("lines[{i}].quantity"), problem);
            }
        }
        v.into_result()?;

        let audience = self.audience(&mut conn, principal, &reseller_id).await?;
        let candidates = prices::effective_by(&mut conn, &ids, at).await?;
        let reseller_markups: Vec<Markup> = match &audience {
            Audience::Reseller { reseller_id, .. } => markups::list(&mut conn, reseller_id).await?,
            Audience::Everyone => Vec::new(),
        };
        let mut lines = Vec::with_capacity(req.lines.len());
        for (i, (plan_id, quantity)) in req.lines.iter().enumerate() {
            let plan = plan_of(plan_id)
                .ok_or_else(|| ServiceError::not_found(format!("plan {plan_id}")))?;
            audience
                .check_sellable(plan)
                .map_err(|(rule, message)| ServiceError::precondition(rule, message))?;
            if plan.state == PlanState::Retired {
                return Err(ServiceError::precondition(
                    PLAN_RETIRED,
                    format!("plan {plan_id} is retired and no longer sold"),
                ));
            }
            let own: Vec<_> = candidates
                .iter()
                .filter(|p| &p.plan_id == plan_id && p.currency == currency)
                .cloned()
                .collect();
            let price = in_effect(&own, at).into_iter().next().ok_or_else(|| {
                ServiceError::precondition(
                    PRICE_MISSING,
                    format!("plan {plan_id} has no {currency} price effective at the quoted time"),
                )
            })?;
            lines.push(
                quote_line(plan, price, &reseller_markups, *quantity)
                    .map_err(|e| ServiceError::invalid_field(format!("lines[{i}].quantity"), e))?,
            );
        }
        let (total_cost, total_price) = totals(&lines)
            .ok_or_else(|| ServiceError::invalid_field("lines", "total amount too large"))?;
        Ok(Quote {
            currency,
            lines,
            total_cost,
            total_price,
        })
    }
}
