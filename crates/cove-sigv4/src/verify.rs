//! Full SigV4 verification of a request: DynamoDB's checks in DynamoDB's order (date format,
//! clock skew, signed `host`, algorithm, credential shape, credential scope) and then the
//! constant-time signature comparison.

use subtle::ConstantTimeEq;

use crate::auth::{has_date_header, missing_date_message};
use crate::canonical::{Whitespace, canonical_request_bytes, find_header};
use crate::crypto::{ALGORITHM, SigningKey, TERMINATOR, hex32, sha256_hex_bytes, signing_key};
use crate::error::SigV4Error;
use crate::time::{format_amz_date, parse_amz_date, parse_http_date};
use crate::{Authorization, Request};

/// How far, in seconds, a request's time may be from the server's clock either way; DynamoDB
/// allows 15 minutes.
pub const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// What the server expects of a credential scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected<'a> {
    /// The service name the scope must carry exactly, `dynamodb` for DynamoDB.
    pub service: &'a str,
    /// The region the scope must carry exactly; `None` accepts any non-empty region, as a
    /// server without a fixed region (like DynamoDB Local) does.
    pub region: Option<&'a str>,
}

/// The request time that passed [`precheck`], in the two forms the signature needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTime {
    /// The time in basic ISO 8601 form, as it enters the string to sign.
    pub amz_date: String,
    /// The same instant in unix seconds.
    pub unix: i64,
}

/// Reads the request time from `X-Amz-Date`, or from `Date` when that is absent.
///
/// `X-Amz-Date` must be basic ISO 8601; `Date` may also be an IMF-fixdate, which older SigV4
/// clients sent. Either way the string to sign uses the ISO form.
fn request_time(req: &Request<'_>, auth: &Authorization) -> Result<SignedTime, SigV4Error> {
    let non_empty = |name: &str| {
        find_header(req.headers, name).filter(|v| !v.iter().all(u8::is_ascii_whitespace))
    };
    let (raw, allow_http_date) = match (non_empty("x-amz-date"), non_empty("date")) {
        (Some(v), _) => (v, false),
        (None, Some(v)) => (v, true),
        (None, None) => {
            return Err(SigV4Error::Incomplete(missing_date_message(
                &auth.raw_header,
            )));
        }
    };
    let text = String::from_utf8_lossy(raw);
    let text = text.trim();
    let unix = parse_amz_date(text).or_else(|| {
        if allow_http_date {
            parse_http_date(text)
        } else {
            None
        }
    });
    match unix {
        Some(unix) => Ok(SignedTime {
            amz_date: format_amz_date(unix),
            unix,
        }),
        None => Err(SigV4Error::InvalidDate(format!(
            "Date must be in ISO-8601 'basic format'. Got '{text}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ))),
    }
}

/// Rejects a request time more than [`MAX_SKEW_SECONDS`] from `now_unix`, with DynamoDB's
/// messages (a time exactly at the limit is accepted).
fn check_skew(time: &SignedTime, now_unix: i64) -> Result<(), SigV4Error> {
    // The server's time is formatted only for the messages, so an accepted request (the common
    // case) pays for no formatting.
    let earliest = now_unix.saturating_sub(MAX_SKEW_SECONDS);
    if time.unix < earliest {
        return Err(SigV4Error::Expired(format!(
            "Signature expired: {} is now earlier than {} ({} - 15 min.)",
            time.amz_date,
            format_amz_date(earliest),
            format_amz_date(now_unix)
        )));
    }
    let latest = now_unix.saturating_add(MAX_SKEW_SECONDS);
    if time.unix > latest {
        return Err(SigV4Error::NotYetCurrent(format!(
            "Signature not yet current: {} is still later than {} ({} + 15 min.)",
            time.amz_date,
            format_amz_date(latest),
            format_amz_date(now_unix)
        )));
    }
    Ok(())
}

/// Checks the credential's shape and scope, joining every scope complaint into one message as
/// DynamoDB does.
fn check_credential(
    auth: &Authorization,
    expected: &Expected<'_>,
    time: &SignedTime,
) -> Result<(), SigV4Error> {
    if auth.credential_element_count() != 5 {
        return Err(SigV4Error::MalformedCredential(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{}'",
            auth.credential
        )));
    }
    let mut message = String::new();
    let region_ok = match expected.region {
        Some(region) => auth.region == region,
        None => !auth.region.is_empty(),
    };
    if !region_ok {
        message.push_str(&format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            auth.region
        ));
    }
    if auth.service != expected.service {
        message.push_str(&format!(
            "Credential should be scoped to correct service: '{}'. ",
            expected.service
        ));
    }
    if auth.terminator != TERMINATOR {
        message.push_str(&format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'. ",
            auth.terminator
        ));
    }
    let http_day = time.amz_date.get(..8).unwrap_or_default();
    if auth.date != http_day {
        message.push_str(&format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{http_day}', from '{}'.",
            auth.date, time.amz_date
        ));
    }
    if message.is_empty() {
        Ok(())
    } else {
        Err(SigV4Error::InvalidScope(message))
    }
}

/// Every check DynamoDB makes before it needs the secret, in DynamoDB's order: a date header
/// present and in basic ISO 8601 form, the time within 15 minutes of `now_unix`, `host` signed,
/// the algorithm `AWS4-HMAC-SHA256`, a five-element credential, and a scope with the expected
/// region and service, the `aws4_request` terminator and the request's date.
///
/// A server should call this before looking up the access key, so that an unknown key
/// (UnrecognizedClientException) is reported only for otherwise well-formed requests, as
/// DynamoDB does.
pub fn precheck(
    req: &Request<'_>,
    auth: &Authorization,
    expected: &Expected<'_>,
    now_unix: i64,
) -> Result<SignedTime, SigV4Error> {
    if !has_date_header(req) {
        return Err(SigV4Error::Incomplete(missing_date_message(
            &auth.raw_header,
        )));
    }
    let time = request_time(req, auth)?;
    check_skew(&time, now_unix)?;
    if !auth
        .signed_headers
        .iter()
        .any(|h| h.eq_ignore_ascii_case("host"))
    {
        return Err(SigV4Error::HostNotSigned);
    }
    if auth.algorithm != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm(format!(
            "Unsupported AWS 'algorithm': '{}' (only {ALGORITHM} for now). ",
            auth.algorithm
        )));
    }
    check_credential(auth, expected, &time)?;
    Ok(time)
}

/// Whether a signed `x-amz-content-sha256` value is acceptable for this body: the body's own
/// hash (in either hex case) or `UNSIGNED-PAYLOAD`, the client's explicit opt-out of body
/// signing. Any other value would let a body differ from what the signature covers.
fn content_sha256_acceptable(req: &Request<'_>, auth: &Authorization) -> bool {
    let signed = auth
        .signed_headers
        .iter()
        .any(|h| h == "x-amz-content-sha256");
    if !signed {
        return true;
    }
    let Some(value) = find_header(req.headers, "x-amz-content-sha256") else {
        // The canonical request reports the absent signed header itself.
        return true;
    };
    let value = String::from_utf8_lossy(value);
    let value = value.trim_matches([' ', '\t']);
    value == "UNSIGNED-PAYLOAD"
        || value
            .as_bytes()
            .eq_ignore_ascii_case(&sha256_hex_bytes(req.payload))
}

/// Compares the client's signature with the one computed under `key`, in constant time.
///
/// The string to sign (`algorithm \n time \n scope \n hex(hash(canonical request))`) is fed
/// to the HMAC in pieces, so it is never formatted into a string of its own.
fn signature_matches(
    req: &Request<'_>,
    auth: &Authorization,
    key: &SigningKey,
    time: &SignedTime,
    ws: Whitespace,
) -> Result<bool, SigV4Error> {
    let canonical = canonical_request_bytes(req, &auth.signed_headers, ws)?;
    let hashed = sha256_hex_bytes(&canonical);
    let mac = key.mac(&[
        ALGORITHM.as_bytes(),
        b"\n",
        time.amz_date.as_bytes(),
        b"\n",
        auth.date.as_bytes(),
        b"/",
        auth.region.as_bytes(),
        b"/",
        auth.service.as_bytes(),
        b"/",
        auth.terminator.as_bytes(),
        b"\n",
        &hashed,
    ]);
    let expected = hex32(&mac);
    Ok(bool::from(expected.ct_eq(auth.signature.as_bytes())))
}

/// Verifies the signature of a request that passed [`precheck`], under a signing key derived
/// (or cached) for `auth`'s scope.
///
/// Header values are folded the way most SDKs fold them (spaces and tabs); only when that fails
/// and a signed value holds a tab is the Rust SDK's spaces-only folding tried as well.
pub fn verify_signature(
    req: &Request<'_>,
    auth: &Authorization,
    key: &SigningKey,
    time: &SignedTime,
) -> Result<(), SigV4Error> {
    if !content_sha256_acceptable(req, auth) {
        return Err(SigV4Error::PayloadHashMismatch);
    }
    if signature_matches(req, auth, key, time, Whitespace::SpacesAndTabs)? {
        return Ok(());
    }
    let signed_tab = req.headers.iter().any(|(name, value)| {
        value.contains(&b'\t')
            && auth
                .signed_headers
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name))
    });
    if signed_tab && signature_matches(req, auth, key, time, Whitespace::SpacesOnly)? {
        return Ok(());
    }
    Err(SigV4Error::SignatureDoesNotMatch)
}

/// [`verify`] with a precomputed signing key (see [`signing_key`]), so that a server can cache
/// keys per access key, day, region and service. Accepts any non-empty region.
pub fn verify_with_key(
    req: &Request<'_>,
    auth: &Authorization,
    key: &SigningKey,
    expected_service: &str,
    now_unix: i64,
) -> Result<(), SigV4Error> {
    let expected = Expected {
        service: expected_service,
        region: None,
    };
    let time = precheck(req, auth, &expected, now_unix)?;
    verify_signature(req, auth, key, &time)
}

/// Verifies a request whose `auth` was parsed from it, given the secret the caller looked up
/// for `auth.access_key_id` and the current time in unix seconds: [`precheck`] (with any
/// non-empty region accepted) and then the signature.
pub fn verify(
    req: &Request<'_>,
    auth: &Authorization,
    secret: &str,
    expected_service: &str,
    now_unix: i64,
) -> Result<(), SigV4Error> {
    let expected = Expected {
        service: expected_service,
        region: None,
    };
    // The checks run before the key derivation so that a malformed request costs no HMACs.
    let time = precheck(req, auth, &expected, now_unix)?;
    let key = SigningKey::new(signing_key(secret, &auth.date, &auth.region, &auth.service));
    verify_signature(req, auth, &key, &time)
}
