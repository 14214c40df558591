//! The colours of a client's own terminal, as it answered OSC 10, 11 and 4 when the client
//! attached: what a program in a pane reads back when it asks (and has set none itself), so a
//! program choosing a light or dark theme sees the terminal the user really looks at.

use serde::{Deserialize, Serialize};

/// An 8-bit-per-channel colour.
pub type Rgb8 = [u8; 3];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalColors {
    pub foreground: Option<Rgb8>,
    pub background: Option<Rgb8>,
    /// The 16 ANSI colours (OSC 4 indices 0–15).
    pub ansi: [Option<Rgb8>; 16],
}

impl TerminalColors {
    pub fn is_empty(&self) -> bool {
        *self == TerminalColors::default()
    }

    /// The colour for a slot as the terminal engine numbers them: 0–15 ANSI, 256 foreground,
    /// 257 background.
    pub fn slot(&self, index: usize) -> Option<Rgb8> {
        match index {
            0..=15 => self.ansi[index],
            256 => self.foreground,
            257 => self.background,
            _ => None,
        }
    }

    /// Take what `other` knows, keeping what it does not.
    pub fn merge(&mut self, other: &TerminalColors) {
        self.foreground = other.foreground.or(self.foreground);
        self.background = other.background.or(self.background);
        for (mine, theirs) in self.ansi.iter_mut().zip(other.ansi) {
            *mine = theirs.or(*mine);
        }
    }
}

/// Parse an X11 colour spec as terminals answer it: `rgb:R/G/B` with 1–4 hex digits per
/// channel (scaled to 8 bits), or `#RRGGBB`.
pub fn parse_color_spec(spec: &str) -> Option<Rgb8> {
    if let Some(rest) = spec.strip_prefix("rgb:") {
        let mut out = [0u8; 3];
        let mut parts = rest.split('/');
        for channel in &mut out {
            let part = parts.next()?;
            if part.is_empty() || part.len() > 4 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let value = u32::from_str_radix(part, 16).ok()?;
            let max = (1u32 << (4 * part.len())) - 1;
            *channel = ((value * 255 + max / 2) / max) as u8;
        }
        return parts.next().is_none().then_some(out);
    }
    let hex = spec.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_specs_of_every_width_scale_to_eight_bits() {
        assert_eq!(parse_color_spec("rgb:ffff/ffff/ffff"), Some([255, 255, 255]));
        assert_eq!(parse_color_spec("rgb:f0f0/0000/8080"), Some([240, 0, 128]));
        assert_eq!(parse_color_spec("rgb:f/0/8"), Some([255, 0, 136]));
        assert_eq!(parse_color_spec("rgb:fff/000/800"), Some([255, 0, 128]));
        assert_eq!(parse_color_spec("#1e1e2e"), Some([0x1e, 0x1e, 0x2e]));
        for bad in ["rgb:ffff/ffff", "rgb:fffff/0/0", "rgb:g/0/0", "rgb:1/2/3/4", "#12345", "", "rgb://"] {
            assert_eq!(parse_color_spec(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn slots_follow_the_engines_numbering() {
        let mut c = TerminalColors { background: Some([1, 2, 3]), ..Default::default() };
        c.ansi[4] = Some([0, 0, 200]);
        assert_eq!(c.slot(257), Some([1, 2, 3]));
        assert_eq!(c.slot(4), Some([0, 0, 200]));
        assert_eq!(c.slot(256), None);
        assert_eq!(c.slot(300), None);
        let mut base = TerminalColors { foreground: Some([9, 9, 9]), ..Default::default() };
        base.merge(&c);
        assert_eq!((base.foreground, base.background), (Some([9, 9, 9]), Some([1, 2, 3])));
    }
}
