//! Several `cove serve` nodes on one PostgreSQL database: conditional writes racing from both
//! nodes stay exact, a table created through one node is usable through the other at once, a
//! global index created through one is maintained by the other's writes, and an IAM policy
//! changed through one is enforced by the other within a second. Skipped, saying so, without
//! `COVE_TEST_POSTGRES_URL`.

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeValue, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate, KeyType,
    Projection, ProjectionType, ScalarAttributeType,
};

use crate::common::{
    Cove, ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY, attr, client_for, create_hash_table,
    data_dir, key, postgres_admin, s, shared_database,
};
use crate::raw_http::{exchange, signed_for};

/// Two nodes on one fresh database, each with a data directory of its own (the directories
/// are returned to live as long as the nodes).
fn two_nodes(url: &str) -> (Cove, Cove, Vec<tempfile::TempDir>) {
    let dirs = vec![data_dir(), data_dir()];
    let a = Cove::start_on(dirs[0].path(), url);
    let b = Cove::start_on(dirs[1].path(), url);
    (a, b, dirs)
}

/// The counter's value, read with a consistent read.
async fn counter(client: &Client) -> u64 {
    let out = client
        .get_item()
        .table_name("shared")
        .key("pk", s("counter"))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    match out.item().and_then(|i| i.get("n")) {
        Some(AttributeValue::N(n)) => n.parse().unwrap(),
        _ => 0,
    }
}

/// Increments the counter by one with a read and a write conditional on the value read
/// (optimistic concurrency), retrying after each failed condition; returns how many failed.
async fn increment(client: &Client) -> u32 {
    let mut failures = 0;
    loop {
        let seen = counter(client).await;
        let mut update = client
            .update_item()
            .table_name("shared")
            .key("pk", s("counter"))
            .update_expression("SET n = :next")
            .expression_attribute_values(":next", AttributeValue::N((seen + 1).to_string()));
        update = if seen == 0 {
            update.condition_expression("attribute_not_exists(n)")
        } else {
            update
                .condition_expression("n = :seen")
                .expression_attribute_values(":seen", AttributeValue::N(seen.to_string()))
        };
        match update.send().await {
            Ok(_) => return failures,
            Err(err) => {
                let err = err.into_service_error();
                assert_eq!(
                    err.code(),
                    Some("ConditionalCheckFailedException"),
                    "a racing increment failed otherwise: {err:?}"
                );
                failures += 1;
            }
        }
    }
}

#[tokio::test]
async fn two_nodes_share_tables_items_and_indexes() {
    let Some(url) = shared_database() else {
        return;
    };
    let (a, b, _dirs) = two_nodes(&url);
    let (ca, cb) = (a.client(), b.client());

    // A table created through A is usable through B at once, with no pause between.
    create_hash_table(&ca, "shared").await;
    let listed = cb.list_tables().send().await.unwrap();
    assert_eq!(listed.table_names(), ["shared"]);
    cb.put_item()
        .table_name("shared")
        .item("pk", s("first"))
        .send()
        .await
        .expect("B writes to the table A has just created");
    let described = cb
        .describe_table()
        .table_name("shared")
        .send()
        .await
        .unwrap();
    assert_eq!(described.table().unwrap().table_name(), Some("shared"));

    // Conditional increments racing from both nodes: each success is counted exactly once,
    // and every failure is a ConditionalCheckFailedException.
    const WRITERS_PER_NODE: usize = 3;
    const INCREMENTS: usize = 10;
    let mut tasks = Vec::new();
    for client in [&ca, &cb] {
        for _ in 0..WRITERS_PER_NODE {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let mut failures = 0;
                for _ in 0..INCREMENTS {
                    failures += increment(&client).await;
                }
                failures
            }));
        }
    }
    let mut failures = 0;
    for task in tasks {
        failures += task.await.unwrap();
    }
    let total = (2 * WRITERS_PER_NODE * INCREMENTS) as u64;
    assert_eq!(counter(&ca).await, total);
    assert_eq!(counter(&cb).await, total);
    eprintln!("{total} increments from two nodes, {failures} failed conditions retried");

    // B has the table cached without indexes and keeps writing while A adds a global index:
    // whenever each write commits, before, during or after the backfill, the index ends up
    // with exactly the table's red items.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (cb, stop) = (cb.clone(), std::sync::Arc::clone(&stop));
        tokio::spawn(async move {
            let mut written = 0;
            // Ten more after the index exists, to cover B's next writes too.
            let mut after = 0;
            while after < 10 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    after += 1;
                }
                cb.put_item()
                    .table_name("shared")
                    .item("pk", s(&format!("red{written}")))
                    .item("color", s("red"))
                    .send()
                    .await
                    .expect("B writes while A creates an index");
                written += 1;
            }
            written
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    ca.update_table()
        .table_name("shared")
        .attribute_definitions(attr("color", ScalarAttributeType::S))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .create(
                    CreateGlobalSecondaryIndexAction::builder()
                        .index_name("by_color")
                        .key_schema(key("color", KeyType::Hash))
                        .projection(
                            Projection::builder()
                                .projection_type(ProjectionType::All)
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.unwrap();
    for client in [&ca, &cb] {
        let found = client
            .query()
            .table_name("shared")
            .index_name("by_color")
            .key_condition_expression("color = :c")
            .expression_attribute_values(":c", s("red"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            found.count(),
            written,
            "the index lacks writes made through B"
        );
    }
    eprintln!("{written} writes through B while A created an index, all in the index");

    // Deleted through B, the table's items are purged by whichever node holds the lease.
    cb.delete_table().table_name("shared").send().await.unwrap();
    let left = || {
        // Items (0x02) and tombstones of tables being purged (0x04).
        let sql = "SELECT count(*) FROM cove.kv WHERE get_byte(k, 0) IN (2, 4)".to_string();
        postgres_admin(&url, &[sql])[0].parse::<u64>().unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while left() > 0 {
        assert!(
            Instant::now() < deadline,
            "the deleted table was never purged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends one IAM Query action through `node`, signed by the root key; returns the body.
fn iam(node: &Cove, params: &[(&str, &str)]) -> String {
    let mut body = String::from("Version=2010-05-08");
    for (k, v) in params {
        body.push_str(&format!("&{k}={}", form_encode(v)));
    }
    let headers = [(
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    )];
    let key = (ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY);
    let request = signed_for(node.addr, "iam", &headers, &body, key, SystemTime::now());
    let reply = exchange(node.addr, &request);
    let text = String::from_utf8_lossy(&reply.body).to_string();
    assert_eq!(reply.status, 200, "{params:?}: {text}");
    text
}

fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The text of the first `<tag>` in an XML body.
fn xml_field<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no {tag} in {xml}"))
        + open.len();
    let end = start + xml[start..].find('<').unwrap();
    &xml[start..end]
}

/// Whether GetItem by `client` is denied, asked until it answers `denied` or `limit` passes;
/// returns how long that took.
async fn until_get_item(client: &Client, denied: bool, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let outcome = client
            .get_item()
            .table_name("guarded")
            .key("pk", s("x"))
            .send()
            .await;
        let is_denied = match &outcome {
            Ok(_) => false,
            Err(err) => {
                let code = err.as_service_error().and_then(|e| e.code());
                assert_eq!(code, Some("AccessDeniedException"), "{err:?}");
                true
            }
        };
        if is_denied == denied {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "after {limit:?} GetItem through the other node was still {}",
            if denied { "allowed" } else { "denied" }
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_iam_change_through_one_node_is_enforced_by_the_other_within_a_second() {
    let Some(url) = shared_database() else {
        return;
    };
    let (a, b, _dirs) = two_nodes(&url);
    create_hash_table(&a.client(), "guarded").await;
    iam(&a, &[("Action", "CreateUser"), ("UserName", "reader")]);
    let created = iam(&a, &[("Action", "CreateAccessKey"), ("UserName", "reader")]);
    let (id, secret) = (
        xml_field(&created, "AccessKeyId"),
        xml_field(&created, "SecretAccessKey"),
    );
    let allow = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:*","Resource":"*"}]}"#;
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"dynamodb:GetItem","Resource":"*"}]}"#;
    let put_policy = |name: &str, document: &str| {
        iam(
            &a,
            &[
                ("Action", "PutUserPolicy"),
                ("UserName", "reader"),
                ("PolicyName", name),
                ("PolicyDocument", document),
            ],
        );
    };
    put_policy("allow", allow);
    // The user's key and policy, made through A, work through B.
    let user_on_b = client_for(&b.endpoint(), id, secret);
    let second = Duration::from_secs(1);
    until_get_item(&user_on_b, false, second).await;

    put_policy("deny", deny);
    let took = until_get_item(&user_on_b, true, second).await;
    eprintln!("a deny attached through A was enforced by B after {took:?}");
    iam(
        &a,
        &[
            ("Action", "DeleteUserPolicy"),
            ("UserName", "reader"),
            ("PolicyName", "deny"),
        ],
    );
    let took = until_get_item(&user_on_b, false, second).await;
    eprintln!("its removal through A took effect on B after {took:?}");
}
