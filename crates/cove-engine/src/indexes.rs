//! Secondary indexes: their definitions as the engine uses them, the index entry each item
//! has (or lacks: indexes are sparse), and their maintenance inside the same storage
//! transaction as the write to the base item, so an index never disagrees with its table.
//!
//! An entry's storage key is the index's prefix, the bucket of the index hash key, the index
//! key, then the table key (so entries with equal index keys stay distinct and ordered). Its
//! value is the projected item, which always holds the table and index key attributes.

use cove_storage::{AbortError, KeyRange, ReadView, ScanOptions, WriteBatch};
use cove_types::value::item_size;
use cove_types::{AttributeValue, Item, KeyAttribute, KeySchema, codec, key};
use cove_wire::output::IndexConsumed;

use crate::catalog::Table;
use crate::keys;
use crate::tables::{abort, decode_stats, encode_stats};
use crate::write::Overlay;
use crate::{EngineError, Result};

/// Which attributes an index keeps besides the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexProjection {
    All,
    KeysOnly,
    Include(Vec<String>),
}

/// A secondary index as the engine reads and maintains it.
#[derive(Debug, Clone)]
pub struct Index {
    /// Stable within its table; part of the entry keys.
    pub id: u8,
    pub name: String,
    pub global: bool,
    pub schema: KeySchema,
    pub projection: IndexProjection,
}

impl Index {
    /// The storage prefix of this index's entries.
    pub fn prefix(&self, table_id: u64) -> Vec<u8> {
        let mut k = keys::table_prefix(keys::INDEX, table_id);
        k.push(self.id);
        k
    }

    /// The key of this index's (count, size) record.
    pub fn stats_key(&self, table_id: u64) -> Vec<u8> {
        let mut k = keys::table_prefix(keys::INDEX_STATS, table_id);
        k.push(self.id);
        k
    }

    fn key_attributes(&self) -> impl Iterator<Item = &KeyAttribute> {
        std::iter::once(&self.schema.hash).chain(self.schema.range.as_ref())
    }

    /// Whether the index holds attribute `name` of its items.
    pub fn projects(&self, table: &Table, name: &str) -> bool {
        match &self.projection {
            IndexProjection::All => true,
            _ if self.is_key(table, name) => true,
            IndexProjection::KeysOnly => false,
            IndexProjection::Include(names) => names.iter().any(|n| n == name),
        }
    }

    fn is_key(&self, table: &Table, name: &str) -> bool {
        self.key_attributes()
            .chain(std::iter::once(&table.schema.hash))
            .chain(table.schema.range.as_ref())
            .any(|a| a.name == name)
    }

    /// The entry `item` has in this index: `None` when it lacks an index key attribute.
    /// An index key attribute of the wrong type, or empty, is DynamoDB's validation error.
    pub fn entry(&self, table: &Table, item: &Item) -> Result<Option<(Vec<u8>, Item)>> {
        let mut values = Vec::with_capacity(2);
        for attr in self.key_attributes() {
            let Some(value) = item.get(&attr.name) else {
                return Ok(None);
            };
            if value.scalar_type() != Some(attr.ty) {
                return Err(EngineError::Validation(format!(
                    "One or more parameter values were invalid: Type mismatch for Index Key {} Expected: {} Actual: {} IndexName: {}",
                    attr.name,
                    attr.ty.as_str(),
                    value.type_name(),
                    self.name
                )));
            }
            let empty = match value {
                AttributeValue::S(s) => s.is_empty(),
                AttributeValue::B(b) => b.is_empty(),
                _ => false,
            };
            if empty {
                return Err(EngineError::Validation(format!(
                    "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty {} value. IndexName: {}, IndexKey: {}",
                    if matches!(value, AttributeValue::S(_)) {
                        "string"
                    } else {
                        "binary"
                    },
                    self.name,
                    attr.name
                )));
            }
            values.push(value);
        }
        let mut encoded_hash = Vec::new();
        key::encode_scalar(values[0], &mut encoded_hash)?;
        let mut k = self.prefix(table.record.id);
        k.extend_from_slice(&keys::partition_bucket(&encoded_hash).to_be_bytes());
        k.extend_from_slice(&encoded_hash);
        if let Some(range) = values.get(1) {
            key::encode_scalar(range, &mut k)?;
        }
        for attr in std::iter::once(&table.schema.hash).chain(table.schema.range.as_ref()) {
            let v = item.get(&attr.name).ok_or_else(|| {
                EngineError::Internal(format!("indexed item without key {}", attr.name))
            })?;
            key::encode_scalar(v, &mut k)?;
        }
        let projected: Item = item
            .iter()
            .filter(|(name, _)| self.projects(table, name))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Some((k, projected)))
    }

    /// The partition prefix of index hash key `hash` (its encoding).
    pub fn partition_prefix(&self, table_id: u64, encoded_hash: &[u8]) -> Vec<u8> {
        let mut k = self.prefix(table_id);
        k.extend_from_slice(&keys::partition_bucket(encoded_hash).to_be_bytes());
        k.extend_from_slice(encoded_hash);
        k
    }
}

/// Checks an item about to be written against every index's key types, before any write.
pub fn check_item(table: &Table, item: &Item) -> Result<()> {
    for index in &table.indexes {
        index.entry(table, item)?;
    }
    Ok(())
}

/// Write units for an index entry: 1 KB each, rounded up, at least one.
fn entry_write_units(entry: &Item) -> f64 {
    item_size(entry).div_ceil(1024).max(1) as f64
}

/// Adds to `batch` the index changes that turn `old` into `new` (either may be absent), and
/// the changes to each index's counts, reading the counts through `view`. Returns the write
/// units each changed index consumed, as DynamoDB prices them: one write of the new entry,
/// one delete of the old, or both when the index key changed.
pub(crate) fn maintain(
    ov: &mut Overlay<'_>,
    table: &Table,
    old: Option<&Item>,
    new: Option<&Item>,
) -> Result<Vec<IndexConsumed>> {
    let mut consumed = Vec::new();
    for index in &table.indexes {
        // The old item passed these checks when it was written.
        let old_entry = old.and_then(|o| index.entry(table, o).ok().flatten());
        let new_entry = match new {
            Some(n) => index.entry(table, n)?,
            None => None,
        };
        if old_entry == new_entry {
            continue;
        }
        let units = match (&old_entry, &new_entry) {
            (Some((ok, _)), Some((nk, n))) if ok == nk => entry_write_units(n),
            (old, new) => {
                old.as_ref().map_or(0.0, |(_, o)| entry_write_units(o))
                    + new.as_ref().map_or(0.0, |(_, n)| entry_write_units(n))
            }
        };
        consumed.push(IndexConsumed {
            name: index.name.clone(),
            global: index.global,
            read_units: 0.0,
            write_units: units,
        });
        let (mut count, mut size) = (0i64, 0i64);
        if let Some((k, item)) = &old_entry {
            count -= 1;
            size -= item_size(item) as i64;
            if new_entry.as_ref().map(|(nk, _)| nk) != Some(k) {
                ov.delete(k.clone());
            }
        }
        if let Some((k, item)) = new_entry {
            count += 1;
            size += item_size(&item) as i64;
            ov.put(k, codec::encode_item(&item));
        }
        let stats_key = index.stats_key(table.record.id);
        let (c, s) = match ov.get(&stats_key)? {
            Some(v) => decode_stats(&v)?,
            None => (0, 0),
        };
        ov.put(stats_key, encode_stats(c + count, s + size));
    }
    Ok(consumed)
}

/// Builds every entry of `index` from the table's items, in one batch with its counts: the
/// backfill of an index that has no entries yet.
pub fn backfill(
    view: &dyn ReadView,
    batch: &mut WriteBatch,
    table: &Table,
    index: &Index,
) -> std::result::Result<(), AbortError> {
    let items = view.scan(
        &KeyRange::prefix(&keys::table_prefix(keys::ITEM, table.record.id)),
        ScanOptions::default(),
    )?;
    let (mut count, mut size) = (0i64, 0i64);
    for (_, value) in items {
        let item = codec::decode_item(&value).map_err(|e| abort(e.into()))?;
        // An item written before the index existed may not fit it; it stays out, as
        // DynamoDB leaves such items out of an index being created.
        if let Ok(Some((k, entry))) = index.entry(table, &item) {
            count += 1;
            size += item_size(&entry) as i64;
            batch.put(k, codec::encode_item(&entry));
        }
    }
    batch.put(index.stats_key(table.record.id), encode_stats(count, size));
    Ok(())
}

/// The (count, size) of an index.
pub fn stats(view: &dyn ReadView, table: &Table, index: &Index) -> Result<(i64, i64)> {
    match view.get(&index.stats_key(table.record.id))? {
        Some(v) => decode_stats(&v),
        None => Ok((0, 0)),
    }
}

/// Gives ids to the indexes of tables created before Cove maintained indexes and backfills
/// them, each table in one transaction with its catalog record.
pub fn adopt_unmaintained(
    storage: &cove_storage::Storage,
    tables: &mut std::collections::HashMap<crate::catalog::TableKey, std::sync::Arc<Table>>,
) -> Result<()> {
    for table in tables.values_mut() {
        let record = &table.record;
        let all = || {
            record
                .local_secondary_indexes
                .iter()
                .chain(&record.global_secondary_indexes)
        };
        if all().all(|ix| ix.id.is_some()) {
            continue;
        }
        let mut next = all().filter_map(|ix| ix.id).max().unwrap_or(0);
        let mut updated = record.clone();
        let mut fresh = Vec::new();
        for ix in updated
            .local_secondary_indexes
            .iter_mut()
            .chain(updated.global_secondary_indexes.iter_mut())
        {
            if ix.id.is_none() {
                next += 1;
                ix.id = Some(next);
                fresh.push(ix.name.clone());
            }
        }
        let adopted = Table::from_record(updated)?;
        let for_txn = adopted.clone();
        let catalog_key = keys::catalog_key(
            &adopted.record.account_id,
            &adopted.record.region,
            &adopted.record.name,
        );
        storage
            .transact(move |view| {
                let mut batch = WriteBatch::new();
                batch.put(catalog_key, for_txn.record.encode());
                for index in for_txn.indexes.iter().filter(|i| fresh.contains(&i.name)) {
                    backfill(view, &mut batch, &for_txn, index)?;
                }
                rebuild_collections(view, &mut batch, &for_txn)?;
                Ok(batch)
            })
            .map_err(crate::tables::unabort)?;
        *table = std::sync::Arc::new(adopted);
    }
    Ok(())
}

/// The bytes an item adds to its item collection: itself and its local index entries.
fn collection_bytes(table: &Table, item: &Item) -> i64 {
    let entries: usize = table
        .indexes
        .iter()
        .filter(|i| !i.global)
        .filter_map(|i| i.entry(table, item).ok().flatten())
        .map(|(_, e)| item_size(&e))
        .sum();
    (item_size(item) + entries) as i64
}

/// Keeps the size of the item collection `old`/`new` belong to, for tables with local
/// indexes, and refuses a write that would grow it past `limit` with DynamoDB's
/// ItemCollectionSizeLimitExceededException. Returns the collection's size after the write,
/// or `None` when the table has no local index.
pub(crate) fn track_collection(
    ov: &mut Overlay<'_>,
    table: &Table,
    old: Option<&Item>,
    new: Option<&Item>,
    limit: u64,
) -> Result<Option<i64>> {
    if table.indexes.iter().all(|i| i.global) {
        return Ok(None);
    }
    let Some(hash) = new.or(old).and_then(|i| i.get(&table.schema.hash.name)) else {
        return Ok(None);
    };
    let mut encoded = Vec::new();
    key::encode_scalar(hash, &mut encoded)?;
    let key = keys::collection_key(table.record.id, &encoded);
    let current = match ov.get(&key)? {
        Some(v) => i64::from_be_bytes(
            v.as_slice()
                .try_into()
                .map_err(|_| EngineError::Corrupt("collection size".into()))?,
        ),
        None => 0,
    };
    let delta = new.map_or(0, |n| collection_bytes(table, n))
        - old.map_or(0, |o| collection_bytes(table, o));
    let size = current + delta;
    if delta > 0 && size as u64 > limit {
        return Err(EngineError::ItemCollectionSizeLimitExceeded(
            "Collection size exceeded.".into(),
        ));
    }
    if size <= 0 {
        ov.delete(key);
    } else {
        ov.put(key, size.to_be_bytes().to_vec());
    }
    Ok(Some(size.max(0)))
}

/// Recomputes every item collection's size of a table with local indexes.
pub fn rebuild_collections(
    view: &dyn ReadView,
    batch: &mut WriteBatch,
    table: &Table,
) -> std::result::Result<(), AbortError> {
    if table.indexes.iter().all(|i| i.global) {
        return Ok(());
    }
    let existing = view.scan(
        &KeyRange::prefix(&keys::table_prefix(keys::COLLECTION, table.record.id)),
        ScanOptions::default(),
    )?;
    for (k, _) in existing {
        batch.delete(k);
    }
    let items = view.scan(
        &KeyRange::prefix(&keys::table_prefix(keys::ITEM, table.record.id)),
        ScanOptions::default(),
    )?;
    let mut sizes: std::collections::BTreeMap<Vec<u8>, i64> = std::collections::BTreeMap::new();
    for (_, value) in items {
        let item = codec::decode_item(&value).map_err(|e| abort(e.into()))?;
        let Some(hash) = item.get(&table.schema.hash.name) else {
            continue;
        };
        let mut encoded = Vec::new();
        key::encode_scalar(hash, &mut encoded).map_err(|e| abort(e.into()))?;
        *sizes
            .entry(keys::collection_key(table.record.id, &encoded))
            .or_default() += collection_bytes(table, &item);
    }
    for (k, size) in sizes {
        batch.put(k, size.to_be_bytes().to_vec());
    }
    Ok(())
}
