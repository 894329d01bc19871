//! The L4 benchmark's two ends: `target`, a TCP server behind the proxies under test (Cove's
//! network load balancer, HAProxy) that skips a Proxy Protocol v2 header and answers fixed-size
//! requests, and `l4`, the load generator that measures connection rate, request latency and
//! bulk throughput through a proxy, with the proxy's CPU seconds per connection, request or GB.
//!
//! The wire protocol is a 16-byte request: one op byte, 7 bytes of padding, then a big-endian
//! u64 byte count. `R` answers that many bytes and keeps the connection; `C` answers them and
//! closes (so the server, not the client, holds TIME_WAIT: a connection-rate run opens tens of
//! thousands of connections and would otherwise run the client out of ephemeral ports, which
//! measures the kernel, not the proxy); `B` is a bulk transfer of that many bytes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{CpuMeter, percentile};

const REQUEST_LEN: usize = 16;
/// The PPv2 signature; the fixed header is 16 bytes, its last two the length of what follows.
const PPV2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Chunk the target streams bulk transfers in and the client reads them in.
const CHUNK: usize = 256 * 1024;

fn request(op: u8, len: u64) -> [u8; REQUEST_LEN] {
    let mut r = [0u8; REQUEST_LEN];
    r[0] = op;
    r[8..].copy_from_slice(&len.to_be_bytes());
    r
}

/// Serves the benchmark protocol on `listen` until killed.
pub async fn serve_target(listen: SocketAddr) -> Result<()> {
    let listener = TcpListener::bind(listen).await?;
    eprintln!("target listening on {}", listener.local_addr()?);
    let payload: Arc<[u8]> = vec![b'x'; CHUNK].into();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of descriptors and the like: wait, as a real server would, not exit.
                eprintln!("accept: {err}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let payload = Arc::clone(&payload);
        tokio::spawn(async move {
            let _ = serve_connection(stream, &payload).await;
        });
    }
}

async fn serve_connection(mut stream: TcpStream, payload: &[u8]) -> Result<()> {
    stream.set_nodelay(true)?;
    let mut req = [0u8; REQUEST_LEN];
    // A PPv2 header, when a proxy sends one, comes first; its 16 fixed bytes are as long as a
    // request, so one read of 16 tells which it is.
    if stream.read_exact(&mut req).await.is_err() {
        return Ok(()); // a health check's bare connect, or one that sent a LOCAL header only
    }
    if req[..12] == PPV2_SIGNATURE[..] {
        let rest = u16::from_be_bytes([req[14], req[15]]) as usize;
        let mut skip = vec![0u8; rest];
        stream.read_exact(&mut skip).await?;
        if stream.read_exact(&mut req).await.is_err() {
            return Ok(());
        }
    }
    loop {
        let len = u64::from_be_bytes(req[8..].try_into()?);
        let mut left = len;
        while left > 0 {
            let n = left.min(payload.len() as u64) as usize;
            stream.write_all(&payload[..n]).await?;
            left -= n as u64;
        }
        match req[0] {
            b'C' => return Ok(()),
            b'R' | b'B' => {}
            op => bail!("unknown op {op}"),
        }
        if stream.read_exact(&mut req).await.is_err() {
            return Ok(());
        }
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Mode {
    /// A new connection per request: connect, request, read the answer to the server's close.
    Connect,
    /// Requests and answers back to back on one persistent connection per worker.
    Pingpong,
    /// Each worker streams bulk transfers of `--size` bytes on one connection.
    Bulk,
}

#[derive(clap::Args, Clone)]
pub struct L4Args {
    /// The proxy (or the target itself), e.g. 127.80.1.4:9000.
    #[arg(long)]
    addr: SocketAddr,
    #[arg(long, value_enum)]
    mode: Mode,
    /// Concurrent workers, one connection at a time each.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Bytes each answer carries (connect, pingpong) or each bulk transfer (bulk).
    #[arg(long, default_value_t = 64)]
    size: u64,
    /// The proxy's pid, to report its CPU seconds per connection, request and GB.
    #[arg(long)]
    proxy_pid: Option<u32>,
    #[arg(long, default_value = "")]
    label: String,
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    ops: u64,
    bytes: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, err: impl std::fmt::Display) {
        self.errors += 1;
        self.first_error.get_or_insert_with(|| err.to_string());
    }
}

/// One request on `stream`: its answer read whole (and, for `C`, the close after it).
async fn exchange(stream: &mut TcpStream, op: u8, size: u64, buf: &mut [u8]) -> Result<u64> {
    stream.write_all(&request(op, size)).await?;
    let mut got = 0u64;
    while got < size {
        let want = (size - got).min(buf.len() as u64) as usize;
        let n = stream.read(&mut buf[..want]).await?;
        if n == 0 {
            bail!("closed after {got} of {size} bytes");
        }
        got += n as u64;
    }
    if op == b'C' && stream.read(&mut buf[..1]).await? != 0 {
        bail!("more bytes than asked for");
    }
    Ok(got)
}

async fn worker(args: L4Args, stop: Arc<AtomicBool>) -> Tally {
    let mut tally = Tally {
        latencies_us: Vec::with_capacity(100_000),
        ..Tally::default()
    };
    let buf_len = match args.mode {
        Mode::Bulk => CHUNK,
        _ => args.size.max(1) as usize,
    };
    let mut buf = vec![0u8; buf_len];
    let mut conn: Option<TcpStream> = None;
    while !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        let result = async {
            let stream = match conn.take() {
                Some(s) => s,
                None => {
                    let s = TcpStream::connect(args.addr).await.context("connect")?;
                    s.set_nodelay(true)?;
                    s
                }
            };
            let mut stream = stream;
            let op = match args.mode {
                Mode::Connect => b'C',
                Mode::Pingpong => b'R',
                Mode::Bulk => b'B',
            };
            let got = exchange(&mut stream, op, args.size, &mut buf).await?;
            anyhow::Ok((got, (op != b'C').then_some(stream)))
        }
        .await;
        match result {
            Ok((got, keep)) => {
                tally.latencies_us.push(t0.elapsed().as_micros() as u64);
                tally.ops += 1;
                tally.bytes += got;
                conn = keep;
            }
            Err(err) => {
                tally.error(format!("{err:#}"));
                // Do not spin on a refusing proxy.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    tally
}

/// Runs one measurement and returns it as a JSON object.
pub async fn run(args: L4Args) -> Result<serde_json::Value> {
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let proxy_meter = args.proxy_pid.map(CpuMeter::start);
    let client_meter = CpuMeter::start("self");
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|_| tokio::spawn(worker(args.clone(), Arc::clone(&stop))))
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Tally::default();
    for t in tasks {
        let t = t.await?;
        all.latencies_us.extend(t.latencies_us);
        all.ops += t.ops;
        all.bytes += t.bytes;
        all.errors += t.errors;
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let proxy_cpu = proxy_meter.and_then(|m| m.seconds());
    let client_cpu = client_meter.seconds();
    let latencies = &mut all.latencies_us;
    latencies.sort_unstable();
    let ops = all.ops.max(1) as f64;
    let gb = all.bytes as f64 / 1e9;
    Ok(json!({
        "label": args.label,
        "mode": format!("{:?}", args.mode).to_lowercase(),
        "concurrency": args.concurrency,
        "size": args.size,
        "seconds": elapsed,
        "ops": all.ops,
        "ops_per_s": all.ops as f64 / elapsed,
        "mb_per_s": all.bytes as f64 / 1e6 / elapsed,
        "latency_ms": {
            "p50": percentile(latencies, 0.50),
            "p90": percentile(latencies, 0.90),
            "p99": percentile(latencies, 0.99),
            "p999": percentile(latencies, 0.999),
            "max": latencies.last().copied().unwrap_or(0) as f64 / 1000.0,
        },
        "errors": all.errors,
        "first_error": all.first_error,
        "proxy_cpu_seconds": proxy_cpu,
        "proxy_cpu_us_per_op": proxy_cpu.map(|c| c * 1e6 / ops),
        "proxy_cpu_s_per_gb": proxy_cpu.filter(|_| gb > 0.0).map(|c| c / gb),
        "client_cpu_us_per_op": client_cpu.map(|c| c * 1e6 / ops),
    }))
}
