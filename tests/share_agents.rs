//! Sharing the sessions of agents other than Claude Code and Codex (`tests/share.rs`): each
//! made by the real CLI in an sbx pane (stub model), listed by `sbx sessions`, sealed to a
//! friend through a real relay, opened byte for byte where the agent keeps chats for the
//! friend's folder, and resumed there by the real CLI's own `--resume`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::agents::{agents_bin, AgentLab};
use common::person::Person;
use common::relay;
use common::*;
use serde_json::Value;

/// One agent's side of the story: where its chats are, and how it resumes one headless.
struct Agent {
    name: &'static str,
    /// The chat file of session `id` for `dir`, below an agent home (`home` is the folder the
    /// agent's variable names: `QWEN_HOME`, `GEMINI_CLI_HOME`).
    chat: fn(home: &Path, dir: &Path, id: &str) -> Option<PathBuf>,
    /// The agent's home variable and its settings file inside it (copied to the friend: the
    /// stub as provider).
    home_var: &'static str,
    settings: &'static str,
    /// The arguments that resume `id` and send one prompt, headless.
    resume: fn(id: &str, prompt: &str) -> Vec<String>,
}

fn canonical_slug(dir: &Path) -> String {
    let real = std::fs::canonicalize(dir).unwrap();
    real.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

const QWEN: Agent = Agent {
    name: "qwen",
    chat: |home, dir, id| {
        Some(home.join("projects").join(canonical_slug(dir)).join("chats").join(format!("{id}.jsonl")))
    },
    home_var: "QWEN_HOME",
    settings: "settings.json",
    resume: |id, prompt| vec!["--resume".into(), id.into(), prompt.into()],
};

/// Gemini's project folder for `dir` is whichever one its `.project_root` names `dir`.
const GEMINI: Agent = Agent {
    name: "gemini",
    chat: |home, dir, id| {
        let real = std::fs::canonicalize(dir).unwrap().display().to_string();
        let tmp = home.join(".gemini/tmp");
        let project = std::fs::read_dir(&tmp)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| std::fs::read_to_string(p.join(".project_root")).is_ok_and(|owner| owner.trim() == real))?;
        let suffix = format!("-{}.jsonl", &id[..8]);
        let chats = std::fs::read_dir(project.join("chats")).ok()?;
        chats.flatten().map(|e| e.path()).find(|p| p.file_name().unwrap().to_string_lossy().ends_with(&suffix))
    },
    home_var: "GEMINI_CLI_HOME",
    settings: ".gemini/settings.json",
    resume: |id, prompt| vec!["--resume".into(), id.into(), "-p".into(), prompt.into()],
};

/// Close an agent's pane and wait until its process is gone: an agent may write its record
/// once more as it exits, and what is compared must be what is sent.
fn end_agent(lab: &AgentLab, pane: &str) {
    let listed = lab.sbx.panes().into_iter().find(|p| p["id"] == pane).expect("the pane is listed");
    let pid = listed["pid"].as_u64().expect("the pane's pid");
    lab.ok(&["kill", "-t", pane]);
    wait_for("the agent's process to end", || (!Path::new(&format!("/proc/{pid}")).exists()).then_some(()));
}

fn arrives_byte_identical_and_resumes(agent: &Agent) {
    let relay = relay::start(&["--rate-limit", "0", "--challenge-limit", "0"]);
    let lab = AgentLab::new().with_env("SBX_RELAY", &relay.url);
    let alice = Person::new(&relay);
    lab.stub.script(serde_json::json!({"default": {"text": "Noted: pelican."}}));
    let bob_home = lab.sbx.home().join(agent.name);
    let alice_home = alice.sbx.home().join(agent.name);

    // Bob (the lab) has a real session: one turn, then the agent is gone (its file is final).
    let project = lab.project.display().to_string();
    let pane = lab
        .ok(&["new", "-d", "--size", "150x45", "-c", &project, "--agent", agent.name, "--label", "ag"])
        .trim()
        .to_string();
    lab.wait(&pane, "idle");
    lab.ok(&["agent", "prompt", "-t", &pane, "remember the word pelican"]);
    lab.see_state(&pane, "working");
    lab.wait(&pane, "idle");
    let sid = lab.agent(&pane)["session_id"].as_str().unwrap().to_string();
    let sent = wait_for("the agent to record the turn", || {
        let path = (agent.chat)(&bob_home, &lab.project, &sid)?;
        std::fs::read_to_string(&path).ok().filter(|t| t.contains("Noted: pelican.")).map(|_| path)
    });
    end_agent(&lab, &pane);
    let original = std::fs::read(&sent).unwrap();

    // Listed with its first prompt as the title and the folder it ran in.
    let list: Value = serde_json::from_str(&lab.ok(&["sessions", "--tool", agent.name, "--json"])).unwrap();
    let row = list.as_array().unwrap().iter().find(|s| s["id"] == sid.as_str()).expect("the session is listed");
    assert_eq!((row["tool"].as_str(), row["title"].as_str()), (Some(agent.name), Some("remember the word pelican")));
    assert_eq!(row["project"].as_str(), Some(std::fs::canonicalize(&lab.project).unwrap().to_str().unwrap()));

    // Friends both ways, then sealed to Alice and opened in a folder of hers.
    let bob_id: Value = serde_json::from_str(&lab.ok(&["id", "--json"])).unwrap();
    alice.ok(&["friend", "add", "bob", bob_id["echo_id"].as_str().unwrap()]);
    lab.ok(&["friend", "add", "alice", &alice.echo_id()]);
    lab.ok(&["send", "alice", &sid]);
    let inbox = alice.json(&["inbox"]);
    let rows = inbox.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{inbox}");
    assert_eq!((rows[0]["tool"].as_str(), rows[0]["verified"].as_bool()), (Some(agent.name), Some(true)));
    let blob = rows[0]["id"].as_str().unwrap().to_string();
    let theirs = alice.sbx.home().join("work");
    std::fs::create_dir_all(&theirs).unwrap();
    let opened = alice.json(&["open", &blob, "--dir", theirs.to_str().unwrap()]);
    let resume = format!("&& {} --resume {sid}", agent.name);
    assert!(opened["resume"].as_str().unwrap().ends_with(&resume), "{opened}");
    let got = (agent.chat)(&alice_home, &theirs, &sid).expect("the chat is where the agent looks for the folder");
    assert!(std::fs::read(&got).unwrap() == original, "the chat arrived byte for byte at {}", got.display());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&got).unwrap().permissions().mode() & 0o777, 0o600);

    // The real agent resumes it from Alice's folder: its next request carries the old turn.
    let settings = alice_home.join(agent.settings);
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::copy(bob_home.join(agent.settings), settings).unwrap();
    let env: Vec<_> = lab.command().get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))).collect();
    let out = Command::new("timeout")
        .arg("120")
        .arg(agents_bin().join(agent.name))
        .args((agent.resume)(&sid, &format!("resume check for {}", agent.name)))
        .envs(env)
        .env(agent.home_var, &alice_home)
        .current_dir(&theirs)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{} --resume: {}", agent.name, String::from_utf8_lossy(&out.stderr));
    wait_for("the agent's request with the old conversation", || {
        lab.stub
            .turns()
            .iter()
            .any(|t| {
                let b = t["body"].to_string();
                b.contains(&format!("resume check for {}", agent.name)) && b.contains("remember the word pelican")
            })
            .then_some(())
    });
}

#[test]
fn a_qwen_session_arrives_byte_identical_and_resumes_in_the_real_qwen() {
    arrives_byte_identical_and_resumes(&QWEN);
}

/// Gemini names its chat folders by a registry of its own, which sbx leaves alone: the folder
/// Alice opens into is new to her Gemini, so sbx claims it a name by a `.project_root` marker.
#[test]
fn a_gemini_session_arrives_byte_identical_and_resumes_in_the_real_gemini() {
    arrives_byte_identical_and_resumes(&GEMINI);
}

/// Alice and Bob, friends both ways, each an sbx with the real agents and a stub of their own;
/// Alice has had one turn with `agent` in a pane. The relay lives as long as they do.
struct Friends {
    _relay: relay::Relay,
    alice: AgentLab,
    bob: AgentLab,
    /// Alice's pane, still running: the caller ends it once the agent's record is final.
    pane: String,
    sid: String,
}

fn friends_after_a_turn_with(agent: &str) -> Friends {
    let relay = relay::start(&["--rate-limit", "0", "--challenge-limit", "0"]);
    let alice = AgentLab::new().with_env("SBX_RELAY", &relay.url);
    let bob = AgentLab::new().with_env("SBX_RELAY", &relay.url);
    for lab in [&alice, &bob] {
        lab.stub.script(serde_json::json!({"default": {"text": "Noted: pelican."}}));
    }
    let project = alice.project.display().to_string();
    let pane = alice.ok(&["new", "-d", "--size", "150x45", "-c", &project, "--agent", agent]).trim().to_string();
    alice.wait(&pane, "idle");
    alice.prompt_turn(&pane, "remember the word pelican");
    alice.wait(&pane, "idle");
    let sid = alice.agent(&pane)["session_id"].as_str().expect("the agent's session id").to_string();
    let id = |lab: &AgentLab| -> String {
        let v: Value = serde_json::from_str(&lab.ok(&["id", "--json"])).unwrap();
        v["echo_id"].as_str().unwrap().to_string()
    };
    alice.ok(&["friend", "add", "bob", &id(&bob)]);
    bob.ok(&["friend", "add", "alice", &id(&alice)]);
    Friends { _relay: relay, alice, bob, pane, sid }
}

impl Friends {
    /// Alice's session as `sbx sessions` lists it.
    fn listed(&self, agent: &str) -> Value {
        let list: Value = serde_json::from_str(&self.alice.ok(&["sessions", "--tool", agent, "--json"])).unwrap();
        let row =
            list.as_array().unwrap().iter().find(|s| s["id"] == self.sid.as_str()).expect("the session is listed");
        assert_eq!(row["tool"], agent);
        let project = std::fs::canonicalize(row["project"].as_str().unwrap()).unwrap();
        assert_eq!(project, std::fs::canonicalize(&self.alice.project).unwrap());
        row.clone()
    }

    /// Bob's own agent resumes the session in a tracked pane in `dir`: his model gets Alice's
    /// turn with his prompt.
    fn bob_resumes(&self, agent: &str, dir: &Path) {
        let (bob, sid) = (&self.bob, &self.sid);
        let dir = dir.to_str().unwrap();
        let resumed =
            bob.ok(&["new", "-d", "--size", "150x45", "-c", dir, "--agent", agent, "--resume", sid]).trim().to_string();
        assert_eq!(bob.agent(&resumed)["session_id"].as_str(), Some(sid.as_str()));
        bob.wait(&resumed, "idle");
        bob.prompt_turn(&resumed, "which word was it");
        wait_for("Bob's model asked with Alice's conversation", || {
            bob.stub
                .turns()
                .iter()
                .any(|t| {
                    let body = t["body"].to_string();
                    body.contains("which word was it") && body.contains("remember the word pelican")
                })
                .then_some(())
        });
    }
}

/// Cline keeps a session as a folder: its messages, sent byte for byte, and a manifest naming
/// the folders it lives in, which the receiver's sbx makes hers. Bob resumes it in a tracked
/// pane of his own sbx (`--resume`, Cline's `--id`), in his folder, and his model is asked with
/// Alice's conversation.
#[test]
fn a_cline_session_arrives_with_its_messages_byte_identical_and_resumes_in_the_real_cline() {
    let friends = friends_after_a_turn_with("cline");
    let (alice, bob, sid) = (&friends.alice, &friends.bob, &friends.sid);
    let sessions = |lab: &AgentLab| lab.sbx.home().join("cline/data/sessions");
    let messages = |lab: &AgentLab| sessions(lab).join(sid).join(format!("{sid}.messages.json"));
    wait_for("Cline to record the turn", || {
        std::fs::read_to_string(messages(alice)).ok().filter(|t| t.contains("Noted: pelican.")).map(|_| ())
    });
    end_agent(alice, &friends.pane);
    let original = std::fs::read(messages(alice)).unwrap();
    assert_eq!(friends.listed("cline")["title"], "remember the word pelican");

    alice.ok(&["send", "bob", sid]);
    let inbox: Value = serde_json::from_str(&bob.ok(&["inbox", "--json"])).unwrap();
    let rows = inbox.as_array().unwrap();
    assert_eq!((rows.len(), rows[0]["tool"].as_str()), (1, Some("cline")), "{inbox}");
    let theirs = bob.sbx.home().join("work");
    std::fs::create_dir_all(&theirs).unwrap();
    let blob = rows[0]["id"].as_str().unwrap();
    let opened: Value =
        serde_json::from_str(&bob.ok(&["open", blob, "--dir", theirs.to_str().unwrap(), "--json"])).unwrap();
    assert!(opened["resume"].as_str().unwrap().ends_with(&format!("&& cline --id {sid}")), "{opened}");
    assert!(std::fs::read(messages(bob)).unwrap() == original, "the messages arrived byte for byte");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(sessions(bob).join(sid).join(format!("{sid}.json"))).unwrap()).unwrap();
    let here = std::fs::canonicalize(&theirs).unwrap().display().to_string();
    assert_eq!((manifest["cwd"].as_str(), manifest["workspace_root"].as_str()), (Some(&*here), Some(&*here)));
    assert_eq!(manifest["messages_path"].as_str(), Some(messages(bob).to_str().unwrap()));
    assert_eq!(manifest["metadata"]["title"], "remember the word pelican", "the rest as Cline wrote it");
    use std::os::unix::fs::PermissionsExt;
    for f in [messages(bob), sessions(bob).join(sid).join(format!("{sid}.json"))] {
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600, "{}", f.display());
    }
    assert_eq!(std::fs::metadata(sessions(bob).join(sid)).unwrap().permissions().mode() & 0o777, 0o700);
    friends.bob_resumes("cline", &theirs);
}

/// The rows of session `sid` in an opencode database: its messages and parts, each id with its
/// data as opencode stores it (JSON, compared as values: an import writes the same fields in
/// its own order).
type Rows = (Vec<(String, Value)>, Vec<(String, String, Value)>);

fn opencode_rows(lab: &AgentLab, sid: &str) -> Rows {
    let path = lab.sbx.home().join(".local/share/opencode/opencode.db");
    let db = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let json = |s: String| serde_json::from_str::<Value>(&s).unwrap();
    let mut q = db.prepare("SELECT id, data FROM message WHERE session_id = ?1 ORDER BY id").unwrap();
    let messages = q.query_map([sid], |r| Ok((r.get(0)?, json(r.get(1)?)))).unwrap().map(Result::unwrap).collect();
    let mut q = db.prepare("SELECT id, message_id, data FROM part WHERE session_id = ?1 ORDER BY id").unwrap();
    let parts =
        q.query_map([sid], |r| Ok((r.get(0)?, r.get(1)?, json(r.get(2)?)))).unwrap().map(Result::unwrap).collect();
    (messages, parts)
}

/// opencode keeps sessions as rows of its database: a share carries its own export (made by
/// the sender's opencode at `sbx send`), and the receiver's opencode imports it for the folder
/// it is opened into, every message and part as the sender had them. Bob resumes it in a
/// tracked pane (`--resume`, opencode's `--session`) and his model gets Alice's conversation.
#[test]
fn an_opencode_session_arrives_whole_and_resumes_in_the_real_opencode() {
    let friends = friends_after_a_turn_with("opencode");
    let (alice, bob, sid) = (&friends.alice, &friends.bob, &friends.sid);
    end_agent(alice, &friends.pane);
    let (messages, parts) = opencode_rows(alice, sid);
    assert!(messages.len() >= 2 && !parts.is_empty(), "the turn is in Alice's database: {messages:?}");
    assert!(!friends.listed("opencode")["title"].as_str().unwrap().is_empty());

    alice.ok(&["send", "bob", sid]);
    alice.ok(&["send", "bob", sid]);
    let inbox: Value = serde_json::from_str(&bob.ok(&["inbox", "--json"])).unwrap();
    let rows = inbox.as_array().unwrap();
    assert_eq!((rows.len(), rows[0]["tool"].as_str()), (2, Some("opencode")), "{inbox}");
    let theirs = bob.sbx.home().join("work");
    std::fs::create_dir_all(&theirs).unwrap();
    let open = |blob: &str| bob.run(&["open", blob, "--dir", theirs.to_str().unwrap(), "--json"]);
    let out = open(rows[0]["id"].as_str().unwrap());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let opened: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(opened["resume"].as_str().unwrap().ends_with(&format!("&& opencode --session {sid}")), "{opened}");
    assert_eq!(opencode_rows(bob, sid), (messages, parts), "every message and part as Alice had them");
    // The same session again: refused, Bob's copy untouched, the envelope still in his inbox.
    let again = open(rows[1]["id"].as_str().unwrap());
    assert!(!again.status.success());
    let said = format!("{}{}", String::from_utf8_lossy(&again.stdout), String::from_utf8_lossy(&again.stderr));
    assert!(said.contains("already has session"), "{said}");

    friends.bob_resumes("opencode", &theirs);
    let inbox: Value = serde_json::from_str(&bob.ok(&["inbox", "--json"])).unwrap();
    assert_eq!(inbox.as_array().unwrap().len(), 1, "the refused one is kept: {inbox}");
}
