//! The help popup (prefix `?`): every binding of the keymap in use.

use crossterm::event::{KeyCode, KeyEvent};

use super::{Component, Ctx, Popup, Step, View};

#[derive(Debug, Clone, Default)]
pub struct Help {
    scroll: usize,
}

impl Component for Help {
    fn key(&mut self, key: KeyEvent, _ctx: &mut Ctx<'_>) -> Step {
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => self.scroll += 1,
            KeyCode::Up | KeyCode::Char('k') => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::PageDown | KeyCode::Char(' ') => self.scroll += 10,
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(10),
            _ => return Step::close(),
        }
        Step::stay()
    }

    fn popup(&self, view: &View<'_>) -> Option<Popup> {
        let keymap = view.keymap;
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
        Some(("keys (q to close)".into(), lines, self.scroll))
    }

    fn scrolled(&mut self, used: usize) {
        self.scroll = used;
    }

    fn status(&self) -> (&'static str, String) {
        ("HELP", String::new())
    }
}
