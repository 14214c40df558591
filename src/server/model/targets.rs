//! How targets name things: `SESSION`, `SESSION:TAB` (number or name), `%ID` or a pane label.
//! Ambiguity is an error (exit 2) that says how to choose, never a guess.

use super::Model;
use crate::pane::{pane_name, PaneId};
use crate::protocol::Error;

/// What a target resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Session(usize),
    Tab(usize, usize),
    Pane(PaneId),
}

impl Model {
    /// Resolve SESSION, SESSION:TAB, %ID or a pane label. Ambiguity is exit code 2.
    pub fn resolve(&self, target: &str) -> Result<Target, Error> {
        let target = target.trim();
        if let Some(num) = target.strip_prefix('%') {
            if let Ok(id) = num.parse::<PaneId>() {
                if self.panes.contains_key(&id) {
                    return Ok(Target::Pane(id));
                }
            }
            return Err(self.unknown(target));
        }
        if let Some((session, tab)) = target.split_once(':') {
            let si = self.session_index(session).ok_or_else(|| self.unknown(target))?;
            let s = &self.sessions[si];
            if let Ok(n) = tab.parse::<usize>() {
                if n >= 1 && n <= s.tabs.len() {
                    return Ok(Target::Tab(si, n - 1));
                }
            }
            let named: Vec<usize> = (0..s.tabs.len()).filter(|&i| s.tabs[i].name == tab).collect();
            return match named[..] {
                [ti] => Ok(Target::Tab(si, ti)),
                [] => Err(self.unknown(target)),
                _ => Err(Error::choose(
                    "ambiguous",
                    format!("{} tabs of {session:?} are named {tab:?}", named.len()),
                    format!(
                        "name the tab by number: {}",
                        named.iter().map(|i| format!("-t {session}:{}", i + 1)).collect::<Vec<_>>().join(" or ")
                    ),
                )),
            };
        }
        let session = self.session_index(target);
        let pane = self.panes.values().find(|p| p.label.as_deref() == Some(target)).map(|p| p.id);
        match (session, pane) {
            (Some(si), None) => Ok(Target::Session(si)),
            (None, Some(id)) => Ok(Target::Pane(id)),
            (Some(_), Some(id)) => Err(Error::choose(
                "ambiguous",
                format!("{target:?} is both a session and the label of pane {}", pane_name(id)),
                format!("say which: -t {target}:1 for the session's first tab, or -t {}", pane_name(id)),
            )),
            (None, None) => Err(self.unknown(target)),
        }
    }

    fn unknown(&self, target: &str) -> Error {
        Error::new(
            "unknown_target",
            format!("no session, tab or pane matches {target:?}"),
            "run `sbx ls` to see the targets",
        )
    }

    /// The pane a target means: a pane itself, or the active pane of a tab or session.
    pub fn resolve_pane(&self, target: &str) -> Result<PaneId, Error> {
        Ok(match self.resolve(target)? {
            Target::Pane(id) => id,
            Target::Tab(si, ti) => self.sessions[si].tabs[ti].active,
            Target::Session(si) => self.sessions[si].tab().active,
        })
    }

    /// The session a target is in (a pane's, a tab's, or the session itself).
    pub fn session_of(&self, target: Target) -> usize {
        match target {
            Target::Session(si) | Target::Tab(si, _) => si,
            Target::Pane(id) => self.locate(id).map_or(0, |(si, _)| si),
        }
    }
}
