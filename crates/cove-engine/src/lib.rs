//! Cove's engine: DynamoDB table and item semantics over the storage trait. It owns the table
//! catalog, validates keys against schemas, reads and writes items atomically and durably,
//! keeps per-table counts, and stores the credentials the server verifies signatures with.
//!
//! The engine knows nothing of HTTP or signatures; the server calls it after authentication.
//! All calls are blocking (storage is), so async callers run them on a blocking thread.

mod backups;
pub mod balancer;
mod batch;
mod catalog;
mod credentials;
mod expressions;
mod follow;
pub mod iam;
mod indexes;
mod items;
mod keys;
pub mod network;
mod partiql;
mod query;
pub mod region;
pub mod services;
mod settings;
mod tables;
pub mod ttl;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use cove_storage::{Storage, StorageError};
use cove_types::Item;

pub use backups::Backup;
pub use batch::{
    BatchGetItemOutput, BatchWriteItemOutput, CancellationReason, TableConsumed,
    TransactGetItemsOutput, TransactWriteItemsOutput,
};
pub use catalog::{IndexRecord, Table, TableRecord};
pub use credentials::{Credential, ROOT_PRINCIPAL, Session};
pub use expressions::{read_attributes, write_attributes};
pub use items::{DeleteItemOutput, GetItemOutput, PutItemOutput, UpdateItemOutput};
pub use partiql::{BatchStatementResponse, ExecuteTransactionOutput, StatementOutput};
pub use query::ReadPage;
pub use settings::ContinuousBackups;

/// The account and region a request acts in: the account of its principal and the region of
/// its signing scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub account_id: String,
    pub region: String,
}

/// Everything that can go wrong in the engine. The server turns each variant into a wire
/// error in one place.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// DynamoDB's ValidationException, with AWS's message.
    #[error("{0}")]
    Validation(String),
    /// ResourceNotFoundException, with AWS's message.
    #[error("{0}")]
    ResourceNotFound(String),
    /// ResourceInUseException, with AWS's message.
    #[error("{0}")]
    ResourceInUse(String),
    /// LimitExceededException, with AWS's message.
    #[error("{0}")]
    LimitExceeded(String),
    /// The storage layer failed; the request may or may not have been applied only if the
    /// error says so (it never is half-applied).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored record could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A write's condition did not hold; carries the item as it was when the caller asked
    /// for it with ReturnValuesOnConditionCheckFailure ALL_OLD.
    #[error("the conditional request failed")]
    ConditionalCheckFailed(Option<Box<Item>>),
    /// ItemCollectionSizeLimitExceededException: the write would grow an item collection of
    /// a table with local secondary indexes past its limit.
    #[error("{0}")]
    ItemCollectionSizeLimitExceeded(String),
    /// TableNotFoundException (backup operations), with AWS's message.
    #[error("{0}")]
    TableNotFound(String),
    /// TableAlreadyExistsException (restores), with AWS's message.
    #[error("{0}")]
    TableAlreadyExists(String),
    /// PolicyNotFoundException (resource-based policies), with AWS's message.
    #[error("{0}")]
    PolicyNotFound(String),
    /// BackupNotFoundException, with AWS's message.
    #[error("{0}")]
    BackupNotFound(String),
    /// DuplicateItemException (PartiQL INSERT of an existing key), with AWS's message.
    #[error("{0}")]
    DuplicateItem(String),
    /// TransactionCanceledException: one reason per action, in request order.
    #[error("transaction cancelled")]
    TransactionCanceled(Vec<CancellationReason>),
    /// IdempotentParameterMismatchException, with AWS's message.
    #[error("{0}")]
    IdempotentParameterMismatch(String),
    /// An EC2 API error: EC2's code (`InvalidVpcID.NotFound`, …) and message.
    #[error("{1}")]
    Ec2(&'static str, String),
    /// An Elastic Load Balancing API error: ELB's code (`LoadBalancerNotFound`, …) and message.
    #[error("{1}")]
    Elb(&'static str, String),
    /// An IAM API error (NoSuchEntity, EntityAlreadyExists, …), with IAM's message.
    #[error("{1}")]
    Iam(iam::IamErrorKind, String),
    /// This node's cached control plane was older than the store's: another node changed it
    /// meanwhile (see `follow.rs`). The node has reloaded, so the same request succeeds when
    /// retried; reported as a retryable server error.
    #[error("the control plane changed on another node; retry")]
    Stale,
    /// A bug: an internal rule was broken. Reported as a 500 without details.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<cove_types::TypesError> for EngineError {
    fn from(err: cove_types::TypesError) -> Self {
        match err {
            cove_types::TypesError::Validation(msg) => EngineError::Validation(msg),
            other => EngineError::Corrupt(other.to_string()),
        }
    }
}

/// Result alias for engine calls.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// DynamoDB's limit on an item collection (a partition key's items and their local index
/// entries) in tables with local secondary indexes: 10 GB.
pub const DEFAULT_ITEM_COLLECTION_LIMIT: u64 = 10 * 1024 * 1024 * 1024;

/// Settings of an engine.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// See [`DEFAULT_ITEM_COLLECTION_LIMIT`].
    pub item_collection_limit_bytes: u64,
    /// Other nodes write the same store (it has a `cove_storage::Watch`): a table this node
    /// does not know is looked for in the store before the request is refused, so a table
    /// created through another node is usable here at once.
    pub shared: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            item_collection_limit_bytes: DEFAULT_ITEM_COLLECTION_LIMIT,
            shared: false,
        }
    }
}

/// The engine handle: cheap to share behind an `Arc`.
pub struct Engine {
    storage: Storage,
    /// Tables by (account, region, name), loaded at open and written through on change.
    tables: RwLock<HashMap<catalog::TableKey, Arc<Table>>>,
    /// Serializes catalog changes so the cache and storage change in the same order.
    catalog_lock: Mutex<()>,
    /// Item writes hold this shared; changes to a table's indexes hold it exclusively, so no
    /// write commits against a table definition that lacks an index being built, or still
    /// has one being dropped.
    schema_lock: RwLock<()>,
    credentials: RwLock<HashMap<String, Credential>>,
    /// Each account's IAM and its compiled form, written through on change.
    iam: RwLock<HashMap<String, (iam::AccountIam, Arc<iam::CompiledAccount>)>>,
    /// Each (account, region)'s network and the compiled view of all of them.
    network: RwLock<(network::States, Arc<network::NetworkView>)>,
    /// Grows when connection notifications are queued (see [`services::Notice`]).
    outbox_generation: std::sync::atomic::AtomicU64,
    /// The generation of the store's catalog, IAM and network that each cache above reflects;
    /// see `follow.rs`. Caches are replaced under this lock.
    generations: Mutex<[u64; 3]>,
    options: EngineOptions,
}

impl Engine {
    /// Opens the engine over `storage`, loading the catalog and credentials, and resumes the
    /// clean-up of tables deleted before a crash.
    pub fn open(storage: Storage) -> Result<Engine> {
        Engine::open_with(storage, EngineOptions::default())
    }

    /// [`Engine::open`] with settings.
    pub fn open_with(storage: Storage, options: EngineOptions) -> Result<Engine> {
        let format = keys::check_format(&storage)?;
        // Read before the caches, so they are at least this new: at worst reloaded once more.
        let generations = follow::stored_all(storage.snapshot()?.as_ref())?;
        let mut tables = catalog::load(storage.snapshot()?.as_ref())?;
        if format == keys::Format::NeedsMigration {
            let live: Vec<Arc<Table>> = tables.values().cloned().collect();
            keys::migrate(&storage, &live)?;
        }
        indexes::adopt_unmaintained(&storage, &mut tables)?;
        let credentials = credentials::load(storage.snapshot()?.as_ref())?;
        let iam = iam::load(storage.snapshot()?.as_ref())?;
        let network = network::load(storage.snapshot()?.as_ref())?;
        let engine = Engine {
            storage,
            tables: RwLock::new(tables),
            catalog_lock: Mutex::new(()),
            schema_lock: RwLock::new(()),
            credentials: RwLock::new(credentials),
            iam: RwLock::new(iam),
            network: RwLock::new(network),
            outbox_generation: std::sync::atomic::AtomicU64::new(0),
            generations: Mutex::new(generations),
            options,
        };
        if !engine.options.shared {
            engine.purge_deleted_tables()?;
        }
        Ok(engine)
    }

    /// The storage handle, for closing at shutdown.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }
}

#[cfg(test)]
mod tests;
