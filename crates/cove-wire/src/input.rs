//! Typed inputs of the operations Cove serves, decoded from request bodies with DynamoDB's
//! checks in DynamoDB's order: member types (SerializationException), then member
//! constraints (one combined ValidationException), then the operation's own rules.

use serde_json::{Map, Value};

use cove_types::{Item, ScalarType};

use crate::WireError;
use crate::attr::decode_item;
use crate::json::{Obj, Violations, as_string, as_structure};
use crate::members::{
    AttributeUpdate, ConditionMembers, Placeholders, check_attribute_updates,
    check_attributes_to_get, check_expression_mix, decode_attribute_updates,
    decode_attributes_to_get, decode_conditions,
};

fn invalid(msg: impl Into<String>) -> WireError {
    WireError::Validation(msg.into())
}

/// HASH or RANGE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Hash,
    Range,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Hash => "HASH",
            KeyType::Range => "RANGE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDefinition {
    pub name: String,
    pub ty: ScalarType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySchemaElement {
    pub name: String,
    pub key_type: KeyType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throughput {
    pub read: i64,
    pub write: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingMode {
    Provisioned,
    PayPerRequest,
}

impl BillingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            BillingMode::Provisioned => "PROVISIONED",
            BillingMode::PayPerRequest => "PAY_PER_REQUEST",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    /// ALL, KEYS_ONLY or INCLUDE.
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondaryIndex {
    pub name: String,
    pub key_schema: Vec<KeySchemaElement>,
    pub projection: Projection,
    pub throughput: Option<Throughput>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpecification {
    pub enabled: bool,
    pub view_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTableInput {
    pub table_name: String,
    pub attribute_definitions: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeySchemaElement>,
    pub local_secondary_indexes: Vec<SecondaryIndex>,
    pub global_secondary_indexes: Vec<SecondaryIndex>,
    pub billing_mode: BillingMode,
    pub throughput: Option<Throughput>,
    pub stream: Option<StreamSpecification>,
    pub sse_enabled: Option<bool>,
    pub table_class: Option<String>,
    pub deletion_protection: bool,
    pub tags: Vec<Tag>,
    /// A resource-based policy to attach as the table is made.
    pub resource_policy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateTableInput {
    pub table_name: String,
    pub billing_mode: Option<BillingMode>,
    pub throughput: Option<Throughput>,
    pub deletion_protection: Option<bool>,
    pub table_class: Option<String>,
    /// New attribute definitions, for the key attributes of indexes being created.
    pub attribute_definitions: Option<Vec<AttributeDefinition>>,
    pub gsi_updates: Vec<GsiUpdate>,
    /// Members Cove does not act on yet (index updates, streams, replicas), by name, so the
    /// engine can refuse them clearly instead of ignoring them.
    pub unsupported: Vec<&'static str>,
}

/// One entry of UpdateTable's `GlobalSecondaryIndexUpdates`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GsiUpdate {
    Create(SecondaryIndex),
    Update {
        name: String,
        throughput: Option<Throughput>,
    },
    Delete {
        name: String,
    },
    /// An entry with none of the three, which DynamoDB refuses.
    Empty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListTablesInput {
    pub exclusive_start_table_name: Option<String>,
    pub limit: usize,
}

/// Which capacity report the caller asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnConsumedCapacity {
    None,
    Total,
    Indexes,
}

/// What a write returns of the item: `ReturnValues`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnValues {
    None,
    AllOld,
    UpdatedOld,
    AllNew,
    UpdatedNew,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PutItemInput {
    pub table_name: String,
    pub item: Item,
    pub condition: ConditionMembers,
    pub placeholders: Placeholders,
    pub return_values: ReturnValues,
    /// `ReturnValuesOnConditionCheckFailure` is ALL_OLD.
    pub return_old_on_failure: bool,
    pub return_consumed_capacity: ReturnConsumedCapacity,
    /// `ReturnItemCollectionMetrics` is SIZE.
    pub return_item_collection_metrics: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GetItemInput {
    pub table_name: String,
    pub key: Item,
    pub consistent_read: bool,
    pub projection_expression: Option<String>,
    pub attributes_to_get: Option<Vec<String>>,
    pub placeholders: Placeholders,
    pub return_consumed_capacity: ReturnConsumedCapacity,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeleteItemInput {
    pub table_name: String,
    pub key: Item,
    pub condition: ConditionMembers,
    pub placeholders: Placeholders,
    pub return_values: ReturnValues,
    pub return_old_on_failure: bool,
    pub return_consumed_capacity: ReturnConsumedCapacity,
    /// `ReturnItemCollectionMetrics` is SIZE.
    pub return_item_collection_metrics: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpdateItemInput {
    pub table_name: String,
    pub key: Item,
    pub update_expression: Option<String>,
    pub attribute_updates: Option<Vec<(String, AttributeUpdate)>>,
    pub condition: ConditionMembers,
    pub placeholders: Placeholders,
    pub return_values: ReturnValues,
    pub return_old_on_failure: bool,
    pub return_consumed_capacity: ReturnConsumedCapacity,
    /// `ReturnItemCollectionMetrics` is SIZE.
    pub return_item_collection_metrics: bool,
}

fn return_item_collection_metrics(obj: Obj<'_>, v: &mut Violations) -> Result<bool, WireError> {
    Ok(match obj.string("ReturnItemCollectionMetrics")? {
        None | Some("NONE") => false,
        Some("SIZE") => true,
        Some(other) => {
            v.one_of(other, "returnItemCollectionMetrics", &["SIZE", "NONE"]);
            false
        }
    })
}

fn return_old_on_failure(obj: Obj<'_>, v: &mut Violations) -> Result<bool, WireError> {
    Ok(match obj.string("ReturnValuesOnConditionCheckFailure")? {
        None | Some("NONE") => false,
        Some("ALL_OLD") => true,
        Some(other) => {
            v.one_of(
                other,
                "returnValuesOnConditionCheckFailure",
                &["ALL_OLD", "NONE"],
            );
            false
        }
    })
}

/// Reads `TableName` with its constraints. DynamoDB also accepts a table ARN here.
fn table_name(obj: Obj<'_>, v: &mut Violations) -> Result<String, WireError> {
    let name = obj.string("TableName")?;
    v.not_null(name.is_some(), "tableName");
    if let Some(name) = name {
        if name.starts_with("arn:") {
            if name.len() > 1024 {
                v.push(
                    Some(name),
                    "tableName",
                    "Member must have length less than or equal to 1024",
                );
            }
        } else {
            v.name(name, "tableName", 255);
        }
    }
    Ok(name.unwrap_or_default().to_string())
}

fn return_consumed_capacity(
    obj: Obj<'_>,
    v: &mut Violations,
) -> Result<ReturnConsumedCapacity, WireError> {
    Ok(match obj.string("ReturnConsumedCapacity")? {
        None | Some("NONE") => ReturnConsumedCapacity::None,
        Some("TOTAL") => ReturnConsumedCapacity::Total,
        Some("INDEXES") => ReturnConsumedCapacity::Indexes,
        Some(other) => {
            v.one_of(
                other,
                "returnConsumedCapacity",
                &["INDEXES", "TOTAL", "NONE"],
            );
            ReturnConsumedCapacity::None
        }
    })
}

fn return_values(obj: Obj<'_>, v: &mut Violations) -> Result<Option<String>, WireError> {
    let rv = obj.string("ReturnValues")?;
    if let Some(rv) = rv {
        v.one_of(
            rv,
            "returnValues",
            &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"],
        );
    }
    Ok(rv.map(str::to_string))
}

fn item_member(obj: Obj<'_>, key: &str) -> Result<Option<Item>, WireError> {
    obj.map(key)?.map(decode_item).transpose()
}

fn key_schema(
    list: &[Value],
    path: &str,
    v: &mut Violations,
) -> Result<Vec<KeySchemaElement>, WireError> {
    if list.is_empty() || list.len() > 2 {
        let constraint = if list.is_empty() {
            "Member must have length greater than or equal to 1"
        } else {
            "Member must have length less than or equal to 2"
        };
        v.push(Some("[]"), path, constraint);
    }
    let mut out = Vec::new();
    for (i, element) in list.iter().enumerate() {
        let e = as_structure(element)?;
        let name = e.string("AttributeName")?;
        let key_type = e.string("KeyType")?;
        let p = format!("{path}.{}.member", i + 1);
        v.not_null(name.is_some(), &format!("{p}.attributeName"));
        v.not_null(key_type.is_some(), &format!("{p}.keyType"));
        let key_type = match key_type {
            Some("HASH") => KeyType::Hash,
            Some("RANGE") => KeyType::Range,
            Some(other) => {
                v.one_of(other, &format!("{p}.keyType"), &["HASH", "RANGE"]);
                KeyType::Hash
            }
            None => KeyType::Hash,
        };
        out.push(KeySchemaElement {
            name: name.unwrap_or_default().to_string(),
            key_type,
        });
    }
    Ok(out)
}

fn throughput(
    obj: Option<Obj<'_>>,
    path: &str,
    v: &mut Violations,
) -> Result<Option<Throughput>, WireError> {
    let Some(obj) = obj else { return Ok(None) };
    let read = obj.long("ReadCapacityUnits")?;
    let write = obj.long("WriteCapacityUnits")?;
    v.not_null(write.is_some(), &format!("{path}.writeCapacityUnits"));
    v.not_null(read.is_some(), &format!("{path}.readCapacityUnits"));
    if let Some(w) = write {
        v.at_least(w, &format!("{path}.writeCapacityUnits"), 1);
    }
    if let Some(r) = read {
        v.at_least(r, &format!("{path}.readCapacityUnits"), 1);
    }
    Ok(Some(Throughput {
        read: read.unwrap_or(0),
        write: write.unwrap_or(0),
    }))
}

fn indexes(
    obj: Obj<'_>,
    member: &str,
    path: &str,
    v: &mut Violations,
) -> Result<Option<Vec<SecondaryIndex>>, WireError> {
    let Some(list) = obj.list(member)? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for (i, element) in list.iter().enumerate() {
        let e = as_structure(element)?;
        out.push(index_definition(e, &format!("{path}.{}.member", i + 1), v)?);
    }
    Ok(Some(out))
}

/// One index definition (CreateTable's index lists, UpdateTable's Create), at `p`.
fn index_definition(e: Obj<'_>, p: &str, v: &mut Violations) -> Result<SecondaryIndex, WireError> {
    let name = e.string("IndexName")?;
    v.not_null(name.is_some(), &format!("{p}.indexName"));
    if let Some(name) = name {
        v.name(name, &format!("{p}.indexName"), 255);
    }
    let ks = e.list("KeySchema")?;
    v.not_null(ks.is_some(), &format!("{p}.keySchema"));
    let ks = key_schema(
        ks.map(Vec::as_slice).unwrap_or(&[]),
        &format!("{p}.keySchema"),
        v,
    )?;
    let projection = e.structure("Projection")?;
    v.not_null(projection.is_some(), &format!("{p}.projection"));
    let (projection_type, non_key_attributes) = match projection {
        Some(pr) => {
            let ty = pr.string("ProjectionType")?;
            if let Some(ty) = ty {
                v.one_of(
                    ty,
                    &format!("{p}.projection.projectionType"),
                    &["ALL", "KEYS_ONLY", "INCLUDE"],
                );
            }
            let nka = match pr.list("NonKeyAttributes")? {
                Some(l) => Some(
                    l.iter()
                        .map(|x| as_string(x).map(str::to_string))
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                None => None,
            };
            (ty.map(str::to_string), nka)
        }
        None => (None, None),
    };
    let tp = throughput(
        e.structure("ProvisionedThroughput")?,
        &format!("{p}.provisionedThroughput"),
        v,
    )?;
    let Some(projection_type) = projection_type else {
        if projection.is_some() {
            return Err(invalid(
                "One or more parameter values were invalid: Unknown ProjectionType: null",
            ));
        }
        return Ok(SecondaryIndex {
            name: name.unwrap_or_default().to_string(),
            key_schema: ks,
            projection: Projection {
                projection_type: String::new(),
                non_key_attributes: vec![],
            },
            throughput: tp,
        });
    };
    if non_key_attributes.is_some() && projection_type != "INCLUDE" {
        return Err(invalid(format!(
            "One or more parameter values were invalid: ProjectionType is {projection_type}, but NonKeyAttributes is specified"
        )));
    }
    Ok(SecondaryIndex {
        name: name.unwrap_or_default().to_string(),
        key_schema: ks,
        projection: Projection {
            projection_type,
            non_key_attributes: non_key_attributes.unwrap_or_default(),
        },
        throughput: tp,
    })
}

fn attribute_definitions(
    obj: Obj<'_>,
    v: &mut Violations,
) -> Result<Option<Vec<AttributeDefinition>>, WireError> {
    let Some(defs_raw) = obj.list("AttributeDefinitions")? else {
        return Ok(None);
    };
    let mut attribute_definitions = Vec::new();
    for (i, d) in defs_raw.iter().enumerate() {
        let d = as_structure(d)?;
        let p = format!("attributeDefinitions.{}.member", i + 1);
        let name = d.string("AttributeName")?;
        let ty = d.string("AttributeType")?;
        v.not_null(name.is_some(), &format!("{p}.attributeName"));
        v.not_null(ty.is_some(), &format!("{p}.attributeType"));
        let ty = match ty {
            Some(t) => match ScalarType::parse(t) {
                Some(t) => t,
                None => {
                    v.one_of(t, &format!("{p}.attributeType"), &["B", "N", "S"]);
                    ScalarType::S
                }
            },
            None => ScalarType::S,
        };
        attribute_definitions.push(AttributeDefinition {
            name: name.unwrap_or_default().to_string(),
            ty,
        });
    }
    Ok(Some(attribute_definitions))
}

/// Reads `GlobalSecondaryIndexUpdates`: each entry one of Create, Update or Delete.
fn gsi_updates(obj: Obj<'_>, v: &mut Violations) -> Result<Vec<GsiUpdate>, WireError> {
    let Some(list) = obj.list("GlobalSecondaryIndexUpdates")? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, element) in list.iter().enumerate() {
        let e = as_structure(element)?;
        let p = format!("globalSecondaryIndexUpdates.{}.member", i + 1);
        let index_name =
            |o: Obj<'_>, path: &str, v: &mut Violations| -> Result<String, WireError> {
                let name = o.string("IndexName")?;
                v.not_null(name.is_some(), &format!("{path}.indexName"));
                if let Some(name) = name {
                    v.name(name, &format!("{path}.indexName"), 255);
                }
                Ok(name.unwrap_or_default().to_string())
            };
        if let Some(create) = e.structure("Create")? {
            out.push(GsiUpdate::Create(index_definition(
                create,
                &format!("{p}.create"),
                v,
            )?));
        } else if let Some(update) = e.structure("Update")? {
            let name = index_name(update, &format!("{p}.update"), v)?;
            let tp = throughput(
                update.structure("ProvisionedThroughput")?,
                &format!("{p}.update.provisionedThroughput"),
                v,
            )?;
            out.push(GsiUpdate::Update {
                name,
                throughput: tp,
            });
        } else if let Some(delete) = e.structure("Delete")? {
            let name = index_name(delete, &format!("{p}.delete"), v)?;
            out.push(GsiUpdate::Delete { name });
        } else {
            out.push(GsiUpdate::Empty);
        }
    }
    Ok(out)
}

fn billing_mode(obj: Obj<'_>, v: &mut Violations) -> Result<Option<BillingMode>, WireError> {
    Ok(match obj.string("BillingMode")? {
        None => None,
        Some("PROVISIONED") => Some(BillingMode::Provisioned),
        Some("PAY_PER_REQUEST") => Some(BillingMode::PayPerRequest),
        Some(other) => {
            v.one_of(other, "billingMode", &["PROVISIONED", "PAY_PER_REQUEST"]);
            None
        }
    })
}

/// Checks one index's key schema against the table's definitions, as DynamoDB does.
fn check_index_keys(index: &SecondaryIndex, defined: &[String]) -> Result<(), WireError> {
    let keys: Vec<&str> = index.key_schema.iter().map(|k| k.name.as_str()).collect();
    if keys.iter().any(|k| !defined.iter().any(|d| d == k)) {
        return Err(invalid(format!(
            "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
            keys.join(", "),
            defined.join(", ")
        )));
    }
    check_key_order(&index.key_schema)
}

fn check_key_order(ks: &[KeySchemaElement]) -> Result<(), WireError> {
    if ks.len() == 2 && ks[0].name == ks[1].name {
        return Err(invalid(
            "Both the Hash Key and the Range Key element in the KeySchema have the same name",
        ));
    }
    if ks.first().map(|k| k.key_type) != Some(KeyType::Hash) {
        return Err(invalid(
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ));
    }
    if ks.get(1).is_some_and(|k| k.key_type != KeyType::Range) {
        return Err(invalid(
            "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
        ));
    }
    Ok(())
}

impl CreateTableInput {
    pub fn decode(body: &Map<String, Value>) -> Result<CreateTableInput, WireError> {
        let obj = Obj(body);
        let mut v = Violations::new();
        let defs_raw = attribute_definitions(obj, &mut v)?;
        let attribute_definitions = defs_raw.clone().unwrap_or_default();
        let table_name = table_name(obj, &mut v)?;
        let ks_raw = obj.list("KeySchema")?;
        let key_schema = match ks_raw {
            Some(list) => key_schema(list, "keySchema", &mut v)?,
            None => Vec::new(),
        };
        let lsis = indexes(
            obj,
            "LocalSecondaryIndexes",
            "localSecondaryIndexes",
            &mut v,
        )?;
        let gsis = indexes(
            obj,
            "GlobalSecondaryIndexes",
            "globalSecondaryIndexes",
            &mut v,
        )?;
        let billing = billing_mode(obj, &mut v)?;
        let resource_policy = obj.string("ResourcePolicy")?.map(str::to_string);
        let tp = throughput(
            obj.structure("ProvisionedThroughput")?,
            "provisionedThroughput",
            &mut v,
        )?;
        let stream = match obj.structure("StreamSpecification")? {
            Some(s) => {
                let enabled = s.boolean("StreamEnabled")?;
                v.not_null(enabled.is_some(), "streamSpecification.streamEnabled");
                let view_type = s.string("StreamViewType")?;
                if let Some(vt) = view_type {
                    v.one_of(
                        vt,
                        "streamSpecification.streamViewType",
                        &["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"],
                    );
                }
                Some(StreamSpecification {
                    enabled: enabled.unwrap_or(false),
                    view_type: view_type.map(str::to_string),
                })
            }
            None => None,
        };
        let sse_enabled = match obj.structure("SSESpecification")? {
            Some(s) => s.boolean("Enabled")?,
            None => None,
        };
        let table_class = obj.string("TableClass")?.map(str::to_string);
        if let Some(tc) = &table_class {
            v.one_of(
                tc,
                "tableClass",
                &["STANDARD", "STANDARD_INFREQUENT_ACCESS"],
            );
        }
        let deletion_protection = obj.boolean("DeletionProtectionEnabled")?.unwrap_or(false);
        let mut tags = Vec::new();
        if let Some(list) = obj.list("Tags")? {
            for t in list {
                let t = as_structure(t)?;
                tags.push(Tag {
                    key: t.string("Key")?.unwrap_or_default().to_string(),
                    value: t.string("Value")?.unwrap_or_default().to_string(),
                });
            }
        }
        // The model no longer marks these required (GlobalTableSourceArn may stand in), but a
        // plain CreateTable still needs both.
        v.not_null(defs_raw.is_some(), "attributeDefinitions");
        v.not_null(ks_raw.is_some(), "keySchema");
        v.finish()?;

        let billing_mode = billing.unwrap_or(BillingMode::Provisioned);
        match billing_mode {
            BillingMode::PayPerRequest => {
                if tp.is_some() {
                    return Err(invalid(
                        "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
                    ));
                }
            }
            BillingMode::Provisioned => {
                let Some(tp) = tp else {
                    return Err(invalid(
                        "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
                    ));
                };
                for (units, name) in [
                    (tp.read, "ReadCapacityUnits"),
                    (tp.write, "WriteCapacityUnits"),
                ] {
                    if units > 1_000_000_000_000 {
                        return Err(invalid(format!(
                            "Given value {units} for {name} is out of bounds"
                        )));
                    }
                }
            }
        }
        let defined: Vec<String> = attribute_definitions
            .iter()
            .map(|d| d.name.clone())
            .collect();
        let keys: Vec<&str> = key_schema.iter().map(|k| k.name.as_str()).collect();
        if keys.len() > defined.len() {
            return Err(invalid(
                "Invalid KeySchema: Some index key attribute have no definition",
            ));
        }
        if keys.iter().any(|k| !defined.iter().any(|d| d == k)) {
            return Err(invalid(format!(
                "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
                keys.join(", "),
                defined.join(", ")
            )));
        }
        check_key_order(&key_schema)?;
        for (i, d) in attribute_definitions.iter().enumerate() {
            if attribute_definitions[..i].iter().any(|e| e.name == d.name) {
                return Err(invalid("Cannot have two attributes with the same name"));
            }
        }
        let local_secondary_indexes = lsis.clone().unwrap_or_default();
        let global_secondary_indexes = gsis.clone().unwrap_or_default();
        let mut names: Vec<&str> = Vec::new();
        if let Some(lsis) = &lsis {
            if lsis.is_empty() {
                return Err(invalid(
                    "One or more parameter values were invalid: List of LocalSecondaryIndexes is empty",
                ));
            }
            if key_schema.len() != 2 {
                return Err(invalid(
                    "One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex",
                ));
            }
            for index in lsis {
                check_index_keys(index, &defined)?;
                if index.key_schema.len() != 2 {
                    return Err(invalid(format!(
                        "One or more parameter values were invalid: Index KeySchema does not have a range key for index: {}",
                        index.name
                    )));
                }
                if index.key_schema[0].name != key_schema[0].name {
                    return Err(invalid(format!(
                        "One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: {}. index hash key: {}, table hash key: {}",
                        index.name, index.key_schema[0].name, key_schema[0].name
                    )));
                }
                if index.projection.projection_type.is_empty() {
                    return Err(invalid(
                        "One or more parameter values were invalid: Unknown ProjectionType: null",
                    ));
                }
                if names.contains(&index.name.as_str()) {
                    return Err(invalid(format!(
                        "One or more parameter values were invalid: Duplicate index name: {}",
                        index.name
                    )));
                }
                names.push(&index.name);
            }
            if lsis.len() > 5 {
                return Err(invalid(
                    "One or more parameter values were invalid: Number of LocalSecondaryIndexes exceeds per-table limit of 5",
                ));
            }
        }
        if let Some(gsis) = &gsis {
            if gsis.is_empty() {
                return Err(invalid(
                    "One or more parameter values were invalid: List of GlobalSecondaryIndexes is empty",
                ));
            }
            for index in gsis {
                check_index_keys(index, &defined)?;
                if index.projection.projection_type.is_empty() {
                    return Err(invalid(
                        "One or more parameter values were invalid: Unknown ProjectionType: null",
                    ));
                }
                match (billing_mode, index.throughput) {
                    (BillingMode::PayPerRequest, Some(_)) => {
                        return Err(invalid(format!(
                            "One or more parameter values were invalid: ProvisionedThroughput should not be specified for index: {} when BillingMode is PAY_PER_REQUEST",
                            index.name
                        )));
                    }
                    (BillingMode::Provisioned, None) => {
                        return Err(invalid(format!(
                            "One or more parameter values were invalid: ProvisionedThroughput must be specified for index: {}",
                            index.name
                        )));
                    }
                    _ => {}
                }
                if names.contains(&index.name.as_str()) {
                    return Err(invalid(format!(
                        "One or more parameter values were invalid: Duplicate index name: {}",
                        index.name
                    )));
                }
                names.push(&index.name);
            }
            if gsis.len() > 20 {
                return Err(invalid(
                    "One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the per-table limit of 20",
                ));
            }
        }
        // Every definition must be used by a key of the table or of an index.
        let used = |name: &str| {
            keys.contains(&name)
                || local_secondary_indexes
                    .iter()
                    .chain(&global_secondary_indexes)
                    .any(|ix| ix.key_schema.iter().any(|k| k.name == name))
        };
        if lsis.is_none() && gsis.is_none() && key_schema.len() != attribute_definitions.len() {
            return Err(invalid(
                "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
            ));
        }
        if attribute_definitions.iter().any(|d| !used(&d.name)) {
            return Err(invalid("One or more parameter values were invalid: Some AttributeDefinitions are not used. AttributeDefinitions: [".to_string()
                + &defined.join(", ")
                + "], keys used: ["
                + &attribute_definitions.iter().filter(|d| used(&d.name)).map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ")
                + "]"));
        }
        Ok(CreateTableInput {
            table_name,
            attribute_definitions,
            key_schema,
            local_secondary_indexes,
            global_secondary_indexes,
            billing_mode,
            throughput: tp,
            stream,
            sse_enabled,
            table_class,
            deletion_protection,
            tags,
            resource_policy,
        })
    }
}

/// Decodes the `TableName`-only inputs of DescribeTable and DeleteTable.
pub fn decode_table_name(body: &Map<String, Value>) -> Result<String, WireError> {
    let mut v = Violations::new();
    let name = table_name(Obj(body), &mut v)?;
    v.finish()?;
    Ok(name)
}

impl UpdateTableInput {
    pub fn decode(body: &Map<String, Value>) -> Result<UpdateTableInput, WireError> {
        let obj = Obj(body);
        let mut v = Violations::new();
        let table_name = table_name(obj, &mut v)?;
        let billing_mode = billing_mode(obj, &mut v)?;
        let throughput = throughput(
            obj.structure("ProvisionedThroughput")?,
            "provisionedThroughput",
            &mut v,
        )?;
        let attribute_definitions = attribute_definitions(obj, &mut v)?;
        let gsi_updates = gsi_updates(obj, &mut v)?;
        let deletion_protection = obj.boolean("DeletionProtectionEnabled")?;
        let table_class = obj.string("TableClass")?.map(str::to_string);
        if let Some(tc) = &table_class {
            v.one_of(
                tc,
                "tableClass",
                &["STANDARD", "STANDARD_INFREQUENT_ACCESS"],
            );
        }
        v.finish()?;
        let unsupported = [
            "StreamSpecification",
            "SSESpecification",
            "ReplicaUpdates",
            "MultiRegionConsistency",
            "GlobalTableWitnessUpdates",
            "OnDemandThroughput",
            "WarmThroughput",
        ]
        .into_iter()
        .filter(|m| obj.has(m))
        .collect();
        Ok(UpdateTableInput {
            table_name,
            billing_mode,
            throughput,
            deletion_protection,
            table_class,
            attribute_definitions,
            gsi_updates,
            unsupported,
        })
    }
}

impl ListTablesInput {
    pub fn decode(body: &Map<String, Value>) -> Result<ListTablesInput, WireError> {
        let obj = Obj(body);
        let mut v = Violations::new();
        let start = obj.string("ExclusiveStartTableName")?;
        if let Some(s) = start {
            v.name(s, "exclusiveStartTableName", 255);
        }
        let limit = obj.integer("Limit")?;
        if let Some(l) = limit {
            v.at_least(l, "limit", 1);
            v.at_most(l, "limit", 100);
        }
        v.finish()?;
        Ok(ListTablesInput {
            exclusive_start_table_name: start.map(str::to_string),
            limit: limit.map(|l| l as usize).unwrap_or(100),
        })
    }
}

fn parse_return_values(rv: Option<&str>) -> ReturnValues {
    match rv {
        Some("ALL_OLD") => ReturnValues::AllOld,
        Some("UPDATED_OLD") => ReturnValues::UpdatedOld,
        Some("ALL_NEW") => ReturnValues::AllNew,
        Some("UPDATED_NEW") => ReturnValues::UpdatedNew,
        _ => ReturnValues::None,
    }
}

/// `TableName` with its constraints, for the other request modules.
pub(crate) fn decode_table_member(obj: Obj<'_>, v: &mut Violations) -> Result<String, WireError> {
    table_name(obj, v)
}

/// `ReturnConsumedCapacity` with its constraint, for the other request modules.
pub(crate) fn decode_return_consumed_capacity(
    obj: Obj<'_>,
    v: &mut Violations,
) -> Result<ReturnConsumedCapacity, WireError> {
    return_consumed_capacity(obj, v)
}

/// PutItem and DeleteItem return the old item or nothing.
fn write_return_values(rv: Option<String>) -> Result<ReturnValues, WireError> {
    match rv.as_deref() {
        None | Some("NONE") => Ok(ReturnValues::None),
        Some("ALL_OLD") => Ok(ReturnValues::AllOld),
        Some(_) => Err(invalid("ReturnValues can only be ALL_OLD or NONE")),
    }
}

impl PutItemInput {
    pub fn decode(body: &Map<String, Value>) -> Result<PutItemInput, WireError> {
        let obj = Obj(body);
        let mut v = Violations::new();
        let table_name = table_name(obj, &mut v)?;
        let item = item_member(obj, "Item")?;
        v.not_null(item.is_some(), "item");
        let conditions = decode_conditions(obj, &mut v)?;
        let placeholders = Placeholders::decode(obj)?;
        let rv = return_values(obj, &mut v)?;
        let rcc = return_consumed_capacity(obj, &mut v)?;
        let old_on_failure = return_old_on_failure(obj, &mut v)?;
        let ricm = return_item_collection_metrics(obj, &mut v)?;
        v.finish()?;
        check_expression_mix(obj, &["ConditionExpression"], &["Expected"])?;
        let return_values = write_return_values(rv)?;
        Ok(PutItemInput {
            table_name,
            item: item.unwrap_or_default(),
            condition: conditions.check()?,
            placeholders,
            return_values,
            return_old_on_failure: old_on_failure,
            return_consumed_capacity: rcc,
            return_item_collection_metrics: ricm,
        })
    }
}

impl GetItemInput {
    pub fn decode(body: &Map<String, Value>) -> Result<GetItemInput, WireError> {
        let obj = Obj(body);
        let mut v = Violations::new();
        let table_name = table_name(obj, &mut v)?;
        let key = item_member(obj, "Key")?;
        v.not_null(key.is_some(), "key");
        let attributes_to_get = decode_attributes_to_get(obj, &mut v)?;
        let projection_expression = obj.string("ProjectionExpression")?.map(str::to_string);
        let placeholders = Placeholders::decode(obj)?;
        let consistent_read = obj.boolean("ConsistentRead")?.unwrap_or(false);
        let rcc = return_consumed_capacity(obj, &mut v)?;
        v.finish()?;
        check_expression_mix(obj, &["ProjectionExpression"], &["AttributesToGet"])?;
        check_attributes_to_get(&attributes_to_get)?;
        Ok(GetItemInput {
            table_name,
            key: key.unwrap_or_default(),
            consistent_read,
            projection_expression,
            attributes_to_get,
            placeholders,
            return_consumed_capacity: rcc,
        })
    }
}

impl DeleteItemInput {
    pub fn decode(body: &Map<String, Value>) -> Result<DeleteItemInput, WireError> {
        let obj = Obj(body);
        let mut v = Violations::new();
        let table_name = table_name(obj, &mut v)?;
        let key = item_member(obj, "Key")?;
        v.not_null(key.is_some(), "key");
        let conditions = decode_conditions(obj, &mut v)?;
        let placeholders = Placeholders::decode(obj)?;
        let rv = return_values(obj, &mut v)?;
        let rcc = return_consumed_capacity(obj, &mut v)?;
        let old_on_failure = return_old_on_failure(obj, &mut v)?;
        let ricm = return_item_collection_metrics(obj, &mut v)?;
        v.finish()?;
        check_expression_mix(obj, &["ConditionExpression"], &["Expected"])?;
        let return_values = write_return_values(rv)?;
        Ok(DeleteItemInput {
            table_name,
            key: key.unwrap_or_default(),
            condition: conditions.check()?,
            placeholders,
            return_values,
            return_old_on_failure: old_on_failure,
            return_consumed_capacity: rcc,
            return_item_collection_metrics: ricm,
        })
    }
}

impl UpdateItemInput {
    pub fn decode(body: &Map<String, Value>) -> Result<UpdateItemInput, WireError> {
        let obj = Obj(body);
        let mut v = Violations::new();
        let table_name = table_name(obj, &mut v)?;
        let key = item_member(obj, "Key")?;
        v.not_null(key.is_some(), "key");
        let attribute_updates = decode_attribute_updates(obj, &mut v)?;
        let conditions = decode_conditions(obj, &mut v)?;
        let update_expression = obj.string("UpdateExpression")?.map(str::to_string);
        let placeholders = Placeholders::decode(obj)?;
        let rv = return_values(obj, &mut v)?;
        let rcc = return_consumed_capacity(obj, &mut v)?;
        let old_on_failure = return_old_on_failure(obj, &mut v)?;
        let ricm = return_item_collection_metrics(obj, &mut v)?;
        v.finish()?;
        check_expression_mix(
            obj,
            &["UpdateExpression", "ConditionExpression"],
            &["AttributeUpdates", "Expected"],
        )?;
        let condition = conditions.check()?;
        check_attribute_updates(&attribute_updates)?;
        Ok(UpdateItemInput {
            table_name,
            key: key.unwrap_or_default(),
            update_expression,
            attribute_updates,
            condition,
            placeholders,
            return_values: parse_return_values(rv.as_deref()),
            return_old_on_failure: old_on_failure,
            return_consumed_capacity: rcc,
            return_item_collection_metrics: ricm,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create(v: Value) -> Result<CreateTableInput, WireError> {
        CreateTableInput::decode(v.as_object().unwrap())
    }

    #[test]
    fn the_scenario_create_table_decodes() {
        let input = create(json!({
            "TableName": "BookCollection",
            "AttributeDefinitions": [{"AttributeName": "Author", "AttributeType": "S"}, {"AttributeName": "BookTitle", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "Author", "KeyType": "HASH"}, {"AttributeName": "BookTitle", "KeyType": "RANGE"}],
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        }))
        .unwrap();
        assert_eq!(input.key_schema[1].key_type, KeyType::Range);
        assert_eq!(input.throughput, Some(Throughput { read: 5, write: 5 }));
        assert_eq!(input.billing_mode, BillingMode::Provisioned);
    }

    #[test]
    fn create_table_errors_match_dynamodb() {
        let err = create(json!({"TableName": "t"})).unwrap_err();
        assert_eq!(err, WireError::Validation("3 validation errors detected: Value 't' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3; Value null at 'attributeDefinitions' failed to satisfy constraint: Member must not be null; Value null at 'keySchema' failed to satisfy constraint: Member must not be null".into()));
        let err = create(json!({
            "TableName": "abc", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "a", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "b", "KeyType": "HASH"}]
        }))
        .unwrap_err();
        assert_eq!(err, WireError::Validation("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [b], AttributeDefinitions: [a]".into()));
        let err = create(json!({
            "TableName": "abc",
            "AttributeDefinitions": [{"AttributeName": "a", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}]
        }))
        .unwrap_err();
        assert_eq!(err, WireError::Validation("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED".into()));
    }

    #[test]
    fn expression_and_legacy_members_do_not_mix() {
        let body = json!({"TableName": "abc", "Item": {"a": {"S": "x"}}, "ConditionExpression": "attribute_not_exists(a)", "Expected": {"a": {"Exists": false}}});
        assert_eq!(
            PutItemInput::decode(body.as_object().unwrap()),
            Err(WireError::Validation("Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}".into()))
        );
        let body = json!({"TableName": "abc", "Key": {"a": {"S": "x"}}, "ExpressionAttributeValues": {":v": {"S": "x"}}});
        assert_eq!(
            UpdateItemInput::decode(body.as_object().unwrap()),
            Err(WireError::Validation("ExpressionAttributeValues can only be specified when using expressions: UpdateExpression and ConditionExpression are null".into()))
        );
        let body = json!({"TableName": "abc", "Key": {"a": {"S": "x"}}, "ExpressionAttributeNames": {"#a": "a"}});
        assert_eq!(
            GetItemInput::decode(body.as_object().unwrap()),
            Err(WireError::Validation(
                "ExpressionAttributeNames can only be specified when using expressions".into()
            ))
        );
    }

    #[test]
    fn expected_entries_are_checked_like_dynamodb() {
        let put = |expected: Value| {
            PutItemInput::decode(
                json!({"TableName": "abc", "Item": {}, "Expected": expected})
                    .as_object()
                    .unwrap(),
            )
        };
        let err = |m: &str| {
            Err(WireError::Validation(format!(
                "One or more parameter values were invalid: {m}"
            )))
        };
        assert_eq!(
            put(json!({"a": {}})),
            err("Value must be provided when Exists is null for Attribute: a")
        );
        assert_eq!(
            put(json!({"a": {"Exists": true}})),
            err("Value must be provided when Exists is true for Attribute: a")
        );
        assert_eq!(
            put(json!({"a": {"Exists": false, "Value": {"S": "x"}}})),
            err("Value cannot be used when Exists is false for Attribute: a")
        );
        assert_eq!(
            put(json!({"a": {"ComparisonOperator": "EQ"}})),
            err(
                "Value or AttributeValueList must be used with ComparisonOperator: EQ for Attribute: a"
            )
        );
        assert_eq!(
            put(
                json!({"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"S": "x"}]}})
            ),
            err("Invalid number of argument(s) for the BETWEEN ComparisonOperator")
        );
        assert_eq!(
            put(json!({"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "2"}, {"N": "1"}]}})),
            Err(WireError::Validation("The BETWEEN condition was provided a range where the lower bound is greater than the upper bound".into()))
        );
        let ok = put(json!({"a": {"Exists": false}, "b": {"Value": {"N": "1"}}})).unwrap();
        assert_eq!(ok.condition.expected.unwrap().len(), 2);
    }

    #[test]
    fn put_item_return_values_are_limited() {
        let body = json!({"TableName": "abc", "Item": {}, "ReturnValues": "ALL_NEW"});
        assert_eq!(
            PutItemInput::decode(body.as_object().unwrap()).unwrap_err(),
            WireError::Validation("ReturnValues can only be ALL_OLD or NONE".into())
        );
    }
}
