//! Bridge messages between friends' machines: Alice and Bob (two homes, two servers) and a
//! real `sbx relay` on 127.0.0.1. A message to `bob/reviewer` is sealed for Bob, posted to his
//! mailbox on the relay, taken by his server and delivered to his pane labelled reviewer —
//! marked as external — and his reply finds its way back into the thread on Alice's side.

mod common;

use common::person::Person;
use common::relay::{self, Relay};
use common::*;
use serde_json::Value;

/// What these tests ask of someone's bridge and server.
trait Messages {
    fn wait_message(&self, label: &str, subject: &str) -> Value;
    fn find_message(&self, label: &str, subject: &str) -> Option<Value>;
    fn messages(&self, label: &str) -> usize;
    fn wait_log(&self, line: &str);
    fn friend_sessions(&self, friend: &str) -> Value;
    fn wait_added_back(&self, friend: &str);
}

impl Messages for Person {
    /// The first message in `label`'s inbox whose subject is `subject`, once it is there.
    fn wait_message(&self, label: &str, subject: &str) -> Value {
        wait_for(&format!("{subject:?} in {label}'s inbox"), || self.find_message(label, subject))
    }
    fn find_message(&self, label: &str, subject: &str) -> Option<Value> {
        let inbox = self.json(&["msg", "inbox", "--all", "--as", label]);
        inbox["messages"].as_array().unwrap().iter().find(|m| m["subject"] == subject).cloned()
    }
    fn messages(&self, label: &str) -> usize {
        self.json(&["msg", "inbox", "--all", "--as", label])["messages"].as_array().unwrap().len()
    }
    fn wait_log(&self, line: &str) {
        wait_for(&format!("{line:?} in the server log"), || self.log().contains(line).then_some(()));
    }
    fn friend_sessions(&self, friend: &str) -> Value {
        self.json(&["friend", "sessions", friend])
    }
    /// Once `friend`'s sbx has said (signed, through the relay) that they added us back.
    fn wait_added_back(&self, friend: &str) {
        wait_for(&format!("{friend} heard to have added us back"), || {
            (self.friend_sessions(friend)["added_you_back"] == true).then_some(())
        });
    }
}

/// Alice adds Bob by his echo-id; Bob adds Alice by the invite code she gives him.
fn friends(relay: &Relay) -> (Person, Person) {
    let (alice, bob) = (Person::new(relay), Person::new(relay));
    alice.json(&["id"]);
    let b = bob.json(&["id"]);
    alice.ok(&["friend", "add", "bob", b["echo_id"].as_str().unwrap()]);
    let invite = alice.json(&["friend", "invite"]);
    assert_eq!(invite["relay"], relay.url.as_str());
    let added = bob.json(&["friend", "add", "alice", invite["invite"].as_str().unwrap()]);
    assert_eq!(added["echo_id"], invite["echo_id"], "the code carries Alice's id");
    assert!(added["their_relay"].is_null(), "the same relay: nothing to say");
    assert_eq!(added["told"], true, "Alice's sbx is told at once: {added}");
    alice.wait_added_back("bob");
    bob.wait_added_back("alice");
    (alice, bob)
}

#[test]
fn a_message_to_a_friends_label_arrives_sealed_marked_external_and_the_reply_comes_back() {
    let relay = relay::start(&["--rate-limit", "0", "--challenge-limit", "0"]);
    let (alice, bob) = friends(&relay);
    alice.ok(&["new", "-d", "-s", "a", "--label", "writer"]);
    bob.ok(&["new", "-d", "-s", "b", "--label", "reviewer"]);

    // A 5 MiB artifact, of bytes that are not all alike.
    let file = alice.sbx.home().join("big.bin");
    let data: Vec<u8> = (0..5u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let sent = alice.json(&[
        "msg",
        "send",
        "bob/reviewer",
        "the plan for tuesday",
        "--body",
        "step one: lint the parser",
        "--artifact",
        file.to_str().unwrap(),
        "--as",
        "writer",
    ]);
    assert_eq!(sent["status"], "queued", "{sent}");
    assert_eq!(sent["to"], "bob/reviewer");

    let got = bob.wait_message("reviewer", "the plan for tuesday");
    assert_eq!(got["from"], "alice/writer", "{got}");
    assert_eq!(got["kind"], "remote");
    let full = bob.json(&["msg", "read", &got["id"].to_string(), "--as", "reviewer"]);
    assert_eq!(full["body"], "step one: lint the parser");
    let sha = got["artifacts"][0].as_str().unwrap().to_string();
    let out = bob.sbx.home().join("got.bin");
    bob.ok(&["artifact", "get", &sha, "-o", out.to_str().unwrap(), "--as", "reviewer"]);
    assert!(std::fs::read(&out).unwrap() == data, "the 5 MiB artifact arrived changed");
    // The sender sees it delivered (Bob's server said so, in a receipt of its own).
    wait_for("delivered", || {
        let mine = alice.json(&["msg", "read", &sent["id"].to_string(), "--as", "writer"]);
        (mine["status"] == "delivered").then_some(())
    });

    // Bob's reply, by the id he knows, goes back to Alice's writer, in the same thread.
    let reply = bob.json(&[
        "msg",
        "send",
        "",
        "re: the plan",
        "--body",
        "agreed",
        "--reply-to",
        &got["id"].to_string(),
        "--as",
        "reviewer",
    ]);
    assert_eq!(reply["to"], "alice/writer", "a reply with no address goes back to its sender: {reply}");
    let back = alice.wait_message("writer", "re: the plan");
    assert_eq!(back["from"], "bob/reviewer");
    assert_eq!(back["thread"], sent["id"], "the reply joins Alice's thread: {back}");

    // The relay held nothing it could read: no subject, body, label, name or artifact bytes.
    let db = relay.db_bytes();
    for secret in
        ["the plan for tuesday", "step one", "lint the parser", "reviewer", "writer", "agreed", "re: the plan"]
    {
        assert!(!contains(&db, secret.as_bytes()), "{secret:?} is readable in the relay's database");
    }
    assert!(!contains(&db, &data[1 << 20..(1 << 20) + 64]), "artifact bytes in the relay's database");
    // And an echos-style listing of Bob's mailbox (`sbx inbox`) shows no message as a session.
    let listed = bob.json(&["inbox"]);
    assert!(listed.as_array().unwrap().is_empty(), "{listed}");
}

/// An invite from someone on another relay is taken from that relay, with a word about it; a
/// mistyped one is refused with the next step.
#[test]
fn an_invite_names_the_relay_its_key_comes_from() {
    let (ours, theirs) = (relay::start(&[]), relay::start(&[]));
    let dana = Person::new(&theirs);
    let dana_id = dana.echo_id();
    let code = dana.json(&["friend", "invite"])["invite"].as_str().unwrap().to_string();
    let erin = Person::new(&ours);
    erin.json(&["id"]);
    let out = erin.run(&["friend", "add", "dana", &code]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("uses the relay") && err.contains(&theirs.url), "{err}");
    let listed = erin.json(&["friend", "list"]);
    assert_eq!(listed[0]["echo_id"], dana_id.as_str());
    let out = erin.run(&["friend", "add", "dan", &code[..code.len() - 5]]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sbx friend invite"));
}

#[test]
fn a_message_to_someone_who_is_not_a_friend_is_refused_with_the_next_step() {
    let relay = relay::start(&["--rate-limit", "0", "--challenge-limit", "0"]);
    let alice = Person::new(&relay);
    alice.json(&["id"]);
    alice.ok(&["new", "-d", "-s", "a", "--label", "writer"]);
    let out = alice.run(&["msg", "send", "carol/reviewer", "hi", "--as", "writer"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not_a_friend") && err.contains("sbx friend add"), "{err}");
}

/// The sealed letters waiting on the relay (kind `message`), read from its database.
fn letters_on(relay: &Relay) -> Vec<Vec<u8>> {
    let script = "import sqlite3, sys, base64\n\
        c = sqlite3.connect(sys.argv[1])\n\
        for (d,) in c.execute(\"SELECT data FROM blobs WHERE kind = 'message'\"): print(base64.b64encode(d).decode())";
    let out = std::process::Command::new("python3").args(["-c", script]).arg(relay.db_path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    use base64::Engine;
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| base64::engine::general_purpose::STANDARD.decode(l).unwrap())
        .collect()
}

/// Post bytes to `echo_id`'s mailbox as a message, as anyone may.
fn post_letter(relay: &Relay, echo_id: &str, sealed: &[u8]) {
    let url = format!("{}/mailbox/{echo_id}?kind=message", relay.url);
    let status = reqwest::blocking::Client::new().post(url).body(sealed.to_vec()).send().unwrap().status();
    assert_eq!(status, 201);
}

/// Letters replayed, sent to the wrong person, or from someone no longer a friend: refused,
/// each with a log line, and nothing delivered.
#[test]
fn replayed_misaddressed_and_unfriended_letters_are_refused_with_nothing_delivered() {
    let relay = relay::start(&["--rate-limit", "0", "--challenge-limit", "0"]);
    let (alice, bob) = friends(&relay);
    let carol = Person::new(&relay);
    let carol_id = carol.echo_id();
    carol.ok(&["friend", "add", "bob", &bob.echo_id()]);
    carol.ok(&["new", "-d", "-s", "c"]);
    alice.ok(&["new", "-d", "-s", "a", "--label", "writer"]);

    // Bob is away: the letter waits on the relay, where it is copied.
    kill(&bob);
    let sent =
        alice.json(&["msg", "send", "bob/user", "secret plan", "--body", "the launch code is 42", "--as", "writer"]);
    wait_for("posted", || {
        (alice.json(&["msg", "read", &sent["id"].to_string(), "--as", "writer"])["status"] == "posted").then_some(())
    });
    let copied = letters_on(&relay).pop().expect("the letter on the relay");
    bob.ok(&["new", "-d", "-s", "b1"]);
    bob.wait_message("user", "secret plan");
    wait_for("the relay emptied", || letters_on(&relay).is_empty().then_some(()));

    // Replayed: dropped by its id.
    post_letter(&relay, &bob.echo_id(), &copied);
    bob.wait_log("a second copy of letter");
    wait_for("the replay taken off the relay", || letters_on(&relay).is_empty().then_some(()));
    assert_eq!(bob.messages("user"), 1, "a replay delivered twice");

    // Sealed for Bob, posted to Carol: she cannot open it.
    post_letter(&relay, &carol_id, &copied);
    carol.wait_log("not sealed for this identity");
    assert_eq!(carol.messages("user"), 0);

    // Alice is no longer Bob's friend (Carol still is, so he still listens): her letter (the
    // copy, and one she sent while Bob's server was down) is refused, kept sealed for review,
    // never delivered.
    kill(&bob);
    let later = alice.json(&["msg", "send", "bob/user", "after the break", "--as", "writer"]);
    wait_for("posted", || {
        (alice.json(&["msg", "read", &later["id"].to_string(), "--as", "writer"])["status"] == "posted").then_some(())
    });
    bob.ok(&["friend", "add", "carol", &carol_id]);
    let removed = bob.json(&["friend", "rm", "alice"]);
    assert_eq!(removed["told"], true, "{removed}");
    post_letter(&relay, &bob.echo_id(), &copied);
    bob.ok(&["new", "-d", "-s", "b2"]);
    let refused = "who is not a friend; kept for review";
    wait_for("both refused", || (bob.log().matches(refused).count() >= 2).then_some(()));
    assert!(bob.find_message("user", "after the break").is_none(), "delivered from someone unfriended");
    assert_eq!(bob.messages("user"), 1);
    // Alice's sbx heard it, signed by Bob: what she sends now is refused before it is queued.
    wait_for("Bob's goodbye heard", || (alice.friend_sessions("bob")["removed_you"] == true).then_some(()));
    let out = alice.run(&["msg", "send", "bob/user", "still there?", "--as", "writer"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not_mutual") && err.contains("removed you"), "{err}");
    assert_eq!(sql(&alice, "SELECT count(*) FROM messages WHERE subject = 'still there?'"), "0", "kept all the same");
    let kept = std::fs::read_dir(bob.sbx.home().join("data/letters/unknown")).unwrap().count();
    assert!(kept >= 1, "nothing kept for review");
    // Nothing of the letter in the clear in any log.
    for log in [bob.log(), carol.log(), alice.log()] {
        assert!(!log.contains("launch code") && !log.contains("secret plan"), "{log}");
    }
}

/// Alice's real Claude Code (model stub) calls bridge_send_message to `bob/reviewer`; Bob's real
/// Codex pane labelled reviewer gets it in its next model request, marked external from alice,
/// and its answer (a bridge_send_message of its own) reaches Alice's pane.
#[test]
fn alices_claude_messages_bobs_codex_through_the_relay_and_the_answer_comes_back() {
    use common::agents::AgentLab;
    use serde_json::json;
    let relay = relay::start(&["--rate-limit", "0", "--challenge-limit", "0"]);
    let alice = AgentLab::new().with_env("SBX_RELAY", &relay.url);
    let bob = AgentLab::new().with_env("SBX_RELAY", &relay.url);
    let echo_id = |lab: &AgentLab| {
        let v: Value = serde_json::from_str(&lab.ok(&["id", "--json"])).unwrap();
        v["echo_id"].as_str().unwrap().to_string()
    };
    let (a_id, b_id) = (echo_id(&alice), echo_id(&bob));
    alice.ok(&["friend", "add", "bob", &b_id]);
    bob.ok(&["friend", "add", "alice", &a_id]);
    alice.stub.script(json!({
        "rules": [{"match": "tell bob", "reply": {"tool": {"name": "mcp__sbx__bridge_send_message", "input": {
            "to": "bob/reviewer", "subject": "from alice's claude", "body": "the flaky test is tests/net.rs line 88 (token 9c1d2)"
        }}}}],
        "default": {"text": "Hello."},
        "after_tool": {"text": "Sent."}
    }));
    let project = alice.project.display().to_string();
    let writer = alice
        .ok(&["new", "-d", "-s", "a", "--size", "200x50", "-c", &project, "--agent", "claude", "--label", "writer"])
        .trim()
        .to_string();
    let project = bob.project.display().to_string();
    let reviewer = bob
        .ok(&["new", "-d", "-s", "b", "--size", "200x50", "-c", &project, "--agent", "codex", "--label", "reviewer"])
        .trim()
        .to_string();
    alice.wait(&writer, "idle");
    bob.wait(&reviewer, "idle");
    wait_for("sbx's tools in Claude's list", || {
        alice.ok(&["agent", "prompt", "-t", &writer, "hello"]);
        alice.wait(&writer, "idle");
        let last = alice.stub.turns().into_iter().rfind(|t| t["kind"] == "claude");
        last.is_some_and(|t| t["body"].to_string().contains("mcp__sbx__bridge_send_message")).then_some(())
    });
    alice.ok(&["agent", "prompt", "-t", &writer, "tell bob about the flaky test"]);
    let mut confirmed = false;
    let got = wait_for("the message in Bob's reviewer's inbox", || {
        if !confirmed && alice.agent(&writer)["state"] == "waiting" {
            alice.ok(&["agent", "confirm", "-t", &writer]);
            confirmed = true;
        }
        let v: Value = serde_json::from_slice(&bob.run(&["msg", "inbox", "--as", "reviewer", "--json"]).stdout)
            .unwrap_or_default();
        v["messages"].as_array().and_then(|m| m.iter().find(|m| m["from"] == "alice/writer").cloned())
    });
    assert_eq!(got["kind"], "remote");

    // Codex's next request carries it, framed as a friend's (external) message.
    bob.ok(&["agent", "prompt", "-t", &reviewer, "anything new?"]);
    let request = wait_for("Codex's request with the inbox", || {
        bob.stub.turns().into_iter().filter(|t| t["kind"] == "codex").find(|t| {
            let body = t["body"].to_string();
            body.contains("sbx-inbox") && body.contains("token 9c1d2") && body.contains(r#"external=\"friend\""#)
        })
    });
    bob.wait(&reviewer, "idle");
    // The name Codex gives sbx's send tool, from the tools it offered the model.
    let tools = request["body"]["tools"].as_array().cloned().unwrap_or_default();
    // (Codex groups an MCP server's tools in a namespace: `mcp__sbx` holding `bridge_send_message`,
    // and the model calls it by both.)
    let namespace = tools
        .iter()
        .find(|t| {
            t["type"] == "namespace"
                && t["tools"].as_array().is_some_and(|inner| inner.iter().any(|i| i["name"] == "bridge_send_message"))
        })
        .and_then(|t| t["name"].as_str())
        .unwrap_or_else(|| panic!("no bridge_send_message among Codex's tools: {tools:?}"))
        .to_string();
    bob.stub.script(json!({
        "rules": [{"match": "answer alice", "reply": {"tool": {"name": "bridge_send_message", "namespace": namespace, "input": {
            "to": "", "subject": "re: the flaky test", "body": "fixed in 3e1f", "reply_to": got["id"]
        }}}}],
        "default": {"text": "Done."},
        "after_tool": {"text": "Answered."}
    }));
    bob.ok(&["agent", "prompt", "-t", &reviewer, "answer alice"]);
    let mut approved = false;
    let back = wait_for("Bob's answer at Alice's writer", || {
        if !approved && bob.agent(&reviewer)["state"] == "waiting" {
            bob.ok(&["agent", "confirm", "-t", &reviewer]);
            approved = true;
        }
        let v: Value =
            serde_json::from_slice(&alice.run(&["msg", "inbox", "--all", "--as", "writer", "--json"]).stdout)
                .unwrap_or_default();
        v["messages"].as_array().and_then(|m| m.iter().find(|m| m["subject"] == "re: the flaky test").cloned())
    });
    assert_eq!(back["from"], "bob/reviewer");
}

/// An agent lab's answer to a command with `--json`.
fn lab_json(lab: &common::agents::AgentLab, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&lab.ok(&a)).unwrap()
}

/// Until Bob's sbx has added Alice back, her message is refused before it is queued. Then
/// Bob's sbx tells her, sealed, the sessions he lets her see — none, one label, all, none
/// again — and `bridge_list_sessions` (`msg sessions`) lists them marked remote, with their
/// real agent and state; the relay holds none of it readable.
#[test]
fn a_friend_sees_only_the_sessions_they_are_let_see_and_only_a_friend_who_added_you_gets_mail() {
    use common::agents::AgentLab;
    let relay = relay::start(&["--rate-limit", "0", "--challenge-limit", "0"]);
    let alice = AgentLab::new().with_env("SBX_RELAY", &relay.url);
    let bob = AgentLab::new().with_env("SBX_RELAY", &relay.url);
    let bob_id = lab_json(&bob, &["id"])["echo_id"].as_str().unwrap().to_string();
    lab_json(&alice, &["id"]);
    alice.ok(&["friend", "add", "bob", &bob_id]);
    alice.ok(&["new", "-d", "-s", "a", "--label", "writer"]);
    let out = alice.run(&["msg", "send", "bob/user", "hello?", "--as", "writer"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not_mutual") && err.contains("sbx friend invite"), "refused with the next step: {err}");
    let heard = lab_json(&alice, &["friend", "sessions", "bob"]);
    assert_eq!(
        (heard["added_you_back"].clone(), heard["sessions"].clone()),
        (Value::Bool(false), serde_json::json!([]))
    );

    let invite = lab_json(&alice, &["friend", "invite"]);
    bob.ok(&["friend", "add", "alice", invite["invite"].as_str().unwrap()]);
    let project = bob.project.display().to_string();
    let mut panes = Vec::new();
    for label in ["reviewer", "private"] {
        let args = ["new", "-d", "-s", label, "-c", &project, "--agent", "codex", "--label", label];
        panes.push(bob.ok(&args).trim().to_string());
    }
    for pane in &panes {
        bob.wait(pane, "idle");
    }
    let sessions = |lab: &AgentLab| lab_json(lab, &["friend", "sessions", "bob"]);
    wait_for("Bob heard to have added Alice", || (sessions(&alice)["added_you_back"] == true).then_some(()));
    assert_eq!(sessions(&alice)["sessions"], serde_json::json!([]), "nothing seen unless Bob says so");

    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> =
            v["sessions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
        n.sort();
        n
    };
    bob.ok(&["friend", "presence", "alice", "reviewer"]);
    let seen = wait_for("bob/reviewer seen", || {
        let v = sessions(&alice);
        (names(&v) == ["bob/reviewer"]).then_some(v)
    });
    let s = &seen["sessions"][0];
    assert_eq!(
        (s["agent"].as_str(), s["state"].as_str(), s["remote"].as_bool()),
        (Some("codex"), Some("idle"), Some(true))
    );
    assert_eq!(seen["online"], true);
    // bridge_list_sessions is the same call: Alice's agents see bob/reviewer beside her own.
    let listed = lab_json(&alice, &["msg", "sessions"]);
    let remote: Vec<&Value> = listed["sessions"].as_array().unwrap().iter().filter(|s| s["remote"] == true).collect();
    assert_eq!(remote.len(), 1, "{listed}");
    assert_eq!((remote[0]["id"].as_str(), remote[0]["friend"].as_str()), (Some("bob/reviewer"), Some("bob")));

    bob.ok(&["friend", "presence", "alice", "--all"]);
    wait_for("both seen", || (names(&sessions(&alice)) == ["bob/private", "bob/reviewer"]).then_some(()));
    bob.ok(&["friend", "presence", "alice", "--none"]);
    wait_for("none seen", || names(&sessions(&alice)).is_empty().then_some(()));
    let listed = lab_json(&alice, &["msg", "sessions", "--all"]);
    assert!(!listed.to_string().contains("bob/"), "{listed}");
    // What crossed the relay was sealed: no label, agent or state in its database.
    let db = relay.db_bytes();
    for secret in ["reviewer", "private", "codex"] {
        assert!(!contains(&db, secret.as_bytes()), "{secret:?} is readable in the relay's database");
    }
    // And now a message goes.
    let sent = lab_json(&alice, &["msg", "send", "bob/reviewer", "hello", "--as", "writer"]);
    assert_eq!(sent["status"], "queued", "{sent}");
}

/// A send the sender heard "queued" survives the relay crashing: the letter the relay held
/// when it died is there when it comes back, the ones sent while it was down wait in the
/// outbox, and each arrives once.
#[test]
fn messages_survive_a_relay_crash_and_arrive_once() {
    let args = ["--rate-limit", "0", "--challenge-limit", "0"];
    let relay = relay::start(&args);
    let (alice, bob) = friends(&relay);
    alice.ok(&["new", "-d", "-s", "a", "--label", "writer"]);
    let status = |id: &Value| alice.json(&["msg", "read", &id.to_string(), "--as", "writer"])["status"].clone();
    // Bob's server is down: the first letter waits on the relay.
    kill(&bob);
    let held = alice.json(&["msg", "send", "bob/user", "held by the relay", "--as", "writer"])["id"].clone();
    wait_for("posted", || (status(&held) == "posted").then_some(()));
    let mut queued = Vec::new();
    let _relay = relay.crash_and_restart(&args, || {
        for i in 0..3 {
            let sent = alice.json(&["msg", "send", "bob/user", &format!("while down {i}"), "--as", "writer"]);
            assert_eq!(sent["status"], "queued", "{sent}");
            queued.push(sent["id"].clone());
        }
        // Nothing can be posted: they stay queued.
        assert!(queued.iter().all(|id| status(id) == "queued"));
    });
    bob.ok(&["new", "-d", "-s", "b"]);
    for subject in ["held by the relay", "while down 0", "while down 1", "while down 2"] {
        bob.wait_message("user", subject);
    }
    for id in queued.iter().chain([&held]) {
        wait_for("delivered", || (status(id) == "delivered").then_some(()));
    }
    assert_eq!(bob.messages("user"), 4, "each once");
}

/// Bob answers Alice's message from his TUI's inbox (C-b i, Enter, r): the reply goes back to
/// her machine and joins her thread.
#[test]
fn a_friends_message_is_answered_from_the_tui_inbox() {
    let relay = relay::start(&["--rate-limit", "0", "--challenge-limit", "0"]);
    let (alice, bob) = friends(&relay);
    alice.ok(&["new", "-d", "-s", "a", "--label", "writer"]);
    let sent =
        alice.json(&["msg", "send", "bob/user", "lunch at noon?", "--body", "the usual place", "--as", "writer"]);
    bob.ok(&["new", "-d", "-s", "work"]);
    bob.wait_message("user", "lunch at noon?");
    let tmux = Tmux::new("friend-reply");
    let env = format!("SBX_RELAY={} {}", relay.url, bob.sbx.env_prefix());
    tmux.start("outer", 150, 40, &format!("{env} {SBX} attach -t work"));
    tmux.wait_screen("outer", "─ %");
    tmux.send("outer", &["C-b", "i"]);
    tmux.wait_screen("outer", "Enter read");
    // The sidebar's view reaches the client a moment after the delivery: wait for the row.
    tmux.wait_screen("outer", "⇄ alice/writer lunch at noon?");
    tmux.send("outer", &["Enter"]);
    tmux.wait_screen("outer", "the usual place");
    let screen = tmux.capture("outer");
    assert!(screen.contains("alice/writer"), "the sender, marked as a friend's: {screen}");
    tmux.send("outer", &["r"]);
    tmux.send("outer", &["-l", "yes, see you there"]);
    tmux.send("outer", &["Enter"]);
    tmux.wait_screen("outer", "reply sent");
    let back = alice.wait_message("writer", "re: lunch at noon?");
    assert_eq!(back["from"], "bob/user");
    assert_eq!(back["thread"], sent["id"], "{back}");
    let full = alice.json(&["msg", "read", &back["id"].to_string(), "--as", "writer"]);
    assert_eq!(full["body"], "yes, see you there");
}

/// Kill a server the hard way (SIGKILL: no goodbye, no flush beyond what is on disk).
fn kill(who: &Person) {
    // A server started by a bridge call alone has no pane to find it by.
    if who.sbx.panes().is_empty() {
        who.ok(&["new", "-d", "-s", "kept"]);
    }
    let pid = who.sbx.server_pid();
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    wait_for("the server gone", || (!process_alive(pid)).then_some(()));
}

/// 1,000 messages while both servers are killed (SIGKILL) at moments picked at random: each
/// arrives once, and the sender sees each delivered.
#[test]
fn a_thousand_messages_through_kills_of_both_servers_arrive_once_each() {
    let relay = relay::start(&["--rate-limit", "0", "--challenge-limit", "0", "--mailbox-max-blobs", "0"]);
    let (alice, bob) = friends(&relay);
    alice.ok(&["new", "-d", "-s", "a"]);
    bob.ok(&["new", "-d", "-s", "b"]);
    const N: usize = 1000;
    // A small generator, seeded: the same moments every run, spread over the sends.
    let mut seed: u64 = 0x5bd1_e995;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let kills: std::collections::BTreeMap<usize, u64> =
        (0..8).map(|_| ((next() % N as u64) as usize, next() % 3)).collect();
    for i in 0..N {
        alice.ok(&["msg", "send", "bob/user", &format!("note {i:04}")]);
        let (a, b) = match kills.get(&i) {
            Some(0) => (true, false),
            Some(1) => (false, true),
            Some(_) => (true, true),
            None => (false, false),
        };
        // Each killed server is started again at once (a new session; the old one is restored).
        for (who, killed) in [(&alice, a), (&bob, b)] {
            if killed {
                kill(who);
                let out = who.run(&["new", "-d", "-s", &format!("after{i}")]);
                assert!(out.status.success(), "{}\nserver log:\n{}", String::from_utf8_lossy(&out.stderr), who.log());
            }
        }
    }
    // Alice hears each delivered (a receipt comes only from a first delivery) ...
    let delivered = "SELECT count(*) FROM outbox WHERE message > 0 AND delivered IS NOT NULL";
    // A thousand round trips take a while on a loaded machine: waited for while they move.
    let mut last = (String::new(), std::time::Instant::now());
    loop {
        let now = sql(&alice, delivered);
        if now == N.to_string() {
            break;
        }
        if now != last.0 {
            last = (now, std::time::Instant::now());
        }
        let held = sql(&bob, "SELECT count(*) FROM messages WHERE kind = 'remote'");
        let waiting = sql(&alice, "SELECT count(*) FROM outbox WHERE posted IS NULL");
        assert!(
            last.1.elapsed() < PATIENCE,
            "stuck at {} delivered; Bob holds {held}, Alice has {waiting} unposted",
            last.0
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // ... and Bob holds each exactly once.
    let at_bob = sql(&bob, "SELECT count(*), count(DISTINCT subject) FROM messages WHERE kind = 'remote'");
    assert_eq!(at_bob, format!("{N}|{N}"), "messages | distinct at Bob's");
    assert_eq!(sql(&bob, "SELECT min(subject) || ',' || max(subject) FROM messages"), "note 0000,note 0999");
}

/// One answer of SQLite over someone's bridge store (read beside the running server: WAL).
fn sql(who: &Person, query: &str) -> String {
    let db = who.sbx.home().join("data/bridge/bridge.db");
    let script = "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nprint('|'.join(str(v) for v in c.execute(sys.argv[2]).fetchone()))";
    let out = std::process::Command::new("python3").args(["-c", script]).arg(&db).arg(query).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
