//! The attach client: put the terminal in raw mode, forward input events and resizes to
//! the server, write the bytes it sends. It holds no state worth losing: killing it (or
//! the SSH connection under it) leaves every pane running in the server.

use std::io::Write;

use crossterm::event::{
    DisableBracketedPaste, DisableFocusChange, DisableMouseCapture, EnableBracketedPaste, EnableFocusChange,
    EnableMouseCapture, Event, EventStream, KeyboardEnhancementFlags, PopKeyboardEnhancementFlags,
    PushKeyboardEnhancementFlags,
};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use futures::StreamExt;
use tokio::net::UnixStream;

use crate::cli::output::{CliError, CliResult};
use crate::protocol::{read_frame, write_frame, AttachRequest, ClientMsg, ServerMsg};

struct TerminalGuard {
    keyboard_flags: bool,
}

impl TerminalGuard {
    fn enter() -> std::io::Result<TerminalGuard> {
        terminal::enable_raw_mode()?;
        let mut out = std::io::stdout();
        execute!(out, EnterAlternateScreen, EnableMouseCapture, EnableBracketedPaste, EnableFocusChange)?;
        // Ask the outer terminal for unambiguous keys (Shift+Enter, Ctrl+Enter…) when it can.
        let keyboard_flags = terminal::supports_keyboard_enhancement().unwrap_or(false);
        if keyboard_flags {
            execute!(out, PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES))?;
        }
        Ok(TerminalGuard { keyboard_flags })
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

/// Attach over `stream` (hello already sent). Returns the message to print on exit.
pub async fn attach(mut stream: UnixStream, mut request: AttachRequest) -> CliResult<String> {
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(CliError::new(
            "sbx attach needs a terminal",
            "run it from a terminal, or use `sbx new -d` and `sbx send-keys`/`sbx capture` from scripts",
        ));
    }
    if std::env::var_os("SBX_PANE_ID").is_some() && std::env::var_os("SBX_NESTED").is_none() {
        return Err(CliError::new(
            "this is already an sbx pane; attaching here would nest sbx inside itself",
            "detach first (prefix d), or set SBX_NESTED=1 to nest anyway",
        ));
    }
    let (cols, rows) = terminal::size()?;
    request.cols = cols;
    request.rows = rows;
    write_frame(&mut stream, &ClientMsg::Attach(request)).await?;

    let guard = TerminalGuard::enter()?;
    let (mut reader, mut writer) = stream.into_split();
    let mut events = EventStream::new();
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())?;

    let reader_task = tokio::spawn(async move {
        loop {
            match read_frame::<_, ServerMsg>(&mut reader).await {
                Ok(Some(ServerMsg::Output(bytes))) => {
                    // A plain blocking write: tokio's stdout hops through a thread pool, which
                    // costs more than the write itself on the keystroke-echo path.
                    let mut out = std::io::stdout().lock();
                    if out.write_all(&bytes).and_then(|_| out.flush()).is_err() {
                        return Ok("[terminal closed]".to_string());
                    }
                }
                Ok(Some(ServerMsg::Exit(message))) => return Ok(message),
                Ok(Some(ServerMsg::Error(e))) => return Err(CliError::from(e)),
                Ok(Some(ServerMsg::Reply(_))) => {}
                Ok(None) | Err(_) => return Ok("[lost server]".to_string()),
            }
        }
    });
    let mut reader_task = reader_task;

    let outcome = loop {
        tokio::select! {
            done = &mut reader_task => break done.unwrap_or_else(|_| Ok("[lost server]".into())),
            event = events.next() => match event {
                Some(Ok(Event::Resize(cols, rows))) => {
                    if write_frame(&mut writer, &ClientMsg::Resize { cols, rows }).await.is_err() { break Ok("[lost server]".into()) }
                }
                Some(Ok(event)) => {
                    if write_frame(&mut writer, &ClientMsg::Event(event)).await.is_err() { break Ok("[lost server]".into()) }
                }
                Some(Err(_)) | None => break Ok("[terminal closed]".into()),
            },
            _ = winch.recv() => {
                if let Ok((cols, rows)) = terminal::size() {
                    let _ = write_frame(&mut writer, &ClientMsg::Resize { cols, rows }).await;
                }
            }
            _ = hangup.recv() => break Ok("[terminal closed]".into()),
            _ = term.recv() => break Ok("[terminated]".into()),
        }
    };
    drop(guard);
    outcome
}
