//! The shared storage backend: one PostgreSQL table of `bytea` keys and values, so several Cove
//! nodes can serve one database, whose replication and failover are PostgreSQL's own.
//!
//! ```no_run
//! use cove_storage::Storage;
//! use cove_storage_postgres::{PostgresBackend, PostgresOptions};
//!
//! let backend = PostgresBackend::open(
//!     "postgres://cove@db.internal:5432/cove",
//!     PostgresOptions::default(),
//! )?;
//! let storage = Storage::new(backend);
//! # Ok::<(), cove_storage::StorageError>(())
//! ```
//!
//! # Database layout, schema version 1
//!
//! Everything lives in one schema (`cove` unless [`PostgresOptions::schema`] says otherwise):
//!
//! ```sql
//! CREATE TABLE cove.migrations (version integer PRIMARY KEY, description text NOT NULL,
//!                               applied_at timestamptz NOT NULL DEFAULT now());
//! CREATE TABLE cove.kv (k bytea PRIMARY KEY, v bytea NOT NULL);
//! ```
//!
//! - `kv` holds every key and value of the [`Backend`]. `bytea` compares bytewise (memcmp,
//!   then shorter first), with no collation, which is the order the storage contract requires,
//!   so scans walk the primary key's B-tree in order and both backends order items alike.
//! - `migrations` records the numbered migrations applied. [`PostgresBackend::open`] applies
//!   the missing ones in one transaction under an advisory lock, so nodes starting together
//!   apply each once; a schema newer than [`SCHEMA_VERSION`] is refused with
//!   [`StorageError::Corrupt`].
//! - Nothing but Cove may write `kv`: the serializability argument below counts on every
//!   writer taking the writers' lock.
//!
//! A key must fit in a B-tree index entry: PostgreSQL refuses entries over about 2700 bytes
//! (a third of a page, after compression), where SQLite has no such limit.
//!
//! # Transactions
//!
//! [`Backend::transact`] opens a `READ COMMITTED` transaction and first takes one
//! transaction-scoped advisory lock (`pg_advisory_xact_lock`, a key derived from the schema),
//! which every Cove writer on the database takes, so writers are serialized cluster-wide just
//! as SQLite's single writer serializes them in one process. Then it runs the closure, whose
//! reads go through the same transaction, writes the batch (upserts and deletes as two
//! pipelined statements over `unnest`ed arrays), and commits. Why that is serializable:
//! PostgreSQL releases a transaction's locks only after its commit is visible, so once the
//! lock is granted every statement of ours (read committed takes a fresh snapshot per
//! statement) sees every writer that held the lock before, and no other writer can commit
//! until we release it. Every closure therefore reads exactly the state left by the writers
//! before it in lock order, which is a serial order. Durability is PostgreSQL's commit with
//! `synchronous_commit` on; a server configured with it off gets it switched on for Cove's
//! sessions, with a warning.
//!
//! Within one process, writers queue on a mutex before taking a connection, so at most one
//! connection per node waits for the lock and the rest of the pool stays free for reads.
//!
//! [`Backend::snapshot`] opens a `REPEATABLE READ READ ONLY` transaction on a pooled connection
//! and fixes its snapshot with a first read; the view keeps the transaction until dropped.
//! [`Backend::get`] is one autocommit `SELECT`, consistent by itself.
//!
//! # Watching other nodes
//!
//! A signalled [`WriteBatch`](cove_storage::WriteBatch) (a control-plane change) also runs
//! `pg_notify` on the schema's channel inside its transaction, so the notification is
//! delivered exactly when it commits. [`Backend::watch`] opens a session of its own that
//! LISTENs on that channel and holds the schema's lease, a session-level advisory lock that at
//! most one session holds and that the server frees when the session ends (`watch.rs`). The
//! session is remade after failures and signals once each time it starts, since notifications
//! sent meanwhile are lost; callers poll too.
//!
//! # Threads
//!
//! The trait is synchronous and is called from plain threads, tokio blocking threads and
//! tokio workers alike. The backend owns a small tokio runtime that drives the connections
//! (tokio-postgres, pooled by deadpool-postgres); each call spawns its exchange there and waits
//! on a std channel, never entering a runtime itself. A transaction's closure runs on the
//! caller's thread.
//!
//! # Errors and timeouts
//!
//! Errors are mapped by SQLSTATE and kind (see `error.rs`): a lost connection, a server going
//! down or starting, timeouts, serialization failures and deadlocks become
//! [`StorageError::Unavailable`], which the server answers with a retryable 500. Failures
//! before a transaction's closure has run, and failures of reads, are retried here (three
//! attempts) when a fresh connection may succeed at once. Nothing waits forever: connecting
//! has [`PostgresOptions::connect_timeout`], every statement the server's
//! `statement_timeout` ([`PostgresOptions::statement_timeout`]), every call a client-side
//! deadline a little longer, and a session left idle inside a transaction is ended by the
//! server after a minute. TLS to the database is not supported yet.

mod bridge;
mod error;
mod read;
mod schema;
mod tls;
mod watch;
mod write;

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cove_storage::{Backend, ReadView, StorageError, TxnFn, Watch};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::Host;

pub use schema::SCHEMA_VERSION;

use bridge::{Bridge, Conn};
use error::Failure;
use read::{ConnView, Purpose};
use schema::Sql;

/// How often a failed exchange is tried in all, where retrying is safe.
const ATTEMPTS: u32 = 3;

/// The slack of the client-side deadline over the server-side timeouts, so the server's
/// clearer error normally arrives first.
const DEADLINE_SLACK: Duration = Duration::from_secs(5);

/// How long the server lets a session sit idle inside a transaction before ending it, which
/// frees the writers' lock should a node stop (say, paused) in the middle of a transaction.
const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);

/// How to open a [`PostgresBackend`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// The schema holding Cove's tables (default `cove`): lower-case letters, digits and
    /// underscores. Nodes sharing data use the same one; tests use one each.
    pub schema: String,
    /// The most connections this backend keeps open (default 16).
    pub pool_size: usize,
    /// How long connecting may take (default 5 s), unless the URL sets `connect_timeout`.
    pub connect_timeout: Duration,
    /// The server-side `statement_timeout` of every session (default 30 s). It also bounds
    /// how long a writer waits for the writers' lock.
    pub statement_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            schema: "cove".to_string(),
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// What the backend's calls share with its views and its runtime's tasks.
pub(crate) struct Shared {
    pub(crate) bridge: Bridge,
    pub(crate) pool: Pool,
    pub(crate) sql: Arc<Sql>,
    /// This process's writers take turns here; see the crate docs.
    pub(crate) writer: Mutex<()>,
    closed: AtomicBool,
}

impl Shared {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// The PostgreSQL [`Backend`]. See the crate docs for the layout, locking and threading.
pub struct PostgresBackend {
    shared: Shared,
    /// Host, port and database, for logs; never the password.
    target: String,
    options: PostgresOptions,
    /// The sessions' settings, for the watch's own session.
    config: tokio_postgres::Config,
    /// How sessions connect (TLS as the URL's `sslmode` asks).
    tls: tokio_postgres_rustls::MakeRustlsConnect,
}

impl PostgresBackend {
    /// Connects to the database at `url` (`postgres://user[:password]@host[:port]/database`,
    /// or any form `tokio_postgres::Config` parses), applies missing migrations and sets up
    /// the connection pool. Fails if the database cannot be reached now.
    pub fn open(url: &str, options: PostgresOptions) -> Result<PostgresBackend, StorageError> {
        schema::check_schema_name(&options.schema)?;
        // The parser's error never repeats the URL, so no password reaches the logs.
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StorageError::Io(format!("invalid PostgreSQL URL: {e}")))?;
        configure(&mut config, &options);
        let tls = tls::connector(url, &mut config);
        let target = describe_target(&config);
        let deadline = options.connect_timeout + options.statement_timeout + DEADLINE_SLACK;
        let bridge = Bridge::new(deadline)?;

        let (setup_config, schema, setup_tls) =
            (config.clone(), options.schema.clone(), tls.clone());
        let durable = bridge.run(async move {
            let context = "connecting to PostgreSQL";
            let (client, connection) = setup_config
                .connect(setup_tls)
                .await
                .map_err(|e| Failure::postgres(context, &e).error)?;
            // The connection task ends once the client is dropped.
            let driver = tokio::spawn(connection);
            let outcome = async {
                schema::migrate(&client, &schema).await?;
                let setting: String = client
                    .query_one("SELECT current_setting('synchronous_commit')", &[])
                    .await
                    .and_then(|row| row.try_get(0))
                    .map_err(|e| Failure::postgres("reading synchronous_commit", &e))?;
                Ok::<bool, Failure>(setting != "off")
            }
            .await;
            drop(client);
            let _ = driver.await;
            outcome.map_err(|failure| failure.error)
        })?;
        if !durable {
            tracing::warn!(
                target = %target,
                "PostgreSQL has synchronous_commit=off; Cove turns it on for its own sessions, so acknowledged writes are durable"
            );
            let options = match config.get_options() {
                Some(existing) => format!("{existing} -c synchronous_commit=on"),
                None => "-c synchronous_commit=on".to_string(),
            };
            config.options(options);
        }

        // `Fast` recycling only checks that the connection is open: `Conn` already keeps
        // connections in an unknown state out of the pool, so no round trip is spent per use.
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.statement_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StorageError::Io(format!("cannot set up the PostgreSQL pool: {e}")))?;
        tracing::debug!(target = %target, ?options, "opened PostgreSQL storage");
        Ok(PostgresBackend {
            shared: Shared {
                bridge,
                pool,
                sql: Arc::new(Sql::new(&options.schema)),
                writer: Mutex::new(()),
                closed: AtomicBool::new(false),
            },
            target,
            options,
            config,
            tls,
        })
    }

    /// Host, port and database this backend uses (never the password), for logs.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The options it was opened with.
    pub fn options(&self) -> &PostgresOptions {
        &self.options
    }
}

/// Fills in the client settings the URL left out: timeouts, keepalives that notice a vanished
/// server, the application name shown in `pg_stat_activity`, and the session timeouts.
fn configure(config: &mut tokio_postgres::Config, options: &PostgresOptions) {
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(options.connect_timeout);
    }
    if config.get_tcp_user_timeout().is_none() {
        // Unacknowledged data for this long means the server is gone.
        config.tcp_user_timeout(Duration::from_secs(20));
    }
    if config.get_keepalives_interval().is_none() {
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(15));
        config.keepalives_interval(Duration::from_secs(5));
        config.keepalives_retries(3);
    }
    if config.get_application_name().is_none() {
        config.application_name("cove");
    }
    let session = format!(
        "-c statement_timeout={} -c idle_in_transaction_session_timeout={}",
        options.statement_timeout.as_millis(),
        IDLE_IN_TRANSACTION_TIMEOUT.as_millis()
    );
    let combined = match config.get_options() {
        Some(existing) => format!("{existing} {session}"),
        None => session,
    };
    config.options(combined);
}

fn describe_target(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{database}")
}

/// Runs `attempt` until it succeeds, fails in a way a retry cannot fix, or has been tried
/// [`ATTEMPTS`] times, pausing a little longer after each failure.
/// A pooled connection with a transaction begun by the statement `begin` picks, retried on a
/// fresh connection while it fails before any caller's work has run.
pub(crate) fn begin(
    shared: &Shared,
    begin: fn(&Sql) -> &String,
    context: &'static str,
) -> Result<Conn, StorageError> {
    let (pool, sql) = (shared.pool.clone(), Arc::clone(&shared.sql));
    shared.bridge.run(async move {
        retrying(|| {
            let (pool, sql) = (pool.clone(), Arc::clone(&sql));
            async move {
                let conn = Conn::new(pool.get().await.map_err(|e| Failure::pool(context, e))?);
                conn.client()
                    .batch_execute(begin(&sql))
                    .await
                    .map_err(|e| Failure::postgres(context, &e))?;
                Ok(conn)
            }
        })
        .await
        .map_err(|failure| failure.error)
    })
}

pub(crate) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, Failure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut tried = 0;
    loop {
        tried += 1;
        match attempt().await {
            Err(failure) if failure.retry && tried < ATTEMPTS => {
                tracing::debug!(error = %failure.error, tried, "PostgreSQL exchange failed; retrying");
                tokio::time::sleep(Duration::from_millis(50 * u64::from(tried))).await;
            }
            outcome => return outcome,
        }
    }
}

impl fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("target", &self.target)
            .field("options", &self.options)
            .field("closed", &self.shared.is_closed())
            .finish_non_exhaustive()
    }
}

impl Backend for PostgresBackend {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn snapshot(&self) -> Result<Box<dyn ReadView + '_>, StorageError> {
        if self.shared.is_closed() {
            return Err(StorageError::Closed);
        }
        let conn = begin(
            &self.shared,
            |sql| &sql.begin_snapshot,
            "starting a snapshot",
        )?;
        Ok(Box::new(ConnView::new(
            conn,
            &self.shared,
            Purpose::Snapshot,
        )))
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if self.shared.is_closed() {
            return Err(StorageError::Closed);
        }
        let (pool, sql) = (self.shared.pool.clone(), Arc::clone(&self.shared.sql));
        let key = key.to_vec();
        self.shared.bridge.run(async move {
            retrying(|| async {
                let context = "reading a key";
                let mut conn = Conn::new(pool.get().await.map_err(|e| Failure::pool(context, e))?);
                let value = read::get(&conn, &sql, &key).await?;
                conn.set_clean(true);
                Ok(value)
            })
            .await
            .map_err(|failure| failure.error)
        })
    }

    fn transact(&self, txn: TxnFn<'static>) -> Result<(), StorageError> {
        write::transact(&self.shared, txn)
    }

    /// Each call opens one session of its own; see `watch.rs`.
    fn watch(&self) -> Result<Option<Watch>, StorageError> {
        if self.shared.is_closed() {
            return Err(StorageError::Closed);
        }
        let (changes, receiver) = std::sync::mpsc::channel();
        let lease = Arc::new(AtomicBool::new(false));
        self.shared.bridge.spawn_service(watch::follow(
            self.config.clone(),
            self.tls.clone(),
            Arc::clone(&self.shared.sql),
            changes,
            Arc::clone(&lease),
        ));
        Ok(Some(Watch::new(receiver, lease)))
    }

    fn close(&self) -> Result<(), StorageError> {
        if !self.shared.closed.swap(true, Ordering::AcqRel) {
            // A transaction in flight holds the writers' turn; waiting for it lets it finish
            // (its commit is bounded by the deadlines) rather than be cut off midway.
            let _turn = self
                .shared
                .writer
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.shared.pool.close();
            self.shared.bridge.shutdown();
        }
        Ok(())
    }
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        // Closing cannot fail; it only stops the runtime and the pool.
        let _ = self.close();
    }
}
