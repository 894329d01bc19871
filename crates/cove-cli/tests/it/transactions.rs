//! Batches and transactions through aws-sdk-dynamodb: BatchWriteItem and BatchGetItem with
//! their limits and errors, TransactWriteItems (all or nothing, CancellationReasons in
//! request order with ALL_OLD items, one operation per item, ClientRequestToken
//! idempotency), TransactGetItems, 32 clients moving money between hot items without losing
//! any, and SIGKILL in the middle of a stream of transactions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, DeleteRequest, Get,
    KeySchemaElement, KeyType, KeysAndAttributes, Put, PutRequest, ReturnConsumedCapacity,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TransactGetItem, TransactWriteItem,
    Update, WriteRequest,
};

use crate::common::{Cove, data_dir};

type Item = HashMap<String, AttributeValue>;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(id: &str) -> Item {
    HashMap::from([("id".to_string(), s(id))])
}

async fn table(client: &Client, name: &str) {
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create table");
}

fn put_request(id: &str, v: i64) -> WriteRequest {
    WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .item("id", s(id))
                .item("v", n(v))
                .build()
                .unwrap(),
        )
        .build()
}

async fn get(client: &Client, table: &str, id: &str) -> Option<Item> {
    client
        .get_item()
        .table_name(table)
        .key("id", s(id))
        .send()
        .await
        .unwrap()
        .item
}

#[tokio::test]
async fn batch_writes_and_gets() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    table(&client, "one").await;
    table(&client, "two").await;
    let out = client
        .batch_write_item()
        .request_items(
            "one",
            (0..15).map(|i| put_request(&format!("a{i}"), i)).collect(),
        )
        .request_items(
            "two",
            (0..10).map(|i| put_request(&format!("b{i}"), i)).collect(),
        )
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    assert!(out.unprocessed_items().unwrap().is_empty());
    let mut consumed: Vec<(String, f64)> = out
        .consumed_capacity()
        .iter()
        .map(|c| {
            (
                c.table_name().unwrap().to_string(),
                c.capacity_units().unwrap(),
            )
        })
        .collect();
    consumed.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        consumed,
        [("one".to_string(), 15.0), ("two".to_string(), 10.0)]
    );

    // Deletes and puts mix; the batch is applied whole.
    client
        .batch_write_item()
        .request_items(
            "one",
            vec![
                WriteRequest::builder()
                    .delete_request(
                        DeleteRequest::builder()
                            .set_key(Some(key("a0")))
                            .build()
                            .unwrap(),
                    )
                    .build(),
                put_request("a99", 99),
            ],
        )
        .send()
        .await
        .unwrap();
    assert!(get(&client, "one", "a0").await.is_none());
    assert_eq!(get(&client, "one", "a99").await.unwrap()["v"], n(99));

    let err = |e: aws_sdk_dynamodb::error::SdkError<_, _>| -> String {
        let e: aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemError =
            e.into_service_error();
        format!(
            "{}: {}",
            e.code().unwrap_or_default(),
            e.message().unwrap_or_default()
        )
    };
    let dup = client
        .batch_write_item()
        .request_items("one", vec![put_request("x", 1), put_request("x", 2)])
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err(dup),
        "ValidationException: Provided list of item keys contains duplicates"
    );
    let too_many = client
        .batch_write_item()
        .request_items(
            "one",
            (0..13).map(|i| put_request(&format!("c{i}"), i)).collect(),
        )
        .request_items(
            "two",
            (0..13).map(|i| put_request(&format!("c{i}"), i)).collect(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err(too_many),
        "ValidationException: Too many items requested for the BatchWriteItem call"
    );
    let bad_key = client
        .batch_write_item()
        .request_items(
            "one",
            vec![
                WriteRequest::builder()
                    .put_request(PutRequest::builder().item("nope", s("x")).build().unwrap())
                    .build(),
            ],
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err(bad_key),
        "ValidationException: The provided key element does not match the schema"
    );
    let missing = client
        .batch_write_item()
        .request_items("missing", vec![put_request("x", 1)])
        .send()
        .await
        .unwrap_err();
    assert!(err(missing).starts_with("ResourceNotFoundException"));
    assert!(
        get(&client, "one", "c0").await.is_none(),
        "refused batches wrote nothing"
    );

    // BatchGetItem across tables, with a projection; absent keys are simply not returned.
    let out = client
        .batch_get_item()
        .request_items(
            "one",
            KeysAndAttributes::builder()
                .keys(key("a1"))
                .keys(key("a2"))
                .keys(key("absent"))
                .projection_expression("#v")
                .expression_attribute_names("#v", "v")
                .build()
                .unwrap(),
        )
        .request_items(
            "two",
            KeysAndAttributes::builder()
                .keys(key("b3"))
                .consistent_read(true)
                .build()
                .unwrap(),
        )
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    let responses = out.responses().unwrap();
    let mut one: Vec<&AttributeValue> = responses["one"].iter().map(|i| &i["v"]).collect();
    one.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(one, [&n(1), &n(2)]);
    assert!(
        responses["one"].iter().all(|i| i.len() == 1),
        "projection keeps only v"
    );
    assert_eq!(responses["two"][0]["id"], s("b3"));
    assert!(out.unprocessed_keys().unwrap().is_empty());
    assert_eq!(out.consumed_capacity().len(), 2);

    let gerr = |e: aws_sdk_dynamodb::error::SdkError<_, _>| -> String {
        let e: aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemError =
            e.into_service_error();
        format!(
            "{}: {}",
            e.code().unwrap_or_default(),
            e.message().unwrap_or_default()
        )
    };
    let dup = client
        .batch_get_item()
        .request_items(
            "one",
            KeysAndAttributes::builder()
                .keys(key("a1"))
                .keys(key("a1"))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        gerr(dup),
        "ValidationException: Provided list of item keys contains duplicates"
    );
    let many = client
        .batch_get_item()
        .request_items(
            "one",
            KeysAndAttributes::builder()
                .set_keys(Some((0..60).map(|i| key(&format!("k{i}"))).collect()))
                .build()
                .unwrap(),
        )
        .request_items(
            "two",
            KeysAndAttributes::builder()
                .set_keys(Some((0..41).map(|i| key(&format!("k{i}"))).collect()))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        gerr(many),
        "ValidationException: Too many items requested for the BatchGetItem call"
    );
}

fn update_balance(table: &str, id: &str, delta: i64, guard: bool) -> TransactWriteItem {
    let mut u = Update::builder()
        .table_name(table)
        .set_key(Some(key(id)))
        .update_expression("SET bal = bal + :d")
        .expression_attribute_values(":d", n(delta));
    if guard {
        u = u
            .condition_expression("bal >= :need")
            .expression_attribute_values(":need", n(-delta));
    }
    TransactWriteItem::builder()
        .update(u.build().unwrap())
        .build()
}

#[tokio::test]
async fn transactions_are_all_or_nothing_with_reasons() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    table(&client, "bank").await;
    table(&client, "audit").await;
    for (id, bal) in [("alice", 100), ("bob", 0)] {
        client
            .put_item()
            .table_name("bank")
            .item("id", s(id))
            .item("bal", n(bal))
            .send()
            .await
            .unwrap();
    }
    // A transfer across two tables: both updates and the audit record, or nothing.
    client
        .transact_write_items()
        .transact_items(update_balance("bank", "alice", -30, true))
        .transact_items(update_balance("bank", "bob", 30, false))
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name("audit")
                        .item("id", s("t1"))
                        .item("amount", n(30))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(get(&client, "bank", "alice").await.unwrap()["bal"], n(70));
    assert_eq!(get(&client, "bank", "bob").await.unwrap()["bal"], n(30));
    assert!(get(&client, "audit", "t1").await.is_some());

    // The second action's condition fails: reasons in request order, the item with ALL_OLD,
    // and nothing applied.
    let err = client
        .transact_write_items()
        .transact_items(update_balance("bank", "bob", 500, false))
        .transact_items(
            TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name("bank")
                        .set_key(Some(key("alice")))
                        .condition_expression("bal >= :x")
                        .expression_attribute_values(":x", n(500))
                        .return_values_on_condition_check_failure(
                            ReturnValuesOnConditionCheckFailure::AllOld,
                        )
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name("audit")
                        .set_key(Some(key("t1")))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let TransactWriteItemsError::TransactionCanceledException(cancel) = err else {
        panic!("expected TransactionCanceledException, got {err:?}");
    };
    assert_eq!(
        cancel.message(),
        Some(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed, None]"
        )
    );
    let reasons = cancel.cancellation_reasons();
    let codes: Vec<&str> = reasons
        .iter()
        .map(|r| r.code().unwrap_or_default())
        .collect();
    assert_eq!(codes, ["None", "ConditionalCheckFailed", "None"]);
    assert_eq!(reasons[1].message(), Some("The conditional request failed"));
    assert_eq!(reasons[1].item().unwrap()["bal"], n(70));
    assert!(reasons[0].item().is_none());
    assert_eq!(
        get(&client, "bank", "bob").await.unwrap()["bal"],
        n(30),
        "nothing applied"
    );
    assert!(
        get(&client, "audit", "t1").await.is_some(),
        "nothing applied"
    );

    // One item twice in a transaction is refused before anything runs.
    let err = client
        .transact_write_items()
        .transact_items(update_balance("bank", "bob", 1, false))
        .transact_items(update_balance("bank", "bob", 1, false))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(
        err.message(),
        Some("Transaction request cannot include multiple operations on one item")
    );

    // A ClientRequestToken makes a retry a no-op; reusing it for other parameters is refused.
    for _ in 0..3 {
        client
            .transact_write_items()
            .client_request_token("transfer-42")
            .transact_items(update_balance("bank", "alice", -10, true))
            .transact_items(update_balance("bank", "bob", 10, false))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        get(&client, "bank", "alice").await.unwrap()["bal"],
        n(60),
        "applied once"
    );
    let err = client
        .transact_write_items()
        .client_request_token("transfer-42")
        .transact_items(update_balance("bank", "alice", -20, true))
        .transact_items(update_balance("bank", "bob", 20, false))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("IdempotentParameterMismatchException"));

    // TransactGetItems reads one moment: absent items come back empty, in request order.
    let out = client
        .transact_get_items()
        .transact_items(
            TransactGetItem::builder()
                .get(
                    Get::builder()
                        .table_name("bank")
                        .set_key(Some(key("alice")))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactGetItem::builder()
                .get(
                    Get::builder()
                        .table_name("bank")
                        .set_key(Some(key("nobody")))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactGetItem::builder()
                .get(
                    Get::builder()
                        .table_name("bank")
                        .set_key(Some(key("bob")))
                        .projection_expression("bal")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let responses = out.responses();
    assert_eq!(responses.len(), 3);
    assert_eq!(responses[0].item().unwrap()["bal"], n(60));
    assert!(responses[1].item().is_none());
    assert_eq!(
        responses[2].item().unwrap(),
        &HashMap::from([("bal".to_string(), n(40))])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transfers_lose_nothing() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    table(&client, "hot").await;
    let accounts = ["a", "b", "c", "d"];
    for id in accounts {
        client
            .put_item()
            .table_name("hot")
            .item("id", s(id))
            .item("bal", n(1000))
            .send()
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for w in 0..32usize {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut cancelled) = (0, 0);
            for i in 0..15usize {
                let from = accounts[(w + i) % 4];
                let to = accounts[(w + 2 * i + 1) % 4];
                if from == to {
                    continue;
                }
                let amount = ((w * 7 + i * 13) % 300) as i64;
                let result = if i % 3 == 0 {
                    // A conditional single-item update races the transactions.
                    client
                        .update_item()
                        .table_name("hot")
                        .key("id", s(from))
                        .update_expression("SET touched = if_not_exists(touched, :z) + :one")
                        .condition_expression("bal >= :z")
                        .expression_attribute_values(":z", n(0))
                        .expression_attribute_values(":one", n(1))
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| {
                            e.into_service_error()
                                .code()
                                .unwrap_or_default()
                                .to_string()
                        })
                } else {
                    client
                        .transact_write_items()
                        .transact_items(update_balance("hot", from, -amount, true))
                        .transact_items(update_balance("hot", to, amount, false))
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| {
                            e.into_service_error()
                                .code()
                                .unwrap_or_default()
                                .to_string()
                        })
                };
                match result {
                    Ok(()) => ok += 1,
                    Err(code) if code == "TransactionCanceledException" => cancelled += 1,
                    Err(other) => panic!("unexpected failure {other}"),
                }
            }
            (ok, cancelled)
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap().0;
    }
    assert!(ok > 100, "only {ok} operations succeeded");
    let mut total = 0;
    for id in accounts {
        let item = get(&client, "hot", id).await.unwrap();
        let AttributeValue::N(bal) = &item["bal"] else {
            panic!()
        };
        let bal: i64 = bal.parse().unwrap();
        assert!(bal >= 0, "{id} went negative: {bal}");
        total += bal;
    }
    assert_eq!(total, 4000, "money was created or lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_transactions_survive_kill_9_whole() {
    let dir = data_dir();
    let mut cove = Cove::start(dir.path());
    let client = cove.client();
    table(&client, "pairs").await;
    // Each transaction writes two items that must appear together, or not at all.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let client = client.clone();
        let acknowledged = Arc::clone(&acknowledged);
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let (left, right) = (format!("l{w}-{i}"), format!("r{w}-{i}"));
                let put = |id: &str| {
                    TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .table_name("pairs")
                                .item("id", s(id))
                                .item("w", n(i))
                                .build()
                                .unwrap(),
                        )
                        .build()
                };
                match client
                    .transact_write_items()
                    .transact_items(put(&left))
                    .transact_items(put(&right))
                    .send()
                    .await
                {
                    Ok(_) => acknowledged.lock().unwrap().push((left, right)),
                    Err(_) => break,
                }
            }
        }));
    }
    for _ in 0..200 {
        if acknowledged.lock().unwrap().len() >= 150 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    cove.kill9();
    for w in writers {
        let _ = w.await;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 150,
        "only {} acknowledged",
        acknowledged.len()
    );
    let cove = Cove::start(dir.path());
    let client = cove.client();
    for (left, right) in &acknowledged {
        assert!(get(&client, "pairs", left).await.is_some(), "{left} lost");
        assert!(get(&client, "pairs", right).await.is_some(), "{right} lost");
    }
    // No transaction is half-applied: every item's partner is there too.
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name("pairs")
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        for item in page.items() {
            let AttributeValue::S(id) = &item["id"] else {
                panic!()
            };
            let partner = if let Some(rest) = id.strip_prefix('l') {
                format!("r{rest}")
            } else {
                format!("l{}", &id[1..])
            };
            assert!(
                get(&client, "pairs", &partner).await.is_some(),
                "{id} without {partner}"
            );
        }
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
}

#[tokio::test]
async fn batch_get_stops_at_16_megabytes_with_unprocessed_keys() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    table(&client, "big").await;
    // 45 items of ~390 KB: about 17.5 MB, more than one BatchGetItem answers.
    let blob = "x".repeat(390_000);
    for i in 0..45 {
        client
            .put_item()
            .table_name("big")
            .item("id", s(&format!("k{i:02}")))
            .item("blob", s(&blob))
            .send()
            .await
            .unwrap();
    }
    let keys: Vec<Item> = (0..45).map(|i| key(&format!("k{i:02}"))).collect();
    let out = client
        .batch_get_item()
        .request_items(
            "big",
            KeysAndAttributes::builder()
                .set_keys(Some(keys.clone()))
                .consistent_read(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let got = out.responses().unwrap()["big"].len();
    let unprocessed = out.unprocessed_keys().unwrap()["big"].clone();
    assert!((40..45).contains(&got), "{got} items came back");
    assert_eq!(
        got + unprocessed.keys().len(),
        45,
        "every key is returned or unprocessed"
    );
    assert_eq!(
        unprocessed.consistent_read(),
        Some(true),
        "the rest of the request is kept"
    );
    // Resending the unprocessed keys fetches the rest.
    let rest = client
        .batch_get_item()
        .request_items("big", unprocessed)
        .send()
        .await
        .unwrap();
    assert_eq!(rest.responses().unwrap()["big"].len(), 45 - got);
}
