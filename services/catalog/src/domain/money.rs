//! Currencies and amounts in integer minor units (never floating point).

use std::fmt;

/// Largest unit amount the catalog accepts, in minor units (10 million major units): anything
/// above is a typo, not a price.
pub const MAX_UNIT_AMOUNT_MINOR: i64 = 1_000_000_000;

/// Why an amount or currency was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MoneyError(pub String);

/// An ISO-4217 currency code: three upper-case ASCII letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CurrencyCode([u8; 3]);

/// Currencies whose minor unit is not 1/100 (ISO-4217 exponent 0 or 3).
const EXPONENTS: &[(&str, u32)] = &[
    ("BIF", 0),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("ISK", 0),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("PYG", 0),
    ("RWF", 0),
    ("UGX", 0),
    ("UYI", 0),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
    ("BHD", 3),
    ("IQD", 3),
    ("JOD", 3),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("TND", 3),
];

impl CurrencyCode {
    /// US dollar.
    pub const USD: Self = Self(*b"USD");

    /// Parses a code; lower case is refused (the contract says upper case).
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        match s.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_uppercase()) => Ok(Self([*a, *b, *c])),
            _ => Err(MoneyError(
                "a currency is a three-letter upper-case ISO-4217 code, e.g. USD".into(),
            )),
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point of the currency's minor unit.
    pub fn exponent(&self) -> u32 {
        EXPONENTS
            .iter()
            .find(|(c, _)| *c == self.as_str())
            .map_or(2, |(_, e)| *e)
    }

    /// Parses a decimal amount in major units ("1234.5", "0.99") into minor units, refusing
    /// more decimals than the currency has, negatives and absurd amounts.
    pub fn parse_major(&self, s: &str) -> Result<i64, MoneyError> {
        let s = s.trim();
        let bad = || {
            MoneyError(format!(
                "not an amount in {} with at most {} decimals: {s:?}",
                self.as_str(),
                self.exponent()
            ))
        };
        if s.starts_with('-') {
            return Err(MoneyError("must not be negative".into()));
        }
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        if s.contains('.') && frac.is_empty() {
            return Err(bad());
        }
        let exp = self.exponent();
        let frac = frac.trim_end_matches('0');
        if frac.len() > exp as usize {
            return Err(bad());
        }
        let scale = 10_i64.pow(exp);
        let whole: i64 = whole
            .parse()
            .map_err(|_| MoneyError("amount too large".into()))?;
        let frac_value: i64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<width$}", width = exp as usize)
                .parse()
                .map_err(|_| bad())?
        };
        let minor = whole
            .checked_mul(scale)
            .and_then(|w| w.checked_add(frac_value))
            .ok_or_else(|| MoneyError("amount too large".into()))?;
        check_unit_amount(minor)?;
        Ok(minor)
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks a unit price or markup amount: `0..=MAX_UNIT_AMOUNT_MINOR`.
pub fn check_unit_amount(minor: i64) -> Result<i64, MoneyError> {
    if minor < 0 {
        Err(MoneyError("must not be negative".into()))
    } else if minor > MAX_UNIT_AMOUNT_MINOR {
        Err(MoneyError(format!(
            "absurdly large: more than {MAX_UNIT_AMOUNT_MINOR} minor units per seat"
        )))
    } else {
        Ok(minor)
    }
}

/// An amount of one currency in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    /// The currency.
    pub currency: CurrencyCode,
    /// Minor units (cents).
    pub amount_minor: i64,
}

impl Money {
    /// An amount.
    pub fn new(currency: CurrencyCode, amount_minor: i64) -> Self {
        Self {
            currency,
            amount_minor,
        }
    }

    /// Zero in `currency`.
    pub fn zero(currency: CurrencyCode) -> Self {
        Self::new(currency, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_codes_are_three_upper_case_letters() {
        assert!(CurrencyCode::parse("EUR").is_ok());
        assert!(CurrencyCode::parse("eur").is_err());
        assert!(CurrencyCode::parse("EU").is_err());
        assert!(CurrencyCode::parse("EURO").is_err());
        assert!(CurrencyCode::parse("").is_err());
    }

    #[test]
    fn major_amounts_become_minor_units() {
        let usd = CurrencyCode::USD;
        assert_eq!(usd.parse_major("12.34").unwrap(), 1234);
        assert_eq!(usd.parse_major("12.3").unwrap(), 1230);
        assert_eq!(usd.parse_major("12").unwrap(), 1200);
        assert_eq!(usd.parse_major("12.300").unwrap(), 1230);
        assert!(usd.parse_major("12.345").is_err());
        assert!(usd.parse_major("-1").is_err());
        assert!(usd.parse_major("1e3").is_err());
        assert!(usd.parse_major("12.").is_err());
        assert!(usd.parse_major("99999999999").is_err());
        let jpy = CurrencyCode::parse("JPY").unwrap();
        assert_eq!(jpy.parse_major("1500").unwrap(), 1500);
        assert!(jpy.parse_major("1500.5").is_err());
    }
}
