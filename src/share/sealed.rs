//! What one friend's machine says to another's, signed and sealed: the container letters
//! (bridge messages) and presence (which sessions a friend may see) share.
//!
//! ```text
//! MAGIC (5 bytes, one per kind) | age binary ciphertext, one ssh-ed25519 recipient
//!   plaintext = u32 big-endian length | the payload (compact JSON) | its signature
//!               (ed25519 over the payload's exact bytes, SSH wire form, as in an envelope)
//! ```
//!
//! The signature is inside the ciphertext, so only the recipient learns who signed. Every
//! payload names its sender (echo-id and fingerprint) and its recipient's echo-id, so one
//! re-sealed by its first recipient to someone else is refused as not theirs.
//!
//! Opening trusts nothing until checked, in this order: the recipient (age), the size (a
//! bound before anything is held), the shape, the recipient's echo-id, the sender (a friend
//! in friends.toml whose key hashes to the claimed id), the signature.

use std::io::{Read, Write};

use anyhow::{Context, Result};

use crate::relay::client::Signer;
use crate::relay::wire;

const MAX_SIGNATURE: usize = 1024;

/// Why something sealed was not taken. Each is logged by the receiver; nothing is delivered.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not sealed for this identity (or not of this kind at all).
    NotForMe(String),
    /// Sealed for us but broken: too large, not the expected shape, an artifact that does
    /// not match.
    Malformed(String),
    /// Signed for another recipient and re-sealed to us.
    NotAddressedToUs { to: String },
    /// From an echo-id that is not a friend's.
    UnknownSender { echo_id: String },
    /// The signature is not the friend's.
    BadSignature { echo_id: String },
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::NotForMe(why) => write!(f, "not sealed for this identity: {why}"),
            Refused::Malformed(why) => write!(f, "a broken message: {why}"),
            Refused::NotAddressedToUs { to } => write!(f, "signed for {to}, not for this identity (re-sealed)"),
            Refused::UnknownSender { echo_id } => write!(f, "from {echo_id}, who is not a friend"),
            Refused::BadSignature { echo_id } => {
                write!(f, "claims to be from {echo_id}, but the signature is not theirs")
            }
        }
    }
}

/// Who a payload is from and for, as it says itself (checked by `open`).
pub trait Addressed {
    fn sender_echo_id(&self) -> &str;
    fn sender_fingerprint(&self) -> &str;
    fn recipient_echo_id(&self) -> &str;
}

/// Seal `payload` (its exact bytes are signed), signed by `me`, for `recipient` (an SSH wire
/// key), behind `magic`.
pub fn seal(magic: &[u8; 5], payload: &[u8], me: &dyn Signer, recipient: &[u8]) -> Result<Vec<u8>> {
    let signature = wire::sig_wire(&me.sign(payload));
    let recipient: age::ssh::Recipient = super::identity::public_line(recipient)
        .parse()
        .map_err(|e| anyhow::anyhow!("the friend's key is not usable by age: {e:?}"))?;
    let mut out = magic.to_vec();
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        .map_err(|e| anyhow::anyhow!("age: {e}"))?;
    let mut sealed = encryptor.wrap_output(&mut out)?;
    sealed.write_all(&(payload.len() as u32).to_be_bytes())?;
    sealed.write_all(payload)?;
    sealed.write_all(&signature)?;
    sealed.finish().context("cannot seal the message")?;
    Ok(out)
}

/// How much room a payload of `max` bytes leaves for the length and the signature.
pub fn fits(payload: usize, max: usize) -> bool {
    payload + 4 + MAX_SIGNATURE <= max
}

/// Open something sealed for `me` behind `magic`, at most `max` bytes opened, and check who
/// signed it. `parse` reads the payload; `friend_key` gives a friend's SSH wire key by echo-id.
pub fn open<T: Addressed>(
    magic: &[u8; 5],
    sealed: &[u8],
    max: usize,
    me: &age::ssh::Identity,
    my_echo_id: &str,
    friend_key: &dyn Fn(&str) -> Option<Vec<u8>>,
    parse: impl FnOnce(&[u8]) -> Result<T, Refused>,
) -> Result<T, Refused> {
    let Some(ciphertext) = sealed.strip_prefix(magic.as_slice()) else {
        return Err(Refused::NotForMe("bad header".into()));
    };
    let decryptor =
        age::Decryptor::new_buffered(ciphertext).map_err(|e| Refused::NotForMe(format!("not an age file: {e}")))?;
    let plain = decryptor.decrypt(std::iter::once(me as &dyn age::Identity)).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => Refused::NotForMe("sealed for another recipient".into()),
        e => Refused::NotForMe(format!("cannot decrypt: {e}")),
    })?;
    let mut text = Vec::new();
    plain
        .take(max as u64 + 1)
        .read_to_end(&mut text)
        .map_err(|e| Refused::Malformed(format!("cannot decrypt: {e}")))?;
    if text.len() > max {
        return Err(Refused::Malformed(format!("over {max} bytes")));
    }
    let (len, rest) = text.split_at_checked(4).ok_or_else(|| Refused::Malformed("too short".into()))?;
    let len = u32::from_be_bytes(len.try_into().unwrap_or_default()) as usize;
    let (bytes, signature) = rest.split_at_checked(len).ok_or_else(|| Refused::Malformed("cut short".into()))?;
    if signature.len() > MAX_SIGNATURE {
        return Err(Refused::Malformed("an oversized signature".into()));
    }
    let payload = parse(bytes)?;
    if payload.recipient_echo_id() != my_echo_id {
        return Err(Refused::NotAddressedToUs { to: payload.recipient_echo_id().to_string() });
    }
    let echo_id = payload.sender_echo_id().to_string();
    let Some(key) = friend_key(&echo_id) else { return Err(Refused::UnknownSender { echo_id }) };
    if wire::fingerprint(&key) != payload.sender_fingerprint() || !wire::verify(&key, bytes, signature) {
        return Err(Refused::BadSignature { echo_id });
    }
    Ok(payload)
}

/// Someone with keys, for tests of what is sealed.
#[cfg(test)]
pub mod testing {
    use ssh_key::private::{Ed25519Keypair, KeypairData};

    use crate::relay::wire;

    pub struct Someone {
        pub signer: ed25519_dalek::SigningKey,
        pub age: age::ssh::Identity,
        pub public: Vec<u8>,
    }

    pub fn someone(seed: u8) -> Someone {
        let pair = Ed25519Keypair::from_seed(&[seed; 32]);
        let public = wire::key_wire(&pair.public.0);
        let key = ssh_key::PrivateKey::new(KeypairData::Ed25519(pair), "t").unwrap();
        let text = key.to_openssh(ssh_key::LineEnding::LF).unwrap();
        Someone {
            signer: ed25519_dalek::SigningKey::from_bytes(&[seed; 32]),
            age: age::ssh::Identity::from_buffer(text.as_bytes(), None).unwrap(),
            public,
        }
    }
}
