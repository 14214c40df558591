//! The inbox popup (prefix `i`): the user's messages from the bridge, opened and answered
//! from the keyboard. The list comes from the bridge's overview; a message's full text and a
//! reply are bridge calls whose answers come back to the loop as `Internal` events.

use crossterm::event::{KeyCode, KeyEvent};
use tokio::sync::mpsc::unbounded_channel;

use super::client::Mode;
use super::conn::ClientId;
use super::Server;
use crate::bridge::{BridgeMsg, BridgeOp, Caller, Replier};
use crate::protocol::{Reply, ServerMsg};

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

/// Answers to bridge calls the loop made for a client.
#[derive(Debug)]
pub enum Internal {
    Opened(ClientId, ServerMsg),
    Replied(ClientId, ServerMsg),
    /// Friends and received sessions, refreshed.
    Shared(super::share_view::SharedView),
    /// A line for a client's status bar (the outcome of a send).
    Message(ClientId, String),
}

impl Server {
    /// Ask the bridge as the user; the answer comes back through `internal`.
    fn bridge_as_user(&self, op: BridgeOp, client: ClientId, opening: bool) {
        let (tx, mut rx) = unbounded_channel();
        self.bridge.send(BridgeMsg::Call {
            caller: Caller::Endpoint(crate::bridge::USER.into()),
            op,
            reply: Replier::once(tx),
        });
        let internal = self.internal.clone();
        tokio::spawn(async move {
            if let Some(msg) = rx.recv().await {
                let _ =
                    internal.send(if opening { Internal::Opened(client, msg) } else { Internal::Replied(client, msg) });
            }
        });
    }

    pub(super) fn inbox_key(&mut self, id: ClientId, key: KeyEvent) {
        if let Some((op, opening)) = self.inbox_step(id, key) {
            self.bridge_as_user(op, id, opening);
        }
    }

    /// Apply a key to the inbox view; returns a bridge call to make (and whether it opens).
    fn inbox_step(&mut self, id: ClientId, key: KeyEvent) -> Option<(BridgeOp, bool)> {
        let client = self.clients.get_mut(&id)?;
        let Mode::Inbox(view) = &mut client.mode else { return None };
        client.dirty = true;
        if let Some(text) = &mut view.reply {
            match key.code {
                KeyCode::Char(c) => text.push(c),
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Esc => view.reply = None,
                KeyCode::Enter => {
                    let body = view.reply.take().unwrap_or_default();
                    let open = view.open.as_ref()?;
                    if body.trim().is_empty() {
                        return None;
                    }
                    let subject = if open.subject.starts_with("re: ") {
                        open.subject.clone()
                    } else {
                        format!("re: {}", open.subject)
                    };
                    let subject: String = subject.chars().take(200).collect();
                    let op =
                        BridgeOp::Send { to: String::new(), subject, body, artifacts: vec![], reply_to: Some(open.id) };
                    return Some((op, false));
                }
                _ => {}
            }
            return None;
        }
        if view.open.is_some() {
            match key.code {
                KeyCode::Char('r') => view.reply = Some(String::new()),
                KeyCode::Down | KeyCode::Char('j') => view.scroll += 1,
                KeyCode::Up | KeyCode::Char('k') => view.scroll = view.scroll.saturating_sub(1),
                _ => {
                    view.open = None;
                    view.scroll = 0;
                }
            }
            return None;
        }
        let count = self.overview.inbox.len();
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => view.selected = (view.selected + 1).min(count.saturating_sub(1)),
            KeyCode::Up | KeyCode::Char('k') => view.selected = view.selected.saturating_sub(1),
            KeyCode::Enter | KeyCode::Char('l') => {
                if let Some((message, ..)) = self.overview.inbox.get(view.selected) {
                    return Some((BridgeOp::Read { id: *message }, true));
                }
            }
            _ => client.mode = Mode::Normal,
        }
        None
    }

    pub(super) fn on_internal(&mut self, event: Internal) {
        match event {
            Internal::Shared(view) => {
                if view != self.shared {
                    self.shared = view;
                    for c in self.clients.values_mut() {
                        c.dirty = true;
                    }
                }
            }
            Internal::Message(id, message) => self.set_message(id, message),
            Internal::Opened(id, msg) => {
                let Some(client) = self.clients.get_mut(&id) else { return };
                let Mode::Inbox(view) = &mut client.mode else { return };
                client.dirty = true;
                match msg {
                    ServerMsg::Reply(Reply::Bridge(json)) => {
                        let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
                        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
                        let mut lines = vec![
                            format!("from:    {}", text("from")),
                            format!("subject: {}", text("subject")),
                            format!("id:      {} (thread {})", v["id"], v["thread"]),
                            String::new(),
                        ];
                        lines.extend(text("body").lines().map(|l| l.chars().filter(|c| !c.is_control()).collect()));
                        view.open = Some(Opened { id: v["id"].as_i64().unwrap_or(0), subject: text("subject"), lines });
                        view.scroll = 0;
                    }
                    ServerMsg::Error(e) => client.message = Some(e.message),
                    _ => {}
                }
            }
            Internal::Replied(id, msg) => {
                let Some(client) = self.clients.get_mut(&id) else { return };
                client.dirty = true;
                client.message = Some(match msg {
                    ServerMsg::Reply(Reply::Bridge(json)) => {
                        let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
                        format!("reply sent (#{})", v["id"])
                    }
                    ServerMsg::Error(e) => format!("reply not sent: {}", e.message),
                    _ => "reply: unexpected answer".into(),
                });
            }
        }
    }

    /// The popup's title and lines for the inbox mode.
    pub(super) fn inbox_lines(&self, view: &InboxView) -> (String, Vec<String>) {
        if let Some(open) = &view.open {
            let mut lines = open.lines.clone();
            lines.push(String::new());
            match &view.reply {
                Some(text) => lines.push(format!("reply: {text}▏ (Enter sends, Esc cancels)")),
                None => lines.push("r reply · j/k scroll · q back".into()),
            }
            return ("message".into(), lines);
        }
        let mut lines = Vec::new();
        if self.overview.inbox.is_empty() {
            lines.push("No messages. Agents reach you at the address `user`.".into());
        }
        for (i, (message, from, subject, read)) in self.overview.inbox.iter().enumerate() {
            let mark = if i == view.selected { "▸" } else { " " };
            let dot = if *read { " " } else { "●" };
            let subject: String = subject.chars().filter(|c| !c.is_control()).take(60).collect();
            lines.push(format!("{mark}{dot} {message:>5}  {from:<14} {subject}"));
        }
        lines.push(String::new());
        lines.push("↑↓ select · Enter read · q close".into());
        ("inbox".into(), lines)
    }
}
