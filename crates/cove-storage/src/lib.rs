//! The engine-neutral storage contract: an ordered byte-key store with snapshot reads and
//! atomic, durable read-modify-write transactions.
//!
//! Every backend (SQLite today, PostgreSQL and others later) implements [`Backend`]; the
//! engine only ever sees the [`Storage`] handle. Keys are compared bytewise (memcmp order), so
//! the memcomparable key encoding in `cove-types` orders items alike on every backend.
//!
//! The contract, which the conformance suite (feature `testsuite`) checks for each backend:
//! - [`Backend::transact`] runs its closure against a view that sees everything committed
//!   before it, plus the writes of earlier closures in the same group commit. If the closure
//!   returns `Ok`, its [`WriteBatch`] is applied atomically; the call returns only once the
//!   batch is durable (it survives `kill -9` and, with the default settings, power loss). If
//!   the closure returns `Err`, nothing it asked for is written and the error comes back as
//!   [`StorageError::Aborted`], except that a [`StorageError`] (say, a failed read inside the
//!   closure, passed on with `?`) comes back as itself; see [`StorageError::from_abort`].
//! - Transactions are serializable: closures run one at a time, in some order.
//! - [`Backend::snapshot`] gives a consistent point-in-time view that later commits do not
//!   change.

use std::ops::Bound;
use std::sync::Arc;

/// A boxed error raised inside a transaction closure and handed back unchanged to the caller.
pub type AbortError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors a backend reports. One enum for every backend, translated at the backend's edge so
/// nothing upstream matches on a backend's own error strings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The transaction closure declined to commit; its error is handed back untouched.
    #[error("transaction aborted: {0}")]
    Aborted(AbortError),
    /// The backend failed to read or write (disk full, I/O error, corrupt file).
    #[error("storage i/o error: {0}")]
    Io(String),
    /// The backend has been closed or its writer is gone.
    #[error("storage is closed")]
    Closed,
    /// The backend cannot be reached for now: the connection to a database server was lost,
    /// the server is down or restarting, or it did not answer in time. The request did not
    /// take effect, or (for a commit cut off midway) may or may not have; either way the same
    /// request may succeed when retried, so callers report it as a retryable server error.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A stored record could not be understood (wrong version, truncated bytes).
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

impl StorageError {
    /// Turns a transaction closure's error into what `transact` returns. A [`StorageError`]
    /// the closure passed on (a failed read, a closed store) comes back as itself, so callers
    /// need not unwrap it from `Aborted`; any other error is wrapped in `Aborted`, untouched.
    pub fn from_abort(error: AbortError) -> StorageError {
        match error.downcast::<StorageError>() {
            Ok(inner) => *inner,
            Err(other) => StorageError::Aborted(other),
        }
    }
}

/// A key range with inclusive/exclusive/unbounded ends, as in `std::ops::RangeBounds`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub start: Bound<Vec<u8>>,
    pub end: Bound<Vec<u8>>,
}

impl KeyRange {
    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &[u8]) -> KeyRange {
        let end = match prefix_successor(prefix) {
            Some(next) => Bound::Excluded(next),
            None => Bound::Unbounded,
        };
        KeyRange {
            start: Bound::Included(prefix.to_vec()),
            end,
        }
    }

    /// Whether `key` lies inside the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        let after_start = match &self.start {
            Bound::Included(s) => key >= s.as_slice(),
            Bound::Excluded(s) => key > s.as_slice(),
            Bound::Unbounded => true,
        };
        let before_end = match &self.end {
            Bound::Included(e) => key <= e.as_slice(),
            Bound::Excluded(e) => key < e.as_slice(),
            Bound::Unbounded => true,
        };
        after_start && before_end
    }
}

/// The smallest key greater than every key starting with `prefix`, or `None` if there is none
/// (the prefix is empty or all 0xFF).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut next = prefix.to_vec();
    while let Some(last) = next.pop() {
        if last < 0xFF {
            next.push(last + 1);
            return Some(next);
        }
    }
    None
}

/// Direction and size of a range scan. The default is forward with no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanOptions {
    /// Return keys in descending order when true.
    pub reverse: bool,
    /// Stop after this many entries; `None` means no limit.
    pub limit: Option<usize>,
}

/// One key/value pair as stored.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A set of puts and deletes applied all-or-nothing. Later operations on the same key win.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<WriteOp>,
    /// Whether other processes sharing the store should hear of this batch; see
    /// [`WriteBatch::signal`].
    signal: bool,
}

/// One operation in a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    Put { key: Vec<u8>, value: Vec<u8> },
    Delete { key: Vec<u8> },
}

impl WriteBatch {
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push(WriteOp::Put { key, value });
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.ops.push(WriteOp::Delete { key });
    }

    pub fn ops(&self) -> &[WriteOp] {
        &self.ops
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Marks the batch as one the other processes sharing the store must hear of (a
    /// control-plane change they cache): once it commits, every [`Watch`] on the store is
    /// signalled. Backends nobody else shares ignore the mark.
    pub fn signal(&mut self) {
        self.signal = true;
    }

    /// Whether [`WriteBatch::signal`] marked the batch.
    pub fn is_signalled(&self) -> bool {
        self.signal
    }
}

/// What a process learns from a store other processes share (several Cove nodes on one
/// database): that signalled batches were committed, by any of them, and whether this process
/// holds the store's lease, under which work that must run once per cluster runs (sweeping
/// expired items). Signals may be lost (while the database is unreachable, say), so whoever
/// caches what they announce also checks now and then.
pub struct Watch {
    /// Behind a mutex so that a watch may be shared between threads (one waits on it, others
    /// ask about the lease).
    changes: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
    lease: Arc<std::sync::atomic::AtomicBool>,
}

impl Watch {
    /// A watch fed by the backend: it sends on `changes` after signalled commits and keeps
    /// `lease` true while this process holds the lease.
    pub fn new(
        changes: std::sync::mpsc::Receiver<()>,
        lease: Arc<std::sync::atomic::AtomicBool>,
    ) -> Watch {
        Watch {
            changes: std::sync::Mutex::new(changes),
            lease,
        }
    }

    /// Waits up to `timeout` for a signal; true if one (or several, all consumed) arrived.
    /// Also returns, false, once the backend is closed.
    pub fn wait(&self, timeout: std::time::Duration) -> bool {
        let changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        match changes.recv_timeout(timeout) {
            Ok(()) => {
                while changes.try_recv().is_ok() {}
                true
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => false,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                // The sender is gone with the backend: do not spin.
                std::thread::sleep(timeout);
                false
            }
        }
    }

    /// Whether this process holds the store's lease now.
    pub fn holds_lease(&self) -> bool {
        self.lease.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Read access to one consistent state of the store.
pub trait ReadView {
    /// The value stored under `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    /// Entries whose keys lie in `range`, in key order (or reverse), up to the limit.
    fn scan(&self, range: &KeyRange, options: ScanOptions) -> Result<Vec<Entry>, StorageError>;
}

/// The SQL statements of every shape of range scan over a `(k, v)` table, for backends that
/// speak SQL: 3 kinds of start bound × 3 kinds of end bound × 2 directions, in the order
/// [`scan_shape`] indexes them. `placeholder(n)` writes the n-th parameter (`?1`, `$1`);
/// parameters are numbered as the statement mentions them: start, end, limit. Built once, each
/// statement is prepared once per connection and walks the primary key's B-tree directly.
pub fn range_scan_statements(table: &str, placeholder: impl Fn(usize) -> String) -> Vec<String> {
    let mut all = Vec::with_capacity(18);
    for start in 0..3 {
        for end in 0..3 {
            for reverse in [false, true] {
                let mut conditions = Vec::new();
                let mut parameter = 0;
                for (kind, included, excluded) in [(start, ">=", ">"), (end, "<=", "<")] {
                    if kind != 0 {
                        parameter += 1;
                        let op = if kind == 1 { included } else { excluded };
                        conditions.push(format!("k {op} {}", placeholder(parameter)));
                    }
                }
                let filter = if conditions.is_empty() {
                    String::new()
                } else {
                    format!(" WHERE {}", conditions.join(" AND "))
                };
                let order = if reverse { "DESC" } else { "ASC" };
                all.push(format!(
                    "SELECT k, v FROM {table}{filter} ORDER BY k {order} LIMIT {}",
                    placeholder(parameter + 1)
                ));
            }
        }
    }
    all
}

/// The index into [`range_scan_statements`] for this range's kinds of bounds and direction.
pub fn scan_shape(range: &KeyRange, reverse: bool) -> usize {
    let kind = |bound: &Bound<Vec<u8>>| match bound {
        Bound::Unbounded => 0,
        Bound::Included(_) => 1,
        Bound::Excluded(_) => 2,
    };
    (kind(&range.start) * 3 + kind(&range.end)) * 2 + usize::from(reverse)
}

/// The closure a transaction runs. It reads through the view and returns what to write, or an
/// error that aborts this transaction alone.
pub type TxnFn<'a> = Box<dyn FnOnce(&dyn ReadView) -> Result<WriteBatch, AbortError> + Send + 'a>;

/// A storage engine. Implementations are internally synchronized and blocking: async callers
/// run them on a blocking thread.
pub trait Backend: Send + Sync + 'static {
    /// A short name for logs ("sqlite", "memory").
    fn name(&self) -> &'static str;

    /// A consistent point-in-time view of everything committed so far.
    fn snapshot(&self) -> Result<Box<dyn ReadView + '_>, StorageError>;

    /// The latest committed value of one key. A single read is consistent by itself, so
    /// backends may answer it more cheaply than through a whole snapshot.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.snapshot()?.get(key)
    }

    /// Runs `txn` serializably and commits its batch durably. See the crate docs.
    fn transact(&self, txn: TxnFn<'static>) -> Result<(), StorageError>;

    /// Flushes and releases resources; later calls return [`StorageError::Closed`]. Closing
    /// again is a no-op that returns `Ok`, so shutdown paths and `Drop` may both call it.
    fn close(&self) -> Result<(), StorageError>;

    /// For a store other processes write too: a [`Watch`] of their signalled commits and of
    /// this process's lease. `None` (the default) for a store only this process writes, whose
    /// callers then need neither.
    fn watch(&self) -> Result<Option<Watch>, StorageError> {
        Ok(None)
    }
}

/// The handle the engine holds: cheap to clone, backend chosen at start-up.
#[derive(Clone)]
pub struct Storage(Arc<dyn Backend>);

impl Storage {
    pub fn new(backend: impl Backend) -> Storage {
        Storage(Arc::new(backend))
    }

    pub fn backend_name(&self) -> &'static str {
        self.0.name()
    }

    /// Reads one key from the latest committed state.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.0.get(key)
    }

    /// Scans the latest committed state.
    pub fn scan(&self, range: &KeyRange, options: ScanOptions) -> Result<Vec<Entry>, StorageError> {
        self.0.snapshot()?.scan(range, options)
    }

    pub fn snapshot(&self) -> Result<Box<dyn ReadView + '_>, StorageError> {
        self.0.snapshot()
    }

    /// Applies a batch unconditionally and durably.
    pub fn write(&self, batch: WriteBatch) -> Result<(), StorageError> {
        self.0.transact(Box::new(move |_| Ok(batch)))
    }

    /// Runs a read-modify-write transaction; see [`Backend::transact`].
    pub fn transact(
        &self,
        txn: impl FnOnce(&dyn ReadView) -> Result<WriteBatch, AbortError> + Send + 'static,
    ) -> Result<(), StorageError> {
        self.0.transact(Box::new(txn))
    }

    /// Like [`Storage::transact`], but the closure also hands back a value (an old item, say),
    /// which is returned once the batch is durable.
    pub fn transact_with<T: Send + 'static>(
        &self,
        txn: impl FnOnce(&dyn ReadView) -> Result<(WriteBatch, T), AbortError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let slot = Arc::new(std::sync::Mutex::new(None));
        let inner = Arc::clone(&slot);
        self.0.transact(Box::new(move |view| {
            let (batch, out) = txn(view)?;
            *inner.lock().unwrap_or_else(|e| e.into_inner()) = Some(out);
            Ok(batch)
        }))?;
        let out = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        out.ok_or_else(|| StorageError::Io("transaction produced no result".to_string()))
    }

    pub fn close(&self) -> Result<(), StorageError> {
        self.0.close()
    }

    /// See [`Backend::watch`].
    pub fn watch(&self) -> Result<Option<Watch>, StorageError> {
        self.0.watch()
    }
}

pub mod memory;

// Compiled for this crate's own tests too, so the memory backend runs the suite without the
// feature being switched on.
#[cfg(any(test, feature = "testsuite"))]
pub mod testsuite;
