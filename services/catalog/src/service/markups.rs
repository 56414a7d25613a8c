//! Resellers' markups: staff for any reseller, reseller administrators for their own.

use marketplace_platform::error::{ServiceError, ServiceResult};
use marketplace_platform::identity::{Principal, Role};
use marketplace_proto::events::v1 as ev;
use marketplace_proto::events::v1::envelope::Payload;

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
        drop(conn);
        let markup = Markup {
            id: marketplace_platform::ids::new_id(),
            reseller_id,
            target,
            kind,
            update_time: self.now(),
        };
        let mut tx = self.store.pool().begin().await?;
        let stored = markups::upsert(&mut tx, &markup).await?;
        self.markup_changed(&mut tx, principal, &stored, false)
            .await?;
        tx.commit().await?;
        self.outbox.notify();
        Ok(stored)
    }

    /// Appends `markup_changed` (ordering turns it into markup-change orders) inside `conn`'s
    /// transaction.
    async fn markup_changed(
        &self,
        conn: &mut sqlx::AnyConnection,
        principal: &Principal,
        markup: &Markup,
        deleted: bool,
    ) -> ServiceResult<()> {
        let (vendor_id, plan_id) = match &markup.target {
            MarkupTarget::Vendor(v) => (v.clone(), String::new()),
            MarkupTarget::Plan(p) => (String::new(), p.clone()),
        };
        let payload = Payload::MarkupChanged(ev::MarkupChanged {
            reseller_id: markup.reseller_id.clone(),
            markup_id: markup.id.clone(),
            vendor_id,
            plan_id,
            deleted,
            changed_by: principal.subject.clone(),
            changed_by_name: principal.display_name.clone(),
            changed_by_role: principal.role.as_str().to_string(),
        });
        let envelope = marketplace_platform::outbox::envelope(
            crate::events::SOURCE,
            &markup.reseller_id,
            "",
            payload,
            &self.clock,
        );
        self.outbox.append(conn, &envelope, self.now()).await?;
        Ok(())
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
        let mut tx = self.store.pool().begin().await?;
        let Some(deleted) = markups::delete(&mut tx, &reseller_id, markup_id).await? else {
            return Err(ServiceError::not_found(format!("markup {markup_id}")));
        };
        self.markup_changed(&mut tx, principal, &deleted, true)
            .await?;
        tx.commit().await?;
        self.outbox.notify();
        Ok(())
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
