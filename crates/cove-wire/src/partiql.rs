//! Typed inputs of the PartiQL operations: ExecuteStatement, BatchExecuteStatement and
//! ExecuteTransaction. The statements themselves are parsed by `cove-partiql`, in the engine.

use serde_json::{Map, Value};

use cove_types::AttributeValue;

use crate::WireError;
use crate::attr::decode_value;
use crate::input::{ReturnConsumedCapacity, decode_return_consumed_capacity};
use crate::json::{Obj, Violations, as_structure};

/// One statement with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub statement: String,
    pub parameters: Vec<AttributeValue>,
    pub consistent_read: bool,
    /// `ReturnValuesOnConditionCheckFailure` is ALL_OLD.
    pub return_old_on_failure: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExecuteStatementInput {
    pub statement: Statement,
    pub next_token: Option<String>,
    pub limit: Option<usize>,
    pub return_consumed_capacity: ReturnConsumedCapacity,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchExecuteStatementInput {
    pub statements: Vec<Statement>,
    pub return_consumed_capacity: ReturnConsumedCapacity,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExecuteTransactionInput {
    pub statements: Vec<Statement>,
    pub client_request_token: Option<String>,
    pub return_consumed_capacity: ReturnConsumedCapacity,
}

fn statement(obj: Obj<'_>, path: &str, v: &mut Violations) -> Result<Statement, WireError> {
    let text = obj.string("Statement")?;
    v.not_null(text.is_some(), &format!("{path}statement"));
    if let Some(t) = text {
        let len = t.chars().count();
        if len == 0 {
            v.push(
                Some(t),
                &format!("{path}statement"),
                "Member must have length greater than or equal to 1",
            );
        }
        if len > 8192 {
            v.push(
                Some(t),
                &format!("{path}statement"),
                "Member must have length less than or equal to 8192",
            );
        }
    }
    let parameters = match obj.list("Parameters")? {
        Some(list) => {
            if list.is_empty() {
                v.push(
                    Some("[]"),
                    &format!("{path}parameters"),
                    "Member must have length greater than or equal to 1",
                );
            }
            list.iter()
                .map(decode_value)
                .collect::<Result<Vec<_>, _>>()?
        }
        None => Vec::new(),
    };
    let return_old_on_failure = match obj.string("ReturnValuesOnConditionCheckFailure")? {
        None | Some("NONE") => false,
        Some("ALL_OLD") => true,
        Some(other) => {
            v.one_of(
                other,
                &format!("{path}returnValuesOnConditionCheckFailure"),
                &["ALL_OLD", "NONE"],
            );
            false
        }
    };
    Ok(Statement {
        statement: text.unwrap_or_default().to_string(),
        parameters,
        consistent_read: obj.boolean("ConsistentRead")?.unwrap_or(false),
        return_old_on_failure,
    })
}

fn statement_list<'a>(
    obj: Obj<'a>,
    member: &str,
    path: &str,
    max: usize,
    v: &mut Violations,
) -> Result<Vec<Statement>, WireError> {
    let list = obj.list(member)?;
    v.not_null(list.is_some(), path);
    let list = list.map(Vec::as_slice).unwrap_or(&[]);
    if obj.has(member) && list.is_empty() {
        v.push(
            Some("[]"),
            path,
            "Member must have length greater than or equal to 1",
        );
    }
    if list.len() > max {
        v.push(
            Some(&format!("[{} statements]", list.len())),
            path,
            &format!("Member must have length less than or equal to {max}"),
        );
    }
    list.iter()
        .enumerate()
        .map(|(i, s)| statement(as_structure(s)?, &format!("{path}.{}.member.", i + 1), v))
        .collect()
}

impl ExecuteStatementInput {
    pub fn decode(body: &Map<String, Value>) -> Result<ExecuteStatementInput, WireError> {
        let obj = Obj(body);
        let mut v = Violations::new();
        let statement = statement(obj, "", &mut v)?;
        let next_token = obj.string("NextToken")?.map(str::to_string);
        let limit = obj.integer("Limit")?;
        if let Some(l) = limit {
            v.at_least(l, "limit", 1);
        }
        let rcc = decode_return_consumed_capacity(obj, &mut v)?;
        v.finish()?;
        Ok(ExecuteStatementInput {
            statement,
            next_token,
            limit: limit.filter(|l| *l >= 1).map(|l| l as usize),
            return_consumed_capacity: rcc,
        })
    }
}

impl BatchExecuteStatementInput {
    pub fn decode(body: &Map<String, Value>) -> Result<BatchExecuteStatementInput, WireError> {
        let obj = Obj(body);
        let mut v = Violations::new();
        let statements = statement_list(obj, "Statements", "statements", 25, &mut v)?;
        let rcc = decode_return_consumed_capacity(obj, &mut v)?;
        v.finish()?;
        Ok(BatchExecuteStatementInput {
            statements,
            return_consumed_capacity: rcc,
        })
    }
}

impl ExecuteTransactionInput {
    pub fn decode(body: &Map<String, Value>) -> Result<ExecuteTransactionInput, WireError> {
        let obj = Obj(body);
        let mut v = Violations::new();
        let statements =
            statement_list(obj, "TransactStatements", "transactStatements", 100, &mut v)?;
        let token = obj.string("ClientRequestToken")?;
        if let Some(t) = token
            && (t.is_empty() || t.chars().count() > 36)
        {
            v.push(
                Some(t),
                "clientRequestToken",
                if t.is_empty() {
                    "Member must have length greater than or equal to 1"
                } else {
                    "Member must have length less than or equal to 36"
                },
            );
        }
        let rcc = decode_return_consumed_capacity(obj, &mut v)?;
        v.finish()?;
        Ok(ExecuteTransactionInput {
            statements,
            client_request_token: token.map(str::to_string),
            return_consumed_capacity: rcc,
        })
    }
}
