//! Single-item reads and writes: PutItem, GetItem, UpdateItem and DeleteItem, with DynamoDB's
//! key validation, conditions, item limits, ReturnValues and capacity-unit arithmetic.

use std::sync::Arc;

use cove_expr::{Condition, Update};
use cove_types::value::{item_size, validate_item};
use cove_types::{AttributeValue, Item, KeyAttribute, ScalarType, codec, key};
use cove_wire::input::{
    DeleteItemInput, GetItemInput, PutItemInput, ReturnValues, UpdateItemInput,
};
use cove_wire::output::Consumed;

use crate::catalog::Table;
use crate::expressions;
use crate::indexes;
use crate::keys;
use crate::tables::{abort, unabort};
use crate::write::{Change, Outcome, Overlay, write_item};
use crate::{Engine, EngineError, Result, Scope};

/// DynamoDB's limits on key attribute sizes.
const MAX_HASH_KEY_BYTES: usize = 2048;
const MAX_RANGE_KEY_BYTES: usize = 1024;

pub struct PutItemOutput {
    pub table_name: String,
    pub old_item: Option<Item>,
    pub consumed: Consumed,
    /// The item collection's key and size in bytes, when ItemCollectionMetrics were asked
    /// for and the table has local secondary indexes (only then does DynamoDB report them).
    pub item_collection: Option<(Item, i64)>,
}

pub struct GetItemOutput {
    pub table_name: String,
    pub item: Option<Item>,
    pub consumed: Consumed,
}

pub struct UpdateItemOutput {
    pub table_name: String,
    pub attributes: Option<Item>,
    pub consumed: Consumed,
    /// The item collection's key and size in bytes, when ItemCollectionMetrics were asked
    /// for and the table has local secondary indexes (only then does DynamoDB report them).
    pub item_collection: Option<(Item, i64)>,
}

pub struct DeleteItemOutput {
    pub table_name: String,
    pub old_item: Option<Item>,
    pub consumed: Consumed,
    /// The item collection's key and size in bytes, when ItemCollectionMetrics were asked
    /// for and the table has local secondary indexes (only then does DynamoDB report them).
    pub item_collection: Option<(Item, i64)>,
}

pub(crate) fn resource_not_found() -> EngineError {
    EngineError::ResourceNotFound("Requested resource not found".into())
}

pub(crate) fn schema_mismatch() -> EngineError {
    EngineError::Validation("The provided key element does not match the schema".into())
}

/// Write units: 1 KB per unit, rounded up, at least one.
fn write_units(size: usize) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

/// Read units: 4 KB per unit, rounded up, at least one; eventually consistent reads cost half.
pub(crate) fn read_units(size: usize, consistent: bool) -> f64 {
    let units = size.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

pub(crate) fn empty_key_error(attr: &KeyAttribute, value: &AttributeValue) -> Option<EngineError> {
    let kind = match value {
        AttributeValue::S(s) if s.is_empty() => "string",
        AttributeValue::B(b) if b.is_empty() => "binary",
        _ => return None,
    };
    Some(EngineError::Validation(format!(
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty {kind} value. Key: {}",
        attr.name
    )))
}

fn scalar_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::B(b) => b.len(),
        other => other.size(),
    }
}

/// Builds the storage key of the item with these key attribute values.
pub(crate) fn item_key(
    table: &Table,
    hash: &AttributeValue,
    range: Option<&AttributeValue>,
) -> Result<Vec<u8>> {
    let mut encoded_hash = Vec::with_capacity(32);
    key::encode_scalar(hash, &mut encoded_hash)?;
    let mut k = keys::partition_prefix(table.record.id, &encoded_hash);
    if let Some(range) = range {
        key::encode_scalar(range, &mut k)?;
    }
    Ok(k)
}

pub(crate) fn type_matches(ty: ScalarType, value: &AttributeValue) -> bool {
    value.scalar_type() == Some(ty)
}

/// Checks the key attributes of an item being written, with PutItem's messages.
pub(crate) fn key_of_item(table: &Table, item: &Item) -> Result<Vec<u8>> {
    let mut values = Vec::with_capacity(2);
    for attr in std::iter::once(&table.schema.hash).chain(table.schema.range.as_ref()) {
        let Some(value) = item.get(&attr.name) else {
            return Err(EngineError::Validation(format!(
                "One or more parameter values were invalid: Missing the key {} in the item",
                attr.name
            )));
        };
        if !type_matches(attr.ty, value) {
            return Err(EngineError::Validation(format!(
                "One or more parameter values were invalid: Type mismatch for key {} expected: {} actual: {}",
                attr.name,
                attr.ty.as_str(),
                value.type_name()
            )));
        }
        if let Some(err) = empty_key_error(attr, value) {
            return Err(err);
        }
        values.push(value);
    }
    check_key_sizes(table, &values)?;
    item_key(table, values[0], values.get(1).copied())
}

pub(crate) fn check_key_sizes(table: &Table, values: &[&AttributeValue]) -> Result<()> {
    if scalar_size(values[0]) > MAX_HASH_KEY_BYTES {
        return Err(EngineError::Validation(
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes".into(),
        ));
    }
    if table.schema.range.is_some()
        && values
            .get(1)
            .is_some_and(|v| scalar_size(v) > MAX_RANGE_KEY_BYTES)
    {
        return Err(EngineError::Validation(
            "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes".into(),
        ));
    }
    Ok(())
}

/// Checks a `Key` parameter (GetItem, DeleteItem): exactly the schema's attributes.
pub(crate) fn key_param(table: &Table, key_item: &Item) -> Result<Vec<u8>> {
    let expected = 1 + usize::from(table.schema.range.is_some());
    if key_item.len() != expected {
        return Err(schema_mismatch());
    }
    let mut values = Vec::with_capacity(2);
    for attr in std::iter::once(&table.schema.hash).chain(table.schema.range.as_ref()) {
        let value = key_item.get(&attr.name).ok_or_else(schema_mismatch)?;
        if !type_matches(attr.ty, value) {
            return Err(schema_mismatch());
        }
        if let Some(err) = empty_key_error(attr, value) {
            return Err(err);
        }
        values.push(value);
    }
    check_key_sizes(table, &values)?;
    item_key(table, values[0], values.get(1).copied())
}

/// The key attributes named in an update's target paths: DynamoDB refuses to change them.
pub(crate) fn check_key_not_updated(table: &Table, update: &Update) -> Result<()> {
    for path in update.target_paths() {
        if let Some(name) = path.top_level_name()
            && std::iter::once(&table.schema.hash)
                .chain(table.schema.range.as_ref())
                .any(|k| k.name == name)
        {
            return Err(EngineError::Validation(format!(
                "One or more parameter values were invalid: Cannot update attribute {name}. This attribute is part of the key"
            )));
        }
    }
    Ok(())
}

fn collection_key(table: &Table, wanted: bool, source: &Item) -> Option<Item> {
    if !wanted || table.record.local_secondary_indexes.is_empty() {
        return None;
    }
    let name = &table.schema.hash.name;
    let value = source.get(name)?;
    Some(Item::from([(name.clone(), value.clone())]))
}

fn non_empty(item: Item) -> Option<Item> {
    (!item.is_empty()).then_some(item)
}

impl Engine {
    pub(crate) fn live_table(&self, scope: &Scope, name: &str) -> Result<Arc<Table>> {
        let name = self.resolve_name(scope, name)?;
        self.table(scope, name).ok_or_else(resource_not_found)
    }

    /// Runs one write in its own storage transaction. When the table's definition changed
    /// on another node since this one cached it, the write reloads it and runs again, up to a
    /// few times; the inputs are shared with each attempt, not copied.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_one(
        &self,
        table: &Arc<Table>,
        storage_key: Vec<u8>,
        change: OwnedChange,
        key_item: Item,
        condition: Option<Condition>,
        return_old_on_failure: bool,
    ) -> Result<Outcome> {
        let inputs = Arc::new((storage_key, change, key_item, condition));
        let limit = self.options.item_collection_limit_bytes;
        let mut table = Arc::clone(table);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (tbl, inputs_for_txn) = (Arc::clone(&table), Arc::clone(&inputs));
            let outcome = self
                .storage
                .transact_with(move |view| {
                    let (storage_key, change, key_item, condition) = &*inputs_for_txn;
                    let mut ov = Overlay::new(view);
                    let change = match change {
                        OwnedChange::Put(item) => Change::Put(item),
                        OwnedChange::Update(update) => Change::Update(update.as_ref(), key_item),
                        OwnedChange::Delete => Change::Delete,
                    };
                    let outcome = write_item(
                        &mut ov,
                        &tbl,
                        storage_key,
                        change,
                        condition.as_ref(),
                        return_old_on_failure,
                        limit,
                    )
                    .map_err(abort)?;
                    Ok((ov.into_batch(), outcome))
                })
                .map_err(unabort);
            match outcome {
                Err(EngineError::Stale) if attempt < STALE_ATTEMPTS => {
                    table = self.fresh_table(&table)?;
                    // The new definition may have index keys the item must type-check against.
                    if let OwnedChange::Put(item) = &inputs.1 {
                        indexes::check_item(&table, item)?;
                    }
                }
                other => return other,
            }
        }
    }

    pub fn put_item(&self, scope: &Scope, input: PutItemInput) -> Result<PutItemOutput> {
        let _schema = self.schema_lock.read().unwrap_or_else(|e| e.into_inner());
        let table = self.live_table(scope, &input.table_name)?;
        validate_item(&input.item)?;
        let storage_key = key_of_item(&table, &input.item)?;
        let (condition, _) =
            expressions::prepare_write(&input.condition, None, None, &input.placeholders)?;
        indexes::check_item(&table, &input.item)?;
        let new_size = item_size(&input.item);
        let collection = collection_key(&table, input.return_item_collection_metrics, &input.item);
        let outcome = self.write_one(
            &table,
            storage_key,
            OwnedChange::Put(input.item),
            Item::new(),
            condition,
            input.return_old_on_failure,
        )?;
        let old_size = outcome.old.as_ref().map(item_size).unwrap_or(0);
        Ok(PutItemOutput {
            item_collection: collection.map(|k| (k, outcome.collection_size.unwrap_or(0))),
            table_name: input.table_name,
            consumed: Consumed {
                read_units: 0.0,
                write_units: write_units(new_size.max(old_size)),
                indexes: outcome.index_units,
            },
            old_item: match input.return_values {
                ReturnValues::AllOld => outcome.old,
                _ => None,
            },
        })
    }

    pub fn get_item(&self, scope: &Scope, input: GetItemInput) -> Result<GetItemOutput> {
        let table = self.live_table(scope, &input.table_name)?;
        let storage_key = key_param(&table, &input.key)?;
        let projection = expressions::prepare_projection(
            input.projection_expression.as_deref(),
            input.attributes_to_get.as_deref(),
            &input.placeholders,
        )?;
        // Every committed write is visible to the next read, so eventually and strongly
        // consistent reads behave alike; only their price differs.
        let item = match self.storage.get(&storage_key)? {
            Some(bytes) => Some(codec::decode_item(&bytes)?),
            None => None,
        };
        // Capacity is charged on the whole item, whatever the projection keeps.
        let size = item.as_ref().map(item_size).unwrap_or(0);
        let item = match (item, &projection) {
            (Some(item), Some(projection)) => Some(projection.apply(item)),
            (item, _) => item,
        };
        Ok(GetItemOutput {
            table_name: input.table_name,
            item,
            consumed: Consumed {
                read_units: read_units(size, input.consistent_read),
                write_units: 0.0,
                indexes: Vec::new(),
            },
        })
    }

    pub fn delete_item(&self, scope: &Scope, input: DeleteItemInput) -> Result<DeleteItemOutput> {
        let _schema = self.schema_lock.read().unwrap_or_else(|e| e.into_inner());
        let table = self.live_table(scope, &input.table_name)?;
        let storage_key = key_param(&table, &input.key)?;
        let (condition, _) =
            expressions::prepare_write(&input.condition, None, None, &input.placeholders)?;
        let outcome = self.write_one(
            &table,
            storage_key,
            OwnedChange::Delete,
            Item::new(),
            condition,
            input.return_old_on_failure,
        )?;
        let old_size = outcome.old.as_ref().map(item_size).unwrap_or(0);
        Ok(DeleteItemOutput {
            item_collection: collection_key(
                &table,
                input.return_item_collection_metrics,
                &input.key,
            )
            .map(|k| (k, outcome.collection_size.unwrap_or(0))),
            table_name: input.table_name,
            consumed: Consumed {
                read_units: 0.0,
                write_units: write_units(old_size),
                indexes: outcome.index_units,
            },
            old_item: match input.return_values {
                ReturnValues::AllOld => outcome.old,
                _ => None,
            },
        })
    }

    /// UpdateItem: applies an UpdateExpression (or legacy AttributeUpdates) to the item,
    /// creating it from its key when absent, under the request's condition, in one
    /// storage transaction.
    pub fn update_item(&self, scope: &Scope, input: UpdateItemInput) -> Result<UpdateItemOutput> {
        let _schema = self.schema_lock.read().unwrap_or_else(|e| e.into_inner());
        let table = self.live_table(scope, &input.table_name)?;
        let storage_key = key_param(&table, &input.key)?;
        let (condition, update) = expressions::prepare_write(
            &input.condition,
            input.update_expression.as_deref(),
            input.attribute_updates.as_deref(),
            &input.placeholders,
        )?;
        if let Some(update) = &update {
            check_key_not_updated(&table, update)?;
        }
        let outcome = self.write_one(
            &table,
            storage_key,
            OwnedChange::Update(update),
            input.key.clone(),
            condition,
            input.return_old_on_failure,
        )?;
        let Outcome {
            old,
            new,
            updated_paths,
            index_units,
            collection_size,
        } = outcome;
        let new = new.ok_or_else(|| EngineError::Internal("update produced no item".into()))?;
        let old_size = old.as_ref().map(item_size).unwrap_or(0);
        let write = write_units(item_size(&new).max(old_size));
        let attributes = match input.return_values {
            ReturnValues::None => None,
            ReturnValues::AllOld => old,
            ReturnValues::AllNew => Some(new),
            ReturnValues::UpdatedOld => {
                old.and_then(|old| non_empty(cove_expr::project(&updated_paths, &old)))
            }
            ReturnValues::UpdatedNew => non_empty(cove_expr::project(&updated_paths, &new)),
        };
        Ok(UpdateItemOutput {
            item_collection: collection_key(
                &table,
                input.return_item_collection_metrics,
                &input.key,
            )
            .map(|k| (k, collection_size.unwrap_or(0))),
            table_name: input.table_name,
            attributes,
            consumed: Consumed {
                read_units: 0.0,
                write_units: write,
                indexes: index_units,
            },
        })
    }
}

/// How often a write runs in all when it keeps finding its table's definition out of date.
pub(crate) const STALE_ATTEMPTS: u32 = 4;

/// A write's change, owned so it can move into the transaction closure.
pub(crate) enum OwnedChange {
    Put(Item),
    Update(Option<Update>),
    Delete,
}
