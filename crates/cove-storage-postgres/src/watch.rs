//! The watch of a shared schema: one session of its own per [`Backend::watch`] that LISTENs on
//! the schema's channel (signalled batches notify it at their commit) and holds the schema's
//! lease, a session-level advisory lock, which at most one session of the cluster holds at a
//! time and which the server releases when that session ends.
//!
//! The session is remade after any failure, with a growing pause. Each time it (re)starts,
//! the watch is signalled once, because notifications sent while it was down are lost: the
//! caller then rereads what it caches. While the session is down this node holds no lease.
//!
//! [`Backend::watch`]: cove_storage::Backend::watch

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::schema::Sql;

/// How often the session checks that it is alive and tries for the lease it lacks.
const TICK: Duration = Duration::from_millis(500);

/// The longest pause between attempts to remake the session.
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// Keeps a watch session going until the watch is dropped (it holds the other reference to
/// `lease`).
pub(crate) async fn follow(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    sql: Arc<Sql>,
    changes: mpsc::Sender<()>,
    lease: Arc<AtomicBool>,
) {
    let mut pause = Duration::from_millis(100);
    loop {
        let outcome = session(&config, tls.clone(), &sql, &changes, &lease).await;
        lease.store(false, Ordering::Release);
        match outcome {
            // The watch was dropped.
            Ok(()) => return,
            Err(err) => {
                tracing::debug!(%err, "the PostgreSQL watch session ended; remaking it");
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// One session: LISTEN, then tick until the connection fails (an error) or the watch is gone
/// (`Ok`).
async fn session(
    config: &tokio_postgres::Config,
    tls: MakeRustlsConnect,
    sql: &Sql,
    changes: &mpsc::Sender<()>,
    lease: &Arc<AtomicBool>,
) -> Result<(), String> {
    let (client, mut connection) = config.connect(tls).await.map_err(|e| e.to_string())?;
    // The connection is driven here, not by a plain `spawn(connection)`, to see notifications.
    let forward = changes.clone();
    let mut driver = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let AsyncMessage::Notification(_) = message? {
                let _ = forward.send(());
            }
        }
        Ok::<(), tokio_postgres::Error>(())
    });
    let result: Result<Option<String>, tokio_postgres::Error> = async {
        client.batch_execute(&sql.listen).await?;
        // Whatever was notified before the LISTEN took effect is unknown: look again.
        let _ = changes.send(());
        loop {
            if Arc::strong_count(lease) == 1 {
                return Ok(None);
            }
            if lease.load(Ordering::Acquire) {
                // Holding the lease, make sure the session is still there to hold it.
                client.batch_execute("SELECT 1").await?;
            } else {
                let held: bool = client.query_one(&sql.take_lease, &[]).await?.try_get(0)?;
                if held {
                    tracing::info!("this node holds the cluster's lease for background work");
                }
                lease.store(held, Ordering::Release);
            }
            tokio::select! {
                ended = &mut driver => {
                    return Ok(Some(match ended {
                        Ok(Err(err)) => err.to_string(),
                        _ => "the connection closed".to_string(),
                    }));
                }
                () = tokio::time::sleep(TICK) => {}
            }
        }
    }
    .await;
    driver.abort();
    match result {
        Ok(None) => Ok(()),
        Ok(Some(reason)) => Err(reason),
        Err(err) => Err(err.to_string()),
    }
}
