//! Friends' presence on the bridge's side: the agent sessions this machine could show a
//! friend (the remote link picks per friend what each may see, seals and posts it), what
//! friends said of theirs (kept in the store, newest word only), and the handshake check — a
//! message goes only to a friend whose sbx said they added this user back.

use serde_json::{json, Value};

use super::router::Router;
use super::store::PresenceRow;
use super::{now_ms, BridgeResult, Error};
use crate::protocol::rfc3339_ms;
use crate::share::friends::Friends;
use crate::share::presence::{Presence, SharedSession, ONLINE_WINDOW_MS};

impl Router {
    fn friends(&self) -> BridgeResult<Friends> {
        Friends::load_from(&self.config_dir)
            .map_err(|e| Error::new("bad_friends", format!("{e:#}"), "fix friends.toml (sbx friend list)"))
    }

    /// Agent sessions running in this server's panes: `[{label, name, agent, state}]`.
    pub(super) fn local_sessions(&self) -> Value {
        let sessions: Vec<Value> = self
            .dir
            .endpoints
            .values()
            .filter(|e| e.row.kind == "pane" && e.pane.is_some())
            .filter_map(|e| {
                let agent = e.row.agent.as_ref()?;
                Some(json!({
                    "label": e.row.label,
                    "name": e.name(),
                    "agent": agent,
                    "state": e.state.as_deref().unwrap_or("unknown"),
                }))
            })
            .collect();
        Value::Array(sessions)
    }

    /// A friend's presence, opened and checked by the remote link.
    pub(super) fn take_presence(&mut self, friend: &str, p: Presence) -> BridgeResult<Value> {
        let sessions =
            serde_json::to_string(&p.sessions).map_err(|e| Error::new("internal_error", e.to_string(), "try again"))?;
        let row = PresenceRow {
            friend: friend.to_string(),
            echo_id: p.from_echo_id.clone(),
            at: p.at_ms,
            heard: now_ms(),
            friends: p.friends,
            sessions,
        };
        let kept = self.store.put_presence(&row)?;
        if kept && !p.friends {
            tracing::warn!("bridge: {friend} removed you as a friend: messages to them are refused now");
        }
        Ok(json!({ "kept": kept }))
    }

    /// What is kept of `friend`'s presence, if it is theirs (the id they have in friends.toml).
    fn presence_for(&self, friends: &Friends, friend: &str) -> BridgeResult<Option<PresenceRow>> {
        let Some(entry) = friends.friends.get(friend) else { return Ok(None) };
        Ok(self.store.presence_of(friend)?.filter(|p| p.echo_id == entry.echo_id))
    }

    /// Friends' sessions, as `bridge_list_sessions` lists them (marked remote); with `all`,
    /// those not heard of lately too.
    pub(super) fn remote_sessions(&self, all: bool) -> Vec<Value> {
        let (Ok(friends), Ok(rows)) = (self.friends(), self.store.presences()) else { return Vec::new() };
        let now = now_ms();
        rows.into_iter()
            .filter(|p| p.friends && friends.friends.get(&p.friend).is_some_and(|f| f.echo_id == p.echo_id))
            .flat_map(|p| {
                let online = now - p.heard < ONLINE_WINDOW_MS;
                let shared: Vec<SharedSession> = serde_json::from_str(&p.sessions).unwrap_or_default();
                shared
                    .into_iter()
                    .map(move |s| remote_session(&p.friend, &s, online, p.heard))
                    .filter(|v| all || v["online"] == true)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// `sbx friend sessions NAME`: whether they added you back, and their sessions.
    pub(super) fn friend_sessions(&self, friend: &str) -> BridgeResult<Value> {
        let friends = self.friends()?;
        if !friends.friends.contains_key(friend) {
            return Err(self.not_a_friend(friend));
        }
        let now = now_ms();
        let Some(p) = self.presence_for(&friends, friend)? else {
            return Ok(json!({ "friend": friend, "added_you_back": false, "removed_you": false,
                              "online": false, "last_heard": null, "sessions": [] }));
        };
        let online = p.friends && now - p.heard < ONLINE_WINDOW_MS;
        let shared: Vec<SharedSession> = serde_json::from_str(&p.sessions).unwrap_or_default();
        let sessions: Vec<Value> = match p.friends {
            true => shared.iter().map(|s| remote_session(friend, s, online, p.heard)).collect(),
            false => Vec::new(),
        };
        Ok(json!({
            "friend": friend,
            "added_you_back": p.friends,
            "removed_you": !p.friends,
            "online": online,
            "last_heard": rfc3339_ms(p.heard),
            "sessions": sessions,
        }))
    }

    pub(super) fn not_a_friend(&self, friend: &str) -> Error {
        Error::new(
            "not_a_friend",
            format!("{friend:?} is not one of your friends"),
            self.step(
                "add them first: sbx friend add NAME CODE (they add you too), or pick one: sbx friend list",
                "ask the user to add them: sbx friend add NAME CODE",
            ),
        )
    }

    /// A message goes only to a friend who has you too: their sbx said so, signed.
    pub(super) fn check_mutual(&self, friends: &Friends, friend: &str) -> BridgeResult<()> {
        match self.presence_for(friends, friend)? {
            Some(p) if p.friends => Ok(()),
            Some(_) => Err(Error::new(
                "not_mutual",
                format!("{friend} has removed you as a friend: nothing reaches them"),
                "ask them to add you again (sbx friend invite gives them the code)",
            )),
            None => Err(Error::new(
                "not_mutual",
                format!("{friend} has not added you back yet (their sbx has not said so)"),
                self.step(
                    "give them your code (sbx friend invite) for: sbx friend add YOUR-NAME CODE; sbx friend sessions NAME shows when they have",
                    "ask the user to have their friend add them back (sbx friend invite gives the code)",
                ),
            )),
        }
    }
}

fn remote_session(friend: &str, s: &SharedSession, online: bool, heard: i64) -> Value {
    let address = format!("{friend}/{}", s.name);
    json!({
        "id": address,
        "name": address,
        "kind": "remote",
        "remote": true,
        "friend": friend,
        "label": s.name,
        "agent": s.agent,
        "state": s.state,
        "online": online,
        "last_seen": rfc3339_ms(heard),
    })
}
