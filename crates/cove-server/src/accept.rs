//! The accept loop. It is Cove's own rather than a framework's so that a slow TLS handshake
//! never holds up other connections (each handshake runs in the connection's task), and so
//! that per-connection facts (listener, peer address; later endpoint identity and Proxy
//! Protocol) are attached where the connection is accepted.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
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
use cove_engine::network::{EndpointPath, InterfaceListener, NetworkView};

use crate::ca::LocalCa;
use crate::handler::{ConnInfo, handle};
use crate::{ServerConfig, ServerError, Shared};

/// How long a client may take to finish a TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    ca: Option<Arc<LocalCa>>,
    shared: Arc<Shared>,
}

/// A connection accepted on an interface endpoint's address.
struct EndpointConn {
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
}

/// One running interface-endpoint listener, with the certificate names it serves.
struct EndpointListener {
    task: tokio::task::JoinHandle<()>,
    tls: Option<(Vec<String>, TlsAcceptor)>,
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
    /// Binds the listener and loads TLS material (and the local CA, when interface endpoints
    /// serve HTTPS); fails fast on any of them.
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
        let ca = match &config.endpoint_ca_dir {
            Some(dir) => Some(Arc::new(LocalCa::load_or_create(dir)?)),
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
            ca,
            shared: Arc::new(Shared {
                engine,
                config,
                audit,
                signing_keys: std::sync::Mutex::new(std::collections::HashMap::new()),
                last_reload: std::sync::Mutex::new(None),
                listeners: std::sync::Mutex::new(HashMap::new()),
                target_states: Arc::new(crate::balance::TargetStates::default()),
                balancer_status: Arc::default(),
            }),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The local CA whose certificate clients trust for interface endpoints' HTTPS, when
    /// they serve it.
    pub fn ca(&self) -> Option<&LocalCa> {
        self.ca.as_deref()
    }

    /// Serves until `shutdown` completes, then stops accepting and waits (up to the grace
    /// period) for in-flight requests to finish. Besides the regional listener it keeps one
    /// listener per interface-endpoint address, following the network model: a listener
    /// starts when its endpoint is created and stops when it is deleted.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let graceful = GracefulShutdown::new();
        let local = self.listener.local_addr().ok();
        let (endpoint_tx, mut endpoint_rx) = mpsc::channel::<EndpointConn>(256);
        let mut endpoints: HashMap<SocketAddr, EndpointListener> = HashMap::new();
        let mut seen: Option<Arc<NetworkView>> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut ticks: u32 = 0;
        let mut balancers = crate::balance::Balancers::new(
            Arc::clone(&self.shared.target_states),
            Arc::clone(&self.shared.engine),
            Arc::clone(&self.shared.balancer_status),
        );
        let deliverer = tokio::spawn(crate::notify::deliver_forever(
            Arc::clone(&self.shared.engine),
            self.shared.config.notification_webhooks.clone(),
            self.shared.config.delivery_lease.clone(),
        ));
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        // Running out of file descriptors is transient; back off briefly
                        // rather than spin or die.
                        tracing::warn!(%err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                Some(accepted) = endpoint_rx.recv() => {
                    let _ = accepted.stream.set_nodelay(true);
                    let tls = endpoints.get(&accepted.local).and_then(|l| l.tls.as_ref()).map(|(_, t)| t.clone());
                    tokio::spawn(serve_endpoint(Arc::clone(&self.shared), tls, graceful.watcher(), accepted));
                    continue;
                }
                _ = tick.tick() => {
                    // A changed network is reconciled at once; addresses that could not be
                    // listened on are retried every two seconds.
                    ticks = ticks.wrapping_add(1);
                    let view = self.shared.engine.network_view();
                    let retry = ticks.is_multiple_of(20) && self.any_failed();
                    if retry || seen.as_ref().is_none_or(|s| !Arc::ptr_eq(s, &view)) {
                        self.reconcile(&view, &mut endpoints, &endpoint_tx).await;
                        balancers.reconcile(&view).await;
                        seen = Some(view);
                    }
                    continue;
                }
                () = &mut shutdown => break,
            };
            // Without TCP_NODELAY, keep-alive requests stall on Nagle and delayed ACKs.
            let _ = stream.set_nodelay(true);
            let local = stream.local_addr().ok().or(local);
            let shared = Arc::clone(&self.shared);
            let tls = self.tls.clone();
            if shared.config.trusted_proxies.is_empty() {
                if let Some(conn) = regional_conn(&shared, peer, local, tls.is_some(), None, None) {
                    tokio::spawn(serve_connection(
                        shared,
                        tls,
                        graceful.watcher(),
                        stream,
                        conn,
                    ));
                }
                continue;
            }
            // With Proxy Protocol configured, the header (or its absence) is read in the
            // connection's own task, so a slow proxy holds up nobody.
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let mut stream = stream;
                let Some((source, vpce, proxy)) = proxied_source(&shared, &mut stream, peer).await
                else {
                    return;
                };
                let Some(conn) = regional_conn(&shared, source, local, tls.is_some(), proxy, vpce)
                else {
                    return;
                };
                serve_connection(shared, tls, watcher, stream, conn).await;
            });
        }
        tracing::info!("shutting down: no longer accepting, draining in-flight requests");
        drop(self.listener);
        for (_, listener) in endpoints.drain() {
            listener.task.abort();
        }
        drop(balancers);
        deliverer.abort();
        if tokio::time::timeout(self.shared.config.shutdown_grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("grace period over; closing remaining connections");
        }
    }

    /// Whether an interface-endpoint or load balancer address could not be listened on
    /// (and so is to be tried again).
    fn any_failed(&self) -> bool {
        let endpoints = self
            .shared
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .any(Option::is_some);
        endpoints
            || self
                .shared
                .balancer_status
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .any(Option::is_some)
    }

    /// Starts listeners for interface-endpoint addresses that have none, stops those whose
    /// endpoint is gone, renews certificates whose endpoint's names changed, and records
    /// which addresses are listened on (the endpoint's state follows from that).
    async fn reconcile(
        &self,
        view: &NetworkView,
        running: &mut HashMap<SocketAddr, EndpointListener>,
        tx: &mpsc::Sender<EndpointConn>,
    ) {
        let port = self.shared.config.endpoint_port;
        let wanted: HashMap<SocketAddr, &InterfaceListener> = view
            .interfaces
            .iter()
            .map(|i| (SocketAddr::new(i.ip, port), i.as_ref()))
            .collect();
        running.retain(|addr, listener| {
            let keep = wanted.contains_key(addr);
            if !keep {
                listener.task.abort();
                tracing::info!(%addr, "interface endpoint listener stopped");
            }
            keep
        });
        let mut status: HashMap<IpAddr, Option<String>> = HashMap::new();
        for (addr, interface) in wanted {
            // HTTPS with a certificate for every name of the endpoint and every address.
            let tls = match &self.ca {
                None => None,
                Some(ca) => {
                    let current = running
                        .get(&addr)
                        .and_then(|l| l.tls.as_ref())
                        .filter(|(names, _)| *names == interface.names);
                    match current {
                        Some(tls) => Some(tls.clone()),
                        None => match ca.acceptor(&interface.names, &[interface.ip]) {
                            Ok(acceptor) => Some((interface.names.clone(), acceptor)),
                            Err(err) => {
                                status.insert(addr.ip(), Some(err.to_string()));
                                continue;
                            }
                        },
                    }
                }
            };
            if let Some(listener) = running.get_mut(&addr) {
                listener.tls = tls;
                status.insert(addr.ip(), None);
                continue;
            }
            match TcpListener::bind(addr).await {
                Ok(listener) => {
                    tracing::info!(%addr, endpoint = %interface.endpoint.endpoint, "interface endpoint listening");
                    let tx = tx.clone();
                    let task = tokio::spawn(async move {
                        loop {
                            match listener.accept().await {
                                Ok((stream, peer)) => {
                                    let conn = EndpointConn {
                                        stream,
                                        peer,
                                        local: addr,
                                    };
                                    if tx.send(conn).await.is_err() {
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
                    running.insert(addr, EndpointListener { task, tls });
                    status.insert(addr.ip(), None);
                }
                Err(err) => {
                    tracing::error!(%addr, %err, "cannot listen for an interface endpoint");
                    status.insert(
                        addr.ip(),
                        Some(format!("Cove cannot listen on {addr}: {err}")),
                    );
                }
            }
        }
        *self
            .shared
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = status;
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

/// Reads the Proxy Protocol header of a connection when Proxy Protocol is configured: from a
/// trusted proxy the header is required and names the client (and maybe the AWS endpoint it
/// came through); from anyone else a header closes the connection. Returns the source that
/// stands for the client, the endpoint id, and the proxy's own address; `None` when the
/// connection is to be closed.
async fn proxied_source(
    shared: &Shared,
    stream: &mut TcpStream,
    peer: SocketAddr,
) -> Option<(SocketAddr, Option<String>, Option<SocketAddr>)> {
    let timeout = shared.config.read_timeout;
    let trusted = shared
        .config
        .trusted_proxies
        .iter()
        .any(|n| n.contains(&peer.ip()));
    if trusted {
        match crate::proxy::read_header(stream, timeout).await {
            Ok(p) => Some((p.source.unwrap_or(peer), p.vpce, Some(peer))),
            Err(refusal) => {
                tracing::debug!(%peer, ?refusal, "connection closed: no valid Proxy Protocol header from a trusted proxy");
                None
            }
        }
    } else if crate::proxy::sends_header(stream, timeout).await {
        tracing::debug!(%peer, "connection closed: Proxy Protocol header from an untrusted peer");
        None
    } else {
        Some((peer, None, None))
    }
}

/// Serves a connection to an interface endpoint's address: the client's source (the peer, or
/// whom a trusted proxy speaks for) must be admitted by the endpoint's security groups, as
/// it would be at the network interface; otherwise the connection is closed unanswered.
async fn serve_endpoint(
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
    watcher: Watcher,
    accepted: EndpointConn,
) {
    let EndpointConn {
        mut stream,
        peer,
        local,
    } = accepted;
    let (source, proxy) = if shared.config.trusted_proxies.is_empty() {
        (peer, None)
    } else {
        // The listener is the endpoint: a proxy's endpoint TLV does not change which.
        match proxied_source(&shared, &mut stream, peer).await {
            Some((source, _, proxy)) => (source, proxy),
            None => return,
        }
    };
    let view = shared.engine.network_view();
    let Some(interface) = view.interfaces.iter().find(|i| i.ip == local.ip()).cloned() else {
        return;
    };
    if !interface.reachable_from(source.ip(), view.subnet_of(source.ip()).as_deref()) {
        tracing::debug!(%source, endpoint = %interface.endpoint.endpoint, "connection refused: no route between the source's VPC and the endpoint's");
        return;
    }
    if !interface.admits(source.ip(), local.port()) {
        tracing::debug!(%source, endpoint = %interface.endpoint.endpoint, "connection refused by the endpoint's security groups");
        return;
    }
    let conn = ConnInfo {
        peer: source,
        local: Some(local),
        tls: tls.is_some(),
        subnet: None,
        interface: Some(interface),
        proxy,
        proxied_endpoint: None,
    };
    serve_connection(shared, tls, watcher, stream, conn).await;
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
