//! The places a client can go to, as lists show them: every session, its tabs and panes, and
//! how a pane is named (its label, agent and state). The sidebar draws these rows; sidebar
//! mode and the chooser move through them.

use super::effect::Jump;
use super::Shown;
use crate::pane::PaneId;
use crate::server::model::Model;
use crate::ui::chrome::SidebarEntry;

/// How a pane is named in lists: its label, else its agent, else its command; an agent's
/// state always shows.
pub fn pane_title(model: &Model, pane: PaneId) -> String {
    let Some(p) = model.panes.get(&pane) else { return String::new() };
    let clean = |t: &str| t.chars().filter(|c| !c.is_control()).collect::<String>();
    match (&p.label, model.agents.get(&pane)) {
        (Some(label), Some(a)) => format!("{} · {} {}", clean(label), a.kind.name(), a.shown_state()),
        (Some(label), None) => clean(label),
        (None, Some(a)) => format!("{} {}", a.kind.name(), a.shown_state()),
        (None, None) => clean(&p.display_command().join(" ")),
    }
}

/// The session rows, and where each leads.
pub fn session_rows(model: &Model, here: &str, shown: &Shown<'_>) -> Vec<(SidebarEntry, Jump)> {
    let row = |text: String| SidebarEntry { text, heading: false, selected: false };
    let mut out = Vec::new();
    for (si, s) in model.sessions.iter().enumerate() {
        let mark = if s.name == here { "▸" } else { " " };
        let rollup = model.rollup(si).text(true);
        let text =
            if rollup.is_empty() { format!("{mark} {}", s.name) } else { format!("{mark} {}  {rollup}", s.name) };
        out.push((row(text), Jump::Session(s.name.clone())));
        for (ti, t) in s.tabs.iter().enumerate() {
            out.push((row(format!("  {}:{}", ti + 1, t.name)), Jump::Tab(s.name.clone(), ti)));
            for pane in t.layout.panes() {
                let Some(p) = model.panes.get(&pane) else { continue };
                let dot = if pane == t.active && ti == s.active_tab { "●" } else { "○" };
                let mail = shown
                    .overview
                    .unread
                    .iter()
                    .find(|(e, _)| *e == p.endpoint)
                    .map_or(String::new(), |(_, n)| format!(" ✉{n}"));
                let muted = if p.muted { " (muted)" } else { "" };
                let text = format!("   {dot} {} {}{muted}{mail}", p.name(), pane_title(model, pane));
                out.push((row(text), Jump::Pane(pane)));
            }
        }
    }
    out
}

/// The places the sidebar's rows lead to, in order (what sidebar mode moves through).
pub fn jumps(model: &Model) -> Vec<Jump> {
    let empty = crate::bridge::Overview::default();
    let shared = Default::default();
    session_rows(model, "", &Shown { overview: &empty, shared: &shared }).into_iter().map(|(_, j)| j).collect()
}
