//! PartiQL: ExecuteStatement, BatchExecuteStatement and ExecuteTransaction. Statements are
//! parsed by `cove-partiql` into `cove-expr` trees and run on the same paths as the other
//! operations: SELECT as a Query when its WHERE clause pins the partition key (else a Scan),
//! INSERT as a put that must not find the item, UPDATE and DELETE as single-item writes whose
//! WHERE clause names the whole key and must match an existing item.

use cove_expr::{Comparator, Condition, Function, Operand, Path, PathElement, Value};
use cove_partiql::{Returning, Statement};
use cove_types::value::validate_item;
use cove_types::{AttributeValue, Item, codec};
use cove_wire::output::Consumed;
use cove_wire::partiql::{
    BatchExecuteStatementInput, ExecuteStatementInput, ExecuteTransactionInput,
    Statement as WireStatement,
};

use crate::batch::{Prepared, PreparedKind, TransactWriteItemsOutput, fingerprint};
use crate::catalog::Table;
use crate::expressions::Projection;
use crate::indexes;
use crate::items::{OwnedChange, check_key_not_updated, key_of_item, key_param};
use crate::query::{SelectSpec, select};
use crate::{Engine, EngineError, Result, Scope};

/// One statement's answer.
pub struct StatementOutput {
    pub table_name: String,
    pub items: Vec<Item>,
    pub next_token: Option<String>,
    pub last_evaluated_key: Option<Item>,
    pub consumed: Consumed,
}

/// One entry of BatchExecuteStatement's answer: an item, nothing, or an error.
pub struct BatchStatementResponse {
    pub table_name: Option<String>,
    pub item: Option<Item>,
    /// (Code, Message, the item on ALL_OLD) when the statement failed.
    pub error: Option<(&'static str, String, Option<Item>)>,
}

pub struct ExecuteTransactionOutput {
    /// For read transactions, one entry per statement; empty for writes.
    pub responses: Vec<Option<Item>>,
    pub writes: Option<TransactWriteItemsOutput>,
}

fn invalid(msg: impl Into<String>) -> EngineError {
    EngineError::Validation(msg.into())
}

fn parse(statement: &WireStatement) -> Result<Statement> {
    cove_partiql::parse(&statement.statement, &statement.parameters)
        .map_err(|e| EngineError::Validation(e.0))
}

/// The whole key of `table` from the top-level AND chain of equalities in a WHERE clause.
fn key_from_where(table: &Table, filter: Option<&Condition>) -> Result<Item> {
    fn collect(c: &Condition, out: &mut Vec<(String, AttributeValue)>) {
        match c {
            Condition::And(a, b) => {
                collect(a, out);
                collect(b, out);
            }
            Condition::Compare {
                op: Comparator::Eq,
                left,
                right,
            } => {
                let pair = match (left, right) {
                    (Operand::Path(p), Operand::Value(Value::Literal(v)))
                    | (Operand::Value(Value::Literal(v)), Operand::Path(p)) => {
                        match p.elements.as_slice() {
                            [PathElement::Name(n)] => Some((n.clone(), v.clone())),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                out.extend(pair);
            }
            _ => {}
        }
    }
    let mut equalities = Vec::new();
    if let Some(f) = filter {
        collect(f, &mut equalities);
    }
    let mut key = Item::new();
    for attr in std::iter::once(&table.schema.hash).chain(table.schema.range.as_ref()) {
        let mut found = equalities.iter().filter(|(n, _)| *n == attr.name);
        let Some((_, v)) = found.next() else {
            return Err(invalid(
                "Where clause does not contain a mandatory equality on all key attributes",
            ));
        };
        if found.next().is_some() {
            return Err(invalid(format!(
                "Multiple conditions on same key {}. Only single item Update/Insert/Delete are supported",
                attr.name
            )));
        }
        key.insert(attr.name.clone(), v.clone());
    }
    Ok(key)
}

fn exists(table: &Table) -> Condition {
    Condition::Function(Function {
        name: "attribute_exists".into(),
        args: vec![Operand::Path(Path::new(vec![PathElement::Name(
            table.schema.hash.name.clone(),
        )]))],
    })
}

fn not_exists(table: &Table) -> Condition {
    Condition::Function(Function {
        name: "attribute_not_exists".into(),
        args: vec![Operand::Path(Path::new(vec![PathElement::Name(
            table.schema.hash.name.clone(),
        )]))],
    })
}

/// The item must exist and match the WHERE clause.
fn existing_and(table: &Table, filter: Option<Condition>) -> Condition {
    match filter {
        Some(f) => Condition::And(Box::new(exists(table)), Box::new(f)),
        None => exists(table),
    }
}

fn encode_token(key: &Item) -> String {
    codec::encode_item(key)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_token(token: &str) -> Result<Item> {
    let bad = || invalid("Invalid NextToken");
    if !token.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2).unwrap_or("zz"), 16).map_err(|_| bad()))
        .collect::<Result<Vec<u8>>>()?;
    codec::decode_item(&bytes).map_err(|_| bad())
}

impl Engine {
    pub fn execute_statement(
        &self,
        scope: &Scope,
        input: ExecuteStatementInput,
    ) -> Result<StatementOutput> {
        let statement = parse(&input.statement)?;
        let start = input.next_token.as_deref().map(decode_token).transpose()?;
        self.run_statement(
            scope,
            statement,
            &input.statement,
            input.limit,
            start.as_ref(),
        )
    }

    fn run_statement(
        &self,
        scope: &Scope,
        statement: Statement,
        wire: &WireStatement,
        limit: Option<usize>,
        start: Option<&Item>,
    ) -> Result<StatementOutput> {
        match statement {
            Statement::Select {
                projection,
                table,
                index,
                filter,
            } => {
                let t = self.live_table(scope, &table)?;
                let projection = projection.map(Projection::Paths);
                let view = self.storage.snapshot()?;
                let page = select(
                    view.as_ref(),
                    &t,
                    SelectSpec {
                        index: index.as_deref(),
                        filter: filter.as_ref(),
                        projection: projection.as_ref(),
                        consistent_read: wire.consistent_read,
                        limit,
                        start,
                    },
                )?;
                Ok(StatementOutput {
                    table_name: table,
                    items: page.items.unwrap_or_default(),
                    next_token: page.last_evaluated_key.as_ref().map(encode_token),
                    last_evaluated_key: page.last_evaluated_key,
                    consumed: page.consumed,
                })
            }
            Statement::Insert { table, item } => {
                let _schema = self.schema_lock.read().unwrap_or_else(|e| e.into_inner());
                let t = self.live_table(scope, &table)?;
                validate_item(&item)?;
                let storage_key = key_of_item(&t, &item)?;
                indexes::check_item(&t, &item)?;
                let outcome = self
                    .write_one(
                        &t,
                        storage_key,
                        OwnedChange::Put(item),
                        Item::new(),
                        Some(not_exists(&t)),
                        false,
                    )
                    .map_err(|e| match e {
                        EngineError::ConditionalCheckFailed(_) => EngineError::DuplicateItem(
                            "Duplicate primary key exists in table".into(),
                        ),
                        other => other,
                    })?;
                Ok(StatementOutput {
                    table_name: table,
                    items: Vec::new(),
                    next_token: None,
                    last_evaluated_key: None,
                    consumed: Consumed {
                        write_units: 1.0,
                        indexes: outcome.index_units,
                        ..Consumed::default()
                    },
                })
            }
            Statement::Update {
                table,
                update,
                filter,
                returning,
            } => {
                let _schema = self.schema_lock.read().unwrap_or_else(|e| e.into_inner());
                let t = self.live_table(scope, &table)?;
                let key = key_from_where(&t, filter.as_ref())?;
                let storage_key = key_param(&t, &key)?;
                check_key_not_updated(&t, &update)?;
                let outcome = self.write_one(
                    &t,
                    storage_key,
                    OwnedChange::Update(Some(update)),
                    key,
                    Some(existing_and(&t, filter)),
                    wire.return_old_on_failure,
                )?;
                let items = match (returning, &outcome.old, &outcome.new) {
                    (Some(Returning::AllOld), Some(old), _) => vec![old.clone()],
                    (Some(Returning::AllNew), _, Some(new)) => vec![new.clone()],
                    (Some(Returning::ModifiedOld), Some(old), _) => {
                        vec![cove_expr::project(&outcome.updated_paths, old)]
                    }
                    (Some(Returning::ModifiedNew), _, Some(new)) => {
                        vec![cove_expr::project(&outcome.updated_paths, new)]
                    }
                    _ => Vec::new(),
                };
                Ok(StatementOutput {
                    table_name: table,
                    items,
                    next_token: None,
                    last_evaluated_key: None,
                    consumed: Consumed {
                        write_units: 1.0,
                        indexes: outcome.index_units,
                        ..Consumed::default()
                    },
                })
            }
            Statement::Delete {
                table,
                filter,
                returning,
            } => {
                let _schema = self.schema_lock.read().unwrap_or_else(|e| e.into_inner());
                let t = self.live_table(scope, &table)?;
                let key = key_from_where(&t, filter.as_ref())?;
                let storage_key = key_param(&t, &key)?;
                let outcome = self.write_one(
                    &t,
                    storage_key,
                    OwnedChange::Delete,
                    Item::new(),
                    Some(existing_and(&t, filter)),
                    wire.return_old_on_failure,
                )?;
                let items = match (returning, outcome.old) {
                    (Some(Returning::AllOld), Some(old)) => vec![old],
                    _ => Vec::new(),
                };
                Ok(StatementOutput {
                    table_name: table,
                    items,
                    next_token: None,
                    last_evaluated_key: None,
                    consumed: Consumed {
                        write_units: 1.0,
                        indexes: outcome.index_units,
                        ..Consumed::default()
                    },
                })
            }
        }
    }

    /// BatchExecuteStatement: each statement on its own; a failure is reported in its slot
    /// and does not stop the others. Reads must name one whole item.
    pub fn batch_execute_statement(
        &self,
        scope: &Scope,
        input: BatchExecuteStatementInput,
    ) -> Result<Vec<BatchStatementResponse>> {
        let mut out = Vec::with_capacity(input.statements.len());
        for wire in &input.statements {
            let result = parse(wire).and_then(|statement| {
                let table = match &statement {
                    Statement::Select { table, .. }
                    | Statement::Insert { table, .. }
                    | Statement::Update { table, .. }
                    | Statement::Delete { table, .. } => table.clone(),
                };
                if let Statement::Select { filter, .. } = &statement {
                    let t = self.live_table(scope, &table)?;
                    key_from_where(&t, filter.as_ref())?;
                }
                let reply = self.run_statement(scope, statement, wire, None, None)?;
                Ok((table, reply))
            });
            out.push(match result {
                Ok((table, reply)) => BatchStatementResponse {
                    table_name: Some(table),
                    item: reply.items.into_iter().next(),
                    error: None,
                },
                Err(err) => BatchStatementResponse {
                    table_name: None,
                    item: None,
                    error: Some(match err {
                        EngineError::ConditionalCheckFailed(item) => (
                            "ConditionalCheckFailed",
                            "The conditional request failed".into(),
                            item.map(|b| *b),
                        ),
                        EngineError::DuplicateItem(m) => ("DuplicateItem", m, None),
                        EngineError::ResourceNotFound(m) => ("ResourceNotFound", m, None),
                        EngineError::ItemCollectionSizeLimitExceeded(m) => {
                            ("ItemCollectionSizeLimitExceeded", m, None)
                        }
                        EngineError::Validation(m) => ("ValidationError", m, None),
                        other => return Err(other),
                    }),
                },
            });
        }
        Ok(out)
    }

    /// ExecuteTransaction: all reads (each naming one whole item, read from one snapshot) or
    /// all writes (one transaction, as TransactWriteItems).
    pub fn execute_transaction(
        &self,
        scope: &Scope,
        input: ExecuteTransactionInput,
    ) -> Result<ExecuteTransactionOutput> {
        self.rerun_stale(input, |input| self.execute_transaction_once(scope, input))
    }

    fn execute_transaction_once(
        &self,
        scope: &Scope,
        input: ExecuteTransactionInput,
    ) -> Result<ExecuteTransactionOutput> {
        let statements: Vec<Statement> =
            input.statements.iter().map(parse).collect::<Result<_>>()?;
        let reads = statements
            .iter()
            .filter(|s| matches!(s, Statement::Select { .. }))
            .count();
        if reads > 0 && reads < statements.len() {
            return Err(invalid("Unsupported operation in transaction."));
        }
        if reads > 0 {
            let mut plan = Vec::with_capacity(statements.len());
            for statement in statements {
                let Statement::Select {
                    table,
                    index,
                    filter,
                    projection,
                } = statement
                else {
                    continue;
                };
                if index.is_some() {
                    return Err(invalid(
                        "Reads on indices are not supported within transactions.",
                    ));
                }
                let t = self.live_table(scope, &table)?;
                let key = key_from_where(&t, filter.as_ref()).map_err(|_| {
                    invalid("Select statements within ExecuteTransaction must specify the primary key in the where clause.")
                })?;
                plan.push((key_param(&t, &key)?, filter, projection));
            }
            let view = self.storage.snapshot()?;
            let mut responses = Vec::with_capacity(plan.len());
            for (storage_key, filter, projection) in plan {
                let item = match view.get(&storage_key)? {
                    Some(bytes) => Some(codec::decode_item(&bytes)?),
                    None => None,
                };
                let item = match (item, &filter) {
                    (Some(item), Some(f)) if !cove_expr::eval_condition(f, &item)? => None,
                    (item, _) => item,
                };
                responses.push(item.map(|i| match &projection {
                    Some(paths) => cove_expr::project(paths, &i),
                    None => i,
                }));
            }
            return Ok(ExecuteTransactionOutput {
                responses,
                writes: None,
            });
        }
        let _schema = self.schema_lock.read().unwrap_or_else(|e| e.into_inner());
        let mut prepared = Vec::with_capacity(statements.len());
        let mut seen = std::collections::HashSet::new();
        for (statement, wire) in statements.into_iter().zip(&input.statements) {
            let p = match statement {
                Statement::Insert { table, item } => {
                    let t = self.live_table(scope, &table)?;
                    validate_item(&item)?;
                    indexes::check_item(&t, &item)?;
                    Prepared {
                        storage_key: key_of_item(&t, &item)?,
                        condition: Some(not_exists(&t)),
                        kind: PreparedKind::Put(item),
                        table: t,
                        table_name: table,
                        return_old_on_failure: false,
                        duplicate_on_failure: true,
                    }
                }
                Statement::Update {
                    table,
                    update,
                    filter,
                    ..
                } => {
                    let t = self.live_table(scope, &table)?;
                    let key = key_from_where(&t, filter.as_ref())?;
                    check_key_not_updated(&t, &update)?;
                    Prepared {
                        storage_key: key_param(&t, &key)?,
                        condition: Some(existing_and(&t, filter)),
                        kind: PreparedKind::Update(update, key),
                        table: t,
                        table_name: table,
                        return_old_on_failure: wire.return_old_on_failure,
                        duplicate_on_failure: false,
                    }
                }
                Statement::Delete { table, filter, .. } => {
                    let t = self.live_table(scope, &table)?;
                    let key = key_from_where(&t, filter.as_ref())?;
                    Prepared {
                        storage_key: key_param(&t, &key)?,
                        condition: Some(existing_and(&t, filter)),
                        kind: PreparedKind::Delete(key),
                        table: t,
                        table_name: table,
                        return_old_on_failure: wire.return_old_on_failure,
                        duplicate_on_failure: false,
                    }
                }
                Statement::Select { .. } => continue,
            };
            if !seen.insert(p.storage_key.clone()) {
                return Err(invalid(
                    "Transaction request cannot include multiple operations on one item",
                ));
            }
            prepared.push(p);
        }
        let fp = fingerprint(&format!("{:?}", input.statements));
        let writes = self.run_transaction(
            scope,
            prepared,
            input.client_request_token.as_deref(),
            fp,
            false,
        )?;
        Ok(ExecuteTransactionOutput {
            responses: Vec::new(),
            writes: Some(writes),
        })
    }
}
