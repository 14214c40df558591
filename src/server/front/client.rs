//! An attached client as the server sees it: its size, what it is doing (prefix, copy
//! mode, help), and the ratatui terminal that turns its frames into ANSI diffs.

use tokio::sync::mpsc::UnboundedSender;

use super::modes::Mode;
use super::terminal::Outlet;
use crate::protocol::ServerMsg;
use crate::server::model::layout::Border;
use crate::ui::frame::FrameWriter;

pub struct Client {
    pub session: String,
    pub cols: u16,
    pub rows: u16,
    /// The client's connection: what ends it (Exit, Error).
    pub out: UnboundedSender<ServerMsg>,
    /// The client's terminal: frames.
    pub outlet: Outlet,
    pub mode: Mode,
    pub sidebar: bool,
    /// `sbx attach -r`: its keys change nothing.
    pub read_only: bool,
    /// The client's terminal has not taken the last frame yet; render again once it has.
    pub in_flight: bool,
    /// When the last frame was sent: during a flood, frames are spaced by FLOOD_FRAME.
    pub last_frame: std::time::Instant,
    pub dirty: bool,
    pub frame: FrameWriter,
    /// The chrome drawn in the last frame.
    pub chrome: Option<super::render::Chrome>,
    /// What `frame` holds of each pane drawn last time.
    pub drawn: std::collections::HashMap<crate::pane::PaneId, crate::ui::pane_view::Drawn>,
    /// Escape sequences to send before the next frame (bell, OSC 52).
    pub pending: Vec<u8>,
    pub message: Option<String>,
    pub drag: Option<Border>,
    /// A mouse selection in progress: pane and the cell it started at.
    pub mouse_select: Option<(crate::pane::PaneId, u16, u16)>,
}

impl Client {
    pub fn new(
        session: String,
        cols: u16,
        rows: u16,
        outlet: Outlet,
        out: UnboundedSender<ServerMsg>,
        sidebar: bool,
    ) -> Client {
        let (cols, rows) = terminal_size(cols, rows);
        Client {
            session,
            cols,
            rows,
            out,
            outlet,
            mode: Mode::Normal,
            sidebar,
            read_only: false,
            in_flight: false,
            last_frame: std::time::Instant::now(),
            dirty: true,
            frame: FrameWriter::new(cols, rows),
            chrome: None,
            drawn: Default::default(),
            pending: Vec::new(),
            message: None,
            drag: None,
            mouse_select: None,
        }
    }

    pub fn resize(&mut self, cols: u16, rows: u16) {
        let (cols, rows) = terminal_size(cols, rows);
        if (cols, rows) != (self.cols, self.rows) {
            self.cols = cols;
            self.rows = rows;
            self.frame = FrameWriter::new(cols, rows);
            self.drawn.clear();
            self.dirty = true;
        }
    }

    /// Forget what the client shows and draw everything again (after a mode change that
    /// the diff cannot see, such as a new client attaching to an old terminal).
    pub fn redraw_all(&mut self) {
        self.frame.invalidate();
        self.drawn.clear();
        self.dirty = true;
    }

    pub fn send(&self, msg: ServerMsg) {
        let _ = self.out.send(msg);
    }

    /// The connection's writer has ended (after a final message, or a lost connection).
    pub fn gone(&self) -> bool {
        self.out.is_closed()
    }

    /// Send a frame to the client's terminal.
    pub fn present(&mut self, bytes: Vec<u8>) {
        self.in_flight = !self.outlet.write(bytes);
    }
}

/// A client's terminal size as sbx uses it: at most MAX_COLS×MAX_ROWS, whatever it reports.
fn terminal_size(cols: u16, rows: u16) -> (u16, u16) {
    use crate::pane::engine::{MAX_COLS, MAX_ROWS};
    (cols.min(MAX_COLS), rows.min(MAX_ROWS))
}
