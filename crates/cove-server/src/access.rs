//! What each DynamoDB operation must be allowed to do: the IAM action(s), the resource ARN(s)
//! (tables, indexes, backups; every table of a batch; every item of a transaction with
//! `dynamodb:EnclosingOperation`) and DynamoDB's condition keys (LeadingKeys, Attributes,
//! Select, ReturnValues, ReturnConsumedCapacity). Keys are computed only when a policy will
//! be evaluated, so the root user's requests cost nothing here.

use std::borrow::Cow;

use cove_engine::{Engine, Scope};
use cove_types::Item;
use cove_wire::input::{ReturnConsumedCapacity, ReturnValues};
use cove_wire::read::Select;

use crate::authz::{Guard, Keys, key_text};
use crate::error::Failure;

pub struct Access<'a> {
    pub guard: &'a Guard<'a>,
    pub engine: &'a Engine,
    pub scope: &'a Scope,
}

pub fn rcc_text(rcc: ReturnConsumedCapacity) -> &'static str {
    match rcc {
        ReturnConsumedCapacity::None => "NONE",
        ReturnConsumedCapacity::Total => "TOTAL",
        ReturnConsumedCapacity::Indexes => "INDEXES",
    }
}

pub fn return_values_text(rv: ReturnValues) -> &'static str {
    match rv {
        ReturnValues::None => "NONE",
        ReturnValues::AllOld => "ALL_OLD",
        ReturnValues::UpdatedOld => "UPDATED_OLD",
        ReturnValues::AllNew => "ALL_NEW",
        ReturnValues::UpdatedNew => "UPDATED_NEW",
    }
}

pub fn select_text(select: Select) -> &'static str {
    match select {
        Select::AllAttributes => "ALL_ATTRIBUTES",
        Select::AllProjectedAttributes => "ALL_PROJECTED_ATTRIBUTES",
        Select::SpecificAttributes => "SPECIFIC_ATTRIBUTES",
        Select::Count => "COUNT",
    }
}

impl Access<'_> {
    /// The ARN and owning account of a table named by name or by ARN.
    fn table_arn(&self, table: &str) -> (String, String) {
        let account = self.table_account(table).to_string();
        if table.starts_with("arn:") {
            return (table.to_string(), account);
        }
        (
            format!(
                "arn:aws:dynamodb:{}:{}:table/{table}",
                self.scope.region, self.scope.account_id
            ),
            account,
        )
    }

    /// The account owning a table named by name or by ARN, borrowed.
    fn table_account<'t>(&'t self, table: &'t str) -> &'t str {
        if table.starts_with("arn:") {
            return table.split(':').nth(4).unwrap_or_default();
        }
        &self.scope.account_id
    }

    /// The ARN of a table, or of one of its indexes: an index is its own resource.
    fn resource_arn(&self, table: &str, index: Option<&str>) -> String {
        let (table_arn, _) = self.table_arn(table);
        match index {
            Some(index) => format!("{table_arn}/index/{index}"),
            None => table_arn,
        }
    }

    /// Whether any policy needs evaluating: not for the root user in its own account (a
    /// resource policy is checked separately) unless an endpoint policy may deny it.
    fn needed(&self) -> Result<bool, Failure> {
        let p = self.guard.principal();
        Ok(p.kind != cove_policy::CallerKind::Root || self.guard.endpoint_may_deny()?)
    }

    /// The account and region a table named by ARN lives in; the caller's own otherwise. A
    /// table of another account is reachable when its resource-based policy allows.
    pub fn scope_for(&self, table: &str) -> Cow<'_, Scope> {
        if !table.starts_with("arn:") {
            return Cow::Borrowed(self.scope);
        }
        let parts: Vec<&str> = table.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", _, "dynamodb", region, account, _] if cove_policy::is_account_id(account) => {
                Cow::Owned(Scope {
                    account_id: account.to_string(),
                    region: region.to_string(),
                })
            }
            _ => Cow::Borrowed(self.scope),
        }
    }

    /// Authorizes `action` on a table (or one of its indexes), with keys built only when
    /// they will be evaluated.
    pub fn table(
        &self,
        action: &str,
        table: &str,
        index: Option<&str>,
        keys: impl FnOnce() -> Keys,
    ) -> Result<(), Failure> {
        let policy = self.engine.table_policy(&self.scope_for(table), table);
        // The root user in its own account, with no policy to evaluate, needs no ARN built
        // (unless the audit log records it).
        if !self.needed()? && self.table_account(table) == self.scope.account_id && policy.is_none()
        {
            return self
                .guard
                .root_allowed_lazily(action, || self.resource_arn(table, index));
        }
        let (table_arn, account) = self.table_arn(table);
        // An index is its own resource; the table's policy still governs it.
        let arn: Cow<'_, str> = match index {
            Some(index) => Cow::Owned(format!("{table_arn}/index/{index}")),
            None => Cow::Borrowed(&table_arn),
        };
        let named = policy.as_deref().map(|policy| cove_policy::Named {
            name: &table_arn,
            policy,
        });
        self.guard.check_with(action, &arn, &account, named, keys())
    }

    /// Authorizes an action on a resource given by ARN (tags, backups). An ARN that is not
    /// a DynamoDB one is left to the engine, which refuses it with DynamoDB's validation text.
    pub fn arn(&self, action: &str, arn: &str) -> Result<(), Failure> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [_, _, "dynamodb", _, account, _] = parts.as_slice() else {
            return Ok(());
        };
        if !cove_policy::is_account_id(account) {
            return Ok(());
        }
        // Table ARNs (tags, resource policies) carry the table's policy; backup ARNs do not.
        let table = arn.split("/backup/").next().unwrap_or(arn);
        let policy = if table.len() == arn.len() {
            self.engine.table_policy(&self.scope_for(arn), arn)
        } else {
            None
        };
        if !self.needed()? && *account == self.scope.account_id && policy.is_none() {
            return self.guard.root_allowed(action, arn);
        }
        let named = policy.as_deref().map(|policy| cove_policy::Named {
            name: table,
            policy,
        });
        self.guard
            .check_with(action, arn, account, named, Keys::new())
    }

    /// Authorizes an action that has no resource of its own (ListTables, ListBackups): AWS
    /// reports it on `table/*`.
    pub fn account_wide(&self, action: &str) -> Result<(), Failure> {
        let arn = format!(
            "arn:aws:dynamodb:{}:{}:table/*",
            self.scope.region, self.scope.account_id
        );
        self.guard
            .check(action, &arn, &self.scope.account_id, Keys::new())
    }

    /// `dynamodb:LeadingKeys` of items or keys of `table`: their partition key values.
    pub fn leading_keys<'i>(
        &self,
        table: &str,
        items: impl IntoIterator<Item = &'i Item>,
    ) -> Vec<String> {
        let Some(name) = self
            .engine
            .partition_key_name(&self.scope_for(table), table)
        else {
            return Vec::new();
        };
        let mut out: Vec<String> = items
            .into_iter()
            .filter_map(|item| item.get(&name).and_then(key_text))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}
