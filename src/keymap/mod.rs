//! Key bindings: the shipped presets (keymaps/*.toml, embedded) plus the user's
//! overrides, merged key by key.

mod action;
mod chord;

pub use action::{Action, Direction};
pub use chord::Chord;

pub const PRESETS: &[(&str, &str)] =
    &[("default", include_str!("../../keymaps/default.toml")), ("alt", include_str!("../../keymaps/alt.toml"))];

#[derive(Debug, Clone)]
pub struct Keymap {
    pub name: String,
    pub prefix: Chord,
    /// Bindings after the prefix, in the order the help popup shows them.
    pub prefix_keys: Vec<(Chord, Action)>,
    /// Bindings that act without the prefix.
    pub root_keys: Vec<(Chord, Action)>,
}

/// A keymap file: `prefix = "C-b"`, `[prefix_keys]`, `[root_keys]`; "none" unbinds a key.
struct Parsed {
    prefix: Option<Chord>,
    prefix_keys: Vec<(Chord, Option<Action>)>,
    root_keys: Vec<(Chord, Option<Action>)>,
}

fn parse(text: &str, origin: &str) -> Result<Parsed, String> {
    let value: toml::Table = text.parse().map_err(|e| format!("{origin}: {e}"))?;
    let mut parsed = Parsed { prefix: None, prefix_keys: Vec::new(), root_keys: Vec::new() };
    for (key, val) in &value {
        match (key.as_str(), val) {
            ("name", toml::Value::String(_)) => {}
            ("prefix", toml::Value::String(s)) => {
                parsed.prefix = Some(Chord::parse(s).map_err(|e| format!("{origin}: prefix: {e}"))?)
            }
            ("prefix_keys", toml::Value::Table(t)) => parsed.prefix_keys = bindings(t, origin, "prefix_keys")?,
            ("root_keys", toml::Value::Table(t)) => parsed.root_keys = bindings(t, origin, "root_keys")?,
            (other, _) => {
                return Err(format!(
                    "{origin}: unexpected entry {other:?} (a keymap has name, prefix = \"C-b\", [prefix_keys] and [root_keys])"
                ))
            }
        }
    }
    Ok(parsed)
}

fn bindings(table: &toml::Table, origin: &str, section: &str) -> Result<Vec<(Chord, Option<Action>)>, String> {
    let mut out = Vec::new();
    for (key, val) in table {
        let chord = Chord::parse(key).map_err(|e| format!("{origin}: [{section}] {e}"))?;
        let name = val.as_str().ok_or_else(|| format!("{origin}: [{section}] {key:?}: the action must be a string"))?;
        let action = if name == "none" {
            None
        } else {
            Some(name.parse::<Action>().map_err(|e| format!("{origin}: [{section}] {key:?}: {e}"))?)
        };
        out.push((chord, action));
    }
    Ok(out)
}

fn apply(list: &mut Vec<(Chord, Action)>, changes: Vec<(Chord, Option<Action>)>) {
    for (chord, action) in changes {
        match (list.iter().position(|(c, _)| *c == chord), action) {
            (Some(i), Some(a)) => list[i].1 = a,
            (Some(i), None) => {
                list.remove(i);
            }
            (None, Some(a)) => list.push((chord, a)),
            (None, None) => {}
        }
    }
}

impl Keymap {
    pub fn preset(name: &str) -> Result<Keymap, String> {
        let (_, text) = PRESETS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            format!("no keymap preset {name:?}; the presets are {}", names.join(", "))
        })?;
        let parsed = parse(text, &format!("keymaps/{name}.toml"))?;
        let mut map = Keymap {
            name: name.to_string(),
            prefix: parsed.prefix.ok_or("preset without a prefix")?,
            prefix_keys: Vec::new(),
            root_keys: Vec::new(),
        };
        apply(&mut map.prefix_keys, parsed.prefix_keys);
        apply(&mut map.root_keys, parsed.root_keys);
        Ok(map)
    }

    /// Merge a user override file into this keymap. On error nothing is changed.
    pub fn overlay(&mut self, text: &str, origin: &str) -> Result<(), String> {
        let parsed = parse(text, origin)?;
        if let Some(prefix) = parsed.prefix {
            self.prefix = prefix;
        }
        apply(&mut self.prefix_keys, parsed.prefix_keys);
        apply(&mut self.root_keys, parsed.root_keys);
        Ok(())
    }

    pub fn lookup_prefixed(&self, chord: &Chord) -> Option<Action> {
        self.prefix_keys.iter().find(|(c, _)| c == chord).map(|(_, a)| *a)
    }

    pub fn lookup_root(&self, chord: &Chord) -> Option<Action> {
        self.root_keys.iter().find(|(c, _)| c == chord).map(|(_, a)| *a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_loads() {
        for (name, _) in PRESETS {
            let map = Keymap::preset(name).unwrap();
            assert!(!map.prefix_keys.is_empty(), "{name} has no bindings");
            assert!(map.prefix_keys.iter().any(|(_, a)| *a == Action::Detach));
            assert!(map.prefix_keys.iter().any(|(_, a)| *a == Action::Help));
        }
    }

    #[test]
    fn overrides_merge_key_by_key() {
        let mut map = Keymap::preset("default").unwrap();
        let before = map.prefix_keys.len();
        map.overlay("prefix = \"C-a\"\n[prefix_keys]\n\"v\" = \"split-right\"\n\"x\" = \"none\"\n", "user").unwrap();
        assert_eq!(map.prefix, Chord::parse("C-a").unwrap());
        assert_eq!(map.lookup_prefixed(&Chord::parse("v").unwrap()), Some(Action::SplitRight));
        assert_eq!(map.lookup_prefixed(&Chord::parse("x").unwrap()), None);
        // Untouched keys keep their preset meaning.
        assert_eq!(map.lookup_prefixed(&Chord::parse("d").unwrap()), Some(Action::Detach));
        assert_eq!(map.prefix_keys.len(), before);
    }

    #[test]
    fn a_bad_override_changes_nothing() {
        let mut map = Keymap::preset("default").unwrap();
        let err =
            map.overlay("[prefix_keys]\n\"d\" = \"split-right\"\n\"q\" = \"explode\"\n", "keymap.toml").unwrap_err();
        assert!(err.contains("explode"), "{err}");
        assert_eq!(map.lookup_prefixed(&Chord::parse("d").unwrap()), Some(Action::Detach));
    }
}
