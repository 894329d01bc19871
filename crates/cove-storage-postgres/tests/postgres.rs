//! Tests of what is particular to the PostgreSQL backend: bytewise key order against a
//! `BTreeMap`, two nodes on one database racing conditional writes, calls from inside a tokio
//! worker, concurrent opens running each migration once, oversized keys, a lock wait cut off
//! by the statement timeout, TLS sessions when the URL asks for them, and the error an
//! unreachable server gives. All but the last need `COVE_TEST_POSTGRES_URL`.

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use cove_storage::{KeyRange, ScanOptions, Storage, StorageError, WriteBatch};
use cove_storage_postgres::{PostgresBackend, PostgresOptions, SCHEMA_VERSION};
use proptest::prelude::*;

use common::{admin, fresh, options, shared_schema};

/// Keys drawn mostly from the bytes where ordering bugs hide (0x00, 0x01, 0x7F, 0x80, 0xFE,
/// 0xFF), sometimes from all bytes, up to 6 long, the empty key included.
fn key() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(vec![0x00u8, 0x01, 0x7f, 0x80, 0xfe, 0xff]),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..6)
}

fn bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        Just(Bound::Unbounded),
        key().prop_map(Bound::Included),
        key().prop_map(Bound::Excluded),
    ]
}

/// Random key sets and random ranges scanned both ways agree with a `BTreeMap`, i.e. bytea
/// orders exactly as memcmp with the shorter key first.
#[test]
fn keys_sort_bytewise() {
    let Some((storage, _guard)) = fresh() else {
        return;
    };
    let config = ProptestConfig {
        cases: 24,
        // Failures are reported with their inputs; no regression file is kept.
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        keys in prop::collection::btree_set(key(), 0..40),
        ranges in prop::collection::vec((bound(), bound(), any::<bool>(), prop::option::of(0usize..8)), 6),
    )| {
        let mut batch = WriteBatch::new();
        let mut oracle = BTreeMap::new();
        for (i, k) in keys.iter().enumerate() {
            let value = (i as u32).to_be_bytes().to_vec();
            batch.put(k.clone(), value.clone());
            oracle.insert(k.clone(), value);
        }
        storage.write(batch).expect("write");
        let all = storage
            .scan(&KeyRange { start: Bound::Unbounded, end: Bound::Unbounded }, ScanOptions::default())
            .expect("scan");
        let want: Vec<(Vec<u8>, Vec<u8>)> = oracle.clone().into_iter().collect();
        prop_assert_eq!(&all, &want);
        for (start, end, reverse, limit) in ranges {
            let range = KeyRange { start, end };
            let options = ScanOptions { reverse, limit };
            let got = storage.scan(&range, options).expect("scan");
            let matching = oracle.iter().filter(|(k, _)| range.contains(k)).map(|(k, v)| (k.clone(), v.clone()));
            let want: Vec<_> = if reverse {
                matching.rev().take(limit.unwrap_or(usize::MAX)).collect()
            } else {
                matching.take(limit.unwrap_or(usize::MAX)).collect()
            };
            prop_assert_eq!(got, want, "{:?} {:?}", range, options);
        }
        // Empty the table for the next case.
        let mut clear = WriteBatch::new();
        for k in keys {
            clear.delete(k);
        }
        storage.write(clear).expect("clear");
    });
}

/// Two backends on one schema stand for two Cove nodes. Threads on both increment one counter
/// with a conditional write (expected value read beforehand, as a DynamoDB condition does);
/// every increment that succeeded claimed a distinct value, so the counter ends at exactly
/// the number of successes and no two writers ever both won the same race.
#[test]
fn two_nodes_race_conditional_increments() {
    let Some((url, schema, _guard)) = shared_schema() else {
        return;
    };
    let nodes: Vec<Storage> = (0..2)
        .map(|_| Storage::new(PostgresBackend::open(&url, options(&schema)).expect("open")))
        .collect();
    const THREADS_PER_NODE: usize = 3;
    const INCREMENTS: usize = 15;
    let conflicts = Arc::new(AtomicUsize::new(0));
    let read = |bytes: Option<Vec<u8>>| -> u64 {
        bytes.map_or(0, |b| {
            u64::from_be_bytes(b.as_slice().try_into().expect("8 bytes"))
        })
    };
    let handles: Vec<_> = nodes
        .iter()
        .enumerate()
        .flat_map(|(n, node)| (0..THREADS_PER_NODE).map(move |t| (n, t, node.clone())))
        .map(|(n, t, node)| {
            let conflicts = Arc::clone(&conflicts);
            thread::spawn(move || {
                for _ in 0..INCREMENTS {
                    loop {
                        let expected = read(node.get(b"counter").expect("get"));
                        let outcome = node.transact(move |view| {
                            let now = read(view.get(b"counter")?);
                            if now != expected {
                                return Err("condition failed".into());
                            }
                            let claim = [b"claim/".as_slice(), &now.to_be_bytes()].concat();
                            if view.get(&claim)?.is_some() {
                                return Err(format!("value {now} was claimed twice").into());
                            }
                            let mut batch = WriteBatch::new();
                            batch.put(b"counter".to_vec(), (now + 1).to_be_bytes().to_vec());
                            batch.put(claim, vec![n as u8, t as u8]);
                            Ok(batch)
                        });
                        match outcome {
                            Ok(()) => break,
                            Err(StorageError::Aborted(e))
                                if e.to_string() == "condition failed" =>
                            {
                                conflicts.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => panic!("node {n} thread {t}: {e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("writer thread");
    }
    let total = (2 * THREADS_PER_NODE * INCREMENTS) as u64;
    for node in &nodes {
        assert_eq!(read(node.get(b"counter").expect("get")), total);
        let claims = node
            .scan(&KeyRange::prefix(b"claim/"), ScanOptions::default())
            .expect("scan");
        assert_eq!(claims.len() as u64, total);
    }
    eprintln!(
        "{total} increments from two nodes, {} lost races retried",
        conflicts.load(Ordering::Relaxed)
    );
}

/// `get`, `snapshot`, `transact` and dropping the store work when called directly on a tokio
/// runtime's worker thread, where entering another runtime would panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_from_a_tokio_worker_do_not_panic() {
    let Some((storage, _guard)) = fresh() else {
        return;
    };
    let mut batch = WriteBatch::new();
    batch.put(b"k".to_vec(), b"v".to_vec());
    storage.write(batch).expect("write on a worker");
    assert_eq!(
        storage.get(b"k").expect("get on a worker"),
        Some(b"v".to_vec())
    );
    let view = storage.snapshot().expect("snapshot on a worker");
    assert_eq!(view.get(b"k").expect("snapshot get"), Some(b"v".to_vec()));
    drop(view);
    // Several concurrent point reads from tasks on the workers.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let storage = storage.clone();
            tokio::spawn(async move { storage.get(b"k").expect("get in a task") })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task"), Some(b"v".to_vec()));
    }
    storage.close().expect("close on a worker");
    drop(storage);
}

/// Two nodes on one schema: a signalled batch committed by one wakes the other's watch (an
/// unsignalled one does not), and exactly one of them holds the lease, which passes to the
/// other when its holder closes.
#[test]
fn watches_hear_signalled_commits_and_one_node_holds_the_lease() {
    let Some((url, schema, _guard)) = shared_schema() else {
        return;
    };
    let a = Storage::new(PostgresBackend::open(&url, options(&schema)).expect("open a"));
    let b = Storage::new(PostgresBackend::open(&url, options(&schema)).expect("open b"));
    let watch_a = a.watch().expect("watch a").expect("PostgreSQL is shared");
    let watch_b = b.watch().expect("watch b").expect("PostgreSQL is shared");
    let wait = Duration::from_secs(5);
    // Each watch signals once when its session starts listening; consume that first.
    assert!(watch_a.wait(wait), "a's watch never started");
    assert!(watch_b.wait(wait), "b's watch never started");
    let deadline = Instant::now() + wait;
    while !(watch_a.holds_lease() || watch_b.holds_lease()) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        watch_a.holds_lease() != watch_b.holds_lease(),
        "exactly one node holds the lease"
    );

    let mut quiet = WriteBatch::new();
    quiet.put(b"data".to_vec(), b"1".to_vec());
    a.write(quiet).expect("unsignalled write");
    assert!(
        !watch_b.wait(Duration::from_millis(700)),
        "an unsignalled write woke b"
    );

    let mut loud = WriteBatch::new();
    loud.put(b"control".to_vec(), b"1".to_vec());
    loud.signal();
    let sent = Instant::now();
    a.write(loud).expect("signalled write");
    assert!(watch_b.wait(wait), "b never heard of a's signalled write");
    assert!(
        sent.elapsed() < Duration::from_millis(400),
        "the notification took {:?}, as long as a poll",
        sent.elapsed()
    );
    assert_eq!(b.get(b"control").expect("get"), Some(b"1".to_vec()));

    let (holder, holder_watch, other_watch) = if watch_a.holds_lease() {
        (a, watch_a, watch_b)
    } else {
        (b, watch_b, watch_a)
    };
    holder.close().expect("close the holder");
    drop(holder_watch);
    let deadline = Instant::now() + wait;
    while !other_watch.holds_lease() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert!(other_watch.holds_lease(), "the lease never passed on");
}

/// Several processes' worth of backends opening one new schema at once apply each migration
/// exactly once, and opening again changes nothing.
#[test]
fn concurrent_opens_migrate_once() {
    let Some((url, schema, _guard)) = shared_schema() else {
        return;
    };
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (url, schema) = (url.clone(), schema.clone());
            thread::spawn(move || PostgresBackend::open(&url, options(&schema)).map(drop))
        })
        .collect();
    for handle in handles {
        handle.join().expect("opener").expect("open");
    }
    PostgresBackend::open(&url, options(&schema)).expect("reopen");
    // Exactly one row per migration: a second application would have failed on the primary
    // key, and a missing one would show as fewer rows.
    admin(
        &url,
        &format!(
            "DO $$ BEGIN IF (SELECT count(*) FROM \"{schema}\".migrations) <> {SCHEMA_VERSION} \
             THEN RAISE EXCEPTION 'wrong migration count'; END IF; END $$"
        ),
    )
    .expect("one row per migration");
}

/// A schema migrated by a newer Cove is refused rather than misread.
#[test]
fn newer_schema_is_refused() {
    let Some((storage, guard)) = fresh() else {
        return;
    };
    storage.close().expect("close");
    admin(
        &guard.url,
        &format!(
            "INSERT INTO \"{}\".migrations (version, description) VALUES (1000, 'from the future')",
            guard.schema
        ),
    )
    .expect("insert");
    match PostgresBackend::open(&guard.url, options(&guard.schema)) {
        Err(StorageError::Corrupt(message)) => assert!(message.contains("1000"), "{message}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// A key too large for a B-tree index entry fails with an error, writes nothing, and leaves
/// the store usable; keys of a few KiB (compressible ones, as the conformance suite's) work.
#[test]
fn oversized_keys_fail_cleanly() {
    let Some((storage, _guard)) = fresh() else {
        return;
    };
    // Random bytes do not compress, so this entry cannot fit in a third of a page.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let huge: Vec<u8> = (0..6000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut batch = WriteBatch::new();
    batch.put(b"small".to_vec(), b"1".to_vec());
    batch.put(huge.clone(), b"2".to_vec());
    match storage.write(batch) {
        Err(StorageError::Io(message)) => assert!(message.contains("54000"), "{message}"),
        other => panic!("expected an Io error for an oversized key, got {other:?}"),
    }
    assert_eq!(storage.get(b"small").expect("get"), None);
    let mut batch = WriteBatch::new();
    batch.put(b"small".to_vec(), b"1".to_vec());
    storage
        .write(batch)
        .expect("the store is usable after the failure");
    assert_eq!(storage.get(b"small").expect("get"), Some(b"1".to_vec()));
}

/// A server that is not there gives `Unavailable` (retryable), quickly, not a hang or `Io`.
#[test]
fn unreachable_server_is_unavailable() {
    let started = std::time::Instant::now();
    let outcome = PostgresBackend::open(
        "postgres://cove@127.0.0.1:1/cove",
        PostgresOptions::default(),
    );
    match outcome {
        Err(StorageError::Unavailable(message)) => {
            assert!(!message.contains("password"), "{message}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// A writer that waits for the writers' lock longer than the statement timeout (another node's
/// transaction holds it) gives up with `Unavailable` instead of waiting on, and writing works
/// again once the lock is free.
#[test]
fn lock_wait_beyond_the_statement_timeout_is_unavailable() {
    let Some((url, schema, _guard)) = shared_schema() else {
        return;
    };
    let holder = Storage::new(PostgresBackend::open(&url, options(&schema)).expect("open"));
    let impatient = Storage::new(
        PostgresBackend::open(
            &url,
            PostgresOptions {
                statement_timeout: std::time::Duration::from_secs(1),
                ..options(&schema)
            },
        )
        .expect("open"),
    );
    let (locked, wait_for_lock) = std::sync::mpsc::channel();
    let slow = thread::spawn(move || {
        holder.transact(move |_| {
            locked.send(()).expect("signal");
            thread::sleep(std::time::Duration::from_secs(3));
            Ok(WriteBatch::new())
        })
    });
    wait_for_lock.recv().expect("the holder took the lock");
    let started = std::time::Instant::now();
    let mut batch = WriteBatch::new();
    batch.put(b"k".to_vec(), b"v".to_vec());
    match impatient.write(batch.clone()) {
        Err(StorageError::Unavailable(message)) => assert!(message.contains("57014"), "{message}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(started.elapsed() < std::time::Duration::from_millis(2900));
    slow.join().expect("holder thread").expect("holder commits");
    impatient
        .write(batch)
        .expect("written once the lock is free");
}

/// With `sslmode=require` in the URL every session of the backend is encrypted (checked in
/// `pg_stat_ssl` from another session); without `sslmode` none is, as before TLS existed.
#[test]
fn sessions_use_tls_when_the_url_requires_it() {
    let Some((url, schema, _guard)) = shared_schema() else {
        return;
    };
    if let Err(why) = admin(
        &url,
        "DO $$ BEGIN IF current_setting('ssl') <> 'on' THEN RAISE EXCEPTION 'server has ssl off'; END IF; END $$",
    ) {
        assert!(why.contains("server has ssl off"), "{why}");
        eprintln!("SKIPPED: this PostgreSQL server does not offer TLS");
        return;
    }
    for (mode, encrypted) in [(Some("require"), true), (None, false)] {
        let name = format!("{schema}_{}", mode.unwrap_or("plain"));
        let separator = if url.contains('?') { '&' } else { '?' };
        let mut with = format!("{url}{separator}application_name={name}");
        if let Some(mode) = mode {
            with.push_str(&format!("&sslmode={mode}"));
        }
        let storage = Storage::new(PostgresBackend::open(&with, options(&schema)).expect("open"));
        let mut batch = WriteBatch::new();
        batch.put(b"tls".to_vec(), b"yes".to_vec());
        storage.write(batch).expect("write");
        assert_eq!(storage.get(b"tls").expect("read"), Some(b"yes".to_vec()));
        let check = format!(
            "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = '{name}' AND s.ssl <> {encrypted}) \
             OR NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = '{name}') \
             THEN RAISE EXCEPTION 'sessions of {name} are not all ssl = {encrypted}'; END IF; END $$"
        );
        admin(&url, &check).expect("every session as asked");
        storage.close().expect("close");
    }
}
