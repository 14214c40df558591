//! The one error and output path of the CLI: text for people, `--json` for scripts,
//! exit codes 0 ok, 1 error, 2 needs a choice; every error says what to run next.

use serde::Serialize;

/// A line on stdout. A reader that went away (`sbx capture … | head -1`) ends the command
/// quietly with status 0, as it ends `cat`; a stdout that cannot be written (a full disk)
/// is an error on stderr and status 1. Nothing panics (`println!` would).
macro_rules! outln {
    () => {
        $crate::cli::output::write_out(b"\n")
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format!("{}\n", format_args!($($arg)*)).as_bytes())
    };
}

/// A line on stderr; one that cannot be written is dropped (there is nowhere left to say so).
macro_rules! errln {
    () => {
        $crate::cli::output::write_err(b"\n")
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_err(format!("{}\n", format_args!($($arg)*)).as_bytes())
    };
}

pub(crate) use {errln, outln};

pub use crate::protocol::Error;

pub type CliResult<T = ()> = Result<T, Error>;

/// Say what failed. Text goes to stderr ("sbx: message [code]" and "next: …"); with `--json`,
/// one object `{"error", "next", "code", "exit"}` goes to stdout, where the command's result
/// would have gone: a script reads one document from stdout whatever happened.
pub fn report(err: &Error, json: bool) {
    if json {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
            next: Option<&'a str>,
            code: &'a str,
            exit: u8,
        }
        let body = Body { error: &err.message, next: err.next.as_deref(), code: &err.code, exit: err.exit.max(1) };
        outln!("{}", serde_json::to_string(&body).unwrap_or_default());
    } else {
        errln!("sbx: {} [{}]", plain(&err.message), plain(&err.code));
        if let Some(next) = &err.next {
            errln!("  next: {}", plain(next));
        }
    }
}

pub fn print_json<T: Serialize>(value: &T) {
    outln!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// Bytes on stdout, with `outln!`'s rules.
pub fn write_out(bytes: &[u8]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            write_err(format!("sbx: cannot write the output: {e}\n").as_bytes());
            std::process::exit(1);
        }
    }
}

pub fn write_err(bytes: &[u8]) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(bytes).and_then(|()| err.flush());
}

/// Text from outside (a stranger's manifest, an agent's message, a path) made safe for a
/// terminal: control characters — escape sequences, carriage returns that overwrite a line,
/// OSC 52 clipboard writes — become `\u{..}` text. Newlines and tabs stay when `lines`.
pub fn sanitize(text: &str, lines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && !(lines && (c == '\n' || c == '\t')) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// One line of text from outside, for a terminal.
pub fn plain(text: &str) -> String {
    sanitize(text, false)
}
