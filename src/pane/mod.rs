//! A pane: a child process on a PTY, the terminal engine that reads its output, and the
//! threads that move bytes. The reader thread parses output into the engine itself (so a
//! flood is parsed on its own core) and tells the server only that something changed.
//! Writes go through a writer thread, so a child that stops reading never blocks the server.

#[cfg(test)]
mod conformance;
mod dump;
pub mod engine;
pub mod history;
pub mod input;
mod reader;
mod scan;
mod selection;
pub mod writer;

use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use portable_pty::{native_pty_system, CommandBuilder, PtySize};
use tokio::sync::mpsc::UnboundedSender;

use alacritty_terminal::term::TermMode;
use crossterm::event::{KeyEvent, MouseEvent};
use engine::{lock, Engine, Signals, Size};
pub use reader::Hold;

pub type PaneId = u32;

pub fn pane_name(id: PaneId) -> String {
    format!("%{id}")
}

/// What a pane's threads tell the server.
#[derive(Debug)]
pub enum PaneNotice {
    /// New output was parsed; the screen may have changed.
    Output(PaneId),
    /// The child is gone and the PTY is closed; `by_signal`: it was killed rather than exited
    /// (a shutdown's SIGKILL, a crash).
    Exited { id: PaneId, by_signal: bool },
    /// The pane's reader has stopped for a hold (a live upgrade): everything it read is in
    /// the engine, and it reads no more until the hold is let go.
    Held(PaneId),
}

pub struct SpawnSpec {
    pub command: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    /// Variables of the server's environment the child must not inherit.
    pub unset: Vec<String>,
    pub shell: Option<String>,
    pub size: Size,
    pub scrollback: usize,
    /// The user's terminal's colours, answered to a program that asks.
    pub colors: engine::OuterColors,
}

/// The OS side of a pane: its child on a PTY, or (in tests) nothing but a record of what was
/// written. Everything else about a pane — its engine, its intents — is the same either way.
pub trait PaneIo: Send {
    /// Bytes for the child; never blocks.
    fn write(&self, bytes: Vec<u8>);
    /// Tell the child its terminal's new size.
    fn resize(&self, size: Size);
    /// Hang up the child, as a closing terminal would.
    fn hang_up(&mut self);
    /// The PTY's master side (handed to a new server at a live upgrade).
    fn master(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

/// A child on a PTY: its pid and the master side (the read side is a duplicate, owned by the
/// reader). The same whether this server started the child or adopted it at an upgrade.
struct Pty {
    pid: Option<u32>,
    writer: writer::PtyWriter,
    master: OwnedFd,
}

impl PaneIo for Pty {
    fn write(&self, bytes: Vec<u8>) {
        self.writer.write(bytes);
    }

    fn resize(&self, size: Size) {
        let winsize = rustix::termios::Winsize { ws_row: size.rows, ws_col: size.cols, ws_xpixel: 0, ws_ypixel: 0 };
        let _ = rustix::termios::tcsetwinsize(&self.master, winsize);
    }

    fn hang_up(&mut self) {
        let Some(pid) = self.pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) else { return };
        // The child leads its own session, so its process group id is its pid.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::HUP);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::HUP);
    }

    fn master(&self) -> Option<BorrowedFd<'_>> {
        Some(self.master.as_fd())
    }
}

/// No child: what a test drives by hand (see `Pane::detached`).
#[cfg(test)]
#[derive(Clone, Default)]
pub struct Recorder {
    pub written: Arc<Mutex<Vec<u8>>>,
    pub hung_up: Arc<AtomicBool>,
}

#[cfg(test)]
impl PaneIo for Recorder {
    fn write(&self, bytes: Vec<u8>) {
        lock(&self.written).extend_from_slice(&bytes);
    }

    fn resize(&self, _size: Size) {}

    fn hang_up(&mut self) {
        self.hung_up.store(true, Ordering::Release);
    }
}

/// A child on a PTY, started or adopted: what a pane is made from.
pub struct Started {
    pub master: OwnedFd,
    pub pid: Option<u32>,
    pub command: Vec<String>,
    pub cwd: PathBuf,
    pub size: Size,
    pub scrollback: usize,
}

/// A running child handed over by the server before this one (a live upgrade).
pub struct Adopted {
    pub started: Started,
    pub colors: engine::OuterColors,
    /// The old engine's state as escapes (`Engine::dump`).
    pub dump: String,
}

pub struct Pane {
    pub id: PaneId,
    pub engine: Arc<Mutex<Engine>>,
    signals: Arc<Mutex<Signals>>,
    pub command: Vec<String>,
    pub initial_cwd: PathBuf,
    pub label: Option<String>,
    /// Its agent is never announced (bell, desktop, notify command): `sbx mute`.
    pub muted: bool,
    /// The pane's name in the bridge (stable for its life; the agent's session id when sbx
    /// chose one at launch).
    pub endpoint: String,
    pub pid: Option<u32>,
    alive: Arc<AtomicBool>,
    /// Set by the reader when it has told the server about new output and the server has
    /// not looked yet: one notice per burst, not one per read.
    notified: Arc<AtomicBool>,
    /// Output bytes since a frame last showed this pane: a large count means a flood.
    unseen_bytes: Arc<AtomicUsize>,
    io: Box<dyn PaneIo>,
}

/// What a pane's program asked of the outside world since the server last looked.
#[derive(Debug, Default)]
pub struct Asked {
    pub bell: bool,
    /// OSC 52 copies to forward to the clients' terminals.
    pub clipboard: Vec<String>,
}

/// More unseen output than this since the last frame is a flood.
pub const FLOOD_BYTES: usize = 16 * 1024;

impl Pane {
    pub fn spawn(id: PaneId, spec: SpawnSpec, notices: UnboundedSender<PaneNotice>, hold: &Hold) -> Result<Pane> {
        let size = Size::clamped(spec.size.cols, spec.size.rows);
        let pair = native_pty_system()
            .openpty(PtySize { rows: size.rows, cols: size.cols, pixel_width: 0, pixel_height: 0 })
            .context("cannot open a pseudo-terminal")?;
        let mut cmd = match spec.command.split_first() {
            Some((program, args)) => {
                let mut cmd = CommandBuilder::new(program);
                cmd.args(args);
                cmd
            }
            None => match &spec.shell {
                Some(shell) => CommandBuilder::new(shell),
                None => CommandBuilder::new_default_prog(),
            },
        };
        cmd.cwd(&spec.cwd);
        cmd.env("TERM", "xterm-256color");
        cmd.env("COLORTERM", "truecolor");
        cmd.env("SBX_PANE_ID", pane_name(id));
        for name in &spec.unset {
            cmd.env_remove(name);
        }
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).with_context(|| match spec.command.first() {
            Some(program) => format!("cannot start {program:?} (is it installed and on PATH?)"),
            None => "cannot start the shell".to_string(),
        })?;
        drop(pair.slave);
        let pid = child.process_id();
        // The reader waits for the child by its pid (as for an adopted one), not through this.
        drop(child);
        let master_fd = pair.master.as_raw_fd().context("the pseudo-terminal has no file descriptor")?;
        // SAFETY: `pair.master` holds this fd open until the end of this function; the borrow
        // ends with the dup.
        let master = rustix::io::fcntl_dupfd_cloexec(unsafe { BorrowedFd::borrow_raw(master_fd) }, 0)
            .context("cannot keep the pseudo-terminal")?;
        let pty = Started { master, pid, command: spec.command, cwd: spec.cwd, size, scrollback: spec.scrollback };
        Pane::start(id, pty, spec.colors, notices, hold)
    }

    /// A pane whose child runs already, on the PTY `master` (a live upgrade hands them over):
    /// its engine is rebuilt from the old engine's `dump`, then reading goes on.
    pub fn adopt(id: PaneId, adopted: Adopted, notices: UnboundedSender<PaneNotice>, hold: &Hold) -> Result<Pane> {
        let Adopted { started, colors, dump } = adopted;
        let pane = Pane::start(id, started, colors, notices, hold)?;
        lock(&pane.engine).advance(dump.as_bytes());
        // The new engine's answers to the dump went nowhere (it asks nothing), and its title
        // is what the dump set.
        Ok(pane)
    }

    fn start(
        id: PaneId,
        started: Started,
        colors: engine::OuterColors,
        notices: UnboundedSender<PaneNotice>,
        hold: &Hold,
    ) -> Result<Pane> {
        let Started { master, pid, command, cwd, size, scrollback } = started;
        // The read and write sides own duplicates, so they can outlive a closed pane until the
        // child is gone. Each closes on exec: a live upgrade hands over only the one it names.
        let read_fd = rustix::io::fcntl_dupfd_cloexec(&master, 0).context("cannot read the pseudo-terminal")?;
        let write_fd = rustix::io::fcntl_dupfd_cloexec(&master, 0).context("cannot write to the pseudo-terminal")?;
        let writer = writer::PtyWriter::spawn(format!("pane{id}-write"), write_fd)?;
        let signals = Arc::new(Mutex::new(Signals::default()));
        let engine = Arc::new(Mutex::new(Engine::new(size, scrollback, writer.clone(), signals.clone(), colors)));
        let alive = Arc::new(AtomicBool::new(true));
        let notified = Arc::new(AtomicBool::new(false));
        let unseen_bytes = Arc::new(AtomicUsize::new(0));

        let sink = reader::Sink {
            id,
            engine: engine.clone(),
            notified: notified.clone(),
            unseen_bytes: unseen_bytes.clone(),
            notices,
        };
        reader::start(read_fd, pid, sink, alive.clone(), hold.subscribe())
            .context("cannot watch the pseudo-terminal")?;
        let io = Pty { pid, writer, master };
        Ok(Pane::assemble(id, command, cwd, pid, engine, signals, alive, notified, unseen_bytes, Box::new(io)))
    }

    #[cfg(test)]
    /// A pane with no child and no PTY, of `size`: output is fed with `feed`, and what sbx
    /// writes to it lands in the returned recorder. For testing the model without an OS.
    pub fn detached(
        id: PaneId,
        command: Vec<String>,
        cwd: PathBuf,
        size: Size,
        colors: engine::OuterColors,
    ) -> (Pane, Recorder) {
        let recorder = Recorder::default();
        let signals = Arc::new(Mutex::new(Signals::default()));
        let engine =
            Arc::new(Mutex::new(Engine::new(size, 1000, writer::PtyWriter::detached(), signals.clone(), colors)));
        let pane = Pane::assemble(
            id,
            command,
            cwd,
            None,
            engine,
            signals,
            Arc::new(AtomicBool::new(true)),
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
            Box::new(recorder.clone()),
        );
        (pane, recorder)
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        id: PaneId,
        command: Vec<String>,
        initial_cwd: PathBuf,
        pid: Option<u32>,
        engine: Arc<Mutex<Engine>>,
        signals: Arc<Mutex<Signals>>,
        alive: Arc<AtomicBool>,
        notified: Arc<AtomicBool>,
        unseen_bytes: Arc<AtomicUsize>,
        io: Box<dyn PaneIo>,
    ) -> Pane {
        Pane {
            id,
            engine,
            signals,
            command,
            initial_cwd,
            label: None,
            muted: false,
            endpoint: uuid::Uuid::new_v4().to_string(),
            pid,
            alive,
            notified,
            unseen_bytes,
            io,
        }
    }

    pub fn name(&self) -> String {
        pane_name(self.id)
    }

    /// Parse output as if the child had written it (a detached pane's only output).
    #[cfg(test)]
    pub fn feed(&self, bytes: &[u8]) {
        lock(&self.engine).advance(bytes);
    }

    /// Text from this pane's earlier life (a restore with `restore_history`), shown before
    /// anything the new child writes; plain text only, so nothing in it acts on the engine.
    pub fn replay(&self, text: &str) {
        let mut bytes = Vec::with_capacity(text.len() + text.len() / 40);
        for line in text.lines() {
            let clean: String = line.chars().filter(|c| !c.is_control()).collect();
            bytes.extend_from_slice(clean.as_bytes());
            bytes.extend_from_slice(b"\r\n");
        }
        lock(&self.engine).advance(&bytes);
    }

    /// The PTY's master side, when the pane has a child on one.
    pub fn master(&self) -> Option<BorrowedFd<'_>> {
        self.io.master()
    }

    /// The engine's whole state as escapes, with the title (a live upgrade).
    pub fn dump(&self) -> String {
        let title = self.title();
        lock(&self.engine).dump(title.as_deref())
    }

    /// What a web viewer starts from (screen and recent history) and the output after it.
    pub fn watch(&self, history: usize) -> (String, engine::Watching) {
        let title = self.title();
        lock(&self.engine).watch(title.as_deref(), history)
    }

    /// Send bytes to the child as they are. Never blocks.
    pub fn write(&self, bytes: Vec<u8>) {
        self.io.write(bytes);
    }

    fn mode(&self) -> TermMode {
        lock(&self.engine).mode()
    }

    /// A key the user pressed, encoded for the modes the child asked for.
    pub fn key(&self, key: &KeyEvent) {
        self.write(input::encode_key(key, self.mode()));
    }

    /// Pasted text: bracketed when the child asked, so it cannot run as typed keys.
    pub fn paste(&self, text: &str) {
        self.write(input::encode_paste(text, self.mode()));
    }

    /// `sbx send-keys`: text typed as keystrokes would arrive (never bracketed: its newlines
    /// are Enter), then named keys ("Enter", "C-c", "Up"…), then Enter if asked. An unknown
    /// key name is an error and nothing is sent.
    pub fn send_keys(&self, text: &str, names: &[String], enter: bool) -> std::result::Result<(), String> {
        let mode = self.mode();
        let mut bytes = Vec::new();
        if !text.is_empty() {
            bytes.extend(input::encode_paste(text, mode - TermMode::BRACKETED_PASTE));
        }
        for name in names {
            bytes.extend(input::encode_named_key(name, mode)?);
        }
        if enter {
            bytes.push(b'\r');
        }
        self.write(bytes);
        Ok(())
    }

    /// The pane gained or lost focus (sent only if the child asked for focus events).
    pub fn focus(&self, gained: bool) {
        self.write(input::encode_focus(gained, self.mode()));
    }

    /// A mouse event at pane-local (col, row); false when the child does not take the mouse.
    pub fn mouse(&self, event: &MouseEvent, col: u16, row: u16) -> bool {
        match input::encode_mouse(event, col, row, self.mode()) {
            Some(bytes) => {
                self.write(bytes);
                true
            }
            None => false,
        }
    }

    /// A wheel turn for a full-screen program that does not take the mouse: arrow keys, as
    /// xterm sends. False when the pane shows its own screen (the wheel scrolls history).
    pub fn wheel_as_arrows(&self, up: bool, lines: usize) -> bool {
        let mode = self.mode();
        if !mode.contains(TermMode::ALT_SCREEN | TermMode::ALTERNATE_SCROLL) {
            return false;
        }
        let code = if up { crossterm::event::KeyCode::Up } else { crossterm::event::KeyCode::Down };
        let key = KeyEvent::new(code, crossterm::event::KeyModifiers::NONE);
        self.write(input::encode_key(&key, mode).repeat(lines));
        true
    }

    /// The server has seen the latest output notice; the next output sends a new one.
    pub fn acknowledge_output(&self) {
        self.notified.store(false, Ordering::Release);
    }

    /// Whether more output arrived since the last frame than a person could read.
    pub fn flooding(&self) -> bool {
        self.unseen_bytes.load(Ordering::Relaxed) > FLOOD_BYTES
    }

    /// A frame has shown what this pane had.
    pub fn shown(&self) {
        self.unseen_bytes.store(0, Ordering::Relaxed);
    }

    /// What the program asked for since the last call (a bell, clipboard copies).
    pub fn take_asked(&self) -> Asked {
        let mut s = lock(&self.signals);
        s.title_changed = false;
        Asked { bell: std::mem::take(&mut s.bell), clipboard: std::mem::take(&mut s.clipboard) }
    }

    pub fn size(&self) -> Size {
        lock(&self.engine).size()
    }

    /// Resize the engine and the PTY, only when the size really changes
    /// (agent TUIs redraw everything on SIGWINCH).
    pub fn resize(&self, cols: u16, rows: u16) {
        let changed = lock(&self.engine).resize(cols, rows);
        if changed {
            self.io.resize(Size::clamped(cols, rows));
        }
    }

    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// The child's current directory (it may have `cd`-ed since it started).
    pub fn cwd(&self) -> PathBuf {
        self.pid.and_then(crate::proc::cwd).map(PathBuf::from).unwrap_or_else(|| self.initial_cwd.clone())
    }

    /// Hang up the child's whole process group, as a closing terminal would.
    pub fn hang_up(&mut self) {
        self.io.hang_up();
    }

    pub fn title(&self) -> Option<String> {
        lock(&self.signals).title.clone()
    }

    pub fn display_command(&self) -> Vec<String> {
        if self.command.is_empty() {
            vec![std::env::var_os("SHELL").unwrap_or_else(|| OsString::from("sh")).to_string_lossy().into_owned()]
        } else {
            self.command.clone()
        }
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        if self.is_alive() {
            self.hang_up();
        }
    }
}
