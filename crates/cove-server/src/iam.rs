//! The IAM and STS Query APIs: each action's parameters read from the form body, authorized
//! like any AWS call (`iam:CreateUser` on the user's ARN, …), applied by the engine, and
//! answered with the XML IAM and STS send.

use cove_engine::iam::{
    AccountIam, Holder, IamGroup, IamRole, IamUser, ManagedPolicy, aws_managed_policies,
};
use cove_engine::{Credential, Engine};
use cove_policy::CallerKind;
use cove_query::{Params, Xml, iso8601, url_encode};

use crate::authz::{Guard, Keys};
use crate::error::Failure;

pub const IAM_NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
pub const IAM_VERSION: &str = "2010-05-08";
pub const STS_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
pub const STS_VERSION: &str = "2011-06-15";

/// A required parameter, or IAM's validation error naming its member.
fn required<'p>(params: &'p Params, name: &str) -> Result<&'p str, Failure> {
    params.get(name).ok_or_else(|| {
        let mut member = name.to_string();
        if let Some(first) = member.get_mut(0..1) {
            first.make_ascii_lowercase();
        }
        Failure::QueryValidation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

fn tags(params: &Params) -> Vec<(String, String)> {
    params
        .structs("Tags")
        .into_iter()
        .map(|t| {
            (
                t.get("Key").copied().unwrap_or_default().to_string(),
                t.get("Value").copied().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn write_tags(x: &mut Xml, tags: &[(String, String)]) {
    if tags.is_empty() {
        return;
    }
    x.open("Tags");
    for (k, v) in tags {
        x.open("member")
            .leaf("Key", k)
            .leaf("Value", v)
            .close("member");
    }
    x.close("Tags");
}

fn write_user(x: &mut Xml, tag: &str, u: &IamUser) {
    x.open(tag)
        .leaf("Path", &u.path)
        .leaf("UserName", &u.name)
        .leaf("UserId", &u.id)
        .leaf("Arn", &u.arn)
        .leaf("CreateDate", &iso8601(u.created));
    if let Some(b) = &u.boundary {
        x.open("PermissionsBoundary")
            .leaf("PermissionsBoundaryType", "Policy")
            .leaf("PermissionsBoundaryArn", b)
            .close("PermissionsBoundary");
    }
    write_tags(x, &u.tags);
    x.close(tag);
}

fn write_group(x: &mut Xml, tag: &str, g: &IamGroup) {
    x.open(tag)
        .leaf("Path", &g.path)
        .leaf("GroupName", &g.name)
        .leaf("GroupId", &g.id)
        .leaf("Arn", &g.arn)
        .leaf("CreateDate", &iso8601(g.created))
        .close(tag);
}

fn write_role(x: &mut Xml, tag: &str, r: &IamRole) {
    x.open(tag)
        .leaf("Path", &r.path)
        .leaf("RoleName", &r.name)
        .leaf("RoleId", &r.id)
        .leaf("Arn", &r.arn)
        .leaf("CreateDate", &iso8601(r.created))
        .leaf("AssumeRolePolicyDocument", &url_encode(&r.trust_policy))
        .leaf_opt("Description", r.description.as_deref())
        .leaf("MaxSessionDuration", &r.max_session_duration.to_string());
    if let Some(b) = &r.boundary {
        x.open("PermissionsBoundary")
            .leaf("PermissionsBoundaryType", "Policy")
            .leaf("PermissionsBoundaryArn", b)
            .close("PermissionsBoundary");
    }
    write_tags(x, &r.tags);
    x.close(tag);
}

fn write_policy(x: &mut Xml, tag: &str, p: &ManagedPolicy, attachments: usize) {
    x.open(tag)
        .leaf("PolicyName", &p.name)
        .leaf("PolicyId", &p.id)
        .leaf("Arn", &p.arn)
        .leaf("Path", &p.path)
        .leaf("DefaultVersionId", &p.default_version)
        .leaf("AttachmentCount", &attachments.to_string())
        .leaf("PermissionsBoundaryUsageCount", "0")
        .leaf("IsAttachable", "true")
        .leaf_opt("Description", p.description.as_deref())
        .leaf("CreateDate", &iso8601(p.created))
        .leaf("UpdateDate", &iso8601(p.updated))
        .close(tag);
}

/// An AWS managed policy as a [`ManagedPolicy`], for GetPolicy and friends.
fn aws_managed(arn: &str) -> Option<ManagedPolicy> {
    let (arn, doc) = aws_managed_policies().iter().find(|(a, _)| *a == arn)?;
    let name = arn.rsplit('/').next().unwrap_or_default();
    Some(ManagedPolicy {
        name: name.to_string(),
        path: "/".into(),
        id: format!("ANPA{:0>17}", name.len()),
        arn: arn.to_string(),
        created: 1_423_000_000,
        updated: 1_423_000_000,
        description: None,
        default_version: "v1".into(),
        versions: vec![cove_engine::iam::PolicyVersion {
            id: "v1".into(),
            document: doc.to_string(),
            created: 1_423_000_000,
        }],
        next_version: 2,
    })
}

fn find_policy(iam: &AccountIam, arn: &str) -> Result<ManagedPolicy, Failure> {
    if let Some(p) = aws_managed(arn) {
        return Ok(p);
    }
    iam.policy(arn).cloned().map_err(|_| {
        Failure::Engine(cove_engine::EngineError::Iam(
            cove_engine::iam::IamErrorKind::NoSuchEntity,
            format!("Policy {arn} was not found."),
        ))
    })
}

fn write_access_key_metadata(x: &mut Xml, c: &Credential) {
    x.open("member")
        .leaf("UserName", &c.principal)
        .leaf("AccessKeyId", &c.access_key_id)
        .leaf("Status", if c.active { "Active" } else { "Inactive" })
        .leaf("CreateDate", &iso8601(c.created))
        .close("member");
}

/// The holder kind and its name parameter for `…UserPolicy`, `…GroupPolicy`, `…RolePolicy`.
fn holder_of(action: &str) -> (Holder, &'static str) {
    if action.contains("Group") {
        (Holder::Group, "GroupName")
    } else if action.contains("Role") {
        (Holder::Role, "RoleName")
    } else {
        (Holder::User, "UserName")
    }
}

/// IAM's paging: `MaxItems` (1 to 1000, default 100) items from `Marker` on; the marker
/// handed back is the position of the next item.
fn page<T>(items: Vec<T>, params: &Params) -> Result<(Vec<T>, Option<String>), Failure> {
    let max = match params.get("MaxItems") {
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(Failure::QueryValidation(format!(
                    "1 validation error detected: Value '{v}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000"
                )));
            }
        },
        None => 100,
    };
    let start = match params.get("Marker") {
        Some(m) => m
            .parse::<usize>()
            .map_err(|_| Failure::QueryValidation("Invalid Marker.".into()))?,
        None => 0,
    };
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let next = start + page.len();
    Ok((page, (next < total).then(|| next.to_string())))
}

/// `IsTruncated`, and `Marker` when there is more.
fn truncation(x: &mut Xml, marker: Option<String>) {
    match marker {
        Some(m) => {
            x.leaf("IsTruncated", "true").leaf("Marker", &m);
        }
        None => {
            x.leaf("IsTruncated", "false");
        }
    }
}

/// Runs one IAM action for the caller's account; returns the result XML (without the
/// `…Result` wrapper) or `None` for actions without output.
pub fn iam(
    engine: &Engine,
    guard: &Guard<'_>,
    action: &str,
    params: &Params,
) -> Result<Option<String>, Failure> {
    let principal = guard.principal();
    let account = principal.account.clone();
    let arn_of =
        |kind: &str, path: &str, name: &str| format!("arn:aws:iam::{account}:{kind}{path}{name}");
    let authorize =
        |resource: &str| guard.check(&format!("iam:{action}"), resource, &account, Keys::new());
    let mut x = Xml::new();
    match action {
        "CreateUser" => {
            let name = required(params, "UserName")?;
            authorize(&arn_of("user", params.get("Path").unwrap_or("/"), name))?;
            let user = engine.iam_update(&account, |iam, _| {
                iam.create_user(name, params.get("Path"), tags(params))?;
                if let Some(boundary) = params.get("PermissionsBoundary") {
                    iam.set_boundary(Holder::User, name, Some(boundary))?;
                }
                iam.user(name).cloned()
            })?;
            write_user(&mut x, "User", &user);
        }
        "GetUser" => {
            let Some(name) = params.get("UserName").or(principal.username.as_deref()) else {
                // The root user asking about itself.
                authorize(&principal.arn)?;
                x.open("User")
                    .leaf("UserId", &account)
                    .leaf("Arn", &principal.arn)
                    .leaf("CreateDate", &iso8601(0))
                    .close("User");
                return Ok(Some(x.finish()));
            };
            let user = engine.iam_read(&account, |iam| iam.user(name).cloned());
            authorize(
                &user
                    .as_ref()
                    .map_or_else(|_| arn_of("user", "/", name), |u| u.arn.clone()),
            )?;
            write_user(&mut x, "User", &user?);
        }
        "DeleteUser" => {
            let name = required(params, "UserName")?;
            authorize(&arn_of("user", "/", name))?;
            engine.delete_user(&account, name)?;
            return Ok(None);
        }
        "ListUsers" => {
            authorize(&arn_of("user", "/", "*"))?;
            let prefix = params.get("PathPrefix").unwrap_or("/");
            let users = engine.iam_read(&account, |iam| {
                iam.users
                    .values()
                    .filter(|u| u.path.starts_with(prefix))
                    .cloned()
                    .collect::<Vec<_>>()
            });
            x.open("Users");
            let (users, marker) = page(users, params)?;
            for u in &users {
                write_user(&mut x, "member", u);
            }
            x.close("Users");
            truncation(&mut x, marker);
        }
        "CreateAccessKey" => {
            let name = params.get("UserName").or(principal.username.as_deref());
            let Some(name) = name else {
                return Err(Failure::QueryValidation(
                    "Root users cannot create access keys through this API; use `cove account create`.".into(),
                ));
            };
            authorize(&arn_of("user", "/", name))?;
            let key = engine.create_access_key(&account, name)?;
            x.open("AccessKey")
                .leaf("UserName", &key.principal)
                .leaf("AccessKeyId", &key.access_key_id)
                .leaf("Status", "Active")
                .leaf("SecretAccessKey", &key.secret_access_key)
                .leaf("CreateDate", &iso8601(key.created))
                .close("AccessKey");
        }
        "DeleteAccessKey" | "UpdateAccessKey" => {
            let id = required(params, "AccessKeyId")?;
            let name = params
                .get("UserName")
                .or(principal.username.as_deref())
                .unwrap_or_default();
            authorize(&arn_of("user", "/", name))?;
            if action == "DeleteAccessKey" {
                engine.delete_access_key(&account, name, id)?;
            } else {
                let status = required(params, "Status")?;
                engine.set_access_key_status(&account, name, id, status == "Active")?;
            }
            return Ok(None);
        }
        "ListAccessKeys" => {
            let name = params
                .get("UserName")
                .or(principal.username.as_deref())
                .unwrap_or_default();
            authorize(&arn_of("user", "/", name))?;
            engine.iam_read(&account, |iam| iam.user(name).map(|_| ()))?;
            x.open("AccessKeyMetadata");
            let (keys, marker) = page(engine.access_keys(&account, name), params)?;
            for key in &keys {
                write_access_key_metadata(&mut x, key);
            }
            x.close("AccessKeyMetadata");
            truncation(&mut x, marker);
        }
        "CreateGroup" => {
            let name = required(params, "GroupName")?;
            authorize(&arn_of("group", params.get("Path").unwrap_or("/"), name))?;
            let group = engine.iam_update(&account, |iam, _| {
                iam.create_group(name, params.get("Path"))
            })?;
            write_group(&mut x, "Group", &group);
        }
        "GetGroup" => {
            let name = required(params, "GroupName")?;
            authorize(&arn_of("group", "/", name))?;
            let (group, members) = engine.iam_read(&account, |iam| {
                iam.group(name).cloned().map(|g| {
                    let members: Vec<IamUser> = iam
                        .users
                        .values()
                        .filter(|u| u.groups.iter().any(|m| m.eq_ignore_ascii_case(&g.name)))
                        .cloned()
                        .collect();
                    (g, members)
                })
            })?;
            write_group(&mut x, "Group", &group);
            x.open("Users");
            let (members, marker) = page(members, params)?;
            for u in &members {
                write_user(&mut x, "member", u);
            }
            x.close("Users");
            truncation(&mut x, marker);
        }
        "DeleteGroup" => {
            let name = required(params, "GroupName")?;
            authorize(&arn_of("group", "/", name))?;
            engine.iam_update(&account, |iam, _| iam.delete_group(name))?;
            return Ok(None);
        }
        "ListGroups" => {
            authorize(&arn_of("group", "/", "*"))?;
            let groups = engine.iam_read(&account, |iam| {
                iam.groups.values().cloned().collect::<Vec<_>>()
            });
            x.open("Groups");
            let (groups, marker) = page(groups, params)?;
            for g in &groups {
                write_group(&mut x, "member", g);
            }
            x.close("Groups");
            truncation(&mut x, marker);
        }
        "AddUserToGroup" | "RemoveUserFromGroup" => {
            let group = required(params, "GroupName")?;
            let user = required(params, "UserName")?;
            authorize(&arn_of("group", "/", group))?;
            engine.iam_update(&account, |iam, _| {
                if action == "AddUserToGroup" {
                    iam.add_user_to_group(group, user)
                } else {
                    iam.remove_user_from_group(group, user)
                }
            })?;
            return Ok(None);
        }
        "ListGroupsForUser" => {
            let user = required(params, "UserName")?;
            authorize(&arn_of("user", "/", user))?;
            let groups = engine.iam_read(&account, |iam| {
                iam.user(user).map(|u| {
                    u.groups
                        .iter()
                        .filter_map(|g| iam.group(g).ok().cloned())
                        .collect::<Vec<_>>()
                })
            })?;
            x.open("Groups");
            let (groups, marker) = page(groups, params)?;
            for g in &groups {
                write_group(&mut x, "member", g);
            }
            x.close("Groups");
            truncation(&mut x, marker);
        }
        "CreateRole" => {
            let name = required(params, "RoleName")?;
            let trust = required(params, "AssumeRolePolicyDocument")?;
            authorize(&arn_of("role", params.get("Path").unwrap_or("/"), name))?;
            let max = match params.get("MaxSessionDuration") {
                Some(v) => Some(v.parse::<u32>().map_err(|_| {
                    Failure::QueryValidation(format!("1 validation error detected: Value '{v}' at 'maxSessionDuration' failed to satisfy constraint: Member must be a number"))
                })?),
                None => None,
            };
            let role = engine.iam_update(&account, |iam, _| {
                iam.create_role(
                    name,
                    params.get("Path"),
                    trust,
                    params.get("Description"),
                    max,
                    tags(params),
                )?;
                if let Some(boundary) = params.get("PermissionsBoundary") {
                    iam.set_boundary(Holder::Role, name, Some(boundary))?;
                }
                iam.role(name).cloned()
            })?;
            write_role(&mut x, "Role", &role);
        }
        "GetRole" => {
            let name = required(params, "RoleName")?;
            authorize(&arn_of("role", "/", name))?;
            let role = engine.iam_read(&account, |iam| iam.role(name).cloned())?;
            write_role(&mut x, "Role", &role);
        }
        "DeleteRole" => {
            let name = required(params, "RoleName")?;
            authorize(&arn_of("role", "/", name))?;
            engine.iam_update(&account, |iam, _| iam.delete_role(name))?;
            return Ok(None);
        }
        "ListRoles" => {
            authorize(&arn_of("role", "/", "*"))?;
            let roles = engine.iam_read(&account, |iam| {
                iam.roles.values().cloned().collect::<Vec<_>>()
            });
            x.open("Roles");
            let (roles, marker) = page(roles, params)?;
            for r in &roles {
                write_role(&mut x, "member", r);
            }
            x.close("Roles");
            truncation(&mut x, marker);
        }
        "UpdateAssumeRolePolicy" => {
            let name = required(params, "RoleName")?;
            let doc = required(params, "PolicyDocument")?;
            authorize(&arn_of("role", "/", name))?;
            engine.iam_update(&account, |iam, _| iam.update_trust_policy(name, doc))?;
            return Ok(None);
        }
        "CreatePolicy" => {
            let name = required(params, "PolicyName")?;
            let doc = required(params, "PolicyDocument")?;
            authorize(&arn_of("policy", params.get("Path").unwrap_or("/"), name))?;
            let policy = engine.iam_update(&account, |iam, _| {
                iam.create_policy(name, params.get("Path"), doc, params.get("Description"))
            })?;
            write_policy(&mut x, "Policy", &policy, 0);
        }
        "GetPolicy" => {
            let arn = required(params, "PolicyArn")?;
            authorize(arn)?;
            let (policy, count) = engine.iam_read(&account, |iam| {
                find_policy(iam, arn).map(|p| (p, iam.attachment_count(arn)))
            })?;
            write_policy(&mut x, "Policy", &policy, count);
        }
        "DeletePolicy" => {
            let arn = required(params, "PolicyArn")?;
            authorize(arn)?;
            engine.iam_update(&account, |iam, _| iam.delete_policy(arn))?;
            return Ok(None);
        }
        "ListPolicies" => {
            authorize(&arn_of("policy", "/", "*"))?;
            let scope = params.get("Scope").unwrap_or("All");
            let only_attached = params.get("OnlyAttached") == Some("true");
            let listed = engine.iam_read(&account, |iam| {
                let mut out: Vec<(ManagedPolicy, usize)> = Vec::new();
                if scope != "Local" {
                    for (arn, _) in aws_managed_policies() {
                        if let Some(p) = aws_managed(arn) {
                            out.push((p, iam.attachment_count(arn)));
                        }
                    }
                }
                if scope != "AWS" {
                    out.extend(
                        iam.policies
                            .values()
                            .map(|p| (p.clone(), iam.attachment_count(&p.arn))),
                    );
                }
                out.retain(|(_, n)| !only_attached || *n > 0);
                out
            });
            x.open("Policies");
            let (listed, marker) = page(listed, params)?;
            for (p, n) in &listed {
                write_policy(&mut x, "member", p, *n);
            }
            x.close("Policies");
            truncation(&mut x, marker);
        }
        "GetPolicyVersion" => {
            let arn = required(params, "PolicyArn")?;
            let version = required(params, "VersionId")?;
            authorize(arn)?;
            let policy = engine.iam_read(&account, |iam| find_policy(iam, arn))?;
            let Some(v) = policy.versions.iter().find(|v| v.id == version) else {
                return Err(Failure::Engine(cove_engine::EngineError::Iam(
                    cove_engine::iam::IamErrorKind::NoSuchEntity,
                    format!("Policy {arn} version {version} does not exist or is not attachable."),
                )));
            };
            x.open("PolicyVersion")
                .leaf("Document", &url_encode(&v.document))
                .leaf("VersionId", &v.id)
                .leaf(
                    "IsDefaultVersion",
                    if v.id == policy.default_version {
                        "true"
                    } else {
                        "false"
                    },
                )
                .leaf("CreateDate", &iso8601(v.created))
                .close("PolicyVersion");
        }
        "CreatePolicyVersion" => {
            let arn = required(params, "PolicyArn")?;
            let doc = required(params, "PolicyDocument")?;
            authorize(arn)?;
            let set_default = params.get("SetAsDefault") == Some("true");
            let v = engine.iam_update(&account, |iam, _| {
                iam.create_policy_version(arn, doc, set_default)
            })?;
            x.open("PolicyVersion")
                .leaf("VersionId", &v.id)
                .leaf(
                    "IsDefaultVersion",
                    if set_default { "true" } else { "false" },
                )
                .leaf("CreateDate", &iso8601(v.created))
                .close("PolicyVersion");
        }
        "ListPolicyVersions" => {
            let arn = required(params, "PolicyArn")?;
            authorize(arn)?;
            let policy = engine.iam_read(&account, |iam| find_policy(iam, arn))?;
            x.open("Versions");
            let versions: Vec<_> = policy.versions.iter().rev().collect();
            let (versions, marker) = page(versions, params)?;
            for v in versions {
                x.open("member")
                    .leaf("VersionId", &v.id)
                    .leaf(
                        "IsDefaultVersion",
                        if v.id == policy.default_version {
                            "true"
                        } else {
                            "false"
                        },
                    )
                    .leaf("CreateDate", &iso8601(v.created))
                    .close("member");
            }
            x.close("Versions");
            truncation(&mut x, marker);
        }
        "SetDefaultPolicyVersion" | "DeletePolicyVersion" => {
            let arn = required(params, "PolicyArn")?;
            let version = required(params, "VersionId")?;
            authorize(arn)?;
            engine.iam_update(&account, |iam, _| {
                if action == "SetDefaultPolicyVersion" {
                    iam.set_default_policy_version(arn, version)
                } else {
                    iam.delete_policy_version(arn, version)
                }
            })?;
            return Ok(None);
        }
        "AttachUserPolicy" | "AttachGroupPolicy" | "AttachRolePolicy" | "DetachUserPolicy"
        | "DetachGroupPolicy" | "DetachRolePolicy" => {
            let (holder, member) = holder_of(action);
            let name = required(params, member)?;
            let arn = required(params, "PolicyArn")?;
            authorize(&arn_of(holder.noun(), "/", name))?;
            engine.iam_update(&account, |iam, _| {
                if action.starts_with("Attach") {
                    iam.attach_policy(holder, name, arn)
                } else {
                    iam.detach_policy(holder, name, arn)
                }
            })?;
            return Ok(None);
        }
        "PutUserPermissionsBoundary"
        | "PutRolePermissionsBoundary"
        | "DeleteUserPermissionsBoundary"
        | "DeleteRolePermissionsBoundary" => {
            let (holder, member) = holder_of(action);
            let name = required(params, member)?;
            let arn = if action.starts_with("Put") {
                Some(required(params, "PermissionsBoundary")?)
            } else {
                None
            };
            authorize(&arn_of(holder.noun(), "/", name))?;
            engine.iam_update(&account, |iam, _| iam.set_boundary(holder, name, arn))?;
            return Ok(None);
        }
        "ListAttachedUserPolicies" | "ListAttachedGroupPolicies" | "ListAttachedRolePolicies" => {
            let (holder, member) = holder_of(action);
            let name = required(params, member)?;
            authorize(&arn_of(holder.noun(), "/", name))?;
            let attached = engine.iam_read(&account, |iam| {
                iam.attached(holder, name).map(<[String]>::to_vec)
            })?;
            x.open("AttachedPolicies");
            let (attached, marker) = page(attached, params)?;
            for arn in &attached {
                let policy_name = arn.rsplit('/').next().unwrap_or_default();
                x.open("member")
                    .leaf("PolicyName", policy_name)
                    .leaf("PolicyArn", arn)
                    .close("member");
            }
            x.close("AttachedPolicies");
            truncation(&mut x, marker);
        }
        "PutUserPolicy" | "PutGroupPolicy" | "PutRolePolicy" => {
            let (holder, member) = holder_of(action);
            let name = required(params, member)?;
            let policy_name = required(params, "PolicyName")?;
            let doc = required(params, "PolicyDocument")?;
            authorize(&arn_of(holder.noun(), "/", name))?;
            engine.iam_update(&account, |iam, _| {
                iam.put_inline(holder, name, policy_name, doc)
            })?;
            return Ok(None);
        }
        "GetUserPolicy" | "GetGroupPolicy" | "GetRolePolicy" => {
            let (holder, member) = holder_of(action);
            let name = required(params, member)?;
            let policy_name = required(params, "PolicyName")?;
            authorize(&arn_of(holder.noun(), "/", name))?;
            let (entity, doc) = engine.iam_read(&account, |iam| {
                let entity = match holder {
                    Holder::User => iam.user(name).map(|u| u.name.clone()),
                    Holder::Group => iam.group(name).map(|g| g.name.clone()),
                    Holder::Role => iam.role(name).map(|r| r.name.clone()),
                }?;
                iam.get_inline(holder, name, policy_name)
                    .map(|d| (entity, d))
            })?;
            x.leaf(member, &entity)
                .leaf("PolicyName", policy_name)
                .leaf("PolicyDocument", &url_encode(&doc));
        }
        "DeleteUserPolicy" | "DeleteGroupPolicy" | "DeleteRolePolicy" => {
            let (holder, member) = holder_of(action);
            let name = required(params, member)?;
            let policy_name = required(params, "PolicyName")?;
            authorize(&arn_of(holder.noun(), "/", name))?;
            engine.iam_update(&account, |iam, _| {
                iam.delete_inline(holder, name, policy_name)
            })?;
            return Ok(None);
        }
        "ListUserPolicies" | "ListGroupPolicies" | "ListRolePolicies" => {
            let (holder, member) = holder_of(action);
            let name = required(params, member)?;
            authorize(&arn_of(holder.noun(), "/", name))?;
            let names = engine.iam_read(&account, |iam| {
                iam.inline(holder, name)
                    .map(|m| m.keys().cloned().collect::<Vec<_>>())
            })?;
            x.open("PolicyNames");
            let (names, marker) = page(names, params)?;
            for n in &names {
                x.leaf("member", n);
            }
            x.close("PolicyNames");
            truncation(&mut x, marker);
        }
        _ => return Err(Failure::InvalidAction(action.to_string())),
    }
    Ok(Some(x.finish()))
}

/// Runs one STS action.
pub fn sts(
    engine: &Engine,
    guard: &Guard<'_>,
    action: &str,
    params: &Params,
) -> Result<Option<String>, Failure> {
    let principal = guard.principal();
    let mut x = Xml::new();
    match action {
        "AssumeRole" => assume_role(engine, guard, params, &mut x)?,
        // Always allowed, even under an explicit deny, as in AWS.
        "GetCallerIdentity" => {
            let userid = match principal.kind {
                CallerKind::Root => principal.account.as_str(),
                CallerKind::User | CallerKind::AssumedRole => principal.userid.as_str(),
            };
            x.leaf("UserId", userid)
                .leaf("Account", &principal.account)
                .leaf("Arn", &principal.arn);
        }
        _ => return Err(Failure::InvalidAction(action.to_string())),
    }
    Ok(Some(x.finish()))
}

/// STS AssumeRole: the role's trust policy must allow the caller (and, unless it names the
/// caller directly, the caller's identity policy must allow `sts:AssumeRole`); the answer is
/// temporary credentials for a session of the role.
fn assume_role(
    engine: &Engine,
    guard: &Guard<'_>,
    params: &Params,
    x: &mut Xml,
) -> Result<(), Failure> {
    let principal = guard.principal();
    let role_arn = required(params, "RoleArn")?;
    let session_name = required(params, "RoleSessionName")?;
    let valid_name = (2..=64).contains(&session_name.len())
        && session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !valid_name {
        return Err(Failure::QueryValidation(format!(
            "1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )));
    }
    let duration: i64 = match params.get("DurationSeconds") {
        Some(v) => v.parse().map_err(|_| {
            Failure::QueryValidation(format!(
                "1 validation error detected: Value '{v}' at 'durationSeconds' failed to satisfy constraint: Member must be a number"
            ))
        })?,
        None => 3600,
    };
    if duration < 900 {
        return Err(Failure::QueryValidation(format!(
            "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
        )));
    }
    if principal.kind == CallerKind::Root {
        return Err(Failure::AccessDenied(
            "Roles may not be assumed by root accounts.".into(),
        ));
    }
    let denied = || {
        Failure::AccessDenied(format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            principal.arn
        ))
    };
    // arn:aws:iam::ACCOUNT:role/PATH/NAME
    let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
    let (role_account, role_name) = match parts.as_slice() {
        ["arn", _, "iam", "", account, resource] if resource.starts_with("role/") => {
            (*account, resource.rsplit('/').next().unwrap_or_default())
        }
        _ => {
            return Err(Failure::QueryValidation(format!("{role_arn} is invalid")));
        }
    };
    let compiled = engine.iam_compiled(role_account);
    let role = compiled
        .roles
        .get(&role_name.to_lowercase())
        .ok_or_else(denied)?;
    if role.arn != role_arn {
        return Err(denied());
    }
    let trust = compiled
        .trust
        .get(&role_name.to_lowercase())
        .ok_or_else(denied)?;
    guard.check_trust(
        role_arn,
        role_account,
        cove_policy::Named {
            name: role_arn,
            policy: trust,
        },
    )?;
    let max = engine.iam_read(role_account, |iam| {
        iam.role(role_name)
            .map(|r| i64::from(r.max_session_duration))
    })?;
    if duration > max {
        return Err(Failure::QueryValidation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                .into(),
        ));
    }
    let policy_arns: Vec<String> = params
        .structs("PolicyArns")
        .into_iter()
        .filter_map(|m| m.get("arn").map(|a| a.to_string()))
        .collect();
    for arn in &policy_arns {
        if !compiled.managed.contains_key(arn) {
            return Err(Failure::QueryValidation(format!(
                "The policy {arn} does not exist or is not attachable."
            )));
        }
    }
    let inline = params.get("Policy");
    let credential = engine.create_session(
        role_account,
        role_name,
        session_name,
        duration,
        inline,
        policy_arns.clone(),
    )?;
    let session = credential
        .session
        .as_ref()
        .expect("create_session makes a session");
    x.open("Credentials")
        .leaf("AccessKeyId", &credential.access_key_id)
        .leaf("SecretAccessKey", &credential.secret_access_key)
        .leaf("SessionToken", &session.token)
        .leaf("Expiration", &iso8601(session.expires))
        .close("Credentials");
    x.open("AssumedRoleUser")
        .leaf("AssumedRoleId", &format!("{}:{session_name}", role.id))
        .leaf(
            "Arn",
            &format!(
                "arn:aws:sts::{role_account}:assumed-role/{}/{session_name}",
                role.name
            ),
        )
        .close("AssumedRoleUser");
    if inline.is_some() || !policy_arns.is_empty() {
        // The share of STS's packed-policy allowance the session policies take, in percent.
        let size = inline.map_or(0, str::len) + policy_arns.iter().map(String::len).sum::<usize>();
        x.leaf(
            "PackedPolicySize",
            &(size * 100 / 2048).min(100).to_string(),
        );
    }
    Ok(())
}
