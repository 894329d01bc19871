//! The DynamoDB JSON 1.0 wire protocol: which operation a request names, how request bodies
//! decode into typed inputs (with DynamoDB's own SerializationException and
//! ValidationException texts), how outputs and errors encode, and the `x-amz-crc32` checksum.
//!
//! Architecture invariant: this is the only crate that knows `__type` strings and
//! `X-Amz-Target` names. It does no I/O.

pub mod admin;
pub mod attr;
pub mod batch;
pub mod error;
pub mod input;
pub mod json;
pub mod members;
pub mod op;
pub mod output;
pub mod partiql;
pub mod read;
pub mod write;

pub use error::{ErrorCode, WireError};
pub use op::Operation;

/// The content type DynamoDB answers with.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// The largest request body DynamoDB accepts (16 MB).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// The CRC32 (IEEE, as zlib and java.util.zip compute it) that goes in `x-amz-crc32`,
/// computed over the exact response body bytes.
pub fn crc32(body: &[u8]) -> u32 {
    crc32fast::hash(body)
}
