//! The echos wire format's small pieces, as pure functions: SSH wire encodings of ed25519 keys
//! and signatures, fingerprints and echo-ids, blob ids. Everything that comes from the network
//! is parsed here, and every parser answers Err — never panics — on any input.

use base64::Engine;
use sha2::{Digest, Sha256};

pub const KEY_TYPE: &[u8] = b"ssh-ed25519";
/// `string "ssh-ed25519" || string(32 bytes)`.
pub const KEY_WIRE_LEN: usize = 4 + 11 + 4 + 32;
/// `string "ssh-ed25519" || string(64 bytes)`.
pub const SIG_WIRE_LEN: usize = 4 + 11 + 4 + 64;
pub const ECHO_ID_LEN: usize = 20;
pub const NONCE_LEN: usize = 32;
pub const BLOB_ID_LEN: usize = 24;

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()
}

pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// Read `string(n)` from the front of `input`.
fn take_string<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = u32::from_be_bytes(input.get(..4)?.try_into().ok()?) as usize;
    let s = input.get(4..4usize.checked_add(len)?)?;
    *input = &input[4 + len..];
    Some(s)
}

pub fn key_wire(public: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(KEY_WIRE_LEN);
    put_string(&mut out, KEY_TYPE);
    put_string(&mut out, public);
    out
}

/// The `N` bytes inside an SSH wire `string "ssh-ed25519" || string(N bytes)`, exactly.
fn parse_ed25519_wire<const N: usize>(wire: &[u8]) -> Option<[u8; N]> {
    let mut rest = wire;
    if take_string(&mut rest)? != KEY_TYPE {
        return None;
    }
    let body = take_string(&mut rest)?;
    if !rest.is_empty() {
        return None;
    }
    body.try_into().ok()
}

/// The 32-byte ed25519 key inside an SSH wire encoding, or None.
pub fn parse_key_wire(wire: &[u8]) -> Option<[u8; 32]> {
    parse_ed25519_wire(wire)
}

pub fn sig_wire(signature: &[u8; 64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SIG_WIRE_LEN);
    put_string(&mut out, KEY_TYPE);
    put_string(&mut out, signature);
    out
}

pub fn parse_sig_wire(wire: &[u8]) -> Option<[u8; 64]> {
    parse_ed25519_wire(wire)
}

/// Lower-case hex SHA-256 of the key's SSH wire encoding.
pub fn fingerprint(wire: &[u8]) -> String {
    hex(&Sha256::digest(wire))
}

pub fn echo_id(fingerprint: &str) -> String {
    fingerprint.chars().take(ECHO_ID_LEN).collect()
}

fn lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub fn valid_echo_id(s: &str) -> bool {
    lower_hex(s, ECHO_ID_LEN)
}

pub fn valid_fingerprint(s: &str) -> bool {
    lower_hex(s, 64)
}

/// Blob ids: 24 characters of base32 (A–Z, 2–7).
pub fn valid_blob_id(s: &str) -> bool {
    s.len() == BLOB_ID_LEN && s.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the system's random source works");
    b
}

pub fn new_blob_id() -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    random_bytes::<BLOB_ID_LEN>().iter().map(|b| ALPHABET[(b & 31) as usize] as char).collect()
}

/// Verify an ed25519 signature given in SSH wire form over `message` with an SSH wire key.
pub fn verify(key_wire: &[u8], message: &[u8], signature_wire: &[u8]) -> bool {
    let (Some(key), Some(sig)) = (parse_key_wire(key_wire), parse_sig_wire(signature_wire)) else {
        return false;
    };
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&key) else { return false };
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig)).is_ok()
}

/// RFC 3339 UTC to the second, from Unix seconds (no time zone database needed).
pub use crate::protocol::{now_secs, rfc3339};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_signatures_and_ids_round_trip() {
        let signing = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let public = signing.verifying_key().to_bytes();
        let wire = key_wire(&public);
        assert_eq!(wire.len(), KEY_WIRE_LEN);
        assert_eq!(parse_key_wire(&wire), Some(public));
        let fpr = fingerprint(&wire);
        assert!(valid_fingerprint(&fpr) && valid_echo_id(&echo_id(&fpr)));
        use ed25519_dalek::Signer;
        let sig = sig_wire(&signing.sign(b"nonce").to_bytes());
        assert!(verify(&wire, b"nonce", &sig));
        assert!(!verify(&wire, b"nonce!", &sig));
        let mut bad = sig.clone();
        bad[30] ^= 1;
        assert!(!verify(&wire, b"nonce", &bad));
        assert!(valid_blob_id(&new_blob_id()));
        assert!(!valid_blob_id("../../../../etc/passwd..."));
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_319_804), "2026-11-22T03:56:44Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn parsers_refuse_what_is_not_exactly_right() {
        let wire = key_wire(&[1u8; 32]);
        for cut in 0..wire.len() {
            assert!(parse_key_wire(&wire[..cut]).is_none());
        }
        let mut long = wire.clone();
        long.push(0);
        assert!(parse_key_wire(&long).is_none());
        let mut huge = wire.clone();
        huge[0] = 0xff;
        assert!(parse_key_wire(&huge).is_none());
        assert!(parse_sig_wire(&wire).is_none(), "a key is not a signature");
    }
}
