//! Drawing a pane's screen (or its history, when scrolled) into a ratatui buffer.

use alacritty_terminal::grid::Dimensions;
use alacritty_terminal::index::{Column, Line, Point};
use alacritty_terminal::term::cell::{Cell, Flags};
use alacritty_terminal::vte::ansi::{Color as VtColor, CursorShape, NamedColor};
use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use unicode_width::UnicodeWidthStr;

use crate::pane::engine::Engine;

/// Where the terminal cursor goes and in which DECSCUSR shape.
pub struct CursorSpot {
    pub position: Position,
    pub shape: u8,
}

pub struct Highlight {
    pub selection_bg: Color,
    pub selection_fg: Color,
}

/// Draw the visible part of `engine` into `area`; returns the cursor if it is on screen.
pub fn draw(
    buf: &mut Buffer,
    area: Rect,
    engine: &Engine,
    hl: &Highlight,
    copy_cursor: Option<Point>,
) -> Option<CursorSpot> {
    let term = engine.term();
    let grid = term.grid();
    let offset = grid.display_offset() as i32;
    let cols = (area.width as usize).min(grid.columns());
    let rows = (area.height as usize).min(grid.screen_lines());
    let selection = term.selection.as_ref().and_then(|s| s.to_range(term));
    let palette = term.colors();
    let mut symbol = String::with_capacity(8);

    for row in 0..rows {
        let line = Line(row as i32 - offset);
        let grid_row = &grid[line];
        for col in 0..cols {
            let cell = &grid_row[Column(col)];
            let pos = (area.x + col as u16, area.y + row as u16);
            let Some(out) = buf.cell_mut(pos) else { continue };
            if cell.flags.intersects(Flags::WIDE_CHAR_SPACER | Flags::LEADING_WIDE_CHAR_SPACER) {
                out.reset();
                out.set_symbol(" ");
                continue;
            }
            symbol.clear();
            cell_symbol(cell, &mut symbol);
            // A wide character in the last column would spill past the pane.
            if cell.flags.contains(Flags::WIDE_CHAR) && col + 1 >= cols {
                symbol.clear();
                symbol.push(' ');
            }
            let mut style = cell_style(cell, palette);
            if selection.is_some_and(|s| s.contains(Point::new(line, Column(col)))) {
                style = style.bg(hl.selection_bg).fg(hl.selection_fg).remove_modifier(Modifier::REVERSED);
            }
            out.set_symbol(&symbol);
            out.set_style(style);
        }
    }

    if let Some(point) = copy_cursor {
        let row = point.line.0 + offset;
        if row >= 0 && (row as usize) < rows && point.column.0 < cols {
            return Some(CursorSpot {
                position: Position::new(area.x + point.column.0 as u16, area.y + row as u16),
                shape: 2,
            });
        }
        return None;
    }
    let content = term.renderable_content();
    if offset != 0 || !content.mode.contains(alacritty_terminal::term::TermMode::SHOW_CURSOR) {
        return None;
    }
    let cursor = grid.cursor.point;
    let (x, y) = (cursor.column.0, cursor.line.0);
    if y < 0 || y as usize >= rows || x >= cols {
        return None;
    }
    let style = engine.cursor_style();
    let shape = match (style.shape, style.blinking) {
        (CursorShape::Underline, true) => 3,
        (CursorShape::Underline, false) => 4,
        (CursorShape::Beam, true) => 5,
        (CursorShape::Beam, false) => 6,
        (_, true) => 1,
        (_, false) => 2,
    };
    Some(CursorSpot { position: Position::new(area.x + x as u16, area.y + y as u16), shape })
}

/// The text of a cell. Where alacritty and unicode-width disagree on a width (an emoji
/// with VS-16 is one cell to alacritty, two to unicode-width), drop the combining marks
/// so the frame never shifts.
fn cell_symbol(cell: &Cell, out: &mut String) {
    let c = if cell.c == '\0' || cell.c.is_control() { ' ' } else { cell.c };
    out.push(c);
    if let Some(extra) = cell.zerowidth() {
        out.extend(extra.iter());
        let expected = if cell.flags.contains(Flags::WIDE_CHAR) { 2 } else { 1 };
        if out.as_str().width() != expected {
            out.clear();
            out.push(c);
        }
    }
}

fn cell_style(cell: &Cell, palette: &alacritty_terminal::term::color::Colors) -> Style {
    let mut style = Style::default().fg(color(cell.fg, palette)).bg(color(cell.bg, palette));
    let f = cell.flags;
    let mut m = Modifier::empty();
    if f.contains(Flags::BOLD) {
        m |= Modifier::BOLD;
    }
    if f.contains(Flags::DIM) {
        m |= Modifier::DIM;
    }
    if f.contains(Flags::ITALIC) {
        m |= Modifier::ITALIC;
    }
    if f.intersects(Flags::ALL_UNDERLINES) {
        m |= Modifier::UNDERLINED;
    }
    if f.contains(Flags::INVERSE) {
        m |= Modifier::REVERSED;
    }
    if f.contains(Flags::HIDDEN) {
        m |= Modifier::HIDDEN;
    }
    if f.contains(Flags::STRIKEOUT) {
        m |= Modifier::CROSSED_OUT;
    }
    style = style.add_modifier(m);
    style
}

/// Map the child's colours onto the client's terminal. Named and low indexed colours stay
/// indexed so the user's own palette applies (as in tmux); a palette entry the child
/// redefined with OSC 4 is sent as that RGB.
fn color(c: VtColor, palette: &alacritty_terminal::term::color::Colors) -> Color {
    match c {
        VtColor::Spec(rgb) => Color::Rgb(rgb.r, rgb.g, rgb.b),
        VtColor::Indexed(i) => indexed(i as usize, palette),
        VtColor::Named(named) => {
            let idx = named as usize;
            match named {
                NamedColor::Foreground | NamedColor::Background | NamedColor::Cursor | NamedColor::BrightForeground => {
                    match palette[idx] {
                        Some(rgb) => Color::Rgb(rgb.r, rgb.g, rgb.b),
                        None => Color::Reset,
                    }
                }
                NamedColor::DimForeground => Color::Reset,
                _ if idx < 16 => indexed(idx, palette),
                // Dim variants: the base colour; DIM is carried by the modifier.
                _ => indexed((idx - NamedColor::DimBlack as usize) % 8, palette),
            }
        }
    }
}

fn indexed(i: usize, palette: &alacritty_terminal::term::color::Colors) -> Color {
    if let Some(rgb) = palette[i] {
        return Color::Rgb(rgb.r, rgb.g, rgb.b);
    }
    const BASE: [Color; 16] = [
        Color::Black,
        Color::Red,
        Color::Green,
        Color::Yellow,
        Color::Blue,
        Color::Magenta,
        Color::Cyan,
        Color::Gray,
        Color::DarkGray,
        Color::LightRed,
        Color::LightGreen,
        Color::LightYellow,
        Color::LightBlue,
        Color::LightMagenta,
        Color::LightCyan,
        Color::White,
    ];
    if i < 16 {
        BASE[i]
    } else {
        Color::Indexed(i as u8)
    }
}
