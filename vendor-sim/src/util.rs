//! Small helpers: time formatting, date arithmetic, JSON bodies, random ids.

use base64::Engine;
use serde::de::DeserializeOwned;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Month, OffsetDateTime, Weekday};

/// An e-mail the vendor would reject: no `local@domain.tld` shape, or a `.invalid` domain.
pub(crate) fn email_invalid(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return true;
    };
    local.is_empty()
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || email.chars().any(char::is_whitespace)
        || domain.to_ascii_lowercase().ends_with(".invalid")
}

/// RFC 3339 timestamp (`2026-11-22T16:05:00Z`).
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Calendar date (`2026-11-22`).
pub(crate) fn date(d: Date) -> String {
    d.format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

/// Midnight UTC of a date, Partner Center style (`2026-11-22T00:00:00Z`).
pub(crate) fn date_midnight(d: Date) -> String {
    format!("{}T00:00:00Z", date(d))
}

/// `d` plus `months` calendar months, clamping the day to the month's length.
pub(crate) fn add_months(d: Date, months: u32) -> Date {
    let total = d.year() * 12 + i32::from(u8::from(d.month())) - 1 + months as i32;
    let year = total.div_euclid(12);
    let month = Month::try_from((total.rem_euclid(12) + 1) as u8).unwrap_or(Month::January);
    let day = d.day().min(month.length(year));
    Date::from_calendar_date(year, month, day).unwrap_or(d)
}

/// Last day (inclusive) of a term of `months` months starting on `start`.
pub(crate) fn term_end(start: Date, months: u32) -> Date {
    add_months(start, months).previous_day().unwrap_or(start)
}

/// Business days (Monday–Friday) strictly after `from` up to and including `to`.
pub(crate) fn business_days_between(from: Date, to: Date) -> u32 {
    let mut days = 0;
    let mut d = from;
    while d < to {
        match d.next_day() {
            Some(next) => d = next,
            None => break,
        }
        if !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
            days += 1;
        }
    }
    days
}

/// Parses a JSON request body; the error text names what was wrong.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("request body is empty; a JSON object is required".into());
    }
    serde_json::from_slice(body)
        .map_err(|e| format!("request body is not valid JSON for this operation: {e}"))
}

/// A body for the journal: JSON if it parses, else text, `null` if empty.
pub(crate) fn body_for_journal(body: &[u8]) -> serde_json::Value {
    if body.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// `len` random bytes, URL-safe base64 without padding.
pub(crate) fn random_token(len: usize) -> String {
    let bytes: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn month_arithmetic_clamps_and_terms_are_inclusive() {
        assert_eq!(add_months(date!(2024 - 01 - 31), 1), date!(2024 - 02 - 29));
        assert_eq!(add_months(date!(2024 - 02 - 29), 12), date!(2025 - 02 - 28));
        assert_eq!(add_months(date!(2024 - 11 - 15), 3), date!(2025 - 02 - 15));
        assert_eq!(term_end(date!(2024 - 03 - 10), 12), date!(2025 - 03 - 09));
        assert_eq!(term_end(date!(2024 - 03 - 10), 1), date!(2024 - 04 - 09));
    }

    #[test]
    fn business_days_skip_weekends() {
        // 2024-03-08 is a Friday.
        assert_eq!(
            business_days_between(date!(2024 - 03 - 08), date!(2024 - 03 - 11)),
            1
        );
        assert_eq!(
            business_days_between(date!(2024 - 03 - 08), date!(2024 - 03 - 15)),
            5
        );
        assert_eq!(
            business_days_between(date!(2024 - 03 - 15), date!(2024 - 03 - 08)),
            0
        );
    }
}
