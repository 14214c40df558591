//! The model handed to a new server at a live upgrade: the structure (a `Snapshot`) and, for
//! each pane in the snapshot's reading order, what keeps it the same pane — its id, its child
//! (pid and the PTY's master, by descriptor number), its name in the bridge, its agent's whole
//! state and its engine as escapes. Text (JSON and escapes), not memory: the new binary may
//! lay its types out differently.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::agent::PaneAgent;
use super::snapshot::Snapshot;
use super::Model;
use crate::pane::engine::Size;
use crate::pane::{Adopted, PaneId, Started};

#[derive(Serialize, Deserialize)]
pub struct HandedPane {
    pub id: PaneId,
    /// The PTY master's descriptor number in the process being replaced (kept open across
    /// the exec).
    pub fd: i32,
    pub pid: Option<u32>,
    pub command: Vec<String>,
    pub cwd: PathBuf,
    pub label: Option<String>,
    #[serde(default)]
    pub muted: bool,
    pub endpoint: String,
    pub cols: u16,
    pub rows: u16,
    pub agent: Option<PaneAgent>,
    pub dump: String,
}

impl Model {
    /// The structure, and every pane that has a child on a PTY, in the structure's order.
    pub fn hand_off(&self) -> (Snapshot, Vec<HandedPane>) {
        let snap = self.snapshot();
        let mut panes = Vec::new();
        for session in &self.sessions {
            for tab in &session.tabs {
                for id in tab.layout.panes() {
                    let Some(pane) = self.panes.get(&id) else { continue };
                    let Some(master) = pane.master() else { continue };
                    let size = pane.size();
                    panes.push(HandedPane {
                        id,
                        fd: master.as_raw_fd(),
                        pid: pane.pid,
                        command: pane.command.clone(),
                        cwd: pane.initial_cwd.clone(),
                        label: pane.label.clone(),
                        muted: pane.muted,
                        endpoint: pane.endpoint.clone(),
                        cols: size.cols,
                        rows: size.rows,
                        agent: self.agents.get(&id).map(clone_agent),
                        dump: pane.dump(),
                    });
                }
            }
        }
        (snap, panes)
    }

    /// Take over what `hand_off` gave: the same sessions, tabs, layouts, pane ids, labels and
    /// agents, each pane on its running child. A pane that cannot be taken over (its
    /// descriptor is not a terminal) is left out, and its descriptor closed. How many came.
    pub fn adopt(&mut self, snap: &Snapshot, panes: Vec<HandedPane>) -> usize {
        let scrollback = self.config.settings.scrollback;
        let mut panes = panes.into_iter();
        let mut adopted = 0;
        self.rebuild(snap, &mut |model, _, _, _| {
            let handed = panes.next()?;
            // SAFETY: the server before this one kept this descriptor open for us across the
            // exec and named it here; nothing else in this process owns it.
            let master = unsafe { OwnedFd::from_raw_fd(handed.fd) };
            if !rustix::termios::isatty(&master) {
                tracing::warn!("pane %{}: descriptor {} is not a terminal; left out", handed.id, handed.fd);
                return None;
            }
            let started = Started {
                master,
                pid: handed.pid,
                command: handed.command,
                cwd: handed.cwd,
                size: Size::clamped(handed.cols, handed.rows),
                scrollback,
            };
            let colors = model.outer_colors.clone();
            let mut pane = match model.spawner.adopt(handed.id, Adopted { started, colors, dump: handed.dump }) {
                Ok(pane) => pane,
                Err(e) => {
                    tracing::warn!("pane %{}: cannot take it over: {e:#}", handed.id);
                    return None;
                }
            };
            pane.label = handed.label;
            pane.muted = handed.muted;
            pane.endpoint = handed.endpoint;
            model.next_pane = model.next_pane.max(handed.id + 1);
            model.panes.insert(handed.id, pane);
            if let Some(agent) = handed.agent {
                // The clock goes on from the agents' marks: the oldest need stays the oldest.
                model.clock = model.clock.max(agent.needs_since);
                model.agents.insert(handed.id, agent);
            }
            model.changes.panes = true;
            adopted += 1;
            Some(handed.id)
        });
        adopted
    }
}

fn clone_agent(agent: &PaneAgent) -> PaneAgent {
    // Through serde: the agent's own fields, private ones included, with no Clone to keep up.
    serde_json::from_value(serde_json::to_value(agent).unwrap_or_default())
        .unwrap_or_else(|_| PaneAgent::new(agent.kind, agent.session_id.clone()))
}
