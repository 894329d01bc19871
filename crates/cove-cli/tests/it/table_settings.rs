//! Table settings through aws-sdk-dynamodb: time to live (expired items deleted by the
//! sweeper within seconds, the rest kept), tags, DescribeLimits, DescribeEndpoints and the
//! continuous-backups flag.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, PointInTimeRecoveryStatus, ScalarAttributeType, Tag,
    TimeToLiveSpecification, TimeToLiveStatus,
};

use crate::common::{Cove, data_dir};

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
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

async fn exists(client: &Client, id: &str) -> bool {
    client
        .get_item()
        .table_name("sessions")
        .key("id", s(id))
        .send()
        .await
        .unwrap()
        .item
        .is_some()
}

#[tokio::test]
async fn expired_items_are_deleted_and_others_kept() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    table(&client, "sessions").await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let items = [
        ("past", AttributeValue::N((now - 10).to_string())),
        ("later", AttributeValue::N((now + 3600).to_string())),
        ("text", s("not a number")),
        (
            "ancient",
            AttributeValue::N((now - 6 * 365 * 86400).to_string()),
        ),
        ("fraction", AttributeValue::N(format!("{}.75", now - 5))),
    ];
    for (id, exp) in items.clone() {
        client
            .put_item()
            .table_name("sessions")
            .item("id", s(id))
            .item("exp", exp)
            .send()
            .await
            .unwrap();
    }
    let out = client
        .update_time_to_live()
        .table_name("sessions")
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("exp")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.time_to_live_specification().unwrap().attribute_name(),
        "exp"
    );
    let desc = client
        .describe_time_to_live()
        .table_name("sessions")
        .send()
        .await
        .unwrap();
    let desc = desc.time_to_live_description().unwrap();
    assert_eq!(desc.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(desc.attribute_name(), Some("exp"));

    // An item written after enabling, already expired, goes too.
    client
        .put_item()
        .table_name("sessions")
        .item("id", s("late-write"))
        .item("exp", AttributeValue::N((now - 1).to_string()))
        .send()
        .await
        .unwrap();
    // The sweeper runs about once a second: expired items are gone within a few seconds.
    let started = Instant::now();
    while exists(&client, "past").await
        || exists(&client, "late-write").await
        || exists(&client, "fraction").await
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "expired items still there after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(exists(&client, "later").await, "a future expiry is kept");
    assert!(
        exists(&client, "text").await,
        "a non-number TTL attribute is ignored"
    );
    assert!(
        exists(&client, "ancient").await,
        "expiries over five years old are ignored, as in DynamoDB"
    );
    let count = client
        .describe_table()
        .table_name("sessions")
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .item_count();
    assert_eq!(count, Some(3), "the table's count follows the deletions");

    let err = client
        .update_time_to_live()
        .table_name("sessions")
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("exp")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.message(), Some("TimeToLive is already enabled"));
    let disable = || {
        client
            .update_time_to_live()
            .table_name("sessions")
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(false)
                    .attribute_name("exp")
                    .build()
                    .unwrap(),
            )
            .send()
    };
    disable().await.unwrap();
    let err = disable().await.unwrap_err().into_service_error();
    assert_eq!(err.message(), Some("TimeToLive is already disabled"));
    // With TTL off, expired items stay.
    client
        .put_item()
        .table_name("sessions")
        .item("id", s("kept"))
        .item("exp", AttributeValue::N((now - 10).to_string()))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(exists(&client, "kept").await);
}

#[tokio::test]
async fn tags_limits_endpoints_and_backups() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    table(&client, "tagged").await;
    let arn = client
        .describe_table()
        .table_name("tagged")
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .table_arn
        .unwrap();
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    client
        .tag_resource()
        .resource_arn(&arn)
        .tags(tag("env", "test"))
        .tags(tag("team", "db"))
        .send()
        .await
        .unwrap();
    client
        .tag_resource()
        .resource_arn(&arn)
        .tags(tag("env", "prod"))
        .send()
        .await
        .unwrap();
    client
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = client
        .list_tags_of_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    let tags: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("env", "prod")]);
    let missing = arn.replace("table/tagged", "table/nothere");
    let err = client
        .list_tags_of_resource()
        .resource_arn(&missing)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    assert_eq!(
        err.message().unwrap(),
        format!("Requested resource not found: ResourcArn: {missing} not found")
    );
    let err = client
        .list_tags_of_resource()
        .resource_arn("arn:aws:s3:::bucket")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some("Invalid TableArn: Invalid ResourceArn provided as input arn:aws:s3:::bucket")
    );
    let many: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"), "v")).collect();
    let err = client
        .tag_resource()
        .resource_arn(&arn)
        .set_tags(Some(many))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("LimitExceededException"));

    let limits = client.describe_limits().send().await.unwrap();
    assert_eq!(limits.table_max_read_capacity_units(), Some(40000));
    assert_eq!(limits.account_max_write_capacity_units(), Some(80000));
    let endpoints = client.describe_endpoints().send().await.unwrap();
    assert_eq!(endpoints.endpoints()[0].address(), cove.addr.to_string());

    let pitr = |client: &Client, enabled: bool| {
        client
            .update_continuous_backups()
            .table_name("tagged")
            .point_in_time_recovery_specification(
                PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(enabled)
                    .build()
                    .unwrap(),
            )
            .send()
    };
    let status = |out: &aws_sdk_dynamodb::types::ContinuousBackupsDescription| {
        out.point_in_time_recovery_description()
            .unwrap()
            .point_in_time_recovery_status()
            .cloned()
    };
    let before = client
        .describe_continuous_backups()
        .table_name("tagged")
        .send()
        .await
        .unwrap();
    assert_eq!(
        status(before.continuous_backups_description().unwrap()),
        Some(PointInTimeRecoveryStatus::Disabled)
    );
    let on = pitr(&client, true).await.unwrap();
    let on = on.continuous_backups_description().unwrap();
    assert_eq!(status(on), Some(PointInTimeRecoveryStatus::Enabled));
    assert!(
        on.point_in_time_recovery_description()
            .unwrap()
            .earliest_restorable_date_time()
            .is_some()
    );
    // The flag is kept across restarts.
    drop(client);
    drop(cove);
    let cove = Cove::start(dir.path());
    let client = cove.client();
    let after = client
        .describe_continuous_backups()
        .table_name("tagged")
        .send()
        .await
        .unwrap();
    assert_eq!(
        status(after.continuous_backups_description().unwrap()),
        Some(PointInTimeRecoveryStatus::Enabled)
    );
    let off = pitr(&client, false).await.unwrap();
    assert_eq!(
        status(off.continuous_backups_description().unwrap()),
        Some(PointInTimeRecoveryStatus::Disabled)
    );
}

#[tokio::test]
async fn backups_are_consistent_copies_that_restore() {
    use aws_sdk_dynamodb::types::{BackupStatus, GlobalSecondaryIndex, Projection, ProjectionType};
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name("orders")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("id"))
        .attribute_definitions(attr("status"))
        .key_schema(key("id", KeyType::Hash))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_status")
                .key_schema(key("status", KeyType::Hash))
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
    for i in 0..20 {
        client
            .put_item()
            .table_name("orders")
            .item("id", s(&format!("o{i}")))
            .item("status", s(if i % 2 == 0 { "open" } else { "done" }))
            .send()
            .await
            .unwrap();
    }
    let backup = client
        .create_backup()
        .table_name("orders")
        .backup_name("nightly")
        .send()
        .await
        .unwrap();
    let details = backup.backup_details().unwrap();
    assert_eq!(details.backup_status(), &BackupStatus::Available);
    let arn = details.backup_arn().to_string();
    assert!(arn.contains(":table/orders/backup/"), "{arn}");
    // Changes after the backup are not in it.
    client
        .delete_item()
        .table_name("orders")
        .key("id", s("o0"))
        .send()
        .await
        .unwrap();
    client
        .put_item()
        .table_name("orders")
        .item("id", s("late"))
        .item("status", s("open"))
        .send()
        .await
        .unwrap();

    let list = client
        .list_backups()
        .table_name("orders")
        .send()
        .await
        .unwrap();
    assert_eq!(list.backup_summaries().len(), 1);
    assert_eq!(list.backup_summaries()[0].backup_name(), Some("nightly"));
    let described = client
        .describe_backup()
        .backup_arn(&arn)
        .send()
        .await
        .unwrap();
    let source = described
        .backup_description()
        .unwrap()
        .source_table_details()
        .unwrap();
    assert_eq!(source.item_count(), Some(20));
    assert_eq!(source.table_name(), "orders");

    let restored = client
        .restore_table_from_backup()
        .target_table_name("orders-restored")
        .backup_arn(&arn)
        .send()
        .await
        .unwrap();
    let restored = restored.table_description().unwrap();
    assert_eq!(
        restored.restore_summary().unwrap().source_backup_arn(),
        Some(arn.as_str())
    );
    let count = client
        .scan()
        .table_name("orders-restored")
        .select(aws_sdk_dynamodb::types::Select::Count)
        .send()
        .await
        .unwrap()
        .count();
    assert_eq!(
        count, 20,
        "the restore holds the table as it was at the backup"
    );
    let o0 = client
        .get_item()
        .table_name("orders-restored")
        .key("id", s("o0"))
        .send()
        .await
        .unwrap();
    assert!(o0.item.is_some());
    let late = client
        .get_item()
        .table_name("orders-restored")
        .key("id", s("late"))
        .send()
        .await
        .unwrap();
    assert!(late.item.is_none());
    let open = client
        .query()
        .table_name("orders-restored")
        .index_name("by_status")
        .key_condition_expression("#s = :o")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":o", s("open"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        open.count(),
        10,
        "indexes are rebuilt in the restored table"
    );

    let err = client
        .restore_table_from_backup()
        .target_table_name("orders")
        .backup_arn(&arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("TableAlreadyExistsException"));
    assert_eq!(err.message(), Some("Table already exists: orders"));
    let err = client
        .create_backup()
        .table_name("nope")
        .backup_name("x12")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("TableNotFoundException"));
    assert_eq!(err.message(), Some("Table not found: nope"));

    let deleted = client
        .delete_backup()
        .backup_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        deleted
            .backup_description()
            .unwrap()
            .backup_details()
            .unwrap()
            .backup_status(),
        &BackupStatus::Deleted
    );
    let err = client
        .describe_backup()
        .backup_arn(&arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("BackupNotFoundException"));
    assert_eq!(err.message().unwrap(), format!("Backup not found: {arn}"));
    assert!(
        client
            .list_backups()
            .send()
            .await
            .unwrap()
            .backup_summaries()
            .is_empty()
    );
}
