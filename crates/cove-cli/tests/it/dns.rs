//! The DNS responder (`--dns-listen`) and `cove dns hosts`: an interface endpoint created
//! through the EC2 Query API answers its regional, zonal and `streams.` names over UDP and
//! TCP, other names get NXDOMAIN or REFUSED, and a deleted endpoint's names go at once.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_dynamodb::config::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use crate::common::{Cove, REGION, ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY, data_dir};
use crate::raw_http::exchange_on;

/// Percent-encodes a form value: everything but RFC 3986's unreserved characters.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Sends one signed EC2 Query action as the test root user; returns the XML body, failing
/// the test on any status but 200.
fn ec2(addr: SocketAddr, action: &str, params: &[(&str, &str)]) -> String {
    let mut body = format!("Action={action}&Version=2016-11-15");
    for (k, v) in params {
        body.push_str(&format!("&{}={}", form_encode(k), form_encode(v)));
    }
    let host = addr.to_string();
    let headers = [
        ("host", host.as_str()),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
    ];
    let identity = Credentials::new(
        ROOT_ACCESS_KEY_ID,
        ROOT_SECRET_ACCESS_KEY,
        None,
        None,
        "dns",
    )
    .into();
    let signing = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("ec2")
        .time(SystemTime::now())
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
    let (instructions, _) = sign(signable, &signing).unwrap().into_parts();
    let mut request = "POST / HTTP/1.1\r\n".to_string();
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    for (k, v) in instructions.headers() {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let reply = exchange_on(stream, request.as_bytes());
    let text = String::from_utf8_lossy(&reply.body).to_string();
    assert_eq!(reply.status, 200, "{action}: {text}");
    text
}

/// Every text of `<tag>` elements in `xml`, in order.
fn elements(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(text, _)| text.to_string()))
        .collect()
}

fn element(xml: &str, tag: &str) -> String {
    elements(xml, tag)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
}

/// A query for `name`, with a fresh id.
fn query(name: &str, kind: RecordType) -> (u16, Vec<u8>) {
    let mut message = Message::query();
    let id = rand_id();
    message.metadata.id = id;
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
    (id, message.to_vec().unwrap())
}

fn rand_id() -> u16 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (nanos % 65_521) as u16
}

/// Asks over UDP; returns the response after checking it answers this query.
fn ask_udp(dns: SocketAddr, name: &str, kind: RecordType) -> Message {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (id, packet) = query(name, kind);
    socket.send_to(&packet, dns).unwrap();
    let mut buf = [0u8; 4096];
    let (n, from) = socket.recv_from(&mut buf).expect("a DNS answer over UDP");
    assert_eq!(from, dns);
    checked(Message::from_vec(&buf[..n]).unwrap(), id, name)
}

/// Asks over TCP (two-byte length prefix, RFC 1035 4.2.2).
fn ask_tcp(dns: SocketAddr, name: &str, kind: RecordType) -> Message {
    let mut stream = TcpStream::connect(dns).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (id, packet) = query(name, kind);
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&packet);
    stream.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf).unwrap();
    checked(Message::from_vec(&buf).unwrap(), id, name)
}

fn checked(reply: Message, id: u16, name: &str) -> Message {
    assert_eq!(reply.metadata.id, id);
    assert_eq!(reply.metadata.message_type, MessageType::Response);
    assert!(!reply.metadata.recursion_available);
    assert_eq!(reply.queries.len(), 1);
    assert!(
        reply.queries[0]
            .name()
            .to_ascii()
            .eq_ignore_ascii_case(&format!("{name}.")),
        "{reply:?}"
    );
    reply
}

/// The A records of a reply, checking each record's TTL and name.
fn addresses(reply: &Message, name: &str) -> Vec<Ipv4Addr> {
    reply
        .answers
        .iter()
        .map(|r| {
            assert_eq!(r.ttl, 60);
            assert!(r.name.to_ascii().eq_ignore_ascii_case(&format!("{name}.")));
            match &r.data {
                RData::A(a) => a.0,
                other => panic!("not an A record: {other:?}"),
            }
        })
        .collect()
}

fn answered(reply: &Message, name: &str) -> Vec<Ipv4Addr> {
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.authoritative);
    addresses(reply, name)
}

/// Waits for the DNS responder's start-up line and returns its address.
fn dns_addr(cove: &Cove) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = cove.log();
        if let Some(rest) = log.split("cove DNS listening on ").nth(1) {
            return rest.split_whitespace().next().unwrap().parse().unwrap();
        }
        assert!(Instant::now() < deadline, "no DNS start-up line: {log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn interface_endpoint_names_resolve_while_the_endpoint_exists() {
    let dir = data_dir();
    // Interface endpoints listen on their addresses; a free port spares needing port 443.
    let port = free_tcp_port().to_string();
    let mut cove = Cove::start_with(
        dir.path(),
        &["--dns-listen", "127.0.0.1:0", "--endpoint-port", &port],
        &[
            ("COVE_ROOT_ACCESS_KEY_ID", ROOT_ACCESS_KEY_ID),
            ("COVE_ROOT_SECRET_ACCESS_KEY", ROOT_SECRET_ACCESS_KEY),
        ],
    );
    let dns = dns_addr(&cove);

    // Before any endpoint: names in the zone do not exist, and others are refused.
    let early = ask_udp(
        dns,
        "vpce-0-x.dynamodb.us-east-1.vpce.amazonaws.com",
        RecordType::A,
    );
    assert_eq!(early.metadata.response_code, ResponseCode::NXDomain);

    let vpc = element(
        &ec2(cove.addr, "CreateVpc", &[("CidrBlock", "127.53.0.0/16")]),
        "vpcId",
    );
    let zones = [format!("{REGION}a"), format!("{REGION}b")];
    let subnets: Vec<String> = [("127.53.1.0/24", &zones[0]), ("127.53.2.0/24", &zones[1])]
        .iter()
        .map(|(cidr, zone)| {
            let xml = ec2(
                cove.addr,
                "CreateSubnet",
                &[
                    ("VpcId", &vpc),
                    ("CidrBlock", cidr),
                    ("AvailabilityZone", zone),
                ],
            );
            element(&xml, "subnetId")
        })
        .collect();
    let service = format!("com.amazonaws.{REGION}.dynamodb");
    let created = ec2(
        cove.addr,
        "CreateVpcEndpoint",
        &[
            ("VpcEndpointType", "Interface"),
            ("VpcId", &vpc),
            ("ServiceName", &service),
            ("SubnetId.1", &subnets[0]),
            ("SubnetId.2", &subnets[1]),
        ],
    );
    let vpce = element(&created, "vpcEndpointId");
    let names = elements(&created, "dnsName");
    assert_eq!(names.len(), 3, "{created}");
    let regional = names[0].clone();
    let zonal_a = names
        .iter()
        .find(|n| n.contains(&format!("-{}.", zones[0])))
        .unwrap()
        .clone();
    let zonal_b = names
        .iter()
        .find(|n| n.contains(&format!("-{}.", zones[1])))
        .unwrap()
        .clone();
    assert!(regional.starts_with(&format!("{vpce}-")), "{regional}");
    // Each network interface takes its subnet's first address after the four AWS reserves.
    let a: Ipv4Addr = "127.53.1.4".parse().unwrap();
    let b: Ipv4Addr = "127.53.2.4".parse().unwrap();
    let streams = |name: &str| name.replacen(".dynamodb.", ".streams.dynamodb.", 1);

    let expected = [
        (regional.clone(), vec![a, b]),
        (zonal_a.clone(), vec![a]),
        (zonal_b.clone(), vec![b]),
        (streams(&regional), vec![a, b]),
        (streams(&zonal_a), vec![a]),
        (streams(&zonal_b), vec![b]),
    ];
    for (name, ips) in &expected {
        assert_eq!(
            answered(&ask_udp(dns, name, RecordType::A), name),
            *ips,
            "{name} over UDP"
        );
        assert_eq!(
            answered(&ask_tcp(dns, name, RecordType::A), name),
            *ips,
            "{name} over TCP"
        );
    }
    // Names are case-insensitive; the answer keeps the question's spelling.
    let shouted = regional.to_uppercase();
    assert_eq!(
        answered(&ask_udp(dns, &shouted, RecordType::A), &shouted),
        vec![a, b]
    );
    // The name exists but has no IPv6 address: NOERROR, no records.
    let aaaa = ask_udp(dns, &regional, RecordType::AAAA);
    assert!(answered(&aaaa, &regional).is_empty());
    // Another endpoint name in the zone does not exist; a name outside it is refused.
    let unknown = regional.replacen(&vpce, "vpce-0123456789abcdef0", 1);
    let nx = ask_udp(dns, &unknown, RecordType::A);
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert!(nx.metadata.authoritative && nx.answers.is_empty());
    let refused = ask_udp(dns, "example.com", RecordType::A);
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    assert!(refused.answers.is_empty());
    let refused = ask_tcp(dns, "dynamodb.us-east-1.amazonaws.com", RecordType::A);
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);

    // `cove dns hosts` on the same data directory, beside the running server.
    let mut lines = BTreeSet::new();
    for (name, ips) in &expected {
        for ip in ips {
            lines.insert((*ip, name.clone()));
        }
    }
    let wanted: String = lines
        .iter()
        .map(|(ip, name)| format!("{ip} {name}\n"))
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_cove"))
        .args(["dns", "hosts", "--data-dir"])
        .arg(dir.path())
        .envs(crate::common::storage_env(dir.path()))
        .env_remove("COVE_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), wanted);
    assert_eq!(wanted.lines().count(), 8);

    // Deleting the endpoint removes its names at once.
    let deleted = ec2(
        cove.addr,
        "DeleteVpcEndpoints",
        &[("VpcEndpointId.1", &vpce)],
    );
    assert!(elements(&deleted, "error").is_empty(), "{deleted}");
    for (name, _) in &expected {
        let gone = ask_udp(dns, name, RecordType::A);
        assert_eq!(
            gone.metadata.response_code,
            ResponseCode::NXDomain,
            "{name}"
        );
        assert!(gone.answers.is_empty());
    }
    let out = Command::new(env!("CARGO_BIN_EXE_cove"))
        .args(["dns", "hosts", "--data-dir"])
        .arg(dir.path())
        .envs(crate::common::storage_env(dir.path()))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The responder stops with the server.
    assert!(cove.terminate().success(), "{}", cove.log());
    UdpSocket::bind(dns).expect("the DNS port is free again after shutdown");
}

#[test]
fn dns_is_off_by_default_and_a_taken_address_fails_start_up() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    assert!(!cove.log().contains("cove DNS listening"), "{}", cove.log());
    drop(cove);

    // COVE_DNS_LISTEN and the TOML file's dns_listen turn it on too.
    let cove = Cove::start_with(
        dir.path(),
        &["--dev"],
        &[("COVE_DNS_LISTEN", "127.0.0.1:0")],
    );
    let reply = ask_udp(dns_addr(&cove), "example.com", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    drop(cove);
    let config = dir.path().join("cove.toml");
    std::fs::write(&config, "dns_listen = \"127.0.0.1:0\"\n").unwrap();
    let config = config.to_str().unwrap();
    let cove = Cove::start_with(dir.path(), &["--dev", "--config", config], &[]);
    let reply = ask_udp(dns_addr(&cove), "example.com", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    drop(cove);

    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_cove"))
        .args([
            "serve",
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--dns-listen",
            &addr,
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
}

#[test]
fn dns_hosts_needs_existing_data() {
    let dir = data_dir();
    let out = Command::new(env!("CARGO_BIN_EXE_cove"))
        .args(["dns", "hosts", "--data-dir"])
        .arg(dir.path().join("missing"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Cove data"));
}
