//! Applying a resolved ProjectionExpression to an item.
//!
//! DynamoDB keeps the structure around what a path selects: `a.b` keeps `a` as a map holding
//! only `b`; `l[1]` and `l[3]` keep `l` as a list of those two elements, in index order and
//! without gaps. A path that selects nothing contributes nothing, and a map or list left with
//! nothing selected is left out (KeyValueStore.com's expression tester, checked against
//! DynamoDB Local; AWS developer guide "Projection expressions").

use std::collections::BTreeMap;

use cove_types::{AttributeValue, Item};

use crate::ast::{Path, PathElement};

/// Which parts of a value a projection keeps: all of it, or some of its members.
#[derive(Debug, Default)]
struct Selection {
    whole: bool,
    names: BTreeMap<String, Selection>,
    indexes: BTreeMap<u32, Selection>,
}

impl Selection {
    fn add(&mut self, path: &[PathElement]) {
        let Some((first, rest)) = path.split_first() else {
            self.whole = true;
            return;
        };
        let child = match first {
            PathElement::Name(n) | PathElement::Placeholder(n) => {
                self.names.entry(n.clone()).or_default()
            }
            PathElement::Index(i) => self.indexes.entry(*i).or_default(),
        };
        child.add(rest);
    }

    fn copy(&self, value: &AttributeValue) -> Option<AttributeValue> {
        if self.whole {
            return Some(value.clone());
        }
        match value {
            AttributeValue::M(map) => {
                let kept: BTreeMap<String, AttributeValue> = self
                    .names
                    .iter()
                    .filter_map(|(k, sel)| Some((k.clone(), sel.copy(map.get(k)?)?)))
                    .collect();
                (!kept.is_empty()).then_some(AttributeValue::M(kept))
            }
            AttributeValue::L(list) => {
                let kept: Vec<AttributeValue> = self
                    .indexes
                    .iter()
                    .filter_map(|(i, sel)| sel.copy(list.get(usize::try_from(*i).ok()?)?))
                    .collect();
                (!kept.is_empty()).then_some(AttributeValue::L(kept))
            }
            _ => None,
        }
    }
}

/// The parts of `item` the resolved `paths` select.
pub fn project(paths: &[Path], item: &Item) -> Item {
    let mut root = Selection::default();
    for path in paths {
        root.add(&path.elements);
    }
    root.names
        .iter()
        .filter_map(|(name, sel)| Some((name.clone(), sel.copy(item.get(name)?)?)))
        .collect()
}
