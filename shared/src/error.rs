//! The error names the Lambdas report to Step Functions, and the one error type behind them.
//!
//! | name           | meaning                                                        | state machine |
//! |----------------|----------------------------------------------------------------|---------------|
//! | `Transient`    | throttling, 5xx, timeouts: the same call may succeed later      | Retry         |
//! | `DeleteFailed` | deletes that still failed after the prune's own retries (reported in its totals, never thrown): the Fail state that ends the execution | Fail |
//! | `CopyFailed`   | copies in other regions, or their deletes, that AWS refused (reported in the totals, never thrown): the execution fails | Fail |
//! | `LockFailed`   | snapshot locks AWS refused, or that could not be planned (reported in the totals, never thrown): the execution fails | Fail |
//! | `InvalidInput` | a malformed event or request; retrying cannot help             | Catch         |
//! | `AccessDenied` | IAM refused a call: a deployment problem                       | Catch         |
//! | `Internal`     | anything else (a bug): fails loudly                            | Catch         |
//!
//! These strings are a contract with `statemachine/*.asl.json`; a test keeps them in step.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stable error name, as Step Functions' `ErrorEquals` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorName {
    Transient,
    DeleteFailed,
    CopyFailed,
    LockFailed,
    RestoreDrillFailed,
    InvalidInput,
    AccessDenied,
    Internal,
}

impl ErrorName {
    pub const ALL: [ErrorName; 8] = [
        ErrorName::Transient,
        ErrorName::DeleteFailed,
        ErrorName::CopyFailed,
        ErrorName::LockFailed,
        ErrorName::RestoreDrillFailed,
        ErrorName::InvalidInput,
        ErrorName::AccessDenied,
        ErrorName::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorName::Transient => "Transient",
            ErrorName::DeleteFailed => "DeleteFailed",
            ErrorName::CopyFailed => "CopyFailed",
            ErrorName::LockFailed => "LockFailed",
            ErrorName::RestoreDrillFailed => "RestoreDrillFailed",
            ErrorName::InvalidInput => "InvalidInput",
            ErrorName::AccessDenied => "AccessDenied",
            ErrorName::Internal => "Internal",
        }
    }

    /// Whether the state machines retry this error.
    pub fn retryable(self) -> bool {
        matches!(self, ErrorName::Transient)
    }
}

impl fmt::Display for ErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot that could not be deleted, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedDelete {
    pub snapshot_id: String,
    pub code: String,
    pub message: String,
}

/// Every failure a Lambda can report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("transient failure in {op}: {message}")]
    Transient { op: String, message: String },
    #[error("access denied in {op}: {message}")]
    AccessDenied { op: String, message: String },
    #[error("internal error: {0}")]
    Internal(String),
}

pub fn describe_failed(f: &[FailedDelete]) -> String {
    f.iter()
        .map(|d| format!("{} ({}: {})", d.snapshot_id, d.code, d.message))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Error {
    pub fn name(&self) -> ErrorName {
        match self {
            Error::InvalidInput(_) => ErrorName::InvalidInput,
            Error::Transient { .. } => ErrorName::Transient,
            Error::AccessDenied { .. } => ErrorName::AccessDenied,
            Error::Internal(_) => ErrorName::Internal,
        }
    }
}

impl From<crate::events::EventError> for Error {
    fn from(e: crate::events::EventError) -> Self {
        Error::InvalidInput(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::InvalidInput(e.to_string())
    }
}

impl From<Error> for lambda_runtime::Diagnostic {
    fn from(e: Error) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.name().as_str().to_string(),
            error_message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostic_carries_the_stable_name() {
        let d: lambda_runtime::Diagnostic = Error::Transient {
            op: "DeleteSnapshot".into(),
            message: "RequestLimitExceeded".into(),
        }
        .into();
        assert_eq!(d.error_type, "Transient");
        assert!(
            d.error_message.contains("DeleteSnapshot"),
            "{}",
            d.error_message
        );
        assert_eq!(
            describe_failed(&[FailedDelete {
                snapshot_id: "snap-1".into(),
                code: "InvalidSnapshot.InUse".into(),
                message: "in use by ami-1".into(),
            }]),
            "snap-1 (InvalidSnapshot.InUse: in use by ami-1)"
        );
        let d: lambda_runtime::Diagnostic = Error::InvalidInput("bad".into()).into();
        assert_eq!(d.error_type, "InvalidInput");
    }

    #[test]
    fn names_are_unique_and_serde_matches_as_str() {
        let mut seen = std::collections::HashSet::new();
        for n in ErrorName::ALL {
            assert!(seen.insert(n.as_str()));
            assert_eq!(serde_json::to_value(n).unwrap(), n.as_str());
        }
    }
}
