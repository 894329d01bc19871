//! Applying a resolved UpdateExpression to an item: SET (with `+`, `-`, `if_not_exists`,
//! `list_append`), REMOVE, ADD and DELETE, on top-level and nested paths.
//!
//! Every value is worked out from the item as it was before the update, and DynamoDB reports
//! problems in this order (KeyValueStore.com's expression tester, checked against DynamoDB
//! Local; texts from scylladb's alternator tests, run against AWS): a path whose parent
//! exists but is not the map or list the path needs; then a value of the wrong type anywhere
//! (`An operand in the update expression has an incorrect data type`); then, clause by clause
//! from the last written to the first, a path whose parent is missing (`The document path
//! provided in the update expression is invalid for update`) and an attribute a SET reads
//! that is not there (`The provided expression refers to an attribute that does not exist in
//! the item`); then numbers out of range.
//!
//! List semantics (AWS developer guide, conformance `tests/tier1/updateItem/paths.test.ts`):
//! indexes refer to positions before the update; SET past the end appends, several appends
//! in index order; REMOVE past the end does nothing; REMOVE shifts later elements down.

use std::collections::BTreeMap;

use cove_types::{AttributeValue, Item, Number};

use crate::ExprError;
use crate::ast::{Operand, Path, PathElement, SetValue, Update, UpdateClause, Value};
use crate::eval::get_path;

const TYPE_ERROR: &str = "An operand in the update expression has an incorrect data type";
const MISSING_ERROR: &str =
    "The provided expression refers to an attribute that does not exist in the item";
const PATH_ERROR: &str =
    "The document path provided in the update expression is invalid for update";

/// An updated item and the paths the update wrote, in the order written: what
/// `ReturnValues` UPDATED_OLD and UPDATED_NEW project the old and new item onto.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateOutcome {
    pub item: Item,
    pub updated_paths: Vec<Path>,
}

fn validation(message: &str) -> ExprError {
    ExprError::Validation(message.to_owned())
}

/// Why a SET value could not be worked out.
enum Fail {
    /// An operand of the wrong type: reported at once.
    Type,
    /// A path that is not in the item: reported in clause order.
    Missing,
    /// Arithmetic outside DynamoDB's number range: reported last.
    Number(String),
    Internal(ExprError),
}

impl From<ExprError> for Fail {
    fn from(e: ExprError) -> Fail {
        Fail::Internal(e)
    }
}

enum Kind<'u> {
    Set(&'u SetValue),
    Remove,
    Add(&'u AttributeValue),
    Delete(&'u AttributeValue),
}

struct Act<'u> {
    kind: Kind<'u>,
    clause: usize,
    path: &'u Path,
}

fn literal(value: &Value) -> Result<&AttributeValue, ExprError> {
    match value {
        Value::Literal(v) => Ok(v),
        Value::Placeholder(p) => Err(ExprError::Internal(p.clone())),
    }
}

/// Whether the place `path` writes to can exist in `item`: everything before its last step
/// is there, and is a map before a name or a list before an index.
fn writable(item: &Item, path: &Path) -> Result<bool, ExprError> {
    let Some((last, parent)) = path.elements.split_last() else {
        return Ok(false);
    };
    if parent.is_empty() {
        return Ok(matches!(last, PathElement::Name(_)));
    }
    Ok(matches!(
        (get_path(item, parent)?, last),
        (Some(AttributeValue::M(_)), PathElement::Name(_))
            | (Some(AttributeValue::L(_)), PathElement::Index(_))
    ))
}

fn operand(o: &Operand, item: &Item) -> Result<AttributeValue, Fail> {
    match o {
        Operand::Value(v) => Ok(literal(v)?.clone()),
        Operand::Path(p) => get_path(item, &p.elements)?.cloned().ok_or(Fail::Missing),
        Operand::Function(f) => {
            let arg = |i: usize| {
                f.args
                    .get(i)
                    .ok_or_else(|| Fail::Internal(ExprError::Internal(f.name.clone())))
            };
            match f.name.as_str() {
                "if_not_exists" => {
                    let Operand::Path(p) = arg(0)? else {
                        return Err(Fail::Internal(ExprError::Internal(f.name.clone())));
                    };
                    match get_path(item, &p.elements)? {
                        Some(v) => Ok(v.clone()),
                        None => operand(arg(1)?, item),
                    }
                }
                "list_append" => {
                    let AttributeValue::L(mut a) = operand(arg(0)?, item)? else {
                        return Err(Fail::Type);
                    };
                    let AttributeValue::L(b) = operand(arg(1)?, item)? else {
                        return Err(Fail::Type);
                    };
                    a.extend(b);
                    Ok(AttributeValue::L(a))
                }
                _ => Err(Fail::Internal(ExprError::Internal(f.name.clone()))),
            }
        }
    }
}

fn number(v: AttributeValue) -> Result<Number, Fail> {
    match v {
        AttributeValue::N(n) => Ok(n),
        _ => Err(Fail::Type),
    }
}

fn set_value(value: &SetValue, item: &Item) -> Result<AttributeValue, Fail> {
    let (a, b, subtract) = match value {
        SetValue::Operand(o) => return operand(o, item),
        SetValue::Plus(a, b) => (a, b, false),
        SetValue::Minus(a, b) => (a, b, true),
    };
    let a = number(operand(a, item)?)?;
    let b = number(operand(b, item)?)?;
    let sum = if subtract {
        a.checked_sub(&b)
    } else {
        a.checked_add(&b)
    };
    sum.map(AttributeValue::N)
        .map_err(|e| Fail::Number(e.to_string()))
}

/// What ADD writes: the value itself when nothing is there, the sum of two numbers, or the
/// union of two sets of one type (members already present are kept once).
fn add(current: Option<&AttributeValue>, v: &AttributeValue) -> Result<AttributeValue, ExprError> {
    use AttributeValue as V;
    Ok(match (current, v) {
        (None, v) => v.clone(),
        (Some(V::N(a)), V::N(b)) => V::N(
            a.checked_add(b)
                .map_err(|e| ExprError::Validation(e.to_string()))?,
        ),
        (Some(V::Ss(a)), V::Ss(b)) => V::Ss(union(a, b)),
        (Some(V::Ns(a)), V::Ns(b)) => V::Ns(union(a, b)),
        (Some(V::Bs(a)), V::Bs(b)) => V::Bs(union(a, b)),
        _ => return Err(validation(TYPE_ERROR)),
    })
}

fn union<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out = a.to_vec();
    for m in b {
        if !out.contains(m) {
            out.push(m.clone());
        }
    }
    out
}

/// What DELETE leaves: the set without the given members; `None` when nothing is left,
/// which removes the attribute.
fn delete(
    current: &AttributeValue,
    v: &AttributeValue,
) -> Result<Option<AttributeValue>, ExprError> {
    use AttributeValue as V;
    let left = match (current, v) {
        (V::Ss(a), V::Ss(b)) => V::Ss(a.iter().filter(|m| !b.contains(m)).cloned().collect()),
        (V::Ns(a), V::Ns(b)) => V::Ns(a.iter().filter(|m| !b.contains(m)).cloned().collect()),
        (V::Bs(a), V::Bs(b)) => V::Bs(a.iter().filter(|m| !b.contains(m)).cloned().collect()),
        _ => return Err(validation(TYPE_ERROR)),
    };
    let empty = matches!(&left, V::Ss(s) if s.is_empty())
        || matches!(&left, V::Ns(s) if s.is_empty())
        || matches!(&left, V::Bs(s) if s.is_empty());
    Ok((!empty).then_some(left))
}

fn add_type_ok(current: &AttributeValue, v: &AttributeValue) -> bool {
    use AttributeValue as V;
    matches!(
        (current, v),
        (V::N(_), V::N(_)) | (V::Ss(_), V::Ss(_)) | (V::Ns(_), V::Ns(_)) | (V::Bs(_), V::Bs(_))
    )
}

/// The writes to one list, by index before the update.
type ListOps = Vec<(u32, Write)>;

enum Write {
    Set(AttributeValue),
    Remove,
}

/// Applies a resolved update to `item` and returns the new item with the paths written.
/// The caller validates the result (item size, nesting, key attributes) as for any write.
pub fn apply_update(update: &Update, item: Item) -> Result<UpdateOutcome, ExprError> {
    let mut acts = Vec::new();
    for (clause, c) in update.clauses.iter().enumerate() {
        match c {
            UpdateClause::Set(list) => acts.extend(list.iter().map(|a| Act {
                kind: Kind::Set(&a.value),
                clause,
                path: &a.path,
            })),
            UpdateClause::Remove(list) => acts.extend(list.iter().map(|p| Act {
                kind: Kind::Remove,
                clause,
                path: p,
            })),
            UpdateClause::Add(list) => {
                for a in list {
                    acts.push(Act {
                        kind: Kind::Add(literal(&a.value)?),
                        clause,
                        path: &a.path,
                    });
                }
            }
            UpdateClause::Delete(list) => {
                for a in list {
                    acts.push(Act {
                        kind: Kind::Delete(literal(&a.value)?),
                        clause,
                        path: &a.path,
                    });
                }
            }
        }
    }

    // A parent that exists but is the wrong kind of container.
    for act in &acts {
        if let Some((_, parent)) = act.path.elements.split_last()
            && !parent.is_empty()
            && get_path(&item, parent)?.is_some()
            && !writable(&item, act.path)?
        {
            return Err(validation(PATH_ERROR));
        }
    }

    // Types everywhere; missing attributes and number range are kept for later.
    let mut values: Vec<Option<Result<AttributeValue, Fail>>> = Vec::with_capacity(acts.len());
    for act in &acts {
        match act.kind {
            Kind::Set(value) => match set_value(value, &item) {
                Err(Fail::Type) => return Err(validation(TYPE_ERROR)),
                Err(Fail::Internal(e)) => return Err(e),
                other => values.push(Some(other)),
            },
            Kind::Add(v) | Kind::Delete(v) => {
                let current = if writable(&item, act.path)? {
                    get_path(&item, &act.path.elements)?
                } else {
                    None
                };
                if let Some(current) = current {
                    let ok = match act.kind {
                        Kind::Add(_) => add_type_ok(current, v),
                        _ => current.type_name() == v.type_name(),
                    };
                    if !ok {
                        return Err(validation(TYPE_ERROR));
                    }
                    if matches!(act.kind, Kind::Add(_)) {
                        add(Some(current), v)?;
                    }
                }
                values.push(None);
            }
            Kind::Remove => values.push(None),
        }
    }

    // Paths, then missing attributes, a clause at a time from the last.
    for clause in (0..update.clauses.len()).rev() {
        for act in acts.iter().filter(|a| a.clause == clause) {
            if !writable(&item, act.path)? {
                return Err(validation(PATH_ERROR));
            }
        }
        for (act, value) in acts.iter().zip(&values) {
            if act.clause == clause && matches!(value, Some(Err(Fail::Missing))) {
                return Err(validation(MISSING_ERROR));
            }
        }
    }
    for value in &values {
        if let Some(Err(Fail::Number(message))) = value {
            return Err(ExprError::Validation(message.clone()));
        }
    }

    // Every write, worked out from the item as it was.
    let mut writes: Vec<(&Path, Write)> = Vec::new();
    for (act, value) in acts.iter().zip(values) {
        match act.kind {
            Kind::Set(_) => {
                if let Some(Ok(v)) = value {
                    writes.push((act.path, Write::Set(v)));
                }
            }
            Kind::Remove => writes.push((act.path, Write::Remove)),
            Kind::Add(v) => {
                let current = get_path(&item, &act.path.elements)?;
                writes.push((act.path, Write::Set(add(current, v)?)));
            }
            Kind::Delete(v) => {
                if let Some(current) = get_path(&item, &act.path.elements)? {
                    match delete(current, v)? {
                        Some(left) => writes.push((act.path, Write::Set(left))),
                        None => writes.push((act.path, Write::Remove)),
                    }
                }
            }
        }
    }

    let mut out = item.clone();
    // List changes wait until the end, grouped by list, so indexes keep meaning the
    // positions before the update.
    let mut list_ops: BTreeMap<Vec<Key>, ListOps> = BTreeMap::new();
    for (path, write) in writes {
        let Some((last, parent)) = path.elements.split_last() else {
            continue;
        };
        match last {
            PathElement::Name(name) if parent.is_empty() => match write {
                Write::Set(v) => {
                    out.insert(name.clone(), v);
                }
                Write::Remove => {
                    out.remove(name);
                }
            },
            PathElement::Name(name) => {
                if let Some(AttributeValue::M(map)) = get_path_mut(&mut out, parent)? {
                    match write {
                        Write::Set(v) => {
                            map.insert(name.clone(), v);
                        }
                        Write::Remove => {
                            map.remove(name);
                        }
                    }
                }
            }
            PathElement::Index(i) => list_ops
                .entry(parent.iter().map(Key::from).collect())
                .or_default()
                .push((*i, write)),
            PathElement::Placeholder(p) => return Err(ExprError::Internal(p.clone())),
        }
    }
    // Deeper lists first, so a change to an outer list cannot move an inner one first.
    let mut groups: Vec<(Vec<Key>, ListOps)> = list_ops.into_iter().collect();
    groups.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    for (parent, ops) in groups {
        let parent: Vec<PathElement> = parent.into_iter().map(Key::into_element).collect();
        if let Some(AttributeValue::L(list)) = get_path_mut(&mut out, &parent)? {
            apply_list_ops(list, ops);
        }
    }
    Ok(UpdateOutcome {
        item: out,
        updated_paths: update.target_paths().into_iter().cloned().collect(),
    })
}

fn apply_list_ops(list: &mut Vec<AttributeValue>, ops: ListOps) {
    let len = list.len();
    let mut removed = vec![false; len];
    let mut appended: Vec<(u32, AttributeValue)> = Vec::new();
    for (index, write) in ops {
        let at = usize::try_from(index).unwrap_or(usize::MAX);
        match write {
            Write::Remove => {
                if let Some(r) = removed.get_mut(at) {
                    *r = true;
                }
            }
            Write::Set(v) => match list.get_mut(at) {
                Some(slot) => *slot = v,
                None => appended.push((index, v)),
            },
        }
    }
    appended.sort_by_key(|(i, _)| *i);
    let kept: Vec<AttributeValue> = std::mem::take(list)
        .into_iter()
        .zip(removed)
        .filter(|(_, r)| !r)
        .map(|(v, _)| v)
        .collect();
    *list = kept;
    list.extend(appended.into_iter().map(|(_, v)| v));
}

/// A path step usable as a map key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Name(String),
    Index(u32),
}

impl From<&PathElement> for Key {
    fn from(e: &PathElement) -> Key {
        match e {
            PathElement::Name(n) | PathElement::Placeholder(n) => Key::Name(n.clone()),
            PathElement::Index(i) => Key::Index(*i),
        }
    }
}

impl Key {
    fn into_element(self) -> PathElement {
        match self {
            Key::Name(n) => PathElement::Name(n),
            Key::Index(i) => PathElement::Index(i),
        }
    }
}

fn get_path_mut<'i>(
    item: &'i mut Item,
    path: &[PathElement],
) -> Result<Option<&'i mut AttributeValue>, ExprError> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(None);
    };
    let mut current = match first {
        PathElement::Name(name) => item.get_mut(name),
        PathElement::Index(_) => None,
        PathElement::Placeholder(p) => return Err(ExprError::Internal(p.clone())),
    };
    for element in rest {
        current = match (current, element) {
            (_, PathElement::Placeholder(p)) => return Err(ExprError::Internal(p.clone())),
            (Some(AttributeValue::M(map)), PathElement::Name(name)) => map.get_mut(name),
            (Some(AttributeValue::L(list)), PathElement::Index(i)) => {
                usize::try_from(*i).ok().and_then(|i| list.get_mut(i))
            }
            _ => None,
        };
    }
    Ok(current)
}
