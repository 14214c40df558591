//! Sending a session to a friend: sealed for their key into a spooled file (never whole in
//! memory), then streamed to their mailbox on the relay.

use super::envelope::{self, Manifest};
use super::friends::Friends;
use super::sessions::Session;
use crate::config::paths::Paths;
use crate::protocol::Error;

/// A session on the relay, waiting for the friend.
pub struct Sent {
    pub manifest: Manifest,
    pub blob: String,
    /// The sealed size.
    pub bytes: u64,
    pub ttl: i64,
    pub expires_at: String,
}

fn err(e: impl std::fmt::Display, next: &str) -> Error {
    Error::new("send_failed", e.to_string(), next)
}

/// Seal `session` for `friend` and post it. `progress(done, total)` hears the bytes sealed
/// (on the sealing thread).
pub async fn send(
    paths: &Paths,
    friend: &str,
    session: Session,
    mut progress: impl FnMut(u64, u64) + Send + 'static,
) -> Result<Sent, Error> {
    let me = super::me(paths)?;
    let friends = Friends::load(paths).map_err(|e| err(format!("{e:#}"), "fix friends.toml"))?;
    let Some(f) = friends.friends.get(friend) else {
        return Err(err(format!("{friend} is not a friend"), "add them: sbx friend add NAME ECHO-ID"));
    };
    let Some((_, key)) = friends.by_echo_id(&f.echo_id) else {
        return Err(err(
            format!("the key stored for {friend} does not hash to their echo-id"),
            "re-add them: sbx friend rm, then sbx friend add",
        ));
    };
    let client = super::relay(paths)?;
    let outbox = paths.data.join("outbox");
    crate::config::paths::ensure_private_dir(&outbox).map_err(|e| err(format!("{e:#}"), "check the data folder"))?;
    let spool_dir = outbox.clone();
    let (session, _export) = tokio::task::spawn_blocking(move || super::sessions::files_to_send(session, &spool_dir))
        .await
        .map_err(|e| err(e, "try again"))?
        .map_err(|e| err(format!("{e:#}"), "check the agent's session, then send again; nothing was sent"))?;
    let total: u64 =
        session.files.iter().filter_map(|f| std::fs::metadata(session.root.join(f)).ok()).map(|m| m.len()).sum();
    let spool = tempfile::Builder::new()
        .prefix("send-")
        .tempfile_in(&outbox)
        .map_err(|e| err(e, "check the disk (the sealed session is spooled there)"))?;
    let out = spool.reopen().map_err(|e| err(e, "check the disk"))?;
    let (manifest, out) = tokio::task::spawn_blocking(move || {
        let mut done = 0u64;
        let mut seen = |n: u64| {
            done += n;
            progress(done, total);
        };
        envelope::seal(&session, &me, &key, std::io::BufWriter::new(out), &mut seen)
    })
    .await
    .map_err(|e| err(e, "try again"))?
    .map_err(|e| err(format!("{e:#}"), "check the session's files, then send again"))?;
    let file = out.into_inner().map_err(|e| err(e.error(), "check the disk"))?;
    let size = file.sync_all().and_then(|()| file.metadata()).map_err(|e| err(e, "check the disk"))?.len();
    let spooled = tokio::fs::File::open(spool.path()).await.map_err(|e| err(e, "check the disk"))?;
    let body = reqwest::Body::wrap_stream(chunks(spooled));
    let posted = client.post(&f.echo_id, body).await.map_err(|e| {
        // A relay refuses a blob over its limit as soon as it sees the length, often by
        // closing the connection mid-upload: say how large this one was.
        err(
            format!("{e} (the sealed session is {size} bytes)"),
            "check the relay and its --max-blob-size, then send again; nothing was delivered",
        )
    })?;
    Ok(Sent { manifest, blob: posted.id, bytes: size, ttl: posted.ttl, expires_at: posted.expires_at })
}

/// A file as a stream of chunks, for an upload that never holds the whole envelope in memory.
fn chunks(file: tokio::fs::File) -> impl futures::Stream<Item = std::io::Result<Vec<u8>>> {
    futures::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 256 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    })
}
