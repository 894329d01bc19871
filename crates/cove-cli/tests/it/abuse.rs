//! Robustness under abuse: hundreds of idle connections, slowloris clients dripping headers,
//! bodies over the limit and garbage bytes. Well-formed clients are served throughout, the
//! abusers are dropped within the configured read timeout, and memory does not grow with them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};

use crate::common::{Cove, ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY, data_dir};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Whether the server has closed `stream` (a read sees end of file or a reset).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            // A 408-style answer before the close is fine; keep reading to the close.
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abusive_clients_do_not_stop_well_formed_ones() {
    let dir = data_dir();
    let cove = Cove::start_with(
        dir.path(),
        &["--read-timeout-secs", "2"],
        &[
            ("COVE_ROOT_ACCESS_KEY_ID", ROOT_ACCESS_KEY_ID),
            ("COVE_ROOT_SECRET_ACCESS_KEY", ROOT_SECRET_ACCESS_KEY),
        ],
    );
    let client = cove.client();
    client
        .create_table()
        .table_name("calm")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    client
        .put_item()
        .table_name("calm")
        .item("pk", AttributeValue::S("k".into()))
        .send()
        .await
        .unwrap();
    let pid = cove.pid();
    let rss_before = rss_kib(pid);

    // 300 connections that never send a byte, and 20 that drip a header one byte at a time.
    let mut idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(cove.addr).unwrap())
        .collect();
    let mut drippers: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(cove.addr).unwrap();
            s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n").unwrap();
            s
        })
        .collect();
    // A body announced over the limit is refused at once, before it is sent.
    let mut big = TcpStream::connect(cove.addr).unwrap();
    big.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 17000000\r\n\r\n").unwrap();
    big.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = [0u8; 64];
    let n = big.read(&mut answer).unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 413"),
        "{:?}",
        String::from_utf8_lossy(&answer[..n])
    );
    // Garbage gets an error or a close, not a hang.
    let mut garbage = TcpStream::connect(cove.addr).unwrap();
    garbage
        .write_all(b"\x00\x01\x02 not http at all\r\n\r\n")
        .unwrap();
    garbage
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 256];
    let n = garbage.read(&mut buf).unwrap_or(0);
    assert!(
        n == 0 || buf[..n].starts_with(b"HTTP/1.1 400"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );

    // A body that stops half way is abandoned after the read timeout.
    let mut slow_body = TcpStream::connect(cove.addr).unwrap();
    slow_body
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 100\r\n\r\n{\"partial")
        .unwrap();

    // Meanwhile well-formed requests are served, promptly.
    let started = Instant::now();
    for i in 0..50 {
        for s in drippers.iter_mut() {
            let _ = s.write_all(b"X");
        }
        let got = client
            .get_item()
            .table_name("calm")
            .key("pk", AttributeValue::S("k".into()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {i} failed: {e:?}"));
        assert!(got.item.is_some());
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "well-formed requests were slowed to {:?}",
        started.elapsed()
    );

    // Within the read timeout (2 s) and a margin, every abuser has been dropped.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let idle_closed = idle.iter_mut().map(closed_by_server).filter(|c| *c).count();
    let drippers_closed = drippers
        .iter_mut()
        .map(closed_by_server)
        .filter(|c| *c)
        .count();
    assert_eq!(idle_closed, 300, "idle connections still open");
    assert_eq!(drippers_closed, 20, "slowloris connections still open");
    assert!(
        closed_by_server(&mut slow_body),
        "a half-sent body held its connection"
    );
    let rss_after = rss_kib(pid);
    assert!(
        rss_after < rss_before + 64 * 1024,
        "memory grew from {rss_before} KiB to {rss_after} KiB"
    );
    // And the server still serves.
    client
        .get_item()
        .table_name("calm")
        .key("pk", AttributeValue::S("k".into()))
        .send()
        .await
        .unwrap();
}
