//! The sidebar: sessions, their tabs and panes (each agent's state, a session's roll-up),
//! then the inbox, channels and friends. Its session, tab and pane rows are places to go: a
//! click goes there, and in sidebar mode (`sidebar-select`) the arrows move between them.

use super::modes::Mode;
use super::{Front, Shown};
use crate::pane::PaneId;
use crate::server::conn::ClientId;
use crate::server::model::Model;
use crate::ui::chrome::SidebarEntry;

/// A place a sidebar row (or the chooser) leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Jump {
    Session(String),
    Tab(String, usize),
    Pane(PaneId),
}

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
fn session_rows(model: &Model, here: &str, shown: &Shown<'_>) -> Vec<(SidebarEntry, Jump)> {
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

impl Front {
    /// Where a click on sidebar row `row` leads (row 0 is the heading).
    pub(super) fn sidebar_jump(model: &Model, row: usize) -> Option<Jump> {
        jumps(model).into_iter().nth(row.checked_sub(1)?)
    }

    pub(super) fn sidebar_entries(&self, id: ClientId, model: &Model, shown: &Shown<'_>) -> Vec<SidebarEntry> {
        let client = &self.clients[&id];
        let selected = match &client.mode {
            Mode::Sidebar(nav) => Some(nav.selected),
            _ => None,
        };
        let mut out = vec![SidebarEntry { text: "Sessions".into(), heading: true, selected: false }];
        for (i, (mut entry, jump)) in session_rows(model, &client.session, shown).into_iter().enumerate() {
            entry.selected = match selected {
                Some(n) => n == i,
                None => jump == Jump::Session(client.session.clone()),
            };
            out.push(entry);
        }
        let blank = || SidebarEntry { text: String::new(), heading: false, selected: false };
        let line = |text: String| SidebarEntry { text, heading: false, selected: false };
        let o = &shown.overview;
        let unread = o.unread.iter().find(|(e, _)| e == crate::bridge::USER).map_or(0, |(_, n)| *n);
        out.push(blank());
        out.push(SidebarEntry {
            text: if unread > 0 { format!("Inbox ({unread} unread)") } else { "Inbox".into() },
            heading: true,
            selected: false,
        });
        if o.inbox.is_empty() {
            out.push(line("  (empty)".into()));
        }
        for (_, from, subject, read) in o.inbox.iter().take(5) {
            let dot = if *read { " " } else { "●" };
            let from = super::modes::shown_sender(from);
            out.push(line(format!(
                " {dot} {from}: {}",
                subject.chars().filter(|c| !c.is_control()).collect::<String>()
            )));
        }
        if !o.inbox.is_empty() {
            out.push(line(format!("  {} i: read and reply", model.config.keymap.prefix)));
        }
        for r in shown.shared.received.iter().take(5) {
            let title: String = r.title.chars().filter(|c| !c.is_control()).collect();
            out.push(line(format!(" ⇩ {}: {} {title}", r.from, r.tool)));
        }
        if !shown.shared.received.is_empty() {
            out.push(line(format!("  {} O: open in a new pane", model.config.keymap.prefix)));
        }
        out.push(blank());
        out.push(SidebarEntry { text: "Channels".into(), heading: true, selected: false });
        if o.channels.is_empty() {
            out.push(line("  (none)".into()));
        }
        for (channel, members) in &o.channels {
            out.push(line(format!("  #{channel} ({})", members.len())));
            out.push(line(format!("    {}", members.join(", "))));
        }
        out.push(blank());
        out.push(SidebarEntry { text: "Friends".into(), heading: true, selected: false });
        if shown.shared.friends.is_empty() {
            out.push(line("  (none: sbx friend add)".into()));
        }
        for f in &shown.shared.friends {
            out.push(line(format!("  {f}")));
        }
        if !shown.shared.friends.is_empty() {
            out.push(line(format!("  {} S: send this session", model.config.keymap.prefix)));
        }
        out
    }
}
