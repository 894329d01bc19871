//! Table lifecycle: CreateTable, DescribeTable, ListTables, UpdateTable and DeleteTable, and
//! the background purge of a deleted table's items.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cove_storage::{AbortError, KeyRange, ScanOptions, Storage, WriteBatch};
use cove_wire::input::{
    BillingMode, CreateTableInput, ListTablesInput, SecondaryIndex, UpdateTableInput,
};
use cove_wire::output::TableDescription;

use crate::catalog::{IndexRecord, TABLE_RECORD_VERSION, Table, TableRecord};
use crate::indexes;
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
        let key = (
            scope.account_id.clone(),
            scope.region.clone(),
            name.to_string(),
        );
        self.tables
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned()
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
                let id = match view.get(&next_id_key)? {
                    Some(v) => u64::from_be_bytes(
                        v.as_slice()
                            .try_into()
                            .map_err(|_| abort(EngineError::Corrupt("next_table_id".into())))?,
                    ),
                    None => 1,
                };
                let mut rec = template;
                rec.id = id;
                let mut batch = WriteBatch::new();
                batch.put(next_id_key, (id + 1).to_be_bytes().to_vec());
                batch.put(catalog_key, rec.encode());
                batch.put(keys::table_prefix(keys::STATS, id), encode_stats(0, 0));
                Ok((batch, rec))
            })
            .map_err(unabort)?;
        record = stored;
        let table = Table::from_record(record)?;
        let description = table.describe("CREATING", 0, 0, &|_| (0, 0));
        self.tables
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(table.key(), Arc::new(table));
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
        let table = self
            .table(scope, &name)
            .ok_or_else(|| not_found_table(&name))?;
        if input.billing_mode.is_none()
            && input.throughput.is_none()
            && input.deletion_protection.is_none()
            && input.table_class.is_none()
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
        if let Some(tc) = input.table_class {
            record.table_class = Some(tc);
        }
        let catalog_key = keys::catalog_key(&scope.account_id, &scope.region, &name);
        let bytes = record.encode();
        let id = record.id;
        self.storage
            .transact(move |view| {
                // The table may have been deleted and recreated since it was read from the cache.
                match view.get(&catalog_key)? {
                    Some(v) if TableRecord::decode(&v).map(|r| r.id == id).unwrap_or(false) => {}
                    _ => {
                        return Err(abort(EngineError::ResourceNotFound(
                            "Requested resource not found".into(),
                        )));
                    }
                }
                let mut batch = WriteBatch::new();
                batch.put(catalog_key, bytes);
                Ok(batch)
            })
            .map_err(unabort)?;
        let updated = Table::from_record(record)?;
        let description = self.describe(
            &updated,
            if throughput_changed {
                "UPDATING"
            } else {
                "ACTIVE"
            },
        )?;
        self.tables
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(updated.key(), Arc::new(updated));
        Ok(description)
    }

    pub fn delete_table(&self, scope: &Scope, name: &str) -> Result<TableDescription> {
        let name = self.resolve_name(scope, name)?.to_string();
        let _guard = self.catalog_lock.lock().unwrap_or_else(|e| e.into_inner());
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
        let mut batch = WriteBatch::new();
        batch.delete(catalog_key);
        batch.delete(keys::table_prefix(keys::STATS, id));
        batch.put(keys::table_prefix(keys::TOMBSTONE, id), Vec::new());
        self.storage.write(batch)?;
        self.tables
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&table.key());
        let storage = self.storage.clone();
        std::thread::spawn(move || {
            if let Err(err) = purge_table(&storage, id) {
                tracing::warn!(table_id = id, %err, "purging a deleted table's items failed; it resumes at next start");
            }
        });
        Ok(description)
    }

    /// Finishes purging tables whose deletion was acknowledged before a restart.
    pub(crate) fn purge_deleted_tables(&self) -> Result<()> {
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

/// Deletes a dropped table's items, index entries and index counts in bounded batches, then
/// its tombstone.
pub(crate) fn purge_table(storage: &Storage, table_id: u64) -> Result<()> {
    for kind in [keys::ITEM, keys::INDEX, keys::INDEX_STATS] {
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
