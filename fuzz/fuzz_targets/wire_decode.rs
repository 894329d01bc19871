//! Fuzzes cove-wire's request decoding: an `X-Amz-Target` line and a JSON body go through
//! `Operation::from_target`, `json::parse_body` and the operation's `*Input::decode`, as the
//! server's handler does; every item or key that decodes must survive an
//! `attr::encode_item` / `attr::decode_item` round trip.
//!
//! Input layout (see `fuzz/seeds/wire_decode/`): the first line is the target, e.g.
//! `DynamoDB_20120810.PutItem`; the rest is the request body. A first line that names no
//! decoded operation picks a decoder by its first byte instead, so mutations of the target
//! still reach a decoder.
#![no_main]

use cove_types::Item;
use cove_wire::Operation;
use cove_wire::attr::{decode_item, decode_value, encode_item, encode_value};
use cove_wire::input::{
    CreateTableInput, DeleteItemInput, GetItemInput, ListTablesInput, PutItemInput,
    UpdateItemInput, UpdateTableInput, decode_table_name,
};
use cove_wire::json::parse_body;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug)]
enum Decoder {
    CreateTable,
    TableName,
    ListTables,
    UpdateTable,
    PutItem,
    GetItem,
    DeleteItem,
    UpdateItem,
    /// A bare attribute map, as in `Item`, `Key` or `ExpressionAttributeValues`.
    AttributeMap,
}

const DECODERS: [Decoder; 9] = [
    Decoder::CreateTable,
    Decoder::TableName,
    Decoder::ListTables,
    Decoder::UpdateTable,
    Decoder::PutItem,
    Decoder::GetItem,
    Decoder::DeleteItem,
    Decoder::UpdateItem,
    Decoder::AttributeMap,
];

fn decoder_for(target: &[u8]) -> Decoder {
    let op = std::str::from_utf8(target)
        .ok()
        .and_then(Operation::from_target);
    match op {
        Some(Operation::CreateTable) => Decoder::CreateTable,
        Some(Operation::DescribeTable | Operation::DeleteTable) => Decoder::TableName,
        Some(Operation::ListTables) => Decoder::ListTables,
        Some(Operation::UpdateTable) => Decoder::UpdateTable,
        Some(Operation::PutItem) => Decoder::PutItem,
        Some(Operation::GetItem) => Decoder::GetItem,
        Some(Operation::DeleteItem) => Decoder::DeleteItem,
        Some(Operation::UpdateItem) => Decoder::UpdateItem,
        _ => {
            let byte = target.first().copied().unwrap_or(0);
            DECODERS[usize::from(byte) % DECODERS.len()]
        }
    }
}

/// An item that decoded from the wire must encode to JSON that decodes to the same item.
fn round_trip(what: &str, item: &Item) {
    let json = encode_item(item);
    let Value::Object(map) = &json else {
        panic!("{what}: encode_item did not give an object: {json}");
    };
    match decode_item(map) {
        Ok(again) => assert!(
            &again == item,
            "{what}: re-encoded item decodes differently\n item: {item:?}\n json: {json}\n again: {again:?}"
        ),
        Err(e) => {
            panic!("{what}: re-encoded item does not decode: {e:?}\n item: {item:?}\n json: {json}")
        }
    }
    for value in item.values() {
        let encoded = encode_value(value);
        assert!(
            decode_value(&encoded).as_ref() == Ok(value),
            "{what}: value does not round-trip: {value:?} -> {encoded}"
        );
    }
}

fn decode(decoder: Decoder, body: &Map<String, Value>) {
    match decoder {
        Decoder::CreateTable => {
            let _ = CreateTableInput::decode(body);
        }
        Decoder::TableName => {
            let _ = decode_table_name(body);
        }
        Decoder::ListTables => {
            let _ = ListTablesInput::decode(body);
        }
        Decoder::UpdateTable => {
            let _ = UpdateTableInput::decode(body);
        }
        Decoder::PutItem => {
            if let Ok(input) = PutItemInput::decode(body) {
                round_trip("PutItem Item", &input.item);
            }
        }
        Decoder::GetItem => {
            if let Ok(input) = GetItemInput::decode(body) {
                round_trip("GetItem Key", &input.key);
            }
        }
        Decoder::DeleteItem => {
            if let Ok(input) = DeleteItemInput::decode(body) {
                round_trip("DeleteItem Key", &input.key);
            }
        }
        Decoder::UpdateItem => {
            if let Ok(input) = UpdateItemInput::decode(body) {
                round_trip("UpdateItem Key", &input.key);
            }
        }
        Decoder::AttributeMap => {
            if let Ok(item) = decode_item(body) {
                round_trip("attribute map", &item);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (target, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let decoder = decoder_for(target);
    let Ok(body) = parse_body(body) else {
        return;
    };
    decode(decoder, &body);
});
