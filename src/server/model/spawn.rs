//! New panes: the OS seam that starts them (`Spawner`: a child on a PTY, or nothing at all in
//! tests), and the model's operations that place them — a new session, a split, a new tab.

use std::path::PathBuf;

use tokio::sync::mpsc::UnboundedSender;

use super::layout::Layout;
use super::{Model, PaneAgent, Session, Tab, STATUS_ROWS};
use crate::agents::Adapter as _;
use crate::pane::engine::{Size, MAX_COLS, MAX_ROWS};
#[cfg(test)]
use crate::pane::Recorder;
use crate::pane::{Adopted, Hold, Pane, PaneId, PaneNotice, SpawnSpec};
use crate::protocol::{validate_label, validate_session_name, Error, NewSpec, PaneSpec, SplitDirection};

/// Starts a pane's program.
pub trait Spawner {
    fn spawn(&self, id: PaneId, spec: SpawnSpec) -> anyhow::Result<Pane>;
    /// Take over a child that runs already (a live upgrade).
    fn adopt(&self, id: PaneId, adopted: Adopted) -> anyhow::Result<Pane>;
}

/// Children on PTYs, whose output notices go to the server loop.
pub struct PtySpawner {
    pub notices: UnboundedSender<PaneNotice>,
    /// Stops the readers of every pane this starts (a live upgrade).
    pub hold: Hold,
}

impl Spawner for PtySpawner {
    fn spawn(&self, id: PaneId, spec: SpawnSpec) -> anyhow::Result<Pane> {
        Pane::spawn(id, spec, self.notices.clone(), &self.hold)
    }

    fn adopt(&self, id: PaneId, adopted: Adopted) -> anyhow::Result<Pane> {
        Pane::adopt(id, adopted, self.notices.clone(), &self.hold)
    }
}

/// Panes with no child (tests): each one's recorder is kept, to see what was written to it.
#[cfg(test)]
#[derive(Default)]
pub struct Detached {
    pub recorders: std::rc::Rc<std::cell::RefCell<std::collections::BTreeMap<PaneId, Recorder>>>,
}

#[cfg(test)]
impl Spawner for Detached {
    fn spawn(&self, id: PaneId, spec: SpawnSpec) -> anyhow::Result<Pane> {
        let (pane, recorder) = Pane::detached(id, spec.command, spec.cwd, spec.size, spec.colors);
        self.recorders.borrow_mut().insert(id, recorder);
        Ok(pane)
    }

    fn adopt(&self, _id: PaneId, _adopted: Adopted) -> anyhow::Result<Pane> {
        anyhow::bail!("a detached model has no children to adopt")
    }
}

impl Model {
    /// Start a pane (not yet placed in a tab).
    pub(super) fn spawn_pane(
        &mut self,
        spec: &PaneSpec,
        default_cwd: PathBuf,
        size: Size,
        session: &str,
    ) -> Result<PaneId, Error> {
        let cwd = spec.cwd.clone().unwrap_or(default_cwd);
        if !cwd.is_dir() {
            return Err(Error::new(
                "not_a_directory",
                format!("{} is not a directory", cwd.display()),
                "pass an existing directory with -c DIR",
            ));
        }
        if let Some(label) = &spec.label {
            validate_label(label)?;
            if self.panes.values().any(|p| p.label.as_ref() == Some(label)) {
                return Err(Error::new(
                    "label_taken",
                    format!("the label {label:?} is taken"),
                    "labels are unique; run `sbx ls` to see them and choose another",
                ));
            }
        }
        let mut env = vec![
            ("SBX_SOCKET".to_string(), self.socket.display().to_string()),
            ("SBX_SESSION".to_string(), session.to_string()),
        ];
        env.extend(spec.env.iter().cloned());
        let mut unset = Vec::new();
        let mut command = spec.command.clone();
        let mut agent = None;
        if let Some(id) = &spec.resume {
            if spec.agent.is_none() {
                return Err(Error::new(
                    "usage",
                    "--resume needs --agent",
                    "say which agent's session: --agent claude or --agent codex",
                ));
            }
            if !crate::share::sessions::valid_session_id(id) {
                return Err(Error::new(
                    "bad_session_id",
                    "that is not an agent session id (letters, digits, . _ -; at most 128)",
                    "see the ids with `sbx sessions`",
                ));
            }
        }
        if let Some(kind) = spec.agent {
            let adapter = kind.adapter();
            if spec.resume.is_some() && !adapter.keeps_sessions() {
                return Err(Error::new(
                    "no_sessions",
                    format!("{} keeps no sessions, so there is none to resume", adapter.program()),
                    "start it without --resume",
                ));
            }
            if crate::agents::which(adapter.program()).is_none() {
                return Err(Error::new(
                    "not_installed",
                    format!("{} is not installed (not found on the sbx server's PATH)", adapter.program()),
                    format!(
                        "install it: {}; then restart the server (sbx kill-server) if PATH changed",
                        adapter.install_hint()
                    ),
                ));
            }
            let sbx = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("sbx"));
            let launch = adapter.launch(&crate::agents::LaunchCtx {
                sbx: &sbx,
                socket: &self.socket,
                args: &spec.command,
                resume: spec.resume.as_deref(),
                cwd: &cwd,
            });
            command = launch.command;
            env.extend(launch.env);
            unset = launch.unset;
            let mut new = PaneAgent::new(kind, launch.session_id);
            new.args = spec.command.clone();
            // A resumed session is the agent's to confirm: its first hook, backed by its own
            // processes, vouches for it, and that moves the session's mail to this pane.
            new.vouched &= spec.resume.is_none();
            agent = Some(new);
        }
        let id = self.allocate_pane_id();
        let settings = &self.config.settings;
        let shell = (!settings.shell.is_empty()).then(|| settings.shell.clone());
        let colors = self.outer_colors.clone();
        let spawn = SpawnSpec { command, cwd, env, unset, shell, size, scrollback: settings.scrollback, colors };
        let mut pane = self.spawner.spawn(id, spawn).map_err(|e| {
            Error::new("spawn_failed", format!("{e:#}"), "check the command and the directory, then try again")
        })?;
        pane.label = spec.label.clone();
        if let Some(session_id) = agent.as_ref().and_then(|a| a.session_id.clone()) {
            // The session id sbx chose is the pane's name in the bridge.
            pane.endpoint = session_id;
        }
        self.panes.insert(id, pane);
        if let Some(agent) = agent {
            self.agents.insert(id, agent);
        }
        self.changes.panes = true;
        Ok(id)
    }

    /// A new session with one pane, sized for the terminal that asked (or `--size`).
    pub fn create_session(&mut self, spec: NewSpec) -> Result<(String, PaneId), Error> {
        let name = match spec.name {
            Some(name) => {
                validate_session_name(&name)?;
                if self.session_index(&name).is_some() {
                    return Err(Error::new(
                        "name_taken",
                        format!("a session named {name:?} exists"),
                        format!("attach to it with `sbx attach -t {name}`, or choose another name"),
                    ));
                }
                if self.panes.values().any(|p| p.label.as_deref() == Some(name.as_str())) {
                    return Err(Error::new(
                        "name_taken",
                        format!("{name:?} is a pane label"),
                        "choose another session name",
                    ));
                }
                name
            }
            None => self.fresh_session_name(),
        };
        let (cols, rows) = (if spec.cols == 0 { 80 } else { spec.cols }, if spec.rows == 0 { 24 } else { spec.rows });
        let (cols, rows) = (cols.min(MAX_COLS), rows.min(MAX_ROWS));
        let size = Size::clamped(cols, rows.saturating_sub(1 + STATUS_ROWS));
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"));
        let id = self.spawn_pane(&spec.pane, home, size, &name)?;
        self.sessions.push(Session {
            name: name.clone(),
            tabs: vec![Tab::of(&self.panes[&id])],
            active_tab: 0,
            detached_size: (cols, rows.saturating_sub(STATUS_ROWS)),
            last_used: 0,
        });
        let si = self.sessions.len() - 1;
        self.touch(si);
        self.changes.reshaped.insert(name.clone());
        if spec.pair {
            let right = PaneSpec {
                cwd: Some(self.panes[&id].initial_cwd.clone()),
                agent: Some(crate::protocol::AgentKind::Codex),
                ..Default::default()
            };
            if let Err(e) = self.split(Some(id), SplitDirection::Right, right) {
                // No half-made pair: take the session down again.
                self.close_pane(id);
                return Err(e);
            }
            self.focus_pane(id);
        }
        Ok((name, id))
    }

    /// Split `from` (default: the active pane of the default session); the new pane is
    /// focused.
    pub fn split(&mut self, from: Option<PaneId>, dir: SplitDirection, spec: PaneSpec) -> Result<PaneId, Error> {
        let from = match from {
            Some(p) => p,
            None => {
                let si = self.default_session().ok_or_else(no_sessions)?;
                self.sessions[si].tab().active
            }
        };
        let (si, ti) = self.locate(from).ok_or_else(no_sessions)?;
        let cwd = self.panes[&from].cwd();
        let size = self.size_of(Some(from));
        let session = self.sessions[si].name.clone();
        let id = self.spawn_pane(&spec, cwd, size, &session)?;
        let tab = &mut self.sessions[si].tabs[ti];
        tab.layout.split(from, id, dir);
        tab.active = id;
        tab.zoomed = false;
        self.changes.reshaped.insert(session);
        Ok(id)
    }

    /// A new tab in session `si`, shown at once.
    pub fn new_tab(&mut self, si: usize, spec: PaneSpec) -> Result<PaneId, Error> {
        let session = self.sessions[si].name.clone();
        let active = self.sessions[si].tab().active;
        let cwd = self.panes.get(&active).map(|p| p.cwd()).unwrap_or_else(|| PathBuf::from("/"));
        let size = self.size_of(Some(active));
        let id = self.spawn_pane(&spec, cwd, size, &session)?;
        let s = &mut self.sessions[si];
        s.tabs.push(Tab { layout: Layout::Pane(id), ..Tab::of(&self.panes[&id]) });
        s.active_tab = s.tabs.len() - 1;
        self.changes.reshaped.insert(session);
        Ok(id)
    }
}

pub fn no_sessions() -> Error {
    Error::new("no_sessions", "there are no sessions", "start one with `sbx` or `sbx new`")
}
