//! Sharing agent sessions with friends: identity, friends, local sessions, the sealed envelope
//! (echos wire format v1), sending, the inbox, and installing what arrives where the agent
//! resumes it. Each workflow is a library call: the CLI prints its result, the server calls
//! it in-process for the TUI.

pub mod envelope;
pub mod friends;
pub mod identity;
pub mod inbox;
pub mod install;
pub mod invite;
pub mod letter;
pub mod presence;
pub mod sealed;
pub mod send;
pub mod sessions;

use crate::config::paths::Paths;
use crate::protocol::Error;
use crate::relay::client::RelayClient;

/// The relay to share through: `$SBX_RELAY`, else config.toml's `relay`.
pub fn relay(paths: &Paths) -> Result<RelayClient, Error> {
    let config = crate::config::Config::load(&paths.config);
    match RelayClient::configured(&config.settings.relay) {
        Some(Ok(c)) => Ok(c),
        Some(Err(e)) => Err(Error::new(
            "no_relay",
            e.to_string(),
            "set SBX_RELAY (or relay in config.toml) to the relay's http(s) URL",
        )),
        None => Err(Error::new(
            "no_relay",
            "no relay is configured",
            "set SBX_RELAY=https://… (or relay = \"…\" in config.toml)",
        )),
    }
}

/// Your sharing identity, which must exist.
pub fn me(paths: &Paths) -> Result<identity::Identity, Error> {
    match identity::load(paths) {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(Error::new("no_identity", "you have no identity yet", "create one: sbx id")),
        Err(e) => {
            Err(Error::new("bad_identity", format!("{e:#}"), "fix the key file, or choose another: sbx id --key PATH"))
        }
    }
}
