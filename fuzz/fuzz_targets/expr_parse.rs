//! Fuzzes cove-expr's parsers (condition, key condition, update, projection) with arbitrary
//! text, and checks the documented round trip: a parsed tree printed with `Display` parses
//! back to an equal tree.
#![no_main]

use std::fmt::{Debug, Display};

use cove_expr::{
    ExprError, MAX_EXPRESSION_BYTES, parse_condition, parse_key_condition, parse_projection,
    parse_update,
};
use libfuzzer_sys::fuzz_target;

/// Parses `text`; when that succeeds, prints the tree and parses the printed text again, which
/// must give the same tree.
fn round_trip<T: Display + Debug + PartialEq>(
    kind: &str,
    text: &str,
    parse: fn(&str) -> Result<T, ExprError>,
) {
    let Ok(tree) = parse(text) else { return };
    let printed = tree.to_string();
    // Printing normalizes spacing (`a=b` becomes `a = b`), so a text near the size limit can
    // print longer than the limit; the size check is not what the round trip is about.
    if printed.len() > MAX_EXPRESSION_BYTES {
        return;
    }
    match parse(&printed) {
        Ok(again) => assert!(
            again == tree,
            "{kind}: printed tree parses to a different tree\n input: {text:?}\n printed: {printed:?}\n first: {tree:?}\n second: {again:?}"
        ),
        Err(e) => panic!(
            "{kind}: printed tree does not parse\n input: {text:?}\n printed: {printed:?}\n tree: {tree:?}\n error: {e}"
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    round_trip("condition", text, parse_condition);
    round_trip("key condition", text, parse_key_condition);
    round_trip("update", text, parse_update);
    round_trip("projection", text, parse_projection);
});
