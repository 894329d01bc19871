//! Typed inputs of the multi-item operations: BatchWriteItem, BatchGetItem,
//! TransactWriteItems and TransactGetItems, decoded with DynamoDB's checks in its order
//! (member types, the combined constraint report, then each operation's own rules: counts,
//! duplicates, the shape of each request).
//!
//! Whether a key matches its table's schema, and the expressions, are checked in the engine.

use serde_json::{Map, Value};

use cove_types::Item;
use cove_types::value::{MAX_ITEM_SIZE, item_size};

use crate::WireError;
use crate::attr::decode_item;
use crate::input::{ReturnConsumedCapacity, decode_return_consumed_capacity};
use crate::json::{Obj, Violations, as_string, as_structure};
use crate::members::{ConditionMembers, Placeholders, check_attributes_to_get};

fn invalid(msg: impl Into<String>) -> WireError {
    WireError::Validation(msg.into())
}

/// The most write requests one BatchWriteItem carries.
pub const MAX_BATCH_WRITES: usize = 25;
/// The most keys one BatchGetItem asks for.
pub const MAX_BATCH_GETS: usize = 100;
/// The most actions one transaction holds.
pub const MAX_TRANSACT_ITEMS: usize = 100;

/// One request of a BatchWriteItem.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteRequest {
    Put(Item),
    Delete(Item),
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchWriteItemInput {
    /// Per table, in request order.
    pub tables: Vec<(String, Vec<WriteRequest>)>,
    pub return_consumed_capacity: ReturnConsumedCapacity,
    pub return_item_collection_metrics: bool,
}

/// What BatchGetItem reads of one table, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct KeysAndAttributes {
    pub keys: Vec<Item>,
    pub consistent_read: bool,
    pub projection_expression: Option<String>,
    pub attributes_to_get: Option<Vec<String>>,
    pub placeholders: Placeholders,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchGetItemInput {
    pub tables: Vec<(String, KeysAndAttributes)>,
    pub return_consumed_capacity: ReturnConsumedCapacity,
}

/// One action of a TransactWriteItems.
#[derive(Debug, Clone, PartialEq)]
pub enum TransactAction {
    ConditionCheck {
        key: Item,
    },
    Put {
        item: Item,
    },
    Delete {
        key: Item,
    },
    Update {
        key: Item,
        update_expression: String,
    },
}

/// An action with the members every kind shares.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactWrite {
    pub table_name: String,
    pub action: TransactAction,
    pub condition: ConditionMembers,
    pub placeholders: Placeholders,
    /// `ReturnValuesOnConditionCheckFailure` is ALL_OLD.
    pub return_old_on_failure: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TransactWriteItemsInput {
    pub items: Vec<TransactWrite>,
    pub client_request_token: Option<String>,
    pub return_consumed_capacity: ReturnConsumedCapacity,
    pub return_item_collection_metrics: bool,
}

/// One Get of a TransactGetItems.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactGet {
    pub table_name: String,
    pub key: Item,
    pub projection_expression: Option<String>,
    pub placeholders: Placeholders,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TransactGetItemsInput {
    pub items: Vec<TransactGet>,
    pub return_consumed_capacity: ReturnConsumedCapacity,
}

fn request_items<'a>(
    obj: Obj<'a>,
    v: &mut Violations,
) -> Result<Option<&'a Map<String, Value>>, WireError> {
    let map = obj.map("RequestItems")?;
    v.not_null(map.is_some(), "requestItems");
    if let Some(map) = map
        && map.is_empty()
    {
        v.push(
            Some("{}"),
            "requestItems",
            "Member must have length greater than or equal to 1",
        );
    }
    Ok(map)
}

fn item_collection_metrics(obj: Obj<'_>, v: &mut Violations) -> Result<bool, WireError> {
    Ok(match obj.string("ReturnItemCollectionMetrics")? {
        None | Some("NONE") => false,
        Some("SIZE") => true,
        Some(other) => {
            v.one_of(other, "returnItemCollectionMetrics", &["SIZE", "NONE"]);
            false
        }
    })
}

/// Table names of a RequestItems map: the same constraints as `TableName`.
fn check_table_names(map: &Map<String, Value>, v: &mut Violations) {
    for name in map.keys() {
        if !name.starts_with("arn:") {
            v.name(name, "requestItems.key", 255);
        }
    }
}

impl BatchWriteItemInput {
    pub fn decode(body: &Map<String, Value>) -> Result<BatchWriteItemInput, WireError> {
        let obj = Obj(body);
        let mut v = Violations::new();
        let map = request_items(obj, &mut v)?;
        let rcc = decode_return_consumed_capacity(obj, &mut v)?;
        let ricm = item_collection_metrics(obj, &mut v)?;
        let mut tables = Vec::new();
        let mut total = 0;
        if let Some(map) = map {
            check_table_names(map, &mut v);
            for (name, list) in map {
                let list = match list {
                    Value::Array(list) => list,
                    Value::Null => continue,
                    _ => return Err(WireError::Serialization(String::new())),
                };
                if list.is_empty() || list.len() > MAX_BATCH_WRITES {
                    // DynamoDB renders the whole map in this message; Cove names the table.
                    v.push(
                        Some(name),
                        "requestItems",
                        "Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]",
                    );
                }
                let mut requests = Vec::with_capacity(list.len());
                for entry in list {
                    let e = as_structure(entry)?;
                    let put = e.structure("PutRequest")?;
                    let delete = e.structure("DeleteRequest")?;
                    let request = match (put, delete) {
                        (Some(put), None) => {
                            let item = put.map("Item")?;
                            v.not_null(item.is_some(), "requestItems.value.member.putRequest.item");
                            WriteRequest::Put(
                                item.map(decode_item).transpose()?.unwrap_or_default(),
                            )
                        }
                        (None, Some(delete)) => {
                            let key = delete.map("Key")?;
                            v.not_null(
                                key.is_some(),
                                "requestItems.value.member.deleteRequest.key",
                            );
                            WriteRequest::Delete(
                                key.map(decode_item).transpose()?.unwrap_or_default(),
                            )
                        }
                        // Neither or both: DynamoDB's text for this is about AttributeValues.
                        _ => {
                            return Err(invalid(
                                "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
                            ));
                        }
                    };
                    requests.push(request);
                }
                total += requests.len();
                tables.push((name.clone(), requests));
            }
        }
        v.finish()?;
        if total > MAX_BATCH_WRITES {
            return Err(invalid(
                "Too many items requested for the BatchWriteItem call",
            ));
        }
        for (_, requests) in &tables {
            for r in requests {
                if let WriteRequest::Put(item) = r
                    && item_size(item) > MAX_ITEM_SIZE
                {
                    return Err(invalid("Item size has exceeded the maximum allowed size"));
                }
            }
        }
        Ok(BatchWriteItemInput {
            tables,
            return_consumed_capacity: rcc,
            return_item_collection_metrics: ricm,
        })
    }
}

impl BatchGetItemInput {
    pub fn decode(body: &Map<String, Value>) -> Result<BatchGetItemInput, WireError> {
        let obj = Obj(body);
        let mut v = Violations::new();
        let map = request_items(obj, &mut v)?;
        let rcc = decode_return_consumed_capacity(obj, &mut v)?;
        let mut tables = Vec::new();
        if let Some(map) = map {
            check_table_names(map, &mut v);
            for (name, entry) in map {
                if entry.is_null() {
                    continue;
                }
                let e = as_structure(entry)?;
                let keys = e.list("Keys")?;
                v.not_null(keys.is_some(), "requestItems.value.keys");
                let keys = keys.map(Vec::as_slice).unwrap_or(&[]);
                if keys.is_empty() && e.has("Keys") {
                    v.push(
                        Some("[]"),
                        "requestItems.value.keys",
                        "Member must have length greater than or equal to 1",
                    );
                }
                if keys.len() > MAX_BATCH_GETS {
                    v.push(
                        Some(name),
                        "requestItems.value.keys",
                        "Member must have length less than or equal to 100",
                    );
                }
                let keys = keys
                    .iter()
                    .map(|k| match k {
                        Value::Object(m) => decode_item(m),
                        _ => Err(WireError::Serialization(String::new())),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let attributes_to_get = match e.list("AttributesToGet")? {
                    Some(list) => Some(
                        list.iter()
                            .map(|x| as_string(x).map(str::to_string))
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                    None => None,
                };
                let placeholders = Placeholders::decode(e)?;
                tables.push((
                    name.clone(),
                    KeysAndAttributes {
                        keys,
                        consistent_read: e.boolean("ConsistentRead")?.unwrap_or(false),
                        projection_expression: e
                            .string("ProjectionExpression")?
                            .map(str::to_string),
                        attributes_to_get,
                        placeholders,
                    },
                ));
            }
        }
        v.finish()?;
        let mut total = 0;
        for (_, t) in &tables {
            if t.projection_expression.is_some() && t.attributes_to_get.is_some() {
                return Err(invalid(
                    "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}",
                ));
            }
            if t.placeholders.names.is_some() && t.projection_expression.is_none() {
                return Err(invalid(
                    "ExpressionAttributeNames can only be specified when using expressions",
                ));
            }
            total += t.keys.len();
            if total > MAX_BATCH_GETS {
                return Err(invalid(
                    "Too many items requested for the BatchGetItem call",
                ));
            }
            check_attributes_to_get(&t.attributes_to_get)?;
        }
        Ok(BatchGetItemInput {
            tables,
            return_consumed_capacity: rcc,
        })
    }
}

fn transact_items<'a>(obj: Obj<'a>, v: &mut Violations) -> Result<&'a [Value], WireError> {
    let list = obj.list("TransactItems")?;
    v.not_null(list.is_some(), "transactItems");
    let list = list.map(Vec::as_slice).unwrap_or(&[]);
    if obj.has("TransactItems") && list.is_empty() {
        v.push(
            Some("[]"),
            "transactItems",
            "Member must have length greater than or equal to 1",
        );
    }
    if list.len() > MAX_TRANSACT_ITEMS {
        v.push(
            Some(&format!("[{} items]", list.len())),
            "transactItems",
            "Member must have length less than or equal to 100",
        );
    }
    Ok(list)
}

fn return_old_on_failure(obj: Obj<'_>, path: &str, v: &mut Violations) -> Result<bool, WireError> {
    Ok(match obj.string("ReturnValuesOnConditionCheckFailure")? {
        None | Some("NONE") => false,
        Some("ALL_OLD") => true,
        Some(other) => {
            v.one_of(
                other,
                &format!("{path}.returnValuesOnConditionCheckFailure"),
                &["ALL_OLD", "NONE"],
            );
            false
        }
    })
}

fn required_map(
    obj: Obj<'_>,
    member: &str,
    path: &str,
    v: &mut Violations,
) -> Result<Item, WireError> {
    let map = obj.map(member)?;
    v.not_null(map.is_some(), path);
    Ok(map.map(decode_item).transpose()?.unwrap_or_default())
}

fn required_table(obj: Obj<'_>, path: &str, v: &mut Violations) -> Result<String, WireError> {
    let name = obj.string("TableName")?;
    v.not_null(name.is_some(), path);
    if let Some(name) = name
        && !name.starts_with("arn:")
    {
        v.name(name, path, 255);
    }
    Ok(name.unwrap_or_default().to_string())
}

impl TransactWriteItemsInput {
    pub fn decode(body: &Map<String, Value>) -> Result<TransactWriteItemsInput, WireError> {
        let obj = Obj(body);
        let mut v = Violations::new();
        let list = transact_items(obj, &mut v)?;
        let mut items = Vec::with_capacity(list.len());
        for (i, entry) in list.iter().enumerate() {
            let e = as_structure(entry)?;
            let kinds = [
                ("ConditionCheck", "conditionCheck"),
                ("Put", "put"),
                ("Delete", "delete"),
                ("Update", "update"),
            ];
            let present: Vec<(&str, &str, Obj<'_>)> = kinds
                .iter()
                .filter_map(|(m, p)| e.structure(m).transpose().map(|o| o.map(|o| (*m, *p, o))))
                .collect::<Result<_, _>>()?;
            let [(member, p, a)] = present.as_slice() else {
                return Err(invalid(
                    "TransactItems can only contain one of Check, Put, Update or Delete",
                ));
            };
            let path = format!("transactItems.{}.member.{p}", i + 1);
            let table_name = required_table(*a, &format!("{path}.tableName"), &mut v)?;
            let condition_expression = a.string("ConditionExpression")?.map(str::to_string);
            let action = match *member {
                "ConditionCheck" => {
                    v.not_null(
                        condition_expression.is_some(),
                        &format!("{path}.conditionExpression"),
                    );
                    TransactAction::ConditionCheck {
                        key: required_map(*a, "Key", &format!("{path}.key"), &mut v)?,
                    }
                }
                "Put" => TransactAction::Put {
                    item: required_map(*a, "Item", &format!("{path}.item"), &mut v)?,
                },
                "Delete" => TransactAction::Delete {
                    key: required_map(*a, "Key", &format!("{path}.key"), &mut v)?,
                },
                _ => {
                    let update_expression = a.string("UpdateExpression")?;
                    v.not_null(
                        update_expression.is_some(),
                        &format!("{path}.updateExpression"),
                    );
                    TransactAction::Update {
                        key: required_map(*a, "Key", &format!("{path}.key"), &mut v)?,
                        update_expression: update_expression.unwrap_or_default().to_string(),
                    }
                }
            };
            let return_old = return_old_on_failure(*a, &path, &mut v)?;
            items.push(TransactWrite {
                table_name,
                action,
                condition: ConditionMembers {
                    expression: condition_expression,
                    ..ConditionMembers::default()
                },
                placeholders: Placeholders::decode(*a)?,
                return_old_on_failure: return_old,
            });
        }
        let token = obj.string("ClientRequestToken")?;
        if let Some(t) = token {
            if t.is_empty() {
                v.push(
                    Some(t),
                    "clientRequestToken",
                    "Member must have length greater than or equal to 1",
                );
            }
            if t.chars().count() > 36 {
                v.push(
                    Some(t),
                    "clientRequestToken",
                    "Member must have length less than or equal to 36",
                );
            }
        }
        let rcc = decode_return_consumed_capacity(obj, &mut v)?;
        let ricm = item_collection_metrics(obj, &mut v)?;
        v.finish()?;
        for item in &items {
            if let TransactAction::Put { item } = &item.action
                && item_size(item) > MAX_ITEM_SIZE
            {
                return Err(invalid("Item size has exceeded the maximum allowed size"));
            }
        }
        Ok(TransactWriteItemsInput {
            items,
            client_request_token: token.map(str::to_string),
            return_consumed_capacity: rcc,
            return_item_collection_metrics: ricm,
        })
    }
}

impl TransactGetItemsInput {
    pub fn decode(body: &Map<String, Value>) -> Result<TransactGetItemsInput, WireError> {
        let obj = Obj(body);
        let mut v = Violations::new();
        let list = transact_items(obj, &mut v)?;
        let mut items = Vec::with_capacity(list.len());
        for (i, entry) in list.iter().enumerate() {
            let e = as_structure(entry)?;
            let path = format!("transactItems.{}.member.get", i + 1);
            let Some(get) = e.structure("Get")? else {
                v.not_null(false, &path);
                continue;
            };
            items.push(TransactGet {
                table_name: required_table(get, &format!("{path}.tableName"), &mut v)?,
                key: required_map(get, "Key", &format!("{path}.key"), &mut v)?,
                projection_expression: get.string("ProjectionExpression")?.map(str::to_string),
                placeholders: Placeholders::decode(get)?,
            });
        }
        let rcc = decode_return_consumed_capacity(obj, &mut v)?;
        v.finish()?;
        Ok(TransactGetItemsInput {
            items,
            return_consumed_capacity: rcc,
        })
    }
}
