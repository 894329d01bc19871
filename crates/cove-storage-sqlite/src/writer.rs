//! The writer thread: the only connection that writes, committing transactions in groups so
//! that many concurrent callers share one fsync.
//!
//! Callers send a closure and a reply channel. The thread blocks for the first request, takes
//! whatever else is already queued (up to [`MAX_GROUP`]), and runs them all in one
//! `BEGIN IMMEDIATE` … `COMMIT`. Each closure reads through the open write transaction, so it
//! sees the batches of the closures before it in the group. Replies go out only after the
//! `COMMIT`, since until then nothing is durable.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use cove_storage::{StorageError, TxnFn, WriteBatch, WriteOp};
use rusqlite::Connection;

use crate::error::{in_context, translate};
use crate::read::ConnView;

/// The most transactions committed together. Bounds how long the first in a group waits for
/// the last, and how much a failed `COMMIT` takes down with it.
const MAX_GROUP: usize = 256;

const PUT_SQL: &str =
    "INSERT INTO kv (k, v) VALUES (?1, ?2) ON CONFLICT (k) DO UPDATE SET v = excluded.v";
const DELETE_SQL: &str = "DELETE FROM kv WHERE k = ?1";

/// What callers send the writer thread.
pub(crate) enum Msg {
    Txn(Request),
    /// Finish what is queued ahead of this, checkpoint, and stop.
    Shutdown,
}

pub(crate) struct Request {
    pub(crate) txn: TxnFn<'static>,
    pub(crate) reply: SyncSender<Reply>,
}

pub(crate) enum Reply {
    Done(Result<(), StorageError>),
    /// The closure panicked; the payload goes back so the panic resumes in the caller's thread,
    /// as it would had the closure run there.
    Panicked(Box<dyn Any + Send>),
}

/// What became of one request once its closure has run, before the group commits.
enum Outcome {
    /// Its batch is applied inside the open transaction (or it wrote nothing).
    Applied,
    Failed(StorageError),
    Panicked(Box<dyn Any + Send>),
}

/// Starts the writer thread over `conn`.
/// The writer thread's handle; joining it yields the result of the final checkpoint and close.
pub(crate) type WriterThread = JoinHandle<Result<(), StorageError>>;

pub(crate) fn spawn(conn: Connection) -> Result<(Sender<Msg>, WriterThread), StorageError> {
    let (sender, receiver) = mpsc::channel();
    let handle = thread::Builder::new()
        .name("cove-sqlite-writer".to_string())
        .spawn(move || run(conn, receiver))
        .map_err(|e| StorageError::Io(format!("could not start the SQLite writer thread: {e}")))?;
    Ok((sender, handle))
}

fn run(conn: Connection, receiver: Receiver<Msg>) -> Result<(), StorageError> {
    let mut group = Vec::with_capacity(MAX_GROUP);
    let mut stop = false;
    while !stop {
        match receiver.recv() {
            Ok(Msg::Txn(request)) => group.push(request),
            // Every sender gone means the backend is gone; treat it as a shutdown.
            Ok(Msg::Shutdown) | Err(_) => stop = true,
        }
        while !stop && group.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(Msg::Txn(request)) => group.push(request),
                Ok(Msg::Shutdown) | Err(TryRecvError::Disconnected) => stop = true,
                Err(TryRecvError::Empty) => break,
            }
        }
        if !group.is_empty() {
            commit_group(&conn, group.drain(..));
        }
    }
    // Requests that raced with the shutdown are dropped with the receiver; their callers see
    // the reply channel close and report `Closed`.
    drop(receiver);
    finish(conn)
}

/// Runs one group in a single write transaction and answers every request in it.
fn commit_group(conn: &Connection, group: impl ExactSizeIterator<Item = Request>) {
    let size = group.len();
    let mut replies = Vec::with_capacity(size);
    let mut outcomes = Vec::with_capacity(size);

    if let Err(error) = exec(conn, "BEGIN IMMEDIATE") {
        let message = format!("starting a write transaction: {error}");
        for request in group {
            answer(
                request.reply,
                Outcome::Failed(StorageError::Io(message.clone())),
            );
        }
        return;
    }

    // Set once SQLite has rolled back the whole transaction on its own (it does so after some
    // I/O and out-of-memory errors). Every batch of the group is then lost.
    let mut lost: Option<String> = None;
    for Request { txn, reply } in group {
        replies.push(reply);
        if let Some(message) = &lost {
            outcomes.push(Outcome::Failed(StorageError::Io(message.clone())));
            continue;
        }
        let outcome = run_one(conn, txn);
        if conn.is_autocommit() {
            let message = match &outcome {
                Outcome::Failed(error) => format!("the write transaction was rolled back: {error}"),
                _ => "the write transaction was rolled back".to_string(),
            };
            for earlier in outcomes.iter_mut() {
                if matches!(earlier, Outcome::Applied) {
                    *earlier = Outcome::Failed(StorageError::Io(message.clone()));
                }
            }
            lost = Some(message);
        }
        outcomes.push(outcome);
    }

    if lost.is_none()
        && let Err(error) = exec(conn, "COMMIT")
    {
        if !conn.is_autocommit() {
            let _ = exec(conn, "ROLLBACK");
        }
        // Nothing of the group is durable. Closures that aborted decided on state that
        // never committed, so they get the commit error too rather than their own.
        let message = format!("group commit failed: {error}");
        for outcome in outcomes.iter_mut() {
            if !matches!(outcome, Outcome::Panicked(_)) {
                *outcome = Outcome::Failed(StorageError::Io(message.clone()));
            }
        }
    }
    tracing::trace!(size, "group commit");
    for (reply, outcome) in replies.into_iter().zip(outcomes) {
        answer(reply, outcome);
    }
}

/// Runs one closure against the open transaction and applies its batch.
fn run_one(conn: &Connection, txn: TxnFn<'static>) -> Outcome {
    let view = ConnView(conn);
    // The closure is the caller's code. Catching its panic keeps the writer thread, and with it
    // every other caller, alive; the view holds no state a panic could leave half-updated.
    let batch = match catch_unwind(AssertUnwindSafe(move || txn(&view))) {
        Err(payload) => return Outcome::Panicked(payload),
        Ok(Err(error)) => return Outcome::Failed(StorageError::from_abort(error)),
        Ok(Ok(batch)) => batch,
    };
    match apply(conn, &batch) {
        Ok(()) => Outcome::Applied,
        Err(error) => Outcome::Failed(error),
    }
}

/// Writes one batch all-or-nothing inside the open transaction.
fn apply(conn: &Connection, batch: &WriteBatch) -> Result<(), StorageError> {
    match batch.len() {
        0 => Ok(()),
        // A single statement is atomic on its own: if it fails, SQLite undoes it.
        1 => apply_ops(conn, batch.ops()),
        _ => {
            exec(conn, "SAVEPOINT batch")?;
            match apply_ops(conn, batch.ops()) {
                Ok(()) => exec(conn, "RELEASE batch"),
                Err(error) => {
                    // Undo this batch alone; earlier batches of the group stay. If SQLite has
                    // already rolled back everything, there is no savepoint left to undo, and
                    // the caller notices through `is_autocommit`.
                    if !conn.is_autocommit() {
                        let undone = exec(conn, "ROLLBACK TO batch")
                            .and_then(|()| exec(conn, "RELEASE batch"));
                        if let Err(undo_error) = undone {
                            tracing::error!(%undo_error, "undoing a failed batch failed; abandoning the group");
                            let _ = exec(conn, "ROLLBACK");
                        }
                    }
                    Err(error)
                }
            }
        }
    }
}

fn apply_ops(conn: &Connection, ops: &[WriteOp]) -> Result<(), StorageError> {
    let context = "writing a batch";
    let mut put = conn.prepare_cached(PUT_SQL).map_err(in_context(context))?;
    let mut delete = conn
        .prepare_cached(DELETE_SQL)
        .map_err(in_context(context))?;
    for op in ops {
        match op {
            WriteOp::Put { key, value } => put.execute((key.as_slice(), value.as_slice())),
            WriteOp::Delete { key } => delete.execute([key.as_slice()]),
        }
        .map_err(in_context(context))?;
    }
    Ok(())
}

/// Runs a statement without parameters or results through the statement cache.
fn exec(conn: &Connection, sql: &str) -> Result<(), StorageError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute([]))
        .map(|_| ())
        .map_err(|e| translate(sql, e))
}

fn answer(reply: SyncSender<Reply>, outcome: Outcome) {
    let reply_message = match outcome {
        Outcome::Applied => Reply::Done(Ok(())),
        Outcome::Failed(error) => Reply::Done(Err(error)),
        Outcome::Panicked(payload) => Reply::Panicked(payload),
    };
    // The caller blocks on the reply until it comes, so a send can only fail if the caller's
    // thread is gone, and then nobody is left to tell.
    let _ = reply.send(reply_message);
}

/// Folds the WAL back into the main file and closes the connection. The checkpoint does not
/// wait: a snapshot still held elsewhere just leaves part of the WAL for the next open.
fn finish(conn: Connection) -> Result<(), StorageError> {
    let checkpoint = conn
        .busy_timeout(Duration::ZERO)
        .and_then(|()| {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })
        })
        .map_err(in_context("checkpointing the WAL"));
    match &checkpoint {
        Ok((busy, log, done)) => tracing::debug!(busy, log, done, "WAL checkpoint at close"),
        Err(error) => tracing::warn!(%error, "WAL checkpoint at close failed"),
    }
    let closed = conn
        .close()
        .map_err(|(_, error)| translate("closing the writer connection", error));
    checkpoint.and(closed)
}
