//! Translation of PostgreSQL and pool errors into the engine-neutral [`StorageError`], done
//! here at the crate's edge by SQLSTATE and error kind, so that nothing upstream sees a
//! `tokio_postgres` type or matches on a server's message text.

use cove_storage::StorageError;
use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

/// A failed exchange with the database, translated, and whether the backend may try it again
/// by itself. Retrying is only ever done where no caller-visible effect can have happened yet:
/// before a transaction's closure has run, or for a read.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: StorageError,
    pub(crate) retry: bool,
}

impl Failure {
    /// Translates `error`, met while doing `context`.
    pub(crate) fn postgres(context: &str, error: &tokio_postgres::Error) -> Failure {
        Failure {
            error: translate(context, error),
            retry: retryable(error),
        }
    }

    pub(crate) fn pool(context: &str, error: PoolError) -> Failure {
        match error {
            PoolError::Backend(error) => Failure::postgres(context, &error),
            // The pool is only closed by `close`, which is what `Closed` reports.
            PoolError::Closed => Failure {
                error: StorageError::Closed,
                retry: false,
            },
            // Every connection is busy, or a new one could not be made in time: the database
            // (or Cove's share of it) is overloaded or unreachable, which a later retry of the
            // whole request may find resolved. Retrying here would only wait longer.
            PoolError::Timeout(kind) => Failure {
                error: StorageError::Unavailable(format!(
                    "{context}: no PostgreSQL connection became available in time ({kind:?})"
                )),
                retry: false,
            },
            other => Failure {
                error: StorageError::Io(format!("{context}: {other}")),
                retry: false,
            },
        }
    }
}

impl From<StorageError> for Failure {
    fn from(error: StorageError) -> Failure {
        Failure {
            error,
            retry: false,
        }
    }
}

/// Maps a PostgreSQL error to the storage error it amounts to:
/// - `Unavailable` when the connection is gone or the server cannot serve now: connection
///   exceptions (class 08), the server shutting down or starting up (57P01-57P03),
///   insufficient resources (class 53, e.g. too many connections), timeouts (57014 from
///   `statement_timeout`, 55P03, 25P03), serialization failures and deadlocks (40001,
///   40P01), a read-only server after a failover (25006), and socket errors;
/// - `Corrupt` when the server reports corrupted data (XX001, XX002);
/// - `Io` for everything else (bad credentials, a missing database, a dropped table).
pub(crate) fn translate(context: &str, error: &tokio_postgres::Error) -> StorageError {
    let message = describe(context, error);
    let Some(code) = error.code() else {
        // No SQLSTATE: the error came from the client side. A closed connection or a socket
        // error (refused, reset, timed out) means the server is unreachable for now.
        let socket = std::error::Error::source(error)
            .is_some_and(|source| source.downcast_ref::<std::io::Error>().is_some());
        return if error.is_closed() || socket {
            StorageError::Unavailable(message)
        } else {
            StorageError::Io(message)
        };
    };
    if unavailable(code) {
        StorageError::Unavailable(message)
    } else if *code == SqlState::DATA_CORRUPTED || *code == SqlState::INDEX_CORRUPTED {
        StorageError::Corrupt(message)
    } else {
        StorageError::Io(message)
    }
}

/// Whether the SQLSTATE says the server cannot serve the request now but may later. The
/// class of a SQLSTATE is its first two characters, by the SQL standard.
fn unavailable(code: &SqlState) -> bool {
    let class = &code.code()[..2];
    class == "08"
        || class == "53"
        || *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::QUERY_CANCELED
        || *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
}

/// Whether the same exchange, on a fresh connection, may succeed at once: the connection was
/// found closed (a pooled connection the server dropped, say after a restart), or the server
/// asked for a retry (serialization failure, deadlock).
fn retryable(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        Some(code) => {
            *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::ADMIN_SHUTDOWN
                || &code.code()[..2] == "08"
        }
        None => false,
    }
}

/// A message with the server's SQLSTATE and text when there is one, since the client's own
/// `Display` of a server error says only "db error".
fn describe(context: &str, error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!(
            "{context}: PostgreSQL error {}: {}",
            db.code().code(),
            db.message()
        ),
        None => match std::error::Error::source(error) {
            Some(source) => format!("{context}: {error}: {source}"),
            None => format!("{context}: {error}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstate_classes_map_to_storage_errors() {
        for code in [
            SqlState::CONNECTION_FAILURE,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::QUERY_CANCELED,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
        ] {
            assert!(unavailable(&code), "{code:?}");
        }
        for code in [
            SqlState::UNDEFINED_TABLE,
            SqlState::INVALID_PASSWORD,
            SqlState::DATA_CORRUPTED,
            SqlState::UNIQUE_VIOLATION,
        ] {
            assert!(!unavailable(&code), "{code:?}");
        }
    }
}
