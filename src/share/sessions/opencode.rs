//! opencode's sessions: rows in its SQLite database (`opencode.db` in its data folder), not
//! files. Its own portable record of one is `opencode export ID` (the session and every
//! message with its parts, as JSON), which `opencode import FILE` takes back, keeping the ids
//! and making the session the importing folder's. So a share carries that export as one file,
//! `<id>.json`, made by the sender's opencode when it is sent; the receiver's opencode imports
//! it. sbx reads opencode's database (read-only, to list and to look before an import) and
//! never writes it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::{one_line, valid_session_id, Session, Tool};

/// How long opencode may take to export or import a session (it starts a whole runtime).
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The share's one file for session `id`.
pub fn file_name(id: &str) -> String {
    format!("{id}.json")
}

/// opencode's data folder: `$XDG_DATA_HOME/opencode`, else `~/.local/share/opencode`.
fn data_dir() -> PathBuf {
    crate::agents::home_dir("XDG_DATA_HOME", ".local/share").join("opencode")
}

/// Its database, as it resolves it: `$OPENCODE_DB` (absolute, or inside the data folder),
/// else `opencode.db` there. None when it keeps no database on disk (`:memory:`).
fn db_path() -> Option<PathBuf> {
    match std::env::var_os("OPENCODE_DB").filter(|v| !v.is_empty()) {
        Some(v) if v == ":memory:" => None,
        Some(v) if Path::new(&v).is_absolute() => Some(PathBuf::from(v)),
        Some(v) => Some(data_dir().join(v)),
        None => Some(data_dir().join("opencode.db")),
    }
}

fn open_db() -> Option<rusqlite::Connection> {
    let path = db_path()?;
    if !path.is_file() {
        return None;
    }
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let db = rusqlite::Connection::open_with_flags(&path, flags).ok()?;
    // opencode may be writing (WAL): a read waits a moment rather than failing.
    db.busy_timeout(Duration::from_secs(2)).ok()?;
    Some(db)
}

/// Its top-level sessions (a subagent's session is its parent's business), archived ones left out.
pub fn sessions(out: &mut Vec<Session>) {
    let Some(db) = open_db() else { return };
    let Ok(mut rows) = db.prepare(
        "SELECT id, title, directory, time_updated FROM session WHERE parent_id IS NULL AND time_archived IS NULL",
    ) else {
        return;
    };
    let Ok(found) = rows.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
    }) else {
        return;
    };
    for (id, title, directory, updated_ms) in found.flatten() {
        if !valid_session_id(&id) {
            continue;
        }
        out.push(Session {
            tool: Tool::Opencode,
            files: vec![file_name(&id)],
            id,
            project: directory,
            title: one_line(&title),
            updated: updated_ms / 1000,
            // Nothing on disk until it is exported for sending (`export`).
            root: PathBuf::new(),
        });
    }
}

/// Whether the receiver's opencode already has session `id`.
fn has_session(id: &str) -> bool {
    let Some(db) = open_db() else { return false };
    db.query_row("SELECT 1 FROM session WHERE id = ?1", [id], |_| Ok(())).is_ok()
}

/// Run opencode, its output into `stdout`, within `RUN_LIMIT`; what it said on failure. Its
/// words go to files, not pipes: a pipe nobody reads while it runs could stall it.
fn run_opencode(args: &[&str], dir: Option<&Path>, stdout: std::fs::File) -> Result<()> {
    let mut stderr = tempfile::tempfile()?;
    let mut command = Command::new("opencode");
    command.args(args).stdin(Stdio::null()).stdout(stdout).stderr(stderr.try_clone()?);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let mut child = command.spawn().map_err(|e| {
        anyhow::anyhow!("cannot run opencode ({e}); install it (npm install -g opencode-ai) and put it on PATH")
    })?;
    let deadline = Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("opencode {} took over {} s; nothing was done", args[0], RUN_LIMIT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !status.success() {
        bail!("opencode {} failed ({status}): {}", args[0], said(&mut stderr));
    }
    Ok(())
}

/// What opencode said (a file it wrote), for an error: its last words on one line, no
/// control characters.
fn said(file: &mut std::fs::File) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut bytes = Vec::new();
    let _ = file.seek(SeekFrom::Start(0)).and_then(|_| file.take(1 << 20).read_to_end(&mut bytes));
    let text = String::from_utf8_lossy(&bytes);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let clean: Vec<char> = line.chars().filter(|c| !c.is_control()).collect();
    clean[clean.len().saturating_sub(400)..].iter().collect()
}

/// The ids an export names, read a message at a time (never the whole export in memory):
/// the session's, and each message's and part's, which must all be that session's (an import
/// files every message and part under the export's session, whatever they say, and never
/// replaces a row already there).
#[derive(Deserialize)]
struct Export {
    info: Named,
    /// The one session every message and part names (None: no messages).
    #[serde(default, deserialize_with = "one_session")]
    messages: Option<String>,
}

#[derive(Deserialize)]
struct Named {
    id: String,
}

#[derive(Deserialize)]
struct ExportedMessage {
    info: MessageInfo,
    #[serde(default)]
    parts: Vec<ExportedPart>,
}

#[derive(Deserialize)]
struct MessageInfo {
    #[serde(rename = "sessionID")]
    session_id: String,
    id: String,
}

#[derive(Deserialize)]
struct ExportedPart {
    #[serde(rename = "sessionID")]
    session_id: String,
    #[serde(rename = "messageID")]
    message_id: String,
}

fn one_session<'de, D: serde::Deserializer<'de>>(messages: D) -> Result<Option<String>, D::Error> {
    struct EachMessage;
    impl<'de> serde::de::Visitor<'de> for EachMessage {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of messages")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut session: Option<String> = None;
            while let Some(m) = seq.next_element::<ExportedMessage>()? {
                let named = session.get_or_insert_with(|| m.info.session_id.clone());
                let own = m.info.session_id == *named
                    && m.parts.iter().all(|p| p.session_id == *named && p.message_id == m.info.id);
                if !own {
                    return Err(serde::de::Error::custom("it holds messages or parts of another session"));
                }
            }
            Ok(session)
        }
    }
    messages.deserialize_seq(EachMessage)
}

/// Check that the export at `path` is session `id`'s alone.
fn check_export(path: &Path, id: &str) -> Result<()> {
    let file = std::fs::File::open(path).context("cannot read the session")?;
    let export: Export = serde_json::from_reader(std::io::BufReader::new(file))
        .context("refused: the session is not one opencode session's export")?;
    if export.info.id != id || export.messages.is_some_and(|named| named != id) {
        bail!("refused: the export is of another session than its envelope says");
    }
    Ok(())
}

/// Export session `id` with the sender's own opencode into `dir` (a private folder), as the
/// one file the envelope carries; checked as the receiver will check it.
pub fn export(id: &str, dir: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(file_name(id));
    let file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    run_opencode(&["export", id], None, file).context("cannot export the opencode session")?;
    check_export(&path, id).context("opencode's export is not what sbx can send")?;
    Ok(path)
}

/// Import a received export (`staged`) into the receiver's opencode for `dir`. A session of
/// that id already there stops it unless `force`.
pub fn import(staged: &Path, id: &str, dir: &Path, force: bool) -> Result<()> {
    check_export(staged, id)?;
    if has_session(id) && !force {
        bail!("opencode already has session {id}; nothing was imported (add --force to import it over)");
    }
    let path = staged.to_str().context("the staged session's path is not UTF-8")?;
    let mut stdout = tempfile::tempfile()?;
    run_opencode(&["import", path], Some(dir), stdout.try_clone()?).context("nothing was imported")?;
    let told = said(&mut stdout);
    if !told.contains(&format!("Imported session: {id}")) {
        bail!("opencode did not import the session: {told}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(text: &str) -> Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(&path, text).unwrap();
        check_export(&path, "ses_a")
    }

    #[test]
    fn an_export_must_be_its_sessions_alone() {
        let part = |s: &str, m: &str| {
            format!("{{\"id\":\"prt_1\",\"sessionID\":\"{s}\",\"messageID\":\"{m}\",\"text\":\"x\"}}")
        };
        let message = |s: &str, parts: &str| {
            format!("{{\"info\":{{\"id\":\"msg_1\",\"sessionID\":\"{s}\",\"role\":\"user\"}},\"parts\":[{parts}]}}")
        };
        let export = |id: &str, messages: &str| {
            format!("{{\"info\":{{\"id\":\"{id}\",\"title\":\"t\"}},\"messages\":[{messages}]}}")
        };
        assert!(checked(&export("ses_a", &message("ses_a", &part("ses_a", "msg_1")))).is_ok());
        assert!(checked(&export("ses_a", "")).is_ok());
        assert!(checked(&export("ses_b", "")).is_err(), "another session");
        assert!(checked(&export("ses_a", &message("ses_b", ""))).is_err(), "a message of another");
        assert!(checked(&export("ses_a", &message("ses_a", &part("ses_b", "msg_1")))).is_err());
        assert!(
            checked(&export("ses_a", &message("ses_a", &part("ses_a", "msg_victim")))).is_err(),
            "a part for a message not its own"
        );
        let two = format!("{},{}", message("ses_a", ""), message("ses_b", ""));
        assert!(checked(&export("ses_a", &two)).is_err(), "a second message of another");
        let after = format!("{{\"messages\":[{}],\"info\":{{\"id\":\"ses_a\"}}}}", message("ses_b", ""));
        assert!(checked(&after).is_err(), "its info after its messages");
        let after = format!("{{\"messages\":[{}],\"info\":{{\"id\":\"ses_a\"}}}}", message("ses_a", ""));
        assert!(checked(&after).is_ok());
        assert!(checked("[]").is_err() && checked("not json").is_err() && checked("").is_err());
    }
}
