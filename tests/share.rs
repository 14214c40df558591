//! Sharing sessions end to end: Alice and Bob (two homes), a real relay on 127.0.0.1, real
//! transcripts from ../shared/fixtures, real age and ssh tooling for interop, and the real
//! `claude --resume` / `codex exec resume` (stub model) loading what arrived.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::agents::AgentLab;
use common::person::Person;
use common::relay::{self, Relay};
use common::*;
use serde_json::Value;

const CLAUDE_ID: &str = "ef958aa1-0e93-49f0-bb71-150f63befcd1";
const CLAUDE_SLUG: &str = "-experiments-worktrees";
const CODEX_ID: &str = "019e1625-789d-76c0-80ab-3724b5ddb799";
const CODEX_FILE: &str = "2026/05/11/rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799.jsonl";

/// Real transcripts from ../shared/fixtures, vendored (with their SOURCES) so a fresh clone runs.
fn share_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sharing")
}

/// Alice's sessions: the fixtures, copied where the agents keep them.
fn with_fixtures(person: Person) -> Person {
    copy_dir(&share_fixtures().join("claude/projects"), &person.claude().join("projects"));
    copy_dir(&share_fixtures().join("codex/sessions"), &person.codex().join("sessions"));
    person
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn befriend(a: &Person, a_name: &str, b_cmd: &dyn Fn(&[&str]) -> String, b_id: &str, b_name: &str, a_id: &str) {
    a.ok(&["friend", "add", b_name, b_id]);
    b_cmd(&["friend", "add", a_name, a_id]);
}

/// Bob as an agent lab (stub model, agent homes), with the relay in his environment.
fn bob_cmd(lab: &AgentLab, relay: &Relay) -> Command {
    let mut c = lab.command();
    c.env("SBX_RELAY", &relay.url);
    c
}

fn bob_ok(lab: &AgentLab, relay: &Relay, args: &[&str]) -> String {
    expect_success(args, bob_cmd(lab, relay).args(args).output().unwrap(), "")
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().unwrap().is_dir() {
                out.extend(files_below(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn sessions_arrive_byte_identical_verify_elsewhere_and_resume_in_the_real_agents() {
    let relay = relay::start(&["--rate-limit", "0", "--challenge-limit", "0"]);
    let alice = with_fixtures(Person::new(&relay));
    let lab = AgentLab::new();
    let bob = |args: &[&str]| bob_ok(&lab, &relay, args);
    let a_id = alice.id();
    let b_id: Value = serde_json::from_str(&bob(&["id", "--json"])).unwrap();
    assert_eq!(a_id["published"], relay.url.as_str());
    let key = alice.sbx.home().join("config/identity");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    befriend(&alice, "alice", &bob, b_id["echo_id"].as_str().unwrap(), "bob", a_id["echo_id"].as_str().unwrap());

    // Alice's sessions, newest first, with the agents' own titles.
    let list = alice.json(&["sessions", "--n", "50"]);
    let claude = list.as_array().unwrap().iter().find(|s| s["id"] == CLAUDE_ID).unwrap();
    assert_eq!(claude["tool"], "claude");
    assert!(!claude["title"].as_str().unwrap().is_empty());
    let codex = alice.json(&["sessions", "--tool", "codex"]);
    assert_eq!(codex.as_array().unwrap().len(), 1);
    assert_eq!(codex[0]["title"], "show tools", "Codex's first prompt");

    alice.ok(&["send", "bob", CLAUDE_ID]);
    alice.ok(&["send", "bob", &CODEX_ID[..13]]);
    let inbox: Value = serde_json::from_str(&bob(&["inbox", "--json"])).unwrap();
    let rows = inbox.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        assert_eq!((r["verified"].clone(), r["from"].clone()), (Value::Bool(true), Value::from("alice")), "{r}");
    }
    let blob_of = |sid: &str| rows.iter().find(|r| r["session_id"] == sid).unwrap()["id"].as_str().unwrap().to_string();
    let (claude_blob, codex_blob) = (blob_of(CLAUDE_ID), blob_of(CODEX_ID));

    // Interop: the body after the 5-byte header is an age file the `age` CLI opens with Bob's
    // SSH key; the manifest's signature verifies with Node's ed25519, not sbx's code.
    let cached = std::fs::read(lab.sbx.home().join(format!("data/inbox/{claude_blob}.echo"))).unwrap();
    assert_eq!(&cached[..5], b"ECHO\x01");
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("body.age"), &cached[5..]).unwrap();
    let out = Command::new("age")
        .args(["-d", "-i"])
        .arg(lab.sbx.home().join("config/identity"))
        .arg("-o")
        .arg(work.path().join("body.tgz"))
        .arg(work.path().join("body.age"))
        .output()
        .unwrap();
    assert!(out.status.success(), "age -d: {}", String::from_utf8_lossy(&out.stderr));
    let listing = Command::new("tar").args(["-tzf"]).arg(work.path().join("body.tgz")).output().unwrap();
    let names: Vec<String> = String::from_utf8_lossy(&listing.stdout).lines().map(String::from).collect();
    assert_eq!(&names[..2], &["manifest.json", "signature.sig"]);
    assert!(names.contains(&format!("{CLAUDE_ID}.jsonl")), "{names:?}");
    let x = Command::new("tar")
        .arg("-xzf")
        .arg(work.path().join("body.tgz"))
        .arg("-C")
        .arg(work.path())
        .args(["manifest.json", "signature.sig"])
        .status()
        .unwrap();
    assert!(x.success());
    let public = a_id["public_key"].as_str().unwrap().split_whitespace().nth(1).unwrap().to_string();
    let script = r#"
const fs = require('fs'), crypto = require('crypto');
const [pub, dir] = process.argv.slice(1);
const wire = Buffer.from(pub, 'base64'), raw = wire.subarray(wire.length - 32);
const key = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
const sig = fs.readFileSync(dir + '/signature.sig'), rawSig = sig.subarray(sig.length - 64);
const manifest = fs.readFileSync(dir + '/manifest.json');
process.stdout.write(String(crypto.verify(null, manifest, key, rawSig)));
"#;
    let node = Command::new("node").arg("-e").arg(script).arg(&public).arg(work.path()).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&node.stdout), "true", "{}", String::from_utf8_lossy(&node.stderr));

    // Bob opens both; the files are byte for byte the originals, where the agents look.
    let project = lab.project.display().to_string();
    bob(&["open", &claude_blob, "--dir", &project]);
    bob(&["open", &codex_blob, "--dir", &project]);
    let slug: String = project.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let sent_root = alice.claude().join("projects").join(CLAUDE_SLUG);
    let got_root = lab.sbx.home().join("claude/projects").join(&slug);
    let mut originals: Vec<PathBuf> = files_below(&sent_root.join(CLAUDE_ID));
    originals.push(sent_root.join(format!("{CLAUDE_ID}.jsonl")));
    for f in &originals {
        let rel = f.strip_prefix(&sent_root).unwrap();
        assert!(std::fs::read(f).unwrap() == std::fs::read(got_root.join(rel)).unwrap(), "{} differs", rel.display());
    }
    let got = std::fs::read(lab.sbx.home().join("codex/sessions").join(CODEX_FILE)).unwrap();
    assert!(got == std::fs::read(share_fixtures().join("codex/sessions").join(CODEX_FILE)).unwrap());
    let inbox: Value = serde_json::from_str(&bob(&["inbox", "--json"])).unwrap();
    assert!(inbox.as_array().unwrap().is_empty(), "opened blobs are deleted from the relay: {inbox}");

    // The real agents resume them (stub model): their next request carries the old conversation.
    lab.stub.script(serde_json::json!({"default": {"text": "Resumed."}}));
    let mut claude = lab.command();
    claude.current_dir(&lab.project);
    let claude_bin = agents_bin().join("claude");
    // Bounded in time: a hung agent fails the test instead of the suite.
    let out = Command::new("timeout")
        .arg("120")
        .arg(&claude_bin)
        .args(["--resume", CLAUDE_ID, "-p", "resume check one"])
        .envs(claude.get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))))
        .current_dir(&lab.project)
        .output()
        .unwrap();
    assert!(out.status.success(), "claude --resume: {}", String::from_utf8_lossy(&out.stderr));
    wait_for("Claude's request with the old conversation", || {
        lab.stub
            .turns()
            .iter()
            .any(|t| {
                let b = t["body"].to_string();
                b.contains("resume check one") && b.contains("OK, we're going to make a little experiment here")
            })
            .then_some(())
    });
    // The session was recorded with the `openai` provider, and Codex keeps a thread on its
    // provider: point that provider at the stub.
    let out = Command::new("timeout")
        .arg("120")
        .arg(agents_bin().join("codex"))
        .args(["exec", "--skip-git-repo-check", "-c", "model_provider=\"openai\"", "-c"])
        .arg(format!("openai_base_url=\"http://127.0.0.1:{}/v1\"", lab.stub.port))
        .args(["resume", CODEX_ID, "resume check two"])
        .envs(claude.get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))))
        .env("OPENAI_API_KEY", "dummy")
        .current_dir(&lab.project)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "codex exec resume: {}", String::from_utf8_lossy(&out.stderr));
    wait_for("Codex's request with the old conversation", || {
        lab.stub
            .turns()
            .iter()
            .any(|t| {
                let b = t["body"].to_string();
                b.contains("resume check two") && b.contains("show tools")
            })
            .then_some(())
    });
}

fn agents_bin() -> PathBuf {
    common::agents::agents_bin()
}

/// Decrypt an envelope with `age` and Bob's key: its tar.gz.
fn unseal(envelope: &[u8], key: &Path, work: &Path) -> PathBuf {
    std::fs::write(work.join("in.age"), &envelope[5..]).unwrap();
    let out = work.join("in.tgz");
    let st =
        Command::new("age").args(["-d", "-i"]).arg(key).arg("-o").arg(&out).arg(work.join("in.age")).status().unwrap();
    assert!(st.success());
    out
}

/// A hostile variant of the envelope body `tgz` (tests/tools/craft_envelope.py MODE), sealed
/// for `recipient_pub`.
fn crafted(
    mode: &str,
    tgz: &Path,
    extra: &[impl AsRef<std::ffi::OsStr>],
    recipient_pub: &Path,
    work: &Path,
) -> Vec<u8> {
    let out = work.join(format!("{mode}.tgz"));
    let st = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/craft_envelope.py"))
        .arg(mode)
        .arg(tgz)
        .arg(&out)
        .args(extra)
        .status()
        .unwrap();
    assert!(st.success(), "craft {mode}");
    reseal(&out, recipient_pub, work)
}

/// Seal a tar.gz for Bob with `age -R` and the echos header.
fn reseal(tgz: &Path, recipient_pub: &Path, work: &Path) -> Vec<u8> {
    let out = work.join("out.age");
    let st = Command::new("age").arg("-R").arg(recipient_pub).arg("-o").arg(&out).arg(tgz).status().unwrap();
    assert!(st.success());
    let mut env = b"ECHO\x01".to_vec();
    env.extend(std::fs::read(out).unwrap());
    env
}

fn post(relay: &Relay, echo_id: &str, body: Vec<u8>) -> String {
    let r =
        reqwest::blocking::Client::new().post(format!("{}/mailbox/{echo_id}", relay.url)).body(body).send().unwrap();
    assert_eq!(r.status().as_u16(), 201);
    r.json::<Value>().unwrap()["id"].as_str().unwrap().to_string()
}

#[test]
fn hostile_envelopes_are_refused_with_nothing_installed() {
    let relay = relay::start(&["--rate-limit", "0", "--challenge-limit", "0"]);
    let alice = with_fixtures(Person::new(&relay));
    let bob = Person::new(&relay);
    let carol = Person::new(&relay);
    let mallory = with_fixtures(Person::new(&relay));
    let ids: Vec<Value> = [&alice, &bob, &carol, &mallory].iter().map(|p| p.id()).collect();
    let id = |i: usize| ids[i]["echo_id"].as_str().unwrap().to_string();
    alice.ok(&["friend", "add", "bob", &id(1)]);
    alice.ok(&["friend", "add", "carol", &id(2)]);
    bob.ok(&["friend", "add", "alice", &id(0)]);
    mallory.ok(&["friend", "add", "bob", &id(1)]);
    // Friends are a list of objects; `friend remove` is `friend rm`.
    alice.ok(&["friend", "add", "dave", &id(2)]);
    let names = |who: &Person| -> Vec<String> {
        let list = who.json(&["friend", "list"]);
        list.as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names(&alice), ["bob", "carol", "dave"]);
    assert_eq!(alice.json(&["friend", "list"])[0]["echo_id"], id(1).as_str());
    alice.ok(&["friend", "remove", "dave"]);
    assert_eq!(names(&alice), ["bob", "carol"]);
    let project = bob.sbx.home().join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let project = project.display().to_string();
    let nothing_installed = |why: &str| {
        let files = [files_below(&bob.claude()), files_below(&bob.codex())].concat();
        assert!(files.is_empty(), "{why}: installed {files:?}");
        assert!(files_below(&bob.sbx.home().join("data/staging")).is_empty(), "{why}: staging left behind");
    };
    let refused = |blob: &str, why: &str, expect: &str, extra: &[&str]| {
        let mut args = vec!["open", blob, "--dir", project.as_str()];
        args.extend_from_slice(extra);
        let out = bob.run(&args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(1), "{why} was accepted: {err}");
        assert!(err.contains(expect), "{why}: {err}");
        nothing_installed(why);
    };
    let work = tempfile::tempdir().unwrap();
    let bob_key = bob.sbx.home().join("config/identity");
    let bob_pub = bob.sbx.home().join("config/identity.pub");

    // A genuine envelope from Alice, as a base to tamper with.
    alice.ok(&["send", "bob", CLAUDE_ID]);
    let inbox = bob.json(&["inbox"]);
    let genuine_id = inbox[0]["id"].as_str().unwrap().to_string();
    let genuine = std::fs::read(bob.sbx.home().join(format!("data/inbox/{genuine_id}.echo"))).unwrap();
    let tgz = unseal(&genuine, &bob_key, work.path());

    // Tampered ciphertext.
    let mut flipped = genuine.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    refused(&post(&relay, &id(1), flipped), "tampered ciphertext", "refused", &[]);
    // Sealed for Carol, dropped in Bob's mailbox.
    alice.ok(&["send", "carol", CODEX_ID]);
    let carols = carol.json(&["inbox"]);
    let for_carol =
        std::fs::read(carol.sbx.home().join(format!("data/inbox/{}.echo", carols[0]["id"].as_str().unwrap()))).unwrap();
    refused(&post(&relay, &id(1), for_carol), "wrong recipient", "not for you", &[]);
    // Archives changed inside a valid encryption.
    let craft = |mode: &str, extra: &[String]| -> Vec<u8> { crafted(mode, &tgz, extra, &bob_pub, work.path()) };
    for (mode, expect) in [
        ("tamper-manifest", "signature does not verify"),
        ("extra-file", "not in the manifest"),
        ("symlink", "not a regular file"),
        ("dotdot", "not a clean relative path"),
        ("absolute", "not a clean relative path"),
        ("bad-session-id", "session id"),
    ] {
        refused(&post(&relay, &id(1), craft(mode, &[])), mode, expect, &[]);
    }
    // Mallory claims to be Alice (her id and fingerprint), signing with her own key.
    let claim = [
        mallory.sbx.home().join("config/identity").display().to_string(),
        id(0),
        ids[0]["fingerprint"].as_str().unwrap().to_string(),
    ];
    refused(&post(&relay, &id(1), craft("impersonate", &claim)), "impersonation", "signature does not verify", &[]);
    refused(
        &post(&relay, &id(1), craft("impersonate", &claim)),
        "impersonation, allowed unknown",
        "signature does not verify",
        &["--allow-unknown"],
    );
    // A stranger's genuine envelope: refused unless --allow-unknown, and then still verified.
    mallory.ok(&["send", "bob", CODEX_ID]);
    let strangers: Vec<Value> = bob.json(&["inbox"]).as_array().unwrap().clone();
    let from_mallory =
        strangers.iter().find(|r| r["sender_echo_id"] == id(3).as_str() && r["verified"] == true).unwrap();
    assert!(from_mallory["from"].is_null(), "not a friend: no name");
    let blob = from_mallory["id"].as_str().unwrap().to_string();
    refused(&blob, "unknown sender", "not a friend", &[]);
    // The way on names both choices as commands.
    let err = String::from_utf8_lossy(&bob.run(&["open", &blob, "--dir", &project]).stderr).to_string();
    assert!(err.contains("--allow-unknown") && err.contains("sbx friend add"), "{err}");
    let out = bob.ok(&["open", &blob, "--dir", &project, "--allow-unknown"]);
    assert!(out.contains("UNKNOWN"), "{out}");
    assert!(bob.codex().join("sessions").join(CODEX_FILE).exists());
    // The genuine envelope still opens after all that.
    let out = bob.ok(&["open", &genuine_id, "--dir", &project]);
    assert!(out.contains("from alice"), "{out}");
}

#[test]
fn a_relay_that_substitutes_a_key_at_friend_add_is_refused() {
    // A fake relay that answers every key request with Mallory's key.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let relay = relay::start(&["--rate-limit", "0", "--challenge-limit", "0"]);
    let mallory = Person::new(&relay);
    let forged = mallory.id()["public_key"].as_str().unwrap().split_whitespace().nth(1).unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut buf);
            let body = serde_json::json!({"fingerprint": "whatever", "public_key": forged}).to_string();
            let _ = write!(stream, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
        }
    });
    let bob = Person::on(&url);
    let out = bob.run(&["friend", "add", "alice", "0123456789abcdef0123"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not hash"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!bob.sbx.home().join("config/friends.toml").exists(), "nothing saved");
}

#[test]
fn from_the_tui_a_pane_is_sent_to_a_friend_and_opened_beside() {
    let relay = relay::start(&["--rate-limit", "0", "--challenge-limit", "0"]);
    let lab = AgentLab::new();
    let alice = |args: &[&str]| bob_ok(&lab, &relay, args);
    let bob = Person::new(&relay);
    let a: Value = serde_json::from_str(&alice(&["id", "--json"])).unwrap();
    let b = bob.id();
    alice(&["friend", "add", "bob", b["echo_id"].as_str().unwrap()]);
    bob.ok(&["friend", "add", "alice", a["echo_id"].as_str().unwrap()]);
    lab.stub.script(serde_json::json!({"default": {"text": "Hello from the stub."}}));
    let project = lab.project.display().to_string();
    let pane =
        alice(&["new", "-d", "-s", "work", "--size", "150x40", "-c", &project, "--agent", "claude"]).trim().to_string();
    lab.wait(&pane, "idle");
    alice(&["agent", "prompt", "-t", &pane, "a session worth sharing"]);
    lab.wait(&pane, "idle");
    let sid = lab.agent(&pane)["session_id"].as_str().unwrap().to_string();

    let tmux = Tmux::new("share");
    tmux.start("a", 150, 42, &format!("{} SBX_RELAY={} {SBX} attach -t work", lab.env_prefix(), relay.url));
    tmux.wait_screen("a", "claude");
    tmux.send("a", &["C-b", "s"]);
    tmux.wait_screen("a", "S: send this session");
    tmux.send("a", &["C-b", "S"]);
    tmux.wait_screen("a", "▸ bob");
    tmux.send("a", &["Enter"]);
    tmux.wait_screen("a", "sent claude session to bob");
    let inbox = bob.json(&["inbox"]);
    assert_eq!(inbox[0]["session_id"], sid.as_str());
    assert_eq!(inbox[0]["from"], "alice");

    // Bob sees it in his sidebar and opens it beside his shell.
    let dir = bob.sbx.home().join("work");
    std::fs::create_dir_all(&dir).unwrap();
    let dir = std::fs::canonicalize(&dir).unwrap().display().to_string();
    let mut new = bob.command();
    new.args(["new", "-d", "-s", "bob", "-c", &dir, "--", "bash", "--norc"]);
    expect_success(&["new"], new.output().unwrap(), "");
    let env = format!(
        "{} SBX_RELAY={} CLAUDE_CONFIG_DIR={} CODEX_HOME={}",
        bob.sbx.env_prefix(),
        relay.url,
        bob.claude().display(),
        bob.codex().display()
    );
    tmux.start("b", 150, 42, &format!("{env} {SBX} attach -t bob"));
    tmux.wait_screen("b", "bash");
    tmux.send("b", &["C-b", "s"]);
    tmux.wait_screen("b", "⇩ alice: claude");
    tmux.send("b", &["C-b", "O"]);
    tmux.wait_screen("b", "▸ alice");
    tmux.send("b", &["Enter"]);
    // The new pane opens it, then runs `claude --resume` (not installed for Bob: the pane ends).
    let slug: String = dir.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let installed = bob.claude().join("projects").join(slug).join(format!("{sid}.jsonl"));
    wait_for("the session installed by the new pane", || installed.exists().then_some(()));
    let original = files_below(&lab.sbx.home().join("claude/projects"))
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == format!("{sid}.jsonl").as_str()))
        .unwrap();
    // Alice's Claude is still running and appends to its live transcript after the send: what
    // Bob got is exactly what it held then, a prefix of what it holds now.
    let (got, now) = (std::fs::read(installed).unwrap(), std::fs::read(original).unwrap());
    assert!(!got.is_empty() && now.starts_with(&got), "got {} bytes, Alice's file has {}", got.len(), now.len());
}

#[test]
fn identities_from_ssh_keys_a_relay_that_is_down_and_no_session_here() {
    let relay = relay::start(&["--rate-limit", "0", "--challenge-limit", "0"]);
    let me = Person::new(&relay);
    let keys = me.sbx.home().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let keygen = |name: &str, args: &[&str]| {
        let st = Command::new("ssh-keygen")
            .args(args)
            .arg("-f")
            .arg(keys.join(name))
            .args(["-q", "-C", "t"])
            .status()
            .unwrap();
        assert!(st.success());
        keys.join(name).display().to_string()
    };
    let plain = keygen("plain", &["-t", "ed25519", "-N", ""]);
    let locked = keygen("locked", &["-t", "ed25519", "-N", "secret"]);
    let rsa = keygen("rsa", &["-t", "rsa", "-b", "2048", "-N", ""]);
    // An existing key: its echo-id is the SHA-256 of its public half.
    let v = me.json(&["id", "--key", &plain]);
    let public = std::fs::read_to_string(format!("{plain}.pub")).unwrap();
    assert_eq!(v["public_key"].as_str().unwrap(), public.split_whitespace().take(2).collect::<Vec<_>>().join(" "));
    assert_eq!(v["key"], plain.as_str());
    assert_eq!(me.json(&["id"])["echo_id"], v["echo_id"], "remembered");
    for (key, why) in [(&locked, "passphrase"), (&rsa, "not an ed25519")] {
        let out = me.run(&["id", "--key", key]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains(why), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // A relay that is down: the identity still works, with a warning.
    let offline = Person::on("http://127.0.0.1:9");
    let out = offline.run(&["id"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning"), "{}", String::from_utf8_lossy(&out.stderr));
    // Doctor tells the two apart.
    let doctor = me.json(&["doctor"]);
    assert_eq!(doctor["sharing"]["echo_id"], v["echo_id"]);
    assert_eq!(doctor["sharing"]["relay_reachable"], true);
    assert_eq!(offline.json(&["doctor"])["sharing"]["relay_reachable"], false);
    // `sbx send` outside any session's directory: exit 2, with recent sessions to choose from.
    let alice = with_fixtures(Person::new(&relay));
    alice.id();
    alice.ok(&["friend", "add", "me", v["echo_id"].as_str().unwrap()]);
    let out = alice.command().current_dir(alice.sbx.home()).args(["send", "me"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("recent ones") && (err.contains("claude") || err.contains("codex")), "{err}");
    let out = alice.run(&["send", "me", "../etc"]);
    assert_eq!(out.status.code(), Some(1), "a path is not a session id");
    let out = alice.run(&["send", "nobody", CLAUDE_ID]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("friend add"));
}

/// Run `args` as `who` and the peak memory (resident, bytes) the process reached. It is
/// reaped with wait4 (for its resource usage), not through `Child`.
#[allow(clippy::zombie_processes)]
fn peak_rss(who: &Person, args: &[&str]) -> (std::process::Output, u64) {
    let mut child = who.command().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let readers = std::thread::spawn(move || {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let t = std::thread::spawn(move || {
            std::io::Read::read_to_end(&mut err, &mut e).unwrap();
            e
        });
        std::io::Read::read_to_end(&mut out, &mut o).unwrap();
        (o, t.join().unwrap())
    });
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    let (stdout, stderr) = readers.join().unwrap();
    let status = std::os::unix::process::ExitStatusExt::from_raw(status);
    (std::process::Output { status, stdout, stderr }, usage.ru_maxrss as u64 * 1024)
}

fn listed(who: &Person) -> Vec<String> {
    who.json(&["inbox"]).as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn what_strangers_post_costs_little_and_drives_nothing() {
    let relay = relay::start(&["--rate-limit", "0", "--challenge-limit", "0"]);
    let alice = with_fixtures(Person::new(&relay));
    let bob = Person::new(&relay);
    let (a, b) = (alice.id(), bob.id());
    alice.ok(&["friend", "add", "bob", b["echo_id"].as_str().unwrap()]);
    bob.ok(&["friend", "add", "alice", a["echo_id"].as_str().unwrap()]);
    let bob_id = b["echo_id"].as_str().unwrap().to_string();
    alice.ok(&["send", "bob", CLAUDE_ID]);
    alice.ok(&["send", "bob", CLAUDE_ID]);
    let genuine = listed(&bob);
    assert_eq!(genuine.len(), 2);
    let cache = |blob: &str| bob.sbx.home().join(format!("data/inbox/{blob}.echo"));
    let work = tempfile::tempdir().unwrap();
    let tgz = unseal(&std::fs::read(cache(&genuine[0])).unwrap(), &bob.sbx.home().join("config/identity"), work.path());
    let bob_pub = bob.sbx.home().join("config/identity.pub");
    let craft = |mode: &str, extra: &[&str]| -> Vec<u8> { crafted(mode, &tgz, extra, &bob_pub, work.path()) };

    // A GNU long-name entry announcing a gigabyte, before the manifest: refused before it
    // costs memory (it used to be read whole, up to 200× the envelope).
    let bomb = post(&relay, &bob_id, craft("longname", &["1073741824"]));
    let (out, peak) = peak_rss(&bob, &["inbox", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(peak < 100 << 20, "sbx inbox peaked at {} MiB", peak >> 20);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = rows.as_array().unwrap().iter().find(|r| r["id"] == bomb.as_str()).unwrap();
    assert_eq!(row["verified"], false, "{row}");
    assert!(row["error"].as_str().unwrap().starts_with("refused"), "{row}");
    // Junk: refused, dropped from the relay, nothing of it cached.
    let junk: Vec<String> = (0..3).map(|i| post(&relay, &bob_id, vec![i; 1 << 20])).collect();
    let rows = bob.json(&["inbox"]);
    for j in &junk {
        let row = rows.as_array().unwrap().iter().find(|r| r["id"] == j.as_str()).unwrap();
        assert_eq!(row["verified"], false);
    }
    let now = listed(&bob);
    for gone in junk.iter().chain([&bomb]) {
        assert!(!now.contains(gone), "refused blob {gone} is still on the relay");
        assert!(!cache(gone).exists(), "refused blob {gone} is cached");
    }
    // A signed title that tries to drive the terminal shows as text.
    let key = alice.sbx.home().join("config/identity").display().to_string();
    let evil = post(&relay, &bob_id, craft("retitle", &["\x1b]52;c;aGk=\x07\x1b[2Jevil\rtitle", &key]));
    let text = bob.ok(&["inbox"]);
    let line = text.lines().find(|l| l.starts_with(&evil)).unwrap();
    assert!(line.contains("evil") && !line.contains(['\x1b', '\x07', '\r']), "{line:?}");
    // Checked once: a refresh reads the index, not the envelope again.
    std::fs::write(cache(&genuine[1]), b"not an envelope any more").unwrap();
    let rows = bob.json(&["inbox"]);
    let row = rows.as_array().unwrap().iter().find(|r| r["id"] == genuine[1].as_str()).unwrap();
    assert_eq!(row["verified"], true, "re-opened on refresh: {row}");

    // Opening: a symlink planted below the agent's folder is not written through.
    let project = bob.sbx.home().join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let slug: String =
        project.display().to_string().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let root = bob.claude().join("projects").join(&slug);
    std::fs::create_dir_all(&root).unwrap();
    let trap = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(trap.path(), root.join(CLAUDE_ID)).unwrap();
    let dir = project.display().to_string();
    let out = bob.run(&["open", &genuine[0], "--dir", &dir]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("symlink"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(files_below(trap.path()).is_empty(), "written through the link");
    // Without it, under umask 000: files 0600, the folders sbx made 0700.
    std::fs::remove_file(root.join(CLAUDE_ID)).unwrap();
    std::fs::remove_dir(&root).unwrap();
    let mut cmd = bob.command();
    cmd.args(["open", &genuine[0], "--dir", &dir]);
    let line = format!("umask 000; exec {}", shell_words(&cmd));
    let out = Command::new("sh").arg("-c").arg(line).envs(envs(&cmd)).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&root.join(CLAUDE_ID)), 0o700);
    for f in files_below(&root) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
}

fn envs(cmd: &Command) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))).collect()
}

fn shell_words(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy().replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Prefix O with no `sbx init`: the received session opens in a tracked agent pane (state,
/// bridge, sharing), resumed, and the sender's conversation reaches the receiver's model.
#[test]
fn a_session_opened_from_the_tui_is_a_tracked_agent_pane() {
    let relay = relay::start(&["--rate-limit", "0", "--challenge-limit", "0"]);
    let (alice, bob) = (AgentLab::new(), AgentLab::new());
    let a = |args: &[&str]| bob_ok(&alice, &relay, args);
    let b = |args: &[&str]| bob_ok(&bob, &relay, args);
    let a_id: Value = serde_json::from_str(&a(&["id", "--json"])).unwrap();
    let b_id: Value = serde_json::from_str(&b(&["id", "--json"])).unwrap();
    a(&["friend", "add", "bob", b_id["echo_id"].as_str().unwrap()]);
    b(&["friend", "add", "alice", a_id["echo_id"].as_str().unwrap()]);
    for lab in [&alice, &bob] {
        lab.stub.script(serde_json::json!({"default": {"text": "Noted."}}));
    }
    let project = alice.project.display().to_string();
    let pane =
        a(&["new", "-d", "-s", "work", "--size", "150x40", "-c", &project, "--agent", "claude"]).trim().to_string();
    alice.wait(&pane, "idle");
    let before = alice.turns(&pane);
    a(&["agent", "prompt", "-t", &pane, "the word to pass on is KESTREL-8"]);
    alice.see_turn(&pane, before);
    alice.wait(&pane, "idle");
    let sid = alice.agent(&pane)["session_id"].as_str().unwrap().to_string();
    // Claude writes its transcript in batches: send once the turn is in it.
    alice.wait_transcript(&["KESTREL-8", "Noted."]);
    a(&["send", "bob", &sid]);

    let dir = bob.project.display().to_string();
    b(&["new", "-d", "-s", "bob", "-c", &dir]);
    let tmux = Tmux::new("open-tracked");
    tmux.start("b", 150, 42, &format!("{} SBX_RELAY={} {SBX} attach -t bob", bob.env_prefix(), relay.url));
    tmux.wait_screen("b", "C-b ? help");
    tmux.send("b", &["C-b", "s"]);
    tmux.wait_screen("b", "⇩ alice: claude");
    tmux.send("b", &["C-b", "O"]);
    tmux.wait_screen("b", "▸ alice");
    tmux.send("b", &["Enter"]);
    let opened = wait_for("a tracked Claude pane on the received session", || {
        bob.sbx.panes().into_iter().find(|p| p["agent"]["session_id"] == sid.as_str())
    });
    assert_eq!(opened["agent"]["kind"], "claude");
    let id = opened["id"].as_str().unwrap().to_string();
    bob.wait(&id, "idle");
    let before = bob.turns(&id);
    b(&["agent", "prompt", "-t", &id, "which word did you get"]);
    bob.see_turn(&id, before);
    bob.wait(&id, "idle");
    let asked = bob.stub.turns().iter().map(|t| t["body"].to_string()).find(|b| b.contains("which word did you get"));
    assert!(asked.expect("Bob's model was asked").contains("KESTREL-8"), "Alice's conversation came with it");
    // The pane that opened it ended: the agent took its place beside Bob's shell.
    wait_for("the opener to go", || (bob.sbx.panes().len() == 2).then_some(()));
}
