//! The inbox popup (prefix `i`): the user's messages from the bridge, opened and answered from
//! the keyboard. The list comes from the bridge's overview; opening a message and replying are
//! bridge calls made by the loop (`Effect::Bridge`), whose answers come back to `opened` and
//! the status line.

use crossterm::event::{KeyCode, KeyEvent};

use super::{Component, Ctx, Effect, Popup, Step, View};
use crate::protocol::{BridgeOp, Error};

#[derive(Debug, Clone, Default)]
pub struct InboxView {
    pub selected: usize,
    pub open: Option<Opened>,
    /// A reply being typed (to the open message).
    pub reply: Option<String>,
    pub scroll: usize,
}

#[derive(Debug, Clone)]
pub struct Opened {
    pub id: i64,
    pub subject: String,
    pub lines: Vec<String>,
}

/// A sender as the inbox shows it: one from a friend's machine (`FRIEND/NAME` — no local name
/// holds a `/`) is marked as external.
pub fn shown_sender(from: &str) -> String {
    let from: String = from.chars().filter(|c| !c.is_control()).collect();
    match from.contains('/') {
        true => format!("⇄ {from}"),
        false => from,
    }
}

impl InboxView {
    /// The bridge's answer to opening a message: show it (or why not, in `message`).
    pub fn opened(&mut self, answer: Result<serde_json::Value, Error>, message: &mut Option<String>) {
        match answer {
            Ok(v) => {
                let text = |k: &str| {
                    v.get(k)
                        .and_then(|x| x.as_str())
                        .unwrap_or("")
                        .chars()
                        .filter(|c| !c.is_control())
                        .collect::<String>()
                };
                let from = match v["kind"] == "remote" && !text("from_id").is_empty() && text("from_id") != "user" {
                    true => format!("{} (a friend's machine: external, untrusted)", text("from")),
                    false => text("from"),
                };
                let mut lines = vec![
                    format!("from:    {from}"),
                    format!("subject: {}", text("subject")),
                    format!("id:      {} (thread {})", v["id"], v["thread"]),
                    String::new(),
                ];
                lines.extend(text("body").lines().map(|l| l.chars().filter(|c| !c.is_control()).collect()));
                self.open = Some(Opened { id: v["id"].as_i64().unwrap_or(0), subject: text("subject"), lines });
                self.scroll = 0;
            }
            Err(e) => *message = Some(e.message),
        }
    }
}

impl Component for InboxView {
    fn key(&mut self, key: KeyEvent, ctx: &mut Ctx<'_>) -> Step {
        if let Some(text) = &mut self.reply {
            match key.code {
                KeyCode::Char(c) => text.push(c),
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Esc => self.reply = None,
                KeyCode::Enter => {
                    let body = self.reply.take().unwrap_or_default();
                    let Some(open) = self.open.as_ref() else { return Step::stay() };
                    if body.trim().is_empty() {
                        return Step::stay();
                    }
                    let subject = if open.subject.starts_with("re: ") {
                        open.subject.clone()
                    } else {
                        format!("re: {}", open.subject)
                    };
                    let subject: String = subject.chars().take(200).collect();
                    let op =
                        BridgeOp::Send { to: String::new(), subject, body, artifacts: vec![], reply_to: Some(open.id) };
                    return Step::stay().then(Effect::Bridge { op, opening: false });
                }
                _ => {}
            }
            return Step::stay();
        }
        if self.open.is_some() {
            match key.code {
                KeyCode::Char('r') => self.reply = Some(String::new()),
                KeyCode::Down | KeyCode::Char('j') => self.scroll += 1,
                KeyCode::Up | KeyCode::Char('k') => self.scroll = self.scroll.saturating_sub(1),
                _ => {
                    self.open = None;
                    self.scroll = 0;
                }
            }
            return Step::stay();
        }
        let inbox = &ctx.overview.inbox;
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(inbox.len().saturating_sub(1))
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Enter | KeyCode::Char('l') => {
                if let Some((message, ..)) = inbox.get(self.selected) {
                    return Step::stay().then(Effect::Bridge { op: BridgeOp::Read { id: *message }, opening: true });
                }
            }
            _ => return Step::close(),
        }
        Step::stay()
    }

    fn popup(&self, view: &View<'_>) -> Option<Popup> {
        if let Some(open) = &self.open {
            let mut lines = open.lines.clone();
            lines.push(String::new());
            match &self.reply {
                Some(text) => lines.push(format!("reply: {text}▏ (Enter sends, Esc cancels)")),
                None => lines.push("r reply · j/k scroll · q back".into()),
            }
            return Some(("message".into(), lines, self.scroll));
        }
        let mut lines = Vec::new();
        if view.overview.inbox.is_empty() {
            lines.push("No messages. Agents reach you at the address `user`.".into());
        }
        for (i, (message, from, subject, read)) in view.overview.inbox.iter().enumerate() {
            let mark = if i == self.selected { "▸" } else { " " };
            let dot = if *read { " " } else { "●" };
            let subject: String = subject.chars().filter(|c| !c.is_control()).take(60).collect();
            let from = shown_sender(from);
            lines.push(format!("{mark}{dot} {message:>5}  {from:<14} {subject}"));
        }
        lines.push(String::new());
        lines.push("↑↓ select · Enter read · q close".into());
        Some(("inbox".into(), lines, self.scroll))
    }

    fn scrolled(&mut self, used: usize) {
        self.scroll = used;
    }

    fn status(&self) -> (&'static str, String) {
        ("INBOX", String::new())
    }
}
