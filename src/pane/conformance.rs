//! The engine against xterm, one escape sequence at a time: each test is a stream a program
//! writes and the screen and cursor xterm shows after it (checked against xterm 390 and
//! esctest2's expectations). Each failed on alacritty_terminal 0.26 as released; the fixes are
//! in vendor/alacritty_terminal (PATCHES.md).

use std::sync::mpsc::Receiver;
use std::sync::Arc;

use super::engine::{Engine, OuterColors, Size};
use super::writer::PtyWriter;

struct Screen {
    engine: Engine,
    replies: Receiver<Vec<u8>>,
}

fn screen(cols: u16, rows: u16) -> Screen {
    screen_with(cols, rows, Arc::default())
}

fn screen_with(cols: u16, rows: u16, outer: OuterColors) -> Screen {
    let (tx, replies) = PtyWriter::channel();
    Screen { engine: Engine::new(Size { cols, rows }, 100, tx, Arc::default(), outer), replies }
}

impl Screen {
    fn feed(&mut self, stream: &str) -> &mut Screen {
        self.engine.advance(stream.as_bytes());
        self
    }

    /// Row `n` (1-based, as escape sequences count).
    fn row(&self, n: i32) -> String {
        self.engine.line_text(n - 1)
    }

    /// The row a character stands on (1-based), or 0 when it is nowhere.
    fn row_of(&self, c: char) -> i32 {
        (1..=self.engine.rows() as i32).find(|n| self.row(*n).contains(c)).unwrap_or(0)
    }

    /// The cursor as (row, column), 1-based.
    fn cursor(&self) -> (i32, usize) {
        let p = self.engine.cursor();
        (p.line.0 + 1, p.column.0 + 1)
    }

    fn replies(&self) -> String {
        String::from_utf8(self.replies.try_iter().flatten().collect()).unwrap()
    }
}

#[test]
fn cuu_and_cud_stop_at_the_scroll_margins() {
    // Inside the region (rows 3–5) CUU stops at its top, CUD at its bottom.
    assert_eq!(screen(10, 8).feed("\x1b[2J\x1b[3;5r\x1b[4;1H\x1b[9AA").row_of('A'), 3);
    assert_eq!(screen(10, 8).feed("\x1b[2J\x1b[3;5r\x1b[4;1H\x1b[9BA").row_of('A'), 5);
    // Outside it they run to the screen's edge.
    assert_eq!(screen(10, 8).feed("\x1b[2J\x1b[3;5r\x1b[7;1H\x1b[9BA").row_of('A'), 8);
    assert_eq!(screen(10, 8).feed("\x1b[2J\x1b[3;5r\x1b[2;1H\x1b[9AA").row_of('A'), 1);
    // CPL and CNL likewise, to column 1.
    let mut s = screen(10, 8);
    s.feed("\x1b[3;5r\x1b[4;3H\x1b[9F");
    assert_eq!(s.cursor(), (3, 1));
    s.feed("\x1b[9E");
    assert_eq!(s.cursor(), (5, 1));
}

#[test]
fn cuu_in_origin_mode_stays_inside_the_region() {
    let mut s = screen(10, 10);
    s.feed("\x1b[2J\x1b[6;8r\x1b[?6h\x1b[2;1H\x1b[9AB");
    assert_eq!(s.row_of('B'), 6);
    s.feed("\x1b[9BC");
    assert_eq!(s.row_of('C'), 8);
}

#[test]
fn ed1_erases_every_row_above_the_cursor() {
    let mut s = screen(10, 4);
    s.feed("\x1b[2J\x1b[Habcde\r\nfghij\r\nklmno\x1b[2;3H\x1b[1J");
    assert_eq!([s.row(1), s.row(2), s.row(3)], ["", "   ij", "klmno"]);
    assert_eq!(s.cursor(), (2, 3));
}

#[test]
fn modes_47_and_1047_switch_screens_and_come_back() {
    for mode in ["47", "1047"] {
        let mut s = screen(20, 4);
        s.feed(&format!("main\x1b[?{mode}h\x1b[Halt\x1b[?{mode}l"));
        assert_eq!(s.row(1), "main", "mode {mode}: the main screen is back");
        // One cursor for both screens: it stays where the alternate screen left it.
        assert_eq!(s.cursor(), (1, 4), "mode {mode}");
        s.feed(&format!("\x1b[?{mode}h"));
        s.replies();
        s.feed(&format!("\x1b[?{mode}$p"));
        assert_eq!(s.replies(), format!("\x1b[?{mode};1$y"), "DECRQM reports the alternate screen");
    }
    // 1047 clears the alternate screen as it leaves it; 47 does not (xterm).
    let mut s = screen(20, 4);
    s.feed("\x1b[?1047hgone\x1b[?1047l\x1b[?47h");
    assert_eq!(s.row(1), "");
}

#[test]
fn mode_1048_saves_and_restores_the_cursor() {
    let mut s = screen(20, 6);
    s.feed("\x1b[3;4H\x1b[?1048h\x1b[6;1H\x1b[?1048lX");
    assert_eq!((s.row_of('X'), s.row(3).as_str()), (3, "   X"));
}

#[test]
fn leaving_1049_on_the_main_screen_still_restores_the_cursor() {
    // dialog's exit: the shell's next line belongs under the first, not at the bottom.
    let mut s = screen(20, 12);
    s.feed("A\r\n\x1b[?1049h\x1b[?1049l\x1b[10;1HB\x1b[?1049lC");
    assert_eq!((s.row_of('A'), s.row_of('C'), s.row_of('B')), (1, 2, 10));
}

#[test]
fn decaln_fills_homes_the_cursor_and_resets_the_margins() {
    let mut s = screen(5, 6);
    s.feed("\x1b[3;4r\x1b[4;4H\x1b#8");
    assert_eq!(s.cursor(), (1, 1));
    assert!((1..=6).all(|n| s.row(n) == "EEEEE"));
    // No margins left: a CUD runs to the last row, a linefeed there scrolls the whole screen.
    s.feed("\x1b[99BX\n");
    assert_eq!((s.row(5), s.row(6)), ("XEEEE".to_string(), String::new()));
}

#[test]
fn decsc_and_decrc_save_and_restore_origin_mode() {
    let mut s = screen(10, 8);
    s.feed("\x1b[3;5r\x1b[?6h\x1b7\x1b[?6l\x1b8\x1b[HZ");
    assert_eq!(s.row_of('Z'), 3, "origin mode came back with the cursor");
    s.feed("\x1b[?6$p");
    assert_eq!(s.replies(), "\x1b[?6;1$y");
    // And off when it was saved off.
    let mut s = screen(10, 8);
    s.feed("\x1b[3;5r\x1b7\x1b[?6h\x1b8\x1b[HZ");
    assert_eq!(s.row_of('Z'), 1);
}

#[test]
fn a_colour_the_program_set_is_the_colour_it_reads_back() {
    let mut s = screen(10, 2);
    s.feed("\x1b]10;rgb:f0/f0/f0\x1b\\\x1b]10;?\x1b\\");
    assert_eq!(s.replies(), "\x1b]10;rgb:f0f0/f0f0/f0f0\x1b\\");
    s.feed("\x1b]4;1;#102030\x07\x1b]4;1;?\x07");
    assert_eq!(s.replies(), "\x1b]4;1;rgb:1010/2020/3030\x07");
    s.feed("\x1b]11;rgb:00/00/40\x1b\\\x1b]11;?\x1b\\");
    assert_eq!(s.replies(), "\x1b]11;rgb:0000/0000/4040\x1b\\");
    // After a reset (OSC 110) the default answers again.
    s.feed("\x1b]110\x1b\\\x1b]10;?\x1b\\");
    assert_eq!(s.replies(), "\x1b]10;rgb:e5e5/e5e5/e5e5\x1b\\");
}

#[test]
fn an_unset_colour_is_the_users_terminals() {
    let outer: OuterColors = Arc::default();
    let mut s = screen_with(10, 2, outer.clone());
    s.feed("\x1b]11;?\x1b\\");
    assert_eq!(s.replies(), "\x1b]11;rgb:0000/0000/0000\x1b\\", "unknown: xterm's default");
    {
        let mut colors = super::engine::lock(&outer);
        colors.background = Some([0xff, 0xff, 0xf8]);
        colors.foreground = Some([0x20, 0x20, 0x20]);
        colors.ansi[2] = Some([0, 0x80, 0]);
    }
    s.feed("\x1b]11;?\x07\x1b]10;?\x07\x1b]4;2;?\x07");
    assert_eq!(
        s.replies(),
        "\x1b]11;rgb:ffff/ffff/f8f8\x07\x1b]10;rgb:2020/2020/2020\x07\x1b]4;2;rgb:0000/8080/0000\x07"
    );
    // What the program set still wins.
    s.feed("\x1b]11;#000000\x07\x1b]11;?\x07");
    assert_eq!(s.replies(), "\x1b]11;rgb:0000/0000/0000\x07");
}

#[test]
fn decstr_soft_resets_margins_modes_and_the_saved_cursor_but_not_the_cursor() {
    let mut s = screen(10, 8);
    s.feed("\x1b[3;4r\x1b[?6h\x1b[4h\x1b[5;6H\x1b7\x1b[2;2H\x1b[!p");
    assert_eq!(s.cursor(), (4, 2), "the cursor stays put");
    // Origin mode is off: home is the screen's corner; insert mode is off: X replaces.
    s.feed("\x1b[Hab\x1b[HX");
    assert_eq!(s.row(1), "Xb");
    // No margins: CUD runs to the last row.
    s.feed("\x1b[99B");
    assert_eq!(s.cursor().0, 8);
    // The saved cursor is home.
    s.feed("\x1b8");
    assert_eq!(s.cursor(), (1, 1));
    // Autowrap stays on (xterm keeps DECAWM).
    s.feed("\x1b[!p\x1b[1;9Hxyz");
    assert_eq!(s.row(2), "z");
}

#[test]
fn reverse_wraparound_goes_back_up_a_wrapped_line_only() {
    // 45 on: from the left edge BS goes to the end of the line above when it wrapped here.
    let mut s = screen(10, 6);
    s.feed("\x1b[?45h\x1b[2;1H0123456789ab\x08\x08\x08");
    assert_eq!(s.cursor(), (2, 10));
    // Not across a line that ended with a newline.
    s.feed("\x1b[4;1Hxy\r\n\x08\x08");
    assert_eq!(s.cursor(), (5, 1));
    // A pending wrap is only cancelled.
    s.feed("\x1b[6;9Hab\x08X");
    assert_eq!(s.row(6), "        aX");
    // Off again: BS stops at the left edge, and from a pending wrap moves back a column.
    s.feed("\x1b[?45l\x1b[3;1H\x08");
    assert_eq!(s.cursor(), (3, 1));
    s.feed("\x1b[1;9Hcd\x08Y");
    assert_eq!(s.row(1), "        Yd");
    s.feed("\x1b[?45$p");
    assert_eq!(s.replies(), "\x1b[?45;2$y");
}

#[test]
fn cursor_position_reports_count_from_the_region_in_origin_mode() {
    let mut s = screen(10, 8);
    s.feed("\x1b[3;6r\x1b[?6h\x1b[2;4H\x1b[6n");
    assert_eq!(s.replies(), "\x1b[2;4R");
    s.feed("\x1b[?6l\x1b[4;4H\x1b[6n");
    assert_eq!(s.replies(), "\x1b[4;4R");
}

#[test]
fn a_vt200_level_has_no_decrqm_until_reset() {
    let mut s = screen(10, 4);
    s.feed("\x1b[62;1\"p\x1b[4$p\x1b[?6$p");
    assert_eq!(s.replies(), "", "DECRQM is a VT300 control");
    s.feed("\x1b[65;1\"p\x1b[4$p");
    assert_eq!(s.replies(), "\x1b[4;2$y");
    s.feed("\x1b[62\"p\x1bc\x1b[4$p");
    assert_eq!(s.replies(), "\x1b[4;2$y", "RIS restores the full level");
}

#[test]
fn extended_reverse_wraparound_goes_up_any_line_and_from_the_top_to_the_bottom() {
    let mut s = screen(10, 6);
    s.feed("\x1b[?1045h\x1b[3;1Hxy\r\n\x08");
    assert_eq!(s.cursor(), (3, 10), "up a line that did not wrap");
    // From the region's top to its bottom.
    s.feed("\x1b[2;5r\x1b[2;1H\x08");
    assert_eq!(s.cursor(), (5, 10));
    // A pending wrap is only cancelled.
    s.feed("\x1b[r\x1b[6;9Hab\x08X");
    assert_eq!(s.row(6), "        aX");
    s.feed("\x1b[!p\x1b[3;1H\x08");
    assert_eq!(s.cursor(), (3, 1), "DECSTR turns it off");
}
