//! Encoding what the user does (keys, mouse, paste, focus) into the bytes a child expects,
//! following the modes the child asked for: xterm sequences by default, the kitty keyboard
//! protocol when the child enabled it, SGR or legacy mouse reports, bracketed paste.

use alacritty_terminal::term::TermMode;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

/// xterm's modifier parameter: 1 + shift + 2·alt + 4·ctrl.
fn modifier_param(mods: KeyModifiers) -> u8 {
    let mut m = 1;
    if mods.contains(KeyModifiers::SHIFT) {
        m += 1;
    }
    if mods.contains(KeyModifiers::ALT) {
        m += 2;
    }
    if mods.contains(KeyModifiers::CONTROL) {
        m += 4;
    }
    m
}

fn relevant(mods: KeyModifiers) -> KeyModifiers {
    mods & (KeyModifiers::SHIFT | KeyModifiers::ALT | KeyModifiers::CONTROL)
}

pub fn encode_key(key: &KeyEvent, mode: TermMode) -> Vec<u8> {
    if key.kind == KeyEventKind::Release {
        return Vec::new();
    }
    let mods = relevant(key.modifiers);
    let kitty = mode.contains(TermMode::DISAMBIGUATE_ESC_CODES);
    if kitty {
        if let Some(bytes) = encode_kitty(key.code, mods, mode) {
            return bytes;
        }
    }
    encode_legacy(key.code, mods, mode)
}

/// Kitty "disambiguate" level: keys that legacy encoding makes ambiguous become `CSI code;mods u`.
fn encode_kitty(code: KeyCode, mods: KeyModifiers, mode: TermMode) -> Option<Vec<u8>> {
    let csi_u = |cp: u32, mods: KeyModifiers| {
        let m = modifier_param(mods);
        Some(if m == 1 { format!("\x1b[{cp}u") } else { format!("\x1b[{cp};{m}u") }.into_bytes())
    };
    let all_as_esc = mode.contains(TermMode::REPORT_ALL_KEYS_AS_ESC);
    match code {
        KeyCode::Esc => csi_u(27, mods),
        KeyCode::Enter if !mods.is_empty() || all_as_esc => csi_u(13, mods),
        KeyCode::Tab if !mods.is_empty() || all_as_esc => csi_u(9, mods),
        KeyCode::BackTab => csi_u(9, mods | KeyModifiers::SHIFT),
        KeyCode::Backspace if !mods.is_empty() || all_as_esc => csi_u(127, mods),
        KeyCode::Char(c) => {
            let text_only = (mods - KeyModifiers::SHIFT).is_empty();
            if text_only && !all_as_esc {
                return None;
            }
            // Kitty reports the unshifted key; for letters that is the lower case.
            let base = if c.is_ascii_uppercase() { c.to_ascii_lowercase() } else { c };
            let mods = if c.is_ascii_uppercase() { mods | KeyModifiers::SHIFT } else { mods };
            csi_u(base as u32, mods)
        }
        _ => None,
    }
}

fn encode_legacy(code: KeyCode, mods: KeyModifiers, mode: TermMode) -> Vec<u8> {
    let alt = mods.contains(KeyModifiers::ALT);
    let ctrl = mods.contains(KeyModifiers::CONTROL);
    let with_alt = |mut bytes: Vec<u8>| {
        if alt {
            bytes.insert(0, 0x1b);
        }
        bytes
    };
    let m = modifier_param(mods);
    let app_cursor = mode.contains(TermMode::APP_CURSOR);
    // CSI final-letter keys (arrows, Home, End) and F1–F4 (SS3 letters).
    let letter = |ch: char, ss3: bool| -> Vec<u8> {
        if m > 1 {
            format!("\x1b[1;{m}{ch}").into_bytes()
        } else if ss3 {
            format!("\x1bO{ch}").into_bytes()
        } else {
            format!("\x1b[{ch}").into_bytes()
        }
    };
    let tilde = |n: u8| -> Vec<u8> {
        if m > 1 {
            format!("\x1b[{n};{m}~").into_bytes()
        } else {
            format!("\x1b[{n}~").into_bytes()
        }
    };
    match code {
        KeyCode::Char(c) => {
            if ctrl {
                if let Some(b) = control_byte(c) {
                    return with_alt(vec![b]);
                }
            }
            let mut buf = [0u8; 4];
            with_alt(c.encode_utf8(&mut buf).as_bytes().to_vec())
        }
        KeyCode::Enter => {
            if mode.contains(TermMode::LINE_FEED_NEW_LINE) {
                with_alt(b"\r\n".to_vec())
            } else {
                with_alt(b"\r".to_vec())
            }
        }
        KeyCode::Tab => with_alt(b"\t".to_vec()),
        KeyCode::BackTab => b"\x1b[Z".to_vec(),
        KeyCode::Backspace => with_alt(if ctrl { vec![0x08] } else { vec![0x7f] }),
        KeyCode::Esc => with_alt(vec![0x1b]),
        KeyCode::Up => letter('A', app_cursor),
        KeyCode::Down => letter('B', app_cursor),
        KeyCode::Right => letter('C', app_cursor),
        KeyCode::Left => letter('D', app_cursor),
        KeyCode::Home => letter('H', app_cursor),
        KeyCode::End => letter('F', app_cursor),
        KeyCode::Insert => tilde(2),
        KeyCode::Delete => tilde(3),
        KeyCode::PageUp => tilde(5),
        KeyCode::PageDown => tilde(6),
        KeyCode::F(n @ 1..=4) => letter([b'P', b'Q', b'R', b'S'][n as usize - 1] as char, true),
        KeyCode::F(n @ 5..=12) => tilde([15, 17, 18, 19, 20, 21, 23, 24][n as usize - 5]),
        KeyCode::F(n @ 13..=20) => tilde([25, 26, 28, 29, 31, 32, 33, 34][n as usize - 13]),
        _ => Vec::new(),
    }
}

/// The C0 byte for Ctrl+key, as xterm sends it.
fn control_byte(c: char) -> Option<u8> {
    let b = match c {
        'a'..='z' => c as u8 - b'a' + 1,
        'A'..='Z' => c as u8 - b'A' + 1,
        '@' | ' ' | '2' => 0,
        '[' | '3' => 27,
        '\\' | '4' => 28,
        ']' | '5' => 29,
        '^' | '6' => 30,
        '_' | '-' | '7' | '/' => 31,
        '?' | '8' => 127,
        _ => return None,
    };
    Some(b)
}

pub fn encode_paste(text: &str, mode: TermMode) -> Vec<u8> {
    if mode.contains(TermMode::BRACKETED_PASTE) {
        // A pasted end marker would let pasted text escape the bracket and run as keys.
        let clean = text.replace("\x1b[201~", "");
        let mut out = b"\x1b[200~".to_vec();
        out.extend_from_slice(clean.as_bytes());
        out.extend_from_slice(b"\x1b[201~");
        out
    } else {
        text.replace("\r\n", "\r").replace('\n', "\r").into_bytes()
    }
}

pub fn encode_focus(gained: bool, mode: TermMode) -> Vec<u8> {
    if !mode.contains(TermMode::FOCUS_IN_OUT) {
        return Vec::new();
    }
    if gained {
        b"\x1b[I".to_vec()
    } else {
        b"\x1b[O".to_vec()
    }
}

/// Encode a mouse event at pane-local cell (col, row), 0-based, if the child asked for it.
/// Returns None when the child does not want this event (sbx may then use it itself).
pub fn encode_mouse(event: &MouseEvent, col: u16, row: u16, mode: TermMode) -> Option<Vec<u8>> {
    if !mode.intersects(TermMode::MOUSE_MODE) {
        return None;
    }
    let (mut button, pressed) = match event.kind {
        MouseEventKind::Down(b) => (button_code(b), true),
        MouseEventKind::Up(b) => (button_code(b), false),
        MouseEventKind::Drag(b) => {
            if !mode.intersects(TermMode::MOUSE_DRAG | TermMode::MOUSE_MOTION) {
                return None;
            }
            (button_code(b) + 32, true)
        }
        MouseEventKind::Moved => {
            if !mode.contains(TermMode::MOUSE_MOTION) {
                return None;
            }
            (35, true)
        }
        MouseEventKind::ScrollUp => (64, true),
        MouseEventKind::ScrollDown => (65, true),
        MouseEventKind::ScrollLeft => (66, true),
        MouseEventKind::ScrollRight => (67, true),
    };
    if event.modifiers.contains(KeyModifiers::SHIFT) {
        button += 4;
    }
    if event.modifiers.contains(KeyModifiers::ALT) {
        button += 8;
    }
    if event.modifiers.contains(KeyModifiers::CONTROL) {
        button += 16;
    }
    let (x, y) = (col as u32 + 1, row as u32 + 1);
    if mode.contains(TermMode::SGR_MOUSE) {
        let end = if pressed { 'M' } else { 'm' };
        return Some(format!("\x1b[<{button};{x};{y}{end}").into_bytes());
    }
    // Legacy reports cannot say which button was released.
    if !pressed {
        button = 3 + (button & !3);
    }
    let mut out = b"\x1b[M".to_vec();
    out.push(32 + button as u8);
    for v in [x, y] {
        let v = v + 32;
        if mode.contains(TermMode::UTF8_MOUSE) {
            let c = char::from_u32(v.min(2047))?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        } else if v <= 255 {
            out.push(v as u8);
        } else {
            return None;
        }
    }
    Some(out)
}

fn button_code(b: MouseButton) -> u32 {
    match b {
        MouseButton::Left => 0,
        MouseButton::Middle => 1,
        MouseButton::Right => 2,
    }
}

/// Key names for `sbx send-keys --key`: "Enter", "C-c", "M-x", "Up", "F5"…
pub fn encode_named_key(name: &str, mode: TermMode) -> Result<Vec<u8>, String> {
    let chord = crate::keymap::Chord::parse(name)?;
    Ok(encode_key(&KeyEvent::new(chord.code, chord.mods), mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn legacy_keys() {
        let m = TermMode::empty();
        assert_eq!(encode_key(&key(KeyCode::Char('c'), KeyModifiers::CONTROL), m), vec![3]);
        assert_eq!(encode_key(&key(KeyCode::Char('x'), KeyModifiers::ALT), m), b"\x1bx");
        assert_eq!(encode_key(&key(KeyCode::Up, KeyModifiers::NONE), m), b"\x1b[A");
        assert_eq!(encode_key(&key(KeyCode::Up, KeyModifiers::NONE), TermMode::APP_CURSOR), b"\x1bOA");
        assert_eq!(encode_key(&key(KeyCode::Left, KeyModifiers::CONTROL), m), b"\x1b[1;5D");
        assert_eq!(encode_key(&key(KeyCode::F(5), KeyModifiers::SHIFT), m), b"\x1b[15;2~");
        assert_eq!(encode_key(&key(KeyCode::F(1), KeyModifiers::NONE), m), b"\x1bOP");
        assert_eq!(encode_key(&key(KeyCode::Enter, KeyModifiers::NONE), m), b"\r");
        assert_eq!(encode_key(&key(KeyCode::BackTab, KeyModifiers::SHIFT), m), b"\x1b[Z");
        assert_eq!(encode_key(&key(KeyCode::Char('é'), KeyModifiers::NONE), m), "é".as_bytes());
    }

    #[test]
    fn kitty_disambiguates_what_legacy_cannot() {
        let m = TermMode::DISAMBIGUATE_ESC_CODES;
        assert_eq!(encode_key(&key(KeyCode::Enter, KeyModifiers::SHIFT), m), b"\x1b[13;2u");
        assert_eq!(encode_key(&key(KeyCode::Esc, KeyModifiers::NONE), m), b"\x1b[27u");
        assert_eq!(encode_key(&key(KeyCode::Char('c'), KeyModifiers::CONTROL), m), b"\x1b[99;5u");
        assert_eq!(encode_key(&key(KeyCode::Char('A'), KeyModifiers::SHIFT), m), b"A");
        assert_eq!(encode_key(&key(KeyCode::Enter, KeyModifiers::NONE), m), b"\r");
        assert_eq!(encode_key(&key(KeyCode::Up, KeyModifiers::NONE), m), b"\x1b[A");
    }

    #[test]
    fn paste_is_bracketed_only_when_asked_and_cannot_escape() {
        assert_eq!(encode_paste("a\nb", TermMode::empty()), b"a\rb");
        assert_eq!(encode_paste("x\x1b[201~y", TermMode::BRACKETED_PASTE), b"\x1b[200~xy\x1b[201~");
    }

    #[test]
    fn mouse_reports_follow_the_mode() {
        let ev = MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: 0,
            row: 0,
            modifiers: KeyModifiers::NONE,
        };
        assert_eq!(encode_mouse(&ev, 4, 2, TermMode::empty()), None);
        let sgr = TermMode::MOUSE_REPORT_CLICK | TermMode::SGR_MOUSE;
        assert_eq!(encode_mouse(&ev, 4, 2, sgr).unwrap(), b"\x1b[<0;5;3M");
        let up = MouseEvent { kind: MouseEventKind::Up(MouseButton::Left), ..ev };
        assert_eq!(encode_mouse(&up, 4, 2, sgr).unwrap(), b"\x1b[<0;5;3m");
        assert_eq!(encode_mouse(&ev, 4, 2, TermMode::MOUSE_REPORT_CLICK).unwrap(), b"\x1b[M\x20\x25\x23");
        let moved = MouseEvent { kind: MouseEventKind::Moved, ..ev };
        assert_eq!(encode_mouse(&moved, 0, 0, sgr), None);
    }
}
