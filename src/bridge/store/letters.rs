//! Messages between friends' machines, as the store keeps them: the outbox (letters written,
//! waiting to be posted to the relay, kept until it took them) and the letters seen (each
//! received letter's id, so a second copy — a retry, a replay — is dropped, and a reply can
//! name the letter it answers).

use rusqlite::{params, OptionalExtension};

use super::{Result, Store};

/// A letter waiting to be posted: its id, the friend it goes to, the letter (JSON, unsealed:
/// it is sealed when posted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub letter: String,
    pub friend: String,
    pub body: String,
}

impl Store {
    /// Keep a letter for `friend` (the local copy is message `message`, its thread the letter
    /// `thread`) until it is posted.
    pub fn queue_letter(
        &self,
        letter: &str,
        friend: &str,
        message: i64,
        thread: Option<&str>,
        body: &str,
        now: i64,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO outbox(letter, friend, message, thread, body, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![letter, friend, message, thread, body, now])?;
        Ok(())
    }

    /// Letters not posted yet, oldest first.
    pub fn unposted(&self, limit: usize) -> Result<Vec<Outgoing>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT letter, friend, body FROM outbox WHERE posted IS NULL ORDER BY created, rowid LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit as i64], |r| {
            Ok(Outgoing { letter: r.get(0)?, friend: r.get(1)?, body: r.get(2)? })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The relay took the letter: it is not posted again. Its body is dropped (the local copy
    /// of the message stays).
    pub fn letter_posted(&self, letter: &str, now: i64) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("UPDATE outbox SET posted = ?2, body = '' WHERE letter = ?1 AND posted IS NULL")?
            .execute(params![letter, now])?;
        Ok(n > 0)
    }

    /// A letter that will not be posted: its friend is no longer one (`posted` -1).
    pub fn letter_dropped(&self, letter: &str) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE outbox SET posted = -1, body = '' WHERE letter = ?1 AND posted IS NULL")?
            .execute([letter])?;
        Ok(())
    }

    /// `friend` says they stored our letter: true if it was ours to them and news.
    pub fn letter_delivered(&self, letter: &str, friend: &str, now: i64) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE outbox SET delivered = ?3 WHERE letter = ?1 AND friend = ?2 AND delivered IS NULL AND message > 0",
            )?
            .execute(params![letter, friend, now])?;
        Ok(n > 0)
    }

    /// A letter that could not be posted this time.
    pub fn letter_attempted(&self, letter: &str) -> Result<()> {
        self.conn.prepare_cached("UPDATE outbox SET attempts = attempts + 1 WHERE letter = ?1")?.execute([letter])?;
        Ok(())
    }

    /// Where a message sent to a friend is: queued, posted, delivered, or dropped; and how
    /// often posting it was tried.
    pub fn letter_state(&self, message: i64) -> Result<Option<(&'static str, i64)>> {
        if message <= 0 {
            return Ok(None);
        }
        let row: Option<(Option<i64>, Option<i64>, i64)> = self
            .conn
            .prepare_cached("SELECT posted, delivered, attempts FROM outbox WHERE message = ?1")?
            .query_row([message], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        Ok(row.map(|(posted, delivered, attempts)| {
            let state = match (posted, delivered) {
                (_, Some(_)) => "delivered",
                (Some(-1), None) => "dropped",
                (Some(_), None) => "posted",
                (None, None) => "queued",
            };
            (state, attempts)
        }))
    }

    /// The local message a received letter became, if it was seen before.
    pub fn seen_letter(&self, letter: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT message FROM letters_seen WHERE letter = ?1")?
            .query_row([letter], |r| r.get(0))
            .optional()?)
    }

    pub fn mark_seen(&self, letter: &str, friend: &str, message: i64, thread: Option<&str>, now: i64) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO letters_seen(letter, friend, message, thread, seen) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![letter, friend, message, thread, now])?;
        Ok(())
    }

    /// The letter id a local message has between machines (sent or received), and its thread's.
    pub fn letter_of(&self, message: i64) -> Result<Option<(String, Option<String>)>> {
        let seen = self
            .conn
            .prepare_cached("SELECT letter, thread FROM letters_seen WHERE message = ?1")?
            .query_row([message], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if seen.is_some() {
            return Ok(seen);
        }
        Ok(self
            .conn
            .prepare_cached("SELECT letter, thread FROM outbox WHERE message = ?1")?
            .query_row([message], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// The local message a letter id names (one we sent, or one we received).
    pub fn message_of_letter(&self, letter: &str) -> Result<Option<i64>> {
        if let Some(m) = self.seen_letter(letter)? {
            return Ok(Some(m));
        }
        Ok(self
            .conn
            .prepare_cached("SELECT message FROM outbox WHERE letter = ?1")?
            .query_row([letter], |r| r.get(0))
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_letter_is_posted_once_and_seen_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), false).unwrap();
        store.queue_letter("L1", "bob", 7, Some("L0"), "{}", 1).unwrap();
        store.queue_letter("L2", "bob", 8, None, "{}", 2).unwrap();
        assert_eq!(store.unposted(10).unwrap().len(), 2);
        assert_eq!(store.letter_of(7).unwrap(), Some(("L1".into(), Some("L0".into()))));
        assert!(store.letter_posted("L1", 3).unwrap());
        assert_eq!(store.letter_of(7).unwrap(), Some(("L1".into(), Some("L0".into()))), "kept after posting");
        assert!(!store.letter_posted("L1", 4).unwrap(), "posted once");
        assert_eq!(
            store.unposted(10).unwrap(),
            [Outgoing { letter: "L2".into(), friend: "bob".into(), body: "{}".into() }]
        );
        assert_eq!(store.message_of_letter("L1").unwrap(), Some(7));
        assert_eq!(store.letter_state(7).unwrap(), Some(("posted", 0)));
        assert!(!store.letter_delivered("L1", "mallory", 5).unwrap(), "only the friend it went to");
        assert!(store.letter_delivered("L1", "bob", 5).unwrap());
        assert!(!store.letter_delivered("L1", "bob", 6).unwrap(), "once");
        assert_eq!(store.letter_state(7).unwrap(), Some(("delivered", 0)));
        store.letter_dropped("L2").unwrap();
        assert_eq!(store.letter_state(8).unwrap(), Some(("dropped", 0)));
        assert!(store.unposted(10).unwrap().is_empty());
        assert_eq!(store.seen_letter("R1").unwrap(), None);
        store.mark_seen("R1", "alice", 9, Some("L1"), 5).unwrap();
        assert_eq!(store.seen_letter("R1").unwrap(), Some(9));
        assert!(store.mark_seen("R1", "alice", 10, None, 6).is_err(), "a letter id is taken once");
        assert_eq!(store.letter_of(9).unwrap(), Some(("R1".into(), Some("L1".into()))));
    }
}
