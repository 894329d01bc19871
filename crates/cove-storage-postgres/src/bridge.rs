//! The bridge between the synchronous storage trait and the async PostgreSQL client: a tokio
//! runtime owned by the backend, futures spawned on it, and their results waited for on std
//! channels.
//!
//! The calling thread never enters a runtime (no `block_on`), so the backend may be called
//! from anywhere: a plain thread, a tokio blocking thread, or a worker of the server's own
//! runtime (GetItem runs there), where `block_on` would panic with "Cannot start a runtime
//! from within a runtime". The caller's thread just blocks on a channel for one round trip, as
//! it would on a SQLite read.

use std::future::Future;
use std::sync::mpsc;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use cove_storage::StorageError;
use deadpool_postgres::Object;
use tokio::runtime::{Builder, Handle, Runtime};

/// The backend's runtime and the deadline of every exchange run on it.
pub(crate) struct Bridge {
    /// Taken by `shutdown`; the handle below stays usable and spawns nothing afterwards.
    runtime: Mutex<Option<Runtime>>,
    handle: Handle,
    /// How long one call may wait for the database before it reports `Unavailable`. The
    /// server-side `statement_timeout` normally ends a slow statement first; this deadline
    /// covers a server that has gone silent (a host that vanished without closing sockets).
    deadline: Duration,
}

impl Bridge {
    pub(crate) fn new(deadline: Duration) -> Result<Bridge, StorageError> {
        // Two workers drive every connection's socket; the work per message is small, and the
        // callers' threads wait rather than compute.
        let runtime = Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cove-postgres")
            .enable_all()
            .build()
            .map_err(|e| StorageError::Io(format!("cannot start the PostgreSQL runtime: {e}")))?;
        let handle = runtime.handle().clone();
        Ok(Bridge {
            runtime: Mutex::new(Some(runtime)),
            handle,
            deadline,
        })
    }

    /// Runs `future` on the backend's runtime and blocks the calling thread until it is done
    /// or the deadline has passed. A future cut off by the deadline is dropped on the runtime,
    /// and with it any connection it held, which is then closed rather than pooled (see
    /// [`Conn`]).
    pub(crate) fn run<T, F>(&self, future: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StorageError>> + Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        let deadline = self.deadline;
        self.handle.spawn(async move {
            let outcome = match tokio::time::timeout(deadline, future).await {
                Ok(outcome) => outcome,
                Err(_) => Err(StorageError::Unavailable(format!(
                    "PostgreSQL did not answer within {deadline:?}"
                ))),
            };
            // The caller waits for this answer, so it can only be gone if its thread died.
            let _ = reply.send(outcome);
        });
        // After `shutdown` the runtime drops new tasks unrun, and with them the sender.
        answer.recv().unwrap_or(Err(StorageError::Closed))
    }

    /// Runs `future` on the runtime without waiting for it, under the same deadline.
    pub(crate) fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        let deadline = self.deadline;
        self.handle.spawn(async move {
            let _ = tokio::time::timeout(deadline, future).await;
        });
    }

    /// Runs a long-lived task on the runtime, with no deadline: it ends when it chooses to or
    /// when the runtime stops.
    pub(crate) fn spawn_service(&self, future: impl Future<Output = ()> + Send + 'static) {
        self.handle.spawn(future);
    }

    /// Stops the runtime without waiting for its tasks, so it is safe to call from inside
    /// another runtime (dropping a runtime there would panic). Every connection task ends
    /// with it, which closes the sockets.
    pub(crate) fn shutdown(&self) {
        let runtime = self
            .runtime
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(runtime) = runtime {
            runtime.shutdown_background();
        }
    }
}

/// A pooled connection that goes back to the pool only when marked clean: its last exchange
/// finished and it holds no open transaction. Any other is detached from the pool and closed
/// when dropped, so a connection in an unknown state (a statement cut off by a deadline, a
/// transaction never ended, a closure that panicked) is never handed to another caller; the
/// server rolls back whatever it held open, releasing its locks.
pub(crate) struct Conn {
    object: Option<Object>,
    clean: bool,
}

impl Conn {
    pub(crate) fn new(object: Object) -> Conn {
        Conn {
            object: Some(object),
            clean: false,
        }
    }

    pub(crate) fn client(&self) -> &Object {
        // Only `drop` takes the object out.
        self.object
            .as_ref()
            .expect("a connection is present until dropped")
    }

    pub(crate) fn set_clean(&mut self, clean: bool) {
        self.clean = clean;
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(object) = self.object.take()
            && !self.clean
        {
            // Detached from the pool, the client is dropped here, which ends its connection.
            drop(Object::take(object));
        }
    }
}
