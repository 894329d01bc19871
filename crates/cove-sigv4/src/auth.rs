//! Parsing the SigV4 `Authorization` header into its parts, with DynamoDB's checks and messages
//! for a header that is absent, foreign or incomplete.

use crate::Request;
use crate::canonical::{find_header, has_query_param};
use crate::error::SigV4Error;

/// The parsed parts of an `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
/// Signature=...` header.
///
/// Parsing is lenient about the algorithm and the credential's shape, because DynamoDB checks
/// those only after the date and clock skew; [`crate::precheck`] does so in that order. When the
/// credential does not have five elements the scope fields hold whatever elements exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id, the credential's first element.
    pub access_key_id: String,
    /// The scope date, `yyyymmdd`, the credential's second element.
    pub date: String,
    /// The scope region, the credential's third element.
    pub region: String,
    /// The scope service, the credential's fourth element.
    pub service: String,
    /// SignedHeaders split at `;`, lowercased, in the order given, without empty names.
    pub signed_headers: Vec<String>,
    /// The hex signature as sent.
    pub signature: String,
    /// The algorithm word before the parameters, e.g. `AWS4-HMAC-SHA256`.
    pub algorithm: String,
    /// The whole `Credential` value as sent.
    pub credential: String,
    /// The credential's fifth element, normally `aws4_request`.
    pub terminator: String,
    /// The header value as received, which DynamoDB quotes in IncompleteSignatureException.
    pub raw_header: String,
}

impl Authorization {
    /// The credential scope as the client claims it: `date/region/service/terminator`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.date, self.region, self.service, self.terminator
        )
    }

    /// The credential split the way AWS counts its elements: at every `/`, with trailing empty
    /// elements dropped (AWS ignores trailing slashes).
    #[cfg(test)]
    pub(crate) fn credential_elements(&self) -> Vec<&str> {
        credential_elements(&self.credential)
    }

    /// How many elements [`Self::credential_elements`] would give, counted without collecting
    /// them, as every request's scope check needs.
    pub(crate) fn credential_element_count(&self) -> usize {
        let trimmed = self.credential.trim_end_matches('/');
        if trimmed.is_empty() {
            0
        } else {
            trimmed.bytes().filter(|&b| b == b'/').count() + 1
        }
    }
}

#[cfg(test)]
fn credential_elements(credential: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = credential.split('/').collect();
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts
}

/// DynamoDB's text for a missing date header, which it appends after the parameter complaints.
const MSG_REQUIRES_DATE: &str =
    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ";

/// Whether a header value starts the way DynamoDB requires before it treats the header as a
/// SigV4 attempt at all; anything else reads as no authentication.
fn is_sigv4_attempt(header: &str) -> bool {
    header.trim().starts_with("AWS4-")
}

/// Parses an `Authorization` header value.
///
/// Fails with [`SigV4Error::Missing`] when the value does not start with `AWS4-` (as DynamoDB
/// does) and with [`SigV4Error::Incomplete`] when a parameter is not `key=value` or when
/// `Credential`, `Signature` or `SignedHeaders` is absent. It cannot see the request's date
/// headers; [`parse_request_authorization`] adds that complaint in DynamoDB's combined form.
pub fn parse_authorization(header: &str) -> Result<Authorization, SigV4Error> {
    parse_with_date_presence(header, true)
}

/// Finds and parses the `Authorization` header of a request, with every check DynamoDB makes
/// before looking at the date: the header must exist and start with `AWS4-`, must not coexist
/// with query-string authentication, and must carry its three parameters and a date header.
///
/// Query-string (presigned) authentication is not supported, so a request without the header
/// is [`SigV4Error::Missing`] whatever its query holds.
pub fn parse_request_authorization(req: &Request<'_>) -> Result<Authorization, SigV4Error> {
    let header = find_header(req.headers, "authorization")
        .map(|value| String::from_utf8_lossy(value).into_owned());
    let Some(header) = header else {
        return Err(SigV4Error::Missing);
    };
    if has_query_param(req.query, "X-Amz-Algorithm") {
        return Err(SigV4Error::HeaderAndQueryAuth);
    }
    parse_with_date_presence(&header, has_date_header(req))
}

/// Whether the request has a non-empty `X-Amz-Date` or `Date` header; DynamoDB treats an empty
/// one as absent.
pub(crate) fn has_date_header(req: &Request<'_>) -> bool {
    ["x-amz-date", "date"].iter().any(|name| {
        find_header(req.headers, name).is_some_and(|v| !v.iter().all(u8::is_ascii_whitespace))
    })
}

/// The IncompleteSignatureException text for a request whose only fault is a missing date.
pub(crate) fn missing_date_message(raw_header: &str) -> String {
    format!("{MSG_REQUIRES_DATE}Authorization={raw_header}")
}

/// The non-empty pieces of `text` between commas, spaces and tabs. The delimiters are ASCII,
/// so the pieces are found on bytes and sliced out whole, without decoding characters.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        let is_delimiter = |b: &u8| matches!(b, b',' | b' ' | b'\t');
        let start = at + bytes.get(at..)?.iter().position(|b| !is_delimiter(b))?;
        let len = bytes[start..]
            .iter()
            .position(is_delimiter)
            .unwrap_or(bytes.len() - start);
        at = start + len;
        text.get(start..at)
    })
}

fn parse_with_date_presence(header: &str, has_date: bool) -> Result<Authorization, SigV4Error> {
    if !is_sigv4_attempt(header) {
        return Err(SigV4Error::Missing);
    }
    let trimmed = header.trim();
    let mut tokens = tokens(trimmed);
    let algorithm = tokens.next().unwrap_or_default().to_owned();

    let mut credential = None;
    let mut signature = None;
    let mut signed_headers = None;
    for token in tokens {
        let Some((key, value)) = token.split_once('=') else {
            return Err(SigV4Error::Incomplete(format!(
                "'{token}' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'."
            )));
        };
        // A repeated parameter takes its last value, as DynamoDB's parser does.
        match key {
            "Credential" => credential = Some(value),
            "Signature" => signature = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            _ => {}
        }
    }

    let mut message = String::new();
    // An empty Credential or Signature counts as missing; an empty SignedHeaders does not, and
    // fails later because it lacks `host`.
    if credential.is_none_or(str::is_empty) {
        message.push_str("Authorization header requires 'Credential' parameter. ");
    }
    if signature.is_none_or(str::is_empty) {
        message.push_str("Authorization header requires 'Signature' parameter. ");
    }
    if signed_headers.is_none() {
        message.push_str("Authorization header requires 'SignedHeaders' parameter. ");
    }
    if !has_date {
        message.push_str(MSG_REQUIRES_DATE);
    }
    if !message.is_empty() {
        message.push_str("Authorization=");
        message.push_str(header);
        return Err(SigV4Error::Incomplete(message));
    }

    let credential = credential.unwrap_or_default();
    // The first five elements, without collecting them all: an element AWS would drop as a
    // trailing empty one reads as empty here too, which is what a missing one reads as.
    let mut elements = [""; 5];
    for (slot, element) in elements.iter_mut().zip(credential.split('/')) {
        *slot = element;
    }
    let element = |i: usize| elements[i].to_owned();
    Ok(Authorization {
        access_key_id: element(0),
        date: element(1),
        region: element(2),
        service: element(3),
        terminator: element(4),
        signed_headers: signed_headers
            .unwrap_or_default()
            .split(';')
            .filter(|name| !name.is_empty())
            .map(str::to_ascii_lowercase)
            .collect(),
        signature: signature.unwrap_or_default().to_owned(),
        algorithm,
        credential: credential.to_owned(),
        raw_header: header.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

    #[test]
    fn parses_the_standard_form() {
        let auth = parse_authorization(HEADER).expect("valid header");
        assert_eq!(auth.access_key_id, "AKIDEXAMPLE");
        assert_eq!(auth.date, "20150830");
        assert_eq!(auth.region, "us-east-1");
        assert_eq!(auth.service, "dynamodb");
        assert_eq!(auth.terminator, "aws4_request");
        assert_eq!(auth.signed_headers, vec!["host", "x-amz-date"]);
        assert_eq!(
            auth.signature,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert_eq!(auth.algorithm, "AWS4-HMAC-SHA256");
        assert_eq!(auth.scope(), "20150830/us-east-1/dynamodb/aws4_request");
        assert_eq!(auth.raw_header, HEADER);
    }

    #[test]
    fn accepts_commas_without_spaces_and_lowercases_signed_headers() {
        let auth = parse_authorization(
            "  AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request,SignedHeaders=Host;X-Amz-Date,Signature=ab",
        )
        .expect("valid header");
        assert_eq!(auth.signed_headers, vec!["host", "x-amz-date"]);
        assert_eq!(auth.signature, "ab");
    }

    #[test]
    fn non_aws4_headers_read_as_missing() {
        for header in [
            "",
            "AWS4",
            "X",
            "Bearer abc",
            "AWS3-HMAC-SHA256 Credential=a",
        ] {
            assert_eq!(
                parse_authorization(header),
                Err(SigV4Error::Missing),
                "{header}"
            );
        }
    }

    #[test]
    fn trailing_slashes_in_the_credential_are_ignored() {
        let auth = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request//, SignedHeaders=host, Signature=ab",
        )
        .expect("valid header");
        assert_eq!(auth.credential_elements().len(), 5);
        assert_eq!(auth.credential_element_count(), 5);
        assert_eq!(auth.terminator, "aws4_request");
    }

    #[test]
    fn short_credentials_still_parse_for_later_checks() {
        let auth = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=A/b, SignedHeaders=host, Signature=ab",
        )
        .expect("lenient parse");
        assert_eq!(auth.access_key_id, "A");
        assert_eq!(auth.date, "b");
        assert_eq!(auth.region, "");
        assert_eq!(auth.credential_elements().len(), 2);
        assert_eq!(auth.credential_element_count(), 2);
    }

    proptest::proptest! {
        #[test]
        fn element_counting_agrees_with_splitting(credential in "[a/]{0,12}") {
            let auth = parse_authorization(&format!(
                "AWS4-HMAC-SHA256 Credential={credential}x, SignedHeaders=host, Signature=ab"
            )).expect("lenient parse");
            proptest::prop_assert_eq!(auth.credential_element_count(), auth.credential_elements().len());
            let bare = Authorization { credential: credential.clone(), ..auth };
            proptest::prop_assert_eq!(bare.credential_element_count(), credential_elements(&credential).len());
        }
    }

    proptest::proptest! {
        #[test]
        fn tokens_split_as_str_split_does(s in "[a, \t=é]{0,30}") {
            let expected: Vec<&str> = s.split([',', ' ', '\t']).filter(|t| !t.is_empty()).collect();
            proptest::prop_assert_eq!(tokens(&s).collect::<Vec<_>>(), expected);
        }

        #[test]
        fn arbitrary_headers_never_panic(s in "\\PC{0,200}") {
            let _ = parse_authorization(&s);
            let prefixed = format!("AWS4-HMAC-SHA256 {s}");
            let _ = parse_authorization(&prefixed);
        }
    }
}
