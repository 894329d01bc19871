//! Typed readings of condition values: exact decimal numbers, the W3C ISO 8601 dates and
//! epoch seconds IAM accepts, IP addresses and CIDR blocks, and base64. Each reader borrows
//! or works in place so that reading a request's value allocates nothing.

use std::cmp::Ordering;
use std::net::IpAddr;

use ipnet::IpNet;

/// A decimal number read from text, compared exactly (no floating point): `0.1`, `.10`
/// and `+0.100` are all equal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decimal<'a> {
    negative: bool,
    /// Integer digits without leading zeros.
    int: &'a str,
    /// Fraction digits without trailing zeros.
    frac: &'a str,
}

/// Reads `[+-]digits[.digits]` (at least one digit in all).
pub(crate) fn parse_decimal(text: &str) -> Option<Decimal<'_>> {
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    Some(Decimal {
        negative,
        int: int.trim_start_matches('0'),
        frac: frac.trim_end_matches('0'),
    })
}

impl Decimal<'_> {
    fn is_zero(&self) -> bool {
        self.int.is_empty() && self.frac.is_empty()
    }

    pub(crate) fn cmp(&self, other: &Decimal<'_>) -> Ordering {
        // -0 equals 0.
        let a_neg = self.negative && !self.is_zero();
        let b_neg = other.negative && !other.is_zero();
        match (a_neg, b_neg) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }

    fn cmp_magnitude(&self, other: &Decimal<'_>) -> Ordering {
        // Without leading zeros a longer integer part is larger; without trailing zeros the
        // fraction digits compare as strings.
        self.int
            .len()
            .cmp(&other.int.len())
            .then_with(|| self.int.cmp(other.int))
            .then_with(|| self.frac.cmp(other.frac))
    }
}

/// A point in time as nanoseconds since the Unix epoch, from either form IAM accepts: the
/// W3C profile of ISO 8601 (`2020`, `2020-06`, `2020-06-30`, `2020-06-30T12:00Z`,
/// `2020-06-30T12:00:00.5+02:00`, with `T`/`Z` in either case) or whole epoch seconds.
/// A time without an offset is read as UTC.
pub(crate) fn parse_date(text: &str) -> Option<i128> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let seconds: i64 = text.parse().ok()?;
        return Some(i128::from(seconds) * 1_000_000_000);
    }
    let (date, time) = match text.find(['T', 't']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let mut fields = date.split('-');
    let year = fields.next().filter(|y| y.len() == 4).and_then(number)?;
    let month = fields.next().map_or(Some(1), two_digits)?;
    let day = fields.next().map_or(Some(1), two_digits)?;
    if fields.next().is_some() {
        return None;
    }
    let (hour, minute, second, nanos, offset) = match time {
        None => (0, 0, 0, 0, 0),
        Some(time) => parse_time(time)?,
    };
    let datetime = jiff::civil::DateTime::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
        i8::try_from(hour).ok()?,
        i8::try_from(minute).ok()?,
        i8::try_from(second).ok()?,
        nanos,
    )
    .ok()?;
    let offset = jiff::tz::Offset::from_seconds(offset).ok()?;
    Some(offset.to_timestamp(datetime).ok()?.as_nanosecond())
}

/// Reads `hh[:mm[:ss[.fraction]]]` and an optional `Z` or `±hh[[:]mm]`; returns hour,
/// minute, second, nanoseconds and the offset in seconds east of UTC.
fn parse_time(text: &str) -> Option<(u32, u32, u32, i32, i32)> {
    let zone_at = text.find(['Z', 'z', '+', '-']).unwrap_or(text.len());
    let (clock, zone) = text.split_at(zone_at);
    let (clock, fraction) = match clock.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (clock, None),
    };
    let mut fields = clock.split(':');
    let hour = two_digits(fields.next()?)?;
    let minute = fields.next().map_or(Some(0), two_digits)?;
    let second = fields.next().map_or(Some(0), two_digits)?;
    if fields.next().is_some() {
        return None;
    }
    let nanos = match fraction {
        None => 0,
        Some(f) if (1..=9).contains(&f.len()) => {
            let digits = number(f)?;
            i32::try_from(digits * 10u32.pow(9 - f.len() as u32)).ok()?
        }
        Some(_) => return None,
    };
    let offset = match zone {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let digits = &zone[1..];
            let (hours, minutes) = match (digits.len(), digits.as_bytes().get(2)) {
                (2, _) => (number(digits)?, 0),
                (4, _) => (number(&digits[..2])?, number(&digits[2..])?),
                (5, Some(b':')) => (number(&digits[..2])?, number(&digits[3..])?),
                _ => return None,
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * i32::try_from(hours * 3600 + minutes * 60).ok()?
        }
    };
    Some((hour, minute, second, nanos, offset))
}

/// One or two ASCII digits.
fn two_digits(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 2 {
        return None;
    }
    number(text)
}

/// ASCII digits only (no sign), as a u32.
fn number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A CIDR block; a bare address stands for itself (/32 or /128), as IAM documents.
pub(crate) fn parse_cidr(text: &str) -> Option<IpNet> {
    if text.contains('/') {
        text.parse().ok()
    } else {
        text.parse::<IpAddr>().ok().map(IpNet::from)
    }
}

pub(crate) fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse().ok()
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_digit(b: u8) -> Option<u32> {
    BASE64.iter().position(|&c| c == b).map(|i| i as u32)
}

/// Calls `emit` for each byte `text` decodes to; false if it is not valid base64 (standard
/// alphabet; trailing `=` padding optional).
fn base64_each(text: &str, mut emit: impl FnMut(u8) -> bool) -> bool {
    let data = text.trim_end_matches('=');
    if text.len() - data.len() > 2 {
        return false;
    }
    let mut acc = 0u32;
    let mut bits = 0;
    for b in data.bytes() {
        let Some(digit) = base64_digit(b) else {
            return false;
        };
        acc = (acc << 6) | digit;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            if !emit((acc >> bits) as u8) {
                return false;
            }
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be padding zeros from the encoder, and one lone digit is never valid.
    bits < 6 && acc == 0
}

pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    base64_each(text, |b| {
        out.push(b);
        true
    })
    .then_some(out)
}

/// Whether `text` is the base64 encoding of exactly `bytes`, decoding in place.
pub(crate) fn base64_equals(text: &str, bytes: &[u8]) -> bool {
    let mut i = 0;
    let same = base64_each(text, |b| {
        let ok = bytes.get(i) == Some(&b);
        i += 1;
        ok
    });
    same && i == bytes.len()
}

#[cfg(test)]
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(BASE64[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        parse_decimal(a).unwrap().cmp(&parse_decimal(b).unwrap())
    }

    #[test]
    fn decimals_compare_exactly() {
        assert_eq!(cmp("10", "10.0"), Ordering::Equal);
        assert_eq!(cmp("0.1", ".10"), Ordering::Equal);
        assert_eq!(cmp("-0", "+0.000"), Ordering::Equal);
        assert_eq!(cmp("9", "10"), Ordering::Less);
        assert_eq!(cmp("-9", "-10"), Ordering::Greater);
        assert_eq!(cmp("1.05", "1.5"), Ordering::Less);
        assert_eq!(
            cmp("12345678901234567890.1", "12345678901234567890.09"),
            Ordering::Greater
        );
        for bad in ["", "-", ".", "1e3", "1.2.3", "0x10", " 1", "1,5"] {
            assert!(parse_decimal(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn dates_in_every_accepted_form() {
        let second = 1_000_000_000i128;
        let t = |s: &str| parse_date(s).unwrap_or_else(|| panic!("{s:?} should parse"));
        // Digits alone are epoch seconds, never a bare year.
        assert_eq!(t("1970-01-01"), 0);
        assert_eq!(t("1970"), 1970 * second);
        assert_eq!(t("0"), 0);
        assert_eq!(t("1593518400"), t("2020-06-30T12:00:00Z"));
        assert_eq!(t("2020-06-30T12:00Z"), t("2020-06-30t12:00:00z"));
        assert_eq!(t("2020-06-30T14:00:00+02:00"), t("2020-06-30T12:00:00Z"));
        assert_eq!(t("2020-06-30T14:00:00+0200"), t("2020-06-30T12:00:00Z"));
        assert_eq!(t("2020-06-30T10:00:00-02"), t("2020-06-30T12:00:00Z"));
        assert_eq!(
            t("2020-06-30T12:00:00.5Z") - t("2020-06-30T12:00:00Z"),
            second / 2
        );
        assert_eq!(t("2020-06"), t("2020-06-01T00:00:00Z"));
        assert_eq!(t("2020-06-30T12"), t("2020-06-30T12:00:00Z"));
        for bad in [
            "sdfdsf",
            "234-13",
            "2016-12-13t2:00:00.593194+1",
            "2016-12-13T02:00:00.1999999999Z",
            "2023-02-29",
            "2020-06-30T",
            "2020-06-30T25:00:00Z",
            "9223372036854775808",
            "-5",
            "2020-6-30-1",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cidrs_and_addresses() {
        let net = parse_cidr("203.0.113.0/24").unwrap();
        assert!(net.contains(&parse_ip("203.0.113.255").unwrap()));
        assert!(!net.contains(&parse_ip("203.0.114.0").unwrap()));
        let host = parse_cidr("203.0.113.7").unwrap();
        assert!(host.contains(&parse_ip("203.0.113.7").unwrap()));
        assert!(!host.contains(&parse_ip("203.0.113.8").unwrap()));
        let v6 = parse_cidr("2001:DB8:1234:5678::/64").unwrap();
        assert!(v6.contains(&parse_ip("2001:db8:1234:5678::1").unwrap()));
        assert!(!v6.contains(&parse_ip("203.0.113.7").unwrap()));
        assert_eq!(parse_cidr("203.0.113.0/33"), None);
        assert_eq!(parse_cidr("not-an-ip"), None);
    }

    #[test]
    fn base64_round_trips() {
        for bytes in [
            &b""[..],
            b"f",
            b"fo",
            b"foo",
            b"foob",
            b"BinaryValueInBase64",
        ] {
            let text = base64_encode(bytes);
            assert_eq!(base64_decode(&text).as_deref(), Some(bytes));
            assert!(base64_equals(&text, bytes));
            assert!(base64_equals(text.trim_end_matches('='), bytes));
        }
        assert_eq!(
            base64_encode(b"BinaryValueInBase64"),
            "QmluYXJ5VmFsdWVJbkJhc2U2NA=="
        );
        assert!(!base64_equals("Zm9v", b"fo"));
        assert!(!base64_equals("Zm9", b"foo"));
        assert_eq!(base64_decode("Zm9v!"), None);
        assert_eq!(base64_decode("Z"), None);
        assert_eq!(base64_decode("Zm==="), None);
    }
}
