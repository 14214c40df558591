//! The relay's HTTP API (echos-compatible), with the holes echos leaves closed: keys must hash
//! to their id, challenges are rate-limited and single-use, blobs stream to the store under a
//! hard limit, recipients can delete, the mailbox can be long-polled.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::json;
use tokio::sync::Notify;

use super::store::{BlobKind, BlobMeta, Incoming, KeyPut, RelayStore, StoredKey};
use super::wire;

/// Bodies up to this size stay in memory on their way to the store; larger ones go to a temp
/// file, so memory stays bounded however many large blobs arrive at once.
const SPILL_AT: usize = 1024 * 1024;
const MAX_NONCES: usize = 100_000;
const MAX_WAIT_SECS: u64 = 60;
const MAX_KEY_BODY: usize = 4096;
/// The most one presence may be (it lists a few sessions; it never spills to a file).
const MAX_PRESENCE_BLOB: u64 = 128 * 1024;
/// An upload whose next piece does not come within this long is cut off (a slow client
/// cannot hold a connection open with a trickle).
pub const BODY_IDLE: Duration = Duration::from_secs(20);
/// The longest any one upload may take, however steadily it trickles.
pub const BODY_DEADLINE: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct Limits {
    pub ttl_secs: u64,
    pub max_blob: u64,
    /// Posts per minute per client address (0: no limit).
    pub posts_per_minute: u32,
    /// Challenges and key registrations per minute per client address (0: no limit).
    pub challenges_per_minute: u32,
    /// Take the client's address from this header (set by a proxy the operator trusts).
    pub trust_proxy_header: Option<String>,
    /// How long a challenge's nonce may be used (echos: 60 s).
    pub nonce_ttl: Duration,
    /// What one mailbox may hold at once, whoever posts (0: no limit): per-address rate
    /// limits alone let many addresses fill one mailbox.
    pub mailbox_max_blobs: u64,
    pub mailbox_max_bytes: u64,
}

pub struct Relay {
    pub store: Arc<dyn RelayStore>,
    pub limits: Limits,
    nonces: Mutex<HashMap<[u8; wire::NONCE_LEN], (String, Instant)>>,
    windows: Mutex<HashMap<(IpAddr, u8), (Instant, u32)>>,
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
    /// Keys never change once registered: remembered after the first lookup.
    keys: Mutex<HashMap<String, Arc<StoredKey>>>,
    /// Set when the relay is stopping: long-polls answer at once instead of holding it up.
    closing: tokio::sync::watch::Sender<bool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An error answer: the status and `{"error": "…"}`.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

fn unauthorized(msg: &str) -> ApiError {
    ApiError(StatusCode::UNAUTHORIZED, msg.into())
}

fn internal(e: anyhow::Error) -> ApiError {
    // The cause goes to the log, not to the client.
    tracing::error!("relay: internal error: {e:#}");
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
}

/// Quick store work (a key, a listing, a small blob): done in place. Handing it to a blocking
/// thread would cost two thread wake-ups, more than the work itself.
fn quick<T>(result: anyhow::Result<T>) -> Result<T, ApiError> {
    result.map_err(internal)
}

/// Long store work (a large blob, the sweep): off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(internal(e)),
        Err(e) => Err(internal(anyhow::anyhow!("store task failed: {e}"))),
    }
}

const POSTS: u8 = 0;
const CHALLENGES: u8 = 1;

impl Relay {
    pub fn new(store: Arc<dyn RelayStore>, limits: Limits) -> Arc<Relay> {
        Arc::new(Relay {
            store,
            limits,
            nonces: Mutex::default(),
            windows: Mutex::default(),
            waiters: Mutex::default(),
            keys: Mutex::default(),
            closing: tokio::sync::watch::channel(false).0,
        })
    }

    /// Let every long-poll answer now (graceful shutdown waits for requests under way).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    fn key(&self, id: &str) -> Result<Option<Arc<StoredKey>>, ApiError> {
        if let Some(k) = lock(&self.keys).get(id) {
            return Ok(Some(k.clone()));
        }
        let Some(key) = quick(self.store.key(id))? else { return Ok(None) };
        let key = Arc::new(key);
        let mut keys = lock(&self.keys);
        // Bounded: a flood of distinct ids cannot grow it without end.
        if keys.len() >= 100_000 {
            keys.clear();
        }
        keys.insert(id.to_string(), key.clone());
        Ok(Some(key))
    }

    fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        if let Some(name) = &self.limits.trust_proxy_header {
            let forwarded = headers.get(name.as_str()).and_then(|v| v.to_str().ok());
            if let Some(ip) = forwarded.and_then(|v| v.split(',').next()).and_then(|v| v.trim().parse().ok()) {
                return ip;
            }
        }
        peer.ip()
    }

    /// A fixed one-minute window per client address and kind of request.
    fn admit(&self, ip: IpAddr, kind: u8, per_minute: u32) -> Result<(), ApiError> {
        if per_minute == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut windows = lock(&self.windows);
        let w = windows.entry((ip, kind)).or_insert((now, 0));
        if now.duration_since(w.0) >= Duration::from_secs(60) {
            *w = (now, 0);
        }
        if w.1 >= per_minute {
            return Err(ApiError(StatusCode::TOO_MANY_REQUESTS, "rate limited; try again in a minute".into()));
        }
        w.1 += 1;
        Ok(())
    }

    /// Whether the mailbox has room for one more blob of `size` bytes.
    fn room_in_mailbox(&self, id: &str, size: u64) -> Result<(), ApiError> {
        let (max_blobs, max_bytes) = (self.limits.mailbox_max_blobs, self.limits.mailbox_max_bytes);
        if max_blobs == 0 && max_bytes == 0 {
            return Ok(());
        }
        let (count, bytes) = quick(self.store.usage(id, wire::now_secs()))?;
        if (max_blobs > 0 && count >= max_blobs) || (max_bytes > 0 && bytes + size > max_bytes) {
            return Err(ApiError(
                StatusCode::INSUFFICIENT_STORAGE,
                format!(
                    "the recipient's mailbox is full ({count} blobs, {bytes} bytes); they need to open or clear it"
                ),
            ));
        }
        Ok(())
    }

    /// What a long-poll of one kind of a mailbox waits on.
    fn waiter(&self, id: &str, kind: BlobKind) -> Arc<Notify> {
        lock(&self.waiters).entry(format!("{id}/{}", kind.as_str())).or_default().clone()
    }

    /// Check the three auth headers; the nonce is consumed whatever the outcome.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (Some(id), Some(nonce), Some(sig)) =
            (header("x-echos-fingerprint"), header("x-echos-nonce"), header("x-echos-signature"))
        else {
            return Err(unauthorized("missing authentication headers"));
        };
        let nonce: [u8; wire::NONCE_LEN] =
            wire::unb64(&nonce).and_then(|n| n.try_into().ok()).ok_or_else(|| unauthorized("malformed nonce"))?;
        let issued = lock(&self.nonces).remove(&nonce);
        let Some((issued_for, expires)) = issued else { return Err(unauthorized("unknown or used nonce")) };
        if Instant::now() > expires {
            return Err(unauthorized("expired nonce"));
        }
        if issued_for != id {
            return Err(unauthorized("nonce issued for another id"));
        }
        let sig = wire::unb64(&sig).ok_or_else(|| unauthorized("malformed signature"))?;
        let key = self.key(&id)?.ok_or_else(|| unauthorized("unknown key"))?;
        if !wire::verify(&key.public_key, &nonce, &sig) {
            return Err(unauthorized("bad signature"));
        }
        Ok(id)
    }

    /// Forget expired nonces, old rate windows and idle waiters; delete expired blobs.
    pub async fn sweep(&self) -> usize {
        let now = Instant::now();
        lock(&self.nonces).retain(|_, (_, expires)| *expires > now);
        lock(&self.windows).retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(60));
        lock(&self.waiters).retain(|_, n| Arc::strong_count(n) > 1);
        let store = self.store.clone();
        blocking(move || store.sweep(wire::now_secs())).await.unwrap_or(0)
    }
}

pub fn router(relay: Arc<Relay>) -> Router {
    Router::new()
        .route("/keys", post(post_key))
        .route("/keys/{id}", get(get_key))
        .route("/challenge", get(challenge))
        .route("/mailbox/{id}", post(post_mailbox).get(list_mailbox))
        .route("/blob/{id}", get(get_blob).delete(delete_blob))
        .route("/healthz", get(|| async { Json(json!({ "ok": true })) }))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such endpoint".into()) })
        .with_state(relay)
}

type Shared = State<Arc<Relay>>;

/// Parse `{"fingerprint", "public_key"}`: the key's SSH wire bytes and its fingerprint, or why not.
pub fn parse_key_body(body: &[u8]) -> Result<(String, Vec<u8>), ApiError> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| bad("body is not JSON"))?;
    let (Some(claimed), Some(key)) =
        (v.get("fingerprint").and_then(|f| f.as_str()), v.get("public_key").and_then(|k| k.as_str()))
    else {
        return Err(bad("body needs fingerprint and public_key"));
    };
    let wire_key = wire::unb64(key).ok_or_else(|| bad("public_key is not base64"))?;
    if wire::parse_key_wire(&wire_key).is_none() {
        return Err(bad("public_key is not an ssh-ed25519 key in SSH wire form"));
    }
    let actual = wire::fingerprint(&wire_key);
    // The full fingerprint, or the echo-id (its prefix): either must come from this key.
    let matches = (wire::valid_fingerprint(claimed) && claimed == actual)
        || (wire::valid_echo_id(claimed) && actual.starts_with(claimed));
    if !matches {
        return Err(bad("fingerprint is not the SHA-256 of public_key (or the echo-id is not its prefix)"));
    }
    Ok((actual, wire_key))
}

async fn post_key(
    State(relay): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    relay.admit(relay.client_ip(peer, &headers), CHALLENGES, relay.limits.challenges_per_minute)?;
    if body.len() > MAX_KEY_BODY {
        return Err(ApiError(StatusCode::PAYLOAD_TOO_LARGE, "key body too large".into()));
    }
    let (fingerprint, public_key) = parse_key_body(&body)?;
    let id = wire::echo_id(&fingerprint);
    let key = StoredKey { fingerprint: fingerprint.clone(), public_key };
    match quick(relay.store.put_key(&id, &key))? {
        KeyPut::Created => {
            Ok((StatusCode::CREATED, Json(json!({ "fingerprint": fingerprint, "created": true }))).into_response())
        }
        KeyPut::Same => {
            Ok((StatusCode::OK, Json(json!({ "fingerprint": fingerprint, "created": false }))).into_response())
        }
        KeyPut::Conflict => Err(ApiError(StatusCode::CONFLICT, "another key is registered under this id".into())),
    }
}

fn check_echo_id(id: &str) -> Result<(), ApiError> {
    if wire::valid_echo_id(id) {
        Ok(())
    } else {
        Err(bad("an echo-id is 20 lower-case hex characters"))
    }
}

async fn get_key(State(relay): Shared, Path(id): Path<String>) -> Result<Response, ApiError> {
    check_echo_id(&id)?;
    let key = relay.key(&id)?.ok_or_else(|| ApiError(StatusCode::NOT_FOUND, "no such key".into()))?;
    Ok(Json(json!({ "fingerprint": key.fingerprint, "public_key": wire::b64(&key.public_key) })).into_response())
}

async fn challenge(
    State(relay): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    relay.admit(relay.client_ip(peer, &headers), CHALLENGES, relay.limits.challenges_per_minute)?;
    let id = q.get("fpr").cloned().unwrap_or_default();
    check_echo_id(&id)?;
    if relay.key(&id)?.is_none() {
        return Err(ApiError(StatusCode::NOT_FOUND, "no such key".into()));
    }
    let nonce = wire::random_bytes::<{ wire::NONCE_LEN }>();
    {
        let mut nonces = lock(&relay.nonces);
        if nonces.len() >= MAX_NONCES {
            let now = Instant::now();
            nonces.retain(|_, (_, e)| *e > now);
            if nonces.len() >= MAX_NONCES {
                return Err(ApiError(StatusCode::SERVICE_UNAVAILABLE, "too many open challenges".into()));
            }
        }
        nonces.insert(nonce, (id, Instant::now() + relay.limits.nonce_ttl));
    }
    let expires = wire::rfc3339(wire::now_secs() + relay.limits.nonce_ttl.as_secs() as i64);
    Ok(Json(json!({ "nonce": wire::b64(&nonce), "expires_at": expires })).into_response())
}

/// Read a body into memory or a temp file, refusing it as soon as it passes `max`.
async fn receive(body: Body, max: u64) -> Result<(Incoming, u64), ApiError> {
    let too_large = || ApiError(StatusCode::PAYLOAD_TOO_LARGE, format!("blob over the limit of {max} bytes"));
    let mut stream = body.into_data_stream();
    let mut memory: Vec<u8> = Vec::new();
    let mut file: Option<tokio::fs::File> = None;
    let mut size: u64 = 0;
    let deadline = tokio::time::Instant::now() + BODY_DEADLINE;
    let slow = || ApiError(StatusCode::REQUEST_TIMEOUT, "the upload stalled; send it again".into());
    loop {
        let next = tokio::time::timeout_at(deadline.min(tokio::time::Instant::now() + BODY_IDLE), stream.next());
        let Some(chunk) = next.await.map_err(|_| slow())? else { break };
        let chunk = chunk.map_err(|_| bad("the upload broke off"))?;
        size += chunk.len() as u64;
        if size > max {
            return Err(too_large());
        }
        match &mut file {
            Some(f) => tokio::io::AsyncWriteExt::write_all(f, &chunk).await.map_err(|e| internal(e.into()))?,
            None if memory.len() + chunk.len() > SPILL_AT => {
                let spill = tempfile::tempfile().map_err(|e| internal(e.into()))?;
                let mut f = tokio::fs::File::from_std(spill);
                tokio::io::AsyncWriteExt::write_all(&mut f, &memory).await.map_err(|e| internal(e.into()))?;
                tokio::io::AsyncWriteExt::write_all(&mut f, &chunk).await.map_err(|e| internal(e.into()))?;
                memory = Vec::new();
                file = Some(f);
            }
            None => memory.extend_from_slice(&chunk),
        }
    }
    Ok(match file {
        Some(f) => (Incoming::File(f.into_std().await), size),
        None => (Incoming::Memory(memory), size),
    })
}

/// `?kind=message` (sbx's bridge messages) or `session` (echos' envelopes, the default: all an
/// echos client knows and lists).
fn kind_of(q: &HashMap<String, String>) -> Result<BlobKind, ApiError> {
    match q.get("kind") {
        None => Ok(BlobKind::Session),
        Some(k) => BlobKind::parse(k).ok_or_else(|| bad("kind is session, message or presence")),
    }
}

async fn post_mailbox(
    State(relay): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Body,
) -> Result<Response, ApiError> {
    check_echo_id(&id)?;
    let kind = kind_of(&q)?;
    // A presence takes its sender's one slot: only its sender may fill it. Each takes a
    // challenge, rate-limited per address; it adds nothing to the mailbox but replaces.
    let sender = match kind {
        BlobKind::Presence => Some(relay.authenticate(&headers).await?),
        _ => {
            relay.admit(relay.client_ip(peer, &headers), POSTS, relay.limits.posts_per_minute)?;
            None
        }
    };
    let max = match kind {
        BlobKind::Presence => relay.limits.max_blob.min(MAX_PRESENCE_BLOB),
        _ => relay.limits.max_blob,
    };
    let declared = headers.get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(ApiError(StatusCode::PAYLOAD_TOO_LARGE, format!("blob over the limit of {max} bytes")));
    }
    if relay.key(&id)?.is_none() {
        return Err(ApiError(StatusCode::NOT_FOUND, "no such mailbox (the recipient has not published a key)".into()));
    }
    relay.room_in_mailbox(&id, declared.unwrap_or(0))?;
    let (incoming, size) = receive(body, max).await?;
    // Checked again with the real size: uploads under way at the same time all fit, or not.
    relay.room_in_mailbox(&id, size)?;
    let now = wire::now_secs();
    let ttl = relay.limits.ttl_secs as i64;
    let meta = BlobMeta {
        id: wire::new_blob_id(),
        recipient: id.clone(),
        kind,
        size,
        received_at: now,
        expires_at: now + ttl,
    };
    match (incoming, &sender) {
        (Incoming::Memory(bytes), Some(sender)) => quick(relay.store.replace_blob(&meta, sender, &bytes))?,
        (Incoming::File(_), Some(_)) => return Err(bad("a presence is small")),
        (incoming @ Incoming::Memory(_), None) => quick(relay.store.put_blob(&meta, incoming))?,
        (incoming @ Incoming::File(_), None) => {
            let store = relay.store.clone();
            let stored = meta.clone();
            blocking(move || store.put_blob(&stored, incoming)).await?
        }
    }
    relay.waiter(&id, kind).notify_waiters();
    let answer = json!({ "id": meta.id, "ttl": ttl, "expires_at": wire::rfc3339(meta.expires_at) });
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

fn listing(blobs: &[BlobMeta]) -> serde_json::Value {
    let list: Vec<serde_json::Value> = blobs
        .iter()
        .map(|b| {
            json!({ "id": b.id, "size": b.size, "received_at": wire::rfc3339(b.received_at),
                    "expires_at": wire::rfc3339(b.expires_at) })
        })
        .collect();
    serde_json::Value::Array(list)
}

async fn list_mailbox(
    State(relay): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    check_echo_id(&id)?;
    let kind = kind_of(&q)?;
    let wait = match q.get("wait") {
        None => 0,
        Some(w) => w.parse::<u64>().map_err(|_| bad("wait is a number of seconds"))?.min(MAX_WAIT_SECS),
    };
    let me = relay.authenticate(&headers).await?;
    if me != id {
        return Err(unauthorized("not your mailbox"));
    }
    let notify = relay.waiter(&id, kind);
    let notified = notify.notified();
    tokio::pin!(notified);
    // Registered before looking, so a post between the look and the wait still wakes us.
    notified.as_mut().enable();
    let mut blobs = quick(relay.store.list(&id, kind, wire::now_secs()))?;
    if blobs.is_empty() && wait > 0 {
        let mut closing = relay.closing.subscribe();
        if !*closing.borrow_and_update() {
            tokio::select! {
                _ = tokio::time::timeout(Duration::from_secs(wait), notified) => {}
                _ = closing.changed() => {}
            }
        }
        blobs = quick(relay.store.list(&id, kind, wire::now_secs()))?;
    }
    Ok(Json(listing(&blobs)).into_response())
}

/// The blob, if the caller is its recipient: 404 unknown, 401 not yours, 410 expired.
async fn owned_blob(relay: &Relay, id: &str, headers: &HeaderMap) -> Result<BlobMeta, ApiError> {
    if !wire::valid_blob_id(id) {
        return Err(ApiError(StatusCode::NOT_FOUND, "no such blob".into()));
    }
    let me = relay.authenticate(headers).await?;
    let meta =
        quick(relay.store.blob_meta(id))?.ok_or_else(|| ApiError(StatusCode::NOT_FOUND, "no such blob".into()))?;
    if meta.recipient != me {
        return Err(unauthorized("not the recipient of this blob"));
    }
    if meta.expires_at <= wire::now_secs() {
        return Err(ApiError(StatusCode::GONE, "this blob has expired".into()));
    }
    Ok(meta)
}

async fn get_blob(State(relay): Shared, Path(id): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let meta = owned_blob(&relay, &id, &headers).await?;
    // Read in chunks on a blocking thread, at most a few chunks ahead of the client.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let store = relay.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut offset = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match store.read_blob(&meta.id, offset, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    offset += n as u64;
                    if tx.blocking_send(Ok(Bytes::copy_from_slice(&buf[..n]))).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    break;
                }
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Ok(([("content-type", "application/octet-stream")], Body::from_stream(stream)).into_response())
}

async fn delete_blob(State(relay): Shared, Path(id): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    match owned_blob(&relay, &id, &headers).await {
        // The recipient may delete what has expired too (GONE comes after the owner check).
        Ok(_) | Err(ApiError(StatusCode::GONE, _)) => {}
        Err(e) => return Err(e),
    }
    quick(relay.store.delete_blob(&id))?;
    Ok(Json(json!({ "deleted": true })).into_response())
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;
