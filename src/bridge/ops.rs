//! What each bridge call does, with its limits. Every refusal happens before anything is
//! written, and says what to do instead.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::address::{validate_channel, Target, USER};
use super::router::{Outcome, Router, Waiter};
use super::store::{MessageRow, NewMessage};
use super::{now_ms, BridgeNotice, BridgeOp, BridgeResult, Error, Replier};
use crate::protocol::{rfc3339_ms, Via};

/// The longest a wait may be asked for; an agent that wants longer calls again.
const MAX_WAIT: Duration = Duration::from_secs(600);
const MAX_LIST: u32 = 500;
const PREVIEW_CHARS: usize = 200;

fn too_big(what: &str, size: usize, limit: usize, next: &str) -> Error {
    Error::new("too_large", format!("{what} is {size} bytes, over the limit of {limit}"), next)
}

fn preview(body: &str) -> String {
    let mut p: String = body.chars().take(PREVIEW_CHARS).collect();
    if p.len() < body.len() {
        p.push('…');
    }
    p
}

impl Router {
    pub(super) fn op(&mut self, me: &str, op: BridgeOp, reply: &Replier) -> Outcome {
        let result = match op {
            BridgeOp::WhoAmI => self.whoami(me),
            BridgeOp::ListSessions { all } => Ok(self.list_sessions(all)),
            BridgeOp::Send { to, subject, body, artifacts, reply_to } => {
                self.send(me, &to, &subject, &body, &artifacts, reply_to)
            }
            BridgeOp::Broadcast { subject, body, ttl_secs } => self.broadcast(me, &subject, &body, ttl_secs),
            BridgeOp::ListInbox { all, limit } => self.list_inbox(me, all, limit),
            BridgeOp::Read { id } => self.read(me, id),
            BridgeOp::MarkRead { ids } => {
                self.store.mark_read(me, &ids, now_ms()).map(|n| json!({ "marked": n })).map_err(Into::into)
            }
            BridgeOp::PutArtifact { name, data } => self.put_artifact(me, name.as_deref(), &data),
            BridgeOp::GetArtifact { sha } => self.get_artifact(&sha),
            BridgeOp::Wait { timeout_ms, after } => return self.wait(me, timeout_ms, after, reply),
            BridgeOp::Join { channel } => self.join(me, &channel),
            BridgeOp::Leave { channel } => self.leave(me, &channel),
            BridgeOp::ListChannels => self.list_channels(me),
            BridgeOp::Thread { id } => self.thread(me, id),
            BridgeOp::SetSummary { summary } => self.set_summary(me, summary),
            BridgeOp::Search { query, limit } => self.search(me, &query, limit),
            BridgeOp::SetLabel { label } => return self.set_label(me, label, reply),
            BridgeOp::InboxBlock => self.inbox_block(me),
            BridgeOp::Dashboard { limit } => self.dashboard(me, limit),
            BridgeOp::Peek { id } => self.peek(me, id),
            BridgeOp::FriendSessions { friend } => self.friend_sessions(&friend),
        };
        Outcome::Reply(result)
    }

    /// The next step in the caller's terms: a command for the CLI, a tool for an agent.
    pub(super) fn step(&self, cli: &str, mcp: &str) -> String {
        match self.via {
            Via::Cli => cli.to_string(),
            Via::Mcp => mcp.to_string(),
        }
    }

    pub(super) fn describe(&self, id: &str) -> Value {
        let now = now_ms();
        let Some(e) = self.dir.endpoints.get(id) else { return json!({ "id": id }) };
        json!({
            "id": e.row.id,
            "name": e.name(),
            "kind": e.row.kind,
            "pane": e.pane,
            "label": e.row.label,
            "agent": e.row.agent,
            "session_id": e.row.agent_session,
            "cwd": e.row.cwd,
            "state": e.state,
            "summary": e.row.summary,
            "online": self.dir.online(e, now),
            "last_seen": rfc3339_ms(e.row.last_seen),
        })
    }

    fn whoami(&self, me: &str) -> BridgeResult<Value> {
        let mut v = self.describe(me);
        v["unread"] = json!(self.store.unread_count(me, now_ms())?);
        Ok(v)
    }

    pub(super) fn list_sessions(&self, all: bool) -> Value {
        let now = now_ms();
        let sessions: Vec<Value> = self
            .dir
            .endpoints
            .values()
            .filter(|e| e.row.kind != "user")
            .filter(|e| all || (self.dir.online(e, now) && e.row.agent.is_some()))
            .map(|e| self.describe(&e.row.id))
            .chain(self.remote_sessions(all))
            .collect();
        json!({ "sessions": sessions })
    }

    pub(super) fn check_text(&self, subject: &str, body: &str) -> BridgeResult<()> {
        if subject.trim().is_empty() {
            return Err(Error::new("bad_subject", "the subject is empty", "give the message a short subject"));
        }
        let chars = subject.chars().count();
        if chars > self.settings.max_subject_chars || subject.chars().any(char::is_control) {
            return Err(Error::new(
                "bad_subject",
                format!(
                    "the subject must be one line of at most {} characters, with no control characters",
                    self.settings.max_subject_chars
                ),
                "put the detail in the body",
            ));
        }
        if body.len() > self.settings.max_body_bytes {
            return Err(too_big(
                "the body",
                body.len(),
                self.settings.max_body_bytes,
                &self.step(
                    "attach the long part as a file: sbx msg send TO SUBJECT --artifact FILE",
                    "post the long part as an artifact (bridge_post_artifact) and send its sha256",
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn sender_name(&self, me: &str) -> String {
        self.dir.name_of(me)
    }

    fn send(
        &mut self,
        me: &str,
        to: &str,
        subject: &str,
        body: &str,
        artifacts: &[String],
        reply_to: Option<i64>,
    ) -> BridgeResult<Value> {
        self.check_text(subject, body)?;
        for sha in artifacts {
            if !self.store.artifact_known(sha)? {
                return Err(Error::new(
                    "unknown_artifact",
                    format!("no artifact {sha}"),
                    self.step(
                        "store it first (sbx artifact put FILE) and use the sha256 it prints",
                        "post it first with bridge_post_artifact and use the sha256 it returns",
                    ),
                ));
            }
        }
        let now = now_ms();
        let parent = match reply_to {
            Some(id) => Some(self.visible(me, id)?),
            None => None,
        };
        // A reply with no address goes back where the parent came from (a friend's letter: to
        // its sender on their machine).
        let to = match (to.trim(), &parent) {
            ("", Some(p)) if p.kind == "channel" => p.to.clone(),
            ("", Some(p)) if p.from == me => p.to.clone(),
            ("", Some(p)) if p.kind == "remote" && p.from.starts_with("friend:") => p.from_name.clone(),
            ("", Some(p)) => p.from.clone(),
            (to, _) => to.to_string(),
        };
        if let Some((friend, there)) = crate::share::friends::remote_address(&to) {
            return self.send_remote(me, friend, there, subject, body, artifacts, reply_to);
        }
        let target = if self.dir.endpoints.contains_key(&to) {
            Target::Endpoint(to.clone())
        } else {
            self.dir.resolve(&to, now, self.via)?
        };
        let (kind, recipient, recipients) = match target {
            Target::Endpoint(id) => ("direct", id.clone(), vec![id]),
            Target::Channel(name) => {
                let members = self.store.members(&name)?;
                if !members.iter().any(|m| m == me) {
                    return Err(Error::new(
                        "not_a_member",
                        format!("you are not in #{name}"),
                        self.step(
                            &format!("join it first: sbx channel join {name}"),
                            &format!("join it first: bridge_join_channel #{name}"),
                        ),
                    ));
                }
                ("channel", format!("#{name}"), members.into_iter().filter(|m| m != me).collect())
            }
        };
        let thread = parent.as_ref().map(|p| p.thread.unwrap_or(p.id));
        let name = self.sender_name(me);
        let bytes = (subject.len() + body.len()) as u64;
        self.usage.check(me, bytes, &self.settings)?;
        let id = self.store.insert_message(
            &NewMessage {
                sender: me,
                sender_name: &name,
                kind,
                recipient: &recipient,
                subject,
                body,
                reply_to,
                thread,
                artifacts,
                created: now,
                expires: None,
            },
            &recipients,
        )?;
        self.usage.charge(me, bytes);
        Ok(self.delivered(id, thread, &name, subject, &recipients, now))
    }

    /// Note who got a message (waiters, the idle notice) and say so to the sender.
    pub(super) fn delivered(
        &mut self,
        id: i64,
        thread: Option<i64>,
        from: &str,
        subject: &str,
        to: &[String],
        now: i64,
    ) -> Value {
        let mut offline = Vec::new();
        for r in to {
            self.woken.insert(r.clone());
            if let Some(e) = self.dir.endpoints.get(r) {
                if !self.dir.online(e, now) {
                    offline.push(e.name());
                }
            }
            if self.settings.notify_idle {
                self.delivered.push(BridgeNotice::Delivered {
                    endpoint: r.clone(),
                    from: from.to_string(),
                    subject: subject.to_string(),
                });
            }
        }
        let names: Vec<String> = to.iter().map(|r| self.dir.name_of(r)).collect();
        json!({ "id": id, "thread": thread.unwrap_or(id), "delivered_to": names, "offline": offline })
    }

    fn broadcast(&mut self, me: &str, subject: &str, body: &str, ttl: Option<u64>) -> BridgeResult<Value> {
        self.check_text(subject, body)?;
        let ttl = ttl.unwrap_or(self.settings.broadcast_ttl_secs);
        if ttl == 0 || ttl > self.settings.max_broadcast_ttl_secs {
            return Err(Error::new(
                "bad_ttl",
                format!("a broadcast lives 1 to {} seconds, not {ttl}", self.settings.max_broadcast_ttl_secs),
                "pick a TTL in that range (default 3600)",
            ));
        }
        let now = now_ms();
        let recipients: Vec<String> = self
            .dir
            .endpoints
            .values()
            .filter(|e| e.row.id != me && self.dir.online(e, now))
            .map(|e| e.row.id.clone())
            .collect();
        let name = self.sender_name(me);
        let expires = now + ttl as i64 * 1000;
        let bytes = (subject.len() + body.len()) as u64;
        self.usage.check(me, bytes, &self.settings)?;
        let id = self.store.insert_message(
            &NewMessage {
                sender: me,
                sender_name: &name,
                kind: "broadcast",
                recipient: "*",
                subject,
                body,
                reply_to: None,
                thread: None,
                artifacts: &[],
                created: now,
                expires: Some(expires),
            },
            &recipients,
        )?;
        self.usage.charge(me, bytes);
        let mut v = self.delivered(id, None, &name, subject, &recipients, now);
        v["expires"] = json!(rfc3339_ms(expires));
        Ok(v)
    }

    pub(super) fn summary(&self, m: &MessageRow) -> Value {
        let mut v = json!({
            "id": m.id, "from": m.from_name, "from_id": m.from, "kind": m.kind, "to": self.to_name(m),
            "subject": m.subject, "preview": preview(&m.body), "bytes": m.body.len(), "thread": m.thread.unwrap_or(m.id),
            "artifacts": m.artifacts, "created": rfc3339_ms(m.created), "read": m.read,
        });
        // A message to a friend's machine: queued here, or taken by the relay.
        if let Ok(Some((state, attempts))) = self.store.letter_state(m.id) {
            v["status"] = json!(state);
            v["attempts"] = json!(attempts);
        }
        v
    }

    fn to_name(&self, m: &MessageRow) -> String {
        if m.kind == "direct" {
            self.dir.name_of(&m.to)
        } else {
            m.to.clone()
        }
    }

    pub(super) fn full(&self, m: &MessageRow) -> Value {
        let mut v = self.summary(m);
        let obj = v.as_object_mut().expect("object");
        obj.remove("preview");
        obj.insert("body".into(), json!(m.body));
        obj.insert("reply_to".into(), json!(m.reply_to));
        obj.insert("expires".into(), json!(m.expires.map(rfc3339_ms)));
        v
    }

    fn list_inbox(&self, me: &str, all: bool, limit: u32) -> BridgeResult<Value> {
        let limit = limit.clamp(1, MAX_LIST) as usize;
        let now = now_ms();
        let messages = self.store.inbox(me, all, 0, limit, now)?;
        let unread = self.store.unread_count(me, now)?;
        let list: Vec<Value> = messages.iter().map(|m| self.summary(m)).collect();
        Ok(json!({ "messages": list, "unread": unread }))
    }

    /// A message `me` may see, or why not.
    pub(super) fn visible(&self, me: &str, id: i64) -> BridgeResult<MessageRow> {
        if let Some(m) = self.store.message_for(me, id, now_ms())? {
            return Ok(m);
        }
        Err(if self.store.message_exists(id, now_ms())? {
            Error::new(
                "not_yours",
                format!("message {id} was not sent to you"),
                self.step("list yours: sbx msg inbox --all", "list yours with bridge_list_inbox"),
            )
        } else {
            Error::new(
                "unknown_message",
                format!("there is no message {id} (it may have expired)"),
                self.step("list yours: sbx msg inbox --all", "list yours with bridge_list_inbox"),
            )
        })
    }

    fn read(&mut self, me: &str, id: i64) -> BridgeResult<Value> {
        let mut m = self.visible(me, id)?;
        if m.read == Some(false) {
            self.store.mark_read(me, &[id], now_ms())?;
            m.read = Some(true);
        }
        Ok(self.full(&m))
    }

    pub(super) fn unread_after(&self, me: &str, after: Option<i64>, now: i64) -> BridgeResult<Vec<Value>> {
        let messages = self.store.inbox(me, false, after.unwrap_or(0), MAX_LIST as usize, now)?;
        Ok(messages.iter().map(|m| self.summary(m)).collect())
    }

    fn wait(&mut self, me: &str, timeout_ms: u64, after: Option<i64>, reply: &Replier) -> Outcome {
        match self.unread_after(me, after, now_ms()) {
            Ok(messages) if !messages.is_empty() => {
                return Outcome::Reply(Ok(json!({ "messages": messages, "timed_out": false })))
            }
            Ok(_) => {}
            Err(e) => return Outcome::Reply(Err(e)),
        }
        let timeout = Duration::from_millis(timeout_ms).min(MAX_WAIT);
        self.waiters.push(Waiter {
            endpoint: me.to_string(),
            after,
            deadline: Instant::now() + timeout,
            reply: reply.clone(),
        });
        Outcome::Later
    }

    fn put_artifact(&mut self, me: &str, name: Option<&str>, data: &[u8]) -> BridgeResult<Value> {
        if data.len() > self.settings.max_artifact_bytes {
            return Err(too_big(
                "the artifact",
                data.len(),
                self.settings.max_artifact_bytes,
                "split it, or raise bridge.max_artifact_bytes in config.toml",
            ));
        }
        if let Some(name) = name {
            if name.is_empty() || name.len() > 255 || name.contains(['/', '\0']) || name == "." || name == ".." {
                return Err(Error::new(
                    "bad_name",
                    format!("{name:?} is not a file name"),
                    "give a plain file name (no '/'), at most 255 bytes",
                ));
            }
        }
        // Checked before anything is written: a budget that is full stops the file, not only its row.
        self.usage.check(me, data.len() as u64, &self.settings)?;
        let (sha, new) = self.store.put_artifact(data, name, me, now_ms())?;
        if new {
            self.usage.charge(me, data.len() as u64);
        }
        Ok(json!({ "sha256": sha, "size": data.len(), "name": name }))
    }

    fn get_artifact(&self, sha: &str) -> BridgeResult<Value> {
        let Some((row, data)) = self.store.artifact(sha)? else {
            return Err(Error::new(
                "unknown_artifact",
                format!("no artifact {sha}"),
                "use the full sha256 (64 lower-case hex digits) from the message",
            ));
        };
        use base64::Engine;
        Ok(json!({
            "sha256": row.sha, "size": row.size, "name": row.name, "from": self.dir.name_of(&row.owner),
            "base64": base64::engine::general_purpose::STANDARD.encode(&data),
        }))
    }

    fn join(&mut self, me: &str, channel: &str) -> BridgeResult<Value> {
        let name = validate_channel(channel)?;
        let joined = self.store.join(&name, me, now_ms())?;
        let members = self.store.members(&name)?;
        Ok(json!({ "channel": format!("#{name}"), "joined": joined, "members": self.names(&members) }))
    }

    fn leave(&mut self, me: &str, channel: &str) -> BridgeResult<Value> {
        let name = validate_channel(channel)?;
        if !self.store.leave(&name, me)? {
            return Err(Error::new(
                "not_a_member",
                format!("you are not in #{name}"),
                self.step("list them: sbx channel list", "list yours with bridge_list_channels"),
            ));
        }
        Ok(json!({ "channel": format!("#{name}"), "left": true }))
    }

    fn names(&self, ids: &[String]) -> Vec<String> {
        ids.iter().map(|id| self.dir.name_of(id)).collect()
    }

    pub(super) fn list_channels(&self, me: &str) -> BridgeResult<Value> {
        let channels: Vec<Value> = self
            .store
            .channels()?
            .into_iter()
            .map(|(c, members)| {
                json!({ "channel": format!("#{c}"), "member": members.iter().any(|m| m == me), "members": self.names(&members) })
            })
            .collect();
        Ok(json!({ "channels": channels }))
    }

    fn thread(&self, me: &str, id: i64) -> BridgeResult<Value> {
        let m = self.visible(me, id)?;
        let root = m.thread.unwrap_or(m.id);
        let messages: Vec<Value> = self.store.thread(me, root, now_ms())?.iter().map(|m| self.full(m)).collect();
        Ok(json!({ "thread": root, "messages": messages }))
    }

    fn set_summary(&mut self, me: &str, summary: String) -> BridgeResult<Value> {
        if summary.chars().count() > 500 {
            return Err(Error::new("too_large", "a summary is at most 500 characters", "shorten it"));
        }
        let Some(e) = self.dir.endpoints.get_mut(me) else {
            return Err(Error::new("unknown_address", "you are not registered", "start the agent in sbx"));
        };
        e.row.summary = (!summary.trim().is_empty()).then_some(summary);
        self.store.put_endpoint(&e.row)?;
        Ok(self.describe(me))
    }

    fn search(&self, me: &str, query: &str, limit: u32) -> BridgeResult<Value> {
        if query.len() > 1000 {
            return Err(Error::new("bad_query", "the query is over 1000 bytes", "search by a few words"));
        }
        let limit = limit.clamp(1, MAX_LIST) as usize;
        let found = self.store.search(me, query, limit, now_ms())?;
        let list: Vec<Value> = found.iter().map(|m| self.summary(m)).collect();
        Ok(json!({ "messages": list }))
    }

    fn set_label(&mut self, me: &str, label: String, reply: &Replier) -> Outcome {
        if let Err(e) = crate::protocol::validate_label(&label) {
            return Outcome::Reply(Err(Error::new("bad_label", e.message, e.next.unwrap_or_default())));
        }
        let Some(e) = self.dir.endpoints.get(me) else {
            return Outcome::Reply(Err(Error::new(
                "unknown_address",
                "you are not registered",
                "start the agent in sbx",
            )));
        };
        if me == USER {
            return Outcome::Reply(Err(Error::new(
                "bad_label",
                "the user has no label",
                "label a pane: sbx label -t PANE NAME",
            )));
        }
        // Labels are unique across panes and external sessions; the server owns the check.
        let _ = self.notices.send(BridgeNotice::SetLabel {
            endpoint: me.to_string(),
            pane: e.pane.clone(),
            label,
            reply: reply.clone(),
        });
        Outcome::Later
    }

    fn inbox_block(&mut self, me: &str) -> BridgeResult<Value> {
        let now = now_ms();
        let unread = self.store.inbox(me, false, 0, MAX_LIST as usize, now)?;
        let total = self.store.unread_count(me, now)?;
        let (block, shown) =
            super::inbox::block(&unread, total, self.settings.inbox_block_chars, |m| match m.kind.as_str() {
                "remote" => m.from_name.clone(),
                _ => self.dir.name_of(&m.from),
            });
        self.store.mark_read(me, &shown, now)?;
        Ok(json!({ "context": block, "shown": shown.len(), "unread": total - shown.len() }))
    }
}
