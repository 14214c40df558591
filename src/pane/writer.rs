//! Bytes for a pane's child. The master is non-blocking: a keystroke is written straight to
//! it when nothing is queued before it (no thread hand-off on the echo path); what does not go
//! in at once, or comes behind a queue, goes through the pane's writer thread, so the server
//! loop never blocks on a child that stopped reading.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

/// Writes up to this size may go straight to the PTY; a tty takes them whole once it
/// reports room.
const DIRECT_WRITE_MAX: usize = 256;

#[derive(Clone)]
pub struct PtyWriter {
    tx: Sender<Vec<u8>>,
    /// Writes handed to the thread and not yet done: while any are, new bytes queue behind
    /// them so the order holds.
    queued: Arc<AtomicUsize>,
    fd: Option<Arc<OwnedFd>>,
}

impl PtyWriter {
    /// Start the writer thread for a PTY master (non-blocking; the pane keeps it open).
    pub fn spawn(name: String, fd: OwnedFd) -> std::io::Result<PtyWriter> {
        let (tx, rx) = std::sync::mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let counter = queued.clone();
        let fd = Arc::new(fd);
        let thread_fd = fd.clone();
        std::thread::Builder::new().name(name).spawn(move || write_loop(&thread_fd, rx, counter))?;
        Ok(PtyWriter { tx, queued, fd: Some(fd) })
    }

    /// A writer with no child: what the engine answers (DA, DSR) goes nowhere.
    #[cfg(test)]
    pub fn detached() -> PtyWriter {
        PtyWriter::channel().0
    }

    /// A writer whose bytes land in a channel (for tests of the engine).
    #[cfg(test)]
    pub fn channel() -> (PtyWriter, Receiver<Vec<u8>>) {
        let (tx, rx) = std::sync::mpsc::channel();
        (PtyWriter { tx, queued: Arc::default(), fd: None }, rx)
    }

    /// Queue bytes for the writer thread.
    pub fn send(&self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        self.queued.fetch_add(1, Ordering::AcqRel);
        if self.tx.send(bytes).is_err() {
            self.queued.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Write now if that cannot block, else queue. Never blocks.
    pub fn write(&self, mut bytes: Vec<u8>) {
        if let (Some(fd), true) = (&self.fd, bytes.len() <= DIRECT_WRITE_MAX) {
            if !bytes.is_empty() && self.queued.load(Ordering::Acquire) == 0 {
                match rustix::io::write(&**fd, &bytes) {
                    Ok(n) if n == bytes.len() => return,
                    Ok(n) => {
                        bytes.drain(..n);
                    }
                    Err(_) => {}
                }
            }
        }
        self.send(bytes);
    }
}

/// Write all of `bytes` to a non-blocking fd, waiting for room as needed.
fn write_all(fd: &OwnedFd, mut bytes: &[u8]) -> bool {
    use rustix::event::{PollFd, PollFlags};
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(n) if n > 0 => bytes = &bytes[n..],
            Err(rustix::io::Errno::AGAIN) => {
                // Wait until the child reads (or the PTY goes away).
                let mut fds = [PollFd::new(fd, PollFlags::OUT)];
                let gone = PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL;
                if rustix::event::poll(&mut fds, None).is_err() || fds[0].revents().intersects(gone) {
                    return false;
                }
            }
            Err(rustix::io::Errno::INTR) => {}
            _ => return false,
        }
    }
    true
}

fn write_loop(fd: &OwnedFd, rx: Receiver<Vec<u8>>, queued: Arc<AtomicUsize>) {
    while let Ok(mut bytes) = rx.recv() {
        // Coalesce what is already queued into one write.
        let mut items = 1;
        while let Ok(more) = rx.try_recv() {
            bytes.extend_from_slice(&more);
            items += 1;
        }
        let ok = write_all(fd, &bytes);
        queued.fetch_sub(items, Ordering::AcqRel);
        if !ok {
            break;
        }
    }
}
