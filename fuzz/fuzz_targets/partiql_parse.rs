//! Fuzzes cove-partiql's parser with arbitrary statement text and a few parameters: it must
//! return a statement or DynamoDB's error, never panic or hang.
#![no_main]

use cove_types::{AttributeValue, Number};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let params = [
        AttributeValue::S("p".into()),
        AttributeValue::N(Number::parse("1").unwrap_or_else(|_| Number::zero())),
    ];
    for n in 0..=params.len() {
        let _ = cove_partiql::parse(text, &params[..n]);
    }
});
