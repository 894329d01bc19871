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

impl Engine {
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
