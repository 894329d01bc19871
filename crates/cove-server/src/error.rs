//! The one place where errors become wire errors. Every failure a request can meet, from any
//! layer, is a [`Failure`]; [`Failure::render`] maps each by exhaustive match to a DynamoDB
//! `__type`, a message and an HTTP status, and [`Failure::render_query`] to the XML error of
//! the Query protocol (IAM, STS). Internal details never reach the client: a 5xx carries only
//! the generic message, and the details go to the log.

use cove_engine::EngineError;
use cove_engine::iam::IamErrorKind;
use cove_sigv4::SigV4Error;
use cove_wire::attr::encode_item;
use cove_wire::error::{error_body, error_body_with};
use cove_wire::{ErrorCode, Operation, WireError};

/// Everything that can stop a request.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("signature: {0}")]
    Signature(SigV4Error),
    #[error("unknown access key or security token")]
    UnrecognizedClient,
    #[error("expired session token")]
    ExpiredToken,
    #[error("unknown operation")]
    UnknownOperation,
    #[error("operation {} is not built yet", .0.name())]
    NotBuilt(Operation),
    #[error("request body over the limit")]
    BodyTooLarge,
    #[error("reading the request body failed: {0}")]
    BodyRead(String),
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A policy denied the request; carries AWS's complete message.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// A Query-protocol request named an action this service does not have.
    #[error("unknown action {0}")]
    InvalidAction(String),
    /// A Query-protocol request lacks a required parameter or has a bad one (IAM's
    /// ValidationError text).
    #[error("{0}")]
    QueryValidation(String),
    /// An EC2 request lacks or misuses a parameter: EC2's code and message.
    #[error("{1}")]
    Ec2Input(&'static str, String),
    /// The source subnet has no route to this endpoint: the connection is dropped.
    #[error("no route")]
    NoRoute,
    /// An EC2 request with `DryRun` that would have succeeded.
    #[error("dry run")]
    DryRun,
    #[error("internal: {0}")]
    Internal(String),
}

/// A rendered error response.
pub struct Rendered {
    pub status: u16,
    pub body: Vec<u8>,
}

const INTERNAL_MESSAGE: &str = "Internal server error";

fn signature_code(err: &SigV4Error) -> ErrorCode {
    match err {
        SigV4Error::Missing => ErrorCode::MissingAuthenticationToken,
        SigV4Error::Incomplete(_)
        | SigV4Error::InvalidDate(_)
        | SigV4Error::UnsupportedAlgorithm(_)
        | SigV4Error::MalformedCredential(_) => ErrorCode::IncompleteSignature,
        SigV4Error::UnrecognizedClient => ErrorCode::UnrecognizedClient,
        SigV4Error::Expired(_)
        | SigV4Error::NotYetCurrent(_)
        | SigV4Error::HostNotSigned
        | SigV4Error::InvalidScope(_)
        | SigV4Error::HeaderAndQueryAuth
        | SigV4Error::SignedHeaderMissing(_)
        | SigV4Error::PayloadHashMismatch
        | SigV4Error::SignatureDoesNotMatch => ErrorCode::InvalidSignature,
    }
}

impl Failure {
    /// The wire code and message for this failure.
    pub fn code_and_message(&self) -> (ErrorCode, String) {
        match self {
            Failure::Signature(err) => (signature_code(err), err.message()),
            Failure::UnrecognizedClient => (
                ErrorCode::UnrecognizedClient,
                "The security token included in the request is invalid.".into(),
            ),
            Failure::ExpiredToken => (
                ErrorCode::ExpiredToken,
                "The security token included in the request is expired".into(),
            ),
            Failure::UnknownOperation => (ErrorCode::UnknownOperation, String::new()),
            Failure::NotBuilt(_) => (ErrorCode::UnknownOperation, String::new()),
            Failure::BodyTooLarge => (
                ErrorCode::RequestEntityTooLarge,
                format!(
                    "Request must be smaller than {} bytes",
                    cove_wire::MAX_REQUEST_BYTES
                ),
            ),
            Failure::BodyRead(_) => (ErrorCode::Serialization, String::new()),
            Failure::Wire(WireError::Serialization(msg)) => (ErrorCode::Serialization, msg.clone()),
            Failure::Wire(WireError::Validation(msg)) => (ErrorCode::Validation, msg.clone()),
            Failure::Engine(err) => match err {
                EngineError::Validation(msg) => (ErrorCode::Validation, msg.clone()),
                EngineError::ResourceNotFound(msg) => (ErrorCode::ResourceNotFound, msg.clone()),
                EngineError::ResourceInUse(msg) => (ErrorCode::ResourceInUse, msg.clone()),
                EngineError::LimitExceeded(msg) => (ErrorCode::LimitExceeded, msg.clone()),
                EngineError::ItemCollectionSizeLimitExceeded(msg) => {
                    (ErrorCode::ItemCollectionSizeLimitExceeded, msg.clone())
                }
                EngineError::ConditionalCheckFailed(_) => (
                    ErrorCode::ConditionalCheckFailed,
                    "The conditional request failed".into(),
                ),
                EngineError::TransactionCanceled(reasons) => (
                    ErrorCode::TransactionCanceled,
                    format!(
                        "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                        reasons
                            .iter()
                            .map(|r| r.code)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                EngineError::DuplicateItem(msg) => (ErrorCode::DuplicateItem, msg.clone()),
                EngineError::TableNotFound(msg) => (ErrorCode::TableNotFound, msg.clone()),
                EngineError::TableAlreadyExists(msg) => {
                    (ErrorCode::TableAlreadyExists, msg.clone())
                }
                EngineError::BackupNotFound(msg) => (ErrorCode::BackupNotFound, msg.clone()),
                EngineError::PolicyNotFound(msg) => (ErrorCode::PolicyNotFound, msg.clone()),
                EngineError::IdempotentParameterMismatch(msg) => {
                    (ErrorCode::IdempotentParameterMismatch, msg.clone())
                }
                EngineError::Iam(_, msg) | EngineError::Ec2(_, msg) | EngineError::Elb(_, msg) => {
                    (ErrorCode::Validation, msg.clone())
                }
                // Stale: another node changed a table or policy this one had cached; it has
                // reloaded, so the SDK's automatic retry of a 500 succeeds.
                EngineError::Storage(_)
                | EngineError::Corrupt(_)
                | EngineError::Stale
                | EngineError::Internal(_) => {
                    (ErrorCode::InternalServerError, INTERNAL_MESSAGE.into())
                }
            },
            Failure::AccessDenied(msg) => (ErrorCode::AccessDenied, msg.clone()),
            Failure::InvalidAction(_) => (ErrorCode::UnknownOperation, String::new()),
            Failure::QueryValidation(msg) | Failure::Ec2Input(_, msg) => {
                (ErrorCode::Validation, msg.clone())
            }
            Failure::DryRun => (ErrorCode::Validation, String::new()),
            Failure::NoRoute => (ErrorCode::AccessDenied, String::new()),
            Failure::Internal(_) => (ErrorCode::InternalServerError, INTERNAL_MESSAGE.into()),
        }
    }

    /// EC2's error for this failure: HTTP status, code and message. EC2 words signature
    /// failures as AuthFailure and denials as UnauthorizedOperation.
    pub fn ec2_error(&self) -> (u16, &'static str, String) {
        match self {
            Failure::Signature(_) | Failure::UnrecognizedClient | Failure::ExpiredToken => (
                401,
                "AuthFailure",
                "AWS was not able to validate the provided access credentials".into(),
            ),
            Failure::AccessDenied(msg) => (
                403,
                "UnauthorizedOperation",
                format!("You are not authorized to perform this operation. {msg}"),
            ),
            Failure::InvalidAction(action) => (
                400,
                "InvalidAction",
                format!("The action {action} is not valid for this web service."),
            ),
            Failure::QueryValidation(msg) => (400, "InvalidParameterValue", msg.clone()),
            other => {
                let (status, _, code, message) = other.query_error("2016-11-15");
                let code = if status >= 500 { "InternalError" } else { code };
                (status, code, message)
            }
        }
    }

    /// The Query protocol's error for this failure: HTTP status, whether the client is at
    /// fault (`Sender`), code and message, as IAM and STS send them.
    pub fn query_error(&self, version: &str) -> (u16, bool, &'static str, String) {
        let internal = (500, false, "ServiceFailure", INTERNAL_MESSAGE.to_string());
        match self {
            // The same classes as DynamoDB's (`signature_code`), under IAM's names.
            Failure::Signature(err) => match signature_code(err) {
                ErrorCode::MissingAuthenticationToken => {
                    (403, true, "MissingAuthenticationToken", err.message())
                }
                ErrorCode::UnrecognizedClient => (403, true, "InvalidClientTokenId", err.message()),
                ErrorCode::IncompleteSignature => (400, true, "IncompleteSignature", err.message()),
                _ => (403, true, "SignatureDoesNotMatch", err.message()),
            },
            Failure::UnrecognizedClient => (
                403,
                true,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.".into(),
            ),
            Failure::ExpiredToken => (
                400,
                true,
                "ExpiredToken",
                "The security token included in the request is expired".into(),
            ),
            Failure::UnknownOperation | Failure::NotBuilt(_) => (
                400,
                true,
                "InvalidAction",
                "The action is not valid for this web service.".into(),
            ),
            Failure::InvalidAction(action) => (
                400,
                true,
                "InvalidAction",
                format!("Could not find operation {action} for version {version}"),
            ),
            Failure::BodyTooLarge | Failure::BodyRead(_) | Failure::Wire(_) => (
                400,
                true,
                "MalformedInput",
                "The request body could not be read.".into(),
            ),
            Failure::QueryValidation(msg) => (400, true, "ValidationError", msg.clone()),
            Failure::Ec2Input(code, msg)
            | Failure::Engine(EngineError::Ec2(code, msg))
            | Failure::Engine(EngineError::Elb(code, msg)) => (400, true, code, msg.clone()),
            Failure::NoRoute => (403, true, "AccessDenied", String::new()),
            Failure::DryRun => (
                412,
                true,
                "DryRunOperation",
                "Request would have succeeded, but DryRun flag is set.".into(),
            ),
            Failure::AccessDenied(msg) => (403, true, "AccessDenied", msg.clone()),
            Failure::Engine(EngineError::Iam(kind, msg)) => {
                let (status, code) = match kind {
                    IamErrorKind::NoSuchEntity => (404, "NoSuchEntity"),
                    IamErrorKind::EntityAlreadyExists => (409, "EntityAlreadyExists"),
                    IamErrorKind::MalformedPolicyDocument => (400, "MalformedPolicyDocument"),
                    IamErrorKind::DeleteConflict => (409, "DeleteConflict"),
                    IamErrorKind::LimitExceeded => (409, "LimitExceeded"),
                    IamErrorKind::InvalidInput => (400, "InvalidInput"),
                    IamErrorKind::ValidationError => (400, "ValidationError"),
                };
                (status, true, code, msg.clone())
            }
            Failure::Engine(EngineError::Validation(msg)) => {
                (400, true, "ValidationError", msg.clone())
            }
            Failure::Engine(
                EngineError::ResourceNotFound(_)
                | EngineError::ResourceInUse(_)
                | EngineError::LimitExceeded(_)
                | EngineError::Storage(_)
                | EngineError::Corrupt(_)
                | EngineError::ConditionalCheckFailed(_)
                | EngineError::ItemCollectionSizeLimitExceeded(_)
                | EngineError::TableNotFound(_)
                | EngineError::TableAlreadyExists(_)
                | EngineError::BackupNotFound(_)
                | EngineError::PolicyNotFound(_)
                | EngineError::DuplicateItem(_)
                | EngineError::TransactionCanceled(_)
                | EngineError::IdempotentParameterMismatch(_)
                | EngineError::Stale
                | EngineError::Internal(_),
            )
            | Failure::Internal(_) => internal,
        }
    }

    pub fn render(&self) -> Rendered {
        let (code, message) = self.code_and_message();
        let body = match self {
            // ReturnValuesOnConditionCheckFailure ALL_OLD: the item travels in the error.
            Failure::Engine(EngineError::ConditionalCheckFailed(Some(item))) => {
                let mut extra = serde_json::Map::new();
                extra.insert("Item".into(), encode_item(item));
                error_body_with(code, &message, extra)
            }
            // TransactionCanceledException lists why each action failed, in request order.
            Failure::Engine(EngineError::TransactionCanceled(reasons)) => {
                let list: Vec<serde_json::Value> = reasons
                    .iter()
                    .map(|r| {
                        let mut o = serde_json::Map::new();
                        o.insert("Code".into(), r.code.into());
                        if let Some(m) = &r.message {
                            o.insert("Message".into(), m.clone().into());
                        }
                        if let Some(item) = &r.item {
                            o.insert("Item".into(), encode_item(item));
                        }
                        serde_json::Value::Object(o)
                    })
                    .collect();
                let mut extra = serde_json::Map::new();
                extra.insert("CancellationReasons".into(), serde_json::Value::Array(list));
                error_body_with(code, &message, extra)
            }
            _ => error_body(code, &message),
        };
        Rendered {
            status: code.http_status(),
            body,
        }
    }
}
