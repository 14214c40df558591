//! The directory of endpoints and how an address finds one: pane id, label, cwd, session id
//! (or a unique prefix of it), `#channel`, or `user`. An address that fits several is an error
//! listing them, never a guess.

use std::collections::BTreeMap;

use super::store::EndpointRow;
use super::{BridgeResult, Error};
use crate::protocol::Via;

pub const USER: &str = "user";

#[derive(Debug, Clone, Default)]
pub struct Endpoint {
    pub row: EndpointRow,
    /// The pane it lives in, while it does.
    pub pane: Option<String>,
    pub session: Option<String>,
    /// Pane endpoints: the pane's first process.
    pub pid: Option<u32>,
    /// External sessions: the processes above the hooks that registered them.
    pub hook_lineage: Vec<u32>,
    pub state: Option<String>,
}

impl Endpoint {
    /// How people and agents see it named: label, else pane id, else a short session id.
    pub fn name(&self) -> String {
        if let Some(label) = &self.row.label {
            return label.clone();
        }
        if let Some(pane) = &self.pane {
            return pane.clone();
        }
        if self.row.kind == "user" {
            return USER.into();
        }
        let id = self.row.agent_session.as_deref().unwrap_or(&self.row.id);
        id.chars().take(8).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Endpoint(String),
    Channel(String),
}

#[derive(Default)]
pub struct Directory {
    pub endpoints: BTreeMap<String, Endpoint>,
    pub offline_after_ms: i64,
}

/// Channel names: lower-case letters, digits, '-', '_' and '.', at most 64.
pub fn validate_channel(name: &str) -> BridgeResult<String> {
    let name = name.strip_prefix('#').unwrap_or(name);
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(name.to_string())
    } else {
        Err(Error::new(
            "bad_channel",
            format!("{name:?} is not a channel name"),
            "use lower-case letters, digits, '-', '_' or '.', at most 64 characters (e.g. #review)",
        ))
    }
}

impl Directory {
    pub fn online(&self, e: &Endpoint, now: i64) -> bool {
        match e.row.kind.as_str() {
            "pane" => e.pane.is_some(),
            "user" => true,
            _ => now - e.row.last_seen < self.offline_after_ms,
        }
    }

    /// Online, and for an agent outside sbx, still running: one of the processes its hooks ran
    /// under is alive (a quit agent is not "live" just because it was seen minutes ago).
    pub fn live(&self, e: &Endpoint, now: i64) -> bool {
        if !self.online(e, now) {
            return false;
        }
        e.row.kind != "external"
            || e.hook_lineage.is_empty()
            || e.hook_lineage.iter().any(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
    }

    pub fn name_of(&self, id: &str) -> String {
        self.endpoints.get(id).map_or_else(|| id.chars().take(8).collect(), Endpoint::name)
    }

    fn describe(&self, ids: &[&str]) -> String {
        ids.iter()
            .map(|id| {
                let e = &self.endpoints[*id];
                let mut s = e.name();
                if let Some(cwd) = &e.row.cwd {
                    s.push_str(&format!(" ({}, {cwd})", e.row.agent_session.as_deref().unwrap_or(&e.row.id)));
                }
                s
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn one(&self, address: &str, how: &str, found: Vec<&str>, via: Via) -> BridgeResult<Target> {
        match found.as_slice() {
            [one] => Ok(Target::Endpoint(one.to_string())),
            [] => Err(self.not_found(address, via)),
            many => Err(Error::choose(
                "ambiguous_address",
                format!("{address:?} fits {} sessions by {how}: {}", many.len(), self.describe(many)),
                "address one of them by pane id, label or a longer session id prefix",
            )),
        }
    }

    fn not_found(&self, address: &str, via: Via) -> Error {
        let list = match via {
            Via::Cli => "sbx msg sessions --all",
            Via::Mcp => "bridge_list_sessions",
        };
        Error::new(
            "unknown_address",
            format!("no session answers to {address:?}"),
            format!(
                "list who is there with {list}; address by pane id (%3), label, cwd, session id prefix, or #channel"
            ),
        )
    }

    pub fn resolve(&self, address: &str, now: i64, via: Via) -> BridgeResult<Target> {
        let address = address.trim();
        if address.is_empty() {
            return Err(Error::new(
                "unknown_address",
                "the address is empty",
                "say who: a pane id, label, cwd, session id or #channel",
            ));
        }
        if address.starts_with('#') {
            return validate_channel(address).map(Target::Channel);
        }
        if address == USER {
            return Ok(Target::Endpoint(USER.into()));
        }
        if address.starts_with('%') {
            let found: Vec<&str> = self
                .endpoints
                .values()
                .filter(|e| e.pane.as_deref() == Some(address))
                .map(|e| e.row.id.as_str())
                .collect();
            return self.one(address, "pane id", found, via);
        }
        if address.starts_with(['/', '~', '.']) {
            let path = normalise_path(address);
            let found: Vec<&str> = self
                .endpoints
                .values()
                .filter(|e| self.online(e, now) && e.row.cwd.as_deref().map(normalise_path).as_deref() == Some(&path))
                .map(|e| e.row.id.as_str())
                .collect();
            return self.one(address, "working directory", found, via);
        }
        let labelled: Vec<&Endpoint> =
            self.endpoints.values().filter(|e| e.row.label.as_deref() == Some(address)).collect();
        let online: Vec<&str> = labelled.iter().filter(|e| self.online(e, now)).map(|e| e.row.id.as_str()).collect();
        if !online.is_empty() {
            return self.one(address, "label", online, via);
        }
        if !labelled.is_empty() {
            return self.one(address, "label", labelled.iter().map(|e| e.row.id.as_str()).collect(), via);
        }
        // A session id or a prefix of one: at least 4 characters, so "a" is not everyone.
        if address.len() >= 4 && address.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            let lower = address.to_ascii_lowercase();
            let found: Vec<&str> = self
                .endpoints
                .values()
                .filter(|e| {
                    e.row.kind != "user"
                        && (e.row.id.starts_with(&lower)
                            || e.row.agent_session.as_deref().is_some_and(|s| s.starts_with(&lower)))
                })
                .map(|e| e.row.id.as_str())
                .collect();
            return self.one(address, "session id prefix", found, via);
        }
        Err(self.not_found(address, via))
    }
}

/// Compare paths without a trailing slash, with `~` as $HOME.
fn normalise_path(path: &str) -> String {
    let expanded = match path.strip_prefix('~') {
        Some(rest) => format!("{}{rest}", std::env::var("HOME").unwrap_or_default()),
        None => path.to_string(),
    };
    let trimmed = expanded.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(id: &str, pane: Option<&str>, label: Option<&str>, cwd: &str) -> Endpoint {
        Endpoint {
            row: EndpointRow {
                id: id.into(),
                kind: "pane".into(),
                label: label.map(Into::into),
                cwd: Some(cwd.into()),
                ..Default::default()
            },
            pane: pane.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn addresses_resolve_or_say_why_not() {
        let mut d = Directory { offline_after_ms: 1000, ..Default::default() };
        for e in [
            ep("aaaa1111", Some("%1"), Some("front"), "/src/app"),
            ep("aaaa2222", Some("%2"), None, "/src/app/"),
            ep("bbbb3333", Some("%3"), None, "/src/lib"),
        ] {
            d.endpoints.insert(e.row.id.clone(), e);
        }
        let t = |s: &str| Target::Endpoint(s.into());
        assert_eq!(d.resolve("%2", 0, Via::Cli).unwrap(), t("aaaa2222"));
        assert_eq!(d.resolve("front", 0, Via::Cli).unwrap(), t("aaaa1111"));
        assert_eq!(d.resolve("/src/lib/", 0, Via::Cli).unwrap(), t("bbbb3333"));
        assert_eq!(d.resolve("bbbb", 0, Via::Cli).unwrap(), t("bbbb3333"));
        assert_eq!(d.resolve("#Review", 0, Via::Cli).unwrap_err().code, "bad_channel");
        assert_eq!(d.resolve("#review", 0, Via::Cli).unwrap(), Target::Channel("review".into()));
        let e = d.resolve("aaaa", 0, Via::Cli).unwrap_err();
        assert_eq!(e.exit, 2);
        assert!(e.message.contains("front") && e.message.contains("%2"), "{}", e.message);
        assert_eq!(d.resolve("/src/app", 0, Via::Cli).unwrap_err().exit, 2);
        assert_eq!(d.resolve("nobody", 0, Via::Cli).unwrap_err().code, "unknown_address");
        assert_eq!(d.resolve("%9", 0, Via::Cli).unwrap_err().code, "unknown_address");
    }
}
