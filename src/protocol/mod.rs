//! The socket protocol shared by the server, attach clients and control commands:
//! length-prefixed frames (u32 big-endian) holding postcard-encoded messages, the types they
//! carry, and the one error type. A leaf: it imports nothing from the rest of sbx.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

mod agent;
mod bridge;
mod clock;
mod colors;
mod error;
mod handover;
mod names;
mod tool_input;

pub use agent::{AgentInfo, AgentKey, AgentKind, HookEvent};
pub use bridge::{BridgeOp, Via};
pub use clock::{now_secs, rfc3339, rfc3339_ms};
pub use colors::{parse_color_spec, TerminalColors};
pub use error::Error;
pub use handover::{send_with_fd, FdReader};
pub use names::{validate_label, validate_session_name, validate_tab_name};
pub use tool_input::ToolInput;

/// Bumped whenever a message changes shape; a client and server that disagree refuse each other.
pub const PROTOCOL_VERSION: u32 = 11;
/// No honest message is larger; a bigger length is a corrupt or hostile peer.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;
/// The first frame of a connection is a `Hello`: a few bytes. Until a peer has said it speaks
/// this protocol, nothing larger is read from it.
pub const MAX_HELLO: usize = 64;
/// What is allocated for a frame before its bytes arrive: a peer that announces a large
/// frame and sends nothing costs this much, not the length it announced.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub version: u32,
}

/// The `Hello` version that asks for a live upgrade instead of speaking the protocol. It and
/// the two frames after it are frozen, never to change shape: a newer sbx, whatever protocol
/// it speaks, must be able to ask an older server to hand over to it.
pub const UPGRADE_HELLO: u32 = u32::MAX;
/// Frozen (see `UPGRADE_HELLO`): the second frame, the binary to hand over to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpgradeRequest {
    pub exe: String,
}
/// Frozen (see `UPGRADE_HELLO`): the server's answer; once `ok`, it is handing over.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpgradeAnswer {
    pub ok: bool,
    pub message: String,
}
/// Not much: a path.
pub const MAX_UPGRADE_REQUEST: usize = 8 * 1024;

pub async fn read_upgrade_request<R: AsyncRead + Unpin>(reader: &mut R) -> std::io::Result<Option<UpgradeRequest>> {
    read_frame_up_to(reader, MAX_UPGRADE_REQUEST).await
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ClientMsg {
    /// Become an attached client of a session (creating one when `create` is set and none
    /// matches). Sent with the client's terminal attached (`send_with_fd`): the server reads
    /// the keys from it and writes the frames to it.
    Attach(AttachRequest),
    /// The attached client's terminal changed size.
    Resize { cols: u16, rows: u16 },
    /// A one-shot control command; the server answers with one Reply or Error and closes.
    Command(Command),
    /// A bridge call, answered by a `ServerMsg::Bridge` with the same number; a connection may
    /// carry many at once (`sbx mcp` keeps one open). `claim` says whom the caller speaks for:
    /// checked against the pane the caller's process runs in.
    Bridge { call: u64, claim: Option<String>, via: Via, op: BridgeOp },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttachRequest {
    pub target: Option<String>,
    pub create: Option<NewSpec>,
    pub cols: u16,
    pub rows: u16,
    /// What the client's terminal said its colours are (empty when it did not answer).
    pub colors: TerminalColors,
    /// `sbx attach -r`: the client watches; its keys change nothing, its size does not
    /// shrink the session for the others.
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PaneSpec {
    pub cwd: Option<PathBuf>,
    /// Empty: the user's shell. With `agent`: extra arguments for the agent.
    pub command: Vec<String>,
    pub agent: Option<AgentKind>,
    pub env: Vec<(String, String)>,
    pub label: Option<String>,
    /// With `agent`: resume this session of the agent's (its own resume, not a new session).
    pub resume: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewSpec {
    pub name: Option<String>,
    pub pane: PaneSpec,
    /// `pair`: Claude Code on the left, Codex on the right, in the same directory.
    pub pair: bool,
    /// Size for a detached session (no client yet).
    pub cols: u16,
    pub rows: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplitDirection {
    Right,
    Down,
}

/// What `sbx web` asks of the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WebOp {
    /// Listen (if not yet; `addr` or the config's, with `tls` or the config's) and give a
    /// new login link.
    Start {
        addr: Option<String>,
        tls: Option<WebTls>,
    },
    /// The browsers logged in.
    Sessions,
    /// End one browser session by its id, or (None) all of them and every unused link.
    Revoke {
        id: Option<String>,
    },
    Stop,
}

/// The certificate the web endpoint serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebTls {
    /// Made on first use and kept in sbx's data folder (the same at every start).
    SelfSigned,
    /// The user's PEM files (absolute paths).
    Files { cert: String, key: String },
}

/// A browser logged in to the web endpoint (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebSession {
    pub id: String,
    pub created: String,
    pub agent: String,
    pub address: String,
}

/// What the web endpoint is doing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebReport {
    /// Where it listens (None: it is not running).
    pub addr: Option<String>,
    /// A fresh login link (only from `Start`).
    pub url: Option<String>,
    pub sessions: Vec<WebSession>,
    /// How many sessions and links a `Revoke` ended.
    pub revoked: usize,
    /// The served certificate's SHA-256 (`AB:CD:…`), when it speaks TLS.
    pub fingerprint: Option<String>,
    /// Its public key's SHA-256 (`sha256//BASE64`, for `curl --pinnedpubkey`).
    pub pin: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    Ping,
    New(NewSpec),
    List,
    Split {
        target: Option<String>,
        direction: SplitDirection,
        pane: PaneSpec,
    },
    NewTab {
        target: Option<String>,
        pane: PaneSpec,
    },
    SendKeys {
        target: String,
        text: String,
        keys: Vec<String>,
        enter: bool,
    },
    Capture {
        target: String,
        scrollback: usize,
    },
    Kill {
        target: String,
    },
    /// Stop the server; its structure is kept for `Restore` unless `forget`.
    KillServer {
        forget: bool,
    },
    /// Rebuild the sessions of the kept snapshot beside those that run.
    Restore,
    /// Read config.toml, keymap.toml and theme.toml again.
    Reload,
    Detach {
        target: Option<String>,
    },
    Label {
        target: String,
        label: String,
    },
    /// The web endpoint: start it (and get a login link), list or revoke its sessions, stop it.
    Web(WebOp),
    /// Zoom a pane in its tab (or, `on` false, unzoom its tab).
    Zoom {
        target: String,
        on: bool,
    },
    /// From `sbx hook AGENT EVENT`: inside a pane (`pane` from SBX_PANE_ID), or from an agent
    /// started outside sbx (None).
    Hook {
        pane: Option<String>,
        agent: String,
        hook: HookEvent,
    },
    /// Type a prompt into an agent pane and submit it once it shows.
    AgentPrompt {
        target: String,
        text: String,
        queue: bool,
    },
    AgentKey {
        target: String,
        key: AgentKey,
    },
    /// Answer once the agent is in `until` ("idle" or "waiting"), or time out.
    AgentWait {
        target: String,
        until: String,
        timeout_ms: u64,
    },
    /// One prompt to many agents: typed into each idle one, queued for each busy one;
    /// answered with what became of it in each pane.
    AgentPromptMany {
        agents: AgentSelection,
        text: String,
    },
    RenameSession {
        target: String,
        name: String,
    },
    RenameTab {
        target: String,
        name: String,
    },
    /// Two panes change places (in one tab or across tabs and sessions).
    SwapPane {
        source: String,
        target: String,
    },
    /// Take a pane out of its tab and put it beside `target` (`None`: into a new tab of its
    /// own session).
    MovePane {
        source: String,
        target: Option<String>,
        direction: SplitDirection,
    },
    /// Lay a tab's panes out afresh.
    Layout {
        target: String,
        preset: LayoutPreset,
    },
    /// Announce a pane's agent or not (`on`: muted).
    Mute {
        target: String,
        on: bool,
    },
}

/// Which agents a prompt goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentSelection {
    Targets(Vec<String>),
    All,
    Kind(AgentKind),
}

/// What became of a prompt in one pane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptOutcome {
    pub pane: String,
    pub label: Option<String>,
    /// "typed", "queued" or "failed".
    pub outcome: String,
    /// Why it failed.
    pub error: Option<Error>,
}

/// tmux's layouts: every pane side by side, stacked, the focused pane large with the rest
/// beside or below it, or a grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LayoutPreset {
    EvenHorizontal,
    EvenVertical,
    MainVertical,
    MainHorizontal,
    Tiled,
}

impl LayoutPreset {
    pub const ALL: [LayoutPreset; 5] = [
        LayoutPreset::EvenHorizontal,
        LayoutPreset::EvenVertical,
        LayoutPreset::MainVertical,
        LayoutPreset::MainHorizontal,
        LayoutPreset::Tiled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LayoutPreset::EvenHorizontal => "even-horizontal",
            LayoutPreset::EvenVertical => "even-vertical",
            LayoutPreset::MainVertical => "main-vertical",
            LayoutPreset::MainHorizontal => "main-horizontal",
            LayoutPreset::Tiled => "tiled",
        }
    }

    pub fn from_name(name: &str) -> Option<LayoutPreset> {
        LayoutPreset::ALL.into_iter().find(|p| p.name() == name)
    }
}

// A message lives only from its decoding to its handling: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ServerMsg {
    /// The attached client should restore its terminal and exit, printing this.
    Exit(String),
    Reply(Reply),
    Error(Error),
    /// The answer to a `ClientMsg::Bridge`: JSON text, or why not.
    Bridge {
        call: u64,
        result: Result<String, Error>,
    },
    /// The server is handing over to the binary `exe` (a live upgrade): the attached client
    /// becomes that binary, attached to `session` again, its terminal left as it is.
    Upgrading {
        exe: PathBuf,
        session: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply {
    Pong {
        pid: u32,
        version: String,
    },
    Done,
    Created {
        session: String,
        pane: String,
    },
    Pane(PaneInfo),
    List(Vec<SessionInfo>),
    Capture(Vec<String>),
    Agent(AgentInfo),
    Queued,
    Detached(usize),
    Web(WebReport),
    /// The config was read again; what in it was ignored (the old settings kept for it).
    Reloaded {
        warnings: Vec<String>,
    },
    /// What a restore brought back: sessions, panes.
    Restored {
        sessions: usize,
        panes: usize,
    },
    /// A bridge answer (JSON text).
    Bridge(String),
    /// What became of one prompt in each pane it went to.
    Prompted(Vec<PromptOutcome>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub name: String,
    pub clients: usize,
    pub tabs: Vec<TabInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabInfo {
    pub index: usize,
    pub name: String,
    pub active: bool,
    /// Its active pane is zoomed over the rest.
    pub zoomed: bool,
    /// The layout preset it was last given (`sbx layout`), if any.
    #[serde(default)]
    pub layout: Option<String>,
    pub panes: Vec<PaneInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaneInfo {
    pub id: String,
    pub session: String,
    pub tab: usize,
    pub label: Option<String>,
    pub title: String,
    pub command: Vec<String>,
    pub cwd: String,
    pub cols: u16,
    pub rows: u16,
    pub pid: Option<u32>,
    pub alive: bool,
    pub active: bool,
    /// Its agent is never announced (`sbx mute`).
    #[serde(default)]
    pub muted: bool,
    pub agent: Option<AgentInfo>,
}

/// A message as one frame: its length, then its body.
pub fn encode<T: Serialize>(msg: &T) -> std::io::Result<Vec<u8>> {
    let body = postcard::to_stdvec(msg).map_err(std::io::Error::other)?;
    // Refused here rather than sent with a length the reader refuses (or, past 4 GiB, a
    // length that wraps and desynchronises the stream).
    if body.len() > MAX_FRAME {
        return Err(too_large(body.len()));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// The error for a frame over [`MAX_FRAME`]; `is_too_large` recognises it.
fn too_large(len: usize) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("a frame of {len} bytes is over the limit of {MAX_FRAME}"),
    )
}

pub fn is_too_large(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::InvalidData && e.to_string().contains("is over the limit of")
}

fn frame_len(len: [u8; 4], max: usize) -> std::io::Result<usize> {
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("frame of {len} bytes")));
    }
    Ok(len)
}

/// Room for a frame of `len` bytes, grown as its bytes arrive (see READ_CHUNK).
fn body_buffer(len: usize) -> Vec<u8> {
    Vec::with_capacity(len.min(READ_CHUNK))
}

fn short_frame() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the peer closed the connection inside a frame")
}

fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> std::io::Result<T> {
    postcard::from_bytes(body).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

pub async fn write_frame<W, T>(writer: &mut W, msg: &T) -> std::io::Result<()>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    writer.write_all(&encode(msg)?).await?;
    writer.flush().await
}

/// Read one frame; `Ok(None)` on a clean end of stream between frames.
pub async fn read_frame<R, T>(reader: &mut R) -> std::io::Result<Option<T>>
where
    R: AsyncRead + Unpin,
    T: for<'de> Deserialize<'de>,
{
    read_frame_up_to(reader, MAX_FRAME).await
}

/// Read a connection's first frame, which must be a small `Hello`.
pub async fn read_hello<R: AsyncRead + Unpin>(reader: &mut R) -> std::io::Result<Option<Hello>> {
    read_frame_up_to(reader, MAX_HELLO).await
}

async fn read_frame_up_to<R, T>(reader: &mut R, max: usize) -> std::io::Result<Option<T>>
where
    R: AsyncRead + Unpin,
    T: for<'de> Deserialize<'de>,
{
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = frame_len(len, max)?;
    let mut body = body_buffer(len);
    (&mut *reader).take(len as u64).read_to_end(&mut body).await?;
    if body.len() != len {
        return Err(short_frame());
    }
    decode(&body).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let key = Command::SendKeys { target: "%1".into(), text: "x".into(), keys: vec!["C-M-x".into()], enter: true };
        write_frame(&mut a, &ClientMsg::Command(key)).await.unwrap();
        write_frame(&mut a, &ClientMsg::Resize { cols: 80, rows: 24 }).await.unwrap();
        drop(a);
        match read_frame::<_, ClientMsg>(&mut b).await.unwrap() {
            Some(ClientMsg::Command(Command::SendKeys { keys, enter: true, .. })) => assert_eq!(keys, ["C-M-x"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read_frame::<_, ClientMsg>(&mut b).await.unwrap(),
            Some(ClientMsg::Resize { cols: 80, rows: 24 })
        ));
        assert!(read_frame::<_, ClientMsg>(&mut b).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn oversized_and_garbage_frames_are_errors_not_panics() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        assert!(read_frame::<_, ClientMsg>(&mut b).await.is_err());
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff]).await.unwrap();
        assert!(read_frame::<_, ClientMsg>(&mut b).await.is_err());
    }

    #[tokio::test]
    async fn a_hello_is_small_and_a_frame_that_never_comes_costs_little() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&1000u32.to_be_bytes()).await.unwrap();
        assert!(read_hello(&mut b).await.is_err(), "a hello of 1000 bytes is not a hello");
        // A peer announcing 64 MiB and sending 10 bytes: an error, and the buffer held meanwhile
        // is the chunk, not the announced length.
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&(MAX_FRAME as u32).to_be_bytes()).await.unwrap();
        a.write_all(&[1; 10]).await.unwrap();
        drop(a);
        let err = read_frame::<_, ClientMsg>(&mut b).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        assert!(body_buffer(MAX_FRAME).capacity() <= READ_CHUNK);
    }

    #[test]
    fn an_oversized_message_is_refused_before_anything_is_written() {
        let mut out = Vec::new();
        let big = ServerMsg::Exit("x".repeat(MAX_FRAME + 1));
        let err = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(write_frame(&mut out, &big))
            .unwrap_err();
        assert!(is_too_large(&err), "{err}");
        assert!(out.is_empty(), "no truncated length went out");
    }
}
