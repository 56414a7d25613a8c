//! Resellers' markups: staff for any reseller, reseller administrators for their own.

use marketplace_platform::error::{ServiceError, ServiceResult};
use marketplace_platform::identity::{Principal, Role};

use super::Catalog;
use crate::domain::markup::{MAX_BASIS_POINTS, Markup, MarkupKind, MarkupTarget};
use crate::domain::money::{CurrencyCode, Money, check_unit_amount};
use crate::store::{markups, plans, vendors};

/// How a client expresses a markup's amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkupAmount {
    /// Not specified.
    Unspecified,
    /// Basis points.
    Percentage(i32),
    /// Fixed amount `(currency, minor units)`; `None` when missing.
    Fixed(Option<(String, i64)>),
}

/// A markup as a client sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkupInput {
    /// Reseller.
    pub reseller_id: String,
    /// Vendor (vendor-wide markup).
    pub vendor_id: String,
    /// Plan (plan markup).
    pub plan_id: String,
    /// Amount.
    pub amount: MarkupAmount,
}

impl Catalog {
    /// A reseller's markups.
    pub async fn list_markups(
        &self,
        principal: &Principal,
        reseller_id: &str,
    ) -> ServiceResult<Vec<Markup>> {
        principal.require(&[Role::ResellerAdmin, Role::ResellerUser])?;
        let reseller_id = principal.reseller_scope(reseller_id)?;
        let mut conn = self.conn().await?;
        Ok(markups::list(&mut conn, &reseller_id).await?)
    }

    /// Creates or replaces a markup for a vendor or a plan.
    pub async fn set_markup(
        &self,
        principal: &Principal,
        input: MarkupInput,
    ) -> ServiceResult<Markup> {
        principal.require(&[Role::ResellerAdmin])?;
        let reseller_id = principal
            .reseller_scope(&input.reseller_id)
            .map_err(|e| rename(e, "reseller_id", "markup.reseller_id"))?;
        let kind = match input.amount {
            MarkupAmount::Unspecified => {
                return Err(ServiceError::invalid_field(
                    "markup.kind",
                    "must be percentage or fixed",
                ));
            }
            MarkupAmount::Percentage(bp) if !(0..=MAX_BASIS_POINTS).contains(&bp) => {
                return Err(ServiceError::invalid_field(
                    "markup.basis_points",
                    format!("must be between 0 and {MAX_BASIS_POINTS}"),
                ));
            }
            MarkupAmount::Percentage(bp) => MarkupKind::Percentage(bp),
            MarkupAmount::Fixed(None) => {
                return Err(ServiceError::invalid_field(
                    "markup.fixed_amount",
                    "required for a fixed markup",
                ));
            }
            MarkupAmount::Fixed(Some((currency, amount))) => {
                let currency = CurrencyCode::parse(&currency).map_err(|e| {
                    ServiceError::invalid_field("markup.fixed_amount.currency_code", e.0)
                })?;
                let amount = check_unit_amount(amount).map_err(|e| {
                    ServiceError::invalid_field("markup.fixed_amount.amount_minor", e.0)
                })?;
                MarkupKind::Fixed(Money::new(currency, amount))
            }
        };
        let mut conn = self.conn().await?;
        let target = match (input.vendor_id.is_empty(), input.plan_id.is_empty()) {
            (true, true) => {
                return Err(ServiceError::invalid_field(
                    "markup.vendor_id",
                    "give vendor_id or plan_id",
                ));
            }
            (false, false) => {
                return Err(ServiceError::invalid_field(
                    "markup.plan_id",
                    "give only one of vendor_id and plan_id",
                ));
            }
            (false, true) => {
                vendors::get_vendor(&mut conn, &input.vendor_id)
                    .await?
                    .ok_or_else(|| {
                        ServiceError::not_found(format!("vendor {}", input.vendor_id))
                    })?;
                MarkupTarget::Vendor(input.vendor_id)
            }
            (true, false) => {
                let audience = self.audience(&mut conn, principal, &reseller_id).await?;
                plans::get(&mut conn, &input.plan_id)
                    .await?
                    .filter(|p| audience.can_see(p.tier))
                    .ok_or_else(|| ServiceError::not_found(format!("plan {}", input.plan_id)))?;
                MarkupTarget::Plan(input.plan_id)
            }
        };
        let markup = Markup {
            id: marketplace_platform::ids::new_id(),
            reseller_id,
            target,
            kind,
            update_time: self.now(),
        };
        Ok(markups::upsert(&mut conn, &markup).await?)
    }

    /// Deletes a markup.
    pub async fn delete_markup(
        &self,
        principal: &Principal,
        reseller_id: &str,
        markup_id: &str,
    ) -> ServiceResult<()> {
        principal.require(&[Role::ResellerAdmin])?;
        let reseller_id = principal.reseller_scope(reseller_id)?;
        let mut conn = self.conn().await?;
        if markups::delete(&mut conn, &reseller_id, markup_id).await? {
            Ok(())
        } else {
            Err(ServiceError::not_found(format!("markup {markup_id}")))
        }
    }
}

fn rename(mut e: ServiceError, from: &str, to: &str) -> ServiceError {
    for v in &mut e.violations {
        if v.field == from {
            v.field = to.to_string();
        }
    }
    e
}
