//! The engine: answers, history, selection, capture.

use super::*;

fn engine(cols: u16, rows: u16) -> (Engine, std::sync::mpsc::Receiver<Vec<u8>>) {
    let (tx, rx) = PtyWriter::channel();
    (Engine::new(Size { cols, rows }, 100, tx, Arc::default(), Arc::default()), rx)
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
fn history_moves_to_the_compact_store_and_stays_whole() {
    let (tx, _rx) = PtyWriter::channel();
    let mut e = Engine::new(Size { cols: 20, rows: 5 }, 5000, tx, Arc::default(), Arc::default());
    let text: String = (0..3000).map(|i| format!("line {i}\r\n")).collect();
    e.advance(text.as_bytes());
    assert_eq!(e.term().grid().history_size(), 0, "nothing left in the engine's history");
    assert_eq!(e.history_len(), 2996);
    assert_eq!(e.line_text(-2996), "line 0");
    assert_eq!(e.line_text(-1), "line 2995");
    assert_eq!(e.line_text(0), "line 2996");
    // Clearing the history (CSI 3 J) clears the compact store too.
    e.advance(b"\x1b[3J");
    assert_eq!(e.history_len(), 0);
}

#[test]
fn selection_joins_wrapped_lines() {
    let (tx, _rx) = PtyWriter::channel();
    let mut e = Engine::new(Size { cols: 5, rows: 3 }, 100, tx, Arc::default(), Arc::default());
    e.advance(b"abcdefgh\r\nxy\r\n\r\n\r\n");
    e.selection =
        Some(Selection { anchor: VPoint { line: -3, col: 1 }, cursor: VPoint { line: -2, col: 1 }, lines: false });
    // "abcde" wrapped into "fgh": one logical line.
    assert_eq!(e.selection_text().unwrap(), "bcdefg");
    e.selection =
        Some(Selection { anchor: VPoint { line: -3, col: 3 }, cursor: VPoint { line: -1, col: 0 }, lines: true });
    assert_eq!(e.selection_text().unwrap(), "abcdefgh\nxy");
}

#[test]
fn capture_includes_requested_history() {
    let (mut e, _rx) = engine(10, 2);
    e.advance(b"one\r\ntwo\r\nthree\r\nfour");
    assert_eq!(e.capture(0), vec!["three", "four"]);
    assert_eq!(e.capture(5), vec!["one", "two", "three", "four"]);
}

#[test]
fn a_flood_keeps_only_the_screens_rows_in_the_grid() {
    let (tx, _rx) = PtyWriter::channel();
    let mut e = Engine::new(Size { cols: 200, rows: 50 }, 10_000, tx, Arc::default(), Arc::default());
    let text: String = (0..5000).map(|i| format!("line {i}\r\n")).collect();
    // In reads of the size a PTY gives, as a flood arrives.
    for chunk in text.as_bytes().chunks(4096) {
        e.advance(chunk);
    }
    e.advance(b"\x1b[2S");
    // Each line leaving the screen went straight to the compact history: the grid never
    // grew a full-width history row for it.
    assert_eq!(e.term().grid().allocated_rows(), 50, "the screen's rows only");
    assert_eq!(e.history_len(), 4953);
    assert_eq!(e.line_text(-4953), "line 0");
    assert_eq!(e.line_text(-1), "line 4952");
    assert_eq!(e.line_text(0), "line 4953");
}

#[test]
fn lines_scrolled_above_a_fixed_footer_reach_the_history_in_order() {
    let (mut e, _rx) = engine(20, 6);
    // A region over rows 1-4 with a footer below it (as Codex draws), then lines that scroll
    // inside it: what leaves the top is history, the footer stays.
    e.advance(b"\x1b[6;1Hfooter\x1b[1;4r\x1b[1;1H");
    e.advance((0..10).map(|i| format!("l{i}\r\n")).collect::<String>().as_bytes());
    assert_eq!(e.history_len(), 7);
    assert_eq!((-7..0).map(|l| e.line_text(l)).collect::<Vec<_>>(), ["l0", "l1", "l2", "l3", "l4", "l5", "l6"]);
    assert_eq!(e.capture(0), vec!["l7", "l8", "l9", "", "", "footer"]);
    assert_eq!(e.term().grid().allocated_rows(), 6);
}

#[test]
fn lines_a_resize_pushes_out_come_before_later_ones() {
    let (mut e, _rx) = engine(20, 6);
    e.advance((0..6).map(|i| format!("a{i}\r\n")).collect::<String>().as_bytes());
    assert_eq!(e.history_len(), 1);
    // Fewer rows: the grid pushes the top rows into its own history; the engine moves them.
    e.resize(20, 3);
    e.advance(b"b0\r\nb1\r\n");
    let all: Vec<String> = (-(e.history_len() as i32)..3).map(|l| e.line_text(l)).collect();
    assert_eq!(all, ["a0", "a1", "a2", "a3", "a4", "a5", "b0", "b1", ""]);
}

#[test]
fn the_alternate_screen_holds_rows_only_while_it_is_shown() {
    let (mut e, _rx) = engine(20, 4);
    assert!(e.term().inactive_grid().is_none(), "a fresh pane has no alternate screen");
    e.advance(b"main\x1b[?1049h\x1b[41malt");
    let primary = e.term().inactive_grid().expect("the primary screen, kept while the alternate is shown");
    assert_eq!(HistLine::from_row(&primary[Line(0)], 20).text(), "main");
    e.advance(b"\x1b[?1049l");
    assert!(e.term().inactive_grid().is_none(), "the alternate screen is dropped as it is left");
    assert_eq!(e.capture(0)[0], "main");
    // Entering again starts from a clear screen, as xterm's 1049 does.
    e.advance(b"\x1b[?47h");
    assert_eq!(e.capture(0), vec!["", "", "", ""]);
    e.advance(b"\x1b[?47l\x1b[?1049h\x1bc");
    assert!(e.term().inactive_grid().is_none(), "a reset goes back to the primary screen");
    assert!(!e.mode().contains(TermMode::ALT_SCREEN));
    assert_eq!(e.capture(0), vec!["", "", "", ""], "and clears it");
}
