//! The command line as clap sees it: every command, flag and argument, with its help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::{agent, messages};

#[derive(Parser)]
#[command(name = "sbx", version, about = "A terminal multiplexer for coding agents")]
pub struct Cli {
    /// Print one JSON document on stdout (an error too: {error, next, code, exit}).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Start a new session (and attach to it unless -d).
    New(NewArgs),
    /// Attach to a session (the most recent one by default).
    Attach {
        /// The target: SESSION, SESSION:TAB, a pane id (%3) or a pane label.
        #[arg(short = 't', long)]
        target: Option<String>,
        /// Watch only: keys change nothing (but detach, help, sidebar), and this terminal's
        /// size does not shrink the session for the others.
        #[arg(short = 'r', long)]
        read_only: bool,
    },
    /// Detach every client of a session (this pane's session, or the most recent one).
    Detach {
        /// The target: SESSION, SESSION:TAB, a pane id (%3) or a pane label.
        #[arg(short = 't', long)]
        target: Option<String>,
    },
    /// List sessions, tabs and panes.
    Ls,
    /// Split a pane and print the new pane's id.
    Split(SplitArgs),
    /// Open a new tab in a session and print its pane's id.
    NewTab {
        /// The session to add the tab to (default: this pane's, or the most recent one).
        #[arg(short = 't', long)]
        target: Option<String>,
        /// The new pane's working directory (default: the active pane's).
        #[arg(short = 'c', long = "dir", visible_alias = "cwd")]
        dir: Option<PathBuf>,
        /// A unique name to address the new pane by.
        #[arg(long)]
        label: Option<String>,
        /// The program to run (default: your shell).
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Type text (and named keys) into a pane.
    SendKeys {
        /// The pane to type into.
        #[arg(short = 't', long)]
        target: String,
        /// Press Enter after the text.
        #[arg(long)]
        enter: bool,
        /// A named key to press after the text: Enter, Esc, C-c, Up, F5… (repeatable).
        #[arg(long = "key")]
        keys: Vec<String>,
        /// The text to type (its words joined by spaces).
        text: Vec<String>,
    },
    /// Print a pane's text as a user sees it.
    Capture {
        /// The pane to print.
        #[arg(short = 't', long)]
        target: String,
        /// Include up to N lines of history above the screen.
        #[arg(long, default_value_t = 0)]
        scrollback: usize,
    },
    /// Close a pane, a tab (SESSION:TAB) or a whole session.
    Kill {
        /// The target: SESSION, SESSION:TAB, a pane id (%3) or a pane label.
        #[arg(short = 't', long)]
        target: String,
    },
    /// Hand every pane to this sbx binary, in place (after installing a new version): panes,
    /// their processes, screens and scrollback stay; attached clients follow by themselves.
    Upgrade {
        /// Hand over to this sbx binary instead of the one running this command.
        #[arg(long, value_name = "PATH")]
        to: Option<PathBuf>,
    },
    /// Stop the server and every pane in it (its layout is kept for `sbx restore`).
    KillServer {
        /// Keep nothing for `sbx restore`.
        #[arg(long)]
        forget: bool,
    },
    /// Read config.toml, keymap.toml and theme.toml again; panes are kept (a broken file
    /// keeps the settings it would have replaced).
    Reload,
    /// Bring back the sessions of the last server (kept by `kill-server`, or after a crash
    /// with `restore = "ask"`): layouts, directories, labels, agents resumed.
    Restore {
        /// Show what would come back, and start nothing.
        #[arg(long)]
        list: bool,
    },
    /// Give a pane a unique label, usable as a target.
    Label {
        /// The pane to label.
        #[arg(short = 't', long)]
        target: String,
        /// Letters, digits, '-', '_' or '.', unique, not a session name.
        label: String,
    },
    /// Serve the panes to a browser (HTTP + WebSocket on loopback) and print a one-time
    /// login link; `sbx web tokens` lists and revokes, `sbx web stop` stops.
    Web {
        /// Listen here (default: config.toml's web.addr, 127.0.0.1:7681). Anything but
        /// loopback needs TLS.
        #[arg(long, value_name = "HOST:PORT")]
        addr: Option<String>,
        #[command(flatten)]
        tls: super::web::TlsArgs,
        #[command(subcommand)]
        action: Option<super::web::WebCmd>,
    },
    /// Zoom a pane over the rest of its tab (as prefix z does), or give the tab back its layout.
    Zoom {
        /// The pane to zoom.
        #[arg(short = 't', long)]
        target: String,
        /// Unzoom the pane's tab instead.
        #[arg(long)]
        off: bool,
    },
    /// Rename a session (prefix $ does it from the keyboard).
    RenameSession {
        /// The session (or anything in it: SESSION:TAB, a pane).
        #[arg(short = 't', long)]
        target: String,
        /// Letters, digits, '-', '_' or '.'; no other session may have it.
        name: String,
    },
    /// Rename a tab (prefix , does it from the keyboard).
    RenameTab {
        /// The tab: SESSION:TAB, a pane in it, or a session (its shown tab).
        #[arg(short = 't', long)]
        target: String,
        /// Letters, digits, '-', '_' or '.'.
        name: String,
    },
    /// Swap two panes (in one tab, or across tabs and sessions).
    SwapPane {
        /// One pane.
        #[arg(short = 's', long)]
        source: String,
        /// The other.
        #[arg(short = 't', long)]
        target: String,
    },
    /// Move a pane beside another (into its tab), or with no -t into a new tab of its own.
    MovePane {
        /// The pane to move.
        #[arg(short = 's', long)]
        source: String,
        /// The pane to put it beside.
        #[arg(short = 't', long)]
        target: Option<String>,
        /// Below the target rather than on its right.
        #[arg(long)]
        down: bool,
    },
    /// Lay a tab's panes out afresh: even-horizontal, even-vertical, main-vertical,
    /// main-horizontal or tiled (the focused pane is the main one).
    Layout {
        /// The tab: SESSION:TAB, a pane in it, or a session (its shown tab).
        #[arg(short = 't', long)]
        target: String,
        /// The layout: even-horizontal, even-vertical, main-vertical, main-horizontal or tiled.
        #[arg(value_parser = ["even-horizontal", "even-vertical", "main-vertical", "main-horizontal", "tiled"])]
        preset: String,
    },
    /// Stop announcing a pane's agent (bell, desktop notification, notify command).
    Mute {
        /// The pane.
        #[arg(short = 't', long)]
        target: String,
        /// Announce it again.
        #[arg(long)]
        off: bool,
    },
    /// Check the user's config, keymap and theme files.
    Config {
        /// What to do with the config.
        #[command(subcommand)]
        action: ConfigCmd,
    },
    /// Drive an agent pane: prompt, confirm, cancel, select, wait.
    Agent {
        /// What to do with the agent.
        #[command(subcommand)]
        action: agent::AgentCmd,
    },
    /// Report an agent hook to the server (installed by `sbx init`; reads the hook's JSON on stdin).
    #[command(hide = true)]
    Hook {
        /// The agent the hook belongs to (claude, codex).
        agent: String,
        /// The hook's event (SessionStart, Stop…).
        event: String,
    },
    /// Install sbx's hooks into the agents' user config (no flag: the agents found on PATH).
    Init {
        /// The agent to install for (repeatable; default: the agents on PATH).
        #[arg(long = "provider", value_enum, conflicts_with_all = ["all", "list"])]
        providers: Vec<crate::protocol::AgentKind>,
        /// Install for every agent sbx supports, on PATH or not (for an agent installed later).
        #[arg(long, conflicts_with = "list")]
        all: bool,
        /// Only list the agents sbx supports: which are on PATH, which have sbx installed.
        #[arg(long)]
        list: bool,
    },
    /// Remove exactly what `sbx init` added.
    Uninstall {
        /// The agent to remove sbx's entries from (repeatable).
        #[arg(long = "provider", value_enum, required = true)]
        providers: Vec<crate::protocol::AgentKind>,
    },
    /// Report what is installed, what is missing and what to run.
    Doctor,
    /// The MCP server an agent CLI starts (stdio); it speaks for the pane it runs in.
    Mcp {
        /// The server's socket (sbx passes it in the MCP entries it gives agents it launches).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// Messages between agents (and you): send, inbox, read, broadcast…
    Msg {
        /// Act as this pane (pane id, label or session id); only from outside panes.
        #[arg(long = "as", global = true)]
        as_pane: Option<String>,
        /// What to do with messages.
        #[command(subcommand)]
        action: messages::MsgCmd,
    },
    /// Channels: join, leave, list, post.
    Channel {
        /// Act as this pane (pane id, label or session id); only from outside panes.
        #[arg(long = "as", global = true)]
        as_pane: Option<String>,
        /// What to do with channels.
        #[command(subcommand)]
        action: messages::ChannelCmd,
    },
    /// Search the messages you sent or received.
    Search {
        /// Words to find in subjects and bodies (all of them must appear).
        query: String,
        /// At most this many messages.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Act as this pane (pane id, label or session id); only from outside panes.
        #[arg(long = "as")]
        as_pane: Option<String>,
    },
    /// Artifacts: content-addressed files to attach to messages.
    Artifact {
        /// Act as this pane (pane id, label or session id); only from outside panes.
        #[arg(long = "as", global = true)]
        as_pane: Option<String>,
        /// What to do with artifacts.
        #[command(subcommand)]
        action: messages::ArtifactCmd,
    },
    /// Run the server in the foreground (sbx starts it on its own when needed).
    #[command(hide = true)]
    Server {
        /// Take over the panes a server before this one handed over (a live upgrade): the
        /// memfd holding them.
        #[arg(long)]
        adopt: Option<i32>,
        /// Print the live-upgrade handoff format this binary reads, and exit.
        #[arg(long)]
        handoff_format: bool,
    },
    /// Run a relay: the mailbox server for sealed sessions (stores ciphertext only).
    Relay(RelayArgs),
    /// Your sharing identity (created on first use) and its echo-id; publishes it to the relay.
    Id {
        /// Use this existing unencrypted ed25519 SSH key.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Friends you send sessions to: add NAME ECHO-ID, list, rm NAME.
    Friend {
        /// What to do with friends.
        #[command(subcommand)]
        action: super::friend::FriendCmd,
    },
    /// Agent sessions on this machine, newest first.
    Sessions {
        /// Only this agent's sessions.
        #[arg(long, value_enum)]
        tool: Option<crate::share::sessions::Tool>,
        /// At most this many sessions.
        #[arg(long, default_value_t = 20, alias = "n")]
        limit: usize,
    },
    /// Seal an agent session for a friend and drop it in their mailbox on the relay.
    Send {
        /// The friend to send to (as named with sbx friend add).
        friend: String,
        /// The session id (or a unique prefix); default: this pane's agent, else this directory's newest.
        session: Option<String>,
    },
    /// Sessions waiting for you on the relay (each sender's signature checked).
    Inbox,
    /// Open a session sent to you: check it, install it where its agent resumes it.
    Open {
        /// The blob id (or a unique prefix); default: the newest.
        id: Option<String>,
        /// The directory to resume in (Claude Code keys sessions by directory); default: here.
        #[arg(short = 'c', long = "dir", visible_alias = "cwd")]
        dir: Option<PathBuf>,
        /// Accept a sender who is not a friend (the signature is still checked).
        #[arg(long)]
        allow_unknown: bool,
        /// Run the agent's resume command afterwards.
        #[arg(long)]
        resume: bool,
        /// Replace a different file already at the destination.
        #[arg(long)]
        force: bool,
    },
    /// Print sbx's version.
    Version,
    /// Print a shell's completion script for sbx (source it from your shell's startup file).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print sbx's manual page (roff): sbx man | man -l -
    Man,
}

#[derive(Args)]
pub struct RelayArgs {
    /// Address to listen on (port 0: any free port; the first line of output says which).
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub addr: std::net::SocketAddr,
    /// The SQLite store (default: relay/relay.db in sbx's data folder).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// How long a blob is kept, in seconds.
    #[arg(long, default_value_t = 24 * 3600)]
    pub ttl: u64,
    /// Largest blob accepted, in bytes.
    #[arg(long, default_value_t = 25 * 1024 * 1024)]
    pub max_blob_size: u64,
    /// Posts per minute per client address (0: unlimited).
    #[arg(long, default_value_t = 10)]
    pub rate_limit: u32,
    /// Challenges and key registrations per minute per client address (0: unlimited).
    #[arg(long, default_value_t = 60)]
    pub challenge_limit: u32,
    /// Take the client address from this header (only behind a proxy you trust).
    #[arg(long)]
    pub trust_proxy_header: Option<String>,
    /// Seconds between sweeps of expired blobs.
    #[arg(long, default_value_t = 60, hide = true)]
    pub sweep_every: u64,
    /// Seconds a challenge's nonce stays usable.
    #[arg(long, default_value_t = 60, hide = true)]
    pub nonce_ttl: u64,
    /// Blobs one mailbox may hold at once, from all senders (0: unlimited).
    #[arg(long, default_value_t = 100)]
    pub mailbox_max_blobs: u64,
    /// Bytes one mailbox may hold at once, from all senders (0: unlimited).
    #[arg(long, default_value_t = 512 * 1024 * 1024)]
    pub mailbox_max_bytes: u64,
    /// Connections one client address may hold at once (0: unlimited; set 0 behind a proxy,
    /// where every client has the proxy's address).
    #[arg(long, default_value_t = 32)]
    pub max_connections_per_ip: usize,
    /// Seconds a stop (SIGTERM) waits for requests under way before it ends them.
    #[arg(long, default_value_t = 10)]
    pub shutdown_grace: u64,
}

#[derive(Subcommand)]
pub enum ConfigCmd {
    /// Report what in the user's files would be ignored, and why.
    Check,
}

#[derive(Args)]
pub struct NewArgs {
    /// The session's name (default: main, then 2, 3…).
    #[arg(short = 's', long = "session")]
    pub name: Option<String>,
    /// Do not attach.
    #[arg(short = 'd', long)]
    pub detached: bool,
    /// The first pane's working directory (default: here).
    #[arg(short = 'c', long = "dir", visible_alias = "cwd")]
    pub dir: Option<PathBuf>,
    /// Label for the first pane.
    #[arg(long)]
    pub label: Option<String>,
    /// Size of a detached session (default 80x24 or this terminal's).
    #[arg(long, value_parser = parse_size)]
    pub size: Option<(u16, u16)>,
    /// Run an agent in the first pane; arguments after -- go to the agent.
    #[arg(long, value_enum)]
    pub agent: Option<crate::protocol::AgentKind>,
    /// Resume this session of the agent's (`claude --resume ID`, `codex resume ID`).
    #[arg(long, value_name = "ID", requires = "agent")]
    pub resume: Option<String>,
    /// `pair`: Claude Code on the left, Codex on the right, in the same directory.
    #[arg(long, value_parser = ["pair"])]
    pub layout: Option<String>,
    /// The program to run (default: your shell), or the agent's extra arguments.
    #[arg(last = true)]
    pub command: Vec<String>,
}

#[derive(Args)]
pub struct SplitArgs {
    /// The pane to split (default: this pane, or the active pane of the most recent session).
    #[arg(short = 't', long)]
    pub target: Option<String>,
    /// The new pane on the right (the default).
    #[arg(long, conflicts_with = "down")]
    pub right: bool,
    /// The new pane below.
    #[arg(long)]
    pub down: bool,
    /// The new pane's working directory (default: the split pane's).
    #[arg(short = 'c', long = "dir", visible_alias = "cwd")]
    pub dir: Option<PathBuf>,
    /// A unique name to address the new pane by.
    #[arg(long)]
    pub label: Option<String>,
    /// Run an agent; arguments after -- go to the agent.
    #[arg(long, value_enum)]
    pub agent: Option<crate::protocol::AgentKind>,
    /// Resume this session of the agent's (`claude --resume ID`, `codex resume ID`).
    #[arg(long, value_name = "ID", requires = "agent")]
    pub resume: Option<String>,
    /// The program to run (default: your shell), or the agent's extra arguments.
    #[arg(last = true)]
    pub command: Vec<String>,
}

pub fn parse_size(s: &str) -> Result<(u16, u16), String> {
    let (w, h) = s.split_once('x').ok_or("size is COLSxROWS, e.g. 200x50")?;
    let w: u16 = w.parse().map_err(|_| "size is COLSxROWS, e.g. 200x50")?;
    let h: u16 = h.parse().map_err(|_| "size is COLSxROWS, e.g. 200x50")?;
    if !(10..=1000).contains(&w) || !(5..=1000).contains(&h) {
        return Err("size must be between 10x5 and 1000x1000".into());
    }
    Ok((w, h))
}
