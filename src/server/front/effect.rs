//! What the front asks the loop to do beyond itself (gitui's queue of events): a component or
//! an input handler returns one, and the server, which holds every part, carries it out.

use crate::keymap::Action;
use crate::pane::PaneId;
use crate::protocol::BridgeOp;

#[derive(Debug, Clone)]
pub enum Effect {
    /// A binding's action, for the client that pressed it.
    Act(Action),
    /// Call the bridge as the user for the client's inbox popup; `opening` a message, or a
    /// reply.
    Bridge { op: BridgeOp, opening: bool },
    /// Send an agent session to a friend.
    Send { friend: String, session_id: String },
    /// Open a received session in a new pane beside `beside`.
    Open { blob: String, beside: PaneId, dir: String },
    /// Every client showing this pane draws again.
    Redraw(PaneId),
    /// A session's panes are laid out again (a border moved).
    Reshape(String),
    /// The client goes to a session, a tab or a pane (switching its session if need be).
    Go(Jump),
    /// Give a session or a tab a new name.
    Rename { what: Renaming, name: String },
}

/// A place a client can go to: a session, a tab, a pane (from the sidebar or the chooser).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Jump {
    Session(String),
    Tab(String, usize),
    Pane(PaneId),
}

/// What a typed name is for. A tab is named by a pane in it (its number may change while the
/// name is typed: a tab before it closes), the session and number only say which it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renaming {
    Session(String),
    Tab { session: String, number: usize, pane: PaneId },
}
