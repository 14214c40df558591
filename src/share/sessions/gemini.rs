//! Gemini CLI's chats: `~/.gemini/tmp/<project>/chats/session-<minute>-<id8>.jsonl`, one file
//! per session whose first record names the whole session id. `<project>` is a short name
//! Gemini gives each folder (`projects.json`, its registry) and proves by a `.project_root`
//! file in that folder holding the folder's path. Gemini finds a folder's name by the registry
//! or, failing that, by any `.project_root` that names the folder — so an opened chat needs
//! only its file and, for a folder Gemini has never seen, a marker of sbx's making. The
//! registry is Gemini's (kept under its own lock) and sbx never writes it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::{mtime, one_line, valid_session_id, Session, Tool};

const MARKER: &str = ".project_root";

fn gemini_dir() -> PathBuf {
    crate::agents::gemini_dir()
}

/// The folders Gemini keeps per project, each proved by its own marker.
fn project_bases(gemini: &Path) -> [PathBuf; 2] {
    [gemini.join("tmp"), gemini.join("history")]
}

/// The chats folder of project `name`.
pub fn chats_dir(name: &str) -> PathBuf {
    gemini_dir().join("tmp").join(name).join("chats")
}

/// Whether `name` is a main chat's file for session `id`: `session-<minute>-<id[..8]>.jsonl`,
/// the minute as Gemini writes it (`2026-12-03T17-47`).
pub fn is_chat_file(id: &str, name: &str) -> bool {
    let Some(short) = id.get(..8) else { return false };
    let Some(stamp) = name.strip_prefix("session-").and_then(|n| n.strip_suffix(&format!("-{short}.jsonl"))) else {
        return false;
    };
    !stamp.is_empty() && stamp.len() <= 32 && stamp.chars().all(|c| c.is_ascii_digit() || c == '-' || c == 'T')
}

/// The folder a marker names, trimmed as Gemini reads it.
fn marker_owner(project: &Path) -> Option<String> {
    let text = std::fs::read_to_string(project.join(MARKER)).ok()?;
    Some(text.trim().to_string())
}

/// Gemini's names are `[a-z0-9-]+` (its registry's schema); nothing else may become a path.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Gemini's `slugify` of a folder's last part.
fn slugify(base: &str) -> String {
    let mut slug = String::new();
    for c in base.to_lowercase().chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' };
        if !(c == '-' && slug.ends_with('-')) {
            slug.push(c);
        }
    }
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "project".to_string()
    } else {
        slug.to_string()
    }
}

fn registry(gemini: &Path) -> serde_json::Map<String, serde_json::Value> {
    let text = std::fs::read_to_string(gemini.join("projects.json")).unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    value["projects"].as_object().cloned().unwrap_or_default()
}

/// Where Gemini keeps a folder's chats: the name it already uses, or one to claim.
#[derive(Debug, PartialEq)]
pub enum Project {
    Known(String),
    /// Gemini has never seen the folder: this name is free, and `claim` makes it the folder's.
    New(String),
}

impl Project {
    pub fn name(&self) -> &str {
        match self {
            Project::Known(name) | Project::New(name) => name,
        }
    }
}

/// The name Gemini gives `dir`, found as Gemini finds it (the registry, its markers agreeing;
/// else any marker naming the folder), or the one it would choose (its slug of the folder's
/// last part, `-1`, `-2`… past any name taken in the registry or on disk).
pub fn project_for(dir: &Path) -> Project {
    project_in(&gemini_dir(), dir)
}

fn project_in(gemini: &Path, dir: &Path) -> Project {
    let folder = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()).display().to_string();
    let projects = registry(gemini);
    let owned_by_folder = |name: &str| {
        project_bases(gemini).iter().all(|base| marker_owner(&base.join(name)).is_none_or(|o| o == folder))
    };
    if let Some(name) = projects.get(&folder).and_then(|v| v.as_str()).filter(|n| valid_name(n)) {
        if owned_by_folder(name) {
            return Project::Known(name.to_string());
        }
    }
    for base in project_bases(gemini) {
        let Ok(entries) = std::fs::read_dir(&base) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if valid_name(&name) && marker_owner(&entry.path()).as_deref() == Some(folder.as_str()) {
                return Project::Known(name);
            }
        }
    }
    let taken: Vec<&str> = projects.values().filter_map(|v| v.as_str()).collect();
    let base =
        slugify(Path::new(&folder).file_name().map(|n| n.to_string_lossy().into_owned()).as_deref().unwrap_or(""));
    let free = |name: &str| !taken.contains(&name) && project_bases(gemini).iter().all(|b| !b.join(name).exists());
    let name = (0..)
        .map(|n| if n == 0 { base.clone() } else { format!("{base}-{n}") })
        .find(|n| free(n))
        .expect("some suffix is free");
    Project::New(name)
}

/// Make `name` the project of `dir` as Gemini would: its folder under `tmp/` (0700) and a
/// marker naming `dir`, written whole and never over another's. Returns the folder made.
pub fn claim(name: &str, dir: &Path) -> Result<PathBuf> {
    claim_in(&gemini_dir(), name, dir)
}

fn claim_in(gemini: &Path, name: &str, dir: &Path) -> Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !valid_name(name) {
        bail!("{name:?} is not a Gemini project name");
    }
    let folder = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()).display().to_string();
    let tmp = gemini.join("tmp");
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&tmp)?;
    let project = tmp.join(name);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&project)
        .with_context(|| format!("cannot create {} (has Gemini just taken the name?)", project.display()))?;
    let written = (|| -> Result<()> {
        let marker = tempfile::Builder::new().prefix(".sbx-open-").tempfile_in(&project)?;
        marker.as_file().set_permissions(std::fs::Permissions::from_mode(0o600))?;
        (&mut marker.as_file()).write_all(folder.as_bytes())?;
        marker.as_file().sync_all()?;
        marker.persist_noclobber(project.join(MARKER)).map_err(|e| e.error)?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&project);
        return Err(e);
    }
    Ok(project)
}

/// The session a chat file holds (its first record), its title (the first prompt) and, from
/// its project's marker, the folder it ran in.
fn chat_meta(path: &Path) -> Option<(String, String)> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).ok()?;
    let mut lines = std::io::BufReader::new(file).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next()?.ok()?).ok()?;
    if first["kind"].as_str().is_some_and(|k| k != "main") {
        return None;
    }
    let id = first["sessionId"].as_str()?.to_string();
    let mut title = String::new();
    for line in lines.take(400) {
        let Ok(line) = line else { break };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if v["type"] != "user" {
            continue;
        }
        // Gemini puts its own context before the prompt, in tags of its own.
        let parts = v["content"].as_array().into_iter().flatten();
        let prompt = parts.filter_map(|p| p["text"].as_str()).find(|t| {
            let t = t.trim_start();
            !t.is_empty() && !t.starts_with("<session_context>") && !t.starts_with("<hook_context>")
        });
        if let Some(prompt) = prompt {
            title = one_line(prompt);
            break;
        }
    }
    Some((id, title))
}

pub fn sessions(out: &mut Vec<Session>) {
    let Ok(projects) = std::fs::read_dir(gemini_dir().join("tmp")) else { return };
    for project in projects.flatten() {
        let name = project.file_name().to_string_lossy().into_owned();
        if !valid_name(&name) || !project.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let folder = marker_owner(&project.path()).unwrap_or_default();
        let root = project.path().join("chats");
        let Ok(files) = std::fs::read_dir(&root) else { continue };
        for f in files.flatten() {
            let file = f.file_name().to_string_lossy().into_owned();
            if !f.file_type().is_ok_and(|t| t.is_file()) || !file.starts_with("session-") {
                continue;
            }
            let path = f.path();
            let Some((id, title)) = chat_meta(&path) else { continue };
            if !valid_session_id(&id) || !is_chat_file(&id, &file) {
                continue;
            }
            out.push(Session {
                tool: Tool::Gemini,
                id,
                project: folder.clone(),
                title,
                updated: mtime(&path),
                root: root.clone(),
                files: vec![file],
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_files_carry_the_sessions_first_eight() {
        let id = "9b51cd1b-a90b-4147-a677-aa6a84d3c887";
        assert!(is_chat_file(id, "session-2026-12-03T17-47-9b51cd1b.jsonl"));
        assert!(!is_chat_file(id, "session-2026-12-03T17-47-00000000.jsonl"), "another session's");
        assert!(!is_chat_file(id, "session--9b51cd1b.jsonl"));
        assert!(!is_chat_file(id, "session-2026/../x-9b51cd1b.jsonl"));
        assert!(!is_chat_file(id, "9b51cd1b/sub.jsonl"), "a subagent's chat is not the session");
        assert!(!is_chat_file("short", "session-2026-12-03T17-47-short.jsonl"));
    }

    #[test]
    fn names_are_geminis_slugs() {
        assert_eq!(slugify("My Project.v2"), "my-project-v2");
        assert_eq!(slugify("--x__y--"), "x-y");
        assert_eq!(slugify("日本"), "project");
        assert!(valid_name("my-project-2") && !valid_name("../x") && !valid_name("A") && !valid_name(""));
    }

    /// A folder Gemini knows keeps its name; a new one gets a free name and a marker that
    /// names it, which Gemini then finds; a name another folder owns is never taken.
    #[test]
    fn an_opened_chat_goes_where_gemini_looks_for_the_folder() {
        let home = tempfile::tempdir().unwrap();
        let gemini = home.path().join(".gemini");
        let (known, fresh, other) = (home.path().join("known"), home.path().join("work"), home.path().join("x/work"));
        for d in [&known, &fresh, &other] {
            std::fs::create_dir_all(d).unwrap();
        }
        let real = |d: &Path| std::fs::canonicalize(d).unwrap().display().to_string();
        std::fs::create_dir_all(gemini.join("tmp/known-1")).unwrap();
        std::fs::write(gemini.join("tmp/known-1/.project_root"), real(&known)).unwrap();
        let registry = serde_json::json!({"projects": {real(&known): "known-1"}});
        std::fs::write(gemini.join("projects.json"), registry.to_string()).unwrap();
        assert_eq!(project_in(&gemini, &known), Project::Known("known-1".into()));

        // "work" is free: claimed, it is found again by its marker alone.
        assert_eq!(project_in(&gemini, &fresh), Project::New("work".into()));
        let made = claim_in(&gemini, "work", &fresh).unwrap();
        assert_eq!(std::fs::read_to_string(made.join(".project_root")).unwrap(), real(&fresh));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&made).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(project_in(&gemini, &fresh), Project::Known("work".into()));

        // Another folder named "work" gets "work-1"; claiming a taken name fails and leaves it.
        assert_eq!(project_in(&gemini, &other), Project::New("work-1".into()));
        assert!(claim_in(&gemini, "work", &other).is_err());
        assert_eq!(std::fs::read_to_string(made.join(".project_root")).unwrap(), real(&fresh));
        assert!(claim_in(&gemini, "../escape", &other).is_err());

        // A registry entry whose marker names another folder is not believed.
        let lying = serde_json::json!({"projects": {real(&other): "known-1"}});
        std::fs::write(gemini.join("projects.json"), lying.to_string()).unwrap();
        assert_eq!(project_in(&gemini, &other), Project::New("work-1".into()));
    }
}
