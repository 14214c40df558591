//! User configuration: config.toml settings plus keymap and theme overrides.
//!
//! A broken user file never stops sbx: it falls back to the presets and reports
//! what it ignored (`warnings`). `sbx config check` turns the same findings into an error.

mod bridge;
pub mod notify;
pub mod paths;
mod web;

pub use bridge::BridgeSettings;
pub use web::WebSettings;

use std::path::Path;

use serde::Deserialize;

use crate::keymap::Keymap;
use crate::ui::theme::Theme;

pub const DEFAULT_SCROLLBACK: usize = 10_000;
/// Scrollback above this many lines is refused: memory per pane grows with it.
pub const MAX_SCROLLBACK: usize = 1_000_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub keymap: String,
    pub theme: String,
    pub scrollback: usize,
    pub sidebar: bool,
    pub sidebar_width: u16,
    /// Shell for new panes; empty means $SHELL, then /bin/sh.
    pub shell: String,
    /// Ring the terminal's bell when an agent starts waiting for an answer.
    pub notify_bell: bool,
    /// Desktop notification escape then: "osc9", "osc777" or "none".
    pub notify_desktop: String,
    /// The bridge's limits and options (`[bridge]`).
    pub bridge: BridgeSettings,
    /// The relay for sharing sessions (`$SBX_RELAY` wins); empty: none.
    pub relay: String,
    /// What the server logs to server.log: error, warn, info, debug or trace (`$SBX_LOG` wins).
    pub log_level: String,
    /// After a server that did not stop cleanly: "auto" rebuilds its sessions, "ask" says
    /// that `sbx restore` can, "off" does neither.
    pub restore: String,
    /// Programs (base names) a restore may run again; any other command comes back as a
    /// shell in its directory. Shells and agents always come back.
    pub restore_commands: Vec<String>,
    /// Keep each pane's text (screen and history) in the snapshot and show it again after a
    /// restore. Off: history can hold secrets, and the snapshot is a file on disk.
    pub restore_history: bool,
    /// At most this much of each pane's text is kept (the end of it).
    pub restore_history_bytes: usize,
    /// The browser endpoint (`[web]`).
    pub web: WebSettings,
    /// When and how an agent that needs you is announced (`[notify]`).
    pub notify: notify::NotifySettings,
}

/// The most `restore_history_bytes` may ask for.
pub const MAX_RESTORE_HISTORY_BYTES: usize = 4 * 1024 * 1024;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            keymap: "default".into(),
            theme: "dark".into(),
            scrollback: DEFAULT_SCROLLBACK,
            sidebar: false,
            sidebar_width: 32,
            shell: String::new(),
            notify_bell: true,
            notify_desktop: "osc9".into(),
            bridge: Default::default(),
            relay: String::new(),
            log_level: "info".into(),
            restore: "auto".into(),
            restore_commands: Vec::new(),
            restore_history: false,
            restore_history_bytes: 64 * 1024,
            web: WebSettings::default(),
            notify: Default::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Which of the user's files could not be used (each fell back whole).
    pub broken: Broken,
    pub settings: Settings,
    pub keymap: Keymap,
    pub theme: Theme,
    /// What was ignored and why, for the status line and `sbx config check`.
    pub warnings: Vec<String>,
}

impl Config {
    /// Read the files again over a running `old`: a part whose file is broken keeps what it
    /// was, rather than falling back to the presets (`sbx reload`).
    pub fn reload(config_dir: &Path, old: &Config) -> Config {
        let mut new = Config::load(config_dir);
        if new.broken.settings {
            new.settings = old.settings.clone();
        }
        if new.broken.keymap {
            new.keymap = old.keymap.clone();
        }
        if new.broken.theme {
            new.theme = old.theme.clone();
        }
        new
    }

    pub fn load(config_dir: &Path) -> Config {
        let mut warnings = Vec::new();
        let mut broken = Broken::default();
        let settings = match read_optional(&config_dir.join("config.toml")) {
            Ok(Some(text)) => match toml::from_str::<Settings>(&text) {
                Ok(s) if s.restore_history_bytes > MAX_RESTORE_HISTORY_BYTES => {
                    warnings.push(format!(
                        "config.toml: restore_history_bytes {} is over {MAX_RESTORE_HISTORY_BYTES}; using 65536",
                        s.restore_history_bytes
                    ));
                    Settings { restore_history_bytes: 64 * 1024, ..s }
                }
                Ok(s) if !matches!(s.restore.as_str(), "auto" | "ask" | "off") => {
                    warnings.push(format!(
                        "config.toml: restore is \"auto\", \"ask\" or \"off\", not {:?}; using \"auto\"",
                        one_line(&s.restore)
                    ));
                    Settings { restore: "auto".into(), ..s }
                }
                Ok(s) if s.scrollback > MAX_SCROLLBACK => {
                    warnings.push(format!(
                        "config.toml: scrollback {} is over {MAX_SCROLLBACK}; using {DEFAULT_SCROLLBACK}",
                        s.scrollback
                    ));
                    Settings { scrollback: DEFAULT_SCROLLBACK, ..s }
                }
                Ok(s) => s,
                Err(e) => {
                    warnings.push(format!("config.toml ignored: {}", one_line(&e.to_string())));
                    broken.settings = true;
                    Settings::default()
                }
            },
            Ok(None) => Settings::default(),
            Err(e) => {
                warnings.push(e);
                broken.settings = true;
                Settings::default()
            }
        };

        let mut settings = settings;
        settings.notify = std::mem::take(&mut settings.notify).checked(&mut warnings);
        let mut keymap = Keymap::preset(&settings.keymap).unwrap_or_else(|e| {
            warnings.push(format!("config.toml: {e}; using the default keymap"));
            broken.keymap = true;
            Keymap::preset("default").expect("the default keymap preset is valid")
        });
        broken.keymap |=
            overlay_file(config_dir, "keymap.toml", &mut warnings, |text| keymap.overlay(text, "keymap.toml"));

        let mut theme = Theme::preset(&settings.theme).unwrap_or_else(|e| {
            warnings.push(format!("config.toml: {e}; using the dark theme"));
            broken.theme = true;
            Theme::preset("dark").expect("the dark theme preset is valid")
        });
        broken.theme |= overlay_file(config_dir, "theme.toml", &mut warnings, |text| theme.overlay(text, "theme.toml"));
        Config { broken, settings, keymap, theme, warnings }
    }
}

/// Which of the user's files were ignored.
#[derive(Debug, Clone, Copy, Default)]
pub struct Broken {
    pub settings: bool,
    pub keymap: bool,
    pub theme: bool,
}

/// Apply a user override file if there is one; a broken one is ignored whole, with a warning
/// (and true).
fn overlay_file(
    dir: &Path,
    name: &str,
    warnings: &mut Vec<String>,
    apply: impl FnOnce(&str) -> Result<(), String>,
) -> bool {
    match read_optional(&dir.join(name)) {
        Ok(Some(text)) => match apply(&text) {
            Ok(()) => false,
            Err(e) => {
                warnings.push(format!("{} (ignored the whole file)", one_line(&e)));
                true
            }
        },
        Ok(None) => false,
        Err(e) => {
            warnings.push(e);
            true
        }
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{} ignored: {e}", path.display())),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reload keeps, for each broken file, what that file had given (not the presets).
    #[test]
    fn a_reload_keeps_the_old_parts_of_broken_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), "scrollback = 500\ntheme = \"light\"\n").unwrap();
        std::fs::write(dir.path().join("keymap.toml"), "prefix = \"C-a\"\n").unwrap();
        let old = Config::load(dir.path());
        assert!(old.warnings.is_empty(), "{:?}", old.warnings);
        std::fs::write(dir.path().join("config.toml"), "scrollback = \"lots\"\n").unwrap();
        std::fs::write(dir.path().join("keymap.toml"), "prefix = 7\n").unwrap();
        let new = Config::reload(dir.path(), &old);
        assert_eq!(new.warnings.len(), 2, "{:?}", new.warnings);
        assert_eq!(new.settings.scrollback, 500, "the old settings, not the defaults");
        assert_eq!(new.keymap.prefix, old.keymap.prefix);
        assert_eq!(new.settings.theme, "light");
        // A good file applies.
        std::fs::write(dir.path().join("config.toml"), "scrollback = 900\n").unwrap();
        assert_eq!(Config::reload(dir.path(), &new).settings.scrollback, 900);
    }

    #[test]
    fn broken_files_fall_back_and_say_so() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), "scrollback = \"lots\"\n").unwrap();
        std::fs::write(dir.path().join("keymap.toml"), "[prefix_keys]\n\"d\" = \"fly\"\n").unwrap();
        std::fs::write(dir.path().join("theme.toml"), "[colors]\nborder = 12345\n").unwrap();
        let config = Config::load(dir.path());
        assert_eq!(config.settings.scrollback, DEFAULT_SCROLLBACK);
        assert_eq!(config.keymap.name, "default");
        assert_eq!(config.warnings.len(), 3, "{:?}", config.warnings);
        assert!(config.warnings[1].contains("fly"));
    }

    #[test]
    fn good_files_apply() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), "keymap = \"alt\"\ntheme = \"light\"\nscrollback = 500\n")
            .unwrap();
        let config = Config::load(dir.path());
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
        assert_eq!(config.keymap.name, "alt");
        assert_eq!(config.theme.name, "light");
        assert_eq!(config.settings.scrollback, 500);
    }
}
