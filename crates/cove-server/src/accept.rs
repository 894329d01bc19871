//! The accept loop. It is Cove's own rather than a framework's so that a slow TLS handshake
//! never holds up other connections (each handshake runs in the connection's task), and so
//! that per-connection facts (listener, peer address; later endpoint identity and Proxy
//! Protocol) are attached where the connection is accepted.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use cove_engine::Engine;
use cove_engine::network::{EndpointPath, NetworkView};

use crate::handler::{ConnInfo, handle};
use crate::{ServerConfig, ServerError, Shared};

/// How long a client may take to finish a TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
}

fn load_tls(cert: &std::path::Path, key: &std::path::Path) -> Result<TlsAcceptor, ServerError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ServerError::Tls(format!("{}: {e}", cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| ServerError::Tls(format!("{}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl Server {
    /// Binds the listener and loads TLS material; fails fast on either.
    pub async fn bind(config: ServerConfig, engine: Arc<Engine>) -> Result<Server, ServerError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let tls = match &config.tls {
            Some((cert, key)) => Some(load_tls(cert, key)?),
            None => None,
        };
        let audit =
            match &config.audit_log {
                Some(path) => Some(crate::audit::AuditLog::open(path).map_err(|source| {
                    ServerError::Audit {
                        path: path.clone(),
                        source,
                    }
                })?),
                None => None,
            };
        Ok(Server {
            listener,
            tls,
            shared: Arc::new(Shared {
                engine,
                config,
                audit,
                signing_keys: std::sync::Mutex::new(std::collections::HashMap::new()),
                last_reload: std::sync::Mutex::new(None),
            }),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting and waits (up to the grace
    /// period) for in-flight requests to finish. Besides the regional listener it keeps one
    /// listener per interface-endpoint address, following the network model: a listener
    /// starts when its endpoint is created and stops when it is deleted.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let graceful = GracefulShutdown::new();
        let local = self.listener.local_addr().ok();
        let (endpoint_tx, mut endpoint_rx) = mpsc::channel::<(TcpStream, SocketAddr)>(256);
        let mut endpoint_listeners: HashMap<SocketAddr, tokio::task::JoinHandle<()>> =
            HashMap::new();
        let mut seen: Option<Arc<NetworkView>> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tokio::pin!(shutdown);
        loop {
            let (stream, peer, from_endpoint) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => (stream, peer, false),
                    Err(err) => {
                        // Running out of file descriptors is transient; back off briefly
                        // rather than spin or die.
                        tracing::warn!(%err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                Some((stream, peer)) = endpoint_rx.recv() => (stream, peer, true),
                _ = tick.tick() => {
                    let view = self.shared.engine.network_view();
                    if seen.as_ref().is_none_or(|s| !Arc::ptr_eq(s, &view)) {
                        self.reconcile(&view, &mut endpoint_listeners, &endpoint_tx).await;
                        seen = Some(view);
                    }
                    continue;
                }
                () = &mut shutdown => break,
            };
            // Without TCP_NODELAY, keep-alive requests stall on Nagle and delayed ACKs.
            let _ = stream.set_nodelay(true);
            let local_addr = stream.local_addr().ok();
            let view = self.shared.engine.network_view();
            let (subnet, interface) = if from_endpoint {
                // An interface endpoint's address: its security groups decide at accept.
                let port = local_addr.map_or(0, |a| a.port());
                let Some(interface) = local_addr
                    .and_then(|a| view.interfaces.iter().find(|i| i.ip == a.ip()).cloned())
                else {
                    continue;
                };
                if !interface.admits(peer.ip(), port) {
                    tracing::debug!(%peer, endpoint = %interface.endpoint.endpoint, "connection refused by the endpoint's security groups");
                    continue;
                }
                (None, Some(interface))
            } else if !self.shared.config.trusted_proxies.is_empty() {
                // With Proxy Protocol configured, the header (or its absence) is read in the
                // connection's own task, so a slow proxy holds up nobody.
                let shared = Arc::clone(&self.shared);
                let tls = self.tls.clone();
                let watcher = graceful.watcher();
                let local = local_addr.or(local);
                tokio::spawn(async move {
                    let mut stream = stream;
                    let timeout = shared.config.read_timeout;
                    let trusted = shared
                        .config
                        .trusted_proxies
                        .iter()
                        .any(|n| n.contains(&peer.ip()));
                    let (source, vpce, proxy) = if trusted {
                        match crate::proxy::read_header(&mut stream, timeout).await {
                            Ok(p) => (p.source.unwrap_or(peer), p.vpce, Some(peer)),
                            Err(refusal) => {
                                tracing::debug!(%peer, ?refusal, "connection closed: no valid Proxy Protocol header from a trusted proxy");
                                return;
                            }
                        }
                    } else {
                        if crate::proxy::sends_header(&stream, timeout).await {
                            tracing::debug!(%peer, "connection closed: Proxy Protocol header from an untrusted peer");
                            return;
                        }
                        (peer, None, None)
                    };
                    let Some(conn) =
                        regional_conn(&shared, source, local, tls.is_some(), proxy, vpce)
                    else {
                        return;
                    };
                    serve_connection(shared, tls, watcher, stream, conn).await;
                });
                continue;
            } else {
                let conn = regional_conn(
                    &self.shared,
                    peer,
                    local_addr.or(local),
                    self.tls.is_some(),
                    None,
                    None,
                );
                if let Some(conn) = conn {
                    self.spawn_connection(&graceful, stream, conn);
                }
                continue;
            };
            let conn = ConnInfo {
                peer,
                local: local_addr.or(local),
                tls: self.tls.is_some(),
                subnet,
                interface,
                proxy: None,
                proxied_endpoint: None,
            };
            self.spawn_connection(&graceful, stream, conn);
        }
        tracing::info!("shutting down: no longer accepting, draining in-flight requests");
        drop(self.listener);
        for (_, task) in endpoint_listeners.drain() {
            task.abort();
        }
        if tokio::time::timeout(self.shared.config.shutdown_grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("grace period over; closing remaining connections");
        }
    }

    /// Starts listeners for interface-endpoint addresses that have none and stops those whose
    /// endpoint is gone.
    async fn reconcile(
        &self,
        view: &NetworkView,
        running: &mut HashMap<SocketAddr, tokio::task::JoinHandle<()>>,
        tx: &mpsc::Sender<(TcpStream, SocketAddr)>,
    ) {
        let port = self.shared.config.endpoint_port;
        let wanted: Vec<SocketAddr> = view
            .interfaces
            .iter()
            .map(|i| SocketAddr::new(i.ip, port))
            .collect();
        running.retain(|addr, task| {
            let keep = wanted.contains(addr);
            if !keep {
                task.abort();
                tracing::info!(%addr, "interface endpoint listener stopped");
            }
            keep
        });
        for addr in wanted {
            if running.contains_key(&addr) {
                continue;
            }
            match TcpListener::bind(addr).await {
                Ok(listener) => {
                    tracing::info!(%addr, "interface endpoint listening");
                    let tx = tx.clone();
                    let task = tokio::spawn(async move {
                        loop {
                            match listener.accept().await {
                                Ok(pair) => {
                                    if tx.send(pair).await.is_err() {
                                        break;
                                    }
                                }
                                Err(err) => {
                                    tracing::warn!(%addr, %err, "accept failed");
                                    tokio::time::sleep(Duration::from_millis(50)).await;
                                }
                            }
                        }
                    });
                    running.insert(addr, task);
                }
                Err(err) => {
                    tracing::error!(%addr, %err, "cannot listen for an interface endpoint");
                }
            }
        }
    }

    /// Serves one accepted connection in its own task (TLS handshake included).
    fn spawn_connection(&self, graceful: &GracefulShutdown, stream: TcpStream, conn: ConnInfo) {
        tokio::spawn(serve_connection(
            Arc::clone(&self.shared),
            self.tls.clone(),
            graceful.watcher(),
            stream,
            conn,
        ));
    }

    /// The engine this server serves.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.shared.engine
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listen", &self.listener.local_addr().ok())
            .finish()
    }
}

/// Serves one connection: TLS if configured, then HTTP/1.1 until it closes.
async fn serve_connection(
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
    watcher: Watcher,
    stream: TcpStream,
    conn: ConnInfo,
) {
    let read_timeout = shared.config.read_timeout;
    let peer = conn.peer;
    let service = service_fn(move |req| handle(Arc::clone(&shared), conn.clone(), req));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(read_timeout)
        .keep_alive(true);
    let result = match tls {
        Some(acceptor) => {
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => {
                    watcher
                        .watch(builder.serve_connection(TokioIo::new(tls_stream), service))
                        .await
                }
                Ok(Err(err)) => {
                    tracing::debug!(%peer, %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            }
        }
        None => {
            watcher
                .watch(builder.serve_connection(TokioIo::new(stream), service))
                .await
        }
    };
    if let Err(err) = result {
        tracing::debug!(%peer, %err, "connection ended with an error");
    }
}

/// The facts of a connection on the regional listener from `source` (the peer, or the client
/// a trusted proxy speaks for): its subnet and that subnet's routes. `None` when the subnet
/// has no route here: such a connection is refused, as its packets would never arrive.
fn regional_conn(
    shared: &Shared,
    source: SocketAddr,
    local: Option<SocketAddr>,
    tls: bool,
    proxy: Option<SocketAddr>,
    vpce: Option<String>,
) -> Option<ConnInfo> {
    let view = shared.engine.network_view();
    // Through an AWS endpoint (the proxy's TLV): the endpoint Cove knows by that id, or one
    // it does not (a real AWS endpoint), whose policy AWS has already applied.
    let proxied_endpoint = vpce.map(|id| {
        view.endpoint(&id)
            .unwrap_or_else(|| Arc::new(EndpointPath::foreign(&id)))
    });
    let subnet = if proxied_endpoint.is_some() {
        None
    } else {
        let subnet = view.subnet_of(source.ip());
        if subnet.as_ref().is_some_and(|s| !s.reachable()) {
            tracing::debug!(%source, "connection refused: the source subnet has no route to DynamoDB");
            return None;
        }
        subnet
    };
    Some(ConnInfo {
        peer: source,
        local,
        tls,
        subnet,
        interface: None,
        proxy,
        proxied_endpoint,
    })
}
