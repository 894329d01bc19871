//! Writing DynamoDB JSON straight from typed values to bytes, for the responses every request
//! of a read workload sends. Building a `serde_json::Value` tree first copied every attribute
//! name and value, and serializing it escaped strings a byte at a time; on a GetItem of a
//! 1 KB item that was a fifth of the server's work. The bytes are exactly those
//! `serde_json::to_vec` writes for the same response (the tests compare the two).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use cove_types::{AttributeValue, Item};

/// Marks (with its high bit) every byte of `word` that may need escaping in a JSON string: a
/// control character (below 0x20), `"` or `\`. Bit tricks from "Bit Twiddling Hacks"
/// (`haszero`, `hasless`): a clean word gives zero. A marked byte is only a candidate (a
/// borrow can mark the byte above a true one), which is safe because marked words are then
/// looked at byte by byte.
fn escape_marks(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    ((word.wrapping_sub(ONES * 0x20) & !word)
        | (quote.wrapping_sub(ONES) & !quote)
        | (backslash.wrapping_sub(ONES) & !backslash))
        & HIGHS
}

/// The 64-bit word of eight bytes, little-endian.
fn word(chunk: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(chunk);
    u64::from_le_bytes(bytes)
}

/// The escape serde_json writes for `byte`, or `None` when it goes out as it is.
fn escape(byte: u8, buf: &mut [u8; 6]) -> Option<&[u8]> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match byte {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x0c => b'f',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        0x00..=0x1f => {
            *buf = [
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0x0f)],
            ];
            return Some(&buf[..]);
        }
        _ => return None,
    };
    buf[0] = b'\\';
    buf[1] = short;
    Some(&buf[..2])
}

/// How many bytes at the start of `bytes` need no escaping, found 32 and then eight at a
/// time (a multiple of eight: the caller looks at the rest one by one).
fn clean_prefix(bytes: &[u8]) -> usize {
    let mut clean = 0;
    for block in bytes.chunks_exact(32) {
        let marks = block
            .chunks_exact(8)
            .fold(0, |m, c| m | escape_marks(word(c)));
        if marks != 0 {
            break;
        }
        clean += 32;
    }
    for chunk in bytes[clean..].chunks_exact(8) {
        if escape_marks(word(chunk)) != 0 {
            break;
        }
        clean += 8;
    }
    clean
}

/// Appends `s` as a JSON string, escaped as serde_json escapes it. Clean runs are found eight
/// bytes at a time and copied whole.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut copied = 0;
    let mut i = 0;
    let mut buf = [0u8; 6];
    while i < bytes.len() {
        i += clean_prefix(&bytes[i..]);
        // At most eight bytes one by one: the word that held a byte to escape, or the tail.
        let end = (i + 8).min(bytes.len());
        while i < end {
            if let Some(escaped) = escape(bytes[i], &mut buf) {
                out.extend_from_slice(&bytes[copied..i]);
                out.extend_from_slice(escaped);
                copied = i + 1;
            }
            i += 1;
        }
    }
    out.extend_from_slice(&bytes[copied..]);
    out.push(b'"');
}

/// Appends an attribute map (an item or a key) as DynamoDB JSON, in the map's order.
pub fn write_item(out: &mut Vec<u8>, item: &Item) {
    out.push(b'{');
    for (i, (name, value)) in item.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, name);
        out.push(b':');
        write_value(out, value);
    }
    out.push(b'}');
}

/// Appends a list as a JSON array, each element written by `write`.
fn write_list<T>(out: &mut Vec<u8>, items: &[T], mut write: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(out, item);
    }
    out.push(b']');
}

/// Appends one attribute value as DynamoDB JSON (`{"S":"x"}`, `{"N":"1"}`, ...).
pub fn write_value(out: &mut Vec<u8>, value: &AttributeValue) {
    let blob = |out: &mut Vec<u8>, b: &Vec<u8>| {
        // Base64 needs no escaping.
        out.push(b'"');
        out.extend_from_slice(BASE64.encode(b).as_bytes());
        out.push(b'"');
    };
    let descriptor: &[u8] = match value {
        AttributeValue::S(_) => b"{\"S\":",
        AttributeValue::N(_) => b"{\"N\":",
        AttributeValue::B(_) => b"{\"B\":",
        AttributeValue::Bool(_) => b"{\"BOOL\":",
        AttributeValue::Null => b"{\"NULL\":",
        AttributeValue::Ss(_) => b"{\"SS\":",
        AttributeValue::Ns(_) => b"{\"NS\":",
        AttributeValue::Bs(_) => b"{\"BS\":",
        AttributeValue::L(_) => b"{\"L\":",
        AttributeValue::M(_) => b"{\"M\":",
    };
    out.extend_from_slice(descriptor);
    match value {
        AttributeValue::S(s) => write_str(out, s),
        AttributeValue::N(n) => write_str(out, n.as_str()),
        AttributeValue::B(b) => blob(out, b),
        AttributeValue::Bool(true) | AttributeValue::Null => out.extend_from_slice(b"true"),
        AttributeValue::Bool(false) => out.extend_from_slice(b"false"),
        AttributeValue::Ss(items) => write_list(out, items, |out, s| write_str(out, s)),
        AttributeValue::Ns(items) => write_list(out, items, |out, n| write_str(out, n.as_str())),
        AttributeValue::Bs(items) => write_list(out, items, blob),
        AttributeValue::L(items) => write_list(out, items, write_value),
        AttributeValue::M(map) => write_item(out, map),
    }
    out.push(b'}');
}

/// The bytes of a single-item response (GetItem; the `Attributes` of a write):
/// `{"<member>": item, "ConsumedCapacity": ...}`, each member only when present, the same
/// bytes as serializing [`crate::output::item_response`].
pub fn item_response_bytes(member: &str, item: Option<&Item>, consumed: Option<&Value>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + item.map_or(0, cove_types::value::item_size));
    out.push(b'{');
    if let Some(item) = item {
        write_str(&mut out, member);
        out.push(b':');
        write_item(&mut out, item);
    }
    if let Some(consumed) = consumed {
        if item.is_some() {
            out.push(b',');
        }
        write_str(&mut out, "ConsumedCapacity");
        out.push(b':');
        // Capacity figures are floats: serde_json writes them, so they print as it prints them.
        if serde_json::to_writer(&mut out, consumed).is_err() {
            out.extend_from_slice(b"{}");
        }
    }
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::item_response;
    use cove_types::Number;
    use serde_json::json;

    fn reference(s: &str) -> Vec<u8> {
        serde_json::to_vec(&Value::String(s.to_string())).unwrap_or_default()
    }

    #[test]
    fn strings_escape_as_serde_json_escapes_them() {
        for s in [
            "",
            "plain",
            "exactly8",
            "a\"b\\c",
            "\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f} \u{7f}",
            "héllo wörld, ünïcode ✓ 𝄞",
            "0123456789abcdef\"0123456789abcdef\\",
            "/slashes/ are not escaped",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(out, reference(s), "{s:?}");
        }
    }

    fn number(text: &str) -> Number {
        text.parse()
            .unwrap_or_else(|_| panic!("{text} is a number"))
    }

    fn sample() -> Item {
        let mut inner = Item::new();
        inner.insert("k".into(), AttributeValue::L(vec![]));
        inner.insert("q\"uote".into(), AttributeValue::S("\n".into()));
        let mut item = Item::new();
        item.insert("s".into(), AttributeValue::S("héllo \"x\"\t".into()));
        item.insert("n".into(), AttributeValue::N(number("1.50")));
        item.insert("b".into(), AttributeValue::B(vec![0, 1, 2, 255]));
        item.insert("t".into(), AttributeValue::Bool(true));
        item.insert("f".into(), AttributeValue::Bool(false));
        item.insert("z".into(), AttributeValue::Null);
        item.insert(
            "ss".into(),
            AttributeValue::Ss(vec!["a".into(), "b\\".into()]),
        );
        item.insert(
            "ns".into(),
            AttributeValue::Ns(vec![number("1"), number("-2.5E+3")]),
        );
        item.insert("bs".into(), AttributeValue::Bs(vec![vec![0], vec![1, 2]]));
        item.insert(
            "l".into(),
            AttributeValue::L(vec![
                AttributeValue::S("x".into()),
                AttributeValue::N(number("3")),
                AttributeValue::M(inner.clone()),
            ]),
        );
        item.insert("m".into(), AttributeValue::M(inner));
        item
    }

    #[test]
    fn responses_match_the_value_tree_serialization() {
        let item = sample();
        let consumed = json!({"TableName": "t", "CapacityUnits": 0.5, "ReadCapacityUnits": 0.5});
        for (item, consumed) in [
            (None, None),
            (Some(&item), None),
            (None, Some(&consumed)),
            (Some(&item), Some(&consumed)),
        ] {
            let expected = serde_json::to_vec(&item_response("Item", item, consumed.cloned()))
                .unwrap_or_default();
            assert_eq!(
                String::from_utf8_lossy(&item_response_bytes("Item", item, consumed)),
                String::from_utf8_lossy(&expected)
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_strings_escape_as_serde_json_escapes_them(s in "[\\x00-\\x7f]{0,40}|\\PC{0,40}") {
            let mut out = Vec::new();
            write_str(&mut out, &s);
            proptest::prop_assert_eq!(out, reference(&s));
        }

        #[test]
        fn arbitrary_string_items_match(names in proptest::collection::vec("\\PC{0,12}", 0..6), value in "[\\x00-\\x7f]{0,30}") {
            let item: Item = names
                .into_iter()
                .map(|n| (n, AttributeValue::S(value.clone())))
                .collect();
            let expected = serde_json::to_vec(&item_response("Item", Some(&item), None)).unwrap_or_default();
            proptest::prop_assert_eq!(item_response_bytes("Item", Some(&item), None), expected);
        }
    }
}
