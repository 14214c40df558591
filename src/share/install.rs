//! Put an opened session where its agent resumes it: Claude Code, Qwen Code and Gemini CLI
//! under the project folder of the chosen directory (by each one's own rule), Codex in its
//! sessions tree, Cline in its sessions folder with its manifest made this folder's, opencode
//! by its own import. All or nothing.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::envelope::Opened;
use super::sessions::gemini::{self, Project};
use super::sessions::{claude_home, claude_slug, codex_home, qwen_home, qwen_slug, Tool};
use super::sessions::{cline, opencode};

pub struct Installed {
    pub files: Vec<PathBuf>,
    /// The command that resumes it, to run in `dir`.
    pub resume: Vec<String>,
}

/// The folder a session's files go below, and (Gemini, for a folder it has never seen) the
/// project name to claim for `dir` first.
fn root_for(tool: Tool, dir: &Path) -> (PathBuf, Option<String>) {
    match tool {
        Tool::Claude => (claude_home().join("projects").join(claude_slug(dir)), None),
        Tool::Codex => (codex_home().join("sessions"), None),
        Tool::Qwen => (qwen_home().join("projects").join(qwen_slug(dir)).join("chats"), None),
        Tool::Cline => (crate::agents::cline_sessions_dir(), None),
        // Imported by opencode itself, not placed (`install`).
        Tool::Opencode => (PathBuf::new(), None),
        Tool::Gemini => {
            let project = gemini::project_for(dir);
            let root = gemini::chats_dir(project.name());
            match project {
                Project::Known(_) => (root, None),
                Project::New(name) => (root, Some(name)),
            }
        }
    }
}

pub fn resume_command(tool: Tool, id: &str) -> Vec<String> {
    match tool {
        Tool::Claude => vec!["claude".into(), "--resume".into(), id.into()],
        Tool::Codex => vec!["codex".into(), "resume".into(), id.into()],
        Tool::Qwen => vec!["qwen".into(), "--resume".into(), id.into()],
        Tool::Gemini => vec!["gemini".into(), "--resume".into(), id.into()],
        Tool::Cline => vec!["cline".into(), "--id".into(), id.into()],
        Tool::Opencode => vec!["opencode".into(), "--session".into(), id.into()],
    }
}

/// What a planned file is written from: the staged copy as it came, or bytes made for this
/// machine (Cline's manifest, which names the folders the session lives in).
enum Source {
    Staged(PathBuf),
    Made(Vec<u8>),
}

impl Source {
    fn same_as(&self, target: &Path) -> bool {
        let Ok(there) = std::fs::read(target) else { return false };
        match self {
            Source::Staged(path) => std::fs::read(path).is_ok_and(|ours| ours == there),
            Source::Made(bytes) => *bytes == there,
        }
    }
}

/// Make the folders from `root` down to `dir` (a folder inside it), 0700 where sbx creates
/// them, refusing any that is a symlink: a link planted below the root would carry the
/// files wherever it points.
fn folders_below(root: &Path, dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let rel = dir.strip_prefix(root).context("a target outside its root")?;
    if let Some(above) = root.parent().filter(|p| !p.exists()) {
        // The agent's own folders (`~/.claude/projects`), on a machine that never ran it.
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(above)?;
    }
    let mut at = root.to_path_buf();
    let below = rel.components().map(|c| c.as_os_str().to_owned());
    for part in std::iter::once(None).chain(below.map(Some)) {
        if let Some(part) = part {
            at.push(part);
        }
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                bail!("{} is a symlink; refusing to write through it", at.display())
            }
            Ok(meta) if !meta.is_dir() => bail!("{} is not a folder", at.display()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&at)
                    .with_context(|| format!("cannot create {}", at.display()))?;
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", at.display())),
        }
    }
    Ok(())
}

/// Write `from` to `to` atomically (temp file beside `to`, 0600, fsync, rename).
fn place(root: &Path, from: &Source, to: &Path) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = to.parent().context("a target has no folder")?;
    folders_below(root, dir)?;
    let tmp = tempfile::Builder::new().prefix(".sbx-open-").tempfile_in(dir)?;
    match from {
        Source::Staged(path) => {
            std::fs::copy(path, tmp.path())?;
        }
        Source::Made(bytes) => (&mut tmp.as_file()).write_all(bytes)?,
    }
    // A transcript is private whatever the umask or the staged copy's mode.
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600))?;
    tmp.as_file().sync_all()?;
    tmp.persist(to).map_err(|e| e.error)?;
    Ok(())
}

pub fn install(opened: &Opened, dir: &Path, force: bool) -> Result<Installed> {
    if opened.tool == Tool::Opencode {
        // Its sessions are rows of its database: its own import writes them, for `dir`.
        let id = &opened.manifest.session_id;
        opencode::import(&opened.staged(&opencode::file_name(id)), id, dir, force)?;
        return Ok(Installed { files: Vec::new(), resume: resume_command(Tool::Opencode, id) });
    }
    let (root, to_claim) = root_for(opened.tool, dir);
    let m = &opened.manifest;
    // Look before writing anything: a different file already there stops the whole install.
    if opened.tool == Tool::Cline && !m.files.iter().any(|f| f.path == cline::manifest_path(&m.session_id)) {
        bail!("refused: a Cline session without its manifest cannot be resumed; nothing was installed");
    }
    let mut plan = Vec::new();
    for f in &m.files {
        let target = root.join(&f.path);
        if std::fs::symlink_metadata(&target).is_ok_and(|t| t.file_type().is_symlink()) {
            bail!("{} is a symlink; refusing to write through it", target.display());
        }
        let staged = opened.staged(&f.path);
        let source = if opened.tool == Tool::Cline && f.path == cline::manifest_path(&m.session_id) {
            // A manifest is a kilobyte or two: a sender's giant one is not read into memory.
            if std::fs::metadata(&staged).map_or(true, |m| m.len() > cline::MANIFEST_LIMIT) {
                bail!("refused: the Cline session's manifest is over {} bytes", cline::MANIFEST_LIMIT);
            }
            let sent = std::fs::read(&staged).context("cannot read the staged manifest")?;
            Source::Made(cline::manifest_for(&sent, &m.session_id, dir, &root)?)
        } else {
            Source::Staged(staged)
        };
        if target.exists() && !force && !source.same_as(&target) {
            bail!(
                "{} already exists with other content; nothing was installed (add --force to replace it)",
                target.display()
            );
        }
        plan.push((source, target));
    }
    let claimed = match &to_claim {
        Some(name) => Some(gemini::claim(name, dir).context("nothing was installed")?),
        None => None,
    };
    let mut written = Vec::new();
    for (from, to) in &plan {
        if let Err(e) = place(&root, from, to) {
            for w in &written {
                let _ = std::fs::remove_file(w);
            }
            if let Some(project) = &claimed {
                let _ = std::fs::remove_dir_all(project);
            }
            return Err(e.context(format!("cannot install {}; nothing was installed", to.display())));
        }
        written.push(to.clone());
    }
    if opened.tool == Tool::Qwen {
        if let Err(e) = qwen_sidecar(&root, &m.session_id, dir) {
            for w in &written {
                let _ = std::fs::remove_file(w);
            }
            return Err(e.context("nothing was installed"));
        }
    }
    Ok(Installed { files: written, resume: resume_command(opened.tool, &m.session_id) })
}

/// Qwen resumes a chat only in the folder its records say it ran in, or in the one its
/// runtime status sidecar names (`<id>.runtime.json`, which it writes for multiplexers). The
/// sender's sidecar is never sent (a pid and a host name); this one, made here, says the chat
/// now belongs to `dir`, with a pid no process can have (the kernel's `pid_max`), so nothing
/// takes the session for a running one.
fn qwen_sidecar(root: &Path, id: &str, dir: &Path) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let work_dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string());
    let pid_max: u64 = read("/proc/sys/kernel/pid_max").and_then(|s| s.parse().ok()).unwrap_or(4_194_304);
    let status = serde_json::json!({
        "schema_version": 1,
        "pid": pid_max,
        "session_id": id,
        "work_dir": work_dir.display().to_string(),
        "hostname": read("/proc/sys/kernel/hostname").unwrap_or_default(),
        "started_at": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        "qwen_version": null,
    });
    let tmp = tempfile::Builder::new().prefix(".sbx-open-").tempfile_in(root)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600))?;
    (&mut tmp.as_file()).write_all(status.to_string().as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(root.join(format!("{id}.runtime.json"))).map_err(|e| e.error)?;
    Ok(())
}
