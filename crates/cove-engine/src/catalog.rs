//! The table catalog: the versioned on-disk table record, the in-memory [`Table`] built from
//! it, and its rendering as DynamoDB's TableDescription.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use cove_storage::{KeyRange, ScanOptions};
use cove_types::{KeyAttribute, KeySchema, ScalarType};
use cove_wire::input::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, Projection, StreamSpecification,
};
use cove_wire::output::{IndexDescription, TableDescription, ThroughputDescription};

use crate::indexes::{Index, IndexProjection};
use crate::keys;
use crate::{EngineError, Result};

/// (account, region, table name).
pub type TableKey = (String, String, String);

/// A table key made of borrowed parts, to look the catalog up without building a
/// [`TableKey`] (three string copies) on every request. It hashes and compares exactly as the
/// owned tuple does, which is what lets the map accept it through `Borrow`.
pub(crate) trait TableKeyParts {
    fn parts(&self) -> (&str, &str, &str);
}

impl TableKeyParts for TableKey {
    fn parts(&self) -> (&str, &str, &str) {
        (&self.0, &self.1, &self.2)
    }
}

impl TableKeyParts for (&str, &str, &str) {
    fn parts(&self) -> (&str, &str, &str) {
        *self
    }
}

impl<'a> std::borrow::Borrow<dyn TableKeyParts + 'a> for TableKey {
    fn borrow(&self) -> &(dyn TableKeyParts + 'a) {
        self
    }
}

impl std::hash::Hash for dyn TableKeyParts + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // A tuple hashes its fields in order, and `String` hashes as its `str`.
        self.parts().hash(state);
    }
}

impl PartialEq for dyn TableKeyParts + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn TableKeyParts + '_ {}

/// The version written into every catalog record. Older versions get a migration here when
/// the shape changes; newer ones are refused.
pub const TABLE_RECORD_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexRecord {
    /// The index's id within its table, part of its entries' keys. Records written before
    /// Cove maintained indexes have none; [`crate::Engine::open`] assigns one and backfills.
    #[serde(default)]
    pub id: Option<u8>,
    pub name: String,
    /// (attribute name, "HASH" | "RANGE").
    pub key_schema: Vec<(String, String)>,
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
    pub read: Option<i64>,
    pub write: Option<i64>,
}

/// A table as stored. Field names are the on-disk format: rename only with a migration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableRecord {
    pub version: u32,
    pub id: u64,
    pub uuid: String,
    pub account_id: String,
    pub region: String,
    pub name: String,
    pub created: f64,
    /// (attribute name, "S" | "N" | "B").
    pub attribute_definitions: Vec<(String, String)>,
    pub key_schema: Vec<(String, String)>,
    pub local_secondary_indexes: Vec<IndexRecord>,
    pub global_secondary_indexes: Vec<IndexRecord>,
    pub billing_mode: String,
    pub read: i64,
    pub write: i64,
    pub decreases_today: i64,
    pub last_increase: Option<f64>,
    pub last_decrease: Option<f64>,
    pub last_update_to_pay_per_request: Option<f64>,
    pub stream_enabled: Option<bool>,
    pub stream_view_type: Option<String>,
    pub sse_enabled: bool,
    pub table_class: Option<String>,
    pub deletion_protection: bool,
    pub tags: Vec<(String, String)>,
    /// The TTL attribute, when time to live is enabled.
    #[serde(default)]
    pub ttl_attribute: Option<String>,
    /// Point-in-time recovery: when it was enabled, if it is.
    #[serde(default)]
    pub pitr_enabled_at: Option<f64>,
    /// The table's resource-based policy and its revision id, if it has one.
    #[serde(default)]
    pub resource_policy: Option<(String, String)>,
    /// Counts the changes to this record; the table's counters carry it too, so an item write
    /// can tell that the definition it holds is out of date (see `write.rs`).
    #[serde(default)]
    pub revision: u64,
}

/// A live table: its record plus the key schemas derived from it.
#[derive(Debug, Clone)]
pub struct Table {
    pub record: TableRecord,
    pub schema: KeySchema,
    /// The secondary indexes that have ids (all of them, once the engine is open).
    pub indexes: Vec<Index>,
    /// The resource-based policy, compiled once per change for authorization.
    pub policy: Option<Arc<cove_policy::Policy>>,
}

impl TableRecord {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<TableRecord> {
        #[derive(Deserialize)]
        struct Versioned {
            version: u32,
        }
        let v: Versioned = serde_json::from_slice(bytes)
            .map_err(|e| EngineError::Corrupt(format!("table record: {e}")))?;
        if v.version != TABLE_RECORD_VERSION {
            return Err(EngineError::Corrupt(format!(
                "table record version {} is not readable by this build (reads {TABLE_RECORD_VERSION})",
                v.version
            )));
        }
        serde_json::from_slice(bytes)
            .map_err(|e| EngineError::Corrupt(format!("table record: {e}")))
    }

    pub fn arn(&self) -> String {
        format!(
            "arn:aws:dynamodb:{}:{}:table/{}",
            self.region, self.account_id, self.name
        )
    }
}

impl Table {
    pub fn from_record(record: TableRecord) -> Result<Table> {
        let type_of = |name: &str| -> Result<ScalarType> {
            record
                .attribute_definitions
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, t)| ScalarType::parse(t))
                .ok_or_else(|| {
                    EngineError::Corrupt(format!("key attribute {name} has no definition"))
                })
        };
        let hash = record
            .key_schema
            .iter()
            .find(|(_, t)| t == "HASH")
            .ok_or_else(|| EngineError::Corrupt("table without a hash key".into()))?;
        let hash = KeyAttribute {
            name: hash.0.clone(),
            ty: type_of(&hash.0)?,
        };
        let range = match record.key_schema.iter().find(|(_, t)| t == "RANGE") {
            Some((name, _)) => Some(KeyAttribute {
                name: name.clone(),
                ty: type_of(name)?,
            }),
            None => None,
        };
        let mut indexes = Vec::new();
        let kinds = record
            .local_secondary_indexes
            .iter()
            .map(|ix| (ix, false))
            .chain(record.global_secondary_indexes.iter().map(|ix| (ix, true)));
        for (ix, global) in kinds {
            let Some(id) = ix.id else { continue };
            let attr = |kind: &str| -> Result<Option<KeyAttribute>> {
                match ix.key_schema.iter().find(|(_, t)| t == kind) {
                    Some((name, _)) => Ok(Some(KeyAttribute {
                        name: name.clone(),
                        ty: type_of(name)?,
                    })),
                    None => Ok(None),
                }
            };
            let hash = attr("HASH")?.ok_or_else(|| {
                EngineError::Corrupt(format!("index {} without a hash key", ix.name))
            })?;
            indexes.push(Index {
                id,
                name: ix.name.clone(),
                global,
                schema: KeySchema {
                    hash,
                    range: attr("RANGE")?,
                },
                projection: match ix.projection_type.as_str() {
                    "ALL" => IndexProjection::All,
                    "INCLUDE" => IndexProjection::Include(ix.non_key_attributes.clone()),
                    _ => IndexProjection::KeysOnly,
                },
            });
        }
        // A stored policy was validated when put; one that no longer parses grants nothing.
        let policy = record.resource_policy.as_ref().and_then(|(doc, _)| {
            cove_policy::Policy::parse(doc, cove_policy::PolicyKind::Resource)
                .ok()
                .map(Arc::new)
        });
        Ok(Table {
            schema: KeySchema { hash, range },
            record,
            indexes,
            policy,
        })
    }

    pub fn key(&self) -> TableKey {
        (
            self.record.account_id.clone(),
            self.record.region.clone(),
            self.record.name.clone(),
        )
    }

    pub fn billing_mode(&self) -> BillingMode {
        if self.record.billing_mode == "PAY_PER_REQUEST" {
            BillingMode::PayPerRequest
        } else {
            BillingMode::Provisioned
        }
    }

    /// The index called `name`, if the table has one.
    pub fn index(&self, name: &str) -> Option<&Index> {
        self.indexes.iter().find(|i| i.name == name)
    }

    /// Renders DescribeTable's view of the table with the given status and counts;
    /// `index_stats` gives each index's (ItemCount, IndexSizeBytes).
    pub fn describe(
        &self,
        status: &'static str,
        item_count: i64,
        size_bytes: i64,
        index_stats: &dyn Fn(&str) -> (i64, i64),
    ) -> TableDescription {
        let r = &self.record;
        let arn = r.arn();
        let key_schema = |ks: &[(String, String)]| -> Vec<KeySchemaElement> {
            ks.iter()
                .map(|(name, t)| KeySchemaElement {
                    name: name.clone(),
                    key_type: if t == "RANGE" {
                        KeyType::Range
                    } else {
                        KeyType::Hash
                    },
                })
                .collect()
        };
        let index = |ix: &IndexRecord, global: bool| {
            let (item_count, size_bytes) = index_stats(&ix.name);
            IndexDescription {
                name: ix.name.clone(),
                arn: format!("{arn}/index/{}", ix.name),
                key_schema: key_schema(&ix.key_schema),
                projection: Projection {
                    projection_type: ix.projection_type.clone(),
                    non_key_attributes: ix.non_key_attributes.clone(),
                },
                status: global.then_some("ACTIVE"),
                throughput: global.then(|| ThroughputDescription {
                    read: ix.read.unwrap_or(0),
                    write: ix.write.unwrap_or(0),
                    decreases_today: 0,
                    last_increase: None,
                    last_decrease: None,
                }),
                item_count,
                size_bytes,
            }
        };
        TableDescription {
            name: r.name.clone(),
            arn: arn.clone(),
            id: r.uuid.clone(),
            status,
            creation_date_time: r.created,
            attribute_definitions: r
                .attribute_definitions
                .iter()
                .map(|(name, t)| AttributeDefinition {
                    name: name.clone(),
                    ty: ScalarType::parse(t).unwrap_or(ScalarType::S),
                })
                .collect(),
            key_schema: key_schema(&r.key_schema),
            billing_mode: self.billing_mode(),
            last_update_to_pay_per_request: r.last_update_to_pay_per_request,
            throughput: ThroughputDescription {
                read: r.read,
                write: r.write,
                decreases_today: r.decreases_today,
                last_increase: r.last_increase,
                last_decrease: r.last_decrease,
            },
            item_count,
            size_bytes,
            local_secondary_indexes: r
                .local_secondary_indexes
                .iter()
                .map(|ix| index(ix, false))
                .collect(),
            global_secondary_indexes: r
                .global_secondary_indexes
                .iter()
                .map(|ix| index(ix, true))
                .collect(),
            stream: r.stream_enabled.map(|enabled| StreamSpecification {
                enabled,
                view_type: r.stream_view_type.clone(),
            }),
            latest_stream_arn: None,
            latest_stream_label: None,
            sse_enabled: r.sse_enabled,
            table_class: r.table_class.clone(),
            deletion_protection: r.deletion_protection,
        }
    }
}

/// Loads every table record.
pub fn load(view: &dyn cove_storage::ReadView) -> Result<HashMap<TableKey, Arc<Table>>> {
    let entries = view.scan(&KeyRange::prefix(&[keys::CATALOG]), ScanOptions::default())?;
    let mut tables = HashMap::with_capacity(entries.len());
    for (_, value) in entries {
        let table = Table::from_record(TableRecord::decode(&value)?)?;
        tables.insert(table.key(), Arc::new(table));
    }
    Ok(tables)
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn borrowed_table_keys_find_owned_ones() {
        let mut map: HashMap<TableKey, u8> = HashMap::new();
        map.insert(("1".into(), "r".into(), "t".into()), 7);
        assert_eq!(map.get(&("1", "r", "t") as &dyn TableKeyParts), Some(&7));
        assert_eq!(map.get(&("1", "r", "u") as &dyn TableKeyParts), None);
        assert_eq!(map.get(&("1r", "", "t") as &dyn TableKeyParts), None);
    }
}
