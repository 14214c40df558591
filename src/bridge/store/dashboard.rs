//! The owner's read-only view of the store (the web dashboard): every live message, whoever
//! it was for, and who has read it. Nothing here writes — reading a message on the dashboard
//! does not mark it read for anyone.

use rusqlite::params;

use super::{MessageRow, Result, Store, LIVE, MESSAGE_COLUMNS};

/// Read by every endpoint it was delivered to (a message with none counts as read).
const READ_BY_ALL: &str = "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message = m.id AND d.read_at IS NULL)";

impl Store {
    /// The latest `limit` live messages of everyone, newest first.
    pub fn latest(&self, limit: usize, now: i64) -> Result<Vec<MessageRow>> {
        let sql =
            format!("SELECT {MESSAGE_COLUMNS}, {READ_BY_ALL} FROM messages m WHERE {LIVE} ORDER BY m.id DESC LIMIT ?2");
        self.messages(&sql, params![now, limit as i64])
    }

    /// One live message, whoever it was for.
    pub fn any_message(&self, id: i64, now: i64) -> Result<Option<MessageRow>> {
        let sql = format!("SELECT {MESSAGE_COLUMNS}, {READ_BY_ALL} FROM messages m WHERE m.id = ?2 AND {LIVE}");
        Ok(self.messages(&sql, params![now, id])?.pop())
    }

    /// Every live message of a thread, oldest first.
    pub fn whole_thread(&self, root: i64, now: i64) -> Result<Vec<MessageRow>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS}, {READ_BY_ALL} FROM messages m WHERE (m.id = ?2 OR m.thread = ?2) AND {LIVE} ORDER BY m.id"
        );
        self.messages(&sql, params![now, root])
    }

    /// Whom a message was delivered to, and whether each has read it.
    pub fn deliveries(&self, id: i64) -> Result<Vec<(String, bool)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT endpoint, read_at IS NOT NULL FROM deliveries WHERE message = ?1 ORDER BY endpoint",
        )?;
        let rows = stmt.query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::msg;
    use super::*;

    #[test]
    fn the_owner_sees_every_message_and_reading_marks_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), false).unwrap();
        let a = store.insert_message(&msg("a", "b", "hello", "for b only"), &["b".into()]).unwrap();
        let mut reply = msg("b", "a", "re: hello", "back to a");
        reply.thread = Some(a);
        let r = store.insert_message(&reply, &["a".into()]).unwrap();
        let mut gone = msg("c", "#x", "old", "expired");
        gone.expires = Some(5);
        store.insert_message(&gone, &["a".into(), "b".into()]).unwrap();

        let latest = store.latest(10, 10).unwrap();
        assert_eq!(latest.iter().map(|m| m.id).collect::<Vec<_>>(), [r, a], "newest first, the expired gone");
        assert_eq!(latest[0].read, Some(false));
        assert_eq!(store.any_message(a, 10).unwrap().unwrap().body, "for b only");
        assert_eq!(store.whole_thread(a, 10).unwrap().len(), 2);
        assert_eq!(store.deliveries(a).unwrap(), [("b".to_string(), false)]);
        // Nothing was marked read by looking.
        assert_eq!(store.unread_count("b", 10).unwrap(), 1);
        store.mark_read("b", &[a], 11).unwrap();
        assert_eq!(store.any_message(a, 12).unwrap().unwrap().read, Some(true), "read by all");
        assert_eq!(store.latest(1, 12).unwrap().len(), 1, "the limit");
    }
}
