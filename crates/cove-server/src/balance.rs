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
use std::time::{Duration, Instant};

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
    /// Deregistered, its open connections kept until the deregistration delay ends.
    Draining,
}

impl Health {
    pub fn state(self) -> &'static str {
        match self {
            Health::Initial => "initial",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
            Health::Unused => "unused",
            Health::Draining => "draining",
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
            Health::Draining => Some((
                "Target.DeregistrationInProgress",
                "Target deregistration is in progress",
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

/// A target of a target group.
type TargetKey = (String, SocketAddr);

/// Every target's health, by (target group ARN, address), and the deregistered targets
/// whose connections drain.
#[derive(Debug, Default)]
pub struct TargetStates {
    health: Mutex<HashMap<TargetKey, Tracked>>,
    /// Deregistered targets with the moment their remaining connections are closed.
    draining: Mutex<HashMap<TargetKey, Instant>>,
    /// Targets whose drain time is over: their connections close. A new registration takes
    /// a target off.
    cut: Mutex<std::collections::HashSet<TargetKey>>,
    /// Grows when `cut` does, waking the connections that check it.
    cut_generation: tokio::sync::watch::Sender<u64>,
}

impl TargetStates {
    /// The deregistered targets of `group` still draining.
    pub fn draining(&self, group: &str) -> Vec<SocketAddr> {
        let mut out: Vec<SocketAddr> = self
            .draining
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .filter(|(g, _)| g == group)
            .map(|(_, t)| *t)
            .collect();
        out.sort();
        out
    }

    /// A target was deregistered: its connections stay open for `delay`, then close.
    fn start_draining(&self, key: TargetKey, delay: Duration) {
        self.draining
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, Instant::now() + delay);
    }

    /// A target was registered (again): it no longer drains and its connections stay.
    fn registered(&self, key: &TargetKey) {
        self.draining
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        self.cut
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// Ends the drains whose time is over: their targets' connections are closed.
    fn end_drains(&self) {
        let now = Instant::now();
        let mut ended = Vec::new();
        self.draining
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|key, deadline| {
                let over = *deadline <= now;
                if over {
                    ended.push(key.clone());
                }
                !over
            });
        if ended.is_empty() {
            return;
        }
        self.cut
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(ended);
        self.cut_generation.send_modify(|g| *g += 1);
    }

    fn is_cut(&self, key: &TargetKey) -> bool {
        self.cut
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
    }

    /// The health of a target of a group in use; `initial` until checked.
    pub fn get(&self, group: &str, ip: &str, port: u16) -> Health {
        let Ok(ip) = ip.parse() else {
            return Health::Unhealthy;
        };
        self.health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(group.to_string(), SocketAddr::new(ip, port)))
            .map_or(Health::Initial, |t| t.health)
    }

    fn health(&self, group: &str, target: SocketAddr) -> Health {
        self.health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(group.to_string(), target))
            .map_or(Health::Initial, |t| t.health)
    }

    /// Counts one check result against the thresholds.
    fn record(&self, group: &str, target: SocketAddr, ok: bool, check: &HealthCheck) {
        let mut map = self.health.lock().unwrap_or_else(|e| e.into_inner());
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
    /// Every (group, target) in use at the last reconcile, with its deregistration delay.
    registered: HashMap<TargetKey, u32>,
    /// Ends drains when their time is over.
    drainer: JoinHandle<()>,
}

impl Balancers {
    pub fn new(
        states: Arc<TargetStates>,
        engine: Arc<Engine>,
        status: Arc<BalancerStatus>,
    ) -> Balancers {
        let drainer = {
            let states = Arc::clone(&states);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                loop {
                    tick.tick().await;
                    states.end_drains();
                }
            })
        };
        Balancers {
            states,
            engine,
            status,
            listeners: HashMap::new(),
            routes: Arc::new(Mutex::new(HashMap::new())),
            checkers: HashMap::new(),
            registered: HashMap::new(),
            drainer,
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
        // Targets that left a group drain: open connections stay for the group's
        // deregistration delay, new ones go elsewhere at once.
        let registered: HashMap<TargetKey, u32> = view
            .balancers
            .iter()
            .flat_map(|b| {
                b.targets
                    .iter()
                    .map(|(t, _)| ((b.target_group.clone(), *t), b.deregistration_delay))
            })
            .collect();
        for (key, delay) in &self.registered {
            if !registered.contains_key(key) {
                self.states
                    .start_draining(key.clone(), Duration::from_secs(u64::from(*delay)));
            }
        }
        for key in registered.keys() {
            if !self.registered.contains_key(key) {
                self.states.registered(key);
            }
        }
        self.registered = registered;
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
        self.drainer.abort();
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
    client: TcpStream,
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
        relay(client, upstream, &route, target, &states).await;
        return;
    }
    tracing::debug!(%peer, lb = %route.load_balancer, "every target refused the connection");
}

/// Copies bytes both ways (with backpressure and half-close) until both sides are done, the
/// flow has been silent both ways for the listener's idle timeout, or the target's drain
/// time after deregistration is over.
async fn relay(
    mut client: TcpStream,
    mut upstream: TcpStream,
    route: &BalancerListener,
    target: SocketAddr,
    states: &TargetStates,
) {
    let key = (route.target_group.clone(), target);
    let mut cut = states.cut_generation.subscribe();
    let idle = Duration::from_secs(u64::from(route.idle_timeout));
    let activity = Activity::default();
    let copy = copy_both(&mut client, &mut upstream, &activity);
    let drained = async {
        loop {
            if cut.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
            if states.is_cut(&key) {
                return;
            }
        }
    };
    let silent = async {
        loop {
            let quiet = activity.since_last();
            if quiet >= idle {
                return;
            }
            tokio::time::sleep(idle - quiet).await;
        }
    };
    tokio::select! {
        _ = copy => {}
        () = drained => tracing::debug!(%target, "connection closed: the target's deregistration delay is over"),
        () = silent => tracing::debug!(%target, "connection closed: idle timeout"),
    }
}

/// When a flow last carried data, either way.
struct Activity {
    start: Instant,
    /// Milliseconds after `start`.
    last: std::sync::atomic::AtomicU64,
}

impl Default for Activity {
    fn default() -> Activity {
        Activity {
            start: Instant::now(),
            last: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Activity {
    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    fn since_last(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(std::sync::atomic::Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// Copies bytes both ways until both directions have ended (an end of stream is passed on as a
/// shutdown of the other side's writing, so half-closed connections carry on) or either fails,
/// as `copy_bidirectional` does. Its buffers are not zeroed: `copy_bidirectional_with_sizes`
/// zeroes 2 x `COPY_BUFFER` for every connection, which cost a short connection more CPU than
/// the larger buffers saved it.
/// Each read counts as `activity` of the flow.
async fn copy_both(
    a: &mut TcpStream,
    b: &mut TcpStream,
    activity: &Activity,
) -> std::io::Result<()> {
    let (mut a_read, mut a_write) = a.split();
    let (mut b_read, mut b_write) = b.split();
    tokio::try_join!(
        copy_one(&mut a_read, &mut b_write, activity),
        copy_one(&mut b_read, &mut a_write, activity),
    )?;
    Ok(())
}

/// One direction of `copy_both`: read (at most a buffer), write it all, and only then read again,
/// so a slow reader holds its writer back.
async fn copy_one(
    from: &mut ReadHalf<'_>,
    to: &mut WriteHalf<'_>,
    activity: &Activity,
) -> std::io::Result<()> {
    let mut buf = BytesMut::with_capacity(COPY_BUFFER);
    loop {
        buf.clear();
        if from.read_buf(&mut buf).await? == 0 {
            return to.shutdown().await;
        }
        activity.touch();
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

    /// A connected pair of loopback sockets.
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (a, b) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (a.unwrap(), b.unwrap().0)
    }

    fn route(idle_timeout: u32) -> BalancerListener {
        BalancerListener {
            addr: "127.0.0.1:1".parse().unwrap(),
            zone: "z".into(),
            load_balancer: "lb".into(),
            target_group: "g".into(),
            targets: Vec::new(),
            cross_zone: false,
            proxy_protocol_v2: false,
            health: check(),
            node: "127.0.0.1".parse().unwrap(),
            endpoint: None,
            deregistration_delay: 0,
            idle_timeout,
        }
    }

    fn check() -> HealthCheck {
        HealthCheck {
            protocol: "TCP".into(),
            port: "traffic-port".into(),
            path: "/".into(),
            interval_seconds: 5,
            timeout_seconds: 2,
            healthy_threshold: 3,
            unhealthy_threshold: 2,
            matcher: "200-399".into(),
        }
    }

    /// Bytes flow both ways through a relay; a flow silent for the idle timeout is closed,
    /// and one that keeps talking is not.
    #[tokio::test]
    async fn relays_close_idle_flows_only() {
        let states = Arc::new(TargetStates::default());
        let (mut client, proxy_in) = pair().await;
        let (proxy_out, mut server) = pair().await;
        let target = server.local_addr().unwrap();
        let started = Instant::now();
        let relay = {
            let states = Arc::clone(&states);
            tokio::spawn(async move {
                relay(proxy_in, proxy_out, &route(1), target, &states).await;
            })
        };
        // Talking every 400 ms keeps the flow open past the 1 s timeout.
        for round in 0..4u8 {
            client.write_all(&[round]).await.unwrap();
            let mut byte = [0u8; 1];
            server.read_exact(&mut byte).await.unwrap();
            assert_eq!(byte[0], round);
            server.write_all(b"k").await.unwrap();
            client.read_exact(&mut byte).await.unwrap();
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        assert!(!relay.is_finished());
        // Then silence: the relay ends a second after the last byte (sent at about 1.2 s),
        // and both sides see the close.
        tokio::time::timeout(Duration::from_secs(5), relay)
            .await
            .expect("the idle flow was closed")
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(2100));
        let mut rest = Vec::new();
        assert_eq!(client.read_to_end(&mut rest).await.unwrap(), 0);
        assert_eq!(server.read_to_end(&mut rest).await.unwrap(), 0);
    }

    /// A deregistered target's open flow lasts until its drain time ends, then closes; a new
    /// registration before that keeps it.
    #[tokio::test]
    async fn draining_ends_flows_after_the_delay() {
        let states = Arc::new(TargetStates::default());
        let (mut client, proxy_in) = pair().await;
        let (proxy_out, mut server) = pair().await;
        let target = server.local_addr().unwrap();
        let relay = {
            let states = Arc::clone(&states);
            tokio::spawn(async move {
                relay(proxy_in, proxy_out, &route(350), target, &states).await;
            })
        };
        let key = ("g".to_string(), target);
        states.start_draining(key.clone(), Duration::from_millis(300));
        assert_eq!(states.draining("g"), vec![target]);
        // Within the delay the flow still carries data.
        client.write_all(b"x").await.unwrap();
        let mut byte = [0u8; 1];
        server.read_exact(&mut byte).await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        states.end_drains();
        tokio::time::timeout(Duration::from_secs(5), relay)
            .await
            .expect("the drained flow was closed")
            .unwrap();
        assert!(states.draining("g").is_empty());
        // Registered again, the target is no longer cut.
        states.registered(&key);
        assert!(!states.is_cut(&key));
    }

    #[tokio::test]
    async fn copies_both_ways_and_passes_half_closes_on() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut proxy_in, _) = listener.accept().await.unwrap();
        let mut proxy_out = TcpStream::connect(addr).await.unwrap();
        let (mut target, _) = listener.accept().await.unwrap();
        let copy = tokio::spawn(async move {
            copy_both(&mut proxy_in, &mut proxy_out, &Activity::default()).await
        });
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
        let check = check();
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
