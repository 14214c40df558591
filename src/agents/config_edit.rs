//! Editing an agent's own config files without disturbing the user's content: merge sbx's
//! hook entries in, take exactly those out again, and when nothing else changed in between,
//! give the file back byte for byte (the bytes from before are kept in sbx's data folder).
//! A file that does not parse is refused with where it is broken; nothing is written then.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::config::paths::write_atomic;

/// What a file held before sbx first changed it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Original {
    pub path: PathBuf,
    /// base64 of the bytes, or None when the file did not exist.
    pub bytes: Option<String>,
}

/// A JSON config file as read: its bytes (None when absent) and its object.
pub type JsonFile = (Option<Vec<u8>>, Map<String, Value>);

/// Read a JSON object file; a missing file is an empty object.
pub fn read_json(path: &Path) -> Result<JsonFile> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, Map::new())),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok((Some(bytes), Map::new()));
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not valid JSON (line {}, column {}: {e}); fix it, nothing was changed",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    match value {
        Value::Object(map) => Ok((Some(bytes), map)),
        _ => bail!("{} holds JSON that is not an object; fix it, nothing was changed", path.display()),
    }
}

pub fn write_json(path: &Path, map: &Map<String, Value>) -> Result<()> {
    let mut text = serde_json::to_string_pretty(map)?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Is this hook command one of sbx's (`…sbx hook <agent> <Event>`)?
pub fn is_sbx_hook(command: &str, agent: &str) -> bool {
    let marker = format!(" hook {agent} ");
    let Some(at) = command.find(&marker) else { return false };
    let program = command[..at].trim_matches('\'');
    let event = &command[at + marker.len()..];
    (program == "sbx" || program.ends_with("/sbx"))
        && !event.is_empty()
        && event.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Add `command` for each event to a `{"hooks": {Event: [{matcher, hooks: [...]}]}}` object,
/// unless an sbx hook for that event is there already. Returns whether anything changed.
pub fn add_hooks(root: &mut Map<String, Value>, agent: &str, events: &[(&str, String)]) -> Result<bool> {
    add_hooks_timed(root, agent, events, 10)
}

/// `add_hooks` with each hook's `timeout` as the agent counts it (Claude and Codex: seconds;
/// Gemini CLI: milliseconds).
pub fn add_hooks_timed(
    root: &mut Map<String, Value>,
    agent: &str,
    events: &[(&str, String)],
    timeout: u64,
) -> Result<bool> {
    let hooks = root.entry("hooks").or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(hooks) = hooks else { bail!("\"hooks\" is not an object; fix it, nothing was changed") };
    let mut changed = false;
    for (event, command) in events {
        let list = hooks.entry(*event).or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(groups) = list else { bail!("hooks.{event} is not a list; fix it, nothing was changed") };
        let present = groups.iter().any(|g| {
            g["hooks"]
                .as_array()
                .is_some_and(|hs| hs.iter().any(|h| h["command"].as_str().is_some_and(|c| is_sbx_hook(c, agent))))
        });
        if !present {
            groups
                .push(json!({"matcher": "*", "hooks": [{"type": "command", "command": command, "timeout": timeout}]}));
            changed = true;
        }
    }
    Ok(changed)
}

/// Take sbx's hooks for `agent` out; drop what they leave empty. Returns whether anything changed.
pub fn remove_hooks(root: &mut Map<String, Value>, agent: &str) -> bool {
    let Some(Value::Object(hooks)) = root.get_mut("hooks") else { return false };
    let mut changed = false;
    for list in hooks.values_mut() {
        let Value::Array(groups) = list else { continue };
        for group in groups.iter_mut() {
            if let Some(Value::Array(hs)) = group.get_mut("hooks") {
                let before = hs.len();
                hs.retain(|h| !h["command"].as_str().is_some_and(|c| is_sbx_hook(c, agent)));
                changed |= hs.len() != before;
            }
        }
        groups.retain(|g| !g["hooks"].as_array().is_some_and(|hs| hs.is_empty()));
    }
    hooks.retain(|_, list| !list.as_array().is_some_and(|l| l.is_empty()));
    if hooks.is_empty() && changed {
        root.remove("hooks");
    }
    changed
}

/// Where the originals of the files sbx changes are kept.
pub struct Records {
    dir: PathBuf,
}

impl Records {
    pub fn new(data_dir: &Path) -> Records {
        Records { dir: data_dir.join("installs") }
    }

    fn file(&self, path: &Path) -> PathBuf {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        path.hash(&mut h);
        self.dir.join(format!("{:016x}.json", h.finish()))
    }

    /// Remember a file's bytes before sbx first changes it (kept until uninstall).
    pub fn remember(&self, path: &Path, bytes: Option<&[u8]>) -> Result<()> {
        let file = self.file(path);
        if file.exists() {
            return Ok(());
        }
        let original = Original {
            path: path.to_path_buf(),
            bytes: bytes.map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
        };
        write_atomic(&file, &serde_json::to_vec(&original)?)
    }

    pub fn original(&self, path: &Path) -> Option<Option<Vec<u8>>> {
        let text = std::fs::read(self.file(path)).ok()?;
        let original: Original = serde_json::from_slice(&text).ok()?;
        Some(original.bytes.map(|b| base64::engine::general_purpose::STANDARD.decode(b).unwrap_or_default()))
    }

    pub fn forget(&self, path: &Path) {
        let _ = std::fs::remove_file(self.file(path));
    }

    /// Every file whose original is kept (for an agent whose files are per project, all the
    /// projects sbx wrote into).
    pub fn paths(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .filter_map(|e| std::fs::read(e.path()).ok())
            .filter_map(|bytes| serde_json::from_slice::<Original>(&bytes).ok())
            .map(|original| original.path)
            .collect();
        paths.sort();
        paths
    }
}

/// Is this MCP server entry sbx's (`…/sbx mcp`)?
pub fn is_sbx_mcp(entry: &Value) -> bool {
    let command = entry["command"].as_str().unwrap_or("");
    (command == "sbx" || command.ends_with("/sbx")) && entry["args"] == serde_json::json!(["mcp"])
}

/// Is this MCP server entry, in the `{"transport": {"command", "args"}}` shape (Cline, Grok
/// CLI), sbx's?
pub fn is_sbx_mcp_transport(entry: &Value) -> bool {
    let transport = &entry["transport"];
    let command = transport["command"].as_str().unwrap_or("");
    (command == "sbx" || command.ends_with("/sbx")) && transport["args"].get(0).and_then(Value::as_str) == Some("mcp")
}

/// The `mcpServers` object of a settings file (made when missing).
pub fn mcp_servers<'a>(map: &'a mut Map<String, Value>, path: &Path) -> Result<&'a mut Map<String, Value>> {
    match map.entry("mcpServers").or_insert_with(|| json!({})) {
        Value::Object(servers) => Ok(servers),
        _ => bail!("\"mcpServers\" in {} is not an object; fix it, nothing was changed", path.display()),
    }
}

/// Add `sbx` under `key` (e.g. "mcpServers"); an entry named sbx that is not sbx's is refused.
pub fn add_mcp_server(root: &mut Map<String, Value>, key: &str, entry: Value) -> Result<bool> {
    let servers = root.entry(key).or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(servers) = servers else { bail!("\"{key}\" is not an object; fix it, nothing was changed") };
    match servers.get("sbx") {
        Some(existing) if is_sbx_mcp(existing) => Ok(false),
        Some(_) => {
            bail!("an MCP server named \"sbx\" that is not sbx is already configured; rename or remove it first")
        }
        None => {
            servers.insert("sbx".into(), entry);
            Ok(true)
        }
    }
}

pub fn remove_mcp_server(root: &mut Map<String, Value>, key: &str) -> bool {
    let Some(Value::Object(servers)) = root.get_mut(key) else { return false };
    if !servers.get("sbx").is_some_and(is_sbx_mcp) {
        return false;
    }
    servers.remove("sbx");
    if servers.is_empty() {
        root.remove(key);
    }
    true
}

pub fn has_mcp_server(root: &Map<String, Value>, key: &str) -> bool {
    root.get(key).and_then(|s| s.get("sbx")).is_some_and(is_sbx_mcp)
}

/// Whether every one of `events` has an sbx hook for `agent`.
pub fn has_sbx_hooks(root: &Map<String, Value>, agent: &str, events: &[&str]) -> bool {
    let Some(hooks) = root.get("hooks").and_then(Value::as_object) else { return false };
    events.iter().all(|e| {
        hooks.get(*e).and_then(Value::as_array).is_some_and(|groups| {
            groups.iter().any(|g| {
                g["hooks"]
                    .as_array()
                    .is_some_and(|hs| hs.iter().any(|h| h["command"].as_str().is_some_and(|c| is_sbx_hook(c, agent))))
            })
        })
    })
}

/// After sbx's entries were taken out of a file: when what is left equals what the file held
/// before sbx touched it (`same_as`), restore those exact bytes (or remove the file sbx
/// created); otherwise `write` the edited content. Either way the record is spent.
pub fn restore_or(
    records: &Records,
    path: &Path,
    same_as: impl FnOnce(Option<&[u8]>) -> bool,
    write: impl FnOnce() -> Result<()>,
) -> Result<()> {
    match records.original(path) {
        Some(original) if same_as(original.as_deref()) => match original {
            None => {
                let _ = std::fs::remove_file(path);
            }
            Some(bytes) => write_atomic(path, &bytes)?,
        },
        _ => write()?,
    }
    records.forget(path);
    Ok(())
}

/// `restore_or` for a JSON object file.
pub fn restore_or_write(records: &Records, path: &Path, map: &Map<String, Value>) -> Result<()> {
    let same = |original: Option<&[u8]>| match original {
        None => map.is_empty(),
        Some(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => map.is_empty(),
        Some(bytes) => serde_json::from_slice::<Value>(bytes).ok() == Some(Value::Object(map.clone())),
    };
    restore_or(records, path, same, || write_json(path, map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_sbx_hooks() {
        assert!(is_sbx_hook("/usr/local/bin/sbx hook claude Stop", "claude"));
        assert!(is_sbx_hook("'/opt/my tools/sbx' hook claude Stop", "claude"));
        assert!(!is_sbx_hook("/usr/local/bin/sbx hook codex Stop", "claude"));
        assert!(!is_sbx_hook("my-script hook claude Stop", "claude"));
        assert!(!is_sbx_hook("/bin/sbx hook claude Stop; rm -rf /", "claude"));
    }

    #[test]
    fn add_then_remove_leaves_the_users_hooks() {
        let user = json!({"theme": "dark", "hooks": {"Stop": [{"matcher": "*", "hooks": [{"type": "command", "command": "notify-send done"}]}]}});
        let mut map = user.as_object().unwrap().clone();
        let events = [
            ("Stop", "/x/sbx hook claude Stop".to_string()),
            ("SessionStart", "/x/sbx hook claude SessionStart".to_string()),
        ];
        assert!(add_hooks(&mut map, "claude", &events).unwrap());
        assert!(!add_hooks(&mut map, "claude", &events).unwrap(), "idempotent");
        assert_eq!(map["hooks"]["Stop"].as_array().unwrap().len(), 2);
        assert!(remove_hooks(&mut map, "claude"));
        assert_eq!(Value::Object(map), user);
    }

    #[test]
    fn broken_json_is_refused_with_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, "{\n  \"hooks\": {,\n}").unwrap();
        let err = read_json(&path).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn restores_the_exact_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::new(dir.path());
        let path = dir.path().join("settings.json");
        let original = b"{\"theme\":   \"dark\"}\n";
        std::fs::write(&path, original).unwrap();
        let (bytes, mut map) = read_json(&path).unwrap();
        records.remember(&path, bytes.as_deref()).unwrap();
        add_hooks(&mut map, "claude", &[("Stop", "sbx hook claude Stop".into())]).unwrap();
        write_json(&path, &map).unwrap();
        let (_, mut map) = read_json(&path).unwrap();
        remove_hooks(&mut map, "claude");
        restore_or_write(&records, &path, &map).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), original);
    }
}
