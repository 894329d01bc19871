//! Proxy Protocol ingest (v1 text and v2 binary, parsed with `ppp`): on a listener with
//! trusted proxy CIDRs, a connection from a trusted proxy must start with a header whose
//! source address then stands for the client's in every network decision, and whose AWS TLV
//! (0xEA, subtype 0x01) names the VPC endpoint the client came through. A header from anyone
//! else, a malformed header, or a trusted peer without one closes the connection.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The v2 signature.
const V2_PREFIX: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest header accepted: v1's 107 bytes, or a v2 header with room for TLVs.
const MAX_HEADER: usize = 4096;
/// AWS's TLV type and its VPC-endpoint-id subtype.
const PP2_TYPE_AWS: u8 = 0xEA;
const PP2_SUBTYPE_AWS_VPCE_ID: u8 = 0x01;
const PP2_TYPE_CRC32C: u8 = 0x03;
const PP2_TYPE_NOOP: u8 = 0x04;

/// What a header says about the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxied {
    /// The client's address; `None` for LOCAL (v2) or UNKNOWN (v1): the proxy speaks for
    /// itself, as health checks do.
    pub source: Option<SocketAddr>,
    /// The VPC endpoint id of AWS's TLV, when present.
    pub vpce: Option<String>,
}

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// More bytes are needed.
    Incomplete,
    Invalid(String),
}

/// Whether the bytes start like a Proxy Protocol header (either version).
pub fn looks_like_header(bytes: &[u8]) -> bool {
    let v2 = bytes.len() >= 12 && bytes[..12] == V2_PREFIX[..]
        || bytes.len() < 12 && !bytes.is_empty() && V2_PREFIX.starts_with(bytes);
    let v1 = bytes.starts_with(b"PROXY ") || (bytes.len() < 6 && b"PROXY ".starts_with(bytes));
    !bytes.is_empty() && (v1 || v2)
}

/// Parses one complete header at the start of `bytes`; returns it and its length.
pub fn parse(bytes: &[u8]) -> Result<(Proxied, usize), Refusal> {
    if bytes.len() < 12 && V2_PREFIX.starts_with(bytes)
        || bytes.len() < 6 && b"PROXY ".starts_with(bytes)
    {
        return Err(Refusal::Incomplete);
    }
    if bytes.starts_with(V2_PREFIX) {
        parse_v2(bytes)
    } else if bytes.starts_with(b"PROXY ") {
        parse_v1(bytes)
    } else {
        Err(Refusal::Invalid("no Proxy Protocol header".into()))
    }
}

fn parse_v2(bytes: &[u8]) -> Result<(Proxied, usize), Refusal> {
    if bytes.len() < 16 {
        return Err(Refusal::Incomplete);
    }
    let len = 16 + usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    if len > MAX_HEADER {
        return Err(Refusal::Invalid(format!(
            "header of {len} bytes is too long"
        )));
    }
    if bytes.len() < len {
        return Err(Refusal::Incomplete);
    }
    let raw = &bytes[..len];
    let header = ppp::v2::Header::try_from(raw).map_err(|e| Refusal::Invalid(e.to_string()))?;
    let mut vpce = None;
    for tlv in header.tlvs() {
        let tlv = tlv.map_err(|e| Refusal::Invalid(e.to_string()))?;
        match tlv.kind {
            PP2_TYPE_AWS if tlv.value.first() == Some(&PP2_SUBTYPE_AWS_VPCE_ID) => {
                let id = std::str::from_utf8(&tlv.value[1..])
                    .ok()
                    .filter(|id| {
                        !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    })
                    .ok_or_else(|| Refusal::Invalid("malformed AWS VPC endpoint TLV".into()))?;
                vpce = Some(id.to_string());
            }
            PP2_TYPE_CRC32C => {
                if tlv.value.len() != 4 {
                    return Err(Refusal::Invalid("malformed CRC32C TLV".into()));
                }
                let expected =
                    u32::from_be_bytes([tlv.value[0], tlv.value[1], tlv.value[2], tlv.value[3]]);
                // The checksum covers the whole header with its own value zeroed.
                let start = tlv.value.as_ptr() as usize - raw.as_ptr() as usize;
                let mut copy = raw.to_vec();
                copy[start..start + 4].fill(0);
                if crc32c::crc32c(&copy) != expected {
                    return Err(Refusal::Invalid("CRC32C mismatch".into()));
                }
            }
            _ => {}
        }
    }
    let source = match (header.command, header.addresses) {
        (ppp::v2::Command::Local, _) => None,
        (ppp::v2::Command::Proxy, ppp::v2::Addresses::IPv4(a)) => {
            Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port))
        }
        (ppp::v2::Command::Proxy, ppp::v2::Addresses::IPv6(a)) => {
            Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port))
        }
        (ppp::v2::Command::Proxy, _) => {
            return Err(Refusal::Invalid(
                "PROXY command without an IP address".into(),
            ));
        }
    };
    Ok((Proxied { source, vpce }, len))
}

/// Writes a v2 header as an AWS Network Load Balancer does: the PROXY command over TCP with
/// the client's and the balancer's addresses (`addresses`; `None` writes the LOCAL command of
/// a health check), a CRC32C of the whole header, AWS's TLV naming the VPC endpoint the client
/// came through when there is one, and a NOOP TLV of `noop` zero bytes (the NLB pads its
/// headers so).
pub fn encode_v2(
    addresses: Option<(SocketAddr, SocketAddr)>,
    vpce: Option<&str>,
    noop: usize,
) -> Vec<u8> {
    let mut out = V2_PREFIX.to_vec();
    match addresses {
        None => out.extend([0x20, 0x00, 0, 0]),
        Some((SocketAddr::V4(src), SocketAddr::V4(dst))) => {
            out.extend([0x21, 0x11, 0, 0]);
            out.extend(src.ip().octets());
            out.extend(dst.ip().octets());
            out.extend(src.port().to_be_bytes());
            out.extend(dst.port().to_be_bytes());
        }
        Some((src, dst)) => {
            // Mixed families are written as IPv6, IPv4 addresses mapped.
            let v6 = |a: SocketAddr| match a.ip() {
                IpAddr::V4(ip) => ip.to_ipv6_mapped(),
                IpAddr::V6(ip) => ip,
            };
            out.extend([0x21, 0x21, 0, 0]);
            out.extend(v6(src).octets());
            out.extend(v6(dst).octets());
            out.extend(src.port().to_be_bytes());
            out.extend(dst.port().to_be_bytes());
        }
    }
    let crc_at = out.len() + 3;
    out.extend([PP2_TYPE_CRC32C, 0, 4, 0, 0, 0, 0]);
    if let Some(id) = vpce {
        let len = u16::try_from(1 + id.len()).unwrap_or(u16::MAX);
        out.push(PP2_TYPE_AWS);
        out.extend(len.to_be_bytes());
        out.push(PP2_SUBTYPE_AWS_VPCE_ID);
        out.extend(&id.as_bytes()[..usize::from(len) - 1]);
    }
    if noop > 0 {
        let len = u16::try_from(noop).unwrap_or(u16::MAX);
        out.push(PP2_TYPE_NOOP);
        out.extend(len.to_be_bytes());
        out.extend(std::iter::repeat_n(0u8, usize::from(len)));
    }
    let body = u16::try_from(out.len() - 16).unwrap_or(u16::MAX);
    out[14..16].copy_from_slice(&body.to_be_bytes());
    let crc = crc32c::crc32c(&out);
    out[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
    out
}

fn parse_v1(bytes: &[u8]) -> Result<(Proxied, usize), Refusal> {
    let window = &bytes[..bytes.len().min(107)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return if bytes.len() >= 107 {
            Err(Refusal::Invalid(
                "v1 header without CRLF in 107 bytes".into(),
            ))
        } else {
            Err(Refusal::Incomplete)
        };
    };
    let len = end + 2;
    let header =
        ppp::v1::Header::try_from(&bytes[..len]).map_err(|e| Refusal::Invalid(e.to_string()))?;
    let source = match header.addresses {
        ppp::v1::Addresses::Unknown => None,
        ppp::v1::Addresses::Tcp4(a) => {
            Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port))
        }
        ppp::v1::Addresses::Tcp6(a) => {
            Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port))
        }
    };
    Ok((Proxied { source, vpce: None }, len))
}

/// Reads the header a trusted proxy must send first, consuming exactly its bytes.
pub async fn read_header(stream: &mut TcpStream, timeout: Duration) -> Result<Proxied, Refusal> {
    let work = async {
        let mut buf = vec![0u8; MAX_HEADER];
        loop {
            let n = stream
                .peek(&mut buf)
                .await
                .map_err(|e| Refusal::Invalid(e.to_string()))?;
            if n == 0 {
                return Err(Refusal::Invalid(
                    "connection closed before the header".into(),
                ));
            }
            match parse(&buf[..n]) {
                Ok((proxied, len)) => {
                    stream
                        .read_exact(&mut buf[..len])
                        .await
                        .map_err(|e| Refusal::Invalid(e.to_string()))?;
                    return Ok(proxied);
                }
                // The rest of the header is on its way.
                Err(Refusal::Incomplete) => tokio::time::sleep(Duration::from_millis(5)).await,
                Err(refusal) => return Err(refusal),
            }
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(Refusal::Invalid("no header in time".into())))
}

/// Whether an untrusted peer's first bytes are a Proxy Protocol header (which it may not
/// send). Waits at most `timeout` for the first bytes.
pub async fn sends_header(stream: &TcpStream, timeout: Duration) -> bool {
    let mut buf = [0u8; 12];
    match tokio::time::timeout(timeout, stream.peek(&mut buf)).await {
        Ok(Ok(n)) => looks_like_header(&buf[..n]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The real Network Load Balancer header of reference §3.7.
    fn nlb() -> Vec<u8> {
        let mut bytes = hex(
            "0d0a0d0a000d0a515549540a21110054ac1f0771ac1f0a1fc8f20050030004e8d6892dea001701767063652d3038643262663135666163353030316339040024",
        );
        bytes.extend([0u8; 36]);
        bytes
    }

    #[test]
    fn the_aws_nlb_vector() {
        let mut bytes = nlb();
        assert_eq!(bytes.len(), 100);
        bytes.extend_from_slice(b"POST / HTTP/1.1\r\n");
        let (proxied, len) = parse(&bytes).unwrap();
        assert_eq!(len, 100);
        assert_eq!(proxied.source, Some("172.31.7.113:51442".parse().unwrap()));
        assert_eq!(proxied.vpce.as_deref(), Some("vpce-08d2bf15fac5001c9"));
        // Any byte changed breaks the checksum.
        let mut tampered = nlb();
        tampered[19] ^= 1;
        assert!(matches!(parse(&tampered), Err(Refusal::Invalid(m)) if m.contains("CRC32C")));
        // Cut anywhere, it is incomplete, never misread.
        for cut in 1..100 {
            assert_eq!(
                parse(&nlb()[..cut]),
                Err(Refusal::Incomplete),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn the_encoder_writes_the_aws_nlb_vector_byte_for_byte() {
        let client: SocketAddr = "172.31.7.113:51442".parse().unwrap();
        let balancer: SocketAddr = "172.31.10.31:80".parse().unwrap();
        let written = encode_v2(Some((client, balancer)), Some("vpce-08d2bf15fac5001c9"), 36);
        assert_eq!(written, nlb());
        // And what it writes, the decoder reads back, for each form it writes.
        let (read, len) = parse(&written).unwrap();
        assert_eq!(len, written.len());
        assert_eq!(read.source, Some(client));
        assert_eq!(read.vpce.as_deref(), Some("vpce-08d2bf15fac5001c9"));
        let local = encode_v2(None, None, 0);
        assert_eq!(
            parse(&local).unwrap(),
            (
                Proxied {
                    source: None,
                    vpce: None
                },
                local.len()
            )
        );
        let v6: SocketAddr = "[2001:db8::7]:40000".parse().unwrap();
        let mixed = encode_v2(Some((v6, balancer)), None, 0);
        assert_eq!(parse(&mixed).unwrap().0.source, Some(v6));
    }

    #[test]
    fn local_v1_and_malformed_headers() {
        let mut local = V2_PREFIX.to_vec();
        local.extend([0x20, 0x00, 0x00, 0x00]);
        assert_eq!(
            parse(&local),
            Ok((
                Proxied {
                    source: None,
                    vpce: None
                },
                16
            ))
        );
        let v1 = b"PROXY TCP4 127.60.0.9 127.0.0.1 40000 8000\r\nGET / HTTP/1.1\r\n";
        let (proxied, len) = parse(v1).unwrap();
        assert_eq!(len, 44);
        assert_eq!(proxied.source, Some("127.60.0.9:40000".parse().unwrap()));
        assert_eq!(parse(b"PROXY UNKNOWN\r\n").unwrap().0.source, None);
        assert!(matches!(
            parse(b"PROXY TCP4 nonsense\r\n"),
            Err(Refusal::Invalid(_))
        ));
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\n"),
            Err(Refusal::Invalid(_))
        ));
        let mut bad_version = V2_PREFIX.to_vec();
        bad_version.extend([0x31, 0x11, 0x00, 0x0c, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]);
        assert!(matches!(parse(&bad_version), Err(Refusal::Invalid(_))));
        let mut bad_tlv = V2_PREFIX.to_vec();
        bad_tlv.extend([
            0x21, 0x11, 0x00, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2, 0xEA, 0, 1, 0x01,
        ]);
        assert!(matches!(parse(&bad_tlv), Err(Refusal::Invalid(_))));
        assert!(looks_like_header(b"PROXY TCP4"));
        assert!(looks_like_header(&V2_PREFIX[..5]));
        assert!(!looks_like_header(b"POST / HTTP/1.1"));
    }
}
