//! Typed reads of request members with DynamoDB's own errors: a member of the wrong JSON type
//! is a SerializationException worded as Coral words it, and constraint violations collect
//! into one ValidationException ("2 validation errors detected: ...").

use serde_json::{Map, Value};

use crate::WireError;

/// Parses a request body, which must be a JSON object.
pub fn parse_body(body: &[u8]) -> Result<Map<String, Value>, WireError> {
    if body.is_empty() {
        return Err(WireError::Serialization(String::new()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Array(_)) => Err(ser("Start of list found where not expected")),
        Ok(_) => Err(ser("Expected null")),
        Err(_) => Err(WireError::Serialization(String::new())),
    }
}

fn ser(msg: &str) -> WireError {
    WireError::Serialization(msg.to_string())
}

/// Coral's name for the Java class a JSON number would become.
fn number_class(n: &serde_json::Number) -> &'static str {
    match n.as_i64() {
        Some(v) if (-32768..=32767).contains(&v) => "java.lang.Short",
        Some(v) if (-2147483648..=2147483647).contains(&v) => "java.lang.Integer",
        Some(_) => "java.lang.Long",
        None if n.is_u64() => "java.lang.Long",
        None => "java.lang.Double",
    }
}

fn structural_mismatch(v: &Value) -> Option<WireError> {
    match v {
        Value::Array(_) => Some(ser("Start of list found where not expected")),
        Value::Object(_) => Some(ser("Start of structure or map found where not expected.")),
        _ => None,
    }
}

/// A JSON object read member by member. `null` members count as absent, as in DynamoDB.
#[derive(Clone, Copy)]
pub struct Obj<'a>(pub &'a Map<String, Value>);

impl<'a> Obj<'a> {
    /// The member's raw JSON, `None` when absent or null.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        match self.0.get(key) {
            Some(Value::Null) | None => None,
            Some(v) => Some(v),
        }
    }

    /// Whether the member is present and not null.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn string(&self, key: &str) -> Result<Option<&'a str>, WireError> {
        self.get(key).map(as_string).transpose()
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>, WireError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match v {
            Value::Bool(b) => Ok(Some(*b)),
            Value::Number(n) => {
                let class = number_class(n);
                if class == "java.lang.Double" {
                    // Coral accepts fractional numbers as booleans; so does Cove.
                    Ok(Some(n.as_f64().unwrap_or(0.0).abs() >= 1.0))
                } else {
                    Err(ser(&format!(
                        "class {class} can not be converted to an Boolean"
                    )))
                }
            }
            Value::String(s) => Err(ser(&format!(
                "'{}' can not be converted to an Boolean",
                s.to_uppercase()
            ))),
            other => Err(structural_mismatch(other).unwrap_or_else(|| ser("Expected null"))),
        }
    }

    /// A `Long` member. Fractions are floored, as Coral does.
    pub fn long(&self, key: &str) -> Result<Option<i64>, WireError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match v {
            Value::Number(n) => Ok(Some(match n.as_i64() {
                Some(i) => i,
                None => n.as_f64().map(|f| f.floor() as i64).unwrap_or(i64::MAX),
            })),
            Value::Bool(_) => Err(ser(
                "class java.lang.Boolean can not be converted to an Long",
            )),
            Value::String(_) => Err(ser(
                "class java.lang.String can not be converted to an Long",
            )),
            other => Err(structural_mismatch(other).unwrap_or_else(|| ser("Expected null"))),
        }
    }

    /// An `Integer` member (Limit, for instance).
    pub fn integer(&self, key: &str) -> Result<Option<i64>, WireError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match v {
            Value::Number(n) => Ok(Some(match n.as_i64() {
                Some(i) => i,
                None => n.as_f64().map(|f| f.floor() as i64).unwrap_or(i64::MAX),
            })),
            Value::Bool(_) => Err(ser(
                "class java.lang.Boolean can not be converted to an Integer",
            )),
            Value::String(_) => Err(ser(
                "class java.lang.String can not be converted to an Integer",
            )),
            other => Err(structural_mismatch(other).unwrap_or_else(|| ser("Expected null"))),
        }
    }

    pub fn list(&self, key: &str) -> Result<Option<&'a Vec<Value>>, WireError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match v {
            Value::Array(items) => Ok(Some(items)),
            Value::Object(_) => Err(ser("Start of structure or map found where not expected.")),
            _ => Err(ser("Expected list or null")),
        }
    }

    pub fn map(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, WireError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match v {
            Value::Object(m) => Ok(Some(m)),
            Value::Array(_) => Err(ser("Start of list found where not expected")),
            _ => Err(ser("Expected map or null")),
        }
    }

    pub fn structure(&self, key: &str) -> Result<Option<Obj<'a>>, WireError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        as_structure(v).map(Some)
    }
}

/// Reads a list element or member that must be a string.
pub fn as_string(v: &Value) -> Result<&str, WireError> {
    match v {
        Value::String(s) => Ok(s),
        Value::Bool(_) => Err(ser(
            "class java.lang.Boolean can not be converted to an String",
        )),
        Value::Number(n) => Err(ser(&format!(
            "class {} can not be converted to an String",
            number_class(n)
        ))),
        other => Err(structural_mismatch(other).unwrap_or_else(|| ser("Expected null"))),
    }
}

/// Reads a list element that must be a structure.
pub fn as_structure(v: &Value) -> Result<Obj<'_>, WireError> {
    match v {
        Value::Object(m) => Ok(Obj(m)),
        Value::Array(_) => Err(ser("Start of list found where not expected")),
        _ => Err(ser("Expected null")),
    }
}

/// Collects constraint violations in request order and renders them as DynamoDB does.
#[derive(Debug, Default)]
pub struct Violations {
    errors: Vec<String>,
}

impl Violations {
    pub fn new() -> Violations {
        Violations::default()
    }

    /// Records that `value` (already rendered; `None` for null) at `path` breaks `constraint`.
    pub fn push(&mut self, value: Option<&str>, path: &str, constraint: &str) {
        // DynamoDB reports at most ten violations.
        if self.errors.len() >= 10 {
            return;
        }
        let value = match value {
            Some(v) => format!("'{v}'"),
            None => "null".to_string(),
        };
        self.errors.push(format!(
            "Value {value} at '{path}' failed to satisfy constraint: {constraint}"
        ));
    }

    pub fn not_null(&mut self, present: bool, path: &str) {
        if !present {
            self.push(None, path, "Member must not be null");
        }
    }

    /// Length, pattern and other checks of a table or index name.
    pub fn name(&mut self, value: &str, path: &str, max: usize) {
        let len = value.chars().count();
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            self.push(
                Some(value),
                path,
                "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
            );
        }
        if len < 3 {
            self.push(
                Some(value),
                path,
                "Member must have length greater than or equal to 3",
            );
        }
        if len > max {
            self.push(
                Some(value),
                path,
                &format!("Member must have length less than or equal to {max}"),
            );
        }
    }

    pub fn one_of(&mut self, value: &str, path: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.push(
                Some(value),
                path,
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                ),
            );
        }
    }

    pub fn at_least(&mut self, value: i64, path: &str, min: i64) {
        if value < min {
            self.push(
                Some(&value.to_string()),
                path,
                &format!("Member must have value greater than or equal to {min}"),
            );
        }
    }

    pub fn at_most(&mut self, value: i64, path: &str, max: i64) {
        if value > max {
            self.push(
                Some(&value.to_string()),
                path,
                &format!("Member must have value less than or equal to {max}"),
            );
        }
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok` when nothing was recorded, else DynamoDB's combined ValidationException.
    pub fn finish(self) -> Result<(), WireError> {
        match self.errors.len() {
            0 => Ok(()),
            n => Err(WireError::Validation(format!(
                "{n} validation error{} detected: {}",
                if n > 1 { "s" } else { "" },
                self.errors.join("; ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_member_types_are_serialization_errors() {
        let body =
            parse_body(br#"{"TableName": 5, "Limit": "x", "Flag": "yes", "L": {}}"#).unwrap();
        let o = Obj(&body);
        assert_eq!(
            o.string("TableName"),
            Err(ser(
                "class java.lang.Short can not be converted to an String"
            ))
        );
        assert_eq!(
            o.integer("Limit"),
            Err(ser(
                "class java.lang.String can not be converted to an Integer"
            ))
        );
        assert_eq!(
            o.boolean("Flag"),
            Err(ser("'YES' can not be converted to an Boolean"))
        );
        assert_eq!(
            o.list("L"),
            Err(ser("Start of structure or map found where not expected."))
        );
        assert_eq!(o.string("Missing"), Ok(None));
    }

    #[test]
    fn bodies_that_are_not_objects_are_refused() {
        assert!(matches!(parse_body(b""), Err(WireError::Serialization(_))));
        assert!(matches!(parse_body(b"{"), Err(WireError::Serialization(_))));
        assert_eq!(
            parse_body(b"[]"),
            Err(ser("Start of list found where not expected"))
        );
    }

    #[test]
    fn violations_render_like_dynamodb() {
        let mut v = Violations::new();
        v.not_null(false, "tableName");
        assert_eq!(
            v.finish(),
            Err(WireError::Validation(
                "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null".into()
            ))
        );
        let mut v = Violations::new();
        v.name("a;", "tableName", 255);
        let Err(WireError::Validation(msg)) = v.finish() else {
            panic!("expected errors")
        };
        assert!(
            msg.starts_with("2 validation errors detected: Value 'a;' at 'tableName'"),
            "{msg}"
        );
    }
}
