//! The condition, update and projection members of item operations: expression members
//! (`ConditionExpression`, `UpdateExpression`, `ProjectionExpression` with
//! `ExpressionAttributeNames`/`Values`) and the legacy ones older SDKs still send (`Expected`
//! with `ConditionalOperator`, `AttributeUpdates`, `AttributesToGet`), decoded as sent, with
//! DynamoDB's rules on how they may be combined. The expression text itself is parsed by
//! `cove-expr`, in the engine.

use serde_json::{Map, Value};

use cove_types::AttributeValue;

use crate::WireError;
use crate::attr::decode_value;
use crate::json::{Obj, Violations, as_string, as_structure};

fn invalid(msg: impl Into<String>) -> WireError {
    WireError::Validation(msg.into())
}

const PARAM_INVALID: &str = "One or more parameter values were invalid: ";

/// A legacy comparison operator (`Expected`, `QueryFilter`, `ScanFilter`, `KeyConditions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComparisonOperator {
    Eq,
    Ne,
    In,
    Le,
    Lt,
    Ge,
    Gt,
    Between,
    NotNull,
    Null,
    Contains,
    NotContains,
    BeginsWith,
}

/// The enum values in the order DynamoDB lists them in its constraint message.
pub(crate) const COMPARISON_OPERATORS: &[&str] = &[
    "IN",
    "NULL",
    "BETWEEN",
    "LT",
    "NOT_CONTAINS",
    "EQ",
    "GT",
    "NOT_NULL",
    "NE",
    "LE",
    "BEGINS_WITH",
    "GE",
    "CONTAINS",
];

impl ComparisonOperator {
    pub(crate) fn parse(s: &str) -> Option<ComparisonOperator> {
        Some(match s {
            "EQ" => ComparisonOperator::Eq,
            "NE" => ComparisonOperator::Ne,
            "IN" => ComparisonOperator::In,
            "LE" => ComparisonOperator::Le,
            "LT" => ComparisonOperator::Lt,
            "GE" => ComparisonOperator::Ge,
            "GT" => ComparisonOperator::Gt,
            "BETWEEN" => ComparisonOperator::Between,
            "NOT_NULL" => ComparisonOperator::NotNull,
            "NULL" => ComparisonOperator::Null,
            "CONTAINS" => ComparisonOperator::Contains,
            "NOT_CONTAINS" => ComparisonOperator::NotContains,
            "BEGINS_WITH" => ComparisonOperator::BeginsWith,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ComparisonOperator::Eq => "EQ",
            ComparisonOperator::Ne => "NE",
            ComparisonOperator::In => "IN",
            ComparisonOperator::Le => "LE",
            ComparisonOperator::Lt => "LT",
            ComparisonOperator::Ge => "GE",
            ComparisonOperator::Gt => "GT",
            ComparisonOperator::Between => "BETWEEN",
            ComparisonOperator::NotNull => "NOT_NULL",
            ComparisonOperator::Null => "NULL",
            ComparisonOperator::Contains => "CONTAINS",
            ComparisonOperator::NotContains => "NOT_CONTAINS",
            ComparisonOperator::BeginsWith => "BEGINS_WITH",
        }
    }
}

/// One attribute's entry in a legacy `Expected` map, already checked for consistency.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedCondition {
    /// `{"Exists": false}`: the attribute must be absent.
    NotExists,
    /// `{"Value": v}` or `{"Value": v, "Exists": true}`: the attribute must equal `v`.
    Equals(AttributeValue),
    /// `{"ComparisonOperator": op, "AttributeValueList": [...]}` (or `Value` for one value).
    Compare(ComparisonOperator, Vec<AttributeValue>),
}

/// AND or OR, joining the entries of a legacy `Expected` map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConditionalOperator {
    #[default]
    And,
    Or,
}

/// The action of one legacy `AttributeUpdates` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateAction {
    Put,
    Add,
    Delete,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AttributeUpdate {
    pub action: UpdateAction,
    pub value: Option<AttributeValue>,
}

/// The condition members of a write: an expression or a legacy `Expected` map, never both.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConditionMembers {
    pub expression: Option<String>,
    pub expected: Option<Vec<(String, ExpectedCondition)>>,
    pub conditional_operator: ConditionalOperator,
}

/// ExpressionAttributeNames and ExpressionAttributeValues in request order (`None` when
/// absent), as `cove-expr`'s resolver wants them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Placeholders {
    pub names: Option<Vec<(String, String)>>,
    pub values: Option<Vec<(String, AttributeValue)>>,
}

impl Placeholders {
    pub(crate) fn decode(obj: Obj<'_>) -> Result<Placeholders, WireError> {
        let names = match obj.map("ExpressionAttributeNames")? {
            Some(map) => Some(
                map.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| Ok((k.clone(), as_string(v)?.to_string())))
                    .collect::<Result<Vec<_>, WireError>>()?,
            ),
            None => None,
        };
        let values = match obj.map("ExpressionAttributeValues")? {
            Some(map) => Some(
                map.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| Ok((k.clone(), decode_value(v)?)))
                    .collect::<Result<Vec<_>, WireError>>()?,
            ),
            None => None,
        };
        Ok(Placeholders { names, values })
    }
}

/// DynamoDB's rule that a request uses expressions or legacy members, not both, and that
/// placeholders come only with expressions. `expressions` and `legacy` name the members the
/// operation has, in DynamoDB's order; the check is on which of them the request carries.
pub(crate) fn check_expression_mix(
    obj: Obj<'_>,
    expressions: &[&str],
    legacy: &[&str],
) -> Result<(), WireError> {
    let present = |m: &&&str| obj.has(m);
    let used: Vec<&str> = expressions.iter().filter(present).copied().collect();
    if !used.is_empty() {
        let legacy_used: Vec<&str> = legacy.iter().filter(present).copied().collect();
        if !legacy_used.is_empty() {
            return Err(invalid(format!(
                "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{}}} Expression parameters: {{{}}}",
                legacy_used.join(", "),
                used.join(", ")
            )));
        }
    }
    if obj.has("ExpressionAttributeNames") && used.is_empty() {
        return Err(invalid(
            "ExpressionAttributeNames can only be specified when using expressions",
        ));
    }
    let value_expressions: Vec<&str> = expressions
        .iter()
        .filter(|m| **m != "ProjectionExpression")
        .copied()
        .collect();
    if !value_expressions.is_empty()
        && obj.has("ExpressionAttributeValues")
        && !value_expressions.iter().any(|m| obj.has(m))
    {
        return Err(invalid(format!(
            "ExpressionAttributeValues can only be specified when using expressions: {} {} null",
            value_expressions.join(" and "),
            if value_expressions.len() > 1 {
                "are"
            } else {
                "is"
            }
        )));
    }
    Ok(())
}

/// Reads `ConditionExpression`, `Expected` and `ConditionalOperator`. Constraint violations
/// go to `v`; consistency errors of `Expected` come from [`ConditionMembers::check`], which
/// runs after the combined constraint report.
pub(crate) fn decode_conditions(
    obj: Obj<'_>,
    v: &mut Violations,
) -> Result<RawConditions, WireError> {
    let expression = obj.string("ConditionExpression")?.map(str::to_string);
    let operator = match obj.string("ConditionalOperator")? {
        None | Some("AND") => ConditionalOperator::And,
        Some("OR") => ConditionalOperator::Or,
        Some(other) => {
            v.one_of(other, "conditionalOperator", &["AND", "OR"]);
            ConditionalOperator::And
        }
    };
    let expected = match obj.map("Expected")? {
        Some(map) => Some(decode_expected_raw(map, v)?),
        None => None,
    };
    Ok(RawConditions {
        expression,
        expected,
        operator,
        operator_given: obj.has("ConditionalOperator"),
    })
}

/// `Expected` as sent, before its consistency rules are applied.
pub(crate) struct RawConditions {
    expression: Option<String>,
    expected: Option<Vec<(String, RawExpected)>>,
    operator: ConditionalOperator,
    operator_given: bool,
}

pub(crate) struct RawExpected {
    value: Option<AttributeValue>,
    exists: Option<bool>,
    operator: Option<ComparisonOperator>,
    list: Option<Vec<AttributeValue>>,
}

fn decode_expected_raw(
    map: &Map<String, Value>,
    v: &mut Violations,
) -> Result<Vec<(String, RawExpected)>, WireError> {
    let mut out = Vec::with_capacity(map.len());
    for (name, entry) in map {
        if entry.is_null() {
            continue;
        }
        let e = as_structure(entry)?;
        let value = e.get("Value").map(decode_value).transpose()?;
        let exists = e.boolean("Exists")?;
        let operator = match e.string("ComparisonOperator")? {
            Some(s) => match ComparisonOperator::parse(s) {
                Some(op) => Some(op),
                None => {
                    v.one_of(
                        s,
                        &format!("expected.{name}.member.comparisonOperator"),
                        COMPARISON_OPERATORS,
                    );
                    None
                }
            },
            None => None,
        };
        let list = match e.list("AttributeValueList")? {
            Some(items) => Some(items.iter().map(decode_value).collect::<Result<_, _>>()?),
            None => None,
        };
        out.push((
            name.clone(),
            RawExpected {
                value,
                exists,
                operator,
                list,
            },
        ));
    }
    Ok(out)
}

impl RawConditions {
    /// Applies DynamoDB's consistency rules to `Expected`, in its order.
    pub(crate) fn check(self) -> Result<ConditionMembers, WireError> {
        // The texts of AWS's own DAX client, which checks requests as DynamoDB does.
        if self.operator_given {
            match &self.expected {
                None => {
                    return Err(invalid(
                        "ConditionalOperator cannot be used without Filter or Expected",
                    ));
                }
                Some(entries) if entries.len() <= 1 => {
                    return Err(invalid(
                        "ConditionalOperator can only be used when Filter or Expected has two or more elements",
                    ));
                }
                Some(_) => {}
            }
        }
        let expected = match self.expected {
            Some(entries) => Some(
                entries
                    .into_iter()
                    .map(|(name, raw)| Ok((name.clone(), check_expected(&name, raw)?)))
                    .collect::<Result<Vec<_>, WireError>>()?,
            ),
            None => None,
        };
        Ok(ConditionMembers {
            expression: self.expression,
            expected,
            conditional_operator: self.operator,
        })
    }
}

fn check_expected(name: &str, raw: RawExpected) -> Result<ExpectedCondition, WireError> {
    if raw.list.is_some() && raw.value.is_some() {
        return Err(invalid(format!(
            "{PARAM_INVALID}Value and AttributeValueList cannot be used together for Attribute: {name}"
        )));
    }
    if let Some(op) = raw.operator {
        if raw.exists.is_some() {
            return Err(invalid(format!(
                "{PARAM_INVALID}Exists and ComparisonOperator cannot be used together for Attribute: {name}"
            )));
        }
        let values: Vec<AttributeValue> = match (raw.list, raw.value) {
            (Some(list), _) => list,
            (None, Some(value)) => vec![value],
            (None, None) => {
                if !matches!(op, ComparisonOperator::Null | ComparisonOperator::NotNull) {
                    return Err(invalid(format!(
                        "{PARAM_INVALID}Value or AttributeValueList must be used with ComparisonOperator: {} for Attribute: {name}",
                        op.as_str()
                    )));
                }
                Vec::new()
            }
        };
        check_operator_arguments(op, &values)?;
        return Ok(ExpectedCondition::Compare(op, values));
    }
    if raw.list.is_some() {
        return Err(invalid(format!(
            "{PARAM_INVALID}AttributeValueList can only be used with a ComparisonOperator for Attribute: {name}"
        )));
    }
    let exists = raw.exists.unwrap_or(true);
    match (exists, raw.value) {
        (true, Some(value)) => Ok(ExpectedCondition::Equals(value)),
        (true, None) => Err(invalid(format!(
            "{PARAM_INVALID}Value must be provided when Exists is {} for Attribute: {name}",
            if raw.exists.is_some() { "true" } else { "null" }
        ))),
        (false, Some(_)) => Err(invalid(format!(
            "{PARAM_INVALID}Value cannot be used when Exists is false for Attribute: {name}"
        ))),
        (false, None) => Ok(ExpectedCondition::NotExists),
    }
}

/// The argument-count, same-type and BETWEEN-order rules of a legacy comparison.
pub(crate) fn check_operator_arguments(
    op: ComparisonOperator,
    values: &[AttributeValue],
) -> Result<(), WireError> {
    let count_ok = match op {
        ComparisonOperator::Null | ComparisonOperator::NotNull => values.is_empty(),
        ComparisonOperator::In => !values.is_empty(),
        ComparisonOperator::Between => values.len() == 2,
        _ => values.len() == 1,
    };
    if !count_ok {
        return Err(invalid(format!(
            "{PARAM_INVALID}Invalid number of argument(s) for the {} ComparisonOperator",
            op.as_str()
        )));
    }
    if let Some(first) = values.first()
        && values
            .iter()
            .any(|x| std::mem::discriminant(x) != std::mem::discriminant(first))
    {
        return Err(invalid(format!(
            "{PARAM_INVALID}AttributeValues inside AttributeValueList must be of same type"
        )));
    }
    if op == ComparisonOperator::Between && scalar_gt(&values[0], &values[1]) {
        return Err(invalid(
            "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound",
        ));
    }
    Ok(())
}

/// Whether `a` sorts after `b` as DynamoDB orders key values: numbers by value, strings and
/// binaries by bytes. Values of other or different types are not ordered.
fn scalar_gt(a: &AttributeValue, b: &AttributeValue) -> bool {
    match (a, b) {
        (AttributeValue::N(x), AttributeValue::N(y)) => x > y,
        (AttributeValue::S(x), AttributeValue::S(y)) => x.as_bytes() > y.as_bytes(),
        (AttributeValue::B(x), AttributeValue::B(y)) => x > y,
        _ => false,
    }
}

/// Reads a legacy `AttributeUpdates` map.
pub(crate) fn decode_attribute_updates(
    obj: Obj<'_>,
    v: &mut Violations,
) -> Result<Option<Vec<(String, AttributeUpdate)>>, WireError> {
    let Some(map) = obj.map("AttributeUpdates")? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(map.len());
    for (name, entry) in map {
        if entry.is_null() {
            continue;
        }
        let e = as_structure(entry)?;
        let value = e.get("Value").map(decode_value).transpose()?;
        let action = match e.string("Action")? {
            None | Some("PUT") => UpdateAction::Put,
            Some("ADD") => UpdateAction::Add,
            Some("DELETE") => UpdateAction::Delete,
            Some(other) => {
                v.one_of(
                    other,
                    &format!("attributeUpdates.{name}.member.action"),
                    &["ADD", "PUT", "DELETE"],
                );
                UpdateAction::Put
            }
        };
        out.push((name.clone(), AttributeUpdate { action, value }));
    }
    Ok(Some(out))
}

/// The rules on each `AttributeUpdates` entry's action and value, in DynamoDB's order.
pub(crate) fn check_attribute_updates(
    updates: &Option<Vec<(String, AttributeUpdate)>>,
) -> Result<(), WireError> {
    for (_, update) in updates.iter().flatten() {
        let type_name = update.value.as_ref().map(AttributeValue::type_name);
        match (update.action, type_name) {
            (UpdateAction::Put | UpdateAction::Add, None) => {
                return Err(invalid(format!(
                    "{PARAM_INVALID}Only DELETE action is allowed when no attribute value is specified"
                )));
            }
            (UpdateAction::Delete, Some(ty)) if !matches!(ty, "SS" | "NS" | "BS") => {
                return Err(invalid(format!(
                    "{PARAM_INVALID}DELETE action with value is not supported for the type {ty}"
                )));
            }
            (UpdateAction::Add, Some(ty)) if !matches!(ty, "SS" | "NS" | "BS" | "N") => {
                return Err(invalid(format!(
                    "{PARAM_INVALID}ADD action is not supported for the type {ty}"
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads `AttributesToGet` (legacy projection), with its constraint and duplicate checks.
pub(crate) fn decode_attributes_to_get(
    obj: Obj<'_>,
    v: &mut Violations,
) -> Result<Option<Vec<String>>, WireError> {
    let Some(list) = obj.list("AttributesToGet")? else {
        return Ok(None);
    };
    let names = list
        .iter()
        .map(|x| as_string(x).map(str::to_string))
        .collect::<Result<Vec<_>, _>>()?;
    if names.is_empty() {
        v.push(
            Some("[]"),
            "attributesToGet",
            "Member must have length greater than or equal to 1",
        );
    }
    Ok(Some(names))
}

/// The duplicate check on `AttributesToGet`, which DynamoDB makes after the constraints.
pub(crate) fn check_attributes_to_get(names: &Option<Vec<String>>) -> Result<(), WireError> {
    if let Some(names) = names {
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(invalid(format!(
                    "{PARAM_INVALID}Duplicate value in attribute name: {n}"
                )));
            }
        }
    }
    Ok(())
}
