//! The network load balancer as a real L4 proxy: one listener per (load balancer address,
//! port) of the engine's `NetworkView`, a healthy target picked per connection by a flow hash
//! (within the listener's zone unless cross-zone balancing is on), bytes copied both ways with
//! backpressure and half-close, an optional Proxy Protocol v2 header towards the target, and
//! health checks (TCP or HTTP) that move targets between initial, healthy and unhealthy at the
//! target group's thresholds.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use cove_engine::Engine;
use cove_engine::balancer::{BalancerListener, HealthCheck};
use cove_engine::network::NetworkView;

/// How long a connection to a target may take before the next target is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes each direction of a proxied connection copies at a time. Tokio's default (8 KiB) costs
/// a read and a write per 8 KiB: bulk transfers spent 1.6x HAProxy's CPU per GB (HAProxy moves
/// 16 KiB a call). 64 KiB quarters the calls of 16 KiB, for 128 KiB of buffers per connection,
/// allocated but not zeroed (`copy_both`), so a short connection touches only what it uses.
const COPY_BUFFER: usize = 64 * 1024;

/// At most this much of what a client sends first is written with the Proxy Protocol header
/// (a request's head, a TLS ClientHello); the rest follows in the copy.
const EARLY_BYTES: usize = 4096;

/// A target's health, as DescribeTargetHealth reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Initial,
    Healthy,
    Unhealthy,
    Unused,
}

impl Health {
    pub fn state(self) -> &'static str {
        match self {
            Health::Initial => "initial",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
            Health::Unused => "unused",
        }
    }

    /// ELB's reason code and description for every state but healthy.
    pub fn reason(self) -> Option<(&'static str, &'static str)> {
        match self {
            Health::Healthy => None,
            Health::Initial => Some((
                "Elb.InitialHealthChecking",
                "Initial health checks in progress",
            )),
            Health::Unhealthy => Some(("Target.FailedHealthChecks", "Health checks failed")),
            Health::Unused => Some((
                "Target.NotInUse",
                "Target group is not configured to receive traffic from the load balancer",
            )),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Tracked {
    health: Health,
    /// Consecutive results that disagree with `health`.
    streak: u32,
}

/// Every target's health, by (target group ARN, address).
#[derive(Debug, Default)]
pub struct TargetStates(Mutex<HashMap<(String, SocketAddr), Tracked>>);

impl TargetStates {
    /// The health of a target of a group in use; `initial` until checked.
    pub fn get(&self, group: &str, ip: &str, port: u16) -> Health {
        let Ok(ip) = ip.parse() else {
            return Health::Unhealthy;
        };
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(group.to_string(), SocketAddr::new(ip, port)))
            .map_or(Health::Initial, |t| t.health)
    }

    fn health(&self, group: &str, target: SocketAddr) -> Health {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(group.to_string(), target))
            .map_or(Health::Initial, |t| t.health)
    }

    /// Counts one check result against the thresholds.
    fn record(&self, group: &str, target: SocketAddr, ok: bool, check: &HealthCheck) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let t = map.entry((group.to_string(), target)).or_insert(Tracked {
            health: Health::Initial,
            streak: 0,
        });
        let agrees = matches!(
            (t.health, ok),
            (Health::Healthy, true) | (Health::Unhealthy, false)
        );
        if agrees {
            t.streak = 0;
            return;
        }
        t.streak += 1;
        let needed = if ok {
            check.healthy_threshold
        } else {
            check.unhealthy_threshold
        };
        if t.streak >= needed {
            t.health = if ok {
                Health::Healthy
            } else {
                Health::Unhealthy
            };
            t.streak = 0;
            tracing::info!(%target, group, state = t.health.state(), "target health changed");
        }
    }
}

/// The targets one health checker checks: address, settings, and whether checks start with
/// a Proxy Protocol LOCAL header.
type Checks = Vec<(SocketAddr, HealthCheck, bool)>;

/// Listener address -> `None` while listened on, or why it cannot be.
pub type BalancerStatus = Mutex<HashMap<SocketAddr, Option<String>>>;

/// Serves every load balancer listener of the current network view until dropped.
pub struct Balancers {
    states: Arc<TargetStates>,
    engine: Arc<Engine>,
    /// Which listeners are up, for the endpoints (and load balancers) they belong to.
    status: Arc<BalancerStatus>,
    listeners: HashMap<SocketAddr, JoinHandle<()>>,
    /// Per listener address: what it forwards to, swapped when the view changes.
    routes: Arc<Mutex<HashMap<SocketAddr, Arc<BalancerListener>>>>,
    /// Per target group: what its checker checks, and the checker.
    checkers: HashMap<String, (Checks, JoinHandle<()>)>,
}

impl Balancers {
    pub fn new(
        states: Arc<TargetStates>,
        engine: Arc<Engine>,
        status: Arc<BalancerStatus>,
    ) -> Balancers {
        Balancers {
            states,
            engine,
            status,
            listeners: HashMap::new(),
            routes: Arc::new(Mutex::new(HashMap::new())),
            checkers: HashMap::new(),
        }
    }

    /// Follows the view: listeners started and stopped, routes replaced, health checkers
    /// started, restarted when their settings or targets change, and stopped.
    pub async fn reconcile(&mut self, view: &NetworkView) {
        let wanted: HashMap<SocketAddr, Arc<BalancerListener>> = view
            .balancers
            .iter()
            .map(|b| (b.addr, Arc::clone(b)))
            .collect();
        self.listeners.retain(|addr, task| {
            let keep = wanted.contains_key(addr);
            if !keep {
                task.abort();
                tracing::info!(%addr, "load balancer listener stopped");
            }
            keep
        });
        *self.routes.lock().unwrap_or_else(|e| e.into_inner()) = wanted.clone();
        let mut status: HashMap<SocketAddr, Option<String>> = HashMap::new();
        for addr in wanted.keys() {
            if self.listeners.contains_key(addr) {
                status.insert(*addr, None);
                continue;
            }
            match TcpListener::bind(addr).await {
                Ok(listener) => {
                    tracing::info!(%addr, "load balancer listening");
                    let routes = Arc::clone(&self.routes);
                    let states = Arc::clone(&self.states);
                    let engine = Arc::clone(&self.engine);
                    let addr = *addr;
                    let task = tokio::spawn(async move {
                        loop {
                            match listener.accept().await {
                                Ok((client, peer)) => {
                                    let route = routes
                                        .lock()
                                        .unwrap_or_else(|e| e.into_inner())
                                        .get(&addr)
                                        .cloned();
                                    if let Some(route) = route {
                                        tokio::spawn(forward(
                                            client,
                                            peer,
                                            route,
                                            Arc::clone(&states),
                                            Arc::clone(&engine),
                                        ));
                                    }
                                }
                                Err(err) => {
                                    tracing::warn!(%addr, %err, "accept failed");
                                    tokio::time::sleep(Duration::from_millis(50)).await;
                                }
                            }
                        }
                    });
                    self.listeners.insert(addr, task);
                    status.insert(addr, None);
                }
                Err(err) => {
                    tracing::error!(%addr, %err, "cannot listen for a load balancer");
                    status.insert(*addr, Some(format!("Cove cannot listen on {addr}: {err}")));
                }
            }
        }
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
        // One checker per target group in use, checking each target once per interval.
        let mut groups: HashMap<String, Checks> = HashMap::new();
        for b in &view.balancers {
            let entry = groups.entry(b.target_group.clone()).or_default();
            for (target, _) in &b.targets {
                if !entry.iter().any(|(t, _, _)| t == target) {
                    entry.push((*target, b.health.clone(), b.proxy_protocol_v2));
                }
            }
        }
        self.checkers.retain(|group, (targets, task)| {
            let keep = groups.get(group) == Some(targets);
            if !keep {
                task.abort();
            }
            keep
        });
        for (group, targets) in groups {
            if self.checkers.contains_key(&group) {
                continue;
            }
            let states = Arc::clone(&self.states);
            let task = tokio::spawn(check_forever(group.clone(), targets.clone(), states));
            self.checkers.insert(group, (targets, task));
        }
    }
}

impl Drop for Balancers {
    fn drop(&mut self) {
        for (_, task) in self.listeners.drain() {
            task.abort();
        }
        for (_, (_, task)) in self.checkers.drain() {
            task.abort();
        }
    }
}

/// Checks every target of a group once per interval, forever (until aborted).
async fn check_forever(group: String, targets: Checks, states: Arc<TargetStates>) {
    let Some(interval) = targets.first().map(|(_, h, _)| h.interval_seconds) else {
        return;
    };
    let mut tick = tokio::time::interval(Duration::from_secs(u64::from(interval)));
    loop {
        tick.tick().await;
        // All targets are checked at once, so a slow one delays no other.
        let probes: Vec<_> = targets
            .iter()
            .map(|(target, check, proxy)| {
                let (target, check, proxy) = (*target, check.clone(), *proxy);
                tokio::spawn(async move { (target, probe(target, &check, proxy).await, check) })
            })
            .collect();
        for probe in probes {
            if let Ok((target, ok, check)) = probe.await {
                states.record(&group, target, ok, &check);
            }
        }
    }
}

/// One health check: a TCP connect, or an HTTP GET whose status the matcher accepts, within
/// the timeout. With Proxy Protocol on, the check starts with a LOCAL header, as ELB's do.
async fn probe(target: SocketAddr, check: &HealthCheck, proxy: bool) -> bool {
    let port = check.port.parse().unwrap_or(target.port());
    let addr = SocketAddr::new(target.ip(), port);
    let timeout = Duration::from_secs(u64::from(check.timeout_seconds));
    let attempt = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        if proxy {
            stream
                .write_all(&crate::proxy::encode_v2(None, None, 0))
                .await
                .ok()?;
        }
        if check.protocol != "HTTP" {
            return Some(true);
        }
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: ELB-HealthChecker/2.0\r\nConnection: close\r\n\r\n",
            check.path,
            addr.ip()
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 64];
        let n = stream.read(&mut head).await.ok()?;
        let line = std::str::from_utf8(&head[..n]).ok()?;
        let code: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(matches_code(&check.matcher, code))
    };
    matches!(tokio::time::timeout(timeout, attempt).await, Ok(Some(true)))
}

/// Whether `code` is one of ELB's matcher's codes (`200`, `200,202`, `200-399`).
fn matches_code(matcher: &str, code: u16) -> bool {
    matcher.split(',').any(|part| match part.split_once('-') {
        Some((lo, hi)) => {
            lo.trim().parse().is_ok_and(|lo: u16| code >= lo)
                && hi.trim().parse().is_ok_and(|hi: u16| code <= hi)
        }
        None => part.trim().parse() == Ok(code),
    })
}

/// The targets a connection to `route` may go to: those of its zone (every zone with
/// cross-zone balancing; targets outside the VPC serve every zone), the healthy ones among
/// them, or all of them when none is healthy (ELB fails open).
fn candidates(route: &BalancerListener, states: &TargetStates) -> Vec<SocketAddr> {
    let in_reach: Vec<SocketAddr> = route
        .targets
        .iter()
        .filter(|(_, zone)| route.cross_zone || zone.as_ref().is_none_or(|z| *z == route.zone))
        .map(|(t, _)| *t)
        .collect();
    let healthy: Vec<SocketAddr> = in_reach
        .iter()
        .copied()
        .filter(|t| states.health(&route.target_group, *t) == Health::Healthy)
        .collect();
    if healthy.is_empty() {
        in_reach
    } else {
        healthy
    }
}

/// One client connection: picked target by flow hash, Proxy Protocol header if configured,
/// then bytes both ways until both sides close.
async fn forward(
    mut client: TcpStream,
    peer: SocketAddr,
    route: Arc<BalancerListener>,
    states: Arc<TargetStates>,
    engine: Arc<Engine>,
) {
    let _ = client.set_nodelay(true);
    // On an endpoint's network interface, the client must reach it and be admitted by its
    // security groups, as at any interface endpoint; otherwise the connection is closed.
    if let Some(guard) = &route.endpoint {
        let view = engine.network_view();
        if !guard.reachable_from(peer.ip(), view.subnet_of(peer.ip()).as_deref())
            || !guard.admits(peer.ip(), route.addr.port())
        {
            tracing::debug!(%peer, endpoint = %guard.endpoint.endpoint, "connection refused by the endpoint's security groups or routes");
            return;
        }
    }
    let targets = candidates(&route, &states);
    if targets.is_empty() {
        tracing::debug!(%peer, lb = %route.load_balancer, "no target to forward to");
        return;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (peer, route.addr).hash(&mut hasher);
    let start = (hasher.finish() % targets.len() as u64) as usize;
    // The client's first bytes, when they go out with a Proxy Protocol header.
    let mut early = Vec::new();
    // The flow's target first, then the others, so one refusing target does not fail it.
    for i in 0..targets.len() {
        let target = targets[(start + i) % targets.len()];
        let Ok(Ok(mut upstream)) =
            tokio::time::timeout(CONNECT_TIMEOUT, connect_from(route.node, target)).await
        else {
            continue;
        };
        let _ = upstream.set_nodelay(true);
        if route.proxy_protocol_v2 {
            let vpce = route
                .endpoint
                .as_ref()
                .map(|e| e.endpoint.endpoint.as_str());
            let mut first = crate::proxy::encode_v2(Some((peer, route.addr)), vpce, 0);
            // What the client sent while the target was being connected to goes out with the
            // header: one write and one segment instead of two (HAProxy's MSG_MORE does the
            // same). Nothing is waited for, so a client that waits for the server first is
            // unaffected; the bytes are kept for the next target if this one fails.
            if read_early(&client, &mut early).is_err() {
                return;
            }
            first.extend_from_slice(&early);
            if upstream.write_all(&first).await.is_err() {
                continue;
            }
        }
        let _ = copy_both(&mut client, &mut upstream).await;
        return;
    }
    tracing::debug!(%peer, lb = %route.load_balancer, "every target refused the connection");
}

/// Copies bytes both ways until both directions have ended (an end of stream is passed on as a
/// shutdown of the other side's writing, so half-closed connections carry on) or either fails,
/// as `copy_bidirectional` does. Its buffers are not zeroed: `copy_bidirectional_with_sizes`
/// zeroes 2 x `COPY_BUFFER` for every connection, which cost a short connection more CPU than
/// the larger buffers saved it.
async fn copy_both(a: &mut TcpStream, b: &mut TcpStream) -> std::io::Result<()> {
    let (mut a_read, mut a_write) = a.split();
    let (mut b_read, mut b_write) = b.split();
    tokio::try_join!(
        copy_one(&mut a_read, &mut b_write),
        copy_one(&mut b_read, &mut a_write),
    )?;
    Ok(())
}

/// One direction of `copy_both`: read (at most a buffer), write it all, and only then read again,
/// so a slow reader holds its writer back.
async fn copy_one(from: &mut ReadHalf<'_>, to: &mut WriteHalf<'_>) -> std::io::Result<()> {
    let mut buf = BytesMut::with_capacity(COPY_BUFFER);
    loop {
        buf.clear();
        if from.read_buf(&mut buf).await? == 0 {
            return to.shutdown().await;
        }
        to.write_all(&buf).await?;
    }
}

/// Appends to `early` what the client has already sent (up to `EARLY_BYTES` in all), without
/// waiting; an end of stream reads nothing, and the copy after it sees the end again.
fn read_early(client: &TcpStream, early: &mut Vec<u8>) -> std::io::Result<()> {
    let at = early.len();
    if at >= EARLY_BYTES {
        return Ok(());
    }
    early.resize(EARLY_BYTES, 0);
    let n = match client.try_read(&mut early[at..]) {
        Ok(n) => n,
        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(err) => {
            early.truncate(at);
            return Err(err);
        }
    };
    early.truncate(at + n);
    Ok(())
}

/// Connects to `target` from the load balancer's own address, as an NLB's connections to IP
/// targets come from its private address; from any local address when this machine does not
/// hold that one (a balancer whose subnet is not local here).
async fn connect_from(node: IpAddr, target: SocketAddr) -> std::io::Result<TcpStream> {
    if node.is_ipv4() == target.is_ipv4() {
        let socket = if node.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if socket.bind(SocketAddr::new(node, 0)).is_ok() {
            return socket.connect(target).await;
        }
    }
    TcpStream::connect(target).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn copies_both_ways_and_passes_half_closes_on() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut proxy_in, _) = listener.accept().await.unwrap();
        let mut proxy_out = TcpStream::connect(addr).await.unwrap();
        let (mut target, _) = listener.accept().await.unwrap();
        let copy = tokio::spawn(async move { copy_both(&mut proxy_in, &mut proxy_out).await });
        // More than a buffer, so the copy reads and writes several times.
        let sent: Vec<u8> = (0..3 * COPY_BUFFER + 5).map(|i| i as u8).collect();
        let mut got = Vec::new();
        let (written, read) = tokio::join!(
            async {
                client.write_all(&sent).await?;
                client.shutdown().await
            },
            target.read_to_end(&mut got)
        );
        written.unwrap();
        read.unwrap();
        assert_eq!(got, sent);
        // The client has stopped writing; the answer still reaches it.
        target.write_all(b"answer").await.unwrap();
        target.shutdown().await.unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"answer");
        copy.await.unwrap().unwrap();
    }

    #[test]
    fn http_matchers() {
        assert!(matches_code("200-399", 302));
        assert!(!matches_code("200-399", 404));
        assert!(matches_code("200,202", 202));
        assert!(!matches_code("200,202", 201));
    }

    #[test]
    fn thresholds_move_targets_between_states() {
        let states = TargetStates::default();
        let check = HealthCheck {
            protocol: "TCP".into(),
            port: "traffic-port".into(),
            path: "/".into(),
            interval_seconds: 5,
            timeout_seconds: 2,
            healthy_threshold: 3,
            unhealthy_threshold: 2,
            matcher: "200-399".into(),
        };
        let t: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(states.health("g", t), Health::Initial);
        states.record("g", t, true, &check);
        states.record("g", t, true, &check);
        assert_eq!(states.health("g", t), Health::Initial);
        states.record("g", t, true, &check);
        assert_eq!(states.health("g", t), Health::Healthy);
        // One failure is not enough; a success in between resets the count.
        states.record("g", t, false, &check);
        states.record("g", t, true, &check);
        states.record("g", t, false, &check);
        assert_eq!(states.health("g", t), Health::Healthy);
        states.record("g", t, false, &check);
        assert_eq!(states.health("g", t), Health::Unhealthy);
    }
}
