//! The memcomparable key encoding: key scalars (S, N, B) as bytes whose unsigned bytewise
//! order is DynamoDB's order for the values, so a store that compares keys with `memcmp`
//! returns items in DynamoDB's sort order.
//!
//! Every encoding is self-delimiting and none is a prefix of another, so concatenated
//! encodings (partition key then sort key) order lexicographically by (first, second), and a
//! decoder can split them again.
//!
//! Byte layout:
//!
//! - **S** (by UTF-8 bytes) and **B** (by unsigned bytes): the bytes, with each `0x00` written
//!   as `0x00 0xFF`, then the terminator `0x00 0x01`. A value that is a prefix of another ends
//!   in `0x00 0x01` where the longer one continues with a byte of at least `0x01`, or with
//!   `0x00 0xFF`, so the shorter sorts first.
//! - **N**: a class byte, `0x01` negative, `0x02` zero, `0x03` positive. Zero is just `0x02`.
//!   A positive number follows with its leading-digit exponent plus 130 (one byte, 0..=255 for
//!   -130..=125), then each significant digit plus 1 (`0x01..=0x0A`), then `0x00`. A larger
//!   exponent means a larger number because digits are normalized; equal exponents compare by
//!   digits, and the `0x00` end sorts a digit string before its extensions (1.2 < 1.25).
//!   A negative number is `0x01` followed by the bitwise inverse of the bytes after the class
//!   byte of its magnitude's encoding, which reverses their order (they are prefix-free).
//!
//! The types are never mixed within one key attribute, so the S/B and N layouts need no
//! common ordering.

use crate::schema::ScalarType;
use crate::{AttributeValue, Number, TypesError};

const ESCAPE: u8 = 0x00;
const ESCAPED_ZERO: u8 = 0xFF;
const TERMINATOR: u8 = 0x01;

const NEGATIVE: u8 = 0x01;
const ZERO: u8 = 0x02;
const POSITIVE: u8 = 0x03;
const EXPONENT_BIAS: i32 = 130;
const DIGITS_END: u8 = 0x00;

/// Appends the encoding of an S, N or B value to `out`.
///
/// Any other type is not a key type; it is reported as DynamoDB reports a key of the wrong
/// type, `The provided key element does not match the schema`, and nothing is appended.
pub fn encode_scalar(v: &AttributeValue, out: &mut Vec<u8>) -> Result<(), TypesError> {
    match v {
        AttributeValue::S(s) => encode_bytes(s.as_bytes(), out),
        AttributeValue::B(b) => encode_bytes(b, out),
        AttributeValue::N(n) => encode_number(n, out),
        _ => {
            return Err(TypesError::Validation(
                "The provided key element does not match the schema".to_owned(),
            ));
        }
    }
    Ok(())
}

/// Decodes one value of type `ty` from the front of `input` and advances `input` past it.
/// Bytes that are not a complete, canonical encoding are `TypesError::Corrupt`.
pub fn decode_scalar(ty: ScalarType, input: &mut &[u8]) -> Result<AttributeValue, TypesError> {
    match ty {
        ScalarType::S => {
            let bytes = decode_bytes(input)?;
            String::from_utf8(bytes)
                .map(AttributeValue::S)
                .map_err(|_| corrupt("key string is not UTF-8"))
        }
        ScalarType::B => decode_bytes(input).map(AttributeValue::B),
        ScalarType::N => decode_number(input).map(AttributeValue::N),
    }
}

/// Appends the number layout described in the module documentation.
pub(crate) fn encode_number(n: &Number, out: &mut Vec<u8>) {
    if n.is_zero() {
        out.push(ZERO);
        return;
    }
    let neg = n.is_negative();
    let flip = |b: u8| if neg { !b } else { b };
    out.push(if neg { NEGATIVE } else { POSITIVE });
    let exponent = u8::try_from(n.exponent() + EXPONENT_BIAS).unwrap_or(0);
    out.push(flip(exponent));
    out.extend(n.digits().iter().map(|&d| flip(d + 1)));
    out.push(flip(DIGITS_END));
}

/// Reads one number in the layout described in the module documentation.
pub(crate) fn decode_number(input: &mut &[u8]) -> Result<Number, TypesError> {
    let neg = match take(input)? {
        ZERO => return Ok(Number::zero()),
        NEGATIVE => true,
        POSITIVE => false,
        _ => return Err(corrupt("unknown number class in key")),
    };
    let flip = |b: u8| if neg { !b } else { b };
    let exponent = i32::from(flip(take(input)?)) - EXPONENT_BIAS;
    let mut digits = Vec::new();
    loop {
        match flip(take(input)?) {
            DIGITS_END => break,
            b @ 1..=10 => digits.push(b - 1),
            _ => return Err(corrupt("bad digit in key number")),
        }
        if digits.len() > crate::number::MAX_DIGITS {
            return Err(corrupt("too many digits in key number"));
        }
    }
    // Only the canonical form is accepted, so equal numbers always have equal bytes.
    if digits.first().is_none_or(|&d| d == 0) || digits.last() == Some(&0) {
        return Err(corrupt("key number is not normalized"));
    }
    Ok(Number::from_parts(neg, digits, exponent))
}

fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == ESCAPE {
            out.push(ESCAPED_ZERO);
        }
    }
    out.push(ESCAPE);
    out.push(TERMINATOR);
}

fn decode_bytes(input: &mut &[u8]) -> Result<Vec<u8>, TypesError> {
    let mut out = Vec::new();
    loop {
        match take(input)? {
            ESCAPE => match take(input)? {
                ESCAPED_ZERO => out.push(ESCAPE),
                TERMINATOR => return Ok(out),
                _ => return Err(corrupt("bad escape in key bytes")),
            },
            b => out.push(b),
        }
    }
}

fn take(input: &mut &[u8]) -> Result<u8, TypesError> {
    let (&first, rest) = input
        .split_first()
        .ok_or_else(|| corrupt("truncated key"))?;
    *input = rest;
    Ok(first)
}

fn corrupt(what: &str) -> TypesError {
    TypesError::Corrupt(what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> AttributeValue {
        match Number::parse(s) {
            Ok(n) => AttributeValue::N(n),
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn enc(v: &AttributeValue) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(encode_scalar(v, &mut out).is_ok());
        out
    }

    #[test]
    fn layouts_are_as_documented() {
        assert_eq!(
            enc(&AttributeValue::S("a\0b".into())),
            b"a\x00\xFFb\x00\x01"
        );
        assert_eq!(enc(&AttributeValue::B(vec![])), [0x00, 0x01]);
        assert_eq!(enc(&num("0")), [ZERO]);
        assert_eq!(enc(&num("1.5")), [POSITIVE, 130, 2, 6, 0]);
        assert_eq!(enc(&num("-1.5")), [NEGATIVE, !130, !2, !6, 0xFF]);
        assert_eq!(enc(&num("1e-130")), [POSITIVE, 0, 2, 0]);
    }

    #[test]
    fn numbers_sort_numerically() {
        let ascending = [
            "-1e125", "-100", "-99.5", "-10", "-1.25", "-1.2", "-1", "-1e-130", "0", "1e-130",
            "0.5", "1", "1.2", "1.25", "10", "99.5", "100", "1e125",
        ];
        for pair in ascending.windows(2) {
            let [a, b] = pair else { continue };
            assert!(enc(&num(a)) < enc(&num(b)), "{a} < {b}");
        }
    }

    #[test]
    fn round_trips_and_advances() {
        let values = [
            AttributeValue::S("héllo\0".into()),
            num("-123.45"),
            AttributeValue::B(vec![0, 0xFF, 0, 1]),
            num("0"),
        ];
        let mut joined = Vec::new();
        for v in &values {
            joined.extend(enc(v));
        }
        let mut input = joined.as_slice();
        for v in &values {
            let ty = v.scalar_type().unwrap_or(ScalarType::S);
            assert_eq!(decode_scalar(ty, &mut input).as_ref(), Ok(v));
        }
        assert!(input.is_empty());
    }

    #[test]
    fn rejects_non_key_types_and_bad_bytes() {
        let mut out = Vec::new();
        assert!(encode_scalar(&AttributeValue::Bool(true), &mut out).is_err());
        assert!(out.is_empty());
        let bad: [(ScalarType, &[u8]); 9] = [
            (ScalarType::S, b"abc"),
            (ScalarType::S, b"a\x00"),
            (ScalarType::S, b"a\x00\x02"),
            (ScalarType::S, b"\xFF\x00\x01"),
            (ScalarType::N, b""),
            (ScalarType::N, &[0x07]),
            (ScalarType::N, &[POSITIVE, 130, 1, 0]),
            (ScalarType::N, &[POSITIVE, 130, 2, 1, 0]),
            (ScalarType::N, &[POSITIVE, 130, 11, 0]),
        ];
        for (ty, bytes) in bad {
            let mut input = bytes;
            assert!(
                matches!(decode_scalar(ty, &mut input), Err(TypesError::Corrupt(_))),
                "{bytes:?}"
            );
        }
    }
}
