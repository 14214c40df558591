//! The agent sessions on this machine, as the agents keep them: Claude Code's transcripts under
//! `$CLAUDE_CONFIG_DIR/projects/<slug>/`, Codex's rollouts under `$CODEX_HOME/sessions/`,
//! Qwen Code's chats under `$QWEN_HOME/projects/<slug>/chats/` and Gemini CLI's under
//! `~/.gemini/tmp/<project>/chats/`, Cline's folders under `~/.cline/data/sessions/` and
//! opencode's rows in its database (exported to a file when one is sent).
//! A session's files are given relative to those roots, as the envelope carries them.

use std::path::{Path, PathBuf};

use serde::Serialize;

pub mod cline;
pub mod gemini;
pub mod opencode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    Claude,
    Codex,
    Qwen,
    Gemini,
    Cline,
    Opencode,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Claude => "claude",
            Tool::Codex => "codex",
            Tool::Qwen => "qwen",
            Tool::Gemini => "gemini",
            Tool::Cline => "cline",
            Tool::Opencode => "opencode",
        }
    }

    /// The agent that resumes its sessions.
    pub fn agent(self) -> crate::protocol::AgentKind {
        use crate::protocol::AgentKind;
        match self {
            Tool::Claude => AgentKind::Claude,
            Tool::Codex => AgentKind::Codex,
            Tool::Qwen => AgentKind::Qwen,
            Tool::Gemini => AgentKind::Gemini,
            Tool::Cline => AgentKind::Cline,
            Tool::Opencode => AgentKind::Opencode,
        }
    }

    pub fn parse(s: &str) -> Option<Tool> {
        match s {
            "claude" => Some(Tool::Claude),
            "codex" => Some(Tool::Codex),
            "qwen" => Some(Tool::Qwen),
            "gemini" => Some(Tool::Gemini),
            "cline" => Some(Tool::Cline),
            "opencode" => Some(Tool::Opencode),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub tool: Tool,
    pub id: String,
    /// The directory the session ran in (from its records).
    pub project: String,
    pub title: String,
    /// Unix seconds of the transcript's last change.
    pub updated: i64,
    #[serde(skip)]
    pub root: PathBuf,
    /// Its files, relative to `root`, sorted.
    #[serde(skip)]
    pub files: Vec<String>,
}

pub fn claude_home() -> PathBuf {
    crate::agents::home_dir("CLAUDE_CONFIG_DIR", ".claude")
}

pub fn codex_home() -> PathBuf {
    crate::agents::home_dir("CODEX_HOME", ".codex")
}

pub fn qwen_home() -> PathBuf {
    crate::agents::home_dir("QWEN_HOME", ".qwen")
}

/// Qwen Code's project folder name for a directory (its `sanitizeCwd`): every character
/// outside [A-Za-z0-9] becomes '-', with no length limit.
pub fn qwen_slug(dir: &Path) -> String {
    let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    real.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

/// Session ids that may reach a path or a command line: letters, digits, '.', '_', '-'.
pub fn valid_session_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.contains("..")
        && !id.starts_with(['-', '.'])
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Claude Code's project folder name for a directory: every character outside [A-Za-z0-9]
/// becomes '-'; names over 200 characters are cut and given a hash suffix.
pub fn claude_slug(dir: &Path) -> String {
    let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let slug: String =
        real.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    if slug.len() <= 200 {
        return slug;
    }
    let mut h: u32 = 0;
    for b in slug.bytes() {
        h = h.wrapping_mul(31).wrapping_add(b as u32);
    }
    format!("{}-{}", &slug[..200], radix36(h))
}

fn radix36(mut n: u32) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

pub(super) fn mtime(path: &Path) -> i64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

/// Regular files below `dir` (never following symlinks), as paths relative to `base`.
fn files_below(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else { continue };
        let path = entry.path();
        if kind.is_dir() {
            files_below(base, &path, out);
        } else if kind.is_file() {
            if let Ok(rel) = path.strip_prefix(base) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
}

fn text_of(content: &serde_json::Value) -> Option<String> {
    match content {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(parts) => parts.iter().find_map(|p| {
            let t = p.get("text").and_then(|t| t.as_str())?;
            Some(t.to_string())
        }),
        _ => None,
    }
}

pub(super) fn one_line(s: &str) -> String {
    let line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = line.chars().filter(|c| !c.is_control()).take(100).collect();
    if line.chars().count() > 100 {
        out.push('…');
    }
    out
}

/// Title by Claude's own precedence: custom title, ai title, last prompt, summary, first prompt.
fn claude_meta(path: &Path) -> (String, String) {
    let Ok(text) = std::fs::read_to_string(path) else { return (String::new(), String::new()) };
    let (mut custom, mut ai, mut last, mut summary, mut first, mut cwd) = (None, None, None, None, None, None);
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        match v.get("type").and_then(|t| t.as_str()).unwrap_or("") {
            "custom-title" => custom = field("customTitle").or(custom),
            "ai-title" => ai = field("aiTitle").or(ai),
            "last-prompt" => last = field("lastPrompt").or(last),
            "summary" => summary = field("summary").or(summary),
            "user" if first.is_none() && v.get("isSidechain") != Some(&serde_json::Value::Bool(true)) => {
                first =
                    v.get("message").and_then(|m| m.get("content")).and_then(text_of).filter(|t| !t.starts_with('<'));
            }
            _ => {}
        }
        if cwd.is_none() {
            cwd = field("cwd");
        }
    }
    let title = custom.or(ai).or(last).or(summary).or(first).unwrap_or_default();
    (one_line(&title), cwd.unwrap_or_default())
}

fn claude_sessions(out: &mut Vec<Session>) {
    let projects = claude_home().join("projects");
    let Ok(dirs) = std::fs::read_dir(&projects) else { return };
    for dir in dirs.flatten() {
        if !dir.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let root = dir.path();
        let Ok(files) = std::fs::read_dir(&root) else { continue };
        for f in files.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".jsonl") else { continue };
            // Old layouts keep subagents beside the session as agent-*.jsonl: not sessions.
            if !f.file_type().is_ok_and(|t| t.is_file()) || !valid_session_id(id) || id.starts_with("agent-") {
                continue;
            }
            let path = f.path();
            let mut files = vec![name.clone()];
            files_below(&root, &root.join(id), &mut files);
            files.sort();
            let (title, project) = claude_meta(&path);
            out.push(Session {
                tool: Tool::Claude,
                id: id.to_string(),
                project,
                title,
                updated: mtime(&path),
                root: root.clone(),
                files,
            });
        }
    }
}

/// Codex: the id and cwd from session_meta; the title from session_index.jsonl, else the first prompt.
fn codex_meta(path: &Path) -> Option<(String, String, String)> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).ok()?;
    let (mut id, mut cwd, mut first) = (None, None, None);
    for line in std::io::BufReader::new(file).lines().take(400) {
        let Ok(line) = line else { break };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        let payload = &v["payload"];
        match v["type"].as_str() {
            Some("session_meta") if id.is_none() => {
                id = payload["id"].as_str().map(str::to_string);
                cwd = payload["cwd"].as_str().map(str::to_string);
            }
            Some("event_msg") if first.is_none() && payload["type"] == "user_message" => {
                first = payload["message"].as_str().map(str::to_string);
            }
            _ => {}
        }
        if id.is_some() && first.is_some() {
            break;
        }
    }
    Some((id?, cwd.unwrap_or_default(), first.map(|f| one_line(&f)).unwrap_or_default()))
}

fn codex_titles() -> std::collections::HashMap<String, String> {
    let mut titles = std::collections::HashMap::new();
    let Ok(text) = std::fs::read_to_string(codex_home().join("session_index.jsonl")) else { return titles };
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if let (Some(id), Some(name)) = (v["id"].as_str(), v["thread_name"].as_str()) {
            titles.insert(id.to_string(), one_line(name));
        }
    }
    titles
}

fn codex_sessions(out: &mut Vec<Session>) {
    let root = codex_home().join("sessions");
    let mut files = Vec::new();
    files_below(&root, &root, &mut files);
    let titles = codex_titles();
    for rel in files {
        let name = rel.rsplit('/').next().unwrap_or("");
        if !(name.starts_with("rollout-") && name.ends_with(".jsonl")) {
            continue;
        }
        let path = root.join(&rel);
        let Some((id, project, first)) = codex_meta(&path) else { continue };
        if !valid_session_id(&id) || !name.ends_with(&format!("{id}.jsonl")) {
            continue;
        }
        let title = titles.get(&id).cloned().filter(|t| !t.is_empty()).unwrap_or(first);
        out.push(Session {
            tool: Tool::Codex,
            id,
            project,
            title,
            updated: mtime(&path),
            root: root.clone(),
            files: vec![rel],
        });
    }
}

/// Qwen Code: the title is the first prompt, the project the cwd its records carry.
fn qwen_meta(path: &Path) -> (String, String) {
    use std::io::BufRead;
    let Ok(file) = std::fs::File::open(path) else { return Default::default() };
    let (mut first, mut cwd) = (None, None);
    for line in std::io::BufReader::new(file).lines().take(400) {
        let Ok(line) = line else { break };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if cwd.is_none() {
            cwd = v["cwd"].as_str().map(str::to_string);
        }
        if first.is_none() && v["type"] == "user" {
            let parts = v["message"]["parts"].as_array().into_iter().flatten();
            first = parts.filter_map(|p| p["text"].as_str()).find(|t| !t.trim().is_empty()).map(one_line);
        }
        if first.is_some() && cwd.is_some() {
            break;
        }
    }
    (first.unwrap_or_default(), cwd.unwrap_or_default())
}

fn qwen_sessions(out: &mut Vec<Session>) {
    let Ok(dirs) = std::fs::read_dir(qwen_home().join("projects")) else { return };
    for dir in dirs.flatten() {
        if !dir.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let root = dir.path().join("chats");
        let Ok(files) = std::fs::read_dir(&root) else { continue };
        for f in files.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".jsonl") else { continue };
            if !f.file_type().is_ok_and(|t| t.is_file()) || !valid_session_id(id) {
                continue;
            }
            let path = f.path();
            let (title, project) = qwen_meta(&path);
            // Its `<id>.runtime.json` (pid, host name) stays: it says where it ran, not what.
            out.push(Session {
                tool: Tool::Qwen,
                id: id.to_string(),
                project,
                title,
                updated: mtime(&path),
                root: root.clone(),
                files: vec![name],
            });
        }
    }
}

/// The session as files to seal. opencode's is not a file: its own export is made into a
/// private folder below `spool`, kept (the second value) until the envelope is sealed.
pub fn files_to_send(session: Session, spool: &Path) -> anyhow::Result<(Session, Option<tempfile::TempDir>)> {
    if session.tool != Tool::Opencode {
        return Ok((session, None));
    }
    let dir = tempfile::Builder::new().prefix("export-").tempdir_in(spool)?;
    opencode::export(&session.id, dir.path())?;
    Ok((Session { root: dir.path().to_path_buf(), ..session }, Some(dir)))
}

/// Local sessions, newest first.
pub fn list(tool: Option<Tool>) -> Vec<Session> {
    let mut out = Vec::new();
    let wanted = |t: Tool| tool.is_none_or(|w| w == t);
    if wanted(Tool::Claude) {
        claude_sessions(&mut out);
    }
    if wanted(Tool::Codex) {
        codex_sessions(&mut out);
    }
    if wanted(Tool::Qwen) {
        qwen_sessions(&mut out);
    }
    if wanted(Tool::Gemini) {
        gemini::sessions(&mut out);
    }
    if wanted(Tool::Cline) {
        cline::sessions(&mut out);
    }
    if wanted(Tool::Opencode) {
        opencode::sessions(&mut out);
    }
    out.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.id.cmp(&b.id)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_ids() {
        assert_eq!(claude_slug(Path::new("/nonexistent/a/proj.x_y")), "-nonexistent-a-proj-x-y");
        let long = format!("/nonexistent/{}", "b".repeat(300));
        assert_eq!(qwen_slug(Path::new(&long)).len(), long.len(), "Qwen never cuts a slug");
        let long = format!("/nonexistent/{}", "a".repeat(300));
        let slug = claude_slug(Path::new(&long));
        assert!(slug.len() > 200 && slug.len() < 210 && slug[..200].ends_with('a'));
        for good in ["4c2ddfdc-b619-4525-8d03-1950fb1b0257", "019e1625-789d-76c0-80ab-3724b5ddb799", "a.b_c"] {
            assert!(valid_session_id(good), "{good}");
        }
        for bad in ["", "../x", "a/b", "a b", "$(rm -rf ~)", "a;b", "-rf", ".hidden", "x".repeat(200).as_str(), "é"] {
            assert!(!valid_session_id(bad), "{bad}");
        }
    }
}
