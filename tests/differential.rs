//! Differential test: the same byte stream played in an sbx pane and in a tmux pane of the
//! same size must leave the same text on screen (`sbx capture` against `tmux capture-pane -p`).

mod common;

use std::path::Path;

use common::*;

/// A deterministic generator of terminal output: colours, scroll regions, wide characters,
/// cursor movement, erases, insert/delete, wrapping.
///
/// Terminals disagree on what overwriting half of a wide character, or a wide character that
/// does not fit at the right margin, leaves behind (xterm, tmux and alacritty each differ), so
/// the generator keeps those apart: a "narrow" stream moves the cursor anywhere and edits in
/// place with narrow characters; a "wide" stream writes wide characters and emoji as text
/// lines that never split one (with colours, scroll regions and index/reverse index).
struct Gen {
    state: u64,
    col: u64,
}

const NARROW: &[&str] = &["agent", "pane", "naïve", "x", "tab\there", "┌─┐│└┘", "░▒▓█", "ÿ€£"];
const WIDE: &[&str] = &["日本語", "한국어", "emoji🙂", "中文字符", "混合mixed", "🦀rust", "ｆｕｌｌ"];

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen { state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1, col: 0 }
    }
    fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn colour(&mut self) -> String {
        match self.below(4) {
            0 => format!("\x1b[{}m", [0, 1, 2, 3, 4, 7, 9, 22, 24, 27][self.below(10) as usize]),
            1 => format!("\x1b[{}m", 30 + self.below(8) + if self.below(2) == 0 { 0 } else { 60 }),
            2 => format!("\x1b[38;5;{}m\x1b[48;5;{}m", self.below(256), self.below(256)),
            _ => format!("\x1b[38;2;{};{};{}m", self.below(256), self.below(256), self.below(256)),
        }
    }
    fn region(&mut self, rows: u64) -> String {
        let top = 1 + self.below(rows / 2);
        let bottom = top + 1 + self.below(rows - top);
        format!("\x1b[{top};{bottom}r\x1b[{top};1H")
    }

    fn narrow(&mut self, cols: u64, rows: u64, ops: usize) -> Vec<u8> {
        let mut out = String::new();
        for _ in 0..ops {
            let s = match self.below(14) {
                0 => format!("\x1b[{};{}H", 1 + self.below(rows), 1 + self.below(cols)),
                1 | 2 => self.colour(),
                3 => self.region(rows),
                4 => "\x1b[r".to_string(),
                5 => format!(
                    "\x1b[{}{}",
                    1 + self.below(3),
                    ["A", "B", "C", "D", "L", "M", "P", "@", "S", "T", "X", "G", "d"][self.below(13) as usize]
                ),
                6 => format!("\x1b[{}K", self.below(3)),
                7 if self.below(8) == 0 => format!("\x1b[{}J", self.below(2)),
                8 => "\r\n".to_string(),
                9 => "\x1bM".to_string(),
                10 => "\x1bD".to_string(),
                11 => "\x1b7\x1b[5;5H*\x1b8".to_string(),
                _ => {
                    let n = 1 + self.below(4);
                    (0..n).map(|_| NARROW[self.below(NARROW.len() as u64) as usize]).collect::<Vec<_>>().join(" ")
                }
            };
            out.push_str(&s);
        }
        out.push_str("\x1b[0m\x1b[r");
        out.into_bytes()
    }

    fn wide(&mut self, cols: u64, rows: u64, ops: usize) -> Vec<u8> {
        use unicode_width::UnicodeWidthStr;
        let mut out = String::new();
        for _ in 0..ops {
            match self.below(8) {
                0 | 1 => out.push_str(&self.colour()),
                2 => {
                    out.push_str(&self.region(rows));
                    self.col = 0;
                }
                3 => {
                    out.push_str("\r\n");
                    self.col = 0;
                }
                4 => out.push_str(if self.below(2) == 0 { "\x1bM" } else { "\x1bD" }),
                _ => {
                    let pool = if self.below(3) == 0 { NARROW } else { WIDE };
                    let word = pool[self.below(pool.len() as u64) as usize].replace('\t', " ");
                    let width = word.width() as u64 + 1;
                    if self.col + width >= cols {
                        out.push_str("\r\n");
                        self.col = 0;
                    }
                    out.push_str(&word);
                    out.push(' ');
                    self.col += width;
                }
            }
        }
        out.push_str("\x1b[0m\x1b[r");
        out.into_bytes()
    }
}

/// The output events of an asciicast (v2 or v3), concatenated.
fn cast_output(path: &Path) -> (Vec<u8>, u16, u16) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let cols = header["width"].as_u64().or(header["term"]["cols"].as_u64()).unwrap() as u16;
    let rows = header["height"].as_u64().or(header["term"]["rows"].as_u64()).unwrap() as u16;
    let mut out = Vec::new();
    for line in lines {
        let Ok(ev) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if ev[1] == "o" {
            out.extend_from_slice(ev[2].as_str().unwrap().as_bytes());
        }
    }
    (out, cols, rows)
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_string()
}

/// Play `bytes` in both and return (sbx screen, tmux screen).
fn play(name: &str, bytes: &[u8], cols: u16, rows: u16) -> (Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stream");
    std::fs::write(&file, bytes).unwrap();
    // No echo: the terminals' answers to queries in the stream must not land on screen.
    let script = format!("stty -echo; cat '{}'; exec sleep 3600", file.display());

    let sbx = Sbx::new();
    let size = format!("{cols}x{}", rows + 2);
    let pane = sbx.ok(&["new", "-d", "--size", &size, "--", "sh", "-c", &script]).trim().to_string();
    let tmux = Tmux::new(name);
    tmux.start("d", cols, rows, &format!("sh -c \"{script}\""));

    let sbx_pid = sbx.panes()[0]["pid"].as_u64().unwrap() as u32;
    let tmux_pid = tmux.pane_pid("d");
    wait_for("both streams to be written", || {
        (comm(sbx_pid) == "sleep"
            && tmux.capture("d").len() < usize::MAX
            && child_of(tmux_pid).is_some_and(|c| comm(c) == "sleep"))
        .then_some(())
    });
    let p = &sbx.panes()[0];
    assert_eq!((p["cols"].as_u64(), p["rows"].as_u64()), (Some(cols as u64), Some(rows as u64)));
    // Written is not yet parsed: wait until both screens hold still.
    let mut last = (Vec::new(), Vec::new());
    let mut same = 0;
    wait_for("both screens to settle", || {
        let now = (normalise(&sbx.capture(&pane)), normalise(&tmux.capture("d")));
        same = if now == last { same + 1 } else { 0 };
        last = now;
        (same >= 3).then_some(())
    });
    last
}

/// Play a stream cut at several points (a full-screen program's last frame is often a
/// cleared screen; the middle of its run is where the drawing is), comparing each.
/// Returns how many non-blank characters the screens held in all, to show they were not empty.
fn play_cuts(name: &str, bytes: &[u8], cols: u16, rows: u16, cuts: &[usize]) -> usize {
    let mut drawn = 0;
    for (i, &cut) in cuts.iter().enumerate() {
        let (a, b) = play(&format!("{name}{i}"), &bytes[..cut], cols, rows);
        assert_same(&format!("{name} cut at byte {cut} of {}", bytes.len()), &a, &b);
        drawn += a.iter().map(|l| l.chars().filter(|c| !c.is_whitespace()).count()).sum::<usize>();
    }
    drawn
}

/// Cut points at about a third, two thirds and the end, moved to a line break.
fn thirds(bytes: &[u8]) -> Vec<usize> {
    let at = |frac: usize| {
        let target = bytes.len() * frac / 3;
        bytes[target..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| target + p + 1)
    };
    let mut cuts = vec![at(1), at(2), bytes.len()];
    cuts.dedup();
    cuts
}

fn assert_same(name: &str, sbx: &[String], tmux: &[String]) {
    if sbx != tmux {
        let mut report = String::new();
        for i in 0..sbx.len().max(tmux.len()) {
            let (a, b) = (sbx.get(i).map(String::as_str).unwrap_or(""), tmux.get(i).map(String::as_str).unwrap_or(""));
            if a != b {
                report.push_str(&format!("line {i}:\n  sbx:  {a:?}\n  tmux: {b:?}\n"));
            }
        }
        panic!("{name}: sbx and tmux differ\n{report}");
    }
}

#[test]
fn generated_streams_match_tmux() {
    let (cols, rows) = (80u16, 24u16);
    for seed in [1u64, 7, 42] {
        let bytes = Gen::new(seed).narrow(cols as u64, rows as u64, 600);
        let drawn = play_cuts(&format!("narrow{seed}-"), &bytes, cols, rows, &thirds(&bytes));
        assert!(drawn > 100, "narrow seed {seed}: the screens held text ({drawn} characters)");
        let bytes = Gen::new(seed).wide(cols as u64, rows as u64, 600);
        let drawn = play_cuts(&format!("wide{seed}-"), &bytes, cols, rows, &thirds(&bytes));
        assert!(drawn > 100, "wide seed {seed}: the screens held text ({drawn} characters)");
    }
}

#[test]
fn recorded_streams_match_tmux() {
    let term = fixtures().join("terminal");
    if !term.exists() {
        eprintln!("no fixtures at {}; skipping", term.display());
        return;
    }
    let mut cases: Vec<(String, Vec<u8>, u16, u16)> = Vec::new();
    for cast in ["htop.cast", "claude-code-in-tmux-parallel.cast", "claude-code-in-tmux-tools-demo.cast"] {
        let (bytes, cols, rows) = cast_output(&term.join(cast));
        cases.push((cast.into(), bytes, cols, rows));
    }
    for (raw, cols, rows) in [
        ("alacritty-ref/tmux_git_log.recording", 105, 29),
        ("alacritty-ref/tmux_htop.recording", 105, 29),
        ("alacritty-ref/vim_large_window_scroll.recording", 172, 47),
    ] {
        cases.push((raw.into(), std::fs::read(term.join(raw)).unwrap(), cols, rows));
    }
    for (i, (name, bytes, cols, rows)) in cases.iter().enumerate() {
        let drawn = play_cuts(&format!("rec{i}-"), bytes, *cols, *rows, &thirds(bytes));
        assert!(drawn > 100, "{name}: the screens held text ({drawn} characters)");
    }
}

#[test]
fn vim_typescript_matches_its_expected_screen() {
    let term = fixtures().join("terminal");
    if !term.exists() {
        return;
    }
    let bytes = std::fs::read(term.join("xtermjs-t0504-vim.in")).unwrap();
    let expected = normalise(&std::fs::read_to_string(term.join("xtermjs-t0504-vim.text")).unwrap());
    let (a, b) = play("vim", &bytes, 80, 25);
    assert_same("xtermjs vim against tmux", &a, &b);
    assert_same("xtermjs vim against its expected text", &a, &expected);
}
