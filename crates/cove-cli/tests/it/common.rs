//! The harness: start `cove serve` on a fresh port and data directory, find the address it
//! logs, build SDK clients for it, and stop it gracefully or with SIGKILL.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};

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

    pub fn start_with(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Cove {
        let mut full: Vec<OsString> = ["--listen", "127.0.0.1:0", "--data-dir"]
            .iter()
            .map(OsString::from)
            .collect();
        full.push(data_dir.as_os_str().to_owned());
        full.extend(args.iter().map(OsString::from));
        Cove::launch(&full, env)
    }

    /// Runs `cove serve` with exactly `args` (no listen or data-dir flags added), so tests of
    /// config files and environment variables see Cove's own precedence.
    pub fn launch(args: &[OsString], env: &[(&str, &str)]) -> Cove {
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
        ] {
            cmd.env_remove(var);
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

/// A fresh temporary data directory.
pub fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}
