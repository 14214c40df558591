//! An invite: one line carrying your echo-id and the relay you publish on, so a friend types
//! one thing (`sbx friend add NAME CODE`). It proves nothing by itself: the key is still
//! fetched from the relay and checked against the id, as with a bare echo-id.

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::relay::wire;

pub const PREFIX: &str = "sbx-invite-1:";
/// Codes longer than this are not ours (a relay URL is short).
const MAX_CODE: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    #[serde(rename = "id")]
    pub echo_id: String,
    pub relay: String,
}

pub fn encode(invite: &Invite) -> String {
    let json = serde_json::to_vec(invite).unwrap_or_default();
    format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
}

/// Whether `text` is meant as an invite (and not an echo-id).
pub fn is_invite(text: &str) -> bool {
    text.starts_with(PREFIX)
}

/// The invite a code carries, or why it is not one.
pub fn decode(code: &str) -> Result<Invite, String> {
    let code = code.trim();
    if code.len() > MAX_CODE {
        return Err(format!("an invite is at most {MAX_CODE} characters"));
    }
    let body = code.strip_prefix(PREFIX).ok_or_else(|| format!("an invite starts with {PREFIX}"))?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| "the invite is cut or mistyped (not base64)".to_string())?;
    let invite: Invite = serde_json::from_slice(&json).map_err(|_| "the invite is not one of sbx's".to_string())?;
    if !wire::valid_echo_id(&invite.echo_id) {
        return Err("the invite holds no echo-id".into());
    }
    let url = &invite.relay;
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.len() > 512
        || url.chars().any(char::is_control)
    {
        return Err("the invite's relay is not an http(s) URL".into());
    }
    Ok(invite)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invite_carries_an_id_and_a_relay_and_nothing_else_passes() {
        let invite = Invite { echo_id: "0123456789abcdef0123".into(), relay: "https://relay.example:8443".into() };
        let code = encode(&invite);
        assert!(is_invite(&code) && !code.contains('\n') && code.len() < 200, "{code}");
        assert_eq!(decode(&code).unwrap(), invite);
        assert_eq!(decode(&format!("  {code}\n")).unwrap(), invite, "pasted with blanks around");
        assert!(decode(&code[..code.len() - 3]).is_err(), "cut short");
        assert!(decode("0123456789abcdef0123").is_err(), "an echo-id is not an invite");
        let bad = |id: &str, relay: &str| encode(&Invite { echo_id: id.into(), relay: relay.into() });
        assert!(decode(&bad("nothex", "https://r")).is_err());
        assert!(decode(&bad("0123456789abcdef0123", "file:///etc/passwd")).is_err());
        assert!(decode(&bad("0123456789abcdef0123", "https://r\u{1b}[2J")).is_err());
        assert!(decode(&format!("{PREFIX}{}", "A".repeat(2000))).is_err());
    }
}
