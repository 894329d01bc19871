//! The recursive-descent parser for every expression kind, and the checks DynamoDB makes on
//! an expression before it looks at ExpressionAttributeNames and ExpressionAttributeValues.
//!
//! The order of checks follows DynamoDB: empty text, then the 4096-byte limit, then syntax
//! (the first token the grammar cannot take, reported with DynamoDB's `token`/`near` window),
//! with redundant parentheses and list indexes out of range reported as soon as they are read;
//! then one walk in written order for reserved words, function names, where each function may
//! be used and, in conditions, how many operands it has; then repeated update clauses (after
//! their section's actions); then the 300-operator limit.
//!
//! The ordering and texts come from captures against AWS (paritysuite/dynamodb-conformance
//! `tests/tier3/error-messages/updateItem.test.ts`, `tests/tier3/limits/expressionSize.test.ts`),
//! scylladb's alternator tests (run against AWS), dynalite's grammars (`db/*.pegjs`, whose
//! messages were taken from AWS) and KeyValueStore.com's expression tester, which was checked
//! against DynamoDB Local. Where a parenthesis could open either a condition or an operand,
//! both readings are tried and the one that read further decides the error, as DynamoDB's
//! generated parser does.

use crate::ast::{
    Comparator, Condition, Function, Operand, Path, PathElement, Projection, SetAction, SetValue,
    Update, UpdateClause, Value, ValueAction,
};
use crate::lexer::{Kind, Token, tokenize};
use crate::reserved::is_reserved;

/// The longest expression DynamoDB accepts, in bytes of the text as sent.
pub const MAX_EXPRESSION_BYTES: usize = 4096;
/// The most operators and functions one expression may use.
pub const MAX_OPERATORS: usize = 300;
/// The most values one IN list may hold.
pub const MAX_IN_OPERANDS: usize = 100;
/// The largest list index DynamoDB accepts (a Java `int`).
const MAX_INDEX: u64 = 2_147_483_647;
/// How deeply parentheses and function calls may nest while parsing. DynamoDB's own limit is
/// not known; a well-formed expression cannot get near this under the 300-operator and
/// redundant-parentheses rules, and the bound keeps recursion far from the stack's end.
const MAX_DEPTH: usize = 200;

const CONDITION_FUNCTIONS: [(&str, usize); 5] = [
    ("attribute_exists", 1),
    ("attribute_not_exists", 1),
    ("attribute_type", 2),
    ("begins_with", 2),
    ("contains", 2),
];
const UPDATE_FUNCTIONS: [(&str, usize); 2] = [("if_not_exists", 2), ("list_append", 2)];

/// How many operands DynamoDB's function `name` takes; `None` for an unknown name.
pub(crate) fn function_arity(name: &str) -> Option<usize> {
    CONDITION_FUNCTIONS
        .iter()
        .chain(UPDATE_FUNCTIONS.iter())
        .chain(std::iter::once(&("size", 1)))
        .find(|(n, _)| *n == name)
        .map(|&(_, arity)| arity)
}

fn is_condition_function(name: &str) -> bool {
    CONDITION_FUNCTIONS.iter().any(|(n, _)| *n == name)
}

fn is_update_function(name: &str) -> bool {
    UPDATE_FUNCTIONS.iter().any(|(n, _)| *n == name)
}

/// Why parsing stopped: at a token the grammar cannot take, or with a message that ends
/// parsing at once.
enum Stop {
    Syntax(usize),
    Message(String),
}

type Parsed<T> = Result<T, Stop>;

/// A parsed node and whether it was written in parentheses, which the redundant-parentheses
/// rule needs.
struct Node<T> {
    node: T,
    paren: bool,
}

fn bare<T>(node: T) -> Node<T> {
    Node { node, paren: false }
}

struct Parser<'a> {
    source: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(source: &'a str) -> Parser<'a> {
        Parser {
            source,
            tokens: tokenize(source),
            pos: 0,
            depth: 0,
        }
    }

    fn peek_at(&self, offset: usize) -> Kind {
        self.tokens
            .get(self.pos + offset)
            .or(self.tokens.last())
            .map_or(Kind::Eof, |t| t.kind)
    }

    fn peek(&self) -> Kind {
        self.peek_at(0)
    }

    fn is(&self, kind: Kind) -> bool {
        self.peek() == kind
    }

    fn text(&self, index: usize) -> &'a str {
        self.tokens.get(index).map_or("", |t| t.text(self.source))
    }

    fn advance(&mut self) -> usize {
        let at = self.pos;
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        at
    }

    fn fail<T>(&self) -> Parsed<T> {
        Err(Stop::Syntax(self.pos))
    }

    fn expect(&mut self, kind: Kind) -> Parsed<usize> {
        if self.is(kind) {
            Ok(self.advance())
        } else {
            self.fail()
        }
    }

    fn enter(&mut self) -> Parsed<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.fail();
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Tries each reading from the same token; keeps the first that succeeds, or reports the
    /// syntax error of the one that read furthest (the first of equals). A message error ends
    /// the attempt at once, whichever reading raised it.
    fn choose<T>(&mut self, alternatives: &[fn(&mut Self) -> Parsed<T>]) -> Parsed<T> {
        let start = self.pos;
        let depth = self.depth;
        let mut furthest: Option<usize> = None;
        for alternative in alternatives {
            self.pos = start;
            self.depth = depth;
            match alternative(self) {
                Ok(v) => return Ok(v),
                Err(Stop::Syntax(at)) => {
                    if furthest.is_none_or(|f| at > f) {
                        furthest = Some(at);
                    }
                }
                Err(message) => return Err(message),
            }
        }
        self.pos = start;
        self.depth = depth;
        Err(Stop::Syntax(furthest.unwrap_or(start)))
    }

    // ---- conditions ----

    fn condition(&mut self) -> Parsed<Node<Condition>> {
        let mut left = self.and_condition()?;
        while self.is(Kind::Or) {
            self.advance();
            let right = self.and_condition()?;
            left = bare(Condition::Or(Box::new(left.node), Box::new(right.node)));
        }
        Ok(left)
    }

    fn and_condition(&mut self) -> Parsed<Node<Condition>> {
        let mut left = self.not_condition()?;
        while self.is(Kind::And) {
            self.advance();
            let right = self.not_condition()?;
            left = bare(Condition::And(Box::new(left.node), Box::new(right.node)));
        }
        Ok(left)
    }

    fn not_condition(&mut self) -> Parsed<Node<Condition>> {
        // A run of NOTs is read in a loop, so a long run costs no stack.
        let mut nots = 0usize;
        while self.is(Kind::Not) {
            self.advance();
            nots += 1;
        }
        let mut result = self.primary()?;
        for _ in 0..nots {
            result = bare(Condition::Not(Box::new(result.node)));
        }
        Ok(result)
    }

    fn primary(&mut self) -> Parsed<Node<Condition>> {
        if self.is(Kind::LParen) {
            return self.choose(&[Self::parenthesized_condition, Self::comparison]);
        }
        self.comparison()
    }

    fn parenthesized_condition(&mut self) -> Parsed<Node<Condition>> {
        self.advance();
        self.enter()?;
        let inner = self.condition()?;
        self.expect(Kind::RParen)?;
        self.leave();
        if inner.paren {
            return Err(redundant());
        }
        Ok(Node {
            node: inner.node,
            paren: true,
        })
    }

    fn comparison(&mut self) -> Parsed<Node<Condition>> {
        let left = self.operand()?;
        let op = match self.peek() {
            Kind::Eq => Some(Comparator::Eq),
            Kind::Ne => Some(Comparator::Ne),
            Kind::Lt => Some(Comparator::Lt),
            Kind::Le => Some(Comparator::Le),
            Kind::Gt => Some(Comparator::Gt),
            Kind::Ge => Some(Comparator::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.advance();
            let right = self.operand()?;
            return Ok(bare(Condition::Compare {
                op,
                left: left.node,
                right: right.node,
            }));
        }
        match self.peek() {
            Kind::Between => {
                self.advance();
                let low = self.operand()?;
                self.expect(Kind::And)?;
                let high = self.operand()?;
                Ok(bare(Condition::Between {
                    value: left.node,
                    low: low.node,
                    high: high.node,
                }))
            }
            Kind::In => {
                self.advance();
                self.expect(Kind::LParen)?;
                let mut list = vec![self.operand()?.node];
                while self.is(Kind::Comma) {
                    self.advance();
                    list.push(self.operand()?.node);
                }
                self.expect(Kind::RParen)?;
                Ok(bare(Condition::In {
                    value: left.node,
                    list,
                }))
            }
            _ => match left {
                Node {
                    node: Operand::Function(f),
                    paren: false,
                } => Ok(bare(Condition::Function(f))),
                _ => self.fail(),
            },
        }
    }

    // ---- operands ----

    fn operand(&mut self) -> Parsed<Node<Operand>> {
        match self.peek() {
            Kind::ValuePlaceholder => {
                let at = self.advance();
                Ok(bare(Operand::Value(Value::Placeholder(
                    self.text(at).to_owned(),
                ))))
            }
            Kind::LParen => {
                self.advance();
                self.enter()?;
                let inner = self.operand()?;
                self.expect(Kind::RParen)?;
                self.leave();
                if inner.paren {
                    return Err(redundant());
                }
                Ok(Node {
                    node: inner.node,
                    paren: true,
                })
            }
            Kind::Ident if self.peek_at(1) == Kind::LParen => {
                Ok(bare(Operand::Function(self.call()?)))
            }
            Kind::Ident | Kind::NamePlaceholder => Ok(bare(Operand::Path(self.path()?))),
            _ => self.fail(),
        }
    }

    fn call(&mut self) -> Parsed<Function> {
        let at = self.advance();
        let name = self.text(at).to_owned();
        self.expect(Kind::LParen)?;
        self.enter()?;
        let mut args = vec![self.operand()?.node];
        while self.is(Kind::Comma) {
            self.advance();
            args.push(self.operand()?.node);
        }
        self.expect(Kind::RParen)?;
        self.leave();
        Ok(Function { name, args })
    }

    fn path_step(&mut self) -> Parsed<PathElement> {
        let at = self.advance();
        let text = self.text(at).to_owned();
        match self.tokens.get(at).map(|t| t.kind) {
            Some(Kind::Ident) => Ok(PathElement::Name(text)),
            Some(Kind::NamePlaceholder) => Ok(PathElement::Placeholder(text)),
            _ => Err(Stop::Syntax(at)),
        }
    }

    fn path(&mut self) -> Parsed<Path> {
        if !matches!(self.peek(), Kind::Ident | Kind::NamePlaceholder) {
            return self.fail();
        }
        let mut elements = vec![self.path_step()?];
        loop {
            match self.peek() {
                Kind::Dot => {
                    self.advance();
                    if !matches!(self.peek(), Kind::Ident | Kind::NamePlaceholder) {
                        return self.fail();
                    }
                    elements.push(self.path_step()?);
                }
                Kind::LBracket => {
                    self.advance();
                    let at = self.expect(Kind::Int)?;
                    self.expect(Kind::RBracket)?;
                    let text = self.text(at);
                    let index = text
                        .parse::<u64>()
                        .ok()
                        .filter(|&i| text.len() <= 10 && i <= MAX_INDEX)
                        .and_then(|i| u32::try_from(i).ok());
                    match index {
                        Some(i) => elements.push(PathElement::Index(i)),
                        None => {
                            return Err(Stop::Message(format!(
                                "List index is not within the allowable range; index: [{text}]"
                            )));
                        }
                    }
                }
                _ => return Ok(Path { elements }),
            }
        }
    }

    // ---- updates and projections ----

    fn update(&mut self) -> Parsed<Vec<UpdateClause>> {
        let mut clauses = Vec::new();
        loop {
            let clause = match self.peek() {
                Kind::Set => {
                    self.advance();
                    UpdateClause::Set(self.list(Self::set_action)?)
                }
                Kind::Remove => {
                    self.advance();
                    UpdateClause::Remove(self.list(Self::path)?)
                }
                Kind::Add => {
                    self.advance();
                    UpdateClause::Add(self.list(Self::value_action)?)
                }
                Kind::Delete => {
                    self.advance();
                    UpdateClause::Delete(self.list(Self::value_action)?)
                }
                _ => return self.fail(),
            };
            clauses.push(clause);
            if self.is(Kind::Eof) {
                return Ok(clauses);
            }
        }
    }

    fn list<T>(&mut self, item: fn(&mut Self) -> Parsed<T>) -> Parsed<Vec<T>> {
        let mut items = vec![item(self)?];
        while self.is(Kind::Comma) {
            self.advance();
            items.push(item(self)?);
        }
        Ok(items)
    }

    fn set_action(&mut self) -> Parsed<SetAction> {
        let path = self.path()?;
        self.expect(Kind::Eq)?;
        let a = self.operand()?.node;
        let value = match self.peek() {
            Kind::Plus => {
                self.advance();
                SetValue::Plus(a, self.operand()?.node)
            }
            Kind::Minus => {
                self.advance();
                SetValue::Minus(a, self.operand()?.node)
            }
            _ => SetValue::Operand(a),
        };
        Ok(SetAction { path, value })
    }

    fn value_action(&mut self) -> Parsed<ValueAction> {
        let path = self.path()?;
        let at = self.expect(Kind::ValuePlaceholder)?;
        Ok(ValueAction {
            path,
            value: Value::Placeholder(self.text(at).to_owned()),
        })
    }

    /// The message for a syntax error at token `at`: the token, and the text from the token
    /// before it to the token after it. Captured against AWS:
    /// `INVALID SYNTAX HERE` gives `token: "INVALID", near: "INVALID SYNTAX"`, `SET _123 = :v`
    /// gives `token: "_", near: "SET _123"`, and `l[a]` gives `token: "a", near: "[a]"`.
    fn syntax_message(&self, at: usize) -> String {
        let Some(token) = self.tokens.get(at) else {
            return "Syntax error; token: \"<EOF>\", near: \"\"".to_owned();
        };
        let from = at
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map_or(0, |t| t.start);
        let to = self.tokens.get(at + 1).map_or(token.end, |t| t.end);
        let near = self.source.get(from..to).unwrap_or("");
        format!(
            "Syntax error; token: \"{}\", near: \"{near}\"",
            token.text(self.source)
        )
    }

    /// Runs `grammar` over the whole text, which must end where the grammar does.
    fn run<T>(&mut self, grammar: fn(&mut Self) -> Parsed<T>) -> Result<T, String> {
        let result = grammar(self).and_then(|v| match self.peek() {
            Kind::Eof => Ok(v),
            _ => self.fail(),
        });
        result.map_err(|stop| match stop {
            Stop::Syntax(at) => self.syntax_message(at),
            Stop::Message(m) => m,
        })
    }
}

fn redundant() -> Stop {
    Stop::Message("The expression has redundant parentheses;".to_owned())
}

/// Checks common to every kind before parsing: not empty, not over the size limit.
fn precheck(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("The expression can not be empty;".to_owned());
    }
    if text.len() > MAX_EXPRESSION_BYTES {
        return Err(format!(
            "Expression size has exceeded the maximum allowed size; expression size: {}",
            text.len()
        ));
    }
    Ok(())
}

/// Where a function appears, which decides which functions are allowed there.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Condition,
    Operand,
}

/// The walk in written order that finds reserved words, unknown functions and functions
/// used in the wrong place, and counts operators.
struct Walk {
    in_update: bool,
    operators: usize,
}

impl Walk {
    fn path(&self, path: &Path) -> Result<(), String> {
        for element in &path.elements {
            if let PathElement::Name(name) = element
                && is_reserved(name)
            {
                return Err(format!(
                    "Attribute name is a reserved keyword; reserved keyword: {name}"
                ));
            }
        }
        Ok(())
    }

    fn function(&mut self, f: &Function, place: Place) -> Result<(), String> {
        self.operators += 1;
        let name = f.name.as_str();
        let Some(arity) = function_arity(name) else {
            return Err(format!("Invalid function name; function: {name}"));
        };
        if self.in_update {
            if !is_update_function(name) {
                return Err(format!(
                    "The function is not allowed in an update expression; function: {name}"
                ));
            }
        } else {
            if is_update_function(name) {
                return Err(format!(
                    "The function is not allowed in a condition expression; function: {name}"
                ));
            }
            if (place == Place::Condition) != is_condition_function(name) {
                return Err(format!(
                    "The function is not allowed to be used this way in an expression; function: {name}"
                ));
            }
            // An update's functions are counted later, with its placeholders.
            if f.args.len() != arity {
                return Err(arity_message(name, f.args.len()));
            }
        }
        for arg in &f.args {
            self.operand(arg)?;
        }
        Ok(())
    }

    fn operand(&mut self, operand: &Operand) -> Result<(), String> {
        match operand {
            Operand::Path(p) => self.path(p),
            Operand::Value(_) => Ok(()),
            Operand::Function(f) => self.function(f, Place::Operand),
        }
    }

    fn condition(&mut self, c: &Condition) -> Result<(), String> {
        match c {
            Condition::Compare { left, right, .. } => {
                self.operators += 1;
                self.operand(left)?;
                self.operand(right)
            }
            Condition::Between { value, low, high } => {
                self.operators += 1;
                self.operand(value)?;
                self.operand(low)?;
                self.operand(high)
            }
            Condition::In { value, list } => {
                if list.len() > MAX_IN_OPERANDS {
                    return Err(format!(
                        "The IN operator is provided with too many operands; number of operands: {}",
                        list.len()
                    ));
                }
                self.operators += 1;
                self.operand(value)?;
                list.iter().try_for_each(|o| self.operand(o))
            }
            Condition::Function(f) => self.function(f, Place::Condition),
            Condition::Not(inner) => {
                self.operators += 1;
                self.condition(inner)
            }
            Condition::And(l, r) | Condition::Or(l, r) => {
                self.operators += 1;
                self.condition(l)?;
                self.condition(r)
            }
        }
    }

    fn set_value(&mut self, value: &SetValue) -> Result<(), String> {
        match value {
            SetValue::Operand(o) => self.operand(o),
            SetValue::Plus(a, b) | SetValue::Minus(a, b) => {
                self.operators += 1;
                self.operand(a)?;
                self.operand(b)
            }
        }
    }

    fn clause(&mut self, clause: &UpdateClause) -> Result<(), String> {
        match clause {
            UpdateClause::Set(actions) => actions.iter().try_for_each(|a| {
                self.path(&a.path)?;
                self.set_value(&a.value)
            }),
            UpdateClause::Remove(paths) => paths.iter().try_for_each(|p| self.path(p)),
            UpdateClause::Add(actions) | UpdateClause::Delete(actions) => {
                actions.iter().try_for_each(|a| self.path(&a.path))
            }
        }
    }

    fn limit(&self) -> Result<(), String> {
        if self.operators > MAX_OPERATORS {
            return Err(format!(
                "The expression contains too many operators; operator count: {}",
                self.operators
            ));
        }
        Ok(())
    }
}

pub(crate) fn arity_message(name: &str, count: usize) -> String {
    format!(
        "Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {count}"
    )
}

/// Parses a condition-shaped expression (condition, filter or key condition) and makes the
/// pre-placeholder checks. Errors are the bare message, without the `Invalid …:` prefix.
pub(crate) fn condition(text: &str) -> Result<Condition, String> {
    precheck(text)?;
    let mut parser = Parser::new(text);
    let parsed = parser.run(Parser::condition)?.node;
    let mut walk = Walk {
        in_update: false,
        operators: 0,
    };
    walk.condition(&parsed)?;
    walk.limit()?;
    Ok(parsed)
}

/// Parses an UpdateExpression and makes the pre-placeholder checks.
pub(crate) fn update(text: &str) -> Result<Update, String> {
    precheck(text)?;
    let mut parser = Parser::new(text);
    let clauses = parser.run(Parser::update)?;
    let mut walk = Walk {
        in_update: true,
        operators: 0,
    };
    // DynamoDB reads an update a section at a time, in the order the sections first appear,
    // and only reports a repeated section once that section's actions have been read.
    let mut order: Vec<&'static str> = Vec::new();
    for clause in &clauses {
        if !order.contains(&clause.keyword()) {
            order.push(clause.keyword());
        }
    }
    for keyword in order {
        let section: Vec<&UpdateClause> =
            clauses.iter().filter(|c| c.keyword() == keyword).collect();
        for clause in &section {
            walk.clause(clause)?;
        }
        if section.len() > 1 {
            return Err(format!(
                "The \"{keyword}\" section can only be used once in an update expression;"
            ));
        }
    }
    walk.limit()?;
    Ok(Update { clauses })
}

/// Parses a ProjectionExpression and makes the pre-placeholder checks.
pub(crate) fn projection(text: &str) -> Result<Projection, String> {
    precheck(text)?;
    let mut parser = Parser::new(text);
    let paths = parser.run(|p| p.list(Parser::path))?;
    let walk = Walk {
        in_update: false,
        operators: 0,
    };
    for path in &paths {
        walk.path(path)?;
    }
    Ok(Projection { paths })
}
