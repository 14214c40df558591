//! The model: sessions > tabs > layout > panes, and the agent each pane may run. It knows no
//! client, socket or bridge: every operation records what it changed (`Changes`), and the
//! server loop takes that record after each event to redraw, resize and tell the bridge. The
//! OS side of panes is behind `Spawner`, so the model runs in tests without a PTY.

pub mod agent;
mod arrange;
pub mod handoff;
pub mod layout;
mod session;
pub mod snapshot;
mod spawn;
mod targets;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use ratatui::layout::Rect;

use crate::config::Config;
use crate::pane::engine::Size;
use crate::pane::{Pane, PaneId};
use crate::protocol::{validate_label, Error, PaneInfo, SessionInfo, TabInfo};
pub use agent::PaneAgent;
pub use layout::Layout;
pub use session::{Session, Tab};
#[cfg(test)]
pub use spawn::Detached;
pub use spawn::{PtySpawner, Spawner};
pub use targets::Target;

/// The rows the status line takes below every tab area.
pub const STATUS_ROWS: u16 = 1;

/// What the model's operations changed since the record was last taken.
#[derive(Debug, Default)]
pub struct Changes {
    /// Sessions whose geometry must be recomputed and applied (a pane came or went, a tab was
    /// added, zoom, a border moved).
    pub reshaped: BTreeSet<String>,
    /// Sessions whose clients must draw again.
    pub redraw: BTreeSet<String>,
    /// Sessions that switched tabs (a client's copy mode of the old tab ends).
    pub switched: BTreeSet<String>,
    /// Sessions that ended: their clients leave.
    pub ended: Vec<String>,
    /// Sessions renamed (old name, new name): their clients follow.
    pub renamed: Vec<(String, String)>,
    /// Panes that went (closed or exited).
    pub removed: Vec<PaneId>,
    /// What the bridge knows of panes may be out of date (a pane came or went, a label, an
    /// agent's state or session).
    pub panes: bool,
    /// Agents whose state changed (waiters and held keys may answer now).
    pub agents: bool,
    /// Agents that began to need the user (waiting for an answer, a turn done): what to
    /// notify.
    pub attention: Vec<Attention>,
    /// Queued prompts whose agent went idle: type them now.
    pub prompts: Vec<(PaneId, String)>,
    /// No session is left: the server ends.
    pub empty: bool,
}

/// Why an agent needs the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeedEvent {
    Waiting,
    Done,
}

impl NeedEvent {
    pub fn name(self) -> &'static str {
        match self {
            NeedEvent::Waiting => "waiting",
            NeedEvent::Done => "done",
        }
    }
}

/// An agent began to need the user; `reason` says what for (the tool and its input when it
/// waits on one; control characters are the front's to strip).
#[derive(Debug, Clone)]
pub struct Attention {
    pub pane: PaneId,
    pub event: NeedEvent,
    pub reason: String,
}

pub struct Model {
    pub config: Config,
    pub sessions: Vec<Session>,
    pub panes: BTreeMap<PaneId, Pane>,
    /// The panes that run an agent sbx knows.
    pub agents: BTreeMap<PaneId, PaneAgent>,
    /// The server's socket, given to every pane.
    pub socket: PathBuf,
    /// The colours of the user's terminal, as the last client to attach reported them;
    /// every pane's engine answers from it.
    pub outer_colors: crate::pane::engine::OuterColors,
    spawner: Box<dyn Spawner>,
    changes: Changes,
    next_pane: PaneId,
    clock: u64,
}

impl Model {
    pub fn new(config: Config, socket: PathBuf, spawner: Box<dyn Spawner>) -> Model {
        Model {
            config,
            sessions: Vec::new(),
            panes: BTreeMap::new(),
            agents: BTreeMap::new(),
            socket,
            outer_colors: Default::default(),
            spawner,
            changes: Changes::default(),
            next_pane: 1,
            clock: 0,
        }
    }

    /// What changed since the last call.
    pub fn take_changes(&mut self) -> Changes {
        std::mem::take(&mut self.changes)
    }

    fn allocate_pane_id(&mut self) -> PaneId {
        let id = self.next_pane;
        self.next_pane += 1;
        id
    }

    /// Mark a session as the one used last (the default target).
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

    /// The name of the session a pane is in.
    pub fn session_name_of(&self, pane: PaneId) -> Option<String> {
        self.locate(pane).map(|(si, _)| self.sessions[si].name.clone())
    }

    /// The pane with this first process.
    pub fn pane_with_pid(&self, pid: u32) -> Option<PaneId> {
        self.panes.values().find(|p| p.pid == Some(pid)).map(|p| p.id)
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
            muted: pane.muted,
            agent: self.agents.get(&id).map(|a| a.info()),
        })
    }

    pub fn list(&self, clients_per_session: impl Fn(&str) -> usize) -> Vec<SessionInfo> {
        self.sessions
            .iter()
            .map(|s| SessionInfo {
                name: s.name.clone(),
                clients: clients_per_session(&s.name),
                tabs: s
                    .tabs
                    .iter()
                    .enumerate()
                    .map(|(ti, t)| TabInfo {
                        index: ti + 1,
                        name: t.name.clone(),
                        active: ti == s.active_tab,
                        zoomed: t.zoomed,
                        layout: t.preset.map(|p| p.name().to_string()),
                        panes: t.layout.panes().into_iter().filter_map(|id| self.pane_info(id)).collect(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// Give a session's tabs the area `(cols, rows)` (at least 2×2): every pane is resized to
    /// its part of it (zoom gives the active pane all of it; the others keep their part).
    pub fn apply_area(&mut self, session: &str, (cols, rows): (u16, u16)) {
        let Some(si) = self.session_index(session) else { return };
        let area = Rect::new(0, 0, cols.max(2), rows.max(2));
        self.sessions[si].detached_size = (area.width, area.height);
        for t in &self.sessions[si].tabs {
            // A zoomed tab's other panes keep their place in the layout (what unzooming shows).
            let rects = t
                .layout
                .geometry(area)
                .into_iter()
                .map(|(id, r)| (id, if t.zoomed && id == t.active { area } else { r }));
            for (id, rect) in rects {
                if let Some(pane) = self.panes.get(&id) {
                    pane.resize(rect.width, rect.height.saturating_sub(1));
                }
            }
        }
        self.changes.redraw.insert(session.to_string());
    }

    /// The area a session's tabs have now.
    pub fn area(&self, si: usize) -> Rect {
        let (w, h) = self.sessions[si].detached_size;
        Rect::new(0, 0, w.max(2), h.max(2))
    }

    /// Give a pane a label (unique among panes, not a session name, not one of `taken`: the
    /// labels of agent sessions outside sbx), or take it away.
    pub fn set_label(&mut self, id: PaneId, label: Option<String>, taken: &[String]) -> Result<(), Error> {
        if let Some(label) = &label {
            validate_label(label)?;
            if let Some(other) = self.panes.values().find(|p| p.id != id && p.label.as_ref() == Some(label)) {
                return Err(Error::new(
                    "label_taken",
                    format!("the label {label:?} is taken by pane {}", other.name()),
                    "labels are unique; choose another, or free it with `sbx label -t <that pane> <new name>`",
                ));
            }
            if self.session_index(label).is_some() {
                return Err(Error::new(
                    "name_taken",
                    format!("{label:?} is already a session name"),
                    "choose a label that is not a session name, so targets stay unambiguous",
                ));
            }
            if taken.contains(label) {
                return Err(Error::new(
                    "label_taken",
                    format!("the label {label:?} is taken by an agent session outside sbx"),
                    "labels are unique; choose another",
                ));
            }
        }
        if let Some(pane) = self.panes.get_mut(&id) {
            pane.label = label;
        }
        self.changes.panes = true;
        if let Some(name) = self.session_name_of(id) {
            self.changes.redraw.insert(name);
        }
        Ok(())
    }

    /// Show another tab of a session.
    pub fn switch_tab(&mut self, si: usize, tab: usize) {
        let s = &mut self.sessions[si];
        if s.active_tab != tab && tab < s.tabs.len() {
            s.active_tab = tab;
            self.changes.switched.insert(s.name.clone());
            self.changes.redraw.insert(s.name.clone());
        }
    }

    /// Focus a pane in its tab; the old and the new pane hear it (if they asked for focus
    /// events).
    pub fn focus_pane(&mut self, pane: PaneId) {
        let Some((si, ti)) = self.locate(pane) else { return };
        let tab = &mut self.sessions[si].tabs[ti];
        let old = tab.active;
        if old == pane {
            return;
        }
        tab.active = pane;
        for (id, gained) in [(old, false), (pane, true)] {
            if let Some(p) = self.panes.get(&id) {
                p.focus(gained);
            }
        }
        self.changes.redraw.insert(self.sessions[si].name.clone());
    }

    /// Zoom the active pane of a session's tab (or stop); one pane cannot zoom.
    pub fn toggle_zoom(&mut self, si: usize) {
        let tab = self.sessions[si].tab_mut();
        tab.zoomed = !tab.zoomed && tab.layout.panes().len() > 1;
        self.changes.reshaped.insert(self.sessions[si].name.clone());
    }

    /// Zoom `pane` in its tab (focusing it there), or with `on` false give its tab back its
    /// layout. A tab of one pane cannot zoom.
    pub fn zoom_pane(&mut self, pane: PaneId, on: bool) -> Result<bool, Error> {
        let (si, ti) = self.locate(pane).ok_or_else(|| Error::new("no_pane", "that pane is gone", "sbx ls"))?;
        if on {
            self.focus_pane(pane);
        }
        let tab = &mut self.sessions[si].tabs[ti];
        let zoomed = on && tab.layout.panes().len() > 1;
        if zoomed != tab.zoomed {
            tab.zoomed = zoomed;
            self.changes.reshaped.insert(self.sessions[si].name.clone());
        }
        Ok(zoomed)
    }

    /// Close a pane now: hang up its child and take it out of its tab.
    pub fn close_pane(&mut self, id: PaneId) {
        if let Some(pane) = self.panes.get_mut(&id) {
            pane.hang_up();
        }
        self.remove_pane(id);
    }

    /// A pane is gone (its child exited, or it was closed): take it out of its tab, the tab
    /// out of its session when empty, the session when it has no tabs left.
    pub fn remove_pane(&mut self, pane_id: PaneId) {
        self.agent_exited(pane_id);
        self.agents.remove(&pane_id);
        let location = self.locate(pane_id);
        if self.panes.remove(&pane_id).is_some() {
            self.changes.removed.push(pane_id);
        }
        self.changes.panes = true;
        if location.is_some() && self.take_out(pane_id).is_ok() {
            self.changes.empty = self.sessions.is_empty();
        }
    }

    /// A pane's size for a new pane beside `from` (its own), or a default.
    fn size_of(&self, from: Option<PaneId>) -> Size {
        from.and_then(|p| self.panes.get(&p)).map(|p| p.size()).unwrap_or(Size { cols: 80, rows: 22 })
    }
}

#[cfg(test)]
mod tests;
