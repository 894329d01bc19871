//! The `cove` binary: `cove serve` runs the DynamoDB-compatible server on embedded storage
//! (SQLite) or on a PostgreSQL database that several nodes may share.
//!
//! Settings are layered: built-in defaults, then a TOML config file (`--config`), then
//! environment variables (`COVE_*`), then command-line flags, each overriding the one before.

mod config;
mod simulate;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use cove_engine::{Engine, EngineOptions};
use cove_server::{AuthMode, DnsServer, Server, ServerConfig};
use cove_storage::Storage;
use cove_storage_postgres::{PostgresBackend, PostgresOptions};
use cove_storage_sqlite::{SqliteBackend, SqliteOptions};

use crate::config::{ServeArgs, Settings, StorageSetting};

#[derive(Parser)]
#[command(
    name = "cove",
    version,
    about = "A private-by-default DynamoDB-compatible database"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Work with IAM policies offline.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The DNS names of interface VPC endpoints.
    #[command(subcommand)]
    Dns(DnsCommand),
    /// Cove's local certificate authority, which signs interface endpoints' certificates.
    #[command(subcommand)]
    Ca(CaCommand),
    /// PrivateLink connection notifications (Connect, Accept, Reject, Delete) in the outbox.
    #[command(subcommand)]
    Notifications(NotificationsCommand),
}

#[derive(Subcommand)]
enum NotificationsCommand {
    /// Print every notification message, oldest first, one JSON object per line: the topic,
    /// the event, the SNS message body, and its delivery (attempts, delivered or abandoned,
    /// the last error). Works while the server runs.
    List(DataDirArgs),
}

#[derive(Subcommand)]
enum CaCommand {
    /// Print the CA certificate (PEM) that clients trust for interface endpoints' HTTPS
    /// (`AWS_CA_BUNDLE`); creates the CA in the data directory if the server has not yet.
    Export(DataDirArgs),
}

#[derive(Subcommand)]
enum DnsCommand {
    /// Print every interface endpoint's DNS names as /etc/hosts lines ("ADDRESS NAME"), the
    /// same answers `--dns-listen` gives. Works while the server runs.
    Hosts(DataDirArgs),
}

/// Where to find the data of an offline command.
#[derive(Args)]
struct DataDirArgs {
    /// Where data lives [default: ./cove-data].
    #[arg(long, env = "COVE_DATA_DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// `sqlite` or the server's PostgreSQL URL [default: sqlite].
    #[arg(long, env = "COVE_STORAGE")]
    storage: Option<String>,
    /// The server's TOML config file, to find its data directory and storage.
    #[arg(long, env = "COVE_CONFIG")]
    config: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Decide whether a principal may perform an action on a resource, as Cove would, and
    /// name the deciding statement. Exits 0 when allowed, 1 when denied.
    Simulate(simulate::SimulateArgs),
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account with a root access key, and print the key as JSON. Works while the
    /// server runs: it picks up the new key on first use.
    Create(AccountCreateArgs),
}

#[derive(Args)]
struct AccountCreateArgs {
    /// The new account's 12-digit id [default: a random one].
    #[arg(long)]
    account_id: Option<String>,
    #[command(flatten)]
    data: DataDirArgs,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // hickory-server logs every DNS query at info; Cove's own lines suffice.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hickory_server=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Serve(args) => serve(Settings::resolve(args)?),
        Command::Account(AccountCommand::Create(args)) => create_account(args),
        Command::Dns(DnsCommand::Hosts(args)) => dns_hosts(args),
        Command::Ca(CaCommand::Export(args)) => ca_export(args),
        Command::Notifications(NotificationsCommand::List(args)) => notifications_list(args),
        Command::Policy(PolicyCommand::Simulate(args)) => {
            if simulate::simulate(args)? {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
    }
}

/// `cove account create`: opens the storage (alongside a running server, which SQLite and
/// PostgreSQL both allow) and adds an account with a root key.
fn create_account(args: AccountCreateArgs) -> Result<()> {
    if let Some(id) = &args.account_id
        && !cove_policy::is_account_id(id)
    {
        anyhow::bail!("account id must be 12 digits, got {id:?}");
    }
    let settings = offline_settings(args.data)?;
    let storage = open_storage(&settings, true)?;
    let engine = Engine::open(storage.clone()).context("cannot open the engine")?;
    let root = engine
        .create_account(args.account_id.as_deref())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "{}",
        serde_json::json!({
            "AccountId": root.account_id,
            "Arn": format!("arn:aws:iam::{}:root", root.account_id),
            "AccessKeyId": root.access_key_id,
            "SecretAccessKey": root.secret_access_key,
        })
    );
    drop(engine);
    storage.close().context("closing storage")?;
    Ok(())
}

/// The settings of an offline command: the server's data directory, storage and config file.
fn offline_settings(args: DataDirArgs) -> Result<Settings> {
    Settings::resolve(ServeArgs {
        data_dir: args.data_dir,
        storage: args.storage,
        config: args.config,
        ..ServeArgs::default()
    })
}

/// `cove ca export`: the CA certificate the server signs endpoint certificates with, the same
/// one it creates at start-up in the data directory.
fn ca_export(args: DataDirArgs) -> Result<()> {
    let settings = offline_settings(args)?;
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "cannot create data directory {}",
            settings.data_dir.display()
        )
    })?;
    let ca = cove_server::LocalCa::load_or_create(&settings.data_dir)?;
    print!("{}", ca.cert_pem());
    Ok(())
}

/// `cove dns hosts`: opens the storage (beside a running server, as SQLite and PostgreSQL
/// allow) and prints one `/etc/hosts` line per (address, name) of every interface endpoint, sorted
/// by address, then name, so the output is stable.
/// `cove notifications list`.
fn notifications_list(args: DataDirArgs) -> Result<()> {
    let settings = offline_settings(args)?;
    let storage = open_storage(&settings, false)?;
    let engine = Engine::open(storage.clone()).context("cannot open the engine")?;
    let notices = engine
        .notices()
        .map_err(|e| anyhow::anyhow!("cannot read the outbox: {e}"))?;
    let mut out = String::new();
    for n in notices {
        let line = serde_json::json!({
            "Id": n.id,
            "TopicArn": n.topic_arn,
            "ConnectionNotificationId": n.notification_id,
            "Event": n.event,
            "Message": n.message,
            "Created": n.created,
            "Attempts": n.attempts,
            "Delivered": n.delivered,
            "Abandoned": n.abandoned,
            "LastError": n.last_error,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    print!("{out}");
    drop(engine);
    storage.close().context("closing storage")?;
    Ok(())
}

fn dns_hosts(args: DataDirArgs) -> Result<()> {
    let settings = offline_settings(args)?;
    let storage = open_storage(&settings, false)?;
    let engine = Engine::open(storage.clone()).context("cannot open the engine")?;
    let view = engine.network_view();
    let mut lines: Vec<(std::net::Ipv4Addr, &str)> = view
        .dns
        .iter()
        .flat_map(|(name, ips)| ips.iter().map(move |ip| (*ip, name.as_str())))
        .collect();
    lines.sort_unstable();
    lines.dedup();
    let mut out = String::new();
    for (ip, name) in lines {
        out.push_str(&format!("{ip} {name}\n"));
    }
    print!("{out}");
    drop(view);
    drop(engine);
    storage.close().context("closing storage")?;
    Ok(())
}

/// Opens the storage the settings name. With SQLite, `create` says whether a missing
/// database file may be created (in a data directory created too); an offline command that
/// only reads refuses instead, since opening would create an empty store.
fn open_storage(settings: &Settings, create: bool) -> Result<Storage> {
    match &settings.storage {
        StorageSetting::Sqlite => {
            let db_path = settings.data_dir.join("cove.sqlite3");
            if create {
                std::fs::create_dir_all(&settings.data_dir).with_context(|| {
                    format!(
                        "cannot create data directory {}",
                        settings.data_dir.display()
                    )
                })?;
            } else if !db_path.exists() {
                anyhow::bail!("no Cove data at {}", db_path.display());
            }
            let backend = SqliteBackend::open(&db_path, SqliteOptions::default())
                .with_context(|| format!("cannot open storage at {}", db_path.display()))?;
            tracing::info!(path = %db_path.display(), "storage: embedded SQLite");
            Ok(Storage::new(backend))
        }
        StorageSetting::Postgres(url) => {
            // The error names host and database at most, never the URL with its password.
            let backend = PostgresBackend::open(url, PostgresOptions::default())
                .context("cannot open PostgreSQL storage")?;
            tracing::info!(
                target = backend.target(),
                schema = %backend.options().schema,
                "storage: PostgreSQL"
            );
            Ok(Storage::new(backend))
        }
    }
}

fn serve(settings: Settings) -> Result<()> {
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "cannot create data directory {}",
            settings.data_dir.display()
        )
    })?;
    let storage = open_storage(&settings, true)?;
    // With several nodes on one database: follow the others' control-plane changes, woken by
    // the database's notifications and looking about twice a second besides, in case one was
    // lost; and sweep only while this node holds the cluster's lease.
    let watch = storage
        .watch()
        .context("cannot watch the shared storage")?
        .map(Arc::new);
    let engine = Arc::new(
        Engine::open_with(
            storage.clone(),
            EngineOptions {
                item_collection_limit_bytes: settings.item_collection_limit_bytes,
                shared: watch.is_some(),
            },
        )
        .context("cannot open the engine")?,
    );

    let auth = if settings.dev {
        AuthMode::Dev
    } else {
        AuthMode::Verify
    };
    if settings.dev {
        tracing::warn!(
            "DEV MODE: any well-formed credentials are accepted as the root principal and signatures are NOT verified; never expose this server"
        );
    } else {
        let root = engine
            .ensure_root_credential(&settings.account_id, settings.root_credentials.clone())
            .context("cannot set up root credentials")?;
        let (creds_path, config_path) = config::write_aws_profile(&settings, &root)?;
        tracing::info!(
            access_key_id = %root.access_key_id,
            "root credentials for account {} are in profile 'cove' of {}",
            settings.account_id,
            creds_path.display()
        );
        tracing::info!(
            "to use them: export AWS_SHARED_CREDENTIALS_FILE={} AWS_CONFIG_FILE={}; aws --profile cove --endpoint-url {} dynamodb list-tables",
            creds_path.display(),
            config_path.display(),
            settings.endpoint_url()
        );
    }

    let stop_sweeper = Arc::new(AtomicBool::new(false));
    let follower = match &watch {
        Some(watch) => Some(follow_other_nodes(
            Arc::clone(&engine),
            Arc::clone(watch),
            Arc::clone(&stop_sweeper),
        )?),
        None => None,
    };

    // Time to live: delete expired items about once a second, off the request path.
    let sweeper = {
        let engine = Arc::clone(&engine);
        let stop = Arc::clone(&stop_sweeper);
        let watch = watch.clone();
        std::thread::Builder::new()
            .name("cove-ttl".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let ours = watch.as_ref().is_none_or(|w| w.holds_lease());
                    let swept = if ours {
                        // On a shared store the lease holder also purges deleted tables.
                        if watch.is_some()
                            && let Err(err) = engine.purge_deleted_tables()
                        {
                            tracing::warn!(%err, "purging deleted tables failed; retrying");
                        }
                        engine.sweep_expired(cove_engine::ttl::now(), 1000)
                    } else {
                        Ok(0)
                    };
                    match swept {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::debug!(deleted = n, "time to live: expired items deleted")
                        }
                        Err(err) => tracing::warn!(%err, "time to live: sweep failed; retrying"),
                    }
                    for _ in 0..10 {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            })
            .context("cannot start the time-to-live sweeper")?
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = Server::bind(
            ServerConfig {
                listen: settings.listen,
                tls: settings.tls.clone(),
                auth,
                default_account: settings.account_id.clone(),
                shutdown_grace: Duration::from_secs(10),
                read_timeout: Duration::from_secs(settings.read_timeout_secs),
                audit_log: settings.audit_log.clone(),
                endpoint_port: settings.endpoint_port,
                endpoint_ca_dir: (!settings.endpoint_http).then(|| settings.data_dir.clone()),
                trusted_proxies: settings.trusted_proxies.clone(),
                notification_webhooks: settings.notification_webhooks.clone(),
                delivery_lease: watch.as_ref().map(|w| {
                    let w = Arc::clone(w);
                    cove_server::Lease(Arc::new(move || w.holds_lease()))
                }),
            },
            Arc::clone(&engine),
        )
        .await?;
        let dns = match settings.dns_listen {
            Some(addr) => Some(DnsServer::bind(addr, Arc::clone(&engine)).await?),
            None => None,
        };
        // One signal stops both: the DNS responder follows the HTTP server's shutdown.
        let (stop_dns, dns_stopped) = tokio::sync::oneshot::channel::<()>();
        let dns_task = match dns {
            Some(dns) => {
                tracing::info!("cove DNS listening on {}", dns.local_addr()?);
                Some(tokio::spawn(dns.run(async {
                    let _ = dns_stopped.await;
                })))
            }
            None => None,
        };
        // Logged last: whoever waits for this line finds every listener up.
        let addr = server.local_addr()?;
        let scheme = if settings.tls.is_some() { "https" } else { "http" };
        if let Some(ca) = server.ca() {
            tracing::info!(
                "interface endpoints serve HTTPS with certificates from Cove's local CA; clients trust it with AWS_CA_BUNDLE={}",
                ca.cert_path().display()
            );
        }
        tracing::info!(data_dir = %settings.data_dir.display(), storage = storage.backend_name(), "cove listening on {scheme}://{addr}");
        server.run(shutdown_signal()).await;
        let _ = stop_dns.send(());
        if let Some(task) = dns_task {
            let _ = task.await;
        }
        anyhow::Ok(())
    })?;
    stop_sweeper.store(true, Ordering::Relaxed);
    let _ = sweeper.join();
    if let Some(follower) = follower {
        let _ = follower.join();
    }
    drop(engine);
    storage.close().context("closing storage")?;
    tracing::info!("storage closed; bye");
    Ok(())
}

/// Starts the thread that keeps this node's control plane in step with the other nodes':
/// [`Engine::refresh`] whenever the watch signals, and every 500 ms in any case.
fn follow_other_nodes(
    engine: Arc<Engine>,
    watch: Arc<cove_storage::Watch>,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("cove-follow".into())
        .spawn(move || {
            let mut failing = false;
            while !stop.load(Ordering::Relaxed) {
                watch.wait(Duration::from_millis(500));
                match engine.refresh() {
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("following other nodes' changes again");
                    }
                    Ok(_) => {}
                    // Said once per outage, not twice a second.
                    Err(err) if !failing => {
                        failing = true;
                        tracing::warn!(%err, "cannot read other nodes' changes; retrying");
                    }
                    Err(_) => {}
                }
            }
        })
        .context("cannot start the thread following other nodes")
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
