//! Scrollback beyond the engine's short history, kept compact: a line is its text plus runs of
//! attributes, about 5 % of what the engine spends on the same line (24 bytes a cell, full width).
//! Bounded in lines and in bytes; reflowed when the pane's width changes.

use std::collections::VecDeque;

use alacritty_terminal::grid::Row;
use alacritty_terminal::index::Column;
use alacritty_terminal::term::cell::{Cell, Flags};
use alacritty_terminal::vte::ansi::{Color, NamedColor};
use unicode_width::UnicodeWidthChar;

/// Flags that describe a cell's look; the rest (wide-character bookkeeping, wrap) are layout.
const STYLE_FLAGS: Flags = Flags::INVERSE
    .union(Flags::BOLD)
    .union(Flags::ITALIC)
    .union(Flags::ALL_UNDERLINES)
    .union(Flags::DIM)
    .union(Flags::HIDDEN)
    .union(Flags::STRIKEOUT);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    pub fg: Color,
    pub bg: Color,
    pub flags: Flags,
}

impl Style {
    pub const DEFAULT: Style = Style {
        fg: Color::Named(NamedColor::Foreground),
        bg: Color::Named(NamedColor::Background),
        flags: Flags::empty(),
    };

    pub fn of(cell: &Cell) -> Style {
        Style { fg: cell.fg, bg: cell.bg, flags: cell.flags & STYLE_FLAGS }
    }
}

/// A run of `cells` consecutive cells (characters, not columns) sharing one style.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Run {
    cells: u16,
    style: Style,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistLine {
    /// Each cell's character followed by its combining marks; a wide character appears once.
    text: Box<str>,
    runs: Box<[Run]>,
    /// The line continues on the next one (it was wrapped, not ended).
    pub wrapped: bool,
}

/// One cell of a line as a reader sees it.
pub struct CellRef<'a> {
    pub col: usize,
    pub text: &'a str,
    pub wide: bool,
    pub style: Style,
}

impl HistLine {
    pub fn from_row(row: &Row<Cell>, cols: usize) -> HistLine {
        let wrapped = cols > 0 && row[Column(cols - 1)].flags.contains(Flags::WRAPLINE);
        // Cells past the last occupied one are blank: a wrapped line keeps them (they join the
        // next line), an ended line drops them.
        let used = if wrapped { cols } else { occupied(row, cols) };
        let mut text = String::with_capacity(used);
        let mut runs: Vec<Run> = Vec::with_capacity(4);
        let mut cells = 0; // cells so far
        let mut last_visible = 0; // cells up to the last non-blank one
        let mut text_visible = 0;
        for (col, cell) in row[..Column(used)].iter().enumerate() {
            if is_spacer(row, col) {
                continue;
            }
            let base = match cell.c {
                c @ ' '..='~' => c,
                '\t' | '\0' => ' ',
                c if c.width().unwrap_or(0) == 0 => ' ',
                c => c,
            };
            text.push(base);
            if let Some(extra) = cell.zerowidth() {
                text.extend(extra.iter().filter(|c| c.width() == Some(0)));
            }
            let style = Style::of(cell);
            match runs.last_mut() {
                Some(run) if run.style == style => run.cells += 1,
                _ => runs.push(Run { cells: 1, style }),
            }
            cells += 1;
            if base != ' ' || style != Style::DEFAULT {
                last_visible = cells;
                text_visible = text.len();
            }
        }
        if !wrapped {
            // Trailing default blanks carry nothing; a wrapped line keeps them (they join the next).
            text.truncate(text_visible);
            let mut left = last_visible;
            runs.retain_mut(|r| {
                let keep = left > 0;
                r.cells = r.cells.min(left as u16);
                left -= r.cells as usize;
                keep
            });
        }
        HistLine { text: text.into(), runs: plain_is_no_runs(runs).into(), wrapped }
    }

    /// Approximate heap and inline bytes, for the byte bound.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<HistLine>() + self.text.len() + self.runs.len() * std::mem::size_of::<Run>()
    }

    /// Visit each cell left to right.
    pub fn cells(&self, mut f: impl FnMut(CellRef<'_>)) {
        let mut runs = self.runs.iter();
        let mut run = runs.next().copied();
        let mut left = run.map_or(0, |r| r.cells);
        let mut col = 0;
        let text = &*self.text;
        let mut iter = text.char_indices().peekable();
        while let Some((i, c)) = iter.next() {
            // The cell's text: this character and the zero-width ones after it.
            let mut end = i + c.len_utf8();
            while let Some(&(j, next)) = iter.peek() {
                if next.width() == Some(0) {
                    end = j + next.len_utf8();
                    iter.next();
                } else {
                    break;
                }
            }
            let wide = c.width() == Some(2);
            let style = run.map_or(Style::DEFAULT, |r| r.style);
            f(CellRef { col, text: &text[i..end], wide, style });
            col += if wide { 2 } else { 1 };
            left = left.saturating_sub(1);
            if left == 0 {
                run = runs.next().copied();
                left = run.map_or(0, |r| r.cells);
            }
        }
    }

    #[cfg(test)]
    pub fn text(&self) -> String {
        let mut out = String::with_capacity(self.text.len());
        self.cells(|c| out.push_str(c.text));
        out.truncate(out.trim_end().len());
        out
    }
}

/// Whether the cell at `col` is the hidden half of a wide character: the second half of one,
/// or the blank left at the end of a line where one did not fit. A second half whose wide
/// character was overwritten shows as a blank, so the columns after it stay where they are.
pub fn is_spacer(row: &Row<Cell>, col: usize) -> bool {
    let flags = row[Column(col)].flags;
    flags.contains(Flags::LEADING_WIDE_CHAR_SPACER)
        || (flags.contains(Flags::WIDE_CHAR_SPACER) && col > 0 && row[Column(col - 1)].flags.contains(Flags::WIDE_CHAR))
}

/// Cells up to the last one that shows anything: a character, or a colour or attribute on a
/// blank (a coloured erase, a status bar's background), which tmux keeps in history too.
fn occupied(row: &Row<Cell>, cols: usize) -> usize {
    let cols = cols.min(row.len());
    row[..Column(cols)]
        .iter()
        .rposition(|cell| {
            !matches!(cell.c, ' ' | '\t' | '\0')
                || cell.zerowidth().is_some_and(|z| !z.is_empty())
                || Style::of(cell) != Style::DEFAULT
        })
        .map_or(0, |i| i + 1)
}

/// A line all in the default style keeps no runs (no allocation): most of a shell's history.
fn plain_is_no_runs(mut runs: Vec<Run>) -> Vec<Run> {
    if runs.iter().all(|r| r.style == Style::DEFAULT) {
        runs.clear();
        runs.shrink_to_fit();
    }
    runs
}

pub struct History {
    lines: VecDeque<HistLine>,
    bytes: usize,
    max_lines: usize,
    max_bytes: usize,
    /// The width the lines were laid out for.
    cols: usize,
}

impl History {
    pub fn new(max_lines: usize, max_bytes: usize, cols: usize) -> History {
        History { lines: VecDeque::new(), bytes: 0, max_lines, max_bytes, cols }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Line `i`, 0 the oldest.
    pub fn get(&self, i: usize) -> Option<&HistLine> {
        self.lines.get(i)
    }

    pub fn push(&mut self, line: HistLine) {
        // Make room first, so that a full history never holds one line more than its limit.
        if self.lines.len() >= self.max_lines.max(1) {
            if let Some(old) = self.lines.pop_front() {
                self.bytes -= old.bytes();
            }
        }
        // Grow by doubling, but never past the limit: a full history is a ring that moves
        // through every slot it has, so slack beyond the limit would be touched memory too.
        if self.lines.len() == self.lines.capacity() {
            let want = (self.lines.len() * 2).clamp(16, self.max_lines.max(16));
            self.lines.reserve_exact(want.saturating_sub(self.lines.len()));
        }
        self.bytes += line.bytes();
        self.lines.push_back(line);
        while self.lines.len() > self.max_lines || (self.bytes > self.max_bytes && self.lines.len() > 1) {
            if let Some(old) = self.lines.pop_front() {
                self.bytes -= old.bytes();
            }
        }
    }

    pub fn clear(&mut self) {
        self.lines.clear();
        self.bytes = 0;
    }

    /// Lay the lines out again for a new width: wrapped lines join and split anew.
    pub fn reflow(&mut self, cols: usize) {
        if cols == self.cols || cols == 0 {
            return;
        }
        self.cols = cols;
        let old = std::mem::take(&mut self.lines);
        self.bytes = 0;
        let mut logical: Vec<(String, bool, Style)> = Vec::new();
        for line in old {
            line.cells(|c| logical.push((c.text.to_string(), c.wide, c.style)));
            if !line.wrapped {
                for l in split(&logical, cols) {
                    self.push(l);
                }
                logical.clear();
            }
        }
        if !logical.is_empty() {
            for l in split(&logical, cols) {
                self.push(l);
            }
        }
    }
}

/// Cut one logical line into lines of at most `cols` columns, never through a wide character.
fn split(cells: &[(String, bool, Style)], cols: usize) -> Vec<HistLine> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut runs: Vec<Run> = Vec::new();
    let mut width = 0;
    let finish = |text: &mut String, runs: &mut Vec<Run>, wrapped: bool, out: &mut Vec<HistLine>| {
        out.push(HistLine {
            text: std::mem::take(text).into(),
            runs: plain_is_no_runs(std::mem::take(runs)).into(),
            wrapped,
        });
    };
    for (cell, wide, style) in cells {
        let w = if *wide { 2 } else { 1 };
        if width + w > cols {
            finish(&mut text, &mut runs, true, &mut out);
            width = 0;
        }
        text.push_str(cell);
        match runs.last_mut() {
            Some(run) if run.style == *style => run.cells += 1,
            _ => runs.push(Run { cells: 1, style: *style }),
        }
        width += w;
    }
    finish(&mut text, &mut runs, false, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pane::engine::{Engine, Size};

    fn engine_rows(input: &str, cols: u16) -> (Engine, Vec<HistLine>) {
        let (tx, _rx) = crate::pane::writer::PtyWriter::channel();
        let mut e = Engine::new(Size { cols, rows: 3 }, 1000, tx, Default::default(), Default::default());
        e.advance(input.as_bytes());
        let grid = e.term().grid();
        let lines =
            (0..3).map(|l| HistLine::from_row(&grid[alacritty_terminal::index::Line(l)], cols as usize)).collect();
        (e, lines)
    }

    #[test]
    fn keeps_text_wide_characters_and_styles() {
        let (_e, lines) = engine_rows("a\x1b[31m日本\x1b[0m e\u{301}\r\n", 10);
        assert_eq!(lines[0].text(), "a日本 e\u{301}");
        let mut cols = Vec::new();
        lines[0].cells(|c| cols.push((c.col, c.text.to_string(), c.style.fg)));
        assert_eq!(cols[1], (1, "日".to_string(), Color::Named(NamedColor::Red)));
        assert_eq!(cols[2].0, 3);
        assert_eq!(cols[4], (6, "e\u{301}".to_string(), Color::Named(NamedColor::Foreground)));
        assert!(lines[0].bytes() < 100, "{}", lines[0].bytes());
    }

    #[test]
    fn a_plain_line_holds_no_runs() {
        let (_e, lines) = engine_rows("plain text\r\n\x1b[1mbold\x1b[0m\r\n", 20);
        assert!(lines[0].runs.is_empty(), "{:?}", lines[0].runs);
        assert_eq!(lines[1].runs.len(), 1);
        let mut styles = Vec::new();
        lines[0].cells(|c| styles.push(c.style));
        assert!(styles.len() == 10 && styles.iter().all(|s| *s == Style::DEFAULT));
    }

    #[test]
    fn reflow_joins_and_splits_wrapped_lines() {
        let (_e, lines) = engine_rows("abcdefghij", 4);
        assert!(lines[0].wrapped && lines[1].wrapped && !lines[2].wrapped);
        let mut h = History::new(100, 1 << 20, 4);
        for l in lines {
            h.push(l);
        }
        h.reflow(6);
        let texts: Vec<String> = (0..h.len()).map(|i| h.get(i).unwrap().text()).collect();
        assert_eq!(texts, vec!["abcdef", "ghij"]);
    }

    #[test]
    fn bounded_in_lines_and_bytes() {
        let (_e, lines) = engine_rows("hello\r\n", 10);
        let mut h = History::new(5, 1 << 20, 10);
        for _ in 0..10 {
            h.push(lines[0].clone());
        }
        assert_eq!(h.len(), 5);
        let mut h = History::new(1000, lines[0].bytes() * 3, 10);
        for _ in 0..10 {
            h.push(lines[0].clone());
        }
        assert_eq!(h.len(), 3);
    }

    /// A full history keeps no slots beyond its limit (they would be touched as the ring
    /// turns): 10,000 lines hold room for 10,000, not the 16,384 of plain doubling.
    #[test]
    fn a_full_history_holds_no_room_past_its_limit() {
        let (_e, lines) = engine_rows("y\r\n", 10);
        let line = lines[0].clone();
        let mut h = History::new(10_000, usize::MAX, 80);
        for _ in 0..25_000 {
            h.push(line.clone());
        }
        assert_eq!(h.len(), 10_000);
        assert!(h.lines.capacity() <= 10_016, "capacity {}", h.lines.capacity());
    }
}
