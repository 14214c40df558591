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

/// The longest JSON-RPC line `sbx mcp` takes: room for the bridge's largest call (a 10 MiB
/// artifact is 13.4 MiB as base64) and no more; rmcp's own default is the same size.
pub const MAX_LINE: usize = 16 * 1024 * 1024;
/// Of each line, this much is kept to find a refused request's id in.
const HEAD: usize = 4096;

/// Between the reader and the writer: JSON-RPC errors to send between two of rmcp's lines.
#[derive(Default)]
struct Injected {
    pending: std::collections::VecDeque<Vec<u8>>,
    /// rmcp has written part of a line: nothing may be put in now.
    mid_line: bool,
    /// The driver waiting for a moment between lines (see `drive`).
    waker: Option<std::task::Waker>,
    /// A refusal is being written: rmcp's next line waits (woken by `blocked`).
    injecting: bool,
    blocked: Option<std::task::Waker>,
}

type Shared = std::sync::Arc<std::sync::Mutex<Injected>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Injected> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// Stdin with a bound on each line. rmcp drops a line over its limit without a word, and the
/// agent would wait for an answer that never comes; here a line past MAX_LINE is cut (rmcp
/// sees a line that does not parse, which it ignores) and the request is answered with a
/// JSON-RPC error that names its id.
pub struct LineGuard<R> {
    inner: R,
    shared: Shared,
    /// Bytes of the current line so far, and its first HEAD bytes.
    line: usize,
    head: Vec<u8>,
    dropping: bool,
}

/// Stdout that lets the reader's errors in between whole lines of rmcp's.
pub struct Injecting<W> {
    inner: std::sync::Arc<std::sync::Mutex<W>>,
    shared: Shared,
}

/// The pair to serve MCP on, and the task that sends refusals when rmcp is quiet.
pub fn guarded<R, W>(reader: R, writer: W) -> (LineGuard<R>, Injecting<W>, impl std::future::Future<Output = ()>)
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let shared = Shared::default();
    let inner = std::sync::Arc::new(std::sync::Mutex::new(writer));
    let driver = drive(inner.clone(), shared.clone());
    (
        LineGuard { inner: reader, shared: shared.clone(), line: 0, head: Vec::new(), dropping: false },
        Injecting { inner, shared },
        driver,
    )
}

impl<R: AsyncRead + Unpin> AsyncRead for LineGuard<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        loop {
            let mut chunk = vec![0u8; buf.remaining().clamp(1, 64 * 1024)];
            let mut read = tokio::io::ReadBuf::new(&mut chunk);
            std::task::ready!(std::pin::Pin::new(&mut self.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                return std::task::Poll::Ready(Ok(()));
            }
            let passed = self.filter(read.filled());
            if !passed.is_empty() {
                buf.put_slice(&passed);
                return std::task::Poll::Ready(Ok(()));
            }
            // All of it belonged to a line being dropped: read on.
        }
    }
}

impl<R> LineGuard<R> {
    /// What of `bytes` goes on to rmcp.
    fn filter(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        for &b in bytes {
            if b == b'\n' {
                if self.dropping {
                    self.refuse();
                }
                self.line = 0;
                self.head.clear();
                self.dropping = false;
                out.push(b);
                continue;
            }
            self.line += 1;
            if self.head.len() < HEAD {
                self.head.push(b);
            }
            if self.line > MAX_LINE {
                self.dropping = true;
                continue;
            }
            out.push(b);
        }
        out
    }

    fn refuse(&mut self) {
        let error = serde_json::json!({
            "jsonrpc": "2.0",
            "id": request_id(&self.head),
            "error": {
                "code": -32600,
                "message": format!(
                    "the request is over the {MAX_LINE} bytes sbx mcp takes in one message; send large \
                     content as several artifacts (bridge_post_artifact), each within the bridge's limit"
                ),
            },
        });
        let mut line = error.to_string().into_bytes();
        line.push(b'\n');
        let mut shared = lock(&self.shared);
        shared.pending.push_back(line);
        if let Some(w) = shared.waker.take() {
            w.wake();
        }
    }
}

/// The `id` of a JSON-RPC request from the start of its line: a number or a string at the top
/// level of the object (an `id` inside `params` does not count). Null when it is not there,
/// as JSON-RPC asks when the id cannot be told.
fn request_id(head: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(head);
    let bytes = text.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let end = string_end(bytes, i);
                let key = &text[i + 1..end.saturating_sub(1).max(i + 1)];
                let rest = text[end..].trim_start();
                if depth == 1 && key == "id" && rest.starts_with(':') {
                    let value = rest[1..].trim_start();
                    let mut stream = serde_json::Deserializer::from_str(value).into_iter::<serde_json::Value>();
                    return match stream.next() {
                        Some(Ok(v @ (serde_json::Value::Number(_) | serde_json::Value::String(_)))) => v,
                        _ => serde_json::Value::Null,
                    };
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    serde_json::Value::Null
}

/// The index just past the string that starts at `start` (a `"`), escapes skipped.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Injecting<W> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        {
            let mut shared = lock(&self.shared);
            if shared.injecting && !shared.mid_line {
                shared.blocked = Some(cx.waker().clone());
                return std::task::Poll::Pending;
            }
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let n = std::task::ready!(std::pin::Pin::new(&mut *inner).poll_write(cx, buf))?;
        let mut shared = lock(&self.shared);
        shared.mid_line = n > 0 && buf[n - 1] != b'\n' || (n == 0 && shared.mid_line);
        if !shared.mid_line && !shared.pending.is_empty() {
            if let Some(w) = shared.waker.take() {
                w.wake();
            }
        }
        std::task::Poll::Ready(Ok(n))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        std::pin::Pin::new(&mut *inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        std::pin::Pin::new(&mut *inner).poll_shutdown(cx)
    }
}

/// Send queued refusals, each whole, at moments when rmcp is not in the middle of a line
/// (holding the writer while one goes out, so rmcp's next line waits behind it).
async fn drive<W: AsyncWrite + Unpin>(writer: std::sync::Arc<std::sync::Mutex<W>>, shared: Shared) {
    loop {
        let line = std::future::poll_fn(|cx| {
            let mut s = lock(&shared);
            if !s.mid_line {
                if let Some(line) = s.pending.pop_front() {
                    s.injecting = true;
                    return std::task::Poll::Ready(line);
                }
            }
            s.waker = Some(cx.waker().clone());
            std::task::Poll::Pending
        })
        .await;
        let mut written = 0;
        while written < line.len() {
            let step = std::future::poll_fn(|cx| {
                let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
                std::pin::Pin::new(&mut *w).poll_write(cx, &line[written..])
            })
            .await;
            match step {
                Ok(n) if n > 0 => written += n,
                // Stdout is gone: nothing more will be written by anyone.
                _ => return,
            }
        }
        let _ = std::future::poll_fn(|cx| {
            let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
            std::pin::Pin::new(&mut *w).poll_flush(cx)
        })
        .await;
        let mut s = lock(&shared);
        s.injecting = false;
        if let Some(w) = s.blocked.take() {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_read_from_the_top_level_only() {
        let id = |s: &str| request_id(s.as_bytes());
        assert_eq!(id(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"#), serde_json::json!(7));
        assert_eq!(id(r#"{"method":"x","params":{"id":1,"a":"\"id\":2"},"id":"abc"}"#), serde_json::json!("abc"));
        assert_eq!(id(r#"{"jsonrpc":"2.0","method":"tools/call","params":{"id":5,"#), serde_json::Value::Null);
        assert_eq!(id("garbage"), serde_json::Value::Null);
    }

    #[test]
    fn a_line_over_the_limit_is_cut_and_answered() {
        let (mut guard, _writer, _driver) = guarded(tokio::io::empty(), tokio::io::sink());
        let mut line = br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"x":""#.to_vec();
        line.resize(MAX_LINE + 100, b'a');
        line.extend_from_slice(b"\"}}\n{\"next\":1}\n");
        let passed: Vec<u8> = line.chunks(1 << 20).flat_map(|c| guard.filter(c)).collect();
        let cut = passed.iter().position(|b| *b == b'\n').unwrap();
        assert_eq!(cut, MAX_LINE, "rmcp gets at most MAX_LINE bytes of the line");
        assert!(passed.ends_with(b"\n{\"next\":1}\n"), "the next line passes whole");
        let pending = lock(&guard.shared).pending.pop_front().unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&pending).unwrap();
        assert_eq!(answer["id"], 42);
        assert_eq!(answer["error"]["code"], -32600);
    }
}
