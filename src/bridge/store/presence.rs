//! Friends' presence, as last heard: whether each has added this user back (or removed them),
//! and the sessions they let this user see. One row per friend; only a newer word replaces it,
//! so a presence a relay holds back and replays later changes nothing.

use rusqlite::{params, OptionalExtension};

use super::{Result, Store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceRow {
    pub friend: String,
    /// The friend's echo-id when it was heard (a friend re-added under another id starts over).
    pub echo_id: String,
    /// When the friend wrote it, and when it arrived (ms).
    pub at: i64,
    pub heard: i64,
    pub friends: bool,
    /// The sessions, as JSON (`[{name, agent, state}]`).
    pub sessions: String,
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<PresenceRow> {
    Ok(PresenceRow {
        friend: r.get(0)?,
        echo_id: r.get(1)?,
        at: r.get(2)?,
        heard: r.get(3)?,
        friends: r.get::<_, i64>(4)? != 0,
        sessions: r.get(5)?,
    })
}

impl Store {
    /// Keep a friend's presence unless what is kept is newer: true when it was kept.
    pub fn put_presence(&self, p: &PresenceRow) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT INTO presence(friend, echo_id, at, heard, friends, sessions) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(friend) DO UPDATE SET echo_id = excluded.echo_id, at = excluded.at,
                     heard = excluded.heard, friends = excluded.friends, sessions = excluded.sessions
                 WHERE excluded.at > presence.at OR excluded.echo_id != presence.echo_id",
            )?
            .execute(params![p.friend, p.echo_id, p.at, p.heard, p.friends as i64, p.sessions])?;
        Ok(n > 0)
    }

    pub fn presence_of(&self, friend: &str) -> Result<Option<PresenceRow>> {
        Ok(self
            .conn
            .prepare_cached("SELECT friend, echo_id, at, heard, friends, sessions FROM presence WHERE friend = ?1")?
            .query_row([friend], row)
            .optional()?)
    }

    pub fn presences(&self) -> Result<Vec<PresenceRow>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT friend, echo_id, at, heard, friends, sessions FROM presence ORDER BY friend")?;
        let rows = stmt.query_map([], row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_newer_word_replaces_a_friends_presence() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), false).unwrap();
        let p = |at: i64, friends: bool, echo_id: &str| PresenceRow {
            friend: "bob".into(),
            echo_id: echo_id.into(),
            at,
            heard: at,
            friends,
            sessions: "[]".into(),
        };
        assert!(store.put_presence(&p(10, true, "b1")).unwrap());
        assert!(store.put_presence(&p(20, false, "b1")).unwrap(), "removed: newer");
        assert!(!store.put_presence(&p(15, true, "b1")).unwrap(), "an older word replayed");
        assert!(!store.presence_of("bob").unwrap().unwrap().friends);
        assert!(store.put_presence(&p(5, true, "b2")).unwrap(), "a new id for the name starts over");
        assert_eq!(store.presences().unwrap(), [p(5, true, "b2")]);
        assert!(store.presence_of("carol").unwrap().is_none());
    }
}
