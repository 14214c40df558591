//! `sbx relay` black-box over HTTP on 127.0.0.1: the echos relay's own test cases, plus the
//! holes sbx closes (squatting, nonce binding, delete, 410 then 404, long-poll, restart).

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::relay::{start, start_on, Relay};
use common::*;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};
use sha2::Digest;

struct Id {
    key: SigningKey,
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn wire_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

impl Id {
    fn new(seed: u8) -> Id {
        Id { key: SigningKey::from_bytes(&[seed; 32]) }
    }
    fn wire(&self) -> Vec<u8> {
        let mut w = Vec::new();
        wire_string(&mut w, b"ssh-ed25519");
        wire_string(&mut w, &self.key.verifying_key().to_bytes());
        w
    }
    fn fingerprint(&self) -> String {
        format!("{:x}", sha2::Sha256::digest(self.wire()))
    }
    fn id(&self) -> String {
        self.fingerprint()[..20].to_string()
    }
    fn sign(&self, msg: &[u8]) -> String {
        let mut w = Vec::new();
        wire_string(&mut w, b"ssh-ed25519");
        wire_string(&mut w, &self.key.sign(msg).to_bytes());
        b64(&w)
    }
}

struct Http {
    client: reqwest::blocking::Client,
    url: String,
}

impl Http {
    fn new(relay: &Relay) -> Http {
        Http {
            client: reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap(),
            url: relay.url.clone(),
        }
    }
    fn get(&self, path: &str, headers: &[(String, String)]) -> (u16, Vec<u8>) {
        let mut req = self.client.get(format!("{}{path}", self.url));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let r = req.send().unwrap();
        (r.status().as_u16(), r.bytes().unwrap().to_vec())
    }
    fn json(&self, path: &str, headers: &[(String, String)]) -> (u16, Value) {
        let (s, b) = self.get(path, headers);
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }
    fn post(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self.client.post(format!("{}{path}", self.url)).body(body).send().unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }
    fn delete(&self, path: &str, headers: &[(String, String)]) -> u16 {
        let mut req = self.client.delete(format!("{}{path}", self.url));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send().unwrap().status().as_u16()
    }
    fn publish(&self, who: &Id) -> (u16, Value) {
        let body = json!({"fingerprint": who.fingerprint(), "public_key": b64(&who.wire())});
        self.post("/keys", body.to_string().into_bytes())
    }
    fn nonce(&self, id: &str) -> String {
        let (s, v) = self.json(&format!("/challenge?fpr={id}"), &[]);
        assert_eq!(s, 200, "{v}");
        v["nonce"].as_str().unwrap().to_string()
    }
    /// Headers that authenticate `who` with a fresh nonce.
    fn auth(&self, who: &Id) -> Vec<(String, String)> {
        let nonce = self.nonce(&who.id());
        let raw = base64::engine::general_purpose::STANDARD.decode(&nonce).unwrap();
        headers(&who.id(), &nonce, &who.sign(&raw))
    }
}

fn headers(id: &str, nonce: &str, sig: &str) -> Vec<(String, String)> {
    vec![
        ("X-Echos-Fingerprint".into(), id.into()),
        ("X-Echos-Nonce".into(), nonce.into()),
        ("X-Echos-Signature".into(), sig.into()),
    ]
}

#[test]
fn keys_are_registered_once_and_must_hash_to_their_id() {
    let relay = start(&[]);
    let http = Http::new(&relay);
    let alice = Id::new(1);
    let (s, v) = http.publish(&alice);
    assert_eq!((s, v["created"].clone()), (201, json!(true)));
    assert_eq!(v["fingerprint"], alice.fingerprint());
    assert_eq!(http.publish(&alice).0, 200, "the same key again");
    let (s, v) = http.json(&format!("/keys/{}", alice.id()), &[]);
    assert_eq!(s, 200);
    assert_eq!(v["public_key"], b64(&alice.wire()));
    assert_eq!(http.json(&format!("/keys/{}", Id::new(9).id()), &[]).0, 404);
    assert_eq!(http.json("/keys/not-an-id", &[]).0, 400);
    // Squatting: a fingerprint (or echo-id) that is not this key's is refused, nothing stored.
    let mallory = Id::new(2);
    let squat = json!({"fingerprint": Id::new(3).fingerprint(), "public_key": b64(&mallory.wire())});
    assert_eq!(http.post("/keys", squat.to_string().into_bytes()).0, 400);
    let squat = json!({"fingerprint": Id::new(3).id(), "public_key": b64(&mallory.wire())});
    assert_eq!(http.post("/keys", squat.to_string().into_bytes()).0, 400);
    assert_eq!(http.json(&format!("/keys/{}", Id::new(3).id()), &[]).0, 404);
    let by_id = json!({"fingerprint": mallory.id(), "public_key": b64(&mallory.wire())});
    assert_eq!(
        http.post("/keys", by_id.to_string().into_bytes()).0,
        201,
        "an echo-id that is the key's prefix is fine"
    );
    for body in ["", "{", "{}", r#"{"fingerprint":1,"public_key":2}"#, r#"{"fingerprint":"x","public_key":"!!"}"#] {
        assert_eq!(http.post("/keys", body.as_bytes().to_vec()).0, 400, "{body}");
    }
    assert_eq!(http.json("/healthz", &[]).0, 200);
    assert_eq!(http.json("/nothing/here", &[]).0, 404);
}

#[test]
fn mailbox_auth_payloads_listing_and_ownership() {
    let relay = start(&["--rate-limit", "0", "--challenge-limit", "0"]);
    let http = Http::new(&relay);
    let (alice, bob) = (Id::new(1), Id::new(2));
    http.publish(&alice);
    http.publish(&bob);
    // A payload larger than what the relay keeps in memory comes back unchanged.
    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 7) as u8).collect();
    let (s, posted) = http.post(&format!("/mailbox/{}", alice.id()), payload.clone());
    assert_eq!(s, 201, "{posted}");
    let blob = posted["id"].as_str().unwrap().to_string();
    assert_eq!(blob.len(), 24);
    assert_eq!(posted["ttl"], 86400);
    assert_eq!(http.post(&format!("/mailbox/{}", Id::new(7).id()), vec![1]).0, 404, "no key, no mailbox");

    let mailbox = format!("/mailbox/{}", alice.id());
    // No headers, or broken ones: 401.
    assert_eq!(http.json(&mailbox, &[]).0, 401);
    assert_eq!(http.json(&mailbox, &headers(&alice.id(), "bad", "bad")).0, 401);
    // A tampered signature: 401, and that nonce is spent.
    let nonce = http.nonce(&alice.id());
    let raw = base64::engine::general_purpose::STANDARD.decode(&nonce).unwrap();
    let mut sig = base64::engine::general_purpose::STANDARD.decode(alice.sign(&raw)).unwrap();
    sig[40] ^= 1;
    assert_eq!(http.json(&mailbox, &headers(&alice.id(), &nonce, &b64(&sig))).0, 401);
    assert_eq!(http.json(&mailbox, &headers(&alice.id(), &nonce, &alice.sign(&raw))).0, 401, "consumed by the failure");
    // Signed by the wrong key.
    let nonce = http.nonce(&alice.id());
    let raw = base64::engine::general_purpose::STANDARD.decode(&nonce).unwrap();
    assert_eq!(http.json(&mailbox, &headers(&alice.id(), &nonce, &bob.sign(&raw))).0, 401);
    // A nonce issued for Bob does not open Alice's mailbox, even signed by Alice.
    let nonce = http.nonce(&bob.id());
    let raw = base64::engine::general_purpose::STANDARD.decode(&nonce).unwrap();
    assert_eq!(http.json(&mailbox, &headers(&alice.id(), &nonce, &alice.sign(&raw))).0, 401);
    // Replay: a good request once, then the same headers again.
    let good = http.auth(&alice);
    let (s, list) = http.json(&mailbox, &good);
    assert_eq!(s, 200);
    assert_eq!(http.json(&mailbox, &good).0, 401, "a nonce is single-use");
    // The listing holds no payload: exactly these fields.
    let entry = list.as_array().unwrap()[0].as_object().unwrap().clone();
    let mut keys: Vec<&str> = entry.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, vec!["expires_at", "id", "received_at", "size"]);
    assert_eq!(entry["size"], payload.len() as u64);
    assert!(entry["received_at"].as_str().unwrap().ends_with('Z'));
    // Bob cannot list Alice's mailbox, fetch or delete her blob.
    assert_eq!(http.json(&mailbox, &http.auth(&bob)).0, 401);
    assert_eq!(http.get(&format!("/blob/{blob}"), &http.auth(&bob)).0, 401);
    assert_eq!(http.delete(&format!("/blob/{blob}"), &http.auth(&bob)), 401);
    assert_eq!(http.get(&format!("/blob/{blob}"), &[]).0, 401);
    // Alice gets her bytes back unchanged, then deletes them.
    let (s, bytes) = http.get(&format!("/blob/{blob}"), &http.auth(&alice));
    assert_eq!(s, 200);
    assert!(bytes == payload, "payload changed in transit");
    assert_eq!(http.delete(&format!("/blob/{blob}"), &http.auth(&alice)), 200);
    assert_eq!(http.get(&format!("/blob/{blob}"), &http.auth(&alice)).0, 404);
    assert_eq!(http.json(&mailbox, &http.auth(&alice)).1, json!([]));
    assert_eq!(http.get("/blob/AAAAAAAAAAAAAAAAAAAAAAAA", &http.auth(&alice)).0, 404);
}

#[test]
fn nonces_expire_blobs_expire_then_are_swept() {
    let relay = start(&["--ttl", "1", "--sweep-every", "1", "--nonce-ttl", "1"]);
    let http = Http::new(&relay);
    let alice = Id::new(1);
    http.publish(&alice);
    let stale = http.auth(&alice);
    let (_, posted) = http.post(&format!("/mailbox/{}", alice.id()), b"short-lived".to_vec());
    let blob = posted["id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(http.json(&format!("/mailbox/{}", alice.id()), &stale).0, 401, "an expired nonce");
    // Expired: 410 until the sweep, then 404. (Sweeps come every second; catch the 410 first by
    // asking at once, then wait for the 404.)
    let first = http.get(&format!("/blob/{blob}"), &http.auth(&alice)).0;
    assert!(first == 410 || first == 404, "{first}");
    wait_for("the sweep", || (http.get(&format!("/blob/{blob}"), &http.auth(&alice)).0 == 404).then_some(()));
    assert_eq!(http.json(&format!("/mailbox/{}", alice.id()), &http.auth(&alice)).1, json!([]));
}

#[test]
fn expired_blobs_answer_410_until_swept() {
    // A sweep interval longer than the test: the 410 is stable.
    let relay = start(&["--ttl", "1", "--sweep-every", "3600"]);
    let http = Http::new(&relay);
    let alice = Id::new(1);
    http.publish(&alice);
    let (_, posted) = http.post(&format!("/mailbox/{}", alice.id()), b"x".to_vec());
    let blob = posted["id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(http.get(&format!("/blob/{blob}"), &http.auth(&alice)).0, 410);
    assert_eq!(http.json(&format!("/mailbox/{}", alice.id()), &http.auth(&alice)).1, json!([]), "not listed");
    assert_eq!(http.delete(&format!("/blob/{blob}"), &http.auth(&alice)), 200, "the recipient may delete it");
    assert_eq!(http.get(&format!("/blob/{blob}"), &http.auth(&alice)).0, 404);
}

#[test]
fn oversized_blobs_are_refused_with_nothing_stored_and_floods_are_limited() {
    let relay = start(&["--max-blob-size", "1000", "--rate-limit", "4", "--challenge-limit", "5"]);
    let http = Http::new(&relay);
    let alice = Id::new(1);
    http.publish(&alice);
    assert_eq!(http.post(&format!("/mailbox/{}", alice.id()), vec![0; 1001]).0, 413);
    // Without a length up front (chunked), the stream is cut at the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..20).map(|_| Ok(vec![1u8; 100])).collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
        reqwest::Client::new()
            .post(format!("{}/mailbox/{}", relay.url, alice.id()))
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status.as_u16(), 413);
    assert_eq!(http.post(&format!("/mailbox/{}", alice.id()), vec![0; 1000]).0, 201, "the limit itself is fine");
    assert_eq!(http.post(&format!("/mailbox/{}", alice.id()), vec![0; 10]).0, 201);
    // Four posts a minute from this address: the next one is 429.
    assert_eq!(http.post(&format!("/mailbox/{}", alice.id()), vec![0; 10]).0, 429);
    let (_, list) = http.json(&format!("/mailbox/{}", alice.id()), &http.auth(&alice));
    let sizes: Vec<u64> = list.as_array().unwrap().iter().map(|e| e["size"].as_u64().unwrap()).collect();
    assert_eq!(sizes, vec![1000, 10], "nothing of the refused posts was stored");
    // Challenges are limited too (one key registration and two challenges were used).
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(http.json(&format!("/challenge?fpr={}", alice.id()), &[]).0);
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
}

#[test]
fn long_poll_wakes_on_a_post_and_restart_keeps_blobs() {
    let relay = start(&["--rate-limit", "0", "--challenge-limit", "0"]);
    let http = Http::new(&relay);
    let alice = Id::new(1);
    http.publish(&alice);
    let auth = http.auth(&alice);
    let url = relay.url.clone();
    let id = alice.id();
    let waiting = std::thread::spawn(move || {
        let t0 = Instant::now();
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let mut req = client.get(format!("{url}/mailbox/{id}?wait=30"));
        for (k, v) in &auth {
            req = req.header(k, v);
        }
        let list: Value = req.send().unwrap().json().unwrap();
        (list, t0.elapsed())
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(!waiting.is_finished(), "the long-poll answered with nothing to say");
    let payload = b"wake up".to_vec();
    let (_, posted) = http.post(&format!("/mailbox/{}", alice.id()), payload.clone());
    let (list, waited) = waiting.join().unwrap();
    assert_eq!(list[0]["id"], posted["id"]);
    assert!(waited < Duration::from_secs(20), "woken by the post, not the timeout: {waited:?}");

    // A long-poll under way (on Bob's empty mailbox) does not hold up a graceful stop.
    let bob = Id::new(2);
    http.publish(&bob);
    let auth = http.auth(&bob);
    let url = relay.url.clone();
    let id = bob.id();
    let polling = std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let mut req = client.get(format!("{url}/mailbox/{id}?wait=60"));
        for (k, v) in &auth {
            req = req.header(k, v);
        }
        req.send().map(|r| r.status().as_u16()).ok()
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!polling.is_finished(), "the long-poll is waiting");
    let t0 = Instant::now();
    let (dir, db) = relay.stop();
    assert!(t0.elapsed() < Duration::from_secs(10), "stopping took {:?}", t0.elapsed());
    assert_eq!(polling.join().unwrap(), Some(200), "the long-poll was answered, not cut");
    let relay = start_on(dir, db, &[]);
    let http = Http::new(&relay);
    let (s, bytes) = http.get(&format!("/blob/{}", posted["id"].as_str().unwrap()), &http.auth(&alice));
    assert_eq!((s, bytes), (200, payload), "the blob survived the restart");
}

#[test]
fn one_mailbox_holds_only_so_much_whoever_posts() {
    let relay = start(&["--rate-limit", "0", "--mailbox-max-blobs", "3", "--mailbox-max-bytes", "2500"]);
    let http = Http::new(&relay);
    let alice = Id::new(1);
    http.publish(&alice);
    // From three addresses, so no per-address limit is what stops them.
    let from = |last: u8| {
        reqwest::blocking::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, last])).build().unwrap()
    };
    let post = |last: u8, size: usize| {
        from(last)
            .post(format!("{}/mailbox/{}", relay.url, alice.id()))
            .body(vec![0u8; size])
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(post(2, 1000), 201);
    assert_eq!(post(3, 1000), 201);
    assert_eq!(post(4, 1000), 507, "over the mailbox's bytes");
    assert_eq!(post(4, 100), 201);
    let r = from(5).post(format!("{}/mailbox/{}", relay.url, alice.id())).body(vec![0u8; 10]).send().unwrap();
    assert_eq!(r.status().as_u16(), 507, "over the mailbox's blobs");
    assert!(r.json::<Value>().unwrap()["error"].as_str().unwrap().contains("mailbox is full"));
    let (_, listed) = http.json(&format!("/mailbox/{}", alice.id()), &http.auth(&alice));
    assert_eq!(listed.as_array().unwrap().len(), 3, "nothing over the limit was stored");
}

#[test]
fn slow_clients_cannot_starve_others_and_a_stop_ends_in_bounded_time() {
    let relay = start(&["--rate-limit", "0", "--challenge-limit", "0"]);
    let port = relay.url.rsplit(':').next().unwrap().to_string();
    // 1,100 connections from one address, each sending half a request and nothing more.
    let script = r#"
import select, socket, sys, time
port = int(sys.argv[1])
conns = []
for _ in range(1100):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.connect(("127.0.0.1", port))
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n")
    except OSError:
        pass  # already closed by the relay: counted below
    conns.append(s)
closed, start = set(), time.time()
poll = select.poll()
by_fd = {s.fileno(): s for s in conns}
for fd in by_fd:
    poll.register(fd, select.POLLIN)
while time.time() < start + 3 and len(closed) < 1100 - 64:
    for fd, _ in poll.poll(500):
        s = by_fd[fd]
        try:
            gone = not s.recv(1)
        except OSError:
            gone = True
        if gone:
            closed.add(fd)
            poll.unregister(fd)
print(len(closed), flush=True)
sys.stdin.read()
"#;
    let mut slow = std::process::Command::new("python3")
        .args(["-c", script, &port])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(slow.stdout.as_mut().unwrap()), &mut line).unwrap();
    let closed: usize = line.trim().parse().unwrap();
    assert!(closed >= 1100 - 64, "only {closed} of the connections over the per-address cap were closed at once");
    // Everyone else is served meanwhile.
    let started = Instant::now();
    let (status, _) = Http::new(&relay).get("/healthz", &[]);
    assert_eq!(status, 200);
    assert!(started.elapsed() < PATIENCE);
    // A stop with slow connections still open ends, within its grace.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        relay.stop();
        let _ = done_tx.send(());
    });
    assert!(done_rx.recv_timeout(PATIENCE).is_ok(), "SIGTERM did not end the relay");
    drop(slow.stdin.take());
    let _ = slow.wait();

    // Within the cap, a request whose headers never end is cut off, not waited for.
    let relay = start(&[]);
    let mut conn = std::net::TcpStream::connect(relay.url.trim_start_matches("http://")).unwrap();
    std::io::Write::write_all(&mut conn, b"GET /healthz HTTP/1.1\r\nHost: relay\r\n").unwrap();
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0u8; 512];
    let n = std::io::Read::read(&mut conn, &mut buf).unwrap_or(usize::MAX);
    let answer = String::from_utf8_lossy(&buf[..n.min(512)]);
    assert!(n == 0 || answer.starts_with("HTTP/1.1 408"), "a half-sent request was kept open: {n} {answer}");
}
