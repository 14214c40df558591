//! Chords: "C-b", "M-Left", "S-Enter", "F5", "%". Parsed from keymap files and
//! matched against the key events clients send.

use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Chord {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Chord {
    /// Normalise a key event so that it compares equal to the chord a user wrote:
    /// a printable character already says whether Shift was held ('%' not 'S-5').
    pub fn from_event(key: &KeyEvent) -> Chord {
        let mut mods = key.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let mut code = key.code;
        if let KeyCode::Char(c) = code {
            mods.remove(KeyModifiers::SHIFT);
            // Ctrl+letter arrives lower-case from most terminals; keep one spelling.
            if mods.contains(KeyModifiers::CONTROL) && c.is_ascii_uppercase() {
                code = KeyCode::Char(c.to_ascii_lowercase());
            }
        }
        if code == KeyCode::BackTab {
            code = KeyCode::Tab;
            mods.insert(KeyModifiers::SHIFT);
        }
        Chord { code, mods }
    }

    pub fn parse(text: &str) -> Result<Chord, String> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = text;
        // Modifier prefixes; a lone "-" is the minus key, not a modifier.
        while rest.len() > 2 {
            let (head, tail) = rest.split_at(2);
            let m = match head {
                "C-" => KeyModifiers::CONTROL,
                "M-" | "A-" => KeyModifiers::ALT,
                "S-" => KeyModifiers::SHIFT,
                _ => break,
            };
            mods |= m;
            rest = tail;
        }
        let code = parse_key_name(rest).ok_or_else(|| {
            format!("unknown key {rest:?} in {text:?} (try a character, Enter, Tab, Esc, Left, F1, PageUp, C-x, M-x)")
        })?;
        Ok(Chord::from_event(&KeyEvent::new(code, mods)))
    }
}

fn parse_key_name(name: &str) -> Option<KeyCode> {
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Some(KeyCode::Char(c));
    }
    let code = match name.to_ascii_lowercase().as_str() {
        "enter" | "return" => KeyCode::Enter,
        "tab" => KeyCode::Tab,
        "btab" | "backtab" => KeyCode::BackTab,
        "esc" | "escape" => KeyCode::Esc,
        "space" => KeyCode::Char(' '),
        "bspace" | "backspace" => KeyCode::Backspace,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "pageup" | "ppage" => KeyCode::PageUp,
        "pagedown" | "npage" => KeyCode::PageDown,
        "insert" | "ic" => KeyCode::Insert,
        "delete" | "dc" => KeyCode::Delete,
        other => {
            let n: u8 = other.strip_prefix('f')?.parse().ok()?;
            if (1..=24).contains(&n) {
                KeyCode::F(n)
            } else {
                return None;
            }
        }
    };
    Some(code)
}

impl fmt::Display for Chord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("C-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("M-")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            f.write_str("S-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::F(n) => write!(f, "F{n}"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Backspace => f.write_str("BSpace"),
            KeyCode::Left => f.write_str("Left"),
            KeyCode::Right => f.write_str("Right"),
            KeyCode::Up => f.write_str("Up"),
            KeyCode::Down => f.write_str("Down"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::PageUp => f.write_str("PageUp"),
            KeyCode::PageDown => f.write_str("PageDown"),
            KeyCode::Insert => f.write_str("Insert"),
            KeyCode::Delete => f.write_str("Delete"),
            other => write!(f, "{other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modifiers_and_names() {
        let c = Chord::parse("C-b").unwrap();
        assert_eq!(c.code, KeyCode::Char('b'));
        assert_eq!(c.mods, KeyModifiers::CONTROL);
        let c = Chord::parse("C-M-Left").unwrap();
        assert_eq!(c.code, KeyCode::Left);
        assert_eq!(c.mods, KeyModifiers::CONTROL | KeyModifiers::ALT);
        assert_eq!(Chord::parse("-").unwrap().code, KeyCode::Char('-'));
        assert_eq!(Chord::parse("M--").unwrap().code, KeyCode::Char('-'));
        assert_eq!(Chord::parse("F12").unwrap().code, KeyCode::F(12));
        assert!(Chord::parse("C-Nope").is_err());
    }

    #[test]
    fn shifted_characters_match_their_event() {
        let ev = KeyEvent::new(KeyCode::Char('%'), KeyModifiers::SHIFT);
        assert_eq!(Chord::from_event(&ev), Chord::parse("%").unwrap());
        let ev = KeyEvent::new(KeyCode::Char('B'), KeyModifiers::CONTROL | KeyModifiers::SHIFT);
        assert_eq!(Chord::from_event(&ev), Chord::parse("C-b").unwrap());
    }

    #[test]
    fn display_round_trips() {
        for s in ["C-b", "M-Left", "%", "F5", "C-M-x", "Space"] {
            let c = Chord::parse(s).unwrap();
            assert_eq!(Chord::parse(&c.to_string()).unwrap(), c);
        }
    }
}
