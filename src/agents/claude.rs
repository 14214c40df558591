//! Claude Code: launched with a session id sbx chooses and sbx's hooks given per launch
//! (`--settings`), so an sbx pane reports its state without `sbx init`; `sbx init` puts the
//! same hooks into the user's settings for sessions started outside sbx.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{Map, Value};

use super::config_edit::{add_hooks, has_sbx_hooks, read_json, remove_hooks, restore_or_write, write_json, Records};
use super::{home_dir, hook_command, Agent, AgentKind, Installed, Launch, LaunchCtx};

pub struct Claude;

pub const EVENTS: &[&str] = &[
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PermissionRequest",
    "Notification",
    "Stop",
    "SessionEnd",
];

fn config_dir() -> PathBuf {
    home_dir("CLAUDE_CONFIG_DIR", ".claude")
}

fn settings_path() -> PathBuf {
    config_dir().join("settings.json")
}

/// Where Claude keeps user-scope MCP servers: `$CLAUDE_CONFIG_DIR/.claude.json`, else `~/.claude.json`.
fn state_path() -> PathBuf {
    match std::env::var_os("CLAUDE_CONFIG_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir).join(".claude.json"),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".claude.json"),
    }
}

fn hook_events(sbx: &Path) -> Vec<(&'static str, String)> {
    EVENTS.iter().map(|e| (*e, hook_command(sbx, AgentKind::Claude, e))).collect()
}

fn records() -> Result<Records> {
    Ok(Records::new(&crate::config::paths::Paths::resolve()?.data))
}

impl Agent for Claude {
    fn program(&self) -> &'static str {
        "claude"
    }

    fn install_hint(&self) -> &'static str {
        "npm install -g @anthropic-ai/claude-code"
    }

    fn launch(&self, ctx: &LaunchCtx) -> Launch {
        let mut settings = Map::new();
        // Hooks given per launch merge with the user's own settings.
        let _ = add_hooks(&mut settings, "claude", &hook_events(ctx.sbx));
        let mcp = serde_json::json!({ "mcpServers": { "sbx": super::mcp_entry(ctx.sbx, Some(ctx.socket)) } });
        let mut command = vec![self.program().to_string()];
        // A resumed session keeps its id; a user's own --resume/--continue forbids --session-id
        // ("can only be used with --continue or --resume if --fork-session is also specified").
        let session_id = super::choose_session(ctx, &mut command);
        // After `sbx init` the user's settings carry the hooks already; twice would report twice.
        let installed = read_json(&settings_path()).is_ok_and(|(_, map)| has_sbx_hooks(&map, "claude", EVENTS));
        if !installed {
            command.push("--settings".to_string());
            command.push(Value::Object(settings).to_string());
        }
        command.push("--mcp-config".to_string());
        command.push(mcp.to_string());
        command.extend(ctx.args.iter().cloned());
        Launch { command, env: vec![("SBX_AGENT".into(), "claude".into())], unset: Vec::new(), session_id }
    }

    fn screen(&self, screen: &str) -> super::ScreenHint {
        let hint = super::read_screen(
            screen,
            &["esc to interrupt"],
            &["Do you want to proceed?", "Esc to cancel · Tab to amend"],
            &["? for shortcuts"],
            &["Interrupted"],
        );
        super::ScreenHint { marker_spans_turn: true, ..hint }
    }

    fn running_session(&self, pid: u32) -> Option<String> {
        // Claude records each running instance in `sessions/<pid>.json` (`sessionId`).
        let text = std::fs::read_to_string(config_dir().join("sessions").join(format!("{pid}.json"))).ok()?;
        let record: Value = serde_json::from_str(&text).ok()?;
        record["sessionId"].as_str().map(str::to_string)
    }

    fn turn_ended(&self, tail: &str) -> Option<bool> {
        // The last conversation record: an interrupted turn ends with the user's
        // "[Request interrupted by user…]"; metadata records can come after it.
        for line in tail.lines().rev() {
            let Ok(record) = serde_json::from_str::<Value>(line) else { continue };
            match record["type"].as_str() {
                Some("user") => {
                    // The last text block decides: after a refused tool, the next prompt comes in
                    // the same record, behind the interruption notice.
                    let last = match &record["message"]["content"] {
                        Value::String(s) => s.as_str(),
                        Value::Array(blocks) => blocks.iter().rev().find_map(|b| b["text"].as_str()).unwrap_or(""),
                        _ => "",
                    };
                    return Some(last.starts_with("[Request interrupted by user"));
                }
                Some("assistant") => return None,
                _ => continue,
            }
        }
        None
    }

    fn said(&self, record: &str) -> Vec<super::Said> {
        // An assistant record's text and thinking blocks.
        let Ok(record) = serde_json::from_str::<Value>(record) else { return Vec::new() };
        if record["type"] != "assistant" {
            return Vec::new();
        }
        let Value::Array(blocks) = &record["message"]["content"] else { return Vec::new() };
        let text = |text: &Value, thinking| {
            text.as_str().filter(|t| !t.is_empty()).map(|t| super::Said { text: t.to_string(), thinking })
        };
        blocks
            .iter()
            .filter_map(|b| match b["type"].as_str()? {
                "text" => text(&b["text"], false),
                "thinking" => text(&b["thinking"], true),
                _ => None,
            })
            .collect()
    }

    fn install(&self, sbx: &Path) -> Result<Vec<Installed>> {
        let path = settings_path();
        let (bytes, mut map) = read_json(&path)?;
        if add_hooks(&mut map, "claude", &hook_events(sbx))? {
            records()?.remember(&path, bytes.as_deref())?;
            write_json(&path, &map)?;
        }
        let state = state_path();
        let (bytes, mut map) = read_json(&state)?;
        if super::config_edit::add_mcp_server(&mut map, "mcpServers", super::mcp_entry(sbx, None))? {
            records()?.remember(&state, bytes.as_deref())?;
            write_json(&state, &map)?;
        }
        self.status(sbx)
    }

    fn uninstall(&self) -> Result<Vec<Installed>> {
        let path = settings_path();
        let (bytes, mut map) = read_json(&path)?;
        if bytes.is_some() && remove_hooks(&mut map, "claude") {
            restore_or_write(&records()?, &path, &map)?;
        }
        let state = state_path();
        let (bytes, mut map) = read_json(&state)?;
        if bytes.is_some() && super::config_edit::remove_mcp_server(&mut map, "mcpServers") {
            restore_or_write(&records()?, &state, &map)?;
        }
        self.status(Path::new("sbx"))
    }

    fn status(&self, _sbx: &Path) -> Result<Vec<Installed>> {
        let path = settings_path();
        let (_, map) = read_json(&path)?;
        let present = has_sbx_hooks(&map, "claude", EVENTS);
        let state = state_path();
        let (_, map) = read_json(&state)?;
        let mcp = super::config_edit::has_mcp_server(&map, "mcpServers");
        Ok(vec![
            Installed { path, what: format!("hooks ({})", EVENTS.join(", ")), present },
            Installed { path: state, what: "MCP server sbx (user scope)".into(), present: mcp },
        ])
    }
}

#[cfg(test)]
mod said_tests {
    use super::super::{Agent, Said};
    use super::Claude;

    #[test]
    fn what_claude_said_is_read_from_its_transcript() {
        let record = r#"{"type":"assistant","message":{"role":"assistant","content":[{"type":"thinking","thinking":"","signature":"Ep"},{"type":"thinking","thinking":"let me see","signature":"Ep"},{"type":"text","text":"I'll create it."},{"type":"tool_use","id":"toolu_1","name":"Write","input":{"file_path":"/tmp/x"}}]}}"#;
        assert_eq!(
            Claude.said(record),
            [
                Said { text: "let me see".into(), thinking: true },
                Said { text: "I'll create it.".into(), thinking: false },
            ]
        );
        assert!(Claude.said(r#"{"type":"user","message":{"content":"hi"}}"#).is_empty());
        assert!(Claude.said("{").is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transcript_says_when_a_turn_was_interrupted() {
        let prompt = r#"{"type":"user","message":{"role":"user","content":"go"}}"#;
        let interrupted = r#"{"type":"user","message":{"role":"user","content":[{"type":"text","text":"[Request interrupted by user]"}]}}"#;
        let title = r#"{"type":"ai-title","aiTitle":"x"}"#;
        assert_eq!(Claude.turn_ended(&format!("{prompt}\n{interrupted}\n{title}\n")), Some(true));
        assert_eq!(Claude.turn_ended(&format!("{prompt}\n")), Some(false));
        let next = r#"{"type":"user","message":{"role":"user","content":[{"type":"tool_result"},{"type":"text","text":"[Request interrupted by user for tool use]"},{"type":"text","text":"go on"}]}}"#;
        assert_eq!(Claude.turn_ended(&format!("{interrupted}\n{next}\n")), Some(false));
    }
}
