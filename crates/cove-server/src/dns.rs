//! The DNS responder for interface VPC endpoints (`--dns-listen`): it answers the endpoints'
//! regional, zonal and `streams.` names under `vpce.amazonaws.com` with their network
//! interfaces' addresses, over UDP and TCP.
//!
//! Every query reads the engine's current `NetworkView`, so a name appears, changes or goes
//! the moment its endpoint is created, modified or deleted. Cove is authoritative for
//! `vpce.amazonaws.com` only and is not a recursive resolver: any other name is refused.
//! hickory-server runs the sockets and parses the packets (a packet it cannot parse gets
//! FORMERR or no answer); this module only decides the answer.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tokio::net::{TcpListener, UdpSocket};

use cove_engine::Engine;
use cove_engine::network::NetworkView;

use crate::ServerError;

/// The TTL of every answer, as AWS's resolvers give endpoint names.
const TTL: u32 = 60;

/// How long a TCP client may stay silent before its connection is closed.
const TCP_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest UDP response Cove offers to EDNS clients: the size DNS Flag Day 2020 agreed
/// on, which avoids IP fragmentation on every common path.
const EDNS_PAYLOAD: u16 = 1232;

/// The zone Cove answers for, as labels from the right.
const ZONE: [&str; 3] = ["com", "amazonaws", "vpce"];

/// What Cove answers to one question.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer<'v> {
    /// An endpoint's name asked for its A records (or ANY): these addresses.
    Addresses(&'v [Ipv4Addr]),
    /// An endpoint's name asked for another type (AAAA, MX, …): NOERROR with no records,
    /// because the name exists but has only IPv4 addresses, as in AWS.
    NoData,
    /// A name under `vpce.amazonaws.com` that no endpoint has.
    NxDomain,
    /// A name outside the zone, or a class other than IN: Cove does not resolve for others.
    Refused,
}

/// Decides the answer to one question from the network view, asked from `source`: names
/// under `vpce.amazonaws.com` for anyone, and an endpoint service's private DNS name for
/// clients in a VPC whose endpoint to that service enables private DNS.
pub(crate) fn answer<'v>(
    view: &'v NetworkView,
    name: &Name,
    class: DNSClass,
    kind: RecordType,
    source: IpAddr,
) -> Answer<'v> {
    let labels: Vec<&[u8]> = name.iter().collect();
    let in_zone = labels.len() > ZONE.len()
        && labels
            .iter()
            .rev()
            .zip(ZONE)
            .all(|(label, zone)| label.eq_ignore_ascii_case(zone.as_bytes()));
    if class != DNSClass::IN {
        return Answer::Refused;
    }
    if !in_zone {
        let private = view
            .subnet_of(source)
            .and_then(|subnet| view.private_dns_lookup(&name.to_ascii(), &subnet.vpc));
        return match private {
            Some(ips) if matches!(kind, RecordType::A | RecordType::ANY) => Answer::Addresses(ips),
            Some(_) => Answer::NoData,
            None => Answer::Refused,
        };
    }
    // A label holding a dot (possible on the wire, escaped in text) would join into a
    // different name; no endpoint name has one.
    if labels.iter().any(|l| l.contains(&b'.')) {
        return Answer::NxDomain;
    }
    let key = labels
        .iter()
        .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(".");
    match view.dns_lookup(&key) {
        Some(ips) if matches!(kind, RecordType::A | RecordType::ANY) => Answer::Addresses(ips),
        Some(_) => Answer::NoData,
        None => Answer::NxDomain,
    }
}

/// Answers queries from the engine's network view.
struct Responder {
    engine: Arc<Engine>,
}

#[async_trait::async_trait]
impl RequestHandler for Responder {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let mut records = Vec::new();
        let queries = request.queries.queries();
        metadata.response_code = if request.metadata.op_code != OpCode::Query {
            ResponseCode::NotImp
        } else if queries.len() != 1 {
            // Every DNS server in use takes exactly one question per query (RFC 9619).
            ResponseCode::FormErr
        } else {
            let query = queries[0].original();
            let view = self.engine.network_view();
            let (name, class, kind) = (query.name(), query.query_class(), query.query_type());
            match answer(&view, name, class, kind, request.src().ip()) {
                Answer::Addresses(ips) => {
                    metadata.authoritative = true;
                    records = ips
                        .iter()
                        .map(|ip| Record::from_rdata(query.name().clone(), TTL, RData::A(A(*ip))))
                        .collect();
                    ResponseCode::NoError
                }
                Answer::NoData => {
                    metadata.authoritative = true;
                    ResponseCode::NoError
                }
                Answer::NxDomain => {
                    metadata.authoritative = true;
                    ResponseCode::NXDomain
                }
                Answer::Refused => ResponseCode::Refused,
            }
        };
        // A client that sent EDNS gets it back (RFC 6891), with the payload size Cove allows.
        let edns = request.edns.as_ref().map(|_| {
            let mut edns = Edns::new();
            edns.set_max_payload(EDNS_PAYLOAD);
            edns
        });
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(edns) = &edns {
            builder.edns(edns);
        }
        let message = builder.build(
            metadata,
            records.iter(),
            std::iter::empty(),
            std::iter::empty(),
            std::iter::empty(),
        );
        match response.send_response(message).await {
            Ok(info) => info,
            Err(err) => {
                tracing::debug!(%err, "DNS response not sent");
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

/// A bound, not yet running DNS responder: a UDP socket and a TCP listener on one address.
pub struct DnsServer {
    udp: UdpSocket,
    tcp: TcpListener,
    engine: Arc<Engine>,
}

impl DnsServer {
    /// Binds UDP and TCP on `addr` (for port 0, one free port both take); fails fast.
    pub async fn bind(addr: SocketAddr, engine: Arc<Engine>) -> Result<DnsServer, ServerError> {
        let bind_error = |source| ServerError::Bind { addr, source };
        // With port 0 the UDP port the system picks may be taken for TCP; try a few.
        let attempts = if addr.port() == 0 { 8 } else { 1 };
        let mut last = None;
        for _ in 0..attempts {
            let udp = UdpSocket::bind(addr).await.map_err(bind_error)?;
            let bound = udp.local_addr().map_err(bind_error)?;
            match TcpListener::bind(bound).await {
                Ok(tcp) => return Ok(DnsServer { udp, tcp, engine }),
                Err(err) => last = Some(err),
            }
        }
        Err(bind_error(last.unwrap_or_else(|| {
            std::io::Error::other("no port free for both UDP and TCP")
        })))
    }

    /// The address bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    /// Answers queries until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut server = hickory_server::Server::new(Responder {
            engine: self.engine,
        });
        server.register_socket(self.udp);
        // The buffer holds responses queued for one TCP connection; a client that pipelines
        // more than this waits.
        server.register_listener(self.tcp, TCP_TIMEOUT, 16);
        shutdown.await;
        if let Err(err) = server.shutdown_gracefully().await {
            tracing::warn!(%err, "DNS responder stopped with an error");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use hickory_proto::op::{Message, MessageType, Query};
    use hickory_proto::rr::RData;

    use super::*;

    const REGIONAL: &str = "vpce-0123456789abcdef0-abcd1234.dynamodb.us-east-2.vpce.amazonaws.com";
    const ZONAL: &str =
        "vpce-0123456789abcdef0-abcd1234-us-east-2a.dynamodb.us-east-2.vpce.amazonaws.com";

    fn view() -> NetworkView {
        let a: Ipv4Addr = "127.50.1.4".parse().unwrap();
        let b: Ipv4Addr = "127.50.2.4".parse().unwrap();
        NetworkView {
            dns: HashMap::from([
                (REGIONAL.to_string(), vec![a, b]),
                (ZONAL.to_string(), vec![a]),
            ]),
            ..NetworkView::default()
        }
    }

    fn ask<'v>(view: &'v NetworkView, name: &str, kind: RecordType) -> Answer<'v> {
        let source = "127.0.0.1".parse().unwrap();
        answer(
            view,
            &Name::from_ascii(name).unwrap(),
            DNSClass::IN,
            kind,
            source,
        )
    }

    fn ips(list: &[&str]) -> Vec<Ipv4Addr> {
        list.iter().map(|ip| ip.parse().unwrap()).collect()
    }

    #[test]
    fn known_names_answer_their_addresses() {
        let view = view();
        assert_eq!(
            ask(&view, REGIONAL, RecordType::A),
            Answer::Addresses(&ips(&["127.50.1.4", "127.50.2.4"]))
        );
        assert_eq!(
            ask(&view, &format!("{ZONAL}."), RecordType::A),
            Answer::Addresses(&ips(&["127.50.1.4"]))
        );
        assert_eq!(
            ask(&view, REGIONAL, RecordType::ANY),
            Answer::Addresses(&ips(&["127.50.1.4", "127.50.2.4"]))
        );
    }

    #[test]
    fn names_are_case_insensitive() {
        let view = view();
        assert_eq!(
            ask(&view, &REGIONAL.to_uppercase(), RecordType::A),
            Answer::Addresses(&ips(&["127.50.1.4", "127.50.2.4"]))
        );
        assert_eq!(
            ask(&view, "www.Example.COM.VPCE.AMAZONAWS.COM.", RecordType::A),
            Answer::NxDomain
        );
    }

    #[test]
    fn other_types_of_known_names_have_no_records() {
        let view = view();
        assert_eq!(ask(&view, REGIONAL, RecordType::AAAA), Answer::NoData);
        assert_eq!(ask(&view, ZONAL, RecordType::MX), Answer::NoData);
    }

    #[test]
    fn unknown_names_in_the_zone_do_not_exist() {
        let view = view();
        let other = REGIONAL.replace("abcd1234", "abcd9999");
        assert_eq!(ask(&view, &other, RecordType::A), Answer::NxDomain);
        assert_eq!(
            ask(
                &view,
                "dynamodb.us-east-2.vpce.amazonaws.com",
                RecordType::A
            ),
            Answer::NxDomain
        );
    }

    #[test]
    fn private_dns_names_answer_only_in_their_consumer_vpc() {
        use cove_engine::network::SubnetRoute;
        let subnet = |cidr: &str, vpc: &str| {
            std::sync::Arc::new(SubnetRoute {
                net: cidr.parse().unwrap(),
                account: "111122223333".into(),
                vpc: vpc.into(),
                subnet: format!("subnet-{vpc}"),
                internet: false,
                gateways: Vec::new(),
                peer_routes: Vec::new(),
            })
        };
        let view = NetworkView {
            subnets: vec![
                subnet("127.82.1.0/24", "vpc-a"),
                subnet("127.84.1.0/24", "vpc-b"),
            ],
            private_dns: HashMap::from([(
                "api.example.test".to_string(),
                vec![("vpc-a".to_string(), ips(&["127.82.1.4"]))],
            )]),
            ..NetworkView::default()
        };
        let asked = |name: &str, kind: RecordType, from: &str| {
            answer(
                &view,
                &Name::from_ascii(name).unwrap(),
                DNSClass::IN,
                kind,
                from.parse().unwrap(),
            )
        };
        let a = ips(&["127.82.1.4"]);
        assert_eq!(
            asked("API.example.test.", RecordType::A, "127.82.1.50"),
            Answer::Addresses(&a)
        );
        assert_eq!(
            asked("api.example.test", RecordType::AAAA, "127.82.1.50"),
            Answer::NoData
        );
        // Another VPC, or no VPC, does not resolve it through Cove.
        assert_eq!(
            asked("api.example.test", RecordType::A, "127.84.1.50"),
            Answer::Refused
        );
        assert_eq!(
            asked("api.example.test", RecordType::A, "127.0.0.1"),
            Answer::Refused
        );
    }

    #[test]
    fn names_outside_the_zone_are_refused() {
        let view = view();
        for name in [
            "example.com",
            "vpce.amazonaws.com",
            "amazonaws.com",
            "dynamodb.us-east-2.amazonaws.com",
            "vpce-0123456789abcdef0-abcd1234.dynamodb.us-east-2.vpce.amazonaws.com.evil.org",
            ".",
        ] {
            assert_eq!(ask(&view, name, RecordType::A), Answer::Refused, "{name}");
        }
        let name = Name::from_ascii(REGIONAL).unwrap();
        assert_eq!(
            answer(
                &view,
                &name,
                DNSClass::CH,
                RecordType::A,
                [127, 0, 0, 1].into()
            ),
            Answer::Refused
        );
    }

    #[test]
    fn a_label_with_a_dot_is_not_two_labels() {
        let view = view();
        let name = Name::from_labels([
            &b"vpce-0123456789abcdef0-abcd1234.dynamodb"[..],
            b"us-east-2",
            b"vpce",
            b"amazonaws",
            b"com",
        ])
        .unwrap();
        assert_eq!(
            answer(
                &view,
                &name,
                DNSClass::IN,
                RecordType::A,
                [127, 0, 0, 1].into()
            ),
            Answer::NxDomain
        );
    }

    /// A responder over a real socket, on an engine with no endpoints: every packet, however
    /// malformed, leaves it answering.
    #[tokio::test]
    async fn malformed_packets_do_not_stop_the_responder() {
        let storage = cove_storage::Storage::new(cove_storage::memory::MemoryBackend::new());
        let engine = Arc::new(Engine::open(storage).unwrap());
        let server = DnsServer::bind("127.0.0.1:0".parse().unwrap(), engine)
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut query = Message::query();
        query.metadata.id = 7;
        query.add_query(Query::query(
            Name::from_ascii(REGIONAL).unwrap(),
            RecordType::A,
        ));
        let good = query.to_vec().unwrap();
        let mut garbage: Vec<Vec<u8>> = vec![
            Vec::new(),
            vec![0; 5],
            vec![0xff; 12],
            vec![0xff; 600],
            good[..good.len() - 3].to_vec(),
        ];
        // Every truncation, and the good packet with each byte flipped.
        garbage.extend((0..good.len()).map(|n| good[..n].to_vec()));
        garbage.extend((0..good.len()).map(|i| {
            let mut p = good.clone();
            p[i] ^= 0xff;
            p
        }));
        for packet in &garbage {
            client.send_to(packet, addr).await.unwrap();
        }
        client.send_to(&good, addr).await.unwrap();
        let mut buf = [0u8; 2048];
        let reply = loop {
            let (n, _) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
                .await
                .expect("an answer to the good query")
                .unwrap();
            // Garbage that still parsed is answered too; wait for the good query's answer.
            if let Ok(m) = Message::from_vec(&buf[..n])
                && m.metadata.id == 7
                && m.metadata.message_type == MessageType::Response
                && m.queries.first().map(|q| q.name().to_ascii()) == Some(format!("{REGIONAL}."))
                && m.metadata.response_code == ResponseCode::NXDomain
            {
                break m;
            }
        };
        assert!(reply.metadata.authoritative);
        assert!(reply.answers.iter().all(|r| !matches!(r.data, RData::A(_))));
        let _ = stop.send(());
        task.await.unwrap();
    }
}
