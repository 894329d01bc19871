//! Behaviour through aws-sdk-dynamodb, the client most Rust users have: table lifecycle and
//! waiters, every attribute type round-tripping, restart persistence, and the errors the SDK
//! surfaces as typed exceptions.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ProvisionedThroughput, ReturnConsumedCapacity, ReturnValue, ScalarAttributeType, TableStatus,
};

use crate::common::{Cove, client_for, data_dir};

async fn create_books(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> aws_sdk_dynamodb::operation::create_table::CreateTableOutput {
    client
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("Author")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("BookTitle")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("Author")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("BookTitle")
                .key_type(KeyType::Range)
                .build()
                .unwrap(),
        )
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(5)
                .write_capacity_units(5)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create table")
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn key(author: &str, title: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("Author".to_string(), s(author)),
        ("BookTitle".to_string(), s(title)),
    ])
}

#[tokio::test]
async fn table_lifecycle_with_waiters() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();

    let created = create_books(&client, "BookCollection")
        .await
        .table_description
        .unwrap();
    assert_eq!(created.table_status(), Some(&TableStatus::Creating));
    assert_eq!(
        created.table_arn(),
        Some("arn:aws:dynamodb:us-east-1:000000000000:table/BookCollection")
    );
    let id = created.table_id().unwrap();
    assert_eq!(id.len(), 36, "TableId is a UUID: {id}");
    let tp = created.provisioned_throughput().unwrap();
    assert_eq!(
        (
            tp.read_capacity_units(),
            tp.write_capacity_units(),
            tp.number_of_decreases_today()
        ),
        (Some(5), Some(5), Some(0))
    );
    assert_eq!(created.deletion_protection_enabled(), Some(false));

    // The SDK waiter polls DescribeTable until ACTIVE.
    use aws_sdk_dynamodb::client::Waiters;
    client
        .wait_until_table_exists()
        .table_name("BookCollection")
        .wait(Duration::from_secs(10))
        .await
        .expect("waiter");
    let described = client
        .describe_table()
        .table_name("BookCollection")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(described.table_status(), Some(&TableStatus::Active));
    assert_eq!(described.item_count(), Some(0));
    assert!(described.creation_date_time().is_some());

    let err = create_books_err(&client, "BookCollection").await;
    assert_eq!(err.0, "ResourceInUseException");
    assert_eq!(err.1, "Table already exists: BookCollection");

    for name in ["t-alpha", "t-beta", "t-gamma"] {
        client
            .create_table()
            .table_name(name)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::N)
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
    }
    let page = client.list_tables().limit(2).send().await.unwrap();
    assert_eq!(page.table_names(), ["BookCollection", "t-alpha"]);
    assert_eq!(page.last_evaluated_table_name(), Some("t-alpha"));
    let page = client
        .list_tables()
        .exclusive_start_table_name("t-alpha")
        .send()
        .await
        .unwrap();
    assert_eq!(page.table_names(), ["t-beta", "t-gamma"]);
    assert_eq!(page.last_evaluated_table_name(), None);

    let updated = client
        .update_table()
        .table_name("BookCollection")
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(2)
                .write_capacity_units(5)
                .build()
                .unwrap(),
        )
        .deletion_protection_enabled(true)
        .send()
        .await
        .unwrap()
        .table_description
        .unwrap();
    let tp = updated.provisioned_throughput().unwrap();
    assert_eq!(
        (tp.read_capacity_units(), tp.number_of_decreases_today()),
        (Some(2), Some(1))
    );
    let err = client
        .delete_table()
        .table_name("BookCollection")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    client
        .update_table()
        .table_name("BookCollection")
        .deletion_protection_enabled(false)
        .send()
        .await
        .unwrap();
    let deleted = client
        .delete_table()
        .table_name("BookCollection")
        .send()
        .await
        .unwrap();
    assert_eq!(
        deleted.table_description.unwrap().table_status(),
        Some(&TableStatus::Deleting)
    );
    client
        .wait_until_table_not_exists()
        .table_name("BookCollection")
        .wait(Duration::from_secs(10))
        .await
        .expect("waiter");
    let err = client
        .describe_table()
        .table_name("BookCollection")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    assert_eq!(
        err.message(),
        Some("Requested resource not found: Table: BookCollection not found")
    );
}

async fn create_books_err(client: &aws_sdk_dynamodb::Client, name: &str) -> (String, String) {
    let err = client
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("Author")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("Author")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_err();
    (
        err.code().unwrap_or_default().to_string(),
        err.message().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn every_attribute_type_round_trips() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    create_books(&client, "Types").await;

    let mut item = key("Ann", "Types");
    item.insert("s".into(), s("héllo wörld"));
    item.insert("empty".into(), s(""));
    item.insert("n".into(), AttributeValue::N("-12.3400".into()));
    item.insert(
        "big".into(),
        AttributeValue::N("99999999999999999999999999999999999999".into()),
    );
    item.insert("tiny".into(), AttributeValue::N("1E-130".into()));
    item.insert(
        "b".into(),
        AttributeValue::B(Blob::new(vec![0u8, 1, 2, 255])),
    );
    item.insert("t".into(), AttributeValue::Bool(true));
    item.insert("z".into(), AttributeValue::Null(true));
    item.insert(
        "l".into(),
        AttributeValue::L(vec![
            s("x"),
            AttributeValue::N("1".into()),
            AttributeValue::L(vec![]),
        ]),
    );
    item.insert(
        "m".into(),
        AttributeValue::M(HashMap::from([(
            "inner".to_string(),
            AttributeValue::M(HashMap::from([("deep".to_string(), s("v"))])),
        )])),
    );
    item.insert(
        "ss".into(),
        AttributeValue::Ss(vec!["a".into(), "b".into()]),
    );
    item.insert(
        "ns".into(),
        AttributeValue::Ns(vec!["1".into(), "2.5".into()]),
    );
    item.insert(
        "bs".into(),
        AttributeValue::Bs(vec![Blob::new(vec![1u8]), Blob::new(vec![2u8])]),
    );
    let put = client
        .put_item()
        .table_name("Types")
        .set_item(Some(item.clone()))
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    assert!(put.attributes().is_none());
    assert_eq!(put.consumed_capacity().unwrap().capacity_units(), Some(1.0));

    let got = client
        .get_item()
        .table_name("Types")
        .set_key(Some(key("Ann", "Types")))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let got = got.item.unwrap();
    // Numbers come back in DynamoDB's canonical form.
    item.insert("n".into(), AttributeValue::N("-12.34".into()));
    item.insert(
        "tiny".into(),
        AttributeValue::N(format!("0.{}1", "0".repeat(129))),
    );
    assert_eq!(got, item);

    // ReturnValues ALL_OLD hands back what was replaced.
    let replaced = client
        .put_item()
        .table_name("Types")
        .set_item(Some(key("Ann", "Types")))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.attributes().unwrap(), &item);

    let deleted = client
        .delete_item()
        .table_name("Types")
        .set_key(Some(key("Ann", "Types")))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.attributes().unwrap(), &key("Ann", "Types"));
    let got = client
        .get_item()
        .table_name("Types")
        .set_key(Some(key("Ann", "Types")))
        .send()
        .await
        .unwrap();
    assert!(got.item.is_none());
}

#[tokio::test]
async fn item_errors_are_dynamodbs() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    create_books(&client, "Errs").await;

    let err = client
        .get_item()
        .table_name("Missing")
        .set_key(Some(key("a", "b")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (
            Some("ResourceNotFoundException"),
            Some("Requested resource not found")
        )
    );

    let err = client
        .get_item()
        .table_name("Errs")
        .key("Author", s("a"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (
            Some("ValidationException"),
            Some("The provided key element does not match the schema")
        )
    );

    let err = client
        .put_item()
        .table_name("Errs")
        .item("Author", s("a"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("One or more parameter values were invalid: Missing the key BookTitle in the item")
    );

    let mut bad_set = key("a", "b");
    bad_set.insert("ss".into(), AttributeValue::Ss(vec![]));
    let err = client
        .put_item()
        .table_name("Errs")
        .set_item(Some(bad_set))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));

    let mut too_big = key("a", "b");
    too_big.insert("blob".into(), AttributeValue::S("x".repeat(400 * 1024)));
    let err = client
        .put_item()
        .table_name("Errs")
        .set_item(Some(too_big))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("Item size has exceeded the maximum allowed size")
    );

    // A condition is evaluated against the stored item: the first put creates the item, the
    // second finds it there and writes nothing.
    for expect_failure in [false, true] {
        let mut item = key("a", "b");
        item.insert(
            "n".into(),
            AttributeValue::N(u8::from(expect_failure).to_string()),
        );
        let result = client
            .put_item()
            .table_name("Errs")
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(Author)")
            .send()
            .await;
        assert_eq!(
            result.err().and_then(|e| e.code().map(str::to_string)),
            expect_failure.then(|| "ConditionalCheckFailedException".to_string())
        );
    }
    let got = client
        .get_item()
        .table_name("Errs")
        .set_key(Some(key("a", "b")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.item.unwrap().get("n"),
        Some(&AttributeValue::N("0".into()))
    );

    // Operations that are not built answer DynamoDB's UnknownOperationException.
    let err = client
        .describe_contributor_insights()
        .table_name("Errs")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("UnknownOperationException"));
}

#[tokio::test]
async fn credentials_are_checked() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let stranger = client_for(&cove.endpoint(), "AKIAUNKNOWNKEY000000", "whatever");
    let err = stranger.list_tables().send().await.unwrap_err();
    assert_eq!(err.code(), Some("UnrecognizedClientException"));
    assert_eq!(
        err.message(),
        Some("The security token included in the request is invalid.")
    );

    let wrong_secret = client_for(
        &cove.endpoint(),
        crate::common::ROOT_ACCESS_KEY_ID,
        "not-the-secret",
    );
    let err = wrong_secret.list_tables().send().await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidSignatureException"));

    assert!(
        cove.client()
            .list_tables()
            .send()
            .await
            .unwrap()
            .table_names()
            .is_empty()
    );
}

#[tokio::test]
async fn data_survives_a_clean_restart() {
    let dir = data_dir();
    let mut cove = Cove::start(dir.path());
    let client = cove.client();
    create_books(&client, "Durable").await;
    for i in 0..20 {
        let mut item = key("Ann", &format!("title-{i:02}"));
        item.insert("n".into(), AttributeValue::N(i.to_string()));
        client
            .put_item()
            .table_name("Durable")
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
    let status = cove.terminate();
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        cove.log()
    );
    assert!(cove.log().contains("storage closed"), "{}", cove.log());

    let cove = Cove::start(dir.path());
    let client = cove.client();
    let table = client
        .describe_table()
        .table_name("Durable")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(table.item_count(), Some(20));
    let got = client
        .get_item()
        .table_name("Durable")
        .set_key(Some(key("Ann", "title-07")))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(got["n"], AttributeValue::N("7".into()));
}

#[tokio::test]
async fn generated_root_credentials_work_from_the_profile_files() {
    let dir = data_dir();
    let cove = Cove::start_with(dir.path(), &[], &[]);
    let creds = std::fs::read_to_string(dir.path().join("aws-credentials")).unwrap();
    let field = |name: &str| {
        creds
            .lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
            })
            .unwrap()
    };
    let (id, secret) = (field("aws_access_key_id"), field("aws_secret_access_key"));
    assert!(id.starts_with("AKIA"), "{creds}");
    assert!(
        cove.log().contains("aws-credentials"),
        "the log names the credentials file"
    );
    let client = client_for(&cove.endpoint(), &id, &secret);
    assert!(client.list_tables().send().await.is_ok());
}

#[tokio::test]
async fn dev_mode_accepts_any_well_formed_credentials() {
    let dir = data_dir();
    let cove = Cove::start_with(dir.path(), &["--dev"], &[]);
    assert!(cove.log().contains("DEV MODE"));
    let anyone = client_for(&cove.endpoint(), "anything", "at-all");
    assert!(anyone.list_tables().send().await.is_ok());
}

#[tokio::test]
async fn item_collection_metrics_only_for_tables_with_local_indexes() {
    use aws_sdk_dynamodb::types::{
        LocalSecondaryIndex, Projection, ProjectionType, ReturnItemCollectionMetrics,
    };
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    create_books(&client, "Plain").await;
    client
        .create_table()
        .table_name("Indexed")
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("Author")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("BookTitle")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("Year")
                .attribute_type(ScalarAttributeType::N)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("Author")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("BookTitle")
                .key_type(KeyType::Range)
                .build()
                .unwrap(),
        )
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("ByYear")
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name("Author")
                        .key_type(KeyType::Hash)
                        .build()
                        .unwrap(),
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name("Year")
                        .key_type(KeyType::Range)
                        .build()
                        .unwrap(),
                )
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();

    for table in ["Plain", "Indexed"] {
        let put = client
            .put_item()
            .table_name(table)
            .set_item(Some(key("Ada", "Notes")))
            .return_item_collection_metrics(ReturnItemCollectionMetrics::Size)
            .send()
            .await
            .unwrap();
        let update = client
            .update_item()
            .table_name(table)
            .set_key(Some(key("Ada", "Notes")))
            .update_expression("SET Pages = :p")
            .expression_attribute_values(":p", AttributeValue::N("10".into()))
            .return_item_collection_metrics(ReturnItemCollectionMetrics::Size)
            .send()
            .await
            .unwrap();
        let metrics = [put.item_collection_metrics, update.item_collection_metrics];
        for m in metrics {
            if table == "Plain" {
                assert!(m.is_none(), "no local index, no metrics");
            } else {
                let m = m.expect("metrics for a table with a local index");
                assert_eq!(
                    m.item_collection_key,
                    Some(HashMap::from([("Author".to_string(), s("Ada"))]))
                );
                assert_eq!(m.size_estimate_range_gb, Some(vec![0.0, 1.0]));
            }
        }
    }
}
