//! Durability: every write the server acknowledged is there after SIGKILL and a restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};

use crate::common::{Cove, data_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = data_dir();
    let mut cove = Cove::start(dir.path());
    let client = cove.client();
    client
        .create_table()
        .table_name("crash")
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();

    // Four writers put items as fast as they can; each records a key only once the server
    // has acknowledged it.
    let acknowledged = Arc::new(Mutex::new(HashMap::new()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let client = client.clone();
        let acknowledged = Arc::clone(&acknowledged);
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let pk = format!("w{w}-{i}");
                let value = format!("value-{w}-{i}-{}", "x".repeat(i % 50));
                let put = client
                    .put_item()
                    .table_name("crash")
                    .item("pk", AttributeValue::S(pk.clone()))
                    .item("v", AttributeValue::S(value.clone()))
                    .send()
                    .await;
                match put {
                    Ok(_) => {
                        acknowledged.lock().unwrap().insert(pk, value);
                    }
                    Err(_) => break,
                }
            }
        }));
    }
    // Kill in the middle of the stream of writes, once a good number are acknowledged.
    for _ in 0..200 {
        if acknowledged.lock().unwrap().len() >= 300 {
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
        acknowledged.len() >= 300,
        "only {} writes were acknowledged",
        acknowledged.len()
    );

    let cove = Cove::start(dir.path());
    let client = cove.client();
    for (pk, value) in &acknowledged {
        let got = client
            .get_item()
            .table_name("crash")
            .key("pk", AttributeValue::S(pk.clone()))
            .send()
            .await
            .unwrap();
        let item = got
            .item
            .unwrap_or_else(|| panic!("acknowledged item {pk} lost"));
        assert_eq!(item["v"], AttributeValue::S(value.clone()));
    }
    let count = client
        .describe_table()
        .table_name("crash")
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .item_count()
        .unwrap();
    // Writes in flight at the kill may or may not have landed, but none that were
    // acknowledged is missing, and the count covers at least those.
    assert!(
        count >= acknowledged.len() as i64,
        "count {count} < {}",
        acknowledged.len()
    );
}

/// What the writers of the crash harness were told succeeded.
#[derive(Default)]
struct Acked {
    /// Plain puts: key -> value.
    puts: HashMap<String, String>,
    /// Conditional counters: key -> highest acknowledged value.
    counters: HashMap<String, i64>,
    /// Transactions writing two items that must appear together.
    pairs: Vec<(String, String)>,
}

fn rounds() -> usize {
    std::env::var("COVE_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// The crash harness: a mixed write load (puts, conditional updates, transactions) on a table
/// with a global index, killed with SIGKILL at varying moments, `COVE_CRASH_ROUNDS` times
/// (20 by default; the long version is `COVE_CRASH_ROUNDS=200 cargo test -p cove-cli --test it
/// crash_harness`). After every kill the SQLite file passes `PRAGMA integrity_check`; at the
/// end every acknowledged write is there, no transaction is half-applied, and the index holds
/// exactly what a recomputation from the table says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_harness_kills_repeatedly_and_loses_nothing() {
    use aws_sdk_dynamodb::types::{
        GlobalSecondaryIndex, Projection, ProjectionType, Put, TransactWriteItem,
    };
    let dir = data_dir();
    let acked = Arc::new(Mutex::new(Acked::default()));
    let rounds = rounds();
    for round in 0..rounds {
        let mut cove = Cove::start(dir.path());
        let client = cove.client();
        if round == 0 {
            client
                .create_table()
                .table_name("harness")
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name("pk")
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .unwrap(),
                )
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name("g")
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .unwrap(),
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name("pk")
                        .key_type(KeyType::Hash)
                        .build()
                        .unwrap(),
                )
                .global_secondary_indexes(
                    GlobalSecondaryIndex::builder()
                        .index_name("by_g")
                        .key_schema(
                            KeySchemaElement::builder()
                                .attribute_name("g")
                                .key_type(KeyType::Hash)
                                .build()
                                .unwrap(),
                        )
                        .projection(
                            Projection::builder()
                                .projection_type(ProjectionType::All)
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
        }
        let mut writers = Vec::new();
        for w in 0..3usize {
            let client = client.clone();
            let acked = Arc::clone(&acked);
            writers.push(tokio::spawn(async move {
                for i in 0usize.. {
                    let result: Result<(), ()> = match (w, i % 3) {
                        (0, _) => {
                            let pk = format!("put-{round}-{i}");
                            let v = format!("v{i}");
                            client
                                .put_item()
                                .table_name("harness")
                                .item("pk", AttributeValue::S(pk.clone()))
                                .item("v", AttributeValue::S(v.clone()))
                                .item("g", AttributeValue::S(format!("g{}", i % 7)))
                                .send()
                                .await
                                .map(|_| {
                                    acked.lock().unwrap().puts.insert(pk, v);
                                })
                                .map_err(|_| ())
                        }
                        (1, _) => {
                            // A counter moved only by conditional updates: a lost or doubled
                            // update would show as a value that was never acknowledged.
                            let pk = format!("counter-{}", i % 5);
                            let current = *acked.lock().unwrap().counters.get(&pk).unwrap_or(&0);
                            let update = client
                                .update_item()
                                .table_name("harness")
                                .key("pk", AttributeValue::S(pk.clone()))
                                .update_expression("SET n = :next, g = :g")
                                .condition_expression("attribute_not_exists(n) OR n = :cur")
                                .expression_attribute_values(
                                    ":next",
                                    AttributeValue::N((current + 1).to_string()),
                                )
                                .expression_attribute_values(
                                    ":cur",
                                    AttributeValue::N(current.to_string()),
                                )
                                .expression_attribute_values(
                                    ":g",
                                    AttributeValue::S("counters".into()),
                                )
                                .send()
                                .await;
                            match update {
                                Ok(_) => {
                                    acked.lock().unwrap().counters.insert(pk, current + 1);
                                    Ok(())
                                }
                                // An update sent just before an earlier kill landed without its
                                // acknowledgement: take the stored value as the new base.
                                Err(e)
                                    if e.as_service_error().and_then(|s| s.code())
                                        == Some("ConditionalCheckFailedException") =>
                                {
                                    let stored = client
                                        .get_item()
                                        .table_name("harness")
                                        .key("pk", AttributeValue::S(pk.clone()))
                                        .consistent_read(true)
                                        .send()
                                        .await;
                                    match stored
                                        .ok()
                                        .and_then(|o| o.item)
                                        .and_then(|i| i.get("n").cloned())
                                    {
                                        Some(AttributeValue::N(n)) => {
                                            let n: i64 = n.parse().unwrap_or(-1);
                                            assert_eq!(
                                                n,
                                                current + 1,
                                                "{pk}: acknowledged {current}, found {n}"
                                            );
                                            acked.lock().unwrap().counters.insert(pk, n);
                                            Ok(())
                                        }
                                        _ => Err(()),
                                    }
                                }
                                Err(_) => Err(()),
                            }
                        }
                        _ => {
                            let (l, r) = (format!("l-{round}-{i}"), format!("r-{round}-{i}"));
                            let put = |id: &str| {
                                TransactWriteItem::builder()
                                    .put(
                                        Put::builder()
                                            .table_name("harness")
                                            .item("pk", AttributeValue::S(id.into()))
                                            .item("g", AttributeValue::S("pairs".into()))
                                            .build()
                                            .unwrap(),
                                    )
                                    .build()
                            };
                            client
                                .transact_write_items()
                                .transact_items(put(&l))
                                .transact_items(put(&r))
                                .send()
                                .await
                                .map(|_| acked.lock().unwrap().pairs.push((l, r)))
                                .map_err(|_| ())
                        }
                    };
                    if result.is_err() {
                        break;
                    }
                }
            }));
        }
        // Kill at a different moment each round.
        tokio::time::sleep(Duration::from_millis(150 + (round as u64 * 37) % 350)).await;
        cove.kill9();
        for w in writers {
            let _ = w.await;
        }
        let db = dir.path().join("cove.sqlite3");
        let conn = rusqlite::Connection::open(&db).expect("open the database file");
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "integrity check after kill {round}");
    }

    let cove = Cove::start(dir.path());
    let client = cove.client();
    let mut base = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name("harness")
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        base.extend(page.items().iter().cloned());
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    let by_key: HashMap<String, &HashMap<String, AttributeValue>> = base
        .iter()
        .map(|i| match &i["pk"] {
            AttributeValue::S(pk) => (pk.clone(), i),
            _ => panic!("bad key"),
        })
        .collect();
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        acked.puts.len() + acked.pairs.len() > 10 * rounds,
        "too little was acknowledged to prove anything"
    );
    for (pk, v) in &acked.puts {
        let item = by_key
            .get(pk)
            .unwrap_or_else(|| panic!("acknowledged put {pk} lost"));
        assert_eq!(item["v"], AttributeValue::S(v.clone()));
    }
    for (pk, n) in &acked.counters {
        let item = by_key
            .get(pk)
            .unwrap_or_else(|| panic!("counter {pk} lost"));
        let AttributeValue::N(stored) = &item["n"] else {
            panic!()
        };
        let stored: i64 = stored.parse().unwrap();
        // The last update may have landed without its acknowledgement, never more than that.
        assert!(
            stored == *n || stored == n + 1,
            "{pk}: acknowledged {n}, stored {stored}"
        );
    }
    for (l, r) in &acked.pairs {
        assert!(
            by_key.contains_key(l) && by_key.contains_key(r),
            "transaction {l}/{r} lost"
        );
    }
    for pk in by_key.keys() {
        let partner = if let Some(rest) = pk.strip_prefix("l-") {
            format!("r-{rest}")
        } else if let Some(rest) = pk.strip_prefix("r-") {
            format!("l-{rest}")
        } else {
            continue;
        };
        assert!(
            by_key.contains_key(&partner),
            "half a transaction: {pk} without {partner}"
        );
    }
    // The index holds exactly the base items that have its key.
    let mut indexed = 0;
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name("harness")
            .index_name("by_g")
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        for item in page.items() {
            let AttributeValue::S(pk) = &item["pk"] else {
                panic!()
            };
            let base_item = by_key
                .get(pk)
                .unwrap_or_else(|| panic!("index entry {pk} without an item"));
            assert_eq!(
                item, *base_item,
                "index entry for {pk} differs from the item"
            );
            indexed += 1;
        }
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    assert_eq!(
        indexed,
        base.iter().filter(|i| i.contains_key("g")).count(),
        "index and table disagree"
    );
    eprintln!(
        "crash harness: {rounds} kills, {} puts, {} counters, {} transactions checked, no loss",
        acked.puts.len(),
        acked.counters.len(),
        acked.pairs.len()
    );
}
