//! The one error sbx reports, wherever it comes from: what failed, a stable snake_case reason
//! for scripts (`unknown_target`, `too_large`, `ambiguous`, …), the next step (a ready-to-run
//! command where there is one), and the exit status (1 an error, 2 a choice to make). It
//! crosses the socket as it is; the CLI prints it (text, or one JSON object with `--json`),
//! the MCP server hands it to the model, the TUI shows its message.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    pub exit: u8,
    pub code: String,
    pub message: String,
    pub next: Option<String>,
}

impl Error {
    pub fn new(code: &str, message: impl Into<String>, next: impl Into<String>) -> Error {
        Error { exit: 1, code: code.into(), message: message.into(), next: Some(next.into()) }
    }

    /// More than one thing fits: exit 2, and `next` says how to choose.
    pub fn choose(code: &str, message: impl Into<String>, next: impl Into<String>) -> Error {
        Error { exit: 2, ..Error::new(code, message, next) }
    }

    /// An error with no step to suggest.
    pub fn bare(code: &str, message: impl Into<String>) -> Error {
        Error { exit: 1, code: code.into(), message: message.into(), next: None }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}]", self.message, self.code)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::bare("io_error", e.to_string())
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Error {
        Error::bare("failed", format!("{e:#}"))
    }
}
