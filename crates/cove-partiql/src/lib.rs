//! DynamoDB's PartiQL dialect: a hand-written lexer and recursive-descent parser for the
//! statements DynamoDB runs (SELECT, INSERT, UPDATE, DELETE), producing `cove-expr` trees
//! (conditions, update clauses, paths) with the request's `?` parameters already substituted,
//! so the engine evaluates PartiQL with the same code as expressions. Pure: no I/O.
//!
//! Errors carry DynamoDB's texts (the ValidationException messages of DynamoDB's PartiQL
//! front end), most as "Statement wasn't well formed, can't be processed: ...".

use cove_expr::{
    Comparator, Condition, Function, Operand, Path, PathElement, SetAction, SetValue, Update,
    UpdateClause, Value, ValueAction,
};
use cove_types::{AttributeValue, Item, Number};

/// A parse failure, with DynamoDB's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PartiqlError(pub String);

fn malformed(detail: impl std::fmt::Display) -> PartiqlError {
    PartiqlError(format!(
        "Statement wasn't well formed, can't be processed: {detail}"
    ))
}

/// What a statement returns of the item it changes: `RETURNING ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returning {
    AllOld,
    ModifiedOld,
    AllNew,
    ModifiedNew,
}

/// A parsed statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Select {
        /// `None` for `*`.
        projection: Option<Vec<Path>>,
        table: String,
        index: Option<String>,
        filter: Option<Condition>,
    },
    Insert {
        table: String,
        item: Item,
    },
    Update {
        table: String,
        update: Update,
        filter: Option<Condition>,
        returning: Option<Returning>,
    },
    Delete {
        table: String,
        filter: Option<Condition>,
        returning: Option<Returning>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Quoted(String),
    Str(String),
    Num(String),
    Sym(&'static str),
    Param,
}

fn lex(text: &str) -> Result<Vec<Tok>, PartiqlError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '-' && chars.get(i + 1) == Some(&'-') {
            // A comment to the end of the line.
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '\'' || c == '"' {
            let quote = c;
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(malformed("Unterminated quoted text")),
                    Some(&q) if q == quote => {
                        // A doubled quote is the quote itself.
                        if chars.get(i + 1) == Some(&quote) {
                            s.push(quote);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(if quote == '\'' {
                Tok::Str(s)
            } else {
                Tok::Quoted(s)
            });
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || chars[i] == '.'
                    || matches!(chars[i], 'e' | 'E')
                    || (matches!(chars[i], '+' | '-') && matches!(chars[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            out.push(Tok::Num(chars[start..i].iter().collect()));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let sym = match two.as_str() {
            "<=" => Some("<="),
            ">=" => Some(">="),
            "<>" => Some("<>"),
            "!=" => Some("<>"),
            "<<" => Some("<<"),
            ">>" => Some(">>"),
            _ => None,
        };
        if let Some(sym) = sym {
            out.push(Tok::Sym(sym));
            i += 2;
            continue;
        }
        let sym = match c {
            '(' => "(",
            ')' => ")",
            '[' => "[",
            ']' => "]",
            '{' => "{",
            '}' => "}",
            ',' => ",",
            '.' => ".",
            ':' => ":",
            '=' => "=",
            '<' => "<",
            '>' => ">",
            '+' => "+",
            '-' => "-",
            '*' => "*",
            ';' => ";",
            '?' => {
                out.push(Tok::Param);
                i += 1;
                continue;
            }
            other => return Err(malformed(format!("Unexpected character: {other}"))),
        };
        out.push(Tok::Sym(sym));
        i += 1;
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    params: &'a [AttributeValue],
    used_params: usize,
}

/// Parses one statement and substitutes its `?` parameters, in order.
pub fn parse(text: &str, params: &[AttributeValue]) -> Result<Statement, PartiqlError> {
    let toks = lex(text)?;
    let mut p = Parser {
        toks,
        pos: 0,
        params,
        used_params: 0,
    };
    let statement = p.statement()?;
    if p.is_sym(";") {
        p.pos += 1;
    }
    if p.pos < p.toks.len() {
        return Err(malformed("Unexpected token after expression"));
    }
    if p.used_params != params.len() {
        return Err(PartiqlError(
            "Number of parameters in request and statement don't match.".into(),
        ));
    }
    Ok(statement)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }

    fn is_sym(&self, sym: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(s)) if *s == sym)
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn eat_sym(&mut self, sym: &str) -> bool {
        let yes = self.is_sym(sym);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), PartiqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(malformed(format!("Expected {}", kw.to_uppercase())))
        }
    }

    fn expect_sym(&mut self, sym: &str) -> Result<(), PartiqlError> {
        if self.eat_sym(sym) {
            Ok(())
        } else {
            Err(malformed(format!("Expected {sym}")))
        }
    }

    fn statement(&mut self) -> Result<Statement, PartiqlError> {
        if self.eat_kw("SELECT") {
            return self.select();
        }
        if self.eat_kw("INSERT") {
            return self.insert();
        }
        if self.eat_kw("UPDATE") {
            return self.update();
        }
        if self.eat_kw("DELETE") {
            return self.delete();
        }
        Err(malformed("Expected data manipulation"))
    }

    /// A table or index name: quoted or bare.
    fn name(&mut self) -> Result<String, PartiqlError> {
        match self.peek().cloned() {
            Some(Tok::Quoted(s)) | Some(Tok::Ident(s)) => {
                self.pos += 1;
                Ok(s)
            }
            _ => Err(malformed("Expected identifier")),
        }
    }

    fn select(&mut self) -> Result<Statement, PartiqlError> {
        let projection = if self.eat_sym("*") {
            None
        } else {
            let mut paths = vec![self.path()?];
            while self.eat_sym(",") {
                paths.push(self.path()?);
            }
            if self.is_sym("*") {
                return Err(PartiqlError(
                    "Other attributes should not be present in the projection when '*' is used."
                        .into(),
                ));
            }
            Some(paths)
        };
        self.expect_kw("FROM")?;
        let table = self.name()?;
        let index = if self.eat_sym(".") {
            Some(self.name()?)
        } else {
            None
        };
        let filter = if self.eat_kw("WHERE") {
            Some(self.condition()?)
        } else {
            None
        };
        Ok(Statement::Select {
            projection,
            table,
            index,
            filter,
        })
    }

    fn insert(&mut self) -> Result<Statement, PartiqlError> {
        self.expect_kw("INTO")?;
        let table = self.name()?;
        if self.is_kw("VALUES") {
            return Err(PartiqlError(
                "Unsupported operation: Inserting multiple items in a single statement is not supported, use \"INSERT INTO tableName VALUE item\" instead".into(),
            ));
        }
        self.expect_kw("VALUE")?;
        match self.value()? {
            AttributeValue::M(item) => Ok(Statement::Insert { table, item }),
            _ => Err(PartiqlError(
                "Unsupported format in item expression. Please use struct format {...} to express item values for insert statement.".into(),
            )),
        }
    }

    fn update(&mut self) -> Result<Statement, PartiqlError> {
        let table = self.name()?;
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let mut add = Vec::new();
        let mut delete = Vec::new();
        loop {
            if self.eat_kw("SET") {
                loop {
                    self.assignment(&mut set, &mut add, &mut delete)?;
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            } else if self.eat_kw("REMOVE") {
                loop {
                    remove.push(self.path()?);
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            } else {
                break;
            }
        }
        if set.is_empty() && remove.is_empty() && add.is_empty() && delete.is_empty() {
            return Err(malformed("Expected SET or REMOVE"));
        }
        let mut clauses = Vec::new();
        if !set.is_empty() {
            clauses.push(UpdateClause::Set(set));
        }
        if !remove.is_empty() {
            clauses.push(UpdateClause::Remove(remove));
        }
        if !add.is_empty() {
            clauses.push(UpdateClause::Add(add));
        }
        if !delete.is_empty() {
            clauses.push(UpdateClause::Delete(delete));
        }
        let filter = if self.eat_kw("WHERE") {
            Some(self.condition()?)
        } else {
            None
        };
        let returning = self.returning()?;
        Ok(Statement::Update {
            table,
            update: Update { clauses },
            filter,
            returning,
        })
    }

    fn delete(&mut self) -> Result<Statement, PartiqlError> {
        self.expect_kw("FROM")?;
        let table = self.name()?;
        let filter = if self.eat_kw("WHERE") {
            Some(self.condition()?)
        } else {
            None
        };
        let returning = self.returning()?;
        if let Some(r) = returning
            && r != Returning::AllOld
        {
            return Err(PartiqlError(format!(
                "Invalid returning clause: RETURNING {}. Only RETURNING ALL OLD * is allowed in DELETE statements.",
                match r {
                    Returning::ModifiedOld => "MODIFIED OLD *",
                    Returning::AllNew => "ALL NEW *",
                    Returning::ModifiedNew => "MODIFIED NEW *",
                    Returning::AllOld => "ALL OLD *",
                }
            )));
        }
        Ok(Statement::Delete {
            table,
            filter,
            returning,
        })
    }

    fn returning(&mut self) -> Result<Option<Returning>, PartiqlError> {
        if !self.eat_kw("RETURNING") {
            return Ok(None);
        }
        let all = if self.eat_kw("ALL") {
            true
        } else if self.eat_kw("MODIFIED") {
            false
        } else {
            return Err(malformed("Expected ALL or MODIFIED"));
        };
        let old = if self.eat_kw("OLD") {
            true
        } else if self.eat_kw("NEW") {
            false
        } else {
            return Err(malformed("Expected OLD or NEW"));
        };
        if !self.eat_sym("*") {
            return Err(PartiqlError(
                "Expected '*' after ( MODIFIED | ALL ) ( NEW | OLD ) in RETURNING clause".into(),
            ));
        }
        Ok(Some(match (all, old) {
            (true, true) => Returning::AllOld,
            (false, true) => Returning::ModifiedOld,
            (true, false) => Returning::AllNew,
            (false, false) => Returning::ModifiedNew,
        }))
    }

    /// `path = expr` in SET, where `set_add`/`set_delete` become ADD and DELETE actions.
    fn assignment(
        &mut self,
        set: &mut Vec<SetAction>,
        add: &mut Vec<ValueAction>,
        delete: &mut Vec<ValueAction>,
    ) -> Result<(), PartiqlError> {
        let path = self.path()?;
        self.expect_sym("=")?;
        for (func, target) in [("set_add", &mut *add), ("set_delete", &mut *delete)] {
            if self.is_kw(func) && matches!(self.toks.get(self.pos + 1), Some(Tok::Sym("("))) {
                self.pos += 2;
                let first = self.path()?;
                if first != path {
                    return Err(PartiqlError(format!(
                        "The first argument to SET_{} must equal the assignment value",
                        &func[4..].to_uppercase()
                    )));
                }
                self.expect_sym(",")?;
                let value = self.value()?;
                if !matches!(
                    value,
                    AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_)
                ) {
                    return Err(PartiqlError(format!(
                        "The second argument to SET_{} must be a value with type SET",
                        &func[4..].to_uppercase()
                    )));
                }
                self.expect_sym(")")?;
                target.push(ValueAction {
                    path,
                    value: Value::Literal(value),
                });
                return Ok(());
            }
        }
        let first = self.operand()?;
        let value = if self.eat_sym("+") {
            SetValue::Plus(first, self.operand()?)
        } else if self.eat_sym("-") {
            SetValue::Minus(first, self.operand()?)
        } else {
            SetValue::Operand(first)
        };
        set.push(SetAction { path, value });
        Ok(())
    }

    fn path(&mut self) -> Result<Path, PartiqlError> {
        let first = match self.peek().cloned() {
            Some(Tok::Ident(s)) | Some(Tok::Quoted(s)) => {
                self.pos += 1;
                s
            }
            Some(Tok::Sym("[")) => {
                return Err(PartiqlError("A path cannot start with a list index".into()));
            }
            _ => return Err(malformed("Expected identifier for simple path")),
        };
        let mut elements = vec![PathElement::Name(first)];
        loop {
            if self.eat_sym(".") {
                match self.peek().cloned() {
                    Some(Tok::Ident(s)) | Some(Tok::Quoted(s)) => {
                        self.pos += 1;
                        elements.push(PathElement::Name(s));
                    }
                    _ => return Err(malformed("Expected identifier for simple path")),
                }
            } else if self.eat_sym("[") {
                match self.peek().cloned() {
                    Some(Tok::Num(n)) => {
                        self.pos += 1;
                        let i: u32 = n.parse().map_err(|_| {
                            PartiqlError(format!(
                                "List index is not within the allowable range; index: [{n}]"
                            ))
                        })?;
                        elements.push(PathElement::Index(i));
                    }
                    Some(Tok::Str(s)) => {
                        self.pos += 1;
                        elements.push(PathElement::Name(s));
                    }
                    _ => return Err(PartiqlError("Unexpected path component".into())),
                }
                self.expect_sym("]")?;
            } else {
                return Ok(Path::new(elements));
            }
        }
    }

    fn number(text: &str, negative: bool) -> Result<AttributeValue, PartiqlError> {
        let full = if negative {
            format!("-{text}")
        } else {
            text.to_string()
        };
        Number::parse(&full)
            .map(AttributeValue::N)
            .map_err(|e| PartiqlError(e.to_string()))
    }

    /// A literal value or a parameter.
    fn value(&mut self) -> Result<AttributeValue, PartiqlError> {
        let Some(tok) = self.peek().cloned() else {
            return Err(malformed("Expected a value"));
        };
        self.pos += 1;
        Ok(match tok {
            Tok::Str(s) => AttributeValue::S(s),
            Tok::Num(n) => Parser::number(&n, false)?,
            Tok::Sym("-") => match self.peek().cloned() {
                Some(Tok::Num(n)) => {
                    self.pos += 1;
                    Parser::number(&n, true)?
                }
                _ => return Err(malformed("Expected a number")),
            },
            Tok::Param => {
                let v = self.params.get(self.used_params).cloned().ok_or_else(|| {
                    PartiqlError(
                        "Number of parameters in request and statement don't match.".into(),
                    )
                })?;
                self.used_params += 1;
                v
            }
            Tok::Ident(w) if w.eq_ignore_ascii_case("TRUE") => AttributeValue::Bool(true),
            Tok::Ident(w) if w.eq_ignore_ascii_case("FALSE") => AttributeValue::Bool(false),
            Tok::Ident(w) if w.eq_ignore_ascii_case("NULL") => AttributeValue::Null,
            Tok::Sym("{") => {
                let mut map = Item::new();
                if !self.eat_sym("}") {
                    loop {
                        let key = match self.peek().cloned() {
                            Some(Tok::Str(k)) | Some(Tok::Quoted(k)) => {
                                self.pos += 1;
                                k
                            }
                            _ => return Err(malformed("Expected a string key in a struct")),
                        };
                        self.expect_sym(":")?;
                        let v = self.value()?;
                        if map.insert(key.clone(), v).is_some() {
                            return Err(PartiqlError(format!(
                                "Duplicate keys in tuple. Key: {key} under item"
                            )));
                        }
                        if self.eat_sym("}") {
                            break;
                        }
                        self.expect_sym(",")?;
                    }
                }
                AttributeValue::M(map)
            }
            Tok::Sym("[") => {
                let mut list = Vec::new();
                if !self.eat_sym("]") {
                    loop {
                        list.push(self.value()?);
                        if self.eat_sym("]") {
                            break;
                        }
                        self.expect_sym(",")?;
                    }
                }
                AttributeValue::L(list)
            }
            Tok::Sym("<<") => {
                let mut values = Vec::new();
                if !self.eat_sym(">>") {
                    loop {
                        values.push(self.value()?);
                        if self.eat_sym(">>") {
                            break;
                        }
                        self.expect_sym(",")?;
                    }
                }
                bag(values)?
            }
            _ => return Err(malformed("Expected a value")),
        })
    }

    /// An operand of a comparison or SET: a value, a path, or a function call.
    fn operand(&mut self) -> Result<Operand, PartiqlError> {
        if let Some(Tok::Ident(name)) = self.peek().cloned()
            && matches!(self.toks.get(self.pos + 1), Some(Tok::Sym("(")))
        {
            let lower = name.to_ascii_lowercase();
            if matches!(lower.as_str(), "size" | "list_append") {
                self.pos += 2;
                let mut args = vec![self.operand()?];
                while self.eat_sym(",") {
                    args.push(self.operand()?);
                }
                self.expect_sym(")")?;
                return Ok(Operand::Function(Function { name: lower, args }));
            }
            return Err(PartiqlError(format!("Unrecognized function: {name}")));
        }
        match self.peek() {
            Some(Tok::Ident(w))
                if !["TRUE", "FALSE", "NULL"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                Ok(Operand::Path(self.path()?))
            }
            Some(Tok::Quoted(_)) => Ok(Operand::Path(self.path()?)),
            _ => Ok(Operand::Value(Value::Literal(self.value()?))),
        }
    }

    fn condition(&mut self) -> Result<Condition, PartiqlError> {
        let mut left = self.and()?;
        while self.eat_kw("OR") {
            let right = self.and()?;
            left = Condition::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Condition, PartiqlError> {
        let mut left = self.not()?;
        while self.eat_kw("AND") {
            let right = self.not()?;
            left = Condition::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Condition, PartiqlError> {
        if self.eat_kw("NOT") {
            return Ok(Condition::Not(Box::new(self.not()?)));
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Condition, PartiqlError> {
        if self.is_sym("(") {
            // A parenthesised condition, unless it turns out to be a value list.
            let save = self.pos;
            self.pos += 1;
            if let Ok(c) = self.condition()
                && self.eat_sym(")")
            {
                return Ok(c);
            }
            self.pos = save;
        }
        if let Some(Tok::Ident(name)) = self.peek().cloned()
            && matches!(self.toks.get(self.pos + 1), Some(Tok::Sym("(")))
        {
            let lower = name.to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "begins_with"
                    | "contains"
                    | "attribute_exists"
                    | "attribute_not_exists"
                    | "attribute_type"
            ) {
                self.pos += 2;
                let mut args = vec![self.operand()?];
                while self.eat_sym(",") {
                    args.push(self.operand()?);
                }
                self.expect_sym(")")?;
                let arity = if lower.starts_with("attribute_") && lower != "attribute_type" {
                    1
                } else {
                    2
                };
                if args.len() != arity {
                    return Err(malformed(format!("Wrong number of arguments to {lower}")));
                }
                return Ok(Condition::Function(Function { name: lower, args }));
            }
        }
        let left = self.operand()?;
        if self.eat_kw("IS") {
            let negated = self.eat_kw("NOT");
            let test = if self.eat_kw("MISSING") {
                let name = if negated {
                    "attribute_exists"
                } else {
                    "attribute_not_exists"
                };
                return Ok(Condition::Function(Function {
                    name: name.into(),
                    args: vec![left],
                }));
            } else if self.eat_kw("NULL") {
                Condition::Function(Function {
                    name: "attribute_type".into(),
                    args: vec![
                        left,
                        Operand::Value(Value::Literal(AttributeValue::S("NULL".into()))),
                    ],
                })
            } else {
                return Err(malformed("Expected MISSING or NULL after IS"));
            };
            return Ok(if negated {
                Condition::Not(Box::new(test))
            } else {
                test
            });
        }
        if self.eat_kw("BETWEEN") {
            let low = self.operand()?;
            self.expect_kw("AND")?;
            let high = self.operand()?;
            return Ok(Condition::Between {
                value: left,
                low,
                high,
            });
        }
        if self.eat_kw("IN") {
            let close = if self.eat_sym("[") {
                "]"
            } else if self.eat_sym("(") {
                ")"
            } else {
                return Err(PartiqlError(
                    "IN operator must have a left hand argument of type Variable Reference and right hand argument of type Seq with at least one member".into(),
                ));
            };
            let mut list = vec![self.operand()?];
            while self.eat_sym(",") {
                list.push(self.operand()?);
            }
            self.expect_sym(close)?;
            return Ok(Condition::In { value: left, list });
        }
        let op = match self.peek() {
            Some(Tok::Sym("=")) => Comparator::Eq,
            Some(Tok::Sym("<>")) => Comparator::Ne,
            Some(Tok::Sym("<")) => Comparator::Lt,
            Some(Tok::Sym("<=")) => Comparator::Le,
            Some(Tok::Sym(">")) => Comparator::Gt,
            Some(Tok::Sym(">=")) => Comparator::Ge,
            _ => {
                return Err(PartiqlError(
                    "WHERE clause must contain an expression that resolves to a boolean".into(),
                ));
            }
        };
        self.pos += 1;
        let right = self.operand()?;
        Ok(Condition::Compare { op, left, right })
    }
}

/// A `<< ... >>` bag as a DynamoDB set: strings, numbers or binaries, all one type.
fn bag(values: Vec<AttributeValue>) -> Result<AttributeValue, PartiqlError> {
    if values.is_empty() {
        return Err(PartiqlError("Empty bags are not supported".into()));
    }
    let unsupported = || {
        PartiqlError(
            "Unsupported data type in Bag. DynamoDB only supports either numbers or strings in bags"
                .into(),
        )
    };
    match &values[0] {
        AttributeValue::S(_) => values
            .into_iter()
            .map(|v| match v {
                AttributeValue::S(s) => Ok(s),
                _ => Err(unsupported()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(AttributeValue::Ss),
        AttributeValue::N(_) => values
            .into_iter()
            .map(|v| match v {
                AttributeValue::N(n) => Ok(n),
                _ => Err(unsupported()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(AttributeValue::Ns),
        AttributeValue::B(_) => values
            .into_iter()
            .map(|v| match v {
                AttributeValue::B(b) => Ok(b),
                _ => Err(unsupported()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(AttributeValue::Bs),
        _ => Err(unsupported()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    fn path(name: &str) -> Operand {
        Operand::Path(Path::new(vec![PathElement::Name(name.into())]))
    }

    fn lit(v: AttributeValue) -> Operand {
        Operand::Value(Value::Literal(v))
    }

    #[test]
    fn select_with_keys_parameters_and_projection() {
        let st = parse(
            r#"SELECT title, "info".rating[0] FROM "Movies"."ByYear" WHERE year = ? AND title >= 'M'"#,
            &[AttributeValue::N(Number::parse("2013").unwrap())],
        )
        .unwrap();
        let Statement::Select {
            projection,
            table,
            index,
            filter,
        } = st
        else {
            panic!()
        };
        assert_eq!(table, "Movies");
        assert_eq!(index.as_deref(), Some("ByYear"));
        assert_eq!(projection.unwrap().len(), 2);
        assert_eq!(
            filter,
            Some(Condition::And(
                Box::new(Condition::Compare {
                    op: Comparator::Eq,
                    left: path("year"),
                    right: lit(AttributeValue::N(Number::parse("2013").unwrap()))
                }),
                Box::new(Condition::Compare {
                    op: Comparator::Ge,
                    left: path("title"),
                    right: lit(s("M"))
                })
            ))
        );
    }

    #[test]
    fn insert_values_and_bags() {
        let st = parse(
            "INSERT INTO t VALUE {'pk': 'a', 'n': -1.5, 'tags': <<'x','y'>>, 'l': [1, TRUE, NULL], 'it''s': 'ok'}",
            &[],
        )
        .unwrap();
        let Statement::Insert { item, .. } = st else {
            panic!()
        };
        assert_eq!(item["n"], AttributeValue::N(Number::parse("-1.5").unwrap()));
        assert_eq!(
            item["tags"],
            AttributeValue::Ss(vec!["x".into(), "y".into()])
        );
        assert_eq!(item["it's"], s("ok"));
        assert_eq!(
            item["l"],
            AttributeValue::L(vec![
                AttributeValue::N(Number::parse("1").unwrap()),
                AttributeValue::Bool(true),
                AttributeValue::Null
            ])
        );
    }

    #[test]
    fn update_clauses() {
        let st = parse(
            "UPDATE t SET a = a + 1, b = 'x' SET tags = set_add(tags, <<'z'>>) REMOVE c WHERE pk = 'k' RETURNING ALL NEW *",
            &[],
        )
        .unwrap();
        let Statement::Update {
            update, returning, ..
        } = st
        else {
            panic!()
        };
        assert_eq!(returning, Some(Returning::AllNew));
        let kinds: Vec<&str> = update.clauses.iter().map(|c| c.keyword()).collect();
        assert_eq!(kinds, ["SET", "REMOVE", "ADD"]);
    }

    #[test]
    fn errors_are_dynamodbs() {
        let err = |text: &str, params: &[AttributeValue]| parse(text, params).unwrap_err().0;
        assert_eq!(
            err("SELEC * FROM t", &[]),
            "Statement wasn't well formed, can't be processed: Expected data manipulation"
        );
        assert_eq!(
            err("SELECT * FROM t WHERE a = ?", &[]),
            "Number of parameters in request and statement don't match."
        );
        assert_eq!(
            err("SELECT * FROM t WHERE a = 1", &[s("x")]),
            "Number of parameters in request and statement don't match."
        );
        assert_eq!(
            err("INSERT INTO t VALUES {'a': 1}", &[]),
            "Unsupported operation: Inserting multiple items in a single statement is not supported, use \"INSERT INTO tableName VALUE item\" instead"
        );
        assert_eq!(
            err("DELETE FROM t WHERE a = 1 RETURNING ALL NEW *", &[]),
            "Invalid returning clause: RETURNING ALL NEW *. Only RETURNING ALL OLD * is allowed in DELETE statements."
        );
        assert_eq!(
            err("SELECT * FROM t WHERE a = 1 garbage", &[]),
            "Statement wasn't well formed, can't be processed: Unexpected token after expression"
        );
        assert_eq!(
            err("INSERT INTO t VALUE {'a': <<>>}", &[]),
            "Empty bags are not supported"
        );
    }
}
