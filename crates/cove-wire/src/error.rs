//! DynamoDB's error codes, their `__type` namespaces and HTTP statuses, and the JSON error body.
//!
//! The server maps every internal error onto an [`ErrorCode`] plus a message in one module;
//! this file only knows how each code looks on the wire.

/// Every error `__type` Cove sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    // Coral framework errors: authentication, protocol and input validation.
    AccessDenied,
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
    UnrecognizedClient,
    ExpiredToken,
    Serialization,
    UnknownOperation,
    Validation,
    RequestEntityTooLarge,
    // DynamoDB service errors.
    BackupNotFound,
    ConditionalCheckFailed,
    DuplicateItem,
    IdempotentParameterMismatch,
    InternalServerError,
    ItemCollectionSizeLimitExceeded,
    LimitExceeded,
    PolicyNotFound,
    ResourceInUse,
    ResourceNotFound,
    TableAlreadyExists,
    TableNotFound,
    TransactionCanceled,
}

impl ErrorCode {
    /// The short name clients see after the `#` (botocore strips the namespace).
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::AccessDenied => "AccessDeniedException",
            ErrorCode::IncompleteSignature => "IncompleteSignatureException",
            ErrorCode::InvalidSignature => "InvalidSignatureException",
            ErrorCode::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            ErrorCode::UnrecognizedClient => "UnrecognizedClientException",
            ErrorCode::ExpiredToken => "ExpiredTokenException",
            ErrorCode::Serialization => "SerializationException",
            ErrorCode::UnknownOperation => "UnknownOperationException",
            ErrorCode::Validation => "ValidationException",
            ErrorCode::RequestEntityTooLarge => "RequestEntityTooLarge",
            ErrorCode::BackupNotFound => "BackupNotFoundException",
            ErrorCode::ConditionalCheckFailed => "ConditionalCheckFailedException",
            ErrorCode::DuplicateItem => "DuplicateItemException",
            ErrorCode::IdempotentParameterMismatch => "IdempotentParameterMismatchException",
            ErrorCode::InternalServerError => "InternalServerError",
            ErrorCode::ItemCollectionSizeLimitExceeded => {
                "ItemCollectionSizeLimitExceededException"
            }
            ErrorCode::LimitExceeded => "LimitExceededException",
            ErrorCode::PolicyNotFound => "PolicyNotFoundException",
            ErrorCode::ResourceInUse => "ResourceInUseException",
            ErrorCode::ResourceNotFound => "ResourceNotFoundException",
            ErrorCode::TableAlreadyExists => "TableAlreadyExistsException",
            ErrorCode::TableNotFound => "TableNotFoundException",
            ErrorCode::TransactionCanceled => "TransactionCanceledException",
        }
    }

    /// The namespace DynamoDB puts before the `#`: framework errors come from Coral, service
    /// errors from the DynamoDB model.
    fn namespace(self) -> &'static str {
        match self {
            ErrorCode::Validation => "com.amazon.coral.validate",
            ErrorCode::AccessDenied
            | ErrorCode::IncompleteSignature
            | ErrorCode::InvalidSignature
            | ErrorCode::MissingAuthenticationToken
            | ErrorCode::UnrecognizedClient
            | ErrorCode::ExpiredToken
            | ErrorCode::Serialization
            | ErrorCode::UnknownOperation
            | ErrorCode::RequestEntityTooLarge => "com.amazon.coral.service",
            ErrorCode::BackupNotFound
            | ErrorCode::ConditionalCheckFailed
            | ErrorCode::DuplicateItem
            | ErrorCode::IdempotentParameterMismatch
            | ErrorCode::InternalServerError
            | ErrorCode::ItemCollectionSizeLimitExceeded
            | ErrorCode::LimitExceeded
            | ErrorCode::PolicyNotFound
            | ErrorCode::ResourceInUse
            | ErrorCode::ResourceNotFound
            | ErrorCode::TableAlreadyExists
            | ErrorCode::TableNotFound
            | ErrorCode::TransactionCanceled => "com.amazonaws.dynamodb.v20120810",
        }
    }

    /// The full `__type` value.
    pub fn type_string(self) -> String {
        format!("{}#{}", self.namespace(), self.name())
    }

    /// The HTTP status DynamoDB answers with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InternalServerError => 500,
            ErrorCode::RequestEntityTooLarge => 413,
            ErrorCode::AccessDenied
            | ErrorCode::IncompleteSignature
            | ErrorCode::InvalidSignature
            | ErrorCode::MissingAuthenticationToken
            | ErrorCode::UnrecognizedClient
            | ErrorCode::ExpiredToken
            | ErrorCode::Serialization
            | ErrorCode::UnknownOperation
            | ErrorCode::Validation
            | ErrorCode::BackupNotFound
            | ErrorCode::ConditionalCheckFailed
            | ErrorCode::DuplicateItem
            | ErrorCode::IdempotentParameterMismatch
            | ErrorCode::ItemCollectionSizeLimitExceeded
            | ErrorCode::LimitExceeded
            | ErrorCode::PolicyNotFound
            | ErrorCode::ResourceInUse
            | ErrorCode::ResourceNotFound
            | ErrorCode::TableAlreadyExists
            | ErrorCode::TableNotFound
            | ErrorCode::TransactionCanceled => 400,
        }
    }

    /// Whether the message key is `Message` (as DynamoDB spells it for these codes) rather
    /// than `message`. botocore reads either, but byte-exact clients and tests compare.
    fn capitalized_message_key(self) -> bool {
        matches!(
            self,
            ErrorCode::AccessDenied | ErrorCode::Serialization | ErrorCode::TransactionCanceled
        )
    }
}

/// A decoding failure: the request body is not the JSON or the shape the operation takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The body is not JSON, or a member has the wrong JSON type.
    #[error("serialization: {0}")]
    Serialization(String),
    /// A member violates a constraint (required, length, pattern, enum, range).
    #[error("validation: {0}")]
    Validation(String),
}

/// Renders a DynamoDB error body. `message` is omitted when empty, as DynamoDB does for
/// UnknownOperationException and a bare SerializationException.
pub fn error_body(code: ErrorCode, message: &str) -> Vec<u8> {
    let mut body = serde_json::Map::new();
    body.insert(
        "__type".into(),
        serde_json::Value::String(code.type_string()),
    );
    if !message.is_empty() {
        let key = if code.capitalized_message_key() {
            "Message"
        } else {
            "message"
        };
        body.insert(key.into(), serde_json::Value::String(message.to_string()));
    }
    serde_json::to_vec(&serde_json::Value::Object(body)).unwrap_or_default()
}

/// Renders an error body with extra members (ConditionalCheckFailedException carries `Item`
/// when ReturnValuesOnConditionCheckFailure is ALL_OLD).
pub fn error_body_with(
    code: ErrorCode,
    message: &str,
    extra: serde_json::Map<String, serde_json::Value>,
) -> Vec<u8> {
    let mut body = serde_json::Map::new();
    body.insert(
        "__type".into(),
        serde_json::Value::String(code.type_string()),
    );
    body.insert(
        "message".into(),
        serde_json::Value::String(message.to_string()),
    );
    body.extend(extra);
    serde_json::to_vec(&serde_json::Value::Object(body)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_match_dynamodb() {
        assert_eq!(
            String::from_utf8(error_body(
                ErrorCode::ResourceNotFound,
                "Requested resource not found"
            ))
            .unwrap(),
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}"#
        );
        assert_eq!(
            String::from_utf8(error_body(ErrorCode::UnknownOperation, "")).unwrap(),
            r#"{"__type":"com.amazon.coral.service#UnknownOperationException"}"#
        );
        assert_eq!(
            String::from_utf8(error_body(ErrorCode::Validation, "x")).unwrap(),
            r#"{"__type":"com.amazon.coral.validate#ValidationException","message":"x"}"#
        );
        assert_eq!(
            String::from_utf8(error_body(ErrorCode::Serialization, "Expected null")).unwrap(),
            r#"{"__type":"com.amazon.coral.service#SerializationException","Message":"Expected null"}"#
        );
    }

    #[test]
    fn only_internal_errors_are_5xx() {
        assert_eq!(ErrorCode::InternalServerError.http_status(), 500);
        assert_eq!(ErrorCode::AccessDenied.http_status(), 400);
        assert_eq!(ErrorCode::ResourceNotFound.http_status(), 400);
    }
}
