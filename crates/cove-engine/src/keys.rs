//! The layout of Cove's keyspace inside the one ordered store. Each record kind has its own
//! leading byte, so kinds never interleave and a prefix scan finds exactly one kind:
//!
//! | prefix | key after the prefix | value |
//! |---|---|---|
//! | `0x00` | `format` | the keyspace format version, one byte (1) |
//! | `0x00` | `next_table_id` | u64 big-endian |
//! | `0x01` | account `0x00` region `0x00` table name | catalog record (JSON, versioned) |
//! | `0x02` | table id (u64 BE), hash key, range key (memcomparable) | item (cove-types codec) |
//! | `0x03` | table id (u64 BE) | item count and size (two i64 BE) |
//! | `0x04` | table id (u64 BE) | tombstone of a deleted table still being purged |
//! | `0x05` | access key id | credential record (JSON, versioned) |

use cove_storage::Storage;

use crate::{EngineError, Result};

pub const META: u8 = 0x00;
pub const CATALOG: u8 = 0x01;
pub const ITEM: u8 = 0x02;
pub const STATS: u8 = 0x03;
pub const TOMBSTONE: u8 = 0x04;
pub const CREDENTIAL: u8 = 0x05;

/// The keyspace format this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;

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

/// Writes the format marker into a new store, or refuses a store written by a newer Cove.
pub fn check_format(storage: &Storage) -> Result<()> {
    let key = meta_key("format");
    match storage.get(&key)? {
        Some(v) if v.as_slice() == [FORMAT_VERSION] => Ok(()),
        Some(v) => Err(EngineError::Corrupt(format!(
            "data was written in keyspace format {v:?}; this build reads format {FORMAT_VERSION}"
        ))),
        None => {
            let mut batch = cove_storage::WriteBatch::new();
            batch.put(key, vec![FORMAT_VERSION]);
            storage.write(batch)?;
            Ok(())
        }
    }
}
