//! UTC calendar arithmetic for SigV4 timestamps: parsing a request's date header and formatting
//! instants in AWS's basic ISO 8601 form (`20150830T123600Z`), without ever reading a clock.

/// Seconds in one civil day; SigV4 works in UTC, which has no leap seconds in unix time.
const SECONDS_PER_DAY: i64 = 86_400;

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm),
/// so that parsing needs no calendar library.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01, the inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both values are provably in range (day 1..=31, month 1..=12), so the fallbacks never apply;
    // they exist only so that no conversion can panic.
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Unix seconds for a validated civil date and time, or `None` when a field is out of range.
fn to_unix(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * SECONDS_PER_DAY + i64::from(hour * 3_600 + minute * 60 + second))
}

/// Formats unix seconds as SigV4's basic ISO 8601 timestamp, e.g. `20150830T123600Z`.
///
/// Every `i64` is accepted so that a caller's odd clock can never cause a panic; years outside
/// 0..=9999 simply print with more (or signed) digits.
pub fn format_amz_date(unix: i64) -> String {
    let days = unix.div_euclid(SECONDS_PER_DAY);
    let secs = unix.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    if let Ok(year) = u32::try_from(year)
        && year <= 9_999
    {
        // Every request's time is formatted once; writing the digits directly costs a tenth
        // of going through `format!`.
        let mut out = [0u8; 16];
        let secs = u32::try_from(secs).unwrap_or(0);
        let fields = [
            (year / 100, 0),
            (year % 100, 2),
            (month, 4),
            (day, 6),
            (secs / 3_600, 9),
            ((secs / 60) % 60, 11),
            (secs % 60, 13),
        ];
        for (value, at) in fields {
            out[at] = b'0' + (value / 10 % 10) as u8;
            out[at + 1] = b'0' + (value % 10) as u8;
        }
        out[8] = b'T';
        out[15] = b'Z';
        return String::from_utf8_lossy(&out).into_owned();
    }
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        secs / 3_600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Parses a run of ASCII digits into a number; `None` for anything else.
fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    bytes.iter().try_fold(0u32, |acc, b| {
        acc.checked_mul(10)?.checked_add(u32::from(b - b'0'))
    })
}

/// Parses SigV4's basic ISO 8601 timestamp (`yyyyMMdd'T'HHmmss'Z'`) into unix seconds.
///
/// Only the exact 16-character UTC form is accepted, because that string is what the client
/// put into its string to sign and it must be reproduced byte for byte.
pub fn parse_amz_date(value: &str) -> Option<i64> {
    let b = value.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[4..6])?;
    let day = digits(&b[6..8])?;
    let hour = digits(&b[9..11])?;
    let minute = digits(&b[11..13])?;
    let second = digits(&b[13..15])?;
    to_unix(i64::from(year), month, day, hour, minute, second)
}

/// Parses an HTTP `Date` header in IMF-fixdate form (`Sun, 30 Aug 2015 12:36:00 GMT`), which
/// older SigV4 clients send instead of `X-Amz-Date`.
pub fn parse_http_date(value: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let b = value.as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || &b[25..29] != b" GMT" {
        return None;
    }
    if b[7] != b' ' || b[11] != b' ' || b[16] != b' ' || b[19] != b':' || b[22] != b':' {
        return None;
    }
    let weekday = value.get(0..3)?;
    if !WEEKDAYS.contains(&weekday) {
        return None;
    }
    let day = digits(&b[5..7])?;
    let month_name = value.get(8..11)?;
    let month = MONTHS.iter().position(|m| *m == month_name)?;
    let year = digits(&b[12..16])?;
    let hour = digits(&b[17..19])?;
    let minute = digits(&b[20..22])?;
    let second = digits(&b[23..25])?;
    let month = u32::try_from(month + 1).ok()?;
    to_unix(i64::from(year), month, day, hour, minute, second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_amz_date(0), "19700101T000000Z");
        assert_eq!(format_amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(format_amz_date(951_782_400), "20000229T000000Z");
        assert_eq!(format_amz_date(-1), "19691231T235959Z");
        // Years outside the four-digit range take the general formatting.
        assert_eq!(format_amz_date(253_402_300_800), "100000101T000000Z");
        assert_eq!(format_amz_date(-62_167_219_201), "-0011231T235959Z");
    }

    #[test]
    fn parses_basic_format() {
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(parse_amz_date("20000229T000000Z"), Some(951_782_400));
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
    }

    #[test]
    fn rejects_malformed_basic_format() {
        for bad in [
            "",
            "201",
            "20150830T123600",
            "20150830T123600z",
            "2015-08-30T12:36:00Z",
            "20150830 123600Z",
            "20150230T000000Z",
            "20190229T000000Z",
            "20151301T000000Z",
            "20150800T000000Z",
            "20150830T243600Z",
            "20150830T126000Z",
            "20150830T123660Z",
            "2015083OT123600Z",
            "+0150830T123600Z",
            "20150830T123600Zx",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_http_dates() {
        assert_eq!(
            parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"),
            Some(1_440_938_160)
        );
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 UTC"), None);
        assert_eq!(parse_http_date("Sun, 31 Sep 2015 12:36:00 GMT"), None);
        assert_eq!(parse_http_date("Xyz, 30 Aug 2015 12:36:00 GMT"), None);
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 GMTx"), None);
        assert_eq!(parse_http_date("Sun, 30 Abc 2015 12:36:00 GMT"), None);
    }

    #[test]
    fn extreme_instants_format_without_panicking() {
        assert!(!format_amz_date(i64::MAX).is_empty());
        assert!(!format_amz_date(i64::MIN).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn format_then_parse_round_trips(unix in 0i64..253_402_300_799) {
            let text = format_amz_date(unix);
            proptest::prop_assert_eq!(parse_amz_date(&text), Some(unix));
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(s in "\\PC{0,40}") {
            let _ = parse_amz_date(&s);
            let _ = parse_http_date(&s);
        }
    }
}
