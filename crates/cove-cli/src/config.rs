//! Settings for `cove serve`: flags and `COVE_*` variables (through clap), a TOML file, and
//! defaults, merged in that order of precedence; and the AWS profile files Cove writes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Deserialize;

use cove_engine::Credential;

const DEFAULT_LISTEN: &str = "127.0.0.1:8000";
const DEFAULT_DATA_DIR: &str = "./cove-data";
const DEFAULT_ACCOUNT: &str = "000000000000";
const DEFAULT_REGION: &str = "us-east-1";

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8000].
    #[arg(long, env = "COVE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Where data lives [default: ./cove-data].
    #[arg(long, env = "COVE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where tables and accounts are stored: `sqlite` (the embedded database in the data
    /// directory) or a PostgreSQL URL, postgres://user[:password]@host[:port]/database, which
    /// several Cove nodes may share; `?sslmode=require` (or `prefer`) for TLS to it
    /// [default: sqlite].
    #[arg(long, env = "COVE_STORAGE")]
    pub storage: Option<String>,
    /// A TOML file with any of: listen, data_dir, storage, tls_cert, tls_key, account_id,
    /// region, dev, item_collection_limit_bytes, read_timeout_secs, audit_log, endpoint_port,
    /// endpoint_http, trusted_proxies, dns_listen, notification_webhooks (a table of topic
    /// ARN = URL).
    #[arg(long, env = "COVE_CONFIG")]
    pub config: Option<PathBuf>,
    /// PEM certificate chain; serves HTTPS together with --tls-key.
    #[arg(long, env = "COVE_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "COVE_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// The 12-digit account the root credentials belong to [default: 000000000000].
    #[arg(long, env = "COVE_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// Region written into the generated AWS profile [default: us-east-1].
    #[arg(long, env = "COVE_REGION")]
    pub region: Option<String>,
    /// Development mode: accept any well-formed credentials without checking signatures.
    #[arg(long, env = "COVE_DEV")]
    pub dev: bool,
    /// The item-collection size limit of tables with local secondary indexes, in bytes
    /// [default: 10737418240, DynamoDB's 10 GB]. Lower it to test how an application
    /// handles ItemCollectionSizeLimitExceededException.
    #[arg(long, env = "COVE_ITEM_COLLECTION_LIMIT_BYTES")]
    pub item_collection_limit_bytes: Option<u64>,
    /// Seconds a client may take to send a request's headers, then its body, or stay silent
    /// on an open connection [default: 60].
    #[arg(long, env = "COVE_READ_TIMEOUT_SECS")]
    pub read_timeout_secs: Option<u64>,
    /// Append one JSON line per authorization decision to this file [default: no audit log].
    #[arg(long, env = "COVE_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,
    /// The port interface VPC endpoints listen on at each of their addresses [default: 443,
    /// as AWS].
    #[arg(long, env = "COVE_ENDPOINT_PORT")]
    pub endpoint_port: Option<u16>,
    /// Serve plain HTTP on interface VPC endpoints instead of HTTPS with certificates from
    /// Cove's local CA (<data-dir>/ca.pem).
    #[arg(long, env = "COVE_ENDPOINT_HTTP")]
    pub endpoint_http: bool,
    /// A proxy (address or CIDR) allowed to send Proxy Protocol v1/v2 headers, on the regional
    /// listener and on interface endpoints' listeners; connections from it must start with one.
    /// Repeatable [default: none, off].
    #[arg(
        long = "trusted-proxy",
        env = "COVE_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,
    /// Answer DNS (UDP and TCP) on this address for interface VPC endpoints' names under
    /// vpce.amazonaws.com [default: off].
    #[arg(long, env = "COVE_DNS_LISTEN")]
    pub dns_listen: Option<SocketAddr>,
    /// Where PrivateLink connection notifications for an SNS topic go: TOPIC_ARN=URL, an
    /// http:// or https:// webhook that receives SNS's HTTP notification messages.
    /// Repeatable [default: none; notices are only listed by `cove notifications list`].
    #[arg(
        long = "notification-webhook",
        env = "COVE_NOTIFICATION_WEBHOOKS",
        value_delimiter = ','
    )]
    pub notification_webhooks: Vec<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    storage: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    account_id: Option<String>,
    region: Option<String>,
    dev: Option<bool>,
    item_collection_limit_bytes: Option<u64>,
    read_timeout_secs: Option<u64>,
    audit_log: Option<PathBuf>,
    endpoint_port: Option<u16>,
    endpoint_http: Option<bool>,
    trusted_proxies: Option<Vec<String>>,
    dns_listen: Option<SocketAddr>,
    notification_webhooks: Option<std::collections::BTreeMap<String, String>>,
}

/// Where Cove keeps its data.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageSetting {
    /// The embedded SQLite database, `cove.sqlite3` in the data directory.
    Sqlite,
    /// A PostgreSQL database, by URL (which may hold a password, so it is never logged).
    Postgres(String),
}

impl StorageSetting {
    fn parse(text: &str) -> Result<StorageSetting> {
        if text == "sqlite" {
            Ok(StorageSetting::Sqlite)
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Ok(StorageSetting::Postgres(text.to_string()))
        } else {
            // The text may be a mistyped URL with a password in it: do not repeat it.
            bail!("--storage takes `sqlite` or a postgres:// URL")
        }
    }
}

impl std::fmt::Debug for StorageSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageSetting::Sqlite => f.write_str("Sqlite"),
            StorageSetting::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub storage: StorageSetting,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub account_id: String,
    pub region: String,
    pub dev: bool,
    pub root_credentials: Option<(String, String)>,
    pub item_collection_limit_bytes: u64,
    pub read_timeout_secs: u64,
    pub audit_log: Option<PathBuf>,
    pub endpoint_port: u16,
    /// Plain HTTP on interface endpoints (else HTTPS from the local CA).
    pub endpoint_http: bool,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Where the DNS responder listens; off when `None`.
    pub dns_listen: Option<SocketAddr>,
    /// (SNS topic ARN, webhook URL) pairs for connection notifications.
    pub notification_webhooks: Vec<(String, String)>,
}

impl Settings {
    pub fn resolve(args: ServeArgs) -> Result<Settings> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                toml::from_str::<FileSettings>(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => FileSettings::default(),
        };
        let listen = match args.listen.or(file.listen) {
            Some(addr) => addr,
            None => DEFAULT_LISTEN.parse()?,
        };
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let storage = match args.storage.or(file.storage) {
            Some(text) => StorageSetting::parse(&text)?,
            None => StorageSetting::Sqlite,
        };
        let tls = match (
            args.tls_cert.or(file.tls_cert),
            args.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => bail!("--tls-cert and --tls-key go together"),
        };
        let account_id = args
            .account_id
            .or(file.account_id)
            .unwrap_or_else(|| DEFAULT_ACCOUNT.to_string());
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            bail!("account id must be 12 digits, got {account_id:?}");
        }
        let region = args
            .region
            .or(file.region)
            .unwrap_or_else(|| DEFAULT_REGION.to_string());
        let root_credentials = match (
            std::env::var("COVE_ROOT_ACCESS_KEY_ID"),
            std::env::var("COVE_ROOT_SECRET_ACCESS_KEY"),
        ) {
            (Ok(id), Ok(secret)) if !id.is_empty() && !secret.is_empty() => Some((id, secret)),
            (Err(_), Err(_)) => None,
            _ => bail!("COVE_ROOT_ACCESS_KEY_ID and COVE_ROOT_SECRET_ACCESS_KEY go together"),
        };
        let proxies = if args.trusted_proxies.is_empty() {
            file.trusted_proxies.unwrap_or_default()
        } else {
            args.trusted_proxies
        };
        let mut trusted_proxies = Vec::with_capacity(proxies.len());
        for text in proxies {
            let net = match text.parse::<ipnet::IpNet>() {
                Ok(net) => net,
                Err(_) => match text.parse::<std::net::IpAddr>() {
                    Ok(ip) => ipnet::IpNet::from(ip),
                    Err(_) => bail!("--trusted-proxy takes an address or CIDR, got {text:?}"),
                },
            };
            trusted_proxies.push(net);
        }
        let notification_webhooks = if args.notification_webhooks.is_empty() {
            file.notification_webhooks
                .unwrap_or_default()
                .into_iter()
                .collect()
        } else {
            let mut pairs = Vec::new();
            for text in &args.notification_webhooks {
                let Some((arn, url)) = text.split_once('=') else {
                    bail!("--notification-webhook takes TOPIC_ARN=URL, got {text:?}");
                };
                pairs.push((arn.to_string(), url.to_string()));
            }
            pairs
        };
        for (arn, url) in &notification_webhooks {
            if !arn.starts_with("arn:aws:sns:") {
                bail!("a notification webhook's topic must be an SNS topic ARN, got {arn:?}");
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("a notification webhook must be an http:// or https:// URL, got {url:?}");
            }
        }
        Ok(Settings {
            listen,
            data_dir,
            storage,
            tls,
            account_id,
            region,
            dev: args.dev || file.dev.unwrap_or(false),
            root_credentials,
            item_collection_limit_bytes: args
                .item_collection_limit_bytes
                .or(file.item_collection_limit_bytes)
                .unwrap_or(cove_engine::DEFAULT_ITEM_COLLECTION_LIMIT),
            read_timeout_secs: args
                .read_timeout_secs
                .or(file.read_timeout_secs)
                .unwrap_or(60)
                .max(1),
            audit_log: args.audit_log.or(file.audit_log),
            endpoint_port: args.endpoint_port.or(file.endpoint_port).unwrap_or(443),
            endpoint_http: args.endpoint_http || file.endpoint_http.unwrap_or(false),
            trusted_proxies,
            dns_listen: args.dns_listen.or(file.dns_listen),
            notification_webhooks,
        })
    }

    /// The URL clients pass as `--endpoint-url`.
    pub fn endpoint_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.listen)
    }
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Writes an AWS shared-credentials file and config file, profile `cove`, into the data
/// directory (never into the user's own ~/.aws), and returns their paths.
pub fn write_aws_profile(settings: &Settings, root: &Credential) -> Result<(PathBuf, PathBuf)> {
    let creds = settings.data_dir.join("aws-credentials");
    let config = settings.data_dir.join("aws-config");
    write_private(
        &creds,
        &format!(
            "[cove]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            root.access_key_id, root.secret_access_key
        ),
    )?;
    write_private(
        &config,
        &format!(
            "[profile cove]\nregion = {}\noutput = json\n",
            settings.region
        ),
    )?;
    Ok((
        std::fs::canonicalize(&creds)?,
        std::fs::canonicalize(&config)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_is_sqlite_or_a_postgres_url() {
        assert!(StorageSetting::parse("sqlite").unwrap() == StorageSetting::Sqlite);
        for url in [
            "postgres://u@h/db",
            "postgresql://u:p@h:5433/db?sslmode=disable",
        ] {
            assert!(StorageSetting::parse(url).unwrap() == StorageSetting::Postgres(url.into()));
        }
        let refused = StorageSetting::parse("mysql://u:secret@h/db").unwrap_err();
        assert!(!refused.to_string().contains("secret"), "{refused}");
        // The Debug form, which settings logs may show, hides the URL and its password.
        let shown = format!(
            "{:?}",
            StorageSetting::Postgres("postgres://u:secret@h/db".into())
        );
        assert!(!shown.contains("secret"), "{shown}");
    }
}
