//! What a client is doing besides typing into a pane: each mode is a component that owns its
//! keys and its drawing (helix's `Component`). This file is the one place that matches on the
//! mode; what a mode wants done beyond itself it returns as an `Effect` for the loop.

mod chooser;
mod copy;
mod help;
mod inbox;
pub use inbox::shown_sender;
mod picker;
mod rename;
mod sidebar_nav;

use crossterm::event::KeyEvent;

pub use chooser::Chooser;
pub use copy::CopyMode;
pub use help::Help;
pub use inbox::InboxView;
pub use picker::{PickAction, Picker};
pub use rename::Rename;
pub use sidebar_nav::SidebarNav;

use super::effect::Effect;
use crate::bridge::Overview;
use crate::keymap::Keymap;
use crate::pane::engine::VPoint;
use crate::pane::PaneId;
use crate::server::model::Model;

/// What a component may touch while it handles a key.
pub struct Ctx<'a> {
    pub model: &'a mut Model,
    pub overview: &'a Overview,
    /// Bytes for the client's terminal (an OSC 52 copy).
    pub pending: &'a mut Vec<u8>,
    /// A line for the client's status bar.
    pub message: &'a mut Option<String>,
}

/// What a component shows: a popup, or nothing over the panes.
pub struct View<'a> {
    pub overview: &'a Overview,
    pub keymap: &'a Keymap,
    pub model: &'a Model,
}

/// A popup: its title, its lines and how far it is scrolled.
pub type Popup = (String, Vec<String>, usize);

/// After a key: stay in the mode or leave it, and what the loop must do.
pub struct Step {
    pub stay: bool,
    pub effect: Option<Effect>,
}

impl Step {
    pub fn stay() -> Step {
        Step { stay: true, effect: None }
    }
    pub fn close() -> Step {
        Step { stay: false, effect: None }
    }
    pub fn then(self, effect: Effect) -> Step {
        Step { effect: Some(effect), ..self }
    }
}

pub trait Component {
    fn key(&mut self, key: KeyEvent, ctx: &mut Ctx<'_>) -> Step;
    /// The popup it draws over the panes, if any.
    fn popup(&self, _view: &View<'_>) -> Option<Popup> {
        None
    }
    /// How far the drawn popup really scrolled (it clamps at the end).
    fn scrolled(&mut self, _used: usize) {}
    /// Its name in the status line, and the status line's right-hand text.
    fn status(&self) -> (&'static str, String);
}

pub enum Mode {
    /// Keys go to the focused pane (or to a root binding).
    Normal,
    /// The prefix was pressed: the next key is a binding.
    Prefix,
    Copy(CopyMode),
    Help(Help),
    Inbox(InboxView),
    Pick(Picker),
    Choose(Chooser),
    Sidebar(SidebarNav),
    Rename(Rename),
}

impl Mode {
    fn component(&mut self) -> Option<&mut dyn Component> {
        match self {
            Mode::Normal | Mode::Prefix => None,
            Mode::Copy(c) => Some(c),
            Mode::Help(c) => Some(c),
            Mode::Inbox(c) => Some(c),
            Mode::Pick(c) => Some(c),
            Mode::Choose(c) => Some(c),
            Mode::Sidebar(c) => Some(c),
            Mode::Rename(c) => Some(c),
        }
    }

    fn component_ref(&self) -> Option<&dyn Component> {
        match self {
            Mode::Normal | Mode::Prefix => None,
            Mode::Copy(c) => Some(c),
            Mode::Help(c) => Some(c),
            Mode::Inbox(c) => Some(c),
            Mode::Pick(c) => Some(c),
            Mode::Choose(c) => Some(c),
            Mode::Sidebar(c) => Some(c),
            Mode::Rename(c) => Some(c),
        }
    }

    /// Give a key to the mode's component; None when the mode takes no keys of its own
    /// (Normal, Prefix: the keymap's).
    pub fn key(&mut self, key: KeyEvent, ctx: &mut Ctx<'_>) -> Option<Option<Effect>> {
        let step = self.component()?.key(key, ctx);
        if !step.stay {
            *self = Mode::Normal;
        }
        Some(step.effect)
    }

    pub fn popup(&self, view: &View<'_>) -> Option<Popup> {
        self.component_ref()?.popup(view)
    }

    pub fn scrolled(&mut self, used: usize) {
        if let Some(c) = self.component() {
            c.scrolled(used);
        }
    }

    /// The status line's mode name and right-hand text.
    pub fn status(&self) -> (Option<&'static str>, String) {
        match self {
            Mode::Normal => (None, String::new()),
            Mode::Prefix => (Some("PREFIX"), String::new()),
            _ => self.component_ref().map(|c| c.status()).map_or((None, String::new()), |(n, t)| (Some(n), t)),
        }
    }

    /// The pane in copy mode, and its cursor.
    pub fn copying(&self) -> Option<(PaneId, VPoint)> {
        match self {
            Mode::Copy(c) => Some((c.pane, c.cursor)),
            _ => None,
        }
    }

    pub fn copy_mut(&mut self) -> Option<&mut CopyMode> {
        match self {
            Mode::Copy(c) => Some(c),
            _ => None,
        }
    }
}
