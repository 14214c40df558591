//! The attach client: put the terminal in raw mode, ask it its colours, then hand it to the
//! server with the `Attach` (as tmux's client does): from then on the server reads the keys
//! and writes the frames itself, and the client only tells it of resizes and waits to be
//! told to leave. It holds no state worth losing: killing it (or the SSH connection under it)
//! leaves every pane running in the server.

mod colors;

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use crossterm::event::{
    DisableBracketedPaste, DisableFocusChange, DisableMouseCapture, EnableBracketedPaste, EnableFocusChange,
    EnableMouseCapture, KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use tokio::signal::unix::{signal, SignalKind};

use crate::protocol::Error;

type CliResult<T = ()> = Result<T, Error>;
use crate::protocol::{encode, read_frame, send_with_fd, write_frame, AttachRequest, ClientMsg, ServerMsg};
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
        // The server may have stopped in the middle of an escape sequence: CAN ends it, so
        // what follows is read as written.
        let _ = out.write_all(b"\x18");
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
        // Where the server could not open the terminal afresh it made the shared descriptor
        // non-blocking; the shell gets it back as it was.
        let _ = rustix::io::ioctl_fionbio(std::io::stdin(), false);
    }
}

type Outcome = CliResult<Ending>;

/// How an attachment ends.
enum Ending {
    /// Restore the terminal and print this.
    Said(String),
    /// The server is becoming the binary `exe` (a live upgrade): become it too, attached to
    /// `session` again, with the terminal left as it is.
    Become { exe: std::path::PathBuf, session: String },
}

impl TerminalGuard {
    /// Hand the terminal on to the next attach client in this process (after an exec): what
    /// it sets up again by itself is undone, the screen is left as it is.
    fn hand_on(&self) {
        if self.keyboard_flags {
            let _ = execute!(std::io::stdout(), PopKeyboardEnhancementFlags);
        }
        let _ = rustix::io::ioctl_fionbio(std::io::stdin(), false);
    }
}

/// Attach over `stream` (hello already sent). Returns the message to print on exit.
pub async fn attach(stream: tokio::net::UnixStream, mut request: AttachRequest) -> CliResult<String> {
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
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    // Before the terminal is handed over, so that no resize falls between.
    let mut resized = signal(SignalKind::window_change())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let (guard, colors) = TerminalGuard::enter()?;
    request.colors = colors;
    send_with_fd(&stream, &encode(&ClientMsg::Attach(request))?, std::io::stdin().as_fd())?;
    stream.set_nonblocking(true)?;
    let (mut reader, mut writer) = tokio::net::UnixStream::from_std(stream)?.into_split();

    // Reading a frame is not cancel-safe: it runs on a task of its own.
    let (told_tx, mut told) = tokio::sync::mpsc::channel::<Outcome>(1);
    tokio::spawn(async move {
        let outcome = loop {
            match read_frame::<_, ServerMsg>(&mut reader).await {
                Ok(Some(ServerMsg::Exit(message))) => break Ok(Ending::Said(message)),
                Ok(Some(ServerMsg::Upgrading { exe, session })) => break Ok(Ending::Become { exe, session }),
                Ok(Some(ServerMsg::Error(e))) => break Err(e),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break Ok(lost()),
            }
        };
        let _ = told_tx.send(outcome).await;
    });
    let outcome = loop {
        tokio::select! {
            outcome = told.recv() => break outcome.unwrap_or_else(|| Ok(lost())),
            _ = resized.recv() => {
                let Ok((cols, rows)) = terminal::size() else { continue };
                if write_frame(&mut writer, &ClientMsg::Resize { cols, rows }).await.is_err() {
                    break Ok(lost());
                }
            }
            _ = hangup.recv() => break Ok(Ending::Said("[terminal closed]".into())),
            _ = term.recv() => break Ok(Ending::Said("[terminated]".into())),
        }
    };
    let outcome = match outcome {
        Ok(Ending::Become { exe, session }) => {
            guard.hand_on();
            // Only returns if the exec failed; then this client ends as usual.
            let error = std::process::Command::new(&exe).args(["attach", "-t", &session]).exec();
            Ok(format!("[the server was upgraded; cannot run {}: {error}; attach again]", exe.display()))
        }
        Ok(Ending::Said(message)) => Ok(message),
        Err(e) => Err(e),
    };
    drop(guard);
    outcome
}

fn lost() -> Ending {
    Ending::Said("[lost server]".into())
}
