//! The AWS Query protocol, as IAM and STS speak it: a form-encoded body
//! (`Action=CreateUser&Version=2010-05-08&UserName=alice`, lists as `Name.member.N`) in, and
//! XML out (`<CreateUserResponse><CreateUserResult>…</CreateUserResult><ResponseMetadata>…`),
//! with errors as `<ErrorResponse>`. Pure: the server decides what each action does.

use std::borrow::Cow;
use std::collections::BTreeMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// What can be wrong with a Query request's framing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The body is not `application/x-www-form-urlencoded` text.
    #[error("{0}")]
    Malformed(String),
}

/// The decoded parameters of one request, in body order.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

fn decode_component(text: &str) -> Result<String, QueryError> {
    let spaced = text.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| QueryError::Malformed("request parameters are not valid UTF-8".into()))
}

impl Params {
    /// Parses a form-encoded body.
    pub fn parse(body: &[u8]) -> Result<Params, QueryError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| QueryError::Malformed("request body is not valid UTF-8".into()))?;
        let mut pairs = Vec::new();
        for part in text.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((decode_component(name)?, decode_component(value)?));
        }
        Ok(Params { pairs })
    }

    /// The value of `name` (the last one if it is repeated).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A list member `Name.member.1`, `Name.member.2`, … in index order.
    pub fn list(&self, name: &str) -> Vec<&str> {
        self.indexed(&format!("{name}.member"))
    }

    /// A list of structures, `Name.member.N.Field`: one map of fields per N, in index order.
    pub fn structs(&self, name: &str) -> Vec<BTreeMap<&str, &str>> {
        self.structs_under(&format!("{name}.member."))
    }

    /// An EC2-style flattened list of structures, `Name.N.Field`, in index order.
    pub fn flat_structs(&self, name: &str) -> Vec<BTreeMap<&str, &str>> {
        self.structs_under(&format!("{name}."))
    }

    fn structs_under(&self, prefix: &str) -> Vec<BTreeMap<&str, &str>> {
        let mut by_index: BTreeMap<u32, BTreeMap<&str, &str>> = BTreeMap::new();
        for (k, v) in &self.pairs {
            let Some(rest) = k.strip_prefix(prefix) else {
                continue;
            };
            let Some((index, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(index) = index.parse() else { continue };
            by_index.entry(index).or_default().insert(field, v.as_str());
        }
        by_index.into_values().collect()
    }
}

impl Params {
    /// An EC2-style flattened list: `Name.1`, `Name.2`, … in index order.
    pub fn indexed(&self, name: &str) -> Vec<&str> {
        let prefix = format!("{name}.");
        let mut items: Vec<(u32, &str)> = self
            .pairs
            .iter()
            .filter_map(|(k, v)| {
                let index = k.strip_prefix(&prefix)?.parse().ok()?;
                Some((index, v.as_str()))
            })
            .collect();
        items.sort_by_key(|(i, _)| *i);
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// EC2's `Filter.N.Name` / `Filter.N.Value.M`, in index order.
    pub fn filters(&self) -> Vec<(String, Vec<String>)> {
        let mut by_index: BTreeMap<u32, (String, BTreeMap<u32, String>)> = BTreeMap::new();
        for (k, v) in &self.pairs {
            let Some(rest) = k.strip_prefix("Filter.") else {
                continue;
            };
            let Some((index, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(index) = index.parse() else { continue };
            let entry = by_index.entry(index).or_default();
            if field == "Name" {
                entry.0 = v.clone();
            } else if let Some(n) = field.strip_prefix("Value.").and_then(|n| n.parse().ok()) {
                entry.1.insert(n, v.clone());
            }
        }
        by_index
            .into_values()
            .map(|(name, values)| (name, values.into_values().collect()))
            .collect()
    }

    /// EC2's tags for a resource type: `TagSpecification.N.ResourceType` equal to
    /// `resource_type`, with its `Tag.M.Key` / `Tag.M.Value`.
    pub fn tag_specification(&self, resource_type: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for n in 1..=50 {
            let Some(kind) = self.get(&format!("TagSpecification.{n}.ResourceType")) else {
                break;
            };
            if kind != resource_type {
                continue;
            }
            for m in 1..=50 {
                let Some(key) = self.get(&format!("TagSpecification.{n}.Tag.{m}.Key")) else {
                    break;
                };
                let value = self
                    .get(&format!("TagSpecification.{n}.Tag.{m}.Value"))
                    .unwrap_or_default();
                out.push((key.to_string(), value.to_string()));
            }
        }
        out
    }
}

/// Escapes text for an XML element's content.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'', '\r']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The characters IAM leaves unencoded in the policy documents it returns.
const POLICY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// URL-encodes a policy document, as IAM returns documents (botocore decodes them).
pub fn url_encode(text: &str) -> String {
    utf8_percent_encode(text, POLICY_ENCODE).to_string()
}

/// ISO 8601 in UTC with seconds, as IAM and STS print times (`2026-11-22T21:30:00Z`).
pub fn iso8601(epoch_seconds: i64) -> String {
    jiff::Timestamp::from_second(epoch_seconds)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// An XML document under construction.
#[derive(Debug, Default)]
pub struct Xml {
    buf: String,
}

impl Xml {
    pub fn new() -> Xml {
        Xml::default()
    }

    pub fn open(&mut self, tag: &str) -> &mut Xml {
        self.buf.push('<');
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    pub fn close(&mut self, tag: &str) -> &mut Xml {
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    /// `<tag>text</tag>`, escaped.
    pub fn leaf(&mut self, tag: &str, text: &str) -> &mut Xml {
        self.open(tag);
        self.buf.push_str(&escape(text));
        self.close(tag)
    }

    /// [`Xml::leaf`] when there is a value.
    pub fn leaf_opt(&mut self, tag: &str, text: Option<&str>) -> &mut Xml {
        if let Some(text) = text {
            self.leaf(tag, text);
        }
        self
    }

    pub fn finish(self) -> String {
        self.buf
    }
}

/// A successful response: `<{action}Response xmlns=…>`, the result (omitted when the action
/// has no output), and the request id.
pub fn response(action: &str, namespace: &str, result: Option<&str>, request_id: &str) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"{namespace}\">"
    );
    if let Some(result) = result {
        out.push_str(&format!("<{action}Result>{result}</{action}Result>"));
    }
    out.push_str(&format!(
        "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    ));
    out
}

/// An error response: `Sender` faults for client errors, `Receiver` for server ones.
pub fn error_response(
    namespace: &str,
    sender: bool,
    code: &str,
    message: &str,
    request_id: &str,
) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"{namespace}\"><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        if sender { "Sender" } else { "Receiver" },
        escape(code),
        escape(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_decode_with_lists_and_structures() {
        let body = b"Action=CreateUser&Version=2010-05-08&UserName=al%2Bice&Path=%2Fteam%2F&Tags.member.2.Key=b&Tags.member.1.Key=a&Tags.member.1.Value=x+y&PolicyArns.member.10.arn=z&Names.member.2=two&Names.member.1=one&Flag";
        let p = Params::parse(body).unwrap();
        assert_eq!(p.get("Action"), Some("CreateUser"));
        assert_eq!(p.get("UserName"), Some("al+ice"));
        assert_eq!(p.get("Path"), Some("/team/"));
        assert_eq!(p.get("Flag"), Some(""));
        assert_eq!(p.get("Missing"), None);
        assert_eq!(p.list("Names"), vec!["one", "two"]);
        let tags = p.structs("Tags");
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].get("Key"), Some(&"a"));
        assert_eq!(tags[0].get("Value"), Some(&"x y"));
        assert_eq!(tags[1].get("Value"), None);
        assert!(Params::parse(b"a=%FF").is_err());
    }

    #[test]
    fn xml_is_escaped_and_framed_as_iam_does() {
        let mut x = Xml::new();
        x.open("User")
            .leaf("UserName", "a<b&c")
            .leaf_opt("Path", None)
            .close("User");
        let body = response(
            "GetUser",
            "https://iam.amazonaws.com/doc/2010-05-08/",
            Some(&x.finish()),
            "r-1",
        );
        assert!(body.contains("<GetUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetUserResult><User><UserName>a&lt;b&amp;c</UserName></User></GetUserResult><ResponseMetadata><RequestId>r-1</RequestId>"));
        let err = error_response(
            "ns",
            true,
            "NoSuchEntity",
            "The user with name x cannot be found.",
            "r-2",
        );
        assert!(err.contains("<Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>The user with name x cannot be found.</Message></Error><RequestId>r-2</RequestId>"));
        assert_eq!(
            url_encode("{\"a\": \"b/c\"}"),
            "%7B%22a%22%3A%20%22b%2Fc%22%7D"
        );
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_593_518_400), "2020-06-30T12:00:00Z");
    }
}
