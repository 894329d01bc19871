//! Shared by the PostgreSQL tests: the database URL from `COVE_TEST_POSTGRES_URL`, a fresh
//! schema per test (dropped afterwards), and a skip notice when no URL is given.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use cove_storage::Storage;
use cove_storage_postgres::{PostgresBackend, PostgresOptions};

/// The variable naming the database the tests may use (creating and dropping schemas in it).
pub const URL_VAR: &str = "COVE_TEST_POSTGRES_URL";

/// The database URL, or `None` after saying on stderr that the PostgreSQL tests are skipped.
pub fn url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "SKIPPED: {URL_VAR} is not set, so this PostgreSQL test did not run \
                 (set it to e.g. postgres://postgres@127.0.0.1:5432/postgres)"
            );
            None
        }
    }
}

/// A schema name no other test (in this process or another) uses.
pub fn unique_schema() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "cove_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Drops its schema when dropped, after the stores using it are gone.
pub struct SchemaGuard {
    pub url: String,
    pub schema: String,
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let sql = format!(
            "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS \"{}\" CASCADE",
            self.schema
        );
        if let Err(error) = admin(&self.url, &sql) {
            eprintln!("could not drop test schema {}: {error}", self.schema);
        }
    }
}

/// The database URL and a fresh schema name for several backends to share, with the guard
/// that drops the schema; `None` (after the skip notice) when no database is given.
pub fn shared_schema() -> Option<(String, String, SchemaGuard)> {
    let url = url()?;
    let schema = unique_schema();
    let guard = SchemaGuard {
        url: url.clone(),
        schema: schema.clone(),
    };
    Some((url, schema, guard))
}

/// Options for a test backend on `schema`.
pub fn options(schema: &str) -> PostgresOptions {
    PostgresOptions {
        schema: schema.to_string(),
        pool_size: 8,
        ..PostgresOptions::default()
    }
}

/// A backend on a fresh schema, or `None` (after the skip notice) when no database is given.
pub fn fresh() -> Option<(Storage, SchemaGuard)> {
    let url = url()?;
    let schema = unique_schema();
    // The guard is made first, so the schema is dropped even if opening fails halfway.
    let guard = SchemaGuard {
        url: url.clone(),
        schema: schema.clone(),
    };
    let backend = PostgresBackend::open(&url, options(&schema)).expect("open PostgreSQL");
    Some((Storage::new(backend), guard))
}

/// Runs `sql` (simple protocol, several statements allowed) on a connection of its own, from
/// a thread of its own, so it works from inside a tokio runtime too.
pub fn admin(url: &str, sql: &str) -> Result<(), String> {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| format!("{e:?}"))?;
            let driver = tokio::spawn(connection);
            let outcome = client
                .batch_execute(&sql)
                .await
                .map_err(|e| format!("{e:?}"));
            drop(client);
            let _ = driver.await;
            outcome
        })
    })
    .join()
    .map_err(|_| "the admin thread panicked".to_string())?
}
