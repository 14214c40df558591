//! The relay client the rest of sbx uses: publish a key, fetch a friend's key (checked against
//! its id), post, list (with long-poll), fetch and delete, with the challenge-signature auth.

use std::time::Duration;

use serde::Deserialize;

use super::wire;

/// Whoever signs challenges: an ed25519 key.
pub trait Signer: Send + Sync {
    /// SSH wire encoding of the public key.
    fn public_wire(&self) -> Vec<u8>;
    fn sign(&self, message: &[u8]) -> [u8; 64];
    fn fingerprint(&self) -> String {
        wire::fingerprint(&self.public_wire())
    }
    fn echo_id(&self) -> String {
        wire::echo_id(&self.fingerprint())
    }
}

impl Signer for ed25519_dalek::SigningKey {
    fn public_wire(&self) -> Vec<u8> {
        wire::key_wire(&self.verifying_key().to_bytes())
    }
    fn sign(&self, message: &[u8]) -> [u8; 64] {
        ed25519_dalek::Signer::sign(self, message).to_bytes()
    }
}

/// What went wrong talking to a relay: unreachable (no status) or an answer with a status.
#[derive(Debug, Clone)]
pub struct RelayError {
    pub status: Option<u16>,
    pub message: String,
}

impl std::fmt::Display for RelayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "the relay answered {s}: {}", self.message),
            None => write!(f, "cannot reach the relay: {}", self.message),
        }
    }
}

impl std::error::Error for RelayError {}

pub type RelayResult<T> = Result<T, RelayError>;

fn unreachable(e: impl std::fmt::Display) -> RelayError {
    RelayError { status: None, message: e.to_string() }
}

fn invalid(message: impl Into<String>) -> RelayError {
    RelayError { status: Some(200), message: message.into() }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Posted {
    pub id: String,
    pub ttl: i64,
    pub expires_at: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    pub size: u64,
    pub received_at: String,
    pub expires_at: String,
}

#[derive(Clone)]
pub struct RelayClient {
    base: String,
    http: reqwest::Client,
}

impl RelayClient {
    pub fn new(url: &str) -> RelayResult<RelayClient> {
        let base = url.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(RelayError { status: None, message: format!("{url:?} is not an http(s) URL") });
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("sbx/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(unreachable)?;
        Ok(RelayClient { base, http })
    }

    /// The relay to use: `$SBX_RELAY`, else the config's `relay`; None when neither is set.
    pub fn configured(config_url: &str) -> Option<RelayResult<RelayClient>> {
        let url = std::env::var("SBX_RELAY").ok().filter(|u| !u.trim().is_empty()).or_else(|| {
            let c = config_url.trim();
            (!c.is_empty()).then(|| c.to_string())
        })?;
        Some(RelayClient::new(&url))
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    async fn check(response: reqwest::Response) -> RelayResult<reqwest::Response> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let message = body.get("error").and_then(|e| e.as_str()).unwrap_or("no reason given").to_string();
        Err(RelayError { status: Some(status.as_u16()), message })
    }

    /// Register this key; Ok(true) when it was new.
    pub async fn publish(&self, signer: &dyn Signer) -> RelayResult<bool> {
        let body =
            serde_json::json!({ "fingerprint": signer.fingerprint(), "public_key": wire::b64(&signer.public_wire()) });
        let r = self.http.post(format!("{}/keys", self.base)).json(&body).send().await.map_err(unreachable)?;
        let r = Self::check(r).await?;
        let v: serde_json::Value = r.json().await.map_err(|e| invalid(e.to_string()))?;
        Ok(v.get("created").and_then(|c| c.as_bool()).unwrap_or(false))
    }

    /// A key by echo-id, refused unless it hashes to that id (a relay cannot substitute one).
    pub async fn fetch_key(&self, echo_id: &str) -> RelayResult<Vec<u8>> {
        if !wire::valid_echo_id(echo_id) {
            return Err(RelayError { status: None, message: format!("{echo_id:?} is not an echo-id") });
        }
        let r = self.http.get(format!("{}/keys/{echo_id}", self.base)).send().await.map_err(unreachable)?;
        let v: serde_json::Value = Self::check(r).await?.json().await.map_err(|e| invalid(e.to_string()))?;
        let key =
            v.get("public_key").and_then(|k| k.as_str()).and_then(wire::unb64).ok_or_else(|| invalid("no key"))?;
        if wire::parse_key_wire(&key).is_none() || wire::echo_id(&wire::fingerprint(&key)) != echo_id {
            return Err(invalid(format!("the relay's key for {echo_id} does not hash to that id: refused")));
        }
        Ok(key)
    }

    async fn auth(&self, signer: &dyn Signer) -> RelayResult<reqwest::header::HeaderMap> {
        let id = signer.echo_id();
        let r = self
            .http
            .get(format!("{}/challenge", self.base))
            .query(&[("fpr", &id)])
            .send()
            .await
            .map_err(unreachable)?;
        let v: serde_json::Value = Self::check(r).await?.json().await.map_err(|e| invalid(e.to_string()))?;
        let nonce_text = v.get("nonce").and_then(|n| n.as_str()).ok_or_else(|| invalid("no nonce"))?.to_string();
        let nonce = wire::unb64(&nonce_text).ok_or_else(|| invalid("bad nonce"))?;
        let signature = wire::b64(&wire::sig_wire(&signer.sign(&nonce)));
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in
            [("x-echos-fingerprint", id), ("x-echos-nonce", nonce_text), ("x-echos-signature", signature)]
        {
            headers.insert(name, value.parse().map_err(|_| invalid("bad header"))?);
        }
        Ok(headers)
    }

    pub async fn post(&self, recipient: &str, body: impl Into<reqwest::Body>) -> RelayResult<Posted> {
        self.post_kind(recipient, BlobKind::Session, body).await
    }

    /// Post a blob of `kind` (a bridge message goes where echos clients do not list).
    pub async fn post_kind(
        &self,
        recipient: &str,
        kind: BlobKind,
        body: impl Into<reqwest::Body>,
    ) -> RelayResult<Posted> {
        let r = self
            .http
            .post(format!("{}/mailbox/{recipient}", self.base))
            .query(&[("kind", kind.as_str())])
            .body(body)
            .send()
            .await
            .map_err(unreachable)?;
        Self::check(r).await?.json().await.map_err(|e| invalid(e.to_string()))
    }

    /// Post our presence for `recipient`, in place of the last one we posted them.
    pub async fn post_presence(&self, signer: &dyn Signer, recipient: &str, body: Vec<u8>) -> RelayResult<Posted> {
        let headers = self.auth(signer).await?;
        let r = self
            .http
            .post(format!("{}/mailbox/{recipient}", self.base))
            .query(&[("kind", BlobKind::Presence.as_str())])
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(unreachable)?;
        Self::check(r).await?.json().await.map_err(|e| invalid(e.to_string()))
    }

    /// The blobs waiting for us; with `wait`, the relay holds the answer until one arrives.
    pub async fn list(&self, signer: &dyn Signer, wait: Option<u64>) -> RelayResult<Vec<Listed>> {
        self.list_kind(signer, BlobKind::Session, wait).await
    }

    /// The blobs of `kind` waiting for us.
    pub async fn list_kind(&self, signer: &dyn Signer, kind: BlobKind, wait: Option<u64>) -> RelayResult<Vec<Listed>> {
        let headers = self.auth(signer).await?;
        let mut req = self
            .http
            .get(format!("{}/mailbox/{}", self.base, signer.echo_id()))
            .query(&[("kind", kind.as_str())])
            .headers(headers);
        if let Some(w) = wait {
            req = req.query(&[("wait", w)]).timeout(Duration::from_secs(w + 30));
        }
        let r = req.send().await.map_err(unreachable)?;
        Self::check(r).await?.json().await.map_err(|e| invalid(e.to_string()))
    }

    /// A blob's bytes as a response to stream from.
    pub async fn fetch(&self, signer: &dyn Signer, id: &str) -> RelayResult<reqwest::Response> {
        let headers = self.auth(signer).await?;
        let r = self.http.get(format!("{}/blob/{id}", self.base)).headers(headers).send().await.map_err(unreachable)?;
        Self::check(r).await
    }

    pub async fn fetch_all(&self, signer: &dyn Signer, id: &str, max: u64) -> RelayResult<Vec<u8>> {
        let mut r = self.fetch(signer, id).await?;
        let mut out = Vec::new();
        while let Some(chunk) = r.chunk().await.map_err(unreachable)? {
            out.extend_from_slice(&chunk);
            if out.len() as u64 > max {
                return Err(invalid(format!("blob {id} is larger than {max} bytes")));
            }
        }
        Ok(out)
    }

    /// At most the first `max` bytes of a blob; the rest is never downloaded (the connection
    /// is dropped once enough has come). A relay that honours `Range` sends only those.
    pub async fn fetch_prefix(&self, signer: &dyn Signer, id: &str, max: u64) -> RelayResult<Vec<u8>> {
        let headers = self.auth(signer).await?;
        let range = format!("bytes=0-{}", max.saturating_sub(1));
        let r = self
            .http
            .get(format!("{}/blob/{id}", self.base))
            .headers(headers)
            .header(reqwest::header::RANGE, range)
            .send()
            .await
            .map_err(unreachable)?;
        let mut r = Self::check(r).await?;
        let mut out = Vec::new();
        while let Some(chunk) = r.chunk().await.map_err(unreachable)? {
            let room = (max as usize).saturating_sub(out.len());
            out.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if out.len() as u64 >= max {
                break;
            }
        }
        Ok(out)
    }

    pub async fn delete(&self, signer: &dyn Signer, id: &str) -> RelayResult<()> {
        let headers = self.auth(signer).await?;
        let r =
            self.http.delete(format!("{}/blob/{id}", self.base)).headers(headers).send().await.map_err(unreachable)?;
        Self::check(r).await.map(drop)
    }
}

pub use super::store::BlobKind;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::api::{router, Limits, Relay};
    use crate::relay::store::SqliteStore;
    use std::sync::Arc;

    async fn serve(app: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    fn limits() -> Limits {
        Limits {
            ttl_secs: 3600,
            // Small, so an oversized post goes out in one write and the 413 is read, not cut off.
            max_blob: 4096,
            posts_per_minute: 0,
            challenges_per_minute: 0,
            trust_proxy_header: None,
            nonce_ttl: Duration::from_secs(60),
            mailbox_max_blobs: 0,
            mailbox_max_bytes: 0,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bridge_messages_have_a_mailbox_of_their_own_that_echos_clients_never_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("r.db")).unwrap());
        let url = serve(router(Relay::new(store, limits()))).await;
        let client = RelayClient::new(&url).unwrap();
        let bob = ed25519_dalek::SigningKey::from_bytes(&[2; 32]);
        client.publish(&bob).await.unwrap();
        let waiting = {
            let (client, bob) = (client.clone(), bob.clone());
            tokio::spawn(async move { client.list_kind(&bob, BlobKind::Message, Some(20)).await })
        };
        let envelope = client.post(&bob.echo_id(), b"an echos envelope".to_vec()).await.unwrap();
        let message = client.post_kind(&bob.echo_id(), BlobKind::Message, b"a letter".to_vec()).await.unwrap();
        let listed = waiting.await.unwrap().unwrap();
        assert_eq!(listed.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(), [message.id.as_str()]);
        // What an echos client asks (no kind): the session envelope alone.
        let sessions = client.list(&bob, None).await.unwrap();
        assert_eq!(sessions.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(), [envelope.id.as_str()]);
        assert_eq!(client.fetch_all(&bob, &message.id, 1 << 20).await.unwrap(), b"a letter");
        let odd = reqwest::Client::new().post(format!("{url}/mailbox/{}?kind=other", bob.echo_id())).body("x").send();
        assert_eq!(odd.await.unwrap().status(), 400, "an unknown kind");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_presence_needs_its_sender_and_replaces_their_last() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("r.db")).unwrap());
        let url = serve(router(Relay::new(store, limits()))).await;
        let client = RelayClient::new(&url).unwrap();
        let (alice, bob, carol) = (
            ed25519_dalek::SigningKey::from_bytes(&[1; 32]),
            ed25519_dalek::SigningKey::from_bytes(&[2; 32]),
            ed25519_dalek::SigningKey::from_bytes(&[3; 32]),
        );
        for k in [&alice, &bob, &carol] {
            client.publish(k).await.unwrap();
        }
        // Anyone may post a message; a presence needs its sender's signature.
        let anonymous = client.post_kind(&bob.echo_id(), BlobKind::Presence, b"x".to_vec()).await.unwrap_err();
        assert_eq!(anonymous.status, Some(401), "{anonymous}");
        let first = client.post_presence(&alice, &bob.echo_id(), b"alice 1".to_vec()).await.unwrap();
        let carols = client.post_presence(&carol, &bob.echo_id(), b"carol 1".to_vec()).await.unwrap();
        let second = client.post_presence(&alice, &bob.echo_id(), b"alice 2".to_vec()).await.unwrap();
        let listed: Vec<String> =
            client.list_kind(&bob, BlobKind::Presence, None).await.unwrap().into_iter().map(|l| l.id).collect();
        assert_eq!(listed, [carols.id.clone(), second.id.clone()], "Alice's first was replaced");
        assert_eq!(client.fetch_all(&bob, &first.id, 100).await.unwrap_err().status, Some(404));
        assert_eq!(client.fetch_all(&bob, &second.id, 100).await.unwrap(), b"alice 2");
        assert!(client.list(&bob, None).await.unwrap().is_empty(), "an echos listing shows no presence");
        assert!(client.list_kind(&bob, BlobKind::Message, None).await.unwrap().is_empty());
        let big = client.post_presence(&alice, &bob.echo_id(), vec![0u8; 4097]).await.unwrap_err();
        assert_eq!(big.status, Some(413), "the relay's limit holds for a presence too");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn publish_post_list_wait_fetch_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("r.db")).unwrap());
        let url = serve(router(Relay::new(store, limits()))).await;
        let client = RelayClient::new(&url).unwrap();
        let alice = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
        assert!(client.publish(&alice).await.unwrap());
        assert!(!client.publish(&alice).await.unwrap());
        assert_eq!(client.fetch_key(&alice.echo_id()).await.unwrap(), alice.public_wire());
        assert!(client.list(&alice, None).await.unwrap().is_empty());

        let waiting = {
            let (client, alice) = (client.clone(), alice.clone());
            tokio::spawn(async move { client.list(&alice, Some(20)).await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let posted = client.post(&alice.echo_id(), b"sealed bytes".to_vec()).await.unwrap();
        let listed = waiting.await.unwrap().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, posted.id);
        assert_eq!(client.fetch_all(&alice, &posted.id, 1 << 20).await.unwrap(), b"sealed bytes");
        assert!(client.fetch_all(&alice, &posted.id, 3).await.is_err(), "a size bound on fetching");
        client.delete(&alice, &posted.id).await.unwrap();
        let gone = client.fetch_all(&alice, &posted.id, 1 << 20).await.unwrap_err();
        assert_eq!(gone.status, Some(404));
        let big = client.post(&alice.echo_id(), vec![0u8; 4097]).await.unwrap_err();
        assert_eq!(big.status, Some(413));
        assert!(RelayClient::new("ftp://example").is_err());
        let down = RelayClient::new("http://127.0.0.1:9").unwrap().publish(&alice).await.unwrap_err();
        assert_eq!(down.status, None, "unreachable, not an answer");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_relay_that_substitutes_a_key_is_caught() {
        let alice = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
        let mallory = ed25519_dalek::SigningKey::from_bytes(&[2; 32]);
        let forged = crate::relay::wire::b64(&mallory.public_wire());
        let app = axum::Router::new().route(
            "/keys/{id}",
            axum::routing::get(move || {
                let forged = forged.clone();
                async move { axum::Json(serde_json::json!({ "fingerprint": "x", "public_key": forged })) }
            }),
        );
        let url = serve(app).await;
        let err = RelayClient::new(&url).unwrap().fetch_key(&alice.echo_id()).await.unwrap_err();
        assert!(err.message.contains("does not hash"), "{err}");
    }
}
