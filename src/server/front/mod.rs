//! The front: attached clients and everything about their screens — input routing, the mouse,
//! modes (copy, inbox, pickers, help), drawing and frame pacing. It reads the model and asks
//! the loop for anything beyond itself with `Effect`s; the model knows nothing of it.

mod client;
pub mod effect;
mod input;
pub mod modes;
mod mouse;
pub mod places;
mod render;
pub mod sidebar;
pub mod terminal;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

pub use client::Client;
pub use effect::Effect;
use modes::Mode;

use super::conn::ClientId;
use super::model::{Model, STATUS_ROWS};
use crate::pane::PaneId;
use crate::protocol::ServerMsg;
use crate::ui::pane_view::ViewCache;

/// While a pane floods, frames come at most this often: drawing a screen nobody can read
/// would only take the engine lock from the parser. Quiet output (a keystroke echo) is drawn
/// at once.
pub const FLOOD_FRAME: Duration = Duration::from_millis(16);

/// Past this many bytes waiting for a client's terminal, announcements skip it.
const MAX_PENDING_NOTICES: usize = 64 * 1024;

#[derive(Default)]
pub struct Front {
    pub clients: BTreeMap<ClientId, Client>,
    /// Each pane's rows as drawn cells, shared by every client (it consumes the engine's damage).
    views: HashMap<PaneId, ViewCache>,
}

/// OSC 52: put text on the clipboard of the terminal the client runs in.
pub fn osc52(text: &str) -> String {
    use base64::Engine as _;
    format!("\x1b]52;c;{}\x07", base64::engine::general_purpose::STANDARD.encode(text))
}

impl Front {
    pub fn clients_of<'a>(&'a self, session: &'a str) -> impl Iterator<Item = &'a Client> + 'a {
        self.clients.values().filter(move |c| c.session == session)
    }

    pub fn count(&self, session: &str) -> usize {
        self.clients_of(session).count()
    }

    pub fn mark_dirty(&mut self, session: &str) {
        for c in self.clients.values_mut().filter(|c| c.session == session) {
            c.dirty = true;
        }
    }

    pub fn mark_all_dirty(&mut self) {
        for c in self.clients.values_mut() {
            c.dirty = true;
        }
    }

    /// Bytes for every client's terminal, whatever session it shows (an agent needs you).
    pub fn send_to_all(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        // A client that does not read its terminal is not handed more and more of them.
        for c in self.clients.values_mut().filter(|c| c.pending.len() < MAX_PENDING_NOTICES) {
            c.pending.extend_from_slice(bytes);
            c.dirty = true;
        }
    }

    pub fn set_message(&mut self, id: ClientId, message: String) {
        if let Some(c) = self.clients.get_mut(&id) {
            c.message = Some(message);
            c.dirty = true;
        }
    }

    /// Say goodbye to a client (it restores its terminal and prints `why`); its session.
    pub fn detach(&mut self, id: ClientId, why: &str) -> Option<String> {
        let client = self.clients.remove(&id)?;
        client.send(ServerMsg::Exit(why.into()));
        Some(client.session)
    }

    /// Client `id` shows `session` from now on; the session it showed (for its layout to
    /// be fitted again), when that changed.
    pub fn switch_session(&mut self, id: ClientId, session: &str) -> Option<String> {
        let client = self.clients.get_mut(&id)?;
        if client.session == session {
            return None;
        }
        client.mode = Mode::Normal;
        client.redraw_all();
        Some(std::mem::replace(&mut client.session, session.to_string()))
    }

    /// A session was renamed: its clients follow it.
    pub fn session_renamed(&mut self, old: &str, new: &str) {
        for c in self.clients.values_mut().filter(|c| c.session == old) {
            c.session = new.to_string();
            c.dirty = true;
        }
    }

    /// A session ended: its clients leave.
    pub fn session_ended(&mut self, session: &str) {
        for c in self.clients_of(session) {
            c.send(ServerMsg::Exit("[exited]".into()));
        }
        self.clients.retain(|_, c| c.session != session);
    }

    /// A pane went: forget how it was drawn, and leave copy mode in it.
    pub fn pane_gone(&mut self, pane: PaneId) {
        self.views.remove(&pane);
        for c in self.clients.values_mut() {
            if c.mode.copying().is_some_and(|(p, _)| p == pane) {
                c.mode = Mode::Normal;
            }
        }
    }

    /// A session shows another tab: copy mode (in a pane of the old one) ends.
    pub fn tab_switched(&mut self, session: &str) {
        for c in self.clients.values_mut().filter(|c| c.session == session) {
            if c.mode.copying().is_some() {
                c.mode = Mode::Normal;
            }
        }
    }

    /// A pane had output: the clients showing its tab draw again; a bell and clipboard copies
    /// go to every client of its session.
    pub fn pane_output(&mut self, pane: PaneId, model: &Model) {
        let Some(p) = model.panes.get(&pane) else { return };
        let asked = p.take_asked();
        let Some((si, ti)) = model.locate(pane) else { return };
        let session = &model.sessions[si];
        let visible = session.active_tab == ti;
        for client in self.clients.values_mut().filter(|c| c.session == session.name) {
            if visible {
                client.dirty = true;
            }
            if asked.bell {
                client.pending.push(0x07);
            }
            for text in &asked.clipboard {
                client.pending.extend_from_slice(osc52(text).as_bytes());
            }
            if asked.bell || !asked.clipboard.is_empty() {
                client.dirty = true;
            }
        }
    }

    fn sidebar_width(&self, client: &Client, model: &Model) -> u16 {
        model.config.settings.sidebar_width.min(client.cols / 2)
    }

    /// The area a client gives the tab layout: its terminal less the status line and sidebar.
    fn tab_area(&self, client: &Client, model: &Model) -> (u16, u16) {
        let sidebar = if client.sidebar { self.sidebar_width(client, model) + 1 } else { 0 };
        (client.cols.saturating_sub(sidebar), client.rows.saturating_sub(STATUS_ROWS))
    }

    /// The tab area a session gets from its clients: the smallest (every client sees all of
    /// every pane); None when nobody is attached.
    pub fn session_area(&self, session: &str, model: &Model) -> Option<(u16, u16)> {
        // Watchers (read-only clients) see what the others are given, unless they are alone.
        let workers = self.clients_of(session).any(|c| !c.read_only);
        let sizes: Vec<(u16, u16)> =
            self.clients_of(session).filter(|c| !workers || !c.read_only).map(|c| self.tab_area(c, model)).collect();
        let w = sizes.iter().map(|s| s.0).min()?;
        let h = sizes.iter().map(|s| s.1).min()?;
        Some((w, h))
    }

    /// The session index and focused pane of a client.
    pub fn focus(&self, id: ClientId, model: &Model) -> Option<(usize, PaneId)> {
        let client = self.clients.get(&id)?;
        let si = model.session_index(&client.session)?;
        Some((si, model.sessions[si].tab().active))
    }

    /// Draw every client that needs it and may have a frame now.
    pub fn render_ready(&mut self, model: &Model, ctx: &render::Shown<'_>) {
        let now = Instant::now();
        let ids: Vec<ClientId> = self
            .clients
            .iter()
            .filter(|(id, c)| c.dirty && !c.in_flight && self.flood_hold(**id, model).is_none_or(|until| until <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            self.render_client(*id, model, ctx);
            if let Some(c) = self.clients.get_mut(id) {
                c.last_frame = now;
            }
        }
        if !ids.is_empty() {
            for pane in model.panes.values() {
                pane.shown();
            }
        }
    }

    /// If a pane this client shows is flooding, the earliest moment of its next frame.
    fn flood_hold(&self, id: ClientId, model: &Model) -> Option<Instant> {
        let client = self.clients.get(&id)?;
        let si = model.session_index(&client.session)?;
        let flooding =
            model.sessions[si].tab().layout.panes().iter().filter_map(|p| model.panes.get(p)).any(|p| p.flooding());
        flooding.then(|| client.last_frame + FLOOD_FRAME)
    }

    /// When the next paced frame is due.
    pub fn next_flood_frame(&self, model: &Model) -> Option<Instant> {
        self.clients
            .iter()
            .filter(|(_, c)| c.dirty && !c.in_flight)
            .filter_map(|(id, _)| self.flood_hold(*id, model))
            .min()
    }
}

pub use render::Shown;
