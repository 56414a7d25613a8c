//! Per-reseller markups over the distributor cost: a percentage (basis points) or a fixed amount
//! per seat and billing period, set per vendor or per plan. A plan markup beats a vendor markup;
//! a fixed markup only applies to prices in its own currency.

use super::money::{CurrencyCode, Money};

/// Largest percentage markup: 1000 % (100,000 basis points).
pub const MAX_BASIS_POINTS: i32 = 100_000;

/// How a markup is expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkupKind {
    /// Basis points over cost (1250 = 12.5 %).
    Percentage(i32),
    /// A fixed amount per seat and billing period.
    Fixed(Money),
}

/// What a markup applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MarkupTarget {
    /// Every plan of a vendor.
    Vendor(String),
    /// One plan.
    Plan(String),
}

/// A reseller's markup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Markup {
    /// Id.
    pub id: String,
    /// Reseller.
    pub reseller_id: String,
    /// Target.
    pub target: MarkupTarget,
    /// Kind and amount.
    pub kind: MarkupKind,
    /// Last change (µs).
    pub update_time: i64,
}

impl Markup {
    /// The markup per seat on `cost` (minor units of `currency`), or `None` when the markup does
    /// not apply to that currency. Percentages round half up to the minor unit.
    pub fn amount_on(&self, cost: i64, currency: CurrencyCode) -> Option<i64> {
        match self.kind {
            MarkupKind::Percentage(bp) => {
                let value = (i128::from(cost) * i128::from(bp) + 5_000) / 10_000;
                i64::try_from(value).ok()
            }
            MarkupKind::Fixed(money) => (money.currency == currency).then_some(money.amount_minor),
        }
    }
}

/// The markup amount for a plan of `vendor_id` at `cost`: the plan markup when it applies, else
/// the vendor markup when it applies, else zero. Returns the amount and the markup used.
pub fn markup_for<'a>(
    markups: &'a [Markup],
    plan_id: &str,
    vendor_id: &str,
    cost: i64,
    currency: CurrencyCode,
) -> (i64, Option<&'a Markup>) {
    let plan = markups
        .iter()
        .find(|m| matches!(&m.target, MarkupTarget::Plan(p) if p == plan_id));
    let vendor = markups
        .iter()
        .find(|m| matches!(&m.target, MarkupTarget::Vendor(v) if v == vendor_id));
    for m in [plan, vendor].into_iter().flatten() {
        if let Some(amount) = m.amount_on(cost, currency) {
            return (amount, Some(m));
        }
    }
    (0, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn markup(target: MarkupTarget, kind: MarkupKind) -> Markup {
        Markup {
            id: "m".into(),
            reseller_id: "r".into(),
            target,
            kind,
            update_time: 0,
        }
    }

    #[test]
    fn plan_beats_vendor_and_percentages_round_half_up() {
        let usd = CurrencyCode::USD;
        let markups = vec![
            markup(
                MarkupTarget::Vendor("v".into()),
                MarkupKind::Percentage(1250),
            ),
            markup(
                MarkupTarget::Plan("p".into()),
                MarkupKind::Fixed(Money::new(usd, 300)),
            ),
        ];
        assert_eq!(markup_for(&markups, "p", "v", 1000, usd).0, 300);
        assert_eq!(markup_for(&markups, "q", "v", 1000, usd).0, 125);
        assert_eq!(markup_for(&markups, "q", "v", 1004, usd).0, 126);
        assert_eq!(markup_for(&markups, "q", "w", 1000, usd).0, 0);
        let eur = CurrencyCode::parse("EUR").unwrap();
        assert_eq!(
            markup_for(&markups, "p", "v", 1000, eur).0,
            125,
            "fixed USD markup does not apply to EUR"
        );
    }
}
