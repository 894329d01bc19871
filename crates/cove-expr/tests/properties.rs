//! Property tests: parsing never panics, whatever the text, and printing a parsed tree gives
//! text that parses back to the same tree.

use cove_expr::{
    Comparator, Condition, Function, Operand, Path, PathElement, Projection, SetAction, SetValue,
    Update, UpdateClause, Value, ValueAction, parse_condition, parse_filter, parse_projection,
    parse_update,
};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = PathElement> {
    prop_oneof![
        prop::sample::select(vec!["a", "b", "foo", "x1", "Bar_2"])
            .prop_map(|n| PathElement::Name(n.to_owned())),
        prop::sample::select(vec!["#n", "#p1", "#_"])
            .prop_map(|n| PathElement::Placeholder(n.to_owned())),
    ]
}

fn path() -> impl Strategy<Value = Path> {
    (
        name(),
        prop::collection::vec(
            prop_oneof![name(), (0u32..2000).prop_map(PathElement::Index)],
            0..3,
        ),
    )
        .prop_map(|(first, rest)| {
            let mut elements = vec![first];
            elements.extend(rest);
            Path { elements }
        })
}

fn value() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![":v", ":w1", ":_x"]).prop_map(|v| Value::Placeholder(v.to_owned()))
}

fn leaf() -> impl Strategy<Value = Operand> {
    prop_oneof![
        path().prop_map(Operand::Path),
        value().prop_map(Operand::Value)
    ]
}

fn call(name: &str, args: Vec<Operand>) -> Function {
    Function {
        name: name.to_owned(),
        args,
    }
}

fn condition_operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        3 => leaf(),
        1 => leaf().prop_map(|o| Operand::Function(call("size", vec![o]))),
    ]
}

fn comparator() -> impl Strategy<Value = Comparator> {
    prop::sample::select(vec![
        Comparator::Eq,
        Comparator::Ne,
        Comparator::Lt,
        Comparator::Le,
        Comparator::Gt,
        Comparator::Ge,
    ])
}

fn simple_condition() -> impl Strategy<Value = Condition> {
    prop_oneof![
        (comparator(), condition_operand(), condition_operand())
            .prop_map(|(op, left, right)| Condition::Compare { op, left, right }),
        (
            condition_operand(),
            condition_operand(),
            condition_operand()
        )
            .prop_map(|(value, low, high)| Condition::Between { value, low, high }),
        (
            condition_operand(),
            prop::collection::vec(condition_operand(), 1..4)
        )
            .prop_map(|(value, list)| Condition::In { value, list }),
        path().prop_map(|p| Condition::Function(call("attribute_exists", vec![Operand::Path(p)]))),
        path().prop_map(|p| Condition::Function(call(
            "attribute_not_exists",
            vec![Operand::Path(p)]
        ))),
        (path(), value()).prop_map(|(p, v)| Condition::Function(call(
            "attribute_type",
            vec![Operand::Path(p), Operand::Value(v)]
        ))),
        (condition_operand(), condition_operand())
            .prop_map(|(a, b)| Condition::Function(call("begins_with", vec![a, b]))),
        (condition_operand(), condition_operand())
            .prop_map(|(a, b)| Condition::Function(call("contains", vec![a, b]))),
    ]
}

fn condition() -> impl Strategy<Value = Condition> {
    simple_condition().prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| Condition::Not(Box::new(c))),
            (inner.clone(), inner.clone())
                .prop_map(|(l, r)| Condition::And(Box::new(l), Box::new(r))),
            (inner.clone(), inner).prop_map(|(l, r)| Condition::Or(Box::new(l), Box::new(r))),
        ]
    })
}

fn update_operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        3 => leaf(),
        1 => (path(), leaf()).prop_map(|(p, o)| Operand::Function(call(
            "if_not_exists",
            vec![Operand::Path(p), o]
        ))),
        1 => (leaf(), leaf()).prop_map(|(a, b)| Operand::Function(call("list_append", vec![a, b]))),
    ]
}

fn set_action() -> impl Strategy<Value = SetAction> {
    (
        path(),
        prop_oneof![
            update_operand().prop_map(SetValue::Operand),
            (update_operand(), update_operand()).prop_map(|(a, b)| SetValue::Plus(a, b)),
            (update_operand(), update_operand()).prop_map(|(a, b)| SetValue::Minus(a, b)),
        ],
    )
        .prop_map(|(path, value)| SetAction { path, value })
}

fn value_action() -> impl Strategy<Value = ValueAction> {
    (path(), value()).prop_map(|(path, value)| ValueAction { path, value })
}

fn update() -> impl Strategy<Value = Update> {
    (
        prop::collection::vec(set_action(), 0..3),
        prop::collection::vec(path(), 0..3),
        prop::collection::vec(value_action(), 0..3),
        prop::collection::vec(value_action(), 0..3),
        Just(()).prop_perturb(|_, mut rng| {
            let mut order = [0usize, 1, 2, 3];
            for i in (1..4).rev() {
                let j = rng.random_range(0..=i);
                order.swap(i, j);
            }
            order
        }),
    )
        .prop_map(|(set, remove, add, delete, order)| {
            let mut clauses = Vec::new();
            for k in order {
                match k {
                    0 if !set.is_empty() => clauses.push(UpdateClause::Set(set.clone())),
                    1 if !remove.is_empty() => clauses.push(UpdateClause::Remove(remove.clone())),
                    2 if !add.is_empty() => clauses.push(UpdateClause::Add(add.clone())),
                    3 if !delete.is_empty() => clauses.push(UpdateClause::Delete(delete.clone())),
                    _ => {}
                }
            }
            if clauses.is_empty() {
                clauses.push(UpdateClause::Remove(vec![Path {
                    elements: vec![PathElement::Name("a".into())],
                }]));
            }
            Update { clauses }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsing_arbitrary_text_never_panics(text in any::<String>()) {
        let _ = parse_condition(&text);
        let _ = parse_update(&text);
        let _ = parse_projection(&text);
    }

    #[test]
    fn parsing_expression_like_text_never_panics(
        text in "[ a-c#:_0-9()\\[\\].,=<>+\\-]{0,40}|((SET|REMOVE|ADD|DELETE|AND|OR|NOT|BETWEEN|IN|size|contains|if_not_exists|list_append|[ab(),.=:#\\[\\]0-9]) ?){0,25}"
    ) {
        let _ = parse_filter(&text);
        let _ = parse_update(&text);
        let _ = parse_projection(&text);
    }

    #[test]
    fn printed_conditions_parse_back(c in condition()) {
        let text = c.to_string();
        prop_assert_eq!(parse_condition(&text), Ok(c), "{}", text);
    }

    #[test]
    fn printed_updates_parse_back(u in update()) {
        let text = u.to_string();
        prop_assert_eq!(parse_update(&text), Ok(u), "{}", text);
    }

    #[test]
    fn printed_projections_parse_back(paths in prop::collection::vec(path(), 1..5)) {
        let p = Projection { paths };
        let text = p.to_string();
        prop_assert_eq!(parse_projection(&text), Ok(p), "{}", text);
    }
}
