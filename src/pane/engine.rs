//! The terminal engine behind one small interface: alacritty_terminal's `Term` and
//! its VT parser. Everything else in sbx talks to panes through this module, so the
//! engine's sharp edges are guarded in one place:
//! - sizes are clamped to at least 2 columns and 1 row (below that alacritty panics);
//! - a synchronized update (`?2026`) that never ends is ended by its deadline;
//! - resize happens only when the size really changes (reflow is expensive).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use alacritty_terminal::event::{Event, EventListener, WindowSize};
use alacritty_terminal::grid::{Dimensions, Row};
use alacritty_terminal::index::{Column, Line, Point};
use alacritty_terminal::term::cell::{Cell, Flags};
use alacritty_terminal::term::{Config, Term, TermMode};
use alacritty_terminal::vte::ansi::{self, Processor, Rgb, StdSyncHandler};

use super::history::{CellRef, HistLine, History, Style as HistStyle};
use super::scan::{Control, Scanner, MAX_SCROLL_PER_PIECE};
pub use super::selection::{Selection, VPoint};
use super::writer::PtyWriter;

pub const MIN_COLS: u16 = 2;
pub const MIN_ROWS: u16 = 1;
/// The largest terminal sbx draws for (as `sbx new --size` allows): every size that comes
/// from outside — a client's terminal, an attach, a new session — is clamped to it, since
/// a frame costs memory per cell (65535×65535 would be tens of gigabytes).
pub const MAX_COLS: u16 = 1000;
pub const MAX_ROWS: u16 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub cols: u16,
    pub rows: u16,
}

impl Size {
    pub fn clamped(cols: u16, rows: u16) -> Size {
        Size { cols: cols.clamp(MIN_COLS, MAX_COLS), rows: rows.clamp(MIN_ROWS, MAX_ROWS) }
    }
}

impl Dimensions for Size {
    fn total_lines(&self) -> usize {
        self.rows as usize
    }
    fn screen_lines(&self) -> usize {
        self.rows as usize
    }
    fn columns(&self) -> usize {
        self.cols as usize
    }
}

/// What the child asked of the outside world since the server last looked.
#[derive(Debug, Default)]
pub struct Signals {
    pub title: Option<String>,
    pub title_changed: bool,
    pub bell: bool,
    /// OSC 52 copies to forward to the clients' terminals.
    pub clipboard: Vec<String>,
}

/// The colours of the terminal the user looks at (the last attached client's, as it
/// answered OSC 10/11/4), shared by every pane: what a program that asks is told, unless it
/// set the colour itself (the engine answers that one).
pub type OuterColors = Arc<Mutex<crate::protocol::TerminalColors>>;

/// Receives the engine's events. Replies to the child's queries go straight to the
/// pane's writer thread, so answering a DA or DSR never waits for the server loop.
#[derive(Clone)]
pub struct Listener {
    pty_tx: PtyWriter,
    signals: Arc<Mutex<Signals>>,
    size: Arc<Mutex<Size>>,
    outer: OuterColors,
    /// Lines that scrolled off the screen since the engine last moved them to its history:
    /// taken as they leave, so the grid holds only the screen's full-width rows.
    scrolled: Vec<HistLine>,
}

impl EventListener for Listener {
    fn takes_scrolled_lines(&self) -> bool {
        true
    }

    fn scrolled_off(&mut self, row: &Row<Cell>) {
        self.scrolled.push(HistLine::from_row(row, row.len()));
    }

    fn send_event(&self, event: Event) {
        match event {
            Event::PtyWrite(text) => {
                self.pty_tx.send(text.into_bytes());
            }
            Event::Title(title) => {
                let mut s = lock(&self.signals);
                s.title = Some(title);
                s.title_changed = true;
            }
            Event::ResetTitle => {
                let mut s = lock(&self.signals);
                s.title = None;
                s.title_changed = true;
            }
            Event::Bell => lock(&self.signals).bell = true,
            Event::ClipboardStore(_, text) => lock(&self.signals).clipboard.push(text),
            Event::ColorRequest(index, format) => {
                let color = match lock(&self.outer).slot(index) {
                    Some([r, g, b]) => Rgb { r, g, b },
                    None => default_color(index),
                };
                self.pty_tx.send(format(color).into_bytes());
            }
            Event::TextAreaSizeRequest(format) => {
                let size = *lock(&self.size);
                let window = WindowSize { num_lines: size.rows, num_cols: size.cols, cell_width: 8, cell_height: 16 };
                self.pty_tx.send(format(window).into_bytes());
            }
            _ => {}
        }
    }
}

/// A poisoned lock only means another thread panicked mid-update; the data is still usable.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The colour sbx reports when a child asks (OSC 4/10/11) and neither it nor the user's
/// terminal said: xterm's defaults.
fn default_color(index: usize) -> Rgb {
    const BASE: [(u8, u8, u8); 16] = [
        (0, 0, 0),
        (205, 0, 0),
        (0, 205, 0),
        (205, 205, 0),
        (0, 0, 238),
        (205, 0, 205),
        (0, 205, 205),
        (229, 229, 229),
        (127, 127, 127),
        (255, 0, 0),
        (0, 255, 0),
        (255, 255, 0),
        (92, 92, 255),
        (255, 0, 255),
        (0, 255, 255),
        (255, 255, 255),
    ];
    let (r, g, b) = match index {
        0..=15 => BASE[index],
        16..=231 => {
            let i = index - 16;
            let level = |v: usize| if v == 0 { 0 } else { (55 + v * 40) as u8 };
            (level(i / 36), level((i / 6) % 6), level(i % 6))
        }
        232..=255 => {
            let v = (8 + (index - 232) * 10) as u8;
            (v, v, v)
        }
        // 256 foreground, 257 background, 258 cursor, then the dim colours.
        257 => (0, 0, 0),
        _ => (229, 229, 229),
    };
    Rgb { r, g, b }
}

/// How many scrolled-off lines the engine itself may hold before they move to the compact
/// history (they move after every piece of output): the most one piece can scroll, which is
/// the scanner's bound plus one more screen (a `CSI S` scrolls up to a screen at once). Every
/// line held here costs a full-width row, so this is kept as small as that allows.
fn engine_history(rows: u16) -> usize {
    MAX_SCROLL_PER_PIECE + rows as usize
}
/// The compact history's byte bound, next to its line bound (the `scrollback` setting).
pub const HISTORY_BYTES: usize = 64 * 1024 * 1024;

pub struct Engine {
    /// What is selected for copying (copy mode or a mouse drag).
    pub selection: Option<Selection>,
    term: Term<Listener>,
    parser: Processor<StdSyncHandler>,
    size: Arc<Mutex<Size>>,
    history: History,
    scanner: Scanner,
    /// How many lines the view is scrolled up into the history (0: the live screen).
    scroll: usize,
    /// Web viewers of the pane read what the engine takes, as it takes it (see `watch`).
    tap: Option<Tap>,
}

/// The bytes a pane's engine takes, for its web viewers: one bounded ring per pane whoever
/// watches, so a viewer that falls behind loses its place (and starts again from a dump)
/// instead of holding memory.
pub type Tap = tokio::sync::broadcast::Sender<Arc<[u8]>>;
/// Chunks the ring keeps (each at most one read, 64 KiB).
pub const TAP_CHUNKS: usize = 64;
/// What a viewer reads: the chunks after the dump it was given.
pub type Watching = tokio::sync::broadcast::Receiver<Arc<[u8]>>;

impl Engine {
    pub fn new(
        size: Size,
        scrollback: usize,
        pty_tx: PtyWriter,
        signals: Arc<Mutex<Signals>>,
        outer: OuterColors,
    ) -> Engine {
        let size = Size::clamped(size.cols, size.rows);
        let shared_size = Arc::new(Mutex::new(size));
        let config = Config { scrolling_history: engine_history(size.rows), kitty_keyboard: true, ..Config::default() };
        let listener = Listener { pty_tx, signals, size: shared_size.clone(), outer, scrolled: Vec::new() };
        Engine {
            selection: None,
            term: Term::new(config, &size, listener),
            parser: Processor::new(),
            size: shared_size,
            history: History::new(scrollback, HISTORY_BYTES, size.cols as usize),
            scanner: Scanner::default(),
            scroll: 0,
            tap: None,
        }
    }

    /// The screen and the last `history` lines as escapes a fresh terminal replays, and the
    /// bytes taken after them, in order (both under the engine's lock: nothing between).
    pub fn watch(&mut self, title: Option<&str>, history: usize) -> (String, Watching) {
        let tap = self.tap.get_or_insert_with(|| tokio::sync::broadcast::channel(TAP_CHUNKS).0);
        let watching = tap.subscribe();
        (self.dump_with_history(title, history), watching)
    }

    /// How many viewers (browsers) follow the output now.
    pub fn viewers(&self) -> usize {
        self.tap.as_ref().map_or(0, |t| t.receiver_count())
    }

    pub fn advance(&mut self, bytes: &[u8]) {
        if let Some(tap) = self.tap.as_ref().filter(|t| t.receiver_count() > 0) {
            let _ = tap.send(Arc::from(bytes));
        }
        let size = self.size();
        let pieces = self.scanner.pieces(bytes, size.rows as usize, size.cols as usize);
        let mut start = 0;
        for piece in pieces {
            self.parser.advance(&mut self.term, &bytes[start..piece.end]);
            start = piece.end;
            self.migrate();
            if piece.clears_history {
                self.history.clear();
                self.scroll = 0;
            }
            if let Some(control) = piece.then {
                // Bytes held for a synchronized update must come before the control.
                if self.sync_deadline().is_some() {
                    self.parser.stop_sync(&mut self.term);
                    self.migrate();
                }
                match control {
                    Control::SoftReset => self.term.soft_reset(),
                    Control::ConformanceLevel(level) => self.term.set_conformance_level(level),
                }
            }
        }
    }

    /// Move the lines that scrolled off into the compact history: first those the listener
    /// took as they left, then any the grid kept itself (a resize pushes rows into the grid's
    /// history; they follow the taken ones, which left before).
    fn migrate(&mut self) {
        let taken = self.term.event_proxy_mut().scrolled.len();
        let kept = self.term.grid().history_size();
        let scrolled = taken + kept;
        if scrolled == 0 {
            return;
        }
        for line in self.term.event_proxy_mut().scrolled.drain(..) {
            self.history.push(line);
        }
        let grid = self.term.grid();
        let cols = grid.columns();
        for line in -(kept as i32)..0 {
            self.history.push(HistLine::from_row(&grid[Line(line)], cols));
        }
        if kept > 0 {
            let limit = engine_history(self.size().rows);
            let grid = self.term.grid_mut();
            grid.update_history(0);
            grid.update_history(limit);
        }
        if self.scroll > 0 {
            // Someone is reading the history: keep what they read in place.
            self.scroll = (self.scroll + scrolled).min(self.history_len());
        }
    }

    pub fn size(&self) -> Size {
        *lock(&self.size)
    }

    /// Give back the rows the engine keeps ready for scrolling (about a thousand, full width):
    /// a quiet pane needs only its screen.
    pub fn trim(&mut self) {
        if self.term.grid().history_size() == 0 {
            self.term.grid_mut().truncate();
        }
    }

    /// Returns true when the size changed (and the engine reflowed).
    pub fn resize(&mut self, cols: u16, rows: u16) -> bool {
        let size = Size::clamped(cols, rows);
        if size == self.size() {
            return false;
        }
        *lock(&self.size) = size;
        self.term.resize(size);
        self.history.reflow(size.cols as usize);
        self.migrate();
        self.scroll = self.scroll.min(self.history_len());
        true
    }

    pub fn mode(&self) -> TermMode {
        *self.term.mode()
    }

    pub fn term(&self) -> &Term<Listener> {
        &self.term
    }

    pub fn term_mut(&mut self) -> &mut Term<Listener> {
        &mut self.term
    }

    /// When a synchronized update is holding output back, the moment it must end.
    pub fn sync_deadline(&self) -> Option<Instant> {
        self.parser.sync_timeout().sync_timeout()
    }

    /// End a synchronized update whose deadline has passed, so its output shows.
    pub fn end_expired_sync(&mut self) -> bool {
        match self.sync_deadline() {
            Some(deadline) if deadline <= Instant::now() => {
                self.parser.stop_sync(&mut self.term);
                self.migrate();
                true
            }
            _ => false,
        }
    }

    /// Lines of history above the screen. A full-screen program's alternate screen has none.
    pub fn history_len(&self) -> usize {
        if self.term.mode().contains(TermMode::ALT_SCREEN) {
            0
        } else {
            self.history.len()
        }
    }

    pub fn rows(&self) -> usize {
        self.term.screen_lines()
    }

    pub fn cols(&self) -> usize {
        self.term.columns()
    }

    /// How far the view is scrolled up into the history.
    pub fn scroll_offset(&self) -> usize {
        self.scroll
    }

    pub fn set_scroll(&mut self, lines: usize) {
        self.scroll = lines.min(self.history_len());
    }

    pub fn scroll_by(&mut self, delta: i32) {
        self.set_scroll((self.scroll as i64 + delta as i64).max(0) as usize);
    }

    fn hist_line(&self, line: i32) -> Option<&HistLine> {
        let len = self.history_len() as i32;
        if line >= 0 || line < -len {
            return None;
        }
        self.history.get((len + line) as usize)
    }

    /// Visit each cell of a line (screen or history) left to right.
    pub fn cells(&self, line: i32, mut f: impl FnMut(CellRef<'_>)) {
        if line < 0 {
            if let Some(h) = self.hist_line(line) {
                h.cells(f);
            }
            return;
        }
        if line >= self.rows() as i32 {
            return;
        }
        let grid = self.term.grid();
        let row = &grid[Line(line)];
        let mut text = String::with_capacity(8);
        for col in 0..grid.columns() {
            let cell = &row[Column(col)];
            if super::history::is_spacer(row, col) {
                continue;
            }
            text.clear();
            // alacritty keeps a tab's '\t' in its first cell; a reader sees blanks.
            text.push(match cell.c {
                '\t' | '\0' => ' ',
                c => c,
            });
            if let Some(extra) = cell.zerowidth() {
                text.extend(extra.iter());
            }
            let style = HistStyle { fg: cell.fg, bg: cell.bg, flags: cell.flags };
            f(CellRef { col, text: &text, wide: cell.flags.contains(Flags::WIDE_CHAR), style });
        }
    }

    /// Whether a line continues on the next (it was wrapped at the margin).
    pub fn wrapped(&self, line: i32) -> bool {
        if line < 0 {
            return self.hist_line(line).is_some_and(|h| h.wrapped);
        }
        let grid = self.term.grid();
        line < self.rows() as i32 && grid[Line(line)][Column(grid.columns() - 1)].flags.contains(Flags::WRAPLINE)
    }

    /// The text of one line as a user sees it: wide characters once, combining marks kept,
    /// trailing blanks trimmed.
    pub fn line_text(&self, line: i32) -> String {
        let mut text = String::new();
        self.cells(line, |c| text.push_str(c.text));
        text.truncate(text.trim_end_matches([' ', '\0']).len());
        text
    }

    /// Each cell's starting column and first character (for search).
    pub fn line_chars(&self, line: i32) -> Vec<(usize, char)> {
        let mut out = Vec::new();
        self.cells(line, |c| out.push((c.col, c.text.chars().next().unwrap_or(' '))));
        out
    }

    /// The screen's lines, preceded by up to `scrollback` lines of history.
    pub fn capture(&self, scrollback: usize) -> Vec<String> {
        let history = self.history_len().min(scrollback) as i32;
        (-history..self.rows() as i32).map(|line| self.line_text(line)).collect()
    }

    /// The selected text: lines joined with newlines, except where a line was wrapped.
    pub fn selection_text(&self) -> Option<String> {
        let sel = self.selection?;
        let (a, b) = sel.ordered();
        let mut out = String::new();
        for line in a.line..=b.line {
            let (from, to) = if sel.lines {
                (0, usize::MAX)
            } else {
                (if line == a.line { a.col } else { 0 }, if line == b.line { b.col } else { usize::MAX })
            };
            let mut text = String::new();
            self.cells(line, |c| {
                if c.col >= from && c.col <= to {
                    text.push_str(c.text);
                }
            });
            let wrapped = self.wrapped(line) && line != b.line;
            if !wrapped {
                text.truncate(text.trim_end().len());
            }
            out.push_str(&text);
            if line != b.line && !wrapped {
                out.push('\n');
            }
        }
        Some(out)
    }

    /// The compact history, whichever screen is shown (a state dump reads it whole).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Let go of output a synchronized update is holding back (before a state dump).
    pub fn end_sync(&mut self) {
        if self.sync_deadline().is_some() {
            self.parser.stop_sync(&mut self.term);
            self.migrate();
        }
    }

    pub fn cursor(&self) -> Point {
        self.term.grid().cursor.point
    }

    pub fn cursor_style(&self) -> ansi::CursorStyle {
        self.term.cursor_style()
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;

#[cfg(test)]
mod timing {
    use super::*;

    #[test]
    #[ignore]
    fn advance_throughput() {
        let mut data = Vec::new();
        let mut i = 0u32;
        while data.len() < 20_000_000 {
            data.extend_from_slice(
                format!("\x1b[3{}m{i:08} \x1b[38;5;{}mthe quick brown fox \x1b[38;2;10;{};30mjumps over the lazy dog {}\x1b[0m\r\n", i % 8, i % 256, i % 256, "x".repeat((i % 40) as usize)).as_bytes(),
            );
            i += 1;
        }
        let (tx, _rx) = PtyWriter::channel();
        let mut e = Engine::new(Size { cols: 200, rows: 50 }, 10_000, tx, Arc::default(), Arc::default());
        let t = std::time::Instant::now();
        for chunk in data.chunks(65536) {
            e.advance(chunk);
        }
        let secs = t.elapsed().as_secs_f64();
        eprintln!("engine with history: {:.1} MB/s ({} lines)", data.len() as f64 / secs / 1e6, i);
        let mut term = Term::new(
            Config { scrolling_history: 10_000, ..Config::default() },
            &Size { cols: 200, rows: 50 },
            alacritty_terminal::event::VoidListener,
        );
        let mut parser: Processor<StdSyncHandler> = Processor::new();
        let t = std::time::Instant::now();
        for chunk in data.chunks(65536) {
            parser.advance(&mut term, chunk);
        }
        let secs = t.elapsed().as_secs_f64();
        eprintln!("bare alacritty: {:.1} MB/s", data.len() as f64 / secs / 1e6);
    }
}
