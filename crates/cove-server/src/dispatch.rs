//! Operation dispatch: decode the operation's input, call the engine in the caller's scope,
//! and encode the output. Operations Cove has not built answer UnknownOperationException,
//! never a pretend success.

use serde_json::{Map, Value, json};

use cove_engine::{Backup, ContinuousBackups, Engine, ReadPage, Scope, TableConsumed};
use cove_types::Item;
use cove_wire::Operation;
use cove_wire::admin::{
    CreateBackupInput, ListBackupsInput, PutResourcePolicyInput, RestoreTableFromBackupInput,
    TagResourceInput, UntagResourceInput, UpdateContinuousBackupsInput, UpdateTimeToLiveInput,
    decode_backup_arn, decode_policy_target, decode_resource_arn,
};
use cove_wire::attr::encode_item;
use cove_wire::batch::{
    BatchGetItemInput, BatchWriteItemInput, TransactGetItemsInput, TransactWriteItemsInput,
};
use cove_wire::input::{
    CreateTableInput, DeleteItemInput, GetItemInput, ListTablesInput, PutItemInput,
    ReturnConsumedCapacity, UpdateItemInput, UpdateTableInput, decode_table_name,
};
use cove_wire::output::{
    consumed_capacity_json, item_response, read_page_response, with_collection_metrics,
};
use cove_wire::partiql::{
    BatchExecuteStatementInput, ExecuteStatementInput, ExecuteTransactionInput,
};
use cove_wire::read::{QueryInput, ScanInput};
use cove_wire::write::item_response_bytes;

use crate::access::{Access, rcc_text, return_values_text, select_text};
use crate::audit::AuditLog;
use crate::auth::Caller;
use crate::authz::{Guard, Keys};
use crate::error::Failure;
use crate::handler::ConnInfo;

/// Operations cheap and bounded enough to run on the async worker that received them: single
/// reads of one item or of the catalog, which never wait for a commit.
pub fn runs_inline(op: Operation) -> bool {
    matches!(
        op,
        Operation::GetItem
            | Operation::DescribeTable
            | Operation::ListTables
            | Operation::DescribeTimeToLive
            | Operation::DescribeLimits
            | Operation::DescribeEndpoints
            | Operation::ListTagsOfResource
            | Operation::DescribeContinuousBackups
    )
}

pub fn dispatch(
    engine: &Engine,
    caller: &Caller,
    conn: ConnInfo,
    audit: Option<&AuditLog>,
    request_id: &str,
    op: Operation,
    body: &Map<String, Value>,
) -> Result<Vec<u8>, Failure> {
    let scope = Scope {
        account_id: caller.credential.account_id.clone(),
        region: caller.region.clone(),
    };
    let guard = Guard::new(&caller.principal, &caller.region, &conn, audit, request_id).dynamodb();
    let access = Access {
        guard: &guard,
        engine,
        scope: &scope,
    };
    let action = op.action();
    // Operations on one table with no condition keys of their own.
    let on_table = |name: &str| access.table(action, name, None, Keys::new);
    let output = match op {
        Operation::CreateTable => {
            let input = CreateTableInput::decode(body)?;
            on_table(&input.table_name)?;
            if !input.tags.is_empty() {
                access.table("dynamodb:TagResource", &input.table_name, None, Keys::new)?;
            }
            if input.resource_policy.is_some() {
                access.table(
                    "dynamodb:PutResourcePolicy",
                    &input.table_name,
                    None,
                    Keys::new,
                )?;
            }
            Ok(json!({"TableDescription": engine.create_table(&scope, input)?.to_json()}))
        }
        Operation::DescribeTable => {
            let name = decode_table_name(body)?;
            on_table(&name)?;
            Ok(json!({"Table": engine.describe_table(&access.scope_for(&name), &name)?.to_json()}))
        }
        Operation::ListTables => {
            let input = ListTablesInput::decode(body)?;
            access.account_wide(action)?;
            let (names, last) = engine.list_tables(&scope, &input)?;
            let mut out = Map::new();
            out.insert("TableNames".into(), json!(names));
            if let Some(last) = last {
                out.insert("LastEvaluatedTableName".into(), json!(last));
            }
            Ok(Value::Object(out))
        }
        Operation::UpdateTable => {
            let input = UpdateTableInput::decode(body)?;
            on_table(&input.table_name)?;
            Ok(json!({"TableDescription": engine.update_table(&scope, input)?.to_json()}))
        }
        Operation::DeleteTable => {
            let name = decode_table_name(body)?;
            on_table(&name)?;
            Ok(json!({"TableDescription": engine.delete_table(&scope, &name)?.to_json()}))
        }
        Operation::PutItem => {
            let input = PutItemInput::decode(body)?;
            let rcc = input.return_consumed_capacity;
            access.table(action, &input.table_name, None, || {
                Keys::new()
                    .many(
                        "dynamodb:LeadingKeys",
                        access.leading_keys(&input.table_name, [&input.item]),
                    )
                    .many(
                        "dynamodb:Attributes",
                        cove_engine::write_attributes(
                            &input.item,
                            &input.condition,
                            None,
                            None,
                            &input.placeholders,
                        )
                        .unwrap_or_default(),
                    )
                    .one(
                        "dynamodb:ReturnValues",
                        return_values_text(input.return_values),
                    )
                    .one("dynamodb:ReturnConsumedCapacity", rcc_text(rcc))
            })?;
            let out = {
                let target = access.scope_for(&input.table_name);
                engine.put_item(&target, input)
            }?;
            let consumed = consumed_capacity_json(&out.table_name, rcc, out.consumed);
            Ok(with_collection_metrics(
                item_response("Attributes", out.old_item.as_ref(), consumed),
                out.item_collection.as_ref().map(|(k, size)| (k, *size)),
            ))
        }
        Operation::GetItem => {
            let input = GetItemInput::decode(body)?;
            let rcc = input.return_consumed_capacity;
            access.table(action, &input.table_name, None, || {
                let keys = Keys::new()
                    .many(
                        "dynamodb:LeadingKeys",
                        access.leading_keys(&input.table_name, [&input.key]),
                    )
                    .one("dynamodb:ReturnConsumedCapacity", rcc_text(rcc));
                let projected = cove_engine::read_attributes(
                    &Default::default(),
                    input.projection_expression.as_deref(),
                    input.attributes_to_get.as_deref(),
                    None,
                    &input.placeholders,
                );
                match projected {
                    Some(names) => keys.many("dynamodb:Attributes", names),
                    None => keys,
                }
            })?;
            let out = {
                let target = access.scope_for(&input.table_name);
                engine.get_item(&target, input)
            }?;
            let consumed = consumed_capacity_json(&out.table_name, rcc, out.consumed);
            // The one response a read workload sends is written straight to bytes.
            return Ok(item_response_bytes(
                "Item",
                out.item.as_ref(),
                consumed.as_ref(),
            ));
        }
        Operation::UpdateItem => {
            let input = UpdateItemInput::decode(body)?;
            let rcc = input.return_consumed_capacity;
            access.table(action, &input.table_name, None, || {
                let keys = Keys::new()
                    .many(
                        "dynamodb:LeadingKeys",
                        access.leading_keys(&input.table_name, [&input.key]),
                    )
                    .one(
                        "dynamodb:ReturnValues",
                        return_values_text(input.return_values),
                    )
                    .one("dynamodb:ReturnConsumedCapacity", rcc_text(rcc));
                let names = cove_engine::write_attributes(
                    &input.key,
                    &input.condition,
                    input.update_expression.as_deref(),
                    input.attribute_updates.as_deref(),
                    &input.placeholders,
                );
                keys.many("dynamodb:Attributes", names.unwrap_or_default())
            })?;
            let out = {
                let target = access.scope_for(&input.table_name);
                engine.update_item(&target, input)
            }?;
            let consumed = consumed_capacity_json(&out.table_name, rcc, out.consumed);
            Ok(with_collection_metrics(
                item_response("Attributes", out.attributes.as_ref(), consumed),
                out.item_collection.as_ref().map(|(k, size)| (k, *size)),
            ))
        }
        Operation::DeleteItem => {
            let input = DeleteItemInput::decode(body)?;
            let rcc = input.return_consumed_capacity;
            access.table(action, &input.table_name, None, || {
                Keys::new()
                    .many(
                        "dynamodb:LeadingKeys",
                        access.leading_keys(&input.table_name, [&input.key]),
                    )
                    .one(
                        "dynamodb:ReturnValues",
                        return_values_text(input.return_values),
                    )
                    .one("dynamodb:ReturnConsumedCapacity", rcc_text(rcc))
                    .many(
                        "dynamodb:Attributes",
                        cove_engine::write_attributes(
                            &input.key,
                            &input.condition,
                            None,
                            None,
                            &input.placeholders,
                        )
                        .unwrap_or_default(),
                    )
            })?;
            let out = {
                let target = access.scope_for(&input.table_name);
                engine.delete_item(&target, input)
            }?;
            let consumed = consumed_capacity_json(&out.table_name, rcc, out.consumed);
            Ok(with_collection_metrics(
                item_response("Attributes", out.old_item.as_ref(), consumed),
                out.item_collection.as_ref().map(|(k, size)| (k, *size)),
            ))
        }
        Operation::Query => {
            let input = QueryInput::decode(body)?;
            let rcc = input.common.return_consumed_capacity;
            let c = &input.common;
            access.table(action, &c.table_name, c.index_name.as_deref(), || {
                let leading = engine
                    .query_partition_value(&access.scope_for(&c.table_name), &input)
                    .and_then(|v| crate::authz::key_text(&v));
                read_keys(
                    c.select,
                    rcc,
                    cove_engine::read_attributes(
                        &c.filter,
                        c.projection_expression.as_deref(),
                        c.attributes_to_get.as_deref(),
                        input.key_condition_expression.as_deref(),
                        &c.placeholders,
                    ),
                )
                .many("dynamodb:LeadingKeys", leading.into_iter().collect())
            })?;
            Ok(page_response(
                {
                    let target = access.scope_for(&input.common.table_name);
                    engine.query(&target, input)
                }?,
                rcc,
            ))
        }
        Operation::Scan => {
            let input = ScanInput::decode(body)?;
            let rcc = input.common.return_consumed_capacity;
            let c = &input.common;
            access.table(action, &c.table_name, c.index_name.as_deref(), || {
                read_keys(
                    c.select,
                    rcc,
                    cove_engine::read_attributes(
                        &c.filter,
                        c.projection_expression.as_deref(),
                        c.attributes_to_get.as_deref(),
                        None,
                        &c.placeholders,
                    ),
                )
            })?;
            Ok(page_response(
                {
                    let target = access.scope_for(&input.common.table_name);
                    engine.scan(&target, input)
                }?,
                rcc,
            ))
        }
        Operation::BatchWriteItem => {
            let input = BatchWriteItemInput::decode(body)?;
            let rcc = input.return_consumed_capacity;
            for (table, requests) in &input.tables {
                access.table(action, table, None, || {
                    let items = requests.iter().map(|r| match r {
                        cove_wire::batch::WriteRequest::Put(item) => item,
                        cove_wire::batch::WriteRequest::Delete(key) => key,
                    });
                    Keys::new()
                        .many("dynamodb:LeadingKeys", access.leading_keys(table, items))
                        .one("dynamodb:ReturnConsumedCapacity", rcc_text(rcc))
                })?;
            }
            let out = engine.batch_write_item(&scope, input)?;
            let mut o = Map::new();
            // Every request is applied in one transaction, so nothing is ever left over.
            o.insert("UnprocessedItems".into(), json!({}));
            add_consumed(&mut o, rcc, out.consumed);
            add_collections(&mut o, out.item_collections);
            Ok(Value::Object(o))
        }
        Operation::BatchGetItem => {
            let input = BatchGetItemInput::decode(body)?;
            let rcc = input.return_consumed_capacity;
            for (table, request) in &input.tables {
                access.table(action, table, None, || {
                    read_keys(
                        None,
                        rcc,
                        cove_engine::read_attributes(
                            &Default::default(),
                            request.projection_expression.as_deref(),
                            request.attributes_to_get.as_deref(),
                            None,
                            &request.placeholders,
                        ),
                    )
                    .many(
                        "dynamodb:LeadingKeys",
                        access.leading_keys(table, &request.keys),
                    )
                })?;
            }
            let requests = input.tables.clone();
            let out = engine.batch_get_item(&scope, input)?;
            let mut responses = Map::new();
            for (table, items) in &out.responses {
                responses.insert(
                    table.clone(),
                    Value::Array(items.iter().map(encode_item).collect()),
                );
            }
            let mut unprocessed = Map::new();
            for (table, keys) in &out.unprocessed {
                let mut entry = Map::new();
                entry.insert(
                    "Keys".into(),
                    Value::Array(keys.iter().map(encode_item).collect()),
                );
                // The rest of the table's request, so the caller can resend it as is.
                if let Some((_, req)) = requests.iter().find(|(n, _)| n == table) {
                    if let Some(p) = &req.projection_expression {
                        entry.insert("ProjectionExpression".into(), json!(p));
                    }
                    if let Some(names) = &req.attributes_to_get {
                        entry.insert("AttributesToGet".into(), json!(names));
                    }
                    if let Some(names) = &req.placeholders.names {
                        let m: Map<String, Value> =
                            names.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                        entry.insert("ExpressionAttributeNames".into(), Value::Object(m));
                    }
                    if req.consistent_read {
                        entry.insert("ConsistentRead".into(), json!(true));
                    }
                }
                unprocessed.insert(table.clone(), Value::Object(entry));
            }
            let mut o = Map::new();
            o.insert("Responses".into(), Value::Object(responses));
            o.insert("UnprocessedKeys".into(), Value::Object(unprocessed));
            add_consumed(&mut o, rcc, out.consumed);
            Ok(Value::Object(o))
        }
        Operation::TransactWriteItems => {
            let input = TransactWriteItemsInput::decode(body)?;
            let rcc = input.return_consumed_capacity;
            for write in &input.items {
                use cove_wire::batch::TransactAction;
                let (item_action, item) = match &write.action {
                    TransactAction::ConditionCheck { key } => ("dynamodb:ConditionCheckItem", key),
                    TransactAction::Put { item } => ("dynamodb:PutItem", item),
                    TransactAction::Delete { key } => ("dynamodb:DeleteItem", key),
                    TransactAction::Update { key, .. } => ("dynamodb:UpdateItem", key),
                };
                access.table(item_action, &write.table_name, None, || {
                    Keys::new()
                        .many(
                            "dynamodb:LeadingKeys",
                            access.leading_keys(&write.table_name, [item]),
                        )
                        .one("dynamodb:EnclosingOperation", "TransactWriteItems")
                        .one("dynamodb:ReturnConsumedCapacity", rcc_text(rcc))
                })?;
            }
            let out = engine.transact_write_items(&scope, input)?;
            let mut o = Map::new();
            add_consumed(&mut o, rcc, out.consumed);
            add_collections(&mut o, out.item_collections);
            Ok(Value::Object(o))
        }
        Operation::TransactGetItems => {
            let input = TransactGetItemsInput::decode(body)?;
            let rcc = input.return_consumed_capacity;
            for get in &input.items {
                access.table("dynamodb:GetItem", &get.table_name, None, || {
                    Keys::new()
                        .many(
                            "dynamodb:LeadingKeys",
                            access.leading_keys(&get.table_name, [&get.key]),
                        )
                        .one("dynamodb:EnclosingOperation", "TransactGetItems")
                        .one("dynamodb:ReturnConsumedCapacity", rcc_text(rcc))
                })?;
            }
            let out = engine.transact_get_items(&scope, input)?;
            let responses: Vec<Value> = out
                .responses
                .iter()
                .map(|item| match item {
                    Some(item) => json!({"Item": encode_item(item)}),
                    None => json!({}),
                })
                .collect();
            let mut o = Map::new();
            o.insert("Responses".into(), Value::Array(responses));
            add_consumed(&mut o, rcc, out.consumed);
            Ok(Value::Object(o))
        }
        Operation::UpdateTimeToLive => {
            let input = UpdateTimeToLiveInput::decode(body)?;
            on_table(&input.table_name)?;
            let out = engine.update_time_to_live(&scope, input)?;
            Ok(json!({"TimeToLiveSpecification": {
                "Enabled": out.enabled, "AttributeName": out.attribute_name
            }}))
        }
        Operation::DescribeTimeToLive => {
            let name = decode_table_name(body)?;
            on_table(&name)?;
            Ok(match engine.describe_time_to_live(&scope, &name)? {
                Some(attr) => json!({"TimeToLiveDescription": {
                    "TimeToLiveStatus": "ENABLED", "AttributeName": attr
                }}),
                None => json!({"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}),
            })
        }
        Operation::TagResource => {
            let input = TagResourceInput::decode(body)?;
            access.arn(action, &input.resource_arn)?;
            engine.tag_resource(&scope, input)?;
            Ok(json!({}))
        }
        Operation::UntagResource => {
            let input = UntagResourceInput::decode(body)?;
            access.arn(action, &input.resource_arn)?;
            engine.untag_resource(&scope, input)?;
            Ok(json!({}))
        }
        Operation::ListTagsOfResource => {
            let arn = decode_resource_arn(body)?;
            access.arn(action, &arn)?;
            let tags: Vec<Value> = engine
                .list_tags_of_resource(&scope, &arn)?
                .into_iter()
                .map(|(k, v)| json!({"Key": k, "Value": v}))
                .collect();
            Ok(json!({"Tags": tags}))
        }
        Operation::DescribeLimits => access.account_wide(action).map(|()| {
            json!({
                "AccountMaxReadCapacityUnits": 80000,
                "AccountMaxWriteCapacityUnits": 80000,
                "TableMaxReadCapacityUnits": 40000,
                "TableMaxWriteCapacityUnits": 40000
            })
        }),
        Operation::DescribeEndpoints => {
            // On the public endpoint DynamoDB does not authorize DescribeEndpoints at all;
            // through a VPC endpoint both IAM and the endpoint policy must allow it.
            if guard.via_endpoint()? {
                access.account_wide(action)?;
            }
            // This Cove's own address, as the connection reached it.
            let address = conn.local.map(|a| a.to_string()).unwrap_or_default();
            Ok(json!({"Endpoints": [{"Address": address, "CachePeriodInMinutes": 1440}]}))
        }
        Operation::DescribeContinuousBackups => {
            let name = decode_table_name(body)?;
            on_table(&name)?;
            let out = engine.describe_continuous_backups(&scope, &name)?;
            Ok(continuous_backups_json(out))
        }
        Operation::UpdateContinuousBackups => {
            let input = UpdateContinuousBackupsInput::decode(body)?;
            on_table(&input.table_name)?;
            let out = engine.update_continuous_backups(
                &scope,
                &input.table_name,
                input.point_in_time_recovery,
            )?;
            Ok(continuous_backups_json(out))
        }
        Operation::CreateBackup => {
            let input = CreateBackupInput::decode(body)?;
            on_table(&input.table_name)?;
            let backup = engine.create_backup(&scope, input)?;
            Ok(json!({"BackupDetails": backup_details(&backup)}))
        }
        Operation::DescribeBackup => {
            let arn = decode_backup_arn(body)?;
            access.arn(action, &arn)?;
            let backup = engine.describe_backup(&scope, &arn)?;
            Ok(json!({"BackupDescription": backup_description(&backup)}))
        }
        Operation::DeleteBackup => {
            let arn = decode_backup_arn(body)?;
            access.arn(action, &arn)?;
            let backup = engine.delete_backup(&scope, &arn)?;
            Ok(json!({"BackupDescription": backup_description(&backup)}))
        }
        Operation::ListBackups => {
            let input = ListBackupsInput::decode(body)?;
            access.account_wide(action)?;
            let (page, last) = engine.list_backups(&scope, &input)?;
            let summaries: Vec<Value> = page
                .iter()
                .map(|b| {
                    json!({
                        "TableName": b.table.name, "TableId": b.table.uuid, "TableArn": b.table.arn(),
                        "BackupArn": b.arn, "BackupName": b.name,
                        "BackupCreationDateTime": b.created, "BackupStatus": b.status,
                        "BackupType": "USER", "BackupSizeBytes": b.size_bytes
                    })
                })
                .collect();
            let mut o = Map::new();
            o.insert("BackupSummaries".into(), Value::Array(summaries));
            if let Some(last) = last {
                o.insert("LastEvaluatedBackupArn".into(), json!(last));
            }
            Ok(Value::Object(o))
        }
        Operation::RestoreTableFromBackup => {
            let input = RestoreTableFromBackupInput::decode(body)?;
            access.arn(action, &input.backup_arn)?;
            // The restore writes the target table: AWS asks for the item write actions too.
            for write in [
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:BatchWriteItem",
            ] {
                access.table(write, &input.target_table_name, None, Keys::new)?;
            }
            let (table, backup) = engine.restore_table_from_backup(&scope, input)?;
            let mut description = engine.describe_table(&scope, &table.record.name)?;
            description.status = "CREATING";
            let mut description = description.to_json();
            if let Value::Object(o) = &mut description {
                o.insert(
                    "RestoreSummary".into(),
                    json!({
                        "SourceBackupArn": backup.arn,
                        "SourceTableArn": backup.table.arn(),
                        "RestoreDateTime": table.record.created,
                        "RestoreInProgress": false
                    }),
                );
            }
            Ok(json!({"TableDescription": description}))
        }
        Operation::PutResourcePolicy => {
            let input = PutResourcePolicyInput::decode(body)?;
            access.arn(action, &input.resource_arn)?;
            let revision = engine.put_resource_policy(
                &access.scope_for(&input.resource_arn),
                &input.resource_arn,
                &input.policy,
                input.expected_revision_id.as_deref(),
            )?;
            Ok(json!({"RevisionId": revision}))
        }
        Operation::GetResourcePolicy => {
            let (arn, _) = decode_policy_target(body)?;
            access.arn(action, &arn)?;
            let (policy, revision) = engine.get_resource_policy(&access.scope_for(&arn), &arn)?;
            Ok(json!({"Policy": policy, "RevisionId": revision}))
        }
        Operation::DeleteResourcePolicy => {
            let (arn, expected) = decode_policy_target(body)?;
            access.arn(action, &arn)?;
            let revision = engine.delete_resource_policy(
                &access.scope_for(&arn),
                &arn,
                expected.as_deref(),
            )?;
            Ok(json!({"RevisionId": revision}))
        }
        Operation::ExecuteStatement => {
            let input = ExecuteStatementInput::decode(body)?;
            partiql_access(&access, &input.statement, None)?;
            let rcc = input.return_consumed_capacity;
            let out = engine.execute_statement(&scope, input)?;
            let mut o = Map::new();
            o.insert(
                "Items".into(),
                Value::Array(out.items.iter().map(encode_item).collect()),
            );
            if let Some(token) = &out.next_token {
                o.insert("NextToken".into(), json!(token));
            }
            if let Some(key) = &out.last_evaluated_key {
                o.insert("LastEvaluatedKey".into(), encode_item(key));
            }
            if let Some(c) = consumed_capacity_json(&out.table_name, rcc, out.consumed) {
                o.insert("ConsumedCapacity".into(), c);
            }
            Ok(Value::Object(o))
        }
        Operation::BatchExecuteStatement => {
            let input = BatchExecuteStatementInput::decode(body)?;
            for statement in &input.statements {
                partiql_access(&access, statement, None)?;
            }
            let responses: Vec<Value> = engine
                .batch_execute_statement(&scope, input)?
                .into_iter()
                .map(|r| {
                    let mut o = Map::new();
                    if let Some(t) = r.table_name {
                        o.insert("TableName".into(), json!(t));
                    }
                    if let Some(item) = &r.item {
                        o.insert("Item".into(), encode_item(item));
                    }
                    if let Some((code, message, item)) = r.error {
                        let mut e = Map::new();
                        e.insert("Code".into(), json!(code));
                        e.insert("Message".into(), json!(message));
                        if let Some(item) = &item {
                            e.insert("Item".into(), encode_item(item));
                        }
                        o.insert("Error".into(), Value::Object(e));
                    }
                    Value::Object(o)
                })
                .collect();
            Ok(json!({"Responses": responses}))
        }
        Operation::ExecuteTransaction => {
            let input = ExecuteTransactionInput::decode(body)?;
            for statement in &input.statements {
                partiql_access(&access, statement, Some("ExecuteTransaction"))?;
            }
            let rcc = input.return_consumed_capacity;
            let out = engine.execute_transaction(&scope, input)?;
            let mut o = Map::new();
            match out.writes {
                Some(writes) => add_consumed(&mut o, rcc, writes.consumed),
                None => {
                    let responses: Vec<Value> = out
                        .responses
                        .iter()
                        .map(|item| match item {
                            Some(item) => json!({"Item": encode_item(item)}),
                            None => json!({}),
                        })
                        .collect();
                    o.insert("Responses".into(), Value::Array(responses));
                }
            }
            Ok(Value::Object(o))
        }
        Operation::CreateGlobalTable
        | Operation::DescribeContributorInsights
        | Operation::DescribeExport
        | Operation::DescribeGlobalTable
        | Operation::DescribeGlobalTableSettings
        | Operation::DescribeImport
        | Operation::DescribeKinesisStreamingDestination
        | Operation::DescribeTableReplicaAutoScaling
        | Operation::DisableKinesisStreamingDestination
        | Operation::EnableKinesisStreamingDestination
        | Operation::ExportTableToPointInTime
        | Operation::ImportTable
        | Operation::ListContributorInsights
        | Operation::ListExports
        | Operation::ListGlobalTables
        | Operation::ListImports
        | Operation::RestoreTableToPointInTime
        | Operation::UpdateContributorInsights
        | Operation::UpdateGlobalTable
        | Operation::UpdateGlobalTableSettings
        | Operation::UpdateKinesisStreamingDestination
        | Operation::UpdateTableReplicaAutoScaling => Err(Failure::NotBuilt(op)),
    }?;
    serde_json::to_vec(&output).map_err(|e| Failure::Internal(e.to_string()))
}

fn page_response(page: ReadPage, rcc: ReturnConsumedCapacity) -> Value {
    let consumed = consumed_capacity_json(&page.table_name, rcc, page.consumed);
    read_page_response(
        page.items.as_deref(),
        page.count,
        page.scanned_count,
        page.last_evaluated_key.as_ref(),
        consumed,
    )
}

/// Adds a multi-table operation's `ConsumedCapacity` list, when asked for.
fn add_consumed(
    o: &mut Map<String, Value>,
    rcc: ReturnConsumedCapacity,
    consumed: Vec<TableConsumed>,
) {
    let list: Vec<Value> = consumed
        .into_iter()
        .filter_map(|t| consumed_capacity_json(&t.table_name, rcc, t.consumed))
        .collect();
    if !list.is_empty() {
        o.insert("ConsumedCapacity".into(), Value::Array(list));
    }
}

/// Adds `ItemCollectionMetrics` per table, for tables with local indexes, when asked for.
fn add_collections(o: &mut Map<String, Value>, collections: Vec<(String, Vec<(Item, i64)>)>) {
    if collections.is_empty() {
        return;
    }
    let mut per_table = Map::new();
    for (table, list) in collections {
        let metrics: Vec<Value> = list
            .iter()
            .filter_map(|(key, size)| {
                with_collection_metrics(json!({}), Some((key, *size)))
                    .get("ItemCollectionMetrics")
                    .cloned()
            })
            .collect();
        per_table.insert(table, Value::Array(metrics));
    }
    o.insert("ItemCollectionMetrics".into(), Value::Object(per_table));
}

/// DescribeContinuousBackups' and UpdateContinuousBackups' answer. Backups are always on, as in
/// DynamoDB; point-in-time recovery covers up to 35 days back from when it was enabled.
fn continuous_backups_json(out: ContinuousBackups) -> Value {
    let pitr = match out.pitr_enabled_at {
        Some(since) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(since);
            json!({
                "PointInTimeRecoveryStatus": "ENABLED",
                "RecoveryPeriodInDays": 35,
                "EarliestRestorableDateTime": since.max(now - 35.0 * 86400.0),
                "LatestRestorableDateTime": now
            })
        }
        None => json!({"PointInTimeRecoveryStatus": "DISABLED"}),
    };
    json!({"ContinuousBackupsDescription": {
        "ContinuousBackupsStatus": "ENABLED",
        "PointInTimeRecoveryDescription": pitr
    }})
}

fn key_schema_json(ks: &[(String, String)]) -> Value {
    Value::Array(
        ks.iter()
            .map(|(name, kind)| json!({"AttributeName": name, "KeyType": kind}))
            .collect(),
    )
}

fn backup_details(b: &Backup) -> Value {
    json!({
        "BackupArn": b.arn, "BackupName": b.name, "BackupSizeBytes": b.size_bytes,
        "BackupStatus": b.status, "BackupType": "USER", "BackupCreationDateTime": b.created
    })
}

/// DescribeBackup's and DeleteBackup's BackupDescription: the backup and the table it copied.
fn backup_description(b: &Backup) -> Value {
    let t = &b.table;
    let index = |ix: &cove_engine::IndexRecord, global: bool| {
        let mut projection = json!({"ProjectionType": ix.projection_type});
        if !ix.non_key_attributes.is_empty() {
            projection["NonKeyAttributes"] = json!(ix.non_key_attributes);
        }
        let mut o = json!({"IndexName": ix.name, "KeySchema": key_schema_json(&ix.key_schema), "Projection": projection});
        if global {
            o["ProvisionedThroughput"] = json!({
                "ReadCapacityUnits": ix.read.unwrap_or(0), "WriteCapacityUnits": ix.write.unwrap_or(0)
            });
        }
        o
    };
    let mut features = Map::new();
    if !t.local_secondary_indexes.is_empty() {
        features.insert(
            "LocalSecondaryIndexes".into(),
            Value::Array(
                t.local_secondary_indexes
                    .iter()
                    .map(|ix| index(ix, false))
                    .collect(),
            ),
        );
    }
    if !t.global_secondary_indexes.is_empty() {
        features.insert(
            "GlobalSecondaryIndexes".into(),
            Value::Array(
                t.global_secondary_indexes
                    .iter()
                    .map(|ix| index(ix, true))
                    .collect(),
            ),
        );
    }
    json!({
        "BackupDetails": backup_details(b),
        "SourceTableDetails": {
            "TableName": t.name, "TableId": t.uuid, "TableArn": t.arn(),
            "TableSizeBytes": b.size_bytes, "ItemCount": b.item_count,
            "KeySchema": key_schema_json(&t.key_schema), "TableCreationDateTime": t.created,
            "ProvisionedThroughput": {"ReadCapacityUnits": t.read, "WriteCapacityUnits": t.write},
            "BillingMode": t.billing_mode
        },
        "SourceTableFeatureDetails": Value::Object(features)
    })
}

/// Select, ReturnConsumedCapacity and AttributesToGet of a read.
fn read_keys(
    select: Option<cove_wire::read::Select>,
    rcc: ReturnConsumedCapacity,
    attributes: Option<Vec<String>>,
) -> Keys {
    let mut keys = Keys::new().one("dynamodb:ReturnConsumedCapacity", rcc_text(rcc));
    if let Some(select) = select {
        keys = keys.one("dynamodb:Select", select_text(select));
    }
    if let Some(names) = attributes {
        keys = keys.many("dynamodb:Attributes", names);
    }
    keys
}

/// A PartiQL statement needs `dynamodb:PartiQLSelect|Insert|Update|Delete` on its table (or
/// index). A statement that does not parse is left to the engine, which reports why.
fn partiql_access(
    access: &Access<'_>,
    statement: &cove_wire::partiql::Statement,
    enclosing: Option<&'static str>,
) -> Result<(), Failure> {
    use cove_partiql::Statement as S;
    let Ok(parsed) = cove_partiql::parse(&statement.statement, &statement.parameters) else {
        return Ok(());
    };
    let (action, table, index) = match &parsed {
        S::Select { table, index, .. } => ("dynamodb:PartiQLSelect", table, index.as_deref()),
        S::Insert { table, .. } => ("dynamodb:PartiQLInsert", table, None),
        S::Update { table, .. } => ("dynamodb:PartiQLUpdate", table, None),
        S::Delete { table, .. } => ("dynamodb:PartiQLDelete", table, None),
    };
    access.table(action, table, index, || {
        let keys = Keys::new();
        match enclosing {
            Some(op) => keys.one("dynamodb:EnclosingOperation", op),
            None => keys,
        }
    })
}
