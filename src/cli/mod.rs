//! The command line: parse, dispatch, print. One file per concern below.

mod agent;
mod args;
mod friend;
mod help;
mod messages;
pub mod output;
mod share;
mod show;
mod web;

use std::path::PathBuf;

use clap::FromArgMatches;

use crate::config::paths::Paths;
use crate::connect;
use crate::protocol::{AttachRequest, Command, NewSpec, PaneSpec, Reply, SplitDirection};
use args::{Cli, Cmd, ConfigCmd, RelayArgs};
use output::{errln, outln, report, CliResult, Error};

pub fn main() -> i32 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let parsed = help::for_args(&args).try_get_matches_from(&args).and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version: what was asked for, on stdout (a closed stdout is no error).
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            // A usage error is an error like any other: with --json, one JSON object.
            let json = std::env::args().any(|a| a == "--json");
            let message = e.kind().as_str().map(str::to_string).unwrap_or_else(|| first_line(&e.to_string()));
            let mut error = Error::new("usage", message, help::hint(std::env::args().skip(1)));
            if !json {
                let _ = e.print();
                return 1;
            }
            error.message = first_line(&e.to_string());
            report(&error, true);
            return 1;
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
    if let Some(Cmd::Server { handoff_format: true, .. }) = cli.command {
        outln!("sbx-handoff {}", crate::server::HANDOFF_FORMAT);
        return 0;
    }
    if let Some(Cmd::Server { adopt, .. }) = cli.command {
        return match crate::server::run(paths, adopt) {
            Ok(()) => 0,
            Err(e) => {
                errln!("sbx server: {e:#}");
                1
            }
        };
    }
    if let Some(Cmd::Relay(args)) = cli.command {
        return run_relay(args, &paths, json);
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
fn run_relay(args: RelayArgs, paths: &Paths, json: bool) -> i32 {
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
            upgrades: false,
            tls: None,
        },
        sweep_every: std::time::Duration::from_secs(args.sweep_every),
    };
    let _log = crate::log::init("info", None);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            report(&Error::from(e), json);
            return 1;
        }
    };
    let listening = |addr: std::net::SocketAddr| {
        if json {
            outln!("{}", serde_json::json!({ "listening": format!("http://{addr}") }));
        } else {
            outln!("sbx relay: listening on http://{addr}");
        }
    };
    match runtime.block_on(crate::relay::run(options, listening)) {
        Ok(()) => 0,
        Err(e) => {
            report(&Error::new("relay_failed", format!("{e:#}"), "check the address and the store path"), json);
            1
        }
    }
}

fn first_line(text: &str) -> String {
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().trim_start_matches("error: ").to_string()
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
            return attach(
                stream,
                AttachRequest {
                    target: None,
                    create: Some(create),
                    cols: 0,
                    rows: 0,
                    colors: Default::default(),
                    read_only: false,
                },
            )
            .await;
        }
        Some(cmd) => cmd,
    };
    match cmd {
        Cmd::New(args) => {
            let (cols, rows) = args.size.or_else(|| crossterm::terminal::size().ok()).unwrap_or((80, 24));
            let spec = NewSpec {
                name: args.name,
                pane: PaneSpec {
                    cwd: absolute(args.dir)?,
                    command: args.command,
                    agent: if args.layout.is_some() { Some(crate::agents::AgentKind::Claude) } else { args.agent },
                    env: Vec::new(),
                    label: args.label,
                    resume: args.resume,
                },
                pair: args.layout.is_some(),
                cols,
                rows,
            };
            let reply = connect::request_starting(paths, Command::New(spec)).await?;
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
            attach(
                stream,
                AttachRequest {
                    target: Some(session),
                    create: None,
                    cols: 0,
                    rows: 0,
                    colors: Default::default(),
                    read_only: false,
                },
            )
            .await
        }
        Cmd::Attach { target, read_only } => {
            let stream = connect::connect_existing(paths).await?;
            attach(
                stream,
                AttachRequest { target, create: None, cols: 0, rows: 0, colors: Default::default(), read_only },
            )
            .await
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
                cwd: match args.dir {
                    Some(_) => absolute(args.dir)?,
                    None => None,
                },
                command: args.command,
                agent: args.agent,
                env: Vec::new(),
                label: args.label,
                resume: args.resume,
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
        Cmd::NewTab { target, dir, label, command } => {
            let target = target.or_else(|| std::env::var("SBX_PANE_ID").ok());
            let cwd = if dir.is_some() { absolute(dir)? } else { None };
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
        Cmd::Web { addr, tls, action } => web::run(paths, addr, tls, action, json).await,
        Cmd::Reload => {
            let Reply::Reloaded { warnings } = simple(paths, Command::Reload).await? else { return unexpected() };
            if json {
                output::print_json(&serde_json::json!({ "reloaded": true, "ignored": warnings }));
            } else {
                outln!("reloaded config.toml, keymap.toml and theme.toml");
                for w in &warnings {
                    errln!("sbx: ignored: {}", output::plain(w));
                }
            }
            Ok(())
        }
        Cmd::Restore { list: true } => {
            let snap = crate::server::kept_snapshot(paths)?;
            show::print_snapshot(snap.as_ref(), json);
            Ok(())
        }
        Cmd::Restore { list: false } => {
            let Reply::Restored { sessions, panes } = connect::request_starting(paths, Command::Restore).await? else {
                return unexpected();
            };
            if json {
                output::print_json(&serde_json::json!({ "sessions": sessions, "panes": panes }));
            } else {
                outln!("restored {sessions} session(s), {panes} pane(s); attach with `sbx attach`");
            }
            Ok(())
        }
        Cmd::Upgrade { to } => {
            let exe = match to {
                Some(path) => std::fs::canonicalize(&path).map_err(|e| {
                    Error::new(
                        "no_binary",
                        format!("cannot use {}: {e}", path.display()),
                        "give the path of an sbx binary",
                    )
                })?,
                None => std::env::current_exe().map_err(|e| {
                    Error::new("no_binary", format!("cannot tell where this sbx is: {e}"), "run sbx by its full path")
                })?,
            };
            let done = connect::upgrade(&paths.socket(), &exe).await?;
            if json {
                output::print_json(
                    &serde_json::json!({ "upgraded": true, "binary": exe, "panes": done.panes, "message": done.message }),
                );
            } else {
                outln!("{} ({} panes kept)", done.message, done.panes);
            }
            Ok(())
        }
        Cmd::KillServer { forget } => {
            simple(paths, Command::KillServer { forget }).await?;
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
        Cmd::Zoom { target, off } => ok(simple(paths, Command::Zoom { target, on: !off }).await, json),
        Cmd::RenameSession { target, name } => ok(simple(paths, Command::RenameSession { target, name }).await, json),
        Cmd::RenameTab { target, name } => ok(simple(paths, Command::RenameTab { target, name }).await, json),
        Cmd::SwapPane { source, target } => ok(simple(paths, Command::SwapPane { source, target }).await, json),
        Cmd::MovePane { source, target, down } => {
            let direction = if down { SplitDirection::Down } else { SplitDirection::Right };
            ok(simple(paths, Command::MovePane { source, target, direction }).await, json)
        }
        Cmd::Layout { target, preset } => {
            let preset = crate::protocol::LayoutPreset::from_name(&preset).ok_or_else(|| {
                Error::new("usage", format!("no layout is called {preset:?}"), "see sbx layout --help")
            })?;
            ok(simple(paths, Command::Layout { target, preset }).await, json)
        }
        Cmd::Mute { target, off } => ok(simple(paths, Command::Mute { target, on: !off }).await, json),
        Cmd::Config { action: ConfigCmd::Check } => {
            let config = crate::config::Config::load(&paths.config);
            if !config.warnings.is_empty() {
                return Err(Error::new(
                    "bad_config",
                    config.warnings.join("\n  "),
                    format!("fix the files in {} (sbx uses the presets until then)", paths.config.display()),
                ));
            }
            if json {
                output::print_json(&serde_json::json!({
                    "config_dir": paths.config, "data_dir": paths.data, "keymap": config.keymap.name,
                    "theme": config.theme.name, "problems": config.warnings,
                }));
            } else {
                outln!(
                    "config ok: keymap {}, theme {} ({})",
                    config.keymap.name,
                    config.theme.name,
                    paths.config.display()
                );
            }
            Ok(())
        }
        Cmd::Agent { action } => agent::run(action, json, paths).await,
        Cmd::Hook { agent, event } => agent::hook(&agent, &event, paths).await,
        Cmd::Init { list: true, .. } => agent::list(json),
        Cmd::Init { all: true, .. } => agent::init(crate::agents::ALL.to_vec(), json),
        Cmd::Init { providers, .. } => agent::init(providers, json),
        Cmd::Uninstall { providers } => agent::uninstall(providers, json),
        Cmd::Doctor => agent::doctor(json, paths).await,
        Cmd::Mcp { socket } => crate::mcp::serve(paths.clone(), socket).await,
        Cmd::Msg { as_pane, action } => messages::msg(action, as_pane, json, paths).await,
        Cmd::Channel { as_pane, action } => messages::channel(action, as_pane, json, paths).await,
        Cmd::Search { query, limit, as_pane } => messages::search(query, limit, as_pane, json, paths).await,
        Cmd::Artifact { as_pane, action } => messages::artifact(action, as_pane, json, paths).await,
        Cmd::Id { key } => share::id(key, json, paths).await,
        Cmd::Friend { action } => friend::friend(action, json, paths).await,
        Cmd::Sessions { tool, limit } => share::list_sessions(tool, limit, json),
        Cmd::Send { friend, session } => share::send(friend, session, json, paths).await,
        Cmd::Inbox => share::inbox(json, paths).await,
        Cmd::Open { id, dir, allow_unknown, resume, force } => {
            share::open(id, dir, allow_unknown, resume, force, json, paths).await
        }
        Cmd::Version => {
            if json {
                output::print_json(&serde_json::json!({ "version": env!("CARGO_PKG_VERSION") }));
            } else {
                outln!("sbx {}", env!("CARGO_PKG_VERSION"));
            }
            Ok(())
        }
        Cmd::Completions { shell } => {
            help::completions(shell);
            Ok(())
        }
        Cmd::Man => Ok(help::man()?),
        Cmd::Server { .. } | Cmd::Relay(_) => Err(Error::bare("usage", "this command runs before the runtime starts")),
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

pub(crate) fn unexpected() -> CliResult {
    Err(Error::new("bad_answer", "the server sent an unexpected reply", "restart it: sbx kill-server"))
}

async fn attach(stream: tokio::net::UnixStream, request: AttachRequest) -> CliResult {
    let message = crate::client::attach(stream, request).await?;
    outln!("{message}");
    Ok(())
}
