//! Attribute values and items: the DynamoDB data model, DynamoDB's item-size accounting, and
//! the checks DynamoDB applies to every attribute value it is sent.
//!
//! The validation messages are DynamoDB's own, taken from captures against AWS (cited on each
//! function). They are the bare messages: on PutItem, UpdateItem and DeleteItem DynamoDB wraps
//! them as `1 validation error detected: <message>`, and the operation layer adds that.

use std::collections::{BTreeMap, BTreeSet};

use crate::schema::ScalarType;
use crate::{Number, TypesError};

/// An item: attribute names to values, ordered by name so encodings are deterministic.
pub type Item = BTreeMap<String, AttributeValue>;

/// The largest item DynamoDB stores: 409,600 bytes is accepted, one byte more is not.
pub const MAX_ITEM_SIZE: usize = 400 * 1024;

/// How many levels a document may have, counting a top-level attribute value as level 1.
pub const MAX_NESTING_DEPTH: usize = 32;

const INVALID: &str = "One or more parameter values were invalid: ";
const NESTING: &str = "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit";
const ITEM_TOO_LARGE: &str = "Item size has exceeded the maximum allowed size";

/// One DynamoDB attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    S(String),
    N(Number),
    B(Vec<u8>),
    Bool(bool),
    Null,
    L(Vec<AttributeValue>),
    M(BTreeMap<String, AttributeValue>),
    Ss(Vec<String>),
    Ns(Vec<Number>),
    Bs(Vec<Vec<u8>>),
}

impl AttributeValue {
    /// The wire type descriptor: "S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS" or "BS".
    pub fn type_name(&self) -> &'static str {
        match self {
            AttributeValue::S(_) => "S",
            AttributeValue::N(_) => "N",
            AttributeValue::B(_) => "B",
            AttributeValue::Bool(_) => "BOOL",
            AttributeValue::Null => "NULL",
            AttributeValue::L(_) => "L",
            AttributeValue::M(_) => "M",
            AttributeValue::Ss(_) => "SS",
            AttributeValue::Ns(_) => "NS",
            AttributeValue::Bs(_) => "BS",
        }
    }

    /// The key type of an S, N or B value; `None` for every other type.
    pub fn scalar_type(&self) -> Option<ScalarType> {
        match self {
            AttributeValue::S(_) => Some(ScalarType::S),
            AttributeValue::N(_) => Some(ScalarType::N),
            AttributeValue::B(_) => Some(ScalarType::B),
            _ => None,
        }
    }

    /// The bytes DynamoDB counts for this value, not counting its own attribute name.
    ///
    /// Per the AWS developer guide ("DynamoDB item sizes and formats"): a string is its UTF-8
    /// length, a binary its raw length, a number per [`Number::size_bytes`], BOOL and NULL one
    /// byte; a list or map costs 3 bytes plus, for each element, 1 byte of overhead and the
    /// element's size (for a map, the element's size includes its key's UTF-8 length). A set is
    /// the sum of its members, as dynalite (`db/index.js` `valSize`) counts it.
    pub fn size(&self) -> usize {
        match self {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => n.size_bytes(),
            AttributeValue::B(b) => b.len(),
            AttributeValue::Bool(_) | AttributeValue::Null => 1,
            AttributeValue::L(items) => 3 + items.iter().map(|v| 1 + v.size()).sum::<usize>(),
            AttributeValue::M(map) => {
                3 + map
                    .iter()
                    .map(|(k, v)| 1 + k.len() + v.size())
                    .sum::<usize>()
            }
            AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
            AttributeValue::Ns(set) => set.iter().map(Number::size_bytes).sum(),
            AttributeValue::Bs(set) => set.iter().map(Vec::len).sum(),
        }
    }
}

/// The size DynamoDB counts for an item: each attribute's name (UTF-8 bytes) plus its value.
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value.size())
        .sum()
}

/// Validates one attribute value as DynamoDB does on input, treating it as a top-level
/// attribute value (level 1). Values nested inside it are checked in document order, and the
/// first problem found is reported:
///
/// - a value deeper than [`MAX_NESTING_DEPTH`]: `Nesting Levels have exceeded supported
///   limits: Attributes in the item have nested levels beyond supported limit`. AWS accepts a
///   scalar under 31 maps or lists (at level 32) and rejects one under 32
///   (paritysuite/dynamodb-conformance `tests/tier3/limits/nestingDepth`);
/// - an empty set: `… An string set  may not be empty` (two spaces), `… An number set  may
///   not be empty`, `… Binary sets should not be empty` (dynalite tests run against AWS, and
///   the conformance suite's `putItem` error-message tests);
/// - a repeated set member (numerically equal for NS, bytewise for BS). The wording is
///   DynamoDB's current validation layer (used by PutItem, UpdateItem, DeleteItem, GetItem,
///   BatchGetItem and Query; conformance `tests/tier3/error-messages/valueLayers`): the members
///   are listed in byte order up to the first repeat, then the repeat, then the rest as sent,
///   e.g. `… Input collection ["a", "b", "b"] contains duplicates.` for SS `[b, a, b]` and
///   `… Input collection ["AA==","/w==","AA=="]of type BS contains duplicates.` (base64, no
///   spaces, no space before `of`); NS names no members:
///   `… Input collection contains duplicates.`
///
/// `…` is `One or more parameter values were invalid:`. Numbers are checked when they are
/// parsed ([`Number::parse`]), so an NS member is already a valid number here.
pub fn validate_value(v: &AttributeValue) -> Result<(), TypesError> {
    validate_at(v, 1)
}

/// Validates every value of an item, then its size: an item over [`MAX_ITEM_SIZE`] is
/// `Item size has exceeded the maximum allowed size` (dynalite's putItem tests, run against
/// AWS; the conformance suite measured 409,600 bytes as accepted and 409,601 as refused).
pub fn validate_item(item: &Item) -> Result<(), TypesError> {
    for value in item.values() {
        validate_value(value)?;
    }
    if item_size(item) > MAX_ITEM_SIZE {
        return Err(TypesError::Validation(ITEM_TOO_LARGE.to_owned()));
    }
    Ok(())
}

fn validate_at(v: &AttributeValue, level: usize) -> Result<(), TypesError> {
    if level > MAX_NESTING_DEPTH {
        return Err(TypesError::Validation(NESTING.to_owned()));
    }
    match v {
        AttributeValue::Ss(set) => {
            if set.is_empty() {
                return Err(invalid("An string set  may not be empty"));
            }
            if let Some(listing) = duplicate_listing(set) {
                let shown: Vec<String> = listing.iter().map(|s| format!("\"{s}\"")).collect();
                return Err(invalid(&format!(
                    "Input collection [{}] contains duplicates.",
                    shown.join(", ")
                )));
            }
        }
        AttributeValue::Ns(set) => {
            if set.is_empty() {
                return Err(invalid("An number set  may not be empty"));
            }
            if duplicate_listing(set).is_some() {
                return Err(invalid("Input collection contains duplicates."));
            }
        }
        AttributeValue::Bs(set) => {
            if set.is_empty() {
                return Err(invalid("Binary sets should not be empty"));
            }
            if let Some(listing) = duplicate_listing(set) {
                let shown: Vec<String> = listing
                    .iter()
                    .map(|b| format!("\"{}\"", base64(b)))
                    .collect();
                return Err(invalid(&format!(
                    "Input collection [{}]of type BS contains duplicates.",
                    shown.join(",")
                )));
            }
        }
        AttributeValue::L(items) => {
            for item in items {
                validate_at(item, level + 1)?;
            }
        }
        AttributeValue::M(map) => {
            for item in map.values() {
                validate_at(item, level + 1)?;
            }
        }
        AttributeValue::S(_)
        | AttributeValue::N(_)
        | AttributeValue::B(_)
        | AttributeValue::Bool(_)
        | AttributeValue::Null => {}
    }
    Ok(())
}

fn invalid(detail: &str) -> TypesError {
    TypesError::Validation(format!("{INVALID}{detail}"))
}

/// If `members` repeats a member, lists them the way DynamoDB's message does: the distinct
/// members seen before the first repeat in sorted order, then the repeat, then the rest as
/// sent. `None` when every member is distinct.
fn duplicate_listing<T: Ord>(members: &[T]) -> Option<Vec<&T>> {
    let mut seen = BTreeSet::new();
    for (i, member) in members.iter().enumerate() {
        if !seen.insert(member) {
            let mut listing: Vec<&T> = seen.into_iter().collect();
            listing.push(member);
            listing.extend(members.get(i + 1..).unwrap_or_default());
            return Some(listing);
        }
    }
    None
}

/// Standard base64 with padding, as DynamoDB prints binary values in messages.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let symbol = |index: u32| char::from(ALPHABET[(index & 63) as usize]);
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let group = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(symbol(group >> 18));
        out.push(symbol(group >> 12));
        out.push(if chunk.len() > 1 {
            symbol(group >> 6)
        } else {
            '='
        });
        out.push(if chunk.len() > 2 { symbol(group) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> Number {
        match Number::parse(s) {
            Ok(n) => n,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn message(v: &AttributeValue) -> String {
        match validate_value(v) {
            Ok(()) => panic!("{v:?} should be rejected"),
            Err(TypesError::Validation(m)) => m,
            Err(e) => panic!("unexpected error kind {e:?}"),
        }
    }

    fn s(x: &str) -> AttributeValue {
        AttributeValue::S(x.to_owned())
    }

    fn wrap_in_maps(depth: usize) -> AttributeValue {
        (0..depth).fold(s("leaf"), |v, _| {
            AttributeValue::M(BTreeMap::from([("n".to_owned(), v)]))
        })
    }

    fn wrap_in_lists(depth: usize) -> AttributeValue {
        (0..depth).fold(s("leaf"), |v, _| AttributeValue::L(vec![v]))
    }

    #[test]
    fn names_and_scalar_types() {
        let cases = [
            (s("a"), "S", Some(ScalarType::S)),
            (AttributeValue::N(num("1")), "N", Some(ScalarType::N)),
            (AttributeValue::B(vec![1]), "B", Some(ScalarType::B)),
            (AttributeValue::Bool(true), "BOOL", None),
            (AttributeValue::Null, "NULL", None),
            (AttributeValue::L(vec![]), "L", None),
            (AttributeValue::M(BTreeMap::new()), "M", None),
            (AttributeValue::Ss(vec!["a".into()]), "SS", None),
            (AttributeValue::Ns(vec![num("1")]), "NS", None),
            (AttributeValue::Bs(vec![vec![1]]), "BS", None),
        ];
        for (value, name, scalar) in cases {
            assert_eq!(value.type_name(), name);
            assert_eq!(value.scalar_type(), scalar, "{name}");
        }
    }

    #[test]
    fn sizes_follow_the_aws_rules() {
        assert_eq!(s("héllo").size(), 6, "strings count UTF-8 bytes");
        assert_eq!(AttributeValue::B(vec![0; 7]).size(), 7);
        assert_eq!(AttributeValue::N(num("3.14159")).size(), 5);
        assert_eq!(AttributeValue::Bool(false).size(), 1);
        assert_eq!(AttributeValue::Null.size(), 1);
        assert_eq!(
            AttributeValue::L(vec![]).size(),
            3,
            "an empty list is its overhead"
        );
        assert_eq!(
            AttributeValue::M(BTreeMap::new()).size(),
            3,
            "an empty map too"
        );
        // 3 + (1 + 3) + (1 + 1).
        assert_eq!(
            AttributeValue::L(vec![s("abc"), AttributeValue::Null]).size(),
            9
        );
        // 3 + (1 + len("key") + 2) + (1 + len("k2") + 3).
        let map = BTreeMap::from([
            ("key".to_owned(), s("xy")),
            ("k2".to_owned(), AttributeValue::L(vec![])),
        ]);
        assert_eq!(AttributeValue::M(map).size(), 15);
        assert_eq!(AttributeValue::Ss(vec!["ab".into(), "c".into()]).size(), 3);
        assert_eq!(AttributeValue::Ns(vec![num("1"), num("-42")]).size(), 5);
        assert_eq!(AttributeValue::Bs(vec![vec![1, 2], vec![3]]).size(), 3);

        let item = Item::from([
            ("a".to_owned(), s("xyz")),
            ("bb".to_owned(), num_value("12")),
        ]);
        assert_eq!(item_size(&item), 1 + 3 + 2 + 2);
    }

    fn num_value(x: &str) -> AttributeValue {
        AttributeValue::N(num(x))
    }

    #[test]
    fn empty_sets_are_rejected() {
        assert_eq!(
            message(&AttributeValue::Ss(vec![])),
            "One or more parameter values were invalid: An string set  may not be empty"
        );
        assert_eq!(
            message(&AttributeValue::Ns(vec![])),
            "One or more parameter values were invalid: An number set  may not be empty"
        );
        assert_eq!(
            message(&AttributeValue::Bs(vec![])),
            "One or more parameter values were invalid: Binary sets should not be empty"
        );
    }

    #[test]
    fn duplicate_members_are_rejected_in_dynamodb_wording() {
        // The exact strings captured against AWS in conformance valueLayers.test.ts.
        let ss = AttributeValue::Ss(vec!["b".into(), "a".into(), "b".into()]);
        assert_eq!(
            message(&ss),
            "One or more parameter values were invalid: Input collection [\"a\", \"b\", \"b\"] contains duplicates."
        );
        let bs = AttributeValue::Bs(vec![vec![0xFF], vec![0x00], vec![0x00]]);
        assert_eq!(
            message(&bs),
            "One or more parameter values were invalid: Input collection [\"AA==\",\"/w==\",\"AA==\"]of type BS contains duplicates."
        );
        let ns = AttributeValue::Ns(vec![num("2"), num("1"), num("2")]);
        assert_eq!(
            message(&ns),
            "One or more parameter values were invalid: Input collection contains duplicates."
        );
        // Numbers repeat by value, not by spelling.
        let ns = AttributeValue::Ns(vec![num("1"), num("1.0")]);
        assert_eq!(
            message(&ns),
            "One or more parameter values were invalid: Input collection contains duplicates."
        );
        // The members after the repeat keep their order.
        let ss = AttributeValue::Ss(vec![
            "c".into(),
            "a".into(),
            "c".into(),
            "b".into(),
            "a".into(),
        ]);
        assert_eq!(
            message(&ss),
            "One or more parameter values were invalid: Input collection [\"a\", \"c\", \"c\", \"b\", \"a\"] contains duplicates."
        );
        // Empty members are allowed; only repeats are not.
        assert!(validate_value(&AttributeValue::Ss(vec![String::new(), "x".into()])).is_ok());
        assert!(validate_value(&AttributeValue::Bs(vec![vec![], vec![1]])).is_ok());
        assert!(validate_value(&AttributeValue::Ns(vec![num("1"), num("1.5")])).is_ok());
    }

    #[test]
    fn nesting_beyond_32_levels_is_rejected() {
        let nesting = "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit";
        assert!(
            validate_value(&wrap_in_maps(31)).is_ok(),
            "leaf at level 32"
        );
        assert!(validate_value(&wrap_in_lists(31)).is_ok());
        assert_eq!(message(&wrap_in_maps(32)), nesting, "leaf at level 33");
        assert_eq!(message(&wrap_in_lists(32)), nesting);
        assert_eq!(message(&wrap_in_maps(100)), nesting);
        // A bad set inside a valid depth is still found.
        let nested = AttributeValue::L(vec![s("ok"), AttributeValue::Ss(vec![])]);
        assert_eq!(
            message(&nested),
            "One or more parameter values were invalid: An string set  may not be empty"
        );
    }

    #[test]
    fn item_size_limit_is_409600_bytes() {
        let item_of = |total: usize| {
            Item::from([
                ("pk".to_owned(), s("key")),
                ("p".to_owned(), s(&"x".repeat(total - 2 - 3 - 1))),
            ])
        };
        let at_limit = item_of(MAX_ITEM_SIZE);
        assert_eq!(item_size(&at_limit), 409_600);
        assert!(validate_item(&at_limit).is_ok());
        assert_eq!(
            validate_item(&item_of(MAX_ITEM_SIZE + 1)),
            Err(TypesError::Validation(
                "Item size has exceeded the maximum allowed size".to_owned()
            ))
        );
        let bad_value = Item::from([("a".to_owned(), AttributeValue::Ns(vec![]))]);
        assert!(validate_item(&bad_value).is_err());
    }

    #[test]
    fn base64_matches_the_standard_alphabet() {
        let cases: [(&[u8], &str); 6] = [
            (b"", ""),
            (b"b", "Yg=="),
            (b"ab", "YWI="),
            (b"abc", "YWJj"),
            (&[0xFF], "/w=="),
            (&[0xFB, 0xEF, 0xBE], "++++"),
        ];
        for (bytes, text) in cases {
            assert_eq!(base64(bytes), text);
        }
    }
}
