//! The network front of Cove: it binds the listeners, runs the accept loop (TLS when
//! configured), serves HTTP/1.1, verifies SigV4 signatures, decodes DynamoDB requests, calls
//! the engine, and encodes responses. Errors from every layer become DynamoDB wire errors in
//! one module, [`error`].
//!
//! The request pipeline runs in one direction: accept → TLS → HTTP → SigV4 → wire decode →
//! engine → storage. Network facts (which listener, which peer) come from the connection,
//! never from HTTP headers.

mod accept;
mod access;
mod audit;
mod auth;
mod authz;
mod balance;
mod ca;
mod dispatch;
mod dns;
mod ec2;
mod elb;
pub mod error;
mod handler;
mod iam;
mod notify;
mod privatelink;
mod proxy;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cove_engine::Engine;

pub use accept::Server;
pub use ca::LocalCa;
pub use dns::DnsServer;

/// How the server authenticates requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Every request needs a valid SigV4 signature from a known access key.
    Verify,
    /// Development mode: any well-formed SigV4 Authorization header is accepted as the root
    /// principal of the default account, and signatures are not checked (as DynamoDB Local).
    Dev,
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// PEM certificate chain and private key; plain HTTP when `None`.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub auth: AuthMode,
    /// The account that `--dev` requests act in.
    pub default_account: String,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// How long a client may take to send a request's headers, and then its body; a
    /// connection that sends nothing for this long after connecting or between requests is
    /// closed too. Slow or silent clients cannot hold connections open forever.
    pub read_timeout: Duration,
    /// Peers allowed to send a Proxy Protocol header on the regional listener; from them a
    /// header is required. Empty: Proxy Protocol is off.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The port interface endpoints listen on at each of their addresses (AWS: 443).
    pub endpoint_port: u16,
    /// Where Cove's local CA lives (created there on first start): interface endpoints serve
    /// HTTPS with certificates it signs for their DNS names. `None`: plain HTTP on them.
    pub endpoint_ca_dir: Option<PathBuf>,
    /// Where to append one JSON line per authorization decision; no audit log when `None`.
    pub audit_log: Option<PathBuf>,
    /// (SNS topic ARN, webhook URL): where connection notifications for each topic go.
    pub notification_webhooks: Vec<(String, String)>,
    /// With several nodes on one store: whether this node holds the cluster's lease, and so
    /// delivers the notifications (every node's), which then go out once. `None`: this node
    /// is alone and delivers.
    pub delivery_lease: Option<Lease>,
}

/// Asks whether this node holds the cluster's lease.
#[derive(Clone)]
pub struct Lease(pub Arc<dyn Fn() -> bool + Send + Sync>);

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Lease").field(&(self.0)()).finish()
    }
}

/// State shared by every connection.
pub(crate) struct Shared {
    pub engine: Arc<Engine>,
    pub config: ServerConfig,
    /// SigV4 signing keys by (access key id, date, region), with the secret they were derived
    /// from: a key depends only on those (and the service, always `dynamodb` here), so
    /// deriving it (four HMACs) once a day is enough.
    pub signing_keys: std::sync::Mutex<SigningKeys>,
    /// The audit log's writer, when one is configured.
    pub audit: Option<audit::AuditLog>,
    /// When access keys were last reloaded from storage for an unknown key.
    pub last_reload: std::sync::Mutex<Option<std::time::Instant>>,
    /// Whether each interface-endpoint address is being listened on: absent while Cove has
    /// not tried yet (the endpoint is `pending`), `None` once it listens, the reason when it
    /// cannot (the endpoint is `failed`).
    pub listeners: ListenerStatus,
    /// The health of every load balancer target, kept by the health checkers.
    pub target_states: Arc<balance::TargetStates>,
    /// Whether each load balancer listener (and each listener of an endpoint to an
    /// endpoint service) is being listened on, kept by the balancers.
    pub balancer_status: Arc<balance::BalancerStatus>,
}

/// Interface-endpoint address -> `None` (listening) or why it cannot listen.
pub(crate) type ListenerStatus =
    std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, Option<String>>>;

/// Access key id -> the DynamoDB signing keys derived for it, one per (date, region). Keyed by
/// the id alone so that a lookup borrows the request's strings instead of building a key.
pub(crate) type SigningKeys = std::collections::HashMap<String, Vec<CachedKey>>;

/// One cached signing key and everything it was derived from but the access key id.
pub(crate) struct CachedKey {
    pub date: String,
    pub region: String,
    /// The secret it was derived from: a key whose secret changed is derived again.
    pub secret: String,
    pub key: cove_sigv4::SigningKey,
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot load TLS material: {0}")]
    Tls(String),
    #[error("cannot open the audit log {path}: {source}")]
    Audit {
        path: PathBuf,
        source: std::io::Error,
    },
}
