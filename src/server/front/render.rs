//! Composing a client's frame: where everything is (shared with mouse handling), then
//! drawing it with ratatui, whose diff turns it into only the changed cells as ANSI.

use ratatui::layout::{Position, Rect};

use super::modes::View;
use super::Front;
use crate::bridge::Overview;
use crate::pane::engine::lock;
use crate::pane::{pane_name, PaneId};
use crate::protocol::SplitDirection;
use crate::server::conn::ClientId;
use crate::server::links::share::SharedView;
use crate::server::model::layout::Border;
use crate::server::model::{Model, STATUS_ROWS};
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

/// What `chrome_for` describes; compared with the last frame's to skip redrawing it.
#[derive(Debug, Clone, PartialEq)]
pub struct Chrome {
    tab_area: Rect,
    status_row: Rect,
    sidebar: Option<(Rect, Vec<SidebarEntry>)>,
    titles: Vec<TitleBar>,
    borders: Vec<(Rect, bool)>,
    status: StatusLine,
    /// A popup: title, lines, scroll.
    help: Option<(String, Vec<String>, usize)>,
}

/// What the links know, for the sidebar.
pub struct Shown<'a> {
    pub overview: &'a Overview,
    pub shared: &'a SharedView,
}

impl ScreenMap {
    pub fn pane_at(&self, x: u16, y: u16) -> Option<(PaneId, Rect)> {
        self.panes.iter().copied().find(|(_, r)| r.contains(Position::new(x, y)))
    }
}

impl Front {
    pub fn screen_map(&self, id: ClientId, model: &Model) -> Option<ScreenMap> {
        let client = self.clients.get(&id)?;
        let si = model.session_index(&client.session)?;
        let session = &model.sessions[si];
        let tab = session.tab();
        let sidebar_w = if client.sidebar { self.sidebar_width(client, model) } else { 0 };
        let x0 = if client.sidebar { sidebar_w + 1 } else { 0 };
        let area = model.area(si);
        let rows_for_tabs = client.rows.saturating_sub(STATUS_ROWS);
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

    /// Everything on a client's screen but the panes' contents. Drawn only when it changed
    /// (it seldom does while someone types), so a keystroke's frame touches one row.
    fn chrome_for(&self, id: ClientId, map: &ScreenMap, model: &Model, shown: &Shown<'_>) -> Chrome {
        let client = &self.clients[&id];
        let copy_pane = client.mode.copying().map(|(p, _)| p);
        let titles = map
            .panes
            .iter()
            .filter_map(|(pane_id, rect)| {
                let pane = model.panes.get(pane_id)?;
                let tab = model.locate(*pane_id).map(|(si, ti)| &model.sessions[si].tabs[ti]);
                let marks = [
                    tab.is_some_and(|t| t.sync && t.sync_targets().contains(pane_id)).then_some("[sync]"),
                    tab.is_some_and(|t| !t.sync && t.marked.contains(pane_id)).then_some("[marked]"),
                    pane.muted.then_some("[muted]"),
                ];
                let marks: Vec<&str> = marks.into_iter().flatten().collect();
                let tag = if copy_pane == Some(*pane_id) {
                    let engine = lock(&pane.engine);
                    Some(format!("[copy {}/{}]", engine.scroll_offset(), engine.history_len()))
                } else if map.zoomed {
                    Some("[zoom]".to_string())
                } else if !pane.is_alive() {
                    Some("[exited]".to_string())
                } else {
                    model.agents.get(pane_id).map(|a| match (a.state.tool(), a.state.tool_input()) {
                        // What is about to run, so the user sees it before answering.
                        (Some(tool), Some(input)) => {
                            let what = input.summary(rect.width.saturating_sub(24) as usize);
                            format!("[{} {}: {tool}: {what}]", a.kind.name(), a.shown_state())
                        }
                        (Some(tool), None) => format!("[{} {}: {tool}]", a.kind.name(), a.shown_state()),
                        (None, _) => format!("[{} {}]", a.kind.name(), a.shown_state()),
                    })
                };
                let tag = match (tag, marks.is_empty()) {
                    (tag, true) => tag,
                    (None, false) => Some(marks.join(" ")),
                    (Some(tag), false) => Some(format!("{tag} {}", marks.join(" "))),
                };
                Some(TitleBar {
                    row: Rect::new(rect.x, rect.y, rect.width, 1),
                    name: pane_name(*pane_id),
                    label: pane.label.clone(),
                    title: pane.title().unwrap_or_default(),
                    tag,
                    active: *pane_id == map.focused,
                })
            })
            .collect();
        let borders = map
            .borders
            .iter()
            .filter(|b| b.dir == SplitDirection::Right)
            .map(|border| {
                let touches_active = map.panes.iter().any(|(p, r)| {
                    *p == map.focused
                        && (r.right() == border.line.x || r.x == border.line.x + 1)
                        && r.y < border.line.bottom()
                        && border.line.y < r.bottom()
                });
                (border.line, touches_active)
            })
            .collect();
        let help = client.mode.popup(&View { overview: shown.overview, keymap: &model.config.keymap, model });
        Chrome {
            tab_area: map.tab_area,
            status_row: map.status,
            sidebar: map.sidebar.map(|area| (area, self.sidebar_rows(id, model, shown, area.height))),
            titles,
            borders,
            status: self.status_for(id, model),
            help,
        }
    }

    pub(super) fn render_client(&mut self, id: ClientId, model: &Model, shown: &Shown<'_>) {
        let Some(map) = self.screen_map(id, model) else { return };
        let chrome = self.chrome_for(id, &map, model, shown);
        let theme = &model.config.theme;
        let Some(client) = self.clients.get_mut(&id) else { return };
        let copy_state = client.mode.copying();
        let panes = &model.panes;
        let hl = Highlight { selection_bg: theme.selection_bg, selection_fg: theme.selection_fg };
        let full = client.frame.area();
        // A popup covers panes, so while one shows everything is drawn every time.
        let redraw_chrome = client.frame.forced() || chrome.help.is_some() || client.chrome.as_ref() != Some(&chrome);
        if chrome.help.is_some() {
            client.drawn.clear();
        }
        // Forget panes not on screen any more: their area now holds something else.
        client.drawn.retain(|id, _| map.panes.iter().any(|(p, _)| p == id));
        let mut cursor = None;
        let mut touched = Vec::new();
        let buf = client.frame.begin();
        if redraw_chrome {
            chrome::filler(buf, Rect::new(0, 0, full.width, map.status.y), chrome.tab_area, theme);
            if let Some((area, entries)) = &chrome.sidebar {
                chrome::sidebar(buf, *area, entries, theme);
                chrome::vertical_border(buf, Rect::new(area.right(), 0, 1, area.height), false, theme);
            }
            for bar in &chrome.titles {
                chrome::title_bar(buf, bar, theme);
            }
        }
        for (pane_id, rect) in &map.panes {
            let Some(pane) = panes.get(pane_id) else { continue };
            let mut engine = lock(&pane.engine);
            let copy_cursor = copy_state.filter(|(p, _)| p == pane_id).map(|(_, c)| c);
            let content = Rect::new(rect.x, rect.y + 1, rect.width, rect.height.saturating_sub(1));
            // One cache per pane, shared by every client: it consumes the engine's damage.
            let cache = self.views.entry(*pane_id).or_default();
            let drawn = client.drawn.entry(*pane_id).or_default();
            let spot = pane_view::draw(buf, content, &mut engine, cache, drawn, &hl, copy_cursor, &mut touched);
            if *pane_id == map.focused {
                cursor = spot;
            }
        }
        if redraw_chrome {
            for (line, active) in &chrome.borders {
                chrome::vertical_border(buf, *line, *active, theme);
            }
            chrome::status_line(buf, chrome.status_row, &chrome.status, theme);
            if let Some((title, lines, scroll)) = &chrome.help {
                let used = popup::draw(buf, full, title, lines, *scroll, theme);
                client.mode.scrolled(used);
                cursor = None;
            }
            client.frame.touch_all();
        }
        for y in touched {
            client.frame.touch(y);
        }
        client.chrome = Some(chrome);
        let mut bytes = std::mem::take(&mut client.pending);
        bytes.extend_from_slice(&client.frame.present(cursor.map(|c| (c.position, c.shape))));
        client.dirty = false;
        if !bytes.is_empty() {
            client.present(bytes);
        }
    }

    pub(super) fn status_for(&self, id: ClientId, model: &Model) -> StatusLine {
        let client = &self.clients[&id];
        let si = model.session_index(&client.session);
        let (session, tabs) = match si {
            Some(si) => {
                let s = &model.sessions[si];
                let tabs = s.tabs.iter().enumerate().map(|(i, t)| (i + 1, t.name.clone(), i == s.active_tab)).collect();
                (s.name.clone(), tabs)
            }
            None => (client.session.clone(), Vec::new()),
        };
        let (mut mode, right) = client.mode.status();
        let syncing = si.map(|si| model.sessions[si].tab()).filter(|t| t.sync);
        if mode.is_none() {
            mode = if client.read_only {
                Some("READ-ONLY")
            } else if syncing.is_some() {
                Some("SYNC")
            } else {
                None
            };
        }
        let right = client.message.clone().unwrap_or(right);
        let right = if right.is_empty() {
            // Who needs you: this session's agents, then how many wait or are done elsewhere.
            let here = si.map(|si| model.rollup(si).text(false)).unwrap_or_default();
            let (waiting, done) = (0..model.sessions.len())
                .filter(|i| Some(*i) != si)
                .map(|i| model.rollup(i))
                .fold((0, 0), |(w, d), r| (w + r.waiting, d + r.done));
            let elsewhere = match (waiting, done) {
                (0, 0) => String::new(),
                (w, 0) => format!("elsewhere {w} waiting"),
                (0, d) => format!("elsewhere {d} done"),
                (w, d) => format!("elsewhere {w} waiting · {d} done"),
            };
            let sync = syncing
                .map(|t| match t.sync_targets().len() {
                    1 => "typing into 1 pane".to_string(),
                    n => format!("typing into {n} panes"),
                })
                .unwrap_or_default();
            let parts: Vec<String> = [sync, here, elsewhere, format!("{} ? help", model.config.keymap.prefix)]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect();
            parts.join("  ")
        } else {
            right
        };
        StatusLine { session, tabs, right, mode }
    }
}
