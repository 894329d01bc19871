//! Every authentication failure's AWS code and exact message, and the order in which DynamoDB
//! checks them. The expected texts are DynamoDB's (and AWS's) own, as recorded by dynalite's
//! tests run against DynamoDB and by AWS users' bug reports.

use cove_sigv4::{
    Expected, Request, SigV4Error, canonical_request, parse_authorization,
    parse_request_authorization, precheck, signature, signing_key, string_to_sign, verify,
    verify_signature,
};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 2015-08-30T12:36:00Z.
const T: i64 = 1_440_938_160;
const DYNAMODB: Expected<'static> = Expected {
    service: "dynamodb",
    region: Some("us-east-1"),
};

/// A request under construction: headers as owned pairs, signable with the crate's own
/// primitives (which the AWS suite and oracle tests pin to AWS's behaviour).
#[derive(Clone)]
struct Req {
    method: &'static str,
    path: &'static str,
    query: &'static str,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Req {
    fn new() -> Req {
        Req {
            method: "POST",
            path: "/",
            query: "",
            headers: vec![
                ("Host".into(), b"dynamodb.us-east-1.amazonaws.com".to_vec()),
                ("X-Amz-Date".into(), b"20150830T123600Z".to_vec()),
                (
                    "X-Amz-Target".into(),
                    b"DynamoDB_20120810.ListTables".to_vec(),
                ),
                (
                    "Content-Type".into(),
                    b"application/x-amz-json-1.0".to_vec(),
                ),
            ],
            body: b"{}".to_vec(),
        }
    }

    fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.as_bytes().to_vec()));
        self
    }

    fn without(mut self, name: &str) -> Req {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    fn with<T>(&self, f: impl FnOnce(&Request<'_>) -> T) -> T {
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        f(&Request {
            method: self.method,
            path: self.path,
            query: self.query,
            headers: &headers,
            payload: &self.body,
        })
    }

    /// Signs the request for `credential` (`AKID/date/region/service/term`) over the headers
    /// named in `signed`, at `amz_date`, and adds the Authorization header.
    fn signed(self, credential: &str, signed: &str, amz_date: &str) -> Req {
        let names: Vec<String> = signed.split(';').map(str::to_owned).collect();
        let parts: Vec<&str> = credential.split('/').collect();
        let sig = self.with(|req| {
            let canonical = canonical_request(req, &names).expect("canonical request");
            let scope = parts[1..].join("/");
            let sts = string_to_sign(amz_date, &scope, &canonical);
            signature(&signing_key(SECRET, parts[1], parts[2], parts[3]), &sts)
        });
        let header = format!(
            "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, Signature={sig}"
        );
        self.header("Authorization", &header)
    }

    fn signed_default(self) -> Req {
        self.signed(
            "AKIDEXAMPLE/20150830/us-east-1/dynamodb/aws4_request",
            "content-type;host;x-amz-date;x-amz-target",
            "20150830T123600Z",
        )
    }

    /// Runs the full pipeline the server runs: parse, precheck, signature.
    fn check(&self, now: i64) -> Result<(), SigV4Error> {
        self.with(|req| {
            let auth = parse_request_authorization(req)?;
            let time = precheck(req, &auth, &DYNAMODB, now)?;
            let key = signing_key(SECRET, &auth.date, &auth.region, &auth.service);
            verify_signature(req, &auth, &key.into(), &time)
        })
    }
}

fn assert_error(result: Result<(), SigV4Error>, code: &str, message: &str) {
    let err = result.expect_err("expected an authentication failure");
    assert_eq!(err.aws_code(), code, "{err:?}");
    assert_eq!(err.message(), message, "{err:?}");
}

#[test]
fn a_correctly_signed_request_passes() {
    let req = Req::new().signed_default();
    assert_eq!(req.check(T), Ok(()));
    req.with(|r| {
        let auth = parse_request_authorization(r).expect("parsed");
        assert_eq!(verify(r, &auth, SECRET, "dynamodb", T), Ok(()));
    });
}

#[test]
fn missing_authorization_header() {
    assert_error(
        Req::new().check(T),
        "MissingAuthenticationTokenException",
        "Request is missing Authentication Token",
    );
}

#[test]
fn authorization_not_starting_with_aws4_dash_reads_as_missing() {
    for header in [
        "AWS4",
        "X",
        "Basic dXNlcjpwYXNz",
        "aws4-hmac-sha256 Credential=a",
    ] {
        assert_error(
            Req::new().header("Authorization", header).check(T),
            "MissingAuthenticationTokenException",
            "Request is missing Authentication Token",
        );
    }
}

#[test]
fn both_header_and_query_authentication() {
    let mut req = Req::new().header("Authorization", "X");
    req.query = "X-Amz-Algorithm";
    assert_error(
        req.check(T),
        "InvalidSignatureException",
        "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.",
    );
}

#[test]
fn everything_missing_from_a_bare_aws4_dash_header() {
    let req = Req::new()
        .without("X-Amz-Date")
        .header("Authorization", "AWS4-");
    assert_error(
        req.check(T),
        "IncompleteSignatureException",
        "Authorization header requires 'Credential' parameter. \
         Authorization header requires 'Signature' parameter. \
         Authorization header requires 'SignedHeaders' parameter. \
         Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. \
         Authorization=AWS4-",
    );
}

#[test]
fn signed_headers_missing_with_space_or_comma_separators() {
    for header in [
        "AWS4- Signature=b Credential=a",
        "AWS4- Signature=b,Credential=a",
        "AWS4- Signature=b, Credential=a",
    ] {
        let req = Req::new()
            .without("X-Amz-Date")
            .header("Date", "a")
            .header("Authorization", header);
        assert_error(
            req.check(T),
            "IncompleteSignatureException",
            &format!(
                "Authorization header requires 'SignedHeaders' parameter. Authorization={header}"
            ),
        );
    }
}

#[test]
fn only_the_date_header_missing() {
    let req = Req::new().signed_default().without("X-Amz-Date");
    let header = req
        .headers
        .iter()
        .find(|(n, _)| n == "Authorization")
        .map(|(_, v)| String::from_utf8(v.clone()).expect("ascii"))
        .expect("authorization");
    assert_error(
        req.check(T),
        "IncompleteSignatureException",
        &format!(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={header}"
        ),
    );
    // The same text when the header was parsed on its own and verify finds no date.
    req.with(|r| {
        let auth = parse_authorization(&header).expect("parsed");
        assert_eq!(
            verify(r, &auth, SECRET, "dynamodb", T).map_err(|e| e.message()),
            Err(format!(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={header}"
            ))
        );
    });
}

#[test]
fn parameter_without_equal_sign() {
    let header = "AWS4-HMAC-SHA256 Signature=b,    Credential,    SignedHeaders";
    assert_error(
        Req::new().header("Authorization", header).check(T),
        "IncompleteSignatureException",
        "'Credential' not a valid key=value pair (missing equal-sign) in Authorization header: \
         'AWS4-HMAC-SHA256 Signature=b,    Credential,    SignedHeaders'.",
    );
}

#[test]
fn date_not_in_basic_iso_8601() {
    for bad in [
        "201",
        "2015-08-30T12:36:00Z",
        "Sun, 30 Aug 2015 12:36:00 GMT",
    ] {
        let req = Req::new().signed_default().header("X-Amz-Date", bad);
        assert_error(
            req.check(T),
            "IncompleteSignatureException",
            &format!(
                "Date must be in ISO-8601 'basic format'. Got '{bad}'. See http://en.wikipedia.org/wiki/ISO_8601"
            ),
        );
    }
}

#[test]
fn x_amz_date_wins_over_a_valid_date_header() {
    let req = Req::new()
        .signed_default()
        .header("Date", "Sun, 30 Aug 2015 12:36:00 GMT")
        .header("X-Amz-Date", "garbage");
    assert!(matches!(req.check(T), Err(SigV4Error::InvalidDate(_))));
}

#[test]
fn http_date_header_is_accepted_when_x_amz_date_is_absent() {
    let req = Req::new()
        .without("X-Amz-Date")
        .header("Date", "Sun, 30 Aug 2015 12:36:00 GMT")
        .signed(
            "AKIDEXAMPLE/20150830/us-east-1/dynamodb/aws4_request",
            "date;host",
            "20150830T123600Z",
        );
    assert_eq!(req.check(T), Ok(()));
}

#[test]
fn signature_expired() {
    // dynalite's recorded DynamoDB response.
    let req = Req::new()
        .signed_default()
        .header("X-Amz-Date", "20130301T000000Z");
    let now = cove_sigv4::parse_amz_date("20130609T100015Z").expect("date");
    assert_error(
        req.check(now),
        "InvalidSignatureException",
        "Signature expired: 20130301T000000Z is now earlier than 20130609T094515Z (20130609T100015Z - 15 min.)",
    );
    // The brief's example.
    let req = Req::new()
        .signed_default()
        .header("X-Amz-Date", "20130524T000000Z");
    let now = cove_sigv4::parse_amz_date("20240101T003000Z").expect("date");
    assert_error(
        req.check(now),
        "InvalidSignatureException",
        "Signature expired: 20130524T000000Z is now earlier than 20240101T001500Z (20240101T003000Z - 15 min.)",
    );
    // One second past the limit.
    let req = Req::new()
        .signed_default()
        .header("X-Amz-Date", "20150830T122059Z");
    assert_error(
        req.check(T),
        "InvalidSignatureException",
        "Signature expired: 20150830T122059Z is now earlier than 20150830T122100Z (20150830T123600Z - 15 min.)",
    );
}

#[test]
fn signature_not_yet_current() {
    let req = Req::new()
        .signed_default()
        .header("X-Amz-Date", "20150830T125101Z");
    assert_error(
        req.check(T),
        "InvalidSignatureException",
        "Signature not yet current: 20150830T125101Z is still later than 20150830T125100Z (20150830T123600Z + 15 min.)",
    );
}

#[test]
fn host_not_signed() {
    let req = Req::new().signed(
        "AKIDEXAMPLE/20150830/us-east-1/dynamodb/aws4_request",
        "x-amz-date",
        "20150830T123600Z",
    );
    assert_error(
        req.check(T),
        "InvalidSignatureException",
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
    );
    let req = Req::new().header(
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/dynamodb/aws4_request, SignedHeaders=, Signature=ab",
    );
    assert!(matches!(req.check(T), Err(SigV4Error::HostNotSigned)));
}

#[test]
fn unsupported_algorithm() {
    let req = Req::new().header(
        "Authorization",
        "AWS4-HMAC-SHA25 Credential=AKIDEXAMPLE/20150830/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=ab",
    );
    assert_error(
        req.check(T),
        "IncompleteSignatureException",
        "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA25' (only AWS4-HMAC-SHA256 for now). ",
    );
}

#[test]
fn credential_without_five_elements() {
    for credential in ["a/b/c/d", "AKIDEXAMPLE", "a/b/c/d/e/f"] {
        let req = Req::new().header(
            "Authorization",
            &format!("AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, Signature=ab"),
        );
        assert_error(
            req.check(T),
            "IncompleteSignatureException",
            &format!(
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
            ),
        );
    }
}

#[test]
fn every_scope_fault_in_one_message() {
    // dynalite's recorded DynamoDB response for Credential=a/b/c/d/e.
    let req = Req::new().header("X-Amz-Date", "20130609T095204Z").header(
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=ab",
    );
    let now = cove_sigv4::parse_amz_date("20130609T095204Z").expect("date");
    assert_error(
        req.check(now),
        "InvalidSignatureException",
        "Credential should be scoped to a valid region, not 'c'. \
         Credential should be scoped to correct service: 'dynamodb'. \
         Credential should be scoped with a valid terminator: 'aws4_request', not 'e'. \
         Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
         'b' != '20130609', from '20130609T095204Z'.",
    );
}

#[test]
fn scope_date_mismatch_alone() {
    let req = Req::new().signed(
        "AKIDEXAMPLE/20150831/us-east-1/dynamodb/aws4_request",
        "host;x-amz-date",
        "20150830T123600Z",
    );
    assert_error(
        req.check(T),
        "InvalidSignatureException",
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
         '20150831' != '20150830', from '20150830T123600Z'.",
    );
}

#[test]
fn scope_region_mismatch_alone_keeps_aws_trailing_space() {
    let req = Req::new().signed(
        "AKIDEXAMPLE/20150830/eu-east-2/dynamodb/aws4_request",
        "host;x-amz-date",
        "20150830T123600Z",
    );
    assert_error(
        req.check(T),
        "InvalidSignatureException",
        "Credential should be scoped to a valid region, not 'eu-east-2'. ",
    );
    // Without a configured region any non-empty region is fine, but an empty one is not.
    req.with(|r| {
        let auth = parse_request_authorization(r).expect("parsed");
        assert_eq!(verify(r, &auth, SECRET, "dynamodb", T), Ok(()));
    });
    let req = Req::new().signed(
        "AKIDEXAMPLE/20150830//dynamodb/aws4_request",
        "host;x-amz-date",
        "20150830T123600Z",
    );
    req.with(|r| {
        let auth = parse_request_authorization(r).expect("parsed");
        assert_eq!(
            verify(r, &auth, SECRET, "dynamodb", T).map_err(|e| e.message()),
            Err("Credential should be scoped to a valid region, not ''. ".to_owned())
        );
    });
}

#[test]
fn scope_service_and_terminator() {
    let req = Req::new().signed(
        "AKIDEXAMPLE/20150830/us-east-1/DynamoDB/aws5_request",
        "host;x-amz-date",
        "20150830T123600Z",
    );
    assert_error(
        req.check(T),
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'dynamodb'. \
         Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. ",
    );
}

#[test]
fn signature_mismatch() {
    let req = Req::new()
        .signed_default()
        .header("X-Amz-Target", "DynamoDB_20120810.PutItem");
    assert_error(
        req.check(T),
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method. \
         Consult the service documentation for details.",
    );
    let mut req = Req::new().signed_default();
    req.body = b"{\"Limit\":1}".to_vec();
    assert!(matches!(
        req.check(T),
        Err(SigV4Error::SignatureDoesNotMatch)
    ));
}

#[test]
fn uppercase_hex_signature_does_not_match() {
    let req = Req::new().signed_default();
    let upper = req
        .headers
        .iter()
        .find(|(n, _)| n == "Authorization")
        .map(|(_, v)| String::from_utf8(v.clone()).expect("ascii"))
        .expect("authorization");
    let (head, sig) = upper.split_once("Signature=").expect("signature");
    let upper = format!("{head}Signature={}", sig.to_ascii_uppercase());
    assert!(matches!(
        req.header("Authorization", &upper).check(T),
        Err(SigV4Error::SignatureDoesNotMatch)
    ));
}

#[test]
fn signed_header_absent_from_request() {
    let req = Req::new().signed_default().without("X-Amz-Target");
    let result = req.check(T);
    assert_eq!(
        result,
        Err(SigV4Error::SignedHeaderMissing("x-amz-target".into()))
    );
    assert_error(
        result,
        "InvalidSignatureException",
        cove_sigv4::MSG_SIGNATURE_MISMATCH,
    );
}

#[test]
fn unrecognized_client_text() {
    assert_eq!(
        SigV4Error::UnrecognizedClient.aws_code(),
        "UnrecognizedClientException"
    );
    assert_eq!(
        SigV4Error::UnrecognizedClient.message(),
        "The security token included in the request is invalid."
    );
}

#[test]
fn signed_content_sha256_must_describe_the_body() {
    let hash = cove_sigv4::sha256_hex(b"{}");
    let credential = "AKIDEXAMPLE/20150830/us-east-1/dynamodb/aws4_request";
    let names = "host;x-amz-content-sha256;x-amz-date";
    let ok = Req::new().header("X-Amz-Content-Sha256", &hash).signed(
        credential,
        names,
        "20150830T123600Z",
    );
    assert_eq!(ok.check(T), Ok(()));
    let unsigned = Req::new()
        .header("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
        .signed(credential, names, "20150830T123600Z");
    assert_eq!(unsigned.check(T), Ok(()));
    let mut tampered = ok.clone();
    tampered.body = b"{\"x\":1}".to_vec();
    let result = tampered.check(T);
    assert_eq!(result, Err(SigV4Error::PayloadHashMismatch));
    assert_error(
        result,
        "InvalidSignatureException",
        cove_sigv4::MSG_SIGNATURE_MISMATCH,
    );
    let bogus = Req::new()
        .header("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
        .signed(credential, names, "20150830T123600Z");
    assert_eq!(bogus.check(T), Err(SigV4Error::PayloadHashMismatch));
}

#[test]
fn dynamodb_checks_date_and_skew_before_host_algorithm_and_scope() {
    // Everything is wrong; the date format is reported first.
    let everything_wrong = Req::new().header("X-Amz-Date", "nope").header(
        "Authorization",
        "AWS4-X Credential=a/b, SignedHeaders=x-amz-date, Signature=ab",
    );
    assert!(matches!(
        everything_wrong.check(T),
        Err(SigV4Error::InvalidDate(_))
    ));
    // Then the clock.
    let req = everything_wrong
        .clone()
        .header("X-Amz-Date", "20100101T000000Z");
    assert!(matches!(req.check(T), Err(SigV4Error::Expired(_))));
    // Then the signed host.
    let req = everything_wrong
        .clone()
        .header("X-Amz-Date", "20150830T123600Z");
    assert_eq!(req.check(T), Err(SigV4Error::HostNotSigned));
    // Then the algorithm.
    let req = req.header(
        "Authorization",
        "AWS4-X Credential=a/b, SignedHeaders=host, Signature=ab",
    );
    assert!(matches!(
        req.check(T),
        Err(SigV4Error::UnsupportedAlgorithm(_))
    ));
    // Then the credential's shape.
    let req = req.header(
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=ab",
    );
    assert!(matches!(
        req.check(T),
        Err(SigV4Error::MalformedCredential(_))
    ));
    // Then the scope.
    let req = req.header(
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=ab",
    );
    assert!(matches!(req.check(T), Err(SigV4Error::InvalidScope(_))));
    // And last the signature.
    let req = req.header(
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=a/20150830/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=ab",
    );
    assert_eq!(req.check(T), Err(SigV4Error::SignatureDoesNotMatch));
}

#[test]
fn garbage_requests_never_panic() {
    let weird: &[(&str, &[u8])] = &[
        (
            "Authorization",
            b"AWS4-HMAC-SHA256 Credential=\xff/\xff, SignedHeaders=host;\xff, Signature=\xff",
        ),
        ("Host", b"\xff\x00"),
        (
            "X-Amz-Date",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        ),
    ];
    let req = Request {
        method: "\u{1F600}",
        path: "/%/%zz/../../..",
        query: "%&=&==&%ff=%",
        headers: weird,
        payload: &[0xff; 3],
    };
    let auth = parse_request_authorization(&req).expect("parses leniently");
    for now in [i64::MIN, -1, 0, T, i64::MAX] {
        assert!(verify(&req, &auth, "", "dynamodb", now).is_err());
    }
}

proptest::proptest! {
    #[test]
    fn arbitrary_requests_never_panic(
        method in "\\PC{0,8}",
        path in "\\PC{0,30}",
        query in "\\PC{0,30}",
        headers in proptest::collection::vec(
            (
                proptest::sample::select(vec![
                    "Authorization", "host", "X-Amz-Date", "date", "x-amz-content-sha256", "other",
                ]),
                proptest::collection::vec(proptest::num::u8::ANY, 0..80),
            ),
            0..8,
        ),
        auth_tail in "\\PC{0,80}",
        payload in proptest::collection::vec(proptest::num::u8::ANY, 0..16),
        now in proptest::num::i64::ANY,
    ) {
        let auth_header = format!("AWS4-HMAC-SHA256 {auth_tail}");
        let mut pairs: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_slice())).collect();
        pairs.push(("Authorization", auth_header.as_bytes()));
        let req = Request { method: &method, path: &path, query: &query, headers: &pairs, payload: &payload };
        if let Ok(auth) = parse_request_authorization(&req) {
            let _ = verify(&req, &auth, "secret", "dynamodb", now);
            let _ = canonical_request(&req, &auth.signed_headers);
        }
    }
}
