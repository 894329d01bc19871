//! The in-memory reference backend: the oracle other backends are checked against, and the
//! backend in-process tests run on.
//!
//! The committed state is one `BTreeMap` behind an `Arc`. A snapshot clones the `Arc`, so taking
//! one is O(1); a commit copies the map only while some snapshot still holds the old version
//! (`Arc::make_mut`). Transactions take a writer mutex, so they run one at a time and each sees
//! every earlier commit, which makes them trivially serializable.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::{Backend, Entry, KeyRange, ReadView, ScanOptions, StorageError, TxnFn, WriteOp};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// An in-memory [`Backend`]. Nothing survives the process; `transact` is "durable" as soon as
/// it returns.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    /// The latest committed state. Readers clone the `Arc` and let go of the lock at once.
    state: RwLock<Arc<Map>>,
    /// Held for the whole of a transaction so that closures run one at a time.
    writer: Mutex<()>,
    closed: AtomicBool,
}

impl MemoryBackend {
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    fn check_open(&self) -> Result<(), StorageError> {
        if self.closed.load(Ordering::Acquire) {
            Err(StorageError::Closed)
        } else {
            Ok(())
        }
    }

    fn current(&self) -> Arc<Map> {
        // A panic while holding this lock cannot leave the map half-updated (the `Arc` is
        // swapped or mutated only by infallible map operations), so a poisoned lock is safe to
        // reuse.
        Arc::clone(&self.state.read().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn snapshot(&self) -> Result<Box<dyn ReadView + '_>, StorageError> {
        self.check_open()?;
        Ok(Box::new(MemoryView {
            map: self.current(),
        }))
    }

    fn transact(&self, txn: TxnFn<'static>) -> Result<(), StorageError> {
        self.check_open()?;
        // A closure that panicked poisons this mutex, but it guards no data: the state is only
        // touched after the closure has returned, so the poison carries no meaning.
        let _turn = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        // Checked again under the writer lock: `close` takes the same lock, so a transaction
        // either finishes before the close or sees it.
        self.check_open()?;
        let view = MemoryView {
            map: self.current(),
        };
        let batch = txn(&view).map_err(StorageError::from_abort)?;
        // Dropping the view's reference first lets `make_mut` update the map in place when no
        // snapshot holds it.
        drop(view);
        if batch.is_empty() {
            return Ok(());
        }
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let map = Arc::make_mut(&mut state);
        for op in batch.ops() {
            match op {
                WriteOp::Put { key, value } => {
                    map.insert(key.clone(), value.clone());
                }
                WriteOp::Delete { key } => {
                    map.remove(key.as_slice());
                }
            }
        }
        Ok(())
    }

    fn close(&self) -> Result<(), StorageError> {
        let _turn = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if !self.closed.swap(true, Ordering::AcqRel) {
            // Snapshots still alive keep their own reference; the store lets go of its copy.
            *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Map::new());
        }
        Ok(())
    }
}

/// One committed version of the map.
struct MemoryView {
    map: Arc<Map>,
}

impl ReadView for MemoryView {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.map.get(key).cloned())
    }

    fn scan(&self, range: &KeyRange, options: ScanOptions) -> Result<Vec<Entry>, StorageError> {
        Ok(scan_map(&self.map, range, options))
    }
}

/// Entries of `map` inside `range`, in the order and number `options` ask for.
pub(crate) fn scan_map(map: &Map, range: &KeyRange, options: ScanOptions) -> Vec<Entry> {
    let limit = options.limit.unwrap_or(usize::MAX);
    if limit == 0 || range_is_empty(range) {
        return Vec::new();
    }
    let bounds = (as_slice_bound(&range.start), as_slice_bound(&range.end));
    let iter = map
        .range::<[u8], _>(bounds)
        .map(|(k, v)| (k.clone(), v.clone()));
    if options.reverse {
        iter.rev().take(limit).collect()
    } else {
        iter.take(limit).collect()
    }
}

fn as_slice_bound(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Whether no key can lie in `range`. `BTreeMap::range` panics on an inverted range (and on
/// equal excluded ends), where a scan should simply find nothing.
fn range_is_empty(range: &KeyRange) -> bool {
    let (start, start_included) = match &range.start {
        Bound::Included(k) => (k, true),
        Bound::Excluded(k) => (k, false),
        Bound::Unbounded => return false,
    };
    let (end, end_included) = match &range.end {
        Bound::Included(k) => (k, true),
        Bound::Excluded(k) => (k, false),
        Bound::Unbounded => return false,
    };
    start > end || (start == end && !(start_included && end_included))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverted_and_degenerate_ranges_are_empty() {
        let mut map = Map::new();
        map.insert(b"a".to_vec(), b"1".to_vec());
        map.insert(b"b".to_vec(), b"2".to_vec());
        let cases = [
            (
                Bound::Included(b"b".to_vec()),
                Bound::Included(b"a".to_vec()),
            ),
            (
                Bound::Excluded(b"a".to_vec()),
                Bound::Excluded(b"a".to_vec()),
            ),
            (
                Bound::Included(b"a".to_vec()),
                Bound::Excluded(b"a".to_vec()),
            ),
            (
                Bound::Excluded(b"a".to_vec()),
                Bound::Included(b"a".to_vec()),
            ),
        ];
        for (start, end) in cases {
            let range = KeyRange { start, end };
            assert!(
                scan_map(&map, &range, ScanOptions::default()).is_empty(),
                "{range:?}"
            );
        }
        let point = KeyRange {
            start: Bound::Included(b"a".to_vec()),
            end: Bound::Included(b"a".to_vec()),
        };
        assert_eq!(scan_map(&map, &point, ScanOptions::default()).len(), 1);
    }

    crate::conformance_tests!(crate::Storage::new(MemoryBackend::new()));
}
