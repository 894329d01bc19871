//! Delivery of PrivateLink connection notifications. AWS publishes them to an SNS topic; Cove
//! has no SNS, so the operator names a webhook (HTTP or HTTPS URL) per topic ARN
//! (`--notification-webhook ARN=URL`), and Cove POSTs each notice there as SNS's HTTP
//! subscriptions receive it: the JSON envelope (`Type: Notification`, `MessageId`,
//! `TopicArn`, `Subject`, `Message`, `Timestamp`) with the `x-amz-sns-*` headers. The notices
//! come from the engine's outbox, written in the same transaction as the change that caused
//! them, so none is lost to a crash; a failed delivery is retried with backoff, and each
//! notice's fate is kept for `cove notifications`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::net::TcpStream;

use cove_engine::Engine;
use cove_engine::services::Notice;

/// Attempts before a notice is given up.
const MAX_ATTEMPTS: u32 = 8;

/// How long one delivery may take, connection included.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The subject SNS gives these messages.
pub const SUBJECT: &str = "VPC Endpoint Connection Notification";

/// The wait before attempt `n + 1` after `n` failed: 1 s, 2 s, 4 s, … up to a minute.
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(6)).min(Duration::from_secs(60))
}

/// The SNS HTTP envelope of one notice.
pub fn envelope(notice: &Notice) -> String {
    serde_json::json!({
        "Type": "Notification",
        "MessageId": message_id(notice),
        "TopicArn": notice.topic_arn,
        "Subject": SUBJECT,
        "Message": notice.message,
        "Timestamp": format!("{}.000Z", cove_query::iso8601(notice.created).trim_end_matches('Z')),
    })
    .to_string()
}

/// A stable UUID-shaped id per notice, so a retried delivery carries the same MessageId and
/// a receiver can drop duplicates.
fn message_id(notice: &Notice) -> String {
    let hex: String = notice
        .id
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .map(|b| b as char)
        .chain(std::iter::repeat('0'))
        .take(32)
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Delivers the outbox forever: whenever notices are queued here, when a retry is due, and
/// every two seconds besides (notices queued by other nodes on a shared store). With a
/// `lease`, only while this node holds it, so each notice goes out from one node.
pub(crate) async fn deliver_forever(
    engine: Arc<Engine>,
    webhooks: Vec<(String, String)>,
    lease: Option<crate::Lease>,
) {
    let mut due: HashMap<String, Instant> = HashMap::new();
    let mut seen_generation = u64::MAX;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut ticks: u32 = 0;
    loop {
        tick.tick().await;
        ticks = ticks.wrapping_add(1);
        if lease.as_ref().is_some_and(|l| !(l.0)()) {
            continue;
        }
        let generation = engine.outbox_generation();
        let now = Instant::now();
        let retry_due = due.values().any(|t| *t <= now);
        let periodic = lease.is_some() && ticks.is_multiple_of(10);
        if generation == seen_generation && !retry_due && !periodic {
            continue;
        }
        seen_generation = generation;
        let pending = {
            let engine = Arc::clone(&engine);
            match tokio::task::spawn_blocking(move || engine.notices()).await {
                Ok(Ok(all)) => all,
                Ok(Err(err)) => {
                    tracing::warn!(%err, "cannot read the notification outbox");
                    continue;
                }
                Err(_) => continue,
            }
        };
        for mut notice in pending
            .into_iter()
            .filter(|n| n.delivered.is_none() && n.abandoned.is_none())
        {
            if due.get(&notice.id).is_some_and(|t| *t > now) {
                continue;
            }
            let epoch = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let Some((_, url)) = webhooks.iter().find(|(arn, _)| *arn == notice.topic_arn) else {
                // Nowhere to send it: it is kept, listed by `cove notifications list`, among
                // the finished notices (so the outbox stays bounded).
                notice.last_error = Some("no webhook is configured for this topic".into());
                notice.abandoned = Some(epoch);
                record(&engine, notice).await;
                continue;
            };
            notice.attempts += 1;
            match tokio::time::timeout(DELIVERY_TIMEOUT, post(url, &notice)).await {
                Ok(Ok(())) => {
                    notice.delivered = Some(epoch);
                    notice.last_error = None;
                    due.remove(&notice.id);
                }
                outcome => {
                    let why = match outcome {
                        Ok(Err(err)) => err,
                        _ => "timed out".to_string(),
                    };
                    tracing::warn!(url, id = %notice.id, attempts = notice.attempts, why, "notification delivery failed");
                    notice.last_error = Some(why);
                    if notice.attempts >= MAX_ATTEMPTS {
                        notice.abandoned = Some(epoch);
                        due.remove(&notice.id);
                    } else {
                        due.insert(notice.id.clone(), now + backoff(notice.attempts));
                    }
                }
            }
            record(&engine, notice).await;
        }
    }
}

async fn record(engine: &Arc<Engine>, notice: Notice) {
    let engine = Arc::clone(engine);
    let result = tokio::task::spawn_blocking(move || engine.record_notice(&notice)).await;
    if let Ok(Err(err)) = result {
        tracing::warn!(%err, "cannot record a notification's delivery");
    }
}

/// One POST of a notice's envelope; success is any 2xx answer.
async fn post(url: &str, notice: &Notice) -> Result<(), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("bad webhook URL: {e}"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err("the webhook URL must be http:// or https://".into()),
    };
    let host = uri.host().ok_or("the webhook URL has no host")?.to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri
        .path_and_query()
        .map_or("/".to_string(), |p| p.as_str().to_string());
    let body = envelope(notice);
    let request = http::Request::post(path)
        .header(
            "host",
            uri.authority().map_or(host.as_str(), |a| a.as_str()),
        )
        .header("content-type", "text/plain; charset=UTF-8")
        .header("x-amz-sns-message-type", "Notification")
        .header("x-amz-sns-message-id", message_id(notice))
        .header("x-amz-sns-topic-arn", &notice.topic_arn)
        .header("user-agent", "Amazon Simple Notification Service Agent")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let stream = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let status = if https {
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| format!("bad webhook host: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(client_config()?)
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS with {host}: {e}"))?;
        send(tls, request).await?
    } else {
        send(stream, request).await?
    };
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the webhook answered {status}"))
    }
}

/// The TLS client settings for HTTPS webhooks, with the system's trust roots, read once.
fn client_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: std::sync::OnceLock<Result<Arc<rustls::ClientConfig>, String>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

async fn send<S>(stream: S, request: http::Request<Full<Bytes>>) -> Result<http::StatusCode, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    // The answer's body is read (and dropped) so the connection ends cleanly.
    let _ = response.into_body().collect().await;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice {
            id: "0000018c2b3a4d5e-0a1b2c3d".into(),
            topic_arn: "arn:aws:sns:us-east-2:111122223333:vpce".into(),
            notification_id: "vpce-nfn-0123456789abcdef0".into(),
            event: "Connect".into(),
            message: r#"{"EventType":"Connect"}"#.into(),
            created: 1_700_000_000,
            attempts: 0,
            delivered: None,
            last_error: None,
            abandoned: None,
        }
    }

    #[test]
    fn the_envelope_is_sns_shaped_and_its_id_stable() {
        let n = notice();
        let v: serde_json::Value = serde_json::from_str(&envelope(&n)).unwrap();
        assert_eq!(v["Type"], "Notification");
        assert_eq!(v["TopicArn"], "arn:aws:sns:us-east-2:111122223333:vpce");
        assert_eq!(v["Subject"], SUBJECT);
        assert_eq!(v["Message"], r#"{"EventType":"Connect"}"#);
        assert_eq!(v["Timestamp"], "2023-11-14T22:13:20.000Z");
        assert_eq!(v["MessageId"], "0000018c-2b3a-4d5e-0a1b-2c3d00000000");
        assert_eq!(message_id(&n), message_id(&n.clone()));
    }

    #[test]
    fn retries_back_off_up_to_a_minute() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(7), Duration::from_secs(60));
    }
}
