//! Placeholder resolution: checks a request's ExpressionAttributeNames and
//! ExpressionAttributeValues, replaces every `#name` and `:value` in its parsed expressions
//! with what they stand for, makes the checks DynamoDB can only make once values are known
//! (operand types, BETWEEN bounds, IN sizes, path depth, overlapping update paths), and at
//! the end reports names or values no expression used.
//!
//! The order of the checks, and their texts, follow DynamoDB: the maps first (dynalite's
//! `validations/index.js`, taken from AWS), then each expression in the order the caller
//! passes them, then unused names before unused values (conformance
//! `tests/tier3/error-messages/updateItem.test.ts`). Within an update, DynamoDB first checks
//! the names of the paths written and whether they overlap, then walks the actions from the
//! last to the first (KeyValueStore.com's expression tester, checked against DynamoDB Local).

use std::collections::{BTreeMap, BTreeSet};

use cove_types::AttributeValue;
use cove_types::value::validate_value;

use crate::ast::{
    Comparator, Condition, Function, Operand, Path, PathElement, Projection, SetAction, SetValue,
    Update, UpdateClause, Value, ValueAction,
};
use crate::eval::compare_values;
use crate::parser::{arity_message, function_arity};
use crate::{ExprError, ExpressionKind};

/// The deepest a document path may go.
const MAX_PATH_DEPTH: usize = 32;
/// The most values an IN list may hold.
const MAX_IN_OPERANDS: usize = 100;
/// The longest placeholder key, in bytes.
const MAX_KEY_BYTES: usize = 255;
/// The type names `attribute_type` accepts, in the order DynamoDB lists them.
const TYPE_NAMES: [&str; 10] = ["N", "BS", "L", "B", "NULL", "M", "S", "SS", "NS", "BOOL"];
/// What DynamoDB names as the expected type when `attribute_type` gets a path for its type.
const ANY_TYPE: &str = "{SS,M,DECIMAL,DOUBLESET,HDS,N,B,DICT,INTSET,BOOL,HD,BS,INT,DECIMALSET,NULL,FLOAT,FS,S,L,NS,DOUBLE}";

/// Resolves the expressions of one request against its two placeholder maps and tracks which
/// placeholders they used.
#[derive(Debug)]
pub struct Resolver<'a> {
    names: Vec<(&'a str, &'a str)>,
    values: Vec<(&'a str, &'a AttributeValue)>,
    name_map: BTreeMap<&'a str, &'a str>,
    value_map: BTreeMap<&'a str, &'a AttributeValue>,
    used_names: BTreeSet<String>,
    used_values: BTreeSet<String>,
}

fn invalid(message: String) -> ExprError {
    ExprError::Validation(message)
}

fn key_is_valid(key: &str, sigil: char) -> bool {
    key.strip_prefix(sigil).is_some_and(|rest| {
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

impl<'a> Resolver<'a> {
    /// Checks the request's maps, given as sent (in request order; `None` when the member is
    /// absent), the way DynamoDB does before it reads any expression:
    /// `ExpressionAttributeNames must not be empty`, `ExpressionAttributeNames contains
    /// invalid key: Syntax error; key: "<key>"`, `ExpressionAttributeNames contains invalid
    /// value: Empty attribute name for key <key>`, and the same for values, whose members are
    /// also validated as attribute values (`ExpressionAttributeValues contains invalid value:
    /// <message> for key <key>`).
    pub fn new(
        names: Option<&'a [(String, String)]>,
        values: Option<&'a [(String, AttributeValue)]>,
    ) -> Result<Resolver<'a>, ExprError> {
        let names_given = names.is_some();
        let names: Vec<(&str, &str)> = names
            .map(|n| n.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
            .unwrap_or_default();
        let values_given = values.is_some();
        let values: Vec<(&str, &AttributeValue)> = values
            .map(|v| v.iter().map(|(k, v)| (k.as_str(), v)).collect())
            .unwrap_or_default();
        if names_given && names.is_empty() {
            return Err(invalid(
                "ExpressionAttributeNames must not be empty".to_owned(),
            ));
        }
        Self::check_names(&names)?;
        if values_given && values.is_empty() {
            return Err(invalid(
                "ExpressionAttributeValues must not be empty".to_owned(),
            ));
        }
        for (key, _) in &values {
            if key.len() > MAX_KEY_BYTES {
                return Err(invalid(
                    "ExpressionAttributeValues contains invalid key: The expression attribute map contains a key that is too long;".to_owned(),
                ));
            }
            if !key_is_valid(key, ':') {
                return Err(invalid(format!(
                    "ExpressionAttributeValues contains invalid key: Syntax error; key: \"{key}\""
                )));
            }
        }
        let keys: Vec<&str> = values.iter().map(|(k, _)| *k).collect();
        for key in java_set_order(&keys, keys.len()) {
            if let Some((_, value)) = values.iter().find(|(k, _)| *k == key)
                && let Err(e) = validate_value(value)
            {
                return Err(invalid(format!(
                    "ExpressionAttributeValues contains invalid value: {e} for key {key}"
                )));
            }
        }
        Ok(Resolver {
            name_map: names.iter().copied().collect(),
            value_map: values.iter().copied().collect(),
            names,
            values,
            used_names: BTreeSet::new(),
            used_values: BTreeSet::new(),
        })
    }

    /// The per-key checks on ExpressionAttributeNames, in DynamoDB's order: length, syntax,
    /// then an empty name.
    fn check_names(names: &[(&str, &str)]) -> Result<(), ExprError> {
        for (key, value) in names {
            if key.len() > MAX_KEY_BYTES {
                return Err(invalid(format!(
                    "ExpressionAttributeNames contains invalid key: The expression attribute map contains a key that is too long; size of key: {}",
                    key.len()
                )));
            }
            if !key_is_valid(key, '#') {
                return Err(invalid(format!(
                    "ExpressionAttributeNames contains invalid key: Syntax error; key: \"{key}\""
                )));
            }
            if value.is_empty() {
                return Err(invalid(format!(
                    "ExpressionAttributeNames contains invalid value: Empty attribute name for key {key}"
                )));
            }
        }
        Ok(())
    }

    /// Resolves a ConditionExpression, FilterExpression or KeyConditionExpression; `kind`
    /// names it in errors.
    pub fn condition(
        &mut self,
        kind: ExpressionKind,
        mut condition: Condition,
    ) -> Result<Condition, ExprError> {
        self.visit_condition(&mut condition)
            .map_err(|m| kind.error(m))?;
        Ok(condition)
    }

    /// Resolves a ProjectionExpression, and refuses paths that overlap or conflict.
    pub fn projection(&mut self, mut projection: Projection) -> Result<Projection, ExprError> {
        let kind = ExpressionKind::Projection;
        for path in &mut projection.paths {
            self.use_path(path).map_err(|m| kind.error(m))?;
        }
        check_overlaps(&projection.paths).map_err(|m| kind.error(m))?;
        Ok(projection)
    }

    /// Resolves an UpdateExpression, and refuses written paths that overlap or conflict and
    /// ADD/DELETE values of the wrong type.
    pub fn update(&mut self, mut update: Update) -> Result<Update, ExprError> {
        self.visit_update(&mut update)
            .map_err(|m| ExpressionKind::Update.error(m))?;
        Ok(update)
    }

    /// The checks after every expression was resolved: names no expression used
    /// (`Value provided in ExpressionAttributeNames unused in expressions: keys: {#a, #b}`),
    /// then values. Several keys are listed in the order of a Java `HashSet` built from the
    /// map, which is how DynamoDB lists them.
    pub fn finish(self) -> Result<(), ExprError> {
        // Nothing given, nothing unused: most requests carry no placeholders at all.
        if self.names.is_empty() && self.values.is_empty() {
            return Ok(());
        }
        let unused = |keys: Vec<&str>, used: &BTreeSet<String>| -> Vec<String> {
            let total = keys.len();
            let unused: Vec<&str> = keys.into_iter().filter(|k| !used.contains(*k)).collect();
            java_set_order(&unused, total)
                .into_iter()
                .map(str::to_owned)
                .collect()
        };
        let names = unused(
            self.names.iter().map(|(k, _)| *k).collect(),
            &self.used_names,
        );
        if !names.is_empty() {
            return Err(invalid(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                names.join(", ")
            )));
        }
        let values = unused(
            self.values.iter().map(|(k, _)| *k).collect(),
            &self.used_values,
        );
        if !values.is_empty() {
            return Err(invalid(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                values.join(", ")
            )));
        }
        Ok(())
    }

    fn lookup_name(&self, placeholder: &str) -> Result<String, String> {
        self.name_map
            .get(placeholder)
            .map(|s| (*s).to_owned())
            .ok_or_else(|| {
                format!(
                    "An expression attribute name used in the document path is not defined; attribute name: {placeholder}"
                )
            })
    }

    /// Checks a path's placeholders are defined without marking them used or resolving them.
    fn check_names_defined(&self, path: &Path) -> Result<(), String> {
        for element in &path.elements {
            if let PathElement::Placeholder(p) = element {
                self.lookup_name(p)?;
            }
        }
        Ok(())
    }

    /// The path with its placeholders replaced, without marking them used.
    fn peek_resolved(&self, path: &Path) -> Path {
        Path {
            elements: path
                .elements
                .iter()
                .map(|e| match e {
                    PathElement::Placeholder(p) => self
                        .name_map
                        .get(p.as_str())
                        .map_or_else(|| e.clone(), |n| PathElement::Name((*n).to_owned())),
                    other => other.clone(),
                })
                .collect(),
        }
    }

    fn use_path(&mut self, path: &mut Path) -> Result<(), String> {
        for element in &mut path.elements {
            if let PathElement::Placeholder(p) = element {
                let name = self.lookup_name(p)?;
                self.used_names.insert(p.clone());
                *element = PathElement::Name(name);
            }
        }
        if path.elements.len() > MAX_PATH_DEPTH {
            return Err(format!(
                "The document path has too many nesting levels; nesting levels: {}",
                path.elements.len()
            ));
        }
        Ok(())
    }

    fn use_value(&mut self, value: &mut Value) -> Result<(), String> {
        if let Value::Placeholder(p) = value {
            let Some(v) = self.value_map.get(p.as_str()) else {
                return Err(format!(
                    "An expression attribute value used in expression is not defined; attribute value: {p}"
                ));
            };
            self.used_values.insert(p.clone());
            *value = Value::Literal((*v).clone());
        }
        Ok(())
    }

    fn visit_operand(&mut self, operand: &mut Operand, in_update: bool) -> Result<(), String> {
        match operand {
            Operand::Path(p) => self.use_path(p),
            Operand::Value(v) => self.use_value(v),
            Operand::Function(f) => self.visit_function(f, in_update),
        }
    }

    fn visit_condition(&mut self, condition: &mut Condition) -> Result<(), String> {
        match condition {
            Condition::Compare { op, left, right } => {
                self.visit_operand(left, false)?;
                self.visit_operand(right, false)?;
                distinct(op.symbol(), left, std::slice::from_ref(right))?;
                if !matches!(op, Comparator::Eq | Comparator::Ne) {
                    for o in [&*left, &*right] {
                        scalar_only(op.symbol(), o)?;
                    }
                }
                Ok(())
            }
            Condition::Between { value, low, high } => {
                self.visit_operand(value, false)?;
                self.visit_operand(low, false)?;
                self.visit_operand(high, false)?;
                distinct("BETWEEN", value, &[low.clone(), high.clone()])?;
                for o in [&*value, &*low, &*high] {
                    scalar_only("BETWEEN", o)?;
                }
                between_bounds(low, high)
            }
            Condition::In { value, list } => {
                self.visit_operand(value, false)?;
                for o in list.iter_mut() {
                    self.visit_operand(o, false)?;
                }
                if list.len() > MAX_IN_OPERANDS {
                    return Err(format!(
                        "The IN operator is provided with too many operands; number of operands: {}",
                        list.len()
                    ));
                }
                distinct("IN", value, list)
            }
            Condition::Function(f) => self.visit_function(f, false),
            Condition::Not(inner) => self.visit_condition(inner),
            Condition::And(l, r) | Condition::Or(l, r) => {
                self.visit_condition(l)?;
                self.visit_condition(r)
            }
        }
    }

    fn visit_function(&mut self, f: &mut Function, in_update: bool) -> Result<(), String> {
        let name = f.name.clone();
        if in_update && function_arity(&name) != Some(f.args.len()) {
            return Err(arity_message(&name, f.args.len()));
        }
        for arg in &mut f.args {
            self.visit_operand(arg, in_update)?;
        }
        let first = f.args.first();
        let needs_path = matches!(
            name.as_str(),
            "attribute_exists" | "attribute_not_exists" | "attribute_type" | "if_not_exists"
        );
        if needs_path && !matches!(first, Some(Operand::Path(_))) {
            return Err(format!(
                "Operator or function requires a document path; operator or function: {name}"
            ));
        }
        if name != "size"
            && name != "list_append"
            && let Some((head, rest)) = f.args.split_first()
        {
            distinct(&name, head, rest)?;
        }
        match name.as_str() {
            "size" => {
                if let Some(t) = first.and_then(static_type)
                    && !matches!(t, "S" | "B" | "SS" | "NS" | "BS" | "L" | "M")
                {
                    return Err(type_problem("size", t));
                }
            }
            "begins_with" => {
                for o in &f.args {
                    if let Some(t) = static_type(o)
                        && t != "S"
                        && t != "B"
                    {
                        return Err(type_problem("begins_with", t));
                    }
                }
            }
            "attribute_type" => match f.args.get(1) {
                Some(Operand::Value(Value::Literal(AttributeValue::S(type_name)))) => {
                    if !TYPE_NAMES.contains(&type_name.as_str()) {
                        return Err(format!(
                            "Invalid attribute type name found; type: {type_name}, valid types: {{{}}}",
                            TYPE_NAMES.join(",")
                        ));
                    }
                }
                Some(Operand::Value(Value::Literal(v))) => {
                    return Err(type_problem("attribute_type", v.type_name()));
                }
                Some(Operand::Function(g)) if g.name == "size" => {
                    return Err(type_problem("attribute_type", "N"));
                }
                _ => return Err(type_problem("attribute_type", ANY_TYPE)),
            },
            "list_append" => {
                for o in &f.args {
                    if let Some(t) = static_type(o)
                        && t != "L"
                    {
                        return Err(type_problem("list_append", t));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn visit_set_value(&mut self, value: &mut SetValue) -> Result<(), String> {
        match value {
            SetValue::Operand(o) => self.visit_operand(o, true),
            SetValue::Plus(a, b) => self.arithmetic("+", a, b),
            SetValue::Minus(a, b) => self.arithmetic("-", a, b),
        }
    }

    fn arithmetic(&mut self, symbol: &str, a: &mut Operand, b: &mut Operand) -> Result<(), String> {
        self.visit_operand(a, true)?;
        self.visit_operand(b, true)?;
        for o in [&*a, &*b] {
            if let Some(t) = static_type(o)
                && t != "N"
            {
                return Err(type_problem(symbol, t));
            }
        }
        Ok(())
    }

    fn visit_update(&mut self, update: &mut Update) -> Result<(), String> {
        // The names of the written paths first, then whether they overlap.
        let targets: Vec<Path> = update.target_paths().into_iter().cloned().collect();
        for path in &targets {
            self.check_names_defined(path)?;
        }
        let resolved: Vec<Path> = targets.iter().map(|p| self.peek_resolved(p)).collect();
        check_overlaps(&resolved)?;

        let mut actions: Vec<Action<'_>> = Vec::new();
        for clause in &mut update.clauses {
            match clause {
                UpdateClause::Set(list) => actions.extend(list.iter_mut().map(Action::Set)),
                UpdateClause::Remove(list) => actions.extend(list.iter_mut().map(Action::Remove)),
                UpdateClause::Add(list) => actions.extend(list.iter_mut().map(Action::Add)),
                UpdateClause::Delete(list) => actions.extend(list.iter_mut().map(Action::Delete)),
            }
        }
        // Then, from the last action back to the first: every #name, then the values and
        // their types.
        for action in actions.iter().rev() {
            for path in action.paths() {
                self.check_names_defined(path)?;
            }
        }
        for action in actions.iter_mut().rev() {
            match action {
                Action::Set(a) => {
                    self.use_path(&mut a.path)?;
                    self.visit_set_value(&mut a.value)?;
                }
                Action::Remove(p) => self.use_path(p)?,
                Action::Add(a) => self.value_action(a, "ADD")?,
                Action::Delete(a) => self.value_action(a, "DELETE")?,
            }
        }
        Ok(())
    }

    fn value_action(&mut self, action: &mut ValueAction, operator: &str) -> Result<(), String> {
        self.use_path(&mut action.path)?;
        self.use_value(&mut action.value)?;
        if let Value::Literal(v) = &action.value {
            let allowed = match v {
                AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_) => true,
                AttributeValue::N(_) => operator == "ADD",
                _ => false,
            };
            if !allowed {
                return Err(format!(
                    "Incorrect operand type for operator or function; operator: {operator}, operand type: {}, typeSet: ALLOWED_FOR_{operator}_OPERAND",
                    long_type_name(v)
                ));
            }
        }
        Ok(())
    }
}

/// One update action, borrowed for the backwards walk.
enum Action<'u> {
    Set(&'u mut SetAction),
    Remove(&'u mut Path),
    Add(&'u mut ValueAction),
    Delete(&'u mut ValueAction),
}

impl Action<'_> {
    /// Every path the action reads or writes, the written one first.
    fn paths(&self) -> Vec<&Path> {
        let mut out = Vec::new();
        match self {
            Action::Set(a) => {
                out.push(&a.path);
                match &a.value {
                    SetValue::Operand(o) => operand_paths(o, &mut out),
                    SetValue::Plus(x, y) | SetValue::Minus(x, y) => {
                        operand_paths(x, &mut out);
                        operand_paths(y, &mut out);
                    }
                }
            }
            Action::Remove(p) => out.push(p),
            Action::Add(a) | Action::Delete(a) => out.push(&a.path),
        }
        out
    }
}

fn operand_paths<'p>(operand: &'p Operand, out: &mut Vec<&'p Path>) {
    match operand {
        Operand::Path(p) => out.push(p),
        Operand::Value(_) => {}
        Operand::Function(f) => f.args.iter().for_each(|a| operand_paths(a, out)),
    }
}

/// The type DynamoDB knows an operand has before reading the item: a value's own type, N for
/// `size()`, nothing for a path.
fn static_type(operand: &Operand) -> Option<&'static str> {
    match operand {
        Operand::Value(Value::Literal(v)) => Some(v.type_name()),
        Operand::Function(f) if f.name == "size" => Some("N"),
        _ => None,
    }
}

fn type_problem(op: &str, type_name: &str) -> String {
    format!(
        "Incorrect operand type for operator or function; operator or function: {op}, operand type: {type_name}"
    )
}

fn scalar_only(op: &str, operand: &Operand) -> Result<(), String> {
    match static_type(operand) {
        Some(t) if !matches!(t, "S" | "N" | "B") => Err(type_problem(op, t)),
        _ => Ok(()),
    }
}

/// DynamoDB refuses to compare a path with itself.
fn distinct(op: &str, first: &Operand, rest: &[Operand]) -> Result<(), String> {
    let Operand::Path(first) = first else {
        return Ok(());
    };
    if rest
        .iter()
        .any(|r| matches!(r, Operand::Path(p) if p == first))
    {
        return Err(format!(
            "The first operand must be distinct from the remaining operands for this operator or function; operator: {op}, first operand: {}",
            first.bracketed()
        ));
    }
    Ok(())
}

/// The BETWEEN checks DynamoDB makes when both bounds are values: same type, and the lower
/// not above the upper (dynalite's `conditionParser.pegjs`, from AWS).
fn between_bounds(low: &Operand, high: &Operand) -> Result<(), String> {
    let (Operand::Value(Value::Literal(a)), Operand::Value(Value::Literal(b))) = (low, high) else {
        return Ok(());
    };
    let bounds = format!(
        "lower bound operand: AttributeValue: {{{}}}, upper bound operand: AttributeValue: {{{}}}",
        bound_text(a),
        bound_text(b)
    );
    if a.type_name() != b.type_name() {
        return Err(format!(
            "The BETWEEN operator requires same data type for lower and upper bounds; {bounds}"
        ));
    }
    if compare_values(a, b) == Some(std::cmp::Ordering::Greater) {
        return Err(format!(
            "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; {bounds}"
        ));
    }
    Ok(())
}

/// A value as DynamoDB's Java prints it inside a BETWEEN message. Numbers print in canonical
/// form, which differs from DynamoDB's only when the request spelled the number unusually
/// (`1.50`, `1e3`).
fn bound_text(v: &AttributeValue) -> String {
    match v {
        AttributeValue::S(s) => format!("S:{s}"),
        AttributeValue::N(n) => format!("N:{n}"),
        AttributeValue::B(b) => {
            format!("B:java.nio.HeapByteBuffer[pos=0 lim={0} cap={0}]", b.len())
        }
        other => other.type_name().to_owned(),
    }
}

fn long_type_name(v: &AttributeValue) -> &'static str {
    match v {
        AttributeValue::S(_) => "STRING",
        AttributeValue::N(_) => "NUMBER",
        AttributeValue::B(_) => "BINARY",
        AttributeValue::Bool(_) => "BOOLEAN",
        AttributeValue::Null => "NULL",
        AttributeValue::L(_) => "LIST",
        AttributeValue::M(_) => "MAP",
        AttributeValue::Ss(_) => "STRING_SET",
        AttributeValue::Ns(_) => "NUMBER_SET",
        AttributeValue::Bs(_) => "BINARY_SET",
    }
}

/// Refuses two paths where one is the other or inside it (`overlap`), or where one uses an
/// attribute as a map and the other as a list (`conflict`). Each path is compared with every
/// earlier one, and the earlier is "path one" (dynalite's `updateParser.pegjs`, from AWS;
/// scylladb `test_update_expression_multi_overlap*`).
pub(crate) fn check_overlaps(paths: &[Path]) -> Result<(), String> {
    for (j, later) in paths.iter().enumerate() {
        for earlier in paths.iter().take(j) {
            if let Some(what) = clash(earlier, later) {
                return Err(format!(
                    "Two document paths {what} with each other; must remove or rewrite one of these paths; path one: {}, path two: {}",
                    earlier.bracketed(),
                    later.bracketed()
                ));
            }
        }
    }
    Ok(())
}

fn clash(a: &Path, b: &Path) -> Option<&'static str> {
    for (x, y) in a.elements.iter().zip(&b.elements) {
        let x_index = matches!(x, PathElement::Index(_));
        let y_index = matches!(y, PathElement::Index(_));
        if x_index != y_index {
            return Some("conflict");
        }
        if x != y {
            return None;
        }
    }
    Some("overlap")
}

/// Java's `String.hashCode`, over UTF-16 code units.
fn java_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// `keys` in the order a Java `HashSet` built from `total` keys iterates them: by bucket
/// (the spread hash masked to the table size), then by insertion order within a bucket.
fn java_set_order<'k>(keys: &[&'k str], total: usize) -> Vec<&'k str> {
    let wanted = (total * 4 / 3 + 1).max(16);
    let capacity = wanted.next_power_of_two();
    let mask = u32::try_from(capacity - 1).unwrap_or(u32::MAX);
    let mut slotted: Vec<(u32, usize, &str)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let h = java_hash(k) as u32;
            ((h ^ (h >> 16)) & mask, i, *k)
        })
        .collect();
    slotted.sort_unstable();
    slotted.into_iter().map(|(_, _, k)| k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hashes_match_java() {
        // Values from Java's "…".hashCode().
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("a"), 97);
        assert_eq!(java_hash("#a"), 35 * 31 + 97);
        assert_eq!(java_hash("hello"), 99_162_322);
    }

    #[test]
    fn java_set_order_groups_by_bucket() {
        // "#b" hashes one above "#a", so it sits in the next bucket whatever the order sent.
        assert_eq!(java_set_order(&["#b", "#a"], 2), vec!["#a", "#b"]);
        assert_eq!(java_set_order(&[":v"], 1), vec![":v"]);
    }
}
