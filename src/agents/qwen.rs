//! Qwen Code (`@qwen-code/qwen-code`). Its hooks are Claude's: the same event names and the
//! same input on stdin; timeouts in seconds. An sbx pane gets them per launch through a system
//! settings file of sbx's own (`QWEN_CODE_SYSTEM_SETTINGS_PATH`; Qwen keeps hooks per source,
//! so they add to the user's rather than replace them), with the machine's own system settings
//! merged in so none are lost, and sbx's MCP server with `--mcp-config`. Like Claude, it takes
//! a session id sbx chooses (`--session-id`). `sbx init --provider qwen` writes the same
//! entries into `~/.qwen/settings.json` for sessions started outside sbx.
//!
//! Two of its hooks mean something else than Claude's: a `Notification` of type `idle_prompt`
//! ("Qwen Code is waiting for your input") is the end of a turn, the only one a refused tool or
//! an interrupted turn reports; and it sends `UserPromptSubmit` with an empty prompt after each
//! tool result, which is the same turn going on.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{json, Map, Value};

use super::config_edit::{
    add_hooks, add_mcp_server, has_mcp_server, has_sbx_hooks, read_json, remove_hooks, remove_mcp_server,
    restore_or_write, write_json, Records,
};
use super::{hook_command, Agent, AgentKind, HookEvent, Installed, Launch, LaunchCtx};

pub struct Qwen;

/// Claude's hook events, which Qwen fires under the same names.
pub const EVENTS: &[&str] = super::claude::EVENTS;

/// Qwen's folder: `$QWEN_HOME`, else `~/.qwen`.
fn qwen_home() -> PathBuf {
    super::home_dir("QWEN_HOME", ".qwen")
}

fn settings_path() -> PathBuf {
    qwen_home().join("settings.json")
}

/// The system settings Qwen reads when no variable names another file (Linux).
fn machine_settings_path() -> PathBuf {
    PathBuf::from("/etc/qwen-code/settings.json")
}

fn hook_events(sbx: &Path) -> Vec<(&'static str, String)> {
    EVENTS.iter().map(|e| (*e, hook_command(sbx, AgentKind::Qwen, e))).collect()
}

/// sbx's MCP server as Qwen takes one (`command` and `args`, no `type`).
fn mcp_entry(sbx: &Path, socket: Option<&Path>) -> Value {
    json!({ "command": sbx.display().to_string(), "args": super::mcp_args(socket) })
}

fn records() -> Result<Records> {
    Ok(Records::new(&crate::config::paths::Paths::resolve()?.data))
}

/// The pane's system settings: the machine's own, plus sbx's hooks.
fn launch_settings(sbx: &Path) -> Result<Map<String, Value>> {
    let (_, mut settings) = read_json(&machine_settings_path())?;
    add_hooks(&mut settings, "qwen", &hook_events(sbx))?;
    Ok(settings)
}

/// Write the pane's system settings in sbx's data folder; None (the agent then runs
/// untracked, as outside sbx) when they cannot be written.
fn write_launch_settings(sbx: &Path) -> Option<PathBuf> {
    let written = (|| -> Result<PathBuf> {
        let path = crate::config::paths::Paths::resolve()?.data.join("agents").join("qwen-system-settings.json");
        write_json(&path, &launch_settings(sbx)?)?;
        Ok(path)
    })();
    written.map_err(|e| tracing::warn!("qwen: its state will not be tracked: {e:#}")).ok()
}

impl Agent for Qwen {
    fn program(&self) -> &'static str {
        "qwen"
    }

    fn install_hint(&self) -> &'static str {
        "npm install -g @qwen-code/qwen-code"
    }

    fn launch(&self, ctx: &LaunchCtx) -> Launch {
        let mut command = vec![self.program().to_string()];
        let session_id = super::choose_session(ctx, &mut command);
        let mcp = json!({ "mcpServers": { "sbx": mcp_entry(ctx.sbx, Some(ctx.socket)) } });
        command.extend(["--mcp-config".to_string(), mcp.to_string()]);
        command.extend(ctx.args.iter().cloned());
        // Qwen runs each hook with `bash -c` on a socket for stdin, and a bash that thinks it
        // is a top-level shell there reads ~/.bashrc first (as if run by sshd). Started from a
        // shell, as usual, it would inherit SHLVL and not; an sbx pane starts it directly.
        let mut env = vec![("SBX_AGENT".to_string(), "qwen".to_string()), ("SHLVL".to_string(), "1".to_string())];
        // After `sbx init` the user's settings carry the hooks already; twice would report twice.
        let installed = read_json(&settings_path()).is_ok_and(|(_, map)| has_sbx_hooks(&map, "qwen", EVENTS));
        if !installed {
            if let Some(path) = write_launch_settings(ctx.sbx) {
                env.push(("QWEN_CODE_SYSTEM_SETTINGS_PATH".into(), path.display().to_string()));
            }
        }
        Launch { command, env, unset: Vec::new(), session_id }
    }

    fn ready_after_session_start(&self) -> bool {
        // It runs the SessionStart hooks before it draws its input, and drops keys until then.
        true
    }

    fn normalize_hook(&self, hook: &mut HookEvent) {
        match hook.event.as_str() {
            // Its word that the turn is over, and the only one after a refusal or an interrupt.
            "Notification" if hook.notification_type.as_deref() == Some("idle_prompt") => hook.event = "Stop".into(),
            _ => {}
        }
    }

    fn install(&self, sbx: &Path) -> Result<Vec<Installed>> {
        let path = settings_path();
        let (bytes, mut map) = read_json(&path)?;
        let hooks = add_hooks(&mut map, "qwen", &hook_events(sbx))?;
        let mcp = add_mcp_server(&mut map, "mcpServers", mcp_entry(sbx, None))?;
        if hooks || mcp {
            records()?.remember(&path, bytes.as_deref())?;
            write_json(&path, &map)?;
        }
        self.status(sbx)
    }

    fn uninstall(&self) -> Result<Vec<Installed>> {
        let path = settings_path();
        let (bytes, mut map) = read_json(&path)?;
        if bytes.is_some() {
            let hooks = remove_hooks(&mut map, "qwen");
            let mcp = remove_mcp_server(&mut map, "mcpServers");
            if hooks || mcp {
                restore_or_write(&records()?, &path, &map)?;
            }
        }
        self.status(Path::new("sbx"))
    }

    fn status(&self, _sbx: &Path) -> Result<Vec<Installed>> {
        let path = settings_path();
        let (_, map) = read_json(&path)?;
        Ok(vec![
            Installed { path: path.clone(), what: "hooks".into(), present: has_sbx_hooks(&map, "qwen", EVENTS) },
            Installed { path, what: "MCP server".into(), present: has_mcp_server(&map, "mcpServers") },
        ])
    }

    fn screen(&self, screen: &str) -> super::ScreenHint {
        super::gemini::family_screen(screen, &["Yes, allow once"])
    }

    fn submit_settle(&self) -> std::time::Duration {
        super::gemini::SUBMIT_SETTLE
    }

    fn turn_ended(&self, tail: &str) -> Option<bool> {
        // `projects/<slug>/chats/<id>.jsonl`: the last user or assistant record says whose turn
        // it is. An answer that calls a tool is written before the tool is asked for or run:
        // the turn goes on.
        for line in tail.lines().rev() {
            let Ok(record) = serde_json::from_str::<Value>(line) else { continue };
            match record["type"].as_str() {
                Some("assistant") => {
                    let mut parts = record["message"]["parts"].as_array().into_iter().flatten();
                    return Some(!parts.any(|p| p.get("functionCall").is_some()));
                }
                Some("user") | Some("tool_result") => return Some(false),
                _ => continue,
            }
        }
        None
    }

    fn said(&self, record: &str) -> Vec<super::Said> {
        let Ok(record) = serde_json::from_str::<Value>(record) else { return Vec::new() };
        if record["type"] != "assistant" {
            return Vec::new();
        }
        let parts = record["message"]["parts"].as_array().into_iter().flatten();
        parts
            .filter_map(|p| {
                let text = p["text"].as_str().filter(|t| !t.is_empty())?;
                Some(super::Said { text: text.to_string(), thinking: p["thought"].as_bool() == Some(true) })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_that_calls_a_tool_does_not_end_the_turn() {
        let user = r#"{"type":"user","message":{"role":"user","parts":[{"text":"make a file"}]}}"#;
        let call = r#"{"type":"assistant","message":{"role":"model","parts":[{"functionCall":{"name":"run_shell_command","args":{}}}]}}"#;
        let result = r#"{"type":"tool_result","message":{"role":"user","parts":[{"functionResponse":{}}]}}"#;
        let answer = r#"{"type":"assistant","message":{"role":"model","parts":[{"text":"Done."}]}}"#;
        assert_eq!(Qwen.turn_ended(&format!("{user}\n{call}\n")), Some(false), "asking for its tool");
        assert_eq!(Qwen.turn_ended(&format!("{call}\n{result}\n")), Some(false));
        assert_eq!(Qwen.turn_ended(&format!("{call}\n{result}\n{answer}\n")), Some(true));
        assert_eq!(Qwen.turn_ended(r#"{"type":"system"}"#), None);
    }

    #[test]
    fn an_idle_prompt_notice_ends_the_turn() {
        let mut hook = HookEvent {
            event: "Notification".into(),
            notification_type: Some("idle_prompt".into()),
            ..Default::default()
        };
        Qwen.normalize_hook(&mut hook);
        assert_eq!(hook.event, "Stop");
        let mut permission = HookEvent {
            event: "Notification".into(),
            notification_type: Some("permission_prompt".into()),
            ..Default::default()
        };
        Qwen.normalize_hook(&mut permission);
        assert_eq!(permission.event, "Notification");
    }
}
