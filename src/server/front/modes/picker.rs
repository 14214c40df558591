//! A picker popup: choose one item with the arrows and Enter. Prefix `S` picks the friend to
//! send the focused agent pane's session to; prefix `O` picks a received session to open.

use crossterm::event::{KeyCode, KeyEvent};

use super::{Component, Ctx, Effect, Popup, Step, View};
use crate::pane::PaneId;

#[derive(Debug, Clone)]
pub enum PickAction {
    /// Send this agent session to the picked friend.
    SendTo { session_id: String },
    /// Open the picked blob in a new pane beside this one, resuming in `dir`.
    Open { beside: PaneId, dir: String },
}

#[derive(Debug, Clone)]
pub struct Picker {
    pub title: String,
    /// (value, what is shown)
    pub items: Vec<(String, String)>,
    pub selected: usize,
    pub action: PickAction,
}

impl Component for Picker {
    fn key(&mut self, key: KeyEvent, _ctx: &mut Ctx<'_>) -> Step {
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(self.items.len().saturating_sub(1))
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Enter => {
                let Some((value, _)) = self.items.get(self.selected).cloned() else { return Step::close() };
                let effect = match self.action.clone() {
                    PickAction::SendTo { session_id } => Effect::Send { friend: value, session_id },
                    PickAction::Open { beside, dir } => Effect::Open { blob: value, beside, dir },
                };
                return Step::close().then(effect);
            }
            _ => return Step::close(),
        }
        Step::stay()
    }

    fn popup(&self, _view: &View<'_>) -> Option<Popup> {
        let mut lines: Vec<String> = self
            .items
            .iter()
            .enumerate()
            .map(|(i, (_, shown))| {
                let shown: String = shown.chars().filter(|c| !c.is_control()).take(70).collect();
                format!("{} {shown}", if i == self.selected { "▸" } else { " " })
            })
            .collect();
        lines.push(String::new());
        lines.push("↑↓ select · Enter · q cancel".into());
        Some((self.title.clone(), lines, 0))
    }

    fn status(&self) -> (&'static str, String) {
        ("PICK", String::new())
    }
}
