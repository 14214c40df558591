//! The chooser (tmux's choose-tree): every session, tab and pane with its agent's state; type
//! to search (fuzzy, as helix's pickers: nucleo's matcher), the arrows move, the highlighted
//! pane's screen shows below, Enter goes there.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};

use super::{Component, Ctx, Effect, Popup, Step, View};
use crate::pane::engine::lock;
use crate::server::front::effect::Jump;
use crate::server::front::places::pane_title;
use crate::server::model::Model;

/// Rows of the list shown at once, and of the preview.
const LIST_ROWS: usize = 14;
const PREVIEW_ROWS: usize = 12;
const WIDTH: usize = 96;
/// The longest query kept (what is typed past it is ignored).
const MAX_QUERY: usize = 200;

#[derive(Debug, Default)]
pub struct Chooser {
    pub query: String,
    /// The highlighted row among those shown.
    pub selected: usize,
}

/// One row: how deep in the tree, where it leads, its text, and what a search matches.
struct Row {
    depth: usize,
    jump: Jump,
    text: String,
    haystack: String,
    /// The row with where it is (what a search shows, the tree being flattened).
    path: String,
}

fn tree(model: &Model) -> Vec<Row> {
    let mut rows = Vec::new();
    for (si, s) in model.sessions.iter().enumerate() {
        let rollup = model.rollup(si).text(false);
        let text = if rollup.is_empty() { s.name.clone() } else { format!("{}  ({rollup})", s.name) };
        let path = text.clone();
        rows.push(Row { depth: 0, jump: Jump::Session(s.name.clone()), text, haystack: s.name.clone(), path });
        for (ti, t) in s.tabs.iter().enumerate() {
            let text = format!("{}:{}", ti + 1, t.name);
            let haystack = format!("{} {text}", s.name);
            let path = format!("{} › {text}", s.name);
            rows.push(Row { depth: 1, jump: Jump::Tab(s.name.clone(), ti), text, haystack, path });
            for pane in t.layout.panes() {
                let Some(p) = model.panes.get(&pane) else { continue };
                let title = pane_title(model, pane);
                let text = format!("{} {title}", p.name());
                let haystack = format!("{} {}:{} {} {}", s.name, ti + 1, t.name, text, p.display_command().join(" "));
                let path = format!("{} › {}:{} › {text}", s.name, ti + 1, t.name);
                rows.push(Row { depth: 2, jump: Jump::Pane(pane), text, haystack, path });
            }
        }
    }
    rows
}

impl Chooser {
    /// The rows shown: the whole tree, or with a query the matching rows, best first.
    fn shown(&self, model: &Model) -> Vec<Row> {
        let rows = tree(model);
        if self.query.trim().is_empty() {
            return rows;
        }
        let pattern = Pattern::parse(&self.query, CaseMatching::Smart, Normalization::Smart);
        let mut matcher = Matcher::new(Config::DEFAULT);
        let mut buf = Vec::new();
        let mut scored: Vec<(u32, usize, Row)> = rows
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let score = pattern.score(Utf32Str::new(&r.haystack, &mut buf), &mut matcher)?;
                Some((score, i, r))
            })
            .collect();
        // Best first; the tree's order between equals.
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().map(|(_, _, r)| Row { depth: 0, text: r.path.clone(), ..r }).collect()
    }

    /// The pane a row shows: itself, or the active pane of its tab or session.
    fn preview_pane(model: &Model, jump: &Jump) -> Option<crate::pane::PaneId> {
        match jump {
            Jump::Pane(p) => Some(*p),
            Jump::Tab(s, t) => model.session_index(s).and_then(|si| model.sessions[si].tabs.get(*t)).map(|t| t.active),
            Jump::Session(s) => model.session_index(s).map(|si| model.sessions[si].tab().active),
        }
    }
}

impl Component for Chooser {
    fn key(&mut self, key: KeyEvent, ctx: &mut Ctx<'_>) -> Step {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let count = self.shown(ctx.model).len();
        match key.code {
            KeyCode::Esc => return Step::close(),
            KeyCode::Char('c' | 'g') if ctrl => return Step::close(),
            KeyCode::Enter => {
                let rows = self.shown(ctx.model);
                return match rows.get(self.selected) {
                    Some(row) => Step::close().then(Effect::Go(row.jump.clone())),
                    None => Step::stay(),
                };
            }
            KeyCode::Down => self.selected += 1,
            KeyCode::Char('n') if ctrl => self.selected += 1,
            KeyCode::Up => self.selected = self.selected.saturating_sub(1),
            KeyCode::Char('p') if ctrl => self.selected = self.selected.saturating_sub(1),
            KeyCode::Char('u') if ctrl => {
                self.query.clear();
                self.selected = 0;
            }
            KeyCode::Backspace => {
                self.query.pop();
                self.selected = 0;
            }
            KeyCode::Char(c) if !ctrl && !c.is_control() && self.query.len() < MAX_QUERY => {
                self.query.push(c);
                self.selected = 0;
            }
            _ => {}
        }
        let count =
            if matches!(key.code, KeyCode::Char(_) | KeyCode::Backspace) { self.shown(ctx.model).len() } else { count };
        self.selected = self.selected.min(count.saturating_sub(1));
        Step::stay()
    }

    fn popup(&self, view: &View<'_>) -> Option<Popup> {
        let model = view.model;
        let rows = self.shown(model);
        let clip = |text: &str, room: usize| text.chars().filter(|c| !c.is_control()).take(room).collect::<String>();
        let mut lines = vec![format!("search: {}▏", clip(&self.query, WIDTH - 10)), String::new()];
        if rows.is_empty() {
            lines.push("  (nothing matches)".into());
        }
        // The list scrolls to keep the highlighted row in view.
        let first = self.selected.saturating_sub(LIST_ROWS - 1);
        for (i, row) in rows.iter().enumerate().skip(first).take(LIST_ROWS) {
            let mark = if i == self.selected { "▸" } else { " " };
            let indent = "  ".repeat(row.depth);
            lines.push(clip(&format!("{mark} {indent}{}", row.text), WIDTH));
        }
        if let Some(pane) = rows.get(self.selected).and_then(|r| Chooser::preview_pane(model, &r.jump)) {
            if let Some(p) = model.panes.get(&pane) {
                lines.push(String::new());
                lines.push(clip(&format!("── {} {} ", p.name(), pane_title(model, pane)), WIDTH) + &"─".repeat(8));
                let screen = lock(&p.engine).capture(0);
                let used: Vec<&String> = {
                    let end = screen.iter().rposition(|l| !l.trim().is_empty()).map_or(0, |i| i + 1);
                    screen[end.saturating_sub(PREVIEW_ROWS)..end].iter().collect()
                };
                lines.extend(used.into_iter().map(|l| clip(l.trim_end(), WIDTH)));
            }
        }
        lines.push(String::new());
        lines.push("type to search · ↑↓ move · Enter go · Esc cancel".into());
        Some(("choose a session, tab or pane".into(), lines, 0))
    }

    fn status(&self) -> (&'static str, String) {
        ("CHOOSE", String::new())
    }
}
