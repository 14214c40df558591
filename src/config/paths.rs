//! Where sbx keeps its files: config, data and runtime (socket) directories.
//!
//! `SBX_HOME=DIR` puts all three under one folder (tests use it); otherwise the
//! platform's directories via `directories`. Every directory sbx creates is 0700.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone)]
pub struct Paths {
    pub config: PathBuf,
    pub data: PathBuf,
    pub runtime: PathBuf,
}

impl Paths {
    pub fn resolve() -> Result<Paths> {
        if let Some(home) = std::env::var_os("SBX_HOME").filter(|h| !h.is_empty()) {
            let home = PathBuf::from(home);
            return Ok(Paths { config: home.join("config"), data: home.join("data"), runtime: home.join("run") });
        }
        let dirs =
            directories::ProjectDirs::from("", "", "sbx").context("cannot find a home directory; set SBX_HOME=DIR")?;
        let runtime = match dirs.runtime_dir() {
            Some(dir) => dir.to_path_buf(),
            // No XDG_RUNTIME_DIR (common over plain SSH): a per-user folder in /tmp, as tmux does.
            None => std::env::temp_dir().join(format!("sbx-{}", current_uid())),
        };
        Ok(Paths { config: dirs.config_dir().to_path_buf(), data: dirs.data_dir().to_path_buf(), runtime })
    }

    /// The server socket: `$SBX_SOCKET` when set (panes inherit it), else `<runtime>/default.sock`.
    pub fn socket(&self) -> PathBuf {
        match std::env::var_os("SBX_SOCKET").filter(|s| !s.is_empty()) {
            Some(path) => PathBuf::from(path),
            None => self.runtime.join("default.sock"),
        }
    }
}

pub fn current_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// Create one of sbx's own folders (`dir` and missing parents) with mode 0700, or check an
/// existing one: ours, a directory, private. Folders sbx owns by name (its config, data and
/// runtime trees) are tightened to 0700 when they have been loosened; anything else a user
/// points sbx at goes through [`ensure_user_dir`], which never changes a mode.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    if create_missing(dir)? {
        return Ok(());
    }
    let meta = checked_dir(dir)?;
    if meta.uid() != current_uid() {
        bail!(
            "{} belongs to uid {}, not to you; remove it or set SBX_HOME to a folder of yours",
            dir.display(),
            meta.uid()
        );
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make {} private (0700)", dir.display()))?;
    }
    Ok(())
}

/// A folder the user chose for something of sbx's (the parent of `$SBX_SOCKET`, of
/// `sbx relay --db`): created private when missing, else used as it is — its mode is the
/// user's — unless others can write in it, which would let them put their own socket or
/// database where sbx looks for its own. `what` names the setting in the refusal.
pub fn ensure_user_dir(dir: &Path, what: &str) -> Result<()> {
    if create_missing(dir)? {
        return Ok(());
    }
    let meta = checked_dir(dir)?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        bail!(
            "{} ({what}) can be written by other users (mode {mode:04o}): they could put a file of theirs \
             where sbx expects its own; sbx does not change modes of folders it did not create, so pick \
             a folder only you can write (mkdir -m 700 DIR)",
            dir.display()
        );
    }
    Ok(())
}

/// Create `dir` (and missing parents) 0700 when it does not exist; true if it was created.
fn create_missing(dir: &Path) -> Result<bool> {
    if fs::symlink_metadata(dir).is_ok() {
        return Ok(false);
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    // The umask may have taken bits away; what sbx creates is exactly 0700.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private (0700)", dir.display()))?;
    Ok(true)
}

fn checked_dir(dir: &Path) -> Result<fs::Metadata> {
    let meta = fs::symlink_metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    if !meta.is_dir() {
        bail!("{} is not a directory; remove it and run sbx again", dir.display());
    }
    Ok(meta)
}

/// Write a file atomically: temp file in the same folder, fsync, rename. A new file is 0600;
/// a replaced one keeps its mode. A crash leaves the old file or the new one, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let parent = parent_of(path);
    if !parent.exists() {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
    }
    let mode = fs::metadata(path).map(|m| m.mode() & 0o777).unwrap_or(0o600);
    let result = write_then_place(path, bytes, mode, |tmp| fs::rename(tmp, path));
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// Write a new file whole, refusing to replace one that exists: the bytes go to a temp file
/// first and are then hard-linked into place, which fails atomically if the name is taken.
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_then_place(path, bytes, 0o600, |tmp| {
        fs::hard_link(tmp, path)?;
        fs::remove_file(tmp)
    })
}

fn parent_of(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// The bytes, whole and synced, in a temp file beside `path`; `place` puts it there.
fn write_then_place(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    place: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let parent = parent_of(path);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = parent.join(format!(".{name}.sbx-tmp{}", std::process::id()));
    // A temp file left by a crash of an earlier process with this pid goes first; create_new
    // then never writes through a link someone else placed there.
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        place(&tmp)?;
        if let Ok(dir) = fs::File::open(parent) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_private_folders_and_tightens_loose_ones() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("a/run");
        ensure_private_dir(&run).unwrap();
        assert_eq!(fs::metadata(&run).unwrap().mode() & 0o777, 0o700);
        fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&run).unwrap();
        assert_eq!(fs::metadata(&run).unwrap().mode() & 0o777, 0o700);
    }

    #[test]
    fn a_folder_the_user_chose_keeps_its_mode_and_a_loose_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        let err = ensure_user_dir(&shared, "SBX_SOCKET's folder").unwrap_err().to_string();
        assert!(err.contains("mode 1777") && err.contains("SBX_SOCKET"), "{err}");
        assert_eq!(fs::metadata(&shared).unwrap().mode() & 0o7777, 0o1777, "the sticky bit stays");
        let readable = dir.path().join("readable");
        fs::create_dir(&readable).unwrap();
        fs::set_permissions(&readable, fs::Permissions::from_mode(0o755)).unwrap();
        ensure_user_dir(&readable, "x").unwrap();
        assert_eq!(fs::metadata(&readable).unwrap().mode() & 0o7777, 0o755, "not tightened: not sbx's");
        let fresh = dir.path().join("new/deeper");
        ensure_user_dir(&fresh, "x").unwrap();
        assert_eq!(fs::metadata(&fresh).unwrap().mode() & 0o777, 0o700, "what sbx creates is private");
    }

    #[test]
    fn refuses_a_symlink_or_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::create_dir(&real).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(ensure_private_dir(&link).unwrap_err().to_string().contains("not a directory"));
        let file = dir.path().join("file");
        fs::write(&file, b"").unwrap();
        assert!(ensure_private_dir(&file).is_err());
    }

    #[test]
    fn refuses_a_folder_of_another_user() {
        if current_uid() != 0 {
            return; // only root can make a folder that belongs to someone else
        }
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("theirs");
        fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        let err = ensure_private_dir(&theirs).unwrap_err().to_string();
        assert!(err.contains("belongs to uid 65534"), "{err}");
    }
}
