//! Pricing a (plan, quantity) line for a reseller: unit price = cost + markup.

use super::markup::{Markup, markup_for};
use super::plan::Plan;
use super::price::Price;

/// One priced line (amounts in minor units of the price's currency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotedLine {
    /// Plan.
    pub plan_id: String,
    /// Plan name.
    pub plan_name: String,
    /// Vendor.
    pub vendor_id: String,
    /// Seats.
    pub quantity: i32,
    /// Price used.
    pub price_id: String,
    /// Cost per seat.
    pub unit_cost: i64,
    /// Markup per seat.
    pub unit_markup: i64,
    /// Reseller's price per seat.
    pub unit_price: i64,
    /// MSRP per seat.
    pub unit_msrp: i64,
    /// Cost × quantity.
    pub total_cost: i64,
    /// Price × quantity.
    pub total_price: i64,
}

/// Checks a quantity against the plan's seat limits; the error explains the limits.
pub fn check_quantity(plan: &Plan, quantity: i32) -> Result<(), String> {
    if quantity < plan.min_quantity || quantity > plan.max_quantity {
        Err(format!(
            "plan {} is sold in quantities of {} to {} (got {quantity})",
            plan.id, plan.min_quantity, plan.max_quantity
        ))
    } else {
        Ok(())
    }
}

/// Prices one line; fails only when an amount overflows.
pub fn quote_line(
    plan: &Plan,
    price: &Price,
    markups: &[Markup],
    quantity: i32,
) -> Result<QuotedLine, String> {
    let (unit_markup, _) = markup_for(
        markups,
        &plan.id,
        &plan.vendor_id,
        price.cost,
        price.currency,
    );
    let overflow = || "amount too large".to_string();
    let unit_price = price.cost.checked_add(unit_markup).ok_or_else(overflow)?;
    let q = i64::from(quantity);
    Ok(QuotedLine {
        plan_id: plan.id.clone(),
        plan_name: plan.name.clone(),
        vendor_id: plan.vendor_id.clone(),
        quantity,
        price_id: price.id.clone(),
        unit_cost: price.cost,
        unit_markup,
        unit_price,
        unit_msrp: price.msrp,
        total_cost: price.cost.checked_mul(q).ok_or_else(overflow)?,
        total_price: unit_price.checked_mul(q).ok_or_else(overflow)?,
    })
}

/// Sums line totals `(cost, price)`; `None` on overflow.
pub fn totals(lines: &[QuotedLine]) -> Option<(i64, i64)> {
    lines.iter().try_fold((0_i64, 0_i64), |(c, p), l| {
        Some((c.checked_add(l.total_cost)?, p.checked_add(l.total_price)?))
    })
}
