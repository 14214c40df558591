//! A small look-ahead over PTY output, run before the parser: where to cut the bytes so that
//! no piece can scroll more lines than the engine's short history holds, and where the child
//! asked to clear the history. The engine moves scrolled-off lines into its compact history
//! after each piece, so none is ever dropped unseen.

/// At most this many lines may scroll off per piece (conservatively estimated).
pub const MAX_SCROLL_PER_PIECE: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    Ground,
    Esc,
    Csi,
    /// OSC, DCS, APC, PM, SOS: their bytes draw nothing.
    Str,
    StrEsc,
}

#[derive(Debug, Default)]
pub struct Scanner {
    state: State,
    /// Parameter bytes of the CSI being read (only the first few matter).
    params: [u8; 4],
    nparams: usize,
    /// The CSI's intermediate byte, if any (DECSTR is `CSI ! p`, DECSCL `CSI Ps ; Ps " p`).
    intermediate: Option<u8>,
    estimate: usize,
    printable: usize,
}

/// One piece of output and what must happen after it is parsed.
#[derive(Debug, PartialEq, Eq)]
pub struct Piece {
    pub end: usize,
    pub clears_history: bool,
    /// The piece ends with a control the parser does not know, for the engine to carry out.
    pub then: Option<Control>,
}

/// Controls vte 0.15 does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// DECSTR, the soft reset.
    SoftReset,
    /// DECSCL: the VT level asked for (61 → 1, 62 → 2, …).
    ConformanceLevel(u8),
}

impl Scanner {
    /// Split `bytes` into pieces for a screen of `rows` × `cols`.
    pub fn pieces(&mut self, bytes: &[u8], rows: usize, cols: usize) -> Vec<Piece> {
        let mut out = Vec::new();
        let cols = cols.max(1);
        for (i, &b) in bytes.iter().enumerate() {
            let mut clears = false;
            let mut then = None;
            match self.state {
                State::Ground => match b {
                    0x1b => self.state = State::Esc,
                    b'\n' | 0x0b | 0x0c => self.estimate += 1,
                    // A UTF-8 continuation byte is part of a character already counted.
                    0x20..=0x7e | 0xc0..=0xff => {
                        self.printable += 1;
                        if self.printable >= cols {
                            self.printable = 0;
                            self.estimate += 1;
                        }
                    }
                    _ => {}
                },
                State::Esc => {
                    self.state = State::Ground;
                    match b {
                        b'[' => {
                            self.state = State::Csi;
                            self.nparams = 0;
                            self.intermediate = None;
                        }
                        b']' | b'P' | b'_' | b'^' | b'X' => self.state = State::Str,
                        b'D' | b'E' => self.estimate += 1,
                        b'c' => clears = true,
                        _ => {}
                    }
                }
                State::Csi => match b {
                    0x30..=0x3f => {
                        if self.nparams < self.params.len() {
                            self.params[self.nparams] = b;
                        }
                        self.nparams += 1;
                    }
                    0x20..=0x2f => self.intermediate = Some(b),
                    0x40..=0x7e => {
                        self.state = State::Ground;
                        let params = &self.params[..self.nparams.min(self.params.len())];
                        match b {
                            b'S' => self.estimate += rows,
                            b'J' if params == b"3" => clears = true,
                            b'p' if self.intermediate == Some(b'!') => then = Some(Control::SoftReset),
                            b'p' if self.intermediate == Some(b'"') => {
                                // The level is exactly 61..=65, alone or before `;`.
                                if let [b'6', level @ b'1'..=b'5'] | [b'6', level @ b'1'..=b'5', b';', ..] = params {
                                    then = Some(Control::ConformanceLevel(level - b'0'));
                                }
                            }
                            _ => {}
                        }
                    }
                    0x1b => self.state = State::Esc,
                    _ => {}
                },
                State::Str => match b {
                    0x07 => self.state = State::Ground,
                    0x1b => self.state = State::StrEsc,
                    _ => {}
                },
                State::StrEsc => self.state = if b == b'\\' { State::Ground } else { State::Str },
            }
            if clears || then.is_some() || self.estimate >= MAX_SCROLL_PER_PIECE {
                out.push(Piece { end: i + 1, clears_history: clears, then });
                self.estimate = 0;
            }
        }
        if out.last().is_none_or(|p| p.end < bytes.len()) {
            out.push(Piece { end: bytes.len(), clears_history: false, then: None });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_lines_are_cut_into_bounded_pieces() {
        let text = "x\n".repeat(1000);
        let pieces = Scanner::default().pieces(text.as_bytes(), 24, 80);
        assert_eq!(pieces.len(), 1000_usize.div_ceil(MAX_SCROLL_PER_PIECE));
        let mut start = 0;
        for p in &pieces {
            let lines = text.as_bytes()[start..p.end].iter().filter(|&&b| b == b'\n').count();
            assert!(lines <= MAX_SCROLL_PER_PIECE);
            start = p.end;
        }
        assert_eq!(start, text.len());
    }

    #[test]
    fn clear_history_ends_a_piece_and_state_survives_a_split() {
        let mut s = Scanner::default();
        assert_eq!(s.pieces(b"ab\x1b[", 24, 80), vec![Piece { end: 4, clears_history: false, then: None }]);
        assert_eq!(
            s.pieces(b"3Jcd", 24, 80),
            vec![
                Piece { end: 2, clears_history: true, then: None },
                Piece { end: 4, clears_history: false, then: None }
            ]
        );
        // Text inside an OSC does not count, and `ESC c` clears.
        assert_eq!(
            s.pieces(b"\x1b]0;\x1b[3J\x07\x1bc", 24, 80)[0],
            Piece { end: 11, clears_history: true, then: None }
        );
    }

    #[test]
    fn decstr_ends_a_piece_even_split_across_reads() {
        let mut s = Scanner::default();
        assert_eq!(s.pieces(b"ab\x1b[!", 24, 80), vec![Piece { end: 5, clears_history: false, then: None }]);
        assert_eq!(
            s.pieces(b"pcd\x1b[?25p", 24, 80),
            vec![
                Piece { end: 1, clears_history: false, then: Some(Control::SoftReset) },
                Piece { end: 9, clears_history: false, then: None }
            ]
        );
    }

    #[test]
    fn decscl_names_its_level() {
        let mut s = Scanner::default();
        let pieces = s.pieces(b"\x1b[62;1\"pab\x1b[99\"p\x1b[621\"p\x1b[63\"p", 24, 80);
        assert_eq!(pieces[0], Piece { end: 8, clears_history: false, then: Some(Control::ConformanceLevel(2)) });
        // 99 and 621 are no levels; 63 alone is one.
        assert_eq!(pieces[1], Piece { end: 29, clears_history: false, then: Some(Control::ConformanceLevel(3)) });
        assert_eq!(pieces.len(), 2, "{pieces:?}");
    }

    #[test]
    fn scroll_up_counts_a_screen() {
        let mut s = Scanner::default();
        let bytes = b"\x1b[5S".repeat(30);
        let pieces = s.pieces(&bytes, 20, 80);
        // Each `CSI n S` may scroll a screen (20 lines): the fourth reaches a piece's 64.
        assert_eq!(pieces.len(), 8, "{pieces:?}");
        assert_eq!(pieces[0].end, 16);
    }
}
