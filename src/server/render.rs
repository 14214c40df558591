//! Composing a client's frame: where everything is (shared with mouse handling), then
//! drawing it with ratatui, whose diff turns it into only the changed cells as ANSI.

use ratatui::layout::{Position, Rect};

use super::client::Mode;
use super::conn::ClientId;
use super::layout::Border;
use super::Server;
use crate::pane::engine::lock;
use crate::pane::{pane_name, PaneId};
use crate::protocol::SplitDirection;
use crate::ui::chrome::{self, SidebarEntry, StatusLine, TitleBar};
use crate::ui::pane_view::{self, Highlight};
use crate::ui::popup;

/// Where things are on one client's screen.
pub struct ScreenMap {
    pub sidebar: Option<Rect>,
    /// The session's layout area on this client.
    pub tab_area: Rect,
    pub panes: Vec<(PaneId, Rect)>,
    pub borders: Vec<Border>,
    pub status: Rect,
    pub focused: PaneId,
    pub zoomed: bool,
}

impl ScreenMap {
    pub fn pane_at(&self, x: u16, y: u16) -> Option<(PaneId, Rect)> {
        self.panes.iter().copied().find(|(_, r)| r.contains(Position::new(x, y)))
    }
}

impl Server {
    pub(super) fn screen_map(&self, id: ClientId) -> Option<ScreenMap> {
        let client = self.clients.get(&id)?;
        let si = self.state.session_index(&client.session)?;
        let session = &self.state.sessions[si];
        let tab = session.tab();
        let sidebar_w = if client.sidebar { self.sidebar_width(client) } else { 0 };
        let x0 = if client.sidebar { sidebar_w + 1 } else { 0 };
        let area = self.session_area(si);
        let rows_for_tabs = client.rows.saturating_sub(super::STATUS_ROWS);
        let tab_area = Rect::new(x0, 0, area.width.min(client.cols.saturating_sub(x0)), area.height.min(rows_for_tabs));
        let (panes, borders) = if tab.zoomed {
            (vec![(tab.active, tab_area)], Vec::new())
        } else {
            (tab.layout.geometry(tab_area), tab.layout.borders(tab_area))
        };
        Some(ScreenMap {
            sidebar: client.sidebar.then(|| Rect::new(0, 0, sidebar_w, rows_for_tabs)),
            tab_area,
            panes,
            borders,
            status: Rect::new(0, client.rows.saturating_sub(1), client.cols, 1.min(client.rows)),
            focused: tab.active,
            zoomed: tab.zoomed,
        })
    }

    pub(super) fn render_client(&mut self, id: ClientId) {
        let Some(map) = self.screen_map(id) else { return };
        let sidebar_entries = map.sidebar.map(|_| self.sidebar_entries(id));
        let status = self.status_for(id);
        let help = match self.clients.get(&id).map(|c| &c.mode) {
            Some(Mode::Help { .. }) => self.help_lines(),
            _ => Vec::new(),
        };
        let theme = &self.state.config.theme;
        let Some(client) = self.clients.get_mut(&id) else { return };
        let copy_state = match &client.mode {
            Mode::Copy(c) => Some((c.pane, c.cursor)),
            _ => None,
        };
        let help_scroll = match &client.mode {
            Mode::Help { scroll } => Some(*scroll),
            _ => None,
        };
        let panes = &self.state.panes;
        let hl = Highlight { selection_bg: theme.selection_bg, selection_fg: theme.selection_fg };
        let mut cursor = None;
        let full = client.frame.area();
        // Forget panes not on screen any more: their area now holds something else.
        client.drawn.retain(|id, _| map.panes.iter().any(|(p, _)| p == id));
        let buf = client.frame.begin();
        chrome::filler(buf, Rect::new(0, 0, full.width, map.status.y), map.tab_area, theme);
        if let (Some(area), Some(entries)) = (map.sidebar, &sidebar_entries) {
            chrome::sidebar(buf, area, entries, theme);
            chrome::vertical_border(buf, Rect::new(area.right(), 0, 1, area.height), false, theme);
        }
        for (pane_id, rect) in &map.panes {
            let Some(pane) = panes.get(pane_id) else { continue };
            let active = *pane_id == map.focused;
            let mut engine = lock(&pane.engine);
            let copy_cursor = copy_state.filter(|(p, _)| p == pane_id).map(|(_, c)| c);
            let tag = if copy_cursor.is_some() {
                Some(format!("[copy {}/{}]", engine.scroll_offset(), engine.history_len()))
            } else if map.zoomed {
                Some("[zoom]".to_string())
            } else if !pane.is_alive() {
                Some("[exited]".to_string())
            } else {
                None
            };
            let title = pane.title().unwrap_or_default();
            let name = pane_name(*pane_id);
            chrome::title_bar(
                buf,
                Rect::new(rect.x, rect.y, rect.width, 1),
                &TitleBar { name: &name, label: pane.label.as_deref(), title: &title, tag: tag.as_deref(), active },
                theme,
            );
            let content = Rect::new(rect.x, rect.y + 1, rect.width, rect.height.saturating_sub(1));
            let mut cache = std::mem::take(&mut engine.view);
            let drawn = client.drawn.entry(*pane_id).or_default();
            let spot = pane_view::draw(buf, content, &mut engine, &mut cache, drawn, &hl, copy_cursor);
            engine.view = cache;
            if active {
                cursor = spot;
            }
        }
        for border in &map.borders {
            if border.dir == SplitDirection::Right {
                let touches_active = map.panes.iter().any(|(p, r)| {
                    *p == map.focused
                        && (r.right() == border.line.x || r.x == border.line.x + 1)
                        && r.y < border.line.bottom()
                        && border.line.y < r.bottom()
                });
                chrome::vertical_border(buf, border.line, touches_active, theme);
            }
        }
        chrome::status_line(buf, map.status, &status, theme);
        if let Some(scroll) = help_scroll {
            let used = popup::draw(buf, full, "keys (q to close)", &help, scroll, theme);
            // The popup covers panes: copy them whole again once it is gone.
            client.drawn.clear();
            if let Mode::Help { scroll } = &mut client.mode {
                *scroll = used;
            }
            cursor = None;
        }
        let mut bytes = std::mem::take(&mut client.pending);
        bytes.extend_from_slice(&client.frame.present(cursor.map(|c| (c.position, c.shape))));
        client.dirty = false;
        if !bytes.is_empty() {
            client.in_flight = true;
            client.send(crate::protocol::ServerMsg::Output(bytes));
        }
    }

    fn status_for(&self, id: ClientId) -> StatusLine<'static> {
        let client = &self.clients[&id];
        let si = self.state.session_index(&client.session);
        let (session, tabs) = match si {
            Some(si) => {
                let s = &self.state.sessions[si];
                let tabs = s.tabs.iter().enumerate().map(|(i, t)| (i + 1, t.name.clone(), i == s.active_tab)).collect();
                (s.name.clone(), tabs)
            }
            None => (client.session.clone(), Vec::new()),
        };
        let (mode, right) = match &client.mode {
            Mode::Prefix => (Some("PREFIX"), String::new()),
            Mode::Copy(c) => (
                Some("COPY"),
                match (&c.prompt, &c.status) {
                    (Some(p), _) => format!("search: {p}"),
                    (None, Some(s)) => s.clone(),
                    (None, None) => "q quit · / search · v select · y copy".into(),
                },
            ),
            Mode::Help { .. } => (Some("HELP"), String::new()),
            Mode::Normal => (None, String::new()),
        };
        let right = client.message.clone().unwrap_or(right);
        let right = if right.is_empty() { format!("{} ? help", self.state.config.keymap.prefix) } else { right };
        StatusLine { session, tabs, right, mode }
    }

    fn sidebar_entries(&self, id: ClientId) -> Vec<SidebarEntry> {
        let client = &self.clients[&id];
        let mut out = vec![SidebarEntry { text: "Sessions".into(), heading: true, selected: false }];
        for s in &self.state.sessions {
            let here = s.name == client.session;
            out.push(SidebarEntry {
                text: format!("{} {}", if here { "▸" } else { " " }, s.name),
                heading: false,
                selected: here,
            });
            for (ti, t) in s.tabs.iter().enumerate() {
                out.push(SidebarEntry { text: format!("   {}:{}", ti + 1, t.name), heading: false, selected: false });
                for pane in t.layout.panes() {
                    let Some(p) = self.state.panes.get(&pane) else { continue };
                    let name = p.label.clone().unwrap_or_else(|| p.display_command().join(" "));
                    let dot = if pane == t.active && ti == s.active_tab { "●" } else { "○" };
                    out.push(SidebarEntry {
                        text: format!("     {dot} {} {name}", p.name()),
                        heading: false,
                        selected: false,
                    });
                }
            }
        }
        for heading in ["Inbox", "Channels", "Friends"] {
            out.push(SidebarEntry { text: String::new(), heading: false, selected: false });
            out.push(SidebarEntry { text: heading.into(), heading: true, selected: false });
            out.push(SidebarEntry { text: "  (none yet)".into(), heading: false, selected: false });
        }
        out
    }

    fn help_lines(&self) -> Vec<String> {
        let keymap = &self.state.config.keymap;
        let mut lines = vec![format!("keymap {:?}, prefix {}", keymap.name, keymap.prefix), String::new()];
        lines.push(format!("after {}:", keymap.prefix));
        for (chord, action) in &keymap.prefix_keys {
            lines.push(format!("  {:<10} {}", chord.to_string(), action.describe()));
        }
        if !keymap.root_keys.is_empty() {
            lines.push(String::new());
            lines.push("without prefix:".into());
            for (chord, action) in &keymap.root_keys {
                lines.push(format!("  {:<10} {}", chord.to_string(), action.describe()));
            }
        }
        lines
    }
}
