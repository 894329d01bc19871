//! The accept loop. It is Cove's own rather than a framework's so that a slow TLS handshake
//! never holds up other connections (each handshake runs in the connection's task), and so
//! that per-connection facts (listener, peer address; later endpoint identity and Proxy
//! Protocol) are attached where the connection is accepted.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use cove_engine::Engine;

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
    /// period) for in-flight requests to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let graceful = GracefulShutdown::new();
        let local = self.listener.local_addr().ok();
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
                () = &mut shutdown => break,
            };
            // Without TCP_NODELAY, keep-alive requests stall on Nagle and delayed ACKs.
            let _ = stream.set_nodelay(true);
            // Which subnet the peer is in, and whether that subnet has any route here: a
            // source whose route table leads nowhere is refused, as its packets would be.
            let subnet = self.shared.engine.network_view().subnet_of(peer.ip());
            if subnet.as_ref().is_some_and(|s| !s.reachable()) {
                tracing::debug!(%peer, "connection refused: the source subnet has no route to DynamoDB");
                drop(stream);
                continue;
            }
            let conn = ConnInfo {
                peer,
                local: stream.local_addr().ok().or(local),
                tls: self.tls.is_some(),
                subnet,
            };
            let shared = Arc::clone(&self.shared);
            let watcher = graceful.watcher();
            let tls = self.tls.clone();
            let read_timeout = self.shared.config.read_timeout;
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(Arc::clone(&shared), conn.clone(), req));
                let mut builder = http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(read_timeout)
                    .keep_alive(true);
                let result = match tls {
                    Some(acceptor) => {
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(tls_stream)) => {
                                watcher
                                    .watch(
                                        builder.serve_connection(TokioIo::new(tls_stream), service),
                                    )
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
            });
        }
        tracing::info!("shutting down: no longer accepting, draining in-flight requests");
        drop(self.listener);
        if tokio::time::timeout(self.shared.config.shutdown_grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("grace period over; closing remaining connections");
        }
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
