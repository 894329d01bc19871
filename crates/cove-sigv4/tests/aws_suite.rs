//! Checks the verifier against AWS's published SigV4 test suite: for every case it must rebuild
//! AWS's canonical request, string to sign and signature byte for byte, accept the signed
//! request, and reject it under a wrong secret or an expired clock.

#[path = "data/vectors.rs"]
mod vectors;

use cove_sigv4::{
    Request, SigV4Error, canonical_request, canonical_uri, parse_request_authorization, signature,
    signing_key, string_to_sign, verify,
};
use vectors::{DOUBLE_ENCODED_PATHS, VECTORS};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 2015-08-30T12:36:00Z, the suite's signing time.
const SUITE_TIME: i64 = 1_440_938_160;

/// A request parsed from the suite's plain-text HTTP form.
struct Parsed {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

/// Parses the suite's request text. Continuation lines (obs-fold) join the previous value with
/// a space, as an HTTP/1.1 parser that accepts them does.
fn parse(text: &str) -> Parsed {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let request_line = lines.next().expect("request line");
    let (method, target) = request_line.split_once(' ').expect("method and target");
    let target = target.strip_suffix(" HTTP/1.1").unwrap_or(target);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let last = headers.last_mut().expect("continuation follows a header");
            last.1.push(b' ');
            last.1.extend_from_slice(line.as_bytes());
        } else {
            let (name, value) = line.split_once(':').expect("header line");
            headers.push((name.to_owned(), value.as_bytes().to_vec()));
        }
    }
    Parsed {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: body.trim_end_matches('\n').as_bytes().to_vec(),
    }
}

fn with_request<T>(parsed: &Parsed, f: impl FnOnce(&Request<'_>) -> T) -> T {
    let headers: Vec<(&str, &[u8])> = parsed
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    let req = Request {
        method: &parsed.method,
        path: &parsed.path,
        query: &parsed.query,
        headers: &headers,
        payload: &parsed.body,
    };
    f(&req)
}

#[test]
fn suite_has_the_expected_cases() {
    assert_eq!(VECTORS.len(), 31);
    for name in [
        "get-vanilla",
        "post-vanilla",
        "get-vanilla-query-order-key-case",
        "get-header-value-trim",
        "post-x-www-form-urlencoded",
        "get-relative-relative-normalized",
        "get-slashes-normalized",
    ] {
        assert!(VECTORS.iter().any(|v| v.name == name), "{name}");
    }
}

#[test]
fn rebuilds_canonical_requests_strings_to_sign_and_signatures() {
    for v in VECTORS {
        let parsed = parse(v.signed_request);
        with_request(&parsed, |req| {
            let auth = parse_request_authorization(req).expect(v.name);
            let canonical = canonical_request(req, &auth.signed_headers).expect(v.name);
            assert_eq!(canonical, v.canonical_request, "{}", v.name);
            let sts = string_to_sign("20150830T123600Z", &auth.scope(), &canonical);
            assert_eq!(sts, v.string_to_sign, "{}", v.name);
            let key = signing_key(SECRET, &auth.date, &auth.region, &auth.service);
            assert_eq!(signature(&key, &sts), v.signature, "{}", v.name);
            assert_eq!(auth.signature, v.signature, "{}", v.name);
        });
    }
}

#[test]
fn verifies_every_suite_request() {
    for v in VECTORS {
        let parsed = parse(v.signed_request);
        with_request(&parsed, |req| {
            let auth = parse_request_authorization(req).expect(v.name);
            assert_eq!(
                verify(req, &auth, SECRET, "service", SUITE_TIME),
                Ok(()),
                "{}",
                v.name
            );
            // The skew limit is inclusive on both sides.
            assert_eq!(
                verify(req, &auth, SECRET, "service", SUITE_TIME + 900),
                Ok(())
            );
            assert_eq!(
                verify(req, &auth, SECRET, "service", SUITE_TIME - 900),
                Ok(())
            );
        });
    }
}

#[test]
fn rejects_suite_requests_under_a_wrong_secret_service_or_clock() {
    for v in VECTORS {
        let parsed = parse(v.signed_request);
        with_request(&parsed, |req| {
            let auth = parse_request_authorization(req).expect(v.name);
            let wrong_secret = format!("{SECRET}x");
            assert_eq!(
                verify(req, &auth, &wrong_secret, "service", SUITE_TIME),
                Err(SigV4Error::SignatureDoesNotMatch),
                "{}",
                v.name
            );
            assert!(matches!(
                verify(req, &auth, SECRET, "dynamodb", SUITE_TIME),
                Err(SigV4Error::InvalidScope(_))
            ));
            assert!(matches!(
                verify(req, &auth, SECRET, "service", SUITE_TIME + 901),
                Err(SigV4Error::Expired(_))
            ));
            assert!(matches!(
                verify(req, &auth, SECRET, "service", SUITE_TIME - 901),
                Err(SigV4Error::NotYetCurrent(_))
            ));
        });
    }
}

#[test]
fn rejects_suite_requests_with_a_changed_body_or_signed_header() {
    for v in VECTORS {
        let mut parsed = parse(v.signed_request);
        parsed.body.push(b'!');
        with_request(&parsed, |req| {
            let auth = parse_request_authorization(req).expect(v.name);
            assert!(
                verify(req, &auth, SECRET, "service", SUITE_TIME).is_err(),
                "{}",
                v.name
            );
        });
        let mut parsed = parse(v.signed_request);
        for (name, value) in &mut parsed.headers {
            if name.eq_ignore_ascii_case("host") {
                value.extend_from_slice(b".evil");
            }
        }
        with_request(&parsed, |req| {
            let auth = parse_request_authorization(req).expect(v.name);
            assert_eq!(
                verify(req, &auth, SECRET, "service", SUITE_TIME),
                Err(SigV4Error::SignatureDoesNotMatch),
                "{}",
                v.name
            );
        });
    }
}

#[test]
fn double_encodes_paths_like_the_suite() {
    assert_eq!(DOUBLE_ENCODED_PATHS.len(), 2);
    for (path, expected) in DOUBLE_ENCODED_PATHS {
        assert_eq!(canonical_uri(path), *expected, "{path}");
    }
}
