//! Shared helpers for the integration tests: building values and running an expression
//! through parse, resolve and finish the way the engine will.
#![allow(dead_code)]

use std::collections::BTreeMap;

use cove_expr::{
    Condition, ExprError, ExpressionKind, Projection, Resolver, Update, parse_condition,
    parse_projection, parse_update,
};
use cove_types::{AttributeValue, Item, Number};

pub fn s(x: &str) -> AttributeValue {
    AttributeValue::S(x.to_owned())
}

pub fn n(x: &str) -> AttributeValue {
    match Number::parse(x) {
        Ok(v) => AttributeValue::N(v),
        Err(e) => panic!("{x:?} should parse: {e}"),
    }
}

pub fn ss(xs: &[&str]) -> AttributeValue {
    AttributeValue::Ss(xs.iter().map(|x| (*x).to_owned()).collect())
}

pub fn ns(xs: &[&str]) -> AttributeValue {
    AttributeValue::Ns(
        xs.iter()
            .map(|x| match n(x) {
                AttributeValue::N(v) => v,
                _ => unreachable!("n() makes numbers"),
            })
            .collect(),
    )
}

pub fn l(xs: Vec<AttributeValue>) -> AttributeValue {
    AttributeValue::L(xs)
}

pub fn m(xs: Vec<(&str, AttributeValue)>) -> AttributeValue {
    AttributeValue::M(
        xs.into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<BTreeMap<_, _>>(),
    )
}

pub fn item(xs: Vec<(&str, AttributeValue)>) -> Item {
    xs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

pub type Names = Vec<(String, String)>;
pub type Values = Vec<(String, AttributeValue)>;

pub fn names(xs: &[(&str, &str)]) -> Option<Names> {
    (!xs.is_empty()).then(|| {
        xs.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    })
}

pub fn values(xs: Vec<(&str, AttributeValue)>) -> Option<Values> {
    (!xs.is_empty()).then(|| xs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// Parses and resolves one ConditionExpression and runs the unused checks.
pub fn condition(
    text: &str,
    name_map: &[(&str, &str)],
    value_map: Vec<(&str, AttributeValue)>,
) -> Result<Condition, ExprError> {
    let names = names(name_map);
    let values = values(value_map);
    let mut r = Resolver::new(names.as_deref(), values.as_deref())?;
    let c = r.condition(ExpressionKind::Condition, parse_condition(text)?)?;
    r.finish()?;
    Ok(c)
}

/// Parses and resolves one UpdateExpression and runs the unused checks.
pub fn update(
    text: &str,
    name_map: &[(&str, &str)],
    value_map: Vec<(&str, AttributeValue)>,
) -> Result<Update, ExprError> {
    let names = names(name_map);
    let values = values(value_map);
    let mut r = Resolver::new(names.as_deref(), values.as_deref())?;
    let u = r.update(parse_update(text)?)?;
    r.finish()?;
    Ok(u)
}

/// Parses and resolves one ProjectionExpression and runs the unused checks.
pub fn projection(text: &str, name_map: &[(&str, &str)]) -> Result<Projection, ExprError> {
    let names = names(name_map);
    let mut r = Resolver::new(names.as_deref(), None)?;
    let p = r.projection(parse_projection(text)?)?;
    r.finish()?;
    Ok(p)
}

/// The message of an expected validation error.
pub fn message<T: std::fmt::Debug>(result: Result<T, ExprError>) -> String {
    match result {
        Err(ExprError::Validation(m)) => m,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

/// Placeholder values for one test case.
pub type Bindings = Vec<(&'static str, AttributeValue)>;
