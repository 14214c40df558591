//! Friends: a name, an echo-id and the key that hashes to it, in `friends.toml` (0600).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::paths::Paths;
use crate::relay::wire;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Friend {
    pub echo_id: String,
    /// `ssh-ed25519 BASE64`.
    pub public_key: String,
    pub added: String,
    /// Which of your agent sessions this friend may see (their label, agent and state):
    /// labels, or `*` for every agent session. None unless you say so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sees: Vec<String>,
}

/// `sees` naming every session.
pub const SEES_ALL: &str = "*";

impl Friend {
    /// Whether this friend may see an agent session labelled `label` (`None`: no label, seen
    /// only by a friend who sees all).
    pub fn may_see(&self, label: Option<&str>) -> bool {
        self.sees.iter().any(|s| s == SEES_ALL || Some(s.as_str()) == label)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Friends {
    #[serde(default)]
    pub friends: BTreeMap<String, Friend>,
}

fn path(paths: &Paths) -> std::path::PathBuf {
    paths.config.join("friends.toml")
}

/// Whether `address` names a friend's session (`FRIEND/LABEL`, `FRIEND/%3`, `FRIEND/#channel`,
/// `FRIEND/user`): the friend's name and the address on their machine.
pub fn remote_address(address: &str) -> Option<(&str, &str)> {
    let (friend, rest) = address.trim().split_once('/')?;
    (valid_name(friend) && !rest.is_empty() && !rest.contains('/')).then_some((friend, rest))
}

/// Friend names end up in commands and on screen: keep them plain.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['-', '.'])
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Friends {
    pub fn load(paths: &Paths) -> Result<Friends> {
        Friends::load_from(&paths.config)
    }

    /// The friends kept in the config folder `config`.
    pub fn load_from(config: &std::path::Path) -> Result<Friends> {
        let p = config.join("friends.toml");
        match std::fs::read_to_string(&p) {
            Ok(text) => {
                toml::from_str(&text).with_context(|| format!("{} is not valid; fix or remove it", p.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Friends::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", p.display())),
        }
    }

    pub fn save(&self, paths: &Paths) -> Result<()> {
        crate::config::paths::ensure_private_dir(&paths.config)?;
        let text = toml::to_string(self)?;
        crate::config::paths::write_atomic(&path(paths), text.as_bytes())
    }

    /// The friend whose key hashes to `echo_id`, with its SSH wire key.
    pub fn by_echo_id(&self, echo_id: &str) -> Option<(&str, Vec<u8>)> {
        self.friends.iter().find_map(|(name, f)| {
            let key = super::identity::parse_public_line(&f.public_key)?;
            // A hand-edited file cannot make a key speak for another id.
            (f.echo_id == echo_id && wire::echo_id(&wire::fingerprint(&key)) == echo_id).then_some((name.as_str(), key))
        })
    }
}
