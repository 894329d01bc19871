//! IAM: the users, groups, roles and managed policies of each account, with IAM's rules and
//! error texts, stored as one record per account; and the compiled view authorization reads
//! on every request (each principal's identity-based policies, parsed once per change).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rand::Rng;
use serde::{Deserialize, Serialize};

use cove_policy::{Policy, PolicyKind};
use cove_storage::{KeyRange, ScanOptions, WriteBatch};

use crate::credentials::{
    CREDENTIAL_RECORD_VERSION, Credential, SECRET_ALPHABET, new_access_key_id, random_string,
};
use crate::follow::Area;
use crate::{Engine, EngineError, Result, keys};

/// The kinds of error IAM's API reports, each with its own code and HTTP status on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IamErrorKind {
    NoSuchEntity,
    EntityAlreadyExists,
    MalformedPolicyDocument,
    DeleteConflict,
    LimitExceeded,
    InvalidInput,
    ValidationError,
}

fn iam_error(kind: IamErrorKind, message: impl Into<String>) -> EngineError {
    EngineError::Iam(kind, message.into())
}

/// IAM's limit on access keys per user.
const ACCESS_KEYS_PER_USER: usize = 2;
/// IAM's limit on managed policies attached to one user, group or role.
const ATTACHED_POLICIES: usize = 10;
/// IAM's limit on versions of one managed policy.
const POLICY_VERSIONS: usize = 5;

/// An IAM user. Field names are the on-disk format.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IamUser {
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub created: i64,
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    #[serde(default)]
    pub attached: Vec<String>,
    /// Names of the groups the user belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub boundary: Option<String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}

/// An IAM group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IamGroup {
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub created: i64,
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    #[serde(default)]
    pub attached: Vec<String>,
}

/// An IAM role.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IamRole {
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub created: i64,
    pub trust_policy: String,
    #[serde(default)]
    pub description: Option<String>,
    pub max_session_duration: u32,
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    #[serde(default)]
    pub attached: Vec<String>,
    #[serde(default)]
    pub boundary: Option<String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}

/// One version of a managed policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PolicyVersion {
    pub id: String,
    pub document: String,
    pub created: i64,
}

/// A customer managed policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManagedPolicy {
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub created: i64,
    pub updated: i64,
    #[serde(default)]
    pub description: Option<String>,
    pub default_version: String,
    pub versions: Vec<PolicyVersion>,
    pub next_version: u32,
}

impl ManagedPolicy {
    /// The document of the default version.
    pub fn document(&self) -> &str {
        self.versions
            .iter()
            .find(|v| v.id == self.default_version)
            .map_or("", |v| v.document.as_str())
    }
}

/// Everything IAM holds for one account. Maps are keyed by lower-cased name because IAM
/// names are unique regardless of case.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AccountIam {
    pub account: String,
    #[serde(default)]
    pub users: BTreeMap<String, IamUser>,
    #[serde(default)]
    pub groups: BTreeMap<String, IamGroup>,
    #[serde(default)]
    pub roles: BTreeMap<String, IamRole>,
    #[serde(default)]
    pub policies: BTreeMap<String, ManagedPolicy>,
}

/// AWS managed policies Cove knows, by ARN: enough to attach the common DynamoDB ones.
pub fn aws_managed_policies() -> &'static [(&'static str, &'static str)] {
    &[
        (
            "arn:aws:iam::aws:policy/AdministratorAccess",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        ),
        (
            "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:*"],"Resource":"*"}]}"#,
        ),
        (
            "arn:aws:iam::aws:policy/AmazonDynamoDBReadOnlyAccess",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:BatchGetItem","dynamodb:ConditionCheckItem","dynamodb:Describe*","dynamodb:Get*","dynamodb:List*","dynamodb:PartiQLSelect","dynamodb:Query","dynamodb:Scan"],"Resource":"*"}]}"#,
        ),
    ]
}

/// A new IAM unique id: a four-letter prefix (AIDA user, AGPA group, AROA role, ANPA
/// policy) and 17 characters, as IAM makes them.
fn unique_id(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 17)
    )
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// IAM's check of a user, group, role or policy name.
pub fn check_name(value: &str, member: &str, max: usize) -> Result<()> {
    let ok = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if value.is_empty() || value.chars().count() > max {
        return Err(iam_error(
            IamErrorKind::ValidationError,
            format!(
                "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must have length {}",
                if value.is_empty() {
                    "greater than or equal to 1".to_string()
                } else {
                    format!("less than or equal to {max}")
                }
            ),
        ));
    }
    if !ok {
        return Err(iam_error(
            IamErrorKind::ValidationError,
            format!(
                "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"
            ),
        ));
    }
    Ok(())
}

/// IAM's check of a path: `/` or `/segments/`.
pub fn check_path(path: &str) -> Result<()> {
    let ok = path.starts_with('/')
        && path.ends_with('/')
        && path.len() <= 512
        && path.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c));
    if ok {
        Ok(())
    } else {
        Err(iam_error(
            IamErrorKind::ValidationError,
            format!(
                "1 validation error detected: Value '{path}' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)"
            ),
        ))
    }
}

/// Parses an identity-based policy document, as IAM does for CreatePolicy and Put*Policy.
pub fn check_identity_document(document: &str) -> Result<()> {
    Policy::parse(document, PolicyKind::Identity)
        .map(|_| ())
        .map_err(|e| iam_error(IamErrorKind::MalformedPolicyDocument, e.to_string()))
}

/// Parses a role trust policy.
pub fn check_trust_document(document: &str) -> Result<()> {
    if document.chars().filter(|c| !c.is_whitespace()).count() > 2048 {
        return Err(iam_error(
            IamErrorKind::LimitExceeded,
            "Cannot exceed quota for ACLSizePerRole: 2048",
        ));
    }
    Policy::parse(document, PolicyKind::Trust)
        .map(|_| ())
        .map_err(|e| iam_error(IamErrorKind::MalformedPolicyDocument, e.to_string()))
}

fn non_whitespace_len(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// Which kind of entity an inline or attached policy belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    User,
    Group,
    Role,
}

impl Holder {
    /// `user`, `group` or `role`, as IAM names them in ARNs and messages.
    pub fn noun(self) -> &'static str {
        match self {
            Holder::User => "user",
            Holder::Group => "group",
            Holder::Role => "role",
        }
    }

    /// IAM's limit on the total size of one entity's inline policies.
    fn inline_limit(self) -> usize {
        match self {
            Holder::User => 2048,
            Holder::Group => 5120,
            Holder::Role => 10240,
        }
    }
}

impl AccountIam {
    fn new(account: &str) -> AccountIam {
        AccountIam {
            account: account.to_string(),
            ..AccountIam::default()
        }
    }

    pub fn user(&self, name: &str) -> Result<&IamUser> {
        self.users.get(&name.to_lowercase()).ok_or_else(|| {
            iam_error(
                IamErrorKind::NoSuchEntity,
                format!("The user with name {name} cannot be found."),
            )
        })
    }

    pub fn group(&self, name: &str) -> Result<&IamGroup> {
        self.groups.get(&name.to_lowercase()).ok_or_else(|| {
            iam_error(
                IamErrorKind::NoSuchEntity,
                format!("The group with name {name} cannot be found."),
            )
        })
    }

    pub fn role(&self, name: &str) -> Result<&IamRole> {
        self.roles.get(&name.to_lowercase()).ok_or_else(|| {
            iam_error(
                IamErrorKind::NoSuchEntity,
                format!("The role with name {name} cannot be found."),
            )
        })
    }

    /// A customer managed policy of this account by ARN.
    pub fn policy(&self, arn: &str) -> Result<&ManagedPolicy> {
        self.policies
            .values()
            .find(|p| p.arn == arn)
            .ok_or_else(|| {
                iam_error(
                    IamErrorKind::NoSuchEntity,
                    format!("Policy {arn} does not exist or is not attachable."),
                )
            })
    }

    fn policy_mut(&mut self, arn: &str) -> Result<&mut ManagedPolicy> {
        self.policies
            .values_mut()
            .find(|p| p.arn == arn)
            .ok_or_else(|| {
                iam_error(
                    IamErrorKind::NoSuchEntity,
                    format!("Policy {arn} does not exist or is not attachable."),
                )
            })
    }

    /// How many users, groups and roles have `arn` attached.
    pub fn attachment_count(&self, arn: &str) -> usize {
        let users = self
            .users
            .values()
            .filter(|u| u.attached.iter().any(|a| a == arn));
        let groups = self
            .groups
            .values()
            .filter(|g| g.attached.iter().any(|a| a == arn));
        let roles = self
            .roles
            .values()
            .filter(|r| r.attached.iter().any(|a| a == arn));
        users.count() + groups.count() + roles.count()
    }

    pub fn create_user(
        &mut self,
        name: &str,
        path: Option<&str>,
        tags: Vec<(String, String)>,
    ) -> Result<IamUser> {
        check_name(name, "userName", 64)?;
        let path = path.unwrap_or("/");
        check_path(path)?;
        if self.users.contains_key(&name.to_lowercase()) {
            return Err(iam_error(
                IamErrorKind::EntityAlreadyExists,
                format!("User with name {name} already exists."),
            ));
        }
        let user = IamUser {
            name: name.to_string(),
            path: path.to_string(),
            id: unique_id("AIDA"),
            arn: format!("arn:aws:iam::{}:user{path}{name}", self.account),
            created: now(),
            inline: BTreeMap::new(),
            attached: Vec::new(),
            groups: Vec::new(),
            boundary: None,
            tags,
        };
        self.users.insert(name.to_lowercase(), user.clone());
        Ok(user)
    }

    /// Deletes a user that has nothing attached (IAM refuses otherwise); `has_keys` says
    /// whether the user still has access keys.
    pub fn delete_user(&mut self, name: &str, has_keys: bool) -> Result<()> {
        let user = self.user(name)?;
        if has_keys
            || !user.inline.is_empty()
            || !user.attached.is_empty()
            || !user.groups.is_empty()
        {
            return Err(iam_error(
                IamErrorKind::DeleteConflict,
                "Cannot delete entity, must delete policies first.",
            ));
        }
        self.users.remove(&name.to_lowercase());
        Ok(())
    }

    pub fn create_group(&mut self, name: &str, path: Option<&str>) -> Result<IamGroup> {
        check_name(name, "groupName", 128)?;
        let path = path.unwrap_or("/");
        check_path(path)?;
        if self.groups.contains_key(&name.to_lowercase()) {
            return Err(iam_error(
                IamErrorKind::EntityAlreadyExists,
                format!("Group with name {name} already exists."),
            ));
        }
        let group = IamGroup {
            name: name.to_string(),
            path: path.to_string(),
            id: unique_id("AGPA"),
            arn: format!("arn:aws:iam::{}:group{path}{name}", self.account),
            created: now(),
            inline: BTreeMap::new(),
            attached: Vec::new(),
        };
        self.groups.insert(name.to_lowercase(), group.clone());
        Ok(group)
    }

    pub fn delete_group(&mut self, name: &str) -> Result<()> {
        let group = self.group(name)?;
        let has_members = self
            .users
            .values()
            .any(|u| u.groups.iter().any(|g| g.eq_ignore_ascii_case(&group.name)));
        if has_members || !group.inline.is_empty() || !group.attached.is_empty() {
            return Err(iam_error(
                IamErrorKind::DeleteConflict,
                "Cannot delete entity, must remove users from group first.",
            ));
        }
        self.groups.remove(&name.to_lowercase());
        Ok(())
    }

    pub fn add_user_to_group(&mut self, group: &str, user: &str) -> Result<()> {
        let group = self.group(group)?.name.clone();
        self.user(user)?;
        let user = self
            .users
            .get_mut(&user.to_lowercase())
            .expect("checked above");
        if !user.groups.iter().any(|g| g.eq_ignore_ascii_case(&group)) {
            user.groups.push(group);
        }
        Ok(())
    }

    pub fn remove_user_from_group(&mut self, group: &str, user: &str) -> Result<()> {
        let group = self.group(group)?.name.clone();
        self.user(user)?;
        let user = self
            .users
            .get_mut(&user.to_lowercase())
            .expect("checked above");
        let before = user.groups.len();
        user.groups.retain(|g| !g.eq_ignore_ascii_case(&group));
        if user.groups.len() == before {
            return Err(iam_error(
                IamErrorKind::NoSuchEntity,
                format!("User {} is not in group {group}.", user.name),
            ));
        }
        Ok(())
    }

    pub fn create_role(
        &mut self,
        name: &str,
        path: Option<&str>,
        trust_policy: &str,
        description: Option<&str>,
        max_session_duration: Option<u32>,
        tags: Vec<(String, String)>,
    ) -> Result<IamRole> {
        check_name(name, "roleName", 64)?;
        let path = path.unwrap_or("/");
        check_path(path)?;
        check_trust_document(trust_policy)?;
        let max = max_session_duration.unwrap_or(3600);
        if !(3600..=43200).contains(&max) {
            return Err(iam_error(
                IamErrorKind::ValidationError,
                format!(
                    "1 validation error detected: Value '{max}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value less than or equal to 43200"
                ),
            ));
        }
        if self.roles.contains_key(&name.to_lowercase()) {
            return Err(iam_error(
                IamErrorKind::EntityAlreadyExists,
                format!("Role with name {name} already exists."),
            ));
        }
        let role = IamRole {
            name: name.to_string(),
            path: path.to_string(),
            id: unique_id("AROA"),
            arn: format!("arn:aws:iam::{}:role{path}{name}", self.account),
            created: now(),
            trust_policy: trust_policy.to_string(),
            description: description.map(str::to_string),
            max_session_duration: max,
            inline: BTreeMap::new(),
            attached: Vec::new(),
            boundary: None,
            tags,
        };
        self.roles.insert(name.to_lowercase(), role.clone());
        Ok(role)
    }

    pub fn update_trust_policy(&mut self, name: &str, document: &str) -> Result<()> {
        self.role(name)?;
        check_trust_document(document)?;
        self.roles
            .get_mut(&name.to_lowercase())
            .expect("checked")
            .trust_policy = document.to_string();
        Ok(())
    }

    pub fn delete_role(&mut self, name: &str) -> Result<()> {
        let role = self.role(name)?;
        if !role.inline.is_empty() || !role.attached.is_empty() {
            return Err(iam_error(
                IamErrorKind::DeleteConflict,
                "Cannot delete entity, must detach all policies first.",
            ));
        }
        self.roles.remove(&name.to_lowercase());
        Ok(())
    }

    pub fn create_policy(
        &mut self,
        name: &str,
        path: Option<&str>,
        document: &str,
        description: Option<&str>,
    ) -> Result<ManagedPolicy> {
        check_name(name, "policyName", 128)?;
        let path = path.unwrap_or("/");
        check_path(path)?;
        check_managed_document(document)?;
        if self.policies.contains_key(&name.to_lowercase()) {
            return Err(iam_error(
                IamErrorKind::EntityAlreadyExists,
                format!("A policy called {name} already exists. Duplicate names are not allowed."),
            ));
        }
        let at = now();
        let policy = ManagedPolicy {
            name: name.to_string(),
            path: path.to_string(),
            id: unique_id("ANPA"),
            arn: format!("arn:aws:iam::{}:policy{path}{name}", self.account),
            created: at,
            updated: at,
            description: description.map(str::to_string),
            default_version: "v1".into(),
            versions: vec![PolicyVersion {
                id: "v1".into(),
                document: document.to_string(),
                created: at,
            }],
            next_version: 2,
        };
        self.policies.insert(name.to_lowercase(), policy.clone());
        Ok(policy)
    }

    pub fn create_policy_version(
        &mut self,
        arn: &str,
        document: &str,
        set_default: bool,
    ) -> Result<PolicyVersion> {
        check_managed_document(document)?;
        let policy = self.policy_mut(arn)?;
        if policy.versions.len() >= POLICY_VERSIONS {
            return Err(iam_error(
                IamErrorKind::LimitExceeded,
                format!(
                    "A managed policy can have up to {POLICY_VERSIONS} versions. Before you create a new version, you must delete an existing version."
                ),
            ));
        }
        let at = now();
        let version = PolicyVersion {
            id: format!("v{}", policy.next_version),
            document: document.to_string(),
            created: at,
        };
        policy.next_version += 1;
        policy.versions.push(version.clone());
        policy.updated = at;
        if set_default {
            policy.default_version = version.id.clone();
        }
        Ok(version)
    }

    pub fn set_default_policy_version(&mut self, arn: &str, version: &str) -> Result<()> {
        let policy = self.policy_mut(arn)?;
        if !policy.versions.iter().any(|v| v.id == version) {
            return Err(iam_error(
                IamErrorKind::NoSuchEntity,
                format!("Policy {arn} version {version} does not exist or is not attachable."),
            ));
        }
        policy.default_version = version.to_string();
        Ok(())
    }

    pub fn delete_policy_version(&mut self, arn: &str, version: &str) -> Result<()> {
        let policy = self.policy_mut(arn)?;
        if policy.default_version == version {
            return Err(iam_error(
                IamErrorKind::DeleteConflict,
                "Cannot delete the default version of a policy.",
            ));
        }
        let before = policy.versions.len();
        policy.versions.retain(|v| v.id != version);
        if policy.versions.len() == before {
            return Err(iam_error(
                IamErrorKind::NoSuchEntity,
                format!("Policy {arn} version {version} does not exist or is not attachable."),
            ));
        }
        Ok(())
    }

    pub fn delete_policy(&mut self, arn: &str) -> Result<()> {
        let name = self.policy(arn)?.name.to_lowercase();
        if self.attachment_count(arn) > 0 {
            return Err(iam_error(
                IamErrorKind::DeleteConflict,
                "Cannot delete a policy attached to entities.",
            ));
        }
        if self.policies[&name].versions.len() > 1 {
            return Err(iam_error(
                IamErrorKind::DeleteConflict,
                "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.",
            ));
        }
        self.policies.remove(&name);
        Ok(())
    }

    fn attached_mut(&mut self, holder: Holder, name: &str) -> Result<&mut Vec<String>> {
        Ok(match holder {
            Holder::User => {
                self.user(name)?;
                &mut self
                    .users
                    .get_mut(&name.to_lowercase())
                    .expect("checked")
                    .attached
            }
            Holder::Group => {
                self.group(name)?;
                &mut self
                    .groups
                    .get_mut(&name.to_lowercase())
                    .expect("checked")
                    .attached
            }
            Holder::Role => {
                self.role(name)?;
                &mut self
                    .roles
                    .get_mut(&name.to_lowercase())
                    .expect("checked")
                    .attached
            }
        })
    }

    pub fn attach_policy(&mut self, holder: Holder, name: &str, arn: &str) -> Result<()> {
        let known =
            aws_managed_policies().iter().any(|(a, _)| *a == arn) || self.policy(arn).is_ok();
        // The holder is checked first, as IAM does.
        self.attached_mut(holder, name)?;
        if !known {
            return Err(iam_error(
                IamErrorKind::NoSuchEntity,
                format!("Policy {arn} does not exist or is not attachable."),
            ));
        }
        let attached = self.attached_mut(holder, name)?;
        if attached.iter().any(|a| a == arn) {
            return Ok(());
        }
        if attached.len() >= ATTACHED_POLICIES {
            return Err(iam_error(
                IamErrorKind::LimitExceeded,
                format!(
                    "Cannot exceed quota for PoliciesPer{}: {ATTACHED_POLICIES}",
                    capitalized(holder.noun())
                ),
            ));
        }
        attached.push(arn.to_string());
        Ok(())
    }

    pub fn detach_policy(&mut self, holder: Holder, name: &str, arn: &str) -> Result<()> {
        let attached = self.attached_mut(holder, name)?;
        let before = attached.len();
        attached.retain(|a| a != arn);
        if attached.len() == before {
            return Err(iam_error(
                IamErrorKind::NoSuchEntity,
                format!("Policy {arn} was not found."),
            ));
        }
        Ok(())
    }

    /// Sets (or with `None` removes) the permissions boundary of a user or role.
    pub fn set_boundary(&mut self, holder: Holder, name: &str, arn: Option<&str>) -> Result<()> {
        if let Some(arn) = arn {
            let known =
                aws_managed_policies().iter().any(|(a, _)| *a == arn) || self.policy(arn).is_ok();
            if !known {
                return Err(iam_error(
                    IamErrorKind::NoSuchEntity,
                    format!("Scope ARN: {arn} does not exist or is not attachable."),
                ));
            }
        }
        let slot = match holder {
            Holder::User => {
                self.user(name)?;
                &mut self
                    .users
                    .get_mut(&name.to_lowercase())
                    .expect("checked")
                    .boundary
            }
            Holder::Role => {
                self.role(name)?;
                &mut self
                    .roles
                    .get_mut(&name.to_lowercase())
                    .expect("checked")
                    .boundary
            }
            Holder::Group => {
                return Err(iam_error(
                    IamErrorKind::InvalidInput,
                    "Groups cannot have permissions boundaries.",
                ));
            }
        };
        *slot = arn.map(str::to_string);
        Ok(())
    }

    /// The ARNs attached to a user, group or role.
    pub fn attached(&self, holder: Holder, name: &str) -> Result<&[String]> {
        Ok(match holder {
            Holder::User => &self.user(name)?.attached,
            Holder::Group => &self.group(name)?.attached,
            Holder::Role => &self.role(name)?.attached,
        })
    }

    fn inline_mut(
        &mut self,
        holder: Holder,
        name: &str,
    ) -> Result<(&mut BTreeMap<String, String>, String)> {
        Ok(match holder {
            Holder::User => {
                self.user(name)?;
                let u = self.users.get_mut(&name.to_lowercase()).expect("checked");
                (&mut u.inline, u.name.clone())
            }
            Holder::Group => {
                self.group(name)?;
                let g = self.groups.get_mut(&name.to_lowercase()).expect("checked");
                (&mut g.inline, g.name.clone())
            }
            Holder::Role => {
                self.role(name)?;
                let r = self.roles.get_mut(&name.to_lowercase()).expect("checked");
                (&mut r.inline, r.name.clone())
            }
        })
    }

    /// The inline policies of a user, group or role, by name.
    pub fn inline(&self, holder: Holder, name: &str) -> Result<&BTreeMap<String, String>> {
        Ok(match holder {
            Holder::User => &self.user(name)?.inline,
            Holder::Group => &self.group(name)?.inline,
            Holder::Role => &self.role(name)?.inline,
        })
    }

    pub fn put_inline(
        &mut self,
        holder: Holder,
        name: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<()> {
        check_name(policy_name, "policyName", 128)?;
        check_identity_document(document)?;
        let (inline, entity) = self.inline_mut(holder, name)?;
        let others: usize = inline
            .iter()
            .filter(|(k, _)| *k != policy_name)
            .map(|(_, d)| non_whitespace_len(d))
            .sum();
        let limit = holder.inline_limit();
        if others + non_whitespace_len(document) > limit {
            return Err(iam_error(
                IamErrorKind::LimitExceeded,
                format!(
                    "Maximum policy size of {limit} bytes exceeded for {} {entity}",
                    holder.noun()
                ),
            ));
        }
        inline.insert(policy_name.to_string(), document.to_string());
        Ok(())
    }

    pub fn get_inline(&self, holder: Holder, name: &str, policy_name: &str) -> Result<String> {
        let inline = self.inline(holder, name)?;
        inline.get(policy_name).cloned().ok_or_else(|| {
            iam_error(
                IamErrorKind::NoSuchEntity,
                format!(
                    "The {} policy with name {policy_name} cannot be found.",
                    holder.noun()
                ),
            )
        })
    }

    pub fn delete_inline(&mut self, holder: Holder, name: &str, policy_name: &str) -> Result<()> {
        let (inline, _) = self.inline_mut(holder, name)?;
        if inline.remove(policy_name).is_none() {
            return Err(iam_error(
                IamErrorKind::NoSuchEntity,
                format!(
                    "The {} policy with name {policy_name} cannot be found.",
                    holder.noun()
                ),
            ));
        }
        Ok(())
    }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn check_managed_document(document: &str) -> Result<()> {
    if non_whitespace_len(document) > 6144 {
        return Err(iam_error(
            IamErrorKind::LimitExceeded,
            "Cannot exceed quota for PolicySize: 6144",
        ));
    }
    check_identity_document(document)
}

/// A principal's policies, compiled: what authorization evaluates on every request.
#[derive(Debug)]
pub struct PrincipalPolicies {
    /// `(name, policy)`: managed policies by ARN, inline ones as `user/NAME/POLICY`.
    pub identity: Vec<(String, Arc<Policy>)>,
    pub boundary: Option<(String, Arc<Policy>)>,
    /// The unique id (`AIDA…` for users, `AROA…` for roles).
    pub id: String,
    pub arn: String,
    pub name: String,
}

/// The compiled view of one account's IAM.
#[derive(Debug, Default)]
pub struct CompiledAccount {
    pub users: HashMap<String, Arc<PrincipalPolicies>>,
    pub roles: HashMap<String, Arc<PrincipalPolicies>>,
    /// Role trust policies by lower-cased role name.
    pub trust: HashMap<String, Arc<Policy>>,
    /// Every managed policy this account can attach (its own and AWS's), by ARN.
    pub managed: HashMap<String, Arc<Policy>>,
}

fn compile(iam: &AccountIam) -> CompiledAccount {
    let mut managed: HashMap<&str, Arc<Policy>> = HashMap::new();
    for (arn, doc) in aws_managed_policies() {
        if let Ok(p) = Policy::parse(doc, PolicyKind::Identity) {
            managed.insert(arn, Arc::new(p));
        }
    }
    for policy in iam.policies.values() {
        // Stored documents were validated when written; one that no longer parses (a newer
        // rule) grants nothing rather than failing every request.
        if let Ok(p) = Policy::parse(policy.document(), PolicyKind::Identity) {
            managed.insert(&policy.arn, Arc::new(p));
        }
    }
    let inline = |kind: &str,
                  owner: &str,
                  map: &BTreeMap<String, String>,
                  out: &mut Vec<(String, Arc<Policy>)>| {
        for (name, doc) in map {
            if let Ok(p) = Policy::parse(doc, PolicyKind::Identity) {
                out.push((format!("{kind}/{owner}/{name}"), Arc::new(p)));
            }
        }
    };
    let attached = |arns: &[String], out: &mut Vec<(String, Arc<Policy>)>| {
        for arn in arns {
            if let Some(p) = managed.get(arn.as_str()) {
                out.push((arn.clone(), Arc::clone(p)));
            }
        }
    };
    let boundary = |arn: &Option<String>| {
        arn.as_ref()
            .and_then(|a| managed.get(a.as_str()).map(|p| (a.clone(), Arc::clone(p))))
    };
    let mut out = CompiledAccount::default();
    for (key, user) in &iam.users {
        let mut identity = Vec::new();
        inline("user", &user.name, &user.inline, &mut identity);
        attached(&user.attached, &mut identity);
        for group in &user.groups {
            if let Some(g) = iam.groups.get(&group.to_lowercase()) {
                inline("group", &g.name, &g.inline, &mut identity);
                attached(&g.attached, &mut identity);
            }
        }
        out.users.insert(
            key.clone(),
            Arc::new(PrincipalPolicies {
                identity,
                boundary: boundary(&user.boundary),
                id: user.id.clone(),
                arn: user.arn.clone(),
                name: user.name.clone(),
            }),
        );
    }
    for (key, role) in &iam.roles {
        let mut identity = Vec::new();
        inline("role", &role.name, &role.inline, &mut identity);
        attached(&role.attached, &mut identity);
        out.roles.insert(
            key.clone(),
            Arc::new(PrincipalPolicies {
                identity,
                boundary: boundary(&role.boundary),
                id: role.id.clone(),
                arn: role.arn.clone(),
                name: role.name.clone(),
            }),
        );
        if let Ok(p) = Policy::parse(&role.trust_policy, PolicyKind::Trust) {
            out.trust.insert(key.clone(), Arc::new(p));
        }
    }
    out.managed = managed
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    out
}

fn iam_key(account: &str) -> Vec<u8> {
    let mut k = vec![keys::IAM];
    k.extend_from_slice(account.as_bytes());
    k
}

/// Loads every account's IAM record.
pub(crate) fn load(
    view: &dyn cove_storage::ReadView,
) -> Result<HashMap<String, (AccountIam, Arc<CompiledAccount>)>> {
    let entries = view.scan(&KeyRange::prefix(&[keys::IAM]), ScanOptions::default())?;
    let mut out = HashMap::new();
    for (_, value) in entries {
        let iam: AccountIam = serde_json::from_slice(&value)
            .map_err(|e| EngineError::Corrupt(format!("IAM record: {e}")))?;
        let compiled = Arc::new(compile(&iam));
        out.insert(iam.account.clone(), (iam, compiled));
    }
    Ok(out)
}

impl Engine {
    /// Reads one account's IAM.
    pub fn iam_read<T>(&self, account: &str, f: impl FnOnce(&AccountIam) -> T) -> T {
        let map = self.iam.read().unwrap_or_else(|e| e.into_inner());
        match map.get(account) {
            Some((iam, _)) => f(iam),
            None => f(&AccountIam::new(account)),
        }
    }

    /// Changes one account's IAM: `f` works on a copy, which is stored and becomes current
    /// only if `f` succeeds. `extra` adds writes to the same storage transaction.
    pub fn iam_update<T>(
        &self,
        account: &str,
        f: impl FnOnce(&mut AccountIam, &mut WriteBatch) -> Result<T>,
    ) -> Result<T> {
        let _serial = self.catalog_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.refresh()?;
        // The generation is read before the copy, so the copy is at least that new.
        let expected = self.generation(Area::Iam);
        let mut copy = self.iam_read(account, Clone::clone);
        let mut batch = WriteBatch::new();
        let out = f(&mut copy, &mut batch)?;
        let bytes = serde_json::to_vec(&copy).map_err(|e| EngineError::Internal(e.to_string()))?;
        batch.put(iam_key(account), bytes);
        let generation = self.commit_control(batch, Area::Iam, Some(expected))?;
        let compiled = Arc::new(compile(&copy));
        self.installed(Area::Iam, generation, || {
            self.iam
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(account.to_string(), (copy, compiled));
        });
        Ok(out)
    }

    /// The compiled IAM of an account, for authorization.
    pub fn iam_compiled(&self, account: &str) -> Arc<CompiledAccount> {
        self.iam
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(account)
            .map(|(_, c)| Arc::clone(c))
            .unwrap_or_default()
    }

    /// Access keys of an IAM user, oldest first.
    pub fn access_keys(&self, account: &str, user: &str) -> Vec<Credential> {
        let mut keys: Vec<Credential> = self
            .credentials
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|c| c.account_id == account && c.principal.eq_ignore_ascii_case(user))
            .cloned()
            .collect();
        keys.sort_by(|a, b| (a.created, &a.access_key_id).cmp(&(b.created, &b.access_key_id)));
        keys
    }

    /// CreateAccessKey: a new key pair for an existing user (at most two per user).
    pub fn create_access_key(&self, account: &str, user: &str) -> Result<Credential> {
        let credential = self.iam_update(account, |iam, batch| {
            let name = iam.user(user)?.name.clone();
            if self.access_keys(account, &name).len() >= ACCESS_KEYS_PER_USER {
                return Err(iam_error(
                    IamErrorKind::LimitExceeded,
                    format!("Cannot exceed quota for AccessKeysPerUser: {ACCESS_KEYS_PER_USER}"),
                ));
            }
            let credential = Credential {
                version: CREDENTIAL_RECORD_VERSION,
                access_key_id: new_access_key_id("AKIA"),
                secret_access_key: random_string(SECRET_ALPHABET, 40),
                account_id: account.to_string(),
                principal: name,
                created: now(),
                active: true,
                session: None,
            };
            let bytes = serde_json::to_vec(&credential)
                .map_err(|e| EngineError::Internal(e.to_string()))?;
            batch.put(keys::credential_key(&credential.access_key_id), bytes);
            Ok(credential)
        })?;
        self.credentials
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(credential.access_key_id.clone(), credential.clone());
        Ok(credential)
    }

    /// DeleteAccessKey.
    pub fn delete_access_key(&self, account: &str, user: &str, access_key_id: &str) -> Result<()> {
        self.iam_update(account, |iam, batch| {
            let name = iam.user(user)?.name.clone();
            let owned = self
                .access_keys(account, &name)
                .iter()
                .any(|c| c.access_key_id == access_key_id);
            if !owned {
                return Err(iam_error(
                    IamErrorKind::NoSuchEntity,
                    format!("The Access Key with id {access_key_id} cannot be found."),
                ));
            }
            batch.delete(keys::credential_key(access_key_id));
            Ok(())
        })?;
        self.credentials
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(access_key_id);
        Ok(())
    }

    /// UpdateAccessKey: makes a key active or inactive.
    pub fn set_access_key_status(
        &self,
        account: &str,
        user: &str,
        access_key_id: &str,
        active: bool,
    ) -> Result<()> {
        let updated = self.iam_update(account, |iam, batch| {
            let name = iam.user(user)?.name.clone();
            let Some(mut credential) = self
                .access_keys(account, &name)
                .into_iter()
                .find(|c| c.access_key_id == access_key_id)
            else {
                return Err(iam_error(
                    IamErrorKind::NoSuchEntity,
                    format!("The Access Key with id {access_key_id} cannot be found."),
                ));
            };
            credential.active = active;
            let bytes = serde_json::to_vec(&credential)
                .map_err(|e| EngineError::Internal(e.to_string()))?;
            batch.put(keys::credential_key(access_key_id), bytes);
            Ok(credential)
        })?;
        self.credentials
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(updated.access_key_id.clone(), updated);
        Ok(())
    }

    /// DeleteUser: refused while the user has keys, policies or groups.
    pub fn delete_user(&self, account: &str, user: &str) -> Result<()> {
        self.iam_update(account, |iam, _| {
            let name = iam.user(user)?.name.clone();
            let has_keys = !self.access_keys(account, &name).is_empty();
            iam.delete_user(&name, has_keys)
        })
    }

    /// AssumeRole, once authorized: temporary credentials (`ASIA…`, a secret and a session
    /// token) for a session of `role` in `account`, valid for `duration` seconds.
    pub fn create_session(
        &self,
        account: &str,
        role: &str,
        session_name: &str,
        duration: i64,
        policy: Option<&str>,
        policy_arns: Vec<String>,
    ) -> Result<Credential> {
        let role_name = self.iam_read(account, |iam| iam.role(role).map(|r| r.name.clone()))?;
        if let Some(doc) = policy {
            check_identity_document(doc)?;
        }
        let at = now();
        let credential = Credential {
            version: CREDENTIAL_RECORD_VERSION,
            access_key_id: new_access_key_id("ASIA"),
            secret_access_key: random_string(SECRET_ALPHABET, 40),
            account_id: account.to_string(),
            principal: role_name,
            created: at,
            active: true,
            session: Some(crate::Session {
                token: random_string(SECRET_ALPHABET, 356),
                expires: at + duration,
                session_name: session_name.to_string(),
                policy: policy.map(str::to_string),
                policy_arns,
            }),
        };
        let bytes =
            serde_json::to_vec(&credential).map_err(|e| EngineError::Internal(e.to_string()))?;
        let mut batch = WriteBatch::new();
        batch.put(keys::credential_key(&credential.access_key_id), bytes);
        // Expired sessions are dropped as new ones are made, so they do not pile up.
        let expired: Vec<String> = self
            .credentials
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|c| c.session.as_ref().is_some_and(|s| s.expires < at))
            .map(|c| c.access_key_id.clone())
            .collect();
        for id in &expired {
            batch.delete(keys::credential_key(id));
        }
        // A new key of its own: no change of another node's can be lost, so no check.
        let generation = self.commit_control(batch, Area::Iam, None)?;
        self.installed(Area::Iam, generation, || {
            let mut map = self.credentials.write().unwrap_or_else(|e| e.into_inner());
            for id in &expired {
                map.remove(id);
            }
            map.insert(credential.access_key_id.clone(), credential.clone());
        });
        Ok(credential)
    }

    /// Compiles the managed policies named by ARN (session policies); unknown ARNs are
    /// skipped, as they were checked when the session was made.
    pub fn managed_policies(&self, account: &str, arns: &[String]) -> Vec<(String, Arc<Policy>)> {
        let compiled = self.iam_compiled(account);
        arns.iter()
            .filter_map(|arn| {
                compiled
                    .managed
                    .get(arn)
                    .map(|p| (arn.clone(), Arc::clone(p)))
            })
            .collect()
    }

    /// A new 12-digit account with a root access key (`cove account create`).
    pub fn create_account(&self, account: Option<&str>) -> Result<Credential> {
        let account = match account {
            Some(a) => a.to_string(),
            None => loop {
                let mut rng = rand::rng();
                let candidate: String = (0..12)
                    .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                    .collect();
                if !self.account_exists(&candidate) && !candidate.starts_with('0') {
                    break candidate;
                }
            },
        };
        if self.account_exists(&account) {
            return Err(iam_error(
                IamErrorKind::EntityAlreadyExists,
                format!("Account {account} already exists."),
            ));
        }
        self.ensure_root_credential(&account, None)
    }

    /// Whether an account has a root key (every account Cove knows does).
    pub fn account_exists(&self, account: &str) -> bool {
        self.credentials
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .any(|c| c.account_id == account && c.principal == crate::ROOT_PRINCIPAL)
    }
}
