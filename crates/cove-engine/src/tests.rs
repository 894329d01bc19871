//! Engine tests over the in-memory reference backend: table lifecycle, item round trips,
//! key validation messages, counters, and the purge of deleted tables.

use serde_json::json;

use cove_storage::Storage;
use cove_storage::memory::MemoryBackend;
use cove_wire::input::{
    CreateTableInput, DeleteItemInput, GetItemInput, ListTablesInput, PutItemInput,
    UpdateTableInput,
};

use super::*;

fn scope() -> Scope {
    Scope {
        account_id: "000000000000".into(),
        region: "us-east-1".into(),
    }
}

fn engine() -> Engine {
    Engine::open(Storage::new(MemoryBackend::new())).unwrap()
}

fn create(engine: &Engine, name: &str) {
    let body = json!({
        "TableName": name,
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "BillingMode": "PAY_PER_REQUEST"
    });
    engine
        .create_table(
            &scope(),
            CreateTableInput::decode(body.as_object().unwrap()).unwrap(),
        )
        .unwrap();
}

fn put(engine: &Engine, table: &str, item: serde_json::Value) -> Result<PutItemOutput> {
    let body = json!({"TableName": table, "Item": item, "ReturnValues": "ALL_OLD"});
    engine.put_item(
        &scope(),
        PutItemInput::decode(body.as_object().unwrap()).unwrap(),
    )
}

fn get(engine: &Engine, table: &str, key: serde_json::Value) -> Result<GetItemOutput> {
    let body = json!({"TableName": table, "Key": key});
    engine.get_item(
        &scope(),
        GetItemInput::decode(body.as_object().unwrap()).unwrap(),
    )
}

#[test]
fn table_lifecycle() {
    let e = engine();
    create(&e, "books");
    let err = e
        .create_table(
            &scope(),
            CreateTableInput::decode(
                json!({"TableName": "books", "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                       "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}], "BillingMode": "PAY_PER_REQUEST"})
                .as_object()
                .unwrap(),
            )
            .unwrap(),
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "Table already exists: books");
    let d = e.describe_table(&scope(), "books").unwrap();
    assert_eq!(d.status, "ACTIVE");
    assert_eq!(d.arn, "arn:aws:dynamodb:us-east-1:000000000000:table/books");
    // The ARN form of the name resolves to the same table.
    assert_eq!(e.describe_table(&scope(), &d.arn).unwrap().id, d.id);
    create(&e, "authors");
    let (page, last) = e
        .list_tables(
            &scope(),
            &ListTablesInput {
                exclusive_start_table_name: None,
                limit: 1,
            },
        )
        .unwrap();
    assert_eq!(
        (page, last.clone()),
        (vec!["authors".to_string()], Some("authors".to_string()))
    );
    let (page, last) = e
        .list_tables(
            &scope(),
            &ListTablesInput {
                exclusive_start_table_name: last,
                limit: 1,
            },
        )
        .unwrap();
    assert_eq!((page, last), (vec!["books".to_string()], None));
    let other_region = Scope {
        region: "eu-west-1".into(),
        ..scope()
    };
    assert!(
        e.list_tables(
            &other_region,
            &ListTablesInput {
                exclusive_start_table_name: None,
                limit: 100
            }
        )
        .unwrap()
        .0
        .is_empty()
    );

    let upd = UpdateTableInput::decode(
        json!({"TableName": "books", "DeletionProtectionEnabled": true})
            .as_object()
            .unwrap(),
    )
    .unwrap();
    assert!(e.update_table(&scope(), upd).unwrap().deletion_protection);
    let err = e.delete_table(&scope(), "books").unwrap_err();
    assert!(
        err.to_string().starts_with("Resource cannot be deleted"),
        "{err}"
    );
    let upd = UpdateTableInput::decode(
        json!({"TableName": "books", "DeletionProtectionEnabled": false})
            .as_object()
            .unwrap(),
    )
    .unwrap();
    e.update_table(&scope(), upd).unwrap();
    assert_eq!(
        e.delete_table(&scope(), "books").unwrap().status,
        "DELETING"
    );
    assert_eq!(
        e.describe_table(&scope(), "books").unwrap_err().to_string(),
        "Requested resource not found: Table: books not found"
    );
}

#[test]
fn items_round_trip_and_counts_follow() {
    let e = engine();
    create(&e, "tab1");
    let first = put(
        &e,
        "tab1",
        json!({"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"S": "one"}}),
    )
    .unwrap();
    assert!(first.old_item.is_none());
    let second = put(
        &e,
        "tab1",
        json!({"pk": {"S": "a"}, "sk": {"N": "1.0"}, "v": {"S": "two"}}),
    )
    .unwrap();
    // 1 and 1.0 are the same number, so the second put replaced the first item.
    assert_eq!(
        second.old_item.unwrap()["v"],
        cove_types::AttributeValue::S("one".into())
    );
    let got = get(&e, "tab1", json!({"pk": {"S": "a"}, "sk": {"N": "1"}})).unwrap();
    assert_eq!(
        got.item.unwrap()["v"],
        cove_types::AttributeValue::S("two".into())
    );
    assert_eq!(got.consumed.read_units, 0.5);
    let d = e.describe_table(&scope(), "tab1").unwrap();
    assert_eq!(d.item_count, 1);
    assert!(d.size_bytes > 0);
    let del = DeleteItemInput::decode(json!({"TableName": "tab1", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}, "ReturnValues": "ALL_OLD"}).as_object().unwrap()).unwrap();
    assert!(e.delete_item(&scope(), del).unwrap().old_item.is_some());
    assert_eq!(e.describe_table(&scope(), "tab1").unwrap().item_count, 0);
    assert!(
        get(&e, "tab1", json!({"pk": {"S": "a"}, "sk": {"N": "1"}}))
            .unwrap()
            .item
            .is_none()
    );
}

#[test]
fn key_errors_use_dynamodb_messages() {
    let e = engine();
    create(&e, "tab1");
    let msg = |r: Result<PutItemOutput>| r.err().unwrap().to_string();
    assert_eq!(
        msg(put(&e, "tab1", json!({"pk": {"S": "a"}}))),
        "One or more parameter values were invalid: Missing the key sk in the item"
    );
    assert_eq!(
        msg(put(&e, "tab1", json!({"pk": {"N": "1"}, "sk": {"N": "1"}}))),
        "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N"
    );
    assert_eq!(
        msg(put(&e, "tab1", json!({"pk": {"S": ""}, "sk": {"N": "1"}}))),
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk"
    );
    assert_eq!(
        msg(put(
            &e,
            "tab1",
            json!({"pk": {"S": "x".repeat(2049)}, "sk": {"N": "1"}})
        )),
        "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes"
    );
    assert_eq!(
        get(&e, "tab1", json!({"pk": {"S": "a"}}))
            .err()
            .unwrap()
            .to_string(),
        "The provided key element does not match the schema"
    );
    assert_eq!(
        get(&e, "tab1", json!({"pk": {"S": "a"}, "sk": {"S": "1"}}))
            .err()
            .unwrap()
            .to_string(),
        "The provided key element does not match the schema"
    );
    assert_eq!(
        get(&e, "nope", json!({"pk": {"S": "a"}}))
            .err()
            .unwrap()
            .to_string(),
        "Requested resource not found"
    );
}

#[test]
fn deleted_tables_are_purged_and_names_reusable() {
    let storage = Storage::new(MemoryBackend::new());
    let e = Engine::open(storage.clone()).unwrap();
    create(&e, "tab1");
    for i in 0..150 {
        put(
            &e,
            "tab1",
            json!({"pk": {"S": format!("k{i}")}, "sk": {"N": "1"}}),
        )
        .unwrap();
    }
    e.delete_table(&scope(), "tab1").unwrap();
    // Reopening finishes any purge the background thread had not completed.
    drop(e);
    let e = Engine::open(storage.clone()).unwrap();
    let items = storage
        .scan(
            &cove_storage::KeyRange::prefix(&[keys::ITEM]),
            Default::default(),
        )
        .unwrap();
    assert!(items.is_empty(), "{} items left", items.len());
    create(&e, "tab1");
    assert!(
        get(&e, "tab1", json!({"pk": {"S": "k1"}, "sk": {"N": "1"}}))
            .unwrap()
            .item
            .is_none()
    );
}

#[test]
fn root_credentials_are_generated_once_and_can_be_replaced() {
    let storage = Storage::new(MemoryBackend::new());
    let e = Engine::open(storage.clone()).unwrap();
    let generated = e.ensure_root_credential("000000000000", None).unwrap();
    assert!(generated.access_key_id.starts_with("AKIA") && generated.access_key_id.len() == 20);
    assert_eq!(generated.secret_access_key.len(), 40);
    let e = Engine::open(storage.clone()).unwrap();
    assert_eq!(
        e.ensure_root_credential("000000000000", None).unwrap(),
        generated
    );
    let given = e
        .ensure_root_credential(
            "000000000000",
            Some(("AKIDEXAMPLE".into(), "secret".into())),
        )
        .unwrap();
    assert_eq!(e.credential("AKIDEXAMPLE"), Some(given));
    assert_eq!(e.credential(&generated.access_key_id), None);
    assert_eq!(
        e.credential("AKIDEXAMPLE").unwrap().principal_arn(),
        "arn:aws:iam::000000000000:root"
    );
}

#[test]
fn format_one_stores_are_migrated_to_bucketed_item_keys() {
    let storage = Storage::new(MemoryBackend::new());
    let e = Engine::open(storage.clone()).unwrap();
    create(&e, "old1");
    for i in 0..20 {
        put(
            &e,
            "old1",
            json!({"pk": {"S": format!("k{}", i % 4)}, "sk": {"N": i.to_string()}}),
        )
        .unwrap();
    }
    drop(e);
    // Rewrite the store as format 1 wrote it: item keys without the two bucket bytes.
    let item_prefix = cove_storage::KeyRange::prefix(&[keys::ITEM]);
    let entries = storage.scan(&item_prefix, Default::default()).unwrap();
    assert_eq!(entries.len(), 20);
    let mut batch = cove_storage::WriteBatch::new();
    for (k, v) in entries {
        let mut old = k[..9].to_vec();
        old.extend_from_slice(&k[11..]);
        batch.delete(k);
        batch.put(old, v);
    }
    batch.put(keys::meta_key("format"), vec![1]);
    storage.write(batch).unwrap();

    let e = Engine::open(storage.clone()).unwrap();
    for i in 0..20 {
        let got = get(
            &e,
            "old1",
            json!({"pk": {"S": format!("k{}", i % 4)}, "sk": {"N": i.to_string()}}),
        )
        .unwrap();
        assert!(got.item.is_some(), "item {i} lost in migration");
    }
    assert_eq!(
        storage.get(&keys::meta_key("format")).unwrap(),
        Some(vec![keys::FORMAT_VERSION])
    );
    let entries = storage.scan(&item_prefix, Default::default()).unwrap();
    assert_eq!(entries.len(), 20, "old keys were removed");
    // A store newer than this build is refused, not misread.
    storage
        .write({
            let mut b = cove_storage::WriteBatch::new();
            b.put(keys::meta_key("format"), vec![9]);
            b
        })
        .unwrap();
    assert!(matches!(
        Engine::open(storage),
        Err(EngineError::Corrupt(_))
    ));
}

/// Adds to table `shared` a global index `name` on the string attribute `attribute`.
fn add_index(engine: &Engine, name: &str, attribute: &str) {
    let update = json!({
        "TableName": "shared",
        "AttributeDefinitions": [{"AttributeName": attribute, "AttributeType": "S"}],
        "GlobalSecondaryIndexUpdates": [{"Create": {
            "IndexName": name,
            "KeySchema": [{"AttributeName": attribute, "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"}
        }}]
    });
    engine
        .update_table(
            &scope(),
            UpdateTableInput::decode(update.as_object().unwrap()).unwrap(),
        )
        .unwrap();
}

/// Two engines on one store stand for two nodes on one database: each sees the other's
/// tables once it refreshes; a write through a node whose cached table lacks an index the
/// other just created maintains it anyway (it finds its definition stale, reloads and runs
/// again); and a change made from a node's cache never loses the other's change.
#[test]
fn two_engines_on_one_store_follow_each_other() {
    let storage = Storage::new(MemoryBackend::new());
    let a = Engine::open(storage.clone()).unwrap();
    let shared = EngineOptions {
        shared: true,
        ..EngineOptions::default()
    };
    let b = Engine::open_with(storage, shared).unwrap();
    create(&a, "shared");
    assert!(b.refresh().unwrap(), "b saw nothing to reload");
    assert!(!b.refresh().unwrap(), "b reloaded with nothing changed");
    put(&b, "shared", json!({"pk": {"S": "a"}, "sk": {"N": "1"}})).unwrap();

    add_index(&a, "by_c", "c");
    // b has not refreshed: its cached "shared" has no index.
    put(
        &b,
        "shared",
        json!({"pk": {"S": "b"}, "sk": {"N": "2"}, "c": {"S": "red"}}),
    )
    .unwrap();
    let described = a.describe_table(&scope(), "shared").unwrap();
    assert_eq!(described.global_secondary_indexes.len(), 1);
    assert_eq!(described.global_secondary_indexes[0].item_count, 1);

    // A batch through b after a added a second index: it finds its definition stale, reloads
    // and runs again whole.
    add_index(&a, "by_d", "d");
    let batch = json!({"RequestItems": {"shared": [
        {"PutRequest": {"Item": {"pk": {"S": "c"}, "sk": {"N": "3"}, "d": {"S": "x"}}}}
    ]}});
    b.batch_write_item(
        &scope(),
        cove_wire::batch::BatchWriteItemInput::decode(batch.as_object().unwrap()).unwrap(),
    )
    .unwrap();
    let described = a.describe_table(&scope(), "shared").unwrap();
    let by_d = described
        .global_secondary_indexes
        .iter()
        .find(|ix| ix.name == "by_d")
        .unwrap();
    assert_eq!(by_d.item_count, 1);

    // b changes the table from its cache: a's index survives.
    let protect = json!({"TableName": "shared", "DeletionProtectionEnabled": true});
    b.update_table(
        &scope(),
        UpdateTableInput::decode(protect.as_object().unwrap()).unwrap(),
    )
    .unwrap();
    a.refresh().unwrap();
    let described = a.describe_table(&scope(), "shared").unwrap();
    assert!(described.deletion_protection);
    assert_eq!(described.global_secondary_indexes.len(), 2);

    // b creates a table while a's newer change (another table) is not in its cache yet: b
    // still reloads that change afterwards rather than take its own for the latest.
    create(&a, "first");
    create(&b, "second");
    assert!(
        b.refresh().unwrap(),
        "b skipped a's table created in between"
    );
    let all = ListTablesInput::decode(json!({}).as_object().unwrap()).unwrap();
    let (names, _) = b.list_tables(&scope(), &all).unwrap();
    assert_eq!(names, ["first", "second", "shared"]);

    // Networks: a VPC made through each node, the second from a stale cache, both kept.
    let (account, region) = ("000000000000", "us-east-1");
    a.network_update(account, region, |s| {
        s.create_vpc("127.60.0.0/16", Vec::new())
    })
    .unwrap();
    b.network_update(account, region, |s| {
        s.create_vpc("127.61.0.0/16", Vec::new())
    })
    .unwrap();
    a.refresh().unwrap();
    for engine in [&a, &b] {
        assert_eq!(engine.network_read(account, region, |s| s.vpcs.len()), 2);
    }
}
