//! Mouse: click to focus, drag borders to resize, wheel to scroll history, drag to select
//! and copy; events go on to the pane when its program asked for the mouse.

use alacritty_terminal::term::TermMode;
use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use super::client::Mode;
use super::conn::ClientId;
use super::copy::CopyMode;
use super::Server;
use crate::pane::engine::{lock, Selection, VPoint};
use crate::pane::input::{encode_key, encode_mouse};
use crate::protocol::SplitDirection;

const WHEEL_LINES: i32 = 3;

impl Server {
    pub(super) fn on_mouse(&mut self, id: ClientId, ev: MouseEvent) {
        let Some(map) = self.screen_map(id) else { return };
        let (x, y) = (ev.column, ev.row);

        // A border drag in progress owns the mouse until release.
        if let Some(border) = self.clients.get(&id).and_then(|c| c.drag.clone()) {
            match ev.kind {
                MouseEventKind::Drag(MouseButton::Left) => {
                    let Some((si, _)) = self.client_focus(id) else { return };
                    let pos = if border.dir == SplitDirection::Right { x } else { y };
                    self.state.sessions[si].tab_mut().layout.drag_border(&border, pos);
                    let name = self.state.sessions[si].name.clone();
                    self.reconcile(&name);
                }
                _ => {
                    if let Some(c) = self.clients.get_mut(&id) {
                        c.drag = None;
                    }
                }
            }
            return;
        }

        if let MouseEventKind::Down(MouseButton::Left) = ev.kind {
            // Status line: click a tab to go there.
            if map.status.contains(Position::new(x, y)) {
                let status = self.status_tab_hits(id);
                if let (Some((_, tab)), Some((si, _))) =
                    (status.into_iter().find(|(r, _)| r.contains(Position::new(x, y))), self.client_focus(id))
                {
                    self.switch_tab(si, tab);
                }
                return;
            }
            // A vertical border, or the title row of a pane below a horizontal split.
            let grabbed = map.borders.iter().find(|b| b.line.contains(Position::new(x, y))).cloned();
            if let Some(border) = grabbed {
                if let Some(c) = self.clients.get_mut(&id) {
                    c.drag = Some(border);
                }
                return;
            }
        }

        let Some((pane_id, rect)) = map.pane_at(x, y) else { return };
        if y == rect.y {
            // Title row: focus only.
            if matches!(ev.kind, MouseEventKind::Down(_)) {
                self.focus_pane(pane_id);
            }
            return;
        }
        let (col, row) = (x - rect.x, y - rect.y - 1);
        if matches!(ev.kind, MouseEventKind::Down(_)) && pane_id != map.focused {
            self.focus_pane(pane_id);
        }
        let Some(pane) = self.state.panes.get(&pane_id) else { return };
        let mode = lock(&pane.engine).mode();
        let in_copy = matches!(self.clients.get(&id).map(|c| &c.mode), Some(Mode::Copy(_)));

        // Shift bypasses the program's mouse, as in most terminals.
        if !in_copy && !ev.modifiers.contains(KeyModifiers::SHIFT) {
            if let Some(bytes) = encode_mouse(&ev, col, row, mode) {
                pane.write(bytes);
                return;
            }
        }

        match ev.kind {
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let up = ev.kind == MouseEventKind::ScrollUp;
                if mode.contains(TermMode::ALT_SCREEN | TermMode::ALTERNATE_SCROLL) {
                    // Full-screen programs without mouse support get arrow keys, like xterm.
                    let key = crossterm::event::KeyEvent::new(
                        if up { crossterm::event::KeyCode::Up } else { crossterm::event::KeyCode::Down },
                        KeyModifiers::NONE,
                    );
                    let bytes = encode_key(&key, mode);
                    pane.write(bytes.repeat(WHEEL_LINES as usize));
                    return;
                }
                let mut engine = lock(&pane.engine);
                engine.scroll_by(if up { WHEEL_LINES } else { -WHEEL_LINES });
                let at_bottom = engine.scroll_offset() == 0;
                drop(engine);
                let Some(client) = self.clients.get_mut(&id) else { return };
                if at_bottom {
                    if matches!(client.mode, Mode::Copy(_)) {
                        client.mode = Mode::Normal;
                    }
                } else if !matches!(client.mode, Mode::Copy(_)) {
                    client.mode = Mode::Copy(CopyMode::enter(pane));
                }
                if let Mode::Copy(copy) = &mut client.mode {
                    let engine = lock(&pane.engine);
                    let top = -(engine.scroll_offset() as i32);
                    copy.cursor = VPoint { line: top + row as i32, col: col as usize };
                }
                client.dirty = true;
            }
            MouseEventKind::Down(MouseButton::Left) => {
                let mut engine = lock(&pane.engine);
                engine.selection = None;
                if let Some(c) = self.clients.get_mut(&id) {
                    c.mouse_select = Some((pane_id, col, row));
                    c.dirty = true;
                }
            }
            MouseEventKind::Drag(MouseButton::Left) => {
                let Some(client) = self.clients.get_mut(&id) else { return };
                let Some((sel_pane, c0, r0)) = client.mouse_select else { return };
                if sel_pane != pane_id {
                    return;
                }
                let mut engine = lock(&pane.engine);
                let top = -(engine.scroll_offset() as i32);
                let anchor = VPoint { line: top + r0 as i32, col: c0 as usize };
                let cursor = VPoint { line: top + row as i32, col: col as usize };
                engine.selection = Some(Selection { anchor, cursor, lines: false });
                client.dirty = true;
            }
            MouseEventKind::Up(MouseButton::Left) => {
                let Some(client) = self.clients.get_mut(&id) else { return };
                if client.mouse_select.take().is_some() {
                    let mut engine = lock(&pane.engine);
                    if let Some(text) = engine.selection_text().filter(|t| !t.is_empty()) {
                        client.pending.extend_from_slice(super::osc52(&text).as_bytes());
                        client.message = Some(format!("copied {} characters", text.chars().count()));
                    }
                    engine.selection = None;
                    client.dirty = true;
                }
            }
            _ => {}
        }
    }

    fn status_tab_hits(&self, id: ClientId) -> Vec<(ratatui::layout::Rect, usize)> {
        // Recompute the tab positions the way the status line lays them out.
        let Some(client) = self.clients.get(&id) else { return Vec::new() };
        let Some(si) = self.state.session_index(&client.session) else { return Vec::new() };
        let s = &self.state.sessions[si];
        let mut x = (s.name.chars().count() + 2) as u16;
        if !matches!(client.mode, Mode::Normal) {
            x += 8;
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
