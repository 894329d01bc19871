//! Condition evaluation with DynamoDB's semantics: reading document paths from an item,
//! comparing values, and the condition functions.
//!
//! The rules (AWS developer guide "Condition and filter expressions, operators and
//! functions"; KeyValueStore.com's expression tester, checked against DynamoDB Local):
//! a comparison of a missing attribute, or of values of different types, is false, never an
//! error, except `<>`, which is true unless both sides exist and are equal; `<`, `<=`, `>`,
//! `>=` and BETWEEN order only S (by UTF-8 bytes), N (numerically) and B (by bytes); equality
//! is deep, with sets compared as sets and numbers by value.

use std::borrow::Cow;
use std::cmp::Ordering;

use cove_types::{AttributeValue, Item, Number};

use crate::ExprError;
use crate::ast::{Comparator, Condition, Function, Operand, Path, PathElement, Value};

/// The value at `path` in `item`, or `None` when any step is missing or of the wrong type.
pub(crate) fn get_path<'i>(
    item: &'i Item,
    path: &[PathElement],
) -> Result<Option<&'i AttributeValue>, ExprError> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(None);
    };
    let mut current = match first {
        PathElement::Name(name) => item.get(name),
        PathElement::Index(_) => None,
        PathElement::Placeholder(p) => return Err(ExprError::Internal(p.clone())),
    };
    for element in rest {
        current = match (current, element) {
            (_, PathElement::Placeholder(p)) => return Err(ExprError::Internal(p.clone())),
            (Some(AttributeValue::M(map)), PathElement::Name(name)) => map.get(name),
            (Some(AttributeValue::L(list)), PathElement::Index(i)) => {
                usize::try_from(*i).ok().and_then(|i| list.get(i))
            }
            _ => None,
        };
        if current.is_none() {
            return Ok(None);
        }
    }
    Ok(current)
}

/// The order of two values of the same scalar type: S by UTF-8 bytes, N numerically, B by
/// bytes. `None` for any other pair, which DynamoDB cannot order.
pub fn compare_values(a: &AttributeValue, b: &AttributeValue) -> Option<Ordering> {
    match (a, b) {
        (AttributeValue::S(x), AttributeValue::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (AttributeValue::N(x), AttributeValue::N(y)) => Some(x.cmp(y)),
        (AttributeValue::B(x), AttributeValue::B(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Deep equality as DynamoDB's `=` sees it: same type, numbers by value, sets as sets.
pub(crate) fn values_equal(a: &AttributeValue, b: &AttributeValue) -> bool {
    use AttributeValue as V;
    match (a, b) {
        (V::S(x), V::S(y)) => x == y,
        (V::N(x), V::N(y)) => x == y,
        (V::B(x), V::B(y)) => x == y,
        (V::Bool(x), V::Bool(y)) => x == y,
        (V::Null, V::Null) => true,
        (V::L(x), V::L(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q))
        }
        (V::M(x), V::M(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        (V::Ss(x), V::Ss(y)) => x.len() == y.len() && x.iter().all(|m| y.contains(m)),
        (V::Ns(x), V::Ns(y)) => x.len() == y.len() && x.iter().all(|m| y.contains(m)),
        (V::Bs(x), V::Bs(y)) => x.len() == y.len() && x.iter().all(|m| y.contains(m)),
        _ => false,
    }
}

/// What `size()` gives for a value: the length of a string (in UTF-16 code units, as Java's
/// `String.length` counts, which is what DynamoDB's Java runtime uses), the bytes of a
/// binary, the members of a set, list or map; nothing for N, BOOL and NULL.
fn size_of(v: &AttributeValue) -> Option<usize> {
    match v {
        AttributeValue::S(s) => Some(s.encode_utf16().count()),
        AttributeValue::B(b) => Some(b.len()),
        AttributeValue::Ss(x) => Some(x.len()),
        AttributeValue::Ns(x) => Some(x.len()),
        AttributeValue::Bs(x) => Some(x.len()),
        AttributeValue::L(x) => Some(x.len()),
        AttributeValue::M(x) => Some(x.len()),
        AttributeValue::N(_) | AttributeValue::Bool(_) | AttributeValue::Null => None,
    }
}

fn path_value<'i>(item: &'i Item, path: &Path) -> Result<Option<&'i AttributeValue>, ExprError> {
    get_path(item, &path.elements)
}

/// An operand's value for one item, or `None` when it has none (a missing attribute, or
/// `size()` of something without a size).
fn operand_value<'v>(
    operand: &'v Operand,
    item: &'v Item,
) -> Result<Option<Cow<'v, AttributeValue>>, ExprError> {
    match operand {
        Operand::Path(p) => Ok(path_value(item, p)?.map(Cow::Borrowed)),
        Operand::Value(Value::Literal(v)) => Ok(Some(Cow::Borrowed(v))),
        Operand::Value(Value::Placeholder(p)) => Err(ExprError::Internal(p.clone())),
        Operand::Function(f) if f.name == "size" => {
            let Some(arg) = f.args.first() else {
                return Err(ExprError::Internal(f.name.clone()));
            };
            let size = operand_value(arg, item)?.and_then(|v| size_of(&v));
            Ok(size.map(|n| {
                let n = u64::try_from(n).unwrap_or(u64::MAX);
                Cow::Owned(AttributeValue::N(Number::from(n)))
            }))
        }
        Operand::Function(f) => Err(ExprError::Internal(f.name.clone())),
    }
}

/// Whether a resolved condition holds for `item` (an empty item when there is none).
pub fn eval_condition(condition: &Condition, item: &Item) -> Result<bool, ExprError> {
    match condition {
        Condition::Compare { op, left, right } => {
            let a = operand_value(left, item)?;
            let b = operand_value(right, item)?;
            let (Some(a), Some(b)) = (a, b) else {
                return Ok(*op == Comparator::Ne);
            };
            Ok(match op {
                Comparator::Eq => values_equal(&a, &b),
                Comparator::Ne => !values_equal(&a, &b),
                Comparator::Lt => compare_values(&a, &b) == Some(Ordering::Less),
                Comparator::Le => {
                    matches!(
                        compare_values(&a, &b),
                        Some(Ordering::Less | Ordering::Equal)
                    )
                }
                Comparator::Gt => compare_values(&a, &b) == Some(Ordering::Greater),
                Comparator::Ge => matches!(
                    compare_values(&a, &b),
                    Some(Ordering::Greater | Ordering::Equal)
                ),
            })
        }
        Condition::Between { value, low, high } => {
            let (Some(v), Some(lo), Some(hi)) = (
                operand_value(value, item)?,
                operand_value(low, item)?,
                operand_value(high, item)?,
            ) else {
                return Ok(false);
            };
            Ok(matches!(
                compare_values(&lo, &v),
                Some(Ordering::Less | Ordering::Equal)
            ) && matches!(
                compare_values(&v, &hi),
                Some(Ordering::Less | Ordering::Equal)
            ))
        }
        Condition::In { value, list } => {
            let Some(v) = operand_value(value, item)? else {
                return Ok(false);
            };
            for candidate in list {
                if let Some(c) = operand_value(candidate, item)?
                    && values_equal(&v, &c)
                {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Condition::Function(f) => eval_function(f, item),
        Condition::Not(inner) => Ok(!eval_condition(inner, item)?),
        Condition::And(l, r) => Ok(eval_condition(l, item)? & eval_condition(r, item)?),
        Condition::Or(l, r) => Ok(eval_condition(l, item)? | eval_condition(r, item)?),
    }
}

fn eval_function(f: &Function, item: &Item) -> Result<bool, ExprError> {
    let arg = |i: usize| -> Result<Option<Cow<'_, AttributeValue>>, ExprError> {
        match f.args.get(i) {
            Some(o) => operand_value(o, item),
            None => Err(ExprError::Internal(f.name.clone())),
        }
    };
    match f.name.as_str() {
        "attribute_exists" => Ok(arg(0)?.is_some()),
        "attribute_not_exists" => Ok(arg(0)?.is_none()),
        "attribute_type" => match (arg(0)?, arg(1)?) {
            (Some(v), Some(t)) => {
                Ok(matches!(&*t, AttributeValue::S(name) if name == v.type_name()))
            }
            _ => Ok(false),
        },
        "begins_with" => Ok(match (arg(0)?.as_deref(), arg(1)?.as_deref()) {
            (Some(AttributeValue::S(a)), Some(AttributeValue::S(b))) => a.starts_with(b.as_str()),
            (Some(AttributeValue::B(a)), Some(AttributeValue::B(b))) => a.starts_with(b),
            _ => false,
        }),
        "contains" => {
            let (Some(a), Some(b)) = (arg(0)?, arg(1)?) else {
                return Ok(false);
            };
            Ok(match (&*a, &*b) {
                (AttributeValue::S(s), AttributeValue::S(x)) => s.contains(x.as_str()),
                (AttributeValue::Ss(set), AttributeValue::S(x)) => set.contains(x),
                (AttributeValue::Ns(set), AttributeValue::N(x)) => set.contains(x),
                (AttributeValue::Bs(set), AttributeValue::B(x)) => set.contains(x),
                (AttributeValue::B(bytes), AttributeValue::B(x)) => {
                    x.is_empty() || bytes.windows(x.len()).any(|w| w == x.as_slice())
                }
                (AttributeValue::L(list), x) => list.iter().any(|e| values_equal(e, x)),
                _ => false,
            })
        }
        other => Err(ExprError::Internal(other.to_owned())),
    }
}
