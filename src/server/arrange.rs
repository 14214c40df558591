//! Commands and chords that arrange what runs: renames, swaps and moves of panes, layout
//! presets, muting; and where a client goes (another session, tab or pane; the next agent
//! that needs you).

use super::conn::ClientId;
use super::front::effect::{Jump, Renaming};
use super::model::Target;
use super::Server;
use crate::pane::PaneId;
use crate::protocol::{Command, Error, LayoutPreset, Reply};

impl Server {
    /// A command that arranges sessions, tabs and panes.
    pub(super) fn arrange(&mut self, cmd: Command) -> Result<Reply, Error> {
        let m = &mut self.model;
        match cmd {
            Command::RenameSession { target, name } => {
                let si = m.resolve(&target).map(|t| m.session_of(t))?;
                let old = m.sessions[si].name.clone();
                m.rename_session(si, &name)?;
                // Its clients follow at once: a key in the same burst acts in the renamed session.
                self.front.session_renamed(&old, &name);
            }
            Command::RenameTab { target, name } => {
                let (si, ti) = match m.resolve(&target)? {
                    Target::Tab(si, ti) => (si, ti),
                    Target::Session(si) => (si, m.sessions[si].active_tab),
                    Target::Pane(p) => {
                        m.locate(p).ok_or_else(|| Error::new("no_pane", "that pane is gone", "sbx ls"))?
                    }
                };
                m.rename_tab(si, ti, &name)?;
            }
            Command::SwapPane { source, target } => {
                let (a, b) = (m.resolve_pane(&source)?, m.resolve_pane(&target)?);
                m.swap_panes(a, b)?;
            }
            Command::MovePane { source, target, direction } => {
                let pane = m.resolve_pane(&source)?;
                let target = target.map(|t| m.resolve_pane(&t)).transpose()?;
                m.move_pane(pane, target, direction)?;
            }
            Command::Layout { target, preset } => {
                let target = m.resolve(&target)?;
                m.apply_preset(target, preset)?;
            }
            Command::Mute { target, on } => {
                let pane = m.resolve_pane(&target)?;
                if let Some(p) = m.panes.get_mut(&pane) {
                    p.muted = on;
                }
                m.mark_panes_changed(pane);
            }
            _ => return Err(Error::new("internal", "not an arranging command", "report this")),
        }
        Ok(Reply::Done)
    }

    /// Client `id` goes to a session, a tab or a pane: its session switches if need be, the
    /// tab shows and the pane is focused.
    pub(super) fn go(&mut self, id: ClientId, jump: Jump) {
        let (session, tab, pane) = match jump {
            Jump::Session(s) => (s, None, None),
            Jump::Tab(s, t) => (s, Some(t), None),
            Jump::Pane(p) => match self.model.locate(p) {
                Some((si, ti)) => (self.model.sessions[si].name.clone(), Some(ti), Some(p)),
                None => return,
            },
        };
        let Some(si) = self.model.session_index(&session) else { return };
        if let Some(old) = self.front.switch_session(id, &session) {
            self.reshape(&old);
            self.reshape(&session);
        }
        self.model.touch(si);
        if let Some(ti) = tab {
            self.model.switch_tab(si, ti);
        }
        if let Some(pane) = pane {
            self.model.focus_pane(pane);
        }
        self.front.mark_dirty(&session);
    }

    /// The next agent that needs you (waiting first, then done, oldest first), after the one
    /// this client shows focused: pressed again, it goes on to the next.
    pub(super) fn go_to_next_needing(&mut self, id: ClientId) {
        let needing = self.model.needing();
        let here = self.front.focus(id, &self.model).map(|(_, p)| p);
        let next: Option<PaneId> = match here.and_then(|h| needing.iter().position(|p| *p == h)) {
            Some(i) => needing.get(i + 1).or(needing.first()).copied().filter(|p| Some(*p) != here),
            None => needing.first().copied(),
        };
        match next {
            Some(pane) => self.go(id, Jump::Pane(pane)),
            None => self.front.set_message(id, "no agent needs you".into()),
        }
    }

    /// The next or previous session (by name order, as `sbx ls` lists them).
    pub(super) fn go_to_session(&mut self, id: ClientId, step: isize) {
        let Some(client) = self.front.clients.get(&id) else { return };
        let names: Vec<String> = self.model.sessions.iter().map(|s| s.name.clone()).collect();
        let Some(i) = names.iter().position(|n| *n == client.session) else { return };
        let n = names.len() as isize;
        let next = names[((i as isize + step).rem_euclid(n)) as usize].clone();
        self.go(id, Jump::Session(next));
    }

    /// A rename typed in a client's prompt.
    pub(super) fn rename(&mut self, id: ClientId, what: Renaming, name: String) {
        let result = match what {
            Renaming::Session(s) => match self.model.session_index(&s) {
                Some(si) => self.model.rename_session(si, &name).map(|()| self.front.session_renamed(&s, &name)),
                None => Ok(()),
            },
            Renaming::Tab { pane, .. } => match self.model.locate(pane) {
                Some((si, ti)) => self.model.rename_tab(si, ti, &name),
                None => Ok(()),
            },
        };
        if let Err(e) = result {
            self.front.set_message(id, format!("{} ({})", e.message, e.next.unwrap_or_default()));
        }
    }

    /// The next preset for the focused tab, after the one it has (tmux's next-layout).
    pub(super) fn next_layout(&mut self, si: usize) -> Result<(), Error> {
        let now = self.model.sessions[si].tab().preset;
        let all = LayoutPreset::ALL;
        let next = match now.and_then(|p| all.iter().position(|q| *q == p)) {
            Some(i) => all[(i + 1) % all.len()],
            None => all[0],
        };
        self.model.apply_preset(Target::Session(si), next)
    }
}
