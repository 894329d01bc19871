//! On-demand backups: CreateBackup copies a table's items and definition in one storage
//! transaction (a consistent copy at one moment), ListBackups/DescribeBackup report them,
//! DeleteBackup drops them, and RestoreTableFromBackup creates a new table from one, writing
//! each item through the ordinary write path so counts and indexes are built as for any write.

use cove_storage::{KeyRange, ScanOptions, WriteBatch};
use cove_types::codec;
use cove_wire::admin::{CreateBackupInput, ListBackupsInput, RestoreTableFromBackupInput};
use serde::{Deserialize, Serialize};

use crate::catalog::{TABLE_RECORD_VERSION, Table, TableRecord};
use crate::follow::Area;
use crate::keys;
use crate::tables::{abort, decode_stats, encode_table_stats, next_table_id, now_seconds, unabort};
use crate::write::{Change, Overlay, write_item};
use crate::{Engine, EngineError, Result, Scope};

/// The version written into every backup record.
const BACKUP_RECORD_VERSION: u32 = 1;

/// A backup as stored and reported. Field names are the on-disk format.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Backup {
    pub version: u32,
    /// The id in the ARN: creation milliseconds (14 digits), `-`, 8 hex digits.
    pub id: String,
    pub arn: String,
    pub name: String,
    pub created: f64,
    pub size_bytes: i64,
    pub item_count: i64,
    /// AVAILABLE or DELETED (only in DeleteBackup's answer).
    pub status: String,
    /// The table as it was when backed up.
    pub table: TableRecord,
}

fn backup_key(account: &str, region: &str, id: &str) -> Vec<u8> {
    let mut k = keys::backup_prefix(account, region);
    k.extend_from_slice(id.as_bytes());
    k
}

fn data_prefix(id: &str) -> Vec<u8> {
    let mut k = vec![keys::BACKUP_DATA];
    k.extend_from_slice(id.as_bytes());
    k.push(0);
    k
}

fn not_found(arn: &str) -> EngineError {
    EngineError::BackupNotFound(format!("Backup not found: {arn}"))
}

impl Backup {
    fn decode(bytes: &[u8]) -> Result<Backup> {
        let b: Backup = serde_json::from_slice(bytes)
            .map_err(|e| EngineError::Corrupt(format!("backup record: {e}")))?;
        if b.version != BACKUP_RECORD_VERSION {
            return Err(EngineError::Corrupt(format!(
                "backup record version {} is not readable by this build",
                b.version
            )));
        }
        Ok(b)
    }
}

impl Engine {
    pub fn create_backup(&self, scope: &Scope, input: CreateBackupInput) -> Result<Backup> {
        let name = self.resolve_name(scope, &input.table_name)?.to_string();
        let table = self
            .table(scope, &name)
            .ok_or_else(|| EngineError::TableNotFound(format!("Table not found: {name}")))?;
        let now = now_seconds();
        let id = format!(
            "{:014}-{:08x}",
            (now * 1000.0) as u64,
            rand::random::<u32>()
        );
        let arn = format!("{}/backup/{id}", table.record.arn());
        let record_key = backup_key(&scope.account_id, &scope.region, &id);
        let template = Backup {
            version: BACKUP_RECORD_VERSION,
            id: id.clone(),
            arn,
            name: input.backup_name,
            created: now,
            size_bytes: 0,
            item_count: 0,
            status: "AVAILABLE".into(),
            table: table.record.clone(),
        };
        let table_id = table.record.id;
        self.storage
            .transact_with(move |view| {
                let stats = view
                    .get(&keys::table_prefix(keys::STATS, table_id))?
                    .ok_or_else(|| {
                        abort(EngineError::TableNotFound(format!(
                            "Table not found: {}",
                            template.table.name
                        )))
                    })?;
                let (count, size) = decode_stats(&stats).map_err(abort)?;
                let prefix = keys::table_prefix(keys::ITEM, table_id);
                let items = view.scan(&KeyRange::prefix(&prefix), ScanOptions::default())?;
                let mut batch = WriteBatch::new();
                let data = data_prefix(&template.id);
                for (k, v) in items {
                    let mut key = data.clone();
                    key.extend_from_slice(&k[prefix.len()..]);
                    batch.put(key, v);
                }
                let mut backup = template;
                backup.item_count = count;
                backup.size_bytes = size;
                batch.put(record_key, serde_json::to_vec(&backup).unwrap_or_default());
                Ok((batch, backup))
            })
            .map_err(unabort)
    }

    fn find_backup(&self, scope: &Scope, arn: &str) -> Result<Backup> {
        let id = arn.rsplit('/').next().unwrap_or_default();
        let key = backup_key(&scope.account_id, &scope.region, id);
        match self.storage.get(&key)? {
            Some(bytes) => {
                let b = Backup::decode(&bytes)?;
                if b.arn == arn {
                    Ok(b)
                } else {
                    Err(not_found(arn))
                }
            }
            None => Err(not_found(arn)),
        }
    }

    pub fn describe_backup(&self, scope: &Scope, arn: &str) -> Result<Backup> {
        self.find_backup(scope, arn)
    }

    pub fn delete_backup(&self, scope: &Scope, arn: &str) -> Result<Backup> {
        let mut backup = self.find_backup(scope, arn)?;
        let key = backup_key(&scope.account_id, &scope.region, &backup.id);
        let data = data_prefix(&backup.id);
        self.storage
            .transact(move |view| {
                let mut batch = WriteBatch::new();
                for (k, _) in view.scan(&KeyRange::prefix(&data), ScanOptions::default())? {
                    batch.delete(k);
                }
                batch.delete(key);
                Ok(batch)
            })
            .map_err(unabort)?;
        backup.status = "DELETED".into();
        Ok(backup)
    }

    /// ListBackups: the account's backups in this region, oldest first, filtered as asked;
    /// returns one page and, when more remain, the last ARN returned.
    pub fn list_backups(
        &self,
        scope: &Scope,
        input: &ListBackupsInput,
    ) -> Result<(Vec<Backup>, Option<String>)> {
        let table_name = match &input.table_name {
            Some(n) => Some(self.resolve_name(scope, n)?.to_string()),
            None => None,
        };
        let entries = self.storage.scan(
            &KeyRange::prefix(&keys::backup_prefix(&scope.account_id, &scope.region)),
            ScanOptions::default(),
        )?;
        let mut all = Vec::with_capacity(entries.len());
        for (_, v) in entries {
            let b = Backup::decode(&v)?;
            let wanted_type = matches!(input.backup_type.as_deref(), None | Some("USER" | "ALL"));
            if !wanted_type
                || table_name.as_ref().is_some_and(|t| *t != b.table.name)
                || input.lower_bound.is_some_and(|l| b.created < l)
                || input.upper_bound.is_some_and(|u| b.created > u)
            {
                continue;
            }
            all.push(b);
        }
        all.sort_by(|a, b| a.created.total_cmp(&b.created).then(a.id.cmp(&b.id)));
        let start = match &input.exclusive_start_backup_arn {
            Some(arn) => all.iter().position(|b| b.arn == *arn).map_or(0, |i| i + 1),
            None => 0,
        };
        let limit = input.limit.unwrap_or(usize::MAX);
        let page: Vec<Backup> = all.iter().skip(start).take(limit).cloned().collect();
        let more = start + page.len() < all.len();
        let last = if more {
            page.last().map(|b| b.arn.clone())
        } else {
            None
        };
        Ok((page, last))
    }

    /// RestoreTableFromBackup: a new table with the backup's definition and items.
    pub fn restore_table_from_backup(
        &self,
        scope: &Scope,
        input: RestoreTableFromBackupInput,
    ) -> Result<(Table, Backup)> {
        if let Some(member) = input.unsupported.first() {
            return Err(EngineError::Validation(format!(
                "RestoreTableFromBackup with {member} is not supported by this version of Cove; nothing was restored"
            )));
        }
        let backup = self.find_backup(scope, &input.backup_arn)?;
        let _guard = self.catalog_lock.lock().unwrap_or_else(|e| e.into_inner());
        let name = input.target_table_name.clone();
        let catalog_key = keys::catalog_key(&scope.account_id, &scope.region, &name);
        let next_id_key = keys::meta_key("next_table_id");
        let source = &backup.table;
        let template = TableRecord {
            version: TABLE_RECORD_VERSION,
            id: 0,
            uuid: uuid::Uuid::new_v4().to_string(),
            account_id: scope.account_id.clone(),
            region: scope.region.clone(),
            name: name.clone(),
            created: now_seconds(),
            // Restored tables come back without tags, TTL or point-in-time recovery, as in
            // DynamoDB, which leaves those to be set again.
            tags: Vec::new(),
            ttl_attribute: None,
            pitr_enabled_at: None,
            resource_policy: None,
            decreases_today: 0,
            last_increase: None,
            last_decrease: None,
            revision: 0,
            ..source.clone()
        };
        let data = data_prefix(&backup.id);
        let limit = self.options.item_collection_limit_bytes;
        let table = self
            .storage
            .transact_with(move |view| {
                if view.get(&catalog_key)?.is_some() {
                    return Err(abort(EngineError::TableAlreadyExists(format!(
                        "Table already exists: {}",
                        template.name
                    ))));
                }
                let id = next_table_id(view, &next_id_key)?;
                let mut record = template;
                record.id = id;
                let table = Table::from_record(record).map_err(abort)?;
                let mut ov = Overlay::new(view);
                ov.put(next_id_key, (id + 1).to_be_bytes().to_vec());
                ov.put(catalog_key, table.record.encode());
                ov.put(
                    keys::table_prefix(keys::STATS, id),
                    encode_table_stats(0, 0, table.record.revision),
                );
                let items = view.scan(&KeyRange::prefix(&data), ScanOptions::default())?;
                let table_items = keys::table_prefix(keys::ITEM, id);
                for (k, v) in items {
                    let item = codec::decode_item(&v).map_err(|e| abort(e.into()))?;
                    let mut storage_key = table_items.clone();
                    storage_key.extend_from_slice(&k[data.len()..]);
                    write_item(
                        &mut ov,
                        &table,
                        &storage_key,
                        Change::Put(&item),
                        None,
                        false,
                        limit,
                    )
                    .map_err(abort)?;
                }
                let mut batch = ov.into_batch();
                let generation = crate::follow::bump(view, &mut batch, Area::Catalog, None)?;
                Ok((batch, (table, generation)))
            })
            .map_err(unabort)?;
        let (table, generation) = table;
        self.install_table(generation, std::sync::Arc::new(table.clone()));
        Ok((table, backup))
    }
}
