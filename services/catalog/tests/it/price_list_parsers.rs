//! Property tests of the price-list import parser: any file is answered without panicking,
//! every row ends up either accepted or in the rejected-rows report under its row number, and
//! well-formed rows are accepted with exactly the values given.

use std::collections::BTreeSet;

use catalog::domain::ids::{AutodeskProductId, MicrosoftCatalogItemId};
use catalog::domain::import::{Format, ParsedRow, PlanRef, Rejection, parse, parse_effective};
use catalog::domain::money::{CurrencyCode, MAX_UNIT_AMOUNT_MINOR};
use proptest::prelude::*;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::parsers::exact_minor;

const PLAN_COLUMNS: [&str; 3] = [
    "plan_id",
    "autodesk_product_id",
    "microsoft_catalog_item_id",
];
const COLUMNS: [&str; 7] = [
    "plan_id",
    "autodesk_product_id",
    "microsoft_catalog_item_id",
    "currency",
    "cost",
    "msrp",
    "effective_date",
];

/// Checks the row bookkeeping of a parse result: no row both accepted and rejected, and the row
/// numbers of both together are exactly `1..=rows` (every row accounted for, none invented).
fn every_row_accounted_for(
    rows: &[ParsedRow],
    rejections: &[Rejection],
    expected_rows: Option<usize>,
) -> Result<(), TestCaseError> {
    let accepted: BTreeSet<usize> = rows.iter().map(|r| r.row).collect();
    prop_assert_eq!(accepted.len(), rows.len(), "a row number accepted twice");
    let rejected: BTreeSet<usize> = rejections.iter().map(|r| r.row).collect();
    prop_assert!(
        accepted.is_disjoint(&rejected),
        "{:?} {:?}",
        accepted,
        rejected
    );
    for rejection in rejections {
        prop_assert!(
            COLUMNS.contains(&rejection.field.as_str()),
            "unknown field {:?}",
            rejection.field
        );
        prop_assert!(!rejection.reason.is_empty());
    }
    for row in rows {
        prop_assert!((0..=MAX_UNIT_AMOUNT_MINOR).contains(&row.cost));
        prop_assert!((0..=MAX_UNIT_AMOUNT_MINOR).contains(&row.msrp));
    }
    let all: BTreeSet<usize> = accepted.union(&rejected).copied().collect();
    let count = expected_rows.unwrap_or(all.len());
    prop_assert!(count > 0, "an empty price list must be a file error");
    prop_assert_eq!(all, (1..=count).collect::<BTreeSet<_>>());
    Ok(())
}

/// A field value that is sometimes valid, sometimes nearly valid, sometimes garbage.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[0-9]{1,12}(\\.[0-9]{0,4})?",
        "-?[0-9]{1,4}(\\.[0-9]{1,4})?([eE][0-9])?",
        "[A-Z]{3}|[a-z]{3}",
        "[A-Za-z0-9]{15}",
        "[A-Z0-9]{12}:[0-9]{4}:[A-Z0-9]{12}",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2}))?",
        "plan-[a-z]{1,8}",
        "\\PC{0,12}",
    ]
}

/// CSV text of `fields`, each quoted (with doubled quotes) when asked or when it must be.
fn csv_line(fields: &[(String, bool)]) -> String {
    fields
        .iter()
        .map(|(value, quoted)| {
            if *quoted || value.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", value.replace('"', "\"\""))
            } else {
                value.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A well-formed row and what it must parse to.
#[derive(Debug, Clone)]
struct ValidRow {
    plan: PlanRef,
    /// The plan reference as written (case may differ from the normalised id).
    plan_text: String,
    currency: CurrencyCode,
    cost: i64,
    msrp: i64,
    effective_text: String,
    effective_at: i64,
}

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

fn plan_ref() -> impl Strategy<Value = (PlanRef, String)> {
    prop_oneof![
        // Plan ids are free text to the parser (the service resolves them): quotes, commas and
        // line breaks must survive CSV quoting.
        "[a-z0-9][a-z0-9.,\"\n _-]{0,30}[a-z0-9]".prop_map(|id| (PlanRef::PlanId(id.clone()), id)),
        "[A-Za-z0-9]{15}".prop_map(|id| (
            PlanRef::Autodesk(AutodeskProductId::parse(&id).unwrap()),
            id
        )),
        "[A-Za-z0-9]{12}:[A-Za-z0-9]{4}:[A-Za-z0-9]{12}".prop_map(|id| (
            PlanRef::Microsoft(MicrosoftCatalogItemId::parse(&id).unwrap()),
            id
        )),
    ]
}

fn effective() -> impl Strategy<Value = (String, i64)> {
    // 0001-01-01 .. 9999-12-31, to the microsecond.
    let seconds = -62_135_596_800_i64..253_402_300_799;
    prop_oneof![
        seconds.clone().prop_map(|s| {
            let date = OffsetDateTime::from_unix_timestamp(s).unwrap().date();
            let at = date.midnight().assume_utc();
            (
                format!(
                    "{:04}-{:02}-{:02}",
                    date.year(),
                    date.month() as u8,
                    date.day()
                ),
                at.unix_timestamp() * 1_000_000,
            )
        }),
        (
            0_i64..4_102_444_800,
            0_u32..1_000_000,
            -(23 * 60 + 59)..=(23 * 60 + 59_i32)
        )
            .prop_map(|(s, micros, offset_minutes)| {
                let at = OffsetDateTime::from_unix_timestamp(s).unwrap()
                    + time::Duration::microseconds(i64::from(micros));
                let offset = time::UtcOffset::from_whole_seconds(offset_minutes * 60).unwrap();
                (
                    at.to_offset(offset).format(&Rfc3339).unwrap(),
                    s * 1_000_000 + i64::from(micros),
                )
            }),
    ]
}

fn valid_row() -> impl Strategy<Value = ValidRow> {
    (
        plan_ref(),
        proptest::sample::select(vec!["USD", "EUR", "JPY", "KRW", "BHD", "KWD", "GBP"]),
        0..=MAX_UNIT_AMOUNT_MINOR,
        0..=MAX_UNIT_AMOUNT_MINOR,
        effective(),
    )
        .prop_map(
            |((plan, plan_text), currency, cost, msrp, (effective_text, effective_at))| ValidRow {
                plan,
                plan_text,
                currency: CurrencyCode::parse(currency).unwrap(),
                cost,
                msrp,
                effective_text,
                effective_at,
            },
        )
}

fn row_values(row: &ValidRow) -> Vec<(&'static str, String)> {
    let exponent = row.currency.exponent();
    vec![
        (row.plan.field(), row.plan_text.clone()),
        ("currency", row.currency.to_string()),
        ("cost", major(row.cost, exponent)),
        ("msrp", major(row.msrp, exponent)),
        ("effective_date", row.effective_text.clone()),
    ]
}

fn check_accepted(rows: &[ParsedRow], expected: &[ValidRow]) -> Result<(), TestCaseError> {
    prop_assert_eq!(rows.len(), expected.len());
    for (i, (got, want)) in rows.iter().zip(expected).enumerate() {
        prop_assert_eq!(got.row, i + 1);
        prop_assert_eq!(&got.plan, &want.plan);
        prop_assert_eq!(got.currency, want.currency);
        prop_assert_eq!(got.cost, want.cost);
        prop_assert_eq!(got.msrp, want.msrp);
        prop_assert_eq!(
            got.effective_at,
            want.effective_at,
            "{}",
            want.effective_text
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics_in_either_format(raw in "\\PC{0,300}") {
        for format in [Format::Csv, Format::Json] {
            if let Ok((rows, rejections)) = parse(format, &raw) {
                every_row_accounted_for(&rows, &rejections, None)?;
            }
        }
    }

    #[test]
    fn csv_files_account_for_every_row(
        header in proptest::sample::subsequence(COLUMNS.to_vec(), 4..=7).prop_shuffle(),
        extra_column in proptest::option::of("[a-z_]{1,10}"),
        upper_case_header in any::<bool>(),
        lines in proptest::collection::vec(
            proptest::collection::vec((cell(), any::<bool>()), 0..9),
            0..12,
        ),
        crlf in any::<bool>(),
        bom in any::<bool>(),
    ) {
        let mut columns: Vec<String> = header.iter().map(|c| c.to_string()).collect();
        columns.extend(extra_column);
        if upper_case_header {
            columns.iter_mut().for_each(|c| *c = c.to_uppercase());
        }
        let newline = if crlf { "\r\n" } else { "\n" };
        let mut text = String::from(if bom { "\u{feff}" } else { "" });
        text.push_str(&columns.join(","));
        // Lines that are blank once parsed are skipped, not numbered.
        let mut data_rows = 0;
        for fields in &lines {
            text.push_str(newline);
            text.push_str(&csv_line(fields));
            if !(fields.len() <= 1 && fields.iter().all(|(v, _)| v.trim().is_empty())) {
                data_rows += 1;
            }
        }
        let usable = COLUMNS[3..].iter().all(|c| header.contains(c))
            && PLAN_COLUMNS.iter().any(|c| header.contains(c));
        match parse(Format::Csv, &text) {
            Ok((rows, rejections)) => {
                prop_assert!(usable);
                every_row_accounted_for(&rows, &rejections, Some(data_rows))?;
            }
            Err(_) => prop_assert!(!usable || data_rows == 0, "{:?}", text),
        }
    }

    #[test]
    fn json_files_account_for_every_row(
        items in proptest::collection::vec(
            proptest::collection::vec(
                (
                    prop_oneof![proptest::sample::select(COLUMNS.to_vec()).prop_map(String::from), "[a-zA-Z_]{1,8}"],
                    prop_oneof![
                        cell().prop_map(serde_json::Value::String),
                        any::<i64>().prop_map(serde_json::Value::from),
                        any::<f64>().prop_map(serde_json::Value::from),
                        any::<bool>().prop_map(serde_json::Value::from),
                        Just(serde_json::Value::Null),
                        Just(serde_json::json!({"nested": [1, "x"]})),
                    ],
                ),
                0..10,
            ),
            0..12,
        ),
    ) {
        let array: Vec<serde_json::Value> = items
            .iter()
            .map(|fields| serde_json::Value::Object(fields.iter().cloned().collect()))
            .collect();
        let text = serde_json::Value::Array(array).to_string();
        match parse(Format::Json, &text) {
            Ok((rows, rejections)) => every_row_accounted_for(&rows, &rejections, Some(items.len()))?,
            Err(_) => prop_assert!(items.is_empty(), "{}", text),
        }
    }

    #[test]
    fn valid_csv_rows_are_all_accepted_with_their_values(
        rows in proptest::collection::vec((valid_row(), any::<[bool; 5]>(), "[ \\t]{0,2}"), 1..12),
        header in Just(COLUMNS.to_vec()).prop_shuffle(),
        crlf in any::<bool>(),
    ) {
        let newline = if crlf { "\r\n" } else { "\n" };
        let mut text = header.join(",");
        for (row, quote, blank) in &rows {
            let values = row_values(row);
            let fields: Vec<(String, bool)> = header
                .iter()
                .map(|column| {
                    let position = values.iter().position(|(c, _)| c == column);
                    match position {
                        None => (String::new(), false),
                        // Blanks around a value (quoted or not) are trimmed.
                        Some(i) => (format!("{blank}{}{blank}", values[i].1), quote[i]),
                    }
                })
                .collect();
            text.push_str(newline);
            text.push_str(&csv_line(&fields));
        }
        let expected: Vec<ValidRow> = rows.iter().map(|(r, _, _)| r.clone()).collect();
        let (accepted, rejections) = parse(Format::Csv, &text).expect("a usable file");
        prop_assert!(rejections.is_empty(), "{:?}\n{}", rejections, text);
        check_accepted(&accepted, &expected)?;
    }

    #[test]
    fn valid_json_rows_are_all_accepted_with_their_values(
        rows in proptest::collection::vec((valid_row(), any::<[bool; 2]>()), 1..12),
    ) {
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|(row, numbers)| {
                let mut object = serde_json::Map::new();
                for (column, value) in row_values(row) {
                    // Amounts may be JSON numbers as well as strings.
                    let number = match column {
                        "cost" => numbers[0],
                        "msrp" => numbers[1],
                        _ => false,
                    };
                    let value = if number {
                        serde_json::from_str(&value).expect("a JSON number")
                    } else {
                        serde_json::Value::String(value)
                    };
                    object.insert(column.to_string(), value);
                }
                object.insert("unrelated".into(), serde_json::Value::Null);
                serde_json::Value::Object(object)
            })
            .collect();
        let text = serde_json::Value::Array(items).to_string();
        let expected: Vec<ValidRow> = rows.iter().map(|(r, _)| r.clone()).collect();
        let (accepted, rejections) = parse(Format::Json, &text).expect("a usable file");
        prop_assert!(rejections.is_empty(), "{:?}\n{}", rejections, text);
        check_accepted(&accepted, &expected)?;
    }

    #[test]
    fn json_number_amounts_are_exact_or_refused(
        currency in proptest::sample::select(vec!["USD", "JPY", "BHD"]),
        whole in "0|[1-9][0-9]{0,9}",
        // Random digits, and digits an f64 would round off (`1.00000000000000000001`,
        // `0.99999999999999999999`).
        frac in proptest::option::of(prop_oneof![
            "[0-9]{1,25}",
            "[0-9]{0,3}0{14,22}[1-9]",
            "[0-9]{0,2}9{15,22}",
        ]),
        exponent in proptest::option::of("[eE][-+]?[0-9]"),
    ) {
        // Written as a JSON number, not a string: digits beyond an f64's precision must not be
        // rounded into a valid amount, nor an exponent read as a plain decimal.
        let number = format!(
            "{whole}{}{}",
            frac.as_ref().map(|f| format!(".{f}")).unwrap_or_default(),
            exponent.clone().unwrap_or_default()
        );
        let text = format!(
            r#"[{{"plan_id": "p", "currency": "{currency}", "cost": {number}, "msrp": "1", "effective_date": "2027-01-01"}}]"#
        );
        let code = CurrencyCode::parse(currency).unwrap();
        let expected = exact_minor(&whole, frac.as_deref().unwrap_or(""), code.exponent())
            .filter(|m| *m <= MAX_UNIT_AMOUNT_MINOR as u128 && exponent.is_none());
        let (rows, rejections) = parse(Format::Json, &text).expect("valid JSON");
        match expected {
            Some(minor) => {
                prop_assert!(rejections.is_empty(), "{} {:?}", number, rejections);
                prop_assert_eq!(rows[0].cost as u128, minor, "{}", number);
            }
            None => {
                prop_assert!(rows.is_empty(), "{} {} accepted as {:?}", number, currency, rows);
                prop_assert_eq!(rejections.len(), 1);
                prop_assert_eq!(&rejections[0].field, "cost");
            }
        }
    }

    #[test]
    fn effective_dates_never_panic_and_round_trip((text, micros) in effective(), raw in "\\PC{0,40}") {
        prop_assert_eq!(parse_effective(&text), Ok(micros), "{}", text);
        let _ = parse_effective(&raw);
    }
}
