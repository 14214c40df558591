//! Themes: the shipped presets (themes/*.toml, embedded) plus the user's overrides,
//! merged colour by colour.

use ratatui::style::Color;

pub const PRESETS: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("ansi16", include_str!("../../themes/ansi16.toml")),
];

macro_rules! theme_colors {
    ($($field:ident),* $(,)?) => {
        #[derive(Debug, Clone)]
        pub struct Theme {
            pub name: String,
            $(pub $field: Color,)*
        }

        impl Theme {
            fn set(&mut self, key: &str, color: Color) -> bool {
                match key {
                    $(stringify!($field) => { self.$field = color; true })*
                    _ => false,
                }
            }

            fn blank(name: &str) -> Theme {
                Theme { name: name.to_string(), $($field: Color::Reset,)* }
            }

            pub const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];
        }
    };
}

theme_colors!(
    border,
    border_active,
    title,
    title_active,
    status_bg,
    status_fg,
    status_tab_active_bg,
    status_tab_active_fg,
    status_accent,
    sidebar_bg,
    sidebar_fg,
    sidebar_heading,
    sidebar_selected_bg,
    selection_bg,
    selection_fg,
    search_match_bg,
    search_match_fg,
    popup_bg,
    popup_fg,
    popup_border,
    filler,
);

impl Theme {
    pub fn preset(name: &str) -> Result<Theme, String> {
        let (_, text) = PRESETS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            format!("no theme preset {name:?}; the presets are {}", names.join(", "))
        })?;
        let mut theme = Theme::blank(name);
        theme.overlay(text, &format!("themes/{name}.toml"))?;
        Ok(theme)
    }

    /// Merge an override file. On error nothing is changed.
    pub fn overlay(&mut self, text: &str, origin: &str) -> Result<(), String> {
        let table: toml::Table = text.parse().map_err(|e| format!("{origin}: {e}"))?;
        let mut next = self.clone();
        for (key, value) in &table {
            match (key.as_str(), value) {
                ("name", _) => {}
                ("colors", toml::Value::Table(colors)) => {
                    for (name, value) in colors {
                        let text = value
                            .as_str()
                            .ok_or_else(|| format!("{origin}: colors.{name}: a colour is a string like \"#61afef\""))?;
                        let color = parse_color(text).map_err(|e| format!("{origin}: colors.{name}: {e}"))?;
                        if !next.set(name, color) {
                            return Err(format!(
                                "{origin}: unknown colour {name:?}; the theme keys are {}",
                                Theme::KEYS.join(", ")
                            ));
                        }
                    }
                }
                (other, _) => {
                    return Err(format!("{origin}: unexpected entry {other:?} (a theme has name and [colors])"))
                }
            }
        }
        *self = next;
        Ok(())
    }
}

pub fn parse_color(text: &str) -> Result<Color, String> {
    let t = text.trim().to_ascii_lowercase();
    if let Some(hex) = t.strip_prefix('#') {
        if hex.len() == 6 {
            if let Ok(v) = u32::from_str_radix(hex, 16) {
                return Ok(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
            }
        }
        return Err(format!("{text:?} is not #rrggbb"));
    }
    if let Ok(index) = t.parse::<u8>() {
        return Ok(Color::Indexed(index));
    }
    let color = match t.as_str() {
        "reset" | "default" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "white" => Color::Gray,
        "bright-black" => Color::DarkGray,
        "bright-red" => Color::LightRed,
        "bright-green" => Color::LightGreen,
        "bright-yellow" => Color::LightYellow,
        "bright-blue" => Color::LightBlue,
        "bright-magenta" => Color::LightMagenta,
        "bright-cyan" => Color::LightCyan,
        "bright-white" => Color::White,
        _ => return Err(format!("{text:?} is not a colour (#rrggbb, 0-255, an ANSI name, or reset)")),
    };
    Ok(color)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_set_every_colour() {
        for (name, text) in PRESETS {
            let table: toml::Table = text.parse().unwrap();
            let colors = table["colors"].as_table().unwrap();
            for key in Theme::KEYS {
                assert!(colors.contains_key(*key), "{name} lacks {key}");
            }
            Theme::preset(name).unwrap();
        }
    }

    #[test]
    fn ansi16_uses_only_the_16_colours() {
        let theme = Theme::preset("ansi16").unwrap();
        let table: toml::Table = PRESETS[2].1.parse().unwrap();
        for (key, _) in table["colors"].as_table().unwrap() {
            let c = parse_color(table["colors"][key].as_str().unwrap()).unwrap();
            assert!(!matches!(c, Color::Rgb(..) | Color::Indexed(_)), "{key} is not an ANSI colour");
        }
        assert_eq!(theme.name, "ansi16");
    }

    #[test]
    fn override_is_colour_by_colour_and_atomic() {
        let mut theme = Theme::preset("dark").unwrap();
        let before = theme.status_fg;
        theme.overlay("[colors]\nborder = \"#010203\"\n", "theme.toml").unwrap();
        assert_eq!(theme.border, Color::Rgb(1, 2, 3));
        assert_eq!(theme.status_fg, before);
        let err = theme.overlay("[colors]\nborder = \"#ffffff\"\nnope = \"red\"\n", "theme.toml").unwrap_err();
        assert!(err.contains("nope"));
        assert_eq!(theme.border, Color::Rgb(1, 2, 3));
    }
}
