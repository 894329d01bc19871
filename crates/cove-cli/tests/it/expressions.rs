//! Proves the expression language end to end through aws-sdk-dynamodb: each UpdateExpression
//! action with its exact result, each condition function and comparator on PutItem,
//! UpdateItem and DeleteItem (passing and failing, and what the item looks like after),
//! ReturnValues and ReturnValuesOnConditionCheckFailure, ProjectionExpression on GetItem,
//! the legacy Expected / AttributeUpdates / AttributesToGet members, and DynamoDB's exact
//! validation texts.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeAction, AttributeDefinition, AttributeValue, AttributeValueUpdate, BillingMode,
    ComparisonOperator, ConditionalOperator, ExpectedAttributeValue, KeySchemaElement, KeyType,
    ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
};

use crate::common::{Cove, data_dir};

const TABLE: &str = "exprs";
const FAILED: &str = "ConditionalCheckFailedException: The conditional request failed";

type Item = HashMap<String, AttributeValue>;
/// ExpressionAttributeNames for one request.
type Names<'a> = &'a [(&'a str, &'a str)];
/// ExpressionAttributeValues for one request.
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
    AttributeValue::M(item(pairs))
}

fn ss(v: &[&str]) -> AttributeValue {
    AttributeValue::Ss(v.iter().map(|x| x.to_string()).collect())
}

fn ns(v: &[&str]) -> AttributeValue {
    AttributeValue::Ns(v.iter().map(|x| x.to_string()).collect())
}

fn b(v: &[u8]) -> AttributeValue {
    AttributeValue::B(Blob::new(v.to_vec()))
}

fn item(pairs: Vec<(&str, AttributeValue)>) -> Item {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// `base` with `extra` attributes added or replaced.
fn with(base: &Item, extra: Vec<(&str, AttributeValue)>) -> Item {
    let mut out = base.clone();
    out.extend(item(extra));
    out
}

/// The value with every set sorted, recursively: DynamoDB does not promise set order.
fn sorted(v: AttributeValue) -> AttributeValue {
    match v {
        AttributeValue::Ss(mut x) => {
            x.sort();
            AttributeValue::Ss(x)
        }
        AttributeValue::Ns(mut x) => {
            x.sort();
            AttributeValue::Ns(x)
        }
        AttributeValue::Bs(mut x) => {
            x.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
            AttributeValue::Bs(x)
        }
        AttributeValue::L(x) => AttributeValue::L(x.into_iter().map(sorted).collect()),
        AttributeValue::M(x) => AttributeValue::M(norm(x)),
        other => other,
    }
}

/// The item with every set sorted, for exact comparisons.
fn norm(it: Item) -> Item {
    it.into_iter().map(|(k, v)| (k, sorted(v))).collect()
}

fn names_map(names: Names) -> Option<HashMap<String, String>> {
    (!names.is_empty()).then(|| {
        names
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    })
}

fn values_map(values: Values) -> Option<Item> {
    (!values.is_empty()).then(|| item(values))
}

/// "Code: message" of any SDK error, the way the server sent it.
fn message(err: &impl ProvideErrorMetadata) -> String {
    format!(
        "{}: {}",
        err.code().unwrap_or_default(),
        err.message().unwrap_or_default()
    )
}

async fn start() -> (tempfile::TempDir, Cove, Client) {
    let dir = data_dir();
    let cove = Cove::start(dir.path());
    let client = cove.client();
    client
        .create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
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
        .send()
        .await
        .expect("create table");
    (dir, cove, client)
}

async fn put(client: &Client, it: Item) {
    client
        .put_item()
        .table_name(TABLE)
        .set_item(Some(it))
        .send()
        .await
        .expect("put");
}

async fn get(client: &Client, pk: &str) -> Option<Item> {
    client
        .get_item()
        .table_name(TABLE)
        .key("pk", s(pk))
        .consistent_read(true)
        .send()
        .await
        .expect("get")
        .item
        .map(norm)
}

/// UpdateItem on item `pk`, returning the (set-sorted) Attributes of `rv`.
async fn update_rv(
    client: &Client,
    pk: &str,
    expr: &str,
    names: Names<'_>,
    values: Values<'_>,
    rv: ReturnValue,
) -> Result<Option<Item>, UpdateItemError> {
    client
        .update_item()
        .table_name(TABLE)
        .key("pk", s(pk))
        .update_expression(expr)
        .set_expression_attribute_names(names_map(names))
        .set_expression_attribute_values(values_map(values))
        .return_values(rv)
        .send()
        .await
        .map(|o| o.attributes.map(norm))
        .map_err(|e| e.into_service_error())
}

/// UpdateItem on item `pk`, returning ALL_NEW.
async fn update(
    client: &Client,
    pk: &str,
    expr: &str,
    names: Names<'_>,
    values: Values<'_>,
) -> Result<Item, UpdateItemError> {
    update_rv(client, pk, expr, names, values, ReturnValue::AllNew)
        .await
        .map(|a| a.expect("ALL_NEW always has the item"))
}

// ---------------------------------------------------------------------------------------
// UpdateExpression actions
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn set_plain_nested_and_arithmetic() {
    let (_dir, _cove, client) = start().await;
    put(
        &client,
        item(vec![
            ("pk", s("u")),
            ("n", n("10")),
            ("f", n("0.1")),
            ("big", n("12345678901234567890123456789012345678")),
            ("tiny", n("0.00000000000000000000000000000000000001")),
            (
                "a",
                m(vec![(
                    "b",
                    l(vec![
                        m(vec![("c", n("0"))]),
                        m(vec![("c", n("1")), ("d", s("keep"))]),
                    ]),
                )]),
            ),
            ("lst", l(vec![s("x"), s("y")])),
        ]),
    )
    .await;

    // Plain SET of new and existing attributes, with a #name for a reserved word.
    let got = update(
        &client,
        "u",
        "SET plain = :v, #name = :w, n = :n",
        &[("#name", "name")],
        vec![
            (":v", s("hello")),
            (":w", s("reserved")),
            (":n", n("+7.50")),
        ],
    )
    .await
    .unwrap();
    assert_eq!(got["plain"], s("hello"));
    assert_eq!(got["name"], s("reserved"));
    assert_eq!(got["n"], n("7.5"), "numbers come back normalized");

    // A nested map path through a list index: only that leaf changes.
    let got = update(
        &client,
        "u",
        "SET a.b[1].c = :c, a.b[0].added = :added",
        &[],
        vec![(":c", s("changed")), (":added", n("1"))],
    )
    .await
    .unwrap();
    assert_eq!(
        got["a"],
        m(vec![(
            "b",
            l(vec![
                m(vec![("c", n("0")), ("added", n("1"))]),
                m(vec![("c", s("changed")), ("d", s("keep"))]),
            ]),
        )])
    );

    // SET past the end of a list appends; an index in range replaces.
    let got = update(
        &client,
        "u",
        "SET lst[0] = :first, lst[9] = :tail",
        &[],
        vec![(":first", s("X")), (":tail", s("end"))],
    )
    .await
    .unwrap();
    assert_eq!(got["lst"], l(vec![s("X"), s("y"), s("end")]));

    // + and -, with paths and values on either side, exact to 38 digits. Every right-hand
    // side reads the item as it was before this update.
    let got = update(
        &client,
        "u",
        "SET n = n + :one, f = f + :f, d = :ten - n, neg = n - :ten, \
         big = big + :one, tiny = tiny + tiny, doubled = n + n, copied = n",
        &[],
        vec![(":one", n("1")), (":f", n("0.2")), (":ten", n("10"))],
    )
    .await
    .unwrap();
    assert_eq!(got["n"], n("8.5"));
    assert_eq!(got["f"], n("0.3"), "0.1 + 0.2 is exactly 0.3");
    assert_eq!(got["d"], n("2.5"));
    assert_eq!(got["neg"], n("-2.5"));
    assert_eq!(got["big"], n("12345678901234567890123456789012345679"));
    assert_eq!(got["tiny"], n("0.00000000000000000000000000000000000002"));
    assert_eq!(got["doubled"], n("15"));
    assert_eq!(
        got["copied"],
        n("7.5"),
        "a path operand copies the old value"
    );

    // Subtraction to zero, and a result with 38 significant digits on both sides of the point.
    let got = update(
        &client,
        "u",
        "SET z = n - n, p = :x + :y",
        &[],
        vec![
            (":x", n("1234567890123456789.0123456789012345678")),
            (":y", n("0.0000000000000000001")),
        ],
    )
    .await
    .unwrap();
    assert_eq!(got["z"], n("0"));
    assert_eq!(got["p"], n("1234567890123456789.0123456789012345679"));

    // What was stored is what GetItem reads back.
    assert_eq!(get(&client, "u").await, Some(got));
}

#[tokio::test]
async fn if_not_exists_and_list_append() {
    let (_dir, _cove, client) = start().await;
    put(
        &client,
        item(vec![
            ("pk", s("u")),
            ("count", n("3")),
            ("lst", l(vec![s("b"), s("c")])),
        ]),
    )
    .await;

    // Present: keeps the attribute's value. Absent: takes the fallback.
    let got = update(
        &client,
        "u",
        "SET #c = if_not_exists(#c, :zero), fresh = if_not_exists(fresh, :zero)",
        &[("#c", "count")],
        vec![(":zero", n("0"))],
    )
    .await
    .unwrap();
    assert_eq!(got["count"], n("3"));
    assert_eq!(got["fresh"], n("0"));

    // The usual counter idiom, on an absent and a present attribute.
    let got = update(
        &client,
        "u",
        "SET hits = if_not_exists(hits, :zero) + :one, #c = if_not_exists(#c, :zero) + :one",
        &[("#c", "count")],
        vec![(":zero", n("0")), (":one", n("1"))],
    )
    .await
    .unwrap();
    assert_eq!((&got["hits"], &got["count"]), (&n("1"), &n("4")));

    // list_append both ways round, and onto a list created by if_not_exists.
    let got = update(
        &client,
        "u",
        "SET lst = list_append(lst, :tail), front = list_append(:head, lst), \
         made = list_append(if_not_exists(made, :empty), :tail)",
        &[],
        vec![
            (":tail", l(vec![s("d"), n("5")])),
            (":head", l(vec![s("a")])),
            (":empty", l(vec![])),
        ],
    )
    .await
    .unwrap();
    assert_eq!(got["lst"], l(vec![s("b"), s("c"), s("d"), n("5")]));
    assert_eq!(got["front"], l(vec![s("a"), s("b"), s("c")]));
    assert_eq!(got["made"], l(vec![s("d"), n("5")]));
    assert_eq!(get(&client, "u").await, Some(got));
}

#[tokio::test]
async fn remove_attributes_and_list_elements() {
    let (_dir, _cove, client) = start().await;
    put(
        &client,
        item(vec![
            ("pk", s("u")),
            ("gone", s("bye")),
            ("lst", l(vec![s("a"), s("b"), s("c"), s("d"), s("e")])),
            (
                "doc",
                m(vec![("x", n("1")), ("y", l(vec![n("1"), n("2"), n("3")]))]),
            ),
        ]),
    )
    .await;

    // A top-level attribute, an absent one (no error), a list element: later ones shift down.
    let got = update(
        &client,
        "u",
        "REMOVE gone, never_there, lst[1]",
        &[],
        vec![],
    )
    .await
    .unwrap();
    assert!(!got.contains_key("gone"));
    assert_eq!(got["lst"], l(vec![s("a"), s("c"), s("d"), s("e")]));

    // Several indexes in one update all mean positions before it; one past the end is ignored.
    let got = update(&client, "u", "REMOVE lst[0], lst[2], lst[10]", &[], vec![])
        .await
        .unwrap();
    assert_eq!(got["lst"], l(vec![s("c"), s("e")]));

    // Nested: a map key and an element of a list inside a map.
    let got = update(&client, "u", "REMOVE doc.x, doc.y[0]", &[], vec![])
        .await
        .unwrap();
    assert_eq!(got["doc"], m(vec![("y", l(vec![n("2"), n("3")]))]));
    assert_eq!(
        got,
        item(vec![
            ("pk", s("u")),
            ("lst", l(vec![s("c"), s("e")])),
            ("doc", m(vec![("y", l(vec![n("2"), n("3")]))])),
        ])
    );
    assert_eq!(get(&client, "u").await, Some(got));
}

#[tokio::test]
async fn add_and_delete() {
    let (_dir, _cove, client) = start().await;
    put(
        &client,
        item(vec![
            ("pk", s("u")),
            ("n", n("10")),
            ("tags", ss(&["red", "blue"])),
            ("nums", ns(&["1", "2"])),
            ("doc", m(vec![("count", n("1"))])),
        ]),
    )
    .await;

    // ADD: to a number, creating a number, a negative number, a nested number; to a string
    // set and a number set (duplicates kept once, 1.0 being the number 1); creating a set.
    let got = update(
        &client,
        "u",
        "ADD n :five, tally :five, doc.#c :minus, tags :more, nums :morenums, fresh :fresh",
        &[("#c", "count")],
        vec![
            (":five", n("5")),
            (":minus", n("-3.5")),
            (":more", ss(&["green", "red"])),
            (":morenums", ns(&["3", "1.0"])),
            (":fresh", ss(&["only"])),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        got,
        item(vec![
            ("pk", s("u")),
            ("n", n("15")),
            ("tally", n("5")),
            ("doc", m(vec![("count", n("-2.5"))])),
            ("tags", ss(&["blue", "green", "red"])),
            ("nums", ns(&["1", "2", "3"])),
            ("fresh", ss(&["only"])),
        ])
    );

    // DELETE from a string set and a number set (absent members are ignored), and from an
    // absent attribute (nothing happens).
    let got = update(
        &client,
        "u",
        "DELETE tags :drop, nums :dropnums, nothing :drop",
        &[],
        vec![
            (":drop", ss(&["red", "purple"])),
            (":dropnums", ns(&["2.00"])),
        ],
    )
    .await
    .unwrap();
    assert_eq!(got["tags"], ss(&["blue", "green"]));
    assert_eq!(got["nums"], ns(&["1", "3"]));
    assert!(!got.contains_key("nothing"));

    // Deleting every member removes the attribute: DynamoDB has no empty sets.
    let got = update(
        &client,
        "u",
        "DELETE tags :all, fresh :only",
        &[],
        vec![(":all", ss(&["blue", "green"])), (":only", ss(&["only"]))],
    )
    .await
    .unwrap();
    assert!(!got.contains_key("tags"), "{got:?}");
    assert!(!got.contains_key("fresh"), "{got:?}");
    assert_eq!(get(&client, "u").await, Some(got));
}

#[tokio::test]
async fn update_creates_an_absent_item() {
    let (_dir, _cove, client) = start().await;

    // ALL_OLD of an absent item is nothing; the new item is its key plus the update.
    let old = update_rv(
        &client,
        "new",
        "SET v = :v ADD c :one, s :set",
        &[],
        vec![(":v", s("x")), (":one", n("1")), (":set", ns(&["7"]))],
        ReturnValue::AllOld,
    )
    .await
    .unwrap();
    assert_eq!(old, None);
    assert_eq!(
        get(&client, "new").await,
        Some(item(vec![
            ("pk", s("new")),
            ("v", s("x")),
            ("c", n("1")),
            ("s", ns(&["7"])),
        ]))
    );

    // An UpdateItem with no update at all creates the item from its key alone (scylladb
    // test_update_expression.py, test_update_expression_empty, run against DynamoDB).
    let out = client
        .update_item()
        .table_name(TABLE)
        .key("pk", s("bare"))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .unwrap();
    assert_eq!(out.attributes, Some(item(vec![("pk", s("bare"))])));
    assert_eq!(
        get(&client, "bare").await,
        Some(item(vec![("pk", s("bare"))]))
    );
}

// ---------------------------------------------------------------------------------------
// Validation errors
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn update_validation_errors_have_dynamodbs_texts() {
    let (_dir, _cove, client) = start().await;
    let base = item(vec![
        ("pk", s("v")),
        ("txt", s("t")),
        ("num", n("1")),
        ("mp", m(vec![("k", n("1"))])),
        ("lst", l(vec![n("1")])),
        ("tags", ss(&["x"])),
    ]);
    put(&client, base.clone()).await;
    let cases: Vec<(&str, Names, Values, &str)> = vec![
        (
            "SET a = :v, a.b = :v",
            &[],
            vec![(":v", n("1"))],
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]",
        ),
        (
            "SET a = :v REMOVE a",
            &[],
            vec![(":v", n("1"))],
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]",
        ),
        (
            "SET a.b = :v, a[1] = :v",
            &[],
            vec![(":v", n("1"))],
            "Invalid UpdateExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a, [1]]",
        ),
        (
            "SET pk = :v",
            &[],
            vec![(":v", s("other"))],
            "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key",
        ),
        (
            "REMOVE #k",
            &[("#k", "pk")],
            vec![],
            "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key",
        ),
        // ADD of a number to a string attribute: the types only clash with the item.
        (
            "ADD txt :one",
            &[],
            vec![(":one", n("1"))],
            "An operand in the update expression has an incorrect data type",
        ),
        // ADD of a number to a string set.
        (
            "ADD tags :one",
            &[],
            vec![(":one", n("1"))],
            "An operand in the update expression has an incorrect data type",
        ),
        // An operand ADD never accepts: refused before the item is read.
        (
            "ADD lst :v",
            &[],
            vec![(":v", s("x"))],
            "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: STRING, typeSet: ALLOWED_FOR_ADD_OPERAND",
        ),
        (
            "DELETE tags :v",
            &[],
            vec![(":v", s("x"))],
            "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: STRING, typeSet: ALLOWED_FOR_DELETE_OPERAND",
        ),
        (
            "DELETE tags :v",
            &[],
            vec![(":v", ns(&["1"]))],
            "An operand in the update expression has an incorrect data type",
        ),
        (
            "SET num = txt + :one",
            &[],
            vec![(":one", n("1"))],
            "An operand in the update expression has an incorrect data type",
        ),
        // list_append of a value that is not a list: refused before the item is read...
        (
            "SET lst = list_append(lst, :v)",
            &[],
            vec![(":v", s("x"))],
            "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: list_append, operand type: S",
        ),
        // ...and of an attribute that is not a list, once the item is read.
        (
            "SET lst = list_append(txt, :v)",
            &[],
            vec![(":v", l(vec![n("1")]))],
            "An operand in the update expression has an incorrect data type",
        ),
        (
            "SET txt.leaf = :v",
            &[],
            vec![(":v", n("1"))],
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "SET mp[0] = :v",
            &[],
            vec![(":v", n("1"))],
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "SET nosuch.leaf = :v",
            &[],
            vec![(":v", n("1"))],
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "SET num = nosuch + :one",
            &[],
            vec![(":one", n("1"))],
            "The provided expression refers to an attribute that does not exist in the item",
        ),
        // Arithmetic past 38 significant digits or past 1e126: DynamoDB reports both as an
        // overflow (scylladb test_number.py, test_update_expression_plus_imprecise).
        (
            "SET v = :x + :y",
            &[],
            vec![(":x", n("1e50")), (":y", n("1"))],
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ),
        (
            "SET v = :x - :y",
            &[],
            vec![(":x", n("9e125")), (":y", n("-9e125"))],
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ),
        (
            "SET v = :v",
            &[],
            vec![(":v", n("1")), (":unused", n("2"))],
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}",
        ),
        (
            "SET v = :v",
            &[("#unused", "x")],
            vec![(":v", n("1"))],
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#unused}",
        ),
        (
            "SET v = :absent",
            &[],
            vec![(":v", n("1"))],
            "Invalid UpdateExpression: An expression attribute value used in expression is not defined; attribute value: :absent",
        ),
        (
            "SET #absent = :v",
            &[],
            vec![(":v", n("1"))],
            "Invalid UpdateExpression: An expression attribute name used in the document path is not defined; attribute name: #absent",
        ),
        (
            "SET name = :v",
            &[],
            vec![(":v", n("1"))],
            "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: name",
        ),
        // Captured from DynamoDB (aws/aws-cdk#7591): the offending token, and the text from
        // the token before it to the token after it.
        (
            "ADD hits : incr",
            &[],
            vec![(":incr", n("1"))],
            "Invalid UpdateExpression: Syntax error; token: \":\", near: \"hits : incr\"",
        ),
        (
            "SET v = size(txt)",
            &[],
            vec![],
            "Invalid UpdateExpression: The function is not allowed in an update expression; function: size",
        ),
        (
            "SET v = list_append(:l)",
            &[],
            vec![(":l", l(vec![]))],
            "Invalid UpdateExpression: Incorrect number of operands for operator or function; operator or function: list_append, number of operands: 1",
        ),
        (
            "",
            &[],
            vec![],
            "Invalid UpdateExpression: The expression can not be empty;",
        ),
    ];
    for (expr, names, values, expected) in cases {
        let err = update(&client, "v", expr, names, values)
            .await
            .expect_err(expr);
        assert_eq!(
            message(&err),
            format!("ValidationException: {expected}"),
            "{expr}"
        );
    }
    assert_eq!(
        get(&client, "v").await,
        Some(norm(base)),
        "no refused update changed the item"
    );
    // A refused update of an absent item does not create it.
    let err = update(
        &client,
        "absent",
        "SET a = :v, a.b = :v",
        &[],
        vec![(":v", n("1"))],
    )
    .await
    .unwrap_err();
    assert!(message(&err).starts_with("ValidationException: "));
    assert_eq!(get(&client, "absent").await, None);
}

#[tokio::test]
async fn condition_validation_errors_have_dynamodbs_texts() {
    let (_dir, _cove, client) = start().await;
    put(&client, item(vec![("pk", s("v")), ("a", n("1"))])).await;
    let cases: Vec<(&str, Names, Values, &str)> = vec![
        (
            "status = :v",
            &[],
            vec![(":v", n("1"))],
            "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status",
        ),
        (
            "a = :absent",
            &[],
            vec![(":v", n("1"))],
            "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :absent",
        ),
        (
            "#absent = :v",
            &[],
            vec![(":v", n("1"))],
            "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #absent",
        ),
        (
            "a = :v",
            &[],
            vec![(":v", n("1")), (":unused", n("1"))],
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}",
        ),
        (
            "if_not_exists(a, :v) = :v",
            &[],
            vec![(":v", n("1"))],
            "Invalid ConditionExpression: The function is not allowed in a condition expression; function: if_not_exists",
        ),
        (
            "nosuchfn(a)",
            &[],
            vec![],
            "Invalid ConditionExpression: Invalid function name; function: nosuchfn",
        ),
        (
            "a BETWEEN :hi AND :lo",
            &[],
            vec![(":lo", n("1")), (":hi", n("5"))],
            "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:5}, upper bound operand: AttributeValue: {N:1}",
        ),
    ];
    for (cond, names, values, expected) in cases {
        let err = client
            .put_item()
            .table_name(TABLE)
            .item("pk", s("v"))
            .condition_expression(cond)
            .set_expression_attribute_names(names_map(names))
            .set_expression_attribute_values(values_map(values))
            .send()
            .await
            .expect_err(cond);
        assert_eq!(
            message(&err),
            format!("ValidationException: {expected}"),
            "{cond}"
        );
    }
    assert_eq!(
        get(&client, "v").await,
        Some(item(vec![("pk", s("v")), ("a", n("1"))]))
    );
}

// ---------------------------------------------------------------------------------------
// ConditionExpression on PutItem, UpdateItem and DeleteItem
// ---------------------------------------------------------------------------------------

/// Whether a conditional write went through; a refusal must be DynamoDB's exact one.
fn held<O, E: ProvideErrorMetadata>(result: Result<O, E>, what: &str) -> bool {
    match result {
        Ok(_) => true,
        Err(e) => {
            assert_eq!(message(&e), FAILED, "{what}");
            false
        }
    }
}

/// The item every condition case is checked against.
fn condition_base() -> Item {
    item(vec![
        ("pk", s("c")),
        ("s", s("widget")),
        ("n", n("5")),
        ("ss", ss(&["a", "b"])),
        ("ns", ns(&["1", "2"])),
        ("l", l(vec![s("x"), n("1")])),
        ("m", m(vec![("k", s("v")), ("n", n("3"))])),
        ("b", b(&[1, 2, 3])),
        ("t", AttributeValue::Bool(true)),
        ("z", AttributeValue::Null(true)),
        ("status", s("open")),
    ])
}

/// Runs one condition on a PutItem, an UpdateItem and a DeleteItem of the base item, and
/// checks each wrote exactly when the condition held.
async fn check_condition(
    client: &Client,
    cond: &str,
    names: Names<'_>,
    values: &Values<'_>,
    expected: bool,
) {
    let base = norm(condition_base());
    let what = |op: &str| format!("{op} with {cond}");

    put(client, base.clone()).await;
    let replacement = item(vec![
        ("pk", s("c")),
        ("replaced", AttributeValue::Bool(true)),
    ]);
    let result = client
        .put_item()
        .table_name(TABLE)
        .set_item(Some(replacement.clone()))
        .condition_expression(cond)
        .set_expression_attribute_names(names_map(names))
        .set_expression_attribute_values(values_map(values.clone()))
        .send()
        .await;
    assert_eq!(
        held(result, &what("PutItem")),
        expected,
        "{}",
        what("PutItem")
    );
    let want = if expected { &replacement } else { &base };
    assert_eq!(
        get(client, "c").await.as_ref(),
        Some(want),
        "{}",
        what("PutItem")
    );

    put(client, base.clone()).await;
    let mut update_values = values.clone();
    update_values.push((":marker", s("updated")));
    let result = client
        .update_item()
        .table_name(TABLE)
        .key("pk", s("c"))
        .update_expression("SET marker = :marker")
        .condition_expression(cond)
        .set_expression_attribute_names(names_map(names))
        .set_expression_attribute_values(values_map(update_values))
        .send()
        .await;
    assert_eq!(
        held(result, &what("UpdateItem")),
        expected,
        "{}",
        what("UpdateItem")
    );
    let want = if expected {
        with(&base, vec![("marker", s("updated"))])
    } else {
        base.clone()
    };
    assert_eq!(get(client, "c").await, Some(want), "{}", what("UpdateItem"));

    put(client, base.clone()).await;
    let result = client
        .delete_item()
        .table_name(TABLE)
        .key("pk", s("c"))
        .condition_expression(cond)
        .set_expression_attribute_names(names_map(names))
        .set_expression_attribute_values(values_map(values.clone()))
        .send()
        .await;
    assert_eq!(
        held(result, &what("DeleteItem")),
        expected,
        "{}",
        what("DeleteItem")
    );
    let want = (!expected).then_some(base);
    assert_eq!(get(client, "c").await, want, "{}", what("DeleteItem"));
}

#[tokio::test]
async fn every_condition_function_and_operator() {
    let (_dir, _cove, client) = start().await;
    let one = || n("1");
    let five = || n("5");
    let cases: Vec<(&str, Names, Values, bool)> = vec![
        // attribute_exists / attribute_not_exists, top-level and nested.
        ("attribute_exists(n)", &[], vec![], true),
        ("attribute_exists(nope)", &[], vec![], false),
        ("attribute_exists(m.k)", &[], vec![], true),
        ("attribute_exists(l[5])", &[], vec![], false),
        ("attribute_not_exists(nope)", &[], vec![], true),
        ("attribute_not_exists(n)", &[], vec![], false),
        ("attribute_not_exists(m.nope)", &[], vec![], true),
        // attribute_type, every type name.
        ("attribute_type(s, :t)", &[], vec![(":t", s("S"))], true),
        ("attribute_type(s, :t)", &[], vec![(":t", s("N"))], false),
        ("attribute_type(n, :t)", &[], vec![(":t", s("N"))], true),
        ("attribute_type(b, :t)", &[], vec![(":t", s("B"))], true),
        ("attribute_type(ss, :t)", &[], vec![(":t", s("SS"))], true),
        ("attribute_type(ns, :t)", &[], vec![(":t", s("NS"))], true),
        ("attribute_type(ns, :t)", &[], vec![(":t", s("SS"))], false),
        ("attribute_type(l, :t)", &[], vec![(":t", s("L"))], true),
        ("attribute_type(m, :t)", &[], vec![(":t", s("M"))], true),
        ("attribute_type(t, :t)", &[], vec![(":t", s("BOOL"))], true),
        ("attribute_type(z, :t)", &[], vec![(":t", s("NULL"))], true),
        ("attribute_type(nope, :t)", &[], vec![(":t", s("S"))], false),
        // begins_with on strings and binary.
        ("begins_with(s, :p)", &[], vec![(":p", s("wid"))], true),
        ("begins_with(s, :p)", &[], vec![(":p", s("get"))], false),
        ("begins_with(b, :p)", &[], vec![(":p", b(&[1, 2]))], true),
        ("begins_with(b, :p)", &[], vec![(":p", b(&[2]))], false),
        // contains on a string, string set, number set and list.
        ("contains(s, :p)", &[], vec![(":p", s("dge"))], true),
        ("contains(s, :p)", &[], vec![(":p", s("zz"))], false),
        ("contains(ss, :p)", &[], vec![(":p", s("b"))], true),
        ("contains(ss, :p)", &[], vec![(":p", s("c"))], false),
        ("contains(ns, :p)", &[], vec![(":p", n("2.0"))], true),
        ("contains(ns, :p)", &[], vec![(":p", n("3"))], false),
        ("contains(l, :p)", &[], vec![(":p", s("x"))], true),
        ("contains(l, :p)", &[], vec![(":p", one())], true),
        ("contains(l, :p)", &[], vec![(":p", s("1"))], false),
        // size of a string, binary, set, list and map.
        ("size(s) = :v", &[], vec![(":v", n("6"))], true),
        ("size(s) > :v", &[], vec![(":v", n("6"))], false),
        ("size(b) = :v", &[], vec![(":v", n("3"))], true),
        ("size(ss) = :v", &[], vec![(":v", n("2"))], true),
        ("size(l) < :v", &[], vec![(":v", n("2"))], false),
        ("size(m) >= :v", &[], vec![(":v", n("2"))], true),
        ("size(nope) = :v", &[], vec![(":v", n("0"))], false),
        // The six comparators on numbers (compared as numbers), strings and binary.
        ("n = :v", &[], vec![(":v", five())], true),
        ("n = :v", &[], vec![(":v", n("5.000"))], true),
        ("n = :v", &[], vec![(":v", one())], false),
        ("n <> :v", &[], vec![(":v", one())], true),
        ("n <> :v", &[], vec![(":v", five())], false),
        ("n < :v", &[], vec![(":v", n("10"))], true),
        ("n < :v", &[], vec![(":v", five())], false),
        ("n <= :v", &[], vec![(":v", five())], true),
        ("n <= :v", &[], vec![(":v", n("4.99"))], false),
        ("n > :v", &[], vec![(":v", n("-5"))], true),
        ("n > :v", &[], vec![(":v", five())], false),
        ("n >= :v", &[], vec![(":v", five())], true),
        ("n >= :v", &[], vec![(":v", n("5.01"))], false),
        ("s < :v", &[], vec![(":v", s("x"))], true),
        ("s > :v", &[], vec![(":v", s("x"))], false),
        ("b < :v", &[], vec![(":v", b(&[1, 3]))], true),
        ("b > :v", &[], vec![(":v", b(&[1, 3]))], false),
        // Values of another type, or missing, are never equal nor ordered, so `<>` holds
        // (scylladb test_condition_expression.py, run against DynamoDB).
        ("n = :v", &[], vec![(":v", s("5"))], false),
        ("n <> :v", &[], vec![(":v", s("5"))], true),
        ("n < :v", &[], vec![(":v", s("9"))], false),
        ("nope = :v", &[], vec![(":v", one())], false),
        ("nope <> :v", &[], vec![(":v", one())], true),
        // Paths on both sides, nested paths, and #name placeholders.
        ("n > m.n", &[], vec![], true),
        ("n < m.n", &[], vec![], false),
        (
            "m.k = :v AND l[0] = :x",
            &[],
            vec![(":v", s("v")), (":x", s("x"))],
            true,
        ),
        ("l[1] = :x", &[], vec![(":x", s("x"))], false),
        (
            "#st = :v",
            &[("#st", "status")],
            vec![(":v", s("open"))],
            true,
        ),
        (
            "#st = :v",
            &[("#st", "status")],
            vec![(":v", s("closed"))],
            false,
        ),
        // BETWEEN is inclusive at both ends.
        (
            "n BETWEEN :lo AND :hi",
            &[],
            vec![(":lo", one()), (":hi", five())],
            true,
        ),
        (
            "n BETWEEN :lo AND :hi",
            &[],
            vec![(":lo", five()), (":hi", five())],
            true,
        ),
        (
            "n BETWEEN :lo AND :hi",
            &[],
            vec![(":lo", n("6")), (":hi", n("9"))],
            false,
        ),
        (
            "s BETWEEN :lo AND :hi",
            &[],
            vec![(":lo", s("a")), (":hi", s("x"))],
            true,
        ),
        // IN.
        (
            "n IN (:a, :b)",
            &[],
            vec![(":a", one()), (":b", five())],
            true,
        ),
        (
            "n IN (:a, :b)",
            &[],
            vec![(":a", one()), (":b", n("2"))],
            false,
        ),
        ("s IN (:a)", &[], vec![(":a", s("widget"))], true),
        // NOT binds tighter than AND, and AND tighter than OR; parentheses override.
        // (NOT n = 5) OR n = 5 holds; NOT (n = 5 OR n = 5) would not.
        (
            "NOT n = :five OR n = :five",
            &[],
            vec![(":five", five())],
            true,
        ),
        // (NOT n = 5) AND n = 1 fails; NOT (n = 5 AND n = 1) would hold.
        (
            "NOT n = :five AND n = :one",
            &[],
            vec![(":five", five()), (":one", one())],
            false,
        ),
        // n = 5 OR (n = 1 AND n = 1) holds; (n = 5 OR n = 1) AND n = 1 would not.
        (
            "n = :five OR n = :one AND n = :one",
            &[],
            vec![(":five", five()), (":one", one())],
            true,
        ),
        (
            "(n = :five OR n = :one) AND n = :one",
            &[],
            vec![(":five", five()), (":one", one())],
            false,
        ),
        (
            "NOT (n = :five AND n = :one)",
            &[],
            vec![(":five", five()), (":one", one())],
            true,
        ),
        (
            "attribute_exists(s) AND (contains(ss, :a) OR size(l) > :ten) AND NOT begins_with(s, :z)",
            &[],
            vec![(":a", s("a")), (":ten", n("10")), (":z", s("z"))],
            true,
        ),
    ];
    for (cond, names, values, expected) in &cases {
        check_condition(&client, cond, names, values, *expected).await;
    }
}

#[tokio::test]
async fn conditions_on_an_absent_item() {
    let (_dir, _cove, client) = start().await;
    // Every attribute of an absent item is missing.
    let result = client
        .put_item()
        .table_name(TABLE)
        .item("pk", s("new"))
        .condition_expression("attribute_exists(pk)")
        .send()
        .await;
    assert!(!held(result, "PutItem attribute_exists on absent"));
    assert_eq!(get(&client, "new").await, None);
    let result = client
        .update_item()
        .table_name(TABLE)
        .key("pk", s("new"))
        .update_expression("SET v = :v")
        .condition_expression("v = :v")
        .expression_attribute_values(":v", n("1"))
        .send()
        .await;
    assert!(!held(result, "UpdateItem on absent"));
    assert_eq!(
        get(&client, "new").await,
        None,
        "a failed update creates nothing"
    );
    let result = client
        .delete_item()
        .table_name(TABLE)
        .key("pk", s("new"))
        .condition_expression("attribute_exists(pk)")
        .send()
        .await;
    assert!(!held(result, "DeleteItem on absent"));

    let result = client
        .put_item()
        .table_name(TABLE)
        .item("pk", s("new"))
        .item("v", n("1"))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await;
    assert!(held(result, "PutItem attribute_not_exists on absent"));
    assert_eq!(
        get(&client, "new").await,
        Some(item(vec![("pk", s("new")), ("v", n("1"))]))
    );
    // The same put again is refused: the item exists now.
    let result = client
        .put_item()
        .table_name(TABLE)
        .item("pk", s("new"))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await;
    assert!(!held(result, "second PutItem attribute_not_exists"));
    assert_eq!(
        get(&client, "new").await,
        Some(item(vec![("pk", s("new")), ("v", n("1"))]))
    );
}

// ---------------------------------------------------------------------------------------
// ReturnValues and ReturnValuesOnConditionCheckFailure
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn update_return_values() {
    let (_dir, _cove, client) = start().await;
    let original = item(vec![
        ("pk", s("r")),
        ("n", n("1")),
        ("keep", s("same")),
        ("gone", s("old")),
        (
            "doc",
            m(vec![
                (
                    "entries",
                    l(vec![m(vec![("c", n("1"))]), m(vec![("c", n("2"))])]),
                ),
                ("other", s("o")),
            ]),
        ),
        ("tags", ss(&["a"])),
    ]);
    let expr = "SET n = n + :one, fresh = :f, doc.entries[1].c = :c REMOVE gone ADD tags :t";
    let run = |rv: ReturnValue| {
        let client = client.clone();
        let original = original.clone();
        async move {
            put(&client, original).await;
            update_rv(
                &client,
                "r",
                expr,
                &[],
                vec![
                    (":one", n("1")),
                    (":f", s("new")),
                    (":c", s("changed")),
                    (":t", ss(&["b"])),
                ],
                rv,
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(run(ReturnValue::None).await, None);
    assert_eq!(run(ReturnValue::AllOld).await, Some(norm(original.clone())));
    // The updated paths as they were: the new attribute was not there, the removed one was,
    // and a nested path comes back inside its maps and lists.
    assert_eq!(
        run(ReturnValue::UpdatedOld).await,
        Some(item(vec![
            ("n", n("1")),
            ("gone", s("old")),
            ("doc", m(vec![("entries", l(vec![m(vec![("c", n("2"))])]))])),
            ("tags", ss(&["a"])),
        ]))
    );
    assert_eq!(
        run(ReturnValue::AllNew).await,
        Some(item(vec![
            ("pk", s("r")),
            ("n", n("2")),
            ("keep", s("same")),
            ("fresh", s("new")),
            (
                "doc",
                m(vec![
                    (
                        "entries",
                        l(vec![m(vec![("c", n("1"))]), m(vec![("c", s("changed"))])]),
                    ),
                    ("other", s("o")),
                ]),
            ),
            ("tags", ss(&["a", "b"])),
        ]))
    );
    // The updated paths as they are now: the removed attribute is not there.
    assert_eq!(
        run(ReturnValue::UpdatedNew).await,
        Some(item(vec![
            ("n", n("2")),
            ("fresh", s("new")),
            (
                "doc",
                m(vec![("entries", l(vec![m(vec![("c", s("changed"))])]))])
            ),
            ("tags", ss(&["a", "b"])),
        ]))
    );

    // UPDATED_OLD of an update that only adds attributes has nothing to return.
    put(&client, item(vec![("pk", s("r2"))])).await;
    let got = update_rv(
        &client,
        "r2",
        "SET x = :x",
        &[],
        vec![(":x", n("1"))],
        ReturnValue::UpdatedOld,
    )
    .await
    .unwrap();
    assert_eq!(got, None);

    // PutItem and DeleteItem ALL_OLD give the item replaced or deleted.
    let out = client
        .put_item()
        .table_name(TABLE)
        .item("pk", s("r2"))
        .item("y", n("2"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.attributes,
        Some(item(vec![("pk", s("r2")), ("x", n("1"))]))
    );
    let out = client
        .delete_item()
        .table_name(TABLE)
        .key("pk", s("r2"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.attributes,
        Some(item(vec![("pk", s("r2")), ("y", n("2"))]))
    );
}

#[tokio::test]
async fn failed_condition_returns_the_old_item_when_asked() {
    let (_dir, _cove, client) = start().await;
    let original = item(vec![("pk", s("f")), ("n", n("1")), ("tags", ss(&["a"]))]);
    put(&client, original.clone()).await;
    let all_old = ReturnValuesOnConditionCheckFailure::AllOld;

    let err = client
        .put_item()
        .table_name(TABLE)
        .item("pk", s("f"))
        .condition_expression("n = :two")
        .expression_attribute_values(":two", n("2"))
        .return_values_on_condition_check_failure(all_old.clone())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(message(&err), FAILED);
    let PutItemError::ConditionalCheckFailedException(ccf) = err else {
        panic!("expected ConditionalCheckFailedException, got {err:?}");
    };
    assert_eq!(ccf.item().cloned(), Some(original.clone()));

    let err = client
        .update_item()
        .table_name(TABLE)
        .key("pk", s("f"))
        .update_expression("SET n = :two")
        .condition_expression("attribute_not_exists(pk)")
        .expression_attribute_values(":two", n("2"))
        .return_values_on_condition_check_failure(all_old.clone())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(message(&err), FAILED);
    let UpdateItemError::ConditionalCheckFailedException(ccf) = err else {
        panic!("expected ConditionalCheckFailedException, got {err:?}");
    };
    assert_eq!(ccf.item().cloned(), Some(original.clone()));

    let err = client
        .delete_item()
        .table_name(TABLE)
        .key("pk", s("f"))
        .condition_expression("contains(tags, :z)")
        .expression_attribute_values(":z", s("z"))
        .return_values_on_condition_check_failure(all_old.clone())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let DeleteItemError::ConditionalCheckFailedException(ccf) = err else {
        panic!("expected ConditionalCheckFailedException, got {err:?}");
    };
    assert_eq!(ccf.item().cloned(), Some(original.clone()));
    assert_eq!(
        get(&client, "f").await,
        Some(norm(original.clone())),
        "no failed write changed the item"
    );

    // NONE (and the default) leave the item out.
    let err = client
        .delete_item()
        .table_name(TABLE)
        .key("pk", s("f"))
        .condition_expression("n = :two")
        .expression_attribute_values(":two", n("2"))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::None)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let DeleteItemError::ConditionalCheckFailedException(ccf) = err else {
        panic!("expected ConditionalCheckFailedException, got {err:?}");
    };
    assert_eq!(ccf.item(), None);
    let err = client
        .update_item()
        .table_name(TABLE)
        .key("pk", s("f"))
        .update_expression("SET n = :two")
        .condition_expression("n = :two")
        .expression_attribute_values(":two", n("2"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let UpdateItemError::ConditionalCheckFailedException(ccf) = err else {
        panic!("expected ConditionalCheckFailedException, got {err:?}");
    };
    assert_eq!(ccf.item(), None);

    // ALL_OLD on an absent item: the condition fails, and there is no item to return.
    let err = client
        .update_item()
        .table_name(TABLE)
        .key("pk", s("nothing-here"))
        .update_expression("SET n = :two")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(":two", n("2"))
        .return_values_on_condition_check_failure(all_old)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let UpdateItemError::ConditionalCheckFailedException(ccf) = err else {
        panic!("expected ConditionalCheckFailedException, got {err:?}");
    };
    assert_eq!(ccf.item(), None);
    assert_eq!(get(&client, "nothing-here").await, None);
}

// ---------------------------------------------------------------------------------------
// ProjectionExpression
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn projection_expression_on_get_item() {
    let (_dir, _cove, client) = start().await;
    put(
        &client,
        item(vec![
            ("pk", s("p")),
            ("name", s("a reserved word")),
            ("a.b", s("a dotted name")),
            (
                "doc",
                m(vec![
                    ("a", n("1")),
                    ("b", l(vec![s("x"), s("y"), s("z")])),
                    ("c", m(vec![("d", s("deep")), ("e", s("other"))])),
                ]),
            ),
            ("extra", n("3")),
        ]),
    )
    .await;
    let project = |expr: &'static str, names: Names<'static>| {
        let client = client.clone();
        async move {
            client
                .get_item()
                .table_name(TABLE)
                .key("pk", s("p"))
                .projection_expression(expr)
                .set_expression_attribute_names(names_map(names))
                .send()
                .await
        }
    };

    // #name for a reserved word and for a name with a dot; nested map paths; list indexes
    // (two of one list keep their order); a path to nothing is left out.
    let got = project(
        "#n, #dotted, doc.b[2], doc.b[0], doc.c.d, doc.#missing, pk",
        &[("#n", "name"), ("#dotted", "a.b"), ("#missing", "nope")],
    )
    .await
    .unwrap()
    .item
    .unwrap();
    assert_eq!(
        got,
        item(vec![
            ("pk", s("p")),
            ("name", s("a reserved word")),
            ("a.b", s("a dotted name")),
            (
                "doc",
                m(vec![
                    ("b", l(vec![s("x"), s("z")])),
                    ("c", m(vec![("d", s("deep"))])),
                ]),
            ),
        ])
    );

    // A whole map, and a #name as a nested step.
    let got = project("doc.#c, extra", &[("#c", "c")])
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        got,
        item(vec![
            (
                "doc",
                m(vec![("c", m(vec![("d", s("deep")), ("e", s("other"))]))])
            ),
            ("extra", n("3")),
        ])
    );

    // An unescaped `a.b` is the path a -> b, which this item does not have.
    let got = project("extra, a.b", &[]).await.unwrap().item.unwrap();
    assert_eq!(got, item(vec![("extra", n("3"))]));

    let errors: Vec<(&str, Names, &str)> = vec![
        (
            "name",
            &[],
            "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: name",
        ),
        (
            "doc, doc.a",
            &[],
            "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [doc], path two: [doc, a]",
        ),
        (
            "doc.a, doc[0]",
            &[],
            "Invalid ProjectionExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [doc, a], path two: [doc, [0]]",
        ),
        (
            "#x",
            &[],
            "Invalid ProjectionExpression: An expression attribute name used in the document path is not defined; attribute name: #x",
        ),
        (
            "extra",
            &[("#unused", "x")],
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#unused}",
        ),
    ];
    for (expr, names, expected) in errors {
        let err = project(expr, names).await.expect_err(expr);
        assert_eq!(
            message(&err),
            format!("ValidationException: {expected}"),
            "{expr}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Legacy members
// ---------------------------------------------------------------------------------------

fn expect_eq(v: AttributeValue) -> ExpectedAttributeValue {
    ExpectedAttributeValue::builder().value(v).build()
}

fn expect_op(op: ComparisonOperator, values: Vec<AttributeValue>) -> ExpectedAttributeValue {
    ExpectedAttributeValue::builder()
        .comparison_operator(op)
        .set_attribute_value_list(Some(values))
        .build()
}

#[tokio::test]
async fn legacy_expected_attribute_updates_and_attributes_to_get() {
    let (_dir, _cove, client) = start().await;
    let original = item(vec![
        ("pk", s("g")),
        ("n", n("5")),
        ("name", s("widget")),
        ("tags", ss(&["a", "b"])),
        ("stale", s("x")),
    ]);
    put(&client, original.clone()).await;

    // Expected, AND (the default): one false entry fails the write.
    let err = client
        .put_item()
        .table_name(TABLE)
        .item("pk", s("g"))
        .expected("n", expect_eq(n("5")))
        .expected("name", expect_eq(s("gadget")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(message(&err), FAILED);
    // Exists: false on an attribute that is there.
    let err = client
        .delete_item()
        .table_name(TABLE)
        .key("pk", s("g"))
        .expected("n", ExpectedAttributeValue::builder().exists(false).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(message(&err), FAILED);
    // Comparison operators: GT false, and with OR the other entries being false too.
    let err = client
        .update_item()
        .table_name(TABLE)
        .key("pk", s("g"))
        .expected("n", expect_op(ComparisonOperator::Gt, vec![n("5")]))
        .expected(
            "name",
            expect_op(ComparisonOperator::BeginsWith, vec![s("x")]),
        )
        .conditional_operator(ConditionalOperator::Or)
        .attribute_updates(
            "hit",
            AttributeValueUpdate::builder()
                .action(AttributeAction::Put)
                .value(n("1"))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(message(&err), FAILED);
    assert_eq!(get(&client, "g").await, Some(norm(original.clone())));

    // OR: one true entry is enough. AttributeUpdates PUT, ADD (number and set), DELETE
    // (members of a set, and without a value the whole attribute).
    let out = client
        .update_item()
        .table_name(TABLE)
        .key("pk", s("g"))
        .expected("n", expect_op(ComparisonOperator::Gt, vec![n("100")]))
        .expected(
            "name",
            expect_op(ComparisonOperator::Between, vec![s("a"), s("x")]),
        )
        .expected(
            "absent",
            ExpectedAttributeValue::builder().exists(false).build(),
        )
        .conditional_operator(ConditionalOperator::Or)
        .attribute_updates(
            "flag",
            AttributeValueUpdate::builder()
                .action(AttributeAction::Put)
                .value(AttributeValue::Bool(true))
                .build(),
        )
        .attribute_updates(
            "n",
            AttributeValueUpdate::builder()
                .action(AttributeAction::Add)
                .value(n("-2"))
                .build(),
        )
        .attribute_updates(
            "tags",
            AttributeValueUpdate::builder()
                .action(AttributeAction::Add)
                .value(ss(&["c"]))
                .build(),
        )
        .attribute_updates(
            "made",
            AttributeValueUpdate::builder()
                .action(AttributeAction::Add)
                .value(ns(&["7"]))
                .build(),
        )
        .attribute_updates(
            "stale",
            AttributeValueUpdate::builder()
                .action(AttributeAction::Delete)
                .build(),
        )
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .unwrap();
    let expected_new = item(vec![
        ("pk", s("g")),
        ("n", n("3")),
        ("name", s("widget")),
        ("tags", ss(&["a", "b", "c"])),
        ("flag", AttributeValue::Bool(true)),
        ("made", ns(&["7"])),
    ]);
    assert_eq!(out.attributes.map(norm), Some(expected_new.clone()));
    assert_eq!(get(&client, "g").await, Some(expected_new));

    let out = client
        .update_item()
        .table_name(TABLE)
        .key("pk", s("g"))
        .expected(
            "tags",
            expect_op(ComparisonOperator::Contains, vec![s("c")]),
        )
        .expected("n", expect_op(ComparisonOperator::In, vec![n("1"), n("3")]))
        .expected("gone", expect_op(ComparisonOperator::Null, vec![]))
        .attribute_updates(
            "tags",
            AttributeValueUpdate::builder()
                .action(AttributeAction::Delete)
                .value(ss(&["a", "c"]))
                .build(),
        )
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await
        .unwrap();
    assert_eq!(out.attributes, Some(item(vec![("tags", ss(&["b"]))])));

    // AttributesToGet.
    let got = client
        .get_item()
        .table_name(TABLE)
        .key("pk", s("g"))
        .attributes_to_get("n")
        .attributes_to_get("flag")
        .attributes_to_get("nope")
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        got,
        item(vec![("n", n("3")), ("flag", AttributeValue::Bool(true))])
    );
}

#[tokio::test]
async fn legacy_and_expression_members_do_not_mix() {
    let (_dir, _cove, client) = start().await;
    put(&client, item(vec![("pk", s("x")), ("n", n("1"))])).await;
    let mix = |legacy: &str, expression: &str| {
        format!(
            "ValidationException: Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{legacy}}} Expression parameters: {{{expression}}}"
        )
    };

    let err = client
        .update_item()
        .table_name(TABLE)
        .key("pk", s("x"))
        .update_expression("SET a = :a")
        .expression_attribute_values(":a", n("1"))
        .expected("n", expect_eq(n("1")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(message(&err), mix("Expected", "UpdateExpression"));

    let err = client
        .update_item()
        .table_name(TABLE)
        .key("pk", s("x"))
        .update_expression("SET a = :a")
        .expression_attribute_values(":a", n("1"))
        .attribute_updates(
            "b",
            AttributeValueUpdate::builder()
                .action(AttributeAction::Put)
                .value(n("1"))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(message(&err), mix("AttributeUpdates", "UpdateExpression"));

    let err = client
        .put_item()
        .table_name(TABLE)
        .item("pk", s("x"))
        .condition_expression("attribute_exists(pk)")
        .expected("n", expect_eq(n("1")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(message(&err), mix("Expected", "ConditionExpression"));

    let err = client
        .delete_item()
        .table_name(TABLE)
        .key("pk", s("x"))
        .condition_expression("attribute_exists(pk)")
        .expected("n", expect_eq(n("1")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(message(&err), mix("Expected", "ConditionExpression"));

    let err = client
        .get_item()
        .table_name(TABLE)
        .key("pk", s("x"))
        .projection_expression("n")
        .attributes_to_get("n")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        message(&err),
        mix("AttributesToGet", "ProjectionExpression")
    );

    // Placeholders belong to expressions only.
    let err = client
        .get_item()
        .table_name(TABLE)
        .key("pk", s("x"))
        .attributes_to_get("n")
        .expression_attribute_names("#n", "n")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        message(&err),
        "ValidationException: ExpressionAttributeNames can only be specified when using expressions"
    );
    let err = client
        .update_item()
        .table_name(TABLE)
        .key("pk", s("x"))
        .attribute_updates(
            "b",
            AttributeValueUpdate::builder()
                .action(AttributeAction::Put)
                .value(n("1"))
                .build(),
        )
        .expression_attribute_values(":v", n("1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        message(&err),
        "ValidationException: ExpressionAttributeValues can only be specified when using expressions: UpdateExpression and ConditionExpression are null"
    );
    let err = client
        .put_item()
        .table_name(TABLE)
        .item("pk", s("x"))
        .expression_attribute_values(":v", n("1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        message(&err),
        "ValidationException: ExpressionAttributeValues can only be specified when using expressions: ConditionExpression is null"
    );

    assert_eq!(
        get(&client, "x").await,
        Some(item(vec![("pk", s("x")), ("n", n("1"))])),
        "no refused request changed the item"
    );
}
