//! Handing a terminal over the socket. An attach client sends its terminal (stdin) to the
//! server with its `Attach` frame, as a unix-socket `SCM_RIGHTS` message, and the server reads
//! keys from it and writes frames to it directly, as tmux's server does: a keystroke and its
//! echo then pass through one process, not three.

use std::collections::VecDeque;
use std::io::{IoSlice, IoSliceMut, Write};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage};
use tokio::io::{AsyncRead, Interest, ReadBuf};
use tokio::net::unix::OwnedReadHalf;

/// File descriptors taken in one read; more are closed by the kernel (the message is cut).
const FDS_PER_READ: usize = 2;
/// File descriptors kept for the frames they came with; a peer that sends more than this
/// without an `Attach` to use them has the oldest closed.
const FDS_KEPT: usize = 2;

/// Write `frame` with `fd` attached to its first byte. Blocking.
pub fn send_with_fd(stream: &std::os::unix::net::UnixStream, frame: &[u8], fd: BorrowedFd<'_>) -> std::io::Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::Error::other("no room to pass the terminal"));
    }
    let sent = loop {
        match rustix::net::sendmsg(stream, &[IoSlice::new(frame)], &mut control, rustix::net::SendFlags::NOSIGNAL) {
            Ok(n) => break n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    // The descriptor went with the first byte; the rest of a long frame follows as usual.
    let mut rest = stream;
    rest.write_all(&frame[sent..])
}

/// The read half of a connection that also keeps the file descriptors passed along with the
/// bytes, for the frame that comes with them to take.
pub struct FdReader {
    half: OwnedReadHalf,
    fds: VecDeque<OwnedFd>,
}

impl FdReader {
    pub fn new(half: OwnedReadHalf) -> FdReader {
        FdReader { half, fds: VecDeque::new() }
    }

    /// The oldest file descriptor received and not yet taken.
    pub fn take_fd(&mut self) -> Option<OwnedFd> {
        self.fds.pop_front()
    }

    /// Close every file descriptor received so far (they came with a frame that takes none).
    pub fn close_fds(&mut self) {
        self.fds.clear();
    }
}

impl AsyncRead for FdReader {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let stream = this.half.as_ref();
        loop {
            std::task::ready!(stream.poll_read_ready(cx))?;
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(FDS_PER_READ))];
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let unfilled = buf.initialize_unfilled();
            let read = stream.try_io(Interest::READABLE, || {
                let mut iov = [IoSliceMut::new(unfilled)];
                loop {
                    match rustix::net::recvmsg(stream, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC) {
                        Err(rustix::io::Errno::INTR) => continue,
                        other => return other.map(|m| m.bytes).map_err(std::io::Error::from),
                    }
                }
            });
            for message in control.drain() {
                if let RecvAncillaryMessage::ScmRights(fds) = message {
                    this.fds.extend(fds);
                }
            }
            while this.fds.len() > FDS_KEPT {
                this.fds.pop_front();
            }
            match read {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use tokio::io::AsyncReadExt;

    /// The descriptor arrives with the frame it was sent with, names the same file, and the
    /// bytes around it read as if nothing had been passed.
    #[tokio::test]
    async fn a_descriptor_travels_with_its_frame() {
        let (client, server) = std::os::unix::net::UnixStream::pair().unwrap();
        let (file_read, file_write) = std::io::pipe().unwrap();
        (&client).write_all(b"before|").unwrap();
        send_with_fd(&client, b"with the fd|", file_write.as_fd()).unwrap();
        (&client).write_all(b"after").unwrap();
        drop(client);
        drop(file_write);

        server.set_nonblocking(true).unwrap();
        let (half, _w) = tokio::net::UnixStream::from_std(server).unwrap().into_split();
        let mut reader = FdReader::new(half);
        let mut text = String::new();
        reader.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "before|with the fd|after");
        let passed = reader.take_fd().expect("the descriptor came through");
        assert!(reader.take_fd().is_none(), "one descriptor was sent");
        // Writing to the passed end reaches the pipe this test kept.
        std::fs::File::from(passed).write_all(b"through").unwrap();
        let mut got = [0u8; 7];
        std::io::Read::read_exact(&mut &file_read, &mut got).unwrap();
        assert_eq!(&got, b"through");
    }

    /// A peer that sends descriptors it has no use for cannot make the server hold many.
    #[tokio::test]
    async fn unused_descriptors_are_bounded() {
        let (client, server) = std::os::unix::net::UnixStream::pair().unwrap();
        let (_r, w) = std::io::pipe().unwrap();
        for _ in 0..20 {
            send_with_fd(&client, b"x", w.as_fd()).unwrap();
        }
        drop(client);
        server.set_nonblocking(true).unwrap();
        let (half, _w) = tokio::net::UnixStream::from_std(server).unwrap().into_split();
        let mut reader = FdReader::new(half);
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).await.unwrap();
        assert_eq!(bytes.len(), 20);
        assert!(reader.fds.len() <= FDS_KEPT);
    }
}
