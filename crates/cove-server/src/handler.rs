//! One HTTP request through the pipeline: framing checks, body limit, authentication,
//! operation lookup, decode, authorization, engine call, and the response with the headers
//! of the protocol the request spoke (DynamoDB's JSON, or the Query protocol of IAM and STS).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use rand::RngCore;

use cove_wire::{CONTENT_TYPE, MAX_REQUEST_BYTES, Operation};

use crate::Shared;
use crate::auth::authenticate;
use crate::authz::Guard;
use crate::dispatch::{dispatch, runs_inline};
use crate::error::Failure;
use crate::iam;

/// The protocol a request speaks, known from its headers before its body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// DynamoDB's JSON 1.0.
    Json,
    /// The Query protocol, for IAM (`iam`) or STS (`sts`).
    Query(&'static str),
}

const FORM: &str = "application/x-www-form-urlencoded";

fn protocol_of(parts: &http::request::Parts) -> Protocol {
    let media_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim();
    if !media_type.eq_ignore_ascii_case(FORM) {
        return Protocol::Json;
    }
    // The signing scope names the service; it decides which XML namespace errors use even
    // when authentication fails.
    let authorization = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Protocol::Query(if authorization.contains("/sts/aws4_request") {
        "sts"
    } else if authorization.contains("/ec2/aws4_request") {
        "ec2"
    } else if authorization.contains("/elasticloadbalancing/aws4_request") {
        "elasticloadbalancing"
    } else {
        "iam"
    })
}

fn namespace_and_version(service: &str) -> (&'static str, &'static str) {
    if service == "sts" {
        (iam::STS_NAMESPACE, iam::STS_VERSION)
    } else if service == "elasticloadbalancing" {
        (crate::elb::ELB_NAMESPACE, crate::elb::ELB_VERSION)
    } else {
        (iam::IAM_NAMESPACE, iam::IAM_VERSION)
    }
}

/// What the accept loop knows about a connection. These facts, not HTTP headers, decide
/// where a request came from.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub local: Option<SocketAddr>,
    pub tls: bool,
    /// The subnet the peer's address is in, with its routes to DynamoDB; `None` for a peer
    /// outside every subnet (the public path).
    pub subnet: Option<Arc<cove_engine::network::SubnetRoute>>,
    /// The interface endpoint address the connection arrived on, if it did.
    pub interface: Option<Arc<cove_engine::network::InterfaceListener>>,
    /// The trusted proxy the connection came from (`peer` is then the client it named).
    pub proxy: Option<std::net::SocketAddr>,
    /// The VPC endpoint a trusted proxy's header named (AWS's TLV 0xEA).
    pub proxied_endpoint: Option<Arc<cove_engine::network::EndpointPath>>,
}

/// The connection is to be dropped without an answer: its subnet has no route to the
/// endpoint the request was for, as a packet with no route is never answered.
#[derive(Debug)]
pub struct NoRoute;

impl std::fmt::Display for NoRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no route from the source subnet")
    }
}

impl std::error::Error for NoRoute {}

/// A 52-character request id in DynamoDB's alphabet, every character equally likely.
///
/// Random bytes are drawn in one block and mapped to characters, rather than asking the
/// generator for one bounded number per character, which cost a few thousand instructions
/// per request.
fn request_id() -> String {
    const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const LEN: usize = 52;
    // 252 is the largest multiple of 36 that fits in a byte: bytes from 252 up are dropped so
    // that the remainder is uniform.
    const LIMIT: u8 = 252;
    let mut rng = rand::rng();
    let mut id = String::with_capacity(LEN);
    let mut random = [0u8; 64];
    while id.len() < LEN {
        rng.fill_bytes(&mut random);
        for &b in random.iter().filter(|&&b| b < LIMIT).take(LEN - id.len()) {
            id.push(char::from(ALPHABET[usize::from(b % 36)]));
        }
    }
    id
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
) -> Result<Response<Full<Bytes>>, NoRoute> {
    let (parts, body) = req.into_parts();
    let protocol = protocol_of(&parts);
    let request_id = match protocol {
        Protocol::Json => request_id(),
        // IAM and STS use UUIDs.
        Protocol::Query(_) => uuid::Uuid::new_v4().to_string(),
    };
    let outcome = serve(&shared, conn.clone(), protocol, parts, body, &request_id).await;
    Ok(match outcome {
        Err(Failure::NoRoute) => return Err(NoRoute),
        Ok(Reply::Json(body)) => response(StatusCode::OK, CONTENT_TYPE, body, &request_id),
        Ok(Reply::Xml(body)) => response(StatusCode::OK, "text/xml", body, &request_id),
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
        Err(failure) if protocol == Protocol::Query("ec2") => {
            let (status, code, message) = failure.ec2_error();
            tracing::debug!(request_id, peer = %conn.peer, error = %failure, "EC2 request refused");
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>",
                cove_query::escape(code),
                cove_query::escape(&message)
            );
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            response(
                status,
                "text/xml;charset=UTF-8",
                body.into_bytes(),
                &request_id,
            )
        }
        Err(failure) if matches!(protocol, Protocol::Query(_)) => {
            let Protocol::Query(service) = protocol else {
                unreachable!("matched above")
            };
            let (namespace, version) = namespace_and_version(service);
            let (status, sender, code, message) = failure.query_error(version);
            if status >= 500 {
                tracing::error!(request_id, peer = %conn.peer, error = %failure, "request failed");
            } else {
                tracing::debug!(request_id, peer = %conn.peer, error = %failure, "request refused");
            }
            let body = cove_query::error_response(namespace, sender, code, &message, &request_id);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            response(status, "text/xml", body.into_bytes(), &request_id)
        }
        Err(failure) => {
            let rendered = failure.render();
            if rendered.status >= 500 {
                tracing::error!(request_id, peer = %conn.peer, local = ?conn.local, tls = conn.tls, error = %failure, "request failed");
            } else {
                tracing::debug!(request_id, peer = %conn.peer, proxy = ?conn.proxy, local = ?conn.local, tls = conn.tls, error = %failure, "request refused");
            }
            let status =
                StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            response(status, CONTENT_TYPE, rendered.body, &request_id)
        }
    })
}

enum Reply {
    Json(Vec<u8>),
    Xml(Vec<u8>),
    Health,
    NotFound,
}

async fn serve(
    shared: &Arc<Shared>,
    conn: ConnInfo,
    protocol: Protocol,
    parts: http::request::Parts,
    body: Incoming,
    request_id: &str,
) -> Result<Reply, Failure> {
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
    if let Protocol::Query(service) = protocol {
        return serve_query(shared, conn, service, &parts, &body, request_id).await;
    }
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
    if caller.service != "dynamodb" {
        return Err(Failure::Signature(cove_sigv4::SigV4Error::InvalidScope(
            "Credential should be scoped to correct service: 'dynamodb'. ".into(),
        )));
    }

    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let op = Operation::from_target(target).ok_or(Failure::UnknownOperation)?;
    let request = cove_wire::json::parse_body(&body)?;
    let engine = Arc::clone(&shared.engine);
    // Point reads take microseconds and never wait for a disk flush, so they run right here:
    // handing them to another thread would cost more than they do. Everything else can wait
    // on storage (a durable commit, a 1 MB page), so it runs off the async workers.
    let output = if runs_inline(op) {
        dispatch(
            &engine,
            &caller,
            conn,
            shared.audit.as_ref(),
            request_id,
            op,
            &request,
        )?
    } else {
        let audit = shared.audit.clone();
        let request_id = request_id.to_string();
        tokio::task::spawn_blocking(move || {
            dispatch(
                &engine,
                &caller,
                conn,
                audit.as_ref(),
                &request_id,
                op,
                &request,
            )
        })
        .await
        .map_err(|e| Failure::Internal(format!("engine task failed: {e}")))??
    };
    Ok(Reply::Json(output))
}

/// An IAM or STS request: authenticate, read the form, run the action off the async workers
/// (IAM changes are durable writes), and answer in XML.
async fn serve_query(
    shared: &Arc<Shared>,
    conn: ConnInfo,
    service: &'static str,
    parts: &http::request::Parts,
    body: &[u8],
    request_id: &str,
) -> Result<Reply, Failure> {
    // A DynamoDB interface endpoint serves DynamoDB only.
    if conn.interface.is_some() {
        return Err(Failure::UnknownOperation);
    }
    let caller = authenticate(shared, parts, body)?;
    if caller.service != service {
        return Err(Failure::Signature(cove_sigv4::SigV4Error::InvalidScope(
            format!("Credential should be scoped to correct service: '{service}'. "),
        )));
    }
    let params =
        cove_query::Params::parse(body).map_err(|e| Failure::QueryValidation(e.to_string()))?;
    let action = params.get("Action").unwrap_or_default().to_string();
    let engine = Arc::clone(&shared.engine);
    let audit = shared.audit.clone();
    let result = {
        let shared = Arc::clone(shared);
        let action = action.clone();
        let request_id = request_id.to_string();
        tokio::task::spawn_blocking(move || {
            let guard = Guard::new(
                &caller.principal,
                &caller.region,
                &conn,
                audit.as_ref(),
                &request_id,
            );
            if service == "ec2" {
                crate::ec2::ec2(
                    &engine,
                    &guard,
                    &caller.region,
                    conn.local,
                    &shared,
                    &action,
                    &params,
                )
                .map(Some)
            } else if service == "elasticloadbalancing" {
                crate::elb::elb(&engine, &guard, &caller.region, &shared, &action, &params)
            } else if service == "sts" {
                iam::sts(&engine, &guard, &action, &params)
            } else {
                iam::iam(&engine, &guard, &action, &params)
            }
        })
        .await
        .map_err(|e| Failure::Internal(format!("IAM task failed: {e}")))??
    };
    if service == "ec2" {
        let body = result.unwrap_or_default();
        return Ok(Reply::Xml(
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"{}\"><requestId>{request_id}</requestId>{body}</{action}Response>",
                crate::ec2::EC2_NAMESPACE
            )
            .into_bytes(),
        ));
    }
    let (namespace, _) = namespace_and_version(service);
    Ok(Reply::Xml(
        cove_query::response(&action, namespace, result.as_deref(), request_id).into_bytes(),
    ))
}
