//! Running resolved expressions: conditions, updates and projections, with DynamoDB's
//! semantics and runtime error texts.

mod common;

use common::*;
use cove_expr::{ExprError, apply_update, eval_condition, project};
use cove_types::{AttributeValue, Item};

fn holds(text: &str, value_map: Vec<(&str, AttributeValue)>, on: &Item) -> bool {
    let c = match condition(text, &[], value_map) {
        Ok(c) => c,
        Err(e) => panic!("{text}: {e}"),
    };
    match eval_condition(&c, on) {
        Ok(b) => b,
        Err(e) => panic!("{text}: {e}"),
    }
}

fn sample() -> Item {
    item(vec![
        ("s", s("héllo")),
        ("n", n("10")),
        ("b", AttributeValue::B(vec![1, 2, 3])),
        ("t", AttributeValue::Bool(true)),
        ("z", AttributeValue::Null),
        ("ss", ss(&["x", "y"])),
        ("ns", ns(&["1", "2.5"])),
        ("l", l(vec![s("a"), n("1"), m(vec![("k", s("v"))])])),
        ("m", m(vec![("a", n("1")), ("b", l(vec![s("deep")]))])),
    ])
}

#[test]
fn comparisons_follow_dynamodb_types() {
    let it = sample();
    let v = |x: AttributeValue| vec![(":v", x)];
    let cases: Vec<(&str, Bindings, bool)> = vec![
        ("n = :v", v(n("10.0")), true),
        ("n = :v", v(s("10")), false),
        ("n <> :v", v(s("10")), true),
        ("absent <> :v", v(s("10")), true),
        ("absent = :v", v(s("10")), false),
        ("n < :v", v(n("9.99")), false),
        ("n > :v", v(n("9.99")), true),
        ("n >= :v", v(n("10")), true),
        ("n < :v", v(s("z")), false),
        ("s > :v", v(s("hz")), true),
        // "é" is C3 A9 in UTF-8, after every ASCII letter.
        ("s > :v", v(s("hz")), true),
        ("b < :v", v(AttributeValue::B(vec![1, 2, 4])), true),
        ("ss = :v", v(ss(&["y", "x"])), true),
        ("ns = :v", v(ns(&["2.50", "1"])), true),
        ("l[2].k = :v", v(s("v")), true),
        ("m.b[0] = :v", v(s("deep")), true),
        ("m.b[1] = :v", v(s("deep")), false),
        ("s.x = :v", v(s("deep")), false),
        (
            "n BETWEEN :v AND :w",
            vec![(":v", n("1")), (":w", n("10"))],
            true,
        ),
        (
            "n BETWEEN :v AND :w",
            vec![(":v", n("11")), (":w", n("12"))],
            false,
        ),
        (
            "n BETWEEN :v AND :w",
            vec![(":v", s("a")), (":w", s("b"))],
            false,
        ),
        (
            "n IN (:v, :w)",
            vec![(":v", s("10")), (":w", n("10"))],
            true,
        ),
        (
            "n IN (:v, :w)",
            vec![(":v", s("10")), (":w", n("11"))],
            false,
        ),
        ("NOT n = :v", v(n("10")), false),
        ("n = :v OR absent = :v", v(n("10")), true),
        ("n = :v AND absent = :v", v(n("10")), false),
        ("size(s) = :v", v(n("5")), true),
        ("size(b) = :v", v(n("3")), true),
        ("size(ss) = :v", v(n("2")), true),
        ("size(l) = :v", v(n("3")), true),
        ("size(m) = :v", v(n("2")), true),
        ("size(n) = :v", v(n("2")), false),
        ("size(absent) < :v", v(n("2")), false),
    ];
    for (text, value_map, expected) in cases {
        assert_eq!(holds(text, value_map, &it), expected, "{text}");
    }
}

#[test]
fn condition_functions() {
    let it = sample();
    let v = |x: AttributeValue| vec![(":v", x)];
    let cases: Vec<(&str, Bindings, bool)> = vec![
        ("attribute_exists(m.a)", vec![], true),
        ("attribute_exists(m.c)", vec![], false),
        ("attribute_not_exists(nope)", vec![], true),
        ("attribute_not_exists(l[0])", vec![], false),
        ("attribute_type(n, :v)", v(s("N")), true),
        ("attribute_type(z, :v)", v(s("NULL")), true),
        ("attribute_type(t, :v)", v(s("BOOL")), true),
        ("attribute_type(n, :v)", v(s("S")), false),
        ("begins_with(s, :v)", v(s("hé")), true),
        ("begins_with(s, :v)", v(s("e")), false),
        ("begins_with(b, :v)", v(AttributeValue::B(vec![1, 2])), true),
        ("begins_with(n, :v)", v(s("1")), false),
        ("contains(s, :v)", v(s("ll")), true),
        ("contains(ss, :v)", v(s("y")), true),
        ("contains(ss, :v)", v(s("q")), false),
        ("contains(ns, :v)", v(n("2.50")), true),
        ("contains(l, :v)", v(n("1")), true),
        ("contains(l, :v)", v(m(vec![("k", s("v"))])), true),
        ("contains(n, :v)", v(n("1")), false),
        ("contains(absent, :v)", v(n("1")), false),
    ];
    for (text, value_map, expected) in cases {
        assert_eq!(holds(text, value_map, &it), expected, "{text}");
    }
}

fn updated(
    text: &str,
    value_map: Vec<(&str, AttributeValue)>,
    before: Item,
) -> Result<Item, ExprError> {
    let u = update(text, &[], value_map)?;
    apply_update(&u, before).map(|o| o.item)
}

fn ok(result: Result<Item, ExprError>) -> Item {
    match result {
        Ok(i) => i,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn set_remove_add_delete() {
    let base = || {
        item(vec![
            ("a", n("2")),
            ("l", l(vec![n("2"), n("3"), n("4"), n("5"), n("6"), n("7")])),
        ])
    };
    assert_eq!(
        ok(updated(
            "SET a = a + :v, b = :v - a",
            vec![(":v", n("3"))],
            base()
        ))
        .get("a"),
        Some(&n("5"))
    );
    assert_eq!(
        ok(updated("SET b = :v - a", vec![(":v", n("3"))], base())).get("b"),
        Some(&n("1"))
    );
    // Indexes mean positions before the update (scylladb, from AWS).
    assert_eq!(
        ok(updated(
            "REMOVE l[1] SET l[3] = :v",
            vec![(":v", n("17"))],
            base()
        ))
        .get("l"),
        Some(&l(vec![n("2"), n("4"), n("17"), n("6"), n("7")]))
    );
    assert_eq!(
        ok(updated(
            "SET l[84] = :a, l[37] = :b, l[17] = :c",
            vec![(":a", s("a1")), (":b", s("a2")), (":c", s("a3"))],
            base()
        ))
        .get("l"),
        Some(&l(vec![
            n("2"),
            n("3"),
            n("4"),
            n("5"),
            n("6"),
            n("7"),
            s("a3"),
            s("a2"),
            s("a1")
        ]))
    );
    assert_eq!(ok(updated("REMOVE l[17]", vec![], base())), base());
    // if_not_exists and list_append.
    let i = ok(updated(
        "SET c = if_not_exists(c, :v), a = if_not_exists(a, :v), l = list_append(:p, l)",
        vec![(":v", n("9")), (":p", l(vec![s("x")]))],
        base(),
    ));
    assert_eq!(i.get("c"), Some(&n("9")));
    assert_eq!(i.get("a"), Some(&n("2")));
    assert_eq!(
        i.get("l")
            .map(|v| matches!(v, AttributeValue::L(x) if x.len() == 7)),
        Some(true)
    );
    // ADD creates, adds numbers, unions sets; DELETE removes members and drops empty sets.
    let i = ok(updated(
        "ADD a :n, fresh :n, s :s",
        vec![(":n", n("1.5")), (":s", ss(&["b", "c"]))],
        item(vec![("a", n("2")), ("s", ss(&["a", "b"]))]),
    ));
    assert_eq!(i.get("a"), Some(&n("3.5")));
    assert_eq!(i.get("fresh"), Some(&n("1.5")));
    assert_eq!(i.get("s"), Some(&ss(&["a", "b", "c"])));
    let i = ok(updated(
        "DELETE s :s, gone :s, t :all",
        vec![(":s", ss(&["b"])), (":all", ss(&["x"]))],
        item(vec![("s", ss(&["a", "b"])), ("t", ss(&["x"]))]),
    ));
    assert_eq!(i.get("s"), Some(&ss(&["a"])));
    assert!(!i.contains_key("t") && !i.contains_key("gone"));
    // Nested maps.
    let i = ok(updated(
        "SET m.c.d = :v, m.b = :v REMOVE m.x, top",
        vec![(":v", s("dog"))],
        item(vec![
            ("m", m(vec![("x", n("3")), ("c", m(vec![]))])),
            ("top", n("1")),
        ]),
    ));
    assert_eq!(
        i.get("m"),
        Some(&m(vec![("b", s("dog")), ("c", m(vec![("d", s("dog"))]))]))
    );
    assert!(!i.contains_key("top"));
}

#[test]
fn update_runtime_errors() {
    let base = || {
        item(vec![
            ("a", s("hello")),
            ("b", l(vec![s("hi")])),
            ("n", n("1")),
        ])
    };
    let cases: Vec<(&str, Bindings, &str)> = vec![
        (
            "SET a.c = :v",
            vec![(":v", n("7"))],
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "SET b.c = :v",
            vec![(":v", n("7"))],
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "SET c.c = :v",
            vec![(":v", n("7"))],
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "REMOVE a.c",
            vec![],
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "SET a[0] = :v",
            vec![(":v", n("7"))],
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "SET x = z",
            vec![],
            "The provided expression refers to an attribute that does not exist in the item",
        ),
        (
            "SET x = list_append(z, :v)",
            vec![(":v", l(vec![]))],
            "The provided expression refers to an attribute that does not exist in the item",
        ),
        (
            "SET x = list_append(a, :v)",
            vec![(":v", l(vec![]))],
            "An operand in the update expression has an incorrect data type",
        ),
        (
            "SET x = a + :v",
            vec![(":v", n("1"))],
            "An operand in the update expression has an incorrect data type",
        ),
        (
            "ADD a :v",
            vec![(":v", n("1"))],
            "An operand in the update expression has an incorrect data type",
        ),
        (
            "ADD b :v",
            vec![(":v", ss(&["x"]))],
            "An operand in the update expression has an incorrect data type",
        ),
        (
            "DELETE n :v",
            vec![(":v", ns(&["1"]))],
            "An operand in the update expression has an incorrect data type",
        ),
        // A type error anywhere comes before a absent attribute in a later clause.
        (
            "SET x = z REMOVE q ADD a :v",
            vec![(":v", n("1"))],
            "An operand in the update expression has an incorrect data type",
        ),
        (
            "SET n = n + :v",
            vec![(":v", n("9.9999999999999999999999999999999999999E+125"))],
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ),
    ];
    for (text, value_map, expected) in cases {
        assert_eq!(
            message(updated(text, value_map, base())),
            expected,
            "{text}"
        );
    }
}

#[test]
fn updates_report_the_paths_they_wrote() {
    let u = match update(
        "SET a.b = :v, c = :v REMOVE d ADD e :n",
        &[],
        vec![(":v", s("x")), (":n", n("1"))],
    ) {
        Ok(u) => u,
        Err(e) => panic!("{e}"),
    };
    let out = match apply_update(&u, item(vec![("a", m(vec![]))])) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    };
    let written: Vec<String> = out.updated_paths.iter().map(ToString::to_string).collect();
    assert_eq!(written, vec!["a.b", "c", "d", "e"]);
    // UPDATED_NEW is the new item projected onto them.
    assert_eq!(
        project(&out.updated_paths, &out.item),
        item(vec![
            ("a", m(vec![("b", s("x"))])),
            ("c", s("x")),
            ("e", n("1"))
        ])
    );
}

#[test]
fn projections_keep_structure() {
    let it = sample();
    let keep = |text: &str| match projection(text, &[]) {
        Ok(p) => project(&p.paths, &it),
        Err(e) => panic!("{text}: {e}"),
    };
    assert_eq!(keep("n, s"), item(vec![("n", n("10")), ("s", s("héllo"))]));
    assert_eq!(
        keep("m.b[0]"),
        item(vec![("m", m(vec![("b", l(vec![s("deep")]))]))])
    );
    // List elements keep their order and close up.
    assert_eq!(
        keep("l[2].k, l[0]"),
        item(vec![("l", l(vec![s("a"), m(vec![("k", s("v"))])]))])
    );
    // Nothing selected: the attribute is left out.
    assert_eq!(keep("m.nope, l[9], absent, n.x"), item(vec![]));
}
