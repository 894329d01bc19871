//! The ways SigV4 authentication fails, each carrying the exact text DynamoDB sends and the
//! short AWS error code the wire layer maps to a `__type`.

/// DynamoDB's text when a request carries no usable `Authorization` header.
pub const MSG_MISSING_TOKEN: &str = "Request is missing Authentication Token";

/// DynamoDB's text when the recomputed signature differs from the client's. Since at least 2016
/// DynamoDB no longer appends the canonical request and string to sign (S3 still does).
pub const MSG_SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// AWS's text when `host` is not among the signed headers.
pub const MSG_HOST_NOT_SIGNED: &str =
    "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.";

/// AWS's text when a request is signed both in the header and in the query string.
pub const MSG_HEADER_AND_QUERY_AUTH: &str =
    "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.";

/// DynamoDB's text for an access key it does not know.
pub const MSG_UNRECOGNIZED_CLIENT: &str = "The security token included in the request is invalid.";

/// A SigV4 authentication failure.
///
/// Variants holding a `String` hold DynamoDB's complete message; [`SigV4Error::message`] is
/// what goes on the wire, while `Display` may add detail meant only for logs.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SigV4Error {
    /// No `Authorization` header, or one that does not start with `AWS4-`.
    #[error("{MSG_MISSING_TOKEN}")]
    Missing,
    /// A required Authorization parameter or date header is missing, or a parameter is not a
    /// `key=value` pair (IncompleteSignatureException).
    #[error("{0}")]
    Incomplete(String),
    /// The date header is not in basic ISO 8601 form (IncompleteSignatureException).
    #[error("{0}")]
    InvalidDate(String),
    /// The request time is more than 15 minutes before the server's clock.
    #[error("{0}")]
    Expired(String),
    /// The request time is more than 15 minutes after the server's clock.
    #[error("{0}")]
    NotYetCurrent(String),
    /// `host` is not one of the signed headers.
    #[error("{MSG_HOST_NOT_SIGNED}")]
    HostNotSigned,
    /// The algorithm is not `AWS4-HMAC-SHA256` (IncompleteSignatureException).
    #[error("{0}")]
    UnsupportedAlgorithm(String),
    /// The credential does not have five slash-separated elements (IncompleteSignatureException).
    #[error("{0}")]
    MalformedCredential(String),
    /// The credential scope names the wrong region, service, terminator or date.
    #[error("{0}")]
    InvalidScope(String),
    /// The request carries both an `Authorization` header and an `X-Amz-Algorithm` query
    /// parameter.
    #[error("{MSG_HEADER_AND_QUERY_AUTH}")]
    HeaderAndQueryAuth,
    /// The caller found no secret for the access key id (UnrecognizedClientException).
    #[error("{MSG_UNRECOGNIZED_CLIENT}")]
    UnrecognizedClient,
    /// A header named in SignedHeaders is absent from the request. The client cannot have
    /// signed what was received, so DynamoDB reports a signature mismatch.
    #[error("signed header '{0}' is absent from the request")]
    SignedHeaderMissing(String),
    /// A signed `x-amz-content-sha256` does not describe the body that arrived, so the body is
    /// not the one the client signed.
    #[error("x-amz-content-sha256 does not match the request body")]
    PayloadHashMismatch,
    /// The recomputed signature differs from the one the client sent.
    #[error("{MSG_SIGNATURE_MISMATCH}")]
    SignatureDoesNotMatch,
}

impl SigV4Error {
    /// The message DynamoDB puts in the error body for this failure.
    pub fn message(&self) -> String {
        match self {
            SigV4Error::Missing => MSG_MISSING_TOKEN.to_owned(),
            SigV4Error::Incomplete(m)
            | SigV4Error::InvalidDate(m)
            | SigV4Error::Expired(m)
            | SigV4Error::NotYetCurrent(m)
            | SigV4Error::UnsupportedAlgorithm(m)
            | SigV4Error::MalformedCredential(m)
            | SigV4Error::InvalidScope(m) => m.clone(),
            SigV4Error::HostNotSigned => MSG_HOST_NOT_SIGNED.to_owned(),
            SigV4Error::HeaderAndQueryAuth => MSG_HEADER_AND_QUERY_AUTH.to_owned(),
            SigV4Error::UnrecognizedClient => MSG_UNRECOGNIZED_CLIENT.to_owned(),
            SigV4Error::SignedHeaderMissing(_)
            | SigV4Error::PayloadHashMismatch
            | SigV4Error::SignatureDoesNotMatch => MSG_SIGNATURE_MISMATCH.to_owned(),
        }
    }

    /// The AWS error code (the part of `__type` after `#`).
    pub fn aws_code(&self) -> &'static str {
        match self {
            SigV4Error::Missing => "MissingAuthenticationTokenException",
            SigV4Error::Incomplete(_)
            | SigV4Error::InvalidDate(_)
            | SigV4Error::UnsupportedAlgorithm(_)
            | SigV4Error::MalformedCredential(_) => "IncompleteSignatureException",
            SigV4Error::Expired(_)
            | SigV4Error::NotYetCurrent(_)
            | SigV4Error::HostNotSigned
            | SigV4Error::InvalidScope(_)
            | SigV4Error::HeaderAndQueryAuth
            | SigV4Error::SignedHeaderMissing(_)
            | SigV4Error::PayloadHashMismatch
            | SigV4Error::SignatureDoesNotMatch => "InvalidSignatureException",
            SigV4Error::UnrecognizedClient => "UnrecognizedClientException",
        }
    }

    /// The HTTP status DynamoDB answers with; every authentication failure is a 400 there,
    /// unlike the 403 of REST services.
    pub fn http_status(&self) -> u16 {
        400
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages_line_up() {
        assert_eq!(
            SigV4Error::Missing.aws_code(),
            "MissingAuthenticationTokenException"
        );
        assert_eq!(
            SigV4Error::Missing.message(),
            "Request is missing Authentication Token"
        );
        assert_eq!(
            SigV4Error::Missing.to_string(),
            SigV4Error::Missing.message()
        );
        assert_eq!(
            SigV4Error::SignedHeaderMissing("x".into()).message(),
            SigV4Error::SignatureDoesNotMatch.message()
        );
        assert_eq!(
            SigV4Error::SignedHeaderMissing("x".into()).aws_code(),
            "InvalidSignatureException"
        );
        assert_eq!(
            SigV4Error::InvalidDate("d".into()).aws_code(),
            "IncompleteSignatureException"
        );
        assert_eq!(
            SigV4Error::UnrecognizedClient.aws_code(),
            "UnrecognizedClientException"
        );
        assert_eq!(SigV4Error::Expired("e".into()).http_status(), 400);
        assert_eq!(MSG_SIGNATURE_MISMATCH.len(), 178);
    }
}
