//! Secondary indexes through aws-sdk-dynamodb: local and global indexes defined at
//! CreateTable, maintained with every write (including key changes that move an item between
//! index partitions), sparse, with non-unique keys and each projection type; Query and Scan on
//! them with DynamoDB's rules; DescribeTable's index counts; and a model-based test that
//! checks every index against a recomputation from the base table after each random write.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, GlobalSecondaryIndex, KeyType, LocalSecondaryIndex, Projection,
    ProjectionType, ScalarAttributeType, Select,
};

use crate::common::{Cove, attr, data_dir, key, s};

type Item = HashMap<String, AttributeValue>;

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn projection(kind: ProjectionType, include: &[&str]) -> Projection {
    let mut p = Projection::builder().projection_type(kind);
    for a in include {
        p = p.non_key_attributes(*a);
    }
    p.build()
}

/// A table `idx` with key (pk S, sk N) and three indexes:
/// - `by_lsk`: local, range key `lsk` (N), KEYS_ONLY;
/// - `by_g`: global, (gpk S, gsk N), ALL;
/// - `by_h`: global, hash key `h` (S) only, INCLUDE [a].
async fn create_indexed(client: &Client) {
    client
        .create_table()
        .table_name("idx")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .attribute_definitions(attr("sk", ScalarAttributeType::N))
        .attribute_definitions(attr("lsk", ScalarAttributeType::N))
        .attribute_definitions(attr("gpk", ScalarAttributeType::S))
        .attribute_definitions(attr("gsk", ScalarAttributeType::N))
        .attribute_definitions(attr("h", ScalarAttributeType::S))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("by_lsk")
                .key_schema(key("pk", KeyType::Hash))
                .key_schema(key("lsk", KeyType::Range))
                .projection(projection(ProjectionType::KeysOnly, &[]))
                .build()
                .unwrap(),
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_g")
                .key_schema(key("gpk", KeyType::Hash))
                .key_schema(key("gsk", KeyType::Range))
                .projection(projection(ProjectionType::All, &[]))
                .build()
                .unwrap(),
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_h")
                .key_schema(key("h", KeyType::Hash))
                .projection(projection(ProjectionType::Include, &["a"]))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create indexed table");
}

async fn put(client: &Client, item: Vec<(&str, AttributeValue)>) {
    let item: Item = item.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    client
        .put_item()
        .table_name("idx")
        .set_item(Some(item))
        .send()
        .await
        .expect("put");
}

fn field(item: &Item, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(x) | AttributeValue::N(x)) => x.clone(),
        other => panic!("{name}: {other:?}"),
    }
}

#[tokio::test]
async fn indexes_are_maintained_and_queryable() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    create_indexed(&client).await;
    put(
        &client,
        vec![
            ("pk", s("p")),
            ("sk", n(1)),
            ("lsk", n(30)),
            ("gpk", s("x")),
            ("gsk", n(2)),
            ("a", s("a1")),
            ("b", s("b1")),
        ],
    )
    .await;
    put(
        &client,
        vec![
            ("pk", s("p")),
            ("sk", n(2)),
            ("lsk", n(10)),
            ("gpk", s("x")),
            ("gsk", n(2)),
            ("h", s("hh")),
            ("a", s("a2")),
        ],
    )
    .await;
    put(
        &client,
        vec![
            ("pk", s("p")),
            ("sk", n(3)),
            ("lsk", n(20)),
            ("gpk", s("y")),
            ("gsk", n(1)),
            ("h", s("hh")),
            ("b", s("b3")),
        ],
    )
    .await;
    // No index key attributes: in no index (sparse).
    put(&client, vec![("pk", s("p")), ("sk", n(4)), ("a", s("a4"))]).await;

    // The local index orders the partition by lsk and projects only keys.
    let out = client
        .query()
        .table_name("idx")
        .index_name("by_lsk")
        .key_condition_expression("pk = :p AND lsk > :l")
        .expression_attribute_values(":p", s("p"))
        .expression_attribute_values(":l", n(5))
        .send()
        .await
        .unwrap();
    let sks: Vec<String> = out.items().iter().map(|i| field(i, "sk")).collect();
    assert_eq!(sks, ["2", "3", "1"]);
    assert_eq!(
        out.items()[0].len(),
        3,
        "KEYS_ONLY holds pk, sk, lsk: {:?}",
        out.items()[0]
    );
    // ALL_ATTRIBUTES on a local index fetches the rest from the table, as DynamoDB does.
    let out = client
        .query()
        .table_name("idx")
        .index_name("by_lsk")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p"))
        .select(Select::AllAttributes)
        .consistent_read(true)
        .limit(1)
        .send()
        .await
        .unwrap();
    assert_eq!(field(&out.items()[0], "a"), "a2");
    // LastEvaluatedKey of an index read holds the table key and the index key.
    let lek = out.last_evaluated_key().unwrap();
    let names: BTreeSet<&str> = lek.keys().map(String::as_str).collect();
    assert_eq!(names, BTreeSet::from(["pk", "sk", "lsk"]));
    let next = client
        .query()
        .table_name("idx")
        .index_name("by_lsk")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p"))
        .set_exclusive_start_key(Some(lek.clone()))
        .send()
        .await
        .unwrap();
    let sks: Vec<String> = next.items().iter().map(|i| field(i, "sk")).collect();
    assert_eq!(sks, ["3", "1"]);

    // The global index: non-unique keys, items from several table partitions.
    let out = client
        .query()
        .table_name("idx")
        .index_name("by_g")
        .key_condition_expression("gpk = :g AND gsk = :k")
        .expression_attribute_values(":g", s("x"))
        .expression_attribute_values(":k", n(2))
        .send()
        .await
        .unwrap();
    let sks: BTreeSet<String> = out.items().iter().map(|i| field(i, "sk")).collect();
    assert_eq!(sks, BTreeSet::from(["1".to_string(), "2".to_string()]));
    assert_eq!(
        field(&out.items()[0], "b"),
        "b1",
        "ALL projects every attribute"
    );

    // Changing an index key moves the item between index partitions.
    client
        .update_item()
        .table_name("idx")
        .key("pk", s("p"))
        .key("sk", n(1))
        .update_expression("SET gpk = :y REMOVE lsk")
        .expression_attribute_values(":y", s("y"))
        .send()
        .await
        .unwrap();
    let query_g = |g: &'static str| {
        client
            .query()
            .table_name("idx")
            .index_name("by_g")
            .key_condition_expression("gpk = :g")
            .expression_attribute_values(":g", s(g))
            .send()
    };
    let x: Vec<String> = query_g("x")
        .await
        .unwrap()
        .items()
        .iter()
        .map(|i| field(i, "sk"))
        .collect();
    let y: Vec<String> = query_g("y")
        .await
        .unwrap()
        .items()
        .iter()
        .map(|i| field(i, "sk"))
        .collect();
    assert_eq!(
        (x, y),
        (
            vec!["2".to_string()],
            vec!["3".to_string(), "1".to_string()]
        )
    );
    let lsk_count = client
        .scan()
        .table_name("idx")
        .index_name("by_lsk")
        .select(Select::Count)
        .send()
        .await
        .unwrap()
        .count();
    assert_eq!(
        lsk_count, 2,
        "removing lsk took the item out of the local index"
    );

    // INCLUDE keeps the listed attributes; hash-only global index.
    let out = client
        .query()
        .table_name("idx")
        .index_name("by_h")
        .key_condition_expression("h = :h")
        .expression_attribute_values(":h", s("hh"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.count(), 2);
    for item in out.items() {
        assert!(!item.contains_key("b"), "b is not projected: {item:?}");
        assert!(!item.contains_key("gpk"), "gpk is not projected: {item:?}");
    }
    assert!(out.items().iter().any(|i| i.get("a") == Some(&s("a2"))));
    let explicit = client
        .query()
        .table_name("idx")
        .index_name("by_h")
        .key_condition_expression("h = :h")
        .expression_attribute_values(":h", s("hh"))
        .select(Select::AllProjectedAttributes)
        .send()
        .await
        .unwrap();
    assert_eq!(
        explicit.items(),
        out.items(),
        "ALL_PROJECTED_ATTRIBUTES is an index read's default"
    );

    // Deleting the item removes its entries.
    client
        .delete_item()
        .table_name("idx")
        .key("pk", s("p"))
        .key("sk", n(2))
        .send()
        .await
        .unwrap();
    let out = client
        .query()
        .table_name("idx")
        .index_name("by_h")
        .key_condition_expression("h = :h")
        .expression_attribute_values(":h", s("hh"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.count(), 1);

    // DescribeTable reports each index's counts.
    let table = client
        .describe_table()
        .table_name("idx")
        .send()
        .await
        .unwrap();
    let table = table.table().unwrap();
    let g = table
        .global_secondary_indexes()
        .iter()
        .find(|i| i.index_name() == Some("by_g"))
        .unwrap();
    assert_eq!(g.item_count(), Some(2));
    assert!(g.index_size_bytes().unwrap() > 0);
    assert_eq!(g.index_status().map(|s| s.as_str()), Some("ACTIVE"));
    assert!(g.index_arn().unwrap().ends_with(":table/idx/index/by_g"));
    let l = &table.local_secondary_indexes()[0];
    assert_eq!(l.item_count(), Some(1));
}

#[tokio::test]
async fn index_rules_and_errors_are_dynamodbs() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    create_indexed(&client).await;
    let err = client
        .put_item()
        .table_name("idx")
        .item("pk", s("p"))
        .item("sk", n(1))
        .item("gpk", n(5))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some(
            "One or more parameter values were invalid: Type mismatch for Index Key gpk Expected: S Actual: N IndexName: by_g"
        )
    );
    let err = client
        .update_item()
        .table_name("idx")
        .key("pk", s("p"))
        .key("sk", n(1))
        .update_expression("SET h = :e")
        .expression_attribute_values(":e", s(""))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some(
            "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty string value. IndexName: by_h, IndexKey: h"
        )
    );
    let get = client
        .get_item()
        .table_name("idx")
        .key("pk", s("p"))
        .key("sk", n(1))
        .send()
        .await
        .unwrap();
    assert!(get.item().is_none(), "a refused update writes nothing");

    let err = client
        .query()
        .table_name("idx")
        .index_name("by_g")
        .key_condition_expression("gpk = :g")
        .expression_attribute_values(":g", s("x"))
        .consistent_read(true)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some("Consistent reads are not supported on global secondary indexes")
    );
    let err = client
        .query()
        .table_name("idx")
        .index_name("by_h")
        .key_condition_expression("h = :h")
        .expression_attribute_values(":h", s("x"))
        .select(Select::AllAttributes)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some(
            "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index by_h because its projection type is not ALL"
        )
    );
    let err = client
        .query()
        .table_name("idx")
        .index_name("by_g")
        .key_condition_expression("gpk = :g")
        .filter_expression("gsk > :k")
        .expression_attribute_values(":g", s("x"))
        .expression_attribute_values(":k", n(1))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some(
            "Filter Expression can only contain non-primary key attributes: Primary key attribute: gsk"
        )
    );
    let err = client
        .query()
        .table_name("idx")
        .index_name("by_g")
        .key_condition_expression("pk = :g")
        .expression_attribute_values(":g", s("x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some("Query condition missed key schema element: gpk")
    );
}

/// A small deterministic generator, so a failing sequence can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

async fn scan_all(client: &Client, index: Option<&str>) -> Vec<Item> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name("idx")
            .set_index_name(index.map(str::to_string))
            .limit(9)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        out.extend(page.items().iter().cloned());
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => return out,
        }
    }
}

fn canonical(items: Vec<Item>) -> BTreeSet<String> {
    items
        .into_iter()
        .map(|i| {
            let mut pairs: Vec<(String, String)> =
                i.into_iter().map(|(k, v)| (k, format!("{v:?}"))).collect();
            pairs.sort();
            format!("{pairs:?}")
        })
        .collect()
}

fn project(item: &Item, keep: &[&str]) -> Item {
    item.iter()
        .filter(|(k, _)| keep.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[tokio::test]
async fn indexes_match_a_recomputation_after_every_random_write() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    create_indexed(&client).await;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for step in 0..120 {
        let pk = s(&format!("p{}", rng.next(3)));
        let sk = n(rng.next(6) as i64);
        match rng.next(4) {
            0 | 1 => {
                let mut item = vec![("pk", pk), ("sk", sk), ("a", s(&format!("a{step}")))];
                if rng.next(3) > 0 {
                    item.push(("lsk", n(rng.next(4) as i64)));
                }
                if rng.next(3) > 0 {
                    item.push(("gpk", s(&format!("g{}", rng.next(2)))));
                    item.push(("gsk", n(rng.next(3) as i64)));
                }
                if rng.next(2) > 0 {
                    item.push(("h", s(&format!("h{}", rng.next(2)))));
                }
                put(&client, item).await;
            }
            2 => {
                let expr = match rng.next(4) {
                    0 => "SET gpk = :g, gsk = :k",
                    1 => "REMOVE gsk",
                    2 => "SET lsk = :k REMOVE h",
                    _ => "SET h = :g, b = :g",
                };
                let mut req = client
                    .update_item()
                    .table_name("idx")
                    .key("pk", pk)
                    .key("sk", sk)
                    .update_expression(expr);
                if expr.contains(":g") {
                    req = req.expression_attribute_values(":g", s(&format!("g{}", rng.next(2))));
                }
                if expr.contains(":k") {
                    req = req.expression_attribute_values(":k", n(rng.next(3) as i64));
                }
                req.send().await.unwrap();
            }
            _ => {
                client
                    .delete_item()
                    .table_name("idx")
                    .key("pk", pk)
                    .key("sk", sk)
                    .send()
                    .await
                    .unwrap();
            }
        }
        let base = scan_all(&client, None).await;
        let has = |i: &Item, names: &[&str]| names.iter().all(|n| i.contains_key(*n));
        let expect_l: Vec<Item> = base
            .iter()
            .filter(|i| has(i, &["lsk"]))
            .map(|i| project(i, &["pk", "sk", "lsk"]))
            .collect();
        let expect_g: Vec<Item> = base
            .iter()
            .filter(|i| has(i, &["gpk", "gsk"]))
            .cloned()
            .collect();
        let expect_h: Vec<Item> = base
            .iter()
            .filter(|i| has(i, &["h"]))
            .map(|i| project(i, &["pk", "sk", "h", "a"]))
            .collect();
        assert_eq!(
            canonical(scan_all(&client, Some("by_lsk")).await),
            canonical(expect_l),
            "by_lsk after step {step}"
        );
        assert_eq!(
            canonical(scan_all(&client, Some("by_g")).await),
            canonical(expect_g),
            "by_g after step {step}"
        );
        assert_eq!(
            canonical(scan_all(&client, Some("by_h")).await),
            canonical(expect_h),
            "by_h after step {step}"
        );
    }
}

#[tokio::test]
async fn global_indexes_are_created_with_a_backfill_and_deleted() {
    use aws_sdk_dynamodb::types::{
        CreateGlobalSecondaryIndexAction, DeleteGlobalSecondaryIndexAction,
        GlobalSecondaryIndexUpdate, IndexStatus, TableStatus,
    };
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    create_indexed(&client).await;
    for i in 0..50 {
        let mut item = vec![
            ("pk", s(&format!("p{}", i % 5))),
            ("sk", n(i)),
            ("a", s("x")),
        ];
        if i % 2 == 0 {
            item.push(("color", s(if i % 4 == 0 { "red" } else { "blue" })));
        }
        put(&client, item).await;
    }
    let create = |name: &str| {
        GlobalSecondaryIndexUpdate::builder()
            .create(
                CreateGlobalSecondaryIndexAction::builder()
                    .index_name(name)
                    .key_schema(key("color", KeyType::Hash))
                    .key_schema(key("sk", KeyType::Range))
                    .projection(projection(ProjectionType::KeysOnly, &[]))
                    .build()
                    .unwrap(),
            )
            .build()
    };
    // Only one index may be created or deleted per call.
    let err = client
        .update_table()
        .table_name("idx")
        .attribute_definitions(attr("color", ScalarAttributeType::S))
        .global_secondary_index_updates(create("by_color"))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .delete(
                    DeleteGlobalSecondaryIndexAction::builder()
                        .index_name("by_h")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("LimitExceededException"));
    // The key attribute needs a definition.
    let err = client
        .update_table()
        .table_name("idx")
        .global_secondary_index_updates(create("by_color"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some("Invalid KeySchema: Some index key attribute have no definition")
    );

    let out = client
        .update_table()
        .table_name("idx")
        .attribute_definitions(attr("color", ScalarAttributeType::S))
        .global_secondary_index_updates(create("by_color"))
        .send()
        .await
        .unwrap();
    let desc = out.table_description().unwrap();
    assert_eq!(desc.table_status(), Some(&TableStatus::Updating));
    let new = desc
        .global_secondary_indexes()
        .iter()
        .find(|i| i.index_name() == Some("by_color"))
        .unwrap();
    assert_eq!(new.index_status(), Some(&IndexStatus::Creating));
    // The backfill is complete when UpdateTable answers: the index is ACTIVE and holds
    // every item that has its key.
    let table = client
        .describe_table()
        .table_name("idx")
        .send()
        .await
        .unwrap();
    let table = table.table().unwrap();
    assert_eq!(table.table_status(), Some(&TableStatus::Active));
    let new = table
        .global_secondary_indexes()
        .iter()
        .find(|i| i.index_name() == Some("by_color"))
        .unwrap();
    assert_eq!(new.index_status(), Some(&IndexStatus::Active));
    assert_eq!(new.item_count(), Some(25));
    let defined: BTreeSet<&str> = table
        .attribute_definitions()
        .iter()
        .map(|d| d.attribute_name())
        .collect();
    assert!(defined.contains("color"));
    // Writes after the creation are maintained too.
    put(
        &client,
        vec![("pk", s("z")), ("sk", n(100)), ("color", s("red"))],
    )
    .await;
    let red = client
        .query()
        .table_name("idx")
        .index_name("by_color")
        .key_condition_expression("color = :c")
        .expression_attribute_values(":c", s("red"))
        .send()
        .await
        .unwrap();
    let sks: Vec<String> = red.items().iter().map(|i| field(i, "sk")).collect();
    let expected: Vec<String> = (0..50)
        .filter(|i| i % 4 == 0)
        .chain([100])
        .map(|i| i.to_string())
        .collect();
    assert_eq!(sks, expected);

    // Deleting it: gone from DescribeTable, from reads, and its definition with it.
    let out = client
        .update_table()
        .table_name("idx")
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .delete(
                    DeleteGlobalSecondaryIndexAction::builder()
                        .index_name("by_color")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let gone = out
        .table_description()
        .unwrap()
        .global_secondary_indexes()
        .iter()
        .find(|i| i.index_name() == Some("by_color"))
        .unwrap();
    assert_eq!(gone.index_status(), Some(&IndexStatus::Deleting));
    let table = client
        .describe_table()
        .table_name("idx")
        .send()
        .await
        .unwrap();
    let table = table.table().unwrap();
    assert!(
        table
            .global_secondary_indexes()
            .iter()
            .all(|i| i.index_name() != Some("by_color"))
    );
    assert!(
        table
            .attribute_definitions()
            .iter()
            .all(|d| d.attribute_name() != "color")
    );
    let err = client
        .query()
        .table_name("idx")
        .index_name("by_color")
        .key_condition_expression("color = :c")
        .expression_attribute_values(":c", s("red"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some("The table does not have the specified index: by_color")
    );
    let err = client
        .update_table()
        .table_name("idx")
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .delete(
                    DeleteGlobalSecondaryIndexAction::builder()
                        .index_name("by_color")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    // Indexes survive a restart with their entries.
    put(
        &client,
        vec![
            ("pk", s("p1")),
            ("sk", n(500)),
            ("lsk", n(1)),
            ("gpk", s("g")),
            ("gsk", n(1)),
        ],
    )
    .await;
    drop(client);
    drop(cove);
    let cove = Cove::start(dir.path());
    let client = cove.client();
    let out = client
        .query()
        .table_name("idx")
        .index_name("by_lsk")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p1"))
        .select(Select::Count)
        .send()
        .await
        .unwrap();
    assert_eq!(out.count(), 1, "the one item of p1 with lsk");
    let out = client
        .scan()
        .table_name("idx")
        .index_name("by_g")
        .select(Select::Count)
        .send()
        .await
        .unwrap();
    assert_eq!(out.count(), 1);
}

#[tokio::test]
async fn capacity_is_reported_per_index() {
    use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    create_indexed(&client).await;
    // A new item with keys for by_g and by_lsk, not by_h: one write on each of those two.
    let out = client
        .put_item()
        .table_name("idx")
        .item("pk", s("p"))
        .item("sk", n(1))
        .item("lsk", n(1))
        .item("gpk", s("g"))
        .item("gsk", n(1))
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .unwrap();
    let c = out.consumed_capacity().unwrap();
    assert_eq!(c.capacity_units(), Some(3.0));
    assert_eq!(c.table().unwrap().capacity_units(), Some(1.0));
    let g = c.global_secondary_indexes().unwrap();
    assert_eq!(g.len(), 1);
    assert_eq!(g["by_g"].write_capacity_units(), Some(1.0));
    assert_eq!(
        c.local_secondary_indexes().unwrap()["by_lsk"].capacity_units(),
        Some(1.0)
    );
    // Moving the item in by_g costs a delete and a put there; by_lsk is untouched.
    let out = client
        .update_item()
        .table_name("idx")
        .key("pk", s("p"))
        .key("sk", n(1))
        .update_expression("SET gpk = :h")
        .expression_attribute_values(":h", s("h"))
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .unwrap();
    let c = out.consumed_capacity().unwrap();
    assert_eq!(
        c.global_secondary_indexes().unwrap()["by_g"].capacity_units(),
        Some(2.0)
    );
    assert!(c.local_secondary_indexes().is_none());
    // A read of a global index is charged to the index, not the table.
    let out = client
        .query()
        .table_name("idx")
        .index_name("by_g")
        .key_condition_expression("gpk = :h")
        .expression_attribute_values(":h", s("h"))
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .unwrap();
    let c = out.consumed_capacity().unwrap();
    assert_eq!(c.capacity_units(), Some(0.5));
    assert_eq!(c.table().unwrap().capacity_units(), Some(0.0));
    assert_eq!(
        c.global_secondary_indexes().unwrap()["by_g"].read_capacity_units(),
        Some(0.5)
    );
}

#[tokio::test]
async fn item_collections_of_tables_with_local_indexes_are_limited() {
    use aws_sdk_dynamodb::types::ReturnItemCollectionMetrics;
    let dir = data_dir();
    // A 3000-byte limit stands in for DynamoDB's 10 GB.
    let cove = Cove::start_with(
        dir.path(),
        &["--item-collection-limit-bytes", "3000"],
        &[
            ("COVE_ROOT_ACCESS_KEY_ID", crate::common::ROOT_ACCESS_KEY_ID),
            (
                "COVE_ROOT_SECRET_ACCESS_KEY",
                crate::common::ROOT_SECRET_ACCESS_KEY,
            ),
        ],
    );
    let client = cove.client();
    create_indexed(&client).await;
    let blob = "x".repeat(900);
    let mut refused = None;
    for i in 0..10 {
        let res = client
            .put_item()
            .table_name("idx")
            .item("pk", s("full"))
            .item("sk", n(i))
            .item("lsk", n(i))
            .item("blob", s(&blob))
            .return_item_collection_metrics(ReturnItemCollectionMetrics::Size)
            .send()
            .await;
        match res {
            Ok(out) => {
                let m = out.item_collection_metrics().unwrap();
                assert_eq!(m.item_collection_key().unwrap()["pk"], s("full"));
                assert_eq!(m.size_estimate_range_gb(), [0.0, 1.0]);
            }
            Err(e) => {
                refused = Some((i, e.into_service_error()));
                break;
            }
        }
    }
    let (at, err) = refused.expect("the collection hit its limit");
    assert_eq!(
        at, 3,
        "three ~920-byte items fit in 3000 bytes, the fourth does not"
    );
    assert_eq!(err.code(), Some("ItemCollectionSizeLimitExceededException"));
    assert_eq!(err.message(), Some("Collection size exceeded."));
    // Other collections are not affected, and deleting makes room again.
    put(
        &client,
        vec![("pk", s("other")), ("sk", n(1)), ("blob", s(&blob))],
    )
    .await;
    client
        .delete_item()
        .table_name("idx")
        .key("pk", s("full"))
        .key("sk", n(0))
        .send()
        .await
        .unwrap();
    put(
        &client,
        vec![("pk", s("full")), ("sk", n(3)), ("blob", s(&blob))],
    )
    .await;
}
