//! Socket connections: accept, check the peer's uid, read the hello, then hand messages
//! to the server loop. Each connection has a reader task and a writer task. An attaching
//! client's terminal arrives with its `Attach` and is taken over (`front::terminal`).

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use std::os::fd::OwnedFd;

use crate::bridge::{BridgeHandle, BridgeMsg, Caller, Replier};
use crate::protocol::{
    is_too_large, read_frame, read_hello, read_upgrade_request, write_frame, AttachRequest, ClientMsg, Error, FdReader,
    ServerMsg, UpgradeAnswer, PROTOCOL_VERSION, UPGRADE_HELLO,
};

/// Strangers being refused at once: beyond this, a new one is dropped without an answer, so
/// a flood of connections from another user costs a bounded amount.
const MAX_REFUSING: usize = 64;
/// After a failed accept (out of file descriptors, usually) the loop waits this long, doubling
/// up to a second: retrying at once would spin a core while nothing can be accepted.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(1);

pub type ClientId = u64;

// An event lives only from its decoding to its handling: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ConnEvent {
    /// A message from a connection (the first one decides whether it is an attach or a command),
    /// with the pid of the process on the other end (from the kernel).
    Message(ClientId, ClientMsg, UnboundedSender<ServerMsg>, u32),
    /// A client attaches, handing over its terminal (see `front::terminal`).
    Attach(ClientId, AttachRequest, OwnedFd, UnboundedSender<ServerMsg>),
    Closed(ClientId),
    /// A live upgrade to the binary at this path is asked for (frozen frames, any version);
    /// the answer goes back on the channel.
    Upgrade(std::path::PathBuf, UpgradeReply),
    /// A web viewer starts on a pane (a target): its screen, then its output.
    /// With how many history lines before the screen.
    Watch(String, usize, WatchReply),
}

/// A pane's screen for a new viewer (escapes a fresh terminal replays), and its output from
/// there on.
pub type WatchReply = tokio::sync::oneshot::Sender<Result<(String, crate::pane::engine::Watching), Error>>;

/// The answer to an upgrade request, and a way for the server to know it has gone out.
pub type UpgradeReply = tokio::sync::oneshot::Sender<(Result<String, String>, tokio::sync::oneshot::Sender<()>)>;

static NEXT_CLIENT: AtomicU64 = AtomicU64::new(1);

/// A connection id no other connection has (the web front's requests take them too).
pub fn next_client_id() -> ClientId {
    NEXT_CLIENT.fetch_add(1, Ordering::Relaxed)
}

/// Accept connections until the server ends. While `hold` is set (a live upgrade hands over)
/// nothing is accepted: whoever connects waits in the backlog for the new binary.
pub async fn accept_loop(
    listener: UnixListener,
    events: UnboundedSender<ConnEvent>,
    bridge: BridgeHandle,
    mut hold: tokio::sync::watch::Receiver<bool>,
) {
    let uid = crate::config::paths::current_uid();
    let refusing = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_REFUSING));
    let mut backoff = ACCEPT_BACKOFF;
    loop {
        let accepted = tokio::select! {
            biased;
            Ok(_) = hold.wait_for(|held| *held) => None,
            accepted = listener.accept() => Some(accepted),
        };
        let Some(accepted) = accepted else {
            let _ = hold.wait_for(|held| !*held).await;
            continue;
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                backoff = ACCEPT_BACKOFF;
                stream
            }
            Err(e) => {
                if backoff == ACCEPT_BACKOFF {
                    tracing::warn!("cannot accept a connection ({e}); backing off");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        // The socket dir is 0700 already; checking the peer as well means a socket that
        // leaked out of its folder (bind mount, fd passing) still serves only its owner.
        let pid = match stream.peer_cred() {
            Ok(cred) if cred.uid() == uid => cred.pid().unwrap_or(0).max(0) as u32,
            _ => {
                // Refuse on a task of its own, so a stranger cannot stall the accept loop.
                if let Ok(permit) = refusing.clone().try_acquire_owned() {
                    tokio::spawn(async move {
                        refuse(stream).await;
                        drop(permit);
                    });
                }
                continue;
            }
        };
        let id = next_client_id();
        tokio::spawn(serve(id, stream, pid, events.clone(), bridge.clone()));
    }
}

/// Answer a stranger without trusting anything it sends: at most a few bytes are read (so
/// the refusal arrives instead of a reset connection), never a frame of the size it claims.
async fn refuse(mut stream: UnixStream) {
    use tokio::io::AsyncReadExt;
    let wait = std::time::Duration::from_secs(1);
    let mut scratch = [0u8; crate::protocol::MAX_HELLO];
    let _ = tokio::time::timeout(wait, stream.read(&mut scratch)).await;
    let refusal = ServerMsg::Error(Error::new(
        "not_your_server",
        "this sbx server belongs to another user",
        "start your own with SBX_HOME or SBX_SOCKET pointing at a folder of yours",
    ));
    let _ = tokio::time::timeout(wait, write_frame(&mut stream, &refusal)).await;
}

async fn serve(id: ClientId, stream: UnixStream, pid: u32, events: UnboundedSender<ConnEvent>, bridge: BridgeHandle) {
    let (reader, mut writer) = stream.into_split();
    // One read picks up a frame's length and body (and any frames behind it), and the
    // terminal an attaching client passes with its `Attach`.
    let mut reader = tokio::io::BufReader::new(FdReader::new(reader));
    match read_hello(&mut reader).await {
        Ok(Some(hello)) if hello.version == PROTOCOL_VERSION => {}
        Ok(Some(hello)) if hello.version == UPGRADE_HELLO => {
            upgrade(reader, writer, events).await;
            return;
        }
        Ok(Some(hello)) => {
            let refusal = ServerMsg::Error(Error::new(
                "protocol_mismatch",
                format!("this sbx server speaks protocol {PROTOCOL_VERSION}, the client {}", hello.version),
                "hand the panes to the new binary with `sbx upgrade` (or restart: sbx kill-server, then sbx restore)",
            ));
            let _ = write_frame(&mut writer, &refusal).await;
            return;
        }
        _ => return,
    }
    let (out_tx, out_rx) = unbounded_channel::<ServerMsg>();
    tokio::spawn(write_loop(writer, out_rx));
    while let Ok(Some(msg)) = read_frame::<_, ClientMsg>(&mut reader).await {
        if let ClientMsg::Attach(request) = msg {
            // The terminal came with the frame's first byte, so it has been read by now.
            let Some(fd) = reader.get_mut().take_fd() else {
                let _ = out_tx.send(ServerMsg::Error(no_terminal("the client did not hand over its terminal")));
                break;
            };
            if events.send(ConnEvent::Attach(id, request, fd, out_tx.clone())).is_err() {
                break;
            }
            continue;
        }
        // A descriptor passed with anything else is not wanted.
        reader.get_mut().close_fds();
        // Bridge calls go straight to the bridge thread: messaging never waits for the loop
        // that draws panes, and a flood of messages never delays a keystroke.
        if let ClientMsg::Bridge { call, claim, via, op } = msg {
            let caller = Caller::Peer { conn: id, pid, claim, via };
            bridge.send(BridgeMsg::Call { caller, op, reply: Replier::numbered(out_tx.clone(), call) });
            continue;
        }
        if events.send(ConnEvent::Message(id, msg, out_tx.clone(), pid)).is_err() {
            break;
        }
    }
    bridge.send(BridgeMsg::ConnClosed(id));
    let _ = events.send(ConnEvent::Closed(id));
}

/// The frozen upgrade exchange (`protocol::UPGRADE_HELLO`): the request, then the answer
/// once the server knows.
async fn upgrade<R: tokio::io::AsyncRead + Unpin>(
    mut reader: R,
    mut writer: tokio::net::unix::OwnedWriteHalf,
    events: UnboundedSender<ConnEvent>,
) {
    let request = match read_upgrade_request(&mut reader).await {
        Ok(Some(request)) => request,
        _ => return,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    if events.send(ConnEvent::Upgrade(request.exe.into(), tx)).is_err() {
        return;
    }
    let (answer, done) = match rx.await {
        Ok((Ok(message), done)) => (UpgradeAnswer { ok: true, message }, Some(done)),
        Ok((Err(message), done)) => (UpgradeAnswer { ok: false, message }, Some(done)),
        Err(_) => (UpgradeAnswer { ok: false, message: "the server stopped before it could answer".into() }, None),
    };
    let _ = write_frame(&mut writer, &answer).await;
    if let Some(done) = done {
        let _ = done.send(());
    }
}

async fn write_loop(mut writer: tokio::net::unix::OwnedWriteHalf, mut rx: UnboundedReceiver<ServerMsg>) {
    while let Some(msg) = rx.recv().await {
        let is_final = matches!(msg, ServerMsg::Exit(_) | ServerMsg::Upgrading { .. });
        match write_frame(&mut writer, &msg).await {
            Ok(()) => {}
            // An answer too large for one frame (a huge capture) becomes an error the caller
            // can act on; anything else means the connection is gone.
            Err(e) if is_too_large(&e) => {
                if write_frame(&mut writer, &too_large_answer(&msg, &e)).await.is_err() {
                    break;
                }
            }
            Err(_) => break,
        }
        if is_final {
            break;
        }
    }
}

/// Why an attach without a usable terminal is refused.
pub fn no_terminal(why: &str) -> Error {
    Error::new("no_terminal", why, "attach with an sbx client of the same version as the server, from a terminal")
}

/// What a caller gets instead of an answer too large for one frame.
fn too_large_answer(msg: &ServerMsg, e: &std::io::Error) -> ServerMsg {
    let error = Error::new(
        "too_large",
        format!("the answer is too large to send ({e})"),
        "ask for less (fewer --scrollback lines, a smaller artifact)",
    );
    match msg {
        ServerMsg::Bridge { call, .. } => ServerMsg::Bridge { call: *call, result: Err(error) },
        _ => ServerMsg::Error(error),
    }
}
