//! The server's structure as data, to outlive the server: sessions, tabs, each tab's layout
//! tree with its proportions and zoom, and per pane its directory, command and label, and for
//! an agent pane the agent, its session and the user's own arguments. Nothing of a pane's
//! environment is kept (it can hold secrets), nor the launch command sbx built for an agent
//! (rebuilt at restore). `Model::restore` builds it again: shells in their directories,
//! agents resumed natively, other commands only where the user allowed them.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::layout::Layout;
use super::{Model, Session, Tab};
use crate::pane::PaneId;
use crate::protocol::{AgentKind, Error, PaneSpec, SplitDirection};

/// Bumped when the shape changes; a snapshot of another version is set aside, not misread.
pub const SNAPSHOT_VERSION: u32 = 1;
/// A restore starts at most this many panes (a snapshot is read as outside input).
pub const MAX_PANES: usize = 512;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    /// Written by `sbx kill-server`: a clean stop, kept for `sbx restore` but not restored
    /// by itself.
    #[serde(default)]
    pub kept: bool,
    pub sessions: Vec<SessionSnap>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSnap {
    pub name: String,
    pub active_tab: usize,
    pub size: (u16, u16),
    pub tabs: Vec<TabSnap>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabSnap {
    pub name: String,
    pub zoomed: bool,
    /// Which pane is active: its place in the layout's reading order.
    pub active: usize,
    pub layout: LayoutSnap,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayoutSnap {
    Pane(PaneSnap),
    Split { right: bool, ratio: f32, first: Box<LayoutSnap>, second: Box<LayoutSnap> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaneSnap {
    pub cwd: PathBuf,
    /// The program and its arguments; empty for the user's shell. For an agent: the user's
    /// own extra arguments.
    pub command: Vec<String>,
    pub label: Option<String>,
    pub agent: Option<AgentSnap>,
    /// The end of the pane's text, with `restore_history` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSnap {
    pub kind: AgentKind,
    pub session_id: Option<String>,
}

/// How one pane came back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Restored {
    Shell,
    Command,
    /// A command the user did not allow to run again: a shell in its directory instead.
    ShellInstead(Vec<String>),
    Agent(AgentKind),
    /// An agent with no session to resume: started afresh.
    AgentAfresh(AgentKind),
}

impl LayoutSnap {
    pub fn panes(&self) -> Vec<&PaneSnap> {
        match self {
            LayoutSnap::Pane(p) => vec![p],
            LayoutSnap::Split { first, second, .. } => {
                let mut v = first.panes();
                v.extend(second.panes());
                v
            }
        }
    }
}

impl Snapshot {
    pub fn pane_count(&self) -> usize {
        self.sessions.iter().flat_map(|s| &s.tabs).map(|t| t.layout.panes().len()).sum()
    }
}

impl Model {
    /// The structure as it is now.
    pub fn snapshot(&self) -> Snapshot {
        let sessions = self
            .sessions
            .iter()
            .map(|s| SessionSnap {
                name: s.name.clone(),
                active_tab: s.active_tab,
                size: s.detached_size,
                tabs: s
                    .tabs
                    .iter()
                    .map(|t| TabSnap {
                        name: t.name.clone(),
                        zoomed: t.zoomed,
                        active: t.layout.panes().iter().position(|p| *p == t.active).unwrap_or(0),
                        layout: self.layout_snap(&t.layout),
                    })
                    .collect(),
            })
            .collect();
        Snapshot { version: SNAPSHOT_VERSION, kept: false, sessions }
    }

    fn layout_snap(&self, layout: &Layout) -> LayoutSnap {
        match layout {
            Layout::Pane(id) => LayoutSnap::Pane(self.pane_snap(*id)),
            Layout::Split { dir, ratio, first, second } => LayoutSnap::Split {
                right: *dir == SplitDirection::Right,
                ratio: *ratio,
                first: Box::new(self.layout_snap(first)),
                second: Box::new(self.layout_snap(second)),
            },
        }
    }

    fn pane_snap(&self, id: PaneId) -> PaneSnap {
        let Some(pane) = self.panes.get(&id) else {
            return PaneSnap { cwd: PathBuf::from("/"), command: Vec::new(), label: None, agent: None, history: None };
        };
        let agent = self.agents.get(&id);
        PaneSnap {
            cwd: pane.cwd(),
            command: match agent {
                Some(a) => a.args.clone(),
                None => pane.command.clone(),
            },
            label: pane.label.clone(),
            agent: agent.map(|a| AgentSnap { kind: a.kind, session_id: a.session_id.clone() }),
            history: self.config.settings.restore_history.then(|| {
                let lines = crate::pane::engine::lock(&pane.engine).capture(usize::MAX);
                tail_of(&lines, self.config.settings.restore_history_bytes)
            }),
        }
    }

    /// Build the sessions of `snap` again beside what exists (a session whose name is taken
    /// gets a fresh one). `allowed` says which programs may run again. What each pane became,
    /// in order; a pane that cannot start (its directory gone) starts in the home directory,
    /// and a tab none of whose panes starts is left out.
    pub fn restore(&mut self, snap: &Snapshot, allowed: &dyn Fn(&[String]) -> bool) -> Vec<(PaneId, Restored)> {
        let mut report = Vec::new();
        self.rebuild(snap, &mut |model, p, session, size| model.restore_pane(p, session, size, allowed, &mut report));
        report
    }

    /// The structure of `snap`, each pane made by `make` (given its snapshot, its session and
    /// the session's size); a pane it cannot make is left out of its layout.
    pub(crate) fn rebuild(&mut self, snap: &Snapshot, make: &mut PaneMaker<'_>) {
        for s in &snap.sessions {
            let name =
                if self.session_index(&s.name).is_none() && crate::protocol::validate_session_name(&s.name).is_ok() {
                    s.name.clone()
                } else {
                    self.fresh_session_name()
                };
            let mut tabs = Vec::new();
            for t in &s.tabs {
                let Some(layout) = self.rebuild_layout(&t.layout, &name, s.size, make) else {
                    continue;
                };
                let panes = layout.panes();
                let active = panes.get(t.active).or(panes.first()).copied().expect("a layout has a pane");
                let mut tab = Tab::new(t.name.clone(), layout, active);
                tab.zoomed = t.zoomed && panes.len() > 1;
                tabs.push(tab);
            }
            if tabs.is_empty() {
                continue;
            }
            let active_tab = s.active_tab.min(tabs.len() - 1);
            self.sessions.push(Session { name: name.clone(), tabs, active_tab, detached_size: s.size, last_used: 0 });
            let si = self.sessions.len() - 1;
            self.touch(si);
            self.changes.reshaped.insert(name);
        }
    }

    fn rebuild_layout(
        &mut self,
        snap: &LayoutSnap,
        session: &str,
        size: (u16, u16),
        make: &mut PaneMaker<'_>,
    ) -> Option<Layout> {
        match snap {
            LayoutSnap::Pane(p) => make(self, p, session, size).map(Layout::Pane),
            LayoutSnap::Split { right, ratio, first, second } => {
                let a = self.rebuild_layout(first, session, size, make);
                let b = self.rebuild_layout(second, session, size, make);
                match (a, b) {
                    (Some(a), Some(b)) => Some(Layout::Split {
                        dir: if *right { SplitDirection::Right } else { SplitDirection::Down },
                        ratio: if ratio.is_finite() { ratio.clamp(0.05, 0.95) } else { 0.5 },
                        first: Box::new(a),
                        second: Box::new(b),
                    }),
                    (a, b) => a.or(b),
                }
            }
        }
    }

    fn restore_pane(
        &mut self,
        p: &PaneSnap,
        session: &str,
        size: (u16, u16),
        allowed: &dyn Fn(&[String]) -> bool,
        report: &mut Vec<(PaneId, Restored)>,
    ) -> Option<PaneId> {
        let (spec, how) = restore_spec(p, allowed);
        let pane_size = crate::pane::engine::Size::clamped(size.0, size.1.saturating_sub(1));
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"));
        let id = match self.spawn_pane(&spec, home.clone(), pane_size, session) {
            Ok(id) => id,
            // Its directory is gone, its label taken, its agent not installed: a shell, where
            // it was if that is still there.
            Err(e) => {
                tracing::warn!("restoring a pane: {}; a shell instead", e.message);
                let cwd = if p.cwd.is_dir() { p.cwd.clone() } else { home };
                let spec = PaneSpec { cwd: Some(cwd), ..Default::default() };
                let id = self.spawn_pane(&spec, PathBuf::from("/"), pane_size, session).ok()?;
                report.push((id, Restored::ShellInstead(p.command.clone())));
                return Some(id);
            }
        };
        report.push((id, how));
        if let Some(text) = p.history.as_deref().filter(|_| self.config.settings.restore_history) {
            self.panes[&id].replay(text);
        }
        Some(id)
    }
}

/// Makes one pane of a snapshot being rebuilt (see `Model::rebuild`).
pub(crate) type PaneMaker<'a> = dyn FnMut(&mut Model, &PaneSnap, &str, (u16, u16)) -> Option<PaneId> + 'a;

/// What to start for a pane of a snapshot, and how it will have come back.
fn restore_spec(p: &PaneSnap, allowed: &dyn Fn(&[String]) -> bool) -> (PaneSpec, Restored) {
    let base = PaneSpec { cwd: Some(p.cwd.clone()), label: p.label.clone(), ..Default::default() };
    match &p.agent {
        Some(a) => {
            let resume = a.session_id.clone().filter(|id| crate::share::sessions::valid_session_id(id));
            let how = if resume.is_some() { Restored::Agent(a.kind) } else { Restored::AgentAfresh(a.kind) };
            (PaneSpec { agent: Some(a.kind), command: p.command.clone(), resume, ..base }, how)
        }
        None if p.command.is_empty() => (base, Restored::Shell),
        None if allowed(&p.command) => (PaneSpec { command: p.command.clone(), ..base }, Restored::Command),
        None => (base, Restored::ShellInstead(p.command.clone())),
    }
}

/// The last `max` bytes of `lines` (whole lines, blank ones at the end dropped).
fn tail_of(lines: &[String], max: usize) -> String {
    let end = lines.iter().rposition(|l| !l.trim().is_empty()).map_or(0, |i| i + 1);
    let mut kept = Vec::new();
    let mut size = 0;
    for line in lines[..end].iter().rev() {
        size += line.len() + 1;
        if size > max {
            break;
        }
        kept.push(line.as_str());
    }
    kept.reverse();
    kept.join("\n")
}

/// Whether a command may run again at restore: its program's base name is in `allowed`.
pub fn command_allowed(command: &[String], allowed: &[String]) -> bool {
    let Some(program) = command.first() else { return true };
    let base = std::path::Path::new(program).file_name().map(|n| n.to_string_lossy().into_owned());
    base.is_some_and(|b| allowed.contains(&b))
}

/// A snapshot from its file's text; what is wrong with it otherwise.
pub fn parse(text: &str) -> Result<Snapshot, Error> {
    let snap: Snapshot = serde_json::from_str(text).map_err(|e| {
        Error::new("bad_snapshot", format!("the snapshot does not parse: {e}"), "it was set aside; sbx starts fresh")
    })?;
    if snap.pane_count() > MAX_PANES {
        return Err(Error::new(
            "bad_snapshot",
            format!("the snapshot holds {} panes, more than the {MAX_PANES} a restore starts", snap.pane_count()),
            "it was set aside; sbx starts fresh",
        ));
    }
    if snap.version != SNAPSHOT_VERSION {
        return Err(Error::new(
            "bad_snapshot",
            format!("the snapshot is of version {}, this sbx reads {SNAPSHOT_VERSION}", snap.version),
            "it was set aside; sbx starts fresh",
        ));
    }
    Ok(snap)
}
