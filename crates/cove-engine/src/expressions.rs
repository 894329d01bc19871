//! Turns a request's condition, update and projection members into resolved `cove-expr`
//! trees: expression text is parsed and its placeholders resolved in DynamoDB's order, and
//! the legacy members (`Expected`, `AttributeUpdates`, `AttributesToGet`) are translated into
//! the same trees, so one evaluator serves both.

use cove_expr::{
    Comparator, Condition, ExprError, Function, Operand, Path, PathElement, Resolver, SetAction,
    SetValue, Update, UpdateClause, Value, ValueAction,
};
use cove_types::{AttributeValue, Item};
use cove_wire::members::{
    AttributeUpdate, ComparisonOperator, ConditionMembers, ConditionalOperator, ExpectedCondition,
    Placeholders, UpdateAction,
};
use cove_wire::read::FilterMembers;

use crate::{EngineError, Result};

impl From<ExprError> for EngineError {
    fn from(err: ExprError) -> Self {
        match err {
            ExprError::Validation(msg) => EngineError::Validation(msg),
            other => EngineError::Internal(other.to_string()),
        }
    }
}

/// What to project an item onto: expression paths or legacy top-level names.
#[derive(Debug, Clone)]
pub(crate) enum Projection {
    Paths(Vec<Path>),
    Names(Vec<String>),
}

impl Projection {
    /// The top-level attributes the projection keeps.
    pub(crate) fn top_level_names(&self) -> Vec<String> {
        match self {
            Projection::Paths(paths) => paths
                .iter()
                .filter_map(|p| p.top_level_name().map(str::to_owned))
                .collect(),
            Projection::Names(names) => names.clone(),
        }
    }

    pub(crate) fn apply(&self, item: Item) -> Item {
        match self {
            Projection::Paths(paths) => cove_expr::project(paths, &item),
            Projection::Names(names) => item
                .into_iter()
                .filter(|(k, _)| names.contains(k))
                .collect(),
        }
    }
}

fn resolver(placeholders: &Placeholders) -> Result<Resolver<'_>> {
    Ok(Resolver::new(
        placeholders.names.as_deref(),
        placeholders.values.as_deref(),
    )?)
}

/// A write's condition and update, resolved. DynamoDB checks the update before the
/// condition, then the unused placeholders across both.
pub(crate) fn prepare_write(
    condition: &ConditionMembers,
    update_expression: Option<&str>,
    attribute_updates: Option<&[(String, AttributeUpdate)]>,
    placeholders: &Placeholders,
) -> Result<(Option<Condition>, Option<Update>)> {
    let mut resolver = resolver(placeholders)?;
    let update = match (update_expression, attribute_updates) {
        (Some(text), _) => Some(resolver.update(cove_expr::parse_update(text)?)?),
        (None, Some(updates)) => Some(legacy_update(updates)),
        (None, None) => None,
    };
    let condition = match (&condition.expression, &condition.expected) {
        (Some(text), _) => Some(resolver.condition(
            cove_expr::ExpressionKind::Condition,
            cove_expr::parse_condition(text)?,
        )?),
        (None, Some(expected)) => legacy_condition(expected, condition.conditional_operator)?,
        (None, None) => None,
    };
    resolver.finish()?;
    Ok((condition, update))
}

/// The resolved expressions of a Query or Scan.
pub(crate) struct ReadExpressions {
    pub filter: Option<Condition>,
    pub projection: Option<Projection>,
    pub key_condition: Option<Condition>,
}

/// A Query's or Scan's filter, projection and key condition, resolved in DynamoDB's order
/// (filter, projection, key condition), then the unused-placeholder checks across all.
pub(crate) fn prepare_read(
    filter: &FilterMembers,
    projection_expression: Option<&str>,
    attributes_to_get: Option<&[String]>,
    key_condition_expression: Option<&str>,
    placeholders: &Placeholders,
) -> Result<ReadExpressions> {
    let mut resolver = resolver(placeholders)?;
    let filter = match (&filter.expression, &filter.legacy) {
        (Some(text), _) => Some(resolver.condition(
            cove_expr::ExpressionKind::Filter,
            cove_expr::parse_filter(text)?,
        )?),
        (None, Some(legacy)) => {
            let entries: Vec<(String, ExpectedCondition)> = legacy
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        ExpectedCondition::Compare(c.operator, c.values.clone()),
                    )
                })
                .collect();
            legacy_condition(&entries, filter.conditional_operator)?
        }
        (None, None) => None,
    };
    let projection = match (projection_expression, attributes_to_get) {
        (Some(text), _) => Some(Projection::Paths(
            resolver
                .projection(cove_expr::parse_projection(text)?)?
                .paths,
        )),
        (None, Some(names)) => Some(Projection::Names(names.to_vec())),
        (None, None) => None,
    };
    let key_condition = match key_condition_expression {
        Some(text) => Some(resolver.condition(
            cove_expr::ExpressionKind::KeyCondition,
            cove_expr::parse_key_condition(text)?,
        )?),
        None => None,
    };
    resolver.finish()?;
    Ok(ReadExpressions {
        filter,
        projection,
        key_condition,
    })
}

/// A read's projection, resolved.
pub(crate) fn prepare_projection(
    expression: Option<&str>,
    attributes_to_get: Option<&[String]>,
    placeholders: &Placeholders,
) -> Result<Option<Projection>> {
    let mut resolver = resolver(placeholders)?;
    let projection = match (expression, attributes_to_get) {
        (Some(text), _) => Some(Projection::Paths(
            resolver
                .projection(cove_expr::parse_projection(text)?)?
                .paths,
        )),
        (None, Some(names)) => Some(Projection::Names(names.to_vec())),
        (None, None) => None,
    };
    resolver.finish()?;
    Ok(projection)
}

fn top(name: &str) -> Path {
    Path::new(vec![PathElement::Name(name.to_owned())])
}

fn path_operand(name: &str) -> Operand {
    Operand::Path(top(name))
}

fn value_operand(value: &AttributeValue) -> Operand {
    Operand::Value(Value::Literal(value.clone()))
}

fn function(name: &str, args: Vec<Operand>) -> Condition {
    Condition::Function(Function {
        name: name.to_owned(),
        args,
    })
}

fn compare(op: Comparator, name: &str, value: &AttributeValue) -> Condition {
    Condition::Compare {
        op,
        left: path_operand(name),
        right: value_operand(value),
    }
}

/// One `Expected` entry as a condition. Legacy conditions name top-level attributes only:
/// a dot in the name is part of the name.
fn expected_condition(name: &str, expected: &ExpectedCondition) -> Result<Condition> {
    Ok(match expected {
        ExpectedCondition::NotExists => function("attribute_not_exists", vec![path_operand(name)]),
        ExpectedCondition::Equals(value) => compare(Comparator::Eq, name, value),
        ExpectedCondition::Compare(op, values) => {
            // The wire layer checked each operator's argument count.
            let arg = |i: usize| {
                values.get(i).ok_or_else(|| {
                    EngineError::Internal(format!("{} without its values", op.as_str()))
                })
            };
            let one = |c: Comparator| -> Result<Condition> { Ok(compare(c, name, arg(0)?)) };
            match op {
                ComparisonOperator::Eq => one(Comparator::Eq)?,
                ComparisonOperator::Ne => one(Comparator::Ne)?,
                ComparisonOperator::Lt => one(Comparator::Lt)?,
                ComparisonOperator::Le => one(Comparator::Le)?,
                ComparisonOperator::Gt => one(Comparator::Gt)?,
                ComparisonOperator::Ge => one(Comparator::Ge)?,
                ComparisonOperator::NotNull => {
                    function("attribute_exists", vec![path_operand(name)])
                }
                ComparisonOperator::Null => {
                    function("attribute_not_exists", vec![path_operand(name)])
                }
                ComparisonOperator::Contains => {
                    function("contains", vec![path_operand(name), value_operand(arg(0)?)])
                }
                // Unlike `NOT contains(...)`, the legacy operator fails on a missing attribute.
                ComparisonOperator::NotContains => Condition::And(
                    Box::new(function("attribute_exists", vec![path_operand(name)])),
                    Box::new(Condition::Not(Box::new(function(
                        "contains",
                        vec![path_operand(name), value_operand(arg(0)?)],
                    )))),
                ),
                ComparisonOperator::BeginsWith => function(
                    "begins_with",
                    vec![path_operand(name), value_operand(arg(0)?)],
                ),
                ComparisonOperator::In => Condition::In {
                    value: path_operand(name),
                    list: values.iter().map(value_operand).collect(),
                },
                ComparisonOperator::Between => Condition::Between {
                    value: path_operand(name),
                    low: value_operand(arg(0)?),
                    high: value_operand(arg(1)?),
                },
            }
        }
    })
}

/// A legacy `Expected` map (at least one entry) as one condition.
fn legacy_condition(
    expected: &[(String, ExpectedCondition)],
    operator: ConditionalOperator,
) -> Result<Option<Condition>> {
    let mut joined: Option<Condition> = None;
    for (name, e) in expected {
        let c = expected_condition(name, e)?;
        joined = Some(match joined {
            None => c,
            Some(acc) => match operator {
                ConditionalOperator::And => Condition::And(Box::new(acc), Box::new(c)),
                ConditionalOperator::Or => Condition::Or(Box::new(acc), Box::new(c)),
            },
        });
    }
    Ok(joined)
}

/// A legacy `AttributeUpdates` map as an update, one clause per action kind.
fn legacy_update(updates: &[(String, AttributeUpdate)]) -> Update {
    let mut set = Vec::new();
    let mut remove = Vec::new();
    let mut add = Vec::new();
    let mut delete = Vec::new();
    for (name, update) in updates {
        match (update.action, &update.value) {
            (UpdateAction::Put, Some(value)) => set.push(SetAction {
                path: top(name),
                value: SetValue::Operand(value_operand(value)),
            }),
            (UpdateAction::Delete, None) => remove.push(top(name)),
            (UpdateAction::Delete, Some(value)) => delete.push(ValueAction {
                path: top(name),
                value: Value::Literal(value.clone()),
            }),
            (UpdateAction::Add, Some(value)) => add.push(ValueAction {
                path: top(name),
                value: Value::Literal(value.clone()),
            }),
            // The wire layer refuses PUT and ADD without a value.
            (UpdateAction::Put | UpdateAction::Add, None) => {}
        }
    }
    let mut clauses = Vec::new();
    if !set.is_empty() {
        clauses.push(UpdateClause::Set(set));
    }
    if !remove.is_empty() {
        clauses.push(UpdateClause::Remove(remove));
    }
    if !add.is_empty() {
        clauses.push(UpdateClause::Add(add));
    }
    if !delete.is_empty() {
        clauses.push(UpdateClause::Delete(delete));
    }
    Update { clauses }
}

fn push_unique(out: &mut Vec<String>, name: &str) {
    if !out.iter().any(|n| n == name) {
        out.push(name.to_owned());
    }
}

/// `dynamodb:Attributes` of a write: the attributes of its key or item, and the top-level
/// attributes its update and condition name. `None` when the expressions do not parse (the
/// write itself then reports why).
pub fn write_attributes(
    key_or_item: &Item,
    condition: &ConditionMembers,
    update_expression: Option<&str>,
    attribute_updates: Option<&[(String, AttributeUpdate)]>,
    placeholders: &Placeholders,
) -> Option<Vec<String>> {
    let (condition, update) = prepare_write(
        condition,
        update_expression,
        attribute_updates,
        placeholders,
    )
    .ok()?;
    let mut out = Vec::new();
    for name in key_or_item.keys() {
        push_unique(&mut out, name);
    }
    if let Some(update) = &update {
        for path in update.target_paths() {
            if let Some(name) = path.top_level_name() {
                push_unique(&mut out, name);
            }
        }
    }
    if let Some(condition) = &condition {
        crate::query::path_heads(condition, &mut out);
    }
    Some(out)
}

/// `dynamodb:Attributes` of a read: the top-level attributes it projects and filters on;
/// `None` when it projects nothing in particular (all attributes) or does not parse.
pub fn read_attributes(
    filter: &FilterMembers,
    projection_expression: Option<&str>,
    attributes_to_get: Option<&[String]>,
    key_condition_expression: Option<&str>,
    placeholders: &Placeholders,
) -> Option<Vec<String>> {
    let exprs = prepare_read(
        filter,
        projection_expression,
        attributes_to_get,
        key_condition_expression,
        placeholders,
    )
    .ok()?;
    let mut out = exprs.projection.as_ref()?.top_level_names();
    if let Some(filter) = &exprs.filter {
        crate::query::path_heads(filter, &mut out);
    }
    Some(out)
}
