//! Condition blocks: every IAM operator family, `…IfExists`, `ForAnyValue:`/`ForAllValues:`,
//! and IAM's rules for absent keys, several keys (AND), several values (OR, or NOR for the
//! negated operators). Values are compiled when the policy is parsed.

use std::cmp::Ordering;

use ipnet::IpNet;

use crate::PolicyError;
use crate::context::Context;
use crate::document::condition_values;
use crate::json::Json;
use crate::pattern::{ArnPattern, Pattern, Syntax};
use crate::values::{
    base64_decode, base64_equals, parse_cidr, parse_date, parse_decimal, parse_ip,
};

/// The base comparison of an operator (negation is kept apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Ordering, bool),
    Date(Ordering, bool),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// `ForAnyValue:`, `ForAllValues:` or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    Single,
    AnyValue,
    AllValues,
}

#[derive(Debug, Clone)]
enum Value {
    Text(Pattern),
    Arn(ArnPattern),
    /// A decimal's text; `None` when it is not a number (such a value matches nothing).
    Number(Option<Box<str>>),
    Date(Option<i128>),
    Ip(Option<IpNet>),
    Binary(Option<Box<[u8]>>),
    Null(bool),
}

/// One key under one operator, e.g. `"StringNotEquals": {"aws:SourceVpce": ["vpce-1"]}`.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    op: Op,
    negated: bool,
    set: Set,
    if_exists: bool,
    /// Lower-cased: condition key names are case-insensitive.
    key: Box<str>,
    values: Box<[Value]>,
}

/// Compiles a statement's `Condition` object (operator → key → values).
pub(crate) fn compile_all(
    blocks: &[(String, Json)],
    variables: bool,
) -> Result<Box<[Condition]>, PolicyError> {
    let mut out = Vec::new();
    for (operator, block) in blocks {
        let Json::Object(entries) = block else {
            return Err(syntax());
        };
        let (op, negated, set, if_exists) = parse_operator(operator).ok_or_else(syntax)?;
        for (key, raw) in entries {
            let texts = condition_values(raw).ok_or_else(syntax)?;
            let values = texts
                .iter()
                .map(|text| compile_value(op, text, variables))
                .collect::<Result<Vec<_>, _>>()?;
            out.push(Condition {
                op,
                negated,
                set,
                if_exists,
                key: key.to_ascii_lowercase().into(),
                values: values.into(),
            });
        }
    }
    Ok(out.into())
}

fn syntax() -> PolicyError {
    PolicyError::Malformed("Syntax errors in policy.".into())
}

/// Splits `ForAllValues:StringNotLikeIfExists` into its parts.
fn parse_operator(name: &str) -> Option<(Op, bool, Set, bool)> {
    let (set, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
        (Set::AnyValue, rest)
    } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
        (Set::AllValues, rest)
    } else {
        (Set::Single, name)
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(base) if base != "Null" => (base, true),
        _ => (rest, false),
    };
    use Ordering::{Equal, Greater, Less};
    let (op, negated) = match base {
        "StringEquals" => (Op::StringEquals, false),
        "StringNotEquals" => (Op::StringEquals, true),
        "StringEqualsIgnoreCase" => (Op::StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Op::StringEqualsIgnoreCase, true),
        "StringLike" => (Op::StringLike, false),
        "StringNotLike" => (Op::StringLike, true),
        "NumericEquals" => (Op::Numeric(Equal, false), false),
        "NumericNotEquals" => (Op::Numeric(Equal, false), true),
        "NumericLessThan" => (Op::Numeric(Less, false), false),
        "NumericLessThanEquals" => (Op::Numeric(Less, true), false),
        "NumericGreaterThan" => (Op::Numeric(Greater, false), false),
        "NumericGreaterThanEquals" => (Op::Numeric(Greater, true), false),
        "DateEquals" => (Op::Date(Equal, false), false),
        "DateNotEquals" => (Op::Date(Equal, false), true),
        "DateLessThan" => (Op::Date(Less, false), false),
        "DateLessThanEquals" => (Op::Date(Less, true), false),
        "DateGreaterThan" => (Op::Date(Greater, false), false),
        "DateGreaterThanEquals" => (Op::Date(Greater, true), false),
        "Bool" => (Op::Bool, false),
        "BinaryEquals" => (Op::Binary, false),
        "IpAddress" => (Op::Ip, false),
        "NotIpAddress" => (Op::Ip, true),
        "ArnEquals" | "ArnLike" => (Op::Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Op::Arn, true),
        "Null" => (Op::Null, false),
        _ => return None,
    };
    Some((op, negated, set, if_exists))
}

fn compile_value(op: Op, text: &str, variables: bool) -> Result<Value, PolicyError> {
    let exact = Syntax {
        variables,
        wildcards: false,
        lowercase: false,
    };
    Ok(match op {
        Op::StringEquals | Op::StringEqualsIgnoreCase | Op::Bool => {
            Value::Text(Pattern::compile(text, exact))
        }
        Op::StringLike => Value::Text(Pattern::compile(
            text,
            Syntax {
                wildcards: true,
                ..exact
            },
        )),
        Op::Arn => Value::Arn(ArnPattern::compile(text, variables)),
        Op::Numeric(..) => Value::Number(parse_decimal(text).map(|_| text.into())),
        Op::Date(..) => match parse_date(text) {
            Some(t) => Value::Date(Some(t)),
            None => {
                return Err(PolicyError::Malformed(
                    "The policy failed legacy parsing".into(),
                ));
            }
        },
        Op::Ip => Value::Ip(parse_cidr(text)),
        Op::Binary => Value::Binary(base64_decode(text).map(Into::into)),
        Op::Null => Value::Null(text.eq_ignore_ascii_case("true")),
    })
}

impl Condition {
    /// Whether this condition holds for the request described by `ctx`.
    pub(crate) fn holds(&self, ctx: &Context) -> bool {
        let values = ctx.values(&self.key);
        if self.op == Op::Null {
            // `"Null": {"k": "true"}` asks for the key to be absent.
            let want_absent = self.values.iter().any(|v| matches!(v, Value::Null(true)));
            let want_present = self.values.iter().any(|v| matches!(v, Value::Null(false)));
            let present = values.is_some_and(|v| !v.is_empty());
            return if present { want_present } else { want_absent };
        }
        let Some(values) = values else {
            if self.if_exists {
                return true;
            }
            return match self.set {
                Set::AllValues => true,
                Set::AnyValue => false,
                Set::Single => self.negated,
            };
        };
        let matched = |request: &str| {
            let any = self.values.iter().any(|p| self.matches(p, request, ctx));
            // Negated operators are true only when no policy value matches (NOR).
            any != self.negated
        };
        match self.set {
            Set::AllValues => values.iter().all(|v| matched(v)),
            Set::AnyValue | Set::Single => values.iter().any(|v| matched(v)),
        }
    }

    fn matches(&self, policy: &Value, request: &str, ctx: &Context) -> bool {
        match (self.op, policy) {
            (Op::StringEquals, Value::Text(p)) | (Op::StringLike, Value::Text(p)) => {
                p.matches(request, ctx)
            }
            (Op::StringEqualsIgnoreCase, Value::Text(p)) | (Op::Bool, Value::Text(p)) => {
                p.equals_ignore_case(request, ctx)
            }
            (Op::Arn, Value::Arn(p)) => p.matches(request, ctx),
            (Op::Numeric(want, or_equal), Value::Number(Some(p))) => {
                match (parse_decimal(request), parse_decimal(p)) {
                    (Some(r), Some(p)) => {
                        let order = r.cmp(&p);
                        order == want || or_equal && order == Ordering::Equal
                    }
                    _ => false,
                }
            }
            (Op::Date(want, or_equal), Value::Date(Some(p))) => match parse_date(request) {
                Some(r) => {
                    let order = r.cmp(p);
                    order == want || or_equal && order == Ordering::Equal
                }
                None => false,
            },
            (Op::Ip, Value::Ip(Some(net))) => parse_ip(request).is_some_and(|ip| net.contains(&ip)),
            (Op::Binary, Value::Binary(Some(bytes))) => {
                base64_equals(request, bytes) || request.as_bytes() == &**bytes
            }
            _ => false,
        }
    }
}
