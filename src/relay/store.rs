//! Where the relay keeps keys and blobs: one trait, so another backend (PostgreSQL for several
//! relay instances) can take SQLite's place. SQLite (bundled, WAL) is the default; blobs are
//! written into it and read out of it in chunks (incremental blob I/O), never whole in memory.

use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension, MAIN_DB};

/// The body of a blob on its way in: in memory when small, else spilled to a private temp file.
pub enum Incoming {
    Memory(Vec<u8>),
    File(std::fs::File),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub fingerprint: String,
    /// SSH wire encoding of the ed25519 public key.
    pub public_key: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPut {
    Created,
    Same,
    Conflict,
}

/// What a blob is, as far as the relay can tell (it reads nothing inside): an echos session
/// envelope — all an echos client lists — an sbx bridge message between friends' machines,
/// or an sbx presence (one per sender and recipient, replaced by the sender's next).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKind {
    Session,
    Message,
    Presence,
}

impl BlobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BlobKind::Session => "session",
            BlobKind::Message => "message",
            BlobKind::Presence => "presence",
        }
    }

    pub fn parse(text: &str) -> Option<BlobKind> {
        match text {
            "session" => Some(BlobKind::Session),
            "message" => Some(BlobKind::Message),
            "presence" => Some(BlobKind::Presence),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    pub id: String,
    pub recipient: String,
    pub kind: BlobKind,
    pub size: u64,
    pub received_at: i64,
    pub expires_at: i64,
}

pub trait RelayStore: Send + Sync + 'static {
    fn put_key(&self, echo_id: &str, key: &StoredKey) -> Result<KeyPut>;
    fn key(&self, echo_id: &str) -> Result<Option<StoredKey>>;
    fn put_blob(&self, meta: &BlobMeta, body: Incoming) -> Result<()>;
    /// Store a blob from the authenticated `sender` in place of any earlier one of the same
    /// kind from them to the same recipient (their presence: one slot each).
    fn replace_blob(&self, meta: &BlobMeta, sender: &str, bytes: &[u8]) -> Result<()>;
    /// The recipient's blobs of one kind that have not expired, oldest first.
    fn list(&self, recipient: &str, kind: BlobKind, now: i64) -> Result<Vec<BlobMeta>>;
    /// How many blobs wait for the recipient, and their bytes (expired ones not counted).
    fn usage(&self, recipient: &str, now: i64) -> Result<(u64, u64)>;
    fn blob_meta(&self, id: &str) -> Result<Option<BlobMeta>>;
    /// Read up to `buf.len()` bytes of a blob from `offset`; 0 at the end.
    fn read_blob(&self, id: &str, offset: u64, buf: &mut [u8]) -> Result<usize>;
    fn delete_blob(&self, id: &str) -> Result<bool>;
    /// Delete expired blobs; how many went.
    fn sweep(&self, now: i64) -> Result<usize>;
}

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

const CHUNK: usize = 64 * 1024;

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // `--db` may name any folder of the operator's: created private if missing, else
            // used with its own mode (the files in it are 0600).
            crate::config::paths::ensure_user_dir(dir, "the folder of the relay's --db")?;
        }
        {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
        }
        let conn = Connection::open(path).with_context(|| format!("cannot open the relay store {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS keys(
                 echo_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, public_key BLOB NOT NULL, created INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS blobs(
                 id TEXT PRIMARY KEY, recipient TEXT NOT NULL, size INTEGER NOT NULL,
                 received_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, data BLOB NOT NULL);
             CREATE INDEX IF NOT EXISTS blobs_recipient ON blobs(recipient, received_at);
             CREATE INDEX IF NOT EXISTS blobs_expires ON blobs(expires_at);",
        )
        .context("cannot create the relay's tables")?;
        // A store from before blob kinds: everything in it is a session envelope.
        let has_kind = conn.prepare("SELECT kind FROM blobs LIMIT 0").is_ok();
        if !has_kind {
            conn.execute_batch("ALTER TABLE blobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'session'")
                .context("cannot add blob kinds to the relay's store")?;
        }
        conn.execute_batch("CREATE INDEX IF NOT EXISTS blobs_recipient_kind ON blobs(recipient, kind, received_at)")?;
        // Only blobs that replace their sender's last one (presence) say who sent them.
        if conn.prepare("SELECT sender FROM blobs LIMIT 0").is_err() {
            conn.execute_batch("ALTER TABLE blobs ADD COLUMN sender TEXT")
                .context("cannot add senders to the relay's store")?;
        }
        conn.execute_batch("CREATE INDEX IF NOT EXISTS blobs_slot ON blobs(recipient, kind, sender)")?;
        Ok(SqliteStore { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

const META: &str = "id, recipient, size, received_at, expires_at, kind";

fn meta_row(r: &rusqlite::Row) -> rusqlite::Result<BlobMeta> {
    let kind: String = r.get(5)?;
    Ok(BlobMeta {
        id: r.get(0)?,
        recipient: r.get(1)?,
        kind: BlobKind::parse(&kind).unwrap_or(BlobKind::Session),
        size: r.get::<_, i64>(2)? as u64,
        received_at: r.get(3)?,
        expires_at: r.get(4)?,
    })
}

impl RelayStore for SqliteStore {
    fn put_key(&self, echo_id: &str, key: &StoredKey) -> Result<KeyPut> {
        let conn = self.conn();
        let existing: Option<Vec<u8>> = conn
            .prepare_cached("SELECT public_key FROM keys WHERE echo_id = ?1")?
            .query_row([echo_id], |r| r.get(0))
            .optional()?;
        match existing {
            Some(k) if k == key.public_key => Ok(KeyPut::Same),
            Some(_) => Ok(KeyPut::Conflict),
            None => {
                conn.prepare_cached(
                    "INSERT INTO keys(echo_id, fingerprint, public_key, created) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    echo_id,
                    key.fingerprint,
                    key.public_key,
                    super::wire::now_secs()
                ])?;
                Ok(KeyPut::Created)
            }
        }
    }

    fn key(&self, echo_id: &str) -> Result<Option<StoredKey>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT fingerprint, public_key FROM keys WHERE echo_id = ?1")?
            .query_row([echo_id], |r| Ok(StoredKey { fingerprint: r.get(0)?, public_key: r.get(1)? }))
            .optional()?)
    }

    fn put_blob(&self, meta: &BlobMeta, body: Incoming) -> Result<()> {
        let mut conn = self.conn();
        if let Incoming::Memory(bytes) = &body {
            // Small enough to bind whole.
            conn.prepare_cached(
                "INSERT INTO blobs(id, recipient, size, received_at, expires_at, data, kind)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                meta.id,
                meta.recipient,
                meta.size as i64,
                meta.received_at,
                meta.expires_at,
                bytes,
                meta.kind.as_str()
            ])?;
            return Ok(());
        }
        let tx = conn.transaction()?;
        tx.prepare_cached(
            "INSERT INTO blobs(id, recipient, size, received_at, expires_at, data, kind)
             VALUES (?1, ?2, ?3, ?4, ?5, zeroblob(?3), ?6)",
        )?
        .execute(params![
            meta.id,
            meta.recipient,
            meta.size as i64,
            meta.received_at,
            meta.expires_at,
            meta.kind.as_str()
        ])?;
        let rowid = tx.last_insert_rowid();
        {
            use std::io::{Read, Write};
            let mut blob = tx.blob_open(MAIN_DB, c"blobs", c"data", rowid, false)?;
            match body {
                Incoming::Memory(bytes) => blob.write_all(&bytes)?,
                Incoming::File(mut file) => {
                    use std::io::Seek;
                    file.rewind()?;
                    let mut buf = vec![0u8; CHUNK];
                    loop {
                        let n = file.read(&mut buf)?;
                        if n == 0 {
                            break;
                        }
                        blob.write_all(&buf[..n])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn replace_blob(&self, meta: &BlobMeta, sender: &str, bytes: &[u8]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.prepare_cached("DELETE FROM blobs WHERE recipient = ?1 AND kind = ?2 AND sender = ?3")?.execute(params![
            meta.recipient,
            meta.kind.as_str(),
            sender
        ])?;
        tx.prepare_cached(
            "INSERT INTO blobs(id, recipient, size, received_at, expires_at, data, kind, sender)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            meta.id,
            meta.recipient,
            meta.size as i64,
            meta.received_at,
            meta.expires_at,
            bytes,
            meta.kind.as_str(),
            sender
        ])?;
        tx.commit()?;
        Ok(())
    }

    fn list(&self, recipient: &str, kind: BlobKind, now: i64) -> Result<Vec<BlobMeta>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {META} FROM blobs WHERE recipient = ?1 AND kind = ?3 AND expires_at > ?2 ORDER BY received_at, rowid"
        ))?;
        let rows = stmt.query_map(params![recipient, now, kind.as_str()], meta_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn usage(&self, recipient: &str, now: i64) -> Result<(u64, u64)> {
        let conn = self.conn();
        let (count, bytes): (i64, i64) = conn
            .prepare_cached(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs WHERE recipient = ?1 AND expires_at > ?2",
            )?
            .query_row(params![recipient, now], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok((count.max(0) as u64, bytes.max(0) as u64))
    }

    fn blob_meta(&self, id: &str) -> Result<Option<BlobMeta>> {
        Ok(self
            .conn()
            .prepare_cached(&format!("SELECT {META} FROM blobs WHERE id = ?1"))?
            .query_row([id], meta_row)
            .optional()?)
    }

    fn read_blob(&self, id: &str, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let conn = self.conn();
        let rowid: Option<i64> =
            conn.prepare_cached("SELECT rowid FROM blobs WHERE id = ?1")?.query_row([id], |r| r.get(0)).optional()?;
        let Some(rowid) = rowid else { anyhow::bail!("blob {id} is gone") };
        let blob = conn.blob_open(MAIN_DB, c"blobs", c"data", rowid, true)?;
        let len = blob.len() as u64;
        if offset >= len {
            return Ok(0);
        }
        let n = buf.len().min((len - offset) as usize);
        blob.read_at_exact(&mut buf[..n], offset as usize)?;
        Ok(n)
    }

    fn delete_blob(&self, id: &str) -> Result<bool> {
        Ok(self.conn().prepare_cached("DELETE FROM blobs WHERE id = ?1")?.execute([id])? > 0)
    }

    fn sweep(&self, now: i64) -> Result<usize> {
        let conn = self.conn();
        let n = conn.execute("DELETE FROM blobs WHERE expires_at <= ?1", [now])?;
        let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_go_in_and_out_in_chunks_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        {
            let store = SqliteStore::open(&path).unwrap();
            let meta = BlobMeta {
                id: "A".repeat(24),
                recipient: "r".into(),
                kind: BlobKind::Session,
                size: data.len() as u64,
                received_at: 1,
                expires_at: 10,
            };
            let mut file = tempfile::tempfile().unwrap();
            std::io::Write::write_all(&mut file, &data).unwrap();
            store.put_blob(&meta, Incoming::File(file)).unwrap();
            let key = StoredKey { fingerprint: "f".into(), public_key: vec![1, 2] };
            assert_eq!(store.put_key("id", &key).unwrap(), KeyPut::Created);
            assert_eq!(store.put_key("id", &key).unwrap(), KeyPut::Same);
            let other = StoredKey { fingerprint: "g".into(), public_key: vec![3] };
            assert_eq!(store.put_key("id", &other).unwrap(), KeyPut::Conflict);
        }
        let store = SqliteStore::open(&path).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 7000];
        loop {
            let n = store.read_blob(&"A".repeat(24), out.len() as u64, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert!(out == data);
        assert_eq!(store.list("r", BlobKind::Session, 5).unwrap().len(), 1);
        assert!(store.list("r", BlobKind::Message, 5).unwrap().is_empty(), "another kind");
        assert!(store.list("r", BlobKind::Session, 10).unwrap().is_empty(), "expired blobs are not listed");
        assert_eq!(store.sweep(10).unwrap(), 1);
        assert!(store.blob_meta(&"A".repeat(24)).unwrap().is_none());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_store_from_before_kinds_keeps_its_blobs_as_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE blobs(id TEXT PRIMARY KEY, recipient TEXT NOT NULL, size INTEGER NOT NULL,
                     received_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, data BLOB NOT NULL);
                 INSERT INTO blobs VALUES ('old', 'r', 1, 1, 100, x'00');",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.list("r", BlobKind::Session, 5).unwrap()[0].id, "old");
        let meta = BlobMeta {
            id: "new".into(),
            recipient: "r".into(),
            kind: BlobKind::Message,
            size: 1,
            received_at: 2,
            expires_at: 100,
        };
        store.put_blob(&meta, Incoming::Memory(vec![1])).unwrap();
        assert_eq!(store.list("r", BlobKind::Message, 5).unwrap(), [meta]);
        assert_eq!(store.list("r", BlobKind::Session, 5).unwrap().len(), 1, "an echos listing shows no message");
        assert_eq!(store.usage("r", 5).unwrap(), (2, 2), "one quota for the mailbox");
    }

    #[test]
    fn a_senders_presence_replaces_their_last_and_no_one_elses() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("relay.db")).unwrap();
        let meta = |id: &str| BlobMeta {
            id: id.into(),
            recipient: "r".into(),
            kind: BlobKind::Presence,
            size: 1,
            received_at: 2,
            expires_at: 100,
        };
        store.replace_blob(&meta("a1"), "alice", &[1]).unwrap();
        store.replace_blob(&meta("c1"), "carol", &[3]).unwrap();
        store.replace_blob(&meta("a2"), "alice", &[2]).unwrap();
        let ids: Vec<String> = store.list("r", BlobKind::Presence, 5).unwrap().into_iter().map(|b| b.id).collect();
        assert_eq!(ids, ["c1", "a2"], "Alice's first is gone, Carol's stays");
        assert!(store.list("r", BlobKind::Session, 5).unwrap().is_empty(), "an echos listing shows no presence");
        let mut buf = [0u8; 4];
        assert_eq!((store.read_blob("a2", 0, &mut buf).unwrap(), buf[0]), (1, 2));
    }
}
