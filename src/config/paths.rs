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
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Create `dir` (and parents) with mode 0700 and check it is ours and private.
/// A runtime dir that others can enter would let them reach the socket, so refuse it.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let meta = fs::symlink_metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    if !meta.is_dir() {
        bail!("{} is not a directory; remove it and run sbx again", dir.display());
    }
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
