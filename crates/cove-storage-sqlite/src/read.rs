//! The read path: point reads and range scans over any connection, and the pool of read-only
//! connections that backs snapshots.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};

use cove_storage::{Entry, KeyRange, ReadView, ScanOptions, StorageError};
use rusqlite::{Connection, Row};

use crate::error::{in_context, translate};
use crate::schema;

const GET_SQL: &str = "SELECT v FROM kv WHERE k = ?1";

/// Any read of the `kv` table; run right after `BEGIN` to fix the snapshot at that moment
/// instead of at the caller's first read.
const PIN_SQL: &str = "SELECT 1 FROM kv LIMIT 1";

/// Reads through one connection, in whatever transaction it has open: a pinned read
/// transaction for snapshots, the open write transaction for the writer's closures.
pub(crate) struct ConnView<'c>(pub(crate) &'c Connection);

impl ReadView for ConnView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        get(self.0, key)
    }

    fn scan(&self, range: &KeyRange, options: ScanOptions) -> Result<Vec<Entry>, StorageError> {
        scan(self.0, range, options)
    }
}

fn get(conn: &Connection, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
    let context = "reading a key";
    let mut stmt = conn.prepare_cached(GET_SQL).map_err(in_context(context))?;
    stmt.raw_bind_parameter(1, key)
        .map_err(in_context(context))?;
    let mut rows = stmt.raw_query();
    match rows.next().map_err(in_context(context))? {
        Some(row) => Ok(Some(blob(row, 0, context)?)),
        None => Ok(None),
    }
}

fn scan(
    conn: &Connection,
    range: &KeyRange,
    options: ScanOptions,
) -> Result<Vec<Entry>, StorageError> {
    let context = "scanning keys";
    if options.limit == Some(0) {
        return Ok(Vec::new());
    }
    let sql = &SCAN_SQL[cove_storage::scan_shape(range, options.reverse)];
    let mut stmt = conn.prepare_cached(sql).map_err(in_context(context))?;
    // Parameters are numbered in the order the shape's SQL mentions them: start, end, limit.
    let mut index = 1;
    for bound in [&range.start, &range.end] {
        if let Bound::Included(key) | Bound::Excluded(key) = bound {
            stmt.raw_bind_parameter(index, key.as_slice())
                .map_err(in_context(context))?;
            index += 1;
        }
    }
    // SQLite treats a negative LIMIT as no limit.
    let limit = options
        .limit
        .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
    stmt.raw_bind_parameter(index, limit)
        .map_err(in_context(context))?;
    let mut rows = stmt.raw_query();
    let mut entries = Vec::with_capacity(options.limit.unwrap_or(16).min(1024));
    while let Some(row) = rows.next().map_err(in_context(context))? {
        entries.push((blob(row, 0, context)?, blob(row, 1, context)?));
    }
    Ok(entries)
}

/// Copies a BLOB column out of the row: the one copy the read path makes.
fn blob(row: &Row<'_>, column: usize, context: &str) -> Result<Vec<u8>, StorageError> {
    let value = row.get_ref(column).map_err(in_context(context))?;
    match value.as_blob() {
        Ok(bytes) => Ok(bytes.to_vec()),
        Err(_) => Err(StorageError::Corrupt(format!(
            "{context}: column {column} of kv holds a {:?}, not a BLOB",
            value.data_type()
        ))),
    }
}

/// One statement per shape of scan, built once (see [`cove_storage::range_scan_statements`]).
static SCAN_SQL: LazyLock<Vec<String>> =
    LazyLock::new(|| cove_storage::range_scan_statements("kv", |n| format!("?{n}")));

/// Read-only connections waiting to serve snapshots. Up to `keep` idle ones are kept open;
/// when all are busy a snapshot opens another rather than wait, so a caller holding several
/// snapshots can never deadlock against itself, and the surplus is closed when returned.
pub(crate) struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    keep: usize,
    closed: AtomicBool,
}

impl ReaderPool {
    /// Opens `keep` connections up front, so a file that cannot be read fails at open time.
    pub(crate) fn open(path: &Path, keep: usize) -> Result<ReaderPool, StorageError> {
        let idle = (0..keep)
            .map(|_| schema::open_reader(path))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ReaderPool {
            path: path.to_path_buf(),
            idle: Mutex::new(idle),
            keep,
            closed: AtomicBool::new(false),
        })
    }

    /// A view of the latest committed state, fixed now.
    pub(crate) fn snapshot(&self) -> Result<PooledView<'_>, StorageError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::Closed);
        }
        let pooled = self.lock_idle().pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => schema::open_reader(&self.path)?,
        };
        if let Err(error) = begin_pinned(&conn) {
            // The connection may be in a bad state; dropping it closes it.
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            return Err(translate("starting a snapshot", error));
        }
        Ok(PooledView {
            conn: Some(conn),
            pool: self,
        })
    }

    /// Reads one key in autocommit mode on a pooled connection.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::Closed);
        }
        let conn = match self.lock_idle().pop() {
            Some(conn) => conn,
            None => schema::open_reader(&self.path)?,
        };
        let value = get(&conn, key);
        // A connection is only pooled when it holds no transaction.
        if conn.is_autocommit() {
            self.give_back(conn);
        }
        value
    }

    /// Refuses new snapshots and closes the idle connections. Views still held keep their
    /// connection until dropped, and then close it.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let idle = std::mem::take(&mut *self.lock_idle());
        for conn in idle {
            if let Err((_, error)) = conn.close() {
                tracing::warn!(%error, "closing a SQLite reader connection failed");
            }
        }
    }

    fn give_back(&self, conn: Connection) {
        let surplus = {
            let mut idle = self.lock_idle();
            if self.closed.load(Ordering::Acquire) || idle.len() >= self.keep {
                Some(conn)
            } else {
                idle.push(conn);
                None
            }
        };
        // Closed outside the lock, so others need not wait for it.
        drop(surplus);
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // The lock only guards pushes and pops of whole connections, which cannot be left
        // half done, so a poisoned lock is safe to keep using.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `BEGIN` plus a first read: in WAL mode the snapshot is fixed by the first read, and the
/// contract says it is fixed when `snapshot()` returns.
fn begin_pinned(conn: &Connection) -> rusqlite::Result<()> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let mut pin = conn.prepare_cached(PIN_SQL)?;
    let mut rows = pin.raw_query();
    rows.next()?;
    Ok(())
}

/// A snapshot: a reader connection inside a pinned read transaction. Dropping it ends the
/// transaction and hands the connection back to the pool.
pub(crate) struct PooledView<'p> {
    conn: Option<Connection>,
    pool: &'p ReaderPool,
}

impl PooledView<'_> {
    fn conn(&self) -> Result<&Connection, StorageError> {
        // Only `drop` takes the connection out, so this is always `Some` while callers can
        // reach the view.
        self.conn.as_ref().ok_or(StorageError::Closed)
    }
}

impl ReadView for PooledView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        get(self.conn()?, key)
    }

    fn scan(&self, range: &KeyRange, options: ScanOptions) -> Result<Vec<Entry>, StorageError> {
        scan(self.conn()?, range, options)
    }
}

impl Drop for PooledView<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let ended = conn
            .prepare_cached("COMMIT")
            .and_then(|mut stmt| stmt.execute([]));
        match ended {
            // A connection still inside a transaction would pin an old snapshot forever;
            // only a cleanly finished one goes back.
            Ok(_) if conn.is_autocommit() => self.pool.give_back(conn),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "ending a SQLite read transaction failed; dropping the connection")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_shapes_number_their_parameters_in_order() {
        let range = |start, end| KeyRange { start, end };
        let key = || b"k".to_vec();
        let sql = |r: &KeyRange, reverse| SCAN_SQL[cove_storage::scan_shape(r, reverse)].as_str();
        assert_eq!(
            sql(&range(Bound::Unbounded, Bound::Unbounded), false),
            "SELECT k, v FROM kv ORDER BY k ASC LIMIT ?1"
        );
        assert_eq!(
            sql(&range(Bound::Included(key()), Bound::Excluded(key())), true),
            "SELECT k, v FROM kv WHERE k >= ?1 AND k < ?2 ORDER BY k DESC LIMIT ?3"
        );
        assert_eq!(
            sql(&range(Bound::Unbounded, Bound::Included(key())), false),
            "SELECT k, v FROM kv WHERE k <= ?1 ORDER BY k ASC LIMIT ?2"
        );
        assert_eq!(
            sql(&range(Bound::Excluded(key()), Bound::Unbounded), true),
            "SELECT k, v FROM kv WHERE k > ?1 ORDER BY k DESC LIMIT ?2"
        );
        let distinct: std::collections::BTreeSet<&String> = SCAN_SQL.iter().collect();
        assert_eq!(distinct.len(), 18);
    }
}
