//! Property tests for cove-types: numbers against `bigdecimal` as an exact reference, the key
//! encoding's byte order against value order, and round trips through the key encoding and
//! the item codec, including that decoding arbitrary bytes never panics.

use std::cmp::Ordering;
use std::str::FromStr;

use bigdecimal::{BigDecimal, Zero};
use cove_types::codec::{decode_item, encode_item};
use cove_types::key::{decode_scalar, encode_scalar};
use cove_types::{AttributeValue, Item, Number, ScalarType, TypesError};
use proptest::prelude::*;

const OVERFLOW: &str =
    "Number overflow. Attempting to store a number with magnitude larger than supported range";
const UNDERFLOW: &str =
    "Number underflow. Attempting to store a number with magnitude smaller than supported range";
const TOO_PRECISE: &str = "Attempting to store more than 38 significant digits in a Number";

/// Number text spanning the whole range: a nonzero leading digit, up to 37 more digits, any
/// sign and exponent, so it always parses.
fn wide_number_text() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        1u8..=9,
        prop::collection::vec(0u8..=9, 0..=37),
        -130i32..=125,
    )
        .prop_map(|(neg, lead, rest, exp)| {
            let digits: String = rest.iter().map(|d| char::from(b'0' + d)).collect();
            format!("{}{lead}.{digits}e{exp}", if neg { "-" } else { "" })
        })
}

/// Number text with few digits and a narrow exponent, so values collide and sums carry.
fn narrow_number_text() -> impl Strategy<Value = String> {
    (-2000i64..=2000, -3i32..=3).prop_map(|(mantissa, exp)| format!("{mantissa}e{exp}"))
}

/// Two-digit numbers around one exponent, so same-exponent comparisons of either sign are
/// common.
fn tiny_number_text() -> impl Strategy<Value = String> {
    (-99i64..=99, 0i32..=1).prop_map(|(mantissa, exp)| format!("{mantissa}e-{exp}"))
}

fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => wide_number_text(),
        2 => narrow_number_text(),
        2 => tiny_number_text(),
        1 => Just("0".to_owned()),
    ]
}

/// Arbitrary number text in DynamoDB's grammar, much of it out of range or over-precise:
/// leading and trailing zeros, `+` signs, bare points and exponents far past the limits.
fn any_number_text() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(""), Just("+"), Just("-")],
        "[0-9]{0,3}[1-9][0-9]{0,44}",
        0usize..50,
        prop_oneof![
            Just(String::new()),
            (-200i32..=200).prop_map(|e| format!("e{e}"))
        ],
    )
        .prop_map(|(sign, digits, point, exp)| {
            let at = point.min(digits.len());
            format!("{sign}{}.{}{exp}", &digits[..at], &digits[at..])
        })
}

fn number() -> impl Strategy<Value = Number> {
    number_text().prop_filter_map("parses", |s| Number::parse(&s).ok())
}

fn big(n: &Number) -> BigDecimal {
    BigDecimal::from_str(n.as_str()).unwrap_or_else(|e| panic!("{n:?} as BigDecimal: {e}"))
}

/// What DynamoDB should answer for an exact result: the value if it fits, else the error.
fn expected(exact: &BigDecimal) -> Result<BigDecimal, String> {
    if exact.is_zero() {
        return Ok(exact.clone());
    }
    let (unscaled, scale) = exact.normalized().as_bigint_and_exponent();
    let digits = unscaled.to_string().trim_start_matches('-').len() as i64;
    let adjusted = digits - scale - 1;
    if adjusted > 125 || digits > 38 {
        Err(OVERFLOW.to_owned())
    } else if adjusted < -130 {
        Err(UNDERFLOW.to_owned())
    } else {
        Ok(exact.clone())
    }
}

/// What `Number::parse` should answer for text with this exact value, checks in DynamoDB's
/// order: range first, then precision.
fn expected_parse(exact: &BigDecimal) -> Result<BigDecimal, String> {
    if exact.is_zero() {
        return Ok(exact.clone());
    }
    let (unscaled, scale) = exact.normalized().as_bigint_and_exponent();
    let digits = unscaled.to_string().trim_start_matches('-').len() as i64;
    let adjusted = digits - scale - 1;
    if adjusted > 125 {
        Err(OVERFLOW.to_owned())
    } else if adjusted < -130 {
        Err(UNDERFLOW.to_owned())
    } else if digits > 38 {
        Err(TOO_PRECISE.to_owned())
    } else {
        Ok(exact.clone())
    }
}

fn outcome(result: Result<Number, TypesError>) -> Result<BigDecimal, String> {
    match result {
        Ok(n) => Ok(big(&n)),
        Err(TypesError::Validation(m)) => Err(m),
        Err(e) => Err(format!("unexpected {e:?}")),
    }
}

fn key_bytes(v: &AttributeValue) -> Vec<u8> {
    let mut out = Vec::new();
    encode_scalar(v, &mut out).unwrap_or_else(|e| panic!("{v:?} encodes: {e}"));
    out
}

/// Bytes leaning on the values the escaping treats specially.
fn tricky_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![Just(0u8), Just(1u8), Just(0xFFu8), any::<u8>()],
        0..8,
    )
}

fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[\u{0}\u{1}ab\u{7f}é]{0,6}"]
}

/// A key scalar of the given type.
fn scalar(ty: ScalarType) -> BoxedStrategy<AttributeValue> {
    match ty {
        ScalarType::S => tricky_string().prop_map(AttributeValue::S).boxed(),
        ScalarType::B => tricky_bytes().prop_map(AttributeValue::B).boxed(),
        ScalarType::N => number().prop_map(AttributeValue::N).boxed(),
    }
}

/// DynamoDB's order for two key scalars of one type.
fn value_order(a: &AttributeValue, b: &AttributeValue) -> Ordering {
    match (a, b) {
        (AttributeValue::S(x), AttributeValue::S(y)) => x.as_bytes().cmp(y.as_bytes()),
        (AttributeValue::B(x), AttributeValue::B(y)) => x.cmp(y),
        (AttributeValue::N(x), AttributeValue::N(y)) => x.cmp(y),
        _ => panic!("mixed key types {a:?} {b:?}"),
    }
}

fn scalar_type() -> impl Strategy<Value = ScalarType> {
    prop_oneof![
        Just(ScalarType::S),
        Just(ScalarType::N),
        Just(ScalarType::B)
    ]
}

/// Two values of one type, or of one type pair for composite keys.
fn same_type_pair() -> impl Strategy<Value = (AttributeValue, AttributeValue)> {
    scalar_type().prop_flat_map(|ty| (scalar(ty), scalar(ty)))
}

fn attribute_value() -> impl Strategy<Value = AttributeValue> {
    let leaf = prop_oneof![
        tricky_string().prop_map(AttributeValue::S),
        number().prop_map(AttributeValue::N),
        tricky_bytes().prop_map(AttributeValue::B),
        any::<bool>().prop_map(AttributeValue::Bool),
        Just(AttributeValue::Null),
        prop::collection::vec(tricky_string(), 0..4).prop_map(AttributeValue::Ss),
        prop::collection::vec(number(), 0..4).prop_map(AttributeValue::Ns),
        prop::collection::vec(tricky_bytes(), 0..4).prop_map(AttributeValue::Bs),
    ];
    leaf.prop_recursive(6, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(AttributeValue::L),
            prop::collection::btree_map(tricky_string(), inner, 0..5).prop_map(AttributeValue::M),
        ]
    })
}

fn item() -> impl Strategy<Value = Item> {
    prop::collection::btree_map(tricky_string(), attribute_value(), 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_preserves_the_value(text in prop_oneof![number_text(), any_number_text()]) {
        let parsed = Number::parse(&text);
        let exact = BigDecimal::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        prop_assert_eq!(outcome(parsed), expected_parse(&exact));
    }

    #[test]
    fn canonical_text_reparses_to_the_same_number(n in number()) {
        let again = Number::parse(n.as_str());
        prop_assert_eq!(again.as_ref(), Ok(&n));
        prop_assert!(!n.as_str().contains(['e', 'E', '+']));
    }

    #[test]
    fn ordering_matches_bigdecimal(a in number(), b in number()) {
        prop_assert_eq!(a.cmp(&b), big(&a).cmp(&big(&b)));
        prop_assert_eq!(a == b, big(&a) == big(&b));
    }

    #[test]
    fn addition_matches_bigdecimal(a in number(), b in number()) {
        prop_assert_eq!(outcome(a.checked_add(&b)), expected(&(big(&a) + big(&b))));
    }

    #[test]
    fn subtraction_matches_bigdecimal(a in number(), b in number()) {
        prop_assert_eq!(outcome(a.checked_sub(&b)), expected(&(big(&a) - big(&b))));
    }

    #[test]
    fn key_order_matches_value_order((a, b) in same_type_pair()) {
        prop_assert_eq!(key_bytes(&a).cmp(&key_bytes(&b)), value_order(&a, &b));
    }

    #[test]
    fn number_key_order_matches_numeric_order(a in number(), b in number()) {
        let (ka, kb) = (AttributeValue::N(a.clone()), AttributeValue::N(b.clone()));
        prop_assert_eq!(key_bytes(&ka).cmp(&key_bytes(&kb)), a.cmp(&b));
    }

    #[test]
    fn composite_key_order_is_lexicographic(
        ((h1, h2), (r1, r2)) in (same_type_pair(), same_type_pair())
    ) {
        let mut k1 = key_bytes(&h1);
        k1.extend(key_bytes(&r1));
        let mut k2 = key_bytes(&h2);
        k2.extend(key_bytes(&r2));
        let by_value = value_order(&h1, &h2).then_with(|| value_order(&r1, &r2));
        prop_assert_eq!(k1.cmp(&k2), by_value);
    }

    #[test]
    fn key_encoding_round_trips((a, b) in (scalar_type(), scalar_type())
        .prop_flat_map(|(x, y)| (scalar(x), scalar(y))))
    {
        let mut bytes = key_bytes(&a);
        bytes.extend(key_bytes(&b));
        let mut input = bytes.as_slice();
        let ty = |v: &AttributeValue| v.scalar_type().unwrap_or(ScalarType::S);
        prop_assert_eq!(decode_scalar(ty(&a), &mut input), Ok(a));
        prop_assert_eq!(decode_scalar(ty(&b), &mut input), Ok(b));
        prop_assert!(input.is_empty());
    }

    #[test]
    fn key_decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64), ty in scalar_type()) {
        let mut input = bytes.as_slice();
        if let Ok(value) = decode_scalar(ty, &mut input) {
            // Anything accepted is canonical: it re-encodes to exactly the bytes consumed.
            let consumed = bytes.len() - input.len();
            prop_assert_eq!(key_bytes(&value), bytes[..consumed].to_vec());
        }
    }

    #[test]
    fn codec_round_trips(item in item()) {
        prop_assert_eq!(decode_item(&encode_item(&item)), Ok(item));
    }

    #[test]
    fn codec_decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut versioned = vec![1u8];
        versioned.extend(&bytes);
        for input in [&bytes, &versioned] {
            if let Ok(item) = decode_item(input) {
                prop_assert_eq!(decode_item(&encode_item(&item)), Ok(item));
            }
        }
    }

    #[test]
    fn codec_survives_corrupted_records(item in item(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut bytes = encode_item(&item);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        // Any answer is fine as long as it is an answer and not a panic.
        let _ = decode_item(&bytes);
    }
}

#[test]
fn composite_keys_order_by_hash_then_range() {
    let s = |x: &str| AttributeValue::S(x.to_owned());
    let n = |x: &str| AttributeValue::N(Number::parse(x).unwrap_or_else(|e| panic!("{e}")));
    let key = |h: &AttributeValue, r: &AttributeValue| {
        let mut k = key_bytes(h);
        k.extend(key_bytes(r));
        k
    };
    // "a" is a prefix of "ab", so without the terminator ("a", 9) could sort after ("ab", 1).
    assert!(key(&s("a"), &n("9")) < key(&s("ab"), &n("1")));
    assert!(key(&s("a"), &n("-5")) < key(&s("a"), &n("-4.5")));
}
