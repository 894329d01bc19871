//! Table lifecycle: CreateTable, DescribeTable, ListTables, UpdateTable and DeleteTable, and
//! the background purge of a deleted table's items.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cove_storage::{AbortError, KeyRange, ScanOptions, Storage, WriteBatch};
use cove_wire::input::{
    BillingMode, CreateTableInput, GsiUpdate, KeyType, ListTablesInput, SecondaryIndex,
    UpdateTableInput,
};
use cove_wire::output::TableDescription;

use crate::catalog::{IndexRecord, TABLE_RECORD_VERSION, Table, TableRecord};
use crate::follow::{self, Area};
use crate::indexes::{self, Index};
use crate::keys;
use crate::{Engine, EngineError, Result, Scope};

/// Seconds since the epoch with millisecond precision, as DynamoDB reports times.
pub(crate) fn now_seconds() -> f64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_millis() as f64) / 1000.0
}

fn not_found_table(name: &str) -> EngineError {
    EngineError::ResourceNotFound(format!(
        "Requested resource not found: Table: {name} not found"
    ))
}

/// Moves an engine error through a storage transaction and back out unchanged.
pub(crate) fn abort(err: EngineError) -> AbortError {
    Box::new(err)
}

pub(crate) fn unabort(err: cove_storage::StorageError) -> EngineError {
    match err {
        cove_storage::StorageError::Aborted(inner) => match inner.downcast::<EngineError>() {
            Ok(engine_err) => *engine_err,
            Err(other) => match other.downcast::<cove_storage::StorageError>() {
                // A read inside the transaction failed and was passed up with `?`.
                Ok(storage_err) => EngineError::Storage(*storage_err),
                Err(other) => EngineError::Corrupt(other.to_string()),
            },
        },
        other => EngineError::Storage(other),
    }
}

pub(crate) fn encode_stats(count: i64, size: i64) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&count.to_be_bytes());
    v.extend_from_slice(&size.to_be_bytes());
    v
}

/// A table's counters (the `STATS` record): item count, size, and the revision of the table
/// record they belong to. Index counters are the first two alone.
pub(crate) fn encode_table_stats(count: i64, size: i64, revision: u64) -> Vec<u8> {
    let mut v = encode_stats(count, size);
    v.extend_from_slice(&revision.to_be_bytes());
    v
}

/// The table record revision a `STATS` record carries (0 in records written before it did).
pub(crate) fn stats_revision(v: &[u8]) -> u64 {
    v.get(16..24)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

/// Decodes a counters record's count and size (table and index counters alike).
pub(crate) fn decode_stats(v: &[u8]) -> Result<(i64, i64)> {
    let count: [u8; 8] = v
        .get(0..8)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| EngineError::Corrupt("stats".into()))?;
    let size: [u8; 8] = v
        .get(8..16)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| EngineError::Corrupt("stats".into()))?;
    Ok((i64::from_be_bytes(count), i64::from_be_bytes(size)))
}

fn index_record(ix: &SecondaryIndex) -> IndexRecord {
    IndexRecord {
        id: None,
        name: ix.name.clone(),
        key_schema: ix
            .key_schema
            .iter()
            .map(|k| (k.name.clone(), k.key_type.as_str().to_string()))
            .collect(),
        projection_type: ix.projection.projection_type.clone(),
        non_key_attributes: ix.projection.non_key_attributes.clone(),
        read: ix.throughput.map(|t| t.read),
        write: ix.throughput.map(|t| t.write),
    }
}

impl Engine {
    /// Resolves a TableName member, which may be a name or a table ARN in the caller's scope.
    pub(crate) fn resolve_name<'a>(&self, scope: &Scope, name_or_arn: &'a str) -> Result<&'a str> {
        let Some(rest) = name_or_arn.strip_prefix("arn:") else {
            return Ok(name_or_arn);
        };
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let invalid = || {
            EngineError::Validation(format!(
                "Invalid TableArn: Invalid ResourceArn provided as input {name_or_arn}"
            ))
        };
        let [_partition, service, region, account, resource] = parts.as_slice() else {
            return Err(invalid());
        };
        let Some(name) = resource.strip_prefix("table/") else {
            return Err(invalid());
        };
        if *service != "dynamodb" || name.is_empty() || name.contains('/') {
            return Err(invalid());
        }
        if *region != scope.region || *account != scope.account_id {
            return Err(EngineError::ResourceNotFound(
                "Requested resource not found".into(),
            ));
        }
        Ok(name)
    }

    /// The live table, or `None`.
    pub(crate) fn table(&self, scope: &Scope, name: &str) -> Option<Arc<Table>> {
        let key = (scope.account_id.as_str(), scope.region.as_str(), name);
        let cached = self
            .tables
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key as &dyn crate::catalog::TableKeyParts)
            .cloned();
        if cached.is_some() || !self.options.shared {
            return cached;
        }
        // Another node may have created it a moment ago. A failed refresh leaves the answer
        // to the cache; the follower thread reports the failure.
        if !self.refresh().unwrap_or(false) {
            return None;
        }
        self.tables
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key as &dyn crate::catalog::TableKeyParts)
            .cloned()
    }

    /// Changes a table's catalog record under the catalog lock: `edit` changes the record,
    /// `extra` adds writes to the same storage transaction, given the changed table. With
    /// `exclusive`, item writes wait meanwhile, for changes to what writes maintain.
    pub(crate) fn change_table(
        &self,
        scope: &Scope,
        name: &str,
        exclusive: bool,
        edit: impl FnOnce(&mut TableRecord) -> Result<()>,
        extra: impl FnOnce(
            &dyn cove_storage::ReadView,
            &mut WriteBatch,
            &Table,
        ) -> std::result::Result<(), AbortError>
        + Send
        + 'static,
    ) -> Result<Arc<Table>> {
        let name = self.resolve_name(scope, name)?.to_string();
        let _guard = self.catalog_lock.lock().unwrap_or_else(|e| e.into_inner());
        let _schema =
            exclusive.then(|| self.schema_lock.write().unwrap_or_else(|e| e.into_inner()));
        self.refresh()?;
        let table = self
            .table(scope, &name)
            .ok_or_else(|| not_found_table(&name))?;
        let mut record = table.record.clone();
        edit(&mut record)?;
        record.revision += 1;
        let changed = Table::from_record(record)?;
        let for_txn = changed.clone();
        let cached = table.record.clone();
        let generation = self
            .storage
            .transact_with(move |view| {
                let mut batch = WriteBatch::new();
                let generation = replace_record(view, &mut batch, &cached, &for_txn.record)?;
                extra(view, &mut batch, &for_txn)?;
                Ok((batch, generation))
            })
            .map_err(unabort)?;
        let changed = Arc::new(changed);
        self.install_table(generation, Arc::clone(&changed));
        Ok(changed)
    }

    /// Puts `table` into the cache as of catalog generation `generation`.
    pub(crate) fn install_table(&self, generation: u64, table: Arc<Table>) {
        self.installed(Area::Catalog, generation, || {
            self.tables
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(table.key(), table);
        });
    }

    /// Describes a table with its and its indexes' counts, read from one snapshot.
    fn describe(&self, table: &Table, status: &'static str) -> Result<TableDescription> {
        let view = self.storage.snapshot()?;
        let (count, size) = match view.get(&keys::table_prefix(keys::STATS, table.record.id))? {
            Some(v) => decode_stats(&v)?,
            None => (0, 0),
        };
        let mut per_index = Vec::with_capacity(table.indexes.len());
        for index in &table.indexes {
            per_index.push((
                index.name.clone(),
                indexes::stats(view.as_ref(), table, index)?,
            ));
        }
        let lookup = |name: &str| {
            per_index
                .iter()
                .find(|(n, _)| n == name)
                .map_or((0, 0), |(_, s)| *s)
        };
        Ok(table.describe(status, count, size, &lookup))
    }

    pub fn create_table(&self, scope: &Scope, input: CreateTableInput) -> Result<TableDescription> {
        let name = self.resolve_name(scope, &input.table_name)?.to_string();
        if let Some(doc) = &input.resource_policy {
            crate::settings::check_resource_policy(doc)?;
        }
        let _guard = self.catalog_lock.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_seconds();
        let (read, write) = match (input.billing_mode, input.throughput) {
            (BillingMode::Provisioned, Some(t)) => (t.read, t.write),
            _ => (0, 0),
        };
        let mut record = TableRecord {
            version: TABLE_RECORD_VERSION,
            id: 0,
            uuid: uuid::Uuid::new_v4().to_string(),
            account_id: scope.account_id.clone(),
            region: scope.region.clone(),
            name: name.clone(),
            created: now,
            attribute_definitions: input
                .attribute_definitions
                .iter()
                .map(|d| (d.name.clone(), d.ty.as_str().to_string()))
                .collect(),
            key_schema: input
                .key_schema
                .iter()
                .map(|k| (k.name.clone(), k.key_type.as_str().to_string()))
                .collect(),
            local_secondary_indexes: input
                .local_secondary_indexes
                .iter()
                .map(index_record)
                .collect(),
            global_secondary_indexes: input
                .global_secondary_indexes
                .iter()
                .map(index_record)
                .collect(),
            billing_mode: input.billing_mode.as_str().to_string(),
            read,
            write,
            decreases_today: 0,
            last_increase: None,
            last_decrease: None,
            last_update_to_pay_per_request: None,
            stream_enabled: input.stream.as_ref().map(|s| s.enabled),
            stream_view_type: input.stream.as_ref().and_then(|s| s.view_type.clone()),
            sse_enabled: input.sse_enabled.unwrap_or(false),
            table_class: input.table_class.clone(),
            deletion_protection: input.deletion_protection,
            tags: input
                .tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect(),
            ttl_attribute: None,
            pitr_enabled_at: None,
            resource_policy: input
                .resource_policy
                .clone()
                .map(|doc| (doc, crate::settings::next_revision(None))),
            revision: 0,
        };
        // Index ids: local indexes first, then global ones, in request order.
        for (i, ix) in record
            .local_secondary_indexes
            .iter_mut()
            .chain(record.global_secondary_indexes.iter_mut())
            .enumerate()
        {
            ix.id = Some((i + 1) as u8);
        }
        let catalog_key = keys::catalog_key(&scope.account_id, &scope.region, &name);
        let next_id_key = keys::meta_key("next_table_id");
        let template = record.clone();
        let stored = self
            .storage
            .transact_with(move |view| {
                if view.get(&catalog_key)?.is_some() {
                    return Err(abort(EngineError::ResourceInUse(format!(
                        "Table already exists: {}",
                        template.name
                    ))));
                }
                let id = next_table_id(view, &next_id_key)?;
                let mut rec = template;
                rec.id = id;
                let mut batch = WriteBatch::new();
                batch.put(next_id_key, (id + 1).to_be_bytes().to_vec());
                batch.put(catalog_key, rec.encode());
                batch.put(
                    keys::table_prefix(keys::STATS, id),
                    encode_table_stats(0, 0, rec.revision),
                );
                let generation = follow::bump(view, &mut batch, Area::Catalog, None)?;
                Ok((batch, (rec, generation)))
            })
            .map_err(unabort)?;
        let (stored, generation) = stored;
        record = stored;
        let table = Table::from_record(record)?;
        let description = table.describe("CREATING", 0, 0, &|_| (0, 0));
        self.install_table(generation, Arc::new(table));
        Ok(description)
    }

    pub fn describe_table(&self, scope: &Scope, name: &str) -> Result<TableDescription> {
        let name = self.resolve_name(scope, name)?;
        let table = self
            .table(scope, name)
            .ok_or_else(|| not_found_table(name))?;
        self.describe(&table, "ACTIVE")
    }

    /// Returns one page of table names and, when more remain, the last name returned.
    pub fn list_tables(
        &self,
        scope: &Scope,
        input: &ListTablesInput,
    ) -> Result<(Vec<String>, Option<String>)> {
        if self.options.shared {
            // A table created through another node a moment ago is listed, as it is usable.
            self.refresh()?;
        }
        let mut names: Vec<String> = self
            .tables
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .filter(|(account, region, _)| *account == scope.account_id && *region == scope.region)
            .map(|(_, _, name)| name.clone())
            .collect();
        names.sort();
        let start = match &input.exclusive_start_table_name {
            Some(after) => names.partition_point(|n| n.as_str() <= after.as_str()),
            None => 0,
        };
        let page: Vec<String> = names[start..].iter().take(input.limit).cloned().collect();
        let more = start + page.len() < names.len();
        let last = if more { page.last().cloned() } else { None };
        Ok((page, last))
    }

    pub fn update_table(&self, scope: &Scope, input: UpdateTableInput) -> Result<TableDescription> {
        let name = self.resolve_name(scope, &input.table_name)?.to_string();
        if let Some(member) = input.unsupported.first() {
            return Err(EngineError::Validation(format!(
                "UpdateTable with {member} is not supported by this version of Cove; the table was not changed"
            )));
        }
        let _guard = self.catalog_lock.lock().unwrap_or_else(|e| e.into_inner());
        // Index changes rebuild or drop entries: no item write may run meanwhile with a
        // table definition that lacks (or still has) the index.
        let _schema = (!input.gsi_updates.is_empty())
            .then(|| self.schema_lock.write().unwrap_or_else(|e| e.into_inner()));
        self.refresh()?;
        let table = self
            .table(scope, &name)
            .ok_or_else(|| not_found_table(&name))?;
        if input.billing_mode.is_none()
            && input.throughput.is_none()
            && input.deletion_protection.is_none()
            && input.table_class.is_none()
            && input.gsi_updates.is_empty()
        {
            return Err(EngineError::Validation(
                "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required".into(),
            ));
        }
        let mut record = table.record.clone();
        let now = now_seconds();
        let current = table.billing_mode();
        let target = input.billing_mode.unwrap_or(current);
        let mut throughput_changed = false;
        match target {
            BillingMode::PayPerRequest => {
                if input.throughput.is_some() {
                    return Err(EngineError::Validation("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST".into()));
                }
                if current != BillingMode::PayPerRequest {
                    record.billing_mode = target.as_str().to_string();
                    record.read = 0;
                    record.write = 0;
                    record.last_update_to_pay_per_request = Some(now);
                    throughput_changed = true;
                }
            }
            BillingMode::Provisioned => match input.throughput {
                Some(t) => {
                    for (units, label) in [
                        (t.read, "ReadCapacityUnits"),
                        (t.write, "WriteCapacityUnits"),
                    ] {
                        if units > 1_000_000_000_000 {
                            return Err(EngineError::Validation(format!(
                                "Given value {units} for {label} is out of bounds"
                            )));
                        }
                    }
                    if current == BillingMode::Provisioned
                        && t.read == record.read
                        && t.write == record.write
                    {
                        return Err(EngineError::Validation(format!(
                            "The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: {}. Requested ReadCapacityUnits: {}. Current WriteCapacityUnits provisioned for the table: {}. Requested WriteCapacityUnits: {}. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits.",
                            record.read, t.read, record.write, t.write
                        )));
                    }
                    if current == BillingMode::Provisioned {
                        if t.read < record.read || t.write < record.write {
                            record.decreases_today += 1;
                            record.last_decrease = Some(now);
                        }
                        if t.read > record.read || t.write > record.write {
                            record.last_increase = Some(now);
                        }
                    }
                    record.billing_mode = target.as_str().to_string();
                    record.read = t.read;
                    record.write = t.write;
                    throughput_changed = true;
                }
                None if current == BillingMode::PayPerRequest => {
                    return Err(EngineError::Validation("One or more parameter values were invalid: ProvisionedThroughput must be specified when BillingMode is PROVISIONED".into()));
                }
                None => {}
            },
        }
        if let Some(dp) = input.deletion_protection {
            record.deletion_protection = dp;
        }
        if let Some(tc) = input.table_class.clone() {
            record.table_class = Some(tc);
        }
        let changes = apply_gsi_updates(&mut record, &input)?;
        record.revision += 1;
        let rebuilt = Table::from_record(record.clone())?;
        let created: Option<Index> = changes
            .created
            .as_ref()
            .and_then(|n| rebuilt.index(n).cloned());
        let dropped: Option<Index> = changes
            .deleted
            .as_ref()
            .and_then(|n| table.index(n).cloned());
        let for_txn = rebuilt.clone();
        let cached = table.record.clone();
        let id = record.id;
        let generation = self
            .storage
            .transact_with(move |view| {
                let mut batch = WriteBatch::new();
                let generation = replace_record(view, &mut batch, &cached, &for_txn.record)?;
                // A created index is built from every item now, in this transaction, so it
                // is complete when it becomes visible; a dropped one loses its entries.
                if let Some(index) = &dropped {
                    clear_index(view, &mut batch, id, index)?;
                }
                if let Some(index) = &created {
                    clear_index(view, &mut batch, id, index)?;
                    indexes::backfill(view, &mut batch, &for_txn, index)?;
                }
                Ok((batch, generation))
            })
            .map_err(unabort)?;
        let updated = rebuilt;
        let mut description = self.describe(
            &updated,
            if throughput_changed || !input.gsi_updates.is_empty() {
                "UPDATING"
            } else {
                "ACTIVE"
            },
        )?;
        // As in DynamoDB's answer: the new index is CREATING, the dropped one DELETING.
        for ix in &mut description.global_secondary_indexes {
            if changes.created.as_deref() == Some(ix.name.as_str()) {
                ix.status = Some("CREATING");
            }
        }
        if let Some(deleted) = &changes.deleted {
            let old = table.describe("ACTIVE", 0, 0, &|_| (0, 0));
            if let Some(mut ix) = old
                .global_secondary_indexes
                .into_iter()
                .find(|ix| &ix.name == deleted)
            {
                ix.status = Some("DELETING");
                description.global_secondary_indexes.push(ix);
            }
        }
        self.install_table(generation, Arc::new(updated));
        Ok(description)
    }

    pub fn delete_table(&self, scope: &Scope, name: &str) -> Result<TableDescription> {
        let name = self.resolve_name(scope, name)?.to_string();
        let _guard = self.catalog_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.refresh()?;
        let table = self
            .table(scope, &name)
            .ok_or_else(|| not_found_table(&name))?;
        if table.record.deletion_protection {
            return Err(EngineError::Validation(
                "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.".into(),
            ));
        }
        let description = self.describe(&table, "DELETING")?;
        let id = table.record.id;
        let catalog_key = keys::catalog_key(&scope.account_id, &scope.region, &name);
        let cached = table.record.clone();
        let generation = self
            .storage
            .transact_with(move |view| {
                // Deletion protection, say, may have been switched on by another node.
                check_record(view, &catalog_key, &cached)?;
                let mut batch = WriteBatch::new();
                batch.delete(catalog_key);
                batch.delete(keys::table_prefix(keys::STATS, id));
                batch.put(keys::table_prefix(keys::TOMBSTONE, id), Vec::new());
                let generation = follow::bump(view, &mut batch, Area::Catalog, None)?;
                Ok((batch, generation))
            })
            .map_err(unabort)?;
        self.installed(Area::Catalog, generation, || {
            self.tables
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&table.key());
        });
        // On a shared store the node holding the cluster's lease purges (see
        // `purge_deleted_tables`), so the work runs once, not once per node.
        if !self.options.shared {
            let storage = self.storage.clone();
            std::thread::spawn(move || {
                if let Err(err) = purge_table(&storage, id) {
                    tracing::warn!(table_id = id, %err, "purging a deleted table's items failed; it resumes at next start");
                }
            });
        }
        Ok(description)
    }

    /// Finishes purging the tables whose deletion was acknowledged but whose items are not
    /// all deleted yet: at open on a store of its own, and about once a second on the node
    /// holding the lease of a shared store (the caller decides), which is then the one node
    /// purging.
    pub fn purge_deleted_tables(&self) -> Result<()> {
        let tombstones = self.storage.scan(
            &KeyRange::prefix(&[keys::TOMBSTONE]),
            ScanOptions::default(),
        )?;
        for (key, _) in tombstones {
            let id_bytes: [u8; 8] = key
                .get(1..9)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| EngineError::Corrupt("tombstone key".into()))?;
            purge_table(&self.storage, u64::from_be_bytes(id_bytes))?;
        }
        Ok(())
    }
}

/// Checks, inside a transaction, that the table's stored record is still `cached`, the one
/// this node's change is based on: the table may have been deleted (or recreated) since, or
/// changed by another node, whose change would otherwise be lost.
fn check_record(
    view: &dyn cove_storage::ReadView,
    catalog_key: &[u8],
    cached: &TableRecord,
) -> std::result::Result<(), AbortError> {
    let stored = match view.get(catalog_key)? {
        Some(v) => TableRecord::decode(&v).map_err(abort)?,
        None => {
            return Err(abort(EngineError::ResourceNotFound(
                "Requested resource not found".into(),
            )));
        }
    };
    if stored.id != cached.id {
        return Err(abort(EngineError::ResourceNotFound(
            "Requested resource not found".into(),
        )));
    }
    if stored != *cached {
        return Err(abort(EngineError::Stale));
    }
    Ok(())
}

/// Replaces a table's record `cached` by `changed` inside a transaction, after
/// [`check_record`]: the record, the revision its counters carry, and the catalog's
/// generation. Returns the new generation.
fn replace_record(
    view: &dyn cove_storage::ReadView,
    batch: &mut WriteBatch,
    cached: &TableRecord,
    changed: &TableRecord,
) -> std::result::Result<u64, AbortError> {
    let catalog_key = keys::catalog_key(&changed.account_id, &changed.region, &changed.name);
    check_record(view, &catalog_key, cached)?;
    batch.put(catalog_key, changed.encode());
    let stats_key = keys::table_prefix(keys::STATS, changed.id);
    let (count, size) = match view.get(&stats_key)? {
        Some(v) => decode_stats(&v).map_err(abort)?,
        None => (0, 0),
    };
    batch.put(stats_key, encode_table_stats(count, size, changed.revision));
    follow::bump(view, batch, Area::Catalog, None)
}

/// The id the next new table gets (the caller stores `id + 1` under `next_id_key`).
pub(crate) fn next_table_id(
    view: &dyn cove_storage::ReadView,
    next_id_key: &[u8],
) -> std::result::Result<u64, AbortError> {
    match view.get(next_id_key)? {
        Some(v) => {
            Ok(u64::from_be_bytes(v.as_slice().try_into().map_err(
                |_| abort(EngineError::Corrupt("next_table_id".into())),
            )?))
        }
        None => Ok(1),
    }
}

/// Adds to `batch` the deletion of every entry and the counts of `index`.
fn clear_index(
    view: &dyn cove_storage::ReadView,
    batch: &mut WriteBatch,
    table_id: u64,
    index: &Index,
) -> std::result::Result<(), AbortError> {
    let entries = view.scan(
        &KeyRange::prefix(&index.prefix(table_id)),
        ScanOptions::default(),
    )?;
    for (key, _) in entries {
        batch.delete(key);
    }
    batch.delete(index.stats_key(table_id));
    Ok(())
}

/// The index a GSI update created or deleted, by name.
struct GsiChanges {
    created: Option<String>,
    deleted: Option<String>,
}

fn invalid(msg: impl Into<String>) -> EngineError {
    EngineError::Validation(msg.into())
}

/// Applies UpdateTable's `GlobalSecondaryIndexUpdates` to a table record, with DynamoDB's
/// rules: one update per index, at most one index created or deleted per call, key
/// attributes defined, throughput as the billing mode requires.
fn apply_gsi_updates(record: &mut TableRecord, input: &UpdateTableInput) -> Result<GsiChanges> {
    let mut changes = GsiChanges {
        created: None,
        deleted: None,
    };
    let mut seen: Vec<&str> = Vec::new();
    for update in &input.gsi_updates {
        let name = match update {
            GsiUpdate::Empty => {
                return Err(invalid(
                    "One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Update, GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Delete must not be null",
                ));
            }
            GsiUpdate::Create(ix) => ix.name.as_str(),
            GsiUpdate::Update { name, .. } | GsiUpdate::Delete { name } => name.as_str(),
        };
        if seen.contains(&name) {
            return Err(invalid(format!(
                "One or more parameter values were invalid: Only one global secondary index update per index is allowed simultaneously. Index: {name}"
            )));
        }
        seen.push(name);
    }
    let online = input
        .gsi_updates
        .iter()
        .filter(|u| matches!(u, GsiUpdate::Create(_) | GsiUpdate::Delete { .. }))
        .count();
    if online > 1 {
        return Err(EngineError::LimitExceeded(
            "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table".into(),
        ));
    }
    let provisioned = record.billing_mode != "PAY_PER_REQUEST";
    for update in &input.gsi_updates {
        match update {
            GsiUpdate::Empty => {}
            GsiUpdate::Create(ix) => {
                let exists = record
                    .global_secondary_indexes
                    .iter()
                    .chain(&record.local_secondary_indexes)
                    .any(|r| r.name == ix.name);
                if exists {
                    return Err(invalid(format!(
                        "One or more parameter values were invalid: Attempting to create an index which already exists: {}",
                        ix.name
                    )));
                }
                if record.global_secondary_indexes.len() >= 20 {
                    return Err(EngineError::LimitExceeded(
                        "One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the per-table limit of 20".into(),
                    ));
                }
                let given = input.attribute_definitions.as_deref().unwrap_or(&[]);
                for k in &ix.key_schema {
                    let known = record
                        .attribute_definitions
                        .iter()
                        .find(|(n, _)| *n == k.name);
                    let new = given.iter().find(|d| d.name == k.name);
                    match (known, new) {
                        (None, None) => {
                            return Err(invalid(
                                "Invalid KeySchema: Some index key attribute have no definition",
                            ));
                        }
                        (Some((_, ty)), Some(d)) if ty != d.ty.as_str() => {
                            return Err(invalid(format!(
                                "One or more parameter values were invalid: Attribute {} is already defined with type {ty}, so it cannot be redefined as {}",
                                k.name,
                                d.ty.as_str()
                            )));
                        }
                        (None, Some(d)) => record
                            .attribute_definitions
                            .push((d.name.clone(), d.ty.as_str().to_string())),
                        (Some(_), _) => {}
                    }
                }
                if ix.key_schema.first().map(|k| k.key_type) != Some(KeyType::Hash)
                    || ix
                        .key_schema
                        .get(1)
                        .is_some_and(|k| k.key_type != KeyType::Range)
                {
                    return Err(invalid(
                        "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
                    ));
                }
                if ix.projection.projection_type.is_empty() {
                    return Err(invalid(
                        "One or more parameter values were invalid: Unknown ProjectionType: null",
                    ));
                }
                match (provisioned, ix.throughput) {
                    (true, None) => {
                        return Err(invalid(
                            "No provisioned throughput specified for the global secondary index",
                        ));
                    }
                    (false, Some(_)) => {
                        return Err(invalid(format!(
                            "One or more parameter values were invalid: ProvisionedThroughput should not be specified for index: {} when BillingMode is PAY_PER_REQUEST",
                            ix.name
                        )));
                    }
                    _ => {}
                }
                let used: Vec<u8> = record
                    .local_secondary_indexes
                    .iter()
                    .chain(&record.global_secondary_indexes)
                    .filter_map(|r| r.id)
                    .collect();
                let id = (1..=u8::MAX).find(|i| !used.contains(i)).ok_or_else(|| {
                    EngineError::LimitExceeded("No index ids left on this table".into())
                })?;
                let mut new = index_record(ix);
                new.id = Some(id);
                record.global_secondary_indexes.push(new);
                changes.created = Some(ix.name.clone());
            }
            GsiUpdate::Update { name, throughput } => {
                let Some(existing) = record
                    .global_secondary_indexes
                    .iter_mut()
                    .find(|r| &r.name == name)
                else {
                    return Err(EngineError::ResourceNotFound(
                        "Requested resource not found".into(),
                    ));
                };
                match (provisioned, throughput) {
                    (true, Some(t)) => {
                        existing.read = Some(t.read);
                        existing.write = Some(t.write);
                    }
                    (true, None) => {
                        return Err(invalid(
                            "No provisioned throughput specified for the global secondary index",
                        ));
                    }
                    (false, _) => {
                        return Err(invalid(format!(
                            "One or more parameter values were invalid: ProvisionedThroughput should not be specified for index: {name} when BillingMode is PAY_PER_REQUEST"
                        )));
                    }
                }
            }
            GsiUpdate::Delete { name } => {
                let before = record.global_secondary_indexes.len();
                record.global_secondary_indexes.retain(|r| &r.name != name);
                if record.global_secondary_indexes.len() == before {
                    return Err(EngineError::ResourceNotFound(
                        "Requested resource not found".into(),
                    ));
                }
                changes.deleted = Some(name.clone());
            }
        }
    }
    // Only key attributes are defined: drop definitions no key uses any more.
    let mut used: Vec<String> = record.key_schema.iter().map(|(n, _)| n.clone()).collect();
    for ix in record
        .local_secondary_indexes
        .iter()
        .chain(&record.global_secondary_indexes)
    {
        used.extend(ix.key_schema.iter().map(|(n, _)| n.clone()));
    }
    record
        .attribute_definitions
        .retain(|(n, _)| used.contains(n));
    Ok(changes)
}

/// Deletes a dropped table's items, index entries and index counts in bounded batches, then
/// its tombstone.
pub(crate) fn purge_table(storage: &Storage, table_id: u64) -> Result<()> {
    for kind in [
        keys::ITEM,
        keys::INDEX,
        keys::INDEX_STATS,
        keys::COLLECTION,
        keys::EXPIRY,
    ] {
        purge_prefix(storage, &keys::table_prefix(kind, table_id))?;
    }
    let mut batch = WriteBatch::new();
    batch.delete(keys::table_prefix(keys::TOMBSTONE, table_id));
    storage.write(batch)?;
    Ok(())
}

fn purge_prefix(storage: &Storage, prefix: &[u8]) -> Result<()> {
    let range = KeyRange::prefix(prefix);
    loop {
        let chunk = storage.scan(
            &range,
            ScanOptions {
                reverse: false,
                limit: Some(64),
            },
        )?;
        if chunk.is_empty() {
            break;
        }
        let mut batch = WriteBatch::new();
        for (key, _) in chunk {
            batch.delete(key);
        }
        storage.write(batch)?;
    }
    Ok(())
}
