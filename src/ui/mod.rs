//! Drawing: pane screens, the chrome around them (titles, borders, status line), the
//! sidebar and popups. Pure functions of what they are given; no server state here.

pub mod chrome;
pub mod frame;
pub mod pane_view;
pub mod popup;
pub mod theme;
