//! What an attached client's input does: keys through the keymap (prefix, root bindings,
//! or on to the focused pane), paste, focus, and the actions the bindings name.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::client::Mode;
use super::conn::ClientId;
use super::copy::CopyMode;
use super::layout::neighbour;
use super::Server;
use crate::keymap::{Action, Chord};
use crate::pane::engine::lock;
use crate::pane::input::{encode_focus, encode_key, encode_paste};
use crate::pane::PaneId;
use crate::protocol::{PaneSpec, SplitDirection};

impl Server {
    pub(super) fn on_event(&mut self, id: ClientId, event: Event) {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => self.on_key(id, key),
            Event::Key(_) => {}
            Event::Paste(text) => {
                if let Some(pane) = self.focused_pane(id) {
                    let p = &self.state.panes[&pane];
                    let mode = lock(&p.engine).mode();
                    p.write(encode_paste(&text, mode));
                }
            }
            Event::Mouse(mouse) => self.on_mouse(id, mouse),
            Event::FocusGained | Event::FocusLost => {
                if let Some(pane) = self.focused_pane(id) {
                    let p = &self.state.panes[&pane];
                    let mode = lock(&p.engine).mode();
                    p.write(encode_focus(matches!(event, Event::FocusGained), mode));
                }
            }
            Event::Resize(cols, rows) => {
                if let Some(c) = self.clients.get_mut(&id) {
                    c.resize(cols, rows);
                    let session = c.session.clone();
                    self.reconcile(&session);
                }
            }
        }
    }

    /// The session index and focused pane of a client.
    pub(super) fn client_focus(&self, id: ClientId) -> Option<(usize, PaneId)> {
        let client = self.clients.get(&id)?;
        let si = self.state.session_index(&client.session)?;
        Some((si, self.state.sessions[si].tab().active))
    }

    pub(super) fn focused_pane(&self, id: ClientId) -> Option<PaneId> {
        self.client_focus(id).map(|(_, p)| p)
    }

    fn on_key(&mut self, id: ClientId, key: KeyEvent) {
        let Some(client) = self.clients.get_mut(&id) else { return };
        // Any key clears a status message.
        if client.message.take().is_some() {
            client.dirty = true;
        }
        let chord = Chord::from_event(&key);
        match &mut client.mode {
            Mode::Help { scroll } => {
                match key.code {
                    KeyCode::Down | KeyCode::Char('j') => *scroll += 1,
                    KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
                    KeyCode::PageDown | KeyCode::Char(' ') => *scroll += 10,
                    KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
                    _ => client.mode = Mode::Normal,
                }
                client.dirty = true;
            }
            Mode::Copy(_) => self.copy_key(id, key),
            Mode::Inbox(_) => self.inbox_key(id, key),
            Mode::Pick(_) => self.pick_key(id, key),
            Mode::Prefix => {
                client.mode = Mode::Normal;
                client.dirty = true;
                if let Some(action) = self.state.config.keymap.lookup_prefixed(&chord) {
                    self.act(id, action);
                }
            }
            Mode::Normal => {
                let keymap = &self.state.config.keymap;
                if chord == keymap.prefix {
                    client.mode = Mode::Prefix;
                    client.dirty = true;
                } else if let Some(action) = keymap.lookup_root(&chord) {
                    self.act(id, action);
                } else if let Some(pane) = self.focused_pane(id) {
                    let p = &self.state.panes[&pane];
                    let mode = lock(&p.engine).mode();
                    p.write(encode_key(&key, mode));
                }
            }
        }
    }

    pub(super) fn act(&mut self, id: ClientId, action: Action) {
        let Some((si, focused)) = self.client_focus(id) else { return };
        let session = self.state.sessions[si].name.clone();
        let result = match action {
            Action::Detach => {
                self.detach_client(id, "[detached]");
                Ok(())
            }
            Action::SplitRight => {
                self.split(Some(&crate::pane::pane_name(focused)), SplitDirection::Right, PaneSpec::default()).map(drop)
            }
            Action::SplitDown => {
                self.split(Some(&crate::pane::pane_name(focused)), SplitDirection::Down, PaneSpec::default()).map(drop)
            }
            Action::NewTab => self.new_tab(si, PaneSpec::default()).map(drop),
            Action::SplitAgent(kind) => self
                .split(
                    Some(&crate::pane::pane_name(focused)),
                    SplitDirection::Right,
                    PaneSpec { agent: Some(kind), ..Default::default() },
                )
                .map(drop),
            Action::NextTab | Action::PrevTab | Action::SelectTab(_) => {
                let s = &mut self.state.sessions[si];
                let n = s.tabs.len();
                let next = match action {
                    Action::NextTab => (s.active_tab + 1) % n,
                    Action::PrevTab => (s.active_tab + n - 1) % n,
                    Action::SelectTab(k) => (k as usize).saturating_sub(1).min(n - 1),
                    _ => unreachable!(),
                };
                self.switch_tab(si, next);
                Ok(())
            }
            Action::Focus(dir) => {
                let area = self.session_area(si);
                let tab = self.state.sessions[si].tab();
                if let Some(next) = neighbour(&tab.layout.geometry(area), focused, dir) {
                    self.focus_pane(next);
                }
                Ok(())
            }
            Action::FocusNext => {
                let panes = self.state.sessions[si].tab().layout.panes();
                let i = panes.iter().position(|p| *p == focused).unwrap_or(0);
                self.focus_pane(panes[(i + 1) % panes.len()]);
                Ok(())
            }
            Action::Resize(dir) => {
                let area = self.session_area(si);
                let tab = self.state.sessions[si].tab_mut();
                tab.layout.resize(focused, dir, 2, area);
                self.reconcile(&session);
                Ok(())
            }
            Action::Zoom => {
                let tab = self.state.sessions[si].tab_mut();
                tab.zoomed = !tab.zoomed && tab.layout.panes().len() > 1;
                self.reconcile(&session);
                Ok(())
            }
            Action::ClosePane => {
                self.close_pane(focused);
                Ok(())
            }
            Action::CloseTab => {
                for pane in self.state.sessions[si].tab().layout.panes() {
                    self.close_pane(pane);
                }
                Ok(())
            }
            Action::ToggleSidebar => {
                if let Some(c) = self.clients.get_mut(&id) {
                    c.sidebar = !c.sidebar;
                    c.redraw_all();
                }
                self.reconcile(&session);
                Ok(())
            }
            Action::CopyMode | Action::ScrollPageUp => {
                let mut copy = CopyMode::enter(&self.state.panes[&focused]);
                if action == Action::ScrollPageUp {
                    copy.page(&self.state.panes[&focused], -1);
                }
                if let Some(c) = self.clients.get_mut(&id) {
                    c.mode = Mode::Copy(copy);
                }
                Ok(())
            }
            Action::Help => {
                if let Some(c) = self.clients.get_mut(&id) {
                    c.mode = Mode::Help { scroll: 0 };
                }
                Ok(())
            }
            Action::Inbox => {
                if let Some(c) = self.clients.get_mut(&id) {
                    c.mode = Mode::Inbox(Default::default());
                }
                Ok(())
            }
            Action::ShareSession | Action::OpenReceived => {
                let result = if action == Action::ShareSession {
                    self.share_session(id, focused)
                } else {
                    self.open_received(id, focused)
                };
                if let Err(message) = result {
                    self.set_message(id, message);
                }
                Ok(())
            }
            Action::SendPrefix => {
                let prefix = self.state.config.keymap.prefix;
                let p = &self.state.panes[&focused];
                let mode = lock(&p.engine).mode();
                p.write(encode_key(&KeyEvent::new(prefix.code, prefix.mods | KeyModifiers::NONE), mode));
                Ok(())
            }
        };
        if let Some(c) = self.clients.get_mut(&id) {
            if let Err(e) = result {
                c.message = Some(e.message);
            }
            c.dirty = true;
        }
        self.mark_session_dirty(&session);
    }

    pub(super) fn switch_tab(&mut self, si: usize, tab: usize) {
        let s = &mut self.state.sessions[si];
        if s.active_tab != tab && tab < s.tabs.len() {
            s.active_tab = tab;
            let name = s.name.clone();
            for c in self.clients.values_mut().filter(|c| c.session == name) {
                if matches!(c.mode, Mode::Copy(_)) {
                    c.mode = Mode::Normal;
                }
            }
            self.mark_session_dirty(&name);
        }
    }

    /// Focus a pane: tell the old and new pane (if they asked for focus events).
    pub(super) fn focus_pane(&mut self, pane: PaneId) {
        let Some((si, ti)) = self.state.locate(pane) else { return };
        let tab = &mut self.state.sessions[si].tabs[ti];
        let old = tab.active;
        if old == pane {
            return;
        }
        tab.active = pane;
        for (id, gained) in [(old, false), (pane, true)] {
            if let Some(p) = self.state.panes.get(&id) {
                let mode = lock(&p.engine).mode();
                p.write(encode_focus(gained, mode));
            }
        }
        let name = self.state.sessions[si].name.clone();
        self.mark_session_dirty(&name);
    }
}
