//! Grok CLI (`grok`, from `@vibe-kit/grok-cli`): an Ink TUI on any OpenAI-compatible Chat
//! Completions API (`GROK_BASE_URL`, `GROK_API_KEY`, `GROK_MODEL`).
//!
//! - **MCP per project only.** It reads MCP servers from one place, the project's
//!   `.grok/settings.json` in the folder it starts in (a file it creates there itself on every
//!   first start), never from its user settings or a flag or variable. So a pane's launch adds
//!   sbx's server to that file, beside the user's own servers, as `sbx init --provider grok` does
//!   for the folder it runs in. The entry has no socket: `sbx mcp` finds its server from the
//!   pane's environment, which Grok passes on to it. The file's bytes before sbx first changed
//!   it are kept in sbx's data folder, and `sbx uninstall --provider grok` gives every project's
//!   file back, byte for byte where nothing else changed it since.
//! - **No hooks, no sessions.** It has neither, and keeps no conversation on disk (nothing to
//!   share or resume): its state is read from its screen alone. Its working line ("… esc to
//!   interrupt)") is shown for the whole turn and its confirmation dialog replaces it, so the
//!   line going away ends a turn, an interrupted one too.
//! - **One key per read.** Ink 4 takes a whole read as one keypress, so the keys of an answer
//!   that moves through its options go one at a time, and an Enter waits a moment after the
//!   typed prompt shows.
//! - **No inbox by hook.** With no prompt hook, the inbox reaches Grok through sbx's MCP tools.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde_json::{json, Map, Value};

use super::config_edit::{is_sbx_mcp_transport, mcp_servers, read_json, restore_or_write, write_json, Records};
use super::{Agent, Installed, Launch, LaunchCtx};

pub struct Grok;

/// Its confirmation dialog's question (options: Yes, Yes and don't ask again, No, No with feedback).
const QUESTION: &str = "Do you want to proceed with this operation?";

/// Its input takes keys in a handler Ink swaps in after each frame is drawn: an Enter close
/// behind the typed text still meets the handler that saw no text, and submits nothing.
const SUBMIT_SETTLE: std::time::Duration = std::time::Duration::from_millis(150);

/// A project's settings, where Grok reads its MCP servers.
fn project_settings(dir: &Path) -> PathBuf {
    dir.join(".grok").join("settings.json")
}

fn is_project_settings(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "settings.json")
        && path.parent().and_then(Path::file_name).is_some_and(|n| n == ".grok")
}

/// sbx's MCP server as Grok takes one: named (its tools are `mcp__<name>__<tool>`), with a transport.
fn mcp_entry(sbx: &Path) -> Value {
    json!({ "name": "sbx", "transport": { "type": "stdio", "command": sbx.display().to_string(), "args": ["mcp"] } })
}

fn records() -> Result<Records> {
    Ok(Records::new(&crate::config::paths::Paths::resolve()?.data))
}

fn has_ours(map: &Map<String, Value>) -> bool {
    map.get("mcpServers").and_then(|s| s.get("sbx")).is_some_and(is_sbx_mcp_transport)
}

/// Add sbx's server to the settings of the project in `dir`, remembering the file's bytes
/// first. Returns whether the file changed.
fn add_to_project(sbx: &Path, dir: &Path) -> Result<bool> {
    let path = project_settings(dir);
    let (bytes, mut map) = read_json(&path)?;
    let servers = mcp_servers(&mut map, &path)?;
    match servers.get("sbx") {
        Some(entry) if is_sbx_mcp_transport(entry) => return Ok(false),
        Some(_) => bail!(
            "an MCP server named \"sbx\" that is not sbx is already in {}; rename or remove it first",
            path.display()
        ),
        None => {}
    }
    servers.insert("sbx".into(), mcp_entry(sbx));
    records()?.remember(&path, bytes.as_deref())?;
    write_json(&path, &map)?;
    Ok(true)
}

/// Take sbx's server out of one project's settings: the bytes from before sbx when nothing
/// else changed, else the file as it is now without sbx's entry.
fn remove_from_project(records: &Records, path: &Path) -> Result<()> {
    let (bytes, mut map) = read_json(path)?;
    if bytes.is_none() || !has_ours(&map) {
        records.forget(path);
        return Ok(());
    }
    let original = records.original(path).flatten();
    let had_servers = original
        .as_deref()
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        .is_some_and(|v| v.get("mcpServers").is_some());
    if let Some(Value::Object(servers)) = map.get_mut("mcpServers") {
        servers.remove("sbx");
        if servers.is_empty() && !had_servers {
            map.remove("mcpServers");
        }
    }
    let created = records.original(path) == Some(None);
    restore_or_write(records, path, &map)?;
    if created && !path.exists() {
        // The folder too, when sbx made it for this file and it is empty now.
        let _ = std::fs::remove_dir(path.parent().unwrap_or(path));
    }
    Ok(())
}

fn here() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

impl Agent for Grok {
    fn program(&self) -> &'static str {
        "grok"
    }

    fn install_hint(&self) -> &'static str {
        "npm install -g @vibe-kit/grok-cli"
    }

    fn launch(&self, ctx: &LaunchCtx) -> Launch {
        match add_to_project(ctx.sbx, ctx.cwd) {
            Ok(true) => tracing::info!("grok: sbx's MCP server added to {}", project_settings(ctx.cwd).display()),
            Ok(false) => {}
            Err(e) => tracing::warn!("grok: sbx's MCP server is not given to it: {e:#}"),
        }
        let mut command = vec![self.program().to_string()];
        command.extend(ctx.args.iter().cloned());
        // Ink draws nothing but its last frame, at exit, on a CI machine (any of ci-info's
        // variables); `CI=false` is the one word it takes for "not CI", and a pane is a terminal.
        let env = vec![("SBX_AGENT".to_string(), "grok".to_string()), ("CI".to_string(), "false".to_string())];
        Launch { command, env, unset: Vec::new(), session_id: None }
    }

    fn install(&self, sbx: &Path) -> Result<Vec<Installed>> {
        add_to_project(sbx, &here())?;
        self.status(sbx)
    }

    fn uninstall(&self) -> Result<Vec<Installed>> {
        let records = records()?;
        let mut files: Vec<PathBuf> = records.paths().into_iter().filter(|p| is_project_settings(p)).collect();
        let this = project_settings(&here());
        if !files.contains(&this) {
            files.push(this);
        }
        let failed: Vec<String> = files
            .iter()
            .filter_map(|path| remove_from_project(&records, path).err())
            .map(|e| format!("{e:#}"))
            .collect();
        if !failed.is_empty() {
            bail!("{}", failed.join("; "));
        }
        self.status(Path::new("sbx"))
    }

    fn status(&self, _sbx: &Path) -> Result<Vec<Installed>> {
        let path = project_settings(&here());
        let (_, map) = read_json(&path)?;
        Ok(vec![Installed { path, what: "MCP server (this project's)".into(), present: has_ours(&map) }])
    }

    fn hooks_report_waiting(&self) -> bool {
        false
    }

    fn has_hooks(&self) -> bool {
        false
    }

    fn one_key_per_read(&self) -> bool {
        true
    }

    fn submit_settle(&self) -> std::time::Duration {
        SUBMIT_SETTLE
    }

    fn keeps_sessions(&self) -> bool {
        false
    }

    fn screen(&self, screen: &str) -> super::ScreenHint {
        let mut hint = super::read_screen(screen, &["esc to interrupt)"], &[QUESTION], &[" auto-edit: "], &[]);
        hint.marker_spans_turn = true;
        hint
    }

    fn turn_ended(&self, _tail: &str) -> Option<bool> {
        None
    }

    fn answer(&self, key: crate::protocol::AgentKey) -> Vec<u8> {
        use crate::protocol::AgentKey;
        match key {
            AgentKey::Confirm => b"\r".to_vec(),
            // "Operation cancelled by user (pressed Escape)": the tool is refused, the turn goes on.
            AgentKey::Cancel => b"\x1b".to_vec(),
            // Its options are a column: down to the n-th (1-based, of four), then Enter.
            AgentKey::Select(n) => super::pick_option(b"\x1b[B", n, 4),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn its_screen_says_working_waiting_and_ready() {
        let working = "  - Optimizing... (2s · ↑ 791 tokens · esc to interrupt)\n  │ ❯ Ask me anything... │\n  ⏸ auto-edit: off (shift + tab)  ≋ stub-model";
        let hint = Grok.screen(working);
        assert!(hint.working && hint.ready && !hint.waiting && hint.marker_spans_turn);
        let asking = "  ⏺ Run bash command(touch x)\n  Do you want to proceed with this operation?\n   1. Yes\n  ↑↓ navigate • Enter select • Esc cancel";
        let hint = Grok.screen(asking);
        assert!(hint.waiting && !hint.working && !hint.ready);
        assert_eq!(Grok.answer(crate::protocol::AgentKey::Select(3)), b"\x1b[B\x1b[B\r");
        assert_eq!(Grok.answer(crate::protocol::AgentKey::Select(0)), b"\r");
    }

    #[test]
    fn only_a_grok_folders_settings_are_a_projects() {
        assert!(is_project_settings(Path::new("/w/p/.grok/settings.json")));
        assert!(!is_project_settings(Path::new("/w/p/.gemini/settings.json")));
        assert!(!is_project_settings(Path::new("/home/u/.grok/user-settings.json")));
        assert!(is_sbx_mcp_transport(&mcp_entry(Path::new("/usr/bin/sbx"))));
    }
}
