//! A centred box with lines of text: the key bindings (`?`).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, Clear, Widget};

use super::chrome::put;
use super::theme::Theme;

/// Draw `lines` from `scroll` in a box; returns the scroll actually used (clamped).
pub fn draw(buf: &mut Buffer, screen: Rect, title: &str, lines: &[String], scroll: usize, theme: &Theme) -> usize {
    let width = (lines.iter().map(|l| l.chars().count()).max().unwrap_or(10) as u16 + 4).min(screen.width);
    let height = (lines.len() as u16 + 2).min(screen.height.saturating_sub(2)).max(3.min(screen.height));
    let area = Rect::new(
        screen.x + (screen.width - width) / 2,
        screen.y + (screen.height.saturating_sub(height)) / 2,
        width,
        height,
    );
    Clear.render(area, buf);
    let style = Style::default().bg(theme.popup_bg).fg(theme.popup_fg);
    Block::default()
        .borders(Borders::ALL)
        .border_style(style.fg(theme.popup_border))
        .title(format!(" {title} "))
        .style(style)
        .render(area, buf);
    let inner = Rect::new(area.x + 2, area.y + 1, area.width.saturating_sub(4), area.height.saturating_sub(2));
    let visible = inner.height as usize;
    let scroll = scroll.min(lines.len().saturating_sub(visible));
    for (i, line) in lines.iter().skip(scroll).take(visible).enumerate() {
        let s = if line.ends_with(':') { style.add_modifier(Modifier::BOLD) } else { style };
        put(buf, inner.x, inner.y + i as u16, line, inner.width, s);
    }
    scroll
}
