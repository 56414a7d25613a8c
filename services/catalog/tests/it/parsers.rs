//! Property tests of the parsers of outside input: they never panic, accept exactly the valid
//! shapes, and what they accept is normalised.

use catalog::domain::ids::{AutodeskProductId, Csn, MicrosoftCatalogItemId};
use catalog::domain::money::CurrencyCode;
use proptest::prelude::*;

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
}
