//! Rebuilding the SigV4 canonical request from the bytes a server received: the normalized and
//! re-encoded path, the sorted query, the canonical headers and the payload hash, following the
//! rules AWS's SDK signers apply for services other than S3.

use percent_encoding::percent_decode;

use crate::Request;
use crate::crypto::sha256_hex_bytes;
use crate::error::SigV4Error;

/// How header values are folded: SDKs disagree on what counts as whitespace, so the verifier
/// can rebuild the request either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Whitespace {
    /// Spaces and tabs are trimmed and runs of them become one space (botocore, the JavaScript,
    /// Java and Go SDKs).
    SpacesAndTabs,
    /// Only spaces are trimmed and collapsed (the Rust SDK's signer).
    SpacesOnly,
}

impl Whitespace {
    fn matches(self, b: u8) -> bool {
        match self {
            Whitespace::SpacesAndTabs => b == b' ' || b == b'\t',
            Whitespace::SpacesOnly => b == b' ',
        }
    }
}

/// The first value of a header, matching the name without regard to case.
pub(crate) fn find_header<'a>(headers: &[(&str, &'a [u8])], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// Whether the raw query string contains the parameter `name` (after decoding), with or without
/// a value.
pub(crate) fn has_query_param(query: &str, name: &str) -> bool {
    query_pairs(query).any(|(key, _)| key == name.as_bytes())
}

/// Splits a raw query into decoded key/value byte strings the way `application/x-www-form-
/// urlencoded` parsing does (`+` is a space, malformed escapes stay literal, empty pieces are
/// skipped), which is how AWS's signers read the query they re-encode.
fn query_pairs(query: &str) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            (form_decode(key), form_decode(value))
        })
}

fn form_decode(text: &str) -> Vec<u8> {
    let spaced: Vec<u8> = text
        .bytes()
        .map(|b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&spaced).collect()
}

/// Appends `bytes` percent-encoded per RFC 3986: everything except the unreserved characters
/// `A-Z a-z 0-9 - _ . ~` (and `/` when `keep_slash`) becomes `%XX` with uppercase hex.
fn uri_encode_into(out: &mut String, bytes: &[u8], keep_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        if unreserved || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// Removes dot segments and empty segments from an absolute path as AWS's signers do for
/// services other than S3 (RFC 3986 §5.2.4, plus merging repeated slashes), keeping a trailing
/// slash when the input ends in one or in a dot segment.
fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let absolute;
    let path = if path.starts_with('/') {
        path
    } else {
        absolute = format!("/{path}");
        absolute.as_str()
    };
    if !path.contains('.') && !path.contains("//") {
        return path.to_owned();
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut result = String::with_capacity(path.len());
    for segment in &segments {
        result.push('/');
        result.push_str(segment);
    }
    let ends_with_slash = ["/", "/.", "/./", "/..", "/../"]
        .iter()
        .any(|suffix| path.ends_with(suffix));
    if result.is_empty() || (ends_with_slash && !result.ends_with('/')) {
        result.push('/');
    }
    result
}

/// The canonical URI for a raw (still percent-encoded) request path: normalized, then
/// URI-encoded a second time, since for every service but S3 the signer encodes the already
/// encoded path again (`%3D` on the wire becomes `%253D` in the canonical request).
pub fn canonical_uri(path: &str) -> String {
    let mut out = String::new();
    canonical_uri_into(&mut out, path);
    out
}

/// Appends the canonical URI of `path` (see [`canonical_uri`]).
fn canonical_uri_into(out: &mut String, path: &str) {
    // DynamoDB requests go to `/`, which is its own canonical form; taking that case first
    // keeps the two string copies of the general path off every request.
    if path == "/" {
        out.push('/');
        return;
    }
    let normalized = normalize_path(path);
    out.reserve(normalized.len());
    uri_encode_into(out, normalized.as_bytes(), true);
}

/// The canonical query string for a raw query (without `?`): each key and value decoded,
/// re-encoded per RFC 3986, sorted by encoded key then value, joined as `k=v` with `&`.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(query)
        .map(|(key, value)| {
            let mut k = String::new();
            let mut v = String::new();
            uri_encode_into(&mut k, &key, false);
            uri_encode_into(&mut v, &value, false);
            (k, v)
        })
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// Trims a header value and collapses inner runs of whitespace to one space.
fn fold_value(value: &[u8], ws: Whitespace, out: &mut Vec<u8>) {
    // Most values hold no whitespace at all and are their own folded form.
    if !value.iter().any(|&b| ws.matches(b)) {
        out.extend_from_slice(value);
        return;
    }
    let mut pending_space = false;
    let mut started = false;
    for &b in value {
        if ws.matches(b) {
            pending_space = started;
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(b);
            started = true;
        }
    }
}

/// Appends the canonical value of a signed header: every occurrence (any name case) folded,
/// joined with `,` in the order received. `false` (and nothing appended) when the request
/// lacks the header.
fn canonical_header_value_into(
    headers: &[(&str, &[u8])],
    name: &str,
    ws: Whitespace,
    out: &mut Vec<u8>,
) -> bool {
    let mut found = false;
    for (_, value) in headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
        if found {
            out.push(b',');
        }
        fold_value(value, ws, out);
        found = true;
    }
    found
}

/// The canonical value of a signed header (see [`canonical_header_value_into`]), `None` when
/// the request lacks it.
#[cfg(test)]
fn canonical_header_value(
    headers: &[(&str, &[u8])],
    name: &str,
    ws: Whitespace,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    canonical_header_value_into(headers, name, ws, &mut out).then_some(out)
}

/// Appends the payload hash line: the signed `x-amz-content-sha256` value when the client
/// signed that header (the value it put in its own canonical request), otherwise the body's
/// SHA-256.
fn payload_hash_line_into(
    req: &Request<'_>,
    signed_headers: &[String],
    ws: Whitespace,
    out: &mut Vec<u8>,
) {
    let signed = signed_headers
        .iter()
        .any(|name| name.eq_ignore_ascii_case("x-amz-content-sha256"));
    if signed && canonical_header_value_into(req.headers, "x-amz-content-sha256", ws, out) {
        return;
    }
    out.extend_from_slice(&sha256_hex_bytes(req.payload));
}

/// A signed header's name in lowercase, borrowed when it already is (as the parser leaves
/// every name), so that the common case allocates nothing.
fn lowercase(name: &str) -> std::borrow::Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(name.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// The canonical request as bytes; header values may legally hold non-UTF-8 octets, and the
/// signature covers them exactly as received. It is built in one buffer, with no string per
/// header.
pub(crate) fn canonical_request_bytes(
    req: &Request<'_>,
    signed_headers: &[String],
    ws: Whitespace,
) -> Result<Vec<u8>, SigV4Error> {
    let mut out = Vec::with_capacity(512 + req.path.len() + req.query.len());
    out.extend_from_slice(req.method.as_bytes());
    out.push(b'\n');
    let mut uri = String::new();
    canonical_uri_into(&mut uri, req.path);
    out.extend_from_slice(uri.as_bytes());
    out.push(b'\n');
    if !req.query.is_empty() {
        out.extend_from_slice(canonical_query(req.query).as_bytes());
    }
    out.push(b'\n');
    for name in signed_headers {
        let lower = lowercase(name);
        out.extend_from_slice(lower.as_bytes());
        out.push(b':');
        if !canonical_header_value_into(req.headers, &lower, ws, &mut out) {
            return Err(SigV4Error::SignedHeaderMissing(lower.into_owned()));
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    for (i, name) in signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(b';');
        }
        out.extend_from_slice(lowercase(name).as_bytes());
    }
    out.push(b'\n');
    payload_hash_line_into(req, signed_headers, ws, &mut out);
    Ok(out)
}

/// Builds the SigV4 canonical request for `req` covering `signed_headers` (in the order given,
/// as the client listed them).
///
/// A header value that is not UTF-8 appears here with replacement characters; the verifier
/// itself hashes the exact bytes.
pub fn canonical_request(
    req: &Request<'_>,
    signed_headers: &[String],
) -> Result<String, SigV4Error> {
    let bytes = canonical_request_bytes(req, signed_headers, Whitespace::SpacesAndTabs)?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_paths_like_the_aws_suite() {
        for (raw, expected) in [
            ("", "/"),
            ("/", "/"),
            ("foo", "/foo"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/./example", "/example"),
            ("//example//", "/example/"),
            ("/foo/bar/.", "/foo/bar/"),
            ("/foo/bar/..", "/foo/"),
            ("/../foo", "/foo"),
            ("/a/./b/../c/", "/a/c/"),
            ("/a.b/c", "/a.b/c"),
            ("/..a/b", "/..a/b"),
        ] {
            assert_eq!(normalize_path(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn encodes_paths_twice() {
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/example space/"), "/example%20space/");
        assert_eq!(canonical_uri("/\u{1234}"), "/%E1%88%B4");
        assert_eq!(
            canonical_uri("/test/@connections/JBDvjfGEIAMCERw%3D"),
            "/test/%40connections/JBDvjfGEIAMCERw%253D"
        );
        assert_eq!(
            canonical_uri("/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
            "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        );
    }

    #[test]
    fn sorts_and_reencodes_queries() {
        assert_eq!(canonical_query(""), "");
        assert_eq!(
            canonical_query("Param2=value2&Param1=value1"),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(
            canonical_query("Param1=value2&Param1=Value1"),
            "Param1=Value1&Param1=value2"
        );
        assert_eq!(canonical_query("b=1&a"), "a=&b=1");
        assert_eq!(
            canonical_query("a=x+y&c=%7E&d=%2b&e=%zz"),
            "a=x%20y&c=~&d=%2B&e=%25zz"
        );
        assert_eq!(
            canonical_query("Param-3=Value3&Param=Value2&%E1%88%B4=Value1"),
            "%E1%88%B4=Value1&Param=Value2&Param-3=Value3"
        );
        assert_eq!(canonical_query("&&a=1&&"), "a=1");
        assert_eq!(canonical_query("a==b"), "a=%3Db");
    }

    #[test]
    fn folds_header_values() {
        let headers: &[(&str, &[u8])] = &[
            ("My-Header1", b"  value1   value2  "),
            ("my-header1", b"\tvalue3\t\tvalue4"),
        ];
        assert_eq!(
            canonical_header_value(headers, "my-header1", Whitespace::SpacesAndTabs),
            Some(b"value1 value2,value3 value4".to_vec())
        );
        assert_eq!(
            canonical_header_value(headers, "my-header1", Whitespace::SpacesOnly),
            Some(b"value1 value2,\tvalue3\t\tvalue4".to_vec())
        );
        assert_eq!(
            canonical_header_value(headers, "other", Whitespace::SpacesOnly),
            None
        );
    }

    #[test]
    fn missing_signed_header_is_reported_by_name() {
        let req = Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &[("Host", b"example.com")],
            payload: b"",
        };
        let err = canonical_request(&req, &["host".into(), "x-amz-date".into()]);
        assert_eq!(
            err,
            Err(SigV4Error::SignedHeaderMissing("x-amz-date".into()))
        );
    }

    #[test]
    fn signed_content_sha256_replaces_the_body_hash() {
        use crate::crypto::sha256_hex;
        let req = Request {
            method: "PUT",
            path: "/",
            query: "",
            headers: &[
                ("Host", b"h"),
                ("X-Amz-Content-Sha256", b"UNSIGNED-PAYLOAD"),
            ],
            payload: b"body",
        };
        let signed = canonical_request(&req, &["host".into(), "x-amz-content-sha256".into()])
            .expect("canonical");
        assert!(signed.ends_with("\nUNSIGNED-PAYLOAD"), "{signed}");
        let unsigned = canonical_request(&req, &["host".into()]).expect("canonical");
        assert!(
            unsigned.ends_with(&format!("\n{}", sha256_hex(b"body"))),
            "{unsigned}"
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_paths_and_queries_never_panic(path in "\\PC{0,60}", query in "\\PC{0,60}") {
            let uri = canonical_uri(&path);
            proptest::prop_assert!(uri.starts_with('/'));
            proptest::prop_assert!(uri.bytes().all(|b| b.is_ascii_graphic()));
            let _ = canonical_query(&query);
        }
    }
}
