//! The request context: the condition keys a request carries (global `aws:` keys, the
//! service's keys) and their values, looked up case-insensitively as IAM does.

use std::borrow::Cow;

use crate::pattern::Variables;

#[derive(Debug, Clone)]
enum Values {
    One(String),
    Many(Vec<String>),
}

/// Condition keys and values of one request. Keys are few (a dozen or two), so lookups scan
/// a vector; that is faster than hashing a lower-cased copy of each key.
#[derive(Debug, Clone, Default)]
pub struct Context {
    entries: Vec<(Cow<'static, str>, Values)>,
}

impl Context {
    pub fn new() -> Context {
        Context::default()
    }

    /// An empty context with room for `keys` keys.
    pub fn with_capacity(keys: usize) -> Context {
        Context {
            entries: Vec::with_capacity(keys),
        }
    }

    /// Sets a single-valued key, replacing any value it had.
    pub fn set(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<String>) {
        self.put(key.into(), Values::One(value.into()));
    }

    /// Sets a multivalued key (`ForAnyValue:`/`ForAllValues:` keys such as
    /// `dynamodb:LeadingKeys`). An empty list is a present key with no values.
    pub fn set_many(&mut self, key: impl Into<Cow<'static, str>>, values: Vec<String>) {
        self.put(key.into(), Values::Many(values));
    }

    /// Appends a key the context does not carry yet, without the search [`Context::set`]
    /// makes: for building a context whose keys the caller knows to be distinct. A key
    /// pushed twice is found by its first value.
    pub fn push(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<String>) {
        let key = key.into();
        debug_assert!(self.values(&key).is_none(), "{key} pushed twice");
        self.entries.push((key, Values::One(value.into())));
    }

    /// [`Context::push`] for a multivalued key.
    pub fn push_many(&mut self, key: impl Into<Cow<'static, str>>, values: Vec<String>) {
        let key = key.into();
        debug_assert!(self.values(&key).is_none(), "{key} pushed twice");
        self.entries.push((key, Values::Many(values)));
    }

    /// How many keys the context carries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops every key after the first `len`: a request's service keys are pushed on top of
    /// its global keys for one decision and dropped after it.
    pub fn truncate(&mut self, len: usize) {
        self.entries.truncate(len);
    }

    /// Removes a key.
    pub fn remove(&mut self, key: &str) {
        self.entries.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
    }

    fn put(&mut self, key: Cow<'static, str>, values: Values) {
        match self
            .entries
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(&key))
        {
            Some(entry) => entry.1 = values,
            None => self.entries.push((key, values)),
        }
    }

    /// The values of `key` (any case), or `None` when the request does not carry it.
    pub fn values(&self, key: &str) -> Option<&[String]> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| match v {
                Values::One(s) => std::slice::from_ref(s),
                Values::Many(list) => list.as_slice(),
            })
    }

    /// The value of a single-valued key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| match v {
                Values::One(s) => Some(s.as_str()),
                Values::Many(_) => None,
            })
    }

    /// Every key and its values, in the order they were set (for audit and simulation).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries.iter().map(|(k, v)| {
            (
                k.as_ref(),
                match v {
                    Values::One(s) => std::slice::from_ref(s),
                    Values::Many(list) => list.as_slice(),
                },
            )
        })
    }
}

impl Variables for Context {
    fn variable(&self, key: &str) -> Option<&str> {
        self.get(key)
    }
}
