//! Query and Scan through aws-sdk-dynamodb: every key-condition operator and its sort order
//! per key type, filters, projections, Select, Limit, paging through a multi-megabyte
//! partition in both directions, filtered pages that are empty but carry LastEvaluatedKey,
//! parallel scans that return every item exactly once, the legacy members, and DynamoDB's
//! errors.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ComparisonOperator, Condition,
    ConditionalOperator, KeySchemaElement, KeyType, ReturnConsumedCapacity, ScalarAttributeType,
    Select,
};

use crate::common::{Cove, data_dir};

type Item = HashMap<String, AttributeValue>;

async fn create(
    client: &Client,
    name: &str,
    hash: ScalarAttributeType,
    range: Option<ScalarAttributeType>,
) {
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(hash)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        );
    if let Some(range) = range {
        req = req
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("sk")
                    .attribute_type(range)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("sk")
                    .key_type(KeyType::Range)
                    .build()
                    .unwrap(),
            );
    }
    req.send().await.expect("create table");
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

async fn put(client: &Client, table: &str, item: Vec<(&str, AttributeValue)>) {
    let item: Item = item.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .expect("put");
}

fn sk_of(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| match &i["sk"] {
            AttributeValue::S(x) | AttributeValue::N(x) => x.clone(),
            AttributeValue::B(b) => format!("{:?}", b.as_ref()),
            other => panic!("unexpected sort key {other:?}"),
        })
        .collect()
}

/// Runs a key-condition query on partition `p` and returns the sort keys in order.
async fn sks(
    client: &Client,
    table: &str,
    cond: &str,
    values: Vec<(&str, AttributeValue)>,
    forward: bool,
) -> Vec<String> {
    let out = client
        .query()
        .table_name(table)
        .key_condition_expression(cond)
        .set_expression_attribute_values(Some(
            values
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        ))
        .scan_index_forward(forward)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{cond}: {:?}", e.into_service_error()));
    assert_eq!(out.count() as usize, out.items().len());
    sk_of(out.items())
}

#[tokio::test]
async fn key_conditions_use_each_key_types_order() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    create(
        &client,
        "nums",
        ScalarAttributeType::S,
        Some(ScalarAttributeType::N),
    )
    .await;
    let numbers = [
        "-100",
        "-1.5",
        "-1",
        "0",
        "0.001",
        "1",
        "1.5",
        "2",
        "10",
        "99999999999999999999",
    ];
    for x in numbers {
        put(&client, "nums", vec![("pk", s("p")), ("sk", n(x))]).await;
    }
    put(&client, "nums", vec![("pk", s("other")), ("sk", n("1"))]).await;
    let p = || (":p_", s("p"));
    let q = |c: &'static str| format!("pk = :p_ AND {c}");
    let all = sks(&client, "nums", "pk = :p_", vec![p()], true).await;
    assert_eq!(all, numbers);
    let mut reversed = numbers.to_vec();
    reversed.reverse();
    assert_eq!(
        sks(&client, "nums", "pk = :p_", vec![p()], false).await,
        reversed
    );
    assert_eq!(
        sks(
            &client,
            "nums",
            &q("sk = :v"),
            vec![p(), (":v", n("1.50"))],
            true
        )
        .await,
        ["1.5"]
    );
    assert_eq!(
        sks(
            &client,
            "nums",
            &q("sk < :v"),
            vec![p(), (":v", n("-1"))],
            true
        )
        .await,
        ["-100", "-1.5"]
    );
    assert_eq!(
        sks(
            &client,
            "nums",
            &q("sk <= :v"),
            vec![p(), (":v", n("-1"))],
            true
        )
        .await,
        ["-100", "-1.5", "-1"]
    );
    assert_eq!(
        sks(
            &client,
            "nums",
            &q("sk > :v"),
            vec![p(), (":v", n("2"))],
            true
        )
        .await,
        ["10", "99999999999999999999"]
    );
    assert_eq!(
        sks(
            &client,
            "nums",
            &q("sk >= :v"),
            vec![p(), (":v", n("2"))],
            true
        )
        .await,
        ["2", "10", "99999999999999999999"]
    );
    assert_eq!(
        sks(
            &client,
            "nums",
            &q(":v <= sk"),
            vec![p(), (":v", n("2"))],
            true
        )
        .await,
        ["2", "10", "99999999999999999999"]
    );
    assert_eq!(
        sks(
            &client,
            "nums",
            &q("sk BETWEEN :a AND :b"),
            vec![p(), (":a", n("-1")), (":b", n("1"))],
            false
        )
        .await,
        ["1", "0.001", "0", "-1"]
    );

    create(
        &client,
        "strs",
        ScalarAttributeType::S,
        Some(ScalarAttributeType::S),
    )
    .await;
    // UTF-8 byte order: "Z" < "a" < "ab" < "b" < "é".
    for x in ["é", "b", "ab", "a", "Z", "a\u{0}b"] {
        put(&client, "strs", vec![("pk", s("p")), ("sk", s(x))]).await;
    }
    assert_eq!(
        sks(&client, "strs", "pk = :p", vec![(":p", s("p"))], true).await,
        ["Z", "a", "a\u{0}b", "ab", "b", "é"]
    );
    assert_eq!(
        sks(
            &client,
            "strs",
            "pk = :p AND begins_with(sk, :x)",
            vec![(":p", s("p")), (":x", s("a"))],
            true
        )
        .await,
        ["a", "a\u{0}b", "ab"]
    );
    assert_eq!(
        sks(
            &client,
            "strs",
            "pk = :p AND begins_with(sk, :x)",
            vec![(":p", s("p")), (":x", s("a\u{0}"))],
            true
        )
        .await,
        ["a\u{0}b"]
    );

    create(
        &client,
        "bins",
        ScalarAttributeType::S,
        Some(ScalarAttributeType::B),
    )
    .await;
    for x in [vec![0xFFu8], vec![0x00], vec![0x00, 0x00], vec![0x7F]] {
        put(
            &client,
            "bins",
            vec![("pk", s("p")), ("sk", AttributeValue::B(Blob::new(x)))],
        )
        .await;
    }
    assert_eq!(
        sks(
            &client,
            "bins",
            "pk = :p AND sk > :x",
            vec![
                (":p", s("p")),
                (":x", AttributeValue::B(Blob::new(vec![0x00])))
            ],
            true
        )
        .await,
        ["[0, 0]", "[127]", "[255]"]
    );
}

async fn query_page(
    client: &Client,
    forward: bool,
    start: Option<Item>,
) -> aws_sdk_dynamodb::operation::query::QueryOutput {
    client
        .query()
        .table_name("big")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p"))
        .scan_index_forward(forward)
        .set_exclusive_start_key(start)
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .expect("query page")
}

#[tokio::test]
async fn pages_stop_at_one_megabyte_in_both_directions() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    create(
        &client,
        "big",
        ScalarAttributeType::S,
        Some(ScalarAttributeType::N),
    )
    .await;
    // 30 items of ~100 KB: about 3 MB in one partition, so at least three pages.
    let blob = "x".repeat(100_000);
    for i in 0..30 {
        put(
            &client,
            "big",
            vec![
                ("pk", s("p")),
                ("sk", n(&i.to_string())),
                ("data", s(&blob)),
            ],
        )
        .await;
    }
    put(&client, "big", vec![("pk", s("q")), ("sk", n("0"))]).await;
    for forward in [true, false] {
        let mut seen = Vec::new();
        let mut start = None;
        let mut pages = 0;
        loop {
            let out = query_page(&client, forward, start.take()).await;
            pages += 1;
            let page_bytes: usize = out.items().len() * 100_000;
            assert!(
                page_bytes <= 1_200_000,
                "a page holds about 1 MB, not {page_bytes}"
            );
            // Capacity: the bytes read, in 4 KB units, halved for an eventually consistent read.
            let units = out.consumed_capacity().unwrap().capacity_units().unwrap();
            assert!(
                units >= (page_bytes as f64 / 4096.0 / 2.0).floor(),
                "{units}"
            );
            seen.extend(
                sk_of(out.items())
                    .into_iter()
                    .map(|x| x.parse::<i32>().unwrap()),
            );
            match out.last_evaluated_key() {
                Some(k) => {
                    assert_eq!(k.len(), 2, "LastEvaluatedKey is the table's key");
                    assert_eq!(k["sk"], n(&seen.last().unwrap().to_string()));
                    start = Some(k.clone());
                }
                None => break,
            }
            assert!(pages < 10, "paging does not end");
        }
        assert!(pages >= 3, "3 MB came in {pages} pages");
        let mut expected: Vec<i32> = (0..30).collect();
        if !forward {
            expected.reverse();
        }
        assert_eq!(seen, expected, "forward={forward}");
    }
}

#[tokio::test]
async fn filters_count_limit_select_and_projection() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    create(
        &client,
        "users",
        ScalarAttributeType::S,
        Some(ScalarAttributeType::N),
    )
    .await;
    for i in 1..=10 {
        let mut item = vec![
            ("pk", s("u")),
            ("sk", n(&i.to_string())),
            ("kind", s(if i % 2 == 0 { "even" } else { "odd" })),
        ];
        item.push((
            "info",
            AttributeValue::M(HashMap::from([
                ("age".to_string(), n(&(i * 10).to_string())),
                ("tag".to_string(), s("t")),
            ])),
        ));
        put(&client, "users", item).await;
    }
    // The filter runs after the read: Limit counts items read, ScannedCount too.
    let out = client
        .query()
        .table_name("users")
        .key_condition_expression("pk = :p")
        .filter_expression("kind = :k AND info.age > :a")
        .expression_attribute_values(":p", s("u"))
        .expression_attribute_values(":k", s("even"))
        .expression_attribute_values(":a", n("30"))
        .limit(6)
        .send()
        .await
        .unwrap();
    assert_eq!(sk_of(out.items()), ["4", "6"]);
    assert_eq!((out.count(), out.scanned_count()), (2, 6));
    assert_eq!(out.last_evaluated_key().unwrap()["sk"], n("6"));

    // A page whose items are all filtered out is empty but still carries LastEvaluatedKey.
    let out = client
        .query()
        .table_name("users")
        .key_condition_expression("pk = :p")
        .filter_expression("kind = :k")
        .expression_attribute_values(":p", s("u"))
        .expression_attribute_values(":k", s("none"))
        .limit(3)
        .send()
        .await
        .unwrap();
    assert!(out.items().is_empty());
    assert_eq!((out.count(), out.scanned_count()), (0, 3));
    assert_eq!(out.last_evaluated_key().unwrap()["sk"], n("3"));

    // Select COUNT returns no items, only the counts.
    let out = client
        .query()
        .table_name("users")
        .key_condition_expression("pk = :p AND sk >= :s")
        .expression_attribute_values(":p", s("u"))
        .expression_attribute_values(":s", n("8"))
        .select(Select::Count)
        .send()
        .await
        .unwrap();
    assert_eq!((out.count(), out.scanned_count()), (3, 3));
    assert!(out.items.is_none(), "COUNT has no Items member");

    // Projections with nested paths and name placeholders.
    let out = client
        .query()
        .table_name("users")
        .key_condition_expression("#k = :p AND sk = :s")
        .projection_expression("sk, info.#a")
        .expression_attribute_names("#k", "pk")
        .expression_attribute_names("#a", "age")
        .expression_attribute_values(":p", s("u"))
        .expression_attribute_values(":s", n("2"))
        .select(Select::SpecificAttributes)
        .send()
        .await
        .unwrap();
    let expected: Item = HashMap::from([
        ("sk".to_string(), n("2")),
        (
            "info".to_string(),
            AttributeValue::M(HashMap::from([("age".to_string(), n("20"))])),
        ),
    ]);
    assert_eq!(out.items(), [expected]);

    // Scan with a filter on a key attribute (allowed for Scan) and a projection.
    let out = client
        .scan()
        .table_name("users")
        .filter_expression("sk BETWEEN :a AND :b AND attribute_exists(info.tag)")
        .projection_expression("sk")
        .expression_attribute_values(":a", n("2"))
        .expression_attribute_values(":b", n("4"))
        .send()
        .await
        .unwrap();
    let mut got = sk_of(out.items());
    got.sort();
    assert_eq!(got, ["2", "3", "4"]);
    assert_eq!(out.scanned_count(), 10);
}

#[tokio::test]
async fn legacy_key_conditions_and_filters() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    create(
        &client,
        "legacy",
        ScalarAttributeType::S,
        Some(ScalarAttributeType::S),
    )
    .await;
    for (sk, color) in [
        ("a1", "red"),
        ("a2", "blue"),
        ("a3", "green"),
        ("b1", "red"),
    ] {
        put(
            &client,
            "legacy",
            vec![
                ("pk", s("p")),
                ("sk", s(sk)),
                ("color", s(color)),
                ("x", n("1")),
            ],
        )
        .await;
    }
    let cond = |op: ComparisonOperator, values: Vec<AttributeValue>| {
        Condition::builder()
            .comparison_operator(op)
            .set_attribute_value_list(Some(values))
            .build()
            .unwrap()
    };
    let out = client
        .query()
        .table_name("legacy")
        .key_conditions("pk", cond(ComparisonOperator::Eq, vec![s("p")]))
        .key_conditions("sk", cond(ComparisonOperator::BeginsWith, vec![s("a")]))
        .query_filter("color", cond(ComparisonOperator::Eq, vec![s("red")]))
        .query_filter("x", cond(ComparisonOperator::Eq, vec![n("2")]))
        .conditional_operator(ConditionalOperator::Or)
        .attributes_to_get("sk")
        .attributes_to_get("color")
        .send()
        .await
        .unwrap();
    let expected: Item =
        HashMap::from([("sk".to_string(), s("a1")), ("color".to_string(), s("red"))]);
    assert_eq!(out.items(), [expected]);
    assert_eq!(out.scanned_count(), 3);

    let out = client
        .scan()
        .table_name("legacy")
        .scan_filter(
            "color",
            cond(ComparisonOperator::In, vec![s("blue"), s("green")]),
        )
        .send()
        .await
        .unwrap();
    let mut got = sk_of(out.items());
    got.sort();
    assert_eq!(got, ["a2", "a3"]);
}

#[tokio::test]
async fn parallel_scans_return_every_item_exactly_once() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    create(
        &client,
        "spread",
        ScalarAttributeType::S,
        Some(ScalarAttributeType::N),
    )
    .await;
    let mut expected = Vec::new();
    for p in 0..60 {
        for k in 0..3 {
            put(
                &client,
                "spread",
                vec![("pk", s(&format!("part-{p}"))), ("sk", n(&k.to_string()))],
            )
            .await;
            expected.push((format!("part-{p}"), k.to_string()));
        }
    }
    expected.sort();
    for total in 1..=16 {
        let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
        for segment in 0..total {
            let mut start = None;
            loop {
                let out = client
                    .scan()
                    .table_name("spread")
                    .segment(segment)
                    .total_segments(total)
                    .limit(7)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .unwrap();
                for item in out.items() {
                    let AttributeValue::S(pk) = &item["pk"] else {
                        panic!()
                    };
                    let AttributeValue::N(sk) = &item["sk"] else {
                        panic!()
                    };
                    *seen.entry((pk.clone(), sk.clone())).or_default() += 1;
                }
                match out.last_evaluated_key() {
                    Some(k) => start = Some(k.clone()),
                    None => break,
                }
            }
        }
        assert!(
            seen.values().all(|&c| c == 1),
            "TotalSegments {total}: an item came twice"
        );
        let keys: Vec<_> = seen.into_keys().collect();
        assert_eq!(keys, expected, "TotalSegments {total}");
    }
}

async fn query_error(
    client: &Client,
    cond: &str,
    filter: Option<&str>,
    values: Vec<(&str, AttributeValue)>,
) -> String {
    let err = client
        .query()
        .table_name("errs")
        .key_condition_expression(cond)
        .set_filter_expression(filter.map(str::to_string))
        .set_expression_attribute_values(Some(
            values
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        ))
        .send()
        .await
        .expect_err(cond)
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"), "{cond}");
    err.message().unwrap_or_default().to_string()
}

#[tokio::test]
async fn query_errors_are_dynamodbs() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    create(
        &client,
        "errs",
        ScalarAttributeType::S,
        Some(ScalarAttributeType::N),
    )
    .await;
    let v = |pairs: &[(&'static str, AttributeValue)]| pairs.to_vec();
    let p = (":p", s("x"));
    assert_eq!(
        query_error(&client, "sk = :n", None, v(&[(":n", n("1"))])).await,
        "Query condition missed key schema element: pk"
    );
    assert_eq!(
        query_error(
            &client,
            "pk = :p OR sk = :n",
            None,
            v(&[p.clone(), (":n", n("1"))])
        )
        .await,
        "Invalid operator used in KeyConditionExpression: OR"
    );
    assert_eq!(
        query_error(
            &client,
            "pk = :p AND sk <> :n",
            None,
            v(&[p.clone(), (":n", n("1"))])
        )
        .await,
        "Invalid operator used in KeyConditionExpression: <>"
    );
    assert_eq!(
        query_error(
            &client,
            "pk = :p AND sk = :n AND sk > :n",
            None,
            v(&[p.clone(), (":n", n("1"))])
        )
        .await,
        "KeyConditionExpressions must only contain one condition per key"
    );
    assert_eq!(
        query_error(&client, "pk > :p", None, v(std::slice::from_ref(&p))).await,
        "Query key condition not supported"
    );
    assert_eq!(
        query_error(
            &client,
            "pk = :p AND sk = :n",
            None,
            v(&[p.clone(), (":n", s("1"))])
        )
        .await,
        "One or more parameter values were invalid: Condition parameter type does not match schema type"
    );
    assert_eq!(
        query_error(
            &client,
            "pk = :p AND attribute_exists(sk)",
            None,
            v(std::slice::from_ref(&p))
        )
        .await,
        "Invalid operator used in KeyConditionExpression: attribute_exists"
    );
    assert_eq!(
        query_error(
            &client,
            "pk = :p AND sk.a = :n",
            None,
            v(&[p.clone(), (":n", n("1"))])
        )
        .await,
        "KeyConditionExpressions cannot have conditions on nested attributes"
    );
    assert_eq!(
        query_error(
            &client,
            "pk = :p",
            Some("sk > :n"),
            v(&[p.clone(), (":n", n("1"))])
        )
        .await,
        "Filter Expression can only contain non-primary key attributes: Primary key attribute: sk"
    );
    assert_eq!(
        query_error(&client, "pk = :p", None, v(&[p.clone(), (":n", n("1"))])).await,
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:n}"
    );
    let err = client
        .query()
        .table_name("errs")
        .index_name("nope")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some("The table does not have the specified index: nope")
    );
    let err = client
        .query()
        .table_name("errs")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("x"))
        .exclusive_start_key("pk", s("y"))
        .exclusive_start_key("sk", n("1"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some("The provided starting key is outside query boundaries based on provided conditions")
    );
    let err = client
        .scan()
        .table_name("errs")
        .exclusive_start_key("pk", s("y"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some(
            "The provided starting key is invalid: The provided key element does not match the schema"
        )
    );
    let err = client
        .scan()
        .table_name("missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
}
