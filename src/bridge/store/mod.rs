//! The bridge's durable store: SQLite (bundled, WAL) with FTS5 over subjects and bodies,
//! and content-addressed artifact files beside it. Only the bridge thread opens it: one writer.
//!
//! Durability: WAL with `synchronous = NORMAL` — a commit is in the WAL file before the
//! sender hears "sent", so it survives a crash of the server (kill -9); surviving a power cut
//! as well needs `bridge.sync = "full"` (one fsync per commit batch).

use std::path::{Path, PathBuf};

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

mod dashboard;
mod letters;
mod presence;

pub use presence::PresenceRow;

const SCHEMA_VERSION: i64 = 1;

/// What the store failed at (SQLite, the disk): a bridge call answers it as `store_error`.
#[derive(Debug)]
pub struct StoreFailure(anyhow::Error);

pub type Result<T, E = StoreFailure> = std::result::Result<T, E>;

impl<E: Into<anyhow::Error>> From<E> for StoreFailure {
    fn from(e: E) -> StoreFailure {
        StoreFailure(e.into())
    }
}

impl std::fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl From<StoreFailure> for crate::protocol::Error {
    fn from(e: StoreFailure) -> crate::protocol::Error {
        crate::protocol::Error::new(
            "store_error",
            format!("the bridge store failed: {e}"),
            "see the server log (free disk space if it is full), then try again",
        )
    }
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS endpoints(
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    agent TEXT,
    agent_session TEXT,
    label TEXT,
    cwd TEXT,
    summary TEXT,
    last_seen INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS endpoints_agent_session ON endpoints(agent_session);
CREATE TABLE IF NOT EXISTS messages(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sender TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    thread INTEGER,
    reply_to INTEGER,
    artifacts TEXT NOT NULL DEFAULT '[]',
    created INTEGER NOT NULL,
    expires INTEGER
);
CREATE INDEX IF NOT EXISTS messages_thread ON messages(thread);
CREATE INDEX IF NOT EXISTS messages_expires ON messages(expires) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS deliveries(
    endpoint TEXT NOT NULL,
    message INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    read_at INTEGER,
    PRIMARY KEY(endpoint, message)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_message ON deliveries(message);
CREATE TABLE IF NOT EXISTS members(
    channel TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    joined INTEGER NOT NULL,
    PRIMARY KEY(channel, endpoint)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS artifacts(
    sha TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    name TEXT,
    owner TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(
    subject, body, content='messages', content_rowid='id', tokenize='unicode61'
);
CREATE TABLE IF NOT EXISTS outbox(
    letter TEXT PRIMARY KEY,
    friend TEXT NOT NULL,
    message INTEGER NOT NULL,
    thread TEXT,
    body TEXT NOT NULL,
    created INTEGER NOT NULL,
    posted INTEGER,
    delivered INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_message ON outbox(message);
CREATE TABLE IF NOT EXISTS letters_seen(
    letter TEXT PRIMARY KEY,
    friend TEXT NOT NULL,
    message INTEGER NOT NULL,
    thread TEXT,
    seen INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS letters_seen_message ON letters_seen(message);
CREATE TABLE IF NOT EXISTS presence(
    friend TEXT PRIMARY KEY,
    echo_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    heard INTEGER NOT NULL,
    friends INTEGER NOT NULL,
    sessions TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, subject, body) VALUES (new.id, new.subject, new.body);
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, subject, body) VALUES ('delete', old.id, old.subject, old.body);
END;
"#;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EndpointRow {
    pub id: String,
    /// "pane", "external" or "user".
    pub kind: String,
    pub agent: Option<String>,
    pub agent_session: Option<String>,
    pub label: Option<String>,
    pub cwd: Option<String>,
    pub summary: Option<String>,
    pub last_seen: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageRow {
    pub id: i64,
    pub from: String,
    pub from_name: String,
    /// "direct", "broadcast" or "channel".
    pub kind: String,
    /// The endpoint id, or `#channel`, or `*` for a broadcast.
    pub to: String,
    pub subject: String,
    pub body: String,
    pub thread: Option<i64>,
    pub reply_to: Option<i64>,
    pub artifacts: Vec<String>,
    pub created: i64,
    pub expires: Option<i64>,
    /// For the reader asking: whether it has read this (None: it sent it).
    pub read: Option<bool>,
}

pub struct NewMessage<'a> {
    pub sender: &'a str,
    pub sender_name: &'a str,
    pub kind: &'a str,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub reply_to: Option<i64>,
    pub thread: Option<i64>,
    pub artifacts: &'a [String],
    pub created: i64,
    pub expires: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArtifactRow {
    pub sha: String,
    pub size: i64,
    pub name: Option<String>,
    pub owner: String,
    pub created: i64,
}

pub struct Store {
    conn: Connection,
    artifacts: PathBuf,
}

const MESSAGE_COLUMNS: &str =
    "m.id, m.sender, m.sender_name, m.kind, m.recipient, m.subject, m.body, m.thread, m.reply_to, m.artifacts, \
     m.created, m.expires";

fn message_row(row: &rusqlite::Row, read: Option<bool>) -> rusqlite::Result<MessageRow> {
    let artifacts: String = row.get(9)?;
    Ok(MessageRow {
        id: row.get(0)?,
        from: row.get(1)?,
        from_name: row.get(2)?,
        kind: row.get(3)?,
        to: row.get(4)?,
        subject: row.get(5)?,
        body: row.get(6)?,
        thread: row.get(7)?,
        reply_to: row.get(8)?,
        artifacts: serde_json::from_str(&artifacts).unwrap_or_default(),
        created: row.get(10)?,
        expires: row.get(11)?,
        read,
    })
}

/// `m.expires IS NULL OR m.expires > ?now`: an expired broadcast is gone even before the sweep.
const LIVE: &str = "(m.expires IS NULL OR m.expires > ?1)";
/// The reader's own read state of `m` (NULL when it has no delivery: it sent the message).
const READ_BY_2: &str = "(SELECT d.read_at IS NOT NULL FROM deliveries d WHERE d.message = m.id AND d.endpoint = ?2)";
/// `m` was sent by, or delivered to, endpoint ?2.
const VISIBLE_TO_2: &str =
    "(m.sender = ?2 OR EXISTS (SELECT 1 FROM deliveries d WHERE d.message = m.id AND d.endpoint = ?2))";

impl Store {
    /// Rows of MESSAGE_COLUMNS plus the reader's read state as the last column.
    fn messages(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<MessageRow>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params, |r| {
            let read: Option<bool> = r.get(12)?;
            message_row(r, read)
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Open (creating) the store under `dir`: `bridge.db` and `artifacts/`, both private.
    pub fn open(dir: &Path, full_sync: bool) -> Result<Store> {
        crate::config::paths::ensure_private_dir(dir)?;
        let artifacts = dir.join("artifacts");
        crate::config::paths::ensure_private_dir(&artifacts)?;
        let path = dir.join("bridge.db");
        // Create the file 0600 before SQLite does (it would use the umask).
        {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
        }
        let conn = Connection::open(&path).with_context(|| format!("cannot open the store {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", if full_sync { "FULL" } else { "NORMAL" })?;
        conn.pragma_update(None, "foreign_keys", true)?;
        // The working set is recent messages: a small page cache keeps the server lean (the
        // OS page cache still holds the file).
        conn.pragma_update(None, "cache_size", -512)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(anyhow::anyhow!(
                "the store {} was written by a newer sbx (schema {version}); upgrade sbx",
                path.display()
            )
            .into());
        }
        conn.execute_batch(SCHEMA).context("cannot create the store's tables")?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        for suffix in ["-wal", "-shm"] {
            let side = PathBuf::from(format!("{}{suffix}", path.display()));
            let _ = std::fs::set_permissions(&side, std::os::unix::fs::PermissionsExt::from_mode(0o600));
        }
        Ok(Store { conn, artifacts })
    }

    pub fn begin(&self) -> Result<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    pub fn commit(&self) -> Result<()> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    pub fn rollback(&self) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }

    /// One op's writes inside the burst's transaction: kept whole or undone whole.
    pub fn begin_op(&self) -> Result<()> {
        self.conn.execute_batch("SAVEPOINT op")?;
        Ok(())
    }

    pub fn release_op(&self) {
        let _ = self.conn.execute_batch("RELEASE op");
    }

    pub fn rollback_op(&self) {
        let _ = self.conn.execute_batch("ROLLBACK TO op; RELEASE op");
    }

    pub fn endpoints(&self) -> Result<Vec<EndpointRow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, kind, agent, agent_session, label, cwd, summary, last_seen FROM endpoints")?;
        let rows = stmt.query_map([], |r| {
            Ok(EndpointRow {
                id: r.get(0)?,
                kind: r.get(1)?,
                agent: r.get(2)?,
                agent_session: r.get(3)?,
                label: r.get(4)?,
                cwd: r.get(5)?,
                summary: r.get(6)?,
                last_seen: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn put_endpoint(&self, e: &EndpointRow) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO endpoints(id, kind, agent, agent_session, label, cwd, summary, last_seen)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(id) DO UPDATE SET kind = ?2, agent = ?3, agent_session = ?4, label = ?5, cwd = ?6,
                     summary = ?7, last_seen = ?8",
            )?
            .execute(params![e.id, e.kind, e.agent, e.agent_session, e.label, e.cwd, e.summary, e.last_seen])?;
        Ok(())
    }

    /// An agent session that moved to a new endpoint (resumed in another pane): its unread
    /// messages and channels follow it, and the old endpoint goes.
    pub fn merge_endpoint(&self, old: &str, new: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE OR IGNORE deliveries SET endpoint = ?2 WHERE endpoint = ?1 AND read_at IS NULL",
            params![old, new],
        )?;
        self.conn.execute("UPDATE OR IGNORE members SET endpoint = ?2 WHERE endpoint = ?1", params![old, new])?;
        self.conn.execute("DELETE FROM members WHERE endpoint = ?1", params![old])?;
        self.conn.execute("UPDATE endpoints SET agent_session = NULL, label = NULL WHERE id = ?1", params![old])?;
        Ok(())
    }

    pub fn insert_message(&self, m: &NewMessage, recipients: &[String]) -> Result<i64> {
        let artifacts = serde_json::to_string(m.artifacts)?;
        self.conn
            .prepare_cached(
                "INSERT INTO messages(sender, sender_name, kind, recipient, subject, body, thread, reply_to,
                     artifacts, created, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                m.sender,
                m.sender_name,
                m.kind,
                m.recipient,
                m.subject,
                m.body,
                m.thread,
                m.reply_to,
                artifacts,
                m.created,
                m.expires
            ])?;
        let id = self.conn.last_insert_rowid();
        let mut deliver =
            self.conn.prepare_cached("INSERT OR IGNORE INTO deliveries(endpoint, message) VALUES (?1, ?2)")?;
        for r in recipients {
            deliver.execute(params![r, id])?;
        }
        Ok(id)
    }

    /// Messages delivered to `endpoint` with ids above `after`: unread only unless `all`,
    /// oldest first.
    pub fn inbox(&self, endpoint: &str, all: bool, after: i64, limit: usize, now: i64) -> Result<Vec<MessageRow>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS}, d.read_at IS NOT NULL FROM deliveries d JOIN messages m ON m.id = d.message
             WHERE d.endpoint = ?2 AND d.message > ?4 AND {LIVE} {} ORDER BY d.message LIMIT ?3",
            if all { "" } else { "AND d.read_at IS NULL" }
        );
        self.messages(&sql, params![now, endpoint, limit as i64, after])
    }

    /// The latest `limit` messages delivered to `endpoint`, newest first.
    pub fn recent(&self, endpoint: &str, limit: usize, now: i64) -> Result<Vec<MessageRow>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS}, d.read_at IS NOT NULL FROM deliveries d JOIN messages m ON m.id = d.message
             WHERE d.endpoint = ?2 AND {LIVE} ORDER BY m.id DESC LIMIT ?3"
        );
        self.messages(&sql, params![now, endpoint, limit as i64])
    }

    pub fn unread_count(&self, endpoint: &str, now: i64) -> Result<usize> {
        let sql = format!(
            "SELECT count(*) FROM deliveries d JOIN messages m ON m.id = d.message
             WHERE d.endpoint = ?2 AND d.read_at IS NULL AND {LIVE}"
        );
        let n: i64 = self.conn.prepare_cached(&sql)?.query_row(params![now, endpoint], |r| r.get(0))?;
        Ok(n as usize)
    }

    /// Unread counts of every endpoint that has any.
    pub fn unread_counts(&self, now: i64) -> Result<Vec<(String, usize)>> {
        let sql = format!(
            "SELECT d.endpoint, count(*) FROM deliveries d JOIN messages m ON m.id = d.message
             WHERE d.read_at IS NULL AND {LIVE} GROUP BY d.endpoint"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![now], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as usize)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A message as `endpoint` may see it: one it sent or one delivered to it.
    pub fn message_for(&self, endpoint: &str, id: i64, now: i64) -> Result<Option<MessageRow>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS}, {READ_BY_2} FROM messages m WHERE m.id = ?3 AND {LIVE} AND {VISIBLE_TO_2}"
        );
        Ok(self.messages(&sql, params![now, endpoint, id])?.pop())
    }

    /// Whether a live message exists at all (to tell "not yours" from "no such message").
    pub fn message_exists(&self, id: i64, now: i64) -> Result<bool> {
        let sql = format!("SELECT 1 FROM messages m WHERE m.id = ?2 AND {LIVE}");
        Ok(self.conn.prepare_cached(&sql)?.exists(params![now, id])?)
    }

    pub fn mark_read(&self, endpoint: &str, ids: &[i64], now: i64) -> Result<usize> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE deliveries SET read_at = ?3 WHERE endpoint = ?1 AND message = ?2 AND read_at IS NULL",
        )?;
        let mut n = 0;
        for id in ids {
            n += stmt.execute(params![endpoint, id, now])?;
        }
        Ok(n)
    }

    /// Every message of a thread that `endpoint` may see, oldest first.
    pub fn thread(&self, endpoint: &str, root: i64, now: i64) -> Result<Vec<MessageRow>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS}, {READ_BY_2} FROM messages m
             WHERE (m.id = ?3 OR m.thread = ?3) AND {LIVE} AND {VISIBLE_TO_2} ORDER BY m.id"
        );
        self.messages(&sql, params![now, endpoint, root])
    }

    /// Full-text search over the messages `endpoint` may see, best match first.
    pub fn search(&self, endpoint: &str, query: &str, limit: usize, now: i64) -> Result<Vec<MessageRow>> {
        let Some(fts) = fts_query(query) else { return Ok(Vec::new()) };
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS}, {READ_BY_2} FROM messages_fts f JOIN messages m ON m.id = f.rowid
             WHERE messages_fts MATCH ?3 AND {LIVE} AND {VISIBLE_TO_2} ORDER BY f.rank LIMIT ?4"
        );
        self.messages(&sql, params![now, endpoint, fts, limit as i64])
    }

    pub fn join(&self, channel: &str, endpoint: &str, now: i64) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO members(channel, endpoint, joined) VALUES (?1, ?2, ?3)")?
            .execute(params![channel, endpoint, now])?;
        Ok(n > 0)
    }

    pub fn leave(&self, channel: &str, endpoint: &str) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM members WHERE channel = ?1 AND endpoint = ?2")?
            .execute(params![channel, endpoint])?;
        Ok(n > 0)
    }

    pub fn members(&self, channel: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached("SELECT endpoint FROM members WHERE channel = ?1 ORDER BY joined")?;
        let rows = stmt.query_map(params![channel], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every channel with its members (a channel lives while it has members).
    pub fn channels(&self) -> Result<Vec<(String, Vec<String>)>> {
        let mut stmt = self.conn.prepare_cached("SELECT channel, endpoint FROM members ORDER BY channel, joined")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for row in rows {
            let (channel, endpoint) = row?;
            match out.last_mut() {
                Some((c, members)) if *c == channel => members.push(endpoint),
                _ => out.push((channel, vec![endpoint])),
            }
        }
        Ok(out)
    }

    fn artifact_path(&self, sha: &str) -> PathBuf {
        self.artifacts.join(&sha[..2]).join(sha)
    }

    /// Store an artifact by its sha256 (the same bytes twice are stored once). The file is
    /// written to a temp name, synced and renamed before its row exists. Returns the sha and
    /// whether these bytes were new (what the owner is charged for).
    pub fn put_artifact(&self, data: &[u8], name: Option<&str>, owner: &str, now: i64) -> Result<(String, bool)> {
        let sha = hex::encode(Sha256::digest(data));
        let path = self.artifact_path(&sha);
        if !path.exists() {
            let dir = path.parent().expect("artifact path has a folder");
            crate::config::paths::ensure_private_dir(dir)?;
            crate::config::paths::write_atomic(&path, data)?;
        }
        let added = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO artifacts(sha, size, name, owner, created) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![sha, data.len() as i64, name, owner, now])?;
        Ok((sha, added > 0))
    }

    /// The bytes each endpoint keeps here: the subjects and bodies it sent, and the artifacts
    /// it stored first.
    pub fn usage(&self) -> Result<Vec<(String, u64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT who, SUM(bytes) FROM (
                 SELECT sender AS who, length(CAST(subject AS BLOB)) + length(CAST(body AS BLOB)) AS bytes FROM messages
                 UNION ALL SELECT owner, size FROM artifacts)
             GROUP BY who",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn artifact(&self, sha: &str) -> Result<Option<(ArtifactRow, Vec<u8>)>> {
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return Ok(None);
        }
        let row = self
            .conn
            .prepare_cached("SELECT sha, size, name, owner, created FROM artifacts WHERE sha = ?1")?
            .query_row(params![sha], |r| {
                Ok(ArtifactRow {
                    sha: r.get(0)?,
                    size: r.get(1)?,
                    name: r.get(2)?,
                    owner: r.get(3)?,
                    created: r.get(4)?,
                })
            })
            .optional()?;
        let Some(row) = row else { return Ok(None) };
        let data = std::fs::read(self.artifact_path(sha)).with_context(|| format!("artifact {sha} is missing"))?;
        // A file changed on disk is not the artifact any more.
        if hex::encode(Sha256::digest(&data)) != sha {
            return Err(anyhow::anyhow!("artifact {sha} is damaged on disk").into());
        }
        Ok(Some((row, data)))
    }

    pub fn artifact_known(&self, sha: &str) -> Result<bool> {
        Ok(self.conn.prepare_cached("SELECT 1 FROM artifacts WHERE sha = ?1")?.exists(params![sha])?)
    }

    /// Collect expired broadcasts, messages everyone read before `read_before`, and artifacts
    /// nothing refers to that were stored before `orphan_before`. Returns (messages, artifacts).
    pub fn collect(&self, now: i64, read_before: i64, orphan_before: i64) -> Result<(usize, usize)> {
        let expired = self.conn.execute("DELETE FROM messages WHERE expires IS NOT NULL AND expires <= ?1", [now])?;
        let read = self.conn.execute(
            "DELETE FROM messages WHERE created < ?1
                 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message = messages.id
                                 AND (d.read_at IS NULL OR d.read_at >= ?1))",
            [read_before],
        )?;
        let mut orphans = Vec::new();
        {
            let mut stmt = self.conn.prepare(
                "SELECT sha FROM artifacts a WHERE a.created < ?1
                     AND NOT EXISTS (SELECT 1 FROM messages m, json_each(m.artifacts) j WHERE j.value = a.sha)",
            )?;
            for sha in stmt.query_map([orphan_before], |r| r.get::<_, String>(0))? {
                orphans.push(sha?);
            }
        }
        for sha in &orphans {
            self.conn.execute("DELETE FROM artifacts WHERE sha = ?1", [sha])?;
            let _ = std::fs::remove_file(self.artifact_path(sha));
        }
        Ok((expired + read, orphans.len()))
    }

    /// Move the WAL into the database (on a quiet moment), so the WAL file does not grow forever.
    pub fn checkpoint(&self) {
        let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
    }
}

/// User words as an FTS5 query: each word quoted (so `AND`, `*` or a stray quote are just
/// words), all of them required. None when there are no words.
fn fts_query(query: &str) -> Option<String> {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

#[cfg(test)]
mod tests;
