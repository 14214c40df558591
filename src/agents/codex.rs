//! Codex: sbx's hooks live in `$CODEX_HOME/hooks.json` (Codex has no per-launch hook option);
//! `sbx init --provider codex` installs them, and sbx panes pass what the hooks need.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use super::config_edit::{add_hooks, is_sbx_hook, read_json, remove_hooks, restore_or_write, write_json, Records};
use super::{home_dir, hook_command, Agent, AgentKind, Installed, Launch, LaunchCtx};

pub struct Codex;

pub const EVENTS: &[&str] =
    &["SessionStart", "UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse", "Stop"];

fn codex_home() -> PathBuf {
    home_dir("CODEX_HOME", ".codex")
}

fn hooks_path() -> PathBuf {
    codex_home().join("hooks.json")
}

fn records() -> Result<Records> {
    Ok(Records::new(&crate::config::paths::Paths::resolve()?.data))
}

impl Agent for Codex {
    fn program(&self) -> &'static str {
        "codex"
    }

    fn install_hint(&self) -> &'static str {
        "npm install -g @openai/codex"
    }

    fn launch(&self, ctx: &LaunchCtx) -> Launch {
        let mut command = vec![self.program().to_string()];
        command.extend(ctx.args.iter().cloned());
        Launch { command, env: vec![("SBX_AGENT".into(), "codex".into())], session_id: None }
    }

    fn install(&self, sbx: &Path) -> Result<Vec<Installed>> {
        let path = hooks_path();
        let (bytes, mut map) = read_json(&path)?;
        let events: Vec<(&str, String)> = EVENTS.iter().map(|e| (*e, hook_command(sbx, AgentKind::Codex, e))).collect();
        if add_hooks(&mut map, "codex", &events)? {
            records()?.remember(&path, bytes.as_deref())?;
            write_json(&path, &map)?;
        }
        self.status(sbx)
    }

    fn uninstall(&self) -> Result<Vec<Installed>> {
        let path = hooks_path();
        let (bytes, mut map) = read_json(&path)?;
        if bytes.is_some() && remove_hooks(&mut map, "codex") {
            restore_or_write(&records()?, &path, &map)?;
        }
        self.status(Path::new("sbx"))
    }

    fn status(&self, _sbx: &Path) -> Result<Vec<Installed>> {
        let path = hooks_path();
        let (_, map) = read_json(&path)?;
        let present = map.get("hooks").and_then(Value::as_object).is_some_and(|h| {
            EVENTS.iter().all(|e| {
                h.get(*e).and_then(Value::as_array).is_some_and(|groups| {
                    groups.iter().any(|g| {
                        g["hooks"].as_array().is_some_and(|hs| {
                            hs.iter().any(|x| x["command"].as_str().is_some_and(|c| is_sbx_hook(c, "codex")))
                        })
                    })
                })
            })
        });
        Ok(vec![Installed { path, what: format!("hooks ({})", EVENTS.join(", ")), present }])
    }
}
