//! A pane: a child process on a PTY, the terminal engine that reads its output, and the
//! threads that move bytes. The reader thread parses output into the engine itself (so a
//! flood is parsed on its own core) and tells the server only that something changed.
//! Writes go through a writer thread, so a child that stops reading never blocks the server.

pub mod engine;
pub mod history;
pub mod input;
mod reader;
mod scan;
pub mod writer;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use portable_pty::{native_pty_system, CommandBuilder, MasterPty, PtySize};
use tokio::sync::mpsc::UnboundedSender;

use engine::{lock, Engine, Signals, Size};

pub type PaneId = u32;

pub fn pane_name(id: PaneId) -> String {
    format!("%{id}")
}

/// What a pane's threads tell the server.
#[derive(Debug)]
pub enum PaneNotice {
    /// New output was parsed; the screen may have changed.
    Output(PaneId),
    /// The child is gone and the PTY is closed.
    Exited(PaneId),
}

pub struct SpawnSpec {
    pub command: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    pub shell: Option<String>,
    pub size: Size,
    pub scrollback: usize,
}

pub struct Pane {
    pub id: PaneId,
    pub engine: Arc<Mutex<Engine>>,
    pub signals: Arc<Mutex<Signals>>,
    pub command: Vec<String>,
    pub initial_cwd: PathBuf,
    pub label: Option<String>,
    /// The pane's name in the bridge (stable for its life; the agent's session id when sbx
    /// chose one at launch).
    pub endpoint: String,
    pub pid: Option<u32>,
    pub alive: Arc<AtomicBool>,
    /// Set by the reader when it has told the server about new output and the server has
    /// not looked yet: one notice per burst, not one per read.
    notified: Arc<AtomicBool>,
    /// Output bytes since a frame last showed this pane: a large count means a flood.
    pub unseen_bytes: Arc<AtomicUsize>,
    writer: writer::PtyWriter,
    master: Box<dyn MasterPty + Send>,
    killer: Box<dyn portable_pty::ChildKiller + Send + Sync>,
}

impl Pane {
    pub fn spawn(id: PaneId, spec: SpawnSpec, notices: UnboundedSender<PaneNotice>) -> Result<Pane> {
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
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).with_context(|| match spec.command.first() {
            Some(program) => format!("cannot start {program:?} (is it installed and on PATH?)"),
            None => "cannot start the shell".to_string(),
        })?;
        drop(pair.slave);
        let pid = child.process_id();
        let killer = child.clone_killer();
        let master_fd = pair.master.as_raw_fd().context("the pseudo-terminal has no file descriptor")?;
        // The read and write sides own duplicates, so they can outlive a closed pane until the
        // child is gone.
        // SAFETY: the master holds this fd open while `pair.master` lives, which is past the
        // two dups below; the borrow goes no further.
        let master = unsafe { std::os::fd::BorrowedFd::borrow_raw(master_fd) };
        let read_fd = rustix::io::dup(master).context("cannot read the pseudo-terminal")?;
        let write_fd = rustix::io::dup(master).context("cannot write to the pseudo-terminal")?;

        let writer = writer::PtyWriter::spawn(format!("pane{id}-write"), write_fd)?;
        let signals = Arc::new(Mutex::new(Signals::default()));
        let engine = Arc::new(Mutex::new(Engine::new(size, spec.scrollback, writer.clone(), signals.clone())));
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
        reader::start(read_fd, child, sink, alive.clone()).context("cannot watch the pseudo-terminal")?;

        Ok(Pane {
            id,
            engine,
            signals,
            command: spec.command,
            initial_cwd: spec.cwd,
            label: None,
            endpoint: uuid::Uuid::new_v4().to_string(),
            pid,
            alive,
            notified,
            unseen_bytes,
            writer,
            master: pair.master,
            killer,
        })
    }

    pub fn name(&self) -> String {
        pane_name(self.id)
    }

    /// Send bytes to the child. Never blocks.
    pub fn write(&self, bytes: Vec<u8>) {
        self.writer.write(bytes);
    }

    /// The server has seen the latest output notice; the next output sends a new one.
    pub fn acknowledge_output(&self) {
        self.notified.store(false, Ordering::Release);
    }

    pub fn size(&self) -> Size {
        lock(&self.engine).size()
    }

    /// Resize the engine and the PTY, only when the size really changes
    /// (agent TUIs redraw everything on SIGWINCH).
    pub fn resize(&self, cols: u16, rows: u16) {
        let changed = lock(&self.engine).resize(cols, rows);
        if changed {
            let size = Size::clamped(cols, rows);
            let _ = self.master.resize(PtySize { rows: size.rows, cols: size.cols, pixel_width: 0, pixel_height: 0 });
        }
    }

    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// The child's current directory (it may have `cd`-ed since it started).
    pub fn cwd(&self) -> PathBuf {
        self.pid
            .and_then(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).ok())
            .unwrap_or_else(|| self.initial_cwd.clone())
    }

    /// Hang up the child's whole process group, as a closing terminal would.
    pub fn hang_up(&mut self) {
        // The child leads its own session, so its process group id is its pid.
        if let Some(group) = self.pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::HUP);
        }
        let _ = self.killer.kill();
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
