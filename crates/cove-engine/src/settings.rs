//! Table settings kept in the catalog record: tags (TagResource, UntagResource,
//! ListTagsOfResource) and the point-in-time-recovery flag (Describe/UpdateContinuousBackups).

use std::sync::Arc;

use cove_wire::admin::{MAX_TAGS, TagResourceInput, UntagResourceInput};

use crate::catalog::Table;
use crate::tables::now_seconds;
use crate::{Engine, EngineError, Result, Scope};

/// Point-in-time recovery as DescribeContinuousBackups reports it.
pub struct ContinuousBackups {
    /// When recovery was enabled, if it is.
    pub pitr_enabled_at: Option<f64>,
}

/// DynamoDB's limit on a resource-based policy, whitespace included: 20 KB.
const MAX_RESOURCE_POLICY_BYTES: usize = 20 * 1024;

impl Engine {
    /// The compiled resource-based policy of a table named by name or ARN, for authorization.
    pub fn table_policy(
        &self,
        scope: &Scope,
        name_or_arn: &str,
    ) -> Option<Arc<cove_policy::Policy>> {
        let name = self.resolve_name(scope, name_or_arn).ok()?;
        self.table(scope, name)?.policy.clone()
    }

    /// PutResourcePolicy on a table: returns the revision id. The same document again keeps
    /// its revision; `ExpectedRevisionId` (or `NO_POLICY`) makes the change conditional.
    pub fn put_resource_policy(
        &self,
        scope: &Scope,
        arn: &str,
        document: &str,
        expected: Option<&str>,
    ) -> Result<String> {
        let table = self.tagged_table(scope, arn)?;
        check_resource_policy(document)?;
        let current = table.record.resource_policy.clone();
        check_revision(arn, current.as_ref(), expected)?;
        if let Some((doc, revision)) = &current
            && doc == document
        {
            return Ok(revision.clone());
        }
        let revision = next_revision(current.as_ref());
        let stored = (document.to_string(), revision.clone());
        self.change_table(
            scope,
            &table.record.name,
            false,
            move |record| {
                record.resource_policy = Some(stored);
                Ok(())
            },
            |_, _, _| Ok(()),
        )?;
        Ok(revision)
    }

    /// GetResourcePolicy: the document and its revision.
    pub fn get_resource_policy(&self, scope: &Scope, arn: &str) -> Result<(String, String)> {
        let table = self.tagged_table(scope, arn)?;
        table
            .record
            .resource_policy
            .clone()
            .ok_or_else(|| policy_not_found(arn))
    }

    /// DeleteResourcePolicy: returns the revision id the deleted policy had.
    pub fn delete_resource_policy(
        &self,
        scope: &Scope,
        arn: &str,
        expected: Option<&str>,
    ) -> Result<String> {
        let table = self.tagged_table(scope, arn)?;
        let Some((_, revision)) = table.record.resource_policy.clone() else {
            return Err(policy_not_found(arn));
        };
        check_revision(arn, table.record.resource_policy.as_ref(), expected)?;
        self.change_table(
            scope,
            &table.record.name,
            false,
            |record| {
                record.resource_policy = None;
                Ok(())
            },
            |_, _, _| Ok(()),
        )?;
        Ok(revision)
    }

    /// The table a tagging call names by ARN, with DynamoDB's errors for a malformed ARN and
    /// for one that names no table.
    fn tagged_table(&self, scope: &Scope, arn: &str) -> Result<Arc<Table>> {
        let malformed = || {
            EngineError::Validation(format!(
                "Invalid TableArn: Invalid ResourceArn provided as input {arn}"
            ))
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, _partition, service, region, account, resource] = parts.as_slice() else {
            return Err(malformed());
        };
        let Some(name) = resource.strip_prefix("table/") else {
            return Err(malformed());
        };
        if *prefix != "arn" || *service != "dynamodb" || name.len() < 3 || name.contains('/') {
            return Err(malformed());
        }
        let not_found = || {
            EngineError::ResourceNotFound(format!(
                "Requested resource not found: ResourcArn: {arn} not found"
            ))
        };
        if *region != scope.region || *account != scope.account_id {
            return Err(not_found());
        }
        self.table(scope, name).ok_or_else(not_found)
    }

    pub fn tag_resource(&self, scope: &Scope, input: TagResourceInput) -> Result<()> {
        let table = self.tagged_table(scope, &input.resource_arn)?;
        let tags = input.tags;
        self.change_table(
            scope,
            &table.record.name,
            false,
            move |record| {
                for (k, v) in tags {
                    match record.tags.iter_mut().find(|(key, _)| *key == k) {
                        Some(entry) => entry.1 = v,
                        None => record.tags.push((k, v)),
                    }
                }
                if record.tags.len() > MAX_TAGS {
                    return Err(EngineError::LimitExceeded(format!(
                        "The number of tags on a resource cannot exceed {MAX_TAGS}"
                    )));
                }
                Ok(())
            },
            |_, _, _| Ok(()),
        )?;
        Ok(())
    }

    pub fn untag_resource(&self, scope: &Scope, input: UntagResourceInput) -> Result<()> {
        let table = self.tagged_table(scope, &input.resource_arn)?;
        let keys = input.tag_keys;
        self.change_table(
            scope,
            &table.record.name,
            false,
            move |record| {
                record.tags.retain(|(k, _)| !keys.contains(k));
                Ok(())
            },
            |_, _, _| Ok(()),
        )?;
        Ok(())
    }

    pub fn list_tags_of_resource(&self, scope: &Scope, arn: &str) -> Result<Vec<(String, String)>> {
        Ok(self.tagged_table(scope, arn)?.record.tags.clone())
    }

    pub fn describe_continuous_backups(
        &self,
        scope: &Scope,
        name: &str,
    ) -> Result<ContinuousBackups> {
        let table = self.live_table(scope, name)?;
        Ok(ContinuousBackups {
            pitr_enabled_at: table.record.pitr_enabled_at,
        })
    }

    pub fn update_continuous_backups(
        &self,
        scope: &Scope,
        name: &str,
        enabled: bool,
    ) -> Result<ContinuousBackups> {
        let table = self.change_table(
            scope,
            name,
            false,
            move |record| {
                record.pitr_enabled_at = match (enabled, record.pitr_enabled_at) {
                    (true, Some(at)) => Some(at),
                    (true, None) => Some(now_seconds()),
                    (false, _) => None,
                };
                Ok(())
            },
            |_, _, _| Ok(()),
        )?;
        Ok(ContinuousBackups {
            pitr_enabled_at: table.record.pitr_enabled_at,
        })
    }
}

fn policy_not_found(arn: &str) -> EngineError {
    EngineError::PolicyNotFound(format!(
        "Resource-based policy not found for the provided ResourceArn: {arn}"
    ))
}

/// `ExpectedRevisionId`: `NO_POLICY` asks that there be none; any other value must be the
/// current revision.
fn check_revision(
    arn: &str,
    current: Option<&(String, String)>,
    expected: Option<&str>,
) -> Result<()> {
    match (expected, current) {
        (None, _) | (Some("NO_POLICY"), None) => Ok(()),
        (Some(want), Some((_, have))) if want == have => Ok(()),
        (Some(want), Some((_, have))) => Err(EngineError::PolicyNotFound(format!(
            "Resource-based policy not found for the provided ResourceArn: Requested update for policy with revision id {want}, but the policy associated to target table {arn} is with revision id {have}."
        ))),
        (Some(_), None) => Err(policy_not_found(arn)),
    }
}

/// A new revision id: milliseconds since the epoch, as DynamoDB's look, and always greater
/// than the one it replaces.
pub(crate) fn next_revision(current: Option<&(String, String)>) -> String {
    let now = (now_seconds() * 1000.0) as u64;
    let previous = current
        .and_then(|(_, r)| r.parse::<u64>().ok())
        .unwrap_or(0);
    now.max(previous + 1).to_string()
}

/// DynamoDB's checks of a resource-based policy: at most 20 KB, and a valid policy.
pub(crate) fn check_resource_policy(document: &str) -> Result<()> {
    if document.len() > MAX_RESOURCE_POLICY_BYTES {
        return Err(EngineError::Validation(format!(
            "Policy document exceeds the maximum allowed size of {MAX_RESOURCE_POLICY_BYTES} bytes"
        )));
    }
    cove_policy::Policy::parse(document, cove_policy::PolicyKind::Resource)
        .map(|_| ())
        .map_err(|e| EngineError::Validation(format!("Invalid policy document: {e}")))
}
