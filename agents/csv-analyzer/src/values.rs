//! Classifying cell values: missing markers, numbers, booleans and dates.
//!
//! Real spreadsheets are dirty, so a column's type is decided by what at least 90% of its
//! non-missing cells look like (see [`crate::infer`]), and classification has to be strict
//! enough that a text column never passes for a numeric one: `inf`, `NaN`, `1e999` and hex are
//! not numbers, and a date must be a real calendar date.

/// Spellings of "no value" (pandas' defaults), compared case-insensitively after trimming.
const MISSING: &[&str] = &["", "na", "n/a", "nan", "-nan", "null", "none", "#n/a", "#na", "<na>", "nil"];

pub fn is_missing(value: &str) -> bool {
    let v = value.trim();
    v.is_empty() || MISSING.iter().any(|m| v.eq_ignore_ascii_case(m))
}

pub fn parse_int(value: &str) -> Option<i64> {
    value.trim().parse::<i64>().ok()
}

/// A finite decimal number; `inf`, `nan`, `infinity` and overflowing exponents are not.
pub fn parse_float(value: &str) -> Option<f64> {
    let v = value.trim();
    if !v.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E')) {
        return None;
    }
    v.parse::<f64>().ok().filter(|x| x.is_finite())
}

pub fn parse_bool(value: &str) -> Option<bool> {
    let v = value.trim();
    if ["true", "yes"].iter().any(|t| v.eq_ignore_ascii_case(t)) {
        Some(true)
    } else if ["false", "no"].iter().any(|f| v.eq_ignore_ascii_case(f)) {
        Some(false)
    } else {
        None
    }
}

/// Sort key of an ISO-8601-like date or date-time: `YYYY-MM-DD` or `YYYY/MM/DD`, optionally
/// followed by `T` or a space and `HH:MM[:SS[.fff]]` with an optional `Z` or `±HH:MM` (the offset
/// is validated but not applied: values in one column normally share one).
pub fn parse_date(value: &str) -> Option<(u32, u32, u32, u32)> {
    let v = value.trim().as_bytes();
    if v.len() < 10 {
        return None;
    }
    let sep = v[4];
    if !(sep == b'-' || sep == b'/') || v[7] != sep {
        return None;
    }
    let year = digits(&v[0..4])?;
    let month = digits(&v[5..7])?;
    let day = digits(&v[8..10])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let rest = &v[10..];
    if rest.is_empty() {
        return Some((year, month, day, 0));
    }
    if !(rest[0] == b'T' || rest[0] == b' ') {
        return None;
    }
    let seconds = parse_time(&rest[1..])?;
    Some((year, month, day, seconds))
}

/// `HH:MM[:SS[.fff]][Z|±HH:MM]` → seconds of the day.
fn parse_time(t: &[u8]) -> Option<u32> {
    if t.len() < 5 || t[2] != b':' {
        return None;
    }
    let hour = digits(&t[0..2])?;
    let minute = digits(&t[3..5])?;
    let mut rest = &t[5..];
    let mut second = 0;
    if rest.first() == Some(&b':') {
        second = digits(rest.get(1..3)?)?;
        rest = &rest[3..];
        if rest.first() == Some(&b'.') {
            let n = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            rest = &rest[1 + n..];
        }
    }
    match rest {
        [] | [b'Z'] => {}
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            if digits(&[*h1, *h2])? > 23 || digits(&[*m1, *m2])? > 59 {
                return None;
            }
        }
        _ => return None,
    }
    (hour < 24 && minute < 60 && second < 61).then_some(hour * 3600 + minute * 60 + second)
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_markers() {
        for v in ["", "  ", "NA", "n/a", "NaN", "NULL", "None", "#N/A", "<NA>"] {
            assert!(is_missing(v), "{v:?}");
        }
        for v in ["0", "-", "nana", "x"] {
            assert!(!is_missing(v), "{v:?}");
        }
    }

    #[test]
    fn numbers_are_strict() {
        assert_eq!(parse_int(" -42 "), Some(-42));
        assert_eq!(parse_int("4.0"), None);
        assert_eq!(parse_float("1.5e3"), Some(1500.0));
        assert_eq!(parse_float(".5"), Some(0.5));
        for v in ["inf", "infinity", "NaN", "1e999", "0x10", "1,000", "12 kg", ""] {
            assert_eq!(parse_float(v), None, "{v:?}");
        }
    }

    #[test]
    fn booleans() {
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("no"), Some(false));
        assert_eq!(parse_bool("1"), None);
    }

    #[test]
    fn dates_must_exist_on_the_calendar() {
        assert_eq!(parse_date("2024-02-29"), Some((2024, 2, 29, 0)));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("1900-02-29"), None);
        assert_eq!(parse_date("2000-02-29"), Some((2000, 2, 29, 0)));
        assert_eq!(parse_date("2024/12/31"), Some((2024, 12, 31, 0)));
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(parse_date("2024-04-31"), None);
        assert_eq!(parse_date("2024-01-02T03:04:05Z"), Some((2024, 1, 2, 11045)));
        assert_eq!(parse_date("2024-01-02 03:04"), Some((2024, 1, 2, 11040)));
        assert_eq!(parse_date("2024-01-02T03:04:05.123+02:00"), Some((2024, 1, 2, 11045)));
        for v in ["2024-1-02", "02/01/2024", "2024-01-02T25:00", "2024-01-02X", "2024-01-02T03:04:05+2"] {
            assert_eq!(parse_date(v), None, "{v:?}");
        }
    }
}
