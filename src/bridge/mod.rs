//! The bridge: agents (and people) message each other through the sbx server.
//!
//! One thread owns the store and the directory of endpoints (panes, agent sessions started
//! outside sbx, the user). Connections hand it calls directly; the server loop tells it when
//! panes come and go. Writes of a burst of calls share one transaction (group commit), and
//! every reply goes out only after its transaction committed.

mod address;
pub mod client;
mod dashboard;
mod inbox;
mod ops;
mod presence;
mod quota;
mod remote;
mod router;
pub mod store;

use tokio::sync::mpsc::UnboundedSender;

use crate::protocol::{Error, Reply, ServerMsg};

pub use crate::config::BridgeSettings;
pub use crate::protocol::BridgeOp;
pub use address::USER;
pub use router::spawn;

/// Who is calling: a process the bridge checks, or an endpoint the server vouches for.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A process on the socket. `claim` is `SBX_PANE_ID`, `--as`, or an agent's session id.
    Peer {
        conn: u64,
        pid: u32,
        claim: Option<String>,
        via: crate::protocol::Via,
    },
    Endpoint(String),
}

/// Where a call's answer goes: a one-shot command's reply, a numbered answer on a connection
/// that carries many calls (`sbx mcp`) — JSON text, at the socket's edge — or, for the server
/// itself, the value as it is.
#[derive(Debug, Clone)]
pub enum Replier {
    Once(UnboundedSender<ServerMsg>),
    Numbered(UnboundedSender<ServerMsg>, u64),
    Value(UnboundedSender<Result<serde_json::Value, Error>>),
}

impl Replier {
    pub fn once(out: UnboundedSender<ServerMsg>) -> Replier {
        Replier::Once(out)
    }

    pub fn numbered(out: UnboundedSender<ServerMsg>, call: u64) -> Replier {
        Replier::Numbered(out, call)
    }

    pub fn send(&self, result: Result<serde_json::Value, Error>) {
        match self {
            Replier::Numbered(out, call) => {
                let _ = out.send(ServerMsg::Bridge { call: *call, result: result.map(|v| v.to_string()) });
            }
            Replier::Once(out) => {
                let _ = out.send(match result {
                    Ok(v) => ServerMsg::Reply(Reply::Bridge(v.to_string())),
                    Err(e) => ServerMsg::Error(e),
                });
            }
            Replier::Value(out) => {
                let _ = out.send(result);
            }
        }
    }

    pub fn is_closed(&self) -> bool {
        match self {
            Replier::Once(out) | Replier::Numbered(out, _) => out.is_closed(),
            Replier::Value(out) => out.is_closed(),
        }
    }
}

/// A pane as the bridge needs to know it (sent by the server whenever one of these changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaneEntry {
    pub endpoint: String,
    pub pane: String,
    pub session: String,
    pub label: Option<String>,
    pub cwd: String,
    pub agent: Option<String>,
    pub agent_session: Option<String>,
    pub state: Option<String>,
    /// The pane's first process: anything descending from it speaks for this pane.
    pub pid: Option<u32>,
}

#[derive(Debug)]
pub enum BridgeMsg {
    Call {
        caller: Caller,
        op: BridgeOp,
        reply: Replier,
    },
    Pane(PaneEntry),
    PaneGone {
        endpoint: String,
    },
    /// A hook of an agent started outside sbx: it registers (or refreshes) an external session.
    ExternalHook {
        session_id: String,
        agent: String,
        cwd: Option<String>,
        pid: u32,
    },
    /// The agent in `endpoint`'s pane resumed agent session `session`, and its own processes
    /// say so (see `agents::vouches`): the session's mail may follow it from an old endpoint.
    Resumed {
        endpoint: String,
        session: String,
    },
    /// A label the server accepted for a pane or an external session.
    Labelled {
        endpoint: String,
        label: Option<String>,
    },
    ConnClosed(u64),
    /// From the server's remote link: letters to post, posted, and received.
    Remote {
        msg: RemoteMsg,
        reply: Replier,
    },
}

/// What the remote link asks of the bridge.
#[derive(Debug)]
pub enum RemoteMsg {
    /// Letters waiting to be posted (at most this many).
    Unposted(usize),
    /// The relay took this letter.
    Posted(String),
    /// It could not be posted this time.
    Attempted(String),
    /// It will not be posted: its friend is no longer one.
    Dropped(String),
    /// A letter from the friend `friend`, opened and checked: deliver it.
    Deliver { friend: String, letter: Box<crate::share::letter::Letter> },
    /// The agent sessions in this server's panes, for friends' presence.
    LocalSessions,
    /// A presence from the friend `friend`, opened and checked: keep it if it is newer.
    Presence { friend: String, presence: Box<crate::share::presence::Presence> },
}

/// What the bridge tells the server loop.
#[derive(Debug)]
pub enum BridgeNotice {
    /// Ask the server (which owns labels) to set one; it answers `reply` itself.
    SetLabel { endpoint: String, pane: Option<String>, label: String, reply: Replier },
    /// New messages for an endpoint (for the optional notice typed into an idle agent).
    Delivered { endpoint: String, from: String, subject: String },
    /// The sidebar's view: unread counts, the user's latest messages, channels.
    Overview(Overview),
    /// Letters for friends wait in the outbox: the remote link should post them.
    Outbox,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overview {
    /// Unread messages per endpoint id.
    pub unread: Vec<(String, usize)>,
    /// The user's inbox, newest first: (message id, from, subject, read).
    pub inbox: Vec<(i64, String, String, bool)>,
    /// Channels and their members' names.
    pub channels: Vec<(String, Vec<String>)>,
    /// Labels of external sessions (labels are unique across panes and these).
    pub external_labels: Vec<String>,
}

/// The handle the server and its connections use.
#[derive(Clone)]
pub struct BridgeHandle {
    tx: std::sync::mpsc::Sender<BridgeMsg>,
}

impl BridgeHandle {
    /// A handle to no bridge: every call is answered "stopped" (for tests of its callers).
    #[cfg(test)]
    pub fn detached() -> BridgeHandle {
        BridgeHandle { tx: std::sync::mpsc::channel().0 }
    }

    /// Hand a message to the bridge thread; a call it can no longer take is answered at once
    /// (a caller must never wait for an answer that cannot come).
    pub fn send(&self, msg: BridgeMsg) {
        if let Err(std::sync::mpsc::SendError(BridgeMsg::Call { reply, .. })) = self.tx.send(msg) {
            reply.send(Err(Error::new(
                "bridge_stopped",
                "the bridge has stopped",
                "restart the server: sbx kill-server, then sbx (the server log says why)",
            )));
        }
    }
}

/// Bridge calls fail with sbx's one error type (codes such as `unknown_address`, `too_large`).
pub type BridgeResult<T> = Result<T, Error>;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
