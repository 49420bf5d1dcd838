//! The one error a load ends with: which file, which line (or Parquet row) and column, and why.

use std::fmt;

/// A load that failed: which file, where, and why. Nothing of it is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadError {
    pub file: String,
    /// 1-based line of the file (the header is line 1); `None` for file-level problems.
    pub line: Option<u64>,
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            if self.file.to_ascii_lowercase().ends_with(".parquet") {
                write!(f, ", row {line}")?;
            } else {
                write!(f, ", line {line}")?;
            }
        }
        if let Some(col) = &self.column {
            write!(f, ", column {col}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for LoadError {}

pub(super) fn file_error(file: &str, message: impl Into<String>) -> LoadError {
    LoadError { file: file.to_owned(), line: None, column: None, message: message.into() }
}
