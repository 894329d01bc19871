//! Server-side AWS Signature Version 4 verification for requests signed in the `Authorization`
//! header, as AWS SDKs sign DynamoDB calls, with DynamoDB's exact error codes and messages.
//!
//! Pure: no I/O, no clock reads (the caller passes the current time in unix seconds), no async.
//!
//! A server typically:
//! 1. [`parse_request_authorization`] — finds and parses the header (MissingAuthenticationToken,
//!    IncompleteSignature);
//! 2. [`precheck`] — date format, 15-minute skew, signed `host`, algorithm, credential scope;
//! 3. looks up the secret for [`Authorization::access_key_id`] (answering
//!    [`SigV4Error::UnrecognizedClient`] when unknown);
//! 4. [`verify_signature`] with a (possibly cached) [`SigningKey`] made from [`signing_key`].
//!
//! [`verify`] and [`verify_with_key`] run steps 2 and 4 together.
//!
//! Over HTTP/2 a request has `:authority` instead of `Host`; the caller passes it as a `host`
//! header, which is what the client signed.

mod auth;
mod canonical;
mod crypto;
mod error;
mod time;
mod verify;

pub use auth::{Authorization, parse_authorization, parse_request_authorization};
pub use canonical::{canonical_query, canonical_request, canonical_uri};
pub use crypto::{
    ALGORITHM, SigningKey, TERMINATOR, sha256_hex, signature, signing_key, string_to_sign,
};
pub use error::{
    MSG_HEADER_AND_QUERY_AUTH, MSG_HOST_NOT_SIGNED, MSG_MISSING_TOKEN, MSG_SIGNATURE_MISMATCH,
    MSG_UNRECOGNIZED_CLIENT, SigV4Error,
};
pub use time::{format_amz_date, parse_amz_date, parse_http_date};
pub use verify::{
    Expected, MAX_SKEW_SECONDS, SignedTime, precheck, verify, verify_signature, verify_with_key,
};

/// The parts of a received HTTP request that its signature covers.
///
/// Header names may be in any case and the same name may repeat; values are the raw bytes
/// received (they need not be UTF-8). `path` is the raw, still percent-encoded path and `query`
/// the raw query string without `?`.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// The request path exactly as on the wire.
    pub path: &'a str,
    /// The query string exactly as on the wire, without the `?`.
    pub query: &'a str,
    /// Every header in the order received.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The request body.
    pub payload: &'a [u8],
}
