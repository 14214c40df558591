//! What a binding's action does, and the other effects the front asks for: each one joins
//! the parts the loop owns (the model for panes, the front for modes, the links for sharing).

use crossterm::event::{KeyEvent, KeyModifiers};

use super::conn::ClientId;
use super::front::effect::Renaming;
use super::front::modes::{Chooser, CopyMode, Help, Mode, PickAction, Picker, Rename, SidebarNav};
use super::front::Effect;
use super::model::layout::neighbour;
use super::{Internal, Server};
use crate::keymap::Action;
use crate::pane::PaneId;
use crate::protocol::{Error, PaneSpec, SplitDirection};

impl Server {
    /// Carry out what the front asked for on behalf of client `id`.
    pub(super) fn apply(&mut self, id: ClientId, effect: Effect) {
        match effect {
            Effect::Act(action) => self.act(id, action),
            Effect::Bridge { op, opening } => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                self.bridge.as_user(op, tx);
                let internal = self.internal.clone();
                tokio::spawn(async move {
                    if let Some(answer) = rx.recv().await {
                        let _ = internal.send(if opening {
                            Internal::Opened(id, answer)
                        } else {
                            Internal::Replied(id, answer)
                        });
                    }
                });
            }
            Effect::Send { friend, session_id } => {
                self.front.set_message(id, format!("sending to {friend}…"));
                self.share.send(id, friend, session_id);
            }
            Effect::Open { blob, beside, dir } => {
                let exe = std::env::current_exe().unwrap_or_else(|_| "sbx".into()).display().to_string();
                // The pane itself opens (checks, installs) and then becomes the agent (--resume).
                let command = vec![exe, "open".into(), blob, "--dir".into(), dir.clone(), "--resume".into()];
                let spec = PaneSpec { cwd: Some(dir.into()), command, ..Default::default() };
                let message = match self.model.split(Some(beside), SplitDirection::Right, spec) {
                    Ok(_) => "opening in a new pane".to_string(),
                    Err(e) => format!("cannot open: {}", e.message),
                };
                self.front.set_message(id, message);
                self.share.view.received.clear();
                self.share.refresh_once();
            }
            Effect::Redraw(pane) => self.redraw_pane(pane),
            Effect::Reshape(session) => self.reshape(&session),
            Effect::Go(jump) => self.go(id, jump),
            Effect::Rename { what, name } => self.rename(id, what, name),
        }
    }

    /// A binding's action, for client `id`.
    fn act(&mut self, id: ClientId, action: Action) {
        let Some((si, focused)) = self.front.focus(id, &self.model) else { return };
        let session = self.model.sessions[si].name.clone();
        let split = |dir, agent| (dir, PaneSpec { agent, ..PaneSpec::default() });
        let result: Result<(), Error> = match action {
            Action::Detach => {
                self.front.detach(id, "[detached]");
                self.reshape(&session);
                return;
            }
            Action::SplitRight | Action::SplitDown | Action::SplitAgent(_) => {
                let (dir, spec) = match action {
                    Action::SplitDown => split(SplitDirection::Down, None),
                    Action::SplitAgent(kind) => split(SplitDirection::Right, Some(kind)),
                    _ => split(SplitDirection::Right, None),
                };
                self.model.split(Some(focused), dir, spec).map(drop)
            }
            Action::NewTab => self.model.new_tab(si, PaneSpec::default()).map(drop),
            Action::NextTab | Action::PrevTab | Action::SelectTab(_) => {
                let s = &self.model.sessions[si];
                let n = s.tabs.len();
                let next = match action {
                    Action::NextTab => (s.active_tab + 1) % n,
                    Action::PrevTab => (s.active_tab + n - 1) % n,
                    Action::SelectTab(k) => (k as usize).saturating_sub(1).min(n - 1),
                    _ => s.active_tab,
                };
                self.model.switch_tab(si, next);
                Ok(())
            }
            Action::Focus(dir) => {
                let area = self.model.area(si);
                let tab = self.model.sessions[si].tab();
                if let Some(next) = neighbour(&tab.layout.geometry(area), focused, dir) {
                    self.model.focus_pane(next);
                }
                Ok(())
            }
            Action::FocusNext => {
                let panes = self.model.sessions[si].tab().layout.panes();
                let i = panes.iter().position(|p| *p == focused).unwrap_or(0);
                self.model.focus_pane(panes[(i + 1) % panes.len()]);
                Ok(())
            }
            Action::Resize(dir) => {
                let area = self.model.area(si);
                self.model.sessions[si].tab_mut().layout.resize(focused, dir, 2, area);
                self.reshape(&session);
                Ok(())
            }
            Action::Zoom => {
                self.model.toggle_zoom(si);
                Ok(())
            }
            Action::ClosePane => {
                self.model.close_pane(focused);
                Ok(())
            }
            Action::CloseTab => {
                self.close_tab(si);
                Ok(())
            }
            Action::ToggleSidebar => {
                if let Some(c) = self.front.clients.get_mut(&id) {
                    c.sidebar = !c.sidebar;
                    c.redraw_all();
                }
                self.reshape(&session);
                Ok(())
            }
            Action::CopyMode | Action::ScrollPageUp => {
                let pane = &self.model.panes[&focused];
                let mut copy = CopyMode::enter(pane);
                if action == Action::ScrollPageUp {
                    copy.page(pane, -1);
                }
                self.set_mode(id, Mode::Copy(copy));
                Ok(())
            }
            Action::Help => {
                self.set_mode(id, Mode::Help(Help::default()));
                Ok(())
            }
            Action::Inbox => {
                self.set_mode(id, Mode::Inbox(Default::default()));
                Ok(())
            }
            Action::ShareSession => {
                let picker = self.send_picker(focused);
                self.pick(id, picker);
                Ok(())
            }
            Action::OpenReceived => {
                let picker = self.open_picker(focused);
                self.pick(id, picker);
                Ok(())
            }
            Action::ReloadConfig => {
                let warnings = self.reload_config();
                let message = match warnings.as_slice() {
                    [] => "config reloaded".to_string(),
                    [one] => format!("config reloaded; ignored: {one}"),
                    many => format!("config reloaded; {} problems ignored, see `sbx config check`", many.len()),
                };
                self.front.set_message(id, message);
                Ok(())
            }
            Action::Choose => {
                self.set_mode(id, Mode::Choose(Chooser::default()));
                Ok(())
            }
            Action::SidebarSelect => {
                if let Some(c) = self.front.clients.get_mut(&id) {
                    if !c.sidebar {
                        c.sidebar = true;
                        c.redraw_all();
                    }
                }
                self.reshape(&session);
                self.set_mode(id, Mode::Sidebar(SidebarNav::at(&self.model, &session)));
                Ok(())
            }
            Action::NextSession | Action::PrevSession => {
                self.go_to_session(id, if action == Action::NextSession { 1 } else { -1 });
                return;
            }
            Action::NextNeeding => {
                self.go_to_next_needing(id);
                return;
            }
            Action::RenameSession => {
                let text = session.clone();
                self.set_mode(id, Mode::Rename(Rename { what: Renaming::Session(session.clone()), text }));
                Ok(())
            }
            Action::RenameTab => {
                let s = &self.model.sessions[si];
                let what = Renaming::Tab { session: session.clone(), number: s.active_tab + 1, pane: focused };
                self.set_mode(id, Mode::Rename(Rename { what, text: s.tab().name.clone() }));
                Ok(())
            }
            Action::SwapPane(next) => {
                let panes = self.model.sessions[si].tab().layout.panes();
                let i = panes.iter().position(|p| *p == focused).unwrap_or(0);
                let n = panes.len();
                let other = panes[if next { (i + 1) % n } else { (i + n - 1) % n }];
                self.model.swap_panes(focused, other).map(|()| self.model.focus_pane(focused))
            }
            Action::BreakPane => self.model.move_pane(focused, None, SplitDirection::Right),
            Action::Layout(preset) => self.model.apply_preset(super::model::Target::Session(si), preset),
            Action::NextLayout => self.next_layout(si),
            Action::MarkPane => {
                let tab = self.model.sessions[si].tab_mut();
                if !tab.marked.remove(&focused) {
                    tab.marked.insert(focused);
                }
                Ok(())
            }
            Action::SyncPanes => {
                let tab = self.model.sessions[si].tab_mut();
                tab.sync = !tab.sync;
                let message = if tab.sync {
                    let n = tab.sync_targets().len();
                    let panes = if n == 1 { "1 pane".to_string() } else { format!("{n} panes") };
                    format!("typing goes to {panes} at once; {} M stops it", self.model.config.keymap.prefix)
                } else {
                    "typing goes to the focused pane only".into()
                };
                self.front.set_message(id, message);
                Ok(())
            }
            Action::MutePane => {
                let muted = self.model.panes.get_mut(&focused).map(|p| {
                    p.muted = !p.muted;
                    p.muted
                });
                self.model.mark_panes_changed(focused);
                let message = if muted == Some(true) { "this pane is muted" } else { "this pane is announced again" };
                self.front.set_message(id, message.into());
                Ok(())
            }
            Action::SendPrefix => {
                let prefix = self.model.config.keymap.prefix;
                self.model.panes[&focused].key(&KeyEvent::new(prefix.code, prefix.mods | KeyModifiers::NONE));
                Ok(())
            }
        };
        if let Err(e) = result {
            self.front.set_message(id, e.message);
        }
        self.front.mark_dirty(&session);
    }

    fn set_mode(&mut self, id: ClientId, mode: Mode) {
        if let Some(c) = self.front.clients.get_mut(&id) {
            c.mode = mode;
            c.dirty = true;
        }
    }

    /// Show a picker, or say why there is nothing to pick.
    fn pick(&mut self, id: ClientId, picker: Result<Picker, String>) {
        match picker {
            Ok(picker) => self.set_mode(id, Mode::Pick(picker)),
            Err(message) => self.front.set_message(id, message),
        }
    }

    /// Prefix S: pick the friend to send the focused agent pane's session to.
    fn send_picker(&self, focused: PaneId) -> Result<Picker, String> {
        let Some(agent) = self.model.agents.get(&focused) else {
            return Err("this pane runs no agent; focus an agent pane, then prefix S".into());
        };
        let Some(session_id) = agent.session_id.clone() else {
            return Err("the agent has no session yet (Codex starts one with its first prompt)".into());
        };
        if self.share.view.friends.is_empty() {
            self.share.refresh_once();
            return Err("no friends yet: sbx friend add NAME ECHO-ID".into());
        }
        let items = self.share.view.friends.iter().map(|f| (f.clone(), f.clone())).collect();
        Ok(Picker {
            title: format!("send {session_id:.8}… to"),
            items,
            selected: 0,
            action: PickAction::SendTo { session_id },
        })
    }

    /// Prefix O: pick a received session to open beside the focused pane.
    fn open_picker(&self, focused: PaneId) -> Result<Picker, String> {
        if self.share.view.received.is_empty() {
            self.share.refresh_once();
            return Err("no sessions received (sbx inbox checks the relay)".into());
        }
        let dir = self.model.pane_info(focused).map(|p| p.cwd).unwrap_or_else(|| "/".into());
        let items = self
            .share
            .view
            .received
            .iter()
            .map(|r| (r.blob.clone(), format!("{} · {} · {}", r.from, r.tool, r.title)))
            .collect();
        let action = PickAction::Open { beside: focused, dir };
        Ok(Picker { title: "open a received session".into(), items, selected: 0, action })
    }
}
