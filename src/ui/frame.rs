//! One client's screen as sbx last sent it, and the next one being drawn. Presenting a
//! frame compares the two row by row and sends only the changed span of each changed row,
//! so a keystroke echo costs a few bytes and a few microseconds, not a full-screen diff.

use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use unicode_width::UnicodeWidthStr;

pub struct FrameWriter {
    front: Buffer,
    back: Buffer,
    /// The client's screen is unknown (new client, resize): send every cell.
    forced: bool,
    cursor_shown: bool,
    /// Rows drawn since the last frame; only these are compared with what the client shows.
    touched: Vec<bool>,
    cursor_shape: Option<u8>,
    out: CrosstermBackend<Vec<u8>>,
}

impl FrameWriter {
    pub fn new(cols: u16, rows: u16) -> FrameWriter {
        let area = Rect::new(0, 0, cols.max(1), rows.max(1));
        FrameWriter {
            front: Buffer::empty(area),
            back: Buffer::empty(area),
            forced: true,
            cursor_shown: true,
            touched: vec![true; rows.max(1) as usize],
            cursor_shape: None,
            out: CrosstermBackend::new(Vec::with_capacity(64 * 1024)),
        }
    }

    pub fn area(&self) -> Rect {
        self.back.area
    }

    /// The buffer to draw the next frame into. It still holds the previous frame, so a
    /// drawer that knows a region is unchanged may leave it alone.
    pub fn begin(&mut self) -> &mut Buffer {
        &mut self.back
    }

    /// Whether the next frame is sent whole (everything must be drawn into it).
    pub fn forced(&self) -> bool {
        self.forced
    }

    /// Note that row `y` was drawn into.
    pub fn touch(&mut self, y: u16) {
        if let Some(t) = self.touched.get_mut(y as usize) {
            *t = true;
        }
    }

    pub fn touch_all(&mut self) {
        self.touched.fill(true);
    }

    /// Forget what the client shows: the next frame is sent whole.
    pub fn invalidate(&mut self) {
        self.forced = true;
        self.cursor_shape = None;
    }

    /// The bytes that turn the client's screen into the drawn frame.
    pub fn present(&mut self, cursor: Option<(Position, u8)>) -> Vec<u8> {
        let width = self.back.area.width as usize;
        let mut updates: Vec<(u16, u16, &ratatui::buffer::Cell)> = Vec::new();
        let mut changed_rows: Vec<usize> = Vec::new();
        if self.forced {
            let _ = std::io::Write::write_all(self.out.writer_mut(), b"\x1b[0m\x1b[H\x1b[2J");
        }
        for (y, (new, old)) in self.back.content.chunks(width).zip(self.front.content.chunks(width)).enumerate() {
            if !self.forced && !self.touched[y] {
                continue;
            }
            let (first, last) = if self.forced {
                changed_rows.push(y);
                (0, width)
            } else {
                if new == old {
                    continue;
                }
                changed_rows.push(y);
                let first = new.iter().zip(old).position(|(a, b)| a != b).unwrap_or(0);
                let last = width - new.iter().zip(old).rev().position(|(a, b)| a != b).unwrap_or(0);
                // Start at the beginning of a wide character the change may cut through.
                (
                    new[..first]
                        .iter()
                        .rposition(|c| c.symbol().width() > 1)
                        .filter(|&i| i + 1 == first)
                        .unwrap_or(first),
                    last,
                )
            };
            let mut skip = 0;
            for (x, cell) in new.iter().enumerate().take(last).skip(first) {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                skip = cell.symbol().width().saturating_sub(1);
                updates.push((x as u16, y as u16, cell));
            }
        }
        if !updates.is_empty() {
            let _ = self.out.draw(updates.into_iter());
        }
        match cursor {
            Some((pos, shape)) => {
                if self.cursor_shape != Some(shape) {
                    self.cursor_shape = Some(shape);
                    let _ = std::io::Write::write_all(self.out.writer_mut(), format!("\x1b[{shape} q").as_bytes());
                }
                let _ = self.out.set_cursor_position(pos);
                if !self.cursor_shown || self.forced {
                    let _ = self.out.show_cursor();
                    self.cursor_shown = true;
                }
            }
            None => {
                if self.cursor_shown || self.forced {
                    let _ = self.out.hide_cursor();
                    self.cursor_shown = false;
                }
            }
        }
        // The client now shows the back buffer: make the front match it, row by changed row.
        for y in changed_rows {
            let row = y * width..(y + 1) * width;
            self.front.content[row.clone()].clone_from_slice(&self.back.content[row]);
        }
        self.forced = false;
        self.touched.fill(false);
        std::mem::take(self.out.writer_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[test]
    fn first_frame_is_whole_then_only_changes() {
        let mut f = FrameWriter::new(10, 2);
        f.begin().set_string(0, 0, "hello", ratatui::style::Style::default());
        let first = text(&f.present(None));
        assert!(first.contains("\x1b[2J") && first.contains("hello"));
        f.begin().set_string(0, 0, "hellO", ratatui::style::Style::default());
        f.touch(0);
        let second = text(&f.present(None));
        assert!(second.contains('O') && !second.contains("hell"), "{second:?}");
        f.begin().set_string(0, 0, "hellO", ratatui::style::Style::default());
        f.touch(0);
        assert_eq!(f.present(None), b"", "an unchanged frame sends nothing");
    }

    #[test]
    fn untouched_rows_are_not_compared() {
        let mut f = FrameWriter::new(10, 2);
        f.present(None);
        f.begin().set_string(0, 1, "x", ratatui::style::Style::default());
        assert_eq!(f.present(None), b"", "row 1 was not marked as drawn");
        f.touch(1);
        assert!(text(&f.present(None)).contains('x'));
    }

    #[test]
    fn a_change_inside_a_wide_character_redraws_it_whole() {
        let mut f = FrameWriter::new(10, 1);
        f.begin().set_string(0, 0, "a日b", ratatui::style::Style::default());
        f.present(None);
        f.begin().set_string(0, 0, "a日c", ratatui::style::Style::default());
        f.touch(0);
        let out = text(&f.present(None));
        assert!(out.contains('c') && !out.contains('日'), "{out:?}");
        f.begin().set_string(0, 0, "ax c", ratatui::style::Style::default());
        f.begin()[(2, 0)].set_symbol(" ");
        f.touch(0);
        let out = text(&f.present(None));
        assert!(out.contains('x'), "{out:?}");
    }
}
