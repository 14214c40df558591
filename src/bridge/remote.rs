//! Messages to and from friends' machines, on the bridge's side: a message to `FRIEND/ADDRESS`
//! becomes a letter in the outbox (in the same transaction as the sender's copy, so a send the
//! agent heard "queued" survives a crash), and a letter the server's remote link opened is
//! delivered here once — its id is kept, so a retry or a replay is dropped.
//!
//! The sealing, the relay and the keys are the remote link's (`server/links/remote.rs`): this
//! thread keeps to the store.

use serde_json::{json, Value};

use super::address::{Target, USER};
use super::router::Router;
use super::store::NewMessage;
use super::{now_ms, BridgeResult, Error, RemoteMsg};
use crate::share::letter::{self, Letter, MAX_ARTIFACTS};

/// Who a remote sender is in this store: an endpoint id of its own per friend and sender.
fn remote_sender(friend: &str, name: &str) -> (String, String) {
    (format!("friend:{friend}"), format!("{friend}/{name}"))
}

/// An address on a friend's machine: plain text, one line, bounded.
fn valid_remote(to: &str) -> bool {
    !to.is_empty() && to.len() <= 200 && !to.chars().any(char::is_control)
}

impl Router {
    /// `me` sends to `to` on `friend`'s machine.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_remote(
        &mut self,
        me: &str,
        friend: &str,
        to: &str,
        subject: &str,
        body: &str,
        artifacts: &[String],
        reply_to: Option<i64>,
    ) -> BridgeResult<Value> {
        self.check_text(subject, body)?;
        let friends = crate::share::friends::Friends::load_from(&self.config_dir)
            .map_err(|e| Error::new("bad_friends", format!("{e:#}"), "fix friends.toml (sbx friend list)"))?;
        if !friends.friends.contains_key(friend) {
            return Err(self.not_a_friend(friend));
        }
        self.check_mutual(&friends, friend)?;
        if !valid_remote(to) {
            return Err(Error::new(
                "unknown_address",
                format!("{to:?} is not an address on {friend}'s machine"),
                "name a label, a pane id, #channel or user there: FRIEND/LABEL",
            ));
        }
        let mut carried = Vec::new();
        let mut total = 0;
        for sha in artifacts {
            let Some((row, bytes)) = self.store.artifact(sha)? else {
                return Err(Error::new("unknown_artifact", format!("no artifact {sha}"), "store it first, then send"));
            };
            total += bytes.len();
            if total > MAX_ARTIFACTS {
                return Err(Error::new(
                    "too_large",
                    format!("the artifacts are over the {MAX_ARTIFACTS} bytes a message to a friend carries"),
                    "send fewer or smaller files",
                ));
            }
            carried.push(letter::artifact(row.name, &bytes));
        }
        // A reply names the letter it answers, and that letter's thread.
        let parent = match reply_to {
            Some(id) => Some(self.visible(me, id)?),
            None => None,
        };
        let (reply_letter, thread_letter) = match &parent {
            Some(p) => match self.store.letter_of(p.id)? {
                Some((letter, thread)) => (Some(letter.clone()), Some(thread.unwrap_or(letter))),
                None => (None, None),
            },
            None => (None, None),
        };
        let now = now_ms();
        let name = self.sender_name(me);
        let letter = Letter {
            version: 1,
            id: uuid::Uuid::new_v4().to_string(),
            // Filled in by the remote link, which holds the keys, when it seals the letter.
            from_echo_id: String::new(),
            from_fingerprint: String::new(),
            from_name: name.clone(),
            to_echo_id: String::new(),
            to: to.to_string(),
            subject: subject.to_string(),
            body: body.to_string(),
            reply_to: reply_letter,
            thread: thread_letter.clone(),
            created_at: crate::protocol::rfc3339_ms(now),
            artifacts: carried,
            receipt: None,
        };
        let bytes = (subject.len() + body.len()) as u64;
        self.usage.check(me, bytes, &self.settings)?;
        let recipient = format!("{friend}/{to}");
        let thread = parent.as_ref().map(|p| p.thread.unwrap_or(p.id));
        let id = self.store.insert_message(
            &NewMessage {
                sender: me,
                sender_name: &name,
                kind: "remote",
                recipient: &recipient,
                subject,
                body,
                reply_to,
                thread,
                artifacts,
                created: now,
                expires: None,
            },
            &[],
        )?;
        let text =
            serde_json::to_string(&letter).map_err(|e| Error::new("internal_error", e.to_string(), "try again"))?;
        self.store.queue_letter(&letter.id, friend, id, thread_letter.as_deref(), &text, now)?;
        self.usage.charge(me, bytes);
        self.delivered.push(super::BridgeNotice::Outbox);
        Ok(json!({ "id": id, "thread": thread.unwrap_or(id), "to": recipient, "status": "queued" }))
    }

    /// What the remote link asked.
    pub(super) fn remote_op(&mut self, msg: RemoteMsg) -> BridgeResult<Value> {
        match msg {
            RemoteMsg::Unposted(limit) => {
                let rows = self.store.unposted(limit)?;
                Ok(Value::Array(
                    rows.into_iter()
                        .map(|o| json!({ "letter": o.letter, "friend": o.friend, "body": o.body }))
                        .collect(),
                ))
            }
            RemoteMsg::Posted(letter) => Ok(json!({ "posted": self.store.letter_posted(&letter, now_ms())? })),
            RemoteMsg::Attempted(letter) => {
                self.store.letter_attempted(&letter)?;
                Ok(json!({}))
            }
            RemoteMsg::Dropped(letter) => {
                self.store.letter_dropped(&letter)?;
                Ok(json!({}))
            }
            RemoteMsg::Deliver { friend, letter } => self.deliver_remote(&friend, *letter),
            RemoteMsg::LocalSessions => Ok(self.local_sessions()),
            RemoteMsg::Presence { friend, presence } => self.take_presence(&friend, *presence),
        }
    }

    /// A friend's letter into this machine's bridge, once.
    fn deliver_remote(&mut self, friend: &str, letter: Letter) -> BridgeResult<Value> {
        if let Some(message) = self.store.seen_letter(&letter.id)? {
            tracing::info!("bridge: a second copy of letter {} from {friend} dropped", letter.id);
            return Ok(json!({ "duplicate": true, "id": message }));
        }
        let now = now_ms();
        if let Some(of) = &letter.receipt {
            // Our letter `of` was stored by `friend`; a receipt is acknowledged by nothing.
            let news = self.store.letter_delivered(of, friend, now)?;
            self.store.mark_seen(&letter.id, friend, 0, None, now)?;
            return Ok(json!({ "receipt": of, "news": news }));
        }
        // Its address here (a label, a pane, a channel, the user: never a folder, which would
        // tell a friend where things are); one that names nobody goes to the user, said so.
        let found = match letter.to.starts_with(['/', '~', '.']) {
            true => Err(Error::new("unknown_address", "a folder", "")),
            false => self.dir.resolve(&letter.to, now, self.via),
        };
        let (subject, recipients, kind, recipient) = match found {
            Ok(Target::Endpoint(id)) => (letter.subject.clone(), vec![id.clone()], "remote", id),
            Ok(Target::Channel(name)) => {
                let members = self.store.members(&name)?;
                (letter.subject.clone(), members, "remote", format!("#{name}"))
            }
            Err(_) => (
                format!("[for {} here] {}", letter.to, letter.subject),
                vec![USER.to_string()],
                "remote",
                USER.to_string(),
            ),
        };
        let mut shas = Vec::new();
        // The sender's name is theirs to choose: kept plain before it reaches a screen.
        let from_name: String = letter
            .from_name
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '%'))
            .take(64)
            .collect();
        let from_name = if from_name.is_empty() { "someone".to_string() } else { from_name };
        let (sender, sender_name) = remote_sender(friend, &from_name);
        let artifacts = letter
            .artifact_bytes()
            .map_err(|e| Error::new("bad_letter", e.to_string(), "ask them to send it again"))?;
        for (name, bytes) in &artifacts {
            let (sha, _) = self.store.put_artifact(bytes, name.as_deref(), &sender, now)?;
            shas.push(sha);
        }
        let local = |letter: &Option<String>| -> BridgeResult<Option<i64>> {
            Ok(match letter {
                Some(l) => self.store.message_of_letter(l)?,
                None => None,
            })
        };
        let reply_to = local(&letter.reply_to)?;
        let thread = local(&letter.thread)?.or(reply_to);
        let id = self.store.insert_message(
            &NewMessage {
                sender: &sender,
                sender_name: &sender_name,
                kind,
                recipient: &recipient,
                subject: &subject,
                body: &letter.body,
                reply_to,
                thread,
                artifacts: &shas,
                created: now,
                expires: None,
            },
            &recipients,
        )?;
        let letter_thread = letter.thread.clone().or_else(|| letter.reply_to.clone());
        self.store.mark_seen(&letter.id, friend, id, letter_thread.as_deref(), now)?;
        // Said back, so the sender sees "delivered" (queued like any letter: posted once).
        let receipt = Letter {
            version: 1,
            id: uuid::Uuid::new_v4().to_string(),
            from_echo_id: String::new(),
            from_fingerprint: String::new(),
            from_name: String::new(),
            to_echo_id: String::new(),
            to: String::new(),
            subject: String::new(),
            body: String::new(),
            reply_to: None,
            thread: None,
            created_at: crate::protocol::rfc3339_ms(now),
            artifacts: Vec::new(),
            receipt: Some(letter.id.clone()),
        };
        let text =
            serde_json::to_string(&receipt).map_err(|e| Error::new("internal_error", e.to_string(), "try again"))?;
        self.store.queue_letter(&receipt.id, friend, 0, None, &text, now)?;
        self.delivered.push(super::BridgeNotice::Outbox);
        tracing::info!("bridge: a message from {sender_name} delivered to {}", letter.to);
        Ok(self.delivered(id, thread, &sender_name, &subject, &recipients, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_on_a_friends_machine_are_plain() {
        assert!(valid_remote("reviewer") && valid_remote("%3") && valid_remote("#ops"));
        assert!(!valid_remote("") && !valid_remote("a\u{1b}[2J") && !valid_remote(&"x".repeat(201)));
        assert_eq!(remote_sender("alice", "writer"), ("friend:alice".to_string(), "alice/writer".to_string()));
    }
}
