//! Authorization: who the caller is in IAM's terms, the request context AWS would build for
//! it (global `aws:` keys from the connection and the principal, service keys from the
//! request), and the decision of the policy engine for each (action, resource) a request
//! needs, with AWS's AccessDenied text.

use std::cell::RefCell;
use std::sync::Arc;

use cove_engine::iam::PrincipalPolicies;
use cove_policy::{
    Caller as PolicyCaller, CallerKind, Context, Decision, Named, Policies, Policy, Request,
};
use cove_types::AttributeValue;

use cove_engine::network::EndpointPath;

use crate::audit::{AuditLog, Entry};
use crate::error::Failure;
use crate::handler::ConnInfo;

/// The authenticated principal, in IAM's terms.
#[derive(Debug, Clone)]
pub struct Principal {
    pub kind: CallerKind,
    pub account: String,
    /// What denials print: root ARN, user ARN, or the role session's STS ARN.
    pub arn: String,
    /// A role session's role ARN.
    pub role_arn: Option<String>,
    /// `aws:userid`: the account for root, `AIDA…` for users, `AROA…:session` for roles.
    pub userid: String,
    /// `aws:username`, for IAM users only.
    pub username: Option<String>,
    /// The principal's compiled identity-based policies; `None` for root.
    pub policies: Option<Arc<PrincipalPolicies>>,
    /// A role session's session policies (inline and managed), a ceiling on the role's.
    pub session_policies: Vec<(String, Arc<Policy>)>,
    /// Whether the session was given session policies (even ones that no longer parse).
    pub has_session_policy: bool,
}

impl Principal {
    pub fn root(account: &str) -> Principal {
        Principal {
            kind: CallerKind::Root,
            account: account.to_string(),
            arn: format!("arn:aws:iam::{account}:root"),
            role_arn: None,
            userid: account.to_string(),
            username: None,
            policies: None,
            session_policies: Vec::new(),
            has_session_policy: false,
        }
    }

    /// `aws:PrincipalArn`: for a role session, the role's ARN.
    pub fn principal_arn(&self) -> &str {
        self.role_arn.as_deref().unwrap_or(&self.arn)
    }

    fn principal_type(&self) -> &'static str {
        match self.kind {
            CallerKind::Root => "Account",
            CallerKind::User => "User",
            CallerKind::AssumedRole => "AssumedRole",
        }
    }
}

/// Service condition keys of one authorization, beside the global ones.
#[derive(Debug, Default)]
pub struct Keys {
    pub multi: Vec<(&'static str, Vec<String>)>,
    pub single: Vec<(&'static str, String)>,
}

impl Keys {
    pub fn new() -> Keys {
        Keys::default()
    }

    pub fn one(mut self, key: &'static str, value: impl Into<String>) -> Keys {
        self.single.push((key, value.into()));
        self
    }

    pub fn many(mut self, key: &'static str, values: Vec<String>) -> Keys {
        self.multi.push((key, values));
        self
    }
}

/// Checks a request's authorizations against the caller's policies. The global context is
/// built at most once per request, and not at all for the root user, which needs no policy
/// in its own account.
pub struct Guard<'a> {
    principal: &'a Principal,
    region: &'a str,
    conn: &'a ConnInfo,
    context: RefCell<Option<Context>>,
    audit: Option<&'a AuditLog>,
    request_id: &'a str,
    /// DynamoDB requests take gateway endpoints; IAM, STS and EC2 requests do not (a
    /// gateway endpoint routes only DynamoDB's prefix list).
    dynamodb: bool,
}

impl<'a> Guard<'a> {
    /// Marks the request as a DynamoDB call, which gateway endpoints route.
    pub fn dynamodb(mut self) -> Guard<'a> {
        self.dynamodb = true;
        self
    }

    /// The gateway endpoint this request came through, or `None` on the public path;
    /// `NoRoute` when the source subnet has no route for it.
    fn path(&self) -> Result<Option<&'a EndpointPath>, Failure> {
        if let Some(interface) = &self.conn.interface {
            return Ok(Some(&interface.endpoint));
        }
        if let Some(endpoint) = &self.conn.proxied_endpoint {
            return Ok(Some(endpoint));
        }
        let Some(subnet) = &self.conn.subnet else {
            return Ok(None);
        };
        if self.dynamodb
            && let Some(gateway) = subnet.gateway(self.region)
        {
            return Ok(Some(gateway));
        }
        if subnet.internet {
            Ok(None)
        } else {
            Err(Failure::NoRoute)
        }
    }

    /// Whether the request came through a VPC endpoint.
    pub fn via_endpoint(&self) -> Result<bool, Failure> {
        self.path().map(|p| p.is_some())
    }

    /// Whether the request came through a VPC endpoint whose policy can deny it, and which
    /// must then be evaluated even for the root user. A policy that allows everything
    /// unconditionally (the default) cannot.
    pub fn endpoint_may_deny(&self) -> Result<bool, Failure> {
        self.path().map(|p| p.is_some_and(|g| !g.allows_everything))
    }

    pub fn new(
        principal: &'a Principal,
        region: &'a str,
        conn: &'a ConnInfo,
        audit: Option<&'a AuditLog>,
        request_id: &'a str,
    ) -> Guard<'a> {
        Guard {
            principal,
            region,
            conn,
            context: RefCell::new(None),
            audit,
            request_id,
            dynamodb: false,
        }
    }

    /// Records that the root user was allowed `action` in its own account without any
    /// policy to evaluate (the fast path), when an audit log is kept.
    pub fn root_allowed(&self, action: &str, resource: &str) -> Result<(), Failure> {
        self.root_allowed_lazily(action, || resource.to_string())
    }

    /// [`Self::root_allowed`] with the resource's ARN built only when the audit log records
    /// it: the root user's requests need it for nothing else.
    pub fn root_allowed_lazily(
        &self,
        action: &str,
        resource: impl FnOnce() -> String,
    ) -> Result<(), Failure> {
        self.path()?;
        if let Some(audit) = self.audit {
            audit.record(&self.entry(action, &resource(), true, "RootAllow", None));
        }
        Ok(())
    }

    fn entry<'e>(
        &'e self,
        action: &'e str,
        resource: &'e str,
        allowed: bool,
        decision: &'e str,
        by: Option<cove_policy::Deciding<'e>>,
    ) -> Entry<'e> {
        Entry {
            request_id: self.request_id,
            principal: &self.principal.arn,
            account: &self.principal.account,
            action,
            resource,
            source: self.conn.peer,
            endpoint: self.path().ok().flatten().map(|g| g.endpoint.as_str()),
            allowed,
            decision,
            policy_type: by.map(|d| d.policy_type.as_str()),
            policy: by.map(|d| d.policy),
            statement: by.map(|d| d.statement),
            sid: by.and_then(|d| d.sid),
        }
    }

    pub fn principal(&self) -> &Principal {
        self.principal
    }

    fn base_context(&self) -> Context {
        let p = self.principal;
        // Every global key is set once, so they are pushed without searching; the room left
        // takes a request's service keys.
        let mut c = Context::with_capacity(24);
        c.push("aws:PrincipalArn", p.principal_arn());
        c.push("aws:PrincipalAccount", p.account.as_str());
        c.push("aws:PrincipalType", p.principal_type());
        c.push("aws:userid", p.userid.as_str());
        if let Some(name) = &p.username {
            c.push("aws:username", name.as_str());
        }
        match self.path() {
            // Through a VPC endpoint AWS sets the endpoint's keys and no aws:SourceIp.
            Ok(Some(gateway)) => {
                c.push("aws:SourceVpce", gateway.endpoint.as_str());
                // An endpoint Cove does not manage (named by a proxy) has no known VPC or owner.
                if !gateway.vpc.is_empty() {
                    c.push("aws:SourceVpc", gateway.vpc.as_str());
                }
                c.push("aws:VpcSourceIp", self.conn.peer.ip().to_string());
                if !gateway.account.is_empty() {
                    c.push("aws:VpceAccount", gateway.account.as_str());
                }
            }
            _ => c.push("aws:SourceIp", self.conn.peer.ip().to_string()),
        }
        c.push(
            "aws:SecureTransport",
            if self.conn.tls { "true" } else { "false" },
        );
        let (current_time, epoch_time) = clock_keys();
        c.push("aws:CurrentTime", current_time);
        c.push("aws:EpochTime", epoch_time);
        c.push("aws:RequestedRegion", self.region);
        c.push("aws:ViaAWSService", "false");
        c.push("aws:PrincipalIsAWSService", "false");
        c
    }

    /// Authorizes `action` on `resource` (owned by `resource_account`) with `keys`.
    pub fn check(
        &self,
        action: &str,
        resource: &str,
        resource_account: &str,
        keys: Keys,
    ) -> Result<(), Failure> {
        self.check_with(action, resource, resource_account, None, keys)
    }

    /// [`Guard::check`] with the resource's own policy (a table's resource-based policy).
    pub fn check_with(
        &self,
        action: &str,
        resource: &str,
        resource_account: &str,
        resource_policy: Option<Named<'_>>,
        keys: Keys,
    ) -> Result<(), Failure> {
        self.decide(
            action,
            resource,
            resource_account,
            resource_policy,
            false,
            keys,
        )
    }

    /// `sts:AssumeRole` on a role: its trust policy must allow the caller.
    pub fn check_trust(
        &self,
        role_arn: &str,
        role_account: &str,
        trust: Named<'_>,
    ) -> Result<(), Failure> {
        self.decide(
            "sts:AssumeRole",
            role_arn,
            role_account,
            Some(trust),
            true,
            Keys::new(),
        )
    }

    fn decide(
        &self,
        action: &str,
        resource: &str,
        resource_account: &str,
        resource_policy: Option<Named<'_>>,
        resource_is_trust: bool,
        keys: Keys,
    ) -> Result<(), Failure> {
        let p = self.principal;
        let gateway = self.path()?;
        // The root user acting in its own account is allowed unless a policy denies it
        // explicitly; without such a policy there is nothing to evaluate (an endpoint policy
        // that allows everything unconditionally cannot deny).
        if p.kind == CallerKind::Root
            && resource_account == p.account
            && resource_policy.is_none()
            && gateway.is_none_or(|g| g.allows_everything)
        {
            return self.root_allowed(action, resource);
        }
        let mut slot = self.context.borrow_mut();
        let context = slot.get_or_insert_with(|| self.base_context());
        // The service keys of this one decision go on top of the global keys and are
        // dropped after it (they are `dynamodb:` keys, never among the global `aws:` ones).
        let global_keys = context.len();
        for (key, value) in keys.single {
            context.push(key, value);
        }
        for (key, values) in keys.multi {
            context.push_many(key, values);
        }
        let identity: Vec<Named<'_>> = p
            .policies
            .as_ref()
            .map(|pp| {
                pp.identity
                    .iter()
                    .map(|(name, policy)| Named { name, policy })
                    .collect()
            })
            .unwrap_or_default();
        let session: Vec<Named<'_>> = p
            .session_policies
            .iter()
            .map(|(name, policy)| Named { name, policy })
            .collect();
        // A session given policies that no longer compile is allowed nothing.
        let deny_all;
        let session = if p.has_session_policy && session.is_empty() {
            deny_all = Policy::parse(
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"*","Resource":"*"}}"#,
                cove_policy::PolicyKind::Identity,
            )
            .ok();
            deny_all
                .as_ref()
                .map(|policy| {
                    vec![Named {
                        name: "session-policy",
                        policy,
                    }]
                })
                .unwrap_or_default()
        } else {
            session
        };
        let boundary = p.policies.as_ref().and_then(|pp| {
            pp.boundary
                .as_ref()
                .map(|(name, policy)| Named { name, policy })
        });
        let decision = cove_policy::evaluate(
            &Request {
                caller: PolicyCaller {
                    kind: p.kind,
                    account: &p.account,
                    arn: &p.arn,
                    role_arn: p.role_arn.as_deref(),
                },
                action,
                resource,
                resource_account,
                context,
            },
            &Policies {
                identity: &identity,
                resource: resource_policy,
                resource_is_trust,
                boundary,
                session: &session,
                endpoint: gateway.map(|g| Named {
                    name: &g.endpoint,
                    policy: &g.policy,
                }),
            },
        );
        let outcome = match decision {
            Decision::Allow { .. } => Ok(()),
            _ => Err(Failure::AccessDenied(format!(
                "User: {} is not authorized to perform: {action} on resource: {resource} {}",
                p.arn,
                decision.reason(action).unwrap_or_default()
            ))),
        };
        if let Some(audit) = self.audit {
            let (label, by) = match decision {
                Decision::Allow { by: None } => ("RootAllow", None),
                Decision::Allow { by } => ("Allow", by),
                Decision::ExplicitDeny { by } => ("ExplicitDeny", Some(by)),
                Decision::ImplicitDeny { .. } => ("ImplicitDeny", None),
            };
            let mut entry = self.entry(action, resource, outcome.is_ok(), label, by);
            if let Decision::ImplicitDeny { policy_type } = decision {
                entry.policy_type = Some(policy_type.as_str());
            }
            audit.record(&entry);
        }
        tracing::debug!(
            principal = %p.arn,
            action,
            resource,
            allowed = outcome.is_ok(),
            decision = ?decision,
            "authorization"
        );
        context.truncate(global_keys);
        outcome
    }
}

/// The text IAM condition keys use for a key value: a string as is, a number's canonical
/// text, binary as base64.
pub fn key_text(value: &AttributeValue) -> Option<String> {
    match value {
        AttributeValue::S(s) => Some(s.clone()),
        AttributeValue::N(n) => Some(n.to_string()),
        AttributeValue::B(b) => Some(cove_types::value::base64(b)),
        _ => None,
    }
}

/// `aws:CurrentTime` and `aws:EpochTime` for now. Both have one-second resolution, so each
/// thread formats them once a second rather than once a request.
fn clock_keys() -> (String, String) {
    thread_local! {
        static CACHE: std::cell::RefCell<(i64, String, String)> =
            const { std::cell::RefCell::new((i64::MIN, String::new(), String::new())) };
    }
    let now = jiff::Timestamp::now();
    let second = now.as_second();
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != second {
            *cache = (
                second,
                now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                second.to_string(),
            );
        }
        (cache.1.clone(), cache.2.clone())
    })
}
