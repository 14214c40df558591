//! The read side of a pane. The PTY is read on the server's own thread (non-blocking, via the
//! runtime's reactor): a quiet pane's output — a keystroke's echo — is parsed there and then,
//! with no hand-off to another thread. A burst is handed to the pane's parser thread, so a
//! flood is parsed on another core while the server stays responsive; once anything is queued
//! there, everything after it follows, so order holds.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use portable_pty::Child;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc::UnboundedSender;

use super::engine::{lock, Engine};
use super::{PaneId, PaneNotice};

/// Reads up to this size are parsed on the server thread; larger ones go to the parser thread.
const INLINE_MAX: usize = 16 * 1024;
/// One delivery gathers reads up to this size (fewer hand-offs during a flood).
const BATCH: usize = 64 * 1024;

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

/// Start reading `fd` (the pane's master, set non-blocking here). When the child is gone,
/// `alive` turns false and the server gets `Exited`.
pub fn start(
    fd: OwnedFd,
    mut child: Box<dyn Child + Send + Sync>,
    sink: Sink,
    alive: Arc<AtomicBool>,
) -> std::io::Result<()> {
    set_nonblocking(&fd)?;
    // SAFETY: an OwnedFd stays open, and names the same file, for as long as it is owned.
    let afd =
        unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.map_err(|e| e.into_parts().1)?;
    let (parse_tx, parse_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let queued = Arc::new(AtomicUsize::new(0));
    let parser = {
        let sink = sink.clone();
        let queued = queued.clone();
        std::thread::Builder::new().name(format!("pane{}-parse", sink.id)).spawn(move || {
            for chunk in parse_rx {
                sink.parse(&chunk);
                queued.fetch_sub(1, Ordering::AcqRel);
            }
        })?
    };
    tokio::spawn(async move {
        read_until_closed(&afd, &sink, &parse_tx, &queued).await;
        drop(parse_tx);
        drop(afd);
        // Reap the child off the server thread; the parser finishes what it holds first.
        let notices = sink.notices.clone();
        let id = sink.id;
        let _ = tokio::task::spawn_blocking(move || {
            let _ = parser.join();
            let _ = child.wait();
            alive.store(false, Ordering::Release);
            let _ = notices.send(PaneNotice::Exited(id));
        })
        .await;
    });
    Ok(())
}

async fn read_until_closed(afd: &AsyncFd<OwnedFd>, sink: &Sink, parse_tx: &Sender<Vec<u8>>, queued: &AtomicUsize) {
    let mut buf = vec![0u8; BATCH];
    loop {
        let Ok(mut ready) = afd.readable().await else { return };
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
            if len <= INLINE_MAX && queued.load(Ordering::Acquire) == 0 {
                sink.parse(&buf[..len]);
            } else {
                queued.fetch_add(1, Ordering::AcqRel);
                if parse_tx.send(buf[..len].to_vec()).is_err() {
                    return;
                }
            }
        }
        if closed {
            return;
        }
    }
}

pub fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    rustix::io::ioctl_fionbio(fd, true)?;
    Ok(())
}
