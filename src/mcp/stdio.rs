//! Stdin and stdout for the MCP server, read and written on the runtime's own thread.
//!
//! tokio's `stdin()`/`stdout()` hand every read and write to a blocking thread, which costs two
//! thread wake-ups per JSON-RPC line — most of `sbx mcp`'s time under load. Agents start MCP
//! servers with pipes (or socket pairs, as Node does), and both can be polled directly; anything
//! else (a terminal, a file) falls back to tokio's stdio.

use std::os::fd::{AsFd, OwnedFd};

use tokio::io::{AsyncRead, AsyncWrite};

pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

enum Kind {
    Pipe,
    Socket,
    Other,
}

fn kind(fd: &OwnedFd) -> Kind {
    use std::os::unix::fs::FileTypeExt;
    let Ok(copy) = fd.try_clone() else { return Kind::Other };
    let Ok(meta) = std::fs::File::from(copy).metadata() else { return Kind::Other };
    let t = meta.file_type();
    if t.is_fifo() {
        Kind::Pipe
    } else if t.is_socket() {
        Kind::Socket
    } else {
        Kind::Other
    }
}

/// Our own copy of fd 0 or 1, so tokio owns (and may close) a descriptor without closing stdio.
fn dup(fd: std::os::fd::BorrowedFd<'_>) -> Option<OwnedFd> {
    fd.try_clone_to_owned().ok()
}

fn socket(fd: OwnedFd) -> Option<tokio::net::UnixStream> {
    let stream = std::os::unix::net::UnixStream::from(fd);
    stream.set_nonblocking(true).ok()?;
    tokio::net::UnixStream::from_std(stream).ok()
}

/// fd 0 or 1 as something the runtime polls itself, if it is a pipe or a socket.
fn polled<T>(
    fd: std::os::fd::BorrowedFd<'_>,
    pipe: impl FnOnce(OwnedFd) -> std::io::Result<T>,
    sock: impl FnOnce(tokio::net::UnixStream) -> T,
) -> Option<T> {
    let fd = dup(fd)?;
    match kind(&fd) {
        Kind::Pipe => pipe(fd).ok(),
        Kind::Socket => socket(fd).map(sock),
        Kind::Other => None,
    }
}

pub fn reader() -> Reader {
    let pipe = |fd| tokio::net::unix::pipe::Receiver::from_owned_fd(fd).map(|r| Box::new(r) as Reader);
    polled(std::io::stdin().as_fd(), pipe, |s| Box::new(s) as Reader).unwrap_or_else(|| Box::new(tokio::io::stdin()))
}

pub fn writer() -> Writer {
    let pipe = |fd| tokio::net::unix::pipe::Sender::from_owned_fd(fd).map(|w| Box::new(w) as Writer);
    polled(std::io::stdout().as_fd(), pipe, |s| Box::new(s) as Writer).unwrap_or_else(|| Box::new(tokio::io::stdout()))
}
