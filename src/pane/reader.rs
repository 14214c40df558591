//! The read side of a pane. The PTY is read on the server's own thread (non-blocking, via the
//! runtime's reactor): a quiet pane's output — a keystroke's echo — is parsed there and then,
//! with no hand-off to another thread. A burst is handed to the pane's parser thread, so a
//! flood is parsed on another core while the server stays responsive; once anything is queued
//! there, everything after it follows, so order holds.
//!
//! The hand-off is bounded: once `HANDOFF_CHUNKS` reads wait for the parser, the PTY is not
//! read until it catches up, so a child that writes faster than it can be parsed blocks in its
//! own write (as under tmux) instead of growing the server's memory.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc::UnboundedSender;

use super::engine::{lock, Engine};
use super::{PaneId, PaneNotice};

/// Reads up to this size are parsed on the server thread; larger ones go to the parser thread.
const INLINE_MAX: usize = 16 * 1024;
/// One delivery gathers reads up to this size (fewer hand-offs during a flood).
const BATCH: usize = 64 * 1024;
/// At most this many reads wait for the parser: with `BATCH`, 256 KiB per pane.
const HANDOFF_CHUNKS: usize = 4;

/// What both the inline path and the parser thread need.
#[derive(Clone)]
pub struct Sink {
    pub id: PaneId,
    pub engine: Arc<Mutex<Engine>>,
    /// Set once the server has been told of new output and has not looked yet.
    pub notified: Arc<AtomicBool>,
    pub unseen_bytes: Arc<AtomicUsize>,
    pub notices: UnboundedSender<PaneNotice>,
}

impl Sink {
    fn parse(&self, bytes: &[u8]) {
        lock(&self.engine).advance(bytes);
        self.unseen_bytes.fetch_add(bytes.len(), Ordering::Relaxed);
        if !self.notified.swap(true, Ordering::AcqRel) {
            let _ = self.notices.send(PaneNotice::Output(self.id));
        }
    }
}

/// Stops every pane's reader while it is set (a live upgrade hands the panes to a new binary):
/// each reader parses what it has read, reads no more and says so (`PaneNotice::Held`); bytes
/// the child writes meanwhile wait in the PTY for whoever reads it next.
#[derive(Clone)]
pub struct Hold(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Hold {
    fn default() -> Hold {
        Hold(Arc::new(tokio::sync::watch::Sender::new(false)))
    }
}

impl Hold {
    pub fn set(&self, held: bool) {
        self.0.send_replace(held);
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<bool> {
        self.0.subscribe()
    }
}

/// Start reading `fd` (the pane's master, set non-blocking here). When the child `pid` is
/// gone, `alive` turns false and the server gets `Exited`.
pub fn start(
    fd: OwnedFd,
    pid: Option<u32>,
    sink: Sink,
    alive: Arc<AtomicBool>,
    hold: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let afd = register(fd)?;
    let (handoff, parser) = Handoff::start(&sink)?;
    tokio::spawn(async move {
        read_until_closed(&afd, &sink, &handoff, hold).await;
        drop(handoff);
        drop(afd);
        // Reap the child off the server thread; the parser finishes what it holds first.
        let notices = sink.notices.clone();
        let id = sink.id;
        let _ = tokio::task::spawn_blocking(move || {
            let _ = parser.join();
            let by_signal = pid.is_some_and(|pid| wait_killed(id, pid));
            alive.store(false, Ordering::Release);
            let _ = notices.send(PaneNotice::Exited { id, by_signal });
        })
        .await;
    });
    Ok(())
}

/// Wait for the child; whether a signal ended it. How it ended is logged (a pane that
/// vanished is otherwise a mystery: its screen goes with it).
fn wait_killed(id: PaneId, pid: u32) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(pid as i32) else { return false };
    loop {
        match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()) {
            Ok(Some((_, status))) => {
                match (status.exit_status(), status.terminating_signal()) {
                    (Some(code), _) => tracing::info!("pane %{id}: its process exited with status {code}"),
                    (_, Some(signal)) => tracing::info!("pane %{id}: its process was killed by signal {signal}"),
                    _ => tracing::info!("pane %{id}: its process ended"),
                }
                return status.terminating_signal().is_some();
            }
            Err(rustix::io::Errno::INTR) => continue,
            _ => return false,
        }
    }
}

fn register(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    set_nonblocking(&fd)?;
    // SAFETY: an OwnedFd stays open, and names the same file, for as long as it is owned.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.map_err(|e| e.into_parts().1)
}

/// The way to the pane's parser thread: a bounded queue of reads, and how many wait in it.
struct Handoff {
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    queued: Arc<AtomicUsize>,
}

impl Handoff {
    /// Start the parser thread; it ends when the handoff is dropped and the queue is empty.
    fn start(sink: &Sink) -> std::io::Result<(Handoff, std::thread::JoinHandle<()>)> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(HANDOFF_CHUNKS);
        let queued = Arc::new(AtomicUsize::new(0));
        let parser = {
            let sink = sink.clone();
            let queued = queued.clone();
            std::thread::Builder::new().name(format!("pane{}-parse", sink.id)).spawn(move || {
                while let Some(chunk) = rx.blocking_recv() {
                    sink.parse(&chunk);
                    queued.fetch_sub(1, Ordering::AcqRel);
                }
            })?
        };
        Ok((Handoff { tx, queued }, parser))
    }

    fn is_empty(&self) -> bool {
        self.queued.load(Ordering::Acquire) == 0
    }

    /// Queue a read; waits (not reading the PTY meanwhile) while the queue is full. False
    /// once the parser is gone.
    async fn send(&self, chunk: Vec<u8>) -> bool {
        self.queued.fetch_add(1, Ordering::AcqRel);
        self.tx.send(chunk).await.is_ok()
    }
}

async fn read_until_closed(
    afd: &AsyncFd<OwnedFd>,
    sink: &Sink,
    handoff: &Handoff,
    mut hold: tokio::sync::watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; BATCH];
    loop {
        let ready = tokio::select! {
            biased;
            // A hold whose sender is gone never comes: the branch just does not match.
            Ok(_) = hold.wait_for(|held| *held) => None,
            ready = afd.readable() => Some(ready),
        };
        let Some(ready) = ready else {
            hold_here(sink, handoff, &mut hold).await;
            continue;
        };
        let Ok(mut ready) = ready else { return };
        // Gather what is there now, up to a batch.
        let mut len = 0;
        let mut closed = false;
        while len < buf.len() {
            match rustix::io::read(afd.get_ref(), &mut buf[len..]) {
                Ok(n) if n > 0 => {
                    len += n;
                    continue;
                }
                Err(rustix::io::Errno::AGAIN) => ready.clear_ready(),
                Err(rustix::io::Errno::INTR) => continue,
                // 0 or EIO: every process holding the other end has gone.
                _ => closed = true,
            }
            break;
        }
        if len > 0 {
            if len <= INLINE_MAX && handoff.is_empty() {
                sink.parse(&buf[..len]);
            } else if !handoff.send(buf[..len].to_vec()).await {
                return;
            }
        }
        if closed {
            return;
        }
    }
}

/// Held: once the parser has everything read so far, say so, then wait to be let go.
async fn hold_here(sink: &Sink, handoff: &Handoff, hold: &mut tokio::sync::watch::Receiver<bool>) {
    while !handoff.is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let _ = sink.notices.send(PaneNotice::Held(sink.id));
    let _ = hold.wait_for(|held| !*held).await;
}

pub fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    rustix::io::ioctl_fionbio(fd, true)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pane::engine::{Engine, Size};
    use crate::pane::writer::PtyWriter;

    /// A child that writes faster than its output is parsed (here: not parsed at all, the
    /// engine is held) is stopped by the pipe filling up, not queued in the server's memory.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    // Holding the engine across the awaits is the point: it stands for a parser that is stuck.
    #[allow(clippy::await_holding_lock)]
    async fn a_reader_that_outruns_its_parser_stops_reading() {
        let (reader, writer) = std::io::pipe().unwrap();
        let writer = OwnedFd::from(writer);
        set_nonblocking(&writer).unwrap();
        let engine = Arc::new(Mutex::new(Engine::new(
            Size { cols: 80, rows: 24 },
            100,
            PtyWriter::detached(),
            Arc::default(),
            Arc::default(),
        )));
        let (notices, _notices_rx) = tokio::sync::mpsc::unbounded_channel();
        let sink =
            Sink { id: 1, engine: engine.clone(), notified: Arc::default(), unseen_bytes: Arc::default(), notices };
        let held = lock(&engine);

        let chunk = vec![b'y'; 64 * 1024];
        let mut written = 0usize;
        // Fill the pipe before the reader starts: its first read is then a large one, which
        // goes to the (stuck) parser rather than being parsed on the reading task.
        while let Ok(n) = rustix::io::write(&writer, &chunk) {
            written += n;
        }
        let afd = register(OwnedFd::from(reader)).unwrap();
        let (handoff, _parser) = Handoff::start(&sink).unwrap();
        let hold = Hold::default();
        let task = tokio::spawn(async move { read_until_closed(&afd, &sink, &handoff, hold.subscribe()).await });

        // Write up to 64 MiB. The pipe is full whenever the reader lags; if it stays full for
        // two seconds the reader has stopped, which is what a bounded hand-off must do.
        let total = 64 * 1024 * 1024;
        let writer_fd = writer;
        let written = tokio::task::spawn_blocking(move || {
            while written < total {
                match rustix::io::write(&writer_fd, &chunk) {
                    Ok(n) => written += n,
                    Err(rustix::io::Errno::AGAIN) => {
                        let mut fds = [rustix::event::PollFd::new(&writer_fd, rustix::event::PollFlags::OUT)];
                        let two_seconds = rustix::event::Timespec { tv_sec: 2, tv_nsec: 0 };
                        if rustix::event::poll(&mut fds, Some(&two_seconds)).unwrap_or(0) == 0 {
                            break;
                        }
                    }
                    Err(e) => panic!("write: {e}"),
                }
            }
            drop(writer_fd);
            written
        })
        .await
        .unwrap();
        // The queue (256 KiB), the batch in hand and the pipe: a few MiB at most, never the 64.
        let bound = 4 * 1024 * 1024;
        assert!(
            written <= bound,
            "{written} bytes were taken from a child whose output was not parsed (bound {bound})"
        );
        // Once the parser runs again, everything that was read is parsed and the reader ends.
        drop(held);
        task.await.unwrap();
    }
}
