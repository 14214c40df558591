//! Mouse: click to focus, drag borders to resize, wheel to scroll history, drag to select
//! and copy; events go on to the pane when its program asked for the mouse.

use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use super::modes::{CopyMode, Mode};
use super::{osc52, Effect, Front};
use crate::pane::engine::{lock, Selection, VPoint};
use crate::protocol::SplitDirection;
use crate::server::conn::ClientId;
use crate::server::model::Model;

const WHEEL_LINES: i32 = 3;

impl Front {
    pub(super) fn mouse(&mut self, id: ClientId, ev: MouseEvent, model: &mut Model) -> Vec<Effect> {
        let Some(map) = self.screen_map(id, model) else { return Vec::new() };
        let (x, y) = (ev.column, ev.row);

        // A border drag in progress owns the mouse until release.
        if let Some(border) = self.clients.get(&id).and_then(|c| c.drag.clone()) {
            match ev.kind {
                MouseEventKind::Drag(MouseButton::Left) => {
                    let Some((si, _)) = self.focus(id, model) else { return Vec::new() };
                    let pos = if border.dir == SplitDirection::Right { x } else { y };
                    model.sessions[si].tab_mut().layout.drag_border(&border, pos);
                    return vec![Effect::Reshape(model.sessions[si].name.clone())];
                }
                _ => {
                    if let Some(c) = self.clients.get_mut(&id) {
                        c.drag = None;
                    }
                }
            }
            return Vec::new();
        }

        if let MouseEventKind::Down(MouseButton::Left) = ev.kind {
            // Sidebar: click a session, tab or pane to go there.
            if let Some(area) = map.sidebar.filter(|a| a.contains(Position::new(x, y))) {
                let jump = self.sidebar_jump(id, model, (y - area.y) as usize, area.height);
                return jump.map(Effect::Go).into_iter().collect();
            }
            // Status line: click a tab to go there.
            if map.status.contains(Position::new(x, y)) {
                let hits = self.status_tab_hits(id, model);
                if let (Some((_, tab)), Some((si, _))) =
                    (hits.into_iter().find(|(r, _)| r.contains(Position::new(x, y))), self.focus(id, model))
                {
                    model.switch_tab(si, tab);
                }
                return Vec::new();
            }
            // A vertical border, or the title row of a pane below a horizontal split.
            let grabbed = map.borders.iter().find(|b| b.line.contains(Position::new(x, y))).cloned();
            if let Some(border) = grabbed {
                if let Some(c) = self.clients.get_mut(&id) {
                    c.drag = Some(border);
                }
                return Vec::new();
            }
        }

        let Some((pane_id, rect)) = map.pane_at(x, y) else { return Vec::new() };
        if y == rect.y {
            // Title row: focus only.
            if matches!(ev.kind, MouseEventKind::Down(_)) {
                model.focus_pane(pane_id);
            }
            return Vec::new();
        }
        let (col, row) = (x - rect.x, y - rect.y - 1);
        if matches!(ev.kind, MouseEventKind::Down(_)) && pane_id != map.focused {
            model.focus_pane(pane_id);
        }
        let Some(pane) = model.panes.get(&pane_id) else { return Vec::new() };
        let Some(client) = self.clients.get_mut(&id) else { return Vec::new() };
        let in_copy = client.mode.copying().is_some();

        // Shift bypasses the program's mouse, as in most terminals.
        if !in_copy && !ev.modifiers.contains(KeyModifiers::SHIFT) && pane.mouse(&ev, col, row) {
            return Vec::new();
        }

        match ev.kind {
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let up = ev.kind == MouseEventKind::ScrollUp;
                // Full-screen programs without mouse support get arrow keys, like xterm.
                if pane.wheel_as_arrows(up, WHEEL_LINES as usize) {
                    return Vec::new();
                }
                let at_bottom = {
                    let mut engine = lock(&pane.engine);
                    engine.scroll_by(if up { WHEEL_LINES } else { -WHEEL_LINES });
                    engine.scroll_offset() == 0
                };
                if at_bottom {
                    if in_copy {
                        client.mode = Mode::Normal;
                    }
                } else if !in_copy {
                    client.mode = Mode::Copy(CopyMode::enter(pane));
                }
                if let Some(copy) = client.mode.copy_mut() {
                    let engine = lock(&pane.engine);
                    let top = -(engine.scroll_offset() as i32);
                    copy.cursor = VPoint { line: top + row as i32, col: col as usize };
                }
                client.dirty = true;
            }
            MouseEventKind::Down(MouseButton::Left) => {
                lock(&pane.engine).selection = None;
                client.mouse_select = Some((pane_id, col, row));
                client.dirty = true;
            }
            MouseEventKind::Drag(MouseButton::Left) => {
                let Some((sel_pane, c0, r0)) = client.mouse_select else { return Vec::new() };
                if sel_pane != pane_id {
                    return Vec::new();
                }
                let mut engine = lock(&pane.engine);
                let top = -(engine.scroll_offset() as i32);
                let anchor = VPoint { line: top + r0 as i32, col: c0 as usize };
                let cursor = VPoint { line: top + row as i32, col: col as usize };
                engine.selection = Some(Selection { anchor, cursor, lines: false });
                client.dirty = true;
            }
            MouseEventKind::Up(MouseButton::Left) if client.mouse_select.take().is_some() => {
                let mut engine = lock(&pane.engine);
                if let Some(text) = engine.selection_text().filter(|t| !t.is_empty()) {
                    client.pending.extend_from_slice(osc52(&text).as_bytes());
                    client.message = Some(format!("copied {} characters", text.chars().count()));
                }
                engine.selection = None;
                client.dirty = true;
            }
            _ => {}
        }
        Vec::new()
    }

    /// Where the status line draws each tab (as `chrome::status_line` lays them out).
    fn status_tab_hits(&self, id: ClientId, model: &Model) -> Vec<(ratatui::layout::Rect, usize)> {
        let Some(client) = self.clients.get(&id) else { return Vec::new() };
        let Some(si) = model.session_index(&client.session) else { return Vec::new() };
        let s = &model.sessions[si];
        let mut x = (s.name.chars().count() + 2) as u16;
        // The mode's label (PREFIX, SYNC, SIDEBAR…) comes first, as the status line draws it.
        if let Some(mode) = self.status_for(id, model).mode {
            x += mode.chars().count() as u16 + 2;
        }
        let y = client.rows.saturating_sub(1);
        s.tabs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let w = format!(" {}:{} ", i + 1, t.name).chars().count() as u16;
                let r = ratatui::layout::Rect::new(x, y, w, 1);
                x += w;
                (r, i)
            })
            .collect()
    }
}
