//! The multi-item operations: BatchWriteItem and BatchGetItem, TransactWriteItems and
//! TransactGetItems.
//!
//! A batch write or a transaction is one storage transaction, so it is atomic and
//! serializable with every other write (a batch is stronger than DynamoDB promises; a
//! transaction is exactly what it promises). A batch get or a transactional get reads one
//! snapshot. Because writes are serialized, a transaction never meets a concurrent one
//! mid-way, so Cove never needs TransactionConflictException: conflicting transactions run
//! one after the other.
//!
//! ClientRequestToken idempotency is durable: the token, a fingerprint of the request and its
//! expiry are written in the same storage transaction as the writes.

use std::collections::HashSet;
use std::sync::Arc;

use cove_expr::{Condition, Update};
use cove_storage::ReadView;
use cove_types::value::{item_size, validate_item};
use cove_types::{Item, codec};
use cove_wire::batch::{
    BatchGetItemInput, BatchWriteItemInput, TransactAction, TransactGetItemsInput,
    TransactWriteItemsInput, WriteRequest,
};
use cove_wire::output::{Consumed, IndexConsumed};

use crate::catalog::Table;
use crate::expressions::{self, Projection};
use crate::indexes;
use crate::items::{check_key_not_updated, key_of_item, key_param, read_units};
use crate::keys;
use crate::tables::{abort, now_seconds, unabort};
use crate::write::{Change, Overlay, read_item, write_item};
use crate::{Engine, EngineError, Result, Scope};

/// The most response bytes one BatchGetItem returns; the rest are UnprocessedKeys.
const MAX_BATCH_GET_BYTES: usize = 16 * 1024 * 1024;

/// How long a ClientRequestToken is remembered, in seconds.
const TOKEN_LIFETIME: f64 = 600.0;

/// Why one action of a cancelled transaction failed, in DynamoDB's CancellationReason shape.
#[derive(Debug, Clone, PartialEq)]
pub struct CancellationReason {
    /// `None`, `ConditionalCheckFailed`, `ValidationError`, `ItemCollectionSizeLimitExceeded`.
    pub code: &'static str,
    pub message: Option<String>,
    /// The item, when the action asked for ALL_OLD on a failed condition.
    pub item: Option<Item>,
}

/// Consumed capacity of one table in a multi-table operation.
pub struct TableConsumed {
    pub table_name: String,
    pub consumed: Consumed,
}

pub struct BatchWriteItemOutput {
    pub consumed: Vec<TableConsumed>,
    /// Per table with local indexes: each written item collection's key and size.
    pub item_collections: Vec<(String, Vec<(Item, i64)>)>,
}

pub struct BatchGetItemOutput {
    pub responses: Vec<(String, Vec<Item>)>,
    /// Per table: the keys not read because the response reached 16 MB.
    pub unprocessed: Vec<(String, Vec<Item>)>,
    pub consumed: Vec<TableConsumed>,
}

pub struct TransactWriteItemsOutput {
    pub consumed: Vec<TableConsumed>,
    pub item_collections: Vec<(String, Vec<(Item, i64)>)>,
}

pub struct TransactGetItemsOutput {
    /// One entry per Get, in request order: the item, or `None` when absent.
    pub responses: Vec<Option<Item>>,
    pub consumed: Vec<TableConsumed>,
}

fn duplicate_keys() -> EngineError {
    EngineError::Validation("Provided list of item keys contains duplicates".into())
}

fn one_item_twice() -> EngineError {
    EngineError::Validation(
        "Transaction request cannot include multiple operations on one item".into(),
    )
}

/// Write units: 1 KB per unit, rounded up, at least one.
fn write_units(size: usize) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

/// Adds capacity to a table's running total, keeping first-seen table order.
fn charge(
    totals: &mut Vec<TableConsumed>,
    table: &str,
    read: f64,
    write: f64,
    indexes: Vec<IndexConsumed>,
) {
    let entry = match totals.iter_mut().position(|t| t.table_name == table) {
        Some(i) => &mut totals[i],
        None => {
            totals.push(TableConsumed {
                table_name: table.to_string(),
                consumed: Consumed::default(),
            });
            let last = totals.len() - 1;
            &mut totals[last]
        }
    };
    entry.consumed.read_units += read;
    entry.consumed.write_units += write;
    for ix in indexes {
        match entry
            .consumed
            .indexes
            .iter_mut()
            .find(|e| e.name == ix.name)
        {
            Some(e) => {
                e.read_units += ix.read_units;
                e.write_units += ix.write_units;
            }
            None => entry.consumed.indexes.push(ix),
        }
    }
}

fn collection_entry(
    collections: &mut Vec<(String, Vec<(Item, i64)>)>,
    table: &Table,
    table_name: &str,
    source: &Item,
    size: Option<i64>,
) {
    let (Some(size), Some(hash)) = (size, source.get(&table.schema.hash.name)) else {
        return;
    };
    let key = Item::from([(table.schema.hash.name.clone(), hash.clone())]);
    let i = match collections.iter().position(|(n, _)| n == table_name) {
        Some(i) => i,
        None => {
            collections.push((table_name.to_string(), Vec::new()));
            collections.len() - 1
        }
    };
    let list = &mut collections[i].1;
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = size,
        None => list.push((key, size)),
    }
}

/// FNV-1a (64-bit) of a request's canonical text, to recognise a retried transaction.
pub(crate) fn fingerprint(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in text.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// One prepared action of a TransactWriteItems (or of a PartiQL ExecuteTransaction).
pub(crate) struct Prepared {
    pub table: Arc<Table>,
    pub table_name: String,
    pub storage_key: Vec<u8>,
    pub kind: PreparedKind,
    pub condition: Option<Condition>,
    pub return_old_on_failure: bool,
    /// A failed condition means the item already exists (PartiQL INSERT): the reason is
    /// DuplicateItem rather than ConditionalCheckFailed.
    pub duplicate_on_failure: bool,
}

pub(crate) enum PreparedKind {
    Check,
    Put(Item),
    Delete(Item),
    Update(Update, Item),
}

impl Engine {
    pub fn batch_write_item(
        &self,
        scope: &Scope,
        input: BatchWriteItemInput,
    ) -> Result<BatchWriteItemOutput> {
        self.rerun_stale(input, |input| self.batch_write_item_once(scope, input))
    }

    fn batch_write_item_once(
        &self,
        scope: &Scope,
        input: BatchWriteItemInput,
    ) -> Result<BatchWriteItemOutput> {
        let _schema = self.schema_lock.read().unwrap_or_else(|e| e.into_inner());
        // Check every request before writing anything, as DynamoDB does.
        let mut plan = Vec::new();
        for (name, requests) in &input.tables {
            let table = self.live_table(scope, name)?;
            let mut seen = HashSet::new();
            for request in requests {
                let (storage_key, item) = match request {
                    WriteRequest::Put(item) => {
                        validate_item(item)?;
                        let key = key_of_item(&table, item).map_err(|e| match e {
                            EngineError::Validation(m)
                                if m.contains("Missing the key")
                                    || m.contains("Type mismatch for key") =>
                            {
                                EngineError::Validation(
                                    "The provided key element does not match the schema".into(),
                                )
                            }
                            other => other,
                        })?;
                        indexes::check_item(&table, item)?;
                        (key, Some(item.clone()))
                    }
                    WriteRequest::Delete(key) => (key_param(&table, key)?, None),
                };
                if !seen.insert(storage_key.clone()) {
                    return Err(duplicate_keys());
                }
                let source = match request {
                    WriteRequest::Put(item) | WriteRequest::Delete(item) => item.clone(),
                };
                plan.push((Arc::clone(&table), name.clone(), storage_key, item, source));
            }
        }
        let limit = self.options.item_collection_limit_bytes;
        let wants_metrics = input.return_item_collection_metrics;
        let (consumed, item_collections) = self
            .storage
            .transact_with(move |view| {
                let mut ov = Overlay::new(view);
                let mut consumed = Vec::new();
                let mut collections = Vec::new();
                for (table, name, storage_key, item, source) in &plan {
                    let change = match item {
                        Some(item) => Change::Put(item),
                        None => Change::Delete,
                    };
                    let outcome =
                        write_item(&mut ov, table, storage_key, change, None, false, limit)
                            .map_err(abort)?;
                    let size = outcome
                        .new
                        .as_ref()
                        .map(item_size)
                        .unwrap_or(0)
                        .max(outcome.old.as_ref().map(item_size).unwrap_or(0));
                    charge(
                        &mut consumed,
                        name,
                        0.0,
                        write_units(size),
                        outcome.index_units,
                    );
                    if wants_metrics {
                        collection_entry(
                            &mut collections,
                            table,
                            name,
                            source,
                            outcome.collection_size,
                        );
                    }
                }
                Ok((ov.into_batch(), (consumed, collections)))
            })
            .map_err(|e| self.after_stale(unabort(e)))?;
        Ok(BatchWriteItemOutput {
            consumed,
            item_collections,
        })
    }

    pub fn batch_get_item(
        &self,
        scope: &Scope,
        input: BatchGetItemInput,
    ) -> Result<BatchGetItemOutput> {
        let mut plan = Vec::new();
        for (name, request) in &input.tables {
            let table = self.live_table(scope, name)?;
            let projection = expressions::prepare_projection(
                request.projection_expression.as_deref(),
                request.attributes_to_get.as_deref(),
                &request.placeholders,
            )?;
            let mut seen = HashSet::new();
            let mut keys = Vec::with_capacity(request.keys.len());
            for key in &request.keys {
                let storage_key = key_param(&table, key)?;
                if !seen.insert(storage_key.clone()) {
                    return Err(duplicate_keys());
                }
                keys.push((storage_key, key.clone()));
            }
            plan.push((name.clone(), projection, request.consistent_read, keys));
        }
        let view = self.storage.snapshot()?;
        let mut responses = Vec::new();
        let mut unprocessed: Vec<(String, Vec<Item>)> = Vec::new();
        let mut consumed = Vec::new();
        let mut bytes = 0usize;
        for (name, projection, consistent, keys) in plan {
            let mut items = Vec::new();
            for (storage_key, key) in keys {
                if bytes >= MAX_BATCH_GET_BYTES {
                    match unprocessed.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, list)) => list.push(key),
                        None => unprocessed.push((name.clone(), vec![key])),
                    }
                    continue;
                }
                let item = read_stored(view.as_ref(), &storage_key)?;
                let size = item.as_ref().map(item_size).unwrap_or(0);
                charge(
                    &mut consumed,
                    &name,
                    read_units(size, consistent),
                    0.0,
                    Vec::new(),
                );
                if let Some(item) = item {
                    bytes += size;
                    items.push(apply(projection.as_ref(), item));
                }
            }
            responses.push((name, items));
        }
        Ok(BatchGetItemOutput {
            responses,
            unprocessed,
            consumed,
        })
    }

    pub fn transact_write_items(
        &self,
        scope: &Scope,
        input: TransactWriteItemsInput,
    ) -> Result<TransactWriteItemsOutput> {
        self.rerun_stale(input, |input| self.transact_write_items_once(scope, input))
    }

    fn transact_write_items_once(
        &self,
        scope: &Scope,
        input: TransactWriteItemsInput,
    ) -> Result<TransactWriteItemsOutput> {
        let _schema = self.schema_lock.read().unwrap_or_else(|e| e.into_inner());
        // Clients send maps in any order, so the placeholders are sorted first: a retry of the
        // same request must match whatever order its maps came in.
        let canonical: Vec<_> = input
            .items
            .iter()
            .cloned()
            .map(|mut w| {
                if let Some(names) = &mut w.placeholders.names {
                    names.sort();
                }
                if let Some(values) = &mut w.placeholders.values {
                    values.sort_by(|a, b| a.0.cmp(&b.0));
                }
                w
            })
            .collect();
        let fingerprint = fingerprint(&format!("{canonical:?}"));
        let mut prepared = Vec::with_capacity(input.items.len());
        let mut seen = HashSet::new();
        for write in &input.items {
            let table = self.live_table(scope, &write.table_name)?;
            let update_text = match &write.action {
                TransactAction::Update {
                    update_expression, ..
                } => Some(update_expression.as_str()),
                _ => None,
            };
            let (condition, update) = expressions::prepare_write(
                &write.condition,
                update_text,
                None,
                &write.placeholders,
            )?;
            let (storage_key, kind) = match &write.action {
                TransactAction::ConditionCheck { key } => {
                    (key_param(&table, key)?, PreparedKind::Check)
                }
                TransactAction::Put { item } => {
                    validate_item(item)?;
                    indexes::check_item(&table, item)?;
                    (key_of_item(&table, item)?, PreparedKind::Put(item.clone()))
                }
                TransactAction::Delete { key } => {
                    (key_param(&table, key)?, PreparedKind::Delete(key.clone()))
                }
                TransactAction::Update { key, .. } => {
                    let update = update.ok_or_else(|| {
                        EngineError::Internal("transact update without its expression".into())
                    })?;
                    check_key_not_updated(&table, &update)?;
                    (
                        key_param(&table, key)?,
                        PreparedKind::Update(update, key.clone()),
                    )
                }
            };
            if !seen.insert(storage_key.clone()) {
                return Err(one_item_twice());
            }
            prepared.push(Prepared {
                table,
                table_name: write.table_name.clone(),
                storage_key,
                kind,
                condition,
                return_old_on_failure: write.return_old_on_failure,
                duplicate_on_failure: false,
            });
        }
        self.run_transaction(
            scope,
            prepared,
            input.client_request_token.as_deref(),
            fingerprint,
            input.return_item_collection_metrics,
        )
    }

    /// Runs prepared transaction actions in one storage transaction: all apply, or none and
    /// TransactionCanceledException lists why, action by action.
    pub(crate) fn run_transaction(
        &self,
        scope: &Scope,
        prepared: Vec<Prepared>,
        client_request_token: Option<&str>,
        fingerprint: u64,
        wants_metrics: bool,
    ) -> Result<TransactWriteItemsOutput> {
        let token_key =
            client_request_token.map(|t| keys::token_key(&scope.account_id, &scope.region, t));
        let limit = self.options.item_collection_limit_bytes;
        let now = now_seconds();
        let result = self
            .storage
            .transact_with(move |view| {
                // A token seen within its lifetime: the same request is answered without
                // running again; a different one is refused.
                if let Some(token_key) = &token_key
                    && let Some(record) = view.get(token_key)?
                    && let Some((seen_fingerprint, expires)) = decode_token(&record)
                    && expires > now
                {
                    if seen_fingerprint != fingerprint {
                        return Err(abort(EngineError::IdempotentParameterMismatch(
                            "Specified idempotency token was used with different request parameters within the idempotency window".into(),
                        )));
                    }
                    return Ok((cove_storage::WriteBatch::new(), None));
                }
                let mut ov = Overlay::new(view);
                let mut reasons = Vec::with_capacity(prepared.len());
                let mut failed = false;
                let mut consumed = Vec::new();
                let mut collections = Vec::new();
                for p in &prepared {
                    let change = match &p.kind {
                        PreparedKind::Check => None,
                        PreparedKind::Put(item) => Some(Change::Put(item)),
                        PreparedKind::Delete(_) => Some(Change::Delete),
                        PreparedKind::Update(update, key) => Some(Change::Update(Some(update), key)),
                    };
                    let result = match change {
                        None => check_only(&ov, p),
                        Some(change) => write_item(
                            &mut ov,
                            &p.table,
                            &p.storage_key,
                            change,
                            p.condition.as_ref(),
                            p.return_old_on_failure,
                            limit,
                        )
                        .map(Some),
                    };
                    match result {
                        Ok(outcome) => {
                            reasons.push(CancellationReason {
                                code: "None",
                                message: None,
                                item: None,
                            });
                            if let Some(outcome) = outcome {
                                let size = outcome
                                    .new
                                    .as_ref()
                                    .map(item_size)
                                    .unwrap_or(0)
                                    .max(outcome.old.as_ref().map(item_size).unwrap_or(0));
                                // Transactional writes cost twice a plain write.
                                let units: Vec<IndexConsumed> = outcome
                                    .index_units
                                    .into_iter()
                                    .map(|mut u| {
                                        u.write_units *= 2.0;
                                        u
                                    })
                                    .collect();
                                charge(&mut consumed, &p.table_name, 0.0, 2.0 * write_units(size), units);
                                if wants_metrics {
                                    let source = match &p.kind {
                                        PreparedKind::Put(item) => item,
                                        PreparedKind::Delete(key) | PreparedKind::Update(_, key) => key,
                                        PreparedKind::Check => continue,
                                    };
                                    collection_entry(
                                        &mut collections,
                                        &p.table,
                                        &p.table_name,
                                        source,
                                        outcome.collection_size,
                                    );
                                }
                            } else {
                                charge(&mut consumed, &p.table_name, 2.0, 0.0, Vec::new());
                            }
                        }
                        Err(err) => {
                            failed = true;
                            reasons.push(match err {
                                EngineError::ConditionalCheckFailed(_) if p.duplicate_on_failure => {
                                    CancellationReason {
                                        code: "DuplicateItem",
                                        message: Some("Duplicate primary key exists in table".into()),
                                        item: None,
                                    }
                                }
                                EngineError::ConditionalCheckFailed(item) => CancellationReason {
                                    code: "ConditionalCheckFailed",
                                    message: Some("The conditional request failed".into()),
                                    item: item.map(|b| *b),
                                },
                                EngineError::Validation(m) => CancellationReason {
                                    code: "ValidationError",
                                    message: Some(m),
                                    item: None,
                                },
                                EngineError::ItemCollectionSizeLimitExceeded(m) => {
                                    CancellationReason {
                                        code: "ItemCollectionSizeLimitExceeded",
                                        message: Some(m),
                                        item: None,
                                    }
                                }
                                other => return Err(abort(other)),
                            });
                        }
                    }
                }
                if failed {
                    return Err(abort(EngineError::TransactionCanceled(reasons)));
                }
                if let Some(token_key) = token_key {
                    ov.put(token_key, encode_token(fingerprint, now + TOKEN_LIFETIME));
                }
                Ok((ov.into_batch(), Some((consumed, collections))))
            })
            .map_err(|e| self.after_stale(unabort(e)))?;
        let (consumed, item_collections) = result.unwrap_or_default();
        Ok(TransactWriteItemsOutput {
            consumed,
            item_collections,
        })
    }

    pub fn transact_get_items(
        &self,
        scope: &Scope,
        input: TransactGetItemsInput,
    ) -> Result<TransactGetItemsOutput> {
        let mut plan = Vec::with_capacity(input.items.len());
        let mut seen = HashSet::new();
        for get in &input.items {
            let table = self.live_table(scope, &get.table_name)?;
            let storage_key = key_param(&table, &get.key)?;
            if !seen.insert(storage_key.clone()) {
                return Err(one_item_twice());
            }
            let projection = expressions::prepare_projection(
                get.projection_expression.as_deref(),
                None,
                &get.placeholders,
            )?;
            plan.push((get.table_name.clone(), storage_key, projection));
        }
        // One snapshot: every item as of the same moment.
        let view = self.storage.snapshot()?;
        let mut responses = Vec::with_capacity(plan.len());
        let mut consumed = Vec::new();
        for (name, storage_key, projection) in plan {
            let item = read_stored(view.as_ref(), &storage_key)?;
            let size = item.as_ref().map(item_size).unwrap_or(0);
            // Transactional reads cost twice a strongly consistent read.
            charge(
                &mut consumed,
                &name,
                2.0 * read_units(size, true),
                0.0,
                Vec::new(),
            );
            responses.push(item.map(|i| apply(projection.as_ref(), i)));
        }
        Ok(TransactGetItemsOutput {
            responses,
            consumed,
        })
    }
}

/// A ConditionCheck: the condition against the item as it is, nothing written.
fn check_only(ov: &Overlay<'_>, p: &Prepared) -> Result<Option<crate::write::Outcome>> {
    if ov
        .get(&keys::table_prefix(keys::STATS, p.table.record.id))?
        .is_none()
    {
        return Err(EngineError::ResourceNotFound(
            "Requested resource not found".into(),
        ));
    }
    let old = read_item(ov, &p.storage_key)?;
    crate::write::check_condition(p.condition.as_ref(), old.as_ref(), p.return_old_on_failure)?;
    Ok(None)
}

fn read_stored(view: &dyn ReadView, storage_key: &[u8]) -> Result<Option<Item>> {
    match view.get(storage_key)? {
        Some(bytes) => Ok(Some(codec::decode_item(&bytes)?)),
        None => Ok(None),
    }
}

fn apply(projection: Option<&Projection>, item: Item) -> Item {
    match projection {
        Some(p) => p.apply(item),
        None => item,
    }
}

fn encode_token(fingerprint: u64, expires: f64) -> Vec<u8> {
    let mut v = fingerprint.to_be_bytes().to_vec();
    v.extend_from_slice(&expires.to_be_bytes());
    v
}

fn decode_token(v: &[u8]) -> Option<(u64, f64)> {
    let fp = u64::from_be_bytes(v.get(0..8)?.try_into().ok()?);
    let expires = f64::from_be_bytes(v.get(8..16)?.try_into().ok()?);
    Some((fp, expires))
}
