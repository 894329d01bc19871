//! The audit log: one JSON line per authorization decision (time, request id, principal,
//! action, resource, source address, endpoint, decision and the deciding policy and
//! statement), appended to a file configured at start. Lines go through a channel to one
//! writer thread, so a request never waits on the file; secrets never reach it (it is
//! given names and ARNs, never keys, tokens or signatures).

use std::io::Write;
use std::path::Path;
use std::sync::mpsc;

use serde_json::{Value, json};

/// A handle to the writer thread. Dropping every handle ends the thread after it has
/// written what it was sent.
#[derive(Debug, Clone)]
pub struct AuditLog {
    sender: mpsc::Sender<String>,
}

/// One decision, as the log records it.
pub struct Entry<'a> {
    pub request_id: &'a str,
    pub principal: &'a str,
    pub account: &'a str,
    pub action: &'a str,
    pub resource: &'a str,
    pub source: std::net::SocketAddr,
    pub endpoint: Option<&'a str>,
    pub allowed: bool,
    /// `Allow`, `ExplicitDeny`, `ImplicitDeny`, or `RootAllow` (the root user in its own
    /// account, where no policy had anything to say).
    pub decision: &'a str,
    pub policy_type: Option<&'a str>,
    pub policy: Option<&'a str>,
    pub statement: Option<usize>,
    pub sid: Option<&'a str>,
}

impl AuditLog {
    /// Opens (appending) or creates `path` and starts the writer.
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let (sender, receiver) = mpsc::channel::<String>();
        std::thread::Builder::new()
            .name("cove-audit".into())
            .spawn(move || {
                let mut out = std::io::BufWriter::new(file);
                while let Ok(line) = receiver.recv() {
                    let mut ok = writeln!(out, "{line}").is_ok();
                    // Write what has queued up, then flush once: one write per burst.
                    while let Ok(line) = receiver.try_recv() {
                        ok &= writeln!(out, "{line}").is_ok();
                    }
                    ok &= out.flush().is_ok();
                    if !ok {
                        tracing::error!("writing the audit log failed");
                    }
                }
            })?;
        Ok(AuditLog { sender })
    }

    pub fn record(&self, entry: &Entry<'_>) {
        let time = jiff::Timestamp::now();
        let mut line = json!({
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "requestId": entry.request_id,
            "principal": entry.principal,
            "account": entry.account,
            "action": entry.action,
            "resource": entry.resource,
            "sourceIp": entry.source.ip().to_string(),
            "sourcePort": entry.source.port(),
            "decision": entry.decision,
            "allowed": entry.allowed,
        });
        if let Value::Object(o) = &mut line {
            if let Some(e) = entry.endpoint {
                o.insert("vpcEndpoint".into(), json!(e));
            }
            if let Some(t) = entry.policy_type {
                o.insert("policyType".into(), json!(t));
            }
            if let Some(p) = entry.policy {
                o.insert("policy".into(), json!(p));
            }
            if let Some(i) = entry.statement {
                o.insert("statement".into(), json!(i));
            }
            if let Some(s) = entry.sid {
                o.insert("sid".into(), json!(s));
            }
        }
        // The writer only stops when every handle is gone, so a send cannot fail while
        // requests run.
        let _ = self.sender.send(line.to_string());
    }
}
