//! An attached client as the server sees it: its size, what it is doing (prefix, copy
//! mode, help), and the ratatui terminal that turns its frames into ANSI diffs.

use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use tokio::sync::mpsc::UnboundedSender;

use super::copy::CopyMode;
use super::layout::Border;
use crate::protocol::ServerMsg;

pub enum Mode {
    Normal,
    Prefix,
    Copy(CopyMode),
    Help { scroll: usize },
}

pub struct Client {
    pub session: String,
    pub cols: u16,
    pub rows: u16,
    pub out: UnboundedSender<ServerMsg>,
    pub mode: Mode,
    pub sidebar: bool,
    /// A frame is on its way to the client; render again only once it has been written.
    pub in_flight: bool,
    pub dirty: bool,
    pub terminal: Terminal<CrosstermBackend<Vec<u8>>>,
    /// Escape sequences to send before the next frame (bell, OSC 52, cursor shape).
    pub pending: Vec<u8>,
    pub cursor_shape: Option<u8>,
    pub message: Option<String>,
    pub drag: Option<Border>,
    /// A mouse selection in progress: pane and the cell it started at.
    pub mouse_select: Option<(crate::pane::PaneId, u16, u16)>,
}

impl Client {
    pub fn new(session: String, cols: u16, rows: u16, out: UnboundedSender<ServerMsg>, sidebar: bool) -> Client {
        Client {
            session,
            cols,
            rows,
            out,
            mode: Mode::Normal,
            sidebar,
            in_flight: false,
            dirty: true,
            terminal: new_terminal(cols, rows),
            pending: Vec::new(),
            cursor_shape: None,
            message: None,
            drag: None,
            mouse_select: None,
        }
    }

    pub fn resize(&mut self, cols: u16, rows: u16) {
        if (cols, rows) != (self.cols, self.rows) {
            self.cols = cols;
            self.rows = rows;
            // A fresh terminal forgets the previous frame, so the next one is drawn whole.
            self.terminal = new_terminal(cols, rows);
            self.cursor_shape = None;
            self.dirty = true;
        }
    }

    /// Forget what the client shows and draw everything again (after a mode change that
    /// the diff cannot see, such as a new client attaching to an old terminal).
    pub fn redraw_all(&mut self) {
        self.terminal = new_terminal(self.cols, self.rows);
        self.dirty = true;
    }

    pub fn send(&self, msg: ServerMsg) {
        let _ = self.out.send(msg);
    }
}

fn new_terminal(cols: u16, rows: u16) -> Terminal<CrosstermBackend<Vec<u8>>> {
    let area = Rect::new(0, 0, cols.max(1), rows.max(1));
    let mut bytes = Vec::with_capacity(64 * 1024);
    // Start from a known screen: the diff assumes the terminal shows the previous frame.
    bytes.extend_from_slice(b"\x1b[0m\x1b[H\x1b[2J");
    Terminal::with_options(CrosstermBackend::new(bytes), TerminalOptions { viewport: Viewport::Fixed(area) })
        .expect("a fixed viewport never queries the backend")
}
