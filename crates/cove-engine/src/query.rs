//! Query and Scan on a table: key conditions turned into one storage key range (so a Query
//! reads only the items it returns, whatever the partition's size), filters applied after the
//! read, projections, `Select`, `Limit`, the 1 MB page, paging with
//! `ExclusiveStartKey`/`LastEvaluatedKey`, and parallel scans over bucket ranges.

use std::ops::Bound;

use cove_expr::{Comparator, Condition, Function, Operand, Path, PathElement, eval_condition};
use cove_storage::{KeyRange, ReadView, ScanOptions, prefix_successor};
use cove_types::value::item_size;
use cove_types::{AttributeValue, Item, KeyAttribute, KeySchema, codec, key};
use cove_wire::members::ComparisonOperator;
use cove_wire::output::{Consumed, IndexConsumed};
use cove_wire::read::{LegacyCondition, QueryInput, ReadCommon, ScanInput, Select};

use crate::catalog::Table;
use crate::expressions::{self, Projection};
use crate::indexes::{Index, IndexProjection};
use crate::items::{empty_key_error, item_key, read_units, schema_mismatch, type_matches};
use crate::keys;
use crate::{Engine, EngineError, Result, Scope};

/// The most item data one page reads, as in DynamoDB.
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;

/// How many entries one storage scan call fetches while a page fills.
const CHUNK: usize = 256;

/// One page of a Query or Scan.
pub struct ReadPage {
    pub table_name: String,
    /// The items, or `None` when the caller asked only for the count.
    pub items: Option<Vec<Item>>,
    pub count: usize,
    pub scanned_count: usize,
    pub last_evaluated_key: Option<Item>,
    pub consumed: Consumed,
}

fn invalid(msg: impl Into<String>) -> EngineError {
    EngineError::Validation(msg.into())
}

/// A key condition on one attribute, in the legacy operator vocabulary both forms share.
#[derive(Debug, Clone)]
struct KeyTerm {
    name: String,
    operator: ComparisonOperator,
    values: Vec<AttributeValue>,
}

/// Turns a resolved KeyConditionExpression into one term per attribute, with DynamoDB's
/// errors for everything a key condition may not contain.
fn key_terms_of(condition: &Condition, out: &mut Vec<KeyTerm>) -> Result<()> {
    let single_path = |operands: &[&Operand]| -> Result<Option<(usize, String)>> {
        let mut found = None;
        for (i, operand) in operands.iter().enumerate() {
            match operand {
                Operand::Path(path) => {
                    if found.is_some() {
                        return Err(invalid(
                            "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
                        ));
                    }
                    found = Some((i, top_name(path)?));
                }
                Operand::Function(_) => {
                    return Err(invalid(
                        "KeyConditionExpressions cannot contain nested operations",
                    ));
                }
                Operand::Value(_) => {}
            }
        }
        Ok(found)
    };
    let literal = |operand: &Operand| -> Result<AttributeValue> {
        match operand {
            Operand::Value(cove_expr::Value::Literal(v)) => Ok(v.clone()),
            _ => Err(EngineError::Internal(
                "key condition operand is not a value".into(),
            )),
        }
    };
    let push = |out: &mut Vec<KeyTerm>, term: KeyTerm| -> Result<()> {
        if out.iter().any(|t| t.name == term.name) {
            return Err(invalid(
                "KeyConditionExpressions must only contain one condition per key",
            ));
        }
        out.push(term);
        Ok(())
    };
    match condition {
        Condition::And(a, b) => {
            key_terms_of(a, out)?;
            key_terms_of(b, out)
        }
        Condition::Or(..) => Err(invalid(
            "Invalid operator used in KeyConditionExpression: OR",
        )),
        Condition::Not(_) => Err(invalid(
            "Invalid operator used in KeyConditionExpression: NOT",
        )),
        Condition::In { .. } => Err(invalid(
            "Invalid operator used in KeyConditionExpression: IN",
        )),
        Condition::Compare { op, left, right } => {
            if *op == Comparator::Ne {
                return Err(invalid(
                    "Invalid operator used in KeyConditionExpression: <>",
                ));
            }
            let Some((at, name)) = single_path(&[left, right])? else {
                return Err(invalid(
                    "Invalid condition in KeyConditionExpression: No key attribute specified",
                ));
            };
            // `:v < k` is `k > :v`.
            let (op, value) = if at == 0 {
                (*op, literal(right)?)
            } else {
                let flipped = match op {
                    Comparator::Lt => Comparator::Gt,
                    Comparator::Le => Comparator::Ge,
                    Comparator::Gt => Comparator::Lt,
                    Comparator::Ge => Comparator::Le,
                    other => *other,
                };
                (flipped, literal(left)?)
            };
            let operator = match op {
                Comparator::Eq => ComparisonOperator::Eq,
                Comparator::Lt => ComparisonOperator::Lt,
                Comparator::Le => ComparisonOperator::Le,
                Comparator::Gt => ComparisonOperator::Gt,
                Comparator::Ge => ComparisonOperator::Ge,
                Comparator::Ne => ComparisonOperator::Ne,
            };
            push(
                out,
                KeyTerm {
                    name,
                    operator,
                    values: vec![value],
                },
            )
        }
        Condition::Between { value, low, high } => {
            if !matches!(value, Operand::Path(_)) {
                return Err(invalid(
                    "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute as its first operand",
                ));
            }
            let Some((_, name)) = single_path(&[value, low, high])? else {
                return Err(invalid(
                    "Invalid condition in KeyConditionExpression: No key attribute specified",
                ));
            };
            push(
                out,
                KeyTerm {
                    name,
                    operator: ComparisonOperator::Between,
                    values: vec![literal(low)?, literal(high)?],
                },
            )
        }
        Condition::Function(Function { name, args }) => {
            if name != "begins_with" {
                return Err(invalid(format!(
                    "Invalid operator used in KeyConditionExpression: {name}"
                )));
            }
            if !matches!(args.first(), Some(Operand::Path(_))) {
                return Err(invalid(
                    "Invalid condition in KeyConditionExpression: begins_with operator must have the key attribute as its first operand",
                ));
            }
            let refs: Vec<&Operand> = args.iter().collect();
            let Some((_, attr)) = single_path(&refs)? else {
                return Err(invalid(
                    "Invalid condition in KeyConditionExpression: No key attribute specified",
                ));
            };
            let value = args
                .get(1)
                .map(literal)
                .transpose()?
                .ok_or_else(|| EngineError::Internal("begins_with without a prefix".into()))?;
            push(
                out,
                KeyTerm {
                    name: attr,
                    operator: ComparisonOperator::BeginsWith,
                    values: vec![value],
                },
            )
        }
    }
}

fn top_name(path: &Path) -> Result<String> {
    match path.elements.as_slice() {
        [PathElement::Name(name)] => Ok(name.clone()),
        [PathElement::Name(_), ..] => Err(invalid(
            "KeyConditionExpressions cannot have conditions on nested attributes",
        )),
        _ => Err(EngineError::Internal("unresolved key path".into())),
    }
}

/// The top-level attributes a condition reads, in order of appearance.
pub(crate) fn path_heads(condition: &Condition, out: &mut Vec<String>) {
    fn operand(o: &Operand, out: &mut Vec<String>) {
        match o {
            Operand::Path(p) => {
                if let Some(name) = p.top_level_name()
                    && !out.iter().any(|n| n == name)
                {
                    out.push(name.to_owned());
                }
            }
            Operand::Function(f) => f.args.iter().for_each(|a| operand(a, out)),
            Operand::Value(_) => {}
        }
    }
    match condition {
        Condition::Compare { left, right, .. } => {
            operand(left, out);
            operand(right, out);
        }
        Condition::Between { value, low, high } => {
            for o in [value, low, high] {
                operand(o, out);
            }
        }
        Condition::In { value, list } => {
            operand(value, out);
            list.iter().for_each(|o| operand(o, out));
        }
        Condition::Function(f) => f.args.iter().for_each(|a| operand(a, out)),
        Condition::Not(c) => path_heads(c, out),
        Condition::And(a, b) | Condition::Or(a, b) => {
            path_heads(a, out);
            path_heads(b, out);
        }
    }
}

/// The storage key range a Query reads: one partition, narrowed by the range-key term.
struct QueryPlan {
    hash: AttributeValue,
    range_term: Option<KeyTerm>,
    range: KeyRange,
}

fn key_attributes(schema: &KeySchema) -> impl Iterator<Item = &KeyAttribute> {
    std::iter::once(&schema.hash).chain(schema.range.as_ref())
}

/// What a read goes over: the table itself or one of its indexes.
struct Target<'a> {
    table: &'a Table,
    index: Option<&'a Index>,
}

impl Target<'_> {
    fn schema(&self) -> &KeySchema {
        self.index.map_or(&self.table.schema, |i| &i.schema)
    }

    /// The storage prefix of everything the target holds.
    fn prefix(&self) -> Vec<u8> {
        match self.index {
            Some(index) => index.prefix(self.table.record.id),
            None => keys::table_prefix(keys::ITEM, self.table.record.id),
        }
    }

    fn partition_prefix(&self, encoded_hash: &[u8]) -> Vec<u8> {
        match self.index {
            Some(index) => index.partition_prefix(self.table.record.id, encoded_hash),
            None => keys::partition_prefix(self.table.record.id, encoded_hash),
        }
    }

    /// The attributes of LastEvaluatedKey: the table's key, then the index's.
    fn start_key_attributes(&self) -> Vec<&KeyAttribute> {
        let mut attrs: Vec<&KeyAttribute> = key_attributes(&self.table.schema).collect();
        if let Some(index) = self.index {
            for a in key_attributes(&index.schema) {
                if !attrs.iter().any(|x| x.name == a.name) {
                    attrs.push(a);
                }
            }
        }
        attrs
    }

    fn last_key(&self, item: &Item) -> Item {
        self.start_key_attributes()
            .into_iter()
            .filter_map(|a| item.get(&a.name).map(|v| (a.name.clone(), v.clone())))
            .collect()
    }

    /// Checks an `ExclusiveStartKey` and returns the storage key it stands for.
    fn start_key(&self, esk: &Item) -> Result<Vec<u8>> {
        let Some(index) = self.index else {
            return start_key(self.table, esk);
        };
        let attrs = self.start_key_attributes();
        let invalid_start = || invalid("The provided starting key is invalid");
        if esk.len() != attrs.len() {
            return Err(invalid_start());
        }
        for a in &attrs {
            let v = esk.get(&a.name).ok_or_else(invalid_start)?;
            if !type_matches(a.ty, v) {
                return Err(invalid_start());
            }
        }
        let table_part: Item = key_attributes(&self.table.schema)
            .filter_map(|a| esk.get(&a.name).map(|v| (a.name.clone(), v.clone())))
            .collect();
        start_key(self.table, &table_part)?;
        match index.entry(self.table, esk) {
            Ok(Some((k, _))) => Ok(k),
            _ => Err(invalid_start()),
        }
    }
}

/// Finds the index a read names and applies DynamoDB's rules on reading it.
/// Returns the target and whether each entry must be completed from the base item (a
/// local index asked for attributes it does not project, which DynamoDB fetches).
fn resolve_target<'a>(
    table: &'a Table,
    common: &ReadCommon,
    projection: Option<&Projection>,
) -> Result<(Target<'a>, bool)> {
    let Some(name) = common.index_name.as_deref() else {
        return Ok((Target { table, index: None }, false));
    };
    let Some(index) = table.index(name) else {
        if common.exclusive_start_key.is_some() {
            return Err(invalid("The provided starting key is invalid"));
        }
        return Err(invalid(format!(
            "The table does not have the specified index: {name}"
        )));
    };
    if index.global && common.consistent_read {
        return Err(invalid(
            "Consistent reads are not supported on global secondary indexes",
        ));
    }
    let all_projected = index.projection == IndexProjection::All;
    if common.select == Some(Select::AllAttributes) && index.global && !all_projected {
        return Err(invalid(format!(
            "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index {name} because its projection type is not ALL"
        )));
    }
    let wants_more = match projection {
        Some(p) => p
            .top_level_names()
            .iter()
            .any(|n| !index.projects(table, n)),
        None => common.select == Some(Select::AllAttributes),
    };
    let fetch = !index.global && !all_projected && wants_more;
    Ok((
        Target {
            table,
            index: Some(index),
        },
        fetch,
    ))
}

/// Checks the key terms against the schema, in DynamoDB's order, and plans the read.
fn plan_query(target: &Target<'_>, terms: &[KeyTerm]) -> Result<QueryPlan> {
    let schema = target.schema();
    let has_range = schema.range.is_some();
    for (i, attr) in key_attributes(schema).enumerate() {
        let is_hash = i == 0;
        if is_hash && !has_range && terms.len() > 1 {
            return Err(invalid("Query key condition not supported"));
        }
        let Some(term) = terms.iter().find(|t| t.name == attr.name) else {
            if is_hash || terms.len() > 1 {
                return Err(invalid(format!(
                    "Query condition missed key schema element: {}",
                    attr.name
                )));
            }
            continue;
        };
        if matches!(
            term.operator,
            ComparisonOperator::Null
                | ComparisonOperator::NotNull
                | ComparisonOperator::Ne
                | ComparisonOperator::Contains
                | ComparisonOperator::NotContains
                | ComparisonOperator::In
        ) {
            return Err(invalid(
                "Attempted conditional constraint is not an indexable operation",
            ));
        }
        if term.values.iter().any(|v| !type_matches(attr.ty, v)) {
            return Err(invalid(
                "One or more parameter values were invalid: Condition parameter type does not match schema type",
            ));
        }
        if is_hash && term.operator != ComparisonOperator::Eq {
            return Err(invalid("Query key condition not supported"));
        }
        for v in &term.values {
            if let Some(err) = empty_key_error(attr, v) {
                return Err(err);
            }
        }
    }
    let hash_term = terms
        .iter()
        .find(|t| t.name == schema.hash.name)
        .ok_or_else(|| EngineError::Internal("hash term vanished".into()))?;
    let hash = hash_term.values[0].clone();
    let range_term = schema
        .range
        .as_ref()
        .and_then(|r| terms.iter().find(|t| t.name == r.name))
        .cloned();
    let mut encoded_hash = Vec::new();
    key::encode_scalar(&hash, &mut encoded_hash)?;
    let partition = target.partition_prefix(&encoded_hash);
    let with = |v: &AttributeValue| -> Result<Vec<u8>> {
        let mut k = partition.clone();
        key::encode_scalar(v, &mut k)?;
        Ok(k)
    };
    let whole = KeyRange::prefix(&partition);
    let range = match &range_term {
        None => whole,
        Some(term) => {
            let v = &term.values[0];
            match term.operator {
                // Index entries continue past the range key with the table key, so "equal
                // to v" is every key that starts with v's encoding, and "after v" starts at
                // the first key past all of those.
                ComparisonOperator::Eq => KeyRange::prefix(&with(v)?),
                ComparisonOperator::Lt => KeyRange {
                    start: whole.start,
                    end: Bound::Excluded(with(v)?),
                },
                ComparisonOperator::Le => KeyRange {
                    start: whole.start,
                    end: past(with(v)?),
                },
                ComparisonOperator::Gt => KeyRange {
                    start: match past(with(v)?) {
                        Bound::Excluded(k) => Bound::Included(k),
                        _ => return Ok(empty_plan(hash, range_term)),
                    },
                    end: whole.end,
                },
                ComparisonOperator::Ge => KeyRange {
                    start: Bound::Included(with(v)?),
                    end: whole.end,
                },
                ComparisonOperator::Between => KeyRange {
                    start: Bound::Included(with(v)?),
                    end: past(with(&term.values[1])?),
                },
                ComparisonOperator::BeginsWith => {
                    // A value's encoding without its two-byte terminator is a prefix of the
                    // encoding of exactly the values that begin with it.
                    let mut k = with(v)?;
                    k.truncate(k.len().saturating_sub(2));
                    KeyRange::prefix(&k)
                }
                _ => return Err(EngineError::Internal("unplanned key operator".into())),
            }
        }
    };
    Ok(QueryPlan {
        hash,
        range_term,
        range,
    })
}

/// The bound just past every key that starts with `k`.
fn past(k: Vec<u8>) -> Bound<Vec<u8>> {
    match prefix_successor(&k) {
        Some(next) => Bound::Excluded(next),
        None => Bound::Unbounded,
    }
}

/// A plan that reads nothing.
fn empty_plan(hash: AttributeValue, range_term: Option<KeyTerm>) -> QueryPlan {
    QueryPlan {
        hash,
        range_term,
        range: KeyRange {
            start: Bound::Excluded(Vec::new()),
            end: Bound::Excluded(Vec::new()),
        },
    }
}

/// Whether a range-key value satisfies the query's range term (for ExclusiveStartKey).
fn satisfies(term: &KeyTerm, value: &AttributeValue) -> bool {
    use std::cmp::Ordering::*;
    let cmp = |b: &AttributeValue| cove_expr::compare_values(value, b);
    let v = &term.values;
    match term.operator {
        ComparisonOperator::Eq => cmp(&v[0]) == Some(Equal),
        ComparisonOperator::Lt => cmp(&v[0]) == Some(Less),
        ComparisonOperator::Le => matches!(cmp(&v[0]), Some(Less | Equal)),
        ComparisonOperator::Gt => cmp(&v[0]) == Some(Greater),
        ComparisonOperator::Ge => matches!(cmp(&v[0]), Some(Greater | Equal)),
        ComparisonOperator::Between => {
            matches!(cmp(&v[0]), Some(Greater | Equal)) && matches!(cmp(&v[1]), Some(Less | Equal))
        }
        ComparisonOperator::BeginsWith => match (value, &v[0]) {
            (AttributeValue::S(s), AttributeValue::S(p)) => s.starts_with(p.as_str()),
            (AttributeValue::B(s), AttributeValue::B(p)) => s.starts_with(p),
            _ => false,
        },
        _ => false,
    }
}

/// Checks an `ExclusiveStartKey` names exactly the table's key, and returns its storage key.
fn start_key(table: &Table, esk: &Item) -> Result<Vec<u8>> {
    let invalid_key = || {
        invalid(
            "The provided starting key is invalid: The provided key element does not match the schema",
        )
    };
    if esk.len() != key_attributes(&table.schema).count() {
        return Err(invalid_key());
    }
    let mut values = Vec::with_capacity(2);
    for attr in key_attributes(&table.schema) {
        let v = esk.get(&attr.name).ok_or_else(invalid_key)?;
        if !type_matches(attr.ty, v) {
            return Err(invalid_key());
        }
        if let Some(EngineError::Validation(m)) = empty_key_error(attr, v) {
            return Err(invalid(format!(
                "The provided starting key is invalid: {m}"
            )));
        }
        values.push(v);
    }
    item_key(table, values[0], values.get(1).copied()).map_err(|_| schema_mismatch())
}

/// The bytes a page read: from what it read (table or index), and from the table for
/// entries a local index completed.
struct ReadBytes {
    target: usize,
    base: usize,
}

/// What one page reads and keeps.
struct PageSpec<'a> {
    range: KeyRange,
    reverse: bool,
    limit: Option<usize>,
    filter: Option<&'a Condition>,
    projection: Option<&'a Projection>,
    count_only: bool,
    /// Complete each index entry from its base item (see [`resolve_target`]).
    fetch_base: bool,
}

/// Reads one page from a snapshot: up to `limit` items or 1 MB, whichever comes first.
/// Returns the page and the bytes it read.
fn read_page(
    view: &dyn ReadView,
    target: &Target<'_>,
    spec: PageSpec<'_>,
) -> Result<(ReadPage, ReadBytes)> {
    let mut range = spec.range;
    let mut items = Vec::new();
    let (mut count, mut scanned, mut bytes, mut base_bytes) = (0usize, 0usize, 0usize, 0usize);
    let mut last = None;
    'page: loop {
        let want = spec
            .limit
            .map_or(CHUNK, |l| (l - scanned).min(CHUNK))
            .max(1);
        let entries = view.scan(
            &range,
            ScanOptions {
                reverse: spec.reverse,
                limit: Some(want),
            },
        )?;
        let exhausted = entries.len() < want;
        let mut last_key = None;
        for (storage_key, value) in entries {
            let mut item = codec::decode_item(&value)?;
            scanned += 1;
            bytes += item_size(&item);
            if spec.fetch_base {
                let table = target.table;
                let hash = item.get(&table.schema.hash.name);
                let range = table.schema.range.as_ref().and_then(|r| item.get(&r.name));
                if let Some(hash) = hash {
                    let base_key = item_key(table, hash, range)?;
                    if let Some(bytes_read) = view.get(&base_key)? {
                        item = codec::decode_item(&bytes_read)?;
                        base_bytes += item_size(&item);
                    }
                }
            }
            let keep = match spec.filter {
                Some(filter) => eval_condition(filter, &item)?,
                None => true,
            };
            let full = spec.limit == Some(scanned) || bytes + base_bytes >= MAX_PAGE_BYTES;
            if full {
                last = Some(target.last_key(&item));
            }
            if keep {
                count += 1;
                if !spec.count_only {
                    items.push(match spec.projection {
                        Some(p) => p.apply(item),
                        None => item,
                    });
                }
            }
            if full {
                break 'page;
            }
            last_key = Some(storage_key);
        }
        if exhausted {
            break;
        }
        // Continue after the last key read, in the direction of the scan.
        if let Some(k) = last_key {
            if spec.reverse {
                range.end = Bound::Excluded(k);
            } else {
                range.start = Bound::Excluded(k);
            }
        }
    }
    let page = ReadPage {
        table_name: String::new(),
        items: (!spec.count_only).then_some(items),
        count,
        scanned_count: scanned,
        last_evaluated_key: last,
        consumed: Consumed::default(),
    };
    Ok((
        page,
        ReadBytes {
            target: bytes,
            base: base_bytes,
        },
    ))
}

impl Engine {
    /// The name of a table's partition key attribute, when the table exists (authorization
    /// reads it for `dynamodb:LeadingKeys`).
    pub fn partition_key_name(&self, scope: &Scope, table: &str) -> Option<String> {
        let table = self.live_table(scope, table).ok()?;
        Some(table.schema.hash.name.clone())
    }

    /// The partition key value a Query reads (`dynamodb:LeadingKeys`), or `None` when the
    /// request is invalid or names no table (the query itself then reports why).
    pub fn query_partition_value(
        &self,
        scope: &Scope,
        input: &QueryInput,
    ) -> Option<AttributeValue> {
        let common = &input.common;
        let table = self.live_table(scope, &common.table_name).ok()?;
        let exprs = expressions::prepare_read(
            &common.filter,
            common.projection_expression.as_deref(),
            common.attributes_to_get.as_deref(),
            input.key_condition_expression.as_deref(),
            &common.placeholders,
        )
        .ok()?;
        let (target, _) = resolve_target(&table, common, exprs.projection.as_ref()).ok()?;
        let mut terms = Vec::new();
        match (&exprs.key_condition, &input.key_conditions) {
            (Some(condition), _) => key_terms_of(condition, &mut terms).ok()?,
            (None, Some(legacy)) => {
                terms.extend(legacy.iter().map(|c: &LegacyCondition| KeyTerm {
                    name: c.name.clone(),
                    operator: c.operator,
                    values: c.values.clone(),
                }))
            }
            (None, None) => {}
        }
        plan_query(&target, &terms).ok().map(|plan| plan.hash)
    }

    pub fn query(&self, scope: &Scope, input: QueryInput) -> Result<ReadPage> {
        let common = &input.common;
        let table = self.live_table(scope, &common.table_name)?;
        let exprs = expressions::prepare_read(
            &common.filter,
            common.projection_expression.as_deref(),
            common.attributes_to_get.as_deref(),
            input.key_condition_expression.as_deref(),
            &common.placeholders,
        )?;
        let (target, fetch_base) = resolve_target(&table, common, exprs.projection.as_ref())?;
        let mut terms = Vec::new();
        match (&exprs.key_condition, &input.key_conditions) {
            (Some(condition), _) => key_terms_of(condition, &mut terms)?,
            (None, Some(legacy)) => {
                terms.extend(legacy.iter().map(|c: &LegacyCondition| KeyTerm {
                    name: c.name.clone(),
                    operator: c.operator,
                    values: c.values.clone(),
                }))
            }
            (None, None) => {}
        }
        let plan = plan_query(&target, &terms)?;
        let mut range = plan.range;
        if let Some(esk) = &common.exclusive_start_key {
            let storage_key = target.start_key(esk)?;
            let hash_matches = esk.get(&target.schema().hash.name) == Some(&plan.hash);
            match (&plan.range_term, &target.schema().range) {
                (Some(term), Some(range_attr)) => {
                    let in_range = esk
                        .get(&range_attr.name)
                        .is_some_and(|v| satisfies(term, v));
                    if !in_range {
                        return Err(invalid(
                            "The provided starting key does not match the range key predicate",
                        ));
                    }
                    if !hash_matches {
                        return Err(invalid(
                            "The query can return at most one row and cannot be restarted",
                        ));
                    }
                }
                _ if !hash_matches => {
                    return Err(invalid(
                        "The provided starting key is outside query boundaries based on provided conditions",
                    ));
                }
                _ => {}
            }
            if input.scan_index_forward {
                range.start = Bound::Excluded(storage_key);
            } else {
                range.end = Bound::Excluded(storage_key);
            }
        }
        // A Query's filter may not touch the key it reads by.
        let filter_heads: Vec<String> = match (&common.filter.expression, &common.filter.legacy) {
            (Some(_), _) => {
                let mut heads = Vec::new();
                if let Some(f) = &exprs.filter {
                    path_heads(f, &mut heads);
                }
                heads
            }
            (None, Some(legacy)) => legacy.iter().map(|c| c.name.clone()).collect(),
            (None, None) => Vec::new(),
        };
        let member = if common.filter.expression.is_some() {
            "Filter Expression"
        } else {
            "QueryFilter"
        };
        for attr in key_attributes(target.schema()) {
            if filter_heads.contains(&attr.name) {
                return Err(invalid(format!(
                    "{member} can only contain non-primary key attributes: Primary key attribute: {}",
                    attr.name
                )));
            }
        }
        let count_only = common.select == Some(Select::Count);
        let view = self.storage.snapshot()?;
        let page = read_page(
            view.as_ref(),
            &target,
            PageSpec {
                range,
                reverse: !input.scan_index_forward,
                limit: common.limit,
                filter: exprs.filter.as_ref(),
                projection: exprs.projection.as_ref(),
                count_only,
                fetch_base,
            },
        )?;
        Ok(finish_page(page, &target, common))
    }

    pub fn scan(&self, scope: &Scope, input: ScanInput) -> Result<ReadPage> {
        let common = &input.common;
        let table = self.live_table(scope, &common.table_name)?;
        let exprs = expressions::prepare_read(
            &common.filter,
            common.projection_expression.as_deref(),
            common.attributes_to_get.as_deref(),
            None,
            &common.placeholders,
        )?;
        let (target, fetch_base) = resolve_target(&table, common, exprs.projection.as_ref())?;
        let table_items = target.prefix();
        let bucket_key = |bucket: u32| -> Bound<Vec<u8>> {
            if bucket >= keys::BUCKETS {
                return match prefix_successor(&table_items) {
                    Some(end) => Bound::Excluded(end),
                    None => Bound::Unbounded,
                };
            }
            let mut k = table_items.clone();
            k.extend_from_slice(&(bucket as u16).to_be_bytes());
            Bound::Excluded(k)
        };
        let (first, end) = match input.segment {
            Some((s, t)) => (keys::segment_start(s, t), keys::segment_start(s + 1, t)),
            None => (0, keys::BUCKETS),
        };
        let start = match bucket_key(first) {
            Bound::Excluded(k) if first < keys::BUCKETS => Bound::Included(k),
            other => other,
        };
        let mut range = KeyRange {
            start,
            end: bucket_key(end),
        };
        if let Some(esk) = &common.exclusive_start_key {
            let storage_key = target.start_key(esk)?;
            if let Some((s, t)) = input.segment
                && !range.contains(&storage_key)
            {
                return Err(invalid(format!(
                    "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with correct Segment. TotalSegments: {t} Segment: {s}"
                )));
            }
            range.start = Bound::Excluded(storage_key);
        }
        let count_only = common.select == Some(Select::Count);
        let view = self.storage.snapshot()?;
        let page = read_page(
            view.as_ref(),
            &target,
            PageSpec {
                range,
                reverse: false,
                limit: common.limit,
                filter: exprs.filter.as_ref(),
                projection: exprs.projection.as_ref(),
                count_only,
                fetch_base,
            },
        )?;
        Ok(finish_page(page, &target, common))
    }
}

/// Names the page and prices it: the bytes read, rounded up to 4 KB read units once for the
/// whole page (halved for eventually consistent reads), as DynamoDB charges a Query or Scan;
/// an index read is charged to the index, and what a local index fetched to the table.
fn finish_page(
    (mut page, bytes): (ReadPage, ReadBytes),
    target: &Target<'_>,
    common: &ReadCommon,
) -> ReadPage {
    page.table_name = common.table_name.clone();
    let units = read_units(bytes.target, common.consistent_read);
    page.consumed = match target.index {
        None => Consumed {
            read_units: units,
            write_units: 0.0,
            indexes: Vec::new(),
        },
        Some(index) => Consumed {
            read_units: if bytes.base > 0 {
                read_units(bytes.base, common.consistent_read)
            } else {
                0.0
            },
            write_units: 0.0,
            indexes: vec![IndexConsumed {
                name: index.name.clone(),
                global: index.global,
                read_units: units,
                write_units: 0.0,
            }],
        },
    };
    page
}

/// The key terms a PartiQL WHERE clause pins down: equality on the hash key and one range-key
/// condition, taken from the top-level AND chain, only where the value has the key's type.
fn partiql_key_terms(schema: &KeySchema, filter: &Condition, out: &mut Vec<KeyTerm>) {
    let literal = |o: &Operand| match o {
        Operand::Value(cove_expr::Value::Literal(v)) => Some(v.clone()),
        _ => None,
    };
    let name_of = |o: &Operand| match o {
        Operand::Path(p) => match p.elements.as_slice() {
            [PathElement::Name(n)] => Some(n.clone()),
            _ => None,
        },
        _ => None,
    };
    let attr_type = |name: &str| {
        key_attributes(schema)
            .find(|a| a.name == name)
            .map(|a| (a.ty, a.name == schema.hash.name))
    };
    let mut push = |name: String, operator: ComparisonOperator, values: Vec<AttributeValue>| {
        let Some((ty, is_hash)) = attr_type(&name) else {
            return;
        };
        if values.iter().any(|v| !type_matches(ty, v))
            || (is_hash && operator != ComparisonOperator::Eq)
            || out.iter().any(|t| t.name == name)
        {
            return;
        }
        out.push(KeyTerm {
            name,
            operator,
            values,
        });
    };
    match filter {
        Condition::And(a, b) => {
            partiql_key_terms(schema, a, out);
            partiql_key_terms(schema, b, out);
        }
        Condition::Compare { op, left, right } => {
            let (name, value, op) =
                match (name_of(left), literal(right), name_of(right), literal(left)) {
                    (Some(n), Some(v), _, _) => (n, v, *op),
                    (_, _, Some(n), Some(v)) => (
                        n,
                        v,
                        match op {
                            Comparator::Lt => Comparator::Gt,
                            Comparator::Le => Comparator::Ge,
                            Comparator::Gt => Comparator::Lt,
                            Comparator::Ge => Comparator::Le,
                            other => *other,
                        },
                    ),
                    _ => return,
                };
            let operator = match op {
                Comparator::Eq => ComparisonOperator::Eq,
                Comparator::Lt => ComparisonOperator::Lt,
                Comparator::Le => ComparisonOperator::Le,
                Comparator::Gt => ComparisonOperator::Gt,
                Comparator::Ge => ComparisonOperator::Ge,
                Comparator::Ne => return,
            };
            push(name, operator, vec![value]);
        }
        Condition::Between { value, low, high } => {
            if let (Some(n), Some(l), Some(h)) = (name_of(value), literal(low), literal(high)) {
                push(n, ComparisonOperator::Between, vec![l, h]);
            }
        }
        Condition::Function(Function { name, args }) if name == "begins_with" => {
            // Only strings and binaries have prefixes; anything else stays in the filter.
            if let (Some(n), Some(v)) = (
                args.first().and_then(name_of),
                args.get(1).and_then(literal),
            ) && matches!(v, AttributeValue::S(_) | AttributeValue::B(_))
            {
                push(n, ComparisonOperator::BeginsWith, vec![v]);
            }
        }
        _ => {}
    }
}

/// What a PartiQL SELECT reads.
pub(crate) struct SelectSpec<'a> {
    pub index: Option<&'a str>,
    pub filter: Option<&'a Condition>,
    pub projection: Option<&'a Projection>,
    pub consistent_read: bool,
    pub limit: Option<usize>,
    pub start: Option<&'a Item>,
}

/// Runs a PartiQL SELECT: a Query when the WHERE clause pins the partition key, else a Scan;
/// the whole WHERE clause filters what is read either way.
pub(crate) fn select(view: &dyn ReadView, table: &Table, spec: SelectSpec<'_>) -> Result<ReadPage> {
    let index = match spec.index {
        Some(name) => Some(table.index(name).ok_or_else(|| {
            invalid(format!(
                "The table does not have the specified index: {name}"
            ))
        })?),
        None => None,
    };
    if index.is_some_and(|i| i.global) && spec.consistent_read {
        return Err(invalid(
            "Strongly consistent read is not supported on Global Secondary Indexes",
        ));
    }
    let target = Target { table, index };
    let mut terms = Vec::new();
    if let Some(filter) = spec.filter {
        partiql_key_terms(target.schema(), filter, &mut terms);
    }
    let has_hash = terms.iter().any(|t| t.name == target.schema().hash.name);
    let mut range = if has_hash {
        plan_query(&target, &terms)?.range
    } else {
        KeyRange::prefix(&target.prefix())
    };
    if let Some(start) = spec.start {
        range.start = Bound::Excluded(target.start_key(start)?);
    }
    let (mut page, bytes) = read_page(
        view,
        &target,
        PageSpec {
            range,
            reverse: false,
            limit: spec.limit,
            filter: spec.filter,
            projection: spec.projection,
            count_only: false,
            fetch_base: false,
        },
    )?;
    page.table_name = table.record.name.clone();
    page.consumed = Consumed {
        read_units: read_units(bytes.target + bytes.base, spec.consistent_read),
        write_units: 0.0,
        indexes: Vec::new(),
    };
    Ok(page)
}
