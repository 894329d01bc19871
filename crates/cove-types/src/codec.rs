//! The on-disk item format: a compact, versioned binary encoding of an [`Item`].
//!
//! Records are versioned so the format can change without rewriting old data: the first byte
//! is the format version, and a reader refuses versions it does not know. Decoding never
//! trusts the bytes: unknown versions, truncation, bad UTF-8, duplicate map keys, trailing
//! bytes and absurd nesting all come back as [`TypesError::Corrupt`].
//!
//! Version 1 layout (`len` and `count` are unsigned LEB128 varints):
//!
//! ```text
//! record  = 0x01 count (name value)*          attributes in name order
//! name    = len utf8-bytes
//! value   = tag payload
//!   0x01 S     len utf8-bytes
//!   0x02 N     the key encoding of the number (self-delimiting, at most 41 bytes)
//!   0x03 B     len bytes
//!   0x04 BOOL false, 0x05 BOOL true, 0x06 NULL      (no payload)
//!   0x07 L     count value*
//!   0x08 M     count (name value)*
//!   0x09 SS    count (len utf8-bytes)*
//!   0x0A NS    count number*
//!   0x0B BS    count (len bytes)*
//! ```

use std::collections::BTreeMap;

use crate::key::{decode_number, encode_number};
use crate::value::MAX_NESTING_DEPTH;
use crate::{AttributeValue, Item, TypesError};

/// The version byte written at the front of every record.
pub const ITEM_FORMAT_VERSION: u8 = 1;

const TAG_S: u8 = 0x01;
const TAG_N: u8 = 0x02;
const TAG_B: u8 = 0x03;
const TAG_FALSE: u8 = 0x04;
const TAG_TRUE: u8 = 0x05;
const TAG_NULL: u8 = 0x06;
const TAG_L: u8 = 0x07;
const TAG_M: u8 = 0x08;
const TAG_SS: u8 = 0x09;
const TAG_NS: u8 = 0x0A;
const TAG_BS: u8 = 0x0B;

/// The deepest nesting a record may hold. Stored items never exceed DynamoDB's 32 levels; the
/// slack only exists so a decoder bound never rejects a valid item, while still keeping
/// hostile bytes from recursing deep enough to exhaust the stack.
const MAX_DECODE_DEPTH: usize = 2 * MAX_NESTING_DEPTH;

/// Encodes an item in the current format version.
pub fn encode_item(item: &Item) -> Vec<u8> {
    let mut out = vec![ITEM_FORMAT_VERSION];
    put_len(&mut out, item.len());
    for (name, value) in item {
        put_bytes(&mut out, name.as_bytes());
        put_value(&mut out, value);
    }
    out
}

/// Decodes a record written by [`encode_item`].
pub fn decode_item(bytes: &[u8]) -> Result<Item, TypesError> {
    let mut reader = Reader { rest: bytes };
    let version = reader.byte()?;
    if version != ITEM_FORMAT_VERSION {
        return Err(corrupt(&format!("unknown item format version {version}")));
    }
    let item = reader.map(1)?;
    if !reader.rest.is_empty() {
        return Err(corrupt("trailing bytes after item"));
    }
    Ok(item)
}

fn put_value(out: &mut Vec<u8>, value: &AttributeValue) {
    match value {
        AttributeValue::S(s) => {
            out.push(TAG_S);
            put_bytes(out, s.as_bytes());
        }
        AttributeValue::N(n) => {
            out.push(TAG_N);
            encode_number(n, out);
        }
        AttributeValue::B(b) => {
            out.push(TAG_B);
            put_bytes(out, b);
        }
        AttributeValue::Bool(false) => out.push(TAG_FALSE),
        AttributeValue::Bool(true) => out.push(TAG_TRUE),
        AttributeValue::Null => out.push(TAG_NULL),
        AttributeValue::L(items) => {
            out.push(TAG_L);
            put_len(out, items.len());
            for item in items {
                put_value(out, item);
            }
        }
        AttributeValue::M(map) => {
            out.push(TAG_M);
            put_len(out, map.len());
            for (name, item) in map {
                put_bytes(out, name.as_bytes());
                put_value(out, item);
            }
        }
        AttributeValue::Ss(set) => {
            out.push(TAG_SS);
            put_len(out, set.len());
            for member in set {
                put_bytes(out, member.as_bytes());
            }
        }
        AttributeValue::Ns(set) => {
            out.push(TAG_NS);
            put_len(out, set.len());
            for member in set {
                encode_number(member, out);
            }
        }
        AttributeValue::Bs(set) => {
            out.push(TAG_BS);
            put_len(out, set.len());
            for member in set {
                put_bytes(out, member);
            }
        }
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    let mut rest = len as u64;
    while rest >= 0x80 {
        out.push((rest & 0x7F) as u8 | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn corrupt(what: &str) -> TypesError {
    TypesError::Corrupt(what.to_owned())
}

/// The unread remainder of a record.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, TypesError> {
        let (&first, rest) = self
            .rest
            .split_first()
            .ok_or_else(|| corrupt("truncated item"))?;
        self.rest = rest;
        Ok(first)
    }

    fn varint(&mut self) -> Result<usize, TypesError> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7F);
            if shift == 63 && bits > 1 {
                return Err(corrupt("length overflows"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return usize::try_from(value).map_err(|_| corrupt("length overflows"));
            }
        }
        Err(corrupt("length overflows"))
    }

    /// A count of elements, capped for preallocation by the bytes left: every element takes at
    /// least one byte, so a forged count cannot reserve more memory than the record is long.
    fn count(&mut self) -> Result<(usize, usize), TypesError> {
        let count = self.varint()?;
        Ok((count, count.min(self.rest.len())))
    }

    fn bytes(&mut self) -> Result<&'a [u8], TypesError> {
        let len = self.varint()?;
        if len > self.rest.len() {
            return Err(corrupt("truncated item"));
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    fn string(&mut self) -> Result<String, TypesError> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| corrupt("string is not UTF-8"))
    }

    fn map(&mut self, depth: usize) -> Result<BTreeMap<String, AttributeValue>, TypesError> {
        let (count, _) = self.count()?;
        let mut map = BTreeMap::new();
        for _ in 0..count {
            let name = self.string()?;
            let value = self.value(depth)?;
            if map.insert(name, value).is_some() {
                return Err(corrupt("duplicate attribute name"));
            }
        }
        Ok(map)
    }

    fn value(&mut self, depth: usize) -> Result<AttributeValue, TypesError> {
        if depth > MAX_DECODE_DEPTH {
            return Err(corrupt("item nested too deeply"));
        }
        let value = match self.byte()? {
            TAG_S => AttributeValue::S(self.string()?),
            TAG_N => AttributeValue::N(decode_number(&mut self.rest)?),
            TAG_B => AttributeValue::B(self.bytes()?.to_vec()),
            TAG_FALSE => AttributeValue::Bool(false),
            TAG_TRUE => AttributeValue::Bool(true),
            TAG_NULL => AttributeValue::Null,
            TAG_L => {
                let (count, capacity) = self.count()?;
                let mut items = Vec::with_capacity(capacity);
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                AttributeValue::L(items)
            }
            TAG_M => AttributeValue::M(self.map(depth + 1)?),
            TAG_SS => {
                let (count, capacity) = self.count()?;
                let mut set = Vec::with_capacity(capacity);
                for _ in 0..count {
                    set.push(self.string()?);
                }
                AttributeValue::Ss(set)
            }
            TAG_NS => {
                let (count, capacity) = self.count()?;
                let mut set = Vec::with_capacity(capacity);
                for _ in 0..count {
                    set.push(decode_number(&mut self.rest)?);
                }
                AttributeValue::Ns(set)
            }
            TAG_BS => {
                let (count, capacity) = self.count()?;
                let mut set = Vec::with_capacity(capacity);
                for _ in 0..count {
                    set.push(self.bytes()?.to_vec());
                }
                AttributeValue::Bs(set)
            }
            tag => return Err(corrupt(&format!("unknown value tag {tag}"))),
        };
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Number;

    fn sample() -> Item {
        let n = |s: &str| Number::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        Item::from([
            ("pk".to_owned(), AttributeValue::S("user#1".into())),
            ("age".to_owned(), AttributeValue::N(n("-42.5"))),
            ("blob".to_owned(), AttributeValue::B(vec![0, 1, 255])),
            ("ok".to_owned(), AttributeValue::Bool(true)),
            ("nothing".to_owned(), AttributeValue::Null),
            (
                "doc".to_owned(),
                AttributeValue::M(BTreeMap::from([(
                    "list".to_owned(),
                    AttributeValue::L(vec![
                        AttributeValue::Bool(false),
                        AttributeValue::Ss(vec!["a".into(), "b".into()]),
                        AttributeValue::Ns(vec![n("1"), n("1e125"), n("0")]),
                        AttributeValue::Bs(vec![vec![], vec![9]]),
                    ]),
                )])),
            ),
        ])
    }

    #[test]
    fn round_trips() {
        let item = sample();
        let bytes = encode_item(&item);
        assert_eq!(bytes.first(), Some(&ITEM_FORMAT_VERSION));
        assert_eq!(decode_item(&bytes), Ok(item));
        assert_eq!(decode_item(&encode_item(&Item::new())), Ok(Item::new()));
    }

    #[test]
    fn rejects_unknown_versions_truncation_and_trailing_bytes() {
        let bytes = encode_item(&sample());
        for cut in 0..bytes.len() {
            let truncated = bytes.get(..cut).unwrap_or_default();
            assert!(
                matches!(decode_item(truncated), Err(TypesError::Corrupt(_))),
                "cut at {cut}"
            );
        }
        let mut other_version = bytes.clone();
        if let Some(first) = other_version.first_mut() {
            *first = 2;
        }
        assert!(matches!(
            decode_item(&other_version),
            Err(TypesError::Corrupt(_))
        ));
        let mut trailing = bytes;
        trailing.push(0);
        assert!(matches!(
            decode_item(&trailing),
            Err(TypesError::Corrupt(_))
        ));
    }

    #[test]
    fn rejects_hostile_structure() {
        // A list claiming 2^62 elements must fail fast rather than allocate.
        let huge = [
            ITEM_FORMAT_VERSION,
            1,
            1,
            b'a',
            TAG_L,
            0x80,
            0x80,
            0x80,
            0x80,
            0x80,
            0x80,
            0x80,
            0x80,
            0x40,
        ];
        assert!(matches!(decode_item(&huge), Err(TypesError::Corrupt(_))));
        // Duplicate names.
        let dup = [ITEM_FORMAT_VERSION, 2, 1, b'a', TAG_NULL, 1, b'a', TAG_NULL];
        assert!(matches!(decode_item(&dup), Err(TypesError::Corrupt(_))));
        // Deeper nesting than any valid item.
        let mut deep = vec![ITEM_FORMAT_VERSION, 1, 1, b'a'];
        deep.extend(std::iter::repeat_n([TAG_L, 1], 10_000).flatten());
        deep.push(TAG_NULL);
        assert!(matches!(decode_item(&deep), Err(TypesError::Corrupt(_))));
        // Invalid UTF-8 in a name.
        let bad_name = [ITEM_FORMAT_VERSION, 1, 1, 0xFF, TAG_NULL];
        assert!(matches!(
            decode_item(&bad_name),
            Err(TypesError::Corrupt(_))
        ));
        // A varint longer than 64 bits.
        let long_len = [
            ITEM_FORMAT_VERSION,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0x7F,
        ];
        assert!(matches!(
            decode_item(&long_len),
            Err(TypesError::Corrupt(_))
        ));
    }
}
