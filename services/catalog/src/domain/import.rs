//! Vendor price files (CSV or JSON): parsed and checked row by row, so that a file is either
//! applied as a whole or not at all, with a report of every rejected row.
//!
//! Columns (CSV header / JSON keys): exactly one of `plan_id`, `autodesk_product_id`,
//! `microsoft_catalog_item_id`, then `currency`, `cost`, `msrp` (decimal major units, e.g.
//! `1234.50`) and `effective_date` (`YYYY-MM-DD` = midnight UTC, or an RFC 3339 time).
//! Rows are numbered from 1, the header not counted.

use std::collections::HashMap;

use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use super::ids::{AutodeskProductId, MicrosoftCatalogItemId};
use super::money::CurrencyCode;

/// Most rows one file may have.
pub const MAX_ROWS: usize = 100_000;

/// Format of a price file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header line.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// How a row names its plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PlanRef {
    /// By catalog plan id.
    PlanId(String),
    /// By Autodesk product id.
    Autodesk(AutodeskProductId),
    /// By Microsoft catalog item id.
    Microsoft(MicrosoftCatalogItemId),
}

impl PlanRef {
    /// The column the reference came from.
    pub fn field(&self) -> &'static str {
        match self {
            Self::PlanId(_) => "plan_id",
            Self::Autodesk(_) => "autodesk_product_id",
            Self::Microsoft(_) => "microsoft_catalog_item_id",
        }
    }
}

/// A row that parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRow {
    /// Row number (1-based, header excluded).
    pub row: usize,
    /// Plan reference.
    pub plan: PlanRef,
    /// Currency.
    pub currency: CurrencyCode,
    /// Cost (minor units).
    pub cost: i64,
    /// MSRP (minor units).
    pub msrp: i64,
    /// Effective from (µs).
    pub effective_at: i64,
}

/// A rejected row and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Row number.
    pub row: usize,
    /// Column.
    pub field: String,
    /// Reason.
    pub reason: String,
}

/// The whole file is unusable (bad format, missing column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FileError(pub String);

const PLAN_COLUMNS: [&str; 3] = [
    "plan_id",
    "autodesk_product_id",
    "microsoft_catalog_item_id",
];
const COLUMNS: [&str; 4] = ["currency", "cost", "msrp", "effective_date"];

/// Parses a file into good rows and rejections.
pub fn parse(format: Format, content: &str) -> Result<(Vec<ParsedRow>, Vec<Rejection>), FileError> {
    let records = match format {
        Format::Csv => csv_records(content)?,
        Format::Json => json_records(content)?,
    };
    if records.is_empty() {
        return Err(FileError("the price list has no rows".into()));
    }
    if records.len() > MAX_ROWS {
        return Err(FileError(format!("at most {MAX_ROWS} rows per price list")));
    }
    let mut rows = Vec::new();
    let mut rejections = Vec::new();
    for (i, record) in records.iter().enumerate() {
        match parse_row(i + 1, record) {
            Ok(row) => rows.push(row),
            Err(mut r) => rejections.append(&mut r),
        }
    }
    Ok((rows, rejections))
}

type Record = Vec<(String, String)>;

fn get<'a>(record: &'a Record, key: &str) -> &'a str {
    record
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.trim())
}

fn parse_row(row: usize, record: &Record) -> Result<ParsedRow, Vec<Rejection>> {
    let mut out = Vec::new();
    let mut reject = |field: &str, reason: String| {
        out.push(Rejection {
            row,
            field: field.into(),
            reason,
        })
    };
    let given: Vec<&str> = PLAN_COLUMNS
        .iter()
        .copied()
        .filter(|c| !get(record, c).is_empty())
        .collect();
    let plan = match given.as_slice() {
        ["plan_id"] => Some(PlanRef::PlanId(get(record, "plan_id").to_string())),
        ["autodesk_product_id"] => AutodeskProductId::parse(get(record, "autodesk_product_id"))
            .map(PlanRef::Autodesk)
            .map_err(|e| reject("autodesk_product_id", e.0))
            .ok(),
        ["microsoft_catalog_item_id"] => {
            MicrosoftCatalogItemId::parse(get(record, "microsoft_catalog_item_id"))
                .map(PlanRef::Microsoft)
                .map_err(|e| reject("microsoft_catalog_item_id", e.0))
                .ok()
        }
        [] => {
            reject(
                "plan_id",
                "one of plan_id, autodesk_product_id, microsoft_catalog_item_id is required".into(),
            );
            None
        }
        _ => {
            reject(given[1], format!("give only one of {}", given.join(", ")));
            None
        }
    };
    let currency = CurrencyCode::parse(get(record, "currency"))
        .map_err(|e| reject("currency", e.0))
        .ok();
    let (mut cost, mut msrp) = (None, None);
    if let Some(currency) = currency {
        cost = currency
            .parse_major(get(record, "cost"))
            .map_err(|e| reject("cost", e.0))
            .ok();
        msrp = currency
            .parse_major(get(record, "msrp"))
            .map_err(|e| reject("msrp", e.0))
            .ok();
    }
    let effective_at = parse_effective(get(record, "effective_date"))
        .map_err(|e| reject("effective_date", e))
        .ok();
    match (plan, currency, cost, msrp, effective_at) {
        (Some(plan), Some(currency), Some(cost), Some(msrp), Some(effective_at))
            if out.is_empty() =>
        {
            Ok(ParsedRow {
                row,
                plan,
                currency,
                cost,
                msrp,
                effective_at,
            })
        }
        _ => Err(out),
    }
}

/// Parses `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time into µs.
pub fn parse_effective(s: &str) -> Result<i64, String> {
    if let Ok(date) = time::Date::parse(s, format_description!("[year]-[month]-[day]")) {
        return Ok(marketplace_platform::clock::to_micros(
            date.midnight().assume_utc(),
        ));
    }
    OffsetDateTime::parse(s, &Rfc3339)
        .map(marketplace_platform::clock::to_micros)
        .map_err(|_| format!("not a date (YYYY-MM-DD) or RFC 3339 time: {s:?}"))
}

fn json_records(content: &str) -> Result<Vec<Record>, FileError> {
    let value: serde_json::Value =
        serde_json::from_str(content).map_err(|e| FileError(format!("not JSON: {e}")))?;
    let serde_json::Value::Array(items) = value else {
        return Err(FileError("a JSON price list is an array of objects".into()));
    };
    // Numbers are taken as written: as an f64, `0.100000000000000001` would become a valid
    // `0.1` and `1e2` a plain `100.0`.
    let written: Vec<HashMap<String, Box<RawValue>>> =
        serde_json::from_str(content).unwrap_or_default();
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            serde_json::Value::Object(map) => Ok(map
                .into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Null => String::new(),
                        serde_json::Value::Number(n) => written
                            .get(i)
                            .and_then(|row| row.get(&k))
                            .map_or_else(|| n.to_string(), |raw| raw.get().to_string()),
                        other => other.to_string(),
                    };
                    (k, text)
                })
                .collect()),
            _ => Err(FileError(format!("row {} is not an object", i + 1))),
        })
        .collect()
}

fn csv_records(content: &str) -> Result<Vec<Record>, FileError> {
    let mut lines = split_csv(content)?
        .into_iter()
        .filter(|r| !(r.len() == 1 && r[0].trim().is_empty()));
    let header: Vec<String> = lines
        .next()
        .ok_or_else(|| FileError("the price list is empty".into()))?
        .into_iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    for column in COLUMNS {
        if !header.iter().any(|h| h == column) {
            return Err(FileError(format!("the header has no {column} column")));
        }
    }
    if !header.iter().any(|h| PLAN_COLUMNS.contains(&h.as_str())) {
        return Err(FileError(
            "the header needs plan_id, autodesk_product_id or microsoft_catalog_item_id".into(),
        ));
    }
    Ok(lines
        .map(|fields| header.iter().cloned().zip(fields).collect())
        .collect())
}

/// Splits RFC 4180 CSV into records of fields (quoted fields may hold commas, quotes, newlines).
fn split_csv(content: &str) -> Result<Vec<Vec<String>>, FileError> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = content.trim_start_matches('\u{feff}').chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(FileError("unterminated quoted field".into()));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_parse_and_bad_rows_are_reported() {
        let csv = "plan_id,currency,cost,msrp,effective_date\n\
                   plan-a,USD,10.50,12,2027-01-01\n\
                   \"plan-b\",usd,1,2,2027-01-01\n\
                   plan-c,USD,-1,2,yesterday\n";
        let (rows, rejections) = parse(Format::Csv, csv).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].cost, 1050);
        let got: Vec<(usize, &str)> = rejections
            .iter()
            .map(|r| (r.row, r.field.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![(2, "currency"), (3, "cost"), (3, "effective_date")]
        );
    }

    #[test]
    fn json_rows_parse() {
        let json = r#"[{"autodesk_product_id":"ACDXX001YABWWL1","currency":"EUR","cost":"100","msrp":120.5,"effective_date":"2027-01-01T00:00:00Z"},
                      {"plan_id":"x","autodesk_product_id":"ACDXX001YABWWL1","currency":"EUR","cost":"1","msrp":"1","effective_date":"2027-01-01"}]"#;
        let (rows, rejections) = parse(Format::Json, json).unwrap();
        assert_eq!(rows[0].msrp, 12050);
        assert_eq!(rejections[0].row, 2);
        assert!(parse(Format::Json, "{}").is_err());
        assert!(parse(Format::Csv, "currency,cost\n").is_err());
    }

    #[test]
    fn quoted_csv_fields() {
        let recs = split_csv("a,\"b,\"\"c\"\"\"\n1,2").unwrap();
        assert_eq!(
            recs,
            vec![
                vec!["a".to_string(), "b,\"c\"".to_string()],
                vec!["1".to_string(), "2".to_string()]
            ]
        );
    }
}
