//! Time to live: UpdateTimeToLive and DescribeTimeToLive, the expiry index, and the sweeper
//! that deletes expired items.
//!
//! A table with TTL enabled keeps, for each item whose TTL attribute is a number, an entry
//! `(expiry second, item key)` in the expiry index, changed in the same transaction as the
//! item. The sweeper reads that index up to "now", so its work follows the number of expired
//! items, not the table's size, and deletes each item in a transaction that first checks it
//! is still expired (a write may have moved its expiry meanwhile). Deletions go through the
//! same write path as DeleteItem, so indexes and counts stay right.
//!
//! As in DynamoDB, expired items that the sweeper has not reached yet are still returned by
//! reads; items whose expiry is more than five years in the past are never deleted; and the
//! attribute must be a number of seconds since the epoch (other types are ignored).

use std::sync::Arc;

use cove_storage::{KeyRange, ScanOptions, WriteBatch};
use cove_types::{AttributeValue, Item, codec};
use cove_wire::admin::UpdateTimeToLiveInput;

use crate::catalog::Table;
use crate::keys;
use crate::tables::{abort, now_seconds, unabort};
use crate::write::{Change, Overlay, read_item, write_item};
use crate::{Engine, EngineError, Result, Scope};

/// DynamoDB leaves items whose expiry is more than five years old alone.
const FIVE_YEARS: u64 = 5 * 365 * 24 * 3600;

/// The expiry, in whole epoch seconds, an item's TTL attribute gives it.
pub(crate) fn expiry(table: &Table, item: &Item) -> Option<u64> {
    let name = table.record.ttl_attribute.as_ref()?;
    let AttributeValue::N(n) = item.get(name)? else {
        return None;
    };
    let text = n.to_string();
    if text.starts_with('-') {
        return None;
    }
    // Whole seconds: the digits before any decimal point (numbers print without exponents).
    let whole = text.split('.').next()?;
    Some(whole.parse::<u64>().unwrap_or(u64::MAX))
}

fn entry_key(table_id: u64, expiry: u64, storage_key: &[u8]) -> Vec<u8> {
    let mut k = keys::table_prefix(keys::EXPIRY, table_id);
    k.extend_from_slice(&expiry.to_be_bytes());
    k.extend_from_slice(storage_key);
    k
}

/// Keeps the expiry index in step with one item write.
pub(crate) fn maintain(
    ov: &mut Overlay<'_>,
    table: &Table,
    storage_key: &[u8],
    old: Option<&Item>,
    new: Option<&Item>,
) {
    if table.record.ttl_attribute.is_none() {
        return;
    }
    let before = old.and_then(|o| expiry(table, o));
    let after = new.and_then(|n| expiry(table, n));
    if before == after {
        return;
    }
    if let Some(e) = before {
        ov.delete(entry_key(table.record.id, e, storage_key));
    }
    if let Some(e) = after {
        ov.put(entry_key(table.record.id, e, storage_key), Vec::new());
    }
}

/// Builds the expiry index of a table whose TTL is being enabled, into `batch`.
fn backfill(
    view: &dyn cove_storage::ReadView,
    batch: &mut WriteBatch,
    table: &Table,
) -> std::result::Result<(), cove_storage::AbortError> {
    let items = view.scan(
        &KeyRange::prefix(&keys::table_prefix(keys::ITEM, table.record.id)),
        ScanOptions::default(),
    )?;
    for (storage_key, value) in items {
        let item = codec::decode_item(&value).map_err(|e| abort(e.into()))?;
        if let Some(e) = expiry(table, &item) {
            batch.put(entry_key(table.record.id, e, &storage_key), Vec::new());
        }
    }
    Ok(())
}

/// Removes a table's whole expiry index, into `batch`.
fn clear(
    view: &dyn cove_storage::ReadView,
    batch: &mut WriteBatch,
    table_id: u64,
) -> std::result::Result<(), cove_storage::AbortError> {
    let entries = view.scan(
        &KeyRange::prefix(&keys::table_prefix(keys::EXPIRY, table_id)),
        ScanOptions::default(),
    )?;
    for (k, _) in entries {
        batch.delete(k);
    }
    Ok(())
}

impl Engine {
    pub fn update_time_to_live(
        &self,
        scope: &Scope,
        input: UpdateTimeToLiveInput,
    ) -> Result<UpdateTimeToLiveInput> {
        let enabled = input.enabled;
        let attribute = input.attribute_name.clone();
        self.change_table(
            scope,
            &input.table_name,
            true,
            move |record| match (enabled, &record.ttl_attribute) {
                (true, Some(_)) => Err(EngineError::Validation(
                    "TimeToLive is already enabled".into(),
                )),
                (false, None) => Err(EngineError::Validation(
                    "TimeToLive is already disabled".into(),
                )),
                (true, None) => {
                    record.ttl_attribute = Some(attribute);
                    Ok(())
                }
                (false, Some(_)) => {
                    record.ttl_attribute = None;
                    Ok(())
                }
            },
            |view, batch, table| {
                clear(view, batch, table.record.id)?;
                if table.record.ttl_attribute.is_some() {
                    backfill(view, batch, table)?;
                }
                Ok(())
            },
        )?;
        Ok(input)
    }

    /// DescribeTimeToLive: the attribute when enabled.
    pub fn describe_time_to_live(&self, scope: &Scope, name: &str) -> Result<Option<String>> {
        let table = self.live_table(scope, name)?;
        Ok(table.record.ttl_attribute.clone())
    }

    /// Deletes up to `max` items that expired by `now` (epoch seconds) and were not
    /// refreshed meanwhile; returns how many it deleted. The server calls this about once a
    /// second.
    pub fn sweep_expired(&self, now: f64, max: usize) -> Result<usize> {
        let now = now.max(0.0) as u64;
        let tables: Vec<Arc<Table>> = self
            .tables
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|t| t.record.ttl_attribute.is_some())
            .cloned()
            .collect();
        let mut deleted = 0;
        for table in tables {
            if deleted >= max {
                break;
            }
            let _schema = self.schema_lock.read().unwrap_or_else(|e| e.into_inner());
            let prefix = keys::table_prefix(keys::EXPIRY, table.record.id);
            let mut start = prefix.clone();
            start.extend_from_slice(&now.saturating_sub(FIVE_YEARS).to_be_bytes());
            let mut end = prefix.clone();
            end.extend_from_slice(&(now + 1).to_be_bytes());
            let due = self.storage.scan(
                &KeyRange {
                    start: std::ops::Bound::Included(start),
                    end: std::ops::Bound::Excluded(end),
                },
                ScanOptions {
                    reverse: false,
                    limit: Some(max - deleted),
                },
            )?;
            if due.is_empty() {
                continue;
            }
            let storage_keys: Vec<Vec<u8>> = due
                .into_iter()
                .map(|(k, _)| k[prefix.len() + 8..].to_vec())
                .collect();
            let limit = self.options.item_collection_limit_bytes;
            let tbl = Arc::clone(&table);
            let count = self
                .storage
                .transact_with(move |view| {
                    let mut ov = Overlay::new(view);
                    let mut count = 0;
                    for storage_key in &storage_keys {
                        let still_due = read_item(&ov, storage_key)
                            .map_err(abort)?
                            .and_then(|item| expiry(&tbl, &item))
                            .is_some_and(|e| e <= now);
                        if !still_due {
                            continue;
                        }
                        write_item(
                            &mut ov,
                            &tbl,
                            storage_key,
                            Change::Delete,
                            None,
                            false,
                            limit,
                        )
                        .map_err(abort)?;
                        count += 1;
                    }
                    Ok((ov.into_batch(), count))
                })
                .map_err(unabort);
            match count {
                Ok(n) => deleted += n,
                // The table was deleted since the list was taken.
                Err(EngineError::ResourceNotFound(_)) => {}
                // Its definition changed on another node: the next sweep uses the new one.
                Err(EngineError::Stale) => {
                    self.refresh()?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    }
}

/// The current time for the sweeper, in epoch seconds.
pub fn now() -> f64 {
    now_seconds()
}
