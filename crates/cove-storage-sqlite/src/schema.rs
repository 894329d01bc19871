//! Opening connections and checking the on-disk format: the PRAGMAs every connection gets,
//! and the creation or version check of the `meta` and `kv` tables.

use std::path::Path;
use std::time::Duration;

use cove_storage::StorageError;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::SqliteOptions;
use crate::error::in_context;

/// The on-disk format this build writes and reads. Bump it (and write an upgrade) whenever the
/// meaning of the tables changes.
pub const FORMAT_VERSION: i64 = 1;

/// `PRAGMA application_id` of a Cove database: "Cove" in ASCII, so tools such as `file` can
/// tell the file apart from other SQLite databases.
pub const APPLICATION_ID: i32 = 0x436F_7665;

/// How long a connection waits for a lock held by another connection before failing. Within
/// one process the single writer never contends with itself; this covers other processes (a
/// backup tool, say) and WAL recovery at open.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Room for every statement a connection uses (18 scan shapes plus a handful of others), so
/// none is ever re-prepared.
const STATEMENT_CACHE: usize = 32;

/// The page size of new database files.
const PAGE_SIZE: i64 = 16384;

/// The name of the `meta` row holding [`FORMAT_VERSION`].
const VERSION_ROW: &str = "format_version";

/// Opens the read-write connection the writer thread owns, switching the file to WAL mode and
/// creating or checking the schema.
pub(crate) fn open_writer(
    path: &Path,
    options: &SqliteOptions,
) -> Result<Connection, StorageError> {
    let context = format!("opening {}", path.display());
    // No URI flag: a path is a path, even if it starts with "file:".
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(in_context(&context))?;
    configure(&conn).map_err(in_context(&context))?;
    // A new file gets 16 KiB pages: `kv` is a WITHOUT ROWID table, whose rows stay on their
    // B-tree page only up to about a quarter of a page. With SQLite's default 4 KiB pages a
    // 1 KB item spills into an overflow page of its own, and the file grows to ~4.7 KB per
    // item; with 16 KiB pages items up to ~4 KB stay inline. Existing files keep their page
    // size (it can only be chosen before the first table exists).
    conn.pragma_update(None, "page_size", PAGE_SIZE)
        .map_err(in_context(&context))?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(in_context(&context))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StorageError::Io(format!(
            "{context}: SQLite refused WAL mode (journal_mode is {mode})"
        )));
    }
    let synchronous = if options.synchronous_full {
        "FULL"
    } else {
        "NORMAL"
    };
    conn.pragma_update(None, "synchronous", synchronous)
        .map_err(in_context(&context))?;
    conn.pragma_update(None, "foreign_keys", false)
        .map_err(in_context(&context))?;
    ensure_schema(&conn, path)?;
    Ok(conn)
}

/// Opens a read-only connection for the reader pool. The file must already be set up by
/// [`open_writer`].
pub(crate) fn open_reader(path: &Path) -> Result<Connection, StorageError> {
    let context = format!("opening a reader on {}", path.display());
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(in_context(&context))?;
    configure(&conn).map_err(in_context(&context))?;
    Ok(conn)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// Creates the tables in a new file, or checks that an existing file is a Cove database in a
/// format this build understands. Runs in one write transaction so that two processes opening
/// a new file at once cannot both create it.
fn ensure_schema(conn: &Connection, path: &Path) -> Result<(), StorageError> {
    let context = format!("checking the schema of {}", path.display());
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(in_context(&context))?;
    let checked = check_or_create(conn, path)
        .and_then(|()| conn.execute_batch("COMMIT").map_err(in_context(&context)));
    if checked.is_err() && !conn.is_autocommit() {
        // The original error is the one worth reporting; a failed rollback changes nothing
        // on disk, since nothing was committed.
        let _ = conn.execute_batch("ROLLBACK");
    }
    checked
}

fn check_or_create(conn: &Connection, path: &Path) -> Result<(), StorageError> {
    let context = format!("reading the schema of {}", path.display());
    let application_id: i32 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(in_context(&context))?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
        .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect())
        .map_err(in_context(&context))?;

    if tables.is_empty() && application_id == 0 {
        return create(conn).map_err(in_context(&format!(
            "creating the schema in {}",
            path.display()
        )));
    }
    let not_cove = |why: String| {
        StorageError::Corrupt(format!(
            "{} is not a Cove database ({why}); refusing to open it",
            path.display()
        ))
    };
    if application_id != APPLICATION_ID && application_id != 0 {
        return Err(not_cove(format!(
            "its application_id is {application_id:#010x}"
        )));
    }
    if !tables.iter().any(|t| t == "meta") {
        return Err(not_cove("it has tables but no meta table".to_string()));
    }
    let version: Option<i64> = conn
        .query_row(
            "SELECT value FROM meta WHERE name = ?1",
            [VERSION_ROW],
            |row| row.get(0),
        )
        .optional()
        .map_err(in_context(&context))?;
    match version {
        None => {
            return Err(StorageError::Corrupt(format!(
                "{}: the meta table has no {VERSION_ROW} row",
                path.display()
            )));
        }
        Some(v) if v > FORMAT_VERSION => {
            return Err(StorageError::Corrupt(format!(
                "{}: on-disk format version {v} is newer than this build supports ({FORMAT_VERSION}); \
                 open it with the newer Cove that wrote it",
                path.display()
            )));
        }
        Some(v) if v < 1 => {
            return Err(StorageError::Corrupt(format!(
                "{}: unknown on-disk format version {v}",
                path.display()
            )));
        }
        Some(_) => {}
    }
    if !tables.iter().any(|t| t == "kv") {
        return Err(StorageError::Corrupt(format!(
            "{}: the kv table is missing",
            path.display()
        )));
    }
    Ok(())
}

fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE meta (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;
         CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;",
    )?;
    conn.execute(
        "INSERT INTO meta (name, value) VALUES (?1, ?2)",
        (VERSION_ROW, FORMAT_VERSION),
    )?;
    conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    Ok(())
}
