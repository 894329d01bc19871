//! Typed outputs and their JSON: table descriptions, item responses and consumed capacity.

use serde_json::{Map, Value, json};

use crate::attr::encode_item;
use crate::input::{
    AttributeDefinition, BillingMode, KeySchemaElement, Projection, ReturnConsumedCapacity,
    StreamSpecification,
};
use cove_types::Item;

#[derive(Debug, Clone, PartialEq)]
pub struct ThroughputDescription {
    pub read: i64,
    pub write: i64,
    pub decreases_today: i64,
    pub last_increase: Option<f64>,
    pub last_decrease: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndexDescription {
    pub name: String,
    pub arn: String,
    pub key_schema: Vec<KeySchemaElement>,
    pub projection: Projection,
    /// Only global indexes carry these two.
    pub status: Option<&'static str>,
    pub throughput: Option<ThroughputDescription>,
    pub item_count: i64,
    pub size_bytes: i64,
}

/// Everything DescribeTable returns about a table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDescription {
    pub name: String,
    pub arn: String,
    pub id: String,
    pub status: &'static str,
    /// Seconds since the epoch, with fractions, as DynamoDB sends timestamps.
    pub creation_date_time: f64,
    pub attribute_definitions: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeySchemaElement>,
    pub billing_mode: BillingMode,
    pub last_update_to_pay_per_request: Option<f64>,
    pub throughput: ThroughputDescription,
    pub item_count: i64,
    pub size_bytes: i64,
    pub local_secondary_indexes: Vec<IndexDescription>,
    pub global_secondary_indexes: Vec<IndexDescription>,
    pub stream: Option<StreamSpecification>,
    pub latest_stream_arn: Option<String>,
    pub latest_stream_label: Option<String>,
    pub sse_enabled: bool,
    pub table_class: Option<String>,
    pub deletion_protection: bool,
}

fn key_schema_json(ks: &[KeySchemaElement]) -> Value {
    ks.iter()
        .map(|k| json!({"AttributeName": k.name, "KeyType": k.key_type.as_str()}))
        .collect()
}

fn throughput_json(t: &ThroughputDescription) -> Value {
    let mut o = Map::new();
    if let Some(ts) = t.last_increase {
        o.insert("LastIncreaseDateTime".into(), json!(ts));
    }
    if let Some(ts) = t.last_decrease {
        o.insert("LastDecreaseDateTime".into(), json!(ts));
    }
    o.insert("NumberOfDecreasesToday".into(), json!(t.decreases_today));
    o.insert("ReadCapacityUnits".into(), json!(t.read));
    o.insert("WriteCapacityUnits".into(), json!(t.write));
    Value::Object(o)
}

fn projection_json(p: &Projection) -> Value {
    let mut o = Map::new();
    o.insert("ProjectionType".into(), json!(p.projection_type));
    if !p.non_key_attributes.is_empty() {
        o.insert("NonKeyAttributes".into(), json!(p.non_key_attributes));
    }
    Value::Object(o)
}

fn index_json(ix: &IndexDescription) -> Value {
    let mut o = Map::new();
    o.insert("IndexName".into(), json!(ix.name));
    o.insert("KeySchema".into(), key_schema_json(&ix.key_schema));
    o.insert("Projection".into(), projection_json(&ix.projection));
    if let Some(status) = ix.status {
        o.insert("IndexStatus".into(), json!(status));
    }
    if let Some(t) = &ix.throughput {
        o.insert("ProvisionedThroughput".into(), throughput_json(t));
    }
    o.insert("IndexSizeBytes".into(), json!(ix.size_bytes));
    o.insert("ItemCount".into(), json!(ix.item_count));
    o.insert("IndexArn".into(), json!(ix.arn));
    Value::Object(o)
}

impl TableDescription {
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert(
            "AttributeDefinitions".into(),
            self.attribute_definitions
                .iter()
                .map(|d| json!({"AttributeName": d.name, "AttributeType": d.ty.as_str()}))
                .collect(),
        );
        o.insert("TableName".into(), json!(self.name));
        o.insert("KeySchema".into(), key_schema_json(&self.key_schema));
        o.insert("TableStatus".into(), json!(self.status));
        o.insert("CreationDateTime".into(), json!(self.creation_date_time));
        o.insert(
            "ProvisionedThroughput".into(),
            throughput_json(&self.throughput),
        );
        o.insert("TableSizeBytes".into(), json!(self.size_bytes));
        o.insert("ItemCount".into(), json!(self.item_count));
        o.insert("TableArn".into(), json!(self.arn));
        o.insert("TableId".into(), json!(self.id));
        if self.billing_mode == BillingMode::PayPerRequest
            || self.last_update_to_pay_per_request.is_some()
        {
            let mut summary = Map::new();
            summary.insert("BillingMode".into(), json!(self.billing_mode.as_str()));
            if let Some(ts) = self.last_update_to_pay_per_request {
                summary.insert("LastUpdateToPayPerRequestDateTime".into(), json!(ts));
            }
            o.insert("BillingModeSummary".into(), Value::Object(summary));
        }
        if !self.local_secondary_indexes.is_empty() {
            o.insert(
                "LocalSecondaryIndexes".into(),
                self.local_secondary_indexes
                    .iter()
                    .map(index_json)
                    .collect(),
            );
        }
        if !self.global_secondary_indexes.is_empty() {
            o.insert(
                "GlobalSecondaryIndexes".into(),
                self.global_secondary_indexes
                    .iter()
                    .map(index_json)
                    .collect(),
            );
        }
        if let Some(stream) = &self.stream {
            let mut s = Map::new();
            s.insert("StreamEnabled".into(), json!(stream.enabled));
            if let Some(vt) = &stream.view_type {
                s.insert("StreamViewType".into(), json!(vt));
            }
            o.insert("StreamSpecification".into(), Value::Object(s));
        }
        if let Some(arn) = &self.latest_stream_arn {
            o.insert("LatestStreamArn".into(), json!(arn));
        }
        if let Some(label) = &self.latest_stream_label {
            o.insert("LatestStreamLabel".into(), json!(label));
        }
        if self.sse_enabled {
            o.insert(
                "SSEDescription".into(),
                json!({"Status": "ENABLED", "SSEType": "KMS"}),
            );
        }
        if let Some(tc) = &self.table_class {
            o.insert("TableClassSummary".into(), json!({"TableClass": tc}));
        }
        o.insert(
            "DeletionProtectionEnabled".into(),
            json!(self.deletion_protection),
        );
        Value::Object(o)
    }
}

/// Capacity consumed by one single-table operation: on the table itself and on each of its
/// indexes the operation read or wrote.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Consumed {
    pub read_units: f64,
    pub write_units: f64,
    pub indexes: Vec<IndexConsumed>,
}

/// Capacity consumed on one secondary index.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexConsumed {
    pub name: String,
    pub global: bool,
    pub read_units: f64,
    pub write_units: f64,
}

fn units_json(read: f64, write: f64) -> Map<String, Value> {
    let mut o = Map::new();
    if read > 0.0 {
        o.insert("ReadCapacityUnits".into(), json!(read));
    }
    if write > 0.0 {
        o.insert("WriteCapacityUnits".into(), json!(write));
    }
    o.insert("CapacityUnits".into(), json!(read + write));
    o
}

/// Renders `ConsumedCapacity` for the caller's ReturnConsumedCapacity choice, or `None`.
/// The top-level figures are totals over the table and its indexes; INDEXES adds the
/// breakdown, as DynamoDB does.
pub fn consumed_capacity_json(
    table_name: &str,
    mode: ReturnConsumedCapacity,
    consumed: Consumed,
) -> Option<Value> {
    // Most requests ask for no report: build none for them.
    if mode == ReturnConsumedCapacity::None {
        return None;
    }
    let read: f64 =
        consumed.read_units + consumed.indexes.iter().map(|i| i.read_units).sum::<f64>();
    let write: f64 =
        consumed.write_units + consumed.indexes.iter().map(|i| i.write_units).sum::<f64>();
    let mut o = Map::new();
    o.insert("TableName".into(), json!(table_name));
    o.insert("CapacityUnits".into(), json!(read + write));
    if read > 0.0 {
        o.insert("ReadCapacityUnits".into(), json!(read));
    }
    if write > 0.0 {
        o.insert("WriteCapacityUnits".into(), json!(write));
    }
    match mode {
        ReturnConsumedCapacity::None => return None,
        ReturnConsumedCapacity::Total => {}
        ReturnConsumedCapacity::Indexes => {
            o.insert(
                "Table".into(),
                Value::Object(units_json(consumed.read_units, consumed.write_units)),
            );
            for (global, member) in [
                (true, "GlobalSecondaryIndexes"),
                (false, "LocalSecondaryIndexes"),
            ] {
                let mut per_index = Map::new();
                for ix in consumed.indexes.iter().filter(|i| i.global == global) {
                    per_index.insert(
                        ix.name.clone(),
                        Value::Object(units_json(ix.read_units, ix.write_units)),
                    );
                }
                if !per_index.is_empty() {
                    o.insert(member.into(), Value::Object(per_index));
                }
            }
        }
    }
    Some(Value::Object(o))
}

/// Builds an item response (`Item` for GetItem, `Attributes` for PutItem and DeleteItem).
pub fn item_response(member: &str, item: Option<&Item>, consumed: Option<Value>) -> Value {
    let mut o = Map::new();
    if let Some(item) = item {
        o.insert(member.into(), encode_item(item));
    }
    if let Some(c) = consumed {
        o.insert("ConsumedCapacity".into(), c);
    }
    Value::Object(o)
}

/// Builds a Query or Scan response. `items` is `None` when only the count was asked for
/// (`Select: COUNT`), and then the response has no `Items` member, as DynamoDB's has none.
pub fn read_page_response(
    items: Option<&[Item]>,
    count: usize,
    scanned_count: usize,
    last_evaluated_key: Option<&Item>,
    consumed: Option<Value>,
) -> Value {
    let mut o = Map::new();
    if let Some(items) = items {
        o.insert(
            "Items".into(),
            Value::Array(items.iter().map(encode_item).collect()),
        );
    }
    o.insert("Count".into(), json!(count));
    o.insert("ScannedCount".into(), json!(scanned_count));
    if let Some(key) = last_evaluated_key {
        o.insert("LastEvaluatedKey".into(), encode_item(key));
    }
    if let Some(c) = consumed {
        o.insert("ConsumedCapacity".into(), c);
    }
    Value::Object(o)
}

/// Adds `ItemCollectionMetrics` to a write's response: the collection's key and its size as
/// DynamoDB estimates it, a range of whole gigabytes around the size (`[0.0, 1.0]` below 1 GB).
pub fn with_collection_metrics(mut response: Value, collection: Option<(&Item, i64)>) -> Value {
    if let (Some((key, bytes)), Value::Object(o)) = (collection, &mut response) {
        let lower = (bytes.max(0) as f64 / (1024.0 * 1024.0 * 1024.0)).floor();
        o.insert(
            "ItemCollectionMetrics".into(),
            json!({"ItemCollectionKey": encode_item(key), "SizeEstimateRangeGB": [lower, lower + 1.0]}),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumed_capacity_shapes() {
        let c = Consumed {
            read_units: 0.5,
            write_units: 0.0,
            indexes: Vec::new(),
        };
        assert_eq!(
            consumed_capacity_json("t", ReturnConsumedCapacity::None, c.clone()),
            None
        );
        assert_eq!(
            consumed_capacity_json("t", ReturnConsumedCapacity::Total, c.clone()).unwrap(),
            json!({"TableName": "t", "CapacityUnits": 0.5, "ReadCapacityUnits": 0.5})
        );
        assert_eq!(
            consumed_capacity_json("t", ReturnConsumedCapacity::Indexes, c).unwrap()["Table"],
            json!({"ReadCapacityUnits": 0.5, "CapacityUnits": 0.5})
        );
        let w = Consumed {
            read_units: 0.0,
            write_units: 1.0,
            indexes: vec![IndexConsumed {
                name: "g".into(),
                global: true,
                read_units: 0.0,
                write_units: 2.0,
            }],
        };
        assert_eq!(
            consumed_capacity_json("t", ReturnConsumedCapacity::Indexes, w).unwrap(),
            json!({"TableName": "t", "CapacityUnits": 3.0, "WriteCapacityUnits": 3.0,
                "Table": {"WriteCapacityUnits": 1.0, "CapacityUnits": 1.0},
                "GlobalSecondaryIndexes": {"g": {"WriteCapacityUnits": 2.0, "CapacityUnits": 2.0}}})
        );
    }
}
