//! One HTTP request through the pipeline: framing checks, body limit, authentication,
//! operation lookup, decode, engine call, and the response with DynamoDB's headers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use rand::Rng;

use cove_wire::{CONTENT_TYPE, MAX_REQUEST_BYTES, Operation};

use crate::Shared;
use crate::auth::authenticate;
use crate::dispatch::{dispatch, runs_inline};
use crate::error::Failure;

/// What the accept loop knows about a connection. These facts, not HTTP headers, decide
/// where a request came from.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub local: Option<SocketAddr>,
    pub tls: bool,
}

/// A 52-character request id in DynamoDB's alphabet.
fn request_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..52)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn response(
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
    request_id: &str,
) -> Response<Full<Bytes>> {
    let crc = cove_wire::crc32(&body);
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    headers.insert("x-amz-crc32", HeaderValue::from(crc));
    resp
}

/// Entry point for every request on every connection.
pub async fn handle(
    shared: Arc<Shared>,
    conn: ConnInfo,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let request_id = request_id();
    let outcome = serve(&shared, conn, req).await;
    Ok(match outcome {
        Ok(Reply::Json(body)) => response(StatusCode::OK, CONTENT_TYPE, body, &request_id),
        Ok(Reply::Health) => response(
            StatusCode::OK,
            "text/plain",
            b"healthy: cove ".to_vec(),
            &request_id,
        ),
        Ok(Reply::NotFound) => {
            // DynamoDB's front end answers requests that are not API calls this way.
            response(
                StatusCode::NOT_FOUND,
                "application/xml",
                b"<UnknownOperationException/>\n".to_vec(),
                &request_id,
            )
        }
        Err(failure) => {
            let rendered = failure.render();
            if rendered.status >= 500 {
                tracing::error!(request_id, peer = %conn.peer, local = ?conn.local, tls = conn.tls, error = %failure, "request failed");
            } else {
                tracing::debug!(request_id, peer = %conn.peer, local = ?conn.local, tls = conn.tls, error = %failure, "request refused");
            }
            let status =
                StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            response(status, CONTENT_TYPE, rendered.body, &request_id)
        }
    })
}

enum Reply {
    Json(Vec<u8>),
    Health,
    NotFound,
}

async fn serve(
    shared: &Arc<Shared>,
    conn: ConnInfo,
    req: Request<Incoming>,
) -> Result<Reply, Failure> {
    let (parts, body) = req.into_parts();
    if parts.method == Method::GET && parts.uri.path() == "/" {
        return Ok(Reply::Health);
    }
    if parts.method != Method::POST {
        return Ok(Reply::NotFound);
    }
    // Refuse an announced oversized body before reading any of it.
    let announced = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|len| len > MAX_REQUEST_BYTES as u64) {
        return Err(Failure::BodyTooLarge);
    }
    // A body that trickles in slower than the read timeout allows is abandoned.
    let collected = tokio::time::timeout(
        shared.config.read_timeout,
        Limited::new(body, MAX_REQUEST_BYTES).collect(),
    )
    .await
    .map_err(|_| Failure::BodyRead("the request body did not arrive in time".into()))?;
    let body = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            if err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return Err(Failure::BodyTooLarge);
            }
            return Err(Failure::BodyRead(err.to_string()));
        }
    };
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !body.is_empty() && media_type != CONTENT_TYPE && media_type != "application/json" {
        return Ok(Reply::NotFound);
    }

    // Authentication comes before anything about the operation is revealed.
    let caller = authenticate(shared, &parts, &body)?;

    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let op = Operation::from_target(target).ok_or(Failure::UnknownOperation)?;
    let request = cove_wire::json::parse_body(&body)?;
    let engine = Arc::clone(&shared.engine);
    let local = conn.local;
    // Point reads take microseconds and never wait for a disk flush, so they run right here:
    // handing them to another thread would cost more than they do. Everything else can wait
    // on storage (a durable commit, a 1 MB page), so it runs off the async workers.
    let output = if runs_inline(op) {
        dispatch(&engine, &caller, local, op, &request)?
    } else {
        tokio::task::spawn_blocking(move || dispatch(&engine, &caller, local, op, &request))
            .await
            .map_err(|e| Failure::Internal(format!("engine task failed: {e}")))??
    };
    Ok(Reply::Json(
        serde_json::to_vec(&output).map_err(|e| Failure::Internal(e.to_string()))?,
    ))
}
