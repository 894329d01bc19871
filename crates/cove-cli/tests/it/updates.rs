//! The expression language in item operations through aws-sdk-dynamodb: every UpdateExpression
//! action, every condition function and comparator on conditional writes, ReturnValues and
//! ReturnValuesOnConditionCheckFailure, projections on GetItem, the legacy members, and
//! DynamoDB's validation errors with their exact texts.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeAction, AttributeDefinition, AttributeValue, AttributeValueUpdate, BillingMode,
    ComparisonOperator, ConditionalOperator, ExpectedAttributeValue, KeySchemaElement, KeyType,
    ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
};

use crate::common::{Cove, data_dir};

type Item = HashMap<String, AttributeValue>;

/// ExpressionAttributeValues for one case.
type Values<'a> = Vec<(&'a str, AttributeValue)>;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn l(v: Vec<AttributeValue>) -> AttributeValue {
    AttributeValue::L(v)
}

fn m(pairs: Vec<(&str, AttributeValue)>) -> AttributeValue {
    AttributeValue::M(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn ss(v: &[&str]) -> AttributeValue {
    AttributeValue::Ss(v.iter().map(|x| x.to_string()).collect())
}

fn item(pairs: Vec<(&str, AttributeValue)>) -> Item {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

async fn table(client: &Client) {
    client
        .create_table()
        .table_name("things")
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

async fn put(client: &Client, it: Item) {
    client
        .put_item()
        .table_name("things")
        .set_item(Some(it))
        .send()
        .await
        .expect("put");
}

async fn get(client: &Client, id: &str) -> Option<Item> {
    client
        .get_item()
        .table_name("things")
        .key("id", s(id))
        .consistent_read(true)
        .send()
        .await
        .expect("get")
        .item
}

/// Runs an UpdateItem on item `id` and returns ALL_NEW.
async fn update(
    client: &Client,
    id: &str,
    expr: &str,
    values: Vec<(&str, AttributeValue)>,
) -> Result<Item, UpdateItemError> {
    let mut req = client
        .update_item()
        .table_name("things")
        .key("id", s(id))
        .update_expression(expr)
        .return_values(ReturnValue::AllNew);
    for (k, v) in values {
        req = req.expression_attribute_values(k, v);
    }
    req.send()
        .await
        .map(|o| o.attributes.unwrap_or_default())
        .map_err(|e| e.into_service_error())
}

fn message(err: &impl ProvideErrorMetadata) -> String {
    format!(
        "{}: {}",
        err.code().unwrap_or_default(),
        err.message().unwrap_or_default()
    )
}

#[tokio::test]
async fn every_update_action() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    table(&client).await;
    put(
        &client,
        item(vec![
            ("id", s("a")),
            ("n", n("10")),
            ("f", n("0.1")),
            ("lst", l(vec![s("x"), s("y"), s("z")])),
            (
                "doc",
                m(vec![(
                    "entries",
                    l(vec![m(vec![("c", n("1"))]), m(vec![("c", n("2"))])]),
                )]),
            ),
            ("tags", ss(&["red", "blue"])),
            ("nums", AttributeValue::Ns(vec!["1".into(), "2".into()])),
            ("gone", s("bye")),
        ]),
    )
    .await;

    // SET: plain, nested map path with list index, arithmetic with exact decimals.
    let got = update(
        &client,
        "a",
        "SET plain = :v, doc.entries[1].c = :v, n = n + :one, f = f + :f, m2 = n - :one",
        vec![(":v", s("set")), (":one", n("1")), (":f", n("0.2"))],
    )
    .await
    .unwrap();
    assert_eq!(got["plain"], s("set"));
    assert_eq!(
        got["doc"],
        m(vec![(
            "entries",
            l(vec![m(vec![("c", n("1"))]), m(vec![("c", s("set"))])])
        )])
    );
    assert_eq!(got["n"], n("11"));
    assert_eq!(got["f"], n("0.3"), "decimal arithmetic is exact");
    assert_eq!(
        got["m2"],
        n("9"),
        "the right side reads the item before the update"
    );

    // if_not_exists: keeps a present value, supplies an absent one.
    let got = update(
        &client,
        "a",
        "SET n = if_not_exists(n, :z), fresh = if_not_exists(fresh, :z)",
        vec![(":z", n("0"))],
    )
    .await
    .unwrap();
    assert_eq!((got["n"].clone(), got["fresh"].clone()), (n("11"), n("0")));

    // list_append both ways.
    let got = update(
        &client,
        "a",
        "SET lst = list_append(lst, :tail), front = list_append(:head, lst)",
        vec![(":tail", l(vec![s("end")])), (":head", l(vec![s("start")]))],
    )
    .await
    .unwrap();
    assert_eq!(got["lst"], l(vec![s("x"), s("y"), s("z"), s("end")]));
    assert_eq!(got["front"], l(vec![s("start"), s("x"), s("y"), s("z")]));

    // REMOVE: a top-level attribute and a list element; later elements shift down.
    let got = update(&client, "a", "REMOVE gone, lst[1]", vec![])
        .await
        .unwrap();
    assert!(!got.contains_key("gone"));
    assert_eq!(got["lst"], l(vec![s("x"), s("z"), s("end")]));

    // ADD: to a number, creating a number, to string and number sets.
    let got = update(
        &client,
        "a",
        "ADD n :five, tally :five, tags :more, nums :three",
        vec![
            (":five", n("5")),
            (":more", ss(&["green", "red"])),
            (":three", AttributeValue::Ns(vec!["3".into()])),
        ],
    )
    .await
    .unwrap();
    assert_eq!(got["n"], n("16"));
    assert_eq!(got["tally"], n("5"));
    let AttributeValue::Ss(tags) = &got["tags"] else {
        panic!("tags: {:?}", got["tags"])
    };
    let mut tags = tags.clone();
    tags.sort();
    assert_eq!(tags, ["blue", "green", "red"]);
    let AttributeValue::Ns(nums) = &got["nums"] else {
        panic!()
    };
    assert_eq!(nums.len(), 3);

    // DELETE from a set; emptying it removes the attribute.
    let got = update(
        &client,
        "a",
        "DELETE tags :drop",
        vec![(":drop", ss(&["red", "none"]))],
    )
    .await
    .unwrap();
    let AttributeValue::Ss(tags) = &got["tags"] else {
        panic!()
    };
    assert_eq!(tags.len(), 2);
    let got = update(
        &client,
        "a",
        "DELETE tags :all",
        vec![(":all", ss(&["blue", "green"]))],
    )
    .await
    .unwrap();
    assert!(!got.contains_key("tags"), "an emptied set is removed");

    // UpdateItem on an absent item creates it from its key.
    let got = update(&client, "new", "SET v = :v", vec![(":v", n("1"))])
        .await
        .unwrap();
    assert_eq!(got, item(vec![("id", s("new")), ("v", n("1"))]));
    assert_eq!(get(&client, "new").await, Some(got));
}

#[tokio::test]
async fn update_validation_errors_are_dynamodbs() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    table(&client).await;
    put(
        &client,
        item(vec![
            ("id", s("a")),
            ("txt", s("t")),
            ("mp", m(vec![("k", n("1"))])),
            ("lst", l(vec![n("1")])),
        ]),
    )
    .await;
    let before = get(&client, "a").await;
    let cases: Vec<(&str, Values, &str)> = vec![
        (
            "SET mp = :v, mp.k = :v",
            vec![(":v", n("1"))],
            "ValidationException: Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [mp], path two: [mp, k]",
        ),
        (
            "SET id = :v",
            vec![(":v", s("b"))],
            "ValidationException: One or more parameter values were invalid: Cannot update attribute id. This attribute is part of the key",
        ),
        (
            "ADD txt :v",
            vec![(":v", n("1"))],
            "ValidationException: An operand in the update expression has an incorrect data type",
        ),
        (
            "ADD lst :v",
            vec![(":v", s("x"))],
            "ValidationException: Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: STRING, typeSet: ALLOWED_FOR_ADD_OPERAND",
        ),
        (
            "SET txt.entries = :v",
            vec![(":v", n("1"))],
            "ValidationException: The document path provided in the update expression is invalid for update",
        ),
        (
            "SET v = :v",
            vec![(":v", n("1")), (":unused", n("2"))],
            "ValidationException: Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}",
        ),
        (
            "SET v = :absent",
            vec![(":v", n("1"))],
            "ValidationException: Invalid UpdateExpression: An expression attribute value used in expression is not defined; attribute value: :absent",
        ),
        (
            "SET name = :v",
            vec![(":v", n("1"))],
            "ValidationException: Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: name",
        ),
        (
            "SET v = :v,",
            vec![(":v", n("1"))],
            "ValidationException: Invalid UpdateExpression: Syntax error; token: \"<EOF>\", near: \",\"",
        ),
    ];
    for (expr, values, expected) in cases {
        let err = update(&client, "a", expr, values).await.expect_err(expr);
        assert_eq!(message(&err), expected, "{expr}");
    }
    assert_eq!(
        get(&client, "a").await,
        before,
        "no refused update changed the item"
    );
}

/// Writes item `c` with a condition, reporting whether the condition held.
async fn conditional_put(client: &Client, cond: &str, values: Vec<(&str, AttributeValue)>) -> bool {
    let mut req = client
        .put_item()
        .table_name("things")
        .item("id", s("c"))
        .item("marker", s(cond))
        .condition_expression(cond);
    for (k, v) in values {
        req = req.expression_attribute_values(k, v);
    }
    match req.send().await {
        Ok(_) => true,
        Err(e) => {
            let e = e.into_service_error();
            assert_eq!(
                message(&e),
                "ConditionalCheckFailedException: The conditional request failed",
                "{cond}"
            );
            false
        }
    }
}

#[tokio::test]
async fn every_condition_function_and_comparator() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    table(&client).await;
    let base = item(vec![
        ("id", s("c")),
        ("name_", s("widget")),
        ("n", n("5")),
        ("tags", ss(&["a", "b"])),
        ("lst", l(vec![s("x"), n("1")])),
        (
            "bin",
            AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(vec![1, 2])),
        ),
    ]);
    let cases: Vec<(&str, Values, bool)> = vec![
        ("attribute_exists(n)", vec![], true),
        ("attribute_exists(absent)", vec![], false),
        ("attribute_not_exists(absent)", vec![], true),
        ("attribute_not_exists(n)", vec![], false),
        ("attribute_type(n, :t)", vec![(":t", s("N"))], true),
        ("attribute_type(n, :t)", vec![(":t", s("S"))], false),
        ("begins_with(name_, :p)", vec![(":p", s("wid"))], true),
        ("begins_with(name_, :p)", vec![(":p", s("get"))], false),
        ("contains(name_, :p)", vec![(":p", s("dg"))], true),
        ("contains(tags, :p)", vec![(":p", s("b"))], true),
        ("contains(tags, :p)", vec![(":p", s("z"))], false),
        ("contains(lst, :p)", vec![(":p", n("1"))], true),
        ("size(name_) = :six", vec![(":six", n("6"))], true),
        ("size(tags) > :two", vec![(":two", n("2"))], false),
        ("size(bin) = :two", vec![(":two", n("2"))], true),
        ("n = :v", vec![(":v", n("5.0"))], true),
        ("n <> :v", vec![(":v", n("5"))], false),
        ("n < :v", vec![(":v", n("6"))], true),
        ("n <= :v", vec![(":v", n("4"))], false),
        ("n > :v", vec![(":v", n("4"))], true),
        ("n >= :v", vec![(":v", n("6"))], false),
        ("n = :v", vec![(":v", s("5"))], false), // different types compare false, not an error
        (
            "n BETWEEN :a AND :b",
            vec![(":a", n("1")), (":b", n("5"))],
            true,
        ),
        (
            "n BETWEEN :a AND :b",
            vec![(":a", n("6")), (":b", n("9"))],
            false,
        ),
        ("n IN (:a, :b)", vec![(":a", n("1")), (":b", n("5"))], true),
        ("n IN (:a, :b)", vec![(":a", n("1")), (":b", n("2"))], false),
        // NOT binds tighter than AND, AND tighter than OR.
        (
            "NOT n = :a AND n = :b",
            vec![(":a", n("1")), (":b", n("5"))],
            true,
        ),
        (
            "n = :a OR n = :b AND n = :a",
            vec![(":a", n("5")), (":b", n("1"))],
            true,
        ),
        (
            "(n = :a OR n = :b) AND n = :b",
            vec![(":a", n("5")), (":b", n("1"))],
            false,
        ),
    ];
    for (cond, values, expected) in cases {
        put(&client, base.clone()).await;
        let held = conditional_put(&client, cond, values).await;
        assert_eq!(held, expected, "{cond}");
        let now = get(&client, "c").await.unwrap();
        assert_eq!(
            now.contains_key("marker"),
            expected,
            "{cond}: write applied only when it held"
        );
    }
}

#[tokio::test]
async fn return_values_and_failed_condition_items() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    table(&client).await;
    let original = item(vec![("id", s("r")), ("a", n("1")), ("b", s("keep"))]);
    let run = |rv: ReturnValue| {
        let client = client.clone();
        let original = original.clone();
        async move {
            put(&client, original).await;
            client
                .update_item()
                .table_name("things")
                .key("id", s("r"))
                .update_expression("SET a = a + :one, c = :c")
                .expression_attribute_values(":one", n("1"))
                .expression_attribute_values(":c", s("new"))
                .return_values(rv)
                .send()
                .await
                .unwrap()
                .attributes
        }
    };
    assert_eq!(run(ReturnValue::None).await, None);
    assert_eq!(run(ReturnValue::AllOld).await, Some(original.clone()));
    assert_eq!(
        run(ReturnValue::UpdatedOld).await,
        Some(item(vec![("a", n("1"))]))
    );
    assert_eq!(
        run(ReturnValue::AllNew).await,
        Some(item(vec![
            ("id", s("r")),
            ("a", n("2")),
            ("b", s("keep")),
            ("c", s("new"))
        ]))
    );
    assert_eq!(
        run(ReturnValue::UpdatedNew).await,
        Some(item(vec![("a", n("2")), ("c", s("new"))]))
    );

    // ReturnValuesOnConditionCheckFailure ALL_OLD puts the item in the error.
    put(&client, original.clone()).await;
    let err = client
        .delete_item()
        .table_name("things")
        .key("id", s("r"))
        .condition_expression("a = :two")
        .expression_attribute_values(":two", n("2"))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(
        ccf,
    ) = err
    else {
        panic!("expected ConditionalCheckFailedException, got {err:?}");
    };
    assert_eq!(ccf.item(), Some(&original));
    assert_eq!(
        get(&client, "r").await,
        Some(original.clone()),
        "the failed delete kept the item"
    );
    // Without it, the error carries no item.
    let err = client
        .update_item()
        .table_name("things")
        .key("id", s("r"))
        .update_expression("SET a = :two")
        .condition_expression("attribute_not_exists(id)")
        .expression_attribute_values(":two", n("2"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let UpdateItemError::ConditionalCheckFailedException(ccf) = err else {
        panic!()
    };
    assert_eq!(ccf.item(), None);
}

#[tokio::test]
async fn projections_and_legacy_members() {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    table(&client).await;
    put(
        &client,
        item(vec![
            ("id", s("p")),
            ("name", s("reserved word as attribute")),
            (
                "doc",
                m(vec![("a", n("1")), ("b", l(vec![s("x"), s("y")]))]),
            ),
            ("extra", n("3")),
        ]),
    )
    .await;
    let got = client
        .get_item()
        .table_name("things")
        .key("id", s("p"))
        .projection_expression("#n, doc.b[1], doc.#absent")
        .expression_attribute_names("#n", "name")
        .expression_attribute_names("#absent", "nope")
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        got,
        item(vec![
            ("name", s("reserved word as attribute")),
            ("doc", m(vec![("b", l(vec![s("y")]))]))
        ])
    );

    // Legacy AttributesToGet.
    let got = client
        .get_item()
        .table_name("things")
        .key("id", s("p"))
        .attributes_to_get("extra")
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(got, item(vec![("extra", n("3"))]));

    // Legacy Expected with ConditionalOperator OR, and AttributeUpdates PUT/ADD/DELETE.
    let out = client
        .update_item()
        .table_name("things")
        .key("id", s("p"))
        .expected(
            "extra",
            ExpectedAttributeValue::builder().value(n("99")).build(),
        )
        .expected(
            "name",
            ExpectedAttributeValue::builder()
                .comparison_operator(ComparisonOperator::BeginsWith)
                .attribute_value_list(s("reserved"))
                .build(),
        )
        .conditional_operator(ConditionalOperator::Or)
        .attribute_updates(
            "extra",
            AttributeValueUpdate::builder()
                .action(AttributeAction::Add)
                .value(n("2"))
                .build(),
        )
        .attribute_updates(
            "flag",
            AttributeValueUpdate::builder()
                .action(AttributeAction::Put)
                .value(AttributeValue::Bool(true))
                .build(),
        )
        .attribute_updates(
            "doc",
            AttributeValueUpdate::builder()
                .action(AttributeAction::Delete)
                .build(),
        )
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.attributes.unwrap(),
        item(vec![
            ("id", s("p")),
            ("name", s("reserved word as attribute")),
            ("extra", n("5")),
            ("flag", AttributeValue::Bool(true)),
        ])
    );
    let err = client
        .put_item()
        .table_name("things")
        .item("id", s("p"))
        .expected(
            "extra",
            ExpectedAttributeValue::builder().exists(false).build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        message(&err),
        "ConditionalCheckFailedException: The conditional request failed"
    );

    // Mixing legacy and expression members is refused.
    let err = client
        .update_item()
        .table_name("things")
        .key("id", s("p"))
        .update_expression("SET a = :a")
        .expression_attribute_values(":a", n("1"))
        .expected(
            "extra",
            ExpectedAttributeValue::builder()
                .exists(true)
                .value(n("5"))
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        message(&err),
        "ValidationException: Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {Expected} Expression parameters: {UpdateExpression}"
    );
}
