//! Presence between friends' machines, on the server's side. While the server runs it tells
//! each friend — sealed for them, in their one presence slot on the relay — that they are a
//! friend and which agent sessions they may see (`sees` in friends.toml: none unless the user
//! said so); again soon after a change, and at least every `KEEPALIVE`. It long-polls its own
//! slots for what friends say, opens and checks each, hands it to the bridge (which keeps
//! only a newer word) and then deletes it from the relay.
//!
//! A stranger's presence is logged with the step to add them and dropped: it carries nothing
//! a user needs to review.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{ask, setup};
use crate::bridge::{BridgeHandle, RemoteMsg};
use crate::config::paths::Paths;
use crate::protocol::Error;
use crate::relay::client::{BlobKind, RelayClient};
use crate::share::friends::Friends;
use crate::share::identity::Identity;
use crate::share::presence::{self, Presence, SharedSession, KEEPALIVE};
use crate::share::sealed::Refused;

/// How often the sessions are looked at for a change (a bridge call in-process, no network).
const TICK: Duration = Duration::from_secs(2);
/// At most one presence to a friend this often, however busy the agents are.
const SOON: Duration = Duration::from_secs(5);
/// After a failed post, the next try.
const RETRY: Duration = Duration::from_secs(15);
/// With nothing to do (no identity, no relay, no friend), how long until looking again.
const IDLE: Duration = Duration::from_secs(30);
const POLL_SECS: u64 = 25;
/// The most a sealed presence may be on the relay: its bound and age's overhead.
const MAX_SEALED: u64 = (presence::MAX_PRESENCE + 4096) as u64;

pub fn start(paths: Paths, bridge: BridgeHandle) {
    tokio::spawn(publish(paths.clone(), bridge.clone()));
    tokio::spawn(receive(paths, bridge));
}

/// What was last told a friend, and when.
struct Told {
    sessions: String,
    at: Instant,
    failed: bool,
}

impl Told {
    fn due(&self, sessions: &str) -> bool {
        let since = self.at.elapsed();
        since >= KEEPALIVE
            || (self.failed && since >= RETRY)
            || (!self.failed && self.sessions != sessions && since >= SOON)
    }
}

/// This machine's agent sessions (label, name, agent, state), from the bridge.
fn local_sessions(v: &Value) -> Vec<(Option<String>, SharedSession)> {
    let text = |s: &Value, k: &str| s[k].as_str().unwrap_or_default().to_string();
    v.as_array()
        .map(|rows| {
            rows.iter()
                .map(|s| {
                    let shared =
                        SharedSession { name: text(s, "name"), agent: text(s, "agent"), state: text(s, "state") };
                    (s["label"].as_str().map(str::to_string), shared)
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn publish(paths: Paths, bridge: BridgeHandle) {
    let mut told: HashMap<String, Told> = HashMap::new();
    let mut said = None;
    loop {
        tokio::time::sleep(TICK).await;
        let friends = Friends::load(&paths).unwrap_or_default();
        if friends.friends.is_empty() {
            told.clear();
            tokio::time::sleep(IDLE).await;
            continue;
        }
        let (me, relay) = match setup(&paths) {
            Ok(s) => s,
            Err(e) => {
                if said.as_ref() != Some(&e.message) {
                    tracing::info!("presence: not told to friends: {}", e.message);
                    said = Some(e.message);
                }
                tokio::time::sleep(IDLE).await;
                continue;
            }
        };
        said = None;
        let local = match ask(&bridge, RemoteMsg::LocalSessions).await {
            Ok(v) => local_sessions(&v),
            Err(e) if e.code == "server_gone" => return,
            Err(_) => continue,
        };
        told.retain(|echo_id, _| friends.friends.values().any(|f| &f.echo_id == echo_id));
        for (name, friend) in &friends.friends {
            let Some((_, key)) = friends.by_echo_id(&friend.echo_id) else { continue };
            let sessions: Vec<SharedSession> =
                local.iter().filter(|(label, _)| friend.may_see(label.as_deref())).map(|(_, s)| s.clone()).collect();
            let text = serde_json::to_string(&sessions).unwrap_or_default();
            if told.get(&friend.echo_id).is_some_and(|t| !t.due(&text)) {
                continue;
            }
            let result = presence::tell(&relay, me.clone(), &friend.echo_id, key, true, sessions).await;
            if let Err(e) = &result {
                tracing::warn!("presence: {name} not told: {e:#}");
            }
            told.insert(friend.echo_id.clone(), Told { sessions: text, at: Instant::now(), failed: result.is_err() });
        }
    }
}

async fn receive(paths: Paths, bridge: BridgeHandle) {
    loop {
        let has_friends = Friends::load(&paths).is_ok_and(|f| !f.friends.is_empty());
        let (me, relay) = match (has_friends, setup(&paths)) {
            (true, Ok(s)) => s,
            // Said by the letters' link already; someone with no friends costs no network.
            _ => {
                tokio::time::sleep(IDLE).await;
                continue;
            }
        };
        let listed = match relay.list_kind(&*me, BlobKind::Presence, Some(POLL_SECS)).await {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!("presence: cannot list what friends said: {e}");
                tokio::time::sleep(IDLE / 3).await;
                continue;
            }
        };
        for blob in super::valid_ids(listed) {
            let taken = take_one(&paths, &bridge, &me, &relay, &blob).await;
            if super::done_with(&relay, &me, "presence", &blob, taken, IDLE / 3).await.is_err() {
                return;
            }
        }
    }
}

/// Fetch, open, check and keep one presence. Ok means it is done with (kept, older than what
/// is kept, or refused and logged): it may go from the relay.
async fn take_one(
    paths: &Paths,
    bridge: &BridgeHandle,
    me: &Arc<Identity>,
    relay: &RelayClient,
    blob: &str,
) -> Result<(), Error> {
    let Some(sealed) = super::fetch_sealed(relay, me, blob, MAX_SEALED, "presence").await? else { return Ok(()) };
    let friends = Friends::load(paths).map_err(|e| Error::new("bad_friends", format!("{e:#}"), "fix friends.toml"))?;
    let age = me.age().map_err(|e| Error::new("bad_identity", format!("{e:#}"), "sbx id"))?;
    let my_id = crate::relay::client::Signer::echo_id(&**me);
    let opened = tokio::task::spawn_blocking(move || -> (Result<Presence, Refused>, Option<String>) {
        let opened = presence::open(&sealed, &age, &my_id, &|id| friends.by_echo_id(id).map(|(_, key)| key));
        let friend =
            opened.as_ref().ok().and_then(|p| friends.by_echo_id(&p.from_echo_id).map(|(name, _)| name.to_string()));
        (opened, friend)
    })
    .await
    .map_err(|e| Error::new("internal_error", e.to_string(), ""))?;
    match opened {
        (Ok(p), Some(friend)) => ask(bridge, RemoteMsg::Presence { friend, presence: Box::new(p) }).await.map(drop),
        (Err(Refused::UnknownSender { echo_id }), _) => {
            tracing::info!(
                "presence: word from {echo_id}, who is not a friend of yours, dropped; if you know them: sbx friend add NAME {echo_id}"
            );
            Ok(())
        }
        (Err(why), _) => {
            tracing::warn!("presence: refused {blob}: {why}");
            Ok(())
        }
        (Ok(_), None) => Ok(()),
    }
}
