//! Gemini CLI (`@google/gemini-cli`). Its hooks speak Claude's shape (`session_id`,
//! `transcript_path`, `tool_name`, `tool_input` on stdin) under names of its own, so each of
//! Gemini's events is installed as the sbx event it means (`BeforeAgent` reports
//! `UserPromptSubmit`, `AfterAgent` reports `Stop`…) and the state machine stays one. A tool's
//! confirmation comes as a `Notification` of type `ToolPermission`.
//!
//! sbx's hooks and MCP server reach Gemini as an extension of sbx's own,
//! `~/.gemini/extensions/sbx/` (`gemini-extension.json` and `hooks/hooks.json`): Gemini has no
//! per-launch settings a user can give (its system settings files must be root's, in
//! root-owned folders, or it skips them), and an extension is a folder sbx owns whole, so no
//! file of the user's is ever edited. `sbx new --agent gemini` puts it there when it is
//! missing, `sbx init --provider gemini` does so for sessions started outside sbx, and
//! `sbx uninstall --provider gemini` takes the folder away. Outside an sbx pane its hooks and
//! MCP server find no pane and do nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

use super::config_edit::{add_hooks_timed, has_sbx_hooks, is_sbx_mcp, read_json};
use super::{hook_command, Agent, AgentKind, Installed, Launch, LaunchCtx};
use crate::config::paths::write_atomic;

pub struct Gemini;

/// Gemini's hook events and the sbx event each one reports.
pub const EVENTS: &[(&str, &str)] = &[
    ("SessionStart", "SessionStart"),
    ("BeforeAgent", "UserPromptSubmit"),
    ("BeforeTool", "PreToolUse"),
    ("AfterTool", "PostToolUse"),
    ("Notification", "Notification"),
    ("AfterAgent", "Stop"),
    ("SessionEnd", "SessionEnd"),
];

/// Variables that make Gemini headless whatever its terminal (`isHeadlessMode`: `CI=true` or
/// `GITHUB_ACTIONS=true`): started so, in a pane, it reads an empty stdin and exits at once.
/// A pane is an interactive terminal by definition, so its Gemini never sees them.
const HEADLESS_MARKERS: &[&str] = &["CI", "GITHUB_ACTIONS"];

/// Gemini counts a hook's timeout in milliseconds.
const HOOK_TIMEOUT_MS: u64 = 10_000;

/// Gemini's folder: `$GEMINI_CLI_HOME/.gemini`, else `~/.gemini`.
pub fn gemini_dir() -> PathBuf {
    let home = std::env::var_os("GEMINI_CLI_HOME")
        .filter(|v| !v.is_empty())
        .or_else(|| std::env::var_os("HOME"))
        .unwrap_or_default();
    PathBuf::from(home).join(".gemini")
}

fn extension_dir() -> PathBuf {
    gemini_dir().join("extensions").join("sbx")
}

fn manifest_path() -> PathBuf {
    extension_dir().join("gemini-extension.json")
}

fn hooks_path() -> PathBuf {
    extension_dir().join("hooks").join("hooks.json")
}

fn event_names() -> Vec<&'static str> {
    EVENTS.iter().map(|(gemini, _)| *gemini).collect()
}

fn hook_events(sbx: &Path) -> Vec<(&'static str, String)> {
    EVENTS.iter().map(|(gemini, sbx_event)| (*gemini, hook_command(sbx, AgentKind::Gemini, sbx_event))).collect()
}

/// The extension's manifest: its name and sbx's MCP server (`command` and `args`; Gemini
/// knows no `type: stdio`). The server finds its pane and socket in the environment.
fn manifest(sbx: &Path) -> Map<String, Value> {
    let value = json!({
        "name": "sbx",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "sbx: this agent's state for the multiplexer, and messages to other agents",
        "mcpServers": { "sbx": { "command": sbx.display().to_string(), "args": ["mcp"] } },
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn hooks_file(sbx: &Path) -> Result<Map<String, Value>> {
    let mut hooks = Map::new();
    add_hooks_timed(&mut hooks, "gemini", &hook_events(sbx), HOOK_TIMEOUT_MS)?;
    Ok(hooks)
}

/// Whether the folder at `extension_dir` is sbx's: its manifest names sbx and its MCP server
/// is sbx's (a folder of another's by that name is never written over or removed).
fn is_ours(manifest: &Map<String, Value>) -> bool {
    manifest.get("name").and_then(Value::as_str) == Some("sbx")
        && manifest.get("mcpServers").and_then(|s| s.get("sbx")).is_some_and(is_sbx_mcp)
}

/// Write the extension for `sbx`, unless it is there as it would be written. Returns whether
/// anything was written.
fn write_extension(sbx: &Path) -> Result<bool> {
    let (bytes, existing) = read_json(&manifest_path())?;
    if bytes.is_some() && !is_ours(&existing) {
        anyhow::bail!(
            "{} is an extension named sbx that is not sbx's; rename or remove it first",
            extension_dir().display()
        );
    }
    let manifest = manifest(sbx);
    let hooks = hooks_file(sbx)?;
    let (_, current_hooks) = read_json(&hooks_path())?;
    if existing == manifest && current_hooks == hooks {
        return Ok(false);
    }
    for (path, map) in [(hooks_path(), &hooks), (manifest_path(), &manifest)] {
        let mut text = serde_json::to_string_pretty(map)?;
        text.push('\n');
        write_atomic(&path, text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(true)
}

impl Agent for Gemini {
    fn program(&self) -> &'static str {
        "gemini"
    }

    fn install_hint(&self) -> &'static str {
        "npm install -g @google/gemini-cli"
    }

    fn launch(&self, ctx: &LaunchCtx) -> Launch {
        // The only way to give Gemini sbx's hooks and MCP server (see the module's comment).
        match write_extension(ctx.sbx) {
            Ok(true) => tracing::info!("gemini: wrote sbx's extension in {}", extension_dir().display()),
            Ok(false) => {}
            Err(e) => tracing::warn!("gemini: its state will not be tracked: {e:#}"),
        }
        let mut command = vec![self.program().to_string()];
        if let Some(id) = ctx.resume {
            command.extend(["--resume".to_string(), id.to_string()]);
        }
        command.extend(ctx.args.iter().cloned());
        let session_id = ctx.resume.map(str::to_string).or_else(|| {
            super::resumed_in_args(ctx.args, &["--resume", "-r"]).filter(|id| is_session_id(id)).map(str::to_string)
        });
        let unset = HEADLESS_MARKERS.iter().map(|name| name.to_string()).collect();
        Launch { command, env: vec![("SBX_AGENT".to_string(), "gemini".to_string())], unset, session_id }
    }

    fn install(&self, sbx: &Path) -> Result<Vec<Installed>> {
        write_extension(sbx)?;
        self.status(sbx)
    }

    fn uninstall(&self) -> Result<Vec<Installed>> {
        let (bytes, manifest) = read_json(&manifest_path())?;
        if bytes.is_some() && is_ours(&manifest) {
            std::fs::remove_dir_all(extension_dir())
                .with_context(|| format!("cannot remove {}", extension_dir().display()))?;
        }
        self.status(Path::new("sbx"))
    }

    fn status(&self, _sbx: &Path) -> Result<Vec<Installed>> {
        let (_, manifest) = read_json(&manifest_path())?;
        let (_, hooks) = read_json(&hooks_path())?;
        Ok(vec![
            Installed {
                path: hooks_path(),
                what: "hooks (extension sbx)".into(),
                present: has_sbx_hooks(&hooks, "gemini", &event_names()),
            },
            Installed { path: manifest_path(), what: "MCP server (extension sbx)".into(), present: is_ours(&manifest) },
        ])
    }

    fn screen(&self, screen: &str) -> super::ScreenHint {
        family_screen(screen, &["Apply this change?", "Allow once"])
    }

    fn submit_settle(&self) -> std::time::Duration {
        SUBMIT_SETTLE
    }

    fn ready_after_session_start(&self) -> bool {
        // Its input is drawn before its SessionStart hooks have run, and keys typed then are
        // lost: seen when a prompt typed at once never showed.
        true
    }

    fn turn_ended(&self, tail: &str) -> Option<bool> {
        // Gemini's chat record (`chats/session-*.jsonl`): a line per message, `type` "user" or
        // "gemini"; the last one of either says whose turn it is.
        for line in tail.lines().rev() {
            let Ok(record) = serde_json::from_str::<Value>(line) else { continue };
            match record["type"].as_str() {
                Some("gemini") => return Some(true),
                Some("user") => return Some(false),
                _ => continue,
            }
        }
        None
    }

    fn said(&self, record: &str) -> Vec<super::Said> {
        let Ok(record) = serde_json::from_str::<Value>(record) else { return Vec::new() };
        if record["type"] != "gemini" {
            return Vec::new();
        }
        let mut said = Vec::new();
        for thought in record["thoughts"].as_array().into_iter().flatten() {
            if let Some(text) = thought["description"].as_str().filter(|t| !t.is_empty()) {
                said.push(super::Said { text: text.to_string(), thinking: true });
            }
        }
        if let Some(text) = record["content"].as_str().filter(|t| !t.is_empty()) {
            said.push(super::Said { text: text.to_string(), thinking: false });
        }
        said
    }
}

/// Gemini CLI and its forks (Qwen Code) take an Enter within 30 ms of typed text as
/// Shift+Enter, a new line (`FAST_RETURN_TIMEOUT` in 0.61); a tenth of a second clears it on a
/// busy machine.
pub(super) const SUBMIT_SETTLE: std::time::Duration = std::time::Duration::from_millis(100);

/// The screen of Gemini CLI or a fork of it: its markers, and the question texts of its own
/// (`waiting`). While its MCP servers connect it shows its input but only queues what is typed.
pub(super) fn family_screen(screen: &str, waiting: &[&str]) -> super::ScreenHint {
    let mut questions = vec!["Allow execution", "Waiting for user confirmation"];
    questions.extend_from_slice(waiting);
    let hint =
        super::read_screen(screen, &["esc to cancel"], &questions, &["Type your message"], &["Request cancelled"]);
    super::ScreenHint { ready: hint.ready && !screen.contains("Initializing..."), ..hint }
}

/// A session id as Gemini names them (a UUID); `--resume latest` or `--resume 3` name none.
fn is_session_id(arg: &str) -> bool {
    uuid::Uuid::parse_str(arg).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_gemini_event_reports_the_sbx_event_it_means() {
        let events = hook_events(Path::new("/usr/bin/sbx"));
        let find = |gemini: &str| events.iter().find(|(e, _)| *e == gemini).map(|(_, c)| c.as_str());
        assert_eq!(find("BeforeAgent"), Some("/usr/bin/sbx hook gemini UserPromptSubmit"));
        assert_eq!(find("AfterAgent"), Some("/usr/bin/sbx hook gemini Stop"));
        assert_eq!(find("BeforeTool"), Some("/usr/bin/sbx hook gemini PreToolUse"));
    }

    #[test]
    fn the_extension_times_hooks_in_milliseconds_and_names_sbxs_server() {
        let sbx = Path::new("/usr/bin/sbx");
        let hooks = hooks_file(sbx).unwrap();
        assert_eq!(hooks["hooks"]["AfterAgent"][0]["hooks"][0]["timeout"], 10_000);
        assert!(is_ours(&manifest(sbx)));
        let mut other = manifest(sbx);
        other.insert("mcpServers".into(), json!({"sbx": {"command": "/usr/bin/other", "args": ["mcp"]}}));
        assert!(!is_ours(&other), "an extension named sbx whose server is not sbx is not sbx's");
    }

    #[test]
    fn a_turn_ends_with_geminis_message() {
        let g = Gemini;
        assert_eq!(g.turn_ended("{\"type\":\"user\",\"content\":\"hi\"}\n"), Some(false));
        assert_eq!(g.turn_ended("{\"type\":\"user\"}\n{\"type\":\"gemini\",\"content\":\"Hello\"}\n{}\n"), Some(true));
        assert_eq!(g.said("{\"type\":\"gemini\",\"content\":\"Hello\"}")[0].text, "Hello");
    }
}
