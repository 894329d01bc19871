//! `cove policy simulate`: would this principal be allowed this action on this resource with
//! this context? Evaluates policy documents (files, or a stored user's or role's policies)
//! with the same engine the server uses, and names the deciding statement.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use serde_json::{Value, json};

use cove_policy::{
    Caller, CallerKind, Context, Decision, Named, Policies, Policy, PolicyKind, Request, evaluate,
};

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// The action, e.g. dynamodb:GetItem.
    #[arg(long)]
    action: String,
    /// The resource ARN, e.g. arn:aws:dynamodb:us-east-1:000000000000:table/Books.
    #[arg(long)]
    resource: String,
    /// Who asks: arn:aws:iam::ACCOUNT:root, …:user/NAME, or arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
    /// [default: the stored --user or --role, else arn:aws:iam::000000000000:user/simulated].
    #[arg(long)]
    principal_arn: Option<String>,
    /// An identity-based policy: a file, or the JSON itself. Repeatable.
    #[arg(long = "policy")]
    policies: Vec<String>,
    /// The resource's resource-based policy (file or JSON).
    #[arg(long)]
    resource_policy: Option<String>,
    /// A VPC endpoint policy, for a request that came through that endpoint (file or JSON).
    #[arg(long)]
    endpoint_policy: Option<String>,
    /// A permissions boundary (file or JSON).
    #[arg(long)]
    boundary: Option<String>,
    /// A session policy (file or JSON). Repeatable.
    #[arg(long = "session-policy")]
    session_policies: Vec<String>,
    /// A context key and its value, KEY=VALUE. Repeatable.
    #[arg(long = "context")]
    context: Vec<String>,
    /// A multivalued context key, KEY=V1,V2,… (e.g. dynamodb:LeadingKeys). Repeatable.
    #[arg(long = "context-list")]
    context_lists: Vec<String>,
    /// Take the identity policies of this stored IAM user (needs the data directory).
    #[arg(long, conflicts_with = "role")]
    user: Option<String>,
    /// Take the identity policies of this stored IAM role.
    #[arg(long)]
    role: Option<String>,
    /// The account of --user or --role [default: 000000000000].
    #[arg(long)]
    account_id: Option<String>,
    /// Where data lives [default: ./cove-data].
    #[arg(long, env = "COVE_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

/// A document from a file path, or given inline.
fn document(text_or_path: &str) -> Result<String> {
    if text_or_path.trim_start().starts_with('{') {
        return Ok(text_or_path.to_string());
    }
    let path = text_or_path.strip_prefix("file://").unwrap_or(text_or_path);
    std::fs::read_to_string(path).with_context(|| format!("cannot read policy {path}"))
}

fn parse(text_or_path: &str, kind: PolicyKind) -> Result<Policy> {
    let text = document(text_or_path)?;
    Policy::parse(&text, kind).map_err(|e| anyhow::anyhow!("{text_or_path}: {e}"))
}

/// The principal an ARN names: its kind, account, user name and role ARN.
fn principal_of(arn: &str) -> Result<(CallerKind, String, Option<String>, Option<String>)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ["arn", _, service, "", account, resource] = parts.as_slice() else {
        bail!("{arn} is not a principal ARN");
    };
    Ok(match (*service, *resource) {
        ("iam", "root") => (CallerKind::Root, account.to_string(), None, None),
        ("iam", r) if r.starts_with("user/") => (
            CallerKind::User,
            account.to_string(),
            r.rsplit('/').next().map(str::to_string),
            None,
        ),
        ("sts", r) if r.starts_with("assumed-role/") => {
            let role = r.split('/').nth(1).unwrap_or_default();
            (
                CallerKind::AssumedRole,
                account.to_string(),
                None,
                Some(format!("arn:aws:iam::{account}:role/{role}")),
            )
        }
        _ => bail!("{arn} is not a root, user or assumed-role ARN"),
    })
}

/// Runs the simulation; prints the decision as JSON and returns whether it was allowed.
pub fn simulate(args: SimulateArgs) -> Result<bool> {
    let mut identity: Vec<(String, Arc<Policy>)> = Vec::new();
    let mut boundary: Option<(String, Arc<Policy>)> = None;
    let mut userid = None;
    let mut stored_arn = None;
    if args.user.is_some() || args.role.is_some() {
        let account = args
            .account_id
            .clone()
            .unwrap_or_else(|| "000000000000".into());
        let data_dir = args
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("./cove-data"));
        let db_path = data_dir.join("cove.sqlite3");
        let backend = cove_storage_sqlite::SqliteBackend::open(&db_path, Default::default())
            .with_context(|| format!("cannot open storage at {}", db_path.display()))?;
        let storage = cove_storage::Storage::new(backend);
        let engine =
            cove_engine::Engine::open(storage.clone()).context("cannot open the engine")?;
        let compiled = engine.iam_compiled(&account);
        let found = match (&args.user, &args.role) {
            (Some(user), _) => compiled.users.get(&user.to_lowercase()),
            (_, Some(role)) => compiled.roles.get(&role.to_lowercase()),
            _ => None,
        };
        let Some(found) = found else {
            bail!("no such user or role in account {account}");
        };
        identity.extend(found.identity.iter().cloned());
        boundary = found.boundary.clone();
        userid = Some(found.id.clone());
        stored_arn = Some(match &args.role {
            Some(_) => format!(
                "arn:aws:sts::{account}:assumed-role/{}/simulated",
                found.name
            ),
            None => found.arn.clone(),
        });
        drop(engine);
        storage.close().ok();
    }
    for (i, p) in args.policies.iter().enumerate() {
        identity.push((
            format!("policy#{}", i + 1),
            Arc::new(parse(p, PolicyKind::Identity)?),
        ));
    }
    if let Some(p) = &args.boundary {
        boundary = Some(("boundary".into(), Arc::new(parse(p, PolicyKind::Identity)?)));
    }
    let resource_policy = match &args.resource_policy {
        Some(p) => Some(parse(p, PolicyKind::Resource)?),
        None => None,
    };
    let endpoint_policy = match &args.endpoint_policy {
        Some(p) => Some(parse(p, PolicyKind::Endpoint)?),
        None => None,
    };
    let session: Vec<(String, Policy)> = args
        .session_policies
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Ok((
                format!("session-policy#{}", i + 1),
                parse(p, PolicyKind::Identity)?,
            ))
        })
        .collect::<Result<_>>()?;

    let arn = args
        .principal_arn
        .clone()
        .or(stored_arn)
        .unwrap_or_else(|| "arn:aws:iam::000000000000:user/simulated".into());
    let (kind, account, username, role_arn) = principal_of(&arn)?;
    let resource_account = args
        .resource
        .split(':')
        .nth(4)
        .filter(|a| cove_policy::is_account_id(a))
        .unwrap_or(&account)
        .to_string();

    let mut context = Context::new();
    context.set(
        "aws:PrincipalArn",
        role_arn.clone().unwrap_or_else(|| arn.clone()),
    );
    context.set("aws:PrincipalAccount", account.clone());
    context.set(
        "aws:PrincipalType",
        match kind {
            CallerKind::Root => "Account",
            CallerKind::User => "User",
            CallerKind::AssumedRole => "AssumedRole",
        },
    );
    context.set(
        "aws:userid",
        userid.unwrap_or_else(|| match kind {
            CallerKind::Root => account.clone(),
            _ => "AIDASIMULATEDPRINCIP".into(),
        }),
    );
    if let Some(name) = &username {
        context.set("aws:username", name.clone());
    }
    let now = jiff::Timestamp::now();
    context.set(
        "aws:CurrentTime",
        now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    context.set("aws:EpochTime", now.as_second().to_string());
    context.set("aws:SecureTransport", "true");
    for pair in &args.context {
        let Some((k, v)) = pair.split_once('=') else {
            bail!("--context takes KEY=VALUE, got {pair:?}");
        };
        context.set(k.to_string(), v);
    }
    for pair in &args.context_lists {
        let Some((k, v)) = pair.split_once('=') else {
            bail!("--context-list takes KEY=V1,V2, got {pair:?}");
        };
        let values = if v.is_empty() {
            Vec::new()
        } else {
            v.split(',').map(str::to_string).collect()
        };
        context.set_many(k.to_string(), values);
    }

    let named_identity: Vec<Named<'_>> = identity
        .iter()
        .map(|(name, policy)| Named { name, policy })
        .collect();
    let named_session: Vec<Named<'_>> = session
        .iter()
        .map(|(name, policy)| Named { name, policy })
        .collect();
    let decision = evaluate(
        &Request {
            caller: Caller {
                kind,
                account: &account,
                arn: &arn,
                role_arn: role_arn.as_deref(),
            },
            action: &args.action,
            resource: &args.resource,
            resource_account: &resource_account,
            context: &context,
        },
        &Policies {
            identity: &named_identity,
            resource: resource_policy.as_ref().map(|policy| Named {
                name: "resource-policy",
                policy,
            }),
            resource_is_trust: false,
            endpoint: endpoint_policy.as_ref().map(|policy| Named {
                name: "endpoint-policy",
                policy,
            }),
            boundary: boundary
                .as_ref()
                .map(|(name, policy)| Named { name, policy }),
            session: &named_session,
        },
    );
    let (label, by) = match decision {
        Decision::Allow { by } => ("allowed", by),
        Decision::ExplicitDeny { by } => ("explicitDeny", Some(by)),
        Decision::ImplicitDeny { .. } => ("implicitDeny", None),
    };
    let mut out = json!({
        "principal": arn,
        "action": args.action,
        "resource": args.resource,
        "decision": label,
        "allowed": decision.is_allowed(),
    });
    if let Value::Object(o) = &mut out {
        if let Some(by) = by {
            o.insert(
                "decidingStatement".into(),
                json!({
                    "policyType": by.policy_type.as_str(),
                    "policy": by.policy,
                    "statement": by.statement,
                    "sid": by.sid,
                }),
            );
        }
        if let Some(reason) = decision.reason(&args.action) {
            o.insert(
                "message".into(),
                json!(format!(
                    "User: {arn} is not authorized to perform: {} on resource: {} {reason}",
                    args.action, args.resource
                )),
            );
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(decision.is_allowed())
}
