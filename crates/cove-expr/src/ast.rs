//! The expression syntax trees the parser produces and the evaluators consume, and their
//! printing.
//!
//! A parsed tree still holds placeholders (`#name`, `:value`); [`crate::Resolver`] replaces
//! them with the request's names and values. Printing ([`std::fmt::Display`]) writes a parsed
//! tree back as expression text that parses to the same tree; a resolved tree prints its
//! values as `<value>`, which does not parse.

use std::fmt;

use cove_types::AttributeValue;

/// One step of a document path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathElement {
    /// An attribute or map key name: written literally, or the name a placeholder stands for
    /// once resolved.
    Name(String),
    /// A `#name` placeholder not yet resolved.
    Placeholder(String),
    /// A list index, `[n]`.
    Index(u32),
}

/// A document path such as `a.b[3].#c`: never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub elements: Vec<PathElement>,
}

impl Path {
    /// A path of resolved names and indexes.
    pub fn new(elements: Vec<PathElement>) -> Path {
        Path { elements }
    }

    /// The top-level attribute the path starts at, once resolved.
    pub fn top_level_name(&self) -> Option<&str> {
        match self.elements.first() {
            Some(PathElement::Name(name)) => Some(name),
            _ => None,
        }
    }

    /// The path as DynamoDB prints it in overlap and distinct-operand messages:
    /// `[a, b, [3]]`.
    pub fn bracketed(&self) -> String {
        let parts: Vec<String> = self
            .elements
            .iter()
            .map(|e| match e {
                PathElement::Name(n) | PathElement::Placeholder(n) => n.clone(),
                PathElement::Index(i) => format!("[{i}]"),
            })
            .collect();
        format!("[{}]", parts.join(", "))
    }
}

/// A value operand: a `:value` placeholder, or the value it stands for once resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Placeholder(String),
    Literal(AttributeValue),
}

/// A function call. The name is one of DynamoDB's functions (the parser refuses others):
/// `attribute_exists`, `attribute_not_exists`, `attribute_type`, `begins_with`, `contains`
/// and `size` in conditions, `if_not_exists` and `list_append` in updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    pub args: Vec<Operand>,
}

/// Something that has a value: a document path, a value, or a function call (`size` in
/// conditions; `if_not_exists` and `list_append` in updates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Path(Path),
    Value(Value),
    Function(Function),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Comparator {
    /// The operator as written: `=`, `<>`, `<`, `<=`, `>`, `>=`.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparator::Eq => "=",
            Comparator::Ne => "<>",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
        }
    }
}

/// A ConditionExpression, FilterExpression or KeyConditionExpression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Compare {
        op: Comparator,
        left: Operand,
        right: Operand,
    },
    Between {
        value: Operand,
        low: Operand,
        high: Operand,
    },
    In {
        value: Operand,
        list: Vec<Operand>,
    },
    /// A condition function: `attribute_exists`, `attribute_not_exists`, `attribute_type`,
    /// `begins_with` or `contains`.
    Function(Function),
    Not(Box<Condition>),
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
}

/// The right-hand side of a SET action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetValue {
    Operand(Operand),
    Plus(Operand, Operand),
    Minus(Operand, Operand),
}

/// `path = value` in a SET clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAction {
    pub path: Path,
    pub value: SetValue,
}

/// `path :value` in an ADD or DELETE clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueAction {
    pub path: Path,
    pub value: Value,
}

/// One clause of an UpdateExpression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateClause {
    Set(Vec<SetAction>),
    Remove(Vec<Path>),
    Add(Vec<ValueAction>),
    Delete(Vec<ValueAction>),
}

impl UpdateClause {
    /// The clause keyword as DynamoDB names it in messages.
    pub fn keyword(&self) -> &'static str {
        match self {
            UpdateClause::Set(_) => "SET",
            UpdateClause::Remove(_) => "REMOVE",
            UpdateClause::Add(_) => "ADD",
            UpdateClause::Delete(_) => "DELETE",
        }
    }

    /// The paths the clause writes, in order.
    pub fn target_paths(&self) -> Vec<&Path> {
        match self {
            UpdateClause::Set(actions) => actions.iter().map(|a| &a.path).collect(),
            UpdateClause::Remove(paths) => paths.iter().collect(),
            UpdateClause::Add(actions) | UpdateClause::Delete(actions) => {
                actions.iter().map(|a| &a.path).collect()
            }
        }
    }
}

/// An UpdateExpression: its clauses in the order written, each keyword at most once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub clauses: Vec<UpdateClause>,
}

impl Update {
    /// Every path the update writes, in the order written.
    pub fn target_paths(&self) -> Vec<&Path> {
        self.clauses.iter().flat_map(|c| c.target_paths()).collect()
    }
}

/// A ProjectionExpression: the paths to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    pub paths: Vec<Path>,
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, element) in self.elements.iter().enumerate() {
            match element {
                PathElement::Name(n) | PathElement::Placeholder(n) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(n)?;
                }
                PathElement::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Placeholder(p) => f.write_str(p),
            Value::Literal(_) => f.write_str("<value>"),
        }
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name)?;
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{arg}")?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Path(p) => write!(f, "{p}"),
            Operand::Value(v) => write!(f, "{v}"),
            Operand::Function(func) => write!(f, "{func}"),
        }
    }
}

/// Writes `c`, in parentheses when `wrap` says its precedence needs them.
fn child(f: &mut fmt::Formatter<'_>, c: &Condition, wrap: bool) -> fmt::Result {
    if wrap {
        write!(f, "({c})")
    } else {
        write!(f, "{c}")
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Compare { op, left, right } => {
                write!(f, "{left} {} {right}", op.symbol())
            }
            Condition::Between { value, low, high } => {
                write!(f, "{value} BETWEEN {low} AND {high}")
            }
            Condition::In { value, list } => {
                write!(f, "{value} IN (")?;
                for (i, item) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str(")")
            }
            Condition::Function(func) => write!(f, "{func}"),
            Condition::Not(c) => {
                f.write_str("NOT ")?;
                child(f, c, matches!(**c, Condition::And(..) | Condition::Or(..)))
            }
            // AND and OR group to the left, so a right operand of the same operator needs
            // parentheses to keep its shape; OR binds looser than AND.
            Condition::And(l, r) => {
                child(f, l, matches!(**l, Condition::Or(..)))?;
                f.write_str(" AND ")?;
                child(f, r, matches!(**r, Condition::Or(..) | Condition::And(..)))
            }
            Condition::Or(l, r) => {
                child(f, l, false)?;
                f.write_str(" OR ")?;
                child(f, r, matches!(**r, Condition::Or(..)))
            }
        }
    }
}

impl fmt::Display for SetValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetValue::Operand(o) => write!(f, "{o}"),
            SetValue::Plus(a, b) => write!(f, "{a} + {b}"),
            SetValue::Minus(a, b) => write!(f, "{a} - {b}"),
        }
    }
}

impl fmt::Display for UpdateClause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())?;
        f.write_str(" ")?;
        let parts: Vec<String> = match self {
            UpdateClause::Set(actions) => actions
                .iter()
                .map(|a| format!("{} = {}", a.path, a.value))
                .collect(),
            UpdateClause::Remove(paths) => paths.iter().map(ToString::to_string).collect(),
            UpdateClause::Add(actions) | UpdateClause::Delete(actions) => actions
                .iter()
                .map(|a| format!("{} {}", a.path, a.value))
                .collect(),
        };
        f.write_str(&parts.join(", "))
    }
}

impl fmt::Display for Update {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.clauses.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(" "))
    }
}

impl fmt::Display for Projection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.paths.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(", "))
    }
}
