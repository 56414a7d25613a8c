//! Prices: per plan and currency, the distributor's cost and the MSRP in minor units, each
//! effective from a moment. The price at time `t` is the one with the latest effective time
//! not after `t`; a later price never changes what was quoted before it took effect.

use super::money::{CurrencyCode, MoneyError, check_unit_amount};

/// A stored price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    /// Id.
    pub id: String,
    /// Plan.
    pub plan_id: String,
    /// Currency.
    pub currency: CurrencyCode,
    /// Cost to the reseller per seat and billing period (minor units).
    pub cost: i64,
    /// MSRP per seat and billing period (minor units).
    pub msrp: i64,
    /// Effective from (µs).
    pub effective_at: i64,
    /// Created (µs).
    pub created_at: i64,
}

/// Checks the amounts of a new price: non-negative, not absurd; `(field, problem)` on failure.
pub fn check_amounts(cost: i64, msrp: i64) -> Result<(), Vec<(&'static str, MoneyError)>> {
    let mut out = Vec::new();
    if let Err(e) = check_unit_amount(cost) {
        out.push(("cost", e));
    }
    if let Err(e) = check_unit_amount(msrp) {
        out.push(("msrp", e));
    }
    if out.is_empty() { Ok(()) } else { Err(out) }
}

/// The prices in effect at `at_micros`, one per currency, from any list of a plan's prices.
pub fn in_effect(prices: &[Price], at_micros: i64) -> Vec<&Price> {
    let mut best: Vec<&Price> = Vec::new();
    for price in prices.iter().filter(|p| p.effective_at <= at_micros) {
        match best.iter_mut().find(|b| b.currency == price.currency) {
            Some(b) if (price.effective_at, price.created_at) > (b.effective_at, b.created_at) => {
                *b = price
            }
            Some(_) => {}
            None => best.push(price),
        }
    }
    best.sort_by_key(|a| a.currency);
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(id: &str, currency: &str, cost: i64, effective_at: i64) -> Price {
        Price {
            id: id.into(),
            plan_id: "p".into(),
            currency: CurrencyCode::parse(currency).unwrap(),
            cost,
            msrp: cost,
            effective_at,
            created_at: 0,
        }
    }

    #[test]
    fn later_prices_do_not_affect_earlier_moments() {
        let prices = vec![
            price("a", "USD", 100, 10),
            price("b", "USD", 120, 20),
            price("c", "EUR", 90, 10),
        ];
        let at = |t| {
            in_effect(&prices, t)
                .iter()
                .map(|p| p.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(at(5), Vec::<String>::new());
        assert_eq!(at(15), vec!["c", "a"]);
        assert_eq!(at(20), vec!["c", "b"]);
    }

    #[test]
    fn amounts_are_bounded() {
        assert!(check_amounts(0, 10).is_ok());
        assert_eq!(check_amounts(-1, 10).unwrap_err()[0].0, "cost");
        assert_eq!(check_amounts(1, i64::MAX).unwrap_err()[0].0, "msrp");
    }
}
