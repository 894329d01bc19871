//! Fuzzes cove-sigv4: `parse_authorization` on arbitrary text, and the whole verifier
//! (`parse_request_authorization`, `precheck`, `verify`, `verify_with_key`, the canonical
//! request) on requests built from the input; a request re-signed with the signature the
//! crate's own signer computes must then verify.
//!
//! Input layout, lines split at `\n` (see `fuzz/seeds/sigv4_parse/`):
//!
//! ```text
//! Authorization header value
//! method
//! path
//! query
//! now, unix seconds
//! secret
//! Name: value        (any number of header lines; values are raw bytes)
//!                    (an empty line ends the headers)
//! payload            (the rest, raw bytes)
//! ```
#![no_main]

use std::borrow::Cow;

use cove_sigv4::{
    Expected, Request, SigV4Error, canonical_query, canonical_request, canonical_uri,
    format_amz_date, parse_amz_date, parse_authorization, parse_http_date,
    parse_request_authorization, precheck, signature, signing_key, string_to_sign, verify,
    verify_with_key,
};
use libfuzzer_sys::fuzz_target;

const SERVICE: &str = "dynamodb";

fn text(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Splits the first line (without its `\n`) off `rest`.
fn take_line<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
    match rest.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let line = &rest[..i];
            *rest = &rest[i + 1..];
            line
        }
        None => std::mem::take(rest),
    }
}

fuzz_target!(|data: &[u8]| {
    // The header parser on the whole input, as one string.
    let whole = text(data);
    let _ = parse_authorization(&whole);

    let mut rest = data;
    let authorization = take_line(&mut rest);
    let method = text(take_line(&mut rest)).into_owned();
    let path = text(take_line(&mut rest)).into_owned();
    let query = text(take_line(&mut rest)).into_owned();
    let now_line = text(take_line(&mut rest)).into_owned();
    let secret = text(take_line(&mut rest)).into_owned();
    let mut extra: Vec<(String, &[u8])> = Vec::new();
    while !rest.is_empty() {
        let line = take_line(&mut rest);
        if line.is_empty() {
            break;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &b""[..]),
        };
        extra.push((text(name).into_owned(), value));
    }
    // Everything after the blank line is the payload.
    let payload = rest;

    // The date and path helpers on their own.
    let now = now_line.trim().parse::<i64>().unwrap_or(0);
    let _ = format_amz_date(now);
    let _ = parse_amz_date(&now_line);
    let _ = parse_http_date(&now_line);
    let uri = canonical_uri(&path);
    assert!(uri.starts_with('/'), "canonical uri {uri:?} of {path:?}");
    let _ = canonical_query(&query);

    let build_headers = |auth: &'_ [u8]| -> Vec<(String, Vec<u8>)> {
        let mut headers = vec![("Authorization".to_owned(), auth.to_vec())];
        headers.extend(extra.iter().map(|(n, v)| (n.clone(), v.to_vec())));
        headers
    };
    let owned = build_headers(authorization);
    let headers: Vec<(&str, &[u8])> = owned
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    let req = Request {
        method: &method,
        path: &path,
        query: &query,
        headers: &headers,
        payload,
    };

    let Ok(auth) = parse_request_authorization(&req) else {
        return;
    };
    let _ = canonical_request(&req, &auth.signed_headers);
    let _ = verify(&req, &auth, &secret, SERVICE, now);
    let key = signing_key(&secret, &auth.date, &auth.region, &auth.service);
    let _ = verify_with_key(&req, &auth, &key, SERVICE, now);
    let expected = Expected {
        service: SERVICE,
        region: None,
    };
    let Ok(time) = precheck(&req, &auth, &expected, now) else {
        return;
    };

    // Re-sign the request the way a client would and check that it verifies. Skipped when
    // the canonical request cannot be built as text (a signed header holds non-UTF-8 bytes,
    // so `canonical_request` is lossy) or when the Authorization header itself is signed.
    if auth.signed_headers.iter().any(|h| h == "authorization")
        || headers.iter().any(|(_, v)| std::str::from_utf8(v).is_err())
    {
        return;
    }
    let Ok(canonical) = canonical_request(&req, &auth.signed_headers) else {
        return;
    };
    let sts = string_to_sign(&time.amz_date, &auth.scope(), &canonical);
    let good = signature(&key, &sts);
    let resigned = format!(
        "{} Credential={}, SignedHeaders={}, Signature={good}",
        auth.algorithm,
        auth.credential,
        auth.signed_headers.join(";")
    );
    let owned = build_headers(resigned.as_bytes());
    let headers: Vec<(&str, &[u8])> = owned
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    let req = Request {
        headers: &headers,
        ..req
    };
    let auth2 = match parse_request_authorization(&req) {
        Ok(a) => a,
        Err(e) => panic!("re-signed header does not parse: {e:?}\n header: {resigned:?}"),
    };
    assert_eq!(auth2.signed_headers, auth.signed_headers);
    assert_eq!(auth2.credential, auth.credential);
    match verify(&req, &auth2, &secret, SERVICE, now) {
        Ok(()) | Err(SigV4Error::PayloadHashMismatch) => {}
        Err(e) => panic!(
            "a correctly signed request does not verify: {e:?}\n header: {resigned:?}\n canonical: {canonical:?}"
        ),
    }
});
