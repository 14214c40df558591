//! opencode (`opencode-ai`). It has no hook commands: it has plugins, JavaScript modules it
//! runs in its own process (under Bun) and tells of every event. sbx's plugin
//! (`OPENCODE_PLUGIN` below) turns the events it needs into `sbx hook opencode <Event>` runs
//! with Claude's input shape, so the state machine stays one:
//!
//! - plugin loaded → `SessionStart`; `chat.message` (a prompt) → `UserPromptSubmit`, whose
//!   answer (the inbox block) it adds to the prompt as a synthetic text part;
//! - `tool.execute.before` / `after` → `PreToolUse` / `PostToolUse`; `permission.asked` →
//!   `Notification` (`permission_prompt`); `session.idle` → `Stop` (also after a refused tool
//!   or an interrupt, which fire nothing else).
//!
//! A pane gets the plugin and sbx's MCP server per launch in `OPENCODE_CONFIG_CONTENT`, which
//! opencode merges over the user's own config (plugin lists add up), so no file of the user's
//! is edited. The plugin does nothing outside an sbx pane.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};

use super::config_edit::{read_json, restore_or_write, write_json, Records};
use super::{Agent, Installed, Launch, LaunchCtx};
use crate::config::paths::write_atomic;

pub struct Opencode;

const SCHEMA: &str = "https://opencode.ai/config.json";

/// sbx's plugin. `__SBX__` is replaced by the sbx binary's path, as a JSON string.
const PLUGIN_FIRST_LINE: &str = "// sbx's plugin for opencode";
const OPENCODE_PLUGIN: &str = r#"// sbx's plugin for opencode: reports the session's state to the sbx pane it runs in, and
// gives the model that pane's unread messages before a prompt. Written by sbx; it is
// rewritten at each launch, so edits are lost.
const SBX = __SBX__;

async function hook(event, payload) {
  if (!process.env.SBX_PANE_ID) return "";
  try {
    const child = Bun.spawn([SBX, "hook", "opencode", event], { stdin: "pipe", stdout: "pipe", stderr: "ignore" });
    child.stdin.write(JSON.stringify(payload));
    child.stdin.end();
    const out = await new Response(child.stdout).text();
    await child.exited;
    return out;
  } catch (e) {
    return "";
  }
}

export const SbxPlugin = async ({ directory }) => {
  await hook("SessionStart", { cwd: directory });
  return {
    event: async ({ event }) => {
      const p = event.properties || {};
      if (event.type === "session.idle") {
        await hook("Stop", { session_id: p.sessionID, cwd: directory });
      } else if (event.type === "permission.asked") {
        await hook("Notification", {
          session_id: p.sessionID, notification_type: "permission_prompt",
          tool_name: p.permission, tool_input: p.metadata || {}, cwd: directory,
        });
      }
    },
    "chat.message": async (input, output) => {
      const out = await hook("UserPromptSubmit", { session_id: input.sessionID, cwd: directory });
      let context = "";
      try { context = JSON.parse(out).hookSpecificOutput.additionalContext || ""; } catch (e) {}
      if (context && output && output.message && Array.isArray(output.parts)) {
        // First among the prompt's parts (they go in id order): "prt_" then the message's own id.
        output.parts.unshift({
          id: "prt_" + String(output.message.id || "").replace(/^msg_/, "") + "0sbx",
          sessionID: input.sessionID, messageID: output.message.id,
          type: "text", text: context, synthetic: true,
        });
      }
    },
    "tool.execute.before": async (input, output) => {
      await hook("PreToolUse", {
        session_id: input.sessionID, tool_name: input.tool, tool_input: (output && output.args) || {}, cwd: directory,
      });
    },
    "tool.execute.after": async (input) => {
      await hook("PostToolUse", { session_id: input.sessionID, tool_name: input.tool, cwd: directory });
    },
  };
};
"#;

/// opencode's own config folder: `$XDG_CONFIG_HOME/opencode`, else `~/.config/opencode`.
fn user_config_dir() -> PathBuf {
    super::home_dir("XDG_CONFIG_HOME", ".config").join("opencode")
}

/// The user's config that `sbx init` edits. sbx writes JSON; a `opencode.jsonc` (comments)
/// is the user's to edit by hand.
fn user_config_path() -> Result<PathBuf> {
    let dir = user_config_dir();
    let (json, jsonc) = (dir.join("opencode.json"), dir.join("opencode.jsonc"));
    if !json.exists() && jsonc.exists() {
        bail!(
            "your opencode config is {} (JSON with comments), which sbx does not rewrite; add \"mcp\": {{\"sbx\": \
             {{\"type\": \"local\", \"command\": [\"sbx\", \"mcp\"]}}}} to it by hand, or run opencode in an sbx pane",
            jsonc.display()
        );
    }
    Ok(json)
}

/// Where opencode loads plugins from by itself.
fn user_plugin_path() -> Result<PathBuf> {
    Ok(user_config_dir().join("plugins").join("sbx.js"))
}

fn is_our_plugin(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.starts_with(PLUGIN_FIRST_LINE))
}

/// sbx's MCP entry as opencode takes it: `{"type": "local", "command": ["…/sbx", "mcp"]}`.
fn is_sbx_entry(entry: &Value) -> bool {
    let command: Vec<&str> = entry["command"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    matches!(command.as_slice(), [program, "mcp", ..] if *program == "sbx" || program.ends_with("/sbx"))
}

fn records() -> Result<Records> {
    Ok(Records::new(&crate::config::paths::Paths::resolve()?.data))
}

fn plugin_text(sbx: &Path) -> String {
    OPENCODE_PLUGIN.replace("__SBX__", &Value::String(sbx.display().to_string()).to_string())
}

/// Write the plugin in sbx's data folder (only when it differs); None (the agent then runs
/// untracked, as outside sbx) when it cannot be written.
fn write_plugin(sbx: &Path) -> Option<PathBuf> {
    let written = (|| -> Result<PathBuf> {
        let path = crate::config::paths::Paths::resolve()?.data.join("agents").join("opencode-sbx.js");
        let text = plugin_text(sbx);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            write_atomic(&path, text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(path)
    })();
    written.map_err(|e| tracing::warn!("opencode: its state will not be tracked: {e:#}")).ok()
}

/// The config a pane's opencode gets on top of the user's: sbx's MCP server (`sbx_*` tools to
/// the model) and, when it could be written, sbx's plugin. A config the user gave the same way
/// (`OPENCODE_CONFIG_CONTENT`, JSON) is kept, with sbx's entries added.
fn launch_config(sbx: &Path, socket: &Path, plugin: Option<&Path>, user: Option<&str>) -> String {
    let mut config: Map<String, Value> = user
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    config.entry("$schema").or_insert_with(|| SCHEMA.into());
    let mut command = vec![sbx.display().to_string()];
    command.extend(super::mcp_args(Some(socket)));
    let mcp = config.entry("mcp").or_insert_with(|| json!({}));
    if let Some(servers) = mcp.as_object_mut() {
        servers.insert("sbx".into(), json!({ "type": "local", "command": command, "enabled": true }));
    }
    if let Some(plugin) = plugin {
        let url = format!("file://{}", plugin.display());
        let plugins = config.entry("plugin").or_insert_with(|| json!([]));
        if let Some(list) = plugins.as_array_mut() {
            if !list.iter().any(|p| p.as_str() == Some(url.as_str())) {
                list.push(url.into());
            }
        }
    }
    Value::Object(config).to_string()
}

/// opencode's session ids (`ses_` and base62); `--continue` or a title name none.
fn is_session_id(arg: &str) -> bool {
    arg.strip_prefix("ses_").is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

impl Agent for Opencode {
    fn program(&self) -> &'static str {
        "opencode"
    }

    fn install_hint(&self) -> &'static str {
        "npm install -g opencode-ai"
    }

    fn launch(&self, ctx: &LaunchCtx) -> Launch {
        // After `sbx init` opencode loads sbx's plugin by itself; twice would report twice.
        let installed = user_plugin_path().is_ok_and(|p| is_our_plugin(&p));
        let plugin = if installed { None } else { write_plugin(ctx.sbx) };
        let user = std::env::var("OPENCODE_CONFIG_CONTENT").ok();
        let config = launch_config(ctx.sbx, ctx.socket, plugin.as_deref(), user.as_deref());
        let mut command = vec![self.program().to_string()];
        if let Some(id) = ctx.resume {
            command.extend(["--session".to_string(), id.to_string()]);
        }
        command.extend(ctx.args.iter().cloned());
        let session_id = ctx.resume.map(str::to_string).or_else(|| {
            super::resumed_in_args(ctx.args, &["--session", "-s"]).filter(|id| is_session_id(id)).map(str::to_string)
        });
        let env =
            vec![("SBX_AGENT".to_string(), "opencode".to_string()), ("OPENCODE_CONFIG_CONTENT".to_string(), config)];
        Launch { command, env, unset: Vec::new(), session_id }
    }

    fn install(&self, sbx: &Path) -> Result<Vec<Installed>> {
        let path = user_config_path()?;
        let (bytes, mut map) = read_json(&path)?;
        let servers = map.entry("mcp").or_insert_with(|| json!({}));
        let Value::Object(servers) = servers else {
            bail!("\"mcp\" in {} is not an object; fix it, nothing was changed", path.display())
        };
        let mcp = match servers.get("sbx") {
            Some(existing) if is_sbx_entry(existing) => false,
            Some(_) => {
                bail!("an MCP server named \"sbx\" that is not sbx is in {}; rename or remove it first", path.display())
            }
            None => {
                let mut command = vec![sbx.display().to_string()];
                command.extend(super::mcp_args(None));
                servers.insert("sbx".into(), json!({ "type": "local", "command": command }));
                true
            }
        };
        if mcp {
            // It must carry `$schema`, or opencode writes one into the file itself.
            if bytes.is_none() {
                map.insert("$schema".into(), SCHEMA.into());
            }
            records()?.remember(&path, bytes.as_deref())?;
            write_json(&path, &map)?;
        }
        let plugin = user_plugin_path()?;
        let text = plugin_text(sbx);
        if std::fs::read_to_string(&plugin).ok().as_deref() != Some(text.as_str()) {
            if plugin.exists() && !is_our_plugin(&plugin) {
                bail!("{} is not sbx's; rename or remove it first", plugin.display());
            }
            write_atomic(&plugin, text.as_bytes())?;
        }
        self.status(sbx)
    }

    fn uninstall(&self) -> Result<Vec<Installed>> {
        let path = user_config_path()?;
        let (bytes, mut map) = read_json(&path)?;
        if bytes.is_some() {
            let ours = map.get("mcp").and_then(|m| m.get("sbx")).is_some_and(is_sbx_entry);
            if ours {
                if let Some(Value::Object(servers)) = map.get_mut("mcp") {
                    servers.remove("sbx");
                    if servers.is_empty() {
                        map.remove("mcp");
                    }
                }
                restore_or_write(&records()?, &path, &map)?;
            }
        }
        let plugin = user_plugin_path()?;
        if is_our_plugin(&plugin) {
            std::fs::remove_file(&plugin).with_context(|| format!("cannot remove {}", plugin.display()))?;
        }
        self.status(Path::new("sbx"))
    }

    fn status(&self, _sbx: &Path) -> Result<Vec<Installed>> {
        let path = user_config_path()?;
        let (_, map) = read_json(&path)?;
        let plugin = user_plugin_path()?;
        Ok(vec![
            Installed { present: is_our_plugin(&plugin), path: plugin, what: "plugin (state and inbox)".into() },
            Installed {
                present: map.get("mcp").and_then(|m| m.get("sbx")).is_some_and(is_sbx_entry),
                path,
                what: "MCP server".into(),
            },
        ])
    }

    fn screen(&self, screen: &str) -> super::ScreenHint {
        super::read_screen(
            screen,
            &["esc interrupt", "esc again to interrupt"],
            &["Permission required"],
            &["ctrl+p commands", "Ask anything"],
            &["· interrupted"],
        )
    }

    fn ready_after_session_start(&self) -> bool {
        // The plugin (its SessionStart) loads before the input is drawn.
        true
    }

    fn turn_ended(&self, _tail: &str) -> Option<bool> {
        // Its sessions are rows in SQLite, not a transcript file to read.
        None
    }

    fn answer(&self, key: crate::protocol::AgentKey) -> Vec<u8> {
        use crate::protocol::AgentKey;
        match key {
            // "Allow once" is highlighted first; Esc rejects.
            AgentKey::Confirm => b"\r".to_vec(),
            AgentKey::Cancel => b"\x1b".to_vec(),
            // Its options are in a row: move right to the n-th (1-based), then Enter.
            AgentKey::Select(n) => super::pick_option(b"\x1b[C", n, 10),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pane_config_adds_sbx_to_the_users_own() {
        let (sbx, socket, plugin) =
            (Path::new("/usr/bin/sbx"), Path::new("/run/s.sock"), Path::new("/d/opencode-sbx.js"));
        let user = r#"{"model":"x/y","plugin":["mine"],"mcp":{"other":{"type":"local","command":["o"]}}}"#;
        let config: Value = serde_json::from_str(&launch_config(sbx, socket, Some(plugin), Some(user))).unwrap();
        assert_eq!(config["model"], "x/y");
        assert_eq!(config["plugin"], json!(["mine", "file:///d/opencode-sbx.js"]));
        assert_eq!(config["mcp"]["other"]["command"], json!(["o"]));
        assert_eq!(config["mcp"]["sbx"]["command"], json!(["/usr/bin/sbx", "mcp", "--socket", "/run/s.sock"]));
        assert_eq!(config["$schema"], SCHEMA);
        let alone: Value = serde_json::from_str(&launch_config(sbx, socket, None, Some("not json"))).unwrap();
        assert!(alone.get("plugin").is_none() && alone["mcp"]["sbx"].is_object());
    }

    #[test]
    fn the_plugin_names_sbx_as_a_javascript_string() {
        let text = plugin_text(Path::new("/opt/it's \"odd\"/sbx"));
        assert!(text.contains(r#"const SBX = "/opt/it's \"odd\"/sbx";"#), "{}", &text[..300]);
    }

    #[test]
    fn sessions_and_answers() {
        assert!(is_session_id("ses_dc2f79b95ffeOcNUKUvMG0xYF2"));
        assert!(!is_session_id("ses_") && !is_session_id("latest") && !is_session_id("ses_a/b"));
        assert_eq!(Opencode.answer(crate::protocol::AgentKey::Select(3)), b"\x1b[C\x1b[C\r");
    }
}
