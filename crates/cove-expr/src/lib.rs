//! DynamoDB expressions for Cove: a hand-written lexer and recursive-descent parser for every
//! expression kind, resolution of `#name`/`:value` placeholders against a request's
//! ExpressionAttributeNames and ExpressionAttributeValues, and DynamoDB's semantics for
//! conditions, updates and projections, with DynamoDB's exact error texts. Pure: no I/O.
//!
//! # Using it for one request
//!
//! 1. Parse each expression the request carries: [`parse_condition`], [`parse_filter`],
//!    [`parse_key_condition`], [`parse_update`], [`parse_projection`]. These report
//!    emptiness, the 4096-byte limit, syntax errors, redundant parentheses, reserved words,
//!    unknown or misplaced functions, repeated update clauses and the 300-operator limit.
//! 2. Make one [`Resolver`] from the request's two maps (it checks the maps themselves), pass
//!    each parsed expression through it in the order DynamoDB checks them (UpdateItem: update,
//!    then condition; Query: filter, projection, key condition; Scan: filter, projection), then
//!    call [`Resolver::finish`] for the unused-name and unused-value checks across all of
//!    them. DynamoDB checks each expression fully before parsing the next, so interleave:
//!    parse one, resolve it, parse the next.
//! 3. Run the resolved trees: [`eval_condition`] for conditions and filters,
//!    [`apply_update`] for updates (it also reports which paths it wrote, for
//!    `ReturnValues` UPDATED_OLD/UPDATED_NEW), [`project`] for projections.
//!
//! Every error is an [`ExprError::Validation`] carrying DynamoDB's full message (without the
//! `1 validation error detected: ` envelope some operations add), except
//! [`ExprError::Internal`], which means a caller ran a tree that was not resolved.
//!
//! Printing a parsed tree ([`std::fmt::Display`]) gives expression text that parses back to
//! the same tree.

pub mod ast;
mod eval;
mod lexer;
mod parser;
mod project;
pub mod reserved;
mod resolve;
mod update;

pub use ast::{
    Comparator, Condition, Function, Operand, Path, PathElement, Projection, SetAction, SetValue,
    Update, UpdateClause, Value, ValueAction,
};
pub use eval::{compare_values, eval_condition};
pub use parser::{MAX_EXPRESSION_BYTES, MAX_OPERATORS};
pub use project::project;
pub use resolve::Resolver;
pub use update::{UpdateOutcome, apply_update};

/// Errors from parsing, resolving or running an expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExprError {
    /// A DynamoDB ValidationException with AWS's message text.
    #[error("{0}")]
    Validation(String),
    /// A tree was run before its placeholders were resolved: a bug in the caller.
    #[error("expression not resolved: {0}")]
    Internal(String),
}

/// The request member an expression came from, which DynamoDB names in its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpressionKind {
    Condition,
    Filter,
    KeyCondition,
    Update,
    Projection,
}

impl ExpressionKind {
    /// The request member's name: `ConditionExpression`, `FilterExpression`, …
    pub fn member_name(self) -> &'static str {
        match self {
            ExpressionKind::Condition => "ConditionExpression",
            ExpressionKind::Filter => "FilterExpression",
            ExpressionKind::KeyCondition => "KeyConditionExpression",
            ExpressionKind::Update => "UpdateExpression",
            ExpressionKind::Projection => "ProjectionExpression",
        }
    }

    /// `message` as DynamoDB reports it for this expression: `Invalid <Member>: <message>`.
    pub(crate) fn error(self, message: impl std::fmt::Display) -> ExprError {
        ExprError::Validation(format!("Invalid {}: {message}", self.member_name()))
    }
}

fn parse_conditional(kind: ExpressionKind, text: &str) -> Result<Condition, ExprError> {
    parser::condition(text).map_err(|m| kind.error(m))
}

/// Parses a ConditionExpression.
pub fn parse_condition(text: &str) -> Result<Condition, ExprError> {
    parse_conditional(ExpressionKind::Condition, text)
}

/// Parses a FilterExpression: the same grammar as a condition, named differently in errors.
pub fn parse_filter(text: &str) -> Result<Condition, ExprError> {
    parse_conditional(ExpressionKind::Filter, text)
}

/// Parses a KeyConditionExpression with the condition grammar. The rules particular to key
/// conditions (AND only, one condition per key attribute, …) depend on the key schema and
/// are the engine's to apply to the resolved tree.
pub fn parse_key_condition(text: &str) -> Result<Condition, ExprError> {
    parse_conditional(ExpressionKind::KeyCondition, text)
}

/// Parses an UpdateExpression.
pub fn parse_update(text: &str) -> Result<Update, ExprError> {
    parser::update(text).map_err(|m| ExpressionKind::Update.error(m))
}

/// Parses a ProjectionExpression.
pub fn parse_projection(text: &str) -> Result<Projection, ExprError> {
    parser::projection(text).map_err(|m| ExpressionKind::Projection.error(m))
}
