//! The sidebar: sessions, their tabs and panes (each agent's state, a session's roll-up),
//! then the inbox, channels and friends. Its session, tab and pane rows are places to go: a
//! click goes there, and in sidebar mode (`sidebar-select`) the arrows move between them.

use super::effect::Jump;
use super::modes::Mode;
use super::places::{jumps, session_rows};
use super::{Front, Shown};
use crate::server::conn::ClientId;
use crate::server::model::Model;
use crate::ui::chrome::SidebarEntry;

impl Front {
    /// How many rows the sidebar is scrolled: in sidebar mode, enough to keep the selected
    /// row in its `height` rows (the heading is row 0).
    pub(super) fn sidebar_offset(&self, id: ClientId, height: u16) -> usize {
        match self.clients.get(&id).map(|c| &c.mode) {
            Some(Mode::Sidebar(nav)) => (nav.selected + 2).saturating_sub(height as usize),
            _ => 0,
        }
    }

    /// Where a click on sidebar row `row` (of those drawn) leads.
    pub(super) fn sidebar_jump(&self, id: ClientId, model: &Model, row: usize, height: u16) -> Option<Jump> {
        let row = row + self.sidebar_offset(id, height);
        jumps(model).into_iter().nth(row.checked_sub(1)?)
    }

    /// The rows the sidebar draws in `height` rows (scrolled to keep a selection in view).
    pub(super) fn sidebar_rows(
        &self,
        id: ClientId,
        model: &Model,
        shown: &Shown<'_>,
        height: u16,
    ) -> Vec<SidebarEntry> {
        let mut rows = self.sidebar_entries(id, model, shown);
        let offset = self.sidebar_offset(id, height).min(rows.len());
        rows.drain(..offset);
        rows
    }

    fn sidebar_entries(&self, id: ClientId, model: &Model, shown: &Shown<'_>) -> Vec<SidebarEntry> {
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
