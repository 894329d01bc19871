//! PartiQL through aws-sdk-dynamodb: ExecuteStatement (SELECT as Query or Scan with paging,
//! INSERT, UPDATE with RETURNING, DELETE), BatchExecuteStatement with per-statement errors,
//! ExecuteTransaction for writes and reads, and DynamoDB's errors.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::execute_transaction::ExecuteTransactionError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BatchStatementRequest, BillingMode, KeySchemaElement,
    KeyType, ParameterizedStatement, ScalarAttributeType,
};

use crate::common::{Cove, data_dir};

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

async fn music(client: &Client) {
    client
        .create_table()
        .table_name("music")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("artist")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("song")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("artist")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("song")
                .key_type(KeyType::Range)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

async fn run(
    client: &Client,
    statement: &str,
    params: Vec<AttributeValue>,
) -> Result<Vec<HashMap<String, AttributeValue>>, String> {
    client
        .execute_statement()
        .statement(statement)
        .set_parameters((!params.is_empty()).then_some(params))
        .send()
        .await
        .map(|o| o.items().to_vec())
        .map_err(|e| {
            let e = e.into_service_error();
            format!(
                "{}: {}",
                e.code().unwrap_or_default(),
                e.message().unwrap_or_default()
            )
        })
}

#[tokio::test]
async fn statements_read_and_write_items() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    music(&client).await;
    for (i, song) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        run(
            &client,
            "INSERT INTO music VALUE {'artist': ?, 'song': ?, 'plays': ?, 'tags': <<'x'>>}",
            vec![s("nina"), s(song), n(i as i64)],
        )
        .await
        .unwrap();
    }
    run(
        &client,
        "INSERT INTO \"music\" VALUE {'artist': 'miles', 'song': 'so what', 'plays': 100}",
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(
        run(
            &client,
            "INSERT INTO music VALUE {'artist': 'miles', 'song': 'so what'}",
            vec![]
        )
        .await
        .unwrap_err(),
        "DuplicateItemException: Duplicate primary key exists in table"
    );

    // A SELECT that pins the partition key reads that partition in sort order, filtered.
    let rows = run(
        &client,
        "SELECT song, plays FROM music WHERE artist = 'nina' AND song >= 'b' AND plays <> 3",
        vec![],
    )
    .await
    .unwrap();
    let songs: Vec<&AttributeValue> = rows.iter().map(|r| &r["song"]).collect();
    assert_eq!(songs, [&s("b"), &s("c"), &s("e")]);
    assert_eq!(rows[0].len(), 2, "the projection keeps song and plays");
    // Without the partition key it scans.
    let rows = run(&client, "SELECT * FROM music WHERE plays >= 4", vec![])
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);

    // Paging with Limit and NextToken.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let out = client
            .execute_statement()
            .statement("SELECT song FROM music WHERE artist = 'nina'")
            .limit(2)
            .set_next_token(token.take())
            .send()
            .await
            .unwrap();
        seen.extend(out.items().iter().map(|i| i["song"].clone()));
        match out.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"].map(s));

    // UPDATE: SET with arithmetic, set_add, REMOVE, and RETURNING.
    let rows = run(
        &client,
        "UPDATE music SET plays = plays + 10 SET tags = set_add(tags, <<'y'>>) REMOVE nothing WHERE artist = 'nina' AND song = 'a' RETURNING ALL NEW *",
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(rows[0]["plays"], n(10));
    assert_eq!(
        rows[0]["tags"],
        AttributeValue::Ss(vec!["x".into(), "y".into()])
    );
    let rows = run(
        &client,
        "UPDATE music SET plays = 0 WHERE artist = 'nina' AND song = 'a' RETURNING MODIFIED OLD *",
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(rows, [HashMap::from([("plays".to_string(), n(10))])]);
    assert_eq!(
        run(
            &client,
            "UPDATE music SET plays = 0 WHERE artist = 'nina' AND song = 'zzz'",
            vec![]
        )
        .await
        .unwrap_err(),
        "ConditionalCheckFailedException: The conditional request failed"
    );
    assert_eq!(
        run(
            &client,
            "UPDATE music SET plays = 0 WHERE artist = 'nina' AND song = 'b' AND plays > 50",
            vec![]
        )
        .await
        .unwrap_err(),
        "ConditionalCheckFailedException: The conditional request failed"
    );
    assert_eq!(
        run(
            &client,
            "UPDATE music SET plays = 0 WHERE artist = 'nina'",
            vec![]
        )
        .await
        .unwrap_err(),
        "ValidationException: Where clause does not contain a mandatory equality on all key attributes"
    );
    let rows = run(
        &client,
        "DELETE FROM music WHERE artist = 'nina' AND song = 'e' RETURNING ALL OLD *",
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(rows[0]["plays"], n(4));
    assert!(
        run(
            &client,
            "SELECT * FROM music WHERE artist = 'nina' AND song = 'e'",
            vec![]
        )
        .await
        .unwrap()
        .is_empty()
    );

    assert_eq!(
        run(&client, "SELEC * FROM music", vec![])
            .await
            .unwrap_err(),
        "ValidationException: Statement wasn't well formed, can't be processed: Expected data manipulation"
    );
    assert_eq!(
        run(&client, "SELECT * FROM music WHERE artist = ?", vec![])
            .await
            .unwrap_err(),
        "ValidationException: Number of parameters in request and statement don't match."
    );
    assert!(
        run(&client, "SELECT * FROM nothere", vec![])
            .await
            .unwrap_err()
            .starts_with("ResourceNotFoundException")
    );
}

#[tokio::test]
async fn batches_and_transactions() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    music(&client).await;
    run(
        &client,
        "INSERT INTO music VALUE {'artist': 'a', 'song': '1', 'plays': 1}",
        vec![],
    )
    .await
    .unwrap();

    let stmt = |text: &str| {
        BatchStatementRequest::builder()
            .statement(text)
            .build()
            .unwrap()
    };
    let out = client
        .batch_execute_statement()
        .statements(stmt(
            "SELECT * FROM music WHERE artist = 'a' AND song = '1'",
        ))
        .statements(stmt("INSERT INTO music VALUE {'artist': 'a', 'song': '1'}"))
        .statements(stmt("INSERT INTO music VALUE {'artist': 'a', 'song': '2'}"))
        .send()
        .await
        .unwrap();
    let r = out.responses();
    assert_eq!(r[0].item().unwrap()["plays"], n(1));
    assert_eq!(
        r[1].error().unwrap().code().map(|c| c.as_str()),
        Some("DuplicateItem")
    );
    assert!(
        r[2].error().is_none(),
        "one failure does not stop the others"
    );

    let pstmt = |text: &str| {
        ParameterizedStatement::builder()
            .statement(text)
            .build()
            .unwrap()
    };
    client
        .execute_transaction()
        .transact_statements(pstmt(
            "UPDATE music SET plays = 5 WHERE artist = 'a' AND song = '1'",
        ))
        .transact_statements(pstmt(
            "INSERT INTO music VALUE {'artist': 'a', 'song': '3'}",
        ))
        .send()
        .await
        .unwrap();
    let err = client
        .execute_transaction()
        .transact_statements(pstmt(
            "UPDATE music SET plays = 6 WHERE artist = 'a' AND song = '1'",
        ))
        .transact_statements(pstmt(
            "INSERT INTO music VALUE {'artist': 'a', 'song': '3'}",
        ))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let ExecuteTransactionError::TransactionCanceledException(cancel) = err else {
        panic!("{err:?}")
    };
    let codes: Vec<&str> = cancel
        .cancellation_reasons()
        .iter()
        .map(|r| r.code().unwrap_or_default())
        .collect();
    assert_eq!(codes, ["None", "DuplicateItem"]);
    let out = client
        .execute_transaction()
        .transact_statements(pstmt(
            "SELECT plays FROM music WHERE artist = 'a' AND song = '1'",
        ))
        .transact_statements(pstmt(
            "SELECT * FROM music WHERE artist = 'a' AND song = 'missing'",
        ))
        .send()
        .await
        .unwrap();
    let responses = out.responses();
    assert_eq!(
        responses[0].item().unwrap()["plays"],
        n(5),
        "the cancelled transaction changed nothing"
    );
    assert!(responses[1].item().is_none());
}
