//! The conformance suite every storage backend runs, so that all backends behave like the
//! in-memory reference model.
//!
//! A backend crate runs the whole suite with one line in an integration test:
//!
//! ```text
//! cove_storage::conformance_tests!(make_fixture());
//! ```
//!
//! The expression is evaluated afresh for every check and must yield a [`Fixture`]: a
//! [`Storage`], or a `(Storage, guard)` pair whose guard (a temporary directory, say) lives as
//! long as the check, or an `Option` of either, whose `None` skips the check (for backends that
//! need a server the machine may not have). The macro expands into a module `conformance` with
//! one `#[test]` per check, so a failure names the check that found it. Each check is also a
//! public function taking `&Storage`, for harnesses that are not `cargo test`.
//!
//! The checks panic on failure, as test code does.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use crate::{
    AbortError, Entry, KeyRange, ReadView, ScanOptions, Storage, StorageError, WriteBatch,
};

/// What a conformance check runs against: a store plus anything that must outlive it.
pub trait Fixture {
    fn storage(&self) -> Storage;

    /// The store to check, or `None` when the backend cannot be checked here (a database
    /// server that was not configured, say). The check is then skipped; the fixture is the one
    /// to say so, since only it knows why.
    fn available(&self) -> Option<Storage> {
        Some(self.storage())
    }
}

/// `None` skips the check, for backends that need something the machine may lack.
impl<F: Fixture> Fixture for Option<F> {
    fn storage(&self) -> Storage {
        match self {
            Some(fixture) => fixture.storage(),
            None => panic!("this fixture was skipped and holds no store"),
        }
    }

    fn available(&self) -> Option<Storage> {
        self.as_ref().map(Fixture::storage)
    }
}

impl Fixture for Storage {
    fn storage(&self) -> Storage {
        self.clone()
    }
}

impl<G> Fixture for (Storage, G) {
    fn storage(&self) -> Storage {
        self.0.clone()
    }
}

/// Expands into a module `conformance` holding one `#[test]` per conformance check. The argument
/// is an expression yielding a [`Fixture`](crate::testsuite::Fixture), evaluated once per
/// test; it is resolved inside the generated module, which imports everything from the
/// module the macro is used in.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::__conformance_tests_with!(
            $make;
            backend_has_a_name,
            get_put_delete,
            overwrite,
            batch_later_op_wins,
            scan_bounds_forward,
            scan_bounds_reverse,
            scan_limits,
            scan_empty_and_inverted_ranges,
            prefix_ranges,
            empty_key_and_value,
            large_values_and_zero_bytes,
            snapshot_isolation,
            transact_reads_committed_state,
            transact_with_returns_value,
            abort_writes_nothing,
            storage_error_passes_through_abort,
            panicking_closure_leaves_store_usable,
            concurrent_counter_is_serializable,
            snapshots_consistent_under_concurrent_writes,
            model_based,
            close_then_closed,
        );
    };
}

/// The expansion behind [`conformance_tests!`]; not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests_with {
    ($make:expr; $($check:ident),+ $(,)?) => {
        #[allow(unused_imports)]
        mod conformance {
            use super::*;

            $(
                #[test]
                fn $check() {
                    let fixture = $make;
                    if let Some(storage) = $crate::testsuite::Fixture::available(&fixture) {
                        $crate::testsuite::$check(&storage);
                    }
                }
            )+

            #[test]
            fn every_check_is_listed() {
                let listed: &[&str] = &[$(stringify!($check)),+];
                let names: ::std::vec::Vec<&str> =
                    $crate::testsuite::CHECKS.iter().map(|(name, _)| *name).collect();
                assert_eq!(listed, names.as_slice());
            }
        }
    };
}

/// One conformance check: panics if the store breaks the contract.
pub type Check = fn(&Storage);

/// Every check, by name, in the order the macro lists them.
pub const CHECKS: &[(&str, Check)] = &[
    ("backend_has_a_name", backend_has_a_name),
    ("get_put_delete", get_put_delete),
    ("overwrite", overwrite),
    ("batch_later_op_wins", batch_later_op_wins),
    ("scan_bounds_forward", scan_bounds_forward),
    ("scan_bounds_reverse", scan_bounds_reverse),
    ("scan_limits", scan_limits),
    (
        "scan_empty_and_inverted_ranges",
        scan_empty_and_inverted_ranges,
    ),
    ("prefix_ranges", prefix_ranges),
    ("empty_key_and_value", empty_key_and_value),
    ("large_values_and_zero_bytes", large_values_and_zero_bytes),
    ("snapshot_isolation", snapshot_isolation),
    (
        "transact_reads_committed_state",
        transact_reads_committed_state,
    ),
    ("transact_with_returns_value", transact_with_returns_value),
    ("abort_writes_nothing", abort_writes_nothing),
    (
        "storage_error_passes_through_abort",
        storage_error_passes_through_abort,
    ),
    (
        "panicking_closure_leaves_store_usable",
        panicking_closure_leaves_store_usable,
    ),
    (
        "concurrent_counter_is_serializable",
        concurrent_counter_is_serializable,
    ),
    (
        "snapshots_consistent_under_concurrent_writes",
        snapshots_consistent_under_concurrent_writes,
    ),
    ("model_based", model_based),
    ("close_then_closed", close_then_closed),
];

/// Runs every check, each against a fresh fixture from `make`.
pub fn run_all<F: Fixture>(make: impl Fn() -> F) {
    for (_, check) in CHECKS {
        let fixture = make();
        if let Some(storage) = fixture.available() {
            check(&storage);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

type Oracle = BTreeMap<Vec<u8>, Vec<u8>>;

fn put(storage: &Storage, key: &[u8], value: &[u8]) {
    let mut batch = WriteBatch::new();
    batch.put(key.to_vec(), value.to_vec());
    storage.write(batch).expect("put");
}

fn delete(storage: &Storage, key: &[u8]) {
    let mut batch = WriteBatch::new();
    batch.delete(key.to_vec());
    storage.write(batch).expect("delete");
}

fn get(storage: &Storage, key: &[u8]) -> Option<Vec<u8>> {
    storage.get(key).expect("get")
}

fn everything() -> KeyRange {
    KeyRange {
        start: Bound::Unbounded,
        end: Bound::Unbounded,
    }
}

fn scan_all(storage: &Storage) -> Vec<Entry> {
    storage
        .scan(&everything(), ScanOptions::default())
        .expect("scan")
}

fn entries(pairs: &[(&[u8], &[u8])]) -> Vec<Entry> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

/// What a scan must return, computed by filtering rather than by `BTreeMap::range`, so the
/// oracle does not share the reference backend's code path.
fn expected_scan(oracle: &Oracle, range: &KeyRange, options: ScanOptions) -> Vec<Entry> {
    let limit = options.limit.unwrap_or(usize::MAX);
    let matching = oracle
        .iter()
        .filter(|(k, _)| range.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()));
    if options.reverse {
        matching.rev().take(limit).collect()
    } else {
        matching.take(limit).collect()
    }
}

fn load(storage: &Storage, pairs: &[(&[u8], &[u8])]) -> Oracle {
    let mut batch = WriteBatch::new();
    let mut oracle = Oracle::new();
    for (k, v) in pairs {
        batch.put(k.to_vec(), v.to_vec());
        oracle.insert(k.to_vec(), v.to_vec());
    }
    storage.write(batch).expect("load");
    oracle
}

fn bounds_over(probes: &[&[u8]]) -> Vec<Bound<Vec<u8>>> {
    let mut bounds = vec![Bound::Unbounded];
    for p in probes {
        bounds.push(Bound::Included(p.to_vec()));
        bounds.push(Bound::Excluded(p.to_vec()));
    }
    bounds
}

/// Keys for the scan checks, including ones that differ only by a trailing 0x00.
const SCAN_KEYS: &[(&[u8], &[u8])] = &[
    (b"a", b"1"),
    (b"b", b"2"),
    (b"b\x00", b"3"),
    (b"bb", b"4"),
    (b"c", b"5"),
    (b"d", b"6"),
    (b"e", b"7"),
];

/// Bound keys for the scan checks: stored keys, keys between them, and keys outside them.
const SCAN_PROBES: &[&[u8]] = &[
    b"", b"a", b"a\xff", b"b", b"b\x00", b"ba", b"c", b"cc", b"e", b"f",
];

fn check_scans(
    storage: &Storage,
    oracle: &Oracle,
    reverse_options: &[bool],
    limits: &[Option<usize>],
) {
    let bounds = bounds_over(SCAN_PROBES);
    for start in &bounds {
        for end in &bounds {
            let range = KeyRange {
                start: start.clone(),
                end: end.clone(),
            };
            for &reverse in reverse_options {
                for &limit in limits {
                    let options = ScanOptions { reverse, limit };
                    let got = storage.scan(&range, options).expect("scan");
                    assert_eq!(
                        got,
                        expected_scan(oracle, &range, options),
                        "{range:?} {options:?}"
                    );
                }
            }
        }
    }
}

/// An error type of the caller's own, to check that aborts hand it back untouched.
#[derive(Debug, PartialEq, Eq)]
struct Declined(u32);

impl fmt::Display for Declined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "declined #{}", self.0)
    }
}

impl std::error::Error for Declined {}

fn read_u64(view: &dyn ReadView, key: &[u8]) -> Result<u64, AbortError> {
    match view.get(key)? {
        None => Ok(0),
        Some(bytes) => {
            let array: [u8; 8] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| "counter is not 8 bytes")?;
            Ok(u64::from_be_bytes(array))
        }
    }
}

/// A small deterministic generator (SplitMix64), so failures reproduce without extra crates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        // `n` is small everywhere here, so the modulo bias does not matter.
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

// ---------------------------------------------------------------------------------------------
// Checks.

/// The backend reports a name for logs.
pub fn backend_has_a_name(storage: &Storage) {
    assert!(!storage.backend_name().is_empty());
}

/// Point reads see puts and deletes; deleting a missing key is a no-op.
pub fn get_put_delete(storage: &Storage) {
    assert_eq!(get(storage, b"k"), None);
    put(storage, b"k", b"v");
    assert_eq!(get(storage, b"k"), Some(b"v".to_vec()));
    assert_eq!(get(storage, b"k2"), None);
    delete(storage, b"k");
    assert_eq!(get(storage, b"k"), None);
    delete(storage, b"never-written");
    assert_eq!(get(storage, b"never-written"), None);
    assert!(scan_all(storage).is_empty());
}

/// A put replaces the value; the key is stored once.
pub fn overwrite(storage: &Storage) {
    put(storage, b"k", b"first");
    put(storage, b"k", b"second, and longer");
    assert_eq!(get(storage, b"k"), Some(b"second, and longer".to_vec()));
    put(storage, b"k", b"3");
    assert_eq!(scan_all(storage), entries(&[(b"k", b"3")]));
}

/// Within one batch, the last operation on a key decides; the whole batch lands together.
pub fn batch_later_op_wins(storage: &Storage) {
    put(storage, b"c", b"old");
    let mut batch = WriteBatch::new();
    batch.put(b"a".to_vec(), b"1".to_vec());
    batch.put(b"a".to_vec(), b"2".to_vec());
    batch.put(b"b".to_vec(), b"1".to_vec());
    batch.delete(b"b".to_vec());
    batch.delete(b"c".to_vec());
    batch.put(b"c".to_vec(), b"new".to_vec());
    batch.put(b"d".to_vec(), b"1".to_vec());
    batch.delete(b"d".to_vec());
    batch.put(b"d".to_vec(), b"2".to_vec());
    storage.write(batch).expect("write");
    assert_eq!(
        scan_all(storage),
        entries(&[(b"a", b"2"), (b"c", b"new"), (b"d", b"2")])
    );
    // An empty batch commits and changes nothing.
    storage.write(WriteBatch::new()).expect("empty write");
    assert_eq!(scan_all(storage).len(), 3);
}

/// Forward scans honour every combination of included, excluded and unbounded ends.
pub fn scan_bounds_forward(storage: &Storage) {
    let oracle = load(storage, SCAN_KEYS);
    check_scans(storage, &oracle, &[false], &[None]);
}

/// Reverse scans return the same entries as forward scans, in descending key order.
pub fn scan_bounds_reverse(storage: &Storage) {
    let oracle = load(storage, SCAN_KEYS);
    check_scans(storage, &oracle, &[true], &[None]);
}

/// Limits cut scans short from the right end in either direction; 0 returns nothing.
pub fn scan_limits(storage: &Storage) {
    let oracle = load(storage, SCAN_KEYS);
    check_scans(
        storage,
        &oracle,
        &[false, true],
        &[Some(0), Some(1), Some(2), Some(6), Some(7), Some(100)],
    );
}

/// Ranges that hold no key (inverted, or equal ends with one excluded) return nothing rather
/// than failing; a point range returns its key.
pub fn scan_empty_and_inverted_ranges(storage: &Storage) {
    load(storage, SCAN_KEYS);
    let key = |k: &[u8]| k.to_vec();
    let cases = [
        (Bound::Included(key(b"d")), Bound::Included(key(b"b"))),
        (Bound::Excluded(key(b"d")), Bound::Excluded(key(b"b"))),
        (Bound::Excluded(key(b"c")), Bound::Excluded(key(b"c"))),
        (Bound::Included(key(b"c")), Bound::Excluded(key(b"c"))),
        (Bound::Excluded(key(b"c")), Bound::Included(key(b"c"))),
        (Bound::Included(key(b"bz")), Bound::Excluded(key(b"c"))),
        (Bound::Excluded(key(b"e")), Bound::Unbounded),
        (Bound::Unbounded, Bound::Excluded(key(b"a"))),
        (Bound::Unbounded, Bound::Excluded(key(b""))),
    ];
    for (start, end) in cases {
        let range = KeyRange { start, end };
        for reverse in [false, true] {
            let got = storage
                .scan(
                    &range,
                    ScanOptions {
                        reverse,
                        limit: None,
                    },
                )
                .expect("scan");
            assert!(got.is_empty(), "{range:?} reverse={reverse}: {got:?}");
        }
    }
    let point = KeyRange {
        start: Bound::Included(key(b"c")),
        end: Bound::Included(key(b"c")),
    };
    assert_eq!(
        storage.scan(&point, ScanOptions::default()).expect("scan"),
        entries(&[(b"c", b"5")])
    );
}

/// Prefix ranges hold exactly the keys with that prefix, including prefixes ending in 0xFF
/// (whose successor carries into the previous byte) and all-0xFF prefixes (unbounded above).
pub fn prefix_ranges(storage: &Storage) {
    let keys: &[&[u8]] = &[
        b"",
        b"\x00",
        b"\x01",
        b"\x01\x00",
        b"\x01\xff",
        b"\x01\xff\x00",
        b"\x01\xff\xff",
        b"\x02",
        b"\xfe\xff",
        b"\xff",
        b"\xff\x00",
        b"\xff\xff",
        b"\xff\xff\xff",
    ];
    let pairs: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (*k, *k)).collect();
    let oracle = load(storage, &pairs);

    assert_eq!(
        KeyRange::prefix(b"\x01\xff").end,
        Bound::Excluded(b"\x02".to_vec())
    );
    assert_eq!(KeyRange::prefix(b"\xff\xff").end, Bound::Unbounded);
    assert_eq!(KeyRange::prefix(b"").end, Bound::Unbounded);

    let prefixes: &[&[u8]] = &[
        b"",
        b"\x00",
        b"\x01",
        b"\x01\xff",
        b"\x02",
        b"\x03",
        b"\xfe",
        b"\xff",
        b"\xff\xff",
    ];
    for prefix in prefixes {
        let range = KeyRange::prefix(prefix);
        for reverse in [false, true] {
            let got = storage
                .scan(
                    &range,
                    ScanOptions {
                        reverse,
                        limit: None,
                    },
                )
                .expect("scan");
            let mut want: Vec<Entry> = oracle
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if reverse {
                want.reverse();
            }
            assert_eq!(got, want, "prefix {prefix:02x?} reverse={reverse}");
        }
    }
}

/// The empty key and empty values are ordinary: stored, found, and distinct from "absent".
pub fn empty_key_and_value(storage: &Storage) {
    put(storage, b"", b"empty key");
    put(storage, b"x", b"");
    assert_eq!(get(storage, b""), Some(b"empty key".to_vec()));
    assert_eq!(get(storage, b"x"), Some(Vec::new()));
    assert_eq!(
        scan_all(storage),
        entries(&[(b"", b"empty key"), (b"x", b"")])
    );
    put(storage, b"", b"");
    assert_eq!(get(storage, b""), Some(Vec::new()));
    let from_empty = KeyRange {
        start: Bound::Included(Vec::new()),
        end: Bound::Included(Vec::new()),
    };
    assert_eq!(
        storage
            .scan(&from_empty, ScanOptions::default())
            .expect("scan"),
        entries(&[(b"", b"")])
    );
    delete(storage, b"");
    assert_eq!(get(storage, b""), None);
    assert_eq!(scan_all(storage), entries(&[(b"x", b"")]));
}

/// Values of half a megabyte and keys of several KiB round-trip byte for byte; keys with 0x00
/// bytes sort bytewise (a shorter key before its extensions, 0x00 before 0x01).
pub fn large_values_and_zero_bytes(storage: &Storage) {
    let big: Vec<u8> = (0..500_000u32)
        .map(|i| (i.wrapping_mul(31) % 251) as u8)
        .collect();
    put(storage, b"big", &big);
    assert_eq!(get(storage, b"big").as_deref(), Some(big.as_slice()));
    let long_key: Vec<u8> = (0..4096u32).map(|i| (i % 256) as u8).collect();
    put(storage, &long_key, b"long key");
    assert_eq!(get(storage, &long_key), Some(b"long key".to_vec()));
    put(storage, b"big", b"small again");
    assert_eq!(get(storage, b"big"), Some(b"small again".to_vec()));
    delete(storage, b"big");
    delete(storage, &long_key);

    let keys: &[&[u8]] = &[
        b"a\x00b",
        b"\x00",
        b"a\x01",
        b"a",
        b"\x00\x00",
        b"a\x00",
        b"a\x00\x00",
        b"\x00\xff",
    ];
    for (i, key) in keys.iter().enumerate() {
        put(storage, key, &[i as u8, 0, 0xff]);
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            get(storage, key),
            Some(vec![i as u8, 0, 0xff]),
            "{key:02x?}"
        );
    }
    let mut sorted: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
    sorted.sort();
    let got: Vec<Vec<u8>> = scan_all(storage).into_iter().map(|(k, _)| k).collect();
    assert_eq!(got, sorted);
    assert_eq!(get(storage, b"a\x00\x00\x00"), None);
}

/// A snapshot keeps showing the state it was taken in, whatever commits after it; a new
/// snapshot shows the new state.
pub fn snapshot_isolation(storage: &Storage) {
    put(storage, b"a", b"1");
    put(storage, b"b", b"1");
    let before = storage.snapshot().expect("snapshot");
    put(storage, b"a", b"2");
    delete(storage, b"b");
    put(storage, b"c", b"1");
    storage
        .transact(|_| {
            let mut batch = WriteBatch::new();
            batch.put(b"d".to_vec(), b"1".to_vec());
            Ok(batch)
        })
        .expect("transact");
    for _ in 0..2 {
        assert_eq!(before.get(b"a").expect("get"), Some(b"1".to_vec()));
        assert_eq!(before.get(b"b").expect("get"), Some(b"1".to_vec()));
        assert_eq!(before.get(b"c").expect("get"), None);
        assert_eq!(before.get(b"d").expect("get"), None);
        let all = before
            .scan(&everything(), ScanOptions::default())
            .expect("scan");
        assert_eq!(all, entries(&[(b"a", b"1"), (b"b", b"1")]));
    }
    let after = storage.snapshot().expect("snapshot");
    assert_eq!(
        after
            .scan(&everything(), ScanOptions::default())
            .expect("scan"),
        entries(&[(b"a", b"2"), (b"c", b"1"), (b"d", b"1")])
    );
    // The old snapshot is unaffected by the new one, and by being read after it.
    assert_eq!(before.get(b"a").expect("get"), Some(b"1".to_vec()));
}

/// A transaction's view holds everything committed before it, including earlier transactions.
pub fn transact_reads_committed_state(storage: &Storage) {
    put(storage, b"counter", &5u64.to_be_bytes());
    for _ in 0..3 {
        storage
            .transact(|view| {
                let n = read_u64(view, b"counter")?;
                let seen = view.scan(&KeyRange::prefix(b"log/"), ScanOptions::default())?;
                if seen.len() as u64 != n - 5 {
                    return Err(format!("log has {} entries at counter {n}", seen.len()).into());
                }
                let mut batch = WriteBatch::new();
                batch.put(b"counter".to_vec(), (n + 1).to_be_bytes().to_vec());
                batch.put([b"log/".as_slice(), &n.to_be_bytes()].concat(), Vec::new());
                Ok(batch)
            })
            .expect("transact");
    }
    assert_eq!(get(storage, b"counter"), Some(8u64.to_be_bytes().to_vec()));
    let log = storage
        .scan(&KeyRange::prefix(b"log/"), ScanOptions::default())
        .expect("scan");
    assert_eq!(log.len(), 3);
}

/// `transact_with` hands back the closure's value once the batch is committed.
pub fn transact_with_returns_value(storage: &Storage) {
    put(storage, b"k", b"old");
    let previous = storage
        .transact_with(|view| {
            let old = view.get(b"k")?;
            let mut batch = WriteBatch::new();
            batch.put(b"k".to_vec(), b"new".to_vec());
            Ok((batch, old))
        })
        .expect("transact_with");
    assert_eq!(previous, Some(b"old".to_vec()));
    assert_eq!(get(storage, b"k"), Some(b"new".to_vec()));
    let read_only = storage
        .transact_with(|view| Ok((WriteBatch::new(), view.get(b"k")?.map(|v| v.len()))))
        .expect("read");
    assert_eq!(read_only, Some(3));
}

/// A closure that returns an error writes nothing, and its error comes back as `Aborted`,
/// downcastable to the caller's own type. The store carries on as before.
pub fn abort_writes_nothing(storage: &Storage) {
    put(storage, b"k", b"kept");
    let result = storage.transact(|view| {
        assert_eq!(view.get(b"k")?, Some(b"kept".to_vec()));
        Err(Box::new(Declined(7)))
    });
    match result {
        Err(StorageError::Aborted(error)) => {
            assert_eq!(error.downcast_ref::<Declined>(), Some(&Declined(7)))
        }
        other => panic!("expected Aborted(Declined), got {other:?}"),
    }
    let result: Result<u32, StorageError> = storage.transact_with(|_| Err("plain message".into()));
    match result {
        Err(StorageError::Aborted(error)) => assert_eq!(error.to_string(), "plain message"),
        other => panic!("expected Aborted, got {other:?}"),
    }
    assert_eq!(scan_all(storage), entries(&[(b"k", b"kept")]));
    put(storage, b"after", b"1");
    assert_eq!(get(storage, b"after"), Some(b"1".to_vec()));
}

/// A `StorageError` the closure passes on comes back as itself, not wrapped in `Aborted`.
pub fn storage_error_passes_through_abort(storage: &Storage) {
    let result = storage.transact(|_| {
        Err(Box::new(StorageError::Corrupt(
            "from the closure".to_string(),
        )))
    });
    match result {
        Err(StorageError::Corrupt(message)) => assert_eq!(message, "from the closure"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(scan_all(storage).is_empty());
}

/// A closure that panics writes nothing, the panic reaches the caller, and the store keeps
/// working for everyone else.
pub fn panicking_closure_leaves_store_usable(storage: &Storage) {
    put(storage, b"k", b"1");
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        storage.transact(|view| {
            if view.get(b"k")?.is_some() {
                panic!("deliberate panic inside a transaction closure (expected by the test)");
            }
            Ok(WriteBatch::new())
        })
    }));
    assert!(
        outcome.is_err(),
        "the closure's panic should reach the caller"
    );
    put(storage, b"k", b"2");
    assert_eq!(get(storage, b"k"), Some(b"2".to_vec()));
    storage
        .transact(|view| {
            let mut batch = WriteBatch::new();
            batch.put(
                b"k".to_vec(),
                [view.get(b"k")?.unwrap_or_default(), b"3".to_vec()].concat(),
            );
            Ok(batch)
        })
        .expect("transact");
    assert_eq!(get(storage, b"k"), Some(b"23".to_vec()));
}

/// Many threads incrementing one counter through transactions lose no update, and every
/// closure sees the writes of the transactions ordered before it (also those committed in the
/// same group). Some transactions abort, which must not disturb the others.
pub fn concurrent_counter_is_serializable(storage: &Storage) {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 30;
    let committed = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let storage = storage.clone();
            let committed = Arc::clone(&committed);
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let abort = (t + i) % 7 == 0;
                    let result = storage.transact(move |view| {
                        let n = read_u64(view, b"counter")?;
                        let log_key = [b"log/".as_slice(), &n.to_be_bytes()].concat();
                        if view.get(&log_key)?.is_some() {
                            return Err(format!("log entry {n} already taken").into());
                        }
                        if abort {
                            return Err(Box::new(Declined(n as u32)));
                        }
                        let mut batch = WriteBatch::new();
                        batch.put(b"counter".to_vec(), (n + 1).to_be_bytes().to_vec());
                        batch.put(log_key, vec![t as u8]);
                        Ok(batch)
                    });
                    match result {
                        Ok(()) => {
                            committed.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(StorageError::Aborted(e)) if abort && e.is::<Declined>() => {}
                        Err(e) => panic!("thread {t} txn {i}: {e}"),
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("worker thread");
    }
    let committed = committed.load(Ordering::Relaxed) as u64;
    let expected_aborts = (0..THREADS)
        .flat_map(|t| (0..PER_THREAD).map(move |i| (t + i) % 7 == 0))
        .filter(|a| *a)
        .count();
    assert_eq!(committed as usize, THREADS * PER_THREAD - expected_aborts);
    assert_eq!(
        get(storage, b"counter"),
        Some(committed.to_be_bytes().to_vec())
    );
    let log = storage
        .scan(&KeyRange::prefix(b"log/"), ScanOptions::default())
        .expect("scan");
    let want: Vec<Vec<u8>> = (0..committed)
        .map(|n| [b"log/".as_slice(), &n.to_be_bytes()].concat())
        .collect();
    assert_eq!(log.into_iter().map(|(k, _)| k).collect::<Vec<_>>(), want);
}

/// While transfers move money between accounts, every snapshot sees the same total, and its
/// point reads agree with its scans.
pub fn snapshots_consistent_under_concurrent_writes(storage: &Storage) {
    const ACCOUNTS: u64 = 10;
    const TOTAL: u64 = ACCOUNTS * 100;
    let account = |i: u64| [b"acct/".as_slice(), &i.to_be_bytes()].concat();
    let mut batch = WriteBatch::new();
    for i in 0..ACCOUNTS {
        batch.put(account(i), 100u64.to_be_bytes().to_vec());
    }
    storage.write(batch).expect("load");

    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2u64)
        .map(|w| {
            let storage = storage.clone();
            thread::spawn(move || {
                let mut rng = Rng(w + 1);
                for _ in 0..60 {
                    let from = account(rng.below(ACCOUNTS as usize) as u64);
                    let to = account(rng.below(ACCOUNTS as usize) as u64);
                    let amount = rng.below(30) as u64;
                    storage
                        .transact(move |view| {
                            let mut batch = WriteBatch::new();
                            if from == to {
                                return Ok(batch);
                            }
                            let (a, b) = (read_u64(view, &from)?, read_u64(view, &to)?);
                            let moved = amount.min(a);
                            batch.put(from, (a - moved).to_be_bytes().to_vec());
                            batch.put(to, (b + moved).to_be_bytes().to_vec());
                            Ok(batch)
                        })
                        .expect("transfer");
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let storage = storage.clone();
            let done = Arc::clone(&done);
            thread::spawn(move || {
                let mut rounds = 0;
                while !done.load(Ordering::Acquire) || rounds < 3 {
                    rounds += 1;
                    let view = storage.snapshot().expect("snapshot");
                    let all = view
                        .scan(&KeyRange::prefix(b"acct/"), ScanOptions::default())
                        .expect("scan");
                    assert_eq!(all.len() as u64, ACCOUNTS);
                    let mut sum = 0;
                    for (key, value) in &all {
                        let array: [u8; 8] = value.as_slice().try_into().expect("8-byte balance");
                        sum += u64::from_be_bytes(array);
                        assert_eq!(view.get(key).expect("get").as_ref(), Some(value));
                    }
                    assert_eq!(sum, TOTAL, "a snapshot saw a transfer half-done");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer thread");
    }
    done.store(true, Ordering::Release);
    for reader in readers {
        reader.join().expect("reader thread");
    }
}

/// Random sequences of writes, transactions, reads, scans and long-lived snapshots, each
/// result compared with a `BTreeMap` model.
pub fn model_based(storage: &Storage) {
    // One store, several seeds in a row: each seed's run starts from the previous one's state,
    // which the model carries over.
    let mut oracle = Oracle::new();
    for seed in [1u64, 2, 0xC0FFEE] {
        model_run(storage, &mut oracle, seed, 250);
    }
}

/// The alphabet random keys are drawn from: it is small so keys collide often, and holds the
/// bytes where ordering bugs hide.
const MODEL_BYTES: &[u8] = &[0x00, 0x01, 0x7f, 0xfe, 0xff];

fn model_key(rng: &mut Rng, oracle: &Oracle) -> Vec<u8> {
    if !oracle.is_empty()
        && rng.chance(40)
        && let Some(key) = oracle.keys().nth(rng.below(oracle.len()))
    {
        return key.clone();
    }
    let len = rng.below(4);
    (0..len)
        .map(|_| MODEL_BYTES[rng.below(MODEL_BYTES.len())])
        .collect()
}

fn model_value(rng: &mut Rng) -> Vec<u8> {
    let len = if rng.chance(2) {
        10_000 + rng.below(5_000)
    } else {
        rng.below(6)
    };
    (0..len).map(|_| rng.next() as u8).collect()
}

fn model_bound(rng: &mut Rng, oracle: &Oracle) -> Bound<Vec<u8>> {
    match rng.below(3) {
        0 => Bound::Unbounded,
        1 => Bound::Included(model_key(rng, oracle)),
        _ => Bound::Excluded(model_key(rng, oracle)),
    }
}

fn model_options(rng: &mut Rng) -> ScanOptions {
    let limit = if rng.chance(50) {
        None
    } else {
        Some(rng.below(6))
    };
    ScanOptions {
        reverse: rng.chance(50),
        limit,
    }
}

fn model_run(storage: &Storage, oracle: &mut Oracle, seed: u64, steps: usize) {
    let mut rng = Rng(seed);
    let mut held: Vec<(Box<dyn ReadView + '_>, Oracle)> = Vec::new();
    for step in 0..steps {
        let context = format!("seed {seed} step {step}");
        match rng.below(100) {
            0..20 => {
                let (key, value) = (model_key(&mut rng, oracle), model_value(&mut rng));
                put(storage, &key, &value);
                oracle.insert(key, value);
            }
            20..30 => {
                let key = model_key(&mut rng, oracle);
                delete(storage, &key);
                oracle.remove(&key);
            }
            30..42 => {
                let mut batch = WriteBatch::new();
                for _ in 0..1 + rng.below(6) {
                    let key = model_key(&mut rng, oracle);
                    if rng.chance(70) {
                        let value = model_value(&mut rng);
                        batch.put(key.clone(), value.clone());
                        oracle.insert(key, value);
                    } else {
                        batch.delete(key.clone());
                        oracle.remove(&key);
                    }
                }
                storage.write(batch).expect(&context);
            }
            42..52 => {
                // Read-modify-write: copy `from` (plus a marker byte) to `to`, or delete `to`.
                let (from, to) = (model_key(&mut rng, oracle), model_key(&mut rng, oracle));
                let (from_c, to_c) = (from.clone(), to.clone());
                let seen = storage
                    .transact_with(move |view| {
                        let value = view.get(&from_c)?;
                        let mut batch = WriteBatch::new();
                        match &value {
                            Some(v) => batch.put(to_c, [v.as_slice(), &[0x2a]].concat()),
                            None => batch.delete(to_c),
                        }
                        Ok((batch, value))
                    })
                    .expect(&context);
                assert_eq!(
                    seen.as_ref(),
                    oracle.get(&from),
                    "{context}: transaction read"
                );
                match seen {
                    Some(v) => oracle.insert(to, [v.as_slice(), &[0x2a]].concat()),
                    None => oracle.remove(&to),
                };
            }
            52..57 => {
                let key = model_key(&mut rng, oracle);
                let result = storage.transact(move |view| {
                    let _ = view.scan(&KeyRange::prefix(&key), ScanOptions::default())?;
                    Err(Box::new(Declined(step as u32)))
                });
                assert!(
                    matches!(result, Err(StorageError::Aborted(_))),
                    "{context}: {result:?}"
                );
            }
            57..70 => {
                let key = model_key(&mut rng, oracle);
                assert_eq!(
                    get(storage, &key).as_ref(),
                    oracle.get(&key),
                    "{context}: get {key:02x?}"
                );
            }
            70..85 => {
                let range = KeyRange {
                    start: model_bound(&mut rng, oracle),
                    end: model_bound(&mut rng, oracle),
                };
                let options = model_options(&mut rng);
                let got = storage.scan(&range, options).expect(&context);
                assert_eq!(
                    got,
                    expected_scan(oracle, &range, options),
                    "{context}: {range:?} {options:?}"
                );
            }
            85..90 => {
                let prefix = model_key(&mut rng, oracle);
                let range = KeyRange::prefix(&prefix);
                let options = model_options(&mut rng);
                let got = storage.scan(&range, options).expect(&context);
                assert_eq!(
                    got,
                    expected_scan(oracle, &range, options),
                    "{context}: prefix {prefix:02x?}"
                );
            }
            90..95 => {
                if held.len() < 3 {
                    held.push((storage.snapshot().expect(&context), oracle.clone()));
                }
            }
            _ => {
                if !held.is_empty() {
                    let (view, then) = held.swap_remove(rng.below(held.len()));
                    check_view(view.as_ref(), &then, &mut rng, &context);
                }
            }
        }
    }
    for (view, then) in held {
        check_view(view.as_ref(), &then, &mut rng, &format!("seed {seed} end"));
    }
    assert_eq!(
        scan_all(storage),
        expected_scan(oracle, &everything(), ScanOptions::default()),
        "seed {seed} end"
    );
}

fn check_view(view: &dyn ReadView, then: &Oracle, rng: &mut Rng, context: &str) {
    let all = view
        .scan(&everything(), ScanOptions::default())
        .expect(context);
    assert_eq!(
        all,
        expected_scan(then, &everything(), ScanOptions::default()),
        "{context}: held snapshot"
    );
    for _ in 0..5 {
        let key = model_key(rng, then);
        assert_eq!(
            view.get(&key).expect(context).as_ref(),
            then.get(&key),
            "{context}: held snapshot get"
        );
    }
}

/// After `close`, every operation reports `Closed`; closing again is harmless.
pub fn close_then_closed(storage: &Storage) {
    put(storage, b"k", b"v");
    storage.close().expect("close");
    assert!(matches!(storage.get(b"k"), Err(StorageError::Closed)));
    assert!(matches!(
        storage.scan(&everything(), ScanOptions::default()),
        Err(StorageError::Closed)
    ));
    assert!(matches!(storage.snapshot(), Err(StorageError::Closed)));
    let mut batch = WriteBatch::new();
    batch.put(b"k2".to_vec(), b"v".to_vec());
    assert!(matches!(storage.write(batch), Err(StorageError::Closed)));
    assert!(matches!(
        storage.transact(|_| Ok(WriteBatch::new())),
        Err(StorageError::Closed)
    ));
    storage.close().expect("second close");
}
