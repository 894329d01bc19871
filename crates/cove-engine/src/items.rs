//! Single-item reads and writes: PutItem, GetItem and DeleteItem, with DynamoDB's key
//! validation, item limits, ReturnValues and capacity-unit arithmetic.

use cove_storage::WriteBatch;
use cove_types::value::{item_size, validate_item};
use cove_types::{AttributeValue, Item, KeyAttribute, ScalarType, codec, key};
use cove_wire::input::{DeleteItemInput, GetItemInput, PutItemInput, ReturnValues};
use cove_wire::output::Consumed;

use crate::catalog::Table;
use crate::keys;
use crate::tables::{abort, decode_stats, encode_stats, unabort};
use crate::{Engine, EngineError, Result, Scope};

/// DynamoDB's limits on key attribute sizes.
const MAX_HASH_KEY_BYTES: usize = 2048;
const MAX_RANGE_KEY_BYTES: usize = 1024;

pub struct PutItemOutput {
    pub table_name: String,
    pub old_item: Option<Item>,
    pub consumed: Consumed,
}

pub struct GetItemOutput {
    pub table_name: String,
    pub item: Option<Item>,
    pub consumed: Consumed,
}

pub struct DeleteItemOutput {
    pub table_name: String,
    pub old_item: Option<Item>,
    pub consumed: Consumed,
}

fn resource_not_found() -> EngineError {
    EngineError::ResourceNotFound("Requested resource not found".into())
}

fn schema_mismatch() -> EngineError {
    EngineError::Validation("The provided key element does not match the schema".into())
}

/// Write units: 1 KB per unit, rounded up, at least one.
fn write_units(size: usize) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

/// Read units: 4 KB per unit, rounded up, at least one; eventually consistent reads cost half.
fn read_units(size: usize, consistent: bool) -> f64 {
    let units = size.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

fn empty_key_error(attr: &KeyAttribute, value: &AttributeValue) -> Option<EngineError> {
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
fn item_key(
    table: &Table,
    hash: &AttributeValue,
    range: Option<&AttributeValue>,
) -> Result<Vec<u8>> {
    let mut k = keys::table_prefix(keys::ITEM, table.record.id);
    key::encode_scalar(hash, &mut k)?;
    if let Some(range) = range {
        key::encode_scalar(range, &mut k)?;
    }
    Ok(k)
}

fn type_matches(ty: ScalarType, value: &AttributeValue) -> bool {
    value.scalar_type() == Some(ty)
}

/// Checks the key attributes of an item being written, with PutItem's messages.
fn key_of_item(table: &Table, item: &Item) -> Result<Vec<u8>> {
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

fn check_key_sizes(table: &Table, values: &[&AttributeValue]) -> Result<()> {
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
fn key_param(table: &Table, key_item: &Item) -> Result<Vec<u8>> {
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

impl Engine {
    fn live_table(&self, scope: &Scope, name: &str) -> Result<std::sync::Arc<Table>> {
        let name = self.resolve_name(scope, name)?;
        self.table(scope, name).ok_or_else(resource_not_found)
    }

    pub fn put_item(&self, scope: &Scope, input: PutItemInput) -> Result<PutItemOutput> {
        let table = self.live_table(scope, &input.table_name)?;
        validate_item(&input.item)?;
        let storage_key = key_of_item(&table, &input.item)?;
        let new_size = item_size(&input.item);
        let encoded = codec::encode_item(&input.item);
        let stats_key = keys::table_prefix(keys::STATS, table.record.id);
        let old = self
            .storage
            .transact_with(move |view| {
                // The stats record lives exactly as long as the table, so its absence means the
                // table was deleted after this request looked it up.
                let stats = view
                    .get(&stats_key)?
                    .ok_or_else(|| abort(resource_not_found()))?;
                let (mut count, mut size) = decode_stats(&stats).map_err(abort)?;
                let old = match view.get(&storage_key)? {
                    Some(bytes) => Some(codec::decode_item(&bytes).map_err(|e| abort(e.into()))?),
                    None => None,
                };
                match &old {
                    Some(old) => size -= item_size(old) as i64,
                    None => count += 1,
                }
                size += new_size as i64;
                let mut batch = WriteBatch::new();
                batch.put(storage_key, encoded);
                batch.put(stats_key, encode_stats(count, size));
                Ok((batch, old))
            })
            .map_err(unabort)?;
        let old_size = old.as_ref().map(item_size).unwrap_or(0);
        Ok(PutItemOutput {
            table_name: input.table_name,
            consumed: Consumed {
                read_units: 0.0,
                write_units: write_units(new_size.max(old_size)),
            },
            old_item: match input.return_values {
                ReturnValues::AllOld => old,
                ReturnValues::None => None,
            },
        })
    }

    pub fn get_item(&self, scope: &Scope, input: GetItemInput) -> Result<GetItemOutput> {
        let table = self.live_table(scope, &input.table_name)?;
        let storage_key = key_param(&table, &input.key)?;
        // Every committed write is visible to the next read, so eventually and strongly
        // consistent reads behave alike; only their price differs.
        let item = match self.storage.get(&storage_key)? {
            Some(bytes) => Some(codec::decode_item(&bytes)?),
            None => None,
        };
        let size = item.as_ref().map(item_size).unwrap_or(0);
        let item = match (item, &input.attributes_to_get) {
            (Some(item), Some(names)) => Some(
                item.into_iter()
                    .filter(|(k, _)| names.contains(k))
                    .collect(),
            ),
            (item, _) => item,
        };
        Ok(GetItemOutput {
            table_name: input.table_name,
            item,
            consumed: Consumed {
                read_units: read_units(size, input.consistent_read),
                write_units: 0.0,
            },
        })
    }

    pub fn delete_item(&self, scope: &Scope, input: DeleteItemInput) -> Result<DeleteItemOutput> {
        let table = self.live_table(scope, &input.table_name)?;
        let storage_key = key_param(&table, &input.key)?;
        let stats_key = keys::table_prefix(keys::STATS, table.record.id);
        let old = self
            .storage
            .transact_with(move |view| {
                let stats = view
                    .get(&stats_key)?
                    .ok_or_else(|| abort(resource_not_found()))?;
                let Some(bytes) = view.get(&storage_key)? else {
                    return Ok((WriteBatch::new(), None));
                };
                let old = codec::decode_item(&bytes).map_err(|e| abort(e.into()))?;
                let (count, size) = decode_stats(&stats).map_err(abort)?;
                let mut batch = WriteBatch::new();
                batch.delete(storage_key);
                batch.put(
                    stats_key,
                    encode_stats(count - 1, size - item_size(&old) as i64),
                );
                Ok((batch, Some(old)))
            })
            .map_err(unabort)?;
        let old_size = old.as_ref().map(item_size).unwrap_or(0);
        Ok(DeleteItemOutput {
            table_name: input.table_name,
            consumed: Consumed {
                read_units: 0.0,
                write_units: write_units(old_size),
            },
            old_item: match input.return_values {
                ReturnValues::AllOld => old,
                ReturnValues::None => None,
            },
        })
    }
}
