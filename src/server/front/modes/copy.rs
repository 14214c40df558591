//! Copy mode: move a cursor through the screen and history, search, select, and copy to
//! the client's clipboard (OSC 52). The view scrolls with the cursor.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{Component, Ctx, Effect, Step};
use crate::pane::engine::{lock, Engine, Selection, VPoint};
use crate::pane::{Pane, PaneId};

pub struct CopyMode {
    pub pane: PaneId,
    pub cursor: VPoint,
    pub selecting: bool,
    /// The search being typed, if any.
    pub prompt: Option<String>,
    pub last_search: Option<(String, bool)>,
    pub status: Option<String>,
}

impl CopyMode {
    pub fn enter(pane: &Pane) -> CopyMode {
        let engine = lock(&pane.engine);
        let cursor = engine.cursor();
        let cursor = VPoint { line: cursor.line.0 - engine.scroll_offset() as i32, col: cursor.column.0 };
        CopyMode { pane: pane.id, cursor, selecting: false, prompt: None, last_search: None, status: None }
    }

    pub fn page(&mut self, pane: &Pane, pages: i32) {
        let mut engine = lock(&pane.engine);
        let rows = engine.rows() as i32;
        self.move_to(&mut engine, self.cursor.line + pages * (rows - 1).max(1), self.cursor.col);
    }

    fn bounds(engine: &Engine) -> (i32, i32, usize) {
        (-(engine.history_len() as i32), engine.rows() as i32 - 1, engine.cols() - 1)
    }

    pub fn move_to(&mut self, engine: &mut Engine, line: i32, col: usize) {
        let (top, bottom, last_col) = CopyMode::bounds(engine);
        self.cursor = VPoint { line: line.clamp(top, bottom), col: col.min(last_col) };
        // Scroll so the cursor is on screen.
        let rows = engine.rows() as i32;
        let first_visible = -(engine.scroll_offset() as i32);
        if self.cursor.line < first_visible {
            engine.set_scroll((-self.cursor.line) as usize);
        } else if self.cursor.line > first_visible + rows - 1 {
            engine.set_scroll((-(self.cursor.line - rows + 1)).max(0) as usize);
        }
        if self.selecting {
            if let Some(sel) = engine.selection.as_mut() {
                sel.cursor = self.cursor;
            }
        }
    }

    /// Find `query` from the cursor (smart case), wrapping around; moves the cursor there.
    fn search(&mut self, engine: &mut Engine, query: &str, forward: bool) -> bool {
        let (top, bottom, _) = CopyMode::bounds(engine);
        let ignore_case = !query.chars().any(char::is_uppercase);
        let needle: Vec<char> =
            if ignore_case { query.to_lowercase().chars().collect() } else { query.chars().collect() };
        if needle.is_empty() {
            return false;
        }
        let span = bottom - top + 1;
        let start = self.cursor.line;
        for step in 0..=span {
            let line = if forward {
                top + (start - top + step).rem_euclid(span)
            } else {
                top + (start - top - step).rem_euclid(span)
            };
            let cells = engine.line_chars(line);
            let chars: Vec<char> = cells
                .iter()
                .map(|(_, c)| if ignore_case { c.to_lowercase().next().unwrap_or(*c) } else { *c })
                .collect();
            let mut hits: Vec<usize> = (0..chars.len().saturating_sub(needle.len() - 1))
                .filter(|&i| chars[i..i + needle.len()] == needle[..])
                .map(|i| cells[i].0)
                .collect();
            if step == 0 {
                let col = self.cursor.col;
                hits.retain(|&c| if forward { c > col } else { c < col });
            }
            let hit = if forward { hits.first() } else { hits.last() };
            if let Some(&col) = hit {
                self.move_to(engine, line, col);
                return true;
            }
        }
        false
    }
}

impl Component for CopyMode {
    fn key(&mut self, key: KeyEvent, ctx: &mut Ctx<'_>) -> Step {
        let Some(pane) = ctx.model.panes.get(&self.pane) else { return Step::close() };
        let mut engine = lock(&pane.engine);
        let pane_id = self.pane;
        let copy = &mut *self;

        if let Some(prompt) = copy.prompt.as_mut() {
            match key.code {
                KeyCode::Enter => {
                    let query = copy.prompt.take().unwrap_or_default();
                    let forward = copy.last_search.as_ref().is_none_or(|(_, f)| *f);
                    if !query.is_empty() {
                        let found = copy.search(&mut engine, &query, forward);
                        copy.status = (!found).then(|| format!("not found: {query}"));
                        copy.last_search = Some((query, forward));
                    }
                }
                KeyCode::Esc => copy.prompt = None,
                KeyCode::Backspace => {
                    prompt.pop();
                }
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => prompt.push(c),
                _ => {}
            }
            return Step::stay();
        }

        copy.status = None;
        let (line, col) = (copy.cursor.line, copy.cursor.col);
        let rows = engine.rows() as i32;
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let mut exit = false;
        let mut copied = None;
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc if !copy.selecting || key.code == KeyCode::Char('q') => exit = true,
            KeyCode::Esc => {
                copy.selecting = false;
                engine.selection = None;
            }
            KeyCode::Left | KeyCode::Char('h') => copy.move_to(&mut engine, line, col.saturating_sub(1)),
            KeyCode::Right | KeyCode::Char('l') => copy.move_to(&mut engine, line, col + 1),
            KeyCode::Up | KeyCode::Char('k') => copy.move_to(&mut engine, line - 1, col),
            KeyCode::Down | KeyCode::Char('j') => copy.move_to(&mut engine, line + 1, col),
            KeyCode::Char('u') if ctrl => copy.move_to(&mut engine, line - rows / 2, col),
            KeyCode::Char('d') if ctrl => copy.move_to(&mut engine, line + rows / 2, col),
            KeyCode::Char('b') if ctrl => copy.move_to(&mut engine, line - (rows - 1).max(1), col),
            KeyCode::Char('f') if ctrl => copy.move_to(&mut engine, line + (rows - 1).max(1), col),
            KeyCode::PageUp => copy.move_to(&mut engine, line - (rows - 1).max(1), col),
            KeyCode::PageDown => copy.move_to(&mut engine, line + (rows - 1).max(1), col),
            KeyCode::Char('0') | KeyCode::Home => copy.move_to(&mut engine, line, 0),
            KeyCode::Char('$') | KeyCode::End => {
                let len = engine.line_chars(line).iter().rev().find(|(_, c)| *c != ' ').map_or(0, |(col, _)| *col);
                copy.move_to(&mut engine, line, len)
            }
            KeyCode::Char('g') => copy.move_to(&mut engine, i32::MIN / 2, 0),
            KeyCode::Char('G') => copy.move_to(&mut engine, i32::MAX / 2, 0),
            KeyCode::Char('/') => {
                copy.prompt = Some(String::new());
                copy.last_search = copy.last_search.take().map(|(q, _)| (q, true)).or(Some((String::new(), true)));
            }
            KeyCode::Char('?') => {
                copy.prompt = Some(String::new());
                copy.last_search = copy.last_search.take().map(|(q, _)| (q, false)).or(Some((String::new(), false)));
            }
            KeyCode::Char('n') | KeyCode::Char('N') => {
                if let Some((query, forward)) = copy.last_search.clone() {
                    let dir = if key.code == KeyCode::Char('n') { forward } else { !forward };
                    if !copy.search(&mut engine, &query, dir) {
                        copy.status = Some(format!("not found: {query}"));
                    }
                }
            }
            KeyCode::Char('v') | KeyCode::Char(' ') => {
                copy.selecting = true;
                engine.selection = Some(Selection { anchor: copy.cursor, cursor: copy.cursor, lines: false });
            }
            KeyCode::Char('V') => {
                copy.selecting = true;
                engine.selection = Some(Selection { anchor: copy.cursor, cursor: copy.cursor, lines: true });
            }
            KeyCode::Char('y') | KeyCode::Enter => {
                copied = engine.selection_text();
                exit = true;
            }
            _ => {}
        }
        if !exit {
            return Step::stay();
        }
        engine.selection = None;
        engine.set_scroll(0);
        if let Some(text) = copied.filter(|t| !t.is_empty()) {
            ctx.pending.extend_from_slice(crate::server::front::osc52(&text).as_bytes());
            *ctx.message = Some(format!("copied {} characters", text.chars().count()));
        }
        // Every client of the session sees the pane back at its live screen.
        Step::close().then(Effect::Redraw(pane_id))
    }

    fn status(&self) -> (&'static str, String) {
        let right = match (&self.prompt, &self.status) {
            (Some(p), _) => format!("search: {p}"),
            (None, Some(s)) => s.clone(),
            (None, None) => "q quit · / search · v select · y copy".into(),
        };
        ("COPY", right)
    }
}
