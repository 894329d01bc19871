//! Operation dispatch: decode the operation's input, call the engine in the caller's scope,
//! and encode the output. Operations Cove has not built answer UnknownOperationException,
//! never a pretend success.

use serde_json::{Map, Value, json};

use cove_engine::{Engine, ReadPage, Scope};
use cove_wire::Operation;
use cove_wire::input::{
    CreateTableInput, DeleteItemInput, GetItemInput, ListTablesInput, PutItemInput,
    ReturnConsumedCapacity, UpdateItemInput, UpdateTableInput, decode_table_name,
};
use cove_wire::output::{
    consumed_capacity_json, item_response, read_page_response, with_collection_metrics,
};
use cove_wire::read::{QueryInput, ScanInput};

use crate::auth::Caller;
use crate::error::Failure;

pub fn dispatch(
    engine: &Engine,
    caller: &Caller,
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
        Operation::BatchExecuteStatement
        | Operation::BatchGetItem
        | Operation::BatchWriteItem
        | Operation::CreateBackup
        | Operation::CreateGlobalTable
        | Operation::DeleteBackup
        | Operation::DeleteResourcePolicy
        | Operation::DescribeBackup
        | Operation::DescribeContinuousBackups
        | Operation::DescribeContributorInsights
        | Operation::DescribeEndpoints
        | Operation::DescribeExport
        | Operation::DescribeGlobalTable
        | Operation::DescribeGlobalTableSettings
        | Operation::DescribeImport
        | Operation::DescribeKinesisStreamingDestination
        | Operation::DescribeLimits
        | Operation::DescribeTableReplicaAutoScaling
        | Operation::DescribeTimeToLive
        | Operation::DisableKinesisStreamingDestination
        | Operation::EnableKinesisStreamingDestination
        | Operation::ExecuteStatement
        | Operation::ExecuteTransaction
        | Operation::ExportTableToPointInTime
        | Operation::GetResourcePolicy
        | Operation::ImportTable
        | Operation::ListBackups
        | Operation::ListContributorInsights
        | Operation::ListExports
        | Operation::ListGlobalTables
        | Operation::ListImports
        | Operation::ListTagsOfResource
        | Operation::PutResourcePolicy
        | Operation::RestoreTableFromBackup
        | Operation::RestoreTableToPointInTime
        | Operation::TagResource
        | Operation::TransactGetItems
        | Operation::TransactWriteItems
        | Operation::UntagResource
        | Operation::UpdateContinuousBackups
        | Operation::UpdateContributorInsights
        | Operation::UpdateGlobalTable
        | Operation::UpdateGlobalTableSettings
        | Operation::UpdateKinesisStreamingDestination
        | Operation::UpdateTableReplicaAutoScaling
        | Operation::UpdateTimeToLive => Err(Failure::NotBuilt(op)),
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
