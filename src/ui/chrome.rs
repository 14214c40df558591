//! Pane title bars, borders between panes, the status line and the sidebar.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use unicode_width::UnicodeWidthStr;

use super::theme::Theme;

/// Write `text` at (x, y), clipped to `max` columns; returns the columns used.
pub fn put(buf: &mut Buffer, x: u16, y: u16, text: &str, max: u16, style: Style) -> u16 {
    if max == 0 {
        return 0;
    }
    let (end, _) = buf.set_stringn(x, y, text, max as usize, style);
    end.saturating_sub(x)
}

#[derive(Debug, Clone, PartialEq)]
pub struct TitleBar {
    pub row: Rect,
    pub name: String,
    pub label: Option<String>,
    pub title: String,
    pub tag: Option<String>,
    pub active: bool,
}

pub fn title_bar(buf: &mut Buffer, bar: &TitleBar, theme: &Theme) {
    let row = bar.row;
    let line_style = Style::default().fg(if bar.active { theme.border_active } else { theme.border });
    for x in row.x..row.right() {
        if let Some(cell) = buf.cell_mut((x, row.y)) {
            cell.reset();
            cell.set_symbol("─").set_style(line_style);
        }
    }
    let text_style = if bar.active {
        Style::default().fg(theme.title_active).add_modifier(Modifier::BOLD)
    } else {
        Style::default().fg(theme.title)
    };
    let mut text = format!(" {} ", bar.name);
    if let Some(label) = &bar.label {
        text.push_str(label);
        text.push(' ');
    }
    if !bar.title.is_empty() {
        text.push_str("· ");
        text.push_str(&bar.title);
        text.push(' ');
    }
    if let Some(tag) = &bar.tag {
        text.push_str(tag);
        text.push(' ');
    }
    put(buf, row.x + 1, row.y, &text, row.width.saturating_sub(2), text_style);
}

pub fn vertical_border(buf: &mut Buffer, line: Rect, active: bool, theme: &Theme) {
    let style = Style::default().fg(if active { theme.border_active } else { theme.border });
    for y in line.y..line.bottom() {
        if let Some(cell) = buf.cell_mut((line.x, y)) {
            cell.reset();
            cell.set_symbol("│").set_style(style);
        }
    }
}

/// Fill what no pane covers (a client larger than the session's smallest client): the
/// strips right of and below `used`, within `area`.
pub fn filler(buf: &mut Buffer, area: Rect, used: Rect, theme: &Theme) {
    let style = Style::default().fg(theme.filler);
    let right = Rect::new(used.right(), area.y, area.right().saturating_sub(used.right()), area.height);
    let below = Rect::new(
        area.x,
        used.bottom(),
        used.right().saturating_sub(area.x),
        area.bottom().saturating_sub(used.bottom()),
    );
    for strip in [right, below] {
        for y in strip.y..strip.bottom() {
            for x in strip.x..strip.right() {
                if let Some(cell) = buf.cell_mut((x, y)) {
                    cell.set_symbol(if (x + y) % 2 == 0 { "·" } else { " " }).set_style(style);
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusLine {
    pub session: String,
    pub tabs: Vec<(usize, String, bool)>,
    pub right: String,
    pub mode: Option<&'static str>,
}

/// Draw the status line; returns each tab's clickable rectangle.
pub fn status_line(buf: &mut Buffer, row: Rect, status: &StatusLine, theme: &Theme) -> Vec<(Rect, usize)> {
    let base = Style::default().bg(theme.status_bg).fg(theme.status_fg);
    buf.set_style(row, base);
    for x in row.x..row.right() {
        if let Some(c) = buf.cell_mut((x, row.y)) {
            c.set_symbol(" ");
        }
    }
    let mut x = row.x;
    let mut hits = Vec::new();
    let session = format!(" {} ", status.session);
    x += put(
        buf,
        x,
        row.y,
        &session,
        row.right().saturating_sub(x),
        base.fg(theme.status_accent).add_modifier(Modifier::BOLD),
    );
    if let Some(mode) = status.mode {
        let text = format!(" {mode} ");
        x += put(buf, x, row.y, &text, row.right().saturating_sub(x), base.add_modifier(Modifier::REVERSED));
    }
    for (index, name, active) in &status.tabs {
        let text = format!(" {index}:{name} ");
        let style = if *active {
            Style::default().bg(theme.status_tab_active_bg).fg(theme.status_tab_active_fg).add_modifier(Modifier::BOLD)
        } else {
            base
        };
        let used = put(buf, x, row.y, &text, row.right().saturating_sub(x), style);
        hits.push((Rect::new(x, row.y, used, 1), index - 1));
        x += used;
    }
    let right = status.right.as_str();
    let width = right.width() as u16;
    let room = row.right().saturating_sub(x + 1);
    if room > 0 {
        let start = row.right().saturating_sub(width.min(room) + 1);
        put(buf, start, row.y, right, room, base);
    }
    hits
}

#[derive(Debug, Clone, PartialEq)]
pub struct SidebarEntry {
    pub text: String,
    pub heading: bool,
    pub selected: bool,
}

pub fn sidebar(buf: &mut Buffer, area: Rect, entries: &[SidebarEntry], theme: &Theme) {
    let base = Style::default().bg(theme.sidebar_bg).fg(theme.sidebar_fg);
    for y in area.y..area.bottom() {
        for x in area.x..area.right() {
            if let Some(c) = buf.cell_mut((x, y)) {
                c.reset();
                c.set_symbol(" ").set_style(base);
            }
        }
    }
    for (i, entry) in entries.iter().take(area.height as usize).enumerate() {
        let y = area.y + i as u16;
        let style = if entry.heading {
            base.fg(theme.sidebar_heading).add_modifier(Modifier::BOLD)
        } else if entry.selected {
            base.bg(theme.sidebar_selected_bg).add_modifier(Modifier::BOLD)
        } else {
            base
        };
        if entry.selected {
            buf.set_style(Rect::new(area.x, y, area.width, 1), style);
        }
        put(buf, area.x + 1, y, &entry.text, area.width.saturating_sub(2), style);
    }
}
