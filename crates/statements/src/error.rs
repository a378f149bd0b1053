//! What went wrong, and where.

use crate::Format;

pub type Result<T> = std::result::Result<T, Error>;

/// A file that cannot be read as `format`: `location` is a line (`line 12`) or an element path
/// (`Document/BkToCstmrStmt/Stmt[2]/Ntry[5]/Amt`), `reason` says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} statement, {location}: {reason}", format.name())]
pub struct Error {
    pub format: Format,
    pub location: String,
    pub reason: String,
}

impl Error {
    pub fn new(format: Format, location: impl Into<String>, reason: impl Into<String>) -> Error {
        Error { format, location: location.into(), reason: reason.into() }
    }

    /// At a line of a line-based format.
    pub fn at_line(format: Format, line: usize, reason: impl Into<String>) -> Error {
        Error::new(format, format!("line {line}"), reason)
    }
}
