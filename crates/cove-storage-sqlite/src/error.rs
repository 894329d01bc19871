//! Translation of SQLite errors into the engine-neutral [`StorageError`], done here at the
//! crate's edge so that nothing upstream sees a `rusqlite` type.

use cove_storage::StorageError;
use rusqlite::ErrorCode;

/// Maps a SQLite error met while doing `context` to `Corrupt` when the file or a stored value
/// cannot be understood, and to `Io` otherwise.
pub(crate) fn translate(context: &str, error: rusqlite::Error) -> StorageError {
    let corrupt = match &error {
        rusqlite::Error::InvalidColumnType(..) | rusqlite::Error::FromSqlConversionFailure(..) => {
            true
        }
        other => matches!(
            other.sqlite_error_code(),
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
        ),
    };
    if corrupt {
        StorageError::Corrupt(format!("{context}: {error}"))
    } else {
        StorageError::Io(format!("{context}: {error}"))
    }
}

/// Shorthand for `map_err(in_context("..."))`.
pub(crate) fn in_context(context: &str) -> impl FnOnce(rusqlite::Error) -> StorageError + '_ {
    move |error| translate(context, error)
}
