//! Property tests against AWS's own signer (the `aws-sigv4` crate): every request it signs must
//! verify, and changing any one signed part of it (method, path, query, a header, the body, the
//! date, the signature, the secret or the clock) must make verification fail.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use cove_sigv4::{
    Request, SigV4Error, parse_request_authorization, signing_key, verify, verify_with_key,
};
use proptest::prelude::*;

/// One request to sign, before signing.
#[derive(Debug, Clone)]
struct Case {
    method: &'static str,
    host: &'static str,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    access_key: String,
    secret: String,
    session_token: Option<String>,
    region: String,
    unix: u64,
    skew: i64,
    content_sha256: bool,
}

/// A signed request as the server receives it.
struct Signed {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Signed {
    fn check(&self, secret: &str, now: i64) -> Result<(), SigV4Error> {
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let req = Request {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &headers,
            payload: &self.body,
        };
        let auth = parse_request_authorization(&req)?;
        let by_secret = verify(&req, &auth, secret, "dynamodb", now);
        // The cached-key entry point must always agree with the secret entry point.
        let key = signing_key(secret, &auth.date, &auth.region, &auth.service);
        assert_eq!(
            verify_with_key(&req, &auth, &key.into(), "dynamodb", now),
            by_secret
        );
        by_secret
    }

    fn header_mut(&mut self, name: &str) -> Option<&mut Vec<u8>> {
        self.headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// Percent-encodes a query component the way varied clients do: unreserved characters raw,
/// spaces as `+` or `%20`, everything else as `%XX` in upper or lower case.
fn encode_query_component(text: &str, lower_hex: bool) -> String {
    let mut out = String::new();
    for (i, b) in text.bytes().enumerate() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else if b == b' ' && i % 2 == 0 {
            out.push('+');
        } else if lower_hex {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a path segment, leaving the characters HTTP allows raw in a path.
fn encode_path_segment(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn path_strategy() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just(String::new()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        "[a-zA-Z0-9._~-]{1,8}",
        "\\PC{1,6}".prop_map(|s| encode_path_segment(&s)),
    ];
    prop::collection::vec(segment, 0..5).prop_map(|segments| format!("/{}", segments.join("/")))
}

fn query_strategy() -> impl Strategy<Value = String> {
    let pair = (
        "\\PC{0,6}",
        proptest::option::of("\\PC{0,6}"),
        any::<bool>(),
    )
        .prop_map(|(key, value, lower)| {
            let key = encode_query_component(&key, lower);
            match value {
                Some(value) => format!("{key}={}", encode_query_component(&value, lower)),
                None => key,
            }
        });
    prop::collection::vec(pair, 0..4).prop_map(|pairs| pairs.join("&"))
}

fn headers_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = "[a-zA-Z][a-zA-Z0-9-]{0,10}".prop_filter("reserved for the signer", |n| {
        let lower = n.to_ascii_lowercase();
        !matches!(
            lower.as_str(),
            "host"
                | "authorization"
                | "date"
                | "x-amz-date"
                | "x-amz-security-token"
                | "x-amz-content-sha256"
        )
    });
    // Visible ASCII with spaces and tabs: what an HTTP header value may hold.
    let value = "[ \t!-~]{0,20}";
    prop::collection::vec((name, value), 0..5).prop_flat_map(|headers| {
        let len = headers.len();
        // Sometimes repeat a name with different case so that values must be joined.
        (
            Just(headers),
            proptest::option::of(0..len.max(1)),
            "[ !-~]{0,8}",
        )
            .prop_map(|(mut headers, dup, extra)| {
                if let Some(i) = dup.filter(|i| *i < headers.len()) {
                    let name = headers[i].0.to_ascii_uppercase();
                    headers.push((name, extra));
                }
                headers
            })
    })
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        (
            prop::sample::select(vec!["GET", "POST", "PUT", "DELETE"]),
            prop::sample::select(vec![
                "dynamodb.us-east-1.amazonaws.com",
                "localhost:8000",
                "127.0.0.1:4567",
            ]),
            path_strategy(),
            query_strategy(),
            headers_strategy(),
            prop::collection::vec(any::<u8>(), 0..64),
        ),
        (
            "[A-Z0-9]{4,20}",
            "[A-Za-z0-9/+]{0,80}",
            proptest::option::of("[A-Za-z0-9/+=]{8,40}"),
            "[a-z][a-z0-9-]{0,14}",
            // 2000-01-01 to 2100-01-01.
            946_684_800u64..4_102_444_800u64,
            -900i64..=900,
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (method, host, path, query, headers, body),
                (access_key, secret, session_token, region, unix, skew, content_sha256),
            )| Case {
                method,
                host,
                path,
                query,
                headers,
                body,
                access_key,
                secret,
                session_token,
                region,
                unix,
                skew,
                content_sha256,
            },
        )
}

/// Signs the case with `aws-sigv4` and returns the request as the server would see it.
fn sign_case(case: &Case) -> Signed {
    let uri = if case.query.is_empty() {
        format!("http://{}{}", case.host, case.path)
    } else {
        format!("http://{}{}?{}", case.host, case.path, case.query)
    };
    let mut headers: Vec<(String, String)> = vec![("Host".to_owned(), case.host.to_owned())];
    headers.extend(case.headers.iter().cloned());

    let identity = Credentials::new(
        case.access_key.clone(),
        case.secret.clone(),
        case.session_token.clone(),
        None,
        "oracle",
    )
    .into();
    let mut settings = SigningSettings::default();
    if case.content_sha256 {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&case.region)
        .name("dynamodb")
        .time(UNIX_EPOCH + Duration::from_secs(case.unix))
        .settings(settings)
        .build()
        .expect("signing params")
        .into();
    let signable = SignableRequest::new(
        case.method,
        uri.as_str(),
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(&case.body),
    )
    .expect("signable request");
    let (instructions, _signature) = sign(signable, &params).expect("signed").into_parts();

    let mut received: Vec<(String, Vec<u8>)> = headers
        .into_iter()
        .map(|(n, v)| (n, v.into_bytes()))
        .collect();
    for (name, value) in instructions.headers() {
        received.push((name.to_owned(), value.as_bytes().to_vec()));
    }
    Signed {
        method: case.method.to_owned(),
        path: case.path.clone(),
        query: case.query.clone(),
        headers: received,
        body: case.body.clone(),
    }
}

fn now_of(case: &Case) -> i64 {
    i64::try_from(case.unix).expect("small") + case.skew
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn accepts_every_request_aws_signs(case in case_strategy()) {
        let signed = sign_case(&case);
        prop_assert_eq!(signed.check(&case.secret, now_of(&case)), Ok(()));
    }

    #[test]
    fn rejects_a_changed_body(case in case_strategy(), extra in any::<u8>()) {
        let mut signed = sign_case(&case);
        signed.body.push(extra);
        let expected = if case.content_sha256 {
            SigV4Error::PayloadHashMismatch
        } else {
            SigV4Error::SignatureDoesNotMatch
        };
        prop_assert_eq!(signed.check(&case.secret, now_of(&case)), Err(expected));
    }

    #[test]
    fn rejects_a_changed_method(case in case_strategy()) {
        let mut signed = sign_case(&case);
        signed.method = if signed.method == "PATCH" { "GET".into() } else { "PATCH".into() };
        prop_assert_eq!(
            signed.check(&case.secret, now_of(&case)),
            Err(SigV4Error::SignatureDoesNotMatch)
        );
    }

    #[test]
    fn rejects_a_changed_path(case in case_strategy()) {
        let mut signed = sign_case(&case);
        signed.path.push_str("/zz");
        prop_assert_eq!(
            signed.check(&case.secret, now_of(&case)),
            Err(SigV4Error::SignatureDoesNotMatch)
        );
    }

    #[test]
    fn rejects_a_changed_query(case in case_strategy()) {
        let mut signed = sign_case(&case);
        if signed.query.is_empty() {
            signed.query.push_str("zz=1");
        } else {
            signed.query.push_str("&zz=1");
        }
        prop_assert_eq!(
            signed.check(&case.secret, now_of(&case)),
            Err(SigV4Error::SignatureDoesNotMatch)
        );
    }

    #[test]
    fn rejects_a_changed_signed_header(case in case_strategy(), pick in any::<prop::sample::Index>()) {
        let mut signed = sign_case(&case);
        // Change either the host or one of the random headers (all of which are signed).
        let names: Vec<String> = std::iter::once("host".to_owned())
            .chain(case.headers.iter().map(|(n, _)| n.clone()))
            .collect();
        let name = pick.get(&names).clone();
        let value = signed.header_mut(&name).expect("header present");
        value.extend_from_slice(b"z");
        prop_assert_eq!(
            signed.check(&case.secret, now_of(&case)),
            Err(SigV4Error::SignatureDoesNotMatch)
        );
    }

    #[test]
    fn rejects_a_removed_signed_header(case in case_strategy()) {
        let mut signed = sign_case(&case);
        signed.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("host"));
        prop_assert_eq!(
            signed.check(&case.secret, now_of(&case)),
            Err(SigV4Error::SignedHeaderMissing("host".into()))
        );
    }

    #[test]
    fn rejects_a_changed_date(case in case_strategy()) {
        let mut signed = sign_case(&case);
        let shifted = cove_sigv4::format_amz_date(i64::try_from(case.unix).expect("small") + 1);
        *signed.header_mut("x-amz-date").expect("date header") = shifted.into_bytes();
        // Within a day the date only breaks the signature; across midnight it breaks the scope.
        let result = signed.check(&case.secret, now_of(&case) + 1);
        prop_assert!(
            matches!(result, Err(SigV4Error::SignatureDoesNotMatch | SigV4Error::InvalidScope(_))),
            "{:?}", result
        );
    }

    #[test]
    fn rejects_a_changed_signature(case in case_strategy(), pick in 0usize..64) {
        let mut signed = sign_case(&case);
        let auth = signed.header_mut("authorization").expect("authorization");
        let text = String::from_utf8(auth.clone()).expect("ascii");
        let start = text.find("Signature=").expect("signature") + "Signature=".len();
        let mut bytes = text.into_bytes();
        let i = start + pick;
        bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
        *auth = bytes;
        prop_assert_eq!(
            signed.check(&case.secret, now_of(&case)),
            Err(SigV4Error::SignatureDoesNotMatch)
        );
    }

    #[test]
    fn rejects_a_wrong_secret(case in case_strategy()) {
        let signed = sign_case(&case);
        let wrong = format!("{}x", case.secret);
        prop_assert_eq!(signed.check(&wrong, now_of(&case)), Err(SigV4Error::SignatureDoesNotMatch));
    }

    #[test]
    fn rejects_a_clock_more_than_fifteen_minutes_away(case in case_strategy(), beyond in 1i64..100_000) {
        let signed = sign_case(&case);
        let unix = i64::try_from(case.unix).expect("small");
        let late = signed.check(&case.secret, unix + 900 + beyond);
        prop_assert!(matches!(late, Err(SigV4Error::Expired(_))), "{:?}", late);
        let early = signed.check(&case.secret, unix - 900 - beyond);
        prop_assert!(matches!(early, Err(SigV4Error::NotYetCurrent(_))), "{:?}", early);
    }
}

#[test]
fn signing_keys_match_aws_sigv4() {
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    for secret in ["", "short", &"long".repeat(40)] {
        let theirs = v4::generate_signing_key(secret, time, "us-east-1", "dynamodb");
        let ours = signing_key(secret, "20150830", "us-east-1", "dynamodb");
        assert_eq!(theirs.as_ref(), ours.as_slice(), "{secret}");
    }
}
