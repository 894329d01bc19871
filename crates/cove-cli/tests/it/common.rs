//! The harness: start `cove serve` on a fresh port and data directory, find the address it
//! logs, build SDK clients for it, and stop it gracefully or with SIGKILL.
//!
//! With `COVE_TEST_IT_STORAGE=postgres` (and `COVE_TEST_POSTGRES_URL` naming a database the
//! tests may create databases from), every server started on a data directory gets
//! `--storage` pointing at a fresh PostgreSQL database of its own, the same one for every
//! restart on that directory, so the suites run against the PostgreSQL backend. Servers
//! launched with explicit arguments (the settings tests) keep SQLite.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, KeySchemaElement, KeyType, ScalarAttributeType,
};

pub const ROOT_ACCESS_KEY_ID: &str = "AKIACOVETESTROOT0001";
pub const ROOT_SECRET_ACCESS_KEY: &str = "cove/test/secret/key/0123456789abcdefghij";
pub const REGION: &str = "us-east-1";

/// A running `cove serve` child process.
pub struct Cove {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Cove {
    /// Starts Cove with the test root credentials on `data_dir`.
    pub fn start(data_dir: &Path) -> Cove {
        Cove::start_with(
            data_dir,
            &[],
            &[
                ("COVE_ROOT_ACCESS_KEY_ID", ROOT_ACCESS_KEY_ID),
                ("COVE_ROOT_SECRET_ACCESS_KEY", ROOT_SECRET_ACCESS_KEY),
            ],
        )
    }

    /// Starts Cove with the test root credentials on `data_dir`, storing in the PostgreSQL
    /// database at `storage_url` (which other nodes may share).
    pub fn start_on(data_dir: &Path, storage_url: &str) -> Cove {
        Cove::start_with(
            data_dir,
            &["--storage", storage_url],
            &[
                ("COVE_ROOT_ACCESS_KEY_ID", ROOT_ACCESS_KEY_ID),
                ("COVE_ROOT_SECRET_ACCESS_KEY", ROOT_SECRET_ACCESS_KEY),
            ],
        )
    }

    pub fn start_with(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Cove {
        let mut full: Vec<OsString> = ["--listen", "127.0.0.1:0", "--data-dir"]
            .iter()
            .map(OsString::from)
            .collect();
        full.push(data_dir.as_os_str().to_owned());
        full.extend(args.iter().map(OsString::from));
        Cove::launch_on(&full, env, Some(data_dir))
    }

    /// Runs `cove serve` with exactly `args` (no listen or data-dir flags added), so tests of
    /// config files and environment variables see Cove's own precedence.
    pub fn launch(args: &[OsString], env: &[(&str, &str)]) -> Cove {
        Cove::launch_on(args, env, None)
    }

    fn launch_on(args: &[OsString], env: &[(&str, &str)], data_dir: Option<&Path>) -> Cove {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cove"));
        cmd.arg("serve").args(args);
        for var in [
            "COVE_ROOT_ACCESS_KEY_ID",
            "COVE_ROOT_SECRET_ACCESS_KEY",
            "COVE_DEV",
            "COVE_LISTEN",
            "COVE_DATA_DIR",
            "COVE_CONFIG",
            "COVE_TLS_CERT",
            "COVE_TLS_KEY",
            "COVE_ACCOUNT_ID",
            "COVE_REGION",
            "COVE_DNS_LISTEN",
            "COVE_STORAGE",
        ] {
            cmd.env_remove(var);
        }
        if let Some(dir) = data_dir {
            cmd.envs(storage_env(dir));
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn cove");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let listening = line
                    .split("cove listening on http://")
                    .nth(1)
                    .or_else(|| line.split("cove listening on https://").nth(1));
                let addr =
                    listening.map(|rest| rest.split_whitespace().next().unwrap_or("").to_string());
                // Log first, so a test that reads the log after start-up sees this line.
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
                if let Some(addr) = addr {
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => addr.parse().expect("listen address"),
            Err(_) => {
                let _ = child.kill();
                panic!("cove did not start; log:\n{}", log.lock().unwrap());
            }
        };
        Cove { child, addr, log }
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGKILL: no chance to flush or close anything.
    pub fn kill9(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("wait");
    }

    /// Sends SIGTERM without waiting.
    pub fn send_sigterm(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill -TERM");
        assert!(status.success());
    }

    /// Waits up to ten seconds for the process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("cove did not exit after SIGTERM; log:\n{}", self.log());
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.send_sigterm();
        self.wait_exit()
    }

    pub fn client(&self) -> Client {
        client_for(&self.endpoint(), ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY)
    }
}

impl Drop for Cove {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An SDK client for `endpoint` with the given static key pair.
pub fn client_for(endpoint: &str, access_key_id: &str, secret: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            access_key_id,
            secret,
            None,
            None,
            "cove-tests",
        ))
        .build();
    Client::from_conf(config)
}

/// A string attribute value.
pub fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

/// One element of a key schema.
pub fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .unwrap()
}

/// One attribute definition.
pub fn attr(name: &str, ty: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ty)
        .build()
        .unwrap()
}

/// Creates the on-demand table `name` whose key is the string `pk`.
pub async fn create_hash_table(client: &Client, name: &str) {
    client
        .create_table()
        .table_name(name)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .key_schema(key("pk", KeyType::Hash))
        .send()
        .await
        .unwrap();
}

/// A fresh temporary data directory.
pub fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// The environment that points a `cove` command at the storage of `data_dir`: nothing (the
/// SQLite file inside it) normally, or `COVE_STORAGE` with the PostgreSQL database made for it
/// when the suites run on PostgreSQL.
pub fn storage_env(data_dir: &Path) -> Vec<(&'static str, String)> {
    match postgres_database_for(data_dir) {
        Some(url) => vec![("COVE_STORAGE", url)],
        None => Vec::new(),
    }
}

/// The base URL when the suites run on PostgreSQL, else `None`.
fn postgres_base_url() -> Option<String> {
    match std::env::var("COVE_TEST_IT_STORAGE").as_deref() {
        Ok("postgres") => {
            Some(std::env::var("COVE_TEST_POSTGRES_URL").expect(
                "COVE_TEST_IT_STORAGE=postgres needs COVE_TEST_POSTGRES_URL, a database URL",
            ))
        }
        Ok("") | Ok("sqlite") | Err(_) => None,
        Ok(other) => panic!("COVE_TEST_IT_STORAGE must be sqlite or postgres, not {other:?}"),
    }
}

/// The URL of the database made for `data_dir` (created on first use), when the suites run
/// on PostgreSQL.
fn postgres_database_for(data_dir: &Path) -> Option<String> {
    static DATABASES: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);
    let base = postgres_base_url()?;
    let mut databases = DATABASES.lock().unwrap_or_else(|e| e.into_inner());
    let databases = databases.get_or_insert_with(HashMap::new);
    if let Some(url) = databases.get(data_dir) {
        return Some(url.clone());
    }
    let url = new_database(&base);
    databases.insert(data_dir.to_path_buf(), url.clone());
    Some(url)
}

/// A fresh PostgreSQL database for several nodes to share (whatever storage the suites run
/// on), made from `COVE_TEST_POSTGRES_URL`; `None`, after saying on stderr that the calling
/// test is skipped, when that variable is not set.
pub fn shared_database() -> Option<String> {
    match std::env::var("COVE_TEST_POSTGRES_URL") {
        Ok(base) if !base.is_empty() => Some(new_database(&base)),
        _ => {
            eprintln!(
                "SKIPPED: COVE_TEST_POSTGRES_URL is not set, so this multi-node test did not run \
                 (set it to e.g. postgres://postgres@127.0.0.1:5432/postgres)"
            );
            None
        }
    }
}

/// Creates a database and returns its URL. Databases are named after this test process, so a
/// later run drops the ones that earlier runs left behind (the first call here does).
fn new_database(base: &str) -> String {
    static NEXT: Mutex<Option<usize>> = Mutex::new(None);
    let mut next = NEXT.lock().unwrap_or_else(|e| e.into_inner());
    let n = next.get_or_insert_with(|| {
        drop_stale_databases(base);
        0
    });
    let name = format!("cove_it_{}_{n}", std::process::id());
    *n += 1;
    postgres_admin(base, &[format!("CREATE DATABASE {name}")]);
    with_database(base, &name)
}

/// `base` with its database replaced by `name`.
fn with_database(base: &str, name: &str) -> String {
    let (without_query, query) = match base.split_once('?') {
        Some((url, query)) => (url, format!("?{query}")),
        None => (base, String::new()),
    };
    let after_scheme = without_query.find("://").map_or(0, |i| i + 3);
    let root = match without_query[after_scheme..].find('/') {
        Some(slash) => &without_query[..after_scheme + slash],
        None => without_query,
    };
    format!("{root}/{name}{query}")
}

/// Drops the databases of earlier test processes that are no longer running.
fn drop_stale_databases(base: &str) {
    let names = postgres_admin(
        base,
        &["SELECT datname FROM pg_database WHERE datname LIKE 'cove\\_it\\_%'".to_string()],
    );
    let stale: Vec<String> = names
        .into_iter()
        .filter(|name| {
            let pid = name.split('_').nth(2).unwrap_or("");
            !Path::new("/proc").join(pid).exists() || pid == std::process::id().to_string()
        })
        .map(|name| format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .collect();
    if !stale.is_empty() {
        postgres_admin(base, &stale);
    }
}

/// Runs each statement on a connection of its own thread and runtime (the tests' own runtime
/// may be the caller's), returning the first column of every row as text.
pub fn postgres_admin(base: &str, statements: &[String]) -> Vec<String> {
    let (base, statements) = (base.to_string(), statements.to_vec());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
                .await
                .expect("connect to COVE_TEST_POSTGRES_URL");
            let driver = tokio::spawn(connection);
            let mut out = Vec::new();
            for statement in &statements {
                let messages = client
                    .simple_query(statement)
                    .await
                    .unwrap_or_else(|e| panic!("{statement}: {e:?}"));
                for message in messages {
                    if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
                        out.push(row.get(0).unwrap_or_default().to_string());
                    }
                }
            }
            drop(client);
            let _ = driver.await;
            out
        })
    })
    .join()
    .expect("PostgreSQL admin thread")
}
