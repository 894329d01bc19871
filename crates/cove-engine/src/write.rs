//! One item write inside a storage transaction, shared by the single-item operations, the
//! batch writes and the transactions: read the item as it is, check the condition, compute
//! the new item, and change the item, its table's counts, its index entries and its item
//! collection's size together.
//!
//! Several writes may share one transaction, so they go through an [`Overlay`]: reads see
//! the writes made earlier in the same transaction (a second write to a table's counters
//! must add to the first, not overwrite it), and the overlay becomes one `WriteBatch` at the
//! end.

use std::collections::BTreeMap;

use cove_expr::{Condition, Path, Update, apply_update, eval_condition};
use cove_storage::{ReadView, StorageError, WriteBatch};
use cove_types::value::{MAX_ITEM_SIZE, item_size};
use cove_types::{Item, codec};
use cove_wire::output::IndexConsumed;

use crate::catalog::Table;
use crate::indexes;
use crate::keys;
use crate::tables::{decode_stats, encode_table_stats, stats_revision};
use crate::ttl;
use crate::{EngineError, Result};

/// A transaction's reads over its own pending writes.
pub(crate) struct Overlay<'a> {
    view: &'a dyn ReadView,
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> Overlay<'a> {
    pub(crate) fn new(view: &'a dyn ReadView) -> Overlay<'a> {
        Overlay {
            view,
            pending: BTreeMap::new(),
        }
    }

    pub(crate) fn get(&self, key: &[u8]) -> std::result::Result<Option<Vec<u8>>, StorageError> {
        match self.pending.get(key) {
            Some(value) => Ok(value.clone()),
            None => self.view.get(key),
        }
    }

    pub(crate) fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.pending.insert(key, Some(value));
    }

    pub(crate) fn delete(&mut self, key: Vec<u8>) {
        self.pending.insert(key, None);
    }

    /// The transaction's writes, to commit.
    pub(crate) fn into_batch(self) -> WriteBatch {
        let mut batch = WriteBatch::new();
        for (key, value) in self.pending {
            match value {
                Some(v) => batch.put(key, v),
                None => batch.delete(key),
            }
        }
        batch
    }
}

/// What a write does to the item.
pub(crate) enum Change<'a> {
    /// PutItem: replace with this item.
    Put(&'a Item),
    /// UpdateItem: apply this update (or none, to create the item from its key) to the item,
    /// or to its key when it is absent.
    Update(Option<&'a Update>, &'a Item),
    Delete,
}

/// What a write found and did.
pub(crate) struct Outcome {
    pub old: Option<Item>,
    pub new: Option<Item>,
    pub updated_paths: Vec<Path>,
    pub index_units: Vec<IndexConsumed>,
    pub collection_size: Option<i64>,
}

/// DynamoDB's error for an update whose result is over 400 KB.
const UPDATED_ITEM_TOO_LARGE: &str = "Item size to update has exceeded the maximum allowed size";

/// Reads the item at `storage_key` through the overlay.
pub(crate) fn read_item(ov: &Overlay<'_>, storage_key: &[u8]) -> Result<Option<Item>> {
    match ov.get(storage_key)? {
        Some(bytes) => Ok(Some(codec::decode_item(&bytes)?)),
        None => Ok(None),
    }
}

/// Checks a write's condition against the item as it is (an empty item when there is none).
pub(crate) fn check_condition(
    condition: Option<&Condition>,
    old: Option<&Item>,
    return_old_on_failure: bool,
) -> Result<()> {
    let Some(condition) = condition else {
        return Ok(());
    };
    let empty = Item::new();
    if eval_condition(condition, old.unwrap_or(&empty))? {
        return Ok(());
    }
    Err(EngineError::ConditionalCheckFailed(
        old.filter(|_| return_old_on_failure)
            .map(|item| Box::new(item.clone())),
    ))
}

/// Performs one write to `table`'s item at `storage_key` inside a transaction.
pub(crate) fn write_item(
    ov: &mut Overlay<'_>,
    table: &Table,
    storage_key: &[u8],
    change: Change<'_>,
    condition: Option<&Condition>,
    return_old_on_failure: bool,
    collection_limit: u64,
) -> Result<Outcome> {
    // The counters live exactly as long as the table, so their absence means the table was
    // deleted after this request looked it up.
    let stats_key = keys::table_prefix(keys::STATS, table.record.id);
    let stats = ov
        .get(&stats_key)?
        .ok_or_else(|| EngineError::ResourceNotFound("Requested resource not found".into()))?;
    let (mut count, mut size) = decode_stats(&stats)?;
    // Every change to the table record bumps the revision here too, in its transaction, so a
    // definition older than the stored one (another node added an index or a time-to-live
    // attribute this write would not maintain) is caught before anything is written.
    let revision = stats_revision(&stats);
    if revision != table.record.revision {
        return Err(EngineError::Stale);
    }
    let old = read_item(ov, storage_key)?;
    check_condition(condition, old.as_ref(), return_old_on_failure)?;
    let (new, updated_paths) = match change {
        Change::Delete => (None, Vec::new()),
        Change::Put(item) => (Some(item.clone()), Vec::new()),
        Change::Update(update, key_item) => {
            let base = old.clone().unwrap_or_else(|| key_item.clone());
            let (item, paths) = match update {
                Some(update) => {
                    let outcome = apply_update(update, base)?;
                    (outcome.item, outcome.updated_paths)
                }
                None => (base, Vec::new()),
            };
            if item_size(&item) > MAX_ITEM_SIZE {
                return Err(EngineError::Validation(UPDATED_ITEM_TOO_LARGE.into()));
            }
            (Some(item), paths)
        }
    };
    if old.is_none() && new.is_none() {
        // Deleting an absent item changes nothing.
        return Ok(Outcome {
            old,
            new,
            updated_paths,
            index_units: Vec::new(),
            collection_size: None,
        });
    }
    if let Some(old) = &old {
        count -= 1;
        size -= item_size(old) as i64;
    }
    match &new {
        Some(item) => {
            count += 1;
            size += item_size(item) as i64;
            ov.put(storage_key.to_vec(), codec::encode_item(item));
        }
        None => ov.delete(storage_key.to_vec()),
    }
    ov.put(stats_key, encode_table_stats(count, size, revision));
    let index_units = indexes::maintain(ov, table, old.as_ref(), new.as_ref())?;
    ttl::maintain(ov, table, storage_key, old.as_ref(), new.as_ref());
    let collection_size =
        indexes::track_collection(ov, table, old.as_ref(), new.as_ref(), collection_limit)?;
    Ok(Outcome {
        old,
        new,
        updated_paths,
        index_units,
        collection_size,
    })
}
