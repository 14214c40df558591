//! Drawing a pane's screen (or its history, when scrolled) into a ratatui buffer.

use alacritty_terminal::term::cell::Flags;
use alacritty_terminal::term::TermDamage;
use alacritty_terminal::vte::ansi::{Color as VtColor, CursorShape, NamedColor};
use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use unicode_width::UnicodeWidthStr;

use crate::pane::engine::{Engine, Selection, VPoint};

/// Where the terminal cursor goes and in which DECSCUSR shape.
pub struct CursorSpot {
    pub position: Position,
    pub shape: u8,
}

pub struct Highlight {
    pub selection_bg: Color,
    pub selection_fg: Color,
}

/// A pane's screen converted to ratatui cells, kept between frames. Only the lines the
/// engine reports as damaged are converted again, so an echoed key costs one line.
#[derive(Default)]
pub struct ViewCache {
    rows: Vec<Vec<ratatui::buffer::Cell>>,
    /// A stamp per row, new each time the row is converted: a client that drew a row with
    /// the same stamp need not copy it again.
    stamps: Vec<u64>,
    next_stamp: u64,
    cols: usize,
    scroll: usize,
    history: usize,
    selection: Option<Selection>,
}

impl ViewCache {
    /// Bring the cache up to date with the engine and forget its damage.
    fn refresh(&mut self, engine: &mut Engine, hl: &Highlight) {
        let (rows, cols, scroll, history) =
            (engine.rows(), engine.cols(), engine.scroll_offset(), engine.history_len());
        let selection = engine.selection;
        let mut damaged: Vec<usize> = Vec::new();
        let all_damaged = match engine.term_mut().damage() {
            TermDamage::Full => true,
            TermDamage::Partial(lines) => {
                damaged.extend(lines.map(|l| l.line));
                false
            }
        };
        engine.term_mut().reset_damage();
        let moved = scroll > 0 && (history != self.history || !damaged.is_empty());
        let full = all_damaged
            || moved
            || self.rows.len() != rows
            || self.cols != cols
            || self.scroll != scroll
            || self.selection != selection;
        if full {
            self.rows.resize_with(rows, Vec::new);
            self.stamps.resize(rows, 0);
            damaged = (0..rows).collect();
        }
        (self.cols, self.scroll, self.history, self.selection) = (cols, scroll, history, selection);
        let palette = engine.term().colors();
        let mut symbol = String::with_capacity(8);
        for row in damaged.into_iter().filter(|&r| r < rows) {
            self.next_stamp += 1;
            self.stamps[row] = self.next_stamp;
            let line = row as i32 - scroll as i32;
            let out = &mut self.rows[row];
            out.clear();
            out.resize(cols, ratatui::buffer::Cell::EMPTY);
            engine.cells(line, |c| {
                let Some(cell) = out.get_mut(c.col) else { return };
                symbol.clear();
                cell_symbol(c.text, c.wide, &mut symbol);
                // A wide character in the last column would spill past the pane.
                if c.wide && c.col + 1 >= cols {
                    symbol.clear();
                    symbol.push(' ');
                }
                let mut style = cell_style(c.style.fg, c.style.bg, c.style.flags, palette);
                if selection.is_some_and(|s| s.contains(VPoint { line, col: c.col })) {
                    style = style.bg(hl.selection_bg).fg(hl.selection_fg).remove_modifier(Modifier::REVERSED);
                }
                cell.set_symbol(&symbol);
                cell.set_style(style);
            });
        }
    }
}

/// What one client's frame holds of a pane: where, and the stamp of each row it copied.
#[derive(Default, Clone)]
pub struct Drawn {
    area: Rect,
    stamps: Vec<u64>,
}

/// Draw the visible part of `engine` into `area`; returns the cursor if it is on screen.
/// `drawn` is what this client's buffer already holds of the pane (rows not re-copied);
/// `touched` gets the buffer rows that were written.
#[allow(clippy::too_many_arguments)]
pub fn draw(
    buf: &mut Buffer,
    area: Rect,
    engine: &mut Engine,
    cache: &mut ViewCache,
    drawn: &mut Drawn,
    hl: &Highlight,
    copy_cursor: Option<VPoint>,
    touched: &mut Vec<u16>,
) -> Option<CursorSpot> {
    cache.refresh(engine, hl);
    let cols = (area.width as usize).min(cache.cols);
    let rows = (area.height as usize).min(cache.rows.len());
    if drawn.area != area {
        *drawn = Drawn { area, stamps: vec![0; area.height as usize] };
        // Rows or columns the pane does not fill (a size change still settling) stay blank.
        for y in area.y..area.bottom() {
            for x in area.x..area.right() {
                buf[(x, y)].reset();
            }
            touched.push(y);
        }
    }
    for (row, cells) in cache.rows.iter().take(rows).enumerate() {
        if drawn.stamps[row] == cache.stamps[row] {
            continue;
        }
        drawn.stamps[row] = cache.stamps[row];
        touched.push(area.y + row as u16);
        let start = buf.index_of(area.x, area.y + row as u16);
        buf.content[start..start + cols].clone_from_slice(&cells[..cols]);
    }
    let scroll = engine.scroll_offset() as i32;

    if let Some(point) = copy_cursor {
        let row = point.line + scroll;
        if row >= 0 && (row as usize) < rows && point.col < cols {
            return Some(CursorSpot {
                position: Position::new(area.x + point.col as u16, area.y + row as u16),
                shape: 2,
            });
        }
        return None;
    }
    if scroll != 0 || !engine.mode().contains(alacritty_terminal::term::TermMode::SHOW_CURSOR) {
        return None;
    }
    let cursor = engine.cursor();
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
fn cell_symbol(text: &str, wide: bool, out: &mut String) {
    let mut chars = text.chars();
    let base = match chars.next() {
        Some(c) if !c.is_control() => c,
        _ => ' ',
    };
    out.push(base);
    if chars.as_str().is_empty() {
        return;
    }
    out.push_str(chars.as_str());
    let expected = if wide { 2 } else { 1 };
    if out.as_str().width() != expected {
        out.clear();
        out.push(base);
    }
}

fn cell_style(fg: VtColor, bg: VtColor, f: Flags, palette: &alacritty_terminal::term::color::Colors) -> Style {
    let style = Style::default().fg(color(fg, palette)).bg(color(bg, palette));
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
    style.add_modifier(m)
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

#[cfg(test)]
mod timing {
    use super::*;
    use crate::pane::engine::Size;

    #[test]
    #[ignore]
    fn draw_cost() {
        let (tx, _rx) = crate::pane::writer::PtyWriter::channel();
        let mut e = Engine::new(Size { cols: 200, rows: 50 }, 100, tx, Default::default(), Default::default());
        for i in 0..60 {
            e.advance(format!("\x1b[3{}mline {i} {}\r\n", i % 8, "abcdefghij".repeat(19)).as_bytes());
        }
        let hl = Highlight { selection_bg: Color::Red, selection_fg: Color::Blue };
        let area = Rect::new(0, 0, 200, 50);
        let mut buf = Buffer::empty(area);
        let mut cache = ViewCache::default();
        let t = std::time::Instant::now();
        for _ in 0..1000 {
            draw(&mut buf, area, &mut e, &mut cache, &mut Drawn::default(), &hl, None, &mut Vec::new());
        }
        eprintln!("pane_view::draw {:?}", t.elapsed() / 1000);
        let mut frame = crate::ui::frame::FrameWriter::new(200, 52);
        let mut drawn = Drawn::default();
        let t = std::time::Instant::now();
        for i in 0..1000 {
            e.advance(if i % 2 == 0 { b"x" } else { b"\x08 \x08" });
            let mut touched = Vec::new();
            draw(frame.begin(), area, &mut e, &mut cache, &mut drawn, &hl, None, &mut touched);
            for y in touched {
                frame.touch(y);
            }
            frame.present(None);
        }
        eprintln!("draw + present, one key {:?}", t.elapsed() / 1000);
    }
}
