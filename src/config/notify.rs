//! `[notify]` in config.toml: when an agent that needs you is announced, and how beyond the
//! bell and the desktop escape (`notify_bell`, `notify_desktop`): a command of the user's.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The events an agent can be announced on.
pub const EVENTS: [&str; 2] = ["waiting", "done"];

/// The most a notify command's argv may hold (its words, each at most `MAX_WORD`).
const MAX_WORDS: usize = 64;
const MAX_WORD: usize = 4096;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// Which events are announced: "waiting" (a question, a permission), "done" (a turn
    /// finished in a pane nobody was looking at).
    pub on: Vec<String>,
    /// Per agent (`claude`, `codex`, …), its own list in place of `on`.
    pub agents: BTreeMap<String, Vec<String>>,
    /// A program and its arguments, run (never through a shell) for each announcement. Words
    /// `{pane}`, `{label}`, `{agent}`, `{state}`, `{reason}`, `{session}` in it are replaced;
    /// the same values are in its environment as `SBX_NOTIFY_PANE` and so on.
    pub command: Vec<String>,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            on: EVENTS.iter().map(|e| e.to_string()).collect(),
            agents: BTreeMap::new(),
            command: Vec::new(),
        }
    }
}

impl NotifySettings {
    /// Whether `event` is announced for an agent of `kind`.
    pub fn announces(&self, kind: &str, event: &str) -> bool {
        self.agents.get(kind).unwrap_or(&self.on).iter().any(|e| e == event)
    }

    /// What in it cannot be used, as warnings; the unusable parts are dropped.
    pub fn checked(mut self, warnings: &mut Vec<String>) -> NotifySettings {
        let known = |list: &mut Vec<String>, whose: &str, warnings: &mut Vec<String>| {
            list.retain(|e| {
                let ok = EVENTS.contains(&e.as_str());
                if !ok {
                    warnings.push(format!(
                        "config.toml: [notify] {whose}: {:?} is not an event (\"waiting\" or \"done\"); ignored",
                        super::one_line(e)
                    ));
                }
                ok
            })
        };
        known(&mut self.on, "on", warnings);
        let agents = std::mem::take(&mut self.agents);
        for (kind, mut events) in agents {
            if crate::protocol::AgentKind::from_name(&kind).is_none() {
                warnings.push(format!(
                    "config.toml: [notify.agents] {:?} is not an agent sbx knows; ignored",
                    super::one_line(&kind)
                ));
                continue;
            }
            known(&mut events, &format!("agents.{kind}"), warnings);
            self.agents.insert(kind, events);
        }
        if self.command.len() > MAX_WORDS || self.command.iter().any(|w| w.len() > MAX_WORD || w.contains('\0')) {
            warnings.push(format!(
                "config.toml: [notify] command: at most {MAX_WORDS} words of {MAX_WORD} bytes, no NUL; no command is run"
            ));
            self.command.clear();
        }
        self
    }
}

/// What an announcement is about: the values a notify command is given.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    pub pane: String,
    pub label: String,
    pub agent: String,
    pub state: String,
    pub reason: String,
    pub session: String,
}

impl Announcement {
    fn fields(&self) -> [(&'static str, &str); 6] {
        [
            ("pane", &self.pane),
            ("label", &self.label),
            ("agent", &self.agent),
            ("state", &self.state),
            ("reason", &self.reason),
            ("session", &self.session),
        ]
    }

    /// One word with its placeholders replaced, in one pass: a value that holds `{pane}` is
    /// left as it is, not filled in again. An unknown `{…}` stays as written.
    fn fill(&self, word: &str) -> String {
        let mut out = String::new();
        let mut rest = word;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open..];
            let field = self.fields().into_iter().find(|(k, _)| after.starts_with(&format!("{{{k}}}")));
            match field {
                Some((k, v)) => {
                    out.push_str(v);
                    rest = &after[k.len() + 2..];
                }
                None => {
                    out.push('{');
                    rest = &after[1..];
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// The command's argv with its placeholders filled in (each word stays one argument,
    /// whatever the values hold), and its environment.
    pub fn command_line(&self, command: &[String]) -> (Vec<String>, Vec<(String, String)>) {
        let argv = command.iter().map(|word| self.fill(word)).collect();
        let env =
            self.fields().iter().map(|(k, v)| (format!("SBX_NOTIFY_{}", k.to_uppercase()), v.to_string())).collect();
        (argv, env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_agent_lists_replace_the_default_and_bad_entries_are_dropped() {
        let text = "on = [\"waiting\", \"sometimes\"]\ncommand = [\"notify-send\", \"{agent} {state}\", \"{reason}\"]\n[agents]\ncodex = [\"done\"]\nrobot = [\"done\"]\n";
        let mut warnings = Vec::new();
        let n = toml::from_str::<NotifySettings>(text).unwrap().checked(&mut warnings);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(n.announces("claude", "waiting") && !n.announces("claude", "done"));
        assert!(n.announces("codex", "done") && !n.announces("codex", "waiting"));
        assert!(!n.agents.contains_key("robot"));
    }

    #[test]
    fn values_fill_words_and_never_split_them() {
        let a = Announcement {
            pane: "%3".into(),
            label: "fix it; rm -rf ~".into(),
            agent: "claude".into(),
            state: "waiting".into(),
            reason: "permission (Bash: $(reboot) {session} {x})".into(),
            session: "main".into(),
        };
        let command =
            ["notify-send".to_string(), "{agent} in {pane} is {state}".into(), "{reason}".into(), "{label}".into()];
        let (argv, env) = a.command_line(&command);
        assert_eq!(
            argv,
            [
                "notify-send",
                "claude in %3 is waiting",
                "permission (Bash: $(reboot) {session} {x})",
                "fix it; rm -rf ~"
            ]
        );
        assert!(env.contains(&("SBX_NOTIFY_REASON".into(), "permission (Bash: $(reboot) {session} {x})".into())));
        assert!(env.contains(&("SBX_NOTIFY_PANE".into(), "%3".into())));
    }
}
