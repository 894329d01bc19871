//! Typed inputs of Query and Scan, decoded with DynamoDB's checks in DynamoDB's order: member
//! types, then the combined constraint report, then the rules on combining members (expression
//! and legacy members, `Select` with projections, `Segment` with `TotalSegments`), then the
//! legacy condition maps (`KeyConditions`, `QueryFilter`, `ScanFilter`).
//!
//! The expression texts are parsed in the engine, which also applies the rules that need the
//! table's key schema (which key a condition names, whether a filter touches a key).

use serde_json::{Map, Value};

use cove_types::{AttributeValue, Item};

use crate::WireError;
use crate::attr::{decode_item, decode_value};
use crate::input::{ReturnConsumedCapacity, decode_return_consumed_capacity, decode_table_member};
use crate::json::{Obj, Violations, as_structure};
use crate::members::{
    COMPARISON_OPERATORS, ComparisonOperator, ConditionalOperator, Placeholders,
    check_attributes_to_get, check_expression_mix, check_operator_arguments,
    decode_attributes_to_get,
};

fn invalid(msg: impl Into<String>) -> WireError {
    WireError::Validation(msg.into())
}

/// What a Query or Scan returns of each item: `Select`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    AllAttributes,
    AllProjectedAttributes,
    SpecificAttributes,
    Count,
}

impl Select {
    fn parse(s: &str) -> Option<Select> {
        Some(match s {
            "ALL_ATTRIBUTES" => Select::AllAttributes,
            "ALL_PROJECTED_ATTRIBUTES" => Select::AllProjectedAttributes,
            "SPECIFIC_ATTRIBUTES" => Select::SpecificAttributes,
            "COUNT" => Select::Count,
            _ => return None,
        })
    }

    /// How DynamoDB names the choice in "Cannot specify the … when choosing to get …".
    fn described(self) -> &'static str {
        match self {
            Select::AllAttributes => "ALL_ATTRIBUTES",
            Select::AllProjectedAttributes => "ALL_PROJECTED_ATTRIBUTES",
            Select::SpecificAttributes => "SPECIFIC_ATTRIBUTES",
            Select::Count => "only the Count",
        }
    }
}

/// One entry of a legacy condition map (`KeyConditions`, `QueryFilter`, `ScanFilter`):
/// attribute name, operator and its checked arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyCondition {
    pub name: String,
    pub operator: ComparisonOperator,
    pub values: Vec<AttributeValue>,
}

/// A read's filter: a FilterExpression or a legacy filter map, never both.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FilterMembers {
    pub expression: Option<String>,
    pub legacy: Option<Vec<LegacyCondition>>,
    pub conditional_operator: ConditionalOperator,
}

/// The members Query and Scan share.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadCommon {
    pub table_name: String,
    pub index_name: Option<String>,
    pub select: Option<Select>,
    pub attributes_to_get: Option<Vec<String>>,
    pub projection_expression: Option<String>,
    /// `Limit`: items read (before the filter) per page.
    pub limit: Option<usize>,
    pub consistent_read: bool,
    pub filter: FilterMembers,
    pub exclusive_start_key: Option<Item>,
    pub placeholders: Placeholders,
    pub return_consumed_capacity: ReturnConsumedCapacity,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueryInput {
    pub common: ReadCommon,
    pub key_condition_expression: Option<String>,
    pub key_conditions: Option<Vec<LegacyCondition>>,
    pub scan_index_forward: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScanInput {
    pub common: ReadCommon,
    /// `(Segment, TotalSegments)` of a parallel scan.
    pub segment: Option<(u32, u32)>,
}

/// A legacy condition map as sent: entries whose operator failed its enum constraint are
/// `None` (already reported).
type RawConditionMap = Vec<(String, Option<ComparisonOperator>, Vec<AttributeValue>)>;

fn decode_condition_map(
    obj: Obj<'_>,
    member: &str,
    path: &str,
    v: &mut Violations,
) -> Result<Option<RawConditionMap>, WireError> {
    let Some(map) = obj.map(member)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(map.len());
    for (name, entry) in map {
        if entry.is_null() {
            continue;
        }
        let e = as_structure(entry)?;
        let values = match e.list("AttributeValueList")? {
            Some(items) => items.iter().map(decode_value).collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let operator = match e.string("ComparisonOperator")? {
            Some(s) => match ComparisonOperator::parse(s) {
                Some(op) => Some(op),
                None => {
                    v.one_of(
                        s,
                        &format!("{path}.{name}.member.comparisonOperator"),
                        COMPARISON_OPERATORS,
                    );
                    None
                }
            },
            None => {
                v.not_null(false, &format!("{path}.{name}.member.comparisonOperator"));
                None
            }
        };
        out.push((name.clone(), operator, values));
    }
    Ok(Some(out))
}

/// The argument rules of a legacy filter or key condition, in DynamoDB's order: count, one
/// type, the types each operator accepts, then BETWEEN's order.
fn check_condition_map(
    raw: Option<RawConditionMap>,
) -> Result<Option<Vec<LegacyCondition>>, WireError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(raw.len());
    for (name, operator, values) in raw {
        // A missing or unknown operator was reported with the constraints.
        let Some(operator) = operator else { continue };
        let allowed: &[&str] = match operator {
            ComparisonOperator::Eq | ComparisonOperator::Ne => &["S", "N", "B", "SS", "NS", "BS"],
            ComparisonOperator::BeginsWith => &["S", "B"],
            ComparisonOperator::Null | ComparisonOperator::NotNull => &[],
            _ => &["S", "N", "B"],
        };
        let count_then_types = check_operator_arguments(operator, &values).map(|()| {
            values
                .iter()
                .find(|x| !allowed.contains(&x.type_name()))
                .map(|x| x.type_name())
        });
        match count_then_types {
            // BETWEEN's order is checked last, after the types.
            Err(WireError::Validation(m)) if m.starts_with("The BETWEEN condition") => {
                if let Some(t) = values.iter().find(|x| !allowed.contains(&x.type_name())) {
                    return Err(wrong_type(operator, t.type_name()));
                }
                return Err(WireError::Validation(m));
            }
            Err(e) => return Err(e),
            Ok(Some(t)) => return Err(wrong_type(operator, t)),
            Ok(None) => {}
        }
        out.push(LegacyCondition {
            name,
            operator,
            values,
        });
    }
    Ok(Some(out))
}

fn wrong_type(operator: ComparisonOperator, type_name: &str) -> WireError {
    invalid(format!(
        "One or more parameter values were invalid: ComparisonOperator {} is not valid for {type_name} AttributeValue type",
        operator.as_str()
    ))
}

/// The `Select` rules, in DynamoDB's order: a projection only with SPECIFIC_ATTRIBUTES,
/// SPECIFIC_ATTRIBUTES only with a projection, ALL_PROJECTED_ATTRIBUTES only on an index.
fn check_select(common: &ReadCommon) -> Result<(), WireError> {
    let Some(select) = common.select else {
        return Ok(());
    };
    let projection = if common.projection_expression.is_some() {
        Some("ProjectionExpression")
    } else if common.attributes_to_get.is_some() {
        Some("AttributesToGet")
    } else {
        None
    };
    match (select, projection) {
        (Select::SpecificAttributes, None) => {
            return Err(invalid(
                "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES",
            ));
        }
        (Select::SpecificAttributes, Some(_)) => {}
        (other, Some(member)) => {
            return Err(invalid(format!(
                "Cannot specify the {member} when choosing to get {}",
                other.described()
            )));
        }
        (_, None) => {}
    }
    if select == Select::AllProjectedAttributes && common.index_name.is_none() {
        return Err(invalid(
            "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
        ));
    }
    Ok(())
}

/// The ConditionalOperator rules of a legacy filter (texts of AWS's DAX client, which checks
/// requests as DynamoDB does).
fn check_conditional_operator(
    obj: Obj<'_>,
    filter: &Option<RawConditionMap>,
) -> Result<(), WireError> {
    if !obj.has("ConditionalOperator") {
        return Ok(());
    }
    match filter {
        None => Err(invalid(
            "ConditionalOperator cannot be used without Filter or Expected",
        )),
        Some(entries) if entries.len() <= 1 => Err(invalid(
            "ConditionalOperator can only be used when Filter or Expected has two or more elements",
        )),
        Some(_) => Ok(()),
    }
}

fn decode_select(obj: Obj<'_>, v: &mut Violations) -> Result<Option<Select>, WireError> {
    Ok(match obj.string("Select")? {
        None => None,
        Some(s) => match Select::parse(s) {
            Some(sel) => Some(sel),
            None => {
                v.one_of(
                    s,
                    "select",
                    &[
                        "SPECIFIC_ATTRIBUTES",
                        "COUNT",
                        "ALL_ATTRIBUTES",
                        "ALL_PROJECTED_ATTRIBUTES",
                    ],
                );
                None
            }
        },
    })
}

fn decode_conditional_operator(
    obj: Obj<'_>,
    v: &mut Violations,
) -> Result<ConditionalOperator, WireError> {
    Ok(match obj.string("ConditionalOperator")? {
        None | Some("AND") => ConditionalOperator::And,
        Some("OR") => ConditionalOperator::Or,
        Some(other) => {
            v.one_of(other, "conditionalOperator", &["AND", "OR"]);
            ConditionalOperator::And
        }
    })
}

fn decode_limit(obj: Obj<'_>, v: &mut Violations) -> Result<Option<usize>, WireError> {
    let limit = obj.integer("Limit")?;
    if let Some(l) = limit {
        v.at_least(l, "limit", 1);
    }
    Ok(limit.filter(|l| *l >= 1).map(|l| l as usize))
}

fn decode_index_name(obj: Obj<'_>, v: &mut Violations) -> Result<Option<String>, WireError> {
    let name = obj.string("IndexName")?;
    if let Some(name) = name {
        v.name(name, "indexName", 255);
    }
    Ok(name.map(str::to_string))
}

fn decode_start_key(obj: Obj<'_>) -> Result<Option<Item>, WireError> {
    match obj.map("ExclusiveStartKey")? {
        Some(map) => Ok(Some(decode_item(map)?)),
        None => Ok(None),
    }
}

impl QueryInput {
    pub fn decode(body: &Map<String, Value>) -> Result<QueryInput, WireError> {
        let obj = Obj(body);
        let mut v = Violations::new();
        // Members in the order of DynamoDB's QueryInput shape, which orders its report.
        let table_name = decode_table_member(obj, &mut v)?;
        let index_name = decode_index_name(obj, &mut v)?;
        let select = decode_select(obj, &mut v)?;
        let attributes_to_get = decode_attributes_to_get(obj, &mut v)?;
        let limit = decode_limit(obj, &mut v)?;
        let consistent_read = obj.boolean("ConsistentRead")?.unwrap_or(false);
        let key_conditions = decode_condition_map(obj, "KeyConditions", "keyConditions", &mut v)?;
        let query_filter = decode_condition_map(obj, "QueryFilter", "queryFilter", &mut v)?;
        let conditional_operator = decode_conditional_operator(obj, &mut v)?;
        let scan_index_forward = obj.boolean("ScanIndexForward")?.unwrap_or(true);
        let exclusive_start_key = decode_start_key(obj)?;
        let rcc = decode_return_consumed_capacity(obj, &mut v)?;
        let projection_expression = obj.string("ProjectionExpression")?.map(str::to_string);
        let filter_expression = obj.string("FilterExpression")?.map(str::to_string);
        let key_condition_expression = obj.string("KeyConditionExpression")?.map(str::to_string);
        let placeholders = Placeholders::decode(obj)?;
        v.finish()?;
        // KeyConditions may go with the other expressions only when there is no
        // KeyConditionExpression: it is the one legacy member DynamoDB lets mix.
        let legacy: &[&str] = if key_condition_expression.is_none() {
            &["AttributesToGet", "QueryFilter", "ConditionalOperator"]
        } else {
            &[
                "AttributesToGet",
                "QueryFilter",
                "ConditionalOperator",
                "KeyConditions",
            ]
        };
        check_expression_mix(
            obj,
            &[
                "ProjectionExpression",
                "FilterExpression",
                "KeyConditionExpression",
            ],
            legacy,
        )?;
        check_conditional_operator(obj, &query_filter)?;
        let legacy_filter = check_condition_map(query_filter)?;
        check_attributes_to_get(&attributes_to_get)?;
        if key_conditions.is_none() && key_condition_expression.is_none() {
            return Err(invalid(
                "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
            ));
        }
        let key_conditions = check_condition_map(key_conditions)?;
        if let Some(conditions) = &key_conditions
            && !(1..=2).contains(&conditions.len())
        {
            return Err(invalid("Conditions can be of length 1 or 2 only"));
        }
        let common = ReadCommon {
            table_name,
            index_name,
            select,
            attributes_to_get,
            projection_expression,
            limit,
            consistent_read,
            filter: FilterMembers {
                expression: filter_expression,
                legacy: legacy_filter,
                conditional_operator,
            },
            exclusive_start_key,
            placeholders,
            return_consumed_capacity: rcc,
        };
        check_select(&common)?;
        Ok(QueryInput {
            common,
            key_condition_expression,
            key_conditions,
            scan_index_forward,
        })
    }
}

impl ScanInput {
    pub fn decode(body: &Map<String, Value>) -> Result<ScanInput, WireError> {
        let obj = Obj(body);
        let mut v = Violations::new();
        // Members in the order of DynamoDB's ScanInput shape, which orders its report.
        let table_name = decode_table_member(obj, &mut v)?;
        let index_name = decode_index_name(obj, &mut v)?;
        let attributes_to_get = decode_attributes_to_get(obj, &mut v)?;
        let limit = decode_limit(obj, &mut v)?;
        let select = decode_select(obj, &mut v)?;
        let scan_filter = decode_condition_map(obj, "ScanFilter", "scanFilter", &mut v)?;
        let conditional_operator = decode_conditional_operator(obj, &mut v)?;
        let exclusive_start_key = decode_start_key(obj)?;
        let rcc = decode_return_consumed_capacity(obj, &mut v)?;
        let total_segments = obj.integer("TotalSegments")?;
        if let Some(t) = total_segments {
            v.at_least(t, "totalSegments", 1);
            v.at_most(t, "totalSegments", 1_000_000);
        }
        let segment = obj.integer("Segment")?;
        if let Some(s) = segment {
            v.at_least(s, "segment", 0);
            v.at_most(s, "segment", 999_999);
        }
        let projection_expression = obj.string("ProjectionExpression")?.map(str::to_string);
        let filter_expression = obj.string("FilterExpression")?.map(str::to_string);
        let placeholders = Placeholders::decode(obj)?;
        let consistent_read = obj.boolean("ConsistentRead")?.unwrap_or(false);
        v.finish()?;
        check_expression_mix(
            obj,
            &["ProjectionExpression", "FilterExpression"],
            &["AttributesToGet", "ScanFilter", "ConditionalOperator"],
        )?;
        check_attributes_to_get(&attributes_to_get)?;
        check_conditional_operator(obj, &scan_filter)?;
        let legacy_filter = check_condition_map(scan_filter)?;
        let segment = match (segment, total_segments) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
                ));
            }
            (Some(s), Some(t)) if s >= t => {
                return Err(invalid(format!(
                    "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {t}"
                )));
            }
            // The constraints above keep both within u32.
            (Some(s), Some(t)) => Some((s as u32, t as u32)),
        };
        let common = ReadCommon {
            table_name,
            index_name,
            select,
            attributes_to_get,
            projection_expression,
            limit,
            consistent_read,
            filter: FilterMembers {
                expression: filter_expression,
                legacy: legacy_filter,
                conditional_operator,
            },
            exclusive_start_key,
            placeholders,
            return_consumed_capacity: rcc,
        };
        check_select(&common)?;
        Ok(ScanInput { common, segment })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(v: Value) -> Result<QueryInput, WireError> {
        QueryInput::decode(v.as_object().unwrap())
    }

    fn scan(v: Value) -> Result<ScanInput, WireError> {
        ScanInput::decode(v.as_object().unwrap())
    }

    fn err(m: &str) -> WireError {
        WireError::Validation(m.to_string())
    }

    #[test]
    fn query_needs_a_key_condition() {
        assert_eq!(
            query(json!({"TableName": "abc"})).unwrap_err(),
            err(
                "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."
            )
        );
        let ok = query(json!({"TableName": "abc", "KeyConditionExpression": "a = :a", "ExpressionAttributeValues": {":a": {"S": "x"}}})).unwrap();
        assert!(ok.scan_index_forward);
        assert_eq!(ok.common.limit, None);
    }

    #[test]
    fn query_constraints_are_reported_together() {
        assert_eq!(
            query(json!({"TableName": "a", "Limit": 0, "Select": "SOME"})).unwrap_err(),
            err(
                "3 validation errors detected: Value 'a' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3; Value 'SOME' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]; Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
            )
        );
    }

    #[test]
    fn select_rules() {
        let base = |extra: Value| {
            let mut body = json!({"TableName": "abc", "KeyConditions": {"a": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]}}});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            query(body)
        };
        assert_eq!(
            base(json!({"Select": "COUNT", "AttributesToGet": ["b"]})).unwrap_err(),
            err("Cannot specify the AttributesToGet when choosing to get only the Count")
        );
        assert_eq!(
            base(json!({"Select": "SPECIFIC_ATTRIBUTES"})).unwrap_err(),
            err(
                "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"
            )
        );
        assert_eq!(
            base(json!({"Select": "ALL_PROJECTED_ATTRIBUTES"})).unwrap_err(),
            err("ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName")
        );
        assert_eq!(
            base(json!({"Select": "ALL_PROJECTED_ATTRIBUTES", "IndexName": "idx"}))
                .unwrap()
                .common
                .select,
            Some(Select::AllProjectedAttributes)
        );
    }

    #[test]
    fn legacy_conditions_are_checked() {
        assert_eq!(
            query(json!({"TableName": "abc", "KeyConditions": {}})).unwrap_err(),
            err("Conditions can be of length 1 or 2 only")
        );
        assert_eq!(
            query(json!({"TableName": "abc", "KeyConditions": {"a": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"N": "1"}]}}})).unwrap_err(),
            err("One or more parameter values were invalid: ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type")
        );
        assert_eq!(
            scan(json!({"TableName": "abc", "ScanFilter": {"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}]}}})).unwrap_err(),
            err("One or more parameter values were invalid: Invalid number of argument(s) for the BETWEEN ComparisonOperator")
        );
        assert_eq!(
            scan(json!({"TableName": "abc", "ScanFilter": {"a": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}}, "ConditionalOperator": "OR"})).unwrap_err(),
            err("ConditionalOperator can only be used when Filter or Expected has two or more elements")
        );
        assert_eq!(
            scan(json!({"TableName": "abc", "ScanFilter": {"a": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}}, "FilterExpression": "b = :b"})).unwrap_err(),
            err("Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {ScanFilter} Expression parameters: {FilterExpression}")
        );
    }

    #[test]
    fn segments_go_together() {
        assert_eq!(
            scan(json!({"TableName": "abc", "Segment": 1})).unwrap_err(),
            err(
                "The TotalSegments parameter is required but was not present in the request when Segment parameter is present"
            )
        );
        assert_eq!(
            scan(json!({"TableName": "abc", "TotalSegments": 2})).unwrap_err(),
            err(
                "The Segment parameter is required but was not present in the request when parameter TotalSegments is present"
            )
        );
        assert_eq!(
            scan(json!({"TableName": "abc", "Segment": 2, "TotalSegments": 2})).unwrap_err(),
            err(
                "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: 2 is not less than TotalSegments: 2"
            )
        );
        assert_eq!(
            scan(json!({"TableName": "abc", "Segment": 1, "TotalSegments": 2}))
                .unwrap()
                .segment,
            Some((1, 2))
        );
    }
}
