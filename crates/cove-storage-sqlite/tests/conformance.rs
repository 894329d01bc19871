//! Runs the storage conformance suite against the SQLite backend, each check on a fresh
//! database in its own temporary directory.

use cove_storage::Storage;
use cove_storage_sqlite::{SqliteBackend, SqliteOptions};
use tempfile::TempDir;

/// A fresh store with default options; the directory lives as long as the check.
fn fresh() -> (Storage, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend =
        SqliteBackend::open(&dir.path().join("cove.db"), SqliteOptions::default()).expect("open");
    (Storage::new(backend), dir)
}

cove_storage::conformance_tests!(fresh());
