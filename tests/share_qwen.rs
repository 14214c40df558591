//! Sharing a Qwen Code session: made by the real CLI in an sbx pane (stub model), listed by
//! `sbx sessions`, sealed to a friend through a real relay, opened byte for byte where Qwen
//! keeps chats for the friend's folder, and resumed there by the real `qwen --resume`.

mod common;

use std::process::{Command, Stdio};

use common::agents::{agents_bin, AgentLab};
use common::person::Person;
use common::relay;
use common::*;
use serde_json::Value;

#[test]
fn a_qwen_session_arrives_byte_identical_and_resumes_in_the_real_qwen() {
    let relay = relay::start(&["--rate-limit", "0", "--challenge-limit", "0"]);
    let lab = AgentLab::new().with_env("SBX_RELAY", &relay.url);
    let alice = Person::new(&relay);
    lab.stub.script(serde_json::json!({"default": {"text": "Noted: pelican."}}));

    // Bob (the lab) has a real Qwen session: one turn, then the agent is gone (its file is final).
    let project = lab.project.display().to_string();
    let pane = lab
        .ok(&["new", "-d", "--size", "150x45", "-c", &project, "--agent", "qwen", "--label", "qw"])
        .trim()
        .to_string();
    lab.wait(&pane, "idle");
    lab.ok(&["agent", "prompt", "-t", &pane, "remember the word pelican"]);
    lab.see_state(&pane, "working");
    lab.wait(&pane, "idle");
    let sid = lab.agent(&pane)["session_id"].as_str().unwrap().to_string();
    let slug = |dir: &std::path::Path| -> String {
        let real = std::fs::canonicalize(dir).unwrap();
        real.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
    };
    let sent = lab.sbx.home().join("qwen/projects").join(slug(&lab.project)).join("chats").join(format!("{sid}.jsonl"));
    wait_for("Qwen to record the turn", || {
        std::fs::read_to_string(&sent).ok().filter(|t| t.contains("Noted: pelican.")).map(|_| ())
    });
    lab.ok(&["kill", "-t", &pane]);
    let original = std::fs::read(&sent).unwrap();

    // Listed with its first prompt as the title.
    let list: Value = serde_json::from_str(&lab.ok(&["sessions", "--tool", "qwen", "--json"])).unwrap();
    let row = list.as_array().unwrap().iter().find(|s| s["id"] == sid.as_str()).expect("the session is listed");
    assert_eq!((row["tool"].as_str(), row["title"].as_str()), (Some("qwen"), Some("remember the word pelican")));
    assert_eq!(row["project"].as_str(), Some(std::fs::canonicalize(&lab.project).unwrap().to_str().unwrap()));

    // Friends both ways, then sealed to Alice and opened in a folder of hers.
    let bob_id: Value = serde_json::from_str(&lab.ok(&["id", "--json"])).unwrap();
    alice.ok(&["friend", "add", "bob", bob_id["echo_id"].as_str().unwrap()]);
    lab.ok(&["friend", "add", "alice", &alice.echo_id()]);
    lab.ok(&["send", "alice", &sid]);
    let inbox = alice.json(&["inbox"]);
    let rows = inbox.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{inbox}");
    assert_eq!((rows[0]["tool"].as_str(), rows[0]["verified"].as_bool()), (Some("qwen"), Some(true)));
    let blob = rows[0]["id"].as_str().unwrap().to_string();
    let theirs = alice.sbx.home().join("work");
    std::fs::create_dir_all(&theirs).unwrap();
    let opened = alice.json(&["open", &blob, "--dir", theirs.to_str().unwrap()]);
    assert!(opened["resume"].as_str().unwrap().ends_with(&format!("&& qwen --resume {sid}")), "{opened}");
    let got = alice.qwen().join("projects").join(slug(&theirs)).join("chats").join(format!("{sid}.jsonl"));
    assert!(std::fs::read(&got).unwrap() == original, "the chat arrived byte for byte at {}", got.display());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&got).unwrap().permissions().mode() & 0o777, 0o600);

    // The real Qwen resumes it from Alice's folder: its next request carries the old turn.
    std::fs::copy(lab.sbx.home().join("qwen/settings.json"), alice.qwen().join("settings.json")).unwrap();
    let env: Vec<_> = lab.command().get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))).collect();
    let out = Command::new("timeout")
        .arg("120")
        .arg(agents_bin().join("qwen"))
        .args(["--resume", &sid, "resume check for qwen"])
        .envs(env)
        .env("QWEN_HOME", alice.qwen())
        .current_dir(&theirs)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "qwen --resume: {}", String::from_utf8_lossy(&out.stderr));
    wait_for("Qwen's request with the old conversation", || {
        lab.stub
            .turns()
            .iter()
            .any(|t| {
                let b = t["body"].to_string();
                b.contains("resume check for qwen") && b.contains("remember the word pelican")
            })
            .then_some(())
    });
}
