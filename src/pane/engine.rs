//! The terminal engine behind one small interface: alacritty_terminal's `Term` and
//! its VT parser. Everything else in sbx talks to panes through this module, so the
//! engine's sharp edges are guarded in one place:
//! - sizes are clamped to at least 2 columns and 1 row (below that alacritty panics);
//! - a synchronized update (`?2026`) that never ends is ended by its deadline;
//! - resize happens only when the size really changes (reflow is expensive).

use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use alacritty_terminal::event::{Event, EventListener, WindowSize};
use alacritty_terminal::grid::{Dimensions, Scroll};
use alacritty_terminal::index::{Column, Line, Point};
use alacritty_terminal::term::cell::Flags;
use alacritty_terminal::term::{Config, Term, TermMode};
use alacritty_terminal::vte::ansi::{self, Processor, Rgb, StdSyncHandler};

pub const MIN_COLS: u16 = 2;
pub const MIN_ROWS: u16 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub cols: u16,
    pub rows: u16,
}

impl Size {
    pub fn clamped(cols: u16, rows: u16) -> Size {
        Size { cols: cols.max(MIN_COLS), rows: rows.max(MIN_ROWS) }
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

/// Receives the engine's events. Replies to the child's queries go straight to the
/// pane's writer thread, so answering a DA or DSR never waits for the server loop.
#[derive(Clone)]
pub struct Listener {
    pty_tx: Sender<Vec<u8>>,
    signals: Arc<Mutex<Signals>>,
    size: Arc<Mutex<Size>>,
}

impl EventListener for Listener {
    fn send_event(&self, event: Event) {
        match event {
            Event::PtyWrite(text) => {
                let _ = self.pty_tx.send(text.into_bytes());
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
                let _ = self.pty_tx.send(format(default_color(index)).into_bytes());
            }
            Event::TextAreaSizeRequest(format) => {
                let size = *lock(&self.size);
                let window = WindowSize { num_lines: size.rows, num_cols: size.cols, cell_width: 8, cell_height: 16 };
                let _ = self.pty_tx.send(format(window).into_bytes());
            }
            _ => {}
        }
    }
}

/// A poisoned lock only means another thread panicked mid-update; the data is still usable.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The colour sbx reports when a child asks (OSC 4/10/11): xterm's defaults.
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

pub struct Engine {
    /// The screen as last drawn, kept here so every client shares one conversion.
    pub view: crate::ui::pane_view::ViewCache,
    term: Term<Listener>,
    parser: Processor<StdSyncHandler>,
    size: Arc<Mutex<Size>>,
}

impl Engine {
    pub fn new(size: Size, scrollback: usize, pty_tx: Sender<Vec<u8>>, signals: Arc<Mutex<Signals>>) -> Engine {
        let size = Size::clamped(size.cols, size.rows);
        let shared_size = Arc::new(Mutex::new(size));
        let config = Config { scrolling_history: scrollback, kitty_keyboard: true, ..Config::default() };
        let listener = Listener { pty_tx, signals, size: shared_size.clone() };
        Engine {
            view: Default::default(),
            term: Term::new(config, &size, listener),
            parser: Processor::new(),
            size: shared_size,
        }
    }

    pub fn advance(&mut self, bytes: &[u8]) {
        self.parser.advance(&mut self.term, bytes);
    }

    pub fn size(&self) -> Size {
        *lock(&self.size)
    }

    /// Returns true when the size changed (and the engine reflowed).
    pub fn resize(&mut self, cols: u16, rows: u16) -> bool {
        let size = Size::clamped(cols, rows);
        if size == self.size() {
            return false;
        }
        *lock(&self.size) = size;
        self.term.resize(size);
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
                true
            }
            _ => false,
        }
    }

    pub fn history_len(&self) -> usize {
        self.term.grid().history_size()
    }

    pub fn display_offset(&self) -> usize {
        self.term.grid().display_offset()
    }

    pub fn scroll(&mut self, scroll: Scroll) {
        self.term.scroll_display(scroll);
    }

    /// The text of one line as a user sees it: wide characters once, combining marks kept,
    /// trailing blanks trimmed. `line` counts from the top of the screen; negative is history.
    pub fn line_text(&self, line: i32) -> String {
        let grid = self.term.grid();
        let row = &grid[Line(line)];
        let mut text = String::with_capacity(grid.columns());
        for col in 0..grid.columns() {
            let cell = &row[Column(col)];
            if cell.flags.intersects(Flags::WIDE_CHAR_SPACER | Flags::LEADING_WIDE_CHAR_SPACER) {
                continue;
            }
            // alacritty keeps a tab's '\t' in its first cell; a reader sees blanks.
            text.push(if cell.c == '\t' { ' ' } else { cell.c });
            if let Some(extra) = cell.zerowidth() {
                text.extend(extra.iter());
            }
        }
        let trimmed = text.trim_end_matches([' ', '\t', '\0']).len();
        text.truncate(trimmed);
        text
    }

    /// The screen's lines, preceded by up to `scrollback` lines of history.
    pub fn capture(&self, scrollback: usize) -> Vec<String> {
        let history = self.history_len().min(scrollback) as i32;
        let rows = self.term.screen_lines() as i32;
        (-history..rows).map(|line| self.line_text(line)).collect()
    }

    pub fn cursor(&self) -> Point {
        self.term.grid().cursor.point
    }

    pub fn cursor_style(&self) -> ansi::CursorStyle {
        self.term.cursor_style()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(cols: u16, rows: u16) -> (Engine, std::sync::mpsc::Receiver<Vec<u8>>) {
        let (tx, rx) = std::sync::mpsc::channel();
        (Engine::new(Size { cols, rows }, 100, tx, Arc::default()), rx)
    }

    #[test]
    fn answers_device_attributes_and_cursor_position() {
        let (mut e, rx) = engine(20, 5);
        e.advance(b"ab\x1b[c\x1b[6n");
        let replies: Vec<u8> = rx.try_iter().flatten().collect();
        let replies = String::from_utf8(replies).unwrap();
        assert!(replies.contains("\x1b[?6c"), "{replies:?}");
        assert!(replies.contains("\x1b[1;3R"), "{replies:?}");
    }

    #[test]
    fn wide_characters_capture_once() {
        let (mut e, _rx) = engine(10, 2);
        e.advance("日本x".as_bytes());
        assert_eq!(e.capture(0), vec!["日本x".to_string(), String::new()]);
    }

    #[test]
    fn tiny_sizes_are_clamped_not_panics() {
        let (mut e, _rx) = engine(0, 0);
        assert_eq!(e.size(), Size { cols: 2, rows: 1 });
        e.advance("日本語テキスト\r\n".as_bytes());
        assert!(!e.resize(1, 0));
        assert!(e.resize(40, 3));
    }

    #[test]
    fn capture_includes_requested_history() {
        let (mut e, _rx) = engine(10, 2);
        e.advance(b"one\r\ntwo\r\nthree\r\nfour");
        assert_eq!(e.capture(0), vec!["three", "four"]);
        assert_eq!(e.capture(5), vec!["one", "two", "three", "four"]);
    }
}
