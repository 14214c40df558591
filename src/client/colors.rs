//! Ask the user's terminal for its colours once, as the client attaches: OSC 10 and 11
//! (foreground, background) and OSC 4 for the 16 ANSI colours, followed by a DA1 query that
//! every terminal answers, so the answer's end is known without waiting out a timeout. A
//! terminal that answers none of the colour queries simply leaves them unknown.

use std::time::{Duration, Instant};

use crate::protocol::{parse_color_spec, TerminalColors};

/// The queries, then DA1 as the sentinel.
pub fn queries() -> Vec<u8> {
    let mut q = b"\x1b]10;?\x1b\\\x1b]11;?\x1b\\\x1b]4".to_vec();
    for i in 0..16 {
        q.extend_from_slice(format!(";{i};?").as_bytes());
    }
    q.extend_from_slice(b"\x1b\\\x1b[c");
    q
}

/// No honest answer is longer: the reading stops here whatever arrived.
const MAX_ANSWER: usize = 8 * 1024;

/// What the terminal said, read from its answers so far; `done` once the DA1 answer came.
#[derive(Debug, Default)]
pub struct Answers {
    pub colors: TerminalColors,
    pub done: bool,
}

/// Parse a terminal's answers: OSC strings ended by BEL or ST, and a DA1 reply
/// (`CSI ? … c`). Anything else (a key typed meanwhile) is skipped.
pub fn parse(bytes: &[u8]) -> Answers {
    let mut answers = Answers::default();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != 0x1b || i + 1 >= bytes.len() {
            i += 1;
            continue;
        }
        match bytes[i + 1] {
            b']' => {
                let body_start = i + 2;
                let mut end = body_start;
                let (body_end, next) = loop {
                    match bytes.get(end) {
                        None => return answers,
                        Some(0x07) => break (end, end + 1),
                        Some(0x1b) if bytes.get(end + 1) == Some(&b'\\') => break (end, end + 2),
                        Some(_) => end += 1,
                    }
                };
                if let Ok(body) = std::str::from_utf8(&bytes[body_start..body_end]) {
                    osc_answer(body, &mut answers.colors);
                }
                i = next;
            }
            b'[' if bytes.get(i + 2) == Some(&b'?') => {
                let rest = &bytes[i + 3..];
                match rest.iter().position(|b| !(b.is_ascii_digit() || *b == b';')) {
                    Some(p) if rest[p] == b'c' => {
                        answers.done = true;
                        i += 3 + p + 1;
                    }
                    Some(p) => i += 3 + p,
                    None => return answers,
                }
            }
            _ => i += 1,
        }
    }
    answers
}

fn osc_answer(body: &str, colors: &mut TerminalColors) {
    let mut fields = body.split(';');
    match fields.next() {
        Some("10") => colors.foreground = fields.next().and_then(parse_color_spec),
        Some("11") => colors.background = fields.next().and_then(parse_color_spec),
        Some("4") => {
            // One or more `index;spec` pairs.
            while let (Some(index), Some(spec)) = (fields.next(), fields.next()) {
                if let (Ok(index), Some(rgb)) = (index.parse::<usize>(), parse_color_spec(spec)) {
                    if let Some(slot) = colors.ansi.get_mut(index) {
                        *slot = Some(rgb);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Ask the terminal on stdin/stdout (already in raw mode) and wait up to `timeout` for the
/// answers. Never fails: a terminal that cannot be asked has unknown colours.
pub fn ask(timeout: Duration) -> TerminalColors {
    use std::io::Write;
    let mut out = std::io::stdout();
    if out.write_all(&queries()).and_then(|()| out.flush()).is_err() {
        return TerminalColors::default();
    }
    let deadline = Instant::now() + timeout;
    let stdin = rustix::stdio::stdin();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while got.len() < MAX_ANSWER {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut fds = [rustix::event::PollFd::new(&stdin, rustix::event::PollFlags::IN)];
        let timeout = rustix::event::Timespec::try_from(left).ok();
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(0) => break,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break,
        }
        match rustix::io::read(stdin, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        if parse(&got).done {
            break;
        }
    }
    parse(&got).colors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_end_with_bel_or_st_and_the_da1_reply_ends_the_wait() {
        let reply = b"\x1b]10;rgb:0000/0000/0000\x1b\\\x1b]11;rgb:ffff/ffff/f0f0\x07\x1b]4;1;rgb:cdcd/0000/0000\x1b\\\x1b[?62;22c";
        let a = parse(reply);
        assert!(a.done);
        assert_eq!(a.colors.foreground, Some([0, 0, 0]));
        assert_eq!(a.colors.background, Some([255, 255, 240]));
        assert_eq!(a.colors.ansi[1], Some([205, 0, 0]));
    }

    #[test]
    fn a_terminal_that_answers_only_da1_or_junk_leaves_colours_unknown() {
        let a = parse(b"x\x1b[?6c");
        assert!(a.done && a.colors.is_empty());
        let a = parse(b"\x1b]11;rgb:ffff/ffff");
        assert!(!a.done && a.colors.is_empty());
        let a = parse(b"\x1b]4;99;rgb:1/1/1;x;rgb:2/2/2\x1b\\\x1b]11;bogus\x07\x1b[?1;2");
        assert!(!a.done && a.colors.is_empty());
        // Several colours in one OSC 4 answer.
        let a = parse(b"\x1b]4;0;rgb:01/02/03;15;#ffffff\x1b\\");
        assert_eq!((a.colors.ansi[0], a.colors.ansi[15]), (Some([1, 2, 3]), Some([255, 255, 255])));
    }

    #[test]
    fn the_queries_end_with_the_sentinel() {
        let q = queries();
        assert!(q.starts_with(b"\x1b]10;?"));
        assert!(q.ends_with(b"\x1b[c"));
        assert_eq!(q.windows(2).filter(|w| w == b"?\x1b").count(), 3);
    }
}
