//! Table-driven checks of the errors DynamoDB gives before it looks at placeholder values:
//! emptiness, size, syntax (`token`/`near`), redundant parentheses, reserved words,
//! functions, repeated update clauses, list index range and the operator limit.

use cove_expr::{
    ExprError, parse_condition, parse_filter, parse_key_condition, parse_projection, parse_update,
};

fn error(result: Result<impl std::fmt::Debug, ExprError>) -> String {
    match result {
        Err(ExprError::Validation(m)) => m,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn update_expression_errors() {
    let cases: &[(&str, &str)] = &[
        // conformance tests/tier3/error-messages/updateItem.test.ts (captured against AWS).
        ("", "The expression can not be empty;"),
        (
            "INVALID SYNTAX HERE",
            "Syntax error; token: \"INVALID\", near: \"INVALID SYNTAX\"",
        ),
        // scylladb test_update_expression.py, from AWS's answer.
        (
            "SET _123 = :val1",
            "Syntax error; token: \"_\", near: \"SET _123\"",
        ),
        (
            "SET a = _f(b)",
            "Syntax error; token: \"_\", near: \"= _f\"",
        ),
        (
            "SET 123a = :v",
            "Syntax error; token: \"123\", near: \"SET 123a\"",
        ),
        (
            "SET hi-there = :v",
            "Syntax error; token: \"-\", near: \"hi-there\"",
        ),
        (
            "SET a[:xyz] = :v",
            "Syntax error; token: \":xyz\", near: \"[:xyz]\"",
        ),
        (
            "SET a[#xyz] = :v",
            "Syntax error; token: \"#xyz\", near: \"[#xyz]\"",
        ),
        (
            "SET :a = :b",
            "Syntax error; token: \":a\", near: \"SET :a =\"",
        ),
        (
            "SET # = :v",
            "Syntax error; token: \"#\", near: \"SET # =\"",
        ),
        ("SET a = :", "Syntax error; token: \":\", near: \"= :\""),
        (
            "SET b = :val1 + :val2 + :val3",
            "Syntax error; token: \"+\", near: \":val2 + :val3\"",
        ),
        (
            "SET c = if_not_exists(c, :val1+:val2)",
            "Syntax error; token: \"+\", near: \":val1+:val2\"",
        ),
        (
            "SET a = :v +",
            "Syntax error; token: \"<EOF>\", near: \"+\"",
        ),
        ("SET a", "Syntax error; token: \"<EOF>\", near: \"a\""),
        (
            "HELLO b = :v",
            "Syntax error; token: \"HELLO\", near: \"HELLO b\"",
        ),
        // Two clauses of one kind (dynalite updateParser.pegjs, from AWS).
        (
            "SET a = :v SET b = :w",
            "The \"SET\" section can only be used once in an update expression;",
        ),
        (
            "SET a = :v REMOVE c SET b = :w",
            "The \"SET\" section can only be used once in an update expression;",
        ),
        (
            "REMOVE a REMOVE b",
            "The \"REMOVE\" section can only be used once in an update expression;",
        ),
        // The actions of a repeated section are read before the repeat is reported.
        (
            "SET a = :v SET name = :w",
            "Attribute name is a reserved keyword; reserved keyword: name",
        ),
        (
            "SET Status = :v",
            "Attribute name is a reserved keyword; reserved keyword: Status",
        ),
        ("SET a = f(b,c,d)", "Invalid function name; function: f"),
        (
            "SET a = f123_hi(b)",
            "Invalid function name; function: f123_hi",
        ),
        // Function names are case-sensitive (scylladb).
        (
            "SET a = LIST_APPEND(:a, :b)",
            "Invalid function name; function: LIST_APPEND",
        ),
        (
            "SET a = attribute_exists(b)",
            "The function is not allowed in an update expression; function: attribute_exists",
        ),
        (
            "SET a = size(b)",
            "The function is not allowed in an update expression; function: size",
        ),
        (
            "SET a[99999999999] = :v",
            "List index is not within the allowable range; index: [99999999999]",
        ),
        (
            "SET a[2147483648] = :v",
            "List index is not within the allowable range; index: [2147483648]",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(
            error(parse_update(text)),
            format!("Invalid UpdateExpression: {expected}"),
            "{text:?}"
        );
    }
}

#[test]
fn condition_expression_errors() {
    let cases: &[(&str, &str)] = &[
        // Real DynamoDB's answer recorded in a DynamoDB Local compatibility test.
        ("foo", "Syntax error; token: \"<EOF>\", near: \"foo\""),
        ("a =", "Syntax error; token: \"<EOF>\", near: \"=\""),
        ("a IN ()", "Syntax error; token: \")\", near: \"()\""),
        (
            "a = :v AND",
            "Syntax error; token: \"<EOF>\", near: \"AND\"",
        ),
        (
            "a BETWEEN :x OR :y",
            "Syntax error; token: \"OR\", near: \":x OR :y\"",
        ),
        ("NOT", "Syntax error; token: \"<EOF>\", near: \"NOT\""),
        ("a = :v)", "Syntax error; token: \")\", near: \":v)\""),
        ("(a = :v", "Syntax error; token: \"<EOF>\", near: \":v\""),
        ("a = :v b", "Syntax error; token: \"b\", near: \":v b\""),
        ("a ! :v", "Syntax error; token: \"!\", near: \"a ! :v\""),
        (
            "a = :v AND __typename = :w",
            "Syntax error; token: \"_\", near: \"AND __\"",
        ),
        ("((a = :v))", "The expression has redundant parentheses;"),
        ("((a)) = :v", "The expression has redundant parentheses;"),
        (
            "a = :v AND ((b = :w))",
            "The expression has redundant parentheses;",
        ),
        (
            "size(a)",
            "The function is not allowed to be used this way in an expression; function: size",
        ),
        (
            "attribute_exists(a) = :v",
            "The function is not allowed to be used this way in an expression; function: attribute_exists",
        ),
        (
            "size(attribute_exists(a)) = :v",
            "The function is not allowed to be used this way in an expression; function: attribute_exists",
        ),
        (
            "if_not_exists(a, :v) = :w",
            "The function is not allowed in a condition expression; function: if_not_exists",
        ),
        (
            "begins_with(a)",
            "Incorrect number of operands for operator or function; operator or function: begins_with, number of operands: 1",
        ),
        (
            "attribute_exists(a, b)",
            "Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2",
        ),
        ("foo(a)", "Invalid function name; function: foo"),
        (
            "a = :v AND name = :w",
            "Attribute name is a reserved keyword; reserved keyword: name",
        ),
        (
            "a.b.COUNT = :v",
            "Attribute name is a reserved keyword; reserved keyword: COUNT",
        ),
        // The reserved word comes before the function problem written after it.
        (
            "year = :v AND foo(a)",
            "Attribute name is a reserved keyword; reserved keyword: year",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(
            error(parse_condition(text)),
            format!("Invalid ConditionExpression: {expected}"),
            "{text:?}"
        );
    }
    assert_eq!(
        error(parse_filter("size(a)")),
        "Invalid FilterExpression: The function is not allowed to be used this way in an expression; function: size"
    );
    assert_eq!(
        error(parse_key_condition("")),
        "Invalid KeyConditionExpression: The expression can not be empty;"
    );
}

#[test]
fn projection_expression_errors() {
    let cases: &[(&str, &str)] = &[
        ("l[a]", "Syntax error; token: \"a\", near: \"[a]\""),
        ("a,", "Syntax error; token: \"<EOF>\", near: \",\""),
        ("a b", "Syntax error; token: \"b\", near: \"a b\""),
        ("a.", "Syntax error; token: \"<EOF>\", near: \".\""),
        ("l[]", "Syntax error; token: \"]\", near: \"[]\""),
        ("l[01]", "Syntax error; token: \"1\", near: \"01]\""),
        ("a, and", "Syntax error; token: \"and\", near: \", and\""),
        (
            "a, name",
            "Attribute name is a reserved keyword; reserved keyword: name",
        ),
        ("", "The expression can not be empty;"),
    ];
    for (text, expected) in cases {
        assert_eq!(
            error(parse_projection(text)),
            format!("Invalid ProjectionExpression: {expected}"),
            "{text:?}"
        );
    }
}

#[test]
fn every_reserved_word_is_refused_in_every_case_and_kind() {
    for word in cove_expr::reserved::reserved_words() {
        let lower = word.to_ascii_lowercase();
        for written in [word.to_string(), lower] {
            let expected =
                format!("Attribute name is a reserved keyword; reserved keyword: {written}");
            assert_eq!(
                error(parse_condition(&format!("{written} = :v"))),
                format!("Invalid ConditionExpression: {expected}")
            );
            assert_eq!(
                error(parse_update(&format!("SET a.{written} = :v"))),
                format!("Invalid UpdateExpression: {expected}")
            );
            assert_eq!(
                error(parse_projection(&format!("a, {written}[0]"))),
                format!("Invalid ProjectionExpression: {expected}")
            );
        }
    }
    // Placeholders are how reserved words are used.
    assert!(parse_condition("#name = :v").is_ok());
    assert!(parse_update("SET #status = :v").is_ok());
}

#[test]
fn keywords_are_tokens_not_names() {
    for keyword in [
        "and", "OR", "between", "in", "set", "remove", "add", "delete",
    ] {
        let text = format!("{keyword} = :v");
        let expected_token = format!("token: \"{keyword}\"");
        let got = error(parse_condition(&text));
        assert!(got.contains(&expected_token), "{text}: {got}");
    }
    // NOT is read as the start of a negation, so the parser stops at what follows it.
    assert_eq!(
        error(parse_condition("Not = :v")),
        "Invalid ConditionExpression: Syntax error; token: \"=\", near: \"Not = :v\""
    );
}

#[test]
fn size_limit_is_4096_bytes_of_the_text_as_sent() {
    let clause = |i: usize| format!("attribute_not_exists(a{i:04})");
    let mut parts = Vec::new();
    let mut text = String::new();
    for i in 0.. {
        parts.push(clause(i));
        let joined = parts.join(" AND ");
        if joined.len() > 4096 - 40 {
            text = joined;
            break;
        }
    }
    // Pad the last name to exactly 4096 bytes, then one more.
    let pad = 4096 - text.len();
    let at_limit = format!("{text} AND attribute_not_exists({})", "b".repeat(pad - 27));
    assert_eq!(at_limit.len(), 4096);
    assert!(parse_condition(&at_limit).is_ok());
    let over = format!("{text} AND attribute_not_exists({})", "b".repeat(pad - 26));
    assert_eq!(
        error(parse_condition(&over)),
        "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; expression size: 4097"
    );
    let long_update = format!("SET {} = :v", "a".repeat(4100));
    assert_eq!(
        error(parse_update(&long_update)),
        "Invalid UpdateExpression: Expression size has exceeded the maximum allowed size; expression size: 4109"
    );
}

#[test]
fn in_takes_at_most_100_values() {
    let list = |count: usize| {
        let values: Vec<String> = (0..count).map(|i| format!(":v{i}")).collect();
        format!("a IN ({})", values.join(", "))
    };
    assert!(parse_filter(&list(100)).is_ok());
    assert_eq!(
        error(parse_filter(&list(163))),
        "Invalid FilterExpression: The IN operator is provided with too many operands; number of operands: 163"
    );
}

#[test]
fn at_most_300_operators() {
    // 151 comparisons joined by 150 ANDs: 301 operators.
    let comparisons = |count: usize| {
        (0..count)
            .map(|_| "a < :v")
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    assert!(parse_condition(&comparisons(150)).is_ok(), "299 operators");
    assert_eq!(
        error(parse_condition(&comparisons(151))),
        "Invalid ConditionExpression: The expression contains too many operators; operator count: 301"
    );
    let functions: Vec<String> = (0..301)
        .map(|i| format!("x{i} = if_not_exists(a, :v)"))
        .collect();
    let text = format!("SET {}", functions.join(","));
    assert!(
        text.len() > 4096,
        "this shape cannot reach the operator limit"
    );
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    for text in [
        "(".repeat(4000),
        format!("{}a", "(".repeat(2000)),
        format!("{}a = :v", "NOT ".repeat(1000)),
        format!("a = {}", "size(".repeat(800)),
        "a = :v AND (".repeat(300),
    ] {
        assert!(parse_condition(&text).is_err(), "{}", &text[..20]);
    }
    // A well-formed deep nest still parses.
    let deep = format!("{}a = :v{}", "(b = :v AND ".repeat(100), ")".repeat(100));
    assert!(parse_condition(&deep).is_ok());
}
