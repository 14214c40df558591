//! Bytes for a pane's child. A keystroke is written straight to the PTY when it has room and
//! nothing is queued before it (no thread hand-off on the echo path); anything larger, or
//! anything behind a queue, goes through the pane's writer thread, so the server loop never
//! blocks on a child that stopped reading.

use std::io::Write;
use std::os::unix::io::RawFd;
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
    fd: Option<RawFd>,
}

impl PtyWriter {
    /// Start the writer thread for a PTY. `fd` is the master, for direct writes.
    pub fn spawn(name: String, writer: Box<dyn Write + Send>, fd: Option<RawFd>) -> std::io::Result<PtyWriter> {
        let (tx, rx) = std::sync::mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let counter = queued.clone();
        std::thread::Builder::new().name(name).spawn(move || write_loop(writer, rx, counter))?;
        Ok(PtyWriter { tx, queued, fd })
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
        if let (Some(fd), true) = (self.fd, bytes.len() <= DIRECT_WRITE_MAX) {
            if !bytes.is_empty() && self.queued.load(Ordering::Acquire) == 0 {
                let mut poll = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
                // SAFETY: one valid pollfd, zero timeout.
                let ready = unsafe { libc::poll(&mut poll, 1, 0) } == 1 && poll.revents & libc::POLLOUT != 0;
                if ready {
                    // SAFETY: `fd` is the pane's master, open for as long as the pane exists.
                    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
                    if n == bytes.len() as isize {
                        return;
                    }
                    if n > 0 {
                        bytes.drain(..n as usize);
                    }
                }
            }
        }
        self.send(bytes);
    }
}

fn write_loop(mut writer: Box<dyn Write + Send>, rx: Receiver<Vec<u8>>, queued: Arc<AtomicUsize>) {
    while let Ok(mut bytes) = rx.recv() {
        // Coalesce what is already queued into one write.
        let mut items = 1;
        while let Ok(more) = rx.try_recv() {
            bytes.extend_from_slice(&more);
            items += 1;
        }
        let ok = writer.write_all(&bytes).and_then(|_| writer.flush()).is_ok();
        queued.fetch_sub(items, Ordering::AcqRel);
        if !ok {
            break;
        }
    }
}
