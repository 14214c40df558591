//! The one error and output path of the CLI: text for people, `--json` for scripts,
//! exit codes 0 ok, 1 error, 2 needs a choice; every error says what to run next.

use serde::Serialize;

use crate::protocol::ErrorReply;

#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> CliError {
        CliError { code: 1, message: message.into(), hint: Some(hint.into()) }
    }
}

impl From<ErrorReply> for CliError {
    fn from(e: ErrorReply) -> CliError {
        CliError { code: e.code.max(1), message: e.message, hint: e.hint }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> CliError {
        CliError { code: 1, message: format!("{e:#}"), hint: None }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> CliError {
        CliError { code: 1, message: e.to_string(), hint: None }
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

pub fn report(err: &CliError, json: bool) {
    if json {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
            hint: Option<&'a str>,
            code: u8,
        }
        let body = Body { error: &err.message, hint: err.hint.as_deref(), code: err.code };
        println!("{}", serde_json::to_string(&body).unwrap_or_default());
    } else {
        eprintln!("sbx: {}", err.message);
        if let Some(hint) = &err.hint {
            eprintln!("  next: {hint}");
        }
    }
}

pub fn print_json<T: Serialize>(value: &T) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}
