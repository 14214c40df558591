//! Sessions and their tabs: a tab is a layout of panes with one of them active.

use super::layout::Layout;
use crate::pane::{Pane, PaneId};

pub struct Tab {
    pub name: String,
    pub layout: Layout,
    pub active: PaneId,
    pub zoomed: bool,
    /// The preset it was last laid out with (a split or a drag since keeps it: it names
    /// where the next `next-layout` goes).
    pub preset: Option<crate::protocol::LayoutPreset>,
    /// Panes marked for synchronized typing.
    pub marked: std::collections::BTreeSet<PaneId>,
    /// Keys typed into the focused pane go to `sync_targets` too (tmux's synchronize-panes).
    pub sync: bool,
}

impl Tab {
    /// The panes synchronized typing goes to: the marked ones, or every pane when none is.
    pub fn sync_targets(&self) -> Vec<PaneId> {
        let panes = self.layout.panes();
        let marked: Vec<PaneId> = panes.iter().copied().filter(|p| self.marked.contains(p)).collect();
        if marked.is_empty() {
            panes
        } else {
            marked
        }
    }

    /// A tab holding one pane, named after the pane's program.
    pub fn of(pane: &Pane) -> Tab {
        Tab::new(tab_name(pane), Layout::Pane(pane.id), pane.id)
    }

    pub fn new(name: String, layout: Layout, active: PaneId) -> Tab {
        Tab { name, layout, active, zoomed: false, preset: None, marked: Default::default(), sync: false }
    }
}

pub struct Session {
    pub name: String,
    pub tabs: Vec<Tab>,
    pub active_tab: usize,
    /// The layout area used while no client is attached (`new -d`).
    pub detached_size: (u16, u16),
    /// For "the default session": the one used last.
    pub last_used: u64,
}

impl Session {
    pub fn tab(&self) -> &Tab {
        &self.tabs[self.active_tab]
    }

    pub fn tab_mut(&mut self) -> &mut Tab {
        &mut self.tabs[self.active_tab]
    }

    /// Every pane of every tab.
    pub fn panes(&self) -> Vec<PaneId> {
        self.tabs.iter().flat_map(|t| t.layout.panes()).collect()
    }
}

/// A tab's name: the base name of its first pane's program.
fn tab_name(pane: &Pane) -> String {
    let cmd = pane.display_command();
    let first = cmd.first().map(String::as_str).unwrap_or("shell");
    std::path::Path::new(first).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| first.into())
}
