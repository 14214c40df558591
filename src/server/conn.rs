//! Socket connections: accept, check the peer's uid, read the hello, then hand messages
//! to the server loop. Each connection has a reader task and a writer task; the writer
//! reports when a frame has been written so that the loop paces frames to the client.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::bridge::{BridgeHandle, BridgeMsg, Caller, Replier};
use crate::protocol::{read_frame, write_frame, ClientMsg, ErrorReply, Hello, ServerMsg, PROTOCOL_VERSION};

pub type ClientId = u64;

// An event lives only from its decoding to its handling: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ConnEvent {
    /// A message from a connection (the first one decides whether it is an attach or a command),
    /// with the pid of the process on the other end (from the kernel).
    Message(ClientId, ClientMsg, UnboundedSender<ServerMsg>, u32),
    /// The writer task finished writing one Output frame.
    Written(ClientId),
    Closed(ClientId),
}

static NEXT_CLIENT: AtomicU64 = AtomicU64::new(1);

pub async fn accept_loop(listener: UnixListener, events: UnboundedSender<ConnEvent>, bridge: BridgeHandle) {
    let uid = crate::config::paths::current_uid();
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        // The socket dir is 0700 already; checking the peer as well means a socket that
        // leaked out of its folder (bind mount, fd passing) still serves only its owner.
        let pid = match stream.peer_cred() {
            Ok(cred) if cred.uid() == uid => cred.pid().unwrap_or(0).max(0) as u32,
            _ => {
                // Refuse on a task of its own, so a stranger cannot stall the accept loop.
                tokio::spawn(refuse(stream));
                continue;
            }
        };
        let id = NEXT_CLIENT.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(serve(id, stream, pid, events.clone(), bridge.clone()));
    }
}

async fn refuse(mut stream: UnixStream) {
    let wait = std::time::Duration::from_secs(1);
    // Read the hello first so the refusal arrives instead of a reset connection.
    let _ = tokio::time::timeout(wait, read_frame::<_, Hello>(&mut stream)).await;
    let refusal = ServerMsg::Error(ErrorReply::new(
        "this sbx server belongs to another user",
        "start your own with SBX_HOME or SBX_SOCKET pointing at a folder of yours",
    ));
    let _ = write_frame(&mut stream, &refusal).await;
    let _ = tokio::time::timeout(wait, read_frame::<_, ClientMsg>(&mut stream)).await;
}

async fn serve(id: ClientId, stream: UnixStream, pid: u32, events: UnboundedSender<ConnEvent>, bridge: BridgeHandle) {
    let (reader, writer) = stream.into_split();
    // One read picks up a frame's length and body (and any frames behind it).
    let mut reader = tokio::io::BufReader::new(reader);
    let (out_tx, out_rx) = unbounded_channel::<ServerMsg>();
    tokio::spawn(write_loop(id, writer, out_rx, events.clone()));

    match read_frame::<_, Hello>(&mut reader).await {
        Ok(Some(hello)) if hello.version == PROTOCOL_VERSION => {}
        Ok(Some(hello)) => {
            let _ = out_tx.send(ServerMsg::Error(ErrorReply::new(
                format!("this sbx server speaks protocol {PROTOCOL_VERSION}, the client {}", hello.version),
                "restart the server with the new binary: sbx kill-server, then sbx",
            )));
            return;
        }
        _ => return,
    }
    while let Ok(Some(msg)) = read_frame::<_, ClientMsg>(&mut reader).await {
        // Bridge calls go straight to the bridge thread: messaging never waits for the loop
        // that draws panes, and a flood of messages never delays a keystroke.
        if let ClientMsg::Bridge { call, claim, op } = msg {
            let caller = Caller::Peer { conn: id, pid, claim };
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

async fn write_loop(
    id: ClientId,
    mut writer: tokio::net::unix::OwnedWriteHalf,
    mut rx: UnboundedReceiver<ServerMsg>,
    events: UnboundedSender<ConnEvent>,
) {
    while let Some(msg) = rx.recv().await {
        let is_output = matches!(msg, ServerMsg::Output(_));
        let is_final = matches!(msg, ServerMsg::Exit(_));
        if write_frame(&mut writer, &msg).await.is_err() {
            break;
        }
        if is_output {
            let _ = events.send(ConnEvent::Written(id));
        }
        if is_final {
            break;
        }
    }
}
