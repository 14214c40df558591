//! The attach client: put the terminal in raw mode, forward input events and resizes to
//! the server, write the bytes it sends. It holds no state worth losing: killing it (or
//! the SSH connection under it) leaves every pane running in the server.
//!
//! Input and output each run on a plain thread with blocking I/O: on the keystroke-echo
//! path every hand-off between threads costs more than the work itself.

mod colors;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crossterm::event::{
    DisableBracketedPaste, DisableFocusChange, DisableMouseCapture, EnableBracketedPaste, EnableFocusChange,
    EnableMouseCapture, Event, KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use crate::protocol::Error;

type CliResult<T = ()> = Result<T, Error>;
use crate::protocol::{read_frame_blocking, write_frame_blocking, AttachRequest, ClientMsg, ServerMsg};

/// How long the client waits for its terminal to say its colours (it stops as soon as the
/// terminal answers; a terminal that answers nothing costs this once per attach).
const COLOR_QUERY_TIMEOUT: Duration = Duration::from_secs(1);

struct TerminalGuard {
    keyboard_flags: bool,
}

impl TerminalGuard {
    /// Raw mode, the terminal's colours asked for, then the client's modes.
    fn enter() -> std::io::Result<(TerminalGuard, crate::protocol::TerminalColors)> {
        terminal::enable_raw_mode()?;
        // Before crossterm reads stdin: the answers must not reach it as keys.
        let colors = colors::ask(COLOR_QUERY_TIMEOUT);
        let mut out = std::io::stdout();
        execute!(out, EnterAlternateScreen, EnableMouseCapture, EnableBracketedPaste, EnableFocusChange)?;
        // Ask the outer terminal for unambiguous keys (Shift+Enter, Ctrl+Enter…) when it can.
        let keyboard_flags = terminal::supports_keyboard_enhancement().unwrap_or(false);
        if keyboard_flags {
            execute!(out, PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES))?;
        }
        Ok((TerminalGuard { keyboard_flags }, colors))
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let mut out = std::io::stdout();
        if self.keyboard_flags {
            let _ = execute!(out, PopKeyboardEnhancementFlags);
        }
        let _ = out.write_all(b"\x1b[0 q\x1b[0m");
        let _ = execute!(
            out,
            DisableFocusChange,
            DisableBracketedPaste,
            DisableMouseCapture,
            LeaveAlternateScreen,
            cursor::Show
        );
        let _ = terminal::disable_raw_mode();
    }
}

type Outcome = CliResult<String>;

/// Attach over `stream` (hello already sent). Returns the message to print on exit.
pub async fn attach(stream: tokio::net::UnixStream, mut request: AttachRequest) -> Outcome {
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(Error::new(
            "no_terminal",
            "sbx attach needs a terminal",
            "run it from a terminal, or use `sbx new -d` and `sbx send-keys`/`sbx capture` from scripts",
        ));
    }
    if std::env::var_os("SBX_PANE_ID").is_some() && std::env::var_os("SBX_NESTED").is_none() {
        return Err(Error::new(
            "nested",
            "this is already an sbx pane; attaching here would nest sbx inside itself",
            "detach first (prefix d), or set SBX_NESTED=1 to nest anyway",
        ));
    }
    let (cols, rows) = terminal::size()?;
    request.cols = cols;
    request.rows = rows;
    let mut stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    let (guard, colors) = TerminalGuard::enter()?;
    request.colors = colors;
    write_frame_blocking(&mut stream, &ClientMsg::Attach(request))?;

    let (done_tx, mut done_rx) = unbounded_channel::<Outcome>();
    let reader = stream.try_clone()?;
    let tx = done_tx.clone();
    std::thread::Builder::new().name("output".into()).spawn(move || output_loop(reader, tx))?;
    std::thread::Builder::new().name("input".into()).spawn(move || input_loop(stream, done_tx))?;

    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let outcome = tokio::select! {
        done = done_rx.recv() => done.unwrap_or_else(|| Ok("[lost server]".into())),
        _ = hangup.recv() => Ok("[terminal closed]".into()),
        _ = term.recv() => Ok("[terminated]".into()),
    };
    drop(guard);
    outcome
}

fn output_loop(reader: UnixStream, done: UnboundedSender<Outcome>) {
    let mut reader = std::io::BufReader::with_capacity(256 * 1024, reader);
    // Unbuffered: a frame is one write to the terminal, not a line-buffered trickle.
    let Ok(out) = rustix::io::dup(rustix::stdio::stdout()) else {
        let _ = done.send(Ok("[terminal closed]".to_string()));
        return;
    };
    let mut out = std::fs::File::from(out);
    let outcome = loop {
        match read_frame_blocking::<ServerMsg>(&mut reader) {
            Ok(Some(ServerMsg::Output(bytes))) => {
                if out.write_all(&bytes).is_err() {
                    break Ok("[terminal closed]".to_string());
                }
            }
            Ok(Some(ServerMsg::Exit(message))) => break Ok(message),
            Ok(Some(ServerMsg::Error(e))) => break Err(e),
            Ok(Some(ServerMsg::Reply(_) | ServerMsg::Bridge { .. })) => {}
            Ok(None) | Err(_) => break Ok("[lost server]".to_string()),
        }
    };
    let _ = done.send(outcome);
}

fn input_loop(mut writer: UnixStream, done: UnboundedSender<Outcome>) {
    let outcome = loop {
        let msg = match crossterm::event::read() {
            Ok(Event::Resize(cols, rows)) => ClientMsg::Resize { cols, rows },
            Ok(event) => ClientMsg::Event(event),
            Err(_) => break "[terminal closed]",
        };
        if write_frame_blocking(&mut writer, &msg).is_err() {
            break "[lost server]";
        }
    };
    let _ = done.send(Ok(outcome.to_string()));
}
