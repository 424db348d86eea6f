//! Calendar dates and timestamps without a date library.
//!
//! Block time is milliseconds since the Unix epoch (UTC), set by the
//! proposer and checked by validators. Business dates (loan dates, pledge end
//! dates) are calendar days. Conversions use Howard Hinnant's `days_from_civil`
//! algorithm: integer-only, exact over the proleptic Gregorian calendar.

use std::fmt;

use serde::de::{self, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A calendar date, `YYYY-MM-DD` in JSON and on the command line.
///
/// Fields are ordered year, month, day so the derived ordering is
/// chronological.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

/// Why a date string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a date in the form YYYY-MM-DD: {reason}")]
pub struct DateError {
    /// The offending input (truncated).
    pub input: String,
    /// What is wrong.
    pub reason: &'static str,
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// A checked date; years 1900..=9999.
    pub fn new(year: u32, month: u32, day: u32) -> Option<Date> {
        if !(1900..=9999).contains(&year) || !(1..=12).contains(&month) {
            return None;
        }
        if day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date {
            year: year as u16,
            month: month as u8,
            day: day as u8,
        })
    }

    /// Year.
    pub fn year(&self) -> u32 {
        self.year as u32
    }

    /// Month, 1..=12.
    pub fn month(&self) -> u32 {
        self.month as u32
    }

    /// Day of month, 1..=31.
    pub fn day(&self) -> u32 {
        self.day as u32
    }

    /// True for a date that [`Date::new`] would build. Decoded dates are
    /// checked with this, since the binary decoder builds fields directly.
    pub fn is_valid(&self) -> bool {
        Date::new(self.year(), self.month(), self.day()).is_some()
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(&self) -> i64 {
        days_from_civil(self.year as i64, self.month as i64, self.day as i64)
    }

    /// The UTC date of a millisecond timestamp.
    pub fn from_unix_ms(ms: u64) -> Date {
        let days = (ms / 86_400_000) as i64;
        let (y, m, d) = civil_from_days(days);
        Date {
            year: y.clamp(1900, 9999) as u16,
            month: m as u8,
            day: d as u8,
        }
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Result<Date, DateError> {
        let err = |reason| DateError {
            input: s.chars().take(32).collect(),
            reason,
        };
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(err("expected 10 characters like 2026-06-30"));
        }
        let num = |r: std::ops::Range<usize>| -> Result<u32, DateError> {
            let part = &s[r];
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(err("year, month and day must be digits"));
            }
            part.parse().map_err(|_| err("not a number"))
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        Date::new(y, m, d).ok_or_else(|| err("no such day in the calendar (or year before 1900)"))
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats a millisecond timestamp as RFC 3339 UTC, e.g. `2026-11-27T08:30:00.250Z`.
pub fn format_unix_ms(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let (y, m, d) = civil_from_days(days);
    let rem = ms % 86_400_000;
    let (h, min, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Parses an RFC 3339 UTC timestamp `YYYY-MM-DDTHH:MM:SS[.mmm]Z`.
pub fn parse_rfc3339_ms(s: &str) -> Result<u64, DateError> {
    let err = |reason| DateError {
        input: s.chars().take(40).collect(),
        reason,
    };
    if s.len() < 20 || !s.ends_with('Z') || s.as_bytes()[10] != b'T' {
        return Err(err("expected a UTC timestamp like 2026-11-27T00:00:00Z"));
    }
    let date = Date::parse(&s[..10])?;
    let time = &s[11..s.len() - 1];
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (time, None),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return Err(err("time must be HH:MM:SS"));
    }
    let (h, m, sec): (u64, u64, u64) = (
        parts[0].parse().unwrap_or(99),
        parts[1].parse().unwrap_or(99),
        parts[2].parse().unwrap_or(99),
    );
    if h > 23 || m > 59 || sec > 59 {
        return Err(err("hour, minute or second out of range"));
    }
    let milli = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 3 && f.bytes().all(|c| c.is_ascii_digit()) => {
            f.parse::<u64>().unwrap_or(0) * 10u64.pow(3 - f.len() as u32)
        }
        Some(_) => return Err(err("fraction of a second must be 1 to 3 digits")),
    };
    let days = date.days_since_epoch();
    if days < 0 {
        return Err(err("timestamps before 1970 are not supported"));
    }
    Ok(days as u64 * 86_400_000 + h * 3_600_000 + m * 60_000 + sec * 1000 + milli)
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Date {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Date, DateError> {
        Date::parse(s)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            let mut t = s.serialize_tuple(3)?;
            t.serialize_element(&self.year)?;
            t.serialize_element(&self.month)?;
            t.serialize_element(&self.day)?;
            t.end()
        }
    }
}

struct DateVisitor;

impl<'de> Visitor<'de> for DateVisitor {
    type Value = Date;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a date YYYY-MM-DD")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Date, E> {
        Date::parse(v).map_err(E::custom)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Date, A::Error> {
        let year: u16 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let month: u8 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        let day: u8 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(2, &self))?;
        // Refuse impossible dates at decode time, so each date has one encoding.
        Date::new(year as u32, month as u32, day as u32)
            .ok_or_else(|| de::Error::custom(format!("invalid date {year}-{month}-{day}")))
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        if d.is_human_readable() {
            d.deserialize_str(DateVisitor)
        } else {
            d.deserialize_tuple(3, DateVisitor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_dates() {
        assert_eq!(Date::parse("2027-06-30").unwrap().to_string(), "2027-06-30");
        assert!(Date::parse("2024-02-29").is_ok());
        for bad in [
            "2023-02-29",
            "2027-13-01",
            "2027-6-30",
            "27-06-30",
            "2027/06/30",
            "2027-06-3a",
            "",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn epoch_conversions() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        for z in [-1000i64, 0, 365, 10_957, 20_000, 30_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m as i64, d as i64), z);
        }
        let ms = parse_rfc3339_ms("2026-11-27T08:30:00.250Z").unwrap();
        assert_eq!(format_unix_ms(ms), "2026-11-27T08:30:00.250Z");
        assert_eq!(Date::from_unix_ms(ms).to_string(), "2026-11-27");
        assert!(parse_rfc3339_ms("2026-11-27 08:30:00").is_err());
    }
}
