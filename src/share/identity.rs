//! Your identity for sharing: an ed25519 key in OpenSSH format (mode 0600), created on first
//! use, or an existing unencrypted ed25519 SSH key you point sbx at (`sbx id --key PATH`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ssh_key::private::{Ed25519Keypair, KeypairData};
use ssh_key::{LineEnding, PrivateKey};

use crate::config::paths::Paths;
use crate::relay::client::Signer;
use crate::relay::wire;

pub struct Identity {
    pub path: PathBuf,
    signing: ed25519_dalek::SigningKey,
    /// The private key file's text, for age (which reads OpenSSH keys itself).
    openssh: zeroize::Zeroizing<String>,
}

impl Signer for Identity {
    fn public_wire(&self) -> Vec<u8> {
        wire::key_wire(&self.signing.verifying_key().to_bytes())
    }
    fn sign(&self, message: &[u8]) -> [u8; 64] {
        ed25519_dalek::Signer::sign(&self.signing, message).to_bytes()
    }
}

/// `ssh-ed25519 BASE64` for a key in SSH wire form.
pub fn public_line(wire_key: &[u8]) -> String {
    format!("ssh-ed25519 {}", wire::b64(wire_key))
}

/// The SSH wire key in a `ssh-ed25519 BASE64 [comment]` line.
pub fn parse_public_line(line: &str) -> Option<Vec<u8>> {
    let mut parts = line.split_whitespace();
    if parts.next()? != "ssh-ed25519" {
        return None;
    }
    let key = wire::unb64(parts.next()?)?;
    wire::parse_key_wire(&key).map(|_| key)
}

impl Identity {
    pub fn public_line(&self) -> String {
        public_line(&self.public_wire())
    }

    /// The identity age decrypts with.
    pub fn age(&self) -> Result<age::ssh::Identity> {
        age::ssh::Identity::from_buffer(self.openssh.as_bytes(), Some(self.path.display().to_string()))
            .context("age cannot read the identity key")
    }

    fn from_file(path: &Path) -> Result<Identity> {
        let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            bail!(
                "{} is readable by others (mode {:o}); chmod 600 it",
                path.display(),
                meta.permissions().mode() & 0o777
            );
        }
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
        );
        let key = PrivateKey::from_openssh(text.as_bytes())
            .with_context(|| format!("{} is not an OpenSSH private key", path.display()))?;
        if key.is_encrypted() {
            bail!("{} is encrypted with a passphrase; sbx needs an unencrypted ed25519 key", path.display());
        }
        let Some(pair) = key.key_data().ed25519() else {
            bail!("{} is not an ed25519 key (sbx shares with ed25519 only)", path.display());
        };
        let signing = ed25519_dalek::SigningKey::from_bytes(&pair.private.to_bytes());
        if signing.verifying_key().to_bytes() != pair.public.0 {
            bail!("{}: the public half does not match the private half", path.display());
        }
        Ok(Identity { path: path.to_path_buf(), signing, openssh: text })
    }
}

fn default_key(paths: &Paths) -> PathBuf {
    paths.config.join("identity")
}

/// Where the user pointed sbx at their own key, if they did.
fn chosen_key_file(paths: &Paths) -> PathBuf {
    paths.config.join("identity.path")
}

/// Load the identity, creating one on first use. With `key`, use (and remember) that SSH key.
/// Returns the identity and whether it is new.
pub fn load_or_create(paths: &Paths, key: Option<&Path>) -> Result<(Identity, bool)> {
    crate::config::paths::ensure_private_dir(&paths.config)?;
    if let Some(key) = key {
        let key = std::path::absolute(key)?;
        let id = Identity::from_file(&key)?;
        crate::config::paths::write_atomic(&chosen_key_file(paths), key.display().to_string().as_bytes())?;
        return Ok((id, false));
    }
    if let Ok(chosen) = std::fs::read_to_string(chosen_key_file(paths)) {
        return Ok((Identity::from_file(Path::new(chosen.trim()))?, false));
    }
    let path = default_key(paths);
    if path.exists() {
        return Ok((Identity::from_file(&path)?, false));
    }
    let seed = wire::random_bytes::<32>();
    let pair = Ed25519Keypair::from_seed(&seed);
    let user = std::env::var("USER").unwrap_or_else(|_| "sbx".into());
    let private = PrivateKey::new(KeypairData::Ed25519(pair), format!("{user}@sbx"))?;
    let text = private.to_openssh(LineEnding::LF)?;
    crate::config::paths::write_atomic(&path, text.as_bytes())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let public = format!("{}\n", private.public_key().to_openssh()?);
    crate::config::paths::write_atomic(&path.with_extension("pub"), public.as_bytes())?;
    Ok((Identity::from_file(&path)?, true))
}

/// The identity, without creating one.
pub fn load(paths: &Paths) -> Result<Option<Identity>> {
    if let Ok(chosen) = std::fs::read_to_string(chosen_key_file(paths)) {
        return Identity::from_file(Path::new(chosen.trim())).map(Some);
    }
    let path = default_key(paths);
    if path.exists() {
        return Identity::from_file(&path).map(Some);
    }
    Ok(None)
}
