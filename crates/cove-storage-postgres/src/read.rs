//! The read path: point reads and range scans over one connection, and the view that serves
//! them inside a snapshot or a writing transaction.

use std::ops::Bound;
use std::sync::{Arc, Mutex, PoisonError};

use cove_storage::{Entry, KeyRange, ReadView, ScanOptions, StorageError};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::Shared;
use crate::bridge::Conn;
use crate::error::Failure;
use crate::schema::Sql;

/// Reads one key through `conn`, in whatever transaction it has open.
pub(crate) async fn get(conn: &Conn, sql: &Sql, key: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
    let context = "reading a key";
    let fail = |e: tokio_postgres::Error| Failure::postgres(context, &e);
    let client = conn.client();
    let statement = client.prepare_cached(&sql.get).await.map_err(fail)?;
    let row = client.query_opt(&statement, &[&key]).await.map_err(fail)?;
    row.map(|row| bytes(&row, 0, context)).transpose()
}

/// Scans `range` through `conn`, in whatever transaction it has open.
pub(crate) async fn scan(
    conn: &Conn,
    sql: &Sql,
    range: &KeyRange,
    options: ScanOptions,
) -> Result<Vec<Entry>, Failure> {
    let context = "scanning keys";
    let fail = |e: tokio_postgres::Error| Failure::postgres(context, &e);
    if options.limit == Some(0) {
        return Ok(Vec::new());
    }
    let client = conn.client();
    let statement = client
        .prepare_cached(sql.scan(range, options.reverse))
        .await
        .map_err(fail)?;
    // `None` binds NULL, and `LIMIT NULL` is no limit.
    let limit: Option<i64> = options.limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(3);
    for bound in [&range.start, &range.end] {
        if let Bound::Included(key) | Bound::Excluded(key) = bound {
            params.push(key);
        }
    }
    params.push(&limit);
    let rows = client.query(&statement, &params).await.map_err(fail)?;
    rows.iter()
        .map(|row| Ok((bytes(row, 0, context)?, bytes(row, 1, context)?)))
        .collect()
}

/// A `bytea` column of a row; anything else (a NULL, another type) is a corrupt table.
fn bytes(row: &Row, column: usize, context: &str) -> Result<Vec<u8>, Failure> {
    row.try_get::<_, Vec<u8>>(column).map_err(|e| {
        StorageError::Corrupt(format!(
            "{context}: column {column} of the kv table is not a bytea value: {e}"
        ))
        .into()
    })
}

/// What a view's transaction is for, which decides what dropping the view does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A read-only snapshot: dropping the view ends it and pools the connection.
    Snapshot,
    /// A writing transaction's closure: `transact` takes the connection back to commit.
    Write,
}

/// Reads through one connection inside its open transaction. Each read moves the connection
/// onto the backend's runtime and back; a read that failed in a way that leaves the
/// connection unusable (a deadline) loses it, and the view's later reads report that.
pub(crate) struct ConnView<'b> {
    slot: Mutex<Option<Conn>>,
    shared: &'b Shared,
    purpose: Purpose,
}

impl<'b> ConnView<'b> {
    pub(crate) fn new(conn: Conn, shared: &'b Shared, purpose: Purpose) -> ConnView<'b> {
        ConnView {
            slot: Mutex::new(Some(conn)),
            shared,
            purpose,
        }
    }

    /// Takes the connection out, for `transact` to commit or roll back.
    pub(crate) fn into_conn(self) -> Option<Conn> {
        self.lock().take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Conn>> {
        // The slot holds a whole connection or nothing; no update can be left half done.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs one read on the view's connection.
    fn read<T, F, Fut>(&self, read: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(Conn, Arc<Sql>) -> Fut,
        Fut: Future<Output = (Conn, Result<T, Failure>)> + Send + 'static,
    {
        if self.shared.is_closed() {
            return Err(StorageError::Closed);
        }
        let conn = self.lock().take().ok_or_else(|| {
            StorageError::Unavailable(
                "this view lost its PostgreSQL connection in an earlier failed read".to_string(),
            )
        })?;
        let future = read(conn, Arc::clone(&self.shared.sql));
        let (conn, outcome) = self.shared.bridge.run(async move { Ok(future.await) })?;
        *self.lock() = Some(conn);
        outcome.map_err(|failure| failure.error)
    }
}

impl ReadView for ConnView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let key = key.to_vec();
        self.read(move |conn, sql| async move {
            let outcome = get(&conn, &sql, &key).await;
            (conn, outcome)
        })
    }

    fn scan(&self, range: &KeyRange, options: ScanOptions) -> Result<Vec<Entry>, StorageError> {
        let range = range.clone();
        self.read(move |conn, sql| async move {
            let outcome = scan(&conn, &sql, &range, options).await;
            (conn, outcome)
        })
    }
}

impl Drop for ConnView<'_> {
    fn drop(&mut self) {
        if self.purpose != Purpose::Snapshot {
            return;
        }
        let Some(mut conn) = self.lock().take() else {
            return;
        };
        // Ended on the runtime without making the caller wait: ending a read-only transaction
        // cannot fail in a way the caller could act on. Only a cleanly ended one is pooled.
        self.shared.bridge.spawn(async move {
            if conn.client().batch_execute("ROLLBACK").await.is_ok() {
                conn.set_clean(true);
            }
        });
    }
}
