//! A pane's terminal state as escape sequences: what a fresh engine of the same size reads to
//! show the same history, screens, cursor, modes, margins, colours and title. A live upgrade
//! hands each pane to the new binary this way — as text a terminal understands, not the old
//! engine's memory layout — so the new binary may carry another engine version.
//!
//! Not carried (a program redraws them, or they are rare enough to lose once): tab stops other
//! than every 8 columns, hyperlinks, underline colours, the primary screen's kitty keyboard
//! stack while the alternate screen is active, a half-parsed escape sequence, a cursor below
//! the margins in origin mode (only a DECRC puts it there; it comes back at the margin).

use std::fmt::Write as _;

use alacritty_terminal::grid::{Charsets, Dimensions, Grid};
use alacritty_terminal::index::{Column, Line};
use alacritty_terminal::term::cell::{Cell, Flags};
use alacritty_terminal::term::TermMode;
use alacritty_terminal::vte::ansi::{CharsetIndex, Color, CursorShape, NamedColor, StandardCharset};

use super::engine::Engine;
use super::history::{HistLine, Style};

/// DEC private modes carried over, with the `TermMode` flag each one sets.
const PRIVATE_MODES: [(u16, TermMode); 14] = [
    (1, TermMode::APP_CURSOR),
    (6, TermMode::ORIGIN),
    (7, TermMode::LINE_WRAP),
    (25, TermMode::SHOW_CURSOR),
    (45, TermMode::REVERSE_WRAP),
    (1000, TermMode::MOUSE_REPORT_CLICK),
    (1002, TermMode::MOUSE_DRAG),
    (1003, TermMode::MOUSE_MOTION),
    (1004, TermMode::FOCUS_IN_OUT),
    (1005, TermMode::UTF8_MOUSE),
    (1006, TermMode::SGR_MOUSE),
    (1007, TermMode::ALTERNATE_SCROLL),
    (1045, TermMode::REVERSE_WRAP_EXTENDED),
    (2004, TermMode::BRACKETED_PASTE),
];

impl Engine {
    /// The whole state as escapes (see the module's comment). Output a synchronized update
    /// holds back is let go of first, so nothing the child wrote is left out.
    pub fn dump(&mut self, title: Option<&str>) -> String {
        self.dump_with_history(title, usize::MAX)
    }

    /// `dump`, with only the last `history` lines of the history.
    pub fn dump_with_history(&mut self, title: Option<&str>, history: usize) -> String {
        let keep = history;
        self.end_sync();
        let mut out = Dump { cols: self.cols(), autowrap: true, ..Dump::default() };
        let term = self.term();
        let mode = *term.mode();
        let alt = mode.contains(TermMode::ALT_SCREEN);
        // The primary screen is the inactive grid while the alternate one is shown.
        let primary = term.inactive_grid().unwrap_or(term.grid());

        // The primary screen's history, then its rows: every line but the last ends in CRLF
        // (or wraps), so the history scrolls off into the new engine's history as it did here.
        let history = self.history();
        for i in history.len().saturating_sub(keep)..history.len() {
            if let Some(line) = history.get(i) {
                out.line(line);
                out.end_line(line.wrapped);
            }
        }
        out.screen(primary);
        out.sgr(Style::DEFAULT);

        if alt {
            // Where the primary cursor goes back to when the program leaves: 1049 saves it.
            out.cursor_to(primary.cursor.point.line.0, primary.cursor.point.column.0);
            out.text.push_str("\x1b[?1049h");
            out.cursor_to(0, 0);
            out.screen(term.grid());
            out.sgr(Style::DEFAULT);
        }

        let grid = term.grid();
        let saved = &grid.saved_cursor;
        if *saved != Default::default() {
            // DECSC keeps origin mode and the charsets: set them only for the save (the margins
            // are still the whole screen here, so the position is the same either way).
            if saved.origin {
                out.text.push_str("\x1b[?6h");
            }
            out.cursor_to(saved.point.line.0, saved.point.column.0);
            out.sgr(Style::of(&saved.template));
            out.charsets(&saved.charsets);
            out.text.push_str("\x1b7\x1b[?6l\x1b(B\x1b)B");
            out.sgr(Style::DEFAULT);
        }

        let region = term.scroll_region();
        if region.start.0 != 0 || region.end.0 as usize != grid.screen_lines() {
            // A one-line region exists only as a bottom margin clamped to the screen: asking
            // for one line more makes the same clamp (top must be above bottom when asked).
            let bottom = region.end.0 + i32::from(region.end.0 - region.start.0 == 1);
            let _ = write!(out.text, "\x1b[{};{bottom}r", region.start.0 + 1);
        }
        for (number, flag) in PRIVATE_MODES {
            let _ = write!(out.text, "\x1b[?{number}{}", if mode.contains(flag) { 'h' } else { 'l' });
        }
        if mode.contains(TermMode::APP_KEYPAD) {
            out.text.push_str("\x1b=");
        }
        if mode.contains(TermMode::INSERT) {
            out.text.push_str("\x1b[4h");
        }
        if mode.contains(TermMode::LINE_FEED_NEW_LINE) {
            out.text.push_str("\x1b[20h");
        }
        for modes in term.keyboard_mode_stack() {
            let _ = write!(out.text, "\x1b[>{}u", modes.bits());
        }
        let colors = term.colors();
        for index in 0..256 {
            if let Some(rgb) = colors[index] {
                let _ = write!(out.text, "\x1b]4;{index};rgb:{:02x}/{:02x}/{:02x}\x1b\\", rgb.r, rgb.g, rgb.b);
            }
        }
        for (osc, index) in [(10, NamedColor::Foreground), (11, NamedColor::Background), (12, NamedColor::Cursor)] {
            if let Some(rgb) = colors[index as usize] {
                let _ = write!(out.text, "\x1b]{osc};rgb:{:02x}/{:02x}/{:02x}\x1b\\", rgb.r, rgb.g, rgb.b);
            }
        }
        if let Some(title) = title {
            // The title came from the child through the engine: no control characters in it.
            let clean: String = title.chars().filter(|c| !c.is_control()).collect();
            let _ = write!(out.text, "\x1b]2;{clean}\x1b\\");
        }
        let style = term.cursor_style();
        let shape = match style.shape {
            CursorShape::Underline => 3,
            CursorShape::Beam => 5,
            _ => 1,
        } + u8::from(!style.blinking);
        let _ = write!(out.text, "\x1b[{shape} q");

        // The cursor last: in origin mode it is placed within the margins.
        let cursor = &grid.cursor;
        let (line, column) = (cursor.point.line.0, cursor.point.column.0);
        if mode.contains(TermMode::ORIGIN) {
            out.cursor_to_in_region(line, column, region.start.0);
        } else {
            out.cursor_to(line, column);
        }
        if cursor.input_needs_wrap {
            // A pending wrap: the last column was just written. Writing it again leaves the
            // cursor in the same state; for a wide character, from its first column.
            let row = &grid[Line(line)];
            if row[Column(column)].flags.contains(Flags::WIDE_CHAR_SPACER) && column > 0 {
                out.text.push_str("\x1b[D");
                rewrite_last_cell(&mut out, &row[Column(column - 1)]);
            } else {
                rewrite_last_cell(&mut out, &row[Column(column)]);
            }
        }
        // The charsets after every character written here, so none of them is translated.
        out.charsets(&cursor.charsets);
        if term.active_charset() == CharsetIndex::G1 {
            out.text.push('\x0e');
        }
        out.sgr(Style::of(&cursor.template));
        out.text
    }
}

fn rewrite_last_cell(out: &mut Dump, cell: &Cell) {
    if cell.flags.intersects(Flags::WIDE_CHAR_SPACER | Flags::LEADING_WIDE_CHAR_SPACER) {
        return;
    }
    out.sgr(Style::of(cell));
    out.text.push(match cell.c {
        '\0' | '\t' => ' ',
        c => c,
    });
    if let Some(extra) = cell.zerowidth() {
        out.text.extend(extra.iter());
    }
}

#[derive(Default)]
struct Dump {
    text: String,
    style: Option<Style>,
    /// The last line ended in a wrap that only the next character makes happen.
    wrap_pending: bool,
    /// Columns written on the current line, of the screen's `cols`.
    written: usize,
    cols: usize,
    /// Whether autowrap is on (as in a fresh engine, until a line says otherwise).
    autowrap: bool,
}

fn starts_wide(line: &HistLine) -> bool {
    let mut first = None;
    line.cells(|cell| {
        first.get_or_insert(cell.wide);
    });
    first == Some(true)
}

impl Dump {
    /// The line before wraps into `next`. A default blank makes the wrap happen, so that a
    /// line scrolled in by it is filled with the default background (as it was when the
    /// program wrote it); the next line's own cells go over it. A line one column short ended
    /// where a wide character did not fit: that character wraps by itself, as it did.
    /// True when `next`'s first cell is what makes the wrap (it must be written before
    /// anything turns autowrap off).
    fn settle_wrap(&mut self, next: Option<&HistLine>) -> bool {
        if !std::mem::take(&mut self.wrap_pending) {
            return false;
        }
        let short = self.cols.saturating_sub(self.written);
        if short == 1 && next.is_some_and(starts_wide) {
            return true;
        }
        self.sgr(Style::DEFAULT);
        if short == 1 {
            // The wide character that did not fit was overwritten since: one that does not
            // fit makes the same wrap, and is erased again.
            self.text.push_str("\u{4e2d}\r\x1b[2X");
            return false;
        }
        self.text.extend(std::iter::repeat_n(' ', short));
        self.text.push_str(" \r");
        false
    }

    fn line(&mut self, line: &HistLine) {
        let first_wraps = self.settle_wrap(Some(line));
        self.written = 0;
        let mut index = 0;
        line.cells(|cell| {
            // Autowrap only for a line that wrapped: written without it, a line that holds
            // what no wrap made (a wide character in the last column) stays as it is.
            if index == usize::from(first_wraps) && self.autowrap != line.wrapped {
                self.autowrap = line.wrapped;
                self.text.push_str(if line.wrapped { "\x1b[?7h" } else { "\x1b[?7l" });
            }
            index += 1;
            self.sgr(cell.style);
            self.text.push_str(cell.text);
            self.written += if cell.wide { 2 } else { 1 };
        });
    }

    /// A screen's rows from where the cursor is (its first column): every row but the last
    /// ends in CRLF or wraps into the next.
    fn screen(&mut self, grid: &Grid<Cell>) {
        let (rows, cols) = (grid.screen_lines(), grid.columns());
        for row in 0..rows {
            let line = HistLine::from_row(&grid[Line(row as i32)], cols);
            if row + 1 < rows {
                self.line(&line);
                self.end_line(line.wrapped);
            } else if line.wrapped && rows > 1 {
                // The last row wrapped without scrolling (the cursor was below the margins).
                // So it does here: margins that leave it out, the row, then its first cell
                // again, which wraps onto the same row and sets its wrap flag.
                self.settle_wrap(None);
                let _ = write!(self.text, "\x1b[1;{}r\x1b[{rows};1H", rows - 1);
                self.line(&line);
                self.first_cell(&line);
                self.text.push_str("\x1b[r");
            } else {
                self.line(&line);
            }
        }
    }

    fn first_cell(&mut self, line: &HistLine) {
        let mut first = true;
        line.cells(|cell| {
            if std::mem::take(&mut first) {
                self.sgr(cell.style);
                self.text.push_str(cell.text);
            }
        });
    }

    /// Between two lines: a wrapped line runs on into the next by itself.
    fn end_line(&mut self, wrapped: bool) {
        self.wrap_pending = wrapped;
        if !wrapped {
            // A newline that scrolls fills the new line with the current background.
            self.sgr(Style::DEFAULT);
            self.text.push_str("\r\n");
        }
    }

    fn charsets(&mut self, charsets: &Charsets) {
        for (index, designate) in [(CharsetIndex::G0, '('), (CharsetIndex::G1, ')')] {
            if charsets[index] == StandardCharset::SpecialCharacterAndLineDrawing {
                let _ = write!(self.text, "\x1b{designate}0");
            }
        }
    }

    fn cursor_to(&mut self, line: i32, column: usize) {
        let _ = write!(self.text, "\x1b[{};{}H", line + 1, column + 1);
    }

    fn cursor_to_in_region(&mut self, line: i32, column: usize, top: i32) {
        let _ = write!(self.text, "\x1b[{};{}H", line - top + 1, column + 1);
    }

    fn sgr(&mut self, style: Style) {
        if self.style == Some(style) {
            return;
        }
        self.style = Some(style);
        self.text.push_str("\x1b[0");
        let flags = style.flags;
        for (flag, code) in [
            (Flags::BOLD, "1"),
            (Flags::DIM, "2"),
            (Flags::ITALIC, "3"),
            (Flags::UNDERLINE, "4"),
            (Flags::DOUBLE_UNDERLINE, "4:2"),
            (Flags::UNDERCURL, "4:3"),
            (Flags::DOTTED_UNDERLINE, "4:4"),
            (Flags::DASHED_UNDERLINE, "4:5"),
            (Flags::INVERSE, "7"),
            (Flags::HIDDEN, "8"),
            (Flags::STRIKEOUT, "9"),
        ] {
            if flags.contains(flag) {
                self.text.push(';');
                self.text.push_str(code);
            }
        }
        color(&mut self.text, style.fg, 30);
        color(&mut self.text, style.bg, 40);
        self.text.push('m');
    }
}

/// One SGR colour parameter: `base` is 30 for the foreground, 40 for the background.
fn color(out: &mut String, color: Color, base: u16) {
    let _ = match color {
        Color::Named(NamedColor::Foreground | NamedColor::Background | NamedColor::Cursor) => Ok(()),
        Color::Named(named) => {
            let index = named as usize;
            let index = if index < 16 { index } else { index.saturating_sub(NamedColor::DimBlack as usize) % 8 };
            let code = if index < 8 { base + index as u16 } else { base + 60 + (index - 8) as u16 };
            write!(out, ";{code}")
        }
        Color::Indexed(index) => write!(out, ";{};5;{index}", base + 8),
        Color::Spec(rgb) => write!(out, ";{};2;{};{};{}", base + 8, rgb.r, rgb.g, rgb.b),
    };
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::pane::engine::{Size, VPoint};
    use crate::pane::writer::PtyWriter;

    fn engine(cols: u16, rows: u16) -> Engine {
        Engine::new(Size { cols, rows }, 1000, PtyWriter::detached(), Arc::default(), Arc::default())
    }

    /// Everything a user or a program can see of an engine: each line's cells with their
    /// styles, history included, the cursor, the modes, the margins, the colours.
    fn seen(e: &Engine) -> String {
        let mut out = String::new();
        let history = e.history_len() as i32;
        for line in -history..e.rows() as i32 {
            let _ = write!(out, "{line:>5}{} ", if e.wrapped(line) { '+' } else { '|' });
            e.cells(line, |c| {
                // A spacer left by an overwritten wide character reads as a blank: the same.
                let flags = c.style.flags - Flags::WIDE_CHAR_SPACER;
                let _ = write!(out, "{}[{:?}/{:?}/{:?}]", c.text, c.style.fg, c.style.bg, flags);
            });
            out.push('\n');
        }
        let term = e.term();
        let grid = term.grid();
        let _ = writeln!(
            out,
            "cursor {:?} wrap {} template {:?} saved {:?}/{:?}/{}",
            grid.cursor.point,
            grid.cursor.input_needs_wrap,
            Style::of(&grid.cursor.template),
            grid.saved_cursor.point,
            Style::of(&grid.saved_cursor.template),
            grid.saved_cursor.origin,
        );
        let _ = writeln!(
            out,
            "mode {:?} region {:?} charset {:?} {:?} keyboard {:?} style {:?}",
            *term.mode(),
            term.scroll_region(),
            term.active_charset(),
            grid.cursor.charsets,
            term.keyboard_mode_stack(),
            term.cursor_style(),
        );
        if let Some(primary) = term.inactive_grid() {
            let _ = writeln!(out, "primary cursor {:?}", primary.cursor.point);
            for row in 0..primary.screen_lines() {
                let line = HistLine::from_row(&primary[Line(row as i32)], primary.columns());
                let _ = writeln!(out, "primary {row}{} {}", if line.wrapped { '+' } else { '|' }, line.text());
            }
        }
        for i in 0..259 {
            if let Some(rgb) = term.colors()[i] {
                let _ = writeln!(out, "color {i} {rgb:?}");
            }
        }
        out
    }

    fn round_trip(e: &mut Engine) -> Engine {
        let size = e.size();
        let text = e.dump(None);
        let mut copy = engine(size.cols, size.rows);
        copy.advance(text.as_bytes());
        copy
    }

    fn assert_same(a: &Engine, b: &Engine, what: &str) {
        let (a, b) = (seen(a), seen(b));
        if a != b {
            let first = a.lines().zip(b.lines()).position(|(x, y)| x != y).unwrap_or(0);
            panic!(
                "{what}: the copy differs at line {first}:\n  original {:?}\n  copy     {:?}",
                a.lines().nth(first).map(|l| l.chars().take(300).collect::<String>()),
                b.lines().nth(first).map(|l| l.chars().take(300).collect::<String>())
            );
        }
    }

    #[test]
    fn a_shell_screen_with_history_comes_back_cell_for_cell() {
        let mut e = engine(20, 5);
        let mut stream = String::new();
        for i in 0..40 {
            let _ = write!(stream, "\x1b[3{}mline {i} \x1b[1;4;48;5;{}mbold\x1b[m tail\r\n", i % 8, i * 5);
        }
        // A line that wraps, wide characters, combining marks, a coloured erase.
        stream.push_str("a long line that wraps past twenty columns\r\n日本語 é\u{301}\r\n\x1b[44m\x1b[K\x1b[m$ ");
        e.advance(stream.as_bytes());
        let copy = round_trip(&mut e);
        assert!(e.history_len() > 30);
        assert_same(&e, &copy, "a shell");
    }

    #[test]
    fn a_full_screen_program_comes_back_with_the_screen_under_it() {
        let mut e = engine(30, 8);
        e.advance(
            b"$ ls\r\nfile one\r\n$ vim\x1b[?1049h\x1b[H\x1b[2J\x1b[1;7r~\r\n~\r\n\x1b[8;1H\x1b[7m-- INSERT --\x1b[m",
        );
        e.advance(b"\x1b[?1h\x1b=\x1b[?2004h\x1b[?1002h\x1b[?1006h\x1b[?25l\x1b[3;5H\x1b7\x1b[31m\x1b[6 q\x1b[>1u");
        e.advance(b"\x1b]2;vim file\x07\x1b]11;rgb:ff/ff/f0\x07\x1b]4;3;rgb:12/34/56\x07\x1b(0\x1b[2;4H");
        let mut copy = round_trip(&mut e);
        assert_same(&e, &copy, "vim's screen");
        // And when the program leaves, the screen it covered comes back, cursor and all.
        e.advance(b"\x1b[?1049l");
        copy.advance(b"\x1b[?1049l");
        assert_same(&e, &copy, "the shell under vim");
        assert_eq!(copy.line_text(1), "file one");
    }

    #[test]
    fn margins_origin_mode_and_a_pending_wrap_come_back() {
        let mut e = engine(10, 6);
        e.advance(b"\x1b[2;5r\x1b[?6h\x1b[2;3H\x1b7\x1b[4;1H0123456789");
        let copy = round_trip(&mut e);
        assert!(e.term().grid().cursor.input_needs_wrap);
        assert_same(&e, &copy, "margins");
        // The next character wraps in both, within the margins.
        let (mut e, mut copy) = (e, copy);
        e.advance(b"X\r\nY");
        copy.advance(b"X\r\nY");
        assert_same(&e, &copy, "after the wrap");
    }

    #[test]
    fn the_history_is_the_history_and_the_view_starts_live() {
        let mut e = engine(12, 3);
        let text: String = (0..500).map(|i| format!("{i}\r\n")).collect();
        e.advance(text.as_bytes());
        e.set_scroll(10);
        let copy = round_trip(&mut e);
        assert_eq!(copy.history_len(), e.history_len());
        assert_eq!(copy.line_text(-(e.history_len() as i32)), "0");
        assert_eq!(copy.scroll_offset(), 0);
        assert_eq!(copy.cursor(), e.cursor());
        let _ = VPoint { line: 0, col: 0 };
    }

    /// Random streams of what programs write: text, colours, wide characters, cursor moves,
    /// erases, margins, scrolls, the alternate screen, modes. The copy must match each time.
    #[test]
    fn generated_streams_come_back_as_they_were() {
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for round in 0..200 {
            let (cols, rows) = (4 + next(40) as u16, 2 + next(12) as u16);
            let mut e = engine(cols, rows);
            let mut s = String::new();
            for _ in 0..200 {
                match next(16) {
                    0 => s.push_str("\r\n"),
                    1 => {
                        let _ = write!(s, "\x1b[{};{}H", 1 + next(rows as u64 + 2), 1 + next(cols as u64 + 2));
                    }
                    2 => {
                        let _ = write!(s, "\x1b[3{};4{}m", next(10), next(10));
                    }
                    3 => s.push_str(["\x1b[1m", "\x1b[7m", "\x1b[4m", "\x1b[m", "\x1b[38;2;1;2;3m"][next(5) as usize]),
                    4 => s.push_str(["日", "本", "é\u{301}", "x"][next(4) as usize]),
                    5 => s.push_str(["\x1b[K", "\x1b[1K", "\x1b[J", "\x1b[2K", "\x1b[3X"][next(5) as usize]),
                    6 => {
                        let top = 1 + next(rows as u64);
                        let _ = write!(s, "\x1b[{top};{}r", top + next(rows as u64));
                    }
                    7 => s.push_str(["\x1b[S", "\x1b[T", "\x1bM", "\x1bD", "\x1b[L", "\x1b[M"][next(6) as usize]),
                    8 => s.push_str(["\x1b[?1049h", "\x1b[?1049l", "\x1b[?47h", "\x1b[?47l"][next(4) as usize]),
                    // Not autowrap off: with it alacritty can leave a wide character without
                    // its second half, which no stream of escapes recreates.
                    9 => s.push_str(
                        ["\x1b[?6h", "\x1b[?6l", "\x1b[?1006h", "\x1b[?1004h", "\x1b[4h", "\x1b[4l"][next(6) as usize],
                    ),
                    10 => s.push_str(["\x1b7", "\x1b8", "\x1b(0", "\x1b(B", "\x0e", "\x0f"][next(6) as usize]),
                    11 => {
                        s.push_str(["\x1b[?1h", "\x1b[?2004h", "\x1b[?1000h", "\x1b[>3u", "\x1b[<u"][next(5) as usize])
                    }
                    _ => {
                        let len = next(3 * cols as u64) as usize;
                        s.extend((0..len).map(|i| (b'a' + (i % 26) as u8) as char));
                    }
                }
            }
            e.advance(s.as_bytes());
            let copy = round_trip(&mut e);
            assert_same(&e, &copy, &format!("round {round} ({cols}x{rows}): {s:?}"));
        }
    }
}
