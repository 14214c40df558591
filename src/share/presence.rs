//! Presence: what one friend's sbx tells another, sealed (`SBXP` 0x01, in the container of
//! `sealed.rs`) and replaced on the relay at each refresh — "I have you as a friend" and the
//! agent sessions you let them see (label, agent kind, state).
//!
//! It is also the handshake: a friend's presence is their signed word that they added you
//! back, so a message to someone who has not is refused before it is queued. The last word
//! of someone who removes you is a presence that says so (`friends: false`).
//!
//! Everything in it comes from another machine: `open` bounds it and keeps its text plain
//! before anything here shows it.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::sealed::{self, Addressed, Refused};
use crate::relay::client::Signer;

pub const MAGIC: &[u8; 5] = b"SBXP\x01";
/// The most an opened presence may be.
pub const MAX_PRESENCE: usize = 64 * 1024;
/// The most sessions one presence lists.
pub const MAX_SESSIONS: usize = 200;
/// A friend's sbx says it again at least this often while it runs (and soon after a change).
pub const KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(120);
/// A friend not heard from for this long is shown offline (two keepalives missed, and some).
pub const ONLINE_WINDOW_MS: i64 = 2 * 120_000 + 60_000;

/// One session a friend may see. Field order is the wire order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SharedSession {
    /// Its address on the sender's machine: a label, or a pane id (`%3`).
    pub name: String,
    /// `claude`, `codex`, …
    pub agent: String,
    /// `idle`, `working`, `waiting`, …
    pub state: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Presence {
    pub version: u32,
    pub from_echo_id: String,
    pub from_fingerprint: String,
    pub to_echo_id: String,
    /// When it was written (ms since the epoch): a newer one replaces it, an older is dropped.
    pub at_ms: i64,
    /// False when the sender removed the recipient as a friend.
    pub friends: bool,
    pub sessions: Vec<SharedSession>,
}

impl Addressed for Presence {
    fn sender_echo_id(&self) -> &str {
        &self.from_echo_id
    }
    fn sender_fingerprint(&self) -> &str {
        &self.from_fingerprint
    }
    fn recipient_echo_id(&self) -> &str {
        &self.to_echo_id
    }
}

impl Presence {
    /// What `me` tells the friend with echo-id `to` now.
    pub fn new(me: &dyn Signer, to: &str, friends: bool, sessions: Vec<SharedSession>) -> Presence {
        Presence {
            version: 1,
            from_echo_id: me.echo_id(),
            from_fingerprint: me.fingerprint(),
            to_echo_id: to.to_string(),
            at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            friends,
            sessions,
        }
    }
}

/// Seal `presence`, signed by `me`, for `recipient` (an SSH wire key).
pub fn seal(presence: &Presence, me: &dyn Signer, recipient: &[u8]) -> Result<Vec<u8>> {
    if presence.sessions.len() > MAX_SESSIONS {
        bail!("{} sessions, over the {MAX_SESSIONS} a presence lists", presence.sessions.len());
    }
    let bytes = serde_json::to_vec(presence)?;
    if !sealed::fits(bytes.len(), MAX_PRESENCE) {
        bail!("the presence is {} bytes, over {MAX_PRESENCE}", bytes.len());
    }
    sealed::seal(MAGIC, &bytes, me, recipient)
}

/// Seal what `me` tells the friend (`echo_id`, SSH wire `key`) and post it in place of the
/// last presence posted them.
pub async fn tell(
    relay: &crate::relay::client::RelayClient,
    me: std::sync::Arc<super::identity::Identity>,
    echo_id: &str,
    key: Vec<u8>,
    friends: bool,
    sessions: Vec<SharedSession>,
) -> Result<()> {
    let presence = Presence::new(&*me, echo_id, friends, sessions);
    let signer = me.clone();
    let sealed = tokio::task::spawn_blocking(move || seal(&presence, &*signer, &key)).await??;
    relay.post_presence(&*me, echo_id, sealed).await?;
    Ok(())
}

/// Open a presence sealed for `me` by a friend (`friend_key` by echo-id); its text is kept
/// plain and bounded.
pub fn open(
    sealed: &[u8],
    me: &age::ssh::Identity,
    my_echo_id: &str,
    friend_key: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<Presence, Refused> {
    let mut presence = sealed::open(MAGIC, sealed, MAX_PRESENCE, me, my_echo_id, friend_key, |bytes| {
        let p: Presence =
            serde_json::from_slice(bytes).map_err(|e| Refused::Malformed(format!("not a presence: {e}")))?;
        match p.version {
            1 => Ok(p),
            v => Err(Refused::Malformed(format!("presence version {v} (this sbx reads 1)"))),
        }
    })?;
    if presence.sessions.len() > MAX_SESSIONS {
        return Err(Refused::Malformed(format!("over {MAX_SESSIONS} sessions")));
    }
    for s in &mut presence.sessions {
        s.name = plain(&s.name, 64, |c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '%'));
        s.agent = plain(&s.agent, 32, |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
        s.state = plain(&s.state, 32, |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    }
    presence.sessions.retain(|s| !s.name.is_empty());
    Ok(presence)
}

/// A friend's text as it may reach a screen or an address: the characters `keep` allows, at
/// most `max` of them.
fn plain(text: &str, max: usize, keep: impl Fn(char) -> bool) -> String {
    text.chars().filter(|c| keep(*c)).take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::super::sealed::testing::someone;
    use super::*;

    fn session(name: &str) -> SharedSession {
        SharedSession { name: name.into(), agent: "codex".into(), state: "idle".into() }
    }

    #[test]
    fn a_presence_opens_for_its_recipient_from_a_friend_only() {
        let (alice, bob, mallory) = (someone(1), someone(2), someone(4));
        let friends = |id: &str| (id == alice.signer.echo_id()).then(|| alice.public.clone());
        let sent = Presence::new(&alice.signer, &bob.signer.echo_id(), true, vec![session("reviewer")]);
        let sealed = seal(&sent, &alice.signer, &bob.public).unwrap();
        assert!(!sealed.windows(8).any(|w| w == b"reviewer"), "a label in the clear");
        assert_eq!(open(&sealed, &bob.age, &bob.signer.echo_id(), &friends).unwrap(), sent);
        // Not a letter, and a letter is not a presence.
        assert!(matches!(
            super::super::letter::open(&sealed, &bob.age, &bob.signer.echo_id(), &friends),
            Err(Refused::NotForMe(_))
        ));
        // Mallory writes as Alice.
        let forged = seal(&sent, &mallory.signer, &bob.public).unwrap();
        let e = open(&forged, &bob.age, &bob.signer.echo_id(), &friends).unwrap_err();
        assert_eq!(e, Refused::BadSignature { echo_id: alice.signer.echo_id() });
        // From a stranger.
        let e = open(&sealed, &bob.age, &bob.signer.echo_id(), &|_| None).unwrap_err();
        assert_eq!(e, Refused::UnknownSender { echo_id: alice.signer.echo_id() });
        // Sealed for Bob, opened by someone else.
        assert!(matches!(open(&sealed, &mallory.age, "x", &friends), Err(Refused::NotForMe(_))));
    }

    #[test]
    fn a_friends_text_is_kept_plain_and_bounded() {
        let (alice, bob) = (someone(1), someone(2));
        let friends = |id: &str| (id == alice.signer.echo_id()).then(|| alice.public.clone());
        let hostile = SharedSession {
            name: format!("rev\u{1b}]0;pwned\u{7}iewer{}", "x".repeat(500)),
            agent: "co\u{1b}[2Jdex".into(),
            state: "id\nle".into(),
        };
        let p = Presence::new(&alice.signer, &bob.signer.echo_id(), true, vec![hostile, session("\u{1b}\u{7}")]);
        let opened =
            open(&seal(&p, &alice.signer, &bob.public).unwrap(), &bob.age, &bob.signer.echo_id(), &friends).unwrap();
        assert_eq!(opened.sessions.len(), 1, "a name of nothing but controls is dropped");
        let s = &opened.sessions[0];
        assert!(s.name.starts_with("rev0pwnediewer") && s.name.chars().count() == 64, "{}", s.name);
        assert_eq!((s.agent.as_str(), s.state.as_str()), ("co2Jdex", "idle"));
        let too_many = Presence::new(&alice.signer, "x", true, (0..=MAX_SESSIONS).map(|_| session("a")).collect());
        assert!(seal(&too_many, &alice.signer, &bob.public).is_err());
    }
}
