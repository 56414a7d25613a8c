//! Calendar arithmetic for term dates: [`Day`] ⇄ `time::Date`, months, whole days between dates,
//! and business days with a configurable holiday calendar (Autodesk's "5 business days before
//! term end"). All dates are UTC calendar days.

use std::collections::BTreeSet;

use time::{Date, Month, Weekday};

use super::subscription::Day;

/// µs in one day.
pub const DAY_MICROS: i64 = 24 * 3600 * 1_000_000;

impl Day {
    /// As a `time::Date` (None when the fields are not a real date).
    pub fn date(self) -> Option<Date> {
        let month = Month::try_from(u8::try_from(self.month).ok()?).ok()?;
        Date::from_calendar_date(self.year, month, u8::try_from(self.day).ok()?).ok()
    }

    /// From a `time::Date`.
    pub fn of(d: Date) -> Self {
        Self {
            year: d.year(),
            month: i32::from(u8::from(d.month())),
            day: i32::from(d.day()),
        }
    }

    /// The UTC day of a µs timestamp.
    pub fn of_micros(micros: i64) -> Self {
        Self::of(platform::clock::from_micros(micros).date())
    }

    /// Midnight UTC at the start of this day (µs); None for an invalid date.
    pub fn start_micros(self) -> Option<i64> {
        self.date()
            .map(|d| platform::clock::to_micros(d.midnight().assume_utc()))
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.trim().splitn(3, '-');
        let year = parts.next()?.parse().ok()?;
        let month = parts.next()?.parse().ok()?;
        let day = parts.next()?.parse().ok()?;
        let d = Self { year, month, day };
        d.date().map(|_| d)
    }

    /// `YYYY-MM-DD`.
    pub fn iso(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// This day plus `n` days (None past the calendar's range).
    pub fn plus_days(self, n: i64) -> Option<Self> {
        let d = self.date()?;
        d.checked_add(time::Duration::days(n)).map(Self::of)
    }

    /// Days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: Self) -> Option<i64> {
        Some((later.date()? - self.date()?).whole_days())
    }

    /// This day plus `n` calendar months, clamped to the month's last day (Jan 31 + 1 month =
    /// Feb 28/29).
    pub fn plus_months(self, n: i32) -> Option<Self> {
        let index = self.year.checked_mul(12)? + (self.month - 1) + n;
        let year = index.div_euclid(12);
        let month = index.rem_euclid(12) + 1;
        let m = Month::try_from(u8::try_from(month).ok()?).ok()?;
        let last = m.length(year);
        let day = self.day.min(i32::from(last));
        let d = Self { year, month, day };
        d.date().map(|_| d)
    }
}

/// Which days are business days: Monday to Friday except the configured holidays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusinessCalendar {
    holidays: BTreeSet<Day>,
}

impl BusinessCalendar {
    /// A calendar with these holidays.
    pub fn new(holidays: impl IntoIterator<Item = Day>) -> Self {
        Self {
            holidays: holidays.into_iter().collect(),
        }
    }

    /// Parses `YYYY-MM-DD` holidays; returns the entries that are not dates as the error.
    pub fn parse(holidays: &[String]) -> Result<Self, Vec<String>> {
        let mut days = Vec::new();
        let mut bad = Vec::new();
        for h in holidays {
            match Day::parse(h) {
                Some(d) => days.push(d),
                None => bad.push(h.clone()),
            }
        }
        if bad.is_empty() {
            Ok(Self::new(days))
        } else {
            Err(bad)
        }
    }

    /// Whether `day` is a business day.
    pub fn is_business_day(&self, day: Day) -> bool {
        let Some(d) = day.date() else { return false };
        !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) && !self.holidays.contains(&day)
    }

    /// The day `n` business days before `day` (walking back, counting only business days).
    pub fn business_days_before(&self, day: Day, n: u32) -> Option<Day> {
        let mut d = day;
        let mut counted = 0;
        // A year of consecutive holidays would be a configuration error; stop rather than loop.
        for _ in 0..(366 + n * 7) {
            if counted == n {
                return Some(d);
            }
            d = d.plus_days(-1)?;
            if self.is_business_day(d) {
                counted += 1;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        Day::parse(s).unwrap()
    }

    #[test]
    fn months_clamp_and_days_count() {
        assert_eq!(day("2026-01-31").plus_months(1), Some(day("2026-02-28")));
        assert_eq!(day("2026-11-22").plus_months(12), Some(day("2027-11-22")));
        assert_eq!(day("2026-11-22").plus_months(-1), Some(day("2026-10-22")));
        assert_eq!(day("2026-11-22").days_until(day("2027-11-21")), Some(364));
        assert_eq!(Day::parse("2026-02-30"), None);
        assert_eq!(Day::parse("nope"), None);
        let start = day("2026-11-22").start_micros().unwrap();
        assert_eq!(Day::of_micros(start + DAY_MICROS - 1), day("2026-11-22"));
    }

    #[test]
    fn business_days_skip_weekends_and_holidays() {
        let plain = BusinessCalendar::default();
        // Term ends Tuesday 2026-12-15: Mon 14, Fri 11, Thu 10, Wed 9, Tue 8.
        assert_eq!(
            plain.business_days_before(day("2026-12-15"), 5),
            Some(day("2026-12-08"))
        );
        // A holiday on Thursday 10 pushes it one more business day back.
        let holidays = BusinessCalendar::parse(&["2026-12-10".into()]).unwrap();
        assert_eq!(
            holidays.business_days_before(day("2026-12-15"), 5),
            Some(day("2026-12-07"))
        );
        assert!(!plain.is_business_day(day("2026-12-12")));
        assert!(BusinessCalendar::parse(&["2026-13-01".into()]).is_err());
    }
}
