//! The server's link to friends' machines for bridge messages: it posts the letters the
//! bridge queued (sealed here, with the user's identity, for the friend's key) and takes the
//! letters waiting in this machine's mailbox on the relay (long-polled while the server runs),
//! opens and checks them, hands them to the bridge, and only then deletes them from the relay.
//!
//! Exactly once, whatever crashes: a letter leaves the outbox only after the relay took it (a
//! crash between the two posts it again, with the same letter id), and is deleted from the
//! relay only after the bridge stored it (a crash between the two fetches it again); the
//! bridge drops a letter id it has seen. A friend removed from friends.toml gets nothing more
//! and is heard no more: both sides read the file at each letter.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use super::{ask, setup};
use crate::bridge::{BridgeHandle, RemoteMsg};
use crate::config::paths::Paths;
use crate::protocol::Error;
use crate::relay::client::{BlobKind, Signer};
use crate::share::friends::Friends;
use crate::share::letter::{self, Letter, Refused};

/// How long one listing of the mailbox waits on the relay for a letter.
const POLL_SECS: u64 = 25;
/// With nothing to do (no identity, no relay, no friend), how long until looking again.
const IDLE: Duration = Duration::from_secs(30);
/// Letters posted per round.
const BATCH: usize = 32;
/// The most a sealed letter may be on the relay: the letter's bound and age's overhead.
const MAX_SEALED: u64 = (letter::MAX_LETTER + letter::MAX_LETTER / 1024 + 4096) as u64;

pub struct RemoteLink {
    wake: Arc<Notify>,
}

impl RemoteLink {
    /// Post and receive from now on, for as long as the server runs.
    pub fn start(paths: Paths, bridge: BridgeHandle) -> RemoteLink {
        let wake = Arc::new(Notify::new());
        tokio::spawn(post_letters(paths.clone(), bridge.clone(), wake.clone()));
        tokio::spawn(receive_letters(paths.clone(), bridge.clone()));
        super::presence::start(paths, bridge);
        RemoteLink { wake }
    }

    /// Letters were queued: post them now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

async fn post_letters(paths: Paths, bridge: BridgeHandle, wake: Arc<Notify>) {
    let mut said = None;
    loop {
        let pending = ask(&bridge, RemoteMsg::Unposted(BATCH)).await;
        let rows = match pending {
            Ok(Value::Array(rows)) if !rows.is_empty() => rows,
            Ok(_) => {
                // Letters kept from before a restart are found at the first look.
                let _ = tokio::time::timeout(IDLE, wake.notified()).await;
                continue;
            }
            Err(e) if e.code == "server_gone" => return,
            Err(e) => {
                tracing::warn!("remote: cannot read the outbox: {}", e.message);
                tokio::time::sleep(IDLE).await;
                continue;
            }
        };
        let (me, relay) = match setup(&paths) {
            Ok(s) => s,
            Err(e) => {
                if said.as_ref() != Some(&e.message) {
                    tracing::warn!(
                        "remote: {} letters wait: {} ({})",
                        rows.len(),
                        e.message,
                        e.next.as_deref().unwrap_or("")
                    );
                    said = Some(e.message);
                }
                let _ = tokio::time::timeout(IDLE, wake.notified()).await;
                continue;
            }
        };
        said = None;
        let mut failed = false;
        for row in rows {
            let (Some(id), Some(friend), Some(body)) =
                (row["letter"].as_str(), row["friend"].as_str(), row["body"].as_str())
            else {
                continue;
            };
            match post_one(&paths, &me, &relay, friend, body).await {
                Ok(()) => {
                    let _ = ask(&bridge, RemoteMsg::Posted(id.to_string())).await;
                    tracing::info!("remote: letter {id} posted for {friend}");
                }
                // Removed from friends.toml: nothing more goes to them.
                Err(e) if e.code == "not_a_friend" => {
                    tracing::warn!("remote: letter {id} not sent: {}", e.message);
                    let _ = ask(&bridge, RemoteMsg::Dropped(id.to_string())).await;
                }
                Err(e) => {
                    tracing::warn!("remote: letter {id} for {friend} not posted: {}", e.message);
                    let _ = ask(&bridge, RemoteMsg::Attempted(id.to_string())).await;
                    failed = true;
                }
            }
        }
        if failed {
            let _ = tokio::time::timeout(IDLE / 3, wake.notified()).await;
        }
    }
}

/// Seal one letter for `friend` and post it to their mailbox.
async fn post_one(
    paths: &Paths,
    me: &Arc<crate::share::identity::Identity>,
    relay: &crate::relay::client::RelayClient,
    friend: &str,
    body: &str,
) -> Result<(), Error> {
    let friends = Friends::load(paths).map_err(|e| Error::new("bad_friends", format!("{e:#}"), "fix friends.toml"))?;
    let Some(entry) = friends.friends.get(friend) else {
        return Err(Error::new("not_a_friend", format!("{friend} is no longer a friend"), "sbx friend add them again"));
    };
    let Some((_, key)) = friends.by_echo_id(&entry.echo_id) else {
        return Err(Error::new("bad_friends", format!("{friend}'s key does not match their id"), "add them again"));
    };
    let mut letter: Letter = serde_json::from_str(body)
        .map_err(|e| Error::new("bad_letter", format!("a letter in the outbox is broken: {e}"), "see the log"))?;
    letter.from_echo_id = me.echo_id();
    letter.from_fingerprint = me.fingerprint();
    letter.to_echo_id = entry.echo_id.clone();
    let signer = me.clone();
    let sealed = tokio::task::spawn_blocking(move || letter::seal(&letter, &*signer, &key))
        .await
        .map_err(|e| Error::new("internal_error", e.to_string(), "see the log"))?
        .map_err(|e| Error::new("cannot_seal", format!("{e:#}"), "see the log"))?;
    relay
        .post_kind(&entry.echo_id, BlobKind::Message, sealed)
        .await
        .map_err(|e| Error::new("relay", e.to_string(), "the relay will be tried again"))?;
    Ok(())
}

async fn receive_letters(paths: Paths, bridge: BridgeHandle) {
    let mut said = None;
    loop {
        let has_friends = Friends::load(&paths).is_ok_and(|f| !f.friends.is_empty());
        let ready = setup(&paths).and_then(|s| match has_friends {
            true => Ok(s),
            // Someone who never made friends costs no network.
            false => Err(Error::new("no_friends", "no friends", "")),
        });
        let (me, relay) = match ready {
            Ok(s) => s,
            Err(e) => {
                if e.code != "no_friends" && said.as_ref() != Some(&e.message) {
                    tracing::info!("remote: not receiving: {}", e.message);
                    said = Some(e.message);
                }
                tokio::time::sleep(IDLE).await;
                continue;
            }
        };
        said = None;
        let listed = match relay.list_kind(&*me, BlobKind::Message, Some(POLL_SECS)).await {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!("remote: cannot list the mailbox: {e}");
                tokio::time::sleep(IDLE / 3).await;
                continue;
            }
        };
        for blob in super::valid_ids(listed) {
            let taken = take_one(&paths, &bridge, &me, &relay, &blob).await;
            if super::done_with(&relay, &me, "letter", &blob, taken, IDLE / 3).await.is_err() {
                return;
            }
        }
    }
}

/// Fetch, open, check and deliver one letter. Ok means it is done with (delivered, a copy of
/// one delivered, or refused and logged): it may go from the relay.
async fn take_one(
    paths: &Paths,
    bridge: &BridgeHandle,
    me: &Arc<crate::share::identity::Identity>,
    relay: &crate::relay::client::RelayClient,
    blob: &str,
) -> Result<(), Error> {
    let Some(sealed) = super::fetch_sealed(relay, me, blob, MAX_SEALED, "letter").await? else { return Ok(()) };
    let friends = Friends::load(paths).map_err(|e| Error::new("bad_friends", format!("{e:#}"), "fix friends.toml"))?;
    let age = me.age().map_err(|e| Error::new("bad_identity", format!("{e:#}"), "sbx id"))?;
    let my_id = me.echo_id();
    let opened = tokio::task::spawn_blocking(move || {
        let opened = letter::open(&sealed, &age, &my_id, &|id| friends.by_echo_id(id).map(|(_, key)| key));
        let friend =
            opened.as_ref().ok().and_then(|l| friends.by_echo_id(&l.from_echo_id).map(|(name, _)| name.to_string()));
        (opened, friend, sealed)
    })
    .await
    .map_err(|e| Error::new("internal_error", e.to_string(), ""))?;
    match opened {
        (Ok(letter), Some(friend), _) => {
            let msg = RemoteMsg::Deliver { friend: friend.clone(), letter: Box::new(letter) };
            ask(bridge, msg).await.map(drop)
        }
        (Err(Refused::UnknownSender { echo_id }), _, sealed) => {
            let kept = keep_for_review(paths, blob, &sealed);
            tracing::warn!("remote: refused a message from {echo_id}, who is not a friend; kept for review in {kept}");
            Ok(())
        }
        (Err(why), _, _) => {
            tracing::warn!("remote: refused letter {blob}: {why}");
            Ok(())
        }
        (Ok(_), None, _) => Ok(()),
    }
}

/// A letter from a stranger, kept sealed (0600) for the user to look at, never delivered.
fn keep_for_review(paths: &Paths, blob: &str, sealed: &[u8]) -> String {
    let dir = paths.data.join("letters").join("unknown");
    let path = dir.join(format!("{blob}.sbxm"));
    let kept =
        crate::config::paths::ensure_private_dir(&dir).and_then(|()| crate::config::paths::write_atomic(&path, sealed));
    match kept {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("(nowhere: {e:#})"),
    }
}
