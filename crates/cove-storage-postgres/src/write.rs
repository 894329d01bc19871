//! The write path: a transaction that takes the writers' advisory lock, runs the caller's
//! closure against it, and commits the closure's batch as two pipelined statements.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};

use cove_storage::{StorageError, TxnFn, WriteBatch, WriteOp};

use crate::Shared;
use crate::bridge::Conn;
use crate::error::Failure;
use crate::read::{ConnView, Purpose};
use crate::schema::Sql;

/// Runs `txn` serializably and commits its batch. The closure runs on the caller's thread (so
/// a panic in it unwinds there, as with every backend), reading through the open transaction.
pub(crate) fn transact(shared: &Shared, txn: TxnFn<'static>) -> Result<(), StorageError> {
    // This process's writers queue here, so that at most one of its connections waits for the
    // cluster-wide lock at a time, and the rest of the pool stays free for reads. A poisoned
    // lock only means an earlier closure panicked; the lock guards no data.
    let _turn = shared.writer.lock().unwrap_or_else(PoisonError::into_inner);
    if shared.is_closed() {
        return Err(StorageError::Closed);
    }
    // Until the lock is granted the closure has not run, so a failure here (a pooled
    // connection the server had dropped, a deadlock report) is retried on a fresh connection.
    let conn = crate::begin(
        shared,
        |sql| &sql.begin_write,
        "starting a write transaction",
    )?;

    let view = ConnView::new(conn, shared, Purpose::Write);
    // If the closure panics, the view and its connection are dropped while unwinding; the
    // connection is not clean, so it is closed, and the server rolls back and frees the lock.
    let outcome = txn(&view);
    let conn = view.into_conn();
    match outcome {
        Err(error) => {
            if let Some(mut conn) = conn {
                // An abort is an ordinary outcome (a failed condition), so the connection is
                // rolled back and pooled rather than closed. If that fails, dropping it closes
                // it, which rolls back as well; the caller's error is the one to report.
                let _ = shared.bridge.run(async move {
                    if conn.client().batch_execute("ROLLBACK").await.is_ok() {
                        conn.set_clean(true);
                    }
                    Ok(())
                });
            }
            Err(StorageError::from_abort(error))
        }
        Ok(batch) => {
            let conn = conn.ok_or_else(|| {
                StorageError::Unavailable(
                    "the PostgreSQL connection was lost during the transaction".to_string(),
                )
            })?;
            let writes = Writes::from(&batch);
            let sql = Arc::clone(&shared.sql);
            // From here on nothing is retried: the closure has run and cannot run again.
            shared
                .bridge
                .run(async move { commit(conn, &sql, writes).await.map_err(|f| f.error) })
        }
    }
}

/// A batch reduced to its effect: the last operation on each key, as one list of upserts and
/// one of deletes. Reducing is needed, not just tidy: one `INSERT … ON CONFLICT DO UPDATE`
/// may not touch a row twice.
struct Writes {
    put_keys: Vec<Vec<u8>>,
    put_values: Vec<Vec<u8>>,
    deletes: Vec<Vec<u8>>,
    /// The batch was signalled: the other nodes are notified by the same commit.
    notify: bool,
}

impl From<&WriteBatch> for Writes {
    fn from(batch: &WriteBatch) -> Writes {
        let mut last: HashMap<&[u8], Option<&[u8]>> = HashMap::with_capacity(batch.len());
        for op in batch.ops() {
            match op {
                WriteOp::Put { key, value } => last.insert(key, Some(value)),
                WriteOp::Delete { key } => last.insert(key, None),
            };
        }
        let mut writes = Writes {
            put_keys: Vec::with_capacity(last.len()),
            put_values: Vec::with_capacity(last.len()),
            deletes: Vec::new(),
            notify: batch.is_signalled(),
        };
        for (key, value) in last {
            match value {
                Some(value) => {
                    writes.put_keys.push(key.to_vec());
                    writes.put_values.push(value.to_vec());
                }
                None => writes.deletes.push(key.to_vec()),
            }
        }
        writes
    }
}

/// Applies the writes (and the notification of a signalled batch) and commits. The upserts and
/// deletes touch disjoint keys, so their order does not matter, and they are pipelined (both sent before either answer is awaited). The
/// `COMMIT` goes only after both succeeded: sent after a failed statement, PostgreSQL would
/// turn it into a rollback without an error. The call returns once the commit is durable
/// (with `synchronous_commit` on, flushed to the WAL).
async fn commit(mut conn: Conn, sql: &Sql, writes: Writes) -> Result<(), Failure> {
    let context = "committing a write transaction";
    let fail = |e: tokio_postgres::Error| Failure::postgres(context, &e);
    {
        let client = conn.client();
        let upsert = async {
            if writes.put_keys.is_empty() {
                return Ok(());
            }
            let statement = client.prepare_cached(&sql.upsert).await?;
            client
                .execute(&statement, &[&writes.put_keys, &writes.put_values])
                .await
                .map(drop)
        };
        let delete = async {
            if writes.deletes.is_empty() {
                return Ok(());
            }
            let statement = client.prepare_cached(&sql.delete).await?;
            client
                .execute(&statement, &[&writes.deletes])
                .await
                .map(drop)
        };
        // A notification sent inside the transaction is delivered at its commit, and only if it
        // commits, so listeners never hear of a change before they can read it.
        let notify = async {
            if !writes.notify {
                return Ok(());
            }
            client.batch_execute(&sql.notify).await
        };
        tokio::try_join!(upsert, delete, notify).map_err(fail)?;
        client.batch_execute("COMMIT").await.map_err(fail)?;
    }
    conn.set_clean(true);
    Ok(())
}
