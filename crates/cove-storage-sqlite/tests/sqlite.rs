//! SQLite-specific behaviour beyond the conformance suite: persistence across reopen, group
//! commit under many threads, the format-version check and the file layout.

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;

use cove_storage::{KeyRange, ScanOptions, Storage, StorageError, WriteBatch};
use cove_storage_sqlite::{APPLICATION_ID, FORMAT_VERSION, SqliteBackend, SqliteOptions};

fn open(path: &Path) -> Storage {
    Storage::new(SqliteBackend::open(path, SqliteOptions::default()).expect("open"))
}

fn put(storage: &Storage, key: &[u8], value: &[u8]) {
    let mut batch = WriteBatch::new();
    batch.put(key.to_vec(), value.to_vec());
    storage.write(batch).expect("write");
}

#[test]
fn data_persists_after_close_and_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cove.db");
    let storage = open(&path);
    put(&storage, b"a", b"1");
    put(&storage, b"", b"");
    put(&storage, b"big", &vec![7u8; 300_000]);
    let mut batch = WriteBatch::new();
    batch.delete(b"a".to_vec());
    batch.put(b"b".to_vec(), b"2".to_vec());
    storage.write(batch).expect("write");
    storage.close().expect("close");
    // A clean close folds the WAL into the main file.
    let wal = dir.path().join("cove.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).expect("wal metadata").len() == 0);
    drop(storage);

    let storage = open(&path);
    assert_eq!(storage.get(b"a").expect("get"), None);
    assert_eq!(storage.get(b"b").expect("get"), Some(b"2".to_vec()));
    assert_eq!(storage.get(b"").expect("get"), Some(Vec::new()));
    assert_eq!(storage.get(b"big").expect("get"), Some(vec![7u8; 300_000]));
    put(&storage, b"c", b"3");
    // Dropping without an explicit close also closes cleanly.
    drop(storage);
    let storage = open(&path);
    let all = storage
        .scan(&KeyRange::prefix(b""), ScanOptions::default())
        .expect("scan");
    let keys: Vec<&[u8]> = all.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(keys, [b"".as_slice(), b"b", b"big", b"c"]);
}

#[test]
fn many_concurrent_transactions_all_commit() {
    const THREADS: usize = 32;
    const PER_THREAD: usize = 20;
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = open(&dir.path().join("cove.db"));
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let storage = storage.clone();
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                for i in 0..PER_THREAD {
                    let key = format!("item/{t:02}/{i:02}").into_bytes();
                    storage
                        .transact(move |view| {
                            let total = match view.get(b"total")? {
                                Some(bytes) => u64::from_be_bytes(bytes.as_slice().try_into()?),
                                None => 0,
                            };
                            let mut batch = WriteBatch::new();
                            batch.put(key, vec![t as u8; 100]);
                            batch.put(b"total".to_vec(), (total + 1).to_be_bytes().to_vec());
                            Ok(batch)
                        })
                        .expect("transact");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("thread");
    }
    let items = storage
        .scan(&KeyRange::prefix(b"item/"), ScanOptions::default())
        .expect("scan");
    assert_eq!(items.len(), THREADS * PER_THREAD);
    assert_eq!(
        storage.get(b"total").expect("get"),
        Some(((THREADS * PER_THREAD) as u64).to_be_bytes().to_vec())
    );
    storage.close().expect("close");
}

#[test]
fn newer_format_version_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cove.db");
    open(&path).close().expect("close");
    {
        let conn = rusqlite::Connection::open(&path).expect("raw open");
        conn.execute(
            "UPDATE meta SET value = 99 WHERE name = 'format_version'",
            [],
        )
        .expect("update");
    }
    match SqliteBackend::open(&path, SqliteOptions::default()) {
        Err(StorageError::Corrupt(message)) => {
            assert!(message.contains("version 99"), "{message}");
            assert!(message.contains("newer"), "{message}");
        }
        other => panic!("expected a Corrupt error, got {other:?}"),
    }
}

#[test]
fn foreign_databases_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("raw open");
        conn.execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY)")
            .expect("create");
    }
    assert!(matches!(
        SqliteBackend::open(&path, SqliteOptions::default()),
        Err(StorageError::Corrupt(_))
    ));

    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x42u8; 8192]).expect("write garbage");
    assert!(matches!(
        SqliteBackend::open(&garbage, SqliteOptions::default()),
        Err(StorageError::Corrupt(_))
    ));

    let missing_dir = dir.path().join("no/such/dir/cove.db");
    assert!(matches!(
        SqliteBackend::open(&missing_dir, SqliteOptions::default()),
        Err(StorageError::Io(_))
    ));
}

#[test]
fn file_layout_matches_the_documented_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cove.db");
    let storage = open(&path);
    put(&storage, b"\x00key", b"value");
    storage.close().expect("close");

    let conn = rusqlite::Connection::open(&path).expect("raw open");
    let application_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .expect("pragma");
    assert_eq!(application_id, APPLICATION_ID);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("pragma");
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .query_row(
            "SELECT value FROM meta WHERE name = 'format_version'",
            [],
            |r| r.get(0),
        )
        .expect("meta");
    assert_eq!(version, FORMAT_VERSION);
    let (k, v): (Vec<u8>, Vec<u8>) = conn
        .query_row("SELECT k, v FROM kv", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("kv");
    assert_eq!(
        (k.as_slice(), v.as_slice()),
        (b"\x00key".as_slice(), b"value".as_slice())
    );
}

#[test]
fn relaxed_sync_and_small_reader_pool_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SqliteOptions {
        synchronous_full: false,
        readers: 0,
    };
    let storage =
        Storage::new(SqliteBackend::open(&dir.path().join("cove.db"), options).expect("open"));
    put(&storage, b"k", b"v");
    // With no idle readers kept, every snapshot opens its own connection; several at once work.
    let first = storage.snapshot().expect("snapshot");
    put(&storage, b"k", b"w");
    let second = storage.snapshot().expect("snapshot");
    assert_eq!(first.get(b"k").expect("get"), Some(b"v".to_vec()));
    assert_eq!(second.get(b"k").expect("get"), Some(b"w".to_vec()));
    drop((first, second));
    storage.close().expect("close");
}

#[test]
fn snapshot_held_across_close_still_reads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = open(&dir.path().join("cove.db"));
    put(&storage, b"k", b"v");
    let view = storage.snapshot().expect("snapshot");
    storage.close().expect("close");
    assert_eq!(view.get(b"k").expect("get"), Some(b"v".to_vec()));
    drop(view);
    assert!(matches!(storage.get(b"k"), Err(StorageError::Closed)));
}
