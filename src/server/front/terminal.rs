//! An attached client's terminal, held by the server (the client handed it over when it
//! attached, as tmux's does). Keys are read and decoded here, on the server's thread, and
//! frames are written here: a keystroke's echo crosses no other process.
//!
//! Writes never block the loop. A frame goes to the terminal at once; what the terminal has
//! no room for is written by a task as room appears, and until then no new frame is made
//! (`TerminalEvent::Written` ends the wait): a terminal behind a slow link gets frames at its own
//! pace, each one the screen as it is by then.

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use crossterm::event::{Event, InputParser};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::AbortHandle;

use crate::server::conn::ClientId;

/// What a client's terminal tells the loop.
#[derive(Debug)]
pub enum TerminalEvent {
    /// Keys, mouse, paste and focus.
    Input(ClientId, Vec<Event>),
    /// A frame the terminal had no room for is out at last.
    Written(ClientId),
    /// The terminal hung up (the SSH connection under it dropped, say).
    HungUp(ClientId),
}

/// One read of keys. A read that fills it says more is waiting (a lone ESC at its end is
/// then the start of a sequence, not the Esc key), as crossterm's own reader does.
const READ_SIZE: usize = 4096;
/// A sequence still open past this size (a paste that never ends) is dropped.
const MAX_PENDING_INPUT: usize = 16 * 1024 * 1024;

/// Where a client's frames go: its terminal, or in the server's own tests a channel.
pub enum Outlet {
    Terminal(Terminal),
    #[cfg(test)]
    Channel(UnboundedSender<Vec<u8>>),
}

impl std::fmt::Debug for Outlet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outlet::Terminal(t) => write!(f, "Terminal(fd {})", t.fd.get_ref().as_raw_fd()),
            #[cfg(test)]
            Outlet::Channel(_) => write!(f, "Channel"),
        }
    }
}

impl Outlet {
    /// Send a frame; true when it is all written now, false when the rest waits for room
    /// (`TerminalEvent::Written` follows once it is out).
    pub fn write(&mut self, bytes: Vec<u8>) -> bool {
        match self {
            Outlet::Terminal(t) => t.write(bytes),
            #[cfg(test)]
            Outlet::Channel(tx) => {
                let _ = tx.send(bytes);
                true
            }
        }
    }
}

pub struct Terminal {
    fd: Arc<AsyncFd<OwnedFd>>,
    id: ClientId,
    events: UnboundedSender<TerminalEvent>,
    reader: AbortHandle,
    /// What the terminal had no room for yet, in order; a task writes it as room appears.
    backlog: Arc<Mutex<VecDeque<u8>>>,
    writer: Option<AbortHandle>,
}

impl Terminal {
    /// Take over the terminal `fd` of client `id`: its keys arrive as `TerminalEvent::Input`, and
    /// `TerminalEvent::HungUp` once it hangs up. Must run on the server's runtime.
    pub fn open(id: ClientId, fd: OwnedFd, events: UnboundedSender<TerminalEvent>) -> std::io::Result<Terminal> {
        if !rustix::termios::isatty(&fd) {
            return Err(std::io::Error::other("what the client passed is not a terminal"));
        }
        let fd = private_nonblocking(fd)?;
        // Read interest only: with write interest every read the user's terminal makes would
        // wake the server. A frame that does not fit waits on a descriptor of its own.
        let fd = Arc::new(register(fd, Interest::READABLE)?);
        let reader = tokio::spawn(read_keys(fd.clone(), id, events.clone())).abort_handle();
        Ok(Terminal { fd, id, events, reader, backlog: Arc::default(), writer: None })
    }

    fn write(&mut self, bytes: Vec<u8>) -> bool {
        let mut backlog = lock(&self.backlog);
        if !backlog.is_empty() {
            // Behind what waits already (the loop waits for `Written`; this keeps the order
            // should anything write regardless).
            backlog.extend(&bytes);
            return false;
        }
        let written = write_some(self.fd.get_ref(), &bytes);
        if written == bytes.len() {
            return true;
        }
        backlog.extend(&bytes[written..]);
        let (id, events, queue) = (self.id, self.events.clone(), self.backlog.clone());
        let waiting = self.fd.get_ref().try_clone().and_then(|fd| register(fd, Interest::WRITABLE));
        let task = tokio::spawn(async move {
            if let Ok(fd) = waiting {
                write_backlog(&fd, &queue).await;
            }
            let _ = events.send(TerminalEvent::Written(id));
        });
        self.writer = Some(task.abort_handle());
        false
    }
}

impl Drop for Terminal {
    /// Nothing more reaches the terminal once the client is gone: the client restores it
    /// next, and a late write would land in the user's shell.
    fn drop(&mut self) {
        self.reader.abort();
        if let Some(writer) = &self.writer {
            writer.abort();
        }
    }
}

fn register(fd: OwnedFd, interest: Interest) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an OwnedFd stays open, and names the same file, for as long as it is owned.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(|e| e.into_parts().1)
}

/// A descriptor of the terminal of our own, non-blocking. The passed one shares its file
/// status flags with the client and with the shell the terminal goes back to afterwards, so
/// the terminal is opened again where the system allows it; else the passed one is used
/// (and the client makes it blocking again when it exits, as tmux's does).
fn private_nonblocking(fd: OwnedFd) -> std::io::Result<OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    let again = rustix::fs::open(
        format!("/proc/self/fd/{}", fd.as_raw_fd()),
        OFlags::RDWR | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    );
    match again {
        Ok(own) if rustix::termios::isatty(&own) => Ok(own),
        _ => {
            rustix::io::ioctl_fionbio(&fd, true)?;
            Ok(fd)
        }
    }
}

/// Write what the terminal takes now without waiting; how much that was.
fn write_some(fd: &OwnedFd, bytes: &[u8]) -> usize {
    let mut done = 0;
    while done < bytes.len() {
        match rustix::io::write(fd.as_fd(), &bytes[done..]) {
            Ok(n) if n > 0 => done += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) => break,
            // Gone: the reader sees the hang-up and the client is dropped.
            _ => return bytes.len(),
        }
    }
    done
}

/// Write the backlog as the terminal makes room, until it is empty.
async fn write_backlog(fd: &AsyncFd<OwnedFd>, backlog: &Mutex<VecDeque<u8>>) {
    loop {
        let Ok(mut ready) = fd.writable().await else { return };
        let result = ready.try_io(|fd| {
            let mut queue = lock(backlog);
            let n = rustix::io::write(fd.get_ref(), queue.as_slices().0).map_err(std::io::Error::from)?;
            queue.drain(..n);
            Ok(queue.is_empty())
        });
        match result {
            Ok(Ok(true)) => return,
            Ok(Ok(false)) => {}
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // Gone: the reader sees the hang-up.
            Ok(Err(_)) => return,
            Err(_would_block) => {}
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn read_keys(fd: Arc<AsyncFd<OwnedFd>>, id: ClientId, events: UnboundedSender<TerminalEvent>) {
    let mut parser = InputParser::default();
    let mut buf = vec![0u8; READ_SIZE];
    let mut decoded: Vec<Event> = Vec::new();
    loop {
        let Ok(mut ready) = fd.readable().await else { break };
        let n = match ready.try_io(|fd| rustix::io::read(fd.get_ref(), &mut buf).map_err(std::io::Error::from)) {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => n,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // EIO: the terminal hung up (the SSH connection under it dropped).
            Ok(Err(_)) => break,
            Err(_would_block) => continue,
        };
        parser.advance(&buf[..n], n == buf.len(), &mut decoded);
        if parser.pending() > MAX_PENDING_INPUT {
            tracing::warn!("client {id}: dropped {} bytes of input that never ended", parser.pending());
            parser.reset();
        }
        if !decoded.is_empty() && events.send(TerminalEvent::Input(id, std::mem::take(&mut decoded))).is_err() {
            return;
        }
    }
    let _ = events.send(TerminalEvent::HungUp(id));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    fn open_pty() -> (OwnedFd, OwnedFd) {
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        let slave = rustix::fs::open(
            name.as_c_str(),
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        // Raw, as an attach client leaves it: bytes pass as typed.
        let mut t = rustix::termios::tcgetattr(&slave).unwrap();
        t.make_raw();
        rustix::termios::tcsetattr(&slave, rustix::termios::OptionalActions::Now, &t).unwrap();
        (master, slave)
    }

    /// Keys typed at the user's terminal reach the loop decoded; a frame reaches the
    /// terminal; the passed descriptor keeps its blocking mode; a hang-up closes the client.
    #[tokio::test]
    async fn a_terminal_handed_over_carries_keys_in_and_frames_out() {
        let (master, slave) = open_pty();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let passed = slave.try_clone().unwrap();
        let mut terminal = Terminal::open(7, passed, tx).unwrap();
        let flags = rustix::fs::fcntl_getfl(&slave).unwrap();
        assert!(!flags.contains(rustix::fs::OFlags::NONBLOCK), "the user's own descriptor stays blocking");

        rustix::io::write(&master, b"a\x1b[1;5A").unwrap();
        let mut keys = Vec::new();
        while keys.len() < 2 {
            match rx.recv().await.unwrap() {
                TerminalEvent::Input(7, events) => keys.extend(events),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(keys[0], Event::Key(KeyEvent::new(KeyCode::Char('a'), KeyModifiers::NONE)));
        assert_eq!(keys[1], Event::Key(KeyEvent::new(KeyCode::Up, KeyModifiers::CONTROL)));

        assert!(terminal.write(b"frame".to_vec()), "a small frame goes out at once");
        let mut got = [0u8; 5];
        let n = rustix::io::read(&master, &mut got).unwrap();
        assert_eq!(&got[..n], b"frame");

        drop(slave);
        drop(master);
        loop {
            if let TerminalEvent::HungUp(7) = rx.recv().await.unwrap() {
                break;
            }
        }
    }

    /// A terminal that reads nothing takes what fits; the rest waits and `Written` says when
    /// it is out, so the loop makes no new frame meanwhile.
    #[tokio::test]
    async fn a_frame_the_terminal_has_no_room_for_is_finished_later() {
        let (master, slave) = open_pty();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut terminal = Terminal::open(3, slave, tx).unwrap();
        let frame = vec![b'x'; 1 << 20];
        assert!(!terminal.write(frame.clone()), "a megabyte does not fit in a terminal nobody reads");
        let mut total = 0;
        let mut buf = vec![0u8; 1 << 16];
        let reader = std::thread::spawn(move || {
            while total < frame.len() {
                total += rustix::io::read(&master, &mut buf).unwrap();
            }
            total
        });
        loop {
            if let TerminalEvent::Written(3) = rx.recv().await.unwrap() {
                break;
            }
        }
        assert_eq!(reader.join().unwrap(), 1 << 20, "every byte of the frame arrived");
    }

    #[test]
    fn what_is_not_a_terminal_is_refused() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _guard = rt.enter();
        let (r, _w) = std::io::pipe().unwrap();
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        assert!(Terminal::open(1, OwnedFd::from(r), tx).is_err());
    }
}
