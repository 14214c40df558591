//! Agent commands: drive an agent pane (`sbx agent …`), report hooks (`sbx hook`), and
//! install, remove and check sbx's hooks in the agents' config (`init`, `uninstall`, `doctor`).

use std::time::Duration;

use clap::Subcommand;
use serde_json::json;

use super::output::{outln, print_json, CliResult, Error};
use super::simple;
use crate::agents::Adapter as _;
use crate::agents::{AgentKind, Installed, ALL};
use crate::config::paths::Paths;
use crate::protocol::{AgentKey, AgentSelection, Command, Reply};

#[derive(Subcommand)]
pub enum AgentCmd {
    /// Type a prompt into an agent pane and submit it (refused while the agent is busy unless
    /// --queue). To many agents (-t A,B,C, --all or --kind): typed into each idle one, queued
    /// for each busy one, and a line per pane saying which.
    Prompt {
        /// The agent pane: pane id, label, SESSION:TAB or session name; several, comma-separated.
        #[arg(short = 't', long, required_unless_present_any = ["all", "kind"], conflicts_with_all = ["all", "kind"])]
        target: Option<String>,
        /// Every agent of the server.
        #[arg(long, conflicts_with = "kind")]
        all: bool,
        /// Every agent of this kind (claude, codex, gemini, qwen).
        #[arg(long)]
        kind: Option<String>,
        /// Deliver when the agent is next idle instead of refusing.
        #[arg(long)]
        queue: bool,
        /// The prompt (words are joined with spaces).
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Answer the agent's permission question with yes.
    Confirm {
        /// The agent pane: pane id, label, SESSION:TAB or session name.
        #[arg(short = 't', long)]
        target: String,
    },
    /// Answer the agent's question with no / cancel.
    Cancel {
        /// The agent pane: pane id, label, SESSION:TAB or session name.
        #[arg(short = 't', long)]
        target: String,
    },
    /// Choose option N of the agent's question.
    Select {
        /// The agent pane: pane id, label, SESSION:TAB or session name.
        #[arg(short = 't', long)]
        target: String,
        /// The option's number, as the agent shows it (1 is the first).
        n: u8,
    },
    /// Wait until the agent is idle or waiting.
    Wait {
        /// The agent pane: pane id, label, SESSION:TAB or session name.
        #[arg(short = 't', long)]
        target: String,
        /// The state to wait for: idle (its turn is over) or waiting (it asks you something).
        #[arg(long, value_parser = ["idle", "waiting"])]
        until: String,
        /// Give up after S seconds (exit 1).
        #[arg(long)]
        timeout: Option<f64>,
    },
}

pub async fn run(action: AgentCmd, json: bool, paths: &Paths) -> CliResult {
    let cmd = match action {
        AgentCmd::Prompt { target, all, kind, queue, text } => {
            let text = text.join(" ");
            let agents = match (target, all, kind) {
                (Some(t), _, _) if !t.contains(',') => Command::AgentPrompt { target: t, text, queue },
                (Some(t), _, _) => {
                    let list: Vec<String> =
                        t.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Into::into).collect();
                    Command::AgentPromptMany { agents: AgentSelection::Targets(list), text }
                }
                (None, true, _) => Command::AgentPromptMany { agents: AgentSelection::All, text },
                (None, false, Some(kind)) => {
                    let kind = AgentKind::from_name(&kind).ok_or_else(|| {
                        let names: Vec<&str> = ALL.iter().map(|k| k.name()).collect();
                        Error::new(
                            "usage",
                            format!("no agent is called {kind:?}"),
                            format!("one of: {}", names.join(", ")),
                        )
                    })?;
                    Command::AgentPromptMany { agents: AgentSelection::Kind(kind), text }
                }
                (None, false, None) => {
                    return Err(Error::new("usage", "say which agents", "-t PANE[,PANE…], --all or --kind KIND"))
                }
            };
            agents
        }
        AgentCmd::Confirm { target } => Command::AgentKey { target, key: AgentKey::Confirm },
        AgentCmd::Cancel { target } => Command::AgentKey { target, key: AgentKey::Cancel },
        AgentCmd::Select { target, n } => {
            if !(1..=9).contains(&n) {
                return Err(Error::new(
                    "usage",
                    "choose an option from 1 to 9",
                    "look at the pane: sbx capture -t PANE",
                ));
            }
            Command::AgentKey { target, key: AgentKey::Select(n) }
        }
        AgentCmd::Wait { target, until, timeout } => {
            let timeout_ms = timeout.map_or(u64::MAX, |s| (s.max(0.0) * 1000.0) as u64);
            Command::AgentWait { target, until, timeout_ms }
        }
    };
    match simple(paths, cmd).await? {
        Reply::Agent(info) => {
            if json {
                print_json(&info);
            } else {
                outln!("{}", info.state);
            }
        }
        Reply::Prompted(outcomes) => {
            if json {
                print_json(&outcomes);
            } else {
                for o in &outcomes {
                    let who = o.label.as_ref().map_or(o.pane.clone(), |l| format!("{} ({l})", o.pane));
                    match &o.error {
                        Some(e) => outln!("{who}: failed: {}", e.message),
                        None => outln!("{who}: {}", o.outcome),
                    }
                }
            }
            if let Some(o) = outcomes.iter().find(|o| o.error.is_some()) {
                let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
                let e = o.error.clone().expect("found with an error");
                return Err(Error::new(
                    "some_failed",
                    format!("{failed} of {} panes did not take the prompt ({})", outcomes.len(), e.message),
                    e.next.unwrap_or_else(|| "sbx ls shows the agents".into()),
                ));
            }
        }
        Reply::Queued => {
            if json {
                print_json(&json!({ "queued": true }));
            } else {
                outln!("queued: delivered when the agent is idle");
            }
        }
        _ => {
            if json {
                print_json(&json!({ "ok": true }));
            }
        }
    }
    Ok(())
}

/// A hook must never get in the agent's way: whatever happens, it ends quickly and quietly.
pub async fn hook(agent: &str, event: &str, paths: &Paths) -> CliResult {
    let _ = tokio::time::timeout(Duration::from_secs(3), report_hook(agent, event, paths)).await;
    Ok(())
}

async fn report_hook(agent: &str, event: &str, paths: &Paths) -> CliResult {
    // A plain thread, not the runtime's: an agent that keeps stdin open must not keep the
    // hook (or the runtime's shutdown) waiting. The process exits without joining it.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut input = Vec::new();
        let _ = std::io::stdin().take(1 << 20).read_to_end(&mut input);
        let _ = tx.send(input);
    });
    let input = tokio::time::timeout(Duration::from_secs(2), rx).await.ok().and_then(Result::ok).unwrap_or_default();
    let pane = std::env::var("SBX_PANE_ID").ok().filter(|p| !p.is_empty());
    let value: serde_json::Value = serde_json::from_slice(&input).unwrap_or_default();
    // Each agent's own input shape; Claude's, which most take, for a name sbx does not know.
    let kind = AgentKind::from_name(agent).unwrap_or(AgentKind::Claude);
    let hook = kind.adapter().hook_input(event, &value);
    // Outside sbx panes a hook only reports to a server that runs: starting one from every
    // agent launch would surprise, and a hook must be quick.
    let reply = simple(paths, Command::Hook { pane, agent: agent.to_string(), hook }).await?;
    // The prompt hooks' answer is the unread messages, as context for the agent's next turn.
    if let Reply::Bridge(json) = reply {
        let value: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        if let Some(context) = value.get("context").and_then(|c| c.as_str()).filter(|c| !c.is_empty()) {
            let out = json!({ "hookSpecificOutput": { "hookEventName": event, "additionalContext": context } });
            outln!("{out}");
        }
    }
    Ok(())
}

fn sbx_path() -> CliResult<std::path::PathBuf> {
    std::env::current_exe()
        .map_err(|e| Error::new("no_binary", format!("cannot find the sbx binary: {e}"), "run sbx by its full path"))
}

fn print_installed(kind: AgentKind, items: &[Installed], json: bool, verb: &str) {
    if json {
        print_json(&json!({ "agent": kind.name(), "files": items }));
        return;
    }
    for item in items {
        let state = if item.present { "installed" } else { "not installed" };
        outln!("{verb} {}: {} in {} ({state})", kind.name(), item.what, item.path.display());
    }
}

/// `sbx init --list`: every agent sbx supports, where its program is, whether sbx's entries are
/// in its config.
pub fn list(json: bool) -> CliResult {
    let sbx = sbx_path()?;
    let rows: Vec<serde_json::Value> = ALL
        .iter()
        .map(|kind| {
            let adapter = kind.adapter();
            let (installed, problem) = match adapter.status(&sbx) {
                Ok(files) => (!files.is_empty() && files.iter().all(|f| f.present), None),
                Err(e) => (false, Some(format!("{e:#}"))),
            };
            json!({
                "agent": kind.name(),
                "program": adapter.program(),
                "binary": crate::agents::which(adapter.program()),
                "installed": installed,
                "problem": problem,
                "install_hint": adapter.install_hint(),
            })
        })
        .collect();
    if json {
        print_json(&json!({ "agents": rows }));
        return Ok(());
    }
    for row in &rows {
        let name = row["agent"].as_str().unwrap_or_default();
        let on_path = row["binary"].as_str().map_or("not on PATH".to_string(), |p| format!("on PATH ({p})"));
        let state = match row["problem"].as_str() {
            Some(problem) => format!("config unreadable: {problem}"),
            None if row["installed"].as_bool() == Some(true) => "sbx installed".into(),
            None => format!("sbx not installed (sbx init --provider {name})"),
        };
        outln!("{name}: {on_path}; {state}");
    }
    Ok(())
}

pub fn init(providers: Vec<AgentKind>, json: bool) -> CliResult {
    let providers = if providers.is_empty() {
        let found: Vec<AgentKind> =
            ALL.iter().copied().filter(|k| crate::agents::which(k.adapter().program()).is_some()).collect();
        if found.is_empty() {
            let names: Vec<&str> = ALL.iter().map(|k| k.name()).collect();
            return Err(Error::choose(
                "no_agent",
                format!("no agent CLI found on PATH ({})", names.join(", ")),
                "say which: sbx init --provider NAME, or sbx init --all; sbx init --list shows them",
            ));
        }
        found
    } else {
        providers
    };
    let sbx = sbx_path()?;
    for kind in providers {
        let items = kind
            .adapter()
            .install(&sbx)
            .map_err(|e| Error::new("bad_agent_config", format!("{e:#}"), "fix the file, then run sbx init again"))?;
        print_installed(kind, &items, json, "init");
    }
    Ok(())
}

pub fn uninstall(providers: Vec<AgentKind>, json: bool) -> CliResult {
    for kind in providers {
        let items = kind.adapter().uninstall().map_err(|e| {
            Error::new("bad_agent_config", format!("{e:#}"), "fix the file, then run sbx uninstall again")
        })?;
        print_installed(kind, &items, json, "uninstall");
    }
    Ok(())
}

pub async fn doctor(json: bool, paths: &Paths) -> CliResult {
    let sbx = sbx_path()?;
    let mut agents = Vec::new();
    for kind in ALL {
        let adapter = kind.adapter();
        let binary = crate::agents::which(adapter.program());
        let (files, problem) = match adapter.status(&sbx) {
            Ok(files) => (files, None),
            Err(e) => (Vec::new(), Some(format!("{e:#}"))),
        };
        let mut next = Vec::new();
        if binary.is_none() {
            next.push(adapter.install_hint().to_string());
        }
        if let Some(p) = &problem {
            next.push(format!("fix: {p}"));
        } else if files.iter().any(|f| !f.present) {
            next.push(format!("sbx init --provider {}", kind.name()));
        }
        agents.push(json!({
            "agent": kind.name(),
            "binary": binary,
            "files": files,
            "problem": problem,
            "next": next,
        }));
    }
    let server = crate::connect::connect_existing(paths).await.is_ok();
    let store = paths.data.join("bridge").join("bridge.db");
    let sharing = sharing_status(paths).await;
    let report = json!({
        "server": { "running": server, "socket": paths.socket() },
        "bridge": { "store": store, "exists": store.exists() },
        "sharing": sharing,
        "agents": agents,
    });
    if json {
        print_json(&report);
        return Ok(());
    }
    outln!("server: {} ({})", if server { "running" } else { "not running" }, paths.socket().display());
    outln!("bridge store: {}{}", store.display(), if store.exists() { "" } else { " (created with the server)" });
    let text = |k: &str| sharing[k].as_str().map(str::to_string);
    match text("echo_id") {
        Some(id) => outln!("sharing identity: {id}"),
        None => outln!("sharing identity: none\n  next: sbx id"),
    }
    match (text("relay"), sharing["relay_reachable"].as_bool()) {
        (Some(url), Some(true)) => outln!("relay: {url} (reachable)"),
        (Some(url), _) => outln!("relay: {url} (not reachable)\n  next: check that the relay runs, or fix SBX_RELAY"),
        (None, _) => outln!("relay: none\n  next: set SBX_RELAY (or relay in config.toml) to share sessions"),
    }
    for a in report["agents"].as_array().into_iter().flatten() {
        let name = a["agent"].as_str().unwrap_or("");
        match a["binary"].as_str() {
            Some(path) => outln!("{name}: {path}"),
            None => outln!("{name}: not found on PATH"),
        }
        for f in a["files"].as_array().into_iter().flatten() {
            let state = if f["present"] == true { "installed" } else { "missing" };
            outln!("  {} in {}: {state}", f["what"].as_str().unwrap_or(""), f["path"].as_str().unwrap_or(""));
        }
        if let Some(p) = a["problem"].as_str() {
            outln!("  problem: {p}");
        }
        for n in a["next"].as_array().into_iter().flatten() {
            outln!("  next: {}", n.as_str().unwrap_or(""));
        }
    }
    Ok(())
}

/// Identity and relay, for doctor: the echo-id if there is one, the relay and whether it answers.
async fn sharing_status(paths: &Paths) -> serde_json::Value {
    let identity = crate::share::identity::load(paths);
    let echo_id = match &identity {
        Ok(Some(id)) => Some(crate::relay::client::Signer::echo_id(id)),
        _ => None,
    };
    let problem = identity.err().map(|e| format!("{e:#}"));
    let config = crate::config::Config::load(&paths.config);
    let relay = crate::relay::client::RelayClient::configured(&config.settings.relay).and_then(Result::ok);
    let reachable = match &relay {
        Some(r) => Some(
            reqwest::Client::new()
                .get(format!("{}/healthz", r.url()))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|resp| resp.status().is_success()),
        ),
        None => None,
    };
    json!({
        "echo_id": echo_id,
        "identity_problem": problem,
        "relay": relay.as_ref().map(|r| r.url().to_string()),
        "relay_reachable": reachable,
    })
}
