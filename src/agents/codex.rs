//! Codex. Its hooks must be trusted before they run: trust is a `[hooks.state."<source>:<event>:
//! <group>:<handler>"] trusted_hash` entry, the hash being sha256 over a normalised form of the
//! hook. An sbx pane passes its hooks and their trust per launch (`-c`), so nothing is written
//! to the user's files; `sbx init --provider codex` writes both into `$CODEX_HOME` for sessions
//! started outside sbx. Codex runs with `--no-daemon`: its shared background server would run
//! every pane's hooks with the environment of the pane that started it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::config_edit::{
    add_hooks, has_sbx_hooks, is_sbx_hook, read_json, remove_hooks, restore_or_write, write_json, Records,
};
use super::{home_dir, hook_command, Agent, AgentKind, Installed, Launch, LaunchCtx};
use crate::config::paths::write_atomic;

pub struct Codex;

pub const EVENTS: &[&str] =
    &["SessionStart", "UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse", "Stop", "SessionEnd"];

/// What Codex must pass on to `sbx mcp` (it strips everything else from MCP servers' env).
const MCP_ENV: &str = "[\"SBX_PANE_ID\", \"SBX_SOCKET\", \"SBX_HOME\"]";

/// The source Codex names hooks given with `-c` by.
const FLAGS_SOURCE: &str = "/<session-flags>/config.toml";

fn codex_home() -> PathBuf {
    home_dir("CODEX_HOME", ".codex")
}

fn hooks_path() -> PathBuf {
    codex_home().join("hooks.json")
}

fn config_path() -> PathBuf {
    codex_home().join("config.toml")
}

fn records() -> Result<Records> {
    Ok(Records::new(&crate::config::paths::Paths::resolve()?.data))
}

/// "PreToolUse" → "pre_tool_use", as Codex names events in trust keys and hashes.
fn snake(event: &str) -> String {
    let mut out = String::new();
    for (i, c) in event.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Codex 0.169's trust hash of one command hook.
pub fn trust_hash(event: &str, matcher: Option<&str>, command: &str, timeout: Option<u64>) -> String {
    let timeout = if event == "SessionEnd" { timeout.unwrap_or(1).clamp(1, 3) } else { timeout.unwrap_or(600).max(1) };
    let mut handler = BTreeMap::new();
    handler.insert("async", Value::Bool(false));
    handler.insert("command", Value::from(command));
    handler.insert("timeout", Value::from(timeout));
    handler.insert("type", Value::from("command"));
    let mut ident = BTreeMap::new();
    ident.insert("event_name", Value::from(snake(event)));
    ident.insert("hooks", serde_json::to_value([handler]).expect("plain values"));
    if let Some(m) = matcher.filter(|_| !matches!(event, "UserPromptSubmit" | "Stop")) {
        ident.insert("matcher", Value::from(m));
    }
    let text = serde_json::to_string(&ident).expect("plain values");
    let digest = Sha256::digest(text.as_bytes());
    format!("sha256:{}", hex::encode(digest))
}

/// A TOML array of strings, for a `-c` setting.
fn toml_array(items: &[String]) -> String {
    let items: Vec<String> =
        items.iter().map(|i| toml_edit::Value::from(i.as_str()).to_string().trim().to_string()).collect();
    format!("[{}]", items.join(","))
}

fn timeout_for(event: &str) -> u64 {
    if event == "SessionEnd" {
        3
    } else {
        10
    }
}

impl Agent for Codex {
    fn program(&self) -> &'static str {
        "codex"
    }

    fn install_hint(&self) -> &'static str {
        "npm install -g @openai/codex"
    }

    fn launch(&self, ctx: &LaunchCtx) -> Launch {
        let mut command = vec![self.program().to_string(), "--no-daemon".to_string()];
        // Codex gives an MCP server only the variables it is told to forward.
        let sbx = toml_edit::Value::from(ctx.sbx.display().to_string()).to_string();
        for setting in [
            format!("mcp_servers.sbx.command={}", sbx.trim()),
            format!("mcp_servers.sbx.args={}", toml_array(&super::mcp_args(Some(ctx.socket)))),
            format!("mcp_servers.sbx.env_vars={MCP_ENV}"),
        ] {
            command.push("-c".into());
            command.push(setting);
        }
        let installed = self.status(ctx.sbx).map(|s| s.iter().all(|i| i.present)).unwrap_or(false);
        if !installed {
            let mut trust = Vec::new();
            for event in EVENTS {
                let hook = hook_command(ctx.sbx, AgentKind::Codex, event);
                let timeout = timeout_for(event);
                let quoted = toml_edit::Value::from(hook.as_str()).to_string();
                command.push("-c".into());
                command.push(format!(
                    "hooks.{event}=[{{hooks=[{{type=\"command\",command={},timeout={timeout}}}]}}]",
                    quoted.trim()
                ));
                let key = format!("{FLAGS_SOURCE}:{}:0:0", snake(event));
                trust.push(format!(
                    "{}={{trusted_hash=\"{}\"}}",
                    toml_edit::Value::from(key.as_str()).to_string().trim(),
                    trust_hash(event, None, &hook, Some(timeout))
                ));
            }
            command.push("-c".into());
            command.push(format!("hooks.state={{{}}}", trust.join(",")));
        }
        // `codex resume ID` takes the same options after the subcommand.
        if let Some(id) = ctx.resume {
            command.splice(1..1, ["resume".to_string(), id.to_string()]);
        }
        command.extend(ctx.args.iter().cloned());
        let session_id = ctx.resume.map(str::to_string);
        Launch { command, env: vec![("SBX_AGENT".into(), "codex".into())], unset: Vec::new(), session_id }
    }

    fn screen(&self, screen: &str) -> super::ScreenHint {
        super::read_screen(
            screen,
            &["esc to interrupt"],
            // Its command approval, and its MCP tool approval ("Allow the sbx MCP server to run tool …?").
            &[
                "Press enter to confirm or esc to cancel",
                "Would you like to run the following command?",
                "MCP server to run tool",
            ],
            &["? for shortcuts"],
            &["Conversation interrupted", "You canceled the request"],
        )
    }

    fn said(&self, record: &str) -> Vec<super::Said> {
        // {"type":"response_item","payload":{"type":"message","role":"assistant","content":[{"type":"output_text",…}]}},
        // and "reasoning" (its summary, when it is not only encrypted).
        let Ok(record) = serde_json::from_str::<Value>(record) else { return Vec::new() };
        if record["type"] != "response_item" {
            return Vec::new();
        }
        let item = &record["payload"];
        let texts = |parts: &Value, kind: &str, thinking: bool| -> Vec<super::Said> {
            let Value::Array(parts) = parts else { return Vec::new() };
            parts
                .iter()
                .filter(|p| p["type"] == kind)
                .filter_map(|p| p["text"].as_str().filter(|t| !t.is_empty()))
                .map(|t| super::Said { text: t.to_string(), thinking })
                .collect()
        };
        match item["type"].as_str() {
            Some("message") if item["role"] == "assistant" => texts(&item["content"], "output_text", false),
            Some("reasoning") => texts(&item["summary"], "summary_text", true),
            _ => Vec::new(),
        }
    }

    fn turn_ended(&self, tail: &str) -> Option<bool> {
        // Rollout lines are {"type":"event_msg","payload":{"type":"task_started"|"task_complete"|"turn_aborted"}}.
        for line in tail.lines().rev() {
            let Ok(record) = serde_json::from_str::<Value>(line) else { continue };
            if record["type"] != "event_msg" {
                continue;
            }
            match record["payload"]["type"].as_str() {
                Some("turn_aborted") | Some("task_complete") => return Some(true),
                Some("task_started") => return Some(false),
                _ => continue,
            }
        }
        None
    }

    fn install(&self, sbx: &Path) -> Result<Vec<Installed>> {
        let path = hooks_path();
        let config = config_path();
        let (bytes, mut map) = read_json(&path)?;
        let (config_bytes, mut doc) = read_toml(&config)?;
        let events: Vec<(&str, String)> = EVENTS.iter().map(|e| (*e, hook_command(sbx, AgentKind::Codex, e))).collect();
        if add_hooks(&mut map, "codex", &events)? {
            let records = records()?;
            records.remember(&path, bytes.as_deref())?;
            records.remember(&config, config_bytes.as_deref())?;
            // Codex's hooks.json takes a timeout per hook; SessionEnd's is at most 3.
            set_timeouts(&mut map);
            trust_sbx_hooks(&mut doc, &path, &map)?;
            add_mcp_table(&mut doc, sbx)?;
            write_json(&path, &map)?;
            write_atomic(&config, doc.to_string().as_bytes())?;
        }
        self.status(sbx)
    }

    fn uninstall(&self) -> Result<Vec<Installed>> {
        let path = hooks_path();
        let config = config_path();
        let (bytes, mut map) = read_json(&path)?;
        let (config_bytes, mut doc) = read_toml(&config)?;
        if bytes.is_some() {
            let keys = sbx_trust_keys(&path, &map);
            if remove_hooks(&mut map, "codex") {
                let records = records()?;
                if config_bytes.is_some() {
                    untrust(&mut doc, &keys);
                    remove_mcp_table(&mut doc);
                    restore_or_write_toml(&records, &config, &doc)?;
                }
                restore_or_write(&records, &path, &map)?;
            }
        }
        self.status(Path::new("sbx"))
    }

    fn status(&self, _sbx: &Path) -> Result<Vec<Installed>> {
        let path = hooks_path();
        let (_, map) = read_json(&path)?;
        let present = has_sbx_hooks(&map, "codex", EVENTS);
        let trusted = present && {
            let (_, doc) = read_toml(&config_path())?;
            sbx_trust_keys(&path, &map).iter().all(|(key, hash)| {
                doc.get("hooks")
                    .and_then(|h| h.get("state"))
                    .and_then(|s| s.get(key))
                    .and_then(|e| e.get("trusted_hash"))
                    .and_then(|v| v.as_str())
                    == Some(hash.as_str())
            })
        };
        let (_, doc) = read_toml(&config_path())?;
        let mcp = doc.get("mcp_servers").and_then(|m| m.get("sbx")).is_some_and(is_sbx_mcp_table);
        Ok(vec![
            Installed { path, what: format!("hooks ({})", EVENTS.join(", ")), present },
            Installed { path: config_path(), what: "trust for sbx's hooks".into(), present: trusted },
            Installed { path: config_path(), what: "MCP server sbx".into(), present: mcp },
        ])
    }
}

fn set_timeouts(map: &mut serde_json::Map<String, Value>) {
    let Some(Value::Object(hooks)) = map.get_mut("hooks") else { return };
    for (event, groups) in hooks.iter_mut() {
        for group in groups.as_array_mut().into_iter().flatten() {
            for h in group["hooks"].as_array_mut().into_iter().flatten() {
                if h["command"].as_str().is_some_and(|c| is_sbx_hook(c, "codex")) {
                    h["timeout"] = Value::from(timeout_for(event));
                }
            }
        }
    }
}

/// The trust keys and hashes of sbx's hooks in a hooks file, by their places in it.
fn sbx_trust_keys(path: &Path, map: &serde_json::Map<String, Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(hooks) = map.get("hooks").and_then(Value::as_object) else { return out };
    for (event, groups) in hooks {
        for (gi, group) in groups.as_array().into_iter().flatten().enumerate() {
            for (hi, h) in group["hooks"].as_array().into_iter().flatten().enumerate() {
                let Some(command) = h["command"].as_str().filter(|c| is_sbx_hook(c, "codex")) else { continue };
                let key = format!("{}:{}:{gi}:{hi}", path.display(), snake(event));
                out.push((key, trust_hash(event, group["matcher"].as_str(), command, h["timeout"].as_u64())));
            }
        }
    }
    out
}

fn read_toml(path: &Path) -> Result<(Option<Vec<u8>>, toml_edit::DocumentMut)> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, toml_edit::DocumentMut::new())),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let text = String::from_utf8(bytes.clone())
        .with_context(|| format!("{} is not UTF-8; nothing was changed", path.display()))?;
    let doc = text.parse::<toml_edit::DocumentMut>().map_err(|e| {
        anyhow::anyhow!("{} is not valid TOML: {}; fix it, nothing was changed", path.display(), e.to_string().trim())
    })?;
    Ok((Some(bytes), doc))
}

fn trust_sbx_hooks(doc: &mut toml_edit::DocumentMut, path: &Path, map: &serde_json::Map<String, Value>) -> Result<()> {
    let hooks = doc.entry("hooks").or_insert(toml_edit::table());
    let Some(hooks) = hooks.as_table_like_mut() else {
        bail!("[hooks] in config.toml is not a table; fix it, nothing was changed")
    };
    let state = hooks.entry("state").or_insert(toml_edit::table());
    let Some(state) = state.as_table_like_mut() else {
        bail!("hooks.state in config.toml is not a table; fix it, nothing was changed")
    };
    for (key, hash) in sbx_trust_keys(path, map) {
        let mut entry = toml_edit::Table::new();
        entry.insert("trusted_hash", toml_edit::value(hash));
        state.insert(&key, toml_edit::Item::Table(entry));
    }
    Ok(())
}

fn is_sbx_mcp_table(item: &toml_edit::Item) -> bool {
    let command = item.get("command").and_then(|c| c.as_str()).unwrap_or("");
    let args: Vec<&str> = item
        .get("args")
        .and_then(|a| a.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    (command == "sbx" || command.ends_with("/sbx")) && args == ["mcp"]
}

fn add_mcp_table(doc: &mut toml_edit::DocumentMut, sbx: &Path) -> Result<()> {
    let servers = doc.entry("mcp_servers").or_insert(toml_edit::table());
    let Some(servers) = servers.as_table_like_mut() else {
        bail!("mcp_servers in config.toml is not a table; fix it, nothing was changed")
    };
    if let Some(existing) = servers.get("sbx") {
        if is_sbx_mcp_table(existing) {
            return Ok(());
        }
        bail!("config.toml already has an MCP server named sbx that is not sbx; rename or remove it first");
    }
    let mut table = toml_edit::Table::new();
    table.insert("command", toml_edit::value(sbx.display().to_string()));
    let mut args = toml_edit::Array::new();
    args.push("mcp");
    table.insert("args", toml_edit::value(args));
    let mut env = toml_edit::Array::new();
    for var in ["SBX_PANE_ID", "SBX_SOCKET", "SBX_HOME"] {
        env.push(var);
    }
    table.insert("env_vars", toml_edit::value(env));
    servers.insert("sbx", toml_edit::Item::Table(table));
    Ok(())
}

fn remove_mcp_table(doc: &mut toml_edit::DocumentMut) {
    let Some(servers) = doc.get_mut("mcp_servers").and_then(|m| m.as_table_like_mut()) else { return };
    if servers.get("sbx").is_some_and(is_sbx_mcp_table) {
        servers.remove("sbx");
    }
    if servers.is_empty() {
        doc.remove("mcp_servers");
    }
}

fn untrust(doc: &mut toml_edit::DocumentMut, keys: &[(String, String)]) {
    let Some(hooks) = doc.get_mut("hooks").and_then(|h| h.as_table_like_mut()) else { return };
    let mut empty_state = false;
    if let Some(state) = hooks.get_mut("state").and_then(|s| s.as_table_like_mut()) {
        for (key, _) in keys {
            state.remove(key);
        }
        empty_state = state.is_empty();
    }
    if empty_state {
        hooks.remove("state");
    }
    if hooks.is_empty() {
        doc.remove("hooks");
    }
}

/// `restore_or` for config.toml, compared as TOML.
fn restore_or_write_toml(records: &Records, path: &Path, doc: &toml_edit::DocumentMut) -> Result<()> {
    let text = doc.to_string();
    let now: Option<toml::Table> = text.parse().ok();
    let same = |original: Option<&[u8]>| {
        let before: Option<toml::Table> = match original {
            None => Some(toml::Table::new()),
            Some(bytes) => std::str::from_utf8(bytes).ok().and_then(|t| t.parse().ok()),
        };
        before.is_some() && before == now
    };
    super::config_edit::restore_or(records, path, same, || write_atomic(path, text.as_bytes()))
}

#[cfg(test)]
mod said_tests {
    use super::super::{Agent, Said};
    use super::Codex;

    #[test]
    fn what_codex_said_is_read_from_its_rollout() {
        let text = r#"{"type":"response_item","payload":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Available tools"}]}}"#;
        assert_eq!(Codex.said(text), [Said { text: "Available tools".into(), thinking: false }]);
        let call = r#"{"type":"response_item","payload":{"type":"function_call","name":"exec_command","arguments":"{\"cmd\": \"ls\"}","call_id":"c"}}"#;
        assert!(Codex.said(call).is_empty(), "the tools it calls come from its hooks");
        let reasoning = r#"{"type":"response_item","payload":{"type":"reasoning","summary":[{"type":"summary_text","text":"Looking"}],"encrypted_content":"gAAA"}}"#;
        assert_eq!(Codex.said(reasoning), [Said { text: "Looking".into(), thinking: true }]);
        let user = r#"{"type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}}"#;
        assert!(Codex.said(user).is_empty() && Codex.said("not json").is_empty());
    }

    #[test]
    fn an_mcp_tool_approval_is_a_question() {
        let screen = "• Calling sbx.bridge_send_message\n\n  Field 1/1\n  Allow the sbx MCP server to run tool \"bridge_send_message\"?\n\n  › 1. Allow   Run the tool and continue\n    4. Cancel  Cancel this tool call";
        assert!(Codex.screen(screen).waiting, "{:?}", Codex.screen(screen));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_hashes_match_what_codex_writes() {
        // Written by codex 0.169 itself for `-c` hooks (seen in its config.toml).
        assert_eq!(
            trust_hash("SessionStart", None, "/tmp/agent-stub/hooklog.sh codex-cli SessionStart", Some(10)),
            "sha256:0935c7e5050003e5727bdfd93a4ad596c3a458b1cf5452752b00548fb9db217f"
        );
        assert_eq!(
            trust_hash("UserPromptSubmit", None, "/tmp/agent-stub/hooklog.sh codex-cli UserPromptSubmit", Some(10)),
            "sha256:ca47281688aea7c1cc17fe9da28bc7cc20fe24a31782e20d31307fa16511c489"
        );
        assert_eq!(snake("PreToolUse"), "pre_tool_use");
    }
}

#[cfg(test)]
mod transcript_tests {
    use super::*;

    #[test]
    fn the_rollout_says_when_a_turn_ended() {
        let started = r#"{"type":"event_msg","payload":{"type":"task_started"}}"#;
        let aborted = r#"{"type":"event_msg","payload":{"type":"turn_aborted"}}"#;
        let item = r#"{"type":"response_item","payload":{"type":"message"}}"#;
        assert_eq!(Codex.turn_ended(&format!("{started}\n{item}\n")), Some(false));
        assert_eq!(Codex.turn_ended(&format!("{started}\n{item}\n{aborted}\n")), Some(true));
        assert_eq!(Codex.turn_ended("not json\n"), None);
    }
}
