//! Cline's sessions: a folder per session, `<sessions>/<id>/`, holding its manifest
//! (`<id>.json`: status, model, the folder it ran in, where its messages are) and its messages
//! (`<id>.messages.json`). `cline --id ID` resumes from those two files alone (its
//! `sessions.db` row is an index it can do without). The manifest names absolute paths of the
//! machine it was written on (`cwd`, `workspace_root`, `messages_path`), so an opened session's
//! manifest is rewritten for the receiver's folder and sessions folder; its messages arrive
//! byte for byte.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::{mtime, one_line, valid_session_id, Session, Tool};

/// The largest manifest `sbx open` reads (Cline's are a kilobyte or two).
pub const MANIFEST_LIMIT: u64 = 1 << 20;

fn manifest_name(id: &str) -> String {
    format!("{id}.json")
}

fn messages_name(id: &str) -> String {
    format!("{id}.messages.json")
}

/// Whether `path` (relative to the sessions folder) is one of session `id`'s files: its
/// manifest or its messages, in its own folder.
pub fn fits_layout(id: &str, path: &str) -> bool {
    path.strip_prefix(id)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|name| name == manifest_name(id) || name == messages_name(id))
}

/// A manifest's title: Cline's own (`metadata.title`), else its first prompt without the
/// `<user_input mode="…">` wrapper it keeps it in.
fn title_of(manifest: &Value) -> String {
    if let Some(title) = manifest["metadata"]["title"].as_str().filter(|t| !t.trim().is_empty()) {
        return one_line(title);
    }
    let prompt = manifest["prompt"].as_str().unwrap_or_default();
    let inner = prompt
        .strip_prefix("<user_input")
        .and_then(|rest| rest.split_once('>'))
        .and_then(|(_, rest)| rest.strip_suffix("</user_input>"))
        .unwrap_or(prompt);
    one_line(inner)
}

fn read_manifest(path: &Path) -> Option<Value> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice::<Value>(&bytes).ok().filter(Value::is_object)
}

pub fn sessions(out: &mut Vec<Session>) {
    let root = crate::agents::cline_sessions_dir();
    let Ok(dirs) = std::fs::read_dir(&root) else { return };
    for dir in dirs.flatten() {
        let id = dir.file_name().to_string_lossy().into_owned();
        if !dir.file_type().is_ok_and(|t| t.is_dir())
            || !valid_session_id(&id)
            || !crate::agents::is_cline_session_id(&id)
        {
            continue;
        }
        let folder = dir.path();
        let messages = folder.join(messages_name(&id));
        let Some(manifest) = read_manifest(&folder.join(manifest_name(&id))) else { continue };
        // Only a session laid out as Cline lays them out: its messages in its own folder.
        let own = format!("{id}/{}", messages_name(&id));
        let in_folder = manifest["messages_path"].as_str().is_none_or(|p| Path::new(p).ends_with(&own));
        if manifest["session_id"] != id.as_str() || !in_folder || !messages.is_file() {
            continue;
        }
        out.push(Session {
            tool: Tool::Cline,
            project: manifest["cwd"].as_str().unwrap_or_default().to_string(),
            title: title_of(&manifest),
            updated: mtime(&messages),
            root: root.clone(),
            files: vec![format!("{id}/{}", manifest_name(&id)), format!("{id}/{}", messages_name(&id))],
            id,
        });
    }
}

/// The sender's manifest made the receiver's: the session runs in `dir` now, its messages are
/// below `root` (the receiver's sessions folder). Everything else stays as Cline wrote it.
pub fn manifest_for(sent: &[u8], id: &str, dir: &Path, root: &Path) -> Result<Vec<u8>> {
    let mut manifest: Value = serde_json::from_slice(sent).context("refused: the session's manifest is not JSON")?;
    let Some(fields) = manifest.as_object_mut() else { bail!("refused: the session's manifest is not a JSON object") };
    if fields.get("session_id").and_then(Value::as_str) != Some(id) {
        bail!("refused: the session's manifest names another session");
    }
    let folder = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()).display().to_string();
    fields.insert("cwd".into(), Value::String(folder.clone()));
    fields.insert("workspace_root".into(), Value::String(folder));
    let messages = root.join(id).join(messages_name(id));
    fields.insert("messages_path".into(), Value::String(messages.display().to_string()));
    // A compaction file is never sent: a path to the sender's would be read on this machine.
    fields.remove("compaction_path");
    let mut bytes = serde_json::to_vec_pretty(&manifest)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The manifest's path among a session's files.
pub fn manifest_path(id: &str) -> String {
    format!("{id}/{}", manifest_name(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1796418965911_ptcoh";

    #[test]
    fn only_a_sessions_own_two_files_fit() {
        assert!(fits_layout(ID, &format!("{ID}/{ID}.json")));
        assert!(fits_layout(ID, &format!("{ID}/{ID}.messages.json")));
        for bad in [
            format!("{ID}.json"),
            format!("{ID}/other.json"),
            format!("{ID}/{ID}.json/x"),
            format!("{ID}/../{ID}.json"),
            format!("1796418965911_other/{ID}.json"),
            format!("{ID}x/{ID}.json"),
        ] {
            assert!(!fits_layout(ID, &bad), "{bad}");
        }
    }

    #[test]
    fn a_manifest_is_made_the_receivers_and_nothing_else_changes() {
        let sent = format!(
            "{{\"version\":1,\"session_id\":\"{ID}\",\"cwd\":\"/home/bob/p\",\"workspace_root\":\"/home/bob/p\",\
             \"metadata\":{{\"title\":\"t\"}},\"messages_path\":\"/home/bob/.cline/data/sessions/{ID}/{ID}.messages.json\",\
             \"compaction_path\":\"/home/bob/c.json\",\"status\":\"completed\"}}"
        );
        let got = manifest_for(sent.as_bytes(), ID, Path::new("/nonexistent/alice"), Path::new("/a/sessions")).unwrap();
        let got: Value = serde_json::from_slice(&got).unwrap();
        assert_eq!(got["cwd"], "/nonexistent/alice");
        assert_eq!(got["workspace_root"], "/nonexistent/alice");
        assert_eq!(got["messages_path"], format!("/a/sessions/{ID}/{ID}.messages.json"));
        assert!(got.get("compaction_path").is_none());
        assert_eq!((got["status"].as_str(), got["metadata"]["title"].as_str()), (Some("completed"), Some("t")));
        let keys: Vec<&str> = got.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys[..3], ["version", "session_id", "cwd"], "Cline's order kept");

        let other = sent.replace(&format!("\"session_id\":\"{ID}\""), "\"session_id\":\"1_other\"");
        assert!(manifest_for(other.as_bytes(), ID, Path::new("/x"), Path::new("/y")).is_err());
        assert!(manifest_for(b"[1]", ID, Path::new("/x"), Path::new("/y")).is_err());
        assert!(manifest_for(b"not json", ID, Path::new("/x"), Path::new("/y")).is_err());
    }

    #[test]
    fn a_title_is_clines_or_its_first_prompt_unwrapped() {
        let v: Value = serde_json::json!({"metadata": {"title": "second word heron"}, "prompt": "x"});
        assert_eq!(title_of(&v), "second word heron");
        let v: Value = serde_json::json!({"prompt": "<user_input mode=\"act\">hello there</user_input>"});
        assert_eq!(title_of(&v), "hello there");
        let v: Value = serde_json::json!({"prompt": "plain\u{1b}[31m"});
        assert!(!title_of(&v).contains('\u{1b}'), "no control characters reach a terminal");
    }
}
