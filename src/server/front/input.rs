//! What an attached client's input does: keys through its mode, else through the keymap
//! (prefix, root bindings) or on to the focused pane; paste and focus go to the focused pane;
//! a resize reshapes the client's session.

use crossterm::event::{Event, KeyEvent, KeyEventKind};

use super::modes::{Ctx, Mode};
use super::{Effect, Front};
use crate::bridge::Overview;
use crate::keymap::Chord;
use crate::server::conn::ClientId;
use crate::server::model::Model;

impl Front {
    /// An event from client `id`; what the loop must do beyond the front.
    pub fn event(&mut self, id: ClientId, event: Event, model: &mut Model, overview: &Overview) -> Vec<Effect> {
        if self.clients.get(&id).is_some_and(|c| c.read_only) {
            return self.read_only_event(id, event, model);
        }
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => self.key(id, key, model, overview),
            Event::Key(_) => Vec::new(),
            Event::Paste(text) => {
                for pane in typed_into(self.focus(id, model), model).iter().filter_map(|p| model.panes.get(p)) {
                    pane.paste(&text);
                }
                Vec::new()
            }
            Event::Mouse(mouse) => self.mouse(id, mouse, model),
            Event::FocusGained | Event::FocusLost => {
                if let Some(pane) = self.focus(id, model).and_then(|(_, p)| model.panes.get(&p)) {
                    pane.focus(matches!(event, Event::FocusGained));
                }
                Vec::new()
            }
            Event::Resize(cols, rows) => self.resize(id, cols, rows).map(Effect::Reshape).into_iter().collect(),
        }
    }

    /// A read-only client (`sbx attach -r`) changes nothing: it can only detach, show the
    /// help, and show or hide its sidebar. Its size still counts.
    fn read_only_event(&mut self, id: ClientId, event: Event, model: &mut Model) -> Vec<Effect> {
        use crate::keymap::Action;
        let Some(client) = self.clients.get_mut(&id) else { return Vec::new() };
        match event {
            Event::Resize(cols, rows) => self.resize(id, cols, rows).map(Effect::Reshape).into_iter().collect(),
            Event::Key(key) if key.kind != KeyEventKind::Release => {
                let chord = Chord::from_event(&key);
                let keymap = &model.config.keymap;
                let action = match client.mode {
                    Mode::Prefix => {
                        client.mode = Mode::Normal;
                        keymap.lookup_prefixed(&chord)
                    }
                    Mode::Normal if chord == keymap.prefix => {
                        client.mode = Mode::Prefix;
                        None
                    }
                    Mode::Normal => keymap.lookup_root(&chord),
                    // The help popup: any key closes it.
                    _ => {
                        client.mode = Mode::Normal;
                        None
                    }
                };
                client.dirty = true;
                match action {
                    Some(a @ (Action::Detach | Action::Help | Action::ToggleSidebar)) => vec![Effect::Act(a)],
                    Some(_) => {
                        client.message = Some("read-only: this client changes nothing".into());
                        Vec::new()
                    }
                    None => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    /// A client's terminal changed size; the session it shows is reshaped.
    pub fn resize(&mut self, id: ClientId, cols: u16, rows: u16) -> Option<String> {
        let c = self.clients.get_mut(&id)?;
        c.resize(cols, rows);
        Some(c.session.clone())
    }

    fn key(&mut self, id: ClientId, key: KeyEvent, model: &mut Model, overview: &Overview) -> Vec<Effect> {
        let Some(client) = self.clients.get_mut(&id) else { return Vec::new() };
        // Any key clears a status message.
        if client.message.take().is_some() {
            client.dirty = true;
        }
        let chord = Chord::from_event(&key);
        let keymap = &model.config.keymap;
        match client.mode {
            Mode::Prefix => {
                client.mode = Mode::Normal;
                client.dirty = true;
                keymap.lookup_prefixed(&chord).map(Effect::Act).into_iter().collect()
            }
            Mode::Normal => {
                if chord == keymap.prefix {
                    client.mode = Mode::Prefix;
                    client.dirty = true;
                } else if let Some(action) = keymap.lookup_root(&chord) {
                    return vec![Effect::Act(action)];
                } else {
                    let focused = self.focus(id, model);
                    for pane in typed_into(focused, model).iter().filter_map(|p| model.panes.get(p)) {
                        pane.key(&key);
                    }
                }
                Vec::new()
            }
            _ => {
                client.dirty = true;
                let mut ctx = Ctx { model, overview, pending: &mut client.pending, message: &mut client.message };
                client.mode.key(key, &mut ctx).flatten().into_iter().collect()
            }
        }
    }
}

/// The panes typing goes to: the focused one, and with synchronized typing on in its tab the
/// tab's synchronized panes too (each once).
fn typed_into(focused: Option<(usize, crate::pane::PaneId)>, model: &Model) -> Vec<crate::pane::PaneId> {
    let Some((si, pane)) = focused else { return Vec::new() };
    let tab = model.sessions[si].tab();
    let mut out = vec![pane];
    if tab.sync {
        out.extend(tab.sync_targets().into_iter().filter(|p| *p != pane));
    }
    out
}
