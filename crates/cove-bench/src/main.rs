//! `cove-bench`: the load generator Cove's performance claims are measured with, and the
//! "floor" server they are measured against.
//!
//! `cove-bench run` sends real SigV4-signed DynamoDB requests over HTTP/1.1 keep-alive, one
//! connection per worker, to any endpoint, for a workload (load, A, B, C, Q), and prints one
//! JSON object: throughput, latency percentiles, errors by `__type`, verified reads, and, given
//! the server's pid, the server's CPU seconds per request. `cove-bench floor` serves a fixed
//! GetItem answer with no storage: the most this client can get from any server here.
//! `cove-bench target` and `cove-bench l4` are the two ends of the L4 proxy benchmark
//! (`bench/balance`): a TCP server behind the proxy, and the client measuring through it.

mod client;
mod floor;
mod l4;
mod workload;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::client::Client;
use crate::workload::{Distribution, KeyChooser, Workload};

#[derive(Parser)]
#[command(
    name = "cove-bench",
    about = "Load generator and floor server for Cove"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a workload against an endpoint and print the result as JSON.
    Run(RunArgs),
    /// Serve a fixed, valid GetItem answer to every request.
    Floor {
        #[arg(long, default_value = "127.0.0.1:8100")]
        listen: SocketAddr,
    },
    /// Serve the L4 benchmark's fixed-size answers (after any Proxy Protocol v2 header).
    Target {
        #[arg(long, default_value = "127.0.0.1:8200")]
        listen: SocketAddr,
    },
    /// Measure connection rate, request latency or bulk throughput through an L4 proxy.
    L4(l4::L4Args),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum WorkloadArg {
    Load,
    A,
    B,
    C,
    Q,
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// The server, e.g. http://127.0.0.1:8000.
    #[arg(long)]
    endpoint: String,
    #[arg(long, value_enum)]
    workload: WorkloadArg,
    /// Concurrent workers, one connection each.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds to run (ignored by `load`, which writes every record once).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Records in the table (keys `user0` .. `user{N-1}`).
    #[arg(long, default_value_t = 10_000)]
    records: usize,
    /// Bytes in each record's value attribute.
    #[arg(long, default_value_t = 1000)]
    item_size: usize,
    #[arg(long, value_enum, default_value = "uniform")]
    distribution: DistributionArg,
    #[arg(long, default_value = "bench")]
    table: String,
    /// Create the table first (ignored when it exists).
    #[arg(long)]
    create_table: bool,
    /// The server's pid, to report its CPU seconds per request.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Check that sampled reads return the requested key (off for the floor, whose answer is
    /// fixed; reads must still carry an item).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    verify_keys: bool,
    #[arg(
        long,
        env = "AWS_ACCESS_KEY_ID",
        default_value = "AKIACOVEBENCH0000001"
    )]
    access_key_id: String,
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        default_value = "cove-bench-secret"
    )]
    secret_access_key: String,
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
    /// A label copied into the output.
    #[arg(long, default_value = "")]
    label: String,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DistributionArg {
    Uniform,
    Zipfian,
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports clock ticks of 1/100 s on every platform Cove runs on.
    Some((utime + stime) / 100.0)
}

/// A process's CPU seconds from when it was started to when it is read.
struct CpuMeter {
    pid: String,
    before: Option<f64>,
}

impl CpuMeter {
    fn start(pid: impl ToString) -> CpuMeter {
        let pid = pid.to_string();
        let before = cpu_seconds(&pid);
        CpuMeter { pid, before }
    }

    fn seconds(&self) -> Option<f64> {
        Some(cpu_seconds(&self.pid)? - self.before?)
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

struct WorkerResult {
    latencies_us: Vec<u64>,
    errors: BTreeMap<String, u64>,
    verified: u64,
    ops: u64,
}

async fn run(args: RunArgs) -> Result<serde_json::Value> {
    let endpoint: http::Uri = args.endpoint.parse().context("endpoint URL")?;
    let authority = endpoint
        .authority()
        .context("endpoint needs host:port")?
        .to_string();
    let addr: SocketAddr = tokio::net::lookup_host(&authority)
        .await?
        .next()
        .context("endpoint resolves to nothing")?;
    let signer = Arc::new(client::Signer {
        access_key_id: args.access_key_id.clone(),
        secret: args.secret_access_key.clone(),
        region: args.region.clone(),
        host: authority.clone(),
    });
    let workload = match args.workload {
        WorkloadArg::Load => Workload::Load,
        WorkloadArg::A => Workload::Mixed { read_percent: 50 },
        WorkloadArg::B => Workload::Mixed { read_percent: 95 },
        WorkloadArg::C => Workload::Mixed { read_percent: 100 },
        WorkloadArg::Q => Workload::Query,
    };
    let distribution = match args.distribution {
        DistributionArg::Uniform => Distribution::Uniform,
        DistributionArg::Zipfian => Distribution::Zipfian,
    };
    if args.create_table {
        let mut c = Client::connect(addr, Arc::clone(&signer)).await?;
        workload::create_table(&mut c, &args.table, matches!(workload, Workload::Query)).await?;
    }
    let server_meter = args.server_pid.map(CpuMeter::start);
    let client_meter = CpuMeter::start("self");
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..args.concurrency {
        let signer = Arc::clone(&signer);
        let stop = Arc::clone(&stop);
        let args = args.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(addr, signer).await?;
            let mut keys = KeyChooser::new(args.records, distribution, w as u64);
            let mut result = WorkerResult {
                latencies_us: Vec::with_capacity(100_000),
                errors: BTreeMap::new(),
                verified: 0,
                ops: 0,
            };
            let value = "v".repeat(args.item_size);
            let mut load_cursor = w * 25;
            loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let op = match workload {
                    Workload::Load => {
                        if load_cursor >= args.records {
                            break;
                        }
                        let end = (load_cursor + 25).min(args.records);
                        let op = workload::batch_put(&args.table, load_cursor..end, &value);
                        load_cursor += 25 * args.concurrency;
                        op
                    }
                    Workload::Mixed { read_percent } => {
                        let key = keys.next();
                        if keys.percent() < read_percent {
                            workload::get(&args.table, key)
                        } else {
                            workload::update(&args.table, key, &value)
                        }
                    }
                    Workload::Query => workload::query(&args.table),
                };
                let t0 = Instant::now();
                let reply = client.send(op.target, &op.body).await;
                result.latencies_us.push(t0.elapsed().as_micros() as u64);
                result.ops += 1;
                match reply {
                    Ok((200, body)) => match op.check(&body, args.verify_keys) {
                        Ok(true) => result.verified += 1,
                        Ok(false) => {}
                        Err(kind) => *result.errors.entry(kind).or_default() += 1,
                    },
                    Ok((_, body)) => {
                        let kind = serde_json::from_slice::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|v| v["__type"].as_str().map(str::to_string))
                            .unwrap_or_else(|| "unparsable error".into());
                        let short = kind.rsplit('#').next().unwrap_or(&kind).to_string();
                        *result.errors.entry(short).or_default() += 1;
                    }
                    Err(e) => {
                        *result.errors.entry(format!("transport: {e}")).or_default() += 1;
                        client = Client::connect(addr, Arc::clone(&client.signer)).await?;
                    }
                }
            }
            anyhow::Ok(result)
        }));
    }
    if !matches!(workload, Workload::Load) {
        tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
        stop.store(true, Ordering::Relaxed);
    }
    let mut latencies = Vec::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let (mut ops, mut verified) = (0u64, 0u64);
    for t in tasks {
        let r = t.await??;
        latencies.extend(r.latencies_us);
        for (k, v) in r.errors {
            *errors.entry(k).or_default() += v;
        }
        ops += r.ops;
        verified += r.verified;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let server_cpu = server_meter.and_then(|m| m.seconds());
    let client_cpu = client_meter.seconds();
    let failed: u64 = errors.values().sum();
    Ok(json!({
        "label": args.label,
        "workload": format!("{:?}", args.workload),
        "concurrency": args.concurrency,
        "seconds": elapsed,
        "ops": ops,
        "throughput": ops as f64 / elapsed,
        "ok_throughput": (ops - failed) as f64 / elapsed,
        "latency_ms": {
            "p50": percentile(&latencies, 0.50),
            "p90": percentile(&latencies, 0.90),
            "p99": percentile(&latencies, 0.99),
            "p999": percentile(&latencies, 0.999),
            "max": latencies.last().copied().unwrap_or(0) as f64 / 1000.0,
        },
        "errors": errors,
        "verified_reads": verified,
        "server_cpu_seconds": server_cpu,
        "server_cpu_us_per_op": server_cpu.map(|c| c * 1e6 / ops.max(1) as f64),
        "client_cpu_us_per_op": client_cpu.map(|c| c * 1e6 / ops.max(1) as f64),
    }))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Run(args) => {
            if args.concurrency == 0 {
                bail!("--concurrency must be at least 1");
            }
            let out = runtime.block_on(run(args))?;
            println!("{out}");
        }
        Command::Floor { listen } => runtime.block_on(floor::serve(listen))?,
        Command::Target { listen } => runtime.block_on(l4::serve_target(listen))?,
        Command::L4(args) => println!("{}", runtime.block_on(l4::run(args))?),
    }
    Ok(())
}
