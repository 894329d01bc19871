//! The database layout: the schema's name, the SQL every connection runs (built once per
//! backend, with the schema's name in it), the advisory-lock keys, and the numbered
//! migrations applied at open.

use cove_storage::{KeyRange, StorageError};
use tokio_postgres::Client;

use crate::error::Failure;

/// The migrations, in order: version, what it does, and its SQL, where `{schema}` stands for
/// the quoted schema name. Applied ones are recorded in `{schema}.migrations`; a migration is
/// never edited once released, only followed by a new one.
const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "the key-value table",
    // `bytea` compares with memcmp over the common length, then the shorter first
    // (PostgreSQL's `byteacmp`), with no collation involved: exactly the bytewise order the
    // storage contract and the memcomparable key encoding need, so the primary key's B-tree
    // holds keys in scan order. The conformance suite and `keys_sort_bytewise` check it.
    "CREATE TABLE {schema}.kv (k bytea PRIMARY KEY, v bytea NOT NULL)",
)];

/// The newest migration this build knows.
pub const SCHEMA_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Checks that `name` is a plain lower-case identifier, so it can be put into SQL text
/// (quoted) without any escaping question.
pub(crate) fn check_schema_name(name: &str) -> Result<(), StorageError> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    // PostgreSQL truncates identifiers beyond 63 bytes, which could make two names one.
    if first_ok && rest_ok && name.len() <= 63 && !name.starts_with("pg_") {
        Ok(())
    } else {
        Err(StorageError::Io(format!(
            "invalid PostgreSQL schema name {name:?}: use 1 to 63 lower-case letters, digits and \
             underscores, starting with a letter or underscore, not pg_"
        )))
    }
}

/// A stable 64-bit key for `pg_advisory_lock`, from a purpose and the schema (FNV-1a, fixed
/// here rather than a std hasher, because every Cove node, of any build, must compute the
/// same key to exclude the others).
fn lock_key(purpose: &str, schema: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in b"cove/"
        .iter()
        .chain(purpose.as_bytes())
        .chain(b"/")
        .chain(schema.as_bytes())
    {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Every statement the backend runs, with the schema's name in it.
pub(crate) struct Sql {
    pub(crate) get: String,
    /// One per scan shape; see [`Sql::scan`].
    scans: Vec<String>,
    pub(crate) upsert: String,
    pub(crate) delete: String,
    /// Starts a writing transaction and takes the writers' lock (one round trip).
    pub(crate) begin_write: String,
    /// Starts a snapshot and fixes it with a first read (one round trip).
    pub(crate) begin_snapshot: String,
    /// Wakes every node listening on this schema's channel, once the transaction commits.
    pub(crate) notify: String,
    /// Subscribes a session to this schema's channel.
    pub(crate) listen: String,
    /// Takes the schema's lease for its session if no other session holds it; answers whether
    /// this session holds it.
    pub(crate) take_lease: String,
}

impl Sql {
    pub(crate) fn new(schema: &str) -> Sql {
        let kv = format!("\"{schema}\".kv");
        let scans = cove_storage::range_scan_statements(&kv, |n| format!("${n}"));
        Sql {
            get: format!("SELECT v FROM {kv} WHERE k = $1"),
            scans,
            upsert: format!(
                "INSERT INTO {kv} (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                 ON CONFLICT (k) DO UPDATE SET v = excluded.v"
            ),
            delete: format!("DELETE FROM {kv} WHERE k = ANY($1::bytea[])"),
            // READ COMMITTED, not REPEATABLE READ: under repeatable read the transaction's
            // snapshot would be taken by its first statement, the lock call itself, before the
            // wait, and miss what the previous holder committed. Under read committed every
            // statement after the lock sees all commits made before it was granted; see the
            // crate docs for why that makes writers serializable.
            begin_write: format!(
                "BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE; SELECT pg_advisory_xact_lock({})",
                lock_key("write", schema)
            ),
            // The snapshot of a repeatable-read transaction is taken by its first statement;
            // reading here fixes it before `snapshot()` returns, as the contract requires.
            begin_snapshot: format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT 1 FROM {kv} LIMIT 1"
            ),
            // The channel is the schema's name: schema names are plain identifiers, and nodes
            // share data exactly when they share the schema.
            notify: format!("SELECT pg_notify('{schema}', '')"),
            listen: format!("LISTEN \"{schema}\""),
            take_lease: format!("SELECT pg_try_advisory_lock({})", lock_key("lease", schema)),
        }
    }

    /// The statement for this range's kinds of bounds and direction. Parameters are numbered
    /// in the order the statement mentions them: start, end, limit.
    pub(crate) fn scan(&self, range: &KeyRange, reverse: bool) -> &str {
        &self.scans[cove_storage::scan_shape(range, reverse)]
    }
}

/// Brings the schema up to [`SCHEMA_VERSION`], or checks that it is there. Runs in one
/// transaction under an advisory lock of its own, so two processes opening the same database
/// at once apply each migration once (the second waits, then finds it done), and a failed
/// migration leaves nothing behind: PostgreSQL's DDL is transactional.
pub(crate) async fn migrate(client: &Client, schema: &str) -> Result<(), Failure> {
    let context = "migrating the PostgreSQL schema";
    let fail = |e: tokio_postgres::Error| Failure::postgres(context, &e);
    // The notices of `IF NOT EXISTS` ("already exists, skipping") would be logged on every
    // start; warnings and errors still come through.
    client
        .batch_execute(&format!(
            "BEGIN; SET LOCAL client_min_messages = warning; SELECT pg_advisory_xact_lock({})",
            lock_key("migrate", schema)
        ))
        .await
        .map_err(fail)?;
    let outcome = apply_missing(client, schema).await;
    let end = if outcome.is_ok() {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    let ended = client.batch_execute(end).await.map_err(fail);
    outcome.and(ended)
}

async fn apply_missing(client: &Client, schema: &str) -> Result<(), Failure> {
    let context = "migrating the PostgreSQL schema";
    let fail = |e: tokio_postgres::Error| Failure::postgres(context, &e);
    // `CREATE SCHEMA IF NOT EXISTS` checks the privilege to create before it checks existence,
    // so look first: a role that may use an existing schema need not be allowed to create one.
    let exists = client
        .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
        .await
        .map_err(fail)?
        .is_some();
    if !exists {
        client
            .batch_execute(&format!("CREATE SCHEMA \"{schema}\""))
            .await
            .map_err(fail)?;
    }
    client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS \"{schema}\".migrations (
                 version integer PRIMARY KEY,
                 description text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now())"
        ))
        .await
        .map_err(fail)?;
    let applied: i32 = client
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM \"{schema}\".migrations"),
            &[],
        )
        .await
        .map_err(fail)?
        .try_get(0)
        .map_err(fail)?;
    if applied > SCHEMA_VERSION {
        return Err(StorageError::Corrupt(format!(
            "the PostgreSQL schema {schema:?} is at version {applied}, newer than this build \
             supports ({SCHEMA_VERSION}); run the newer Cove that migrated it"
        ))
        .into());
    }
    for (version, description, sql) in MIGRATIONS.iter().filter(|m| m.0 > applied) {
        client
            .batch_execute(&sql.replace("{schema}", &format!("\"{schema}\"")))
            .await
            .map_err(fail)?;
        client
            .execute(
                &format!(
                    "INSERT INTO \"{schema}\".migrations (version, description) VALUES ($1, $2)"
                ),
                &[version, description],
            )
            .await
            .map_err(fail)?;
        tracing::info!(
            schema,
            version,
            description,
            "applied a PostgreSQL migration"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::ops::Bound;

    use super::*;

    #[test]
    fn scan_shapes_number_their_parameters_in_order() {
        let sql = Sql::new("cove");
        let range = |start, end| KeyRange { start, end };
        let key = || b"k".to_vec();
        assert_eq!(
            sql.scan(&range(Bound::Unbounded, Bound::Unbounded), false),
            "SELECT k, v FROM \"cove\".kv ORDER BY k ASC LIMIT $1"
        );
        assert_eq!(
            sql.scan(&range(Bound::Included(key()), Bound::Excluded(key())), true),
            "SELECT k, v FROM \"cove\".kv WHERE k >= $1 AND k < $2 ORDER BY k DESC LIMIT $3"
        );
        assert_eq!(
            sql.scan(&range(Bound::Excluded(key()), Bound::Unbounded), true),
            "SELECT k, v FROM \"cove\".kv WHERE k > $1 ORDER BY k DESC LIMIT $2"
        );
        let distinct: std::collections::BTreeSet<&String> = sql.scans.iter().collect();
        assert_eq!(distinct.len(), 18);
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        for good in ["cove", "_x", "cove_test_12"] {
            assert!(check_schema_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Cove", "1x", "a-b", "a\"b", "pg_cove", &"x".repeat(64)] {
            assert!(check_schema_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        // A fixed value: every node must agree, whatever it was built with, so a change here
        // would let old and new nodes write at once.
        assert_eq!(lock_key("write", "cove"), -7_929_150_988_810_610_320);
        assert_ne!(lock_key("write", "cove"), lock_key("migrate", "cove"));
        assert_ne!(lock_key("write", "cove"), lock_key("write", "cove2"));
    }
}
