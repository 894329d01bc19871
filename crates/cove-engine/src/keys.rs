//! The layout of Cove's keyspace inside the one ordered store. Each record kind has its own
//! leading byte, so kinds never interleave and a prefix scan finds exactly one kind:
//!
//! | prefix | key after the prefix | value |
//! |---|---|---|
//! | `0x00` | `format` | the keyspace format version, one byte (1) |
//! | `0x00` | `next_table_id` | u64 big-endian |
//! | `0x01` | account `0x00` region `0x00` table name | catalog record (JSON, versioned) |
//! | `0x02` | table id (u64 BE), bucket (u16 BE), hash key, range key (memcomparable) | item (cove-types codec) |
//! | `0x00` | `generation/catalog`, `generation/iam`, `generation/network` | u64 BE: how often that part of the control plane changed (see `follow.rs`) |
//! | `0x03` | table id (u64 BE) | item count and size (two i64 BE), then the revision of the table record they belong to (u64 BE; absent, 0, in older stores) |
//! | `0x04` | table id (u64 BE) | tombstone of a deleted table still being purged |
//! | `0x05` | access key id | credential record (JSON, versioned) |
//! | `0x06` | table id (u64 BE), index id (u8), bucket (u16 BE), index key, table key | projected item (cove-types codec) |
//! | `0x07` | table id (u64 BE), index id (u8) | index item count and size (two i64 BE) |
//! | `0x08` | table id (u64 BE), bucket (u16 BE), hash key | item collection size (i64 BE), tables with local indexes only |
//! | `0x09` | account `0x00` region `0x00` client request token | request fingerprint (u64 BE) and expiry (f64 BE seconds) |
//! | `0x0A` | table id (u64 BE), expiry second (u64 BE), item storage key | empty: the TTL expiry index |
//! | `0x0B` | account `0x00` region `0x00` backup id | backup record (JSON, versioned) |
//! | `0x0C` | backup id `0x00` item key after the table id (bucket, hash, range) | item (cove-types codec) |
//!
//! The bucket is [`partition_bucket`] of the encoded hash key. It spreads partitions over
//! 65 536 buckets the way DynamoDB spreads them over its partitions, so a Scan segment is one
//! contiguous key range (segment `s` of `n` owns buckets `⌈65536·s/n⌉ .. ⌈65536·(s+1)/n⌉`), while
//! every item of one partition still sits together, sorted by its range key, for Query.
//! Format 1 had no bucket; opening such a store rewrites its item keys once ([`migrate`]).

use std::sync::Arc;

use cove_storage::{KeyRange, ScanOptions, Storage, WriteBatch};
use cove_types::{ScalarType, key};

use crate::catalog::Table;
use crate::tables::abort;
use crate::{EngineError, Result};

pub const META: u8 = 0x00;
pub const CATALOG: u8 = 0x01;
pub const ITEM: u8 = 0x02;
pub const STATS: u8 = 0x03;
pub const TOMBSTONE: u8 = 0x04;
pub const CREDENTIAL: u8 = 0x05;
pub const INDEX: u8 = 0x06;
pub const INDEX_STATS: u8 = 0x07;
pub const COLLECTION: u8 = 0x08;
pub const TOKEN: u8 = 0x09;
pub const EXPIRY: u8 = 0x0A;
pub const BACKUP: u8 = 0x0B;
pub const BACKUP_DATA: u8 = 0x0C;
/// One record per account: its IAM users, groups, roles and managed policies.
pub const IAM: u8 = 0x0D;
/// One record per (account, region): its VPCs, subnets, route tables and endpoints.
pub const NETWORK: u8 = 0x0E;
/// PrivateLink connection notifications waiting for delivery (and the latest delivered).
pub const OUTBOX: u8 = 0x0F;

/// The keyspace format this build writes and reads.
pub const FORMAT_VERSION: u8 = 2;

/// The number of partition buckets; see the module documentation.
pub const BUCKETS: u32 = 1 << 16;

/// The bucket of a partition: FNV-1a (64-bit) of the encoded hash key, folded to 16 bits.
/// This is part of the on-disk format: changing it moves every item.
pub fn partition_bucket(encoded_hash_key: &[u8]) -> u16 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in encoded_hash_key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    ((h >> 48) ^ (h >> 32) ^ (h >> 16) ^ h) as u16
}

/// The storage-key prefix of one partition: everything before the range key.
pub fn partition_prefix(table_id: u64, encoded_hash_key: &[u8]) -> Vec<u8> {
    let mut k = table_prefix(ITEM, table_id);
    k.extend_from_slice(&partition_bucket(encoded_hash_key).to_be_bytes());
    k.extend_from_slice(encoded_hash_key);
    k
}

/// The key of the size record of the item collection with this encoded hash key.
pub fn collection_key(table_id: u64, encoded_hash_key: &[u8]) -> Vec<u8> {
    let mut k = table_prefix(COLLECTION, table_id);
    k.extend_from_slice(&partition_bucket(encoded_hash_key).to_be_bytes());
    k.extend_from_slice(encoded_hash_key);
    k
}

/// The prefix of an account's backup records in a region.
pub fn backup_prefix(account: &str, region: &str) -> Vec<u8> {
    let mut k = vec![BACKUP];
    k.extend_from_slice(account.as_bytes());
    k.push(0);
    k.extend_from_slice(region.as_bytes());
    k.push(0);
    k
}

/// The key of a TransactWriteItems ClientRequestToken record.
pub fn token_key(account: &str, region: &str, token: &str) -> Vec<u8> {
    let mut k = vec![TOKEN];
    k.extend_from_slice(account.as_bytes());
    k.push(0);
    k.extend_from_slice(region.as_bytes());
    k.push(0);
    k.extend_from_slice(token.as_bytes());
    k
}

/// The first bucket of Scan segment `segment` of `total` (`total` itself for the end).
pub fn segment_start(segment: u32, total: u32) -> u32 {
    (u64::from(BUCKETS) * u64::from(segment)).div_ceil(u64::from(total)) as u32
}

pub fn meta_key(name: &str) -> Vec<u8> {
    let mut k = vec![META];
    k.extend_from_slice(name.as_bytes());
    k
}

pub fn catalog_prefix(account: &str, region: &str) -> Vec<u8> {
    let mut k = vec![CATALOG];
    k.extend_from_slice(account.as_bytes());
    k.push(0);
    k.extend_from_slice(region.as_bytes());
    k.push(0);
    k
}

pub fn catalog_key(account: &str, region: &str, name: &str) -> Vec<u8> {
    let mut k = catalog_prefix(account, region);
    k.extend_from_slice(name.as_bytes());
    k
}

pub fn table_prefix(kind: u8, table_id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(64);
    k.push(kind);
    k.extend_from_slice(&table_id.to_be_bytes());
    k
}

pub fn credential_key(access_key_id: &str) -> Vec<u8> {
    let mut k = vec![CREDENTIAL];
    k.extend_from_slice(access_key_id.as_bytes());
    k
}

/// What [`check_format`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The store is in this build's format (or was empty and now is).
    Current,
    /// The store is in format 1 and needs [`migrate`] once the catalog is loaded.
    NeedsMigration,
}

/// Writes the format marker into a new store, reports an older format that needs
/// migrating, or refuses a store written by a newer Cove.
pub fn check_format(storage: &Storage) -> Result<Format> {
    let key = meta_key("format");
    match storage.get(&key)? {
        Some(v) if v.as_slice() == [FORMAT_VERSION] => Ok(Format::Current),
        Some(v) if v.as_slice() == [1] => Ok(Format::NeedsMigration),
        Some(v) => Err(EngineError::Corrupt(format!(
            "data was written in keyspace format {v:?}; this build reads format {FORMAT_VERSION}"
        ))),
        None => {
            let mut batch = WriteBatch::new();
            batch.put(key, vec![FORMAT_VERSION]);
            storage.write(batch)?;
            Ok(Format::Current)
        }
    }
}

/// Rewrites the item keys of a format-1 store into format 2 (adding the bucket) and marks the
/// store as format 2, in one transaction: a crash leaves either format whole. Items of
/// tables no longer in the catalog are left for the purge, which removes them by prefix.
pub fn migrate(storage: &Storage, tables: &[Arc<Table>]) -> Result<()> {
    let plans: Vec<(u64, ScalarType)> = tables
        .iter()
        .map(|t| (t.record.id, t.schema.hash.ty))
        .collect();
    storage
        .transact(move |view| {
            let mut batch = WriteBatch::new();
            for (table_id, hash_type) in plans {
                let prefix = table_prefix(ITEM, table_id);
                let entries = view.scan(&KeyRange::prefix(&prefix), ScanOptions::default())?;
                for (old_key, value) in entries {
                    let suffix = &old_key[prefix.len()..];
                    let mut rest = suffix;
                    key::decode_scalar(hash_type, &mut rest)
                        .map_err(|e| abort(EngineError::Corrupt(e.to_string())))?;
                    let hash_len = suffix.len() - rest.len();
                    let mut new_key = partition_prefix(table_id, &suffix[..hash_len]);
                    new_key.extend_from_slice(rest);
                    batch.delete(old_key);
                    batch.put(new_key, value);
                }
            }
            batch.put(meta_key("format"), vec![FORMAT_VERSION]);
            Ok(batch)
        })
        .map_err(crate::tables::unabort)
}
