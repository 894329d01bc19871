//! Placeholder resolution and the checks that need the request's values: undefined and
//! unused placeholders, the maps themselves, operand types, BETWEEN bounds, IN sizes, path
//! depth and overlapping paths.

mod common;

use common::*;
use cove_expr::{ExpressionKind, PathElement, Resolver, parse_condition, parse_update};
use cove_types::AttributeValue;

#[test]
fn placeholders_are_replaced() {
    let c = match condition("#a.b[1] = :v", &[("#a", "x.y")], vec![(":v", s("1"))]) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let cove_expr::Condition::Compare { left, right, .. } = c else {
        panic!("a comparison");
    };
    let cove_expr::Operand::Path(p) = left else {
        panic!("a path");
    };
    assert_eq!(
        p.elements,
        vec![
            PathElement::Name("x.y".into()),
            PathElement::Name("b".into()),
            PathElement::Index(1)
        ]
    );
    assert_eq!(
        right,
        cove_expr::Operand::Value(cove_expr::Value::Literal(s("1")))
    );
}

#[test]
fn placeholder_errors_have_dynamodb_texts() {
    let cases: Vec<(Result<(), cove_expr::ExprError>, &str)> = vec![
        // conformance updateItem.test.ts, captured against AWS.
        (
            update(
                "SET attr1 = :v",
                &[("#unused", "x")],
                vec![(":v", s("val"))],
            )
            .map(drop),
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#unused}",
        ),
        (
            update(
                "SET attr1 = :v",
                &[],
                vec![(":v", s("val")), (":unused", s("x"))],
            )
            .map(drop),
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}",
        ),
        (
            update("SET attr1 = :v", &[], vec![]).map(drop),
            "Invalid UpdateExpression: An expression attribute value used in expression is not defined; attribute value: :v",
        ),
        (
            condition("#n = :v", &[("#m", "x")], vec![(":v", s("x"))]).map(drop),
            "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #n",
        ),
        // Unused names are reported before unused values, several in Java HashSet order.
        (
            condition(
                "a = :v",
                &[("#b", "x"), ("#a", "y")],
                vec![(":v", s("x")), (":w", s("y"))],
            )
            .map(drop),
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#a, #b}",
        ),
        (
            condition("a = :v", &[], vec![(":v", AttributeValue::Ss(vec![]))]).map(drop),
            "ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: An string set  may not be empty for key :v",
        ),
    ];
    for (result, expected) in cases {
        assert_eq!(message(result), expected);
    }
}

#[test]
fn the_maps_themselves_are_checked_first() {
    let empty_names: Vec<(String, String)> = vec![];
    let empty_values: Vec<(String, AttributeValue)> = vec![];
    assert_eq!(
        message(Resolver::new(Some(&empty_names), None)),
        "ExpressionAttributeNames must not be empty"
    );
    assert_eq!(
        message(Resolver::new(None, Some(&empty_values))),
        "ExpressionAttributeValues must not be empty"
    );
    let bad_name = vec![("name".to_owned(), "x".to_owned())];
    assert_eq!(
        message(Resolver::new(Some(&bad_name), None)),
        "ExpressionAttributeNames contains invalid key: Syntax error; key: \"name\""
    );
    let hash_only = vec![("#".to_owned(), "x".to_owned())];
    assert_eq!(
        message(Resolver::new(Some(&hash_only), None)),
        "ExpressionAttributeNames contains invalid key: Syntax error; key: \"#\""
    );
    let empty_target = vec![("#a".to_owned(), String::new())];
    assert_eq!(
        message(Resolver::new(Some(&empty_target), None)),
        "ExpressionAttributeNames contains invalid value: Empty attribute name for key #a"
    );
    let bad_value = vec![("v".to_owned(), s("x"))];
    assert_eq!(
        message(Resolver::new(None, Some(&bad_value))),
        "ExpressionAttributeValues contains invalid key: Syntax error; key: \"v\""
    );
}

#[test]
fn placeholders_are_shared_across_a_requests_expressions() {
    let names = vec![("#a".to_owned(), "a".to_owned())];
    let values = vec![(":w".to_owned(), s("x")), (":c".to_owned(), s("y"))];
    let run = |update_text: &str, condition_text: &str| -> Result<(), cove_expr::ExprError> {
        let mut r = Resolver::new(Some(&names), Some(&values))?;
        r.update(parse_update(update_text)?)?;
        r.condition(ExpressionKind::Condition, parse_condition(condition_text)?)?;
        r.finish()
    };
    assert_eq!(run("SET b = :w", "#a = :c"), Ok(()));
    assert_eq!(
        message(run("SET b = :w", "#a = :v")),
        "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :v"
    );
    assert_eq!(
        message(run("SET #a = :w", "b = :w")),
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:c}"
    );
}

fn condition_error(text: &str, value_map: Vec<(&str, AttributeValue)>) -> String {
    message(condition(text, &[], value_map))
}

#[test]
fn condition_type_and_operand_checks() {
    let prefix = "Invalid ConditionExpression: ";
    let cases: Vec<(&str, Bindings, &str)> = vec![
        (
            "a BETWEEN :hi AND :lo",
            vec![(":hi", n("5")), (":lo", n("1"))],
            "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:5}, upper bound operand: AttributeValue: {N:1}",
        ),
        (
            "a BETWEEN :x AND :y",
            vec![(":x", s("a")), (":y", n("1"))],
            "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {S:a}, upper bound operand: AttributeValue: {N:1}",
        ),
        (
            "a = a",
            vec![],
            "The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [a]",
        ),
        (
            "begins_with(a.b[1], a.b[1])",
            vec![],
            "The first operand must be distinct from the remaining operands for this operator or function; operator: begins_with, first operand: [a, b, [1]]",
        ),
        (
            "a < :v",
            vec![(":v", AttributeValue::Bool(true))],
            "Incorrect operand type for operator or function; operator or function: <, operand type: BOOL",
        ),
        (
            "begins_with(a, :v)",
            vec![(":v", n("1"))],
            "Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
        ),
        (
            "size(:v) > a",
            vec![(":v", n("1"))],
            "Incorrect operand type for operator or function; operator or function: size, operand type: N",
        ),
        (
            "attribute_type(a, :t)",
            vec![(":t", s("STRING"))],
            "Invalid attribute type name found; type: STRING, valid types: {N,BS,L,B,NULL,M,S,SS,NS,BOOL}",
        ),
        (
            "attribute_type(a, :t)",
            vec![(":t", n("1"))],
            "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N",
        ),
        (
            "attribute_exists(:v)",
            vec![(":v", n("1"))],
            "Operator or function requires a document path; operator or function: attribute_exists",
        ),
    ];
    for (text, value_map, expected) in cases {
        assert_eq!(
            condition_error(text, value_map),
            format!("{prefix}{expected}"),
            "{text}"
        );
    }
    let list: Vec<String> = (0..101).map(|i| format!(":v{i}")).collect();
    let text = format!("a IN ({})", list.join(", "));
    let value_map: Vec<(&str, AttributeValue)> =
        list.iter().map(|k| (k.as_str(), n("1"))).collect();
    assert_eq!(
        condition_error(&text, value_map),
        format!(
            "{prefix}The IN operator is provided with too many operands; number of operands: 101"
        )
    );
    let deep = format!("a{}", ".b".repeat(32));
    assert_eq!(
        condition_error(&format!("attribute_exists({deep})"), vec![]),
        format!("{prefix}The document path has too many nesting levels; nesting levels: 33")
    );
    assert!(
        condition(
            &format!("attribute_exists(a{})", ".b".repeat(31)),
            &[],
            vec![]
        )
        .is_ok()
    );
}

fn update_error(text: &str, value_map: Vec<(&str, AttributeValue)>) -> String {
    message(update(text, &[], value_map))
}

#[test]
fn update_checks() {
    let prefix = "Invalid UpdateExpression: ";
    let cases: Vec<(&str, Bindings, &str)> = vec![
        // scylladb test_update_expression_multi_overlap, AWS's text.
        (
            "SET a = :v REMOVE a",
            vec![(":v", s("x"))],
            "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]",
        ),
        (
            "SET a = :v REMOVE a.b",
            vec![(":v", s("x"))],
            "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]",
        ),
        (
            "SET a.b = :v, a[1] = :v",
            vec![(":v", s("x"))],
            "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a, [1]]",
        ),
        (
            "SET a = :v ADD b :s",
            vec![(":v", s("x")), (":s", s("y"))],
            "Incorrect operand type for operator or function; operator: ADD, operand type: STRING, typeSet: ALLOWED_FOR_ADD_OPERAND",
        ),
        (
            "ADD a :v",
            vec![(":v", l(vec![]))],
            "Incorrect operand type for operator or function; operator: ADD, operand type: LIST, typeSet: ALLOWED_FOR_ADD_OPERAND",
        ),
        (
            "DELETE a :v",
            vec![(":v", n("1"))],
            "Incorrect operand type for operator or function; operator: DELETE, operand type: NUMBER, typeSet: ALLOWED_FOR_DELETE_OPERAND",
        ),
        (
            "SET a = :x + :y",
            vec![(":x", s("dog")), (":y", n("3"))],
            "Incorrect operand type for operator or function; operator or function: +, operand type: S",
        ),
        (
            "SET a = list_append(:x, :y)",
            vec![(":x", l(vec![])), (":y", s("hi"))],
            "Incorrect operand type for operator or function; operator or function: list_append, operand type: S",
        ),
        (
            "SET a = list_append(:x)",
            vec![(":x", l(vec![]))],
            "Incorrect number of operands for operator or function; operator or function: list_append, number of operands: 1",
        ),
        (
            "SET b = if_not_exists(:x, :y)",
            vec![(":x", n("1")), (":y", n("2"))],
            "Operator or function requires a document path; operator or function: if_not_exists",
        ),
        // The value is looked up before the operand's shape is judged (scylladb).
        (
            "SET b = if_not_exists(:x, :y)",
            vec![(":y", n("2"))],
            "An expression attribute value used in expression is not defined; attribute value: :x",
        ),
    ];
    for (text, value_map, expected) in cases {
        assert_eq!(
            update_error(text, value_map),
            format!("{prefix}{expected}"),
            "{text}"
        );
    }
    // Paths are compared after names are resolved.
    assert_eq!(
        message(update(
            "SET #a1 = :v, #a2 = :v",
            &[("#a1", "a"), ("#a2", "a")],
            vec![(":v", s("x"))]
        )),
        format!(
            "{prefix}Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"
        )
    );
    // Reading a written attribute is fine.
    assert!(update("REMOVE a SET b = a", &[], vec![]).is_ok());
}

#[test]
fn projection_paths_may_not_overlap() {
    assert_eq!(
        message(projection("a.b, a", &[])),
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a]"
    );
    assert_eq!(
        message(projection("#x, #y", &[("#x", "a"), ("#y", "a")])),
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"
    );
    assert!(projection("a.b, a.c, l[0], l[1]", &[]).is_ok());
}
