//! The DynamoDB data model shared by every Cove crate: attribute values, exact decimal numbers,
//! item validation and size, key schemas, the memcomparable key encoding and the on-disk item
//! codec. Pure: no I/O, no async, no serde.

pub mod codec;
pub mod key;
pub mod number;
pub mod schema;
pub mod value;

pub use number::Number;
pub use schema::{KeyAttribute, KeySchema, ScalarType};
pub use value::{AttributeValue, Item};

/// Errors from validating or decoding DynamoDB data. `Validation` carries DynamoDB's exact
/// ValidationException message; the server sends it verbatim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TypesError {
    /// A DynamoDB ValidationException with AWS's message text.
    #[error("{0}")]
    Validation(String),
    /// Stored bytes that do not decode (unknown version, truncated record).
    #[error("corrupt record: {0}")]
    Corrupt(String),
}
