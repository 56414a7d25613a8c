//! Property tests of the parsers of outside input: they never panic, accept exactly the valid
//! shapes, and what they accept is normalised.

use catalog::domain::ids::{AutodeskProductId, Csn, MicrosoftCatalogItemId};
use catalog::domain::money::{CurrencyCode, MAX_UNIT_AMOUNT_MINOR};
use proptest::prelude::*;

/// Currencies of every ISO-4217 exponent the catalog knows (0, 2 and 3 decimals).
const CURRENCIES: [&str; 8] = ["JPY", "KRW", "USD", "EUR", "GBP", "BHD", "KWD", "TND"];

fn currency() -> impl Strategy<Value = CurrencyCode> {
    prop_oneof![
        proptest::sample::select(CURRENCIES.to_vec()).prop_map(|c| CurrencyCode::parse(c).unwrap()),
        "[A-Z]{3}".prop_map(|c| CurrencyCode::parse(&c).unwrap()),
    ]
}

/// `minor` written in major units with exactly the currency's decimals (`1234` USD → `12.34`).
fn major(minor: i64, exponent: u32) -> String {
    let scale = 10_i64.pow(exponent);
    if exponent == 0 {
        minor.to_string()
    } else {
        format!(
            "{}.{:0width$}",
            minor / scale,
            minor % scale,
            width = exponent as usize
        )
    }
}

/// The exact value in minor units of `whole.frac` (digits only), computed without `i64`, so
/// that a wrapped or truncated result of the parser cannot go unnoticed; `None` when the
/// fraction has more significant decimals than the currency.
pub(crate) fn exact_minor(whole: &str, frac: &str, exponent: u32) -> Option<u128> {
    let frac = frac.trim_end_matches('0');
    if frac.len() > exponent as usize {
        return None;
    }
    let whole: u128 = whole.parse().ok()?;
    let frac_value: u128 = format!("{frac:0<width$}", width = exponent as usize)
        .parse()
        .unwrap_or(0);
    whole
        .checked_mul(10_u128.pow(exponent))?
        .checked_add(frac_value)
}

proptest! {
    #[test]
    fn autodesk_product_ids_are_15_alphanumerics_upper_cased(raw in "\\PC{0,40}") {
        if let Ok(id) = AutodeskProductId::parse(&raw) {
            prop_assert_eq!(id.as_str().len(), AutodeskProductId::LEN);
            prop_assert!(id.as_str().bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        }
    }

    #[test]
    fn every_15_alphanumeric_string_is_a_product_id(raw in "[A-Za-z0-9]{15}") {
        let id = AutodeskProductId::parse(&raw).expect("valid shape");
        prop_assert_eq!(id.as_str(), raw.to_ascii_uppercase());
    }

    #[test]
    fn csns_are_exactly_ten_digits(raw in "\\PC{0,20}") {
        let valid = raw.trim().len() == 10 && raw.trim().bytes().all(|b| b.is_ascii_digit());
        prop_assert_eq!(Csn::parse(&raw).is_ok(), valid);
    }

    #[test]
    fn microsoft_catalog_ids_have_three_parts(raw in "\\PC{0,60}") {
        if let Ok(id) = MicrosoftCatalogItemId::parse(&raw) {
            prop_assert_eq!(id.to_string().matches(':').count(), 2);
        }
    }

    #[test]
    fn currencies_are_three_upper_case_letters(raw in "\\PC{0,6}") {
        let valid = raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase());
        prop_assert_eq!(CurrencyCode::parse(&raw).is_ok(), valid);
    }

    #[test]
    fn amounts_never_panic_and_accept_only_plain_decimals(
        currency in currency(),
        raw in prop_oneof!["\\PC{0,40}", "[-+ 0-9.,eE_\t]{0,30}"],
    ) {
        if let Ok(minor) = currency.parse_major(&raw) {
            prop_assert!((0..=MAX_UNIT_AMOUNT_MINOR).contains(&minor));
            let text = raw.trim();
            let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
            prop_assert!(!whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()), "{raw:?}");
            prop_assert!(frac.bytes().all(|b| b.is_ascii_digit()), "{raw:?}");
        }
    }

    #[test]
    fn amounts_are_exact_or_refused_never_wrapped(
        currency in currency(),
        whole in "[0-9]{1,25}",
        frac in proptest::option::of("[0-9]{1,6}"),
    ) {
        let text = match &frac {
            Some(frac) => format!("{whole}.{frac}"),
            None => whole.clone(),
        };
        let expected = exact_minor(&whole, frac.as_deref().unwrap_or(""), currency.exponent())
            .filter(|m| *m <= MAX_UNIT_AMOUNT_MINOR as u128);
        match currency.parse_major(&text) {
            Ok(minor) => prop_assert_eq!(Some(minor as u128), expected, "{} {}", text, currency),
            Err(_) => prop_assert_eq!(expected, None, "{} {} refused", text, currency),
        }
    }

    #[test]
    fn valid_amounts_round_trip_in_every_exponent(
        currency in currency(),
        minor in 0..=MAX_UNIT_AMOUNT_MINOR,
        extra_zeros in 0usize..4,
        blanks in "[ \t]{0,2}",
    ) {
        let exponent = currency.exponent();
        prop_assert!([0, 2, 3].contains(&exponent));
        let canonical = major(minor, exponent);
        prop_assert_eq!(currency.parse_major(&canonical), Ok(minor));
        // Trailing zeros, a bare integer for whole amounts, and surrounding blanks (trimmed by
        // design) are all the same amount.
        let padded = if exponent == 0 {
            format!("{canonical}.{}", "0".repeat(extra_zeros.max(1)))
        } else {
            format!("{canonical}{}", "0".repeat(extra_zeros))
        };
        prop_assert_eq!(currency.parse_major(&padded), Ok(minor));
        let scale = 10_i64.pow(exponent);
        if minor % scale == 0 {
            prop_assert_eq!(currency.parse_major(&(minor / scale).to_string()), Ok(minor));
        }
        prop_assert_eq!(currency.parse_major(&format!("{blanks}{canonical}{blanks}")), Ok(minor));
    }

    #[test]
    fn signs_exponents_inner_blanks_and_excess_decimals_are_refused(
        currency in currency(),
        minor in 0..=MAX_UNIT_AMOUNT_MINOR,
        sign in "[-+\u{2212}]",
        exponent_mark in "[eE]",
        blank in "[ \t\u{a0}\u{2009}_,]",
        at in any::<proptest::sample::Index>(),
        excess in "[0-9]{0,3}[1-9]",
    ) {
        let text = major(minor, currency.exponent());
        for refused in [
            format!("{sign}{text}"),
            format!("{text}{exponent_mark}2"),
            format!("{text}{exponent_mark}-2"),
        ] {
            prop_assert!(currency.parse_major(&refused).is_err(), "{:?}", refused);
        }
        if text.len() > 1 {
            let cut = 1 + at.index(text.len() - 1);
            let split = format!("{}{blank}{}", &text[..cut], &text[cut..]);
            prop_assert!(currency.parse_major(&split).is_err(), "{:?}", split);
        }
        let decimals = currency.exponent() as usize;
        let too_precise = format!(
            "{}.{}{excess}",
            minor / 10_i64.pow(currency.exponent()),
            "0".repeat(decimals)
        );
        prop_assert!(currency.parse_major(&too_precise).is_err(), "{}", too_precise);
    }

    #[test]
    fn amounts_above_the_cap_are_refused_up_to_and_beyond_i64(
        currency in currency(),
        over in prop_oneof![
            (MAX_UNIT_AMOUNT_MINOR as u128 + 1)..=(i64::MAX as u128),
            (i64::MAX as u128)..=(u64::MAX as u128 * 100),
        ],
    ) {
        let scale = 10_u128.pow(currency.exponent());
        let text = if currency.exponent() == 0 {
            over.to_string()
        } else {
            format!("{}.{:0width$}", over / scale, over % scale, width = currency.exponent() as usize)
        };
        prop_assert!(currency.parse_major(&text).is_err(), "{}", text);
    }
}
