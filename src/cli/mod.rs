//! The command line: parse, dispatch, print. One file per concern below.

mod agent;
mod messages;
pub mod output;
mod share;
mod show;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::paths::Paths;
use crate::connect;
use crate::protocol::{AttachRequest, Command, NewSpec, PaneSpec, Reply, SplitDirection};
use output::{errln, outln, report, CliResult, Error};

#[derive(Parser)]
#[command(name = "sbx", version, about = "A terminal multiplexer for coding agents", disable_help_subcommand = true)]
struct Cli {
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start a new session (and attach to it unless -d).
    New(NewArgs),
    /// Attach to a session (the most recent one by default).
    Attach {
        #[arg(short = 't', long)]
        target: Option<String>,
    },
    /// Detach every client of a session (this pane's session, or the most recent one).
    Detach {
        #[arg(short = 't', long)]
        target: Option<String>,
    },
    /// List sessions, tabs and panes.
    Ls,
    /// Split a pane and print the new pane's id.
    Split(SplitArgs),
    /// Open a new tab in a session and print its pane's id.
    NewTab {
        #[arg(short = 't', long)]
        target: Option<String>,
        #[arg(short = 'c', long)]
        cwd: Option<PathBuf>,
        /// A unique name to address the new pane by.
        #[arg(long)]
        label: Option<String>,
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Type text (and named keys) into a pane.
    SendKeys {
        #[arg(short = 't', long)]
        target: String,
        /// Press Enter after the text.
        #[arg(long)]
        enter: bool,
        /// A named key to press after the text: Enter, Esc, C-c, Up, F5… (repeatable).
        #[arg(long = "key")]
        keys: Vec<String>,
        text: Vec<String>,
    },
    /// Print a pane's text as a user sees it.
    Capture {
        #[arg(short = 't', long)]
        target: String,
        /// Include up to N lines of history above the screen.
        #[arg(long, default_value_t = 0)]
        scrollback: usize,
    },
    /// Close a pane, a tab (SESSION:TAB) or a whole session.
    Kill {
        #[arg(short = 't', long)]
        target: String,
    },
    /// Stop the server and every pane in it.
    KillServer,
    /// Give a pane a unique label, usable as a target.
    Label {
        #[arg(short = 't', long)]
        target: String,
        label: String,
    },
    /// Check the user's config, keymap and theme files.
    Config {
        #[command(subcommand)]
        action: ConfigCmd,
    },
    /// Drive an agent pane: prompt, confirm, cancel, select, wait.
    Agent {
        #[command(subcommand)]
        action: agent::AgentCmd,
    },
    /// Report an agent hook to the server (installed by `sbx init`; reads the hook's JSON on stdin).
    #[command(hide = true)]
    Hook { agent: String, event: String },
    /// Install sbx's hooks into the agents' user config (no flag: the agents found on PATH).
    Init {
        #[arg(long = "provider", value_enum)]
        providers: Vec<crate::agents::AgentKind>,
    },
    /// Remove exactly what `sbx init` added.
    Uninstall {
        #[arg(long = "provider", value_enum, required = true)]
        providers: Vec<crate::agents::AgentKind>,
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
        #[command(subcommand)]
        action: messages::MsgCmd,
    },
    /// Channels: join, leave, list, post.
    Channel {
        #[arg(long = "as", global = true)]
        as_pane: Option<String>,
        #[command(subcommand)]
        action: messages::ChannelCmd,
    },
    /// Search the messages you sent or received.
    Search {
        query: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long = "as")]
        as_pane: Option<String>,
    },
    /// Artifacts: content-addressed files to attach to messages.
    Artifact {
        #[arg(long = "as", global = true)]
        as_pane: Option<String>,
        #[command(subcommand)]
        action: messages::ArtifactCmd,
    },
    /// Run the server in the foreground (sbx starts it on its own when needed).
    #[command(hide = true)]
    Server,
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
        #[command(subcommand)]
        action: share::FriendCmd,
    },
    /// Agent sessions on this machine, newest first.
    Sessions {
        #[arg(long, value_enum)]
        tool: Option<crate::share::sessions::Tool>,
        #[arg(long, default_value_t = 20)]
        n: usize,
    },
    /// Seal an agent session for a friend and drop it in their mailbox on the relay.
    Send { friend: String, session: Option<String> },
    /// Sessions waiting for you on the relay (each sender's signature checked).
    Inbox,
    /// Open a session sent to you: check it, install it where its agent resumes it.
    Open {
        /// The blob id (or a unique prefix); default: the newest.
        id: Option<String>,
        /// The directory to resume in (Claude Code keys sessions by directory); default: here.
        #[arg(long)]
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
}

#[derive(Args)]
struct RelayArgs {
    /// Address to listen on (port 0: any free port; the first line of output says which).
    #[arg(long, default_value = "127.0.0.1:8787")]
    addr: std::net::SocketAddr,
    /// The SQLite store (default: relay/relay.db in sbx's data folder).
    #[arg(long)]
    db: Option<PathBuf>,
    /// How long a blob is kept, in seconds.
    #[arg(long, default_value_t = 24 * 3600)]
    ttl: u64,
    /// Largest blob accepted, in bytes.
    #[arg(long, default_value_t = 25 * 1024 * 1024)]
    max_blob_size: u64,
    /// Posts per minute per client address (0: unlimited).
    #[arg(long, default_value_t = 10)]
    rate_limit: u32,
    /// Challenges and key registrations per minute per client address (0: unlimited).
    #[arg(long, default_value_t = 60)]
    challenge_limit: u32,
    /// Take the client address from this header (only behind a proxy you trust).
    #[arg(long)]
    trust_proxy_header: Option<String>,
    /// Seconds between sweeps of expired blobs.
    #[arg(long, default_value_t = 60, hide = true)]
    sweep_every: u64,
    /// Seconds a challenge's nonce stays usable.
    #[arg(long, default_value_t = 60, hide = true)]
    nonce_ttl: u64,
    /// Blobs one mailbox may hold at once, from all senders (0: unlimited).
    #[arg(long, default_value_t = 100)]
    mailbox_max_blobs: u64,
    /// Bytes one mailbox may hold at once, from all senders (0: unlimited).
    #[arg(long, default_value_t = 512 * 1024 * 1024)]
    mailbox_max_bytes: u64,
    /// Connections one client address may hold at once (0: unlimited; set 0 behind a proxy,
    /// where every client has the proxy's address).
    #[arg(long, default_value_t = 32)]
    max_connections_per_ip: usize,
    /// Seconds a stop (SIGTERM) waits for requests under way before it ends them.
    #[arg(long, default_value_t = 10)]
    shutdown_grace: u64,
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Report what in the user's files would be ignored, and why.
    Check,
}

#[derive(Args)]
struct NewArgs {
    #[arg(short = 's', long = "session")]
    name: Option<String>,
    /// Do not attach.
    #[arg(short = 'd', long)]
    detached: bool,
    #[arg(short = 'c', long)]
    cwd: Option<PathBuf>,
    /// Label for the first pane.
    #[arg(long)]
    label: Option<String>,
    /// Size of a detached session (default 80x24 or this terminal's).
    #[arg(long, value_parser = parse_size)]
    size: Option<(u16, u16)>,
    /// Run an agent in the first pane; arguments after -- go to the agent.
    #[arg(long, value_enum)]
    agent: Option<crate::agents::AgentKind>,
    /// `pair`: Claude Code on the left, Codex on the right, in the same directory.
    #[arg(long, value_parser = ["pair"])]
    layout: Option<String>,
    #[arg(last = true)]
    command: Vec<String>,
}

#[derive(Args)]
struct SplitArgs {
    #[arg(short = 't', long)]
    target: Option<String>,
    #[arg(long, conflicts_with = "down")]
    right: bool,
    #[arg(long)]
    down: bool,
    #[arg(short = 'c', long)]
    cwd: Option<PathBuf>,
    #[arg(long)]
    label: Option<String>,
    /// Run an agent; arguments after -- go to the agent.
    #[arg(long, value_enum)]
    agent: Option<crate::agents::AgentKind>,
    #[arg(last = true)]
    command: Vec<String>,
}

fn parse_size(s: &str) -> Result<(u16, u16), String> {
    let (w, h) = s.split_once('x').ok_or("size is COLSxROWS, e.g. 200x50")?;
    let w: u16 = w.parse().map_err(|_| "size is COLSxROWS, e.g. 200x50")?;
    let h: u16 = h.parse().map_err(|_| "size is COLSxROWS, e.g. 200x50")?;
    if !(10..=1000).contains(&w) || !(5..=1000).contains(&h) {
        return Err("size must be between 10x5 and 1000x1000".into());
    }
    Ok((w, h))
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let json = cli.json;
    let paths = match Paths::resolve() {
        Ok(p) => p,
        Err(e) => {
            report(&Error::from(e), json);
            return 1;
        }
    };
    if let Some(Cmd::Server) = cli.command {
        return match crate::server::run(paths) {
            Ok(()) => 0,
            Err(e) => {
                errln!("sbx server: {e:#}");
                1
            }
        };
    }
    if let Some(Cmd::Relay(args)) = cli.command {
        return run_relay(args, &paths);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            report(&Error::from(e), json);
            return 1;
        }
    };
    match runtime.block_on(dispatch(cli.command, json, &paths)) {
        Ok(()) => 0,
        Err(e) => {
            report(&e, json);
            e.exit.max(1) as i32
        }
    }
}

/// The relay serves many clients at once: it gets a runtime with a thread per core.
fn run_relay(args: RelayArgs, paths: &Paths) -> i32 {
    if args.sweep_every == 0 || args.ttl == 0 {
        report(
            &Error::new("usage", "--ttl and --sweep-every must be at least 1 second", "pass a positive number"),
            false,
        );
        return 1;
    }
    let options = crate::relay::RelayOptions {
        addr: args.addr,
        db: args.db.unwrap_or_else(|| paths.data.join("relay").join("relay.db")),
        limits: crate::relay::api::Limits {
            ttl_secs: args.ttl,
            max_blob: args.max_blob_size,
            posts_per_minute: args.rate_limit,
            challenges_per_minute: args.challenge_limit,
            trust_proxy_header: args.trust_proxy_header.map(|h| h.to_ascii_lowercase()),
            nonce_ttl: std::time::Duration::from_secs(args.nonce_ttl),
            mailbox_max_blobs: args.mailbox_max_blobs,
            mailbox_max_bytes: args.mailbox_max_bytes,
        },
        serve: crate::relay::serve::ServeLimits {
            per_ip: args.max_connections_per_ip,
            grace: std::time::Duration::from_secs(args.shutdown_grace),
        },
        sweep_every: std::time::Duration::from_secs(args.sweep_every),
    };
    let _log = crate::log::init("info", None);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            report(&Error::from(e), false);
            return 1;
        }
    };
    let listening = |addr: std::net::SocketAddr| outln!("sbx relay: listening on http://{addr}");
    match runtime.block_on(crate::relay::run(options, listening)) {
        Ok(()) => 0,
        Err(e) => {
            report(&Error::new("relay_failed", format!("{e:#}"), "check the address and the store path"), false);
            1
        }
    }
}

fn absolute(dir: Option<PathBuf>) -> CliResult<Option<PathBuf>> {
    match dir {
        None => Ok(std::env::current_dir().ok()),
        Some(d) => {
            let abs = std::path::absolute(&d)?;
            if !abs.is_dir() {
                return Err(Error::new(
                    "not_a_directory",
                    format!("{} is not a directory", d.display()),
                    "pass an existing directory with -c DIR",
                ));
            }
            Ok(Some(abs))
        }
    }
}

async fn dispatch(command: Option<Cmd>, json: bool, paths: &Paths) -> CliResult {
    let cmd = match command {
        None => {
            // Plain `sbx`: attach to the most recent session, creating one if there is none.
            let stream = connect::connect_or_start(paths).await?;
            let create =
                NewSpec { pane: PaneSpec { cwd: absolute(None)?, ..Default::default() }, ..Default::default() };
            return attach(stream, AttachRequest { target: None, create: Some(create), cols: 0, rows: 0 }).await;
        }
        Some(cmd) => cmd,
    };
    match cmd {
        Cmd::New(args) => {
            let (cols, rows) = args.size.or_else(|| crossterm::terminal::size().ok()).unwrap_or((80, 24));
            let spec = NewSpec {
                name: args.name,
                pane: PaneSpec {
                    cwd: absolute(args.cwd)?,
                    command: args.command,
                    agent: if args.layout.is_some() { Some(crate::agents::AgentKind::Claude) } else { args.agent },
                    env: Vec::new(),
                    label: args.label,
                },
                pair: args.layout.is_some(),
                cols,
                rows,
            };
            let stream = connect::connect_or_start(paths).await?;
            let reply = connect::request(stream, Command::New(spec)).await?;
            let Reply::Created { session, pane } = reply else { return unexpected() };
            if args.detached {
                if json {
                    output::print_json(&serde_json::json!({ "session": session, "pane": pane }));
                } else {
                    outln!("{pane}");
                }
                return Ok(());
            }
            let stream = connect::connect_existing(paths).await?;
            attach(stream, AttachRequest { target: Some(session), create: None, cols: 0, rows: 0 }).await
        }
        Cmd::Attach { target } => {
            let stream = connect::connect_existing(paths).await?;
            attach(stream, AttachRequest { target, create: None, cols: 0, rows: 0 }).await
        }
        Cmd::Detach { target } => {
            let target = target.or_else(|| std::env::var("SBX_PANE_ID").ok());
            let reply = simple(paths, Command::Detach { target }).await?;
            if let Reply::Detached(n) = reply {
                if json {
                    output::print_json(&serde_json::json!({ "detached": n }));
                } else {
                    outln!("detached {n} client{}", if n == 1 { "" } else { "s" });
                }
            }
            Ok(())
        }
        Cmd::Ls => {
            let Reply::List(sessions) = simple(paths, Command::List).await? else { return unexpected() };
            if json {
                output::print_json(&sessions);
            } else {
                show::print_tree(&sessions);
            }
            Ok(())
        }
        Cmd::Split(args) => {
            let direction = if args.down { SplitDirection::Down } else { SplitDirection::Right };
            let target = args.target.or_else(|| std::env::var("SBX_PANE_ID").ok());
            let pane = PaneSpec {
                cwd: match args.cwd {
                    Some(_) => absolute(args.cwd)?,
                    None => None,
                },
                command: args.command,
                agent: args.agent,
                env: Vec::new(),
                label: args.label,
            };
            let Reply::Pane(info) = simple(paths, Command::Split { target, direction, pane }).await? else {
                return unexpected();
            };
            if json {
                output::print_json(&info);
            } else {
                outln!("{}", info.id);
            }
            Ok(())
        }
        Cmd::NewTab { target, cwd, label, command } => {
            let target = target.or_else(|| std::env::var("SBX_PANE_ID").ok());
            let cwd = if cwd.is_some() { absolute(cwd)? } else { None };
            let pane = PaneSpec { cwd, command, label, ..Default::default() };
            let Reply::Pane(info) = simple(paths, Command::NewTab { target, pane }).await? else { return unexpected() };
            if json {
                output::print_json(&info);
            } else {
                outln!("{}", info.id);
            }
            Ok(())
        }
        Cmd::SendKeys { target, enter, keys, text } => {
            simple(paths, Command::SendKeys { target, text: text.join(" "), keys, enter }).await?;
            if json {
                output::print_json(&serde_json::json!({ "ok": true }));
            }
            Ok(())
        }
        Cmd::Capture { target, scrollback } => {
            let Reply::Capture(mut lines) = simple(paths, Command::Capture { target, scrollback }).await? else {
                return unexpected();
            };
            if json {
                output::print_json(&serde_json::json!({ "lines": lines }));
            } else {
                while lines.last().is_some_and(|l| l.is_empty()) {
                    lines.pop();
                }
                for line in lines {
                    outln!("{line}");
                }
            }
            Ok(())
        }
        Cmd::Kill { target } => ok(simple(paths, Command::Kill { target }).await, json),
        Cmd::KillServer => {
            simple(paths, Command::KillServer).await?;
            // Return once the server is gone, so `kill-server; sbx` starts a fresh one.
            let socket = paths.socket();
            for _ in 0..500 {
                if !socket.exists() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            ok(Ok(Reply::Done), json)
        }
        Cmd::Label { target, label } => ok(simple(paths, Command::Label { target, label }).await, json),
        Cmd::Config { action: ConfigCmd::Check } => {
            let config = crate::config::Config::load(&paths.config);
            if json {
                output::print_json(&serde_json::json!({
                    "config_dir": paths.config, "data_dir": paths.data, "keymap": config.keymap.name, "theme": config.theme.name,
                    "problems": config.warnings,
                }));
            }
            if config.warnings.is_empty() {
                if !json {
                    outln!(
                        "config ok: keymap {}, theme {} ({})",
                        config.keymap.name,
                        config.theme.name,
                        paths.config.display()
                    );
                }
                Ok(())
            } else {
                Err(Error::new(
                    "bad_config",
                    config.warnings.join("\n  "),
                    format!("fix the files in {} (sbx uses the presets until then)", paths.config.display()),
                ))
            }
        }
        Cmd::Agent { action } => agent::run(action, json, paths).await,
        Cmd::Hook { agent, event } => agent::hook(&agent, &event, paths).await,
        Cmd::Init { providers } => agent::init(providers, json),
        Cmd::Uninstall { providers } => agent::uninstall(providers, json),
        Cmd::Doctor => agent::doctor(json, paths).await,
        Cmd::Mcp { socket } => crate::mcp::serve(paths.clone(), socket).await,
        Cmd::Msg { as_pane, action } => messages::msg(action, as_pane, json, paths).await,
        Cmd::Channel { as_pane, action } => messages::channel(action, as_pane, json, paths).await,
        Cmd::Search { query, limit, as_pane } => messages::search(query, limit, as_pane, json, paths).await,
        Cmd::Artifact { as_pane, action } => messages::artifact(action, as_pane, json, paths).await,
        Cmd::Id { key } => share::id(key, json, paths).await,
        Cmd::Friend { action } => share::friend(action, json, paths).await,
        Cmd::Sessions { tool, n } => share::list_sessions(tool, n, json),
        Cmd::Send { friend, session } => share::send(friend, session, json, paths).await,
        Cmd::Inbox => share::inbox(json, paths).await,
        Cmd::Open { id, dir, allow_unknown, resume, force } => {
            share::open(id, dir, allow_unknown, resume, force, json, paths).await
        }
        Cmd::Server | Cmd::Relay(_) => unreachable!("handled before the runtime starts"),
    }
}

pub(crate) async fn simple(paths: &Paths, cmd: Command) -> CliResult<Reply> {
    let stream = connect::connect_existing(paths).await?;
    connect::request(stream, cmd).await
}

fn ok(result: CliResult<Reply>, json: bool) -> CliResult {
    result?;
    if json {
        output::print_json(&serde_json::json!({ "ok": true }));
    }
    Ok(())
}

fn unexpected() -> CliResult {
    Err(Error::new("bad_answer", "the server sent an unexpected reply", "restart it: sbx kill-server"))
}

async fn attach(stream: tokio::net::UnixStream, request: AttachRequest) -> CliResult {
    let message = crate::client::attach(stream, request).await?;
    outln!("{message}");
    Ok(())
}
