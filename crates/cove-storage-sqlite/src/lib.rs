//! The default embedded storage backend: SQLite in WAL mode, one writer thread that commits
//! transactions in groups (one fsync for many callers), and a pool of read-only connections
//! that serve snapshots without blocking the writer.
//!
//! ```no_run
//! use cove_storage::Storage;
//! use cove_storage_sqlite::{SqliteBackend, SqliteOptions};
//!
//! let backend = SqliteBackend::open("cove.db".as_ref(), SqliteOptions::default())?;
//! let storage = Storage::new(backend);
//! # Ok::<(), cove_storage::StorageError>(())
//! ```
//!
//! # On-disk format, version 1
//!
//! One SQLite 3 database file holds everything. While it is open, SQLite keeps two companion
//! files next to it, `<file>-wal` (committed changes not yet folded into the main file) and
//! `<file>-shm` (the WAL index). The `-wal` file holds committed data: copy or move the three
//! together, or close the store first (a clean close checkpoints and removes the WAL).
//!
//! The file header's `application_id` is `0x436F7665` ("Cove" in ASCII). There are two tables:
//!
//! ```sql
//! CREATE TABLE meta (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;
//! CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
//! ```
//!
//! - `meta` has one row, `('format_version', 1)`. Opening a file whose version is newer than
//!   [`FORMAT_VERSION`] fails with [`StorageError::Corrupt`] rather than risk misreading it;
//!   so do files with other tables but no `meta`, or another `application_id`. An empty file
//!   (or a missing one) is initialised.
//! - `kv` holds every key and value of the [`Backend`] as BLOBs, empty ones included (never
//!   NULL). SQLite compares BLOBs with `memcmp`, shorter first on a tie, which is exactly the
//!   order the storage contract requires, so scans walk the primary key's B-tree in order.
//!
//! Connection settings (not stored in the file except `journal_mode`, which persists):
//! `journal_mode=WAL`; `synchronous=FULL` by default, so each commit is fsynced and survives
//! power loss, or `NORMAL` with [`SqliteOptions::synchronous_full`] off, which survives a process
//! crash but may lose the last commits on power loss; `busy_timeout` of 5 s;
//! `foreign_keys=OFF`.
//!
//! # Concurrency
//!
//! [`Backend::transact`] sends its closure to the writer thread and blocks until the group it
//! joined has committed. [`Backend::snapshot`] takes a reader connection, opens a read
//! transaction and pins it with a first read; the WAL keeps that state readable while the writer
//! moves on. Every call blocks, so async callers run them on a blocking thread.

mod error;
mod read;
mod schema;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, PoisonError};

use cove_storage::{Backend, ReadView, StorageError, TxnFn};

pub use schema::{APPLICATION_ID, FORMAT_VERSION};

use read::ReaderPool;
use writer::{Msg, Reply, Request, WriterThread};

/// How to open a [`SqliteBackend`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// `synchronous=FULL` (the default): every commit survives power loss. When false,
    /// `synchronous=NORMAL`: commits survive a crash of the process but the last ones may be lost
    /// on power loss, in exchange for far fewer fsyncs.
    pub synchronous_full: bool,
    /// Read-only connections kept open for snapshots (default 4). More are opened when all are
    /// busy, and closed again when returned.
    pub readers: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous_full: true,
            readers: 4,
        }
    }
}

/// The SQLite [`Backend`]. See the crate docs for the file layout and threading.
pub struct SqliteBackend {
    path: PathBuf,
    options: SqliteOptions,
    sender: Sender<Msg>,
    /// Taken by the first `close`, which joins the thread while holding the lock, so a second
    /// `close` returns only once the first has finished.
    writer: Mutex<Option<WriterThread>>,
    readers: ReaderPool,
    closed: AtomicBool,
}

impl SqliteBackend {
    /// Opens (creating if needed) the database at `path`, checks its format version and starts
    /// the writer thread.
    pub fn open(path: &Path, options: SqliteOptions) -> Result<SqliteBackend, StorageError> {
        let conn = schema::open_writer(path, &options)?;
        let readers = ReaderPool::open(path, options.readers)?;
        let (sender, handle) = writer::spawn(conn)?;
        tracing::debug!(path = %path.display(), ?options, "opened SQLite storage");
        Ok(SqliteBackend {
            path: path.to_path_buf(),
            options,
            sender,
            writer: Mutex::new(Some(handle)),
            readers,
            closed: AtomicBool::new(false),
        })
    }

    /// The database file this backend uses.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options it was opened with.
    pub fn options(&self) -> &SqliteOptions {
        &self.options
    }
}

impl fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("path", &self.path)
            .field("options", &self.options)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Backend for SqliteBackend {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn snapshot(&self) -> Result<Box<dyn ReadView + '_>, StorageError> {
        Ok(Box::new(self.readers.snapshot()?))
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        // One autocommit SELECT is a consistent read of one key: no BEGIN/COMMIT around it.
        self.readers.get(key)
    }

    fn transact(&self, txn: TxnFn<'static>) -> Result<(), StorageError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::Closed);
        }
        let (reply, answer) = mpsc::sync_channel(1);
        self.sender
            .send(Msg::Txn(Request { txn, reply }))
            .map_err(|_| StorageError::Closed)?;
        match answer.recv() {
            Ok(Reply::Done(result)) => result,
            // The panic is the caller's own closure's; it continues in the caller's thread as
            // if the closure had run there, like with every other backend.
            Ok(Reply::Panicked(payload)) => std::panic::resume_unwind(payload),
            // The writer dropped the request unanswered: it was queued behind a shutdown.
            Err(_) => Err(StorageError::Closed),
        }
    }

    fn close(&self) -> Result<(), StorageError> {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.readers.close();
            // Queued behind every request already sent, so those still commit. If the thread
            // is already gone there is nothing to stop.
            let _ = self.sender.send(Msg::Shutdown);
        }
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        match writer.take() {
            Some(handle) => match handle.join() {
                Ok(result) => result,
                Err(_) => Err(StorageError::Io(
                    "the SQLite writer thread panicked".to_string(),
                )),
            },
            None => Ok(()),
        }
    }
}

impl Drop for SqliteBackend {
    fn drop(&mut self) {
        if let Err(error) = self.close() {
            tracing::warn!(path = %self.path.display(), %error, "closing SQLite storage failed");
        }
    }
}
