//! Raw HTTP against the server, for what SDKs hide: signature failures, wire error bodies,
//! framing limits, content types, and the x-amz-crc32 header on every response.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::config::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

use crate::common::{Cove, REGION, ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY, data_dir};

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Sends raw bytes and reads one response (Content-Length framed).
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Reply {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    exchange_on(stream, request)
}

/// Sends raw bytes on an open stream (plain or TLS) and reads one response.
pub fn exchange_on(mut stream: impl Read + Write, request: &[u8]) -> Reply {
    // The server may answer and close before reading an oversized body; ignore write errors.
    let _ = stream.write_all(request);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let mut lines = head.split("\r\n");
            let status: u16 = lines
                .next()
                .unwrap()
                .split(' ')
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| {
                    l.split_once(':')
                        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                })
                .collect();
            let len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse().unwrap())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = stream.read(&mut chunk).unwrap();
                assert!(n > 0, "connection closed mid-body");
                buf.extend_from_slice(&chunk[..n]);
            }
            return Reply {
                status,
                headers,
                body: buf[end + 4..end + 4 + len].to_vec(),
            };
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "connection closed before a response: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Builds a SigV4-signed DynamoDB request with AWS's own signer.
pub fn signed(
    addr: SocketAddr,
    op: &str,
    body: &str,
    secret: &str,
    time: SystemTime,
    content_type: &str,
) -> Vec<u8> {
    let target = format!("DynamoDB_20120810.{op}");
    let headers = [
        ("content-type", content_type),
        ("x-amz-target", target.as_str()),
    ];
    let key = (ROOT_ACCESS_KEY_ID, secret);
    signed_for(addr, "dynamodb", &headers, body, key, time)
}

/// Builds a POST to `/` signed by `key` (id, secret) for `service`, with AWS's own signer.
pub fn signed_for(
    addr: SocketAddr,
    service: &str,
    headers: &[(&str, &str)],
    body: &str,
    key: (&str, &str),
    time: SystemTime,
) -> Vec<u8> {
    let host = addr.to_string();
    let mut headers = headers.to_vec();
    headers.insert(0, ("host", host.as_str()));
    let identity = Credentials::new(key.0, key.1, None, None, "raw").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        format!("http://{host}/"),
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut out = "POST / HTTP/1.1\r\n".to_string();
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    for (k, v) in instructions.headers() {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    out.into_bytes()
}

pub fn ok_request(addr: SocketAddr, op: &str, body: &str) -> Vec<u8> {
    signed(
        addr,
        op,
        body,
        ROOT_SECRET_ACCESS_KEY,
        SystemTime::now(),
        "application/x-amz-json-1.0",
    )
}

/// Checks the headers DynamoDB sends on every response, including errors.
fn assert_dynamodb_headers(reply: &Reply) {
    let crc: u32 = reply
        .header("x-amz-crc32")
        .expect("x-amz-crc32")
        .parse()
        .unwrap();
    assert_eq!(
        crc,
        crc32fast::hash(&reply.body),
        "x-amz-crc32 covers the body"
    );
    assert_eq!(
        reply.header("x-amzn-RequestId").expect("request id").len(),
        52
    );
}

fn assert_error(reply: &Reply, code: &str, message: Option<&str>) {
    assert_eq!(
        reply.status,
        400,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_dynamodb_headers(reply);
    let body = reply.json();
    assert_eq!(
        body["__type"].as_str().unwrap().rsplit('#').next(),
        Some(code),
        "{body}"
    );
    if let Some(message) = message {
        let got = body
            .get("message")
            .or_else(|| body.get("Message"))
            .and_then(|m| m.as_str());
        assert_eq!(got, Some(message), "{body}");
    }
}

#[test]
fn signed_requests_succeed_with_checksummed_responses() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let reply = exchange(cove.addr, &ok_request(cove.addr, "ListTables", "{}"));
    assert_eq!(reply.status, 200);
    assert_dynamodb_headers(&reply);
    assert_eq!(
        reply.header("content-type"),
        Some("application/x-amz-json-1.0")
    );
    assert_eq!(reply.json(), serde_json::json!({"TableNames": []}));
}

#[test]
fn authentication_failures() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let addr = cove.addr;

    let unsigned = format!(
        "POST / HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/x-amz-json-1.0\r\nx-amz-target: DynamoDB_20120810.ListTables\r\ncontent-length: 2\r\n\r\n{{}}"
    );
    assert_error(
        &exchange(addr, unsigned.as_bytes()),
        "MissingAuthenticationTokenException",
        Some("Request is missing Authentication Token"),
    );

    let wrong = signed(
        addr,
        "ListTables",
        "{}",
        "wrong-secret",
        SystemTime::now(),
        "application/x-amz-json-1.0",
    );
    assert_error(
        &exchange(addr, &wrong),
        "InvalidSignatureException",
        Some(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ),
    );

    let old = SystemTime::now() - Duration::from_secs(20 * 60);
    let reply = exchange(
        addr,
        &signed(
            addr,
            "ListTables",
            "{}",
            ROOT_SECRET_ACCESS_KEY,
            old,
            "application/x-amz-json-1.0",
        ),
    );
    assert_error(&reply, "InvalidSignatureException", None);
    let message = reply.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.starts_with("Signature expired: ") && message.ends_with(" - 15 min.)"),
        "{message}"
    );

    // A body changed after signing no longer matches the signature.
    let mut tampered = ok_request(addr, "ListTables", r#"{"Limit":5}"#);
    let at = find(&tampered, b"{\"Limit\":5}").unwrap();
    tampered[at + 9] = b'6';
    assert_error(
        &exchange(addr, &tampered),
        "InvalidSignatureException",
        None,
    );

    let incomplete = format!(
        "POST / HTTP/1.1\r\nhost: {addr}\r\nx-amz-date: 20250101T000000Z\r\ncontent-type: application/x-amz-json-1.0\r\nx-amz-target: DynamoDB_20120810.ListTables\r\nauthorization: AWS4-HMAC-SHA256 Signature=abc\r\ncontent-length: 2\r\n\r\n{{}}"
    );
    assert_error(
        &exchange(addr, incomplete.as_bytes()),
        "IncompleteSignatureException",
        None,
    );
}

#[test]
fn protocol_errors() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let addr = cove.addr;

    assert_error(
        &exchange(addr, &ok_request(addr, "NoSuchOperation", "{}")),
        "UnknownOperationException",
        None,
    );
    assert_error(
        &exchange(addr, &ok_request(addr, "ListTables", "{not json")),
        "SerializationException",
        None,
    );
    assert_error(
        &exchange(
            addr,
            &ok_request(addr, "DescribeTable", r#"{"TableName": 7}"#),
        ),
        "SerializationException",
        Some("class java.lang.Short can not be converted to an String"),
    );
    assert_error(
        &exchange(addr, &ok_request(addr, "DescribeTable", "{}")),
        "ValidationException",
        Some(
            "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null",
        ),
    );

    // A body that is not DynamoDB JSON is not an API call at all.
    let reply = exchange(
        addr,
        &signed(
            addr,
            "ListTables",
            "{}",
            ROOT_SECRET_ACCESS_KEY,
            SystemTime::now(),
            "text/plain",
        ),
    );
    assert_eq!(reply.status, 404);
    assert_eq!(reply.body, b"<UnknownOperationException/>\n");

    // An announced 17 MB body is refused before it is read.
    let oversized = format!(
        "POST / HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/x-amz-json-1.0\r\nx-amz-target: DynamoDB_20120810.PutItem\r\ncontent-length: {}\r\n\r\n",
        17 * 1024 * 1024
    );
    let reply = exchange(addr, oversized.as_bytes());
    assert_eq!(reply.status, 413);
    assert_dynamodb_headers(&reply);

    let health = exchange(
        addr,
        format!("GET / HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes(),
    );
    assert_eq!(health.status, 200);
    assert!(String::from_utf8_lossy(&health.body).starts_with("healthy"));
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let dir = data_dir();
    let mut cove = Cove::start(dir.path());
    let request = ok_request(cove.addr, "ListTables", "{}");
    // Send everything but the last byte of the body, so the request is in flight.
    let mut stream = TcpStream::connect(cove.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (head, last) = request.split_at(request.len() - 1);
    stream.write_all(head).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    cove.send_sigterm();
    // Wait until the server has begun shutting down, then finish the request.
    for _ in 0..100 {
        if cove.log().contains("shutting down") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(cove.log().contains("shutting down"), "{}", cove.log());
    let reply = exchange_on(&mut stream, last);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), serde_json::json!({"TableNames": []}));
    assert!(cove.wait_exit().success(), "{}", cove.log());
    assert!(cove.log().contains("storage closed"), "{}", cove.log());
    // And nothing listens any more.
    assert!(TcpStream::connect(cove.addr).is_err());
}
