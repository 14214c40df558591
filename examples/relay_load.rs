//! Load generator for `sbx relay` (used by scripts/bench): concurrent small posts and
//! authenticated listings (GET /challenge, then GET /mailbox signed) on loopback.
//!
//!   relay_load URL SECONDS CONCURRENCY
//!
//! Prints one JSON line: requests, seconds, rps, p50_ms, p99_ms, errors.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use sha2::Digest;

fn wire_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

struct Who {
    key: SigningKey,
    wire: Vec<u8>,
    id: String,
}

impl Who {
    fn new(seed: u8) -> Who {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let mut wire = Vec::new();
        wire_string(&mut wire, b"ssh-ed25519");
        wire_string(&mut wire, &key.verifying_key().to_bytes());
        let id = format!("{:x}", sha2::Sha256::digest(&wire))[..20].to_string();
        Who { key, wire, id }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).cloned().unwrap_or_else(|| "http://127.0.0.1:8787".into());
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let concurrency: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(32);
    let http = reqwest::Client::builder().pool_max_idle_per_host(concurrency * 2).build().unwrap();
    let people: Vec<Arc<Who>> = (1..=8).map(|i| Arc::new(Who::new(i))).collect();
    for p in &people {
        let body = serde_json::json!({"fingerprint": p.id, "public_key": b64(&p.wire)});
        http.post(format!("{url}/keys")).json(&body).send().await.unwrap().error_for_status().unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let started = Instant::now();
    for t in 0..concurrency {
        let (http, url, stop) = (http.clone(), url.clone(), stop.clone());
        // Half the workers list their (small) mailbox with the challenge auth; the other half
        // post to four other mailboxes, so listings stay the size a person's would be.
        let lister = t % 2 == 1;
        let who = people[(t / 2) % 4 + if lister { 0 } else { 4 }].clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if lister {
                    let t0 = Instant::now();
                    let r = http.get(format!("{url}/challenge?fpr={}", who.id)).send().await;
                    let nonce = match r {
                        Ok(r) if r.status().is_success() => r.json::<serde_json::Value>().await.ok(),
                        _ => None,
                    };
                    lat.push(t0.elapsed());
                    let Some(nonce) = nonce.and_then(|v| v["nonce"].as_str().map(str::to_string)) else {
                        errors += 1;
                        continue;
                    };
                    let raw = base64::engine::general_purpose::STANDARD.decode(&nonce).unwrap();
                    let mut sig = Vec::new();
                    wire_string(&mut sig, b"ssh-ed25519");
                    wire_string(&mut sig, &who.key.sign(&raw).to_bytes());
                    let t0 = Instant::now();
                    let r = http
                        .get(format!("{url}/mailbox/{}", who.id))
                        .header("X-Echos-Fingerprint", &who.id)
                        .header("X-Echos-Nonce", &nonce)
                        .header("X-Echos-Signature", b64(&sig))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                        }
                        _ => errors += 1,
                    }
                    lat.push(t0.elapsed());
                } else {
                    let t0 = Instant::now();
                    let r = http.post(format!("{url}/mailbox/{}", who.id)).body(vec![7u8; 256]).send().await;
                    match r {
                        Ok(r) if r.status().as_u16() == 201 => {
                            let _ = r.bytes().await;
                        }
                        _ => errors += 1,
                    }
                    lat.push(t0.elapsed());
                }
            }
            (lat, errors)
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.unwrap();
        all.extend(lat);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{}",
        serde_json::json!({
            "requests": all.len(), "seconds": elapsed, "rps": all.len() as f64 / elapsed,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "errors": errors, "concurrency": concurrency
        })
    );
}
