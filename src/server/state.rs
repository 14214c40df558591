//! The server's model: sessions > tabs > layout > panes, and how targets name them.

use std::collections::BTreeMap;

use ratatui::layout::Rect;

use super::layout::Layout;
use crate::config::Config;
use crate::pane::{pane_name, Pane, PaneId};
pub use crate::protocol::{validate_label, validate_session_name};
use crate::protocol::{Error, PaneInfo, SessionInfo, TabInfo};

pub struct Tab {
    pub name: String,
    pub layout: Layout,
    pub active: PaneId,
    pub zoomed: bool,
}

pub struct Session {
    pub name: String,
    pub tabs: Vec<Tab>,
    pub active_tab: usize,
    /// The layout area used while no client is attached (`new -d`).
    pub detached_size: (u16, u16),
    /// For "the default session": the one used last.
    pub last_used: u64,
}

impl Session {
    pub fn tab(&self) -> &Tab {
        &self.tabs[self.active_tab]
    }
    pub fn tab_mut(&mut self) -> &mut Tab {
        &mut self.tabs[self.active_tab]
    }
}

pub struct State {
    pub config: Config,
    pub sessions: Vec<Session>,
    pub panes: BTreeMap<PaneId, Pane>,
    /// The panes that run an agent sbx knows.
    pub agents: BTreeMap<PaneId, super::agents::PaneAgent>,
    next_pane: PaneId,
    clock: u64,
}

/// What a target resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Session(usize),
    Tab(usize, usize),
    Pane(PaneId),
}

impl State {
    pub fn new(config: Config) -> State {
        State { config, sessions: Vec::new(), panes: BTreeMap::new(), agents: BTreeMap::new(), next_pane: 1, clock: 0 }
    }

    pub fn allocate_pane_id(&mut self) -> PaneId {
        let id = self.next_pane;
        self.next_pane += 1;
        id
    }

    pub fn touch(&mut self, session: usize) {
        self.clock += 1;
        self.sessions[session].last_used = self.clock;
    }

    pub fn session_index(&self, name: &str) -> Option<usize> {
        self.sessions.iter().position(|s| s.name == name)
    }

    pub fn default_session(&self) -> Option<usize> {
        (0..self.sessions.len()).max_by_key(|&i| self.sessions[i].last_used)
    }

    /// A fresh session name: "main", then "2", "3"…
    pub fn fresh_session_name(&self) -> String {
        if self.session_index("main").is_none() {
            return "main".into();
        }
        (2..).map(|n| n.to_string()).find(|n| self.session_index(n).is_none()).expect("unbounded")
    }

    /// Where a pane lives: (session, tab).
    pub fn locate(&self, pane: PaneId) -> Option<(usize, usize)> {
        self.sessions
            .iter()
            .enumerate()
            .find_map(|(si, s)| s.tabs.iter().position(|t| t.layout.contains(pane)).map(|ti| (si, ti)))
    }

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

    pub fn pane_info(&self, id: PaneId) -> Option<PaneInfo> {
        let pane = self.panes.get(&id)?;
        let (si, ti) = self.locate(id)?;
        let session = &self.sessions[si];
        let size = pane.size();
        Some(PaneInfo {
            id: pane.name(),
            session: session.name.clone(),
            tab: ti + 1,
            label: pane.label.clone(),
            title: pane.title().unwrap_or_default(),
            command: pane.display_command(),
            cwd: pane.cwd().display().to_string(),
            cols: size.cols,
            rows: size.rows,
            pid: pane.pid,
            alive: pane.is_alive(),
            active: session.tabs[ti].active == id,
            agent: self.agents.get(&id).map(|a| a.info()),
        })
    }

    pub fn list(&self, clients_per_session: impl Fn(usize) -> usize) -> Vec<SessionInfo> {
        self.sessions
            .iter()
            .enumerate()
            .map(|(si, s)| SessionInfo {
                name: s.name.clone(),
                clients: clients_per_session(si),
                tabs: s
                    .tabs
                    .iter()
                    .enumerate()
                    .map(|(ti, t)| TabInfo {
                        index: ti + 1,
                        name: t.name.clone(),
                        active: ti == s.active_tab,
                        panes: t.layout.panes().into_iter().filter_map(|id| self.pane_info(id)).collect(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// Size every pane of a tab to the geometry of `area`; zoom gives the active pane all of it.
    pub fn apply_geometry(&self, session: usize, tab: usize, area: Rect) {
        let t = &self.sessions[session].tabs[tab];
        let rects = if t.zoomed { vec![(t.active, area)] } else { t.layout.geometry(area) };
        for (id, rect) in rects {
            if let Some(pane) = self.panes.get(&id) {
                pane.resize(rect.width, rect.height.saturating_sub(1));
            }
        }
    }
}
