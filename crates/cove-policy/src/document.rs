//! Policy documents: IAM's grammar read into compiled statements, with IAM's validation rules
//! and its `MalformedPolicyDocument` texts. Compiling once here is what keeps evaluation free
//! of parsing and allocation.

use crate::PolicyError;
use crate::condition::{self, Condition};
use crate::json::Json;
use crate::pattern::{ArnPattern, Pattern, Syntax};

/// Where a policy is used; the grammar differs in whether `Principal` is required or
/// forbidden and in which versions are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to a user, group or role (managed or inline), a permissions boundary, or a
    /// session policy: no `Principal`, version 2012-10-17.
    Identity,
    /// Attached to a resource (a DynamoDB table or stream): `Principal` required.
    Resource,
    /// A VPC endpoint's policy: `Principal` required.
    Endpoint,
    /// A role's trust policy: `Principal` required, no `Resource`.
    Trust,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// A compiled policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) statements: Box<[Statement]>,
}

/// How strongly a `Principal` element names a caller, which decides whether a resource-based
/// policy can grant access without an identity-based policy (§1.2 of the reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PrincipalMatch {
    /// The principal element does not name the caller.
    No,
    /// It names the caller's account (`"123456789012"` or the account's root ARN): a
    /// delegation that still needs the account's own identity-based policy.
    Account,
    /// It names the role the caller's session belongs to.
    Role,
    /// It names the caller itself (user ARN, session ARN) or everyone (`*`).
    Direct,
}

/// One compiled statement.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub(crate) sid: Option<Box<str>>,
    pub(crate) effect: Effect,
    pub(crate) principal: Option<Principals>,
    pub(crate) actions: Matcher<Pattern>,
    pub(crate) resources: Matcher<ArnPattern>,
    pub(crate) conditions: Box<[Condition]>,
}

/// `X` (any listed matches) or `NotX` (none does); an absent `Resource` in a trust policy
/// is `Any`.
#[derive(Debug, Clone)]
pub(crate) enum Matcher<P> {
    Any,
    Listed(Box<[P]>),
    NotListed(Box<[P]>),
}

/// A compiled `Principal` or `NotPrincipal` element.
#[derive(Debug, Clone)]
pub(crate) struct Principals {
    pub(crate) negated: bool,
    pub(crate) entries: Box<[PrincipalEntry]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrincipalEntry {
    /// `"*"` or `{"AWS": "*"}`.
    Everyone,
    /// An account id (from `"123456789012"` or `arn:aws:iam::123456789012:root`).
    Account(Box<str>),
    /// A user, role, assumed-role session or federated-user ARN, compared exactly.
    Arn(Box<str>),
    /// A service, federated identity provider or canonical user: never one of Cove's callers.
    Other,
}

impl Policy {
    /// Whether the policy allows everyone every action on every resource whatever the
    /// request: no statement denies, and one allows `"Principal": "*"`, `"Action": "*"` and
    /// `"Resource": "*"` without a condition (the default VPC endpoint policy). Evaluating
    /// such a policy always gives Allow, so callers may skip building a request context
    /// for it.
    pub fn allows_everything(&self) -> bool {
        let everyone = |s: &Statement| {
            s.principal
                .as_ref()
                .is_some_and(|p| !p.negated && p.entries.contains(&PrincipalEntry::Everyone))
        };
        let all_actions = |s: &Statement| match &s.actions {
            Matcher::Any => true,
            Matcher::Listed(list) => list.iter().any(Pattern::is_any),
            Matcher::NotListed(_) => false,
        };
        let all_resources = |s: &Statement| match &s.resources {
            Matcher::Any => true,
            Matcher::Listed(list) => list.iter().any(|r| matches!(r, ArnPattern::All)),
            Matcher::NotListed(_) => false,
        };
        self.statements.iter().all(|s| s.effect == Effect::Allow)
            && self.statements.iter().any(|s| {
                s.conditions.is_empty() && everyone(s) && all_actions(s) && all_resources(s)
            })
    }

    /// Parses and validates `text` as a policy of `kind`, with IAM's error texts.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let syntax = || PolicyError::Malformed("Syntax errors in policy.".into());
        let json = Json::parse(text).ok_or_else(syntax)?;
        let Json::Object(top) = &json else {
            return Err(syntax());
        };
        for (name, _) in top {
            if !matches!(name.as_str(), "Version" | "Id" | "Statement") {
                return Err(syntax());
            }
        }
        let version = match json.get("Version") {
            None => None,
            Some(Json::String(v)) if v == "2012-10-17" || v == "2008-10-17" => Some(v.as_str()),
            Some(_) => return Err(syntax()),
        };
        if json.get("Id").is_some_and(|id| id.as_str().is_none()) {
            return Err(syntax());
        }
        let raw: Vec<&Json> = match json.get("Statement") {
            Some(Json::Array(list)) if !list.is_empty() => list.iter().collect(),
            Some(one @ Json::Object(_)) => vec![one],
            _ => return Err(syntax()),
        };
        for statement in &raw {
            check_statement_syntax(statement, kind)?;
        }
        if kind == PolicyKind::Identity && version != Some("2012-10-17") {
            return Err(PolicyError::Malformed(
                "Policy document must be version 2012-10-17 or greater.".into(),
            ));
        }
        let variables = version == Some("2012-10-17");
        let mut statements = Vec::with_capacity(raw.len());
        for statement in &raw {
            statements.push(compile_statement(statement, kind, variables)?);
        }
        let mut sids: Vec<&str> = statements
            .iter()
            .filter_map(|s| s.sid.as_deref())
            .filter(|s| !s.is_empty())
            .collect();
        sids.sort_unstable();
        if sids.windows(2).any(|w| w[0] == w[1]) {
            return Err(PolicyError::Malformed(
                "Statement IDs (SID) in a single policy must be unique.".into(),
            ));
        }
        Ok(Policy {
            statements: statements.into(),
        })
    }

    /// The number of statements.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// Whether the policy has no statements (never true of a parsed policy).
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// The `Sid` of statement `index`, if it has one.
    pub fn sid(&self, index: usize) -> Option<&str> {
        self.statements.get(index).and_then(|s| s.sid.as_deref())
    }
}

/// The structural checks IAM reports as "Syntax errors in policy." (and the principal rule,
/// which has its own text).
fn check_statement_syntax(statement: &Json, kind: PolicyKind) -> Result<(), PolicyError> {
    let syntax = || PolicyError::Malformed("Syntax errors in policy.".into());
    let Json::Object(members) = statement else {
        return Err(syntax());
    };
    for (name, _) in members {
        match name.as_str() {
            "Sid" | "Effect" | "Action" | "NotAction" | "Resource" | "NotResource"
            | "Condition" => {}
            "Principal" | "NotPrincipal" if kind == PolicyKind::Identity => {
                return Err(PolicyError::Malformed(
                    "Policy document should not specify a principal.".into(),
                ));
            }
            "Principal" | "NotPrincipal" => {}
            _ => return Err(syntax()),
        }
    }
    let has = |name: &str| statement.get(name).is_some();
    if has("Action") && has("NotAction")
        || has("Resource") && has("NotResource")
        || has("Principal") && has("NotPrincipal")
    {
        return Err(syntax());
    }
    match statement.get("Effect") {
        Some(Json::String(e))
            if e.eq_ignore_ascii_case("allow") || e.eq_ignore_ascii_case("deny") => {}
        _ => return Err(syntax()),
    }
    for name in ["Action", "NotAction", "Resource", "NotResource"] {
        if let Some(value) = statement.get(name) {
            string_list(value).ok_or_else(syntax)?;
        }
    }
    if statement.get("Sid").is_some_and(|s| s.as_str().is_none()) {
        return Err(syntax());
    }
    if let Some(condition) = statement.get("Condition") {
        let Json::Object(blocks) = condition else {
            return Err(syntax());
        };
        for (_, block) in blocks {
            let Json::Object(entries) = block else {
                return Err(syntax());
            };
            for (_, value) in entries {
                condition_values(value).ok_or_else(syntax)?;
            }
        }
    }
    Ok(())
}

fn compile_statement(
    statement: &Json,
    kind: PolicyKind,
    variables: bool,
) -> Result<Statement, PolicyError> {
    let malformed = |m: &str| PolicyError::Malformed(m.to_string());
    let effect = match statement.get("Effect").and_then(Json::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        // Effect is case-sensitive, but a wrong case passes the syntax check.
        _ => return Err(malformed("The policy failed legacy parsing")),
    };
    let conditions = match statement.get("Condition") {
        Some(Json::Object(blocks)) => condition::compile_all(blocks, variables)?,
        _ => Box::default(),
    };
    let actions = match (statement.get("Action"), statement.get("NotAction")) {
        (Some(list), _) => Matcher::Listed(compile_actions(list)?),
        (None, Some(list)) => Matcher::NotListed(compile_actions(list)?),
        (None, None) => return Err(malformed("Policy statement must contain actions.")),
    };
    let resources = match (statement.get("Resource"), statement.get("NotResource")) {
        (Some(_), _) | (_, Some(_)) if kind == PolicyKind::Trust => {
            return Err(malformed("Has prohibited field Resource"));
        }
        (Some(list), _) => Matcher::Listed(compile_resources(list, variables)?),
        (None, Some(list)) => Matcher::NotListed(compile_resources(list, variables)?),
        (None, None) if kind == PolicyKind::Trust => Matcher::Any,
        (None, None) => return Err(malformed("Policy statement must contain resources.")),
    };
    let principal = match (statement.get("Principal"), statement.get("NotPrincipal")) {
        (Some(p), _) => Some(compile_principals(p, false)?),
        (None, Some(p)) => Some(compile_principals(p, true)?),
        (None, None) if kind == PolicyKind::Identity => None,
        (None, None) => {
            return Err(malformed("Missing required field Principal"));
        }
    };
    Ok(Statement {
        sid: statement.get("Sid").and_then(Json::as_str).map(Into::into),
        effect,
        principal,
        actions,
        resources,
        conditions,
    })
}

/// A string or a non-empty list of strings.
pub(crate) fn string_list(value: &Json) -> Option<Vec<&str>> {
    match value {
        Json::String(s) => Some(vec![s.as_str()]),
        Json::Array(items) => items.iter().map(Json::as_str).collect(),
        _ => None,
    }
}

/// Condition values: one scalar or a list of scalars, each as the text IAM compares.
pub(crate) fn condition_values(value: &Json) -> Option<Vec<&str>> {
    fn scalar(value: &Json) -> Option<&str> {
        match value {
            Json::String(s) | Json::Number(s) => Some(s),
            Json::Bool(true) => Some("true"),
            Json::Bool(false) => Some("false"),
            _ => None,
        }
    }
    match value {
        Json::Array(items) => items.iter().map(scalar).collect(),
        other => scalar(other).map(|s| vec![s]),
    }
}

fn compile_actions(value: &Json) -> Result<Box<[Pattern]>, PolicyError> {
    let list = string_list(value).unwrap_or_default();
    if list.is_empty() {
        return Err(PolicyError::Malformed(
            "Policy statement must contain actions.".into(),
        ));
    }
    let syntax = Syntax {
        variables: false,
        wildcards: true,
        lowercase: true,
    };
    let mut out = Vec::with_capacity(list.len());
    for action in list {
        if action != "*" {
            let mut parts = action.split(':');
            let vendor = parts.next().unwrap_or_default();
            match (parts.next(), parts.next()) {
                (None, _) => {
                    return Err(PolicyError::Malformed(
                        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
                            .into(),
                    ));
                }
                (Some(_), Some(_)) => {
                    return Err(PolicyError::Malformed(
                        "Actions/Condition can contain only one colon.".into(),
                    ));
                }
                (Some(_), None) => {}
            }
            let valid_vendor = vendor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'*');
            if vendor.is_empty() || !valid_vendor {
                return Err(PolicyError::Malformed(format!(
                    "Vendor {vendor} is not valid"
                )));
            }
        }
        out.push(Pattern::compile(action, syntax));
    }
    Ok(out.into())
}

fn compile_resources(value: &Json, variables: bool) -> Result<Box<[ArnPattern]>, PolicyError> {
    let list = string_list(value).unwrap_or_default();
    if list.is_empty() {
        return Err(PolicyError::Malformed(
            "Policy statement must contain resources.".into(),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for resource in list {
        if resource != "*" {
            if !resource.contains(':') {
                return Err(PolicyError::Malformed(format!(
                    "Resource {resource} must be in ARN format or \"*\"."
                )));
            }
            let mut parts = resource.splitn(4, ':');
            let (prefix, partition, service) = (parts.next(), parts.next(), parts.next());
            if prefix != Some("arn") || partition.is_none() {
                return Err(PolicyError::Malformed(format!(
                    "Resource {resource} must be in ARN format or \"*\"."
                )));
            }
            if service.is_none_or(|s| s.is_empty() || s.contains(['*', '?'])) {
                return Err(PolicyError::Malformed(
                    "Resource vendor must be fully qualified and cannot contain regexes.".into(),
                ));
            }
        }
        out.push(ArnPattern::compile(resource, variables));
    }
    Ok(out.into())
}

fn compile_principals(value: &Json, negated: bool) -> Result<Principals, PolicyError> {
    let invalid = |kind: &str, v: &str| {
        PolicyError::Malformed(format!("Invalid principal in policy: \"{kind}\":\"{v}\""))
    };
    let mut entries = Vec::new();
    match value {
        Json::String(s) if s == "*" => entries.push(PrincipalEntry::Everyone),
        Json::Object(members) if !members.is_empty() => {
            for (kind, values) in members {
                let list = string_list(values)
                    .ok_or_else(|| PolicyError::Malformed("Syntax errors in policy.".into()))?;
                for v in list {
                    let entry = match kind.as_str() {
                        "AWS" => aws_principal(v).ok_or_else(|| invalid(kind, v))?,
                        "Service" | "Federated" | "CanonicalUser" => PrincipalEntry::Other,
                        _ => return Err(PolicyError::Malformed("Syntax errors in policy.".into())),
                    };
                    entries.push(entry);
                }
            }
        }
        _ => return Err(PolicyError::Malformed("Syntax errors in policy.".into())),
    }
    Ok(Principals {
        negated,
        entries: entries.into(),
    })
}

/// Reads one `AWS` principal: `*`, a 12-digit account, or an IAM/STS principal ARN.
fn aws_principal(v: &str) -> Option<PrincipalEntry> {
    if v == "*" {
        return Some(PrincipalEntry::Everyone);
    }
    if is_account_id(v) {
        return Some(PrincipalEntry::Account(v.into()));
    }
    let mut parts = v.splitn(6, ':');
    let (arn, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if arn != "arn" || partition.is_empty() || !region.is_empty() || !is_account_id(account) {
        return None;
    }
    // Principal ARNs take no wildcards.
    if resource.contains(['*', '?']) {
        return None;
    }
    match (service, resource) {
        ("iam", "root") => Some(PrincipalEntry::Account(account.into())),
        ("iam", r) if r.starts_with("user/") || r.starts_with("role/") => {
            Some(PrincipalEntry::Arn(v.into()))
        }
        ("sts", r) if r.starts_with("assumed-role/") || r.starts_with("federated-user/") => {
            Some(PrincipalEntry::Arn(v.into()))
        }
        _ => None,
    }
}

/// Twelve ASCII digits.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}
