//! The decision for one (principal, action, resource, context): AWS's evaluation order across
//! identity-based, resource-based, VPC endpoint, permissions-boundary and session policies,
//! with the deciding statement and AWS's denial texts. Nothing here allocates per statement.

use crate::context::Context;
use crate::document::{
    Effect, Matcher, Policy, PrincipalEntry, PrincipalMatch, Principals, Statement,
};

/// What kind of principal signed the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerKind {
    /// An account's root user: everything in its own account is allowed unless a policy
    /// explicitly denies it.
    Root,
    User,
    /// A session of an assumed role.
    AssumedRole,
}

/// The authenticated principal.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub kind: CallerKind,
    pub account: &'a str,
    /// The ARN AWS prints in denials: the root ARN, the user's ARN, or the session's
    /// `arn:aws:sts::…:assumed-role/Role/Session`.
    pub arn: &'a str,
    /// For a role session, the role's ARN (what `Principal` elements name).
    pub role_arn: Option<&'a str>,
}

/// One authorization question.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub caller: Caller<'a>,
    /// `service:Action`, in any case.
    pub action: &'a str,
    /// The resource ARN (or `*`).
    pub resource: &'a str,
    /// The account that owns the resource.
    pub resource_account: &'a str,
    pub context: &'a Context,
}

/// A policy with the name audit logs and simulations report it by (an ARN, or
/// `user/alice/inline-name`).
#[derive(Debug, Clone, Copy)]
pub struct Named<'a> {
    pub name: &'a str,
    pub policy: &'a Policy,
}

/// Every policy that applies to one request, by type.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policies<'a> {
    /// The principal's identity-based policies (a user's own and its groups', or a role's).
    pub identity: &'a [Named<'a>],
    /// The resource's policy (a table's resource-based policy, or a role's trust policy
    /// when the action is `sts:AssumeRole`).
    pub resource: Option<Named<'a>>,
    /// True when `resource` is a role trust policy, which must allow the caller in every
    /// case.
    pub resource_is_trust: bool,
    /// The VPC endpoint's policy, when the request came through an endpoint.
    pub endpoint: Option<Named<'a>>,
    pub boundary: Option<Named<'a>>,
    /// The session policies of a role session; together they form one ceiling.
    pub session: &'a [Named<'a>],
}

/// A policy type, as AWS names it in denials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyType {
    Identity,
    Resource,
    Trust,
    Endpoint,
    Boundary,
    Session,
}

impl PolicyType {
    fn with_article(self) -> &'static str {
        match self {
            PolicyType::Identity => "an identity-based policy",
            PolicyType::Resource => "a resource-based policy",
            PolicyType::Trust => "a role trust policy",
            PolicyType::Endpoint => "a VPC endpoint policy",
            PolicyType::Boundary => "a permissions boundary",
            PolicyType::Session => "a session policy",
        }
    }

    fn without_article(self) -> &'static str {
        match self {
            PolicyType::Identity => "identity-based policy",
            PolicyType::Resource => "resource-based policy",
            PolicyType::Trust => "role trust policy",
            PolicyType::Endpoint => "VPC endpoint policy",
            PolicyType::Boundary => "permissions boundary",
            PolicyType::Session => "session policy",
        }
    }

    /// Lower-case name for logs (`identity`, `resource`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::Identity => "identity",
            PolicyType::Resource => "resource",
            PolicyType::Trust => "trust",
            PolicyType::Endpoint => "endpoint",
            PolicyType::Boundary => "boundary",
            PolicyType::Session => "session",
        }
    }
}

/// The statement that decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deciding<'a> {
    pub policy_type: PolicyType,
    pub policy: &'a str,
    /// Index of the statement in its policy.
    pub statement: usize,
    pub sid: Option<&'a str>,
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Allowed by `by`; `None` for an account's root user acting in its own account.
    Allow { by: Option<Deciding<'a>> },
    /// A `Deny` statement applied.
    ExplicitDeny { by: Deciding<'a> },
    /// No policy of this type allowed it.
    ImplicitDeny { policy_type: PolicyType },
}

impl Decision<'_> {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }

    /// The end of AWS's denial message: "with an explicit deny in an identity-based policy"
    /// or "because no identity-based policy allows the dynamodb:GetItem action".
    pub fn reason(&self, action: &str) -> Option<String> {
        match *self {
            Decision::Allow { .. } => None,
            Decision::ExplicitDeny { by } => Some(format!(
                "with an explicit deny in {}",
                by.policy_type.with_article()
            )),
            Decision::ImplicitDeny { policy_type } => Some(format!(
                "because no {} allows the {action} action",
                policy_type.without_article()
            )),
        }
    }
}

/// What one policy says about a request.
struct Verdict {
    deny: Option<usize>,
    allow: Option<(usize, PrincipalMatch)>,
}

/// Decides `request` under `policies` (§1.2 of the reference):
/// 1. a `Deny` that applies in any policy wins;
/// 2. through a VPC endpoint, its policy must allow;
/// 3. in the resource's own account, a resource-based policy naming the caller directly
///    grants by itself; naming the caller's role it replaces the identity-based policy;
///    across accounts both must allow;
/// 4. otherwise an identity-based policy must allow (the root user needs none in its own
///    account);
/// 5. the permissions boundary and session policies are ceilings.
pub fn evaluate<'a>(request: &Request<'_>, policies: &Policies<'a>) -> Decision<'a> {
    let mut lower_buf = [0u8; 128];
    let owned;
    let action: &str = if request.action.len() <= lower_buf.len() {
        let bytes = &mut lower_buf[..request.action.len()];
        bytes.copy_from_slice(request.action.as_bytes());
        bytes.make_ascii_lowercase();
        match std::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(_) => {
                return Decision::ImplicitDeny {
                    policy_type: PolicyType::Identity,
                };
            }
        }
    } else {
        owned = request.action.to_ascii_lowercase();
        &owned
    };
    let caller = &request.caller;
    let judge = |named: &Named<'a>, principals: PrincipalRule| -> Verdict {
        verdict(named.policy, action, request, principals)
    };
    let deciding = |named: &Named<'a>, policy_type, statement| Deciding {
        policy_type,
        policy: named.name,
        statement,
        sid: named.policy.sid(statement),
    };

    let resource_type = if policies.resource_is_trust {
        PolicyType::Trust
    } else {
        PolicyType::Resource
    };
    let endpoint = policies
        .endpoint
        .as_ref()
        .map(|p| (p, judge(p, PrincipalRule::Endpoint)));
    let resource = policies
        .resource
        .as_ref()
        .map(|p| (p, judge(p, PrincipalRule::Resource)));
    let identity: Option<(&Named<'a>, usize)> = {
        let mut allow = None;
        for named in policies.identity {
            let v = judge(named, PrincipalRule::None);
            if let Some(i) = v.deny {
                return Decision::ExplicitDeny {
                    by: deciding(named, PolicyType::Identity, i),
                };
            }
            if allow.is_none()
                && let Some((i, _)) = v.allow
            {
                allow = Some((named, i));
            }
        }
        allow
    };
    if let Some((named, v)) = &endpoint
        && let Some(i) = v.deny
    {
        return Decision::ExplicitDeny {
            by: deciding(named, PolicyType::Endpoint, i),
        };
    }
    if let Some((named, v)) = &resource
        && let Some(i) = v.deny
    {
        return Decision::ExplicitDeny {
            by: deciding(named, resource_type, i),
        };
    }
    let boundary = policies
        .boundary
        .as_ref()
        .map(|p| (p, judge(p, PrincipalRule::None)));
    if let Some((named, v)) = &boundary
        && let Some(i) = v.deny
    {
        return Decision::ExplicitDeny {
            by: deciding(named, PolicyType::Boundary, i),
        };
    }
    let mut session_allow = None;
    for named in policies.session {
        let v = judge(named, PrincipalRule::None);
        if let Some(i) = v.deny {
            return Decision::ExplicitDeny {
                by: deciding(named, PolicyType::Session, i),
            };
        }
        if session_allow.is_none()
            && let Some((i, _)) = v.allow
        {
            session_allow = Some(deciding(named, PolicyType::Session, i));
        }
    }

    if let Some((_, v)) = &endpoint
        && v.allow.is_none()
    {
        return Decision::ImplicitDeny {
            policy_type: PolicyType::Endpoint,
        };
    }

    let resource_allow = resource.as_ref().and_then(|(named, v)| {
        v.allow
            .map(|(i, strength)| (deciding(named, resource_type, i), strength))
    });
    let strength = resource_allow.map_or(PrincipalMatch::No, |(_, s)| s);
    let same_account = caller.account == request.resource_account;
    if strength == PrincipalMatch::No && (policies.resource_is_trust || !same_account) {
        return Decision::ImplicitDeny {
            policy_type: resource_type,
        };
    }
    if caller.kind == CallerKind::Root {
        // The root user has every permission of its account; across accounts the resource
        // policy (checked above) must also allow.
        return Decision::Allow {
            by: resource_allow.map(|(d, _)| d),
        };
    }
    if same_account && strength == PrincipalMatch::Direct {
        return Decision::Allow {
            by: resource_allow.map(|(d, _)| d),
        };
    }
    let identity_allow = identity.map(|(named, i)| deciding(named, PolicyType::Identity, i));
    let by = if same_account && strength == PrincipalMatch::Role {
        resource_allow.map(|(d, _)| d)
    } else {
        match identity_allow {
            Some(d) => Some(d),
            None => {
                return Decision::ImplicitDeny {
                    policy_type: PolicyType::Identity,
                };
            }
        }
    };
    if let Some((_, v)) = &boundary
        && v.allow.is_none()
    {
        return Decision::ImplicitDeny {
            policy_type: PolicyType::Boundary,
        };
    }
    if !policies.session.is_empty() && session_allow.is_none() {
        return Decision::ImplicitDeny {
            policy_type: PolicyType::Session,
        };
    }
    Decision::Allow { by }
}

/// How a policy's `Principal` elements are read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PrincipalRule {
    /// Identity-based, boundary and session policies have none.
    None,
    Resource,
    /// In a VPC endpoint policy an account principal stands for the account's root user
    /// only (§1.13).
    Endpoint,
}

fn verdict(policy: &Policy, action: &str, request: &Request<'_>, rule: PrincipalRule) -> Verdict {
    let mut out = Verdict {
        deny: None,
        allow: None,
    };
    for (i, statement) in policy.statements.iter().enumerate() {
        let strength = match (&statement.principal, rule) {
            (None, _) | (_, PrincipalRule::None) => PrincipalMatch::Direct,
            (Some(p), rule) => principal_match(p, &request.caller, rule),
        };
        if strength == PrincipalMatch::No || !applies(statement, action, request) {
            continue;
        }
        match statement.effect {
            Effect::Deny => {
                out.deny = Some(i);
                return out;
            }
            Effect::Allow => {
                if out.allow.is_none_or(|(_, s)| strength > s) {
                    out.allow = Some((i, strength));
                }
            }
        }
    }
    out
}

fn applies(statement: &Statement, action: &str, request: &Request<'_>) -> bool {
    let ctx = request.context;
    let action_ok = match &statement.actions {
        Matcher::Any => true,
        Matcher::Listed(list) => list.iter().any(|p| p.matches(action, ctx)),
        Matcher::NotListed(list) => !list.iter().any(|p| p.matches(action, ctx)),
    };
    if !action_ok {
        return false;
    }
    let resource_ok = match &statement.resources {
        Matcher::Any => true,
        Matcher::Listed(list) => list.iter().any(|p| p.matches(request.resource, ctx)),
        Matcher::NotListed(list) => !list.iter().any(|p| p.matches(request.resource, ctx)),
    };
    resource_ok && statement.conditions.iter().all(|c| c.holds(ctx))
}

fn principal_match(
    principals: &Principals,
    caller: &Caller<'_>,
    rule: PrincipalRule,
) -> PrincipalMatch {
    let mut best = PrincipalMatch::No;
    for entry in principals.entries.iter() {
        let m = match entry {
            PrincipalEntry::Everyone => PrincipalMatch::Direct,
            PrincipalEntry::Account(account) if **account == *caller.account => {
                match (rule, caller.kind) {
                    (_, CallerKind::Root) => PrincipalMatch::Direct,
                    (PrincipalRule::Endpoint, _) => PrincipalMatch::No,
                    _ => PrincipalMatch::Account,
                }
            }
            PrincipalEntry::Arn(arn) if **arn == *caller.arn => PrincipalMatch::Direct,
            PrincipalEntry::Arn(arn) if caller.role_arn == Some(&**arn) => PrincipalMatch::Role,
            _ => PrincipalMatch::No,
        };
        best = best.max(m);
    }
    if principals.negated {
        // NotPrincipal: applies to everyone it does not list.
        if best == PrincipalMatch::No {
            PrincipalMatch::Direct
        } else {
            PrincipalMatch::No
        }
    } else {
        best
    }
}
