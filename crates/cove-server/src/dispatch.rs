//! Operation dispatch: decode the operation's input, call the engine in the caller's scope,
//! and encode the output. Operations Cove has not built answer UnknownOperationException,
//! never a pretend success.

use serde_json::{Map, Value, json};

use std::net::SocketAddr;

use cove_engine::{Backup, ContinuousBackups, Engine, ReadPage, Scope, TableConsumed};
use cove_types::Item;
use cove_wire::Operation;
use cove_wire::admin::{
    CreateBackupInput, ListBackupsInput, RestoreTableFromBackupInput, TagResourceInput,
    UntagResourceInput, UpdateContinuousBackupsInput, UpdateTimeToLiveInput, decode_backup_arn,
    decode_resource_arn,
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

use crate::auth::Caller;
use crate::error::Failure;

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
    local: Option<SocketAddr>,
    op: Operation,
    body: &Map<String, Value>,
) -> Result<Value, Failure> {
    let scope = Scope {
        account_id: caller.credential.account_id.clone(),
        region: caller.region.clone(),
    };
    match op {
        Operation::CreateTable => {
            let input = CreateTableInput::decode(body)?;
            Ok(json!({"TableDescription": engine.create_table(&scope, input)?.to_json()}))
        }
        Operation::DescribeTable => {
            let name = decode_table_name(body)?;
            Ok(json!({"Table": engine.describe_table(&scope, &name)?.to_json()}))
        }
        Operation::ListTables => {
            let input = ListTablesInput::decode(body)?;
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
            Ok(json!({"TableDescription": engine.update_table(&scope, input)?.to_json()}))
        }
        Operation::DeleteTable => {
            let name = decode_table_name(body)?;
            Ok(json!({"TableDescription": engine.delete_table(&scope, &name)?.to_json()}))
        }
        Operation::PutItem => {
            let input = PutItemInput::decode(body)?;
            let rcc = input.return_consumed_capacity;
            let out = engine.put_item(&scope, input)?;
            let consumed = consumed_capacity_json(&out.table_name, rcc, out.consumed);
            Ok(with_collection_metrics(
                item_response("Attributes", out.old_item.as_ref(), consumed),
                out.item_collection.as_ref().map(|(k, size)| (k, *size)),
            ))
        }
        Operation::GetItem => {
            let input = GetItemInput::decode(body)?;
            let rcc = input.return_consumed_capacity;
            let out = engine.get_item(&scope, input)?;
            let consumed = consumed_capacity_json(&out.table_name, rcc, out.consumed);
            Ok(item_response("Item", out.item.as_ref(), consumed))
        }
        Operation::UpdateItem => {
            let input = UpdateItemInput::decode(body)?;
            let rcc = input.return_consumed_capacity;
            let out = engine.update_item(&scope, input)?;
            let consumed = consumed_capacity_json(&out.table_name, rcc, out.consumed);
            Ok(with_collection_metrics(
                item_response("Attributes", out.attributes.as_ref(), consumed),
                out.item_collection.as_ref().map(|(k, size)| (k, *size)),
            ))
        }
        Operation::DeleteItem => {
            let input = DeleteItemInput::decode(body)?;
            let rcc = input.return_consumed_capacity;
            let out = engine.delete_item(&scope, input)?;
            let consumed = consumed_capacity_json(&out.table_name, rcc, out.consumed);
            Ok(with_collection_metrics(
                item_response("Attributes", out.old_item.as_ref(), consumed),
                out.item_collection.as_ref().map(|(k, size)| (k, *size)),
            ))
        }
        Operation::Query => {
            let input = QueryInput::decode(body)?;
            let rcc = input.common.return_consumed_capacity;
            Ok(page_response(engine.query(&scope, input)?, rcc))
        }
        Operation::Scan => {
            let input = ScanInput::decode(body)?;
            let rcc = input.common.return_consumed_capacity;
            Ok(page_response(engine.scan(&scope, input)?, rcc))
        }
        Operation::BatchWriteItem => {
            let input = BatchWriteItemInput::decode(body)?;
            let rcc = input.return_consumed_capacity;
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
            let out = engine.transact_write_items(&scope, input)?;
            let mut o = Map::new();
            add_consumed(&mut o, rcc, out.consumed);
            add_collections(&mut o, out.item_collections);
            Ok(Value::Object(o))
        }
        Operation::TransactGetItems => {
            let input = TransactGetItemsInput::decode(body)?;
            let rcc = input.return_consumed_capacity;
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
            let out = engine.update_time_to_live(&scope, input)?;
            Ok(json!({"TimeToLiveSpecification": {
                "Enabled": out.enabled, "AttributeName": out.attribute_name
            }}))
        }
        Operation::DescribeTimeToLive => {
            let name = decode_table_name(body)?;
            Ok(match engine.describe_time_to_live(&scope, &name)? {
                Some(attr) => json!({"TimeToLiveDescription": {
                    "TimeToLiveStatus": "ENABLED", "AttributeName": attr
                }}),
                None => json!({"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}),
            })
        }
        Operation::TagResource => {
            engine.tag_resource(&scope, TagResourceInput::decode(body)?)?;
            Ok(json!({}))
        }
        Operation::UntagResource => {
            engine.untag_resource(&scope, UntagResourceInput::decode(body)?)?;
            Ok(json!({}))
        }
        Operation::ListTagsOfResource => {
            let arn = decode_resource_arn(body)?;
            let tags: Vec<Value> = engine
                .list_tags_of_resource(&scope, &arn)?
                .into_iter()
                .map(|(k, v)| json!({"Key": k, "Value": v}))
                .collect();
            Ok(json!({"Tags": tags}))
        }
        Operation::DescribeLimits => Ok(json!({
            "AccountMaxReadCapacityUnits": 80000,
            "AccountMaxWriteCapacityUnits": 80000,
            "TableMaxReadCapacityUnits": 40000,
            "TableMaxWriteCapacityUnits": 40000
        })),
        Operation::DescribeEndpoints => {
            // This Cove's own address, as the connection reached it.
            let address = local.map(|a| a.to_string()).unwrap_or_default();
            Ok(json!({"Endpoints": [{"Address": address, "CachePeriodInMinutes": 1440}]}))
        }
        Operation::DescribeContinuousBackups => {
            let name = decode_table_name(body)?;
            let out = engine.describe_continuous_backups(&scope, &name)?;
            Ok(continuous_backups_json(out))
        }
        Operation::UpdateContinuousBackups => {
            let input = UpdateContinuousBackupsInput::decode(body)?;
            let out = engine.update_continuous_backups(
                &scope,
                &input.table_name,
                input.point_in_time_recovery,
            )?;
            Ok(continuous_backups_json(out))
        }
        Operation::CreateBackup => {
            let backup = engine.create_backup(&scope, CreateBackupInput::decode(body)?)?;
            Ok(json!({"BackupDetails": backup_details(&backup)}))
        }
        Operation::DescribeBackup => {
            let backup = engine.describe_backup(&scope, &decode_backup_arn(body)?)?;
            Ok(json!({"BackupDescription": backup_description(&backup)}))
        }
        Operation::DeleteBackup => {
            let backup = engine.delete_backup(&scope, &decode_backup_arn(body)?)?;
            Ok(json!({"BackupDescription": backup_description(&backup)}))
        }
        Operation::ListBackups => {
            let input = ListBackupsInput::decode(body)?;
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
        Operation::ExecuteStatement => {
            let input = ExecuteStatementInput::decode(body)?;
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
        | Operation::DeleteResourcePolicy
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
        | Operation::GetResourcePolicy
        | Operation::ImportTable
        | Operation::ListContributorInsights
        | Operation::ListExports
        | Operation::ListGlobalTables
        | Operation::ListImports
        | Operation::PutResourcePolicy
        | Operation::RestoreTableToPointInTime
        | Operation::UpdateContributorInsights
        | Operation::UpdateGlobalTable
        | Operation::UpdateGlobalTableSettings
        | Operation::UpdateKinesisStreamingDestination
        | Operation::UpdateTableReplicaAutoScaling => Err(Failure::NotBuilt(op)),
    }
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
