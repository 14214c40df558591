//! What a chord does. One enum shared by the keymap files, the help popup and the server.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Detach,
    SplitRight,
    SplitDown,
    NewTab,
    NextTab,
    PrevTab,
    SelectTab(u8),
    Focus(Direction),
    FocusNext,
    Resize(Direction),
    Zoom,
    ClosePane,
    CloseTab,
    ToggleSidebar,
    CopyMode,
    ScrollPageUp,
    Help,
    /// Your messages: read and answer them.
    Inbox,
    /// Send the focused agent pane's session to a friend (picker).
    ShareSession,
    /// Open a session a friend sent, in a new pane that resumes it (picker).
    OpenReceived,
    /// Read config.toml, keymap.toml and theme.toml again, panes kept.
    ReloadConfig,
    SendPrefix,
    /// Open an agent in a new pane on the right.
    SplitAgent(crate::protocol::AgentKind),
    /// The chooser: every session, tab and pane; type to search.
    Choose,
    /// Move through the sidebar's rows with the arrows.
    SidebarSelect,
    NextSession,
    PrevSession,
    /// Go to the next agent that needs you (waiting, then done), across sessions.
    NextNeeding,
    RenameSession,
    RenameTab,
    /// Swap the focused pane with the previous / next one of its tab.
    SwapPane(bool),
    /// Move the focused pane into a new tab of its own.
    BreakPane,
    Layout(crate::protocol::LayoutPreset),
    NextLayout,
    /// Mark the focused pane for synchronized typing (or unmark it).
    MarkPane,
    /// Type into every marked pane of the tab at once (every pane when none is marked).
    SyncPanes,
    /// Stop announcing the focused pane's agent (or start again).
    MutePane,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Left,
    Right,
    Up,
    Down,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Direction::Left => "left",
            Direction::Right => "right",
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }
}

impl Action {
    pub fn describe(self) -> String {
        match self {
            Action::Detach => "detach this client".into(),
            Action::SplitRight => "split the pane, new pane on the right".into(),
            Action::SplitDown => "split the pane, new pane below".into(),
            Action::NewTab => "open a new tab".into(),
            Action::NextTab => "next tab".into(),
            Action::PrevTab => "previous tab".into(),
            Action::SelectTab(n) => format!("go to tab {n}"),
            Action::Focus(d) => format!("focus the pane {}", d.name()),
            Action::FocusNext => "focus the next pane".into(),
            Action::Resize(d) => format!("move the border {}", d.name()),
            Action::Zoom => "zoom or unzoom the pane".into(),
            Action::ClosePane => "close the pane".into(),
            Action::CloseTab => "close the tab".into(),
            Action::ToggleSidebar => "show or hide the sidebar".into(),
            Action::CopyMode => "copy mode (scroll, search, select)".into(),
            Action::ScrollPageUp => "copy mode, one page up".into(),
            Action::Help => "show the key bindings".into(),
            Action::Inbox => "open your inbox (read and answer messages)".into(),
            Action::ShareSession => "send this agent pane's session to a friend".into(),
            Action::OpenReceived => "open a session a friend sent, in a new pane".into(),
            Action::ReloadConfig => "read the config, keymap and theme again".into(),
            Action::SendPrefix => "send the prefix key to the pane".into(),
            Action::SplitAgent(kind) => format!("open {} in a new pane", kind.name()),
            Action::Choose => "choose a session, tab or pane (type to search)".into(),
            Action::SidebarSelect => "move through the sidebar with the arrows".into(),
            Action::NextSession => "next session".into(),
            Action::PrevSession => "previous session".into(),
            Action::NextNeeding => "go to the next agent that needs you".into(),
            Action::RenameSession => "rename this session".into(),
            Action::RenameTab => "rename this tab".into(),
            Action::SwapPane(false) => "swap the pane with the previous one".into(),
            Action::SwapPane(true) => "swap the pane with the next one".into(),
            Action::BreakPane => "move the pane into a new tab".into(),
            Action::Layout(p) => format!("lay the tab out {}", p.name()),
            Action::NextLayout => "the next layout preset".into(),
            Action::MarkPane => "mark the pane for synchronized typing".into(),
            Action::SyncPanes => "type into the marked panes at once (all when none)".into(),
            Action::MutePane => "mute or unmute the pane's notifications".into(),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Detach => f.write_str("detach"),
            Action::SplitRight => f.write_str("split-right"),
            Action::SplitDown => f.write_str("split-down"),
            Action::NewTab => f.write_str("new-tab"),
            Action::NextTab => f.write_str("next-tab"),
            Action::PrevTab => f.write_str("prev-tab"),
            Action::SelectTab(n) => write!(f, "select-tab-{n}"),
            Action::Focus(d) => write!(f, "focus-{}", d.name()),
            Action::FocusNext => f.write_str("focus-next"),
            Action::Resize(d) => write!(f, "resize-{}", d.name()),
            Action::Zoom => f.write_str("zoom"),
            Action::ClosePane => f.write_str("close-pane"),
            Action::CloseTab => f.write_str("close-tab"),
            Action::ToggleSidebar => f.write_str("toggle-sidebar"),
            Action::CopyMode => f.write_str("copy-mode"),
            Action::ScrollPageUp => f.write_str("scroll-page-up"),
            Action::Help => f.write_str("help"),
            Action::Inbox => f.write_str("inbox"),
            Action::ShareSession => f.write_str("share-session"),
            Action::OpenReceived => f.write_str("open-received"),
            Action::ReloadConfig => f.write_str("reload-config"),
            Action::SendPrefix => f.write_str("send-prefix"),
            Action::SplitAgent(kind) => write!(f, "split-{}", kind.name()),
            Action::Choose => f.write_str("choose"),
            Action::SidebarSelect => f.write_str("sidebar-select"),
            Action::NextSession => f.write_str("next-session"),
            Action::PrevSession => f.write_str("prev-session"),
            Action::NextNeeding => f.write_str("next-needing"),
            Action::RenameSession => f.write_str("rename-session"),
            Action::RenameTab => f.write_str("rename-tab"),
            Action::SwapPane(false) => f.write_str("swap-pane-prev"),
            Action::SwapPane(true) => f.write_str("swap-pane-next"),
            Action::BreakPane => f.write_str("break-pane"),
            Action::Layout(p) => write!(f, "layout-{}", p.name()),
            Action::NextLayout => f.write_str("next-layout"),
            Action::MarkPane => f.write_str("mark-pane"),
            Action::SyncPanes => f.write_str("sync-panes"),
            Action::MutePane => f.write_str("mute-pane"),
        }
    }
}

impl FromStr for Action {
    type Err = String;

    fn from_str(s: &str) -> Result<Action, String> {
        let dir = |d: &str| match d {
            "left" => Some(Direction::Left),
            "right" => Some(Direction::Right),
            "up" => Some(Direction::Up),
            "down" => Some(Direction::Down),
            _ => None,
        };
        let action = match s {
            "detach" => Action::Detach,
            "split-right" => Action::SplitRight,
            "split-down" => Action::SplitDown,
            "new-tab" => Action::NewTab,
            "next-tab" => Action::NextTab,
            "prev-tab" => Action::PrevTab,
            "focus-next" => Action::FocusNext,
            "zoom" => Action::Zoom,
            "close-pane" => Action::ClosePane,
            "close-tab" => Action::CloseTab,
            "toggle-sidebar" => Action::ToggleSidebar,
            "copy-mode" => Action::CopyMode,
            "scroll-page-up" => Action::ScrollPageUp,
            "help" => Action::Help,
            "inbox" => Action::Inbox,
            "share-session" => Action::ShareSession,
            "reload-config" => Action::ReloadConfig,
            "open-received" => Action::OpenReceived,
            "send-prefix" => Action::SendPrefix,
            "choose" => Action::Choose,
            "sidebar-select" => Action::SidebarSelect,
            "next-session" => Action::NextSession,
            "prev-session" => Action::PrevSession,
            "next-needing" => Action::NextNeeding,
            "rename-session" => Action::RenameSession,
            "rename-tab" => Action::RenameTab,
            "swap-pane-prev" => Action::SwapPane(false),
            "swap-pane-next" => Action::SwapPane(true),
            "break-pane" => Action::BreakPane,
            "next-layout" => Action::NextLayout,
            "mark-pane" => Action::MarkPane,
            "sync-panes" => Action::SyncPanes,
            "mute-pane" => Action::MutePane,
            other => {
                if let Some(kind) = other.strip_prefix("split-").and_then(crate::protocol::AgentKind::from_name) {
                    Action::SplitAgent(kind)
                } else if let Some(p) = other.strip_prefix("layout-").and_then(crate::protocol::LayoutPreset::from_name)
                {
                    Action::Layout(p)
                } else if let Some(n) = other.strip_prefix("select-tab-").and_then(|n| n.parse::<u8>().ok()) {
                    Action::SelectTab(n)
                } else if let Some(d) = other.strip_prefix("focus-").and_then(dir) {
                    Action::Focus(d)
                } else if let Some(d) = other.strip_prefix("resize-").and_then(dir) {
                    Action::Resize(d)
                } else {
                    return Err(format!("unknown action {other:?} (see docs/keys.md for the list)"));
                }
            }
        };
        Ok(action)
    }
}
