//! The bridge as its owner sees it on the web dashboard: every session, channel and message,
//! read-only. Only the user may ask (an agent sees what was sent to it, through its tools).

use serde_json::{json, Value};

use super::address::USER;
use super::router::Router;
use super::{now_ms, BridgeResult, Error};

/// The most messages one dashboard answer lists.
pub const MAX_DASHBOARD: u32 = 200;

impl Router {
    fn owner_only(me: &str) -> BridgeResult<()> {
        if me == USER {
            return Ok(());
        }
        Err(Error::new(
            "not_the_owner",
            "the dashboard shows every agent's messages: only the user may read it",
            "read your own messages: bridge_inbox",
        ))
    }

    /// Sessions (online or not), channels, the latest messages of everyone, the user's inbox.
    pub(super) fn dashboard(&self, me: &str, limit: u32) -> BridgeResult<Value> {
        Router::owner_only(me)?;
        let now = now_ms();
        let limit = limit.clamp(1, MAX_DASHBOARD) as usize;
        let sessions = self.list_sessions(true)["sessions"].take();
        let messages: Vec<Value> = self.store.latest(limit, now)?.iter().map(|m| self.summary(m)).collect();
        let inbox: Vec<Value> = self.store.recent(USER, limit, now)?.iter().map(|m| self.summary(m)).collect();
        Ok(json!({
            "sessions": sessions,
            "channels": self.list_channels(me)?["channels"].take(),
            "messages": messages,
            "inbox": { "messages": inbox, "unread": self.store.unread_count(USER, now)? },
        }))
    }

    /// One message whole, its thread and who has read it, marking nothing read.
    pub(super) fn peek(&self, me: &str, id: i64) -> BridgeResult<Value> {
        Router::owner_only(me)?;
        let now = now_ms();
        let Some(m) = self.store.any_message(id, now)? else {
            return Err(Error::new(
                "unknown_message",
                format!("no message {id}"),
                "pick one from the dashboard's list",
            ));
        };
        let root = m.thread.unwrap_or(m.id);
        let thread: Vec<Value> = self.store.whole_thread(root, now)?.iter().map(|t| self.full(t)).collect();
        let delivered: Vec<Value> = self
            .store
            .deliveries(id)?
            .into_iter()
            .map(|(endpoint, read)| json!({ "to": self.dir.name_of(&endpoint), "to_id": endpoint, "read": read }))
            .collect();
        Ok(json!({ "message": self.full(&m), "delivered": delivered, "thread": root, "messages": thread }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_user_may_read_everyones_messages() {
        assert!(Router::owner_only(USER).is_ok());
        let refused = Router::owner_only("e-3f2a").unwrap_err();
        assert_eq!(refused.code, "not_the_owner");
    }
}
