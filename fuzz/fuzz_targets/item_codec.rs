//! Fuzzes cove-types' binary item codec (`codec::decode_item`) and the memcomparable key
//! decoding (`key::decode_scalar`) with arbitrary bytes, and checks that whatever decodes
//! re-encodes consistently.
#![no_main]

use cove_types::codec::{decode_item, encode_item};
use cove_types::key::{decode_scalar, encode_scalar};
use cove_types::{AttributeValue, Number, ScalarType};
use libfuzzer_sys::fuzz_target;

/// Every number a record holds must print to text that parses back to the same number.
fn check_numbers(value: &AttributeValue) {
    let check = |n: &Number| {
        let reparsed = Number::parse(n.as_str());
        assert!(
            reparsed.as_ref() == Ok(n),
            "decoded number {:?} does not reparse from its text: {reparsed:?}",
            n.as_str()
        );
    };
    match value {
        AttributeValue::N(n) => check(n),
        AttributeValue::Ns(set) => set.iter().for_each(check),
        AttributeValue::L(items) => items.iter().for_each(check_numbers),
        AttributeValue::M(map) => map.values().for_each(check_numbers),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    // The item codec. Decoding accepts map entries in any order and non-minimal varints, so
    // re-encoding need not give the input bytes back; it must give bytes that decode to the
    // same item, and encoding must then be stable.
    if let Ok(item) = decode_item(data) {
        let bytes = encode_item(&item);
        let again = decode_item(&bytes);
        assert!(
            again.as_ref() == Ok(&item),
            "re-encoded item decodes differently\n input: {data:?}\n item: {item:?}\n again: {again:?}"
        );
        assert_eq!(encode_item(&item), bytes, "encoding is not deterministic");
        item.values().for_each(check_numbers);
    }

    // The key encoding: the first byte picks the type, the rest is a run of keys of that
    // type (a partition key followed by a sort key is the common case). Only canonical
    // encodings decode, so each decoded value must re-encode to exactly the bytes it came
    // from.
    let Some((&selector, mut rest)) = data.split_first() else {
        return;
    };
    let ty = match selector % 3 {
        0 => ScalarType::S,
        1 => ScalarType::N,
        _ => ScalarType::B,
    };
    while !rest.is_empty() {
        let before = rest;
        let Ok(value) = decode_scalar(ty, &mut rest) else {
            break;
        };
        let consumed = &before[..before.len() - rest.len()];
        let mut encoded = Vec::new();
        assert!(
            encode_scalar(&value, &mut encoded).is_ok(),
            "a decoded key value does not encode: {value:?}"
        );
        assert!(
            encoded == consumed,
            "key value re-encodes to other bytes\n type: {ty:?}\n consumed: {consumed:?}\n value: {value:?}\n encoded: {encoded:?}"
        );
        check_numbers(&value);
    }
});
