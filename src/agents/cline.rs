//! Cline (`cline`, the CLI of the Cline SDK). Its hooks are files named after their event in
//! a hooks folder (`~/.cline/hooks/TaskStart.sh`…), each given the event as JSON on stdin;
//! its MCP servers are in one settings file (`CLINE_MCP_SETTINGS_PATH` names another).
//!
//! - **Its own process, not its hub.** Cline's TUI runs sessions in a background hub daemon
//!   shared by every Cline client when it finds one; hooks and MCP servers then run in the
//!   hub's environment, outside the pane, and sbx refuses to take them for the pane. A pane
//!   gets `CLINE_HUB_HOST` set to an address that is not this machine's: Cline only uses a hub
//!   on a loopback address, so it runs the session in its own process, and the hub it tries to
//!   start on that address cannot bind and exits.
//! - **Hooks.** There is no per-launch hooks folder (`--hooks-dir` sets a variable nothing in
//!   3.0.65 reads), so sbx keeps one file of its own per event in Cline's global hooks folder,
//!   written when a pane starts (or by `sbx init`) and removed by `sbx uninstall`. Each is a
//!   two-line shell script that runs `sbx hook cline <Event>`; a file of that name that is not
//!   sbx's is never written over.
//! - **Words.** `TaskStart` is a turn starting, `TaskComplete`, `TaskCancel`, `TaskError` and
//!   `SessionShutdown` (what an interrupt sends) its end. Nothing reports its permission
//!   question: `PreToolUse` comes before it, and the question is read from the screen.
//! - **No inbox by hook.** Its prompt hooks (`TaskStart`, `UserPromptSubmit`) run detached,
//!   their output ignored, so the inbox reaches Cline through sbx's MCP tools only.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::config_edit::{mcp_servers, read_json, restore_or_write, write_json, Records};
use super::{Agent, AgentKind, HookEvent, Installed, Launch, LaunchCtx};
use crate::config::paths::write_atomic;

pub struct Cline;

/// The hook files sbx keeps, by Cline's event names.
pub const EVENTS: &[&str] = &[
    "TaskStart",
    "TaskResume",
    "TaskComplete",
    "TaskCancel",
    "TaskError",
    "PreToolUse",
    "PostToolUse",
    "SessionShutdown",
];

/// A documentation address (RFC 5737): never this machine's, so never a hub Cline may use.
const NO_HUB_HOST: &str = "198.51.100.1";

/// The last line of the notices Cline shows over its input once each (the next key closes them).
const NOTICE: &str = "Press Enter to open, any other key to close";

/// The first line after the shebang of each of sbx's hook files: how sbx knows its own.
const MARK: &str = "# sbx's hook for Cline: `sbx uninstall --provider cline` removes it";

/// Cline's folder: `$CLINE_DIR`, else `~/.cline`.
fn cline_dir() -> PathBuf {
    super::home_dir("CLINE_DIR", ".cline")
}

/// Where Cline keeps its sessions, as it resolves the folder: `$CLINE_SESSION_DATA_DIR`, else
/// `$CLINE_DATA_DIR/sessions`, else `sessions` in its folder's `data`.
pub fn cline_sessions_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("CLINE_SESSION_DATA_DIR")
        .or_else(|| var("CLINE_DATA_DIR").map(|d| d.join("sessions")))
        .unwrap_or_else(|| cline_dir().join("data").join("sessions"))
}

fn hooks_dir() -> PathBuf {
    cline_dir().join("hooks")
}

fn hook_path(event: &str) -> PathBuf {
    hooks_dir().join(format!("{event}.sh"))
}

/// The MCP settings Cline reads, as it resolves them.
fn mcp_settings_path() -> PathBuf {
    if let Some(path) = std::env::var_os("CLINE_MCP_SETTINGS_PATH").filter(|v| !v.is_empty()) {
        return PathBuf::from(path);
    }
    let data = std::env::var_os("CLINE_DATA_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| cline_dir().join("data"));
    data.join("settings").join("cline_mcp_settings.json")
}

fn hook_file(sbx: &Path, event: &str) -> String {
    format!("#!/bin/sh\n{MARK}\nexec {}\n", super::hook_command(sbx, AgentKind::Cline, event))
}

fn is_our_hook(text: &str) -> bool {
    text.lines().nth(1) == Some(MARK)
}

/// Write sbx's hook files that are missing or name another sbx; a file of another's by that
/// name is left alone and reported. Returns how many were written.
fn write_hooks(sbx: &Path) -> Result<usize> {
    let mut written = 0;
    let mut theirs = Vec::new();
    for event in EVENTS {
        let path = hook_path(event);
        let want = hook_file(sbx, event);
        match std::fs::read_to_string(&path) {
            Ok(text) if text == want => continue,
            Ok(text) if !is_our_hook(&text) => {
                theirs.push(path.display().to_string());
                continue;
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot read {}", path.display()))
            }
            _ => {}
        }
        write_atomic(&path, want.as_bytes())?;
        written += 1;
    }
    if !theirs.is_empty() {
        bail!("{} not sbx's; rename them to keep them and run this again", theirs.join(", "));
    }
    Ok(written)
}

/// sbx's MCP server as Cline takes one (a `transport`).
fn mcp_entry(sbx: &Path, socket: Option<&Path>) -> Value {
    json!({ "transport": { "type": "stdio", "command": sbx.display().to_string(), "args": super::mcp_args(socket) } })
}

fn is_our_mcp(entry: &Value) -> bool {
    super::config_edit::is_sbx_mcp_transport(entry)
}

/// The pane's MCP settings: the user's, with sbx's server (and its socket) added.
fn write_launch_mcp(sbx: &Path, socket: &Path) -> Result<PathBuf> {
    let user = mcp_settings_path();
    let (_, mut map) = read_json(&user)?;
    mcp_servers(&mut map, &user)?.insert("sbx".into(), mcp_entry(sbx, Some(socket)));
    let path = crate::config::paths::Paths::resolve()?.data.join("agents").join("cline_mcp_settings.json");
    write_json(&path, &map)?;
    Ok(path)
}

fn records() -> Result<Records> {
    Ok(Records::new(&crate::config::paths::Paths::resolve()?.data))
}

/// Cline's session ids: its creation time in milliseconds, `_`, five letters or digits.
pub fn is_session_id(arg: &str) -> bool {
    arg.split_once('_').is_some_and(|(ms, tail)| {
        !ms.is_empty()
            && ms.bytes().all(|b| b.is_ascii_digit())
            && !tail.is_empty()
            && tail.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

impl Agent for Cline {
    fn program(&self) -> &'static str {
        "cline"
    }

    fn install_hint(&self) -> &'static str {
        "npm install -g cline"
    }

    fn launch(&self, ctx: &LaunchCtx) -> Launch {
        match write_hooks(ctx.sbx) {
            Ok(0) => {}
            Ok(n) => tracing::info!("cline: wrote {n} of sbx's hooks in {}", hooks_dir().display()),
            Err(e) => tracing::warn!("cline: its state may not be tracked: {e:#}"),
        }
        let mut command = vec![self.program().to_string()];
        if let Some(id) = ctx.resume {
            command.extend(["--id".to_string(), id.to_string()]);
        }
        command.extend(ctx.args.iter().cloned());
        let session_id = ctx
            .resume
            .map(str::to_string)
            .or_else(|| super::resumed_in_args(ctx.args, &["--id"]).filter(|id| is_session_id(id)).map(str::to_string));
        let mut env =
            vec![("SBX_AGENT".to_string(), "cline".to_string()), ("CLINE_HUB_HOST".into(), NO_HUB_HOST.into())];
        match write_launch_mcp(ctx.sbx, ctx.socket) {
            Ok(path) => env.push(("CLINE_MCP_SETTINGS_PATH".into(), path.display().to_string())),
            Err(e) => tracing::warn!("cline: sbx's MCP server is not given to it: {e:#}"),
        }
        Launch { command, env, unset: Vec::new(), session_id }
    }

    fn install(&self, sbx: &Path) -> Result<Vec<Installed>> {
        write_hooks(sbx)?;
        let path = mcp_settings_path();
        let (bytes, mut map) = read_json(&path)?;
        let servers = mcp_servers(&mut map, &path)?;
        match servers.get("sbx") {
            Some(entry) if is_our_mcp(entry) => {}
            Some(_) => bail!(
                "an MCP server named \"sbx\" that is not sbx is already in {}; rename or remove it first",
                path.display()
            ),
            None => {
                servers.insert("sbx".into(), mcp_entry(sbx, None));
                records()?.remember(&path, bytes.as_deref())?;
                write_json(&path, &map)?;
            }
        }
        self.status(sbx)
    }

    fn uninstall(&self) -> Result<Vec<Installed>> {
        for event in EVENTS {
            let path = hook_path(event);
            if std::fs::read_to_string(&path).is_ok_and(|t| is_our_hook(&t)) {
                std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        // The folder goes too when sbx's files were all it held (Cline does not need it).
        let _ = std::fs::remove_dir(hooks_dir());
        let path = mcp_settings_path();
        let (bytes, mut map) = read_json(&path)?;
        let ours = map.get("mcpServers").and_then(|s| s.get("sbx")).is_some_and(is_our_mcp);
        if bytes.is_some() && ours {
            if let Some(Value::Object(servers)) = map.get_mut("mcpServers") {
                servers.remove("sbx");
            }
            restore_or_write(&records()?, &path, &map)?;
        }
        self.status(Path::new("sbx"))
    }

    fn status(&self, _sbx: &Path) -> Result<Vec<Installed>> {
        let hooks = EVENTS.iter().all(|e| std::fs::read_to_string(hook_path(e)).is_ok_and(|t| is_our_hook(&t)));
        let path = mcp_settings_path();
        let (_, map) = read_json(&path)?;
        Ok(vec![
            Installed { path: hooks_dir(), what: "hooks".into(), present: hooks },
            Installed {
                path: path.clone(),
                what: "MCP server".into(),
                present: map.get("mcpServers").and_then(|s| s.get("sbx")).is_some_and(is_our_mcp),
            },
        ])
    }

    fn hook_input(&self, event: &str, input: &Value) -> HookEvent {
        // `tool_call` before a tool, `tool_result` (a record with `name` and `input`) after.
        let call = input.get("tool_call").or_else(|| input.get("tool_result"));
        HookEvent {
            event: event.to_string(),
            session_id: input["sessionContext"]["rootSessionId"].as_str().map(str::to_string),
            tool_name: call.and_then(|c| c["name"].as_str()).map(str::to_string),
            tool_input: call.and_then(|c| c.get("input")).map(crate::protocol::ToolInput::bounded),
            cwd: input["workspaceRoots"].get(0).and_then(Value::as_str).map(str::to_string),
            ..Default::default()
        }
    }

    fn normalize_hook(&self, hook: &mut HookEvent) {
        let meant = match hook.event.as_str() {
            "TaskStart" | "TaskResume" => "UserPromptSubmit",
            "TaskComplete" | "TaskCancel" | "TaskError" | "SessionShutdown" => "Stop",
            _ => return,
        };
        hook.event = meant.into();
    }

    fn hooks_report_waiting(&self) -> bool {
        false
    }

    fn screen(&self, screen: &str) -> super::ScreenHint {
        let mut hint = super::read_screen(
            screen,
            &["(esc to cancel)"],
            &["Cline needs permission", "[y] Approve"],
            &["What can I do for you?", "Ask anything..."],
            &[],
        );
        // A notice of Cline's over its input (ClinePass, Cline Desktop) takes the next key.
        hint.ready &= !screen.contains(NOTICE);
        hint
    }

    fn turn_ended(&self, _tail: &str) -> Option<bool> {
        // Its messages are one JSON document rewritten whole, not a log to read the end of.
        None
    }

    fn answer(&self, key: crate::protocol::AgentKey) -> Vec<u8> {
        use crate::protocol::AgentKey;
        // "[y] Approve   [n] Deny"; Esc would cancel the whole turn.
        match key {
            AgentKey::Confirm | AgentKey::Select(1) => b"y".to_vec(),
            AgentKey::Cancel | AgentKey::Select(_) => b"n".to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cline_event_is_read_as_the_sbx_event_it_means() {
        let payload = json!({
            "hookName": "tool_call",
            "sessionContext": { "rootSessionId": "1796374332596_kk5yi" },
            "workspaceRoots": ["/work/p"],
            "tool_call": { "id": "c1", "name": "run_commands", "input": { "commands": ["touch x"] } },
        });
        let hook = Cline.hook_input("PreToolUse", &payload);
        assert_eq!(hook.session_id.as_deref(), Some("1796374332596_kk5yi"));
        assert_eq!(hook.tool_name.as_deref(), Some("run_commands"));
        assert!(hook.tool_input.unwrap().summary(80).contains("touch x"));
        assert_eq!(hook.cwd.as_deref(), Some("/work/p"));
        for (theirs, ours) in [("TaskStart", "UserPromptSubmit"), ("SessionShutdown", "Stop"), ("TaskComplete", "Stop")]
        {
            let mut hook = HookEvent { event: theirs.into(), ..Default::default() };
            Cline.normalize_hook(&mut hook);
            assert_eq!(hook.event, ours);
        }
    }

    #[test]
    fn its_hook_files_run_sbx_and_are_known_as_sbxs() {
        let text = hook_file(Path::new("/opt/my tools/sbx"), "TaskStart");
        assert!(text.starts_with("#!/bin/sh\n"));
        assert!(text.ends_with("exec '/opt/my tools/sbx' hook cline TaskStart\n"), "{text}");
        assert!(is_our_hook(&text));
        assert!(!is_our_hook("#!/bin/sh\necho mine\n"));
        assert!(is_session_id("1796374332596_kk5yi") && !is_session_id("--continue") && !is_session_id("abc"));
        assert!(is_our_mcp(&mcp_entry(Path::new("/usr/bin/sbx"), Some(Path::new("/run/s.sock")))));
        assert!(!is_our_mcp(&json!({ "transport": { "type": "stdio", "command": "node", "args": ["mcp"] } })));
    }
}
