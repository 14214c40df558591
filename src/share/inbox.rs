//! Sessions waiting for you on the relay, each envelope's header checked once.
//!
//! Listing costs little whatever strangers post: of a blob not seen before only the start is
//! fetched (HEADER_FETCH bytes at most: the manifest and signature come first), opened in
//! memory up to the signature check, and the outcome remembered by blob id in
//! `data/inbox/index.json`; later listings reuse it and fetch nothing. An envelope that fails
//! its checks is deleted from the relay (nobody can ever open it) and nothing of it is kept
//! but the reason.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::envelope;
use super::friends::Friends;
use super::identity::Identity;
use crate::config::paths::Paths;
use crate::relay::client::{Listed, RelayClient};

/// The most of a blob fetched to read its header: the manifest (at most 4 MiB unpacked, far
/// less packed) and the signature, with room for the age and gzip framing.
pub const HEADER_FETCH: u64 = 6 * 1024 * 1024;

/// What a checked envelope says of itself (the signature over it verified).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Header {
    pub sender_echo_id: String,
    pub tool: String,
    pub session_id: String,
    pub title: String,
    pub project: String,
}

/// A blob in the mailbox and what is known of it.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub blob: Listed,
    /// The checked header, or why the envelope was refused; None when it could not be
    /// fetched now (the next listing tries again).
    pub checked: Option<Result<Header, String>>,
    pub fetch_error: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    #[serde(default)]
    checked: BTreeMap<String, Result<Header, String>>,
}

fn index_path(paths: &Paths) -> PathBuf {
    paths.data.join("inbox").join("index.json")
}

impl Index {
    fn load(paths: &Paths) -> Index {
        std::fs::read(index_path(paths)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    fn save(&self, paths: &Paths) {
        let path = index_path(paths);
        let saved = crate::config::paths::ensure_private_dir(&paths.data.join("inbox"))
            .and_then(|()| crate::config::paths::write_atomic(&path, &serde_json::to_vec(self).unwrap_or_default()));
        if let Err(e) = saved {
            tracing::warn!("cannot remember checked envelopes in {}: {e:#}", path.display());
        }
    }
}

/// Where a downloaded envelope is kept until it is opened.
pub fn cached_path(paths: &Paths, blob: &str) -> PathBuf {
    paths.data.join("inbox").join(format!("{blob}.echo"))
}

/// Remove cached envelopes the relay no longer lists (opened elsewhere, expired, deleted):
/// the cache never holds more than the mailbox does.
fn forget_cached(paths: &Paths, listed: &std::collections::BTreeSet<&str>) {
    let Ok(dir) = std::fs::read_dir(paths.data.join("inbox")) else { return };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(blob) = name.strip_suffix(".echo") {
            if !listed.contains(blob) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Whether an error from opening is the envelope's fault (refused for good) rather than a
/// passing one (the network, the disk).
pub fn is_refusal(message: &str) -> bool {
    message.starts_with("refused:")
}

/// The sender's key for a manifest: a friend's, else (when `relay` is given) one fetched from
/// the relay and checked against the id. Runs on a blocking thread (it may wait for the relay).
pub fn sender_key<'a>(
    friends: &'a Friends,
    relay: Option<(&'a RelayClient, tokio::runtime::Handle)>,
    from: &'a mut Option<String>,
) -> impl FnMut(&envelope::Manifest) -> anyhow::Result<Vec<u8>> + 'a {
    move |m| {
        if let Some((name, key)) = friends.by_echo_id(&m.sender_echo_id) {
            *from = Some(name.to_string());
            return Ok(key);
        }
        let Some((client, handle)) = &relay else {
            anyhow::bail!(
                "refused: the sender {} is not a friend (open with --allow-unknown to accept it anyway)",
                m.sender_echo_id
            );
        };
        handle.block_on(client.fetch_key(&m.sender_echo_id)).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// Check the start of an envelope up to its signature (nothing is written but an empty
/// staging folder, removed at once). Blocking: run it off the runtime's threads.
fn check_header(
    prefix: Vec<u8>,
    size: u64,
    age: age::ssh::Identity,
    friends: Friends,
    relay: RelayClient,
    handle: tokio::runtime::Handle,
    staging: PathBuf,
) -> Result<Header, String> {
    let mut from = None;
    let mut lookup = sender_key(&friends, Some((&relay, handle)), &mut from);
    match envelope::open(&prefix[..], size, &age, &mut lookup, &staging, true) {
        Ok(opened) => {
            let m = opened.manifest;
            Ok(Header {
                sender_echo_id: m.sender_echo_id,
                tool: m.tool,
                session_id: m.session_id,
                title: m.title,
                project: m.project,
            })
        }
        // A header that did not fit in what was fetched is larger than sbx reads unverified.
        Err(e) if size > prefix.len() as u64 && !is_refusal(&format!("{e:#}")) => Err(format!(
            "refused: its header does not fit in the first {} bytes, more than sbx reads before the signature",
            prefix.len()
        )),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// The blobs waiting for `me`, each with its checked header (see the module's comment).
pub async fn waiting(
    client: &RelayClient,
    me: &Identity,
    friends: &Friends,
    paths: &Paths,
) -> Result<Vec<Waiting>, crate::relay::client::RelayError> {
    let listed = client.list(me, None).await?;
    let mut index = Index::load(paths);
    let before = index.checked.len();
    let mut changed = false;
    let mut out = Vec::new();
    for blob in listed {
        if let Some(known) = index.checked.get(&blob.id) {
            out.push(Waiting { checked: Some(known.clone()), fetch_error: None, blob });
            continue;
        }
        let want = blob.size.min(HEADER_FETCH);
        let prefix = match client.fetch_prefix(me, &blob.id, want).await {
            Ok(bytes) => bytes,
            Err(e) => {
                out.push(Waiting { checked: None, fetch_error: Some(e.to_string()), blob });
                continue;
            }
        };
        let whole = prefix.len() as u64 == blob.size;
        let kept = whole.then(|| prefix.clone());
        let age = me.age().map_err(|e| crate::relay::client::RelayError { status: None, message: format!("{e:#}") })?;
        let (size, known, relay) = (blob.size, friends.clone(), client.clone());
        let (handle, staging) = (tokio::runtime::Handle::current(), paths.data.join("staging"));
        let checked =
            tokio::task::spawn_blocking(move || check_header(prefix, size, age, known, relay, handle, staging))
                .await
                .unwrap_or_else(|e| Err(format!("the check failed: {e}")));
        match &checked {
            Err(why) if is_refusal(why) => {
                // Nobody can ever open it: it goes from the relay, only the reason stays.
                if let Err(e) = client.delete(me, &blob.id).await {
                    tracing::warn!("cannot delete refused blob {} from the relay: {e}", blob.id);
                }
            }
            Err(_) => {
                out.push(Waiting { checked: None, fetch_error: checked.err(), blob });
                continue;
            }
            Ok(_) => {
                // A small envelope came whole and signed: `sbx open` need not fetch it again.
                // (Kept only while the relay lists it: see forget_cached.)
                if let Some(bytes) = kept {
                    let _ = crate::config::paths::write_atomic(&cached_path(paths, &blob.id), &bytes);
                }
            }
        }
        index.checked.insert(blob.id.clone(), checked.clone());
        changed = true;
        out.push(Waiting { checked: Some(checked), fetch_error: None, blob });
    }
    // Forget what the relay no longer holds (opened, expired, deleted), but keep the reasons
    // for refusals seen in this listing.
    let listed: std::collections::BTreeSet<&str> = out.iter().map(|w| w.blob.id.as_str()).collect();
    index.checked.retain(|id, _| listed.contains(id.as_str()));
    forget_cached(paths, &listed);
    if changed || index.checked.len() != before {
        index.save(paths);
    }
    Ok(out)
}
