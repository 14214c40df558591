//! A one-line prompt for a new name (a session's, a tab's): type, Enter to rename, Esc to keep.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{Component, Ctx, Effect, Popup, Step, View};
use crate::server::front::effect::Renaming;

/// The longest name typed here (the model checks the rest).
const MAX_NAME: usize = 64;

#[derive(Debug)]
pub struct Rename {
    pub what: Renaming,
    pub text: String,
}

impl Component for Rename {
    fn key(&mut self, key: KeyEvent, _ctx: &mut Ctx<'_>) -> Step {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return Step::close(),
            KeyCode::Char('c' | 'g') if ctrl => return Step::close(),
            KeyCode::Enter => {
                let name = self.text.trim().to_string();
                if name.is_empty() {
                    return Step::close();
                }
                return Step::close().then(Effect::Rename { what: self.what.clone(), name });
            }
            KeyCode::Char('u') if ctrl => self.text.clear(),
            KeyCode::Backspace => {
                self.text.pop();
            }
            KeyCode::Char(c) if !ctrl && !c.is_control() && self.text.chars().count() < MAX_NAME => self.text.push(c),
            _ => {}
        }
        Step::stay()
    }

    fn popup(&self, _view: &View<'_>) -> Option<Popup> {
        let title = match &self.what {
            Renaming::Session(s) => format!("rename session {s}"),
            Renaming::Tab { session, number, .. } => format!("rename tab {number} of {session}"),
        };
        let lines = vec![format!("new name: {}▏", self.text), String::new(), "Enter rename · Esc keep".into()];
        Some((title, lines, 0))
    }

    fn status(&self) -> (&'static str, String) {
        ("RENAME", String::new())
    }
}
