//! DynamoDB JSON for attribute values: `{"S": "x"}`, `{"N": "1"}`, `{"B": "<base64>"}`, sets,
//! lists, maps, NULL and BOOL, in both directions.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use cove_types::{AttributeValue, Item, Number, TypesError};

use crate::WireError;
use crate::json::as_string;

fn ser(msg: impl Into<String>) -> WireError {
    WireError::Serialization(msg.into())
}

fn validation(err: TypesError) -> WireError {
    WireError::Validation(err.to_string())
}

/// Decodes an attribute map (an item, a key, ExpressionAttributeValues).
pub fn decode_item(map: &Map<String, Value>) -> Result<Item, WireError> {
    let mut item = Item::new();
    for (name, value) in map {
        if value.is_null() {
            continue;
        }
        item.insert(name.clone(), decode_value(value)?);
    }
    Ok(item)
}

/// Decodes one attribute value.
pub fn decode_value(value: &Value) -> Result<AttributeValue, WireError> {
    let obj = match value {
        Value::Object(obj) => obj,
        Value::Array(_) => return Err(ser("Start of list found where not expected")),
        _ => return Err(ser("Expected null")),
    };
    let mut found: Option<AttributeValue> = None;
    let mut count = 0;
    for (descriptor, member) in obj {
        if member.is_null() {
            continue;
        }
        let decoded = match descriptor.as_str() {
            "S" => AttributeValue::S(as_string(member)?.to_string()),
            "N" => AttributeValue::N(decode_number(member)?),
            "B" => AttributeValue::B(decode_blob(member)?),
            "BOOL" => AttributeValue::Bool(decode_bool(member)?),
            "NULL" => {
                if !decode_bool(member)? {
                    return Err(WireError::Validation(
                        "One or more parameter values were invalid: Null attribute value types must have the value of true"
                            .into(),
                    ));
                }
                AttributeValue::Null
            }
            "SS" => AttributeValue::Ss(
                list(member)?
                    .iter()
                    .map(|v| as_string(v).map(str::to_string))
                    .collect::<Result<_, _>>()?,
            ),
            "NS" => AttributeValue::Ns(
                list(member)?
                    .iter()
                    .map(decode_number)
                    .collect::<Result<_, _>>()?,
            ),
            "BS" => AttributeValue::Bs(
                list(member)?
                    .iter()
                    .map(decode_blob)
                    .collect::<Result<_, _>>()?,
            ),
            "L" => AttributeValue::L(
                list(member)?
                    .iter()
                    .map(decode_value)
                    .collect::<Result<_, _>>()?,
            ),
            "M" => match member {
                Value::Object(m) => AttributeValue::M(decode_item(m)?),
                Value::Array(_) => return Err(ser("Start of list found where not expected")),
                _ => return Err(ser("Expected map or null")),
            },
            // Coral drops members it does not know.
            _ => continue,
        };
        count += 1;
        found = Some(decoded);
    }
    match (count, found) {
        (1, Some(v)) => Ok(v),
        (0, _) | (_, None) => Err(WireError::Validation(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes".into(),
        )),
        _ => Err(WireError::Validation(
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
                .into(),
        )),
    }
}

fn list(v: &Value) -> Result<&Vec<Value>, WireError> {
    match v {
        Value::Array(items) => Ok(items),
        Value::Object(_) => Err(ser("Start of structure or map found where not expected.")),
        _ => Err(ser("Expected list or null")),
    }
}

fn decode_bool(v: &Value) -> Result<bool, WireError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => Err(ser(format!(
            "'{}' can not be converted to an Boolean",
            s.to_uppercase()
        ))),
        Value::Number(_) => Err(ser(
            "class java.lang.Integer can not be converted to an Boolean",
        )),
        Value::Array(_) => Err(ser("Start of list found where not expected")),
        _ => Err(ser("Start of structure or map found where not expected.")),
    }
}

fn decode_number(v: &Value) -> Result<Number, WireError> {
    let text = as_string(v)?;
    Number::parse(text).map_err(validation)
}

fn decode_blob(v: &Value) -> Result<Vec<u8>, WireError> {
    let text = match v {
        Value::String(s) => s.as_str(),
        Value::Bool(_) => {
            return Err(ser(
                "class java.lang.Boolean can not be converted to a Blob",
            ));
        }
        Value::Number(_) => {
            return Err(ser(
                "class java.lang.Integer can not be converted to a Blob",
            ));
        }
        Value::Array(_) => return Err(ser("Start of list found where not expected")),
        _ => return Err(ser("Start of structure or map found where not expected.")),
    };
    if text.len() % 4 != 0 {
        return Err(ser(format!(
            "'{text}' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: {}",
            text.len()
        )));
    }
    if let Some(bad) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')))
    {
        return Err(ser(format!(
            "'{text}' can not be converted to a Blob: Invalid Base64 character: '{bad}'"
        )));
    }
    BASE64.decode(text).map_err(|_| {
        ser(format!("'{text}' can not be converted to a Blob: Invalid last non-pad Base64 character dectected"))
    })
}

/// Encodes an attribute map.
pub fn encode_item(item: &Item) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), encode_value(v)))
            .collect(),
    )
}

/// Encodes one attribute value.
pub fn encode_value(value: &AttributeValue) -> Value {
    let (descriptor, member) = match value {
        AttributeValue::S(s) => ("S", Value::String(s.clone())),
        AttributeValue::N(n) => ("N", Value::String(n.as_str().to_string())),
        AttributeValue::B(b) => ("B", Value::String(BASE64.encode(b))),
        AttributeValue::Bool(b) => ("BOOL", Value::Bool(*b)),
        AttributeValue::Null => ("NULL", Value::Bool(true)),
        AttributeValue::Ss(items) => ("SS", items.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(items) => (
            "NS",
            items
                .iter()
                .map(|n| Value::String(n.as_str().to_string()))
                .collect(),
        ),
        AttributeValue::Bs(items) => (
            "BS",
            items
                .iter()
                .map(|b| Value::String(BASE64.encode(b)))
                .collect(),
        ),
        AttributeValue::L(items) => ("L", items.iter().map(encode_value).collect()),
        AttributeValue::M(map) => ("M", encode_item(map)),
    };
    let mut obj = Map::with_capacity(1);
    obj.insert(descriptor.to_string(), member);
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_type_round_trips() {
        let item = json!({
            "s": {"S": "héllo"}, "n": {"N": "1.50"}, "b": {"B": "AAEC"}, "t": {"BOOL": true},
            "z": {"NULL": true}, "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]},
            "bs": {"BS": ["AA==", "AQ=="]}, "l": {"L": [{"S": "x"}, {"N": "3"}]},
            "m": {"M": {"k": {"L": []}}}
        });
        let decoded = decode_item(item.as_object().unwrap()).unwrap();
        assert_eq!(decoded["b"], AttributeValue::B(vec![0, 1, 2]));
        let encoded = encode_item(&decoded);
        // Numbers come back in canonical form; everything else byte for byte.
        let mut expected = item.clone();
        expected["n"] = json!({"N": "1.5"});
        assert_eq!(encoded, expected);
    }

    #[test]
    fn malformed_values_get_dynamodb_errors() {
        let err = |v: Value| decode_value(&v).unwrap_err();
        assert_eq!(
            err(json!({})),
            WireError::Validation(
                "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes".into()
            )
        );
        assert_eq!(
            err(json!({"S": "a", "N": "1"})),
            WireError::Validation("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes".into())
        );
        assert_eq!(
            err(json!({"S": 1})),
            ser("class java.lang.Short can not be converted to an String")
        );
        assert_eq!(err(json!("x")), ser("Expected null"));
        assert_eq!(
            err(json!({"B": "abc"})),
            ser(
                "'abc' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: 3"
            )
        );
        assert!(matches!(err(json!({"N": "abc"})), WireError::Validation(_)));
        assert!(matches!(
            err(json!({"NULL": false})),
            WireError::Validation(_)
        ));
    }
}
