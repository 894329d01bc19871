//! IAM policies for Cove, as a pure library: documents parsed and validated with IAM's rules
//! and texts, compiled into matchers, and evaluated the way AWS decides a request across
//! identity-based, resource-based, VPC endpoint, permissions-boundary and session policies.
//! No I/O; callers keep compiled [`Policy`] values and build a [`Context`] per request.

mod condition;
mod context;
mod document;
mod eval;
mod json;
mod pattern;
mod values;

pub use context::Context;
pub use document::{Effect, Policy, PolicyKind, PrincipalMatch, is_account_id};
pub use eval::{
    Caller, CallerKind, Deciding, Decision, Named, Policies, PolicyType, Request, evaluate,
};

/// What can go wrong with a policy document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The document is not a valid policy; carries IAM's `MalformedPolicyDocument` text.
    #[error("{0}")]
    Malformed(String),
}

#[cfg(test)]
mod tests;
