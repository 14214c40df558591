//! Sidebar mode: the arrows move between the sidebar's sessions, tabs and panes, Enter goes
//! there, Esc leaves.

use crossterm::event::{KeyCode, KeyEvent};

use super::{Component, Ctx, Effect, Step};
use crate::server::front::effect::Jump;
use crate::server::front::places::jumps;

#[derive(Debug, Default)]
pub struct SidebarNav {
    /// The row (among the sidebar's places) that is highlighted.
    pub selected: usize,
}

impl SidebarNav {
    /// Start on the row of the client's own session.
    pub fn at(model: &crate::server::model::Model, session: &str) -> SidebarNav {
        let here = Jump::Session(session.to_string());
        SidebarNav { selected: jumps(model).iter().position(|j| *j == here).unwrap_or(0) }
    }
}

impl Component for SidebarNav {
    fn key(&mut self, key: KeyEvent, ctx: &mut Ctx<'_>) -> Step {
        let places = jumps(ctx.model);
        let last = places.len().saturating_sub(1);
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => self.selected = (self.selected + 1).min(last),
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
            KeyCode::End | KeyCode::Char('G') => self.selected = last,
            KeyCode::Enter => {
                return match places.get(self.selected) {
                    Some(place) => Step::close().then(Effect::Go(place.clone())),
                    None => Step::close(),
                }
            }
            KeyCode::Esc | KeyCode::Char('q') => return Step::close(),
            _ => {}
        }
        self.selected = self.selected.min(last);
        Step::stay()
    }

    fn status(&self) -> (&'static str, String) {
        ("SIDEBAR", "↑↓ move · Enter go · Esc leave".into())
    }
}
