//! Keeping the server's structure on disk (`model::snapshot`), so that a server that dies
//! can be rebuilt. A change marks the snapshot stale; it is written once things have been
//! still for `SETTLE` (a resize storm or a burst of splits is one write), and again every
//! `REFRESH` while the server runs, for what changes without an event (a shell's `cd`). The
//! writing is a thread of its own: temp file, fsync, rename (0600); never on the loop.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

use super::model::snapshot::{self, Snapshot};
use super::model::Model;

/// How long the structure must be still before it is written.
const SETTLE: Duration = Duration::from_millis(500);
/// How often it is looked at again regardless (a shell's directory changes with no event).
const REFRESH: Duration = Duration::from_secs(30);

enum Job {
    Write(String),
    Remove,
}

pub struct Persist {
    path: PathBuf,
    jobs: Sender<Job>,
    writer: Option<std::thread::JoinHandle<()>>,
    stale_since: Option<Instant>,
    next_refresh: Instant,
    /// What was last handed to the writer: the same text is not written again.
    last: Option<String>,
}

/// Where the snapshot of the server on `socket` lives.
pub fn snapshot_path(data: &Path, socket: &Path) -> PathBuf {
    let stem = socket.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "default".into());
    data.join("snapshots").join(format!("{stem}.json"))
}

/// Where a snapshot waits for `sbx restore` while a new server writes its own.
pub fn pending_path(path: &Path) -> PathBuf {
    path.with_extension("pending.json")
}

impl Persist {
    pub fn start(path: PathBuf) -> Persist {
        let (jobs, rx) = channel();
        let thread_path = path.clone();
        let spawned = std::thread::Builder::new().name("snapshot".into()).spawn(move || write_loop(&thread_path, rx));
        let writer = spawned
            .map_err(|e| {
                tracing::error!("cannot start the snapshot writer: {e}; the layout will not outlive the server")
            })
            .ok();
        Persist { path, jobs, writer, stale_since: None, next_refresh: Instant::now() + REFRESH, last: None }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The structure changed.
    pub fn stale(&mut self) {
        self.stale_since.get_or_insert_with(Instant::now);
    }

    pub fn deadline(&self) -> Instant {
        match self.stale_since {
            Some(t) => (t + SETTLE).min(self.next_refresh),
            None => self.next_refresh,
        }
    }

    /// Write if it is time.
    pub fn tick(&mut self, model: &Model) {
        let now = Instant::now();
        if self.stale_since.is_some_and(|t| t + SETTLE <= now) || self.next_refresh <= now {
            self.write(model.snapshot());
        }
    }

    fn write(&mut self, snap: Snapshot) {
        self.stale_since = None;
        self.next_refresh = Instant::now() + REFRESH;
        if snap.sessions.is_empty() {
            return;
        }
        let Ok(text) = serde_json::to_string_pretty(&snap) else { return };
        if self.last.as_ref() != Some(&text) {
            self.last = Some(text.clone());
            let _ = self.jobs.send(Job::Write(text));
        }
    }

    /// The server stops and keeps its structure for `sbx restore` (not restored by itself).
    pub fn keep(&mut self, model: &Model) {
        self.write(Snapshot { kept: true, ..model.snapshot() });
    }

    /// Nothing to restore: the last session ended, or `kill-server --forget`.
    pub fn forget(&mut self) {
        self.last = None;
        self.stale_since = None;
        let _ = self.jobs.send(Job::Remove);
    }

    /// Write the structure as it is now (the server is stopping on a signal).
    pub fn tick_now(&mut self, model: &Model) {
        self.write(model.snapshot());
    }

    /// Wait for what was handed to the writer to be on disk: the server is exiting.
    pub fn flush(&mut self) {
        self.jobs = channel().0;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

fn write_loop(path: &Path, rx: Receiver<Job>) {
    while let Ok(mut job) = rx.recv() {
        // Only the newest state matters.
        while let Ok(newer) = rx.try_recv() {
            job = newer;
        }
        match job {
            Job::Write(text) => {
                if let Err(e) = crate::config::paths::write_atomic(path, text.as_bytes()) {
                    tracing::warn!("cannot write the snapshot: {e:#}");
                }
            }
            Job::Remove => {
                let _ = std::fs::remove_file(path);
                let _ = std::fs::remove_file(pending_path(path));
            }
        }
    }
}

/// What is in the snapshot file: nothing, a snapshot, or a file that does not read (which is
/// moved aside, so that it is kept for a look but never read again).
pub enum Found {
    None,
    Snapshot(Snapshot),
    SetAside { why: String, moved_to: PathBuf },
}

/// The snapshot in `path`, read only (`sbx restore --list`): nothing is moved.
pub fn peek(path: &Path) -> Result<Option<Snapshot>, crate::protocol::Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => snapshot::parse(&text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(crate::protocol::Error::new(
            "bad_snapshot",
            format!("cannot read {}: {e}", path.display()),
            "check the file's permissions",
        )),
    }
}

pub fn read(path: &Path) -> Found {
    let text = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Found::None,
        Err(e) => return set_aside(path, format!("cannot read it: {e}")),
    };
    // A snapshot is small; anything huge is not one of ours.
    if text.len() > 16 * 1024 * 1024 {
        return set_aside(path, "it is over 16 MiB".into());
    }
    match std::str::from_utf8(&text).map_err(|e| e.to_string()).and_then(|t| snapshot::parse(t).map_err(|e| e.message))
    {
        Ok(snap) => Found::Snapshot(snap),
        Err(why) => set_aside(path, why),
    }
}

fn set_aside(path: &Path, why: String) -> Found {
    let stamp = crate::protocol::now_secs();
    let moved_to = path.with_extension(format!("bad-{stamp}.json"));
    if let Err(e) = std::fs::rename(path, &moved_to) {
        tracing::warn!("cannot move the bad snapshot aside: {e}");
        let _ = std::fs::remove_file(path);
    }
    Found::SetAside { why, moved_to }
}
