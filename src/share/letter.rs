//! A bridge message between friends' machines, sealed: a "letter" (`SBXM` 0x01, in the
//! container of `sealed.rs`).
//!
//! Everything a relay could learn from — who it is from (beyond the mailbox it is posted to),
//! the recipient's label, subject, body, artifacts, thread, message id — is inside the
//! ciphertext. Opening checks what `sealed::open` checks, then each artifact's hash.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::relay::client::Signer;
use crate::relay::wire;

pub const MAGIC: &[u8; 5] = b"SBXM\x01";
/// The most an opened letter may hold (its artifacts base64 within it).
pub const MAX_LETTER: usize = 16 * 1024 * 1024;
/// The most artifact bytes one letter carries.
pub const MAX_ARTIFACTS: usize = 8 * 1024 * 1024;

/// A file sent with a message, whole.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Artifact {
    pub name: Option<String>,
    pub sha256: String,
    /// The bytes, base64.
    pub data: String,
}

/// What a letter says. Field order is the wire order (compact JSON, signed as bytes).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Letter {
    pub version: u32,
    /// Unique per message: the receiver drops a second letter with the same id.
    pub id: String,
    pub from_echo_id: String,
    pub from_fingerprint: String,
    /// Who sent it on the sender's machine (its label, or pane).
    pub from_name: String,
    pub to_echo_id: String,
    /// Whom it is for on the recipient's machine: a label, a pane id, or `user`.
    pub to: String,
    pub subject: String,
    pub body: String,
    /// The id of the letter this one answers, and of its thread's first.
    pub reply_to: Option<String>,
    pub thread: Option<String>,
    pub created_at: String,
    pub artifacts: Vec<Artifact>,
    /// A receipt: the id of the letter of ours the recipient stored (nothing else is said).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

pub use super::sealed::Refused;

impl super::sealed::Addressed for Letter {
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

/// An artifact's name (if it had one) and bytes, as it arrived.
pub type ArtifactBytes = (Option<String>, Vec<u8>);

impl Letter {
    /// The artifacts' bytes, each checked against its hash.
    pub fn artifact_bytes(&self) -> Result<Vec<ArtifactBytes>, Refused> {
        use base64::Engine;
        self.artifacts
            .iter()
            .map(|a| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(&a.data)
                    .map_err(|_| Refused::Malformed("an artifact is not base64".into()))?;
                if wire::hex(&Sha256::digest(&bytes)) != a.sha256 {
                    return Err(Refused::Malformed(format!("artifact {} does not match its hash", a.sha256)));
                }
                Ok((a.name.clone(), bytes))
            })
            .collect()
    }
}

/// An artifact for a letter.
pub fn artifact(name: Option<String>, bytes: &[u8]) -> Artifact {
    use base64::Engine;
    Artifact {
        name,
        sha256: wire::hex(&Sha256::digest(bytes)),
        data: base64::engine::general_purpose::STANDARD.encode(bytes),
    }
}

/// Seal `letter`, signed by `me`, for `recipient` (an SSH wire key).
pub fn seal(letter: &Letter, me: &dyn Signer, recipient: &[u8]) -> Result<Vec<u8>> {
    let bytes = serde_json::to_vec(letter)?;
    let artifact_bytes: usize = letter.artifacts.iter().map(|a| a.data.len() / 4 * 3).sum();
    if artifact_bytes > MAX_ARTIFACTS {
        bail!("the artifacts are {artifact_bytes} bytes, over the {MAX_ARTIFACTS} a message to a friend carries");
    }
    if !super::sealed::fits(bytes.len(), MAX_LETTER) {
        bail!("the message is {} bytes, over the {MAX_LETTER} a message to a friend carries", bytes.len());
    }
    super::sealed::seal(MAGIC, &bytes, me, recipient)
}

/// Open a letter sealed for `me`; `friend_key` gives the SSH wire key of a friend by echo-id.
pub fn open(
    sealed: &[u8],
    me: &age::ssh::Identity,
    my_echo_id: &str,
    friend_key: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<Letter, Refused> {
    let letter = super::sealed::open(MAGIC, sealed, MAX_LETTER, me, my_echo_id, friend_key, |bytes| {
        let letter: Letter =
            serde_json::from_slice(bytes).map_err(|e| Refused::Malformed(format!("not a letter: {e}")))?;
        match letter.version {
            1 => Ok(letter),
            v => Err(Refused::Malformed(format!("version {v} (this sbx reads 1)"))),
        }
    })?;
    letter.artifact_bytes()?;
    Ok(letter)
}

#[cfg(test)]
mod tests {
    use super::super::sealed::testing::{someone, Someone};
    use super::*;
    use std::io::{Read, Write};

    fn letter(from: &Someone, to: &Someone) -> Letter {
        Letter {
            version: 1,
            id: "0190-aaaa".into(),
            from_echo_id: from.signer.echo_id(),
            from_fingerprint: from.signer.fingerprint(),
            from_name: "writer".into(),
            to_echo_id: to.signer.echo_id(),
            to: "reviewer".into(),
            subject: "the plan".into(),
            body: "step one".into(),
            reply_to: None,
            thread: None,
            created_at: wire::rfc3339(0),
            artifacts: vec![artifact(Some("a.bin".into()), &[7u8; 5000])],
            receipt: None,
        }
    }

    #[test]
    fn a_letter_opens_for_its_recipient_from_a_friend_and_for_no_one_else() {
        let (alice, bob, carol) = (someone(1), someone(2), someone(3));
        let friends = |id: &str| (id == alice.signer.echo_id()).then(|| alice.public.clone());
        let sent = letter(&alice, &bob);
        let sealed = seal(&sent, &alice.signer, &bob.public).unwrap();
        // Nothing the relay stores reads as the message.
        for secret in ["the plan", "step one", "reviewer", "writer", "a.bin"] {
            assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} in the clear");
        }
        let opened = open(&sealed, &bob.age, &bob.signer.echo_id(), &friends).unwrap();
        assert_eq!(opened, sent);
        assert_eq!(opened.artifact_bytes().unwrap()[0].1, vec![7u8; 5000]);

        // Sealed for someone else.
        let carols = open(&sealed, &carol.age, &carol.signer.echo_id(), &friends).unwrap_err();
        assert!(matches!(carols, Refused::NotForMe(_)), "{carols}");
        // Bob re-seals Alice's signed letter to Carol: signed for Bob, so refused.
        let resealed = {
            let plain = {
                let d = age::Decryptor::new_buffered(&sealed[MAGIC.len()..]).unwrap();
                let mut r = d.decrypt(std::iter::once(&bob.age as &dyn age::Identity)).unwrap();
                let mut v = Vec::new();
                r.read_to_end(&mut v).unwrap();
                v
            };
            let r: age::ssh::Recipient = super::super::identity::public_line(&carol.public).parse().unwrap();
            let mut out = MAGIC.to_vec();
            let enc = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient)).unwrap();
            let mut w = enc.wrap_output(&mut out).unwrap();
            w.write_all(&plain).unwrap();
            w.finish().unwrap();
            out
        };
        let e = open(&resealed, &carol.age, &carol.signer.echo_id(), &friends).unwrap_err();
        assert_eq!(e, Refused::NotAddressedToUs { to: bob.signer.echo_id() });
        // From someone who is not a friend.
        let strangers = |_: &str| None;
        let e = open(&sealed, &bob.age, &bob.signer.echo_id(), &strangers).unwrap_err();
        assert_eq!(e, Refused::UnknownSender { echo_id: alice.signer.echo_id() });
    }

    #[test]
    fn a_forged_letter_is_refused() {
        let (alice, bob, mallory) = (someone(1), someone(2), someone(4));
        let friends = |id: &str| (id == alice.signer.echo_id()).then(|| alice.public.clone());
        // Mallory writes as Alice, signing with her own key.
        let forged = seal(&letter(&alice, &bob), &mallory.signer, &bob.public).unwrap();
        let e = open(&forged, &bob.age, &bob.signer.echo_id(), &friends).unwrap_err();
        assert_eq!(e, Refused::BadSignature { echo_id: alice.signer.echo_id() });
        // An artifact whose bytes do not match its hash, signed as it is.
        let mut changed = letter(&alice, &bob);
        changed.artifacts[0].sha256 = "00".repeat(32);
        let sealed = seal(&changed, &alice.signer, &bob.public).unwrap();
        let e = open(&sealed, &bob.age, &bob.signer.echo_id(), &friends).unwrap_err();
        assert!(matches!(e, Refused::Malformed(_)), "signed, but the artifact does not match: {e}");
        // Garbage, and a truncated letter.
        assert!(matches!(open(b"SBXM\x01garbage", &bob.age, "x", &friends), Err(Refused::NotForMe(_))));
        let sealed = seal(&letter(&alice, &bob), &alice.signer, &bob.public).unwrap();
        assert!(open(&sealed[..sealed.len() - 40], &bob.age, &bob.signer.echo_id(), &friends).is_err());
    }

    #[test]
    fn oversized_artifacts_are_refused_before_sealing() {
        let (alice, bob) = (someone(1), someone(2));
        let mut big = letter(&alice, &bob);
        big.artifacts = vec![artifact(None, &vec![0u8; MAX_ARTIFACTS + 1024])];
        assert!(seal(&big, &alice.signer, &bob.public).is_err());
        let mut five = letter(&alice, &bob);
        five.artifacts = vec![artifact(None, &vec![1u8; 5 << 20])];
        let sealed = seal(&five, &alice.signer, &bob.public).unwrap();
        let friends = |id: &str| (id == alice.signer.echo_id()).then(|| alice.public.clone());
        let opened = open(&sealed, &bob.age, &bob.signer.echo_id(), &friends).unwrap();
        assert_eq!(opened.artifact_bytes().unwrap()[0].1.len(), 5 << 20, "5 MiB intact");
    }
}
