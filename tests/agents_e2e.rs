//! Claude Code and Codex, the real CLIs, in sbx panes against a model API stub.

mod common;

use common::agents::*;
use common::*;
use serde_json::json;

#[test]
fn claude_idle_working_idle_and_a_confirmed_permission() {
    let lab = AgentLab::new();
    lab.stub.script(json!({
        "rules": [
            {"match": "take your time", "reply": {"text": "Thinking it over.", "delay": 4}},
            {"match": "make a file", "reply": {"text": "Creating it.", "tool": {"name": "Bash", "input": {"command": "touch made-by-claude", "description": "Create a file"}}}},
            {"match": "one more", "reply": {"tool": {"name": "Bash", "input": {"command": "touch chosen-by-number", "description": "Another"}}}}
        ],
        "default": {"text": "Hello from the stub."},
        "after_tool": {"text": "Done."}
    }));
    let project = lab.project.display().to_string();
    let pane =
        lab.ok(&["new", "-d", "-s", "c", "--size", "160x50", "-c", &project, "--agent", "claude"]).trim().to_string();
    lab.wait(&pane, "idle");
    let agent = lab.agent(&pane);
    assert_eq!(agent["kind"], "claude");
    let sid = agent["session_id"].as_str().expect("sbx chose the session id").to_string();
    assert_eq!(sid.len(), 36);

    // A slow answer: the agent is seen working, then idle again; the stub got the prompt.
    lab.ok(&["agent", "prompt", "-t", &pane, "please take your time"]);
    lab.see_state(&pane, "working");
    let refused = lab.run(&["agent", "prompt", "-t", &pane, "another one"]);
    assert_eq!(refused.status.code(), Some(1), "no prompt while working");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--queue"));
    lab.wait(&pane, "idle");
    wait_for("the stub to log the prompt", || lab.stub.saw_prompt("please take your time").then_some(()));
    assert!(!lab.stub.saw_prompt("another one"));
    // The Stop hook can come a moment before the last words are drawn.
    lab.sbx.wait_capture(&pane, "Thinking it over.");

    // A tool call needing permission: waiting (with the tool), confirmed, the tool ran.
    lab.ok(&["agent", "prompt", "-t", &pane, "make a file please"]);
    lab.wait(&pane, "waiting");
    let agent = lab.agent(&pane);
    assert_eq!((agent["reason"].as_str(), agent["tool"].as_str()), (Some("permission"), Some("Bash")));
    lab.ok(&["agent", "confirm", "-t", &pane]);
    lab.wait(&pane, "idle");
    assert!(lab.project.join("made-by-claude").exists(), "the confirmed command ran");
    // Answering by option number: 1 is "Yes".
    lab.ok(&["agent", "prompt", "-t", &pane, "one more file"]);
    lab.wait(&pane, "waiting");
    lab.ok(&["agent", "select", "-t", &pane, "1"]);
    lab.wait(&pane, "idle");
    assert!(lab.project.join("chosen-by-number").exists(), "option 1 ran the command");
    assert_eq!(lab.agent(&pane)["session_id"], sid.as_str());
    // Its transcript is where Claude keeps it, under the id sbx chose.
    let slug: String = project.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    assert!(lab.sbx.home().join("claude/projects").join(slug).join(format!("{sid}.jsonl")).exists());
}

#[test]
fn claude_cancel_and_a_queued_prompt() {
    let lab = AgentLab::new();
    lab.stub.script(json!({
        "rules": [
            {"match": "remove things", "reply": {"tool": {"name": "Bash", "input": {"command": "touch should-not-exist", "description": "x"}}}},
            {"match": "slowly", "reply": {"text": "Slow answer.", "delay": 3}}
        ],
        "default": {"text": "Queued answer."}
    }));
    let project = lab.project.display().to_string();
    let pane = lab.ok(&["new", "-d", "--size", "160x50", "-c", &project, "--agent", "claude"]).trim().to_string();
    lab.wait(&pane, "idle");
    lab.ok(&["agent", "prompt", "-t", &pane, "remove things"]);
    lab.wait(&pane, "waiting");
    lab.ok(&["agent", "cancel", "-t", &pane]);
    lab.wait(&pane, "idle");
    assert!(!lab.project.join("should-not-exist").exists());

    lab.ok(&["agent", "prompt", "-t", &pane, "answer slowly"]);
    lab.see_state(&pane, "working");
    let out = lab.ok(&["agent", "prompt", "-t", &pane, "--queue", "--json", "the queued question"]);
    assert!(out.contains("queued"));
    wait_for("the queued prompt to reach the model", || lab.stub.saw_prompt("the queued question").then_some(()));
    lab.wait(&pane, "idle");
}

#[test]
fn codex_idle_working_idle_and_a_confirmed_permission() {
    let lab = AgentLab::new();
    lab.stub.script(json!({
        "rules": [
            {"match": "take your time", "reply": {"text": "Pondering.", "delay": 4}},
            {"match": "make a file", "reply": {"tool": {"name": "exec_command", "input": {"cmd": "touch made-by-codex", "sandbox_permissions": "require_escalated", "justification": "Create the file?"}}}}
        ],
        "default": {"text": "Hello from the stub."},
        "after_tool": {"text": "Done."}
    }));
    let project = lab.project.display().to_string();
    let pane = lab.ok(&["new", "-d", "--size", "160x50", "-c", &project, "--agent", "codex"]).trim().to_string();
    // Codex reports nothing before its first prompt: its screen says when it is ready.
    lab.wait(&pane, "idle");
    lab.ok(&["agent", "prompt", "-t", &pane, "please take your time"]);
    lab.see_state(&pane, "working");
    lab.wait(&pane, "idle");
    wait_for("the stub to log the prompt", || lab.stub.saw_prompt("please take your time").then_some(()));
    let sid = lab.agent(&pane)["session_id"].as_str().expect("the hooks told sbx the session id").to_string();
    assert_eq!(sid.len(), 36);

    lab.ok(&["agent", "prompt", "-t", &pane, "make a file please"]);
    lab.wait(&pane, "waiting");
    assert_eq!(lab.agent(&pane)["tool"], "Bash");
    lab.ok(&["agent", "confirm", "-t", &pane]);
    lab.wait(&pane, "idle");
    assert!(lab.project.join("made-by-codex").exists(), "the approved command ran");
    // Its rollout is where Codex keeps it.
    let found = walk(&lab.sbx.home().join("codex/sessions"))
        .into_iter()
        .any(|p| p.to_string_lossy().ends_with(&format!("{sid}.jsonl")));
    assert!(found, "rollout for {sid}");
}

#[test]
fn the_pair_layout_runs_claude_and_codex_side_by_side() {
    let lab = AgentLab::new();
    let project = lab.project.display().to_string();
    lab.ok(&["new", "-d", "-s", "pair", "--size", "200x50", "--layout", "pair", "-c", &project]);
    let panes = lab.sbx.panes();
    assert_eq!(panes.len(), 2);
    assert_eq!(panes[0]["agent"]["kind"], "claude");
    assert_eq!(panes[1]["agent"]["kind"], "codex");
    assert_eq!(panes[0]["cwd"], project.as_str());
    assert_eq!(panes[1]["cwd"], project.as_str());
    assert!(panes[0]["cols"].as_u64().unwrap() > 90 && panes[1]["cols"].as_u64().unwrap() > 90);
    lab.wait(panes[0]["id"].as_str().unwrap(), "idle");
    lab.wait(panes[1]["id"].as_str().unwrap(), "idle");
}

#[test]
fn a_waiting_agent_rings_the_client_and_a_chord_opens_another() {
    let lab = AgentLab::new();
    lab.stub.script(json!({
        "rules": [{"match": "make a file", "reply": {"tool": {"name": "Bash", "input": {"command": "touch nope", "description": "x"}}}}],
        "default": {"text": "Hello from the stub."}
    }));
    let project = lab.project.display().to_string();
    let pane =
        lab.ok(&["new", "-d", "-s", "c", "--size", "160x50", "-c", &project, "--agent", "claude"]).trim().to_string();
    lab.wait(&pane, "idle");
    let tmux = Tmux::new("agentbell");
    tmux.start("outer", 160, 50, &format!("{} {} attach -t c", lab.env_prefix(), SBX));
    let raw = lab.sbx.home().join("client-output.bin");
    tmux.ok(&["pipe-pane", "-o", "-t", "outer", &format!("cat >> '{}'", raw.display())]);
    let screen = tmux.wait_screen("outer", "[claude idle]");
    assert!(screen.contains("%1"), "{screen}");

    lab.ok(&["agent", "prompt", "-t", &pane, "make a file please"]);
    lab.wait(&pane, "waiting");
    // The title bar shows what is about to run, not only the tool's name; so does the notice.
    tmux.wait_screen("outer", "[claude waiting: Bash: touch nope]");
    assert_eq!(lab.agent(&pane)["tool_input"]["command"], "touch nope", "sbx ls --json carries the input");
    let bytes = wait_for("the notification to reach the client", || {
        let bytes = std::fs::read(&raw).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        text.contains("\x1b]9;sbx: claude in %1 waits for permission (Bash: touch nope)\x07").then_some(bytes)
    });
    assert!(bytes.windows(2).any(|w| w[0] == 0x07 && w[1] == 0x1b), "a bell before the notification");
    lab.ok(&["agent", "cancel", "-t", &pane]);
    lab.wait(&pane, "idle");

    // Prefix a: a new Claude pane beside the focused one.
    tmux.send("outer", &["C-b", "a"]);
    let second = wait_for("a second agent pane", || {
        let panes = lab.sbx.panes();
        (panes.len() == 2).then(|| panes[1]["id"].as_str().unwrap().to_string())
    });
    assert_eq!(lab.agent(&second)["kind"], "claude");
    lab.wait(&second, "idle");
}

/// A lab whose stub answers "who am i" with a call to bridge_whoami, and a Claude pane
/// labelled alice that has sbx's tools in its list (Claude connects its MCP servers in the
/// background: ask until the model sees them).
fn whoami_lab() -> (AgentLab, String) {
    let lab = AgentLab::new();
    lab.stub.script(json!({
        "rules": [{"match": "who am i", "reply": {"tool": {"name": "mcp__sbx__bridge_whoami", "input": {}}}}],
        "default": {"text": "Hello."},
        "after_tool": {"text": "Noted."}
    }));
    let project = lab.project.display().to_string();
    let pane = lab
        .ok(&["new", "-d", "--size", "200x50", "-c", &project, "--agent", "claude", "--label", "alice"])
        .trim()
        .to_string();
    lab.wait(&pane, "idle");
    wait_for("sbx's tools in Claude's list", || {
        lab.ok(&["agent", "prompt", "-t", &pane, "hello"]);
        lab.wait(&pane, "idle");
        lab.stub.turns().last().is_some_and(|t| t["body"].to_string().contains("mcp__sbx__bridge_whoami")).then_some(())
    });
    (lab, pane)
}

#[test]
fn claude_reaches_sbx_over_mcp() {
    let (lab, pane) = whoami_lab();
    whoami_reaches_the_model(&lab, &pane, "alice");
}

#[test]
fn interrupted_turns_come_back_to_idle_without_a_hook() {
    // Neither agent fires a hook when the user presses Esc mid-turn; sbx reads the transcript.
    let lab = AgentLab::new();
    lab.stub.script(json!({"default": {"text": "A very slow answer.", "delay": 30}}));
    let project = lab.project.display().to_string();
    let codex = lab.ok(&["new", "-d", "--size", "200x50", "-c", &project, "--agent", "codex"]).trim().to_string();
    let claude = lab.ok(&["split", "-t", &codex, "--agent", "claude"]).trim().to_string();
    for (n, pane) in [&codex, &claude].into_iter().enumerate() {
        lab.wait(pane, "idle");
        lab.ok(&["agent", "prompt", "-t", pane, "go slowly"]);
        lab.see_state(pane, "working");
        // Let the turn get under way before the user interrupts it.
        wait_for("the request to reach the model", || (lab.stub.turns().len() > n).then_some(()));
        // The agent says Esc interrupts the turn once it is ready to take it (both draw this).
        lab.sbx.wait_capture(pane, "esc to interrupt");
        lab.ok(&["send-keys", "-t", pane, "--key", "Esc"]);
        let out = lab.run(&["agent", "wait", "-t", pane, "--until", "idle", "--timeout", "20"]);
        assert!(out.status.success(), "{}: {}\n{}", pane, String::from_utf8_lossy(&out.stderr), lab.why(pane));
    }
}

#[test]
fn an_agent_started_by_hand_after_init_becomes_an_agent_pane() {
    let lab = AgentLab::new();
    lab.stub.script(json!({"default": {"text": "Hello by hand."}}));
    lab.ok(&["init", "--provider", "claude"]);
    let project = lab.project.display().to_string();
    let pane = lab
        .ok(&["new", "-d", "--size", "160x50", "-c", &project, "--", "bash", "--norc", "--noprofile"])
        .trim()
        .to_string();
    assert!(lab.agent(&pane).is_null(), "a shell pane is not an agent pane");
    lab.ok(&["send-keys", "-t", &pane, "--enter", "claude"]);
    // Its first hook (SessionStart) makes it an agent pane.
    wait_for("the pane to become an agent pane", || (lab.agent(&pane)["kind"] == "claude").then_some(()));
    lab.wait(&pane, "idle");
    lab.ok(&["agent", "prompt", "-t", &pane, "hi there"]);
    lab.wait(&pane, "idle");
    wait_for("the prompt at the model", || lab.stub.saw_prompt("hi there").then_some(()));
    assert_eq!(lab.agent(&pane)["session_id"].as_str().map(str::len), Some(36), "the hooks gave the session id");
}

#[test]
fn claude_messages_codex_and_codex_sees_it_before_its_next_turn() {
    let lab = AgentLab::new();
    lab.stub.script(json!({
        "rules": [{"match": "tell codex", "reply": {"tool": {"name": "mcp__sbx__bridge_send_message", "input": {
            "to": "cx", "subject": "from claude", "body": "the flaky test is tests/net.rs line 88 (token 7f3a9)"
        }}}}],
        "default": {"text": "Hello."},
        "after_tool": {"text": "Sent."}
    }));
    let project = lab.project.display().to_string();
    let claude = lab
        .ok(&["new", "-d", "-s", "duo", "--size", "200x50", "-c", &project, "--agent", "claude", "--label", "cl"])
        .trim()
        .to_string();
    let codex = lab.ok(&["split", "-t", &claude, "-c", &project, "--agent", "codex"]).trim().to_string();
    lab.ok(&["label", "-t", &codex, "cx"]);
    lab.wait(&claude, "idle");
    lab.wait(&codex, "idle");
    wait_for("sbx's tools in Claude's list", || {
        lab.ok(&["agent", "prompt", "-t", &claude, "hello"]);
        lab.wait(&claude, "idle");
        let last = lab.stub.turns().into_iter().rfind(|t| t["kind"] == "claude");
        last.is_some_and(|t| t["body"].to_string().contains("mcp__sbx__bridge_send_message")).then_some(())
    });
    lab.ok(&["agent", "prompt", "-t", &claude, "tell codex about the flaky test"]);
    let mut confirmed = false;
    wait_for("the message in Codex's inbox", || {
        if !confirmed && lab.agent(&claude)["state"] == "waiting" {
            lab.ok(&["agent", "confirm", "-t", &claude]);
            confirmed = true;
        }
        let out = lab.run(&["msg", "inbox", "--as", "cx", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["messages"].as_array().is_some_and(|m| m.iter().any(|m| m["from"] == "cl")).then_some(())
    });
    lab.wait(&claude, "idle");
    // Codex's next model request carries the block, framed, with the body.
    lab.ok(&["agent", "prompt", "-t", &codex, "anything new?"]);
    wait_for("Codex's request with the inbox", || {
        lab.stub
            .turns()
            .iter()
            .filter(|t| t["kind"] == "codex")
            .any(|t| {
                let body = t["body"].to_string();
                body.contains("sbx-inbox") && body.contains("token 7f3a9") && body.contains("from claude")
            })
            .then_some(())
    });
    lab.wait(&codex, "idle");
    // Delivered once: read now, and the next turn does not repeat it.
    let v: serde_json::Value = serde_json::from_str(&lab.ok(&["msg", "inbox", "--as", "cx", "--json"])).unwrap();
    assert!(v["messages"].as_array().unwrap().is_empty(), "{v}");
}

#[test]
fn with_notify_idle_a_message_starts_an_idle_agents_turn() {
    let lab = AgentLab::new();
    let config = lab.sbx.home().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), "[bridge]\nnotify_idle = true\n").unwrap();
    lab.stub.script(json!({"default": {"text": "Read it."}}));
    let project = lab.project.display().to_string();
    let pane = lab
        .ok(&["new", "-d", "--size", "160x50", "-c", &project, "--agent", "claude", "--label", "idler"])
        .trim()
        .to_string();
    lab.wait(&pane, "idle");
    lab.ok(&["msg", "send", "idler", "lunch at noon", "--body", "bring the 4c2e notes"]);
    // The notice is typed and submitted; the prompt hook adds the message itself.
    wait_for("the notice and the message at the model", || {
        lab.stub
            .turns()
            .iter()
            .any(|t| {
                let body = t["body"].to_string();
                body.contains("[sbx] new message from user") && body.contains("bring the 4c2e notes")
            })
            .then_some(())
    });
    lab.wait(&pane, "idle");
}

/// `sbx new --agent claude|codex --resume ID` starts a tracked agent pane on a finished
/// session (Claude Code's `--resume`, no `--session-id` beside it; Codex's `resume`): the pane
/// knows the session, reports idle, and the earlier conversation reaches the model.
#[test]
fn agents_resume_their_session_in_a_tracked_pane() {
    let lab = AgentLab::new();
    lab.stub.script(json!({ "rules": [], "default": {"text": "Noted."} }));
    let project = lab.project.display().to_string();
    // A session that stays while the agents' sessions end, so the server does.
    lab.ok(&["new", "-d", "-s", "keep"]);
    for (kind, word) in [("claude", "PELICAN-7"), ("codex", "HERON-9")] {
        let first = format!("{kind}-1");
        let pane = lab
            .ok(&["new", "-d", "-s", &first, "--size", "160x50", "-c", &project, "--agent", kind])
            .trim()
            .to_string();
        lab.wait(&pane, "idle");
        lab.prompt_turn(&pane, &format!("remember the word {word}"));
        lab.wait(&pane, "idle");
        let sid = lab.agent(&pane)["session_id"].as_str().expect("a session id").to_string();
        lab.wait_transcript(&[word, "Noted."]);
        lab.ok(&["kill", "-t", &first]);
        wait_for("the first session to end", || {
            (!lab.ok(&["ls", "--json"]).contains(&format!("\"{first}\""))).then_some(())
        });

        let again = format!("{kind}-2");
        let pane = lab
            .ok(&["new", "-d", "-s", &again, "--size", "160x50", "-c", &project, "--agent", kind, "--resume", &sid])
            .trim()
            .to_string();
        lab.wait(&pane, "idle");
        let agent = lab.agent(&pane);
        assert_eq!((agent["kind"].as_str(), agent["session_id"].as_str()), (Some(kind), Some(sid.as_str())));
        let before = lab.stub.turns().len();
        lab.prompt_turn(&pane, "which word was it");
        lab.wait(&pane, "idle");
        let turns = lab.stub.turns();
        let asked = turns[before..]
            .iter()
            .find(|t| t["body"].to_string().contains("which word was it"))
            .unwrap_or_else(|| panic!("{kind}: the stub never got the question"));
        assert!(asked["body"].to_string().contains(word), "{kind}: the resumed conversation reached the model");
        assert_eq!(lab.agent(&pane)["session_id"], sid.as_str(), "{kind}: still the same session");
    }
    // An id that could be an option is refused before anything starts.
    let bad = lab.run(&["new", "-d", "-s", "bad", "--agent", "claude", "--resume", "-rf"]);
    assert!(!bad.status.success());
    let bad = lab.run(&["new", "-d", "-s", "bad", "--agent", "claude", "--resume=../x"]);
    assert_eq!(bad.status.code(), Some(1), "{}", String::from_utf8_lossy(&bad.stderr));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an agent session id"));
}

/// A server killed with SIGKILL: the next `sbx` brings back the agent panes as tracked agents
/// on their own sessions (labels kept), they report idle, their earlier conversations reach
/// the model, and a message sent to the Codex pane's label before the kill reaches it after.
#[test]
fn a_killed_server_brings_its_agents_back_resumed_with_their_mail() {
    let lab = AgentLab::new();
    lab.stub.script(json!({ "rules": [], "default": {"text": "Understood."} }));
    let project = lab.project.display().to_string();
    let claude = lab
        .ok(&[
            "new", "-d", "-s", "agents", "--size", "200x50", "-c", &project, "--agent", "claude", "--label", "writer",
        ])
        .trim()
        .to_string();
    let codex =
        lab.ok(&["split", "-t", &claude, "-c", &project, "--agent", "codex", "--label", "reviewer"]).trim().to_string();
    let shell = lab.ok(&["new-tab", "-t", "agents", "-c", &project]).trim().to_string();
    for (pane, word) in [(&claude, "ALBATROSS-3"), (&codex, "CORMORANT-5")] {
        lab.wait(pane, "idle");
        lab.prompt_turn(pane, &format!("keep the word {word} in mind"));
        lab.wait(pane, "idle");
    }
    let sessions: Vec<String> =
        [&claude, &codex].iter().map(|p| lab.agent(p)["session_id"].as_str().unwrap().to_string()).collect();
    for word in ["ALBATROSS-3", "CORMORANT-5"] {
        lab.wait_transcript(&[word, "Understood."]);
    }
    lab.ok(&["msg", "send", "reviewer", "after the crash", "--body", "the token is 91bd4"]);
    let pids: Vec<u32> = lab.sbx.panes().iter().filter_map(|p| p["pid"].as_u64()).map(|p| p as u32).collect();
    assert_eq!(pids.len(), 3);
    let server = lab.sbx.server_pid();
    wait_for("the snapshot to hold both agents", || {
        let text = std::fs::read_to_string(lab.sbx.home().join("data/snapshots/default.json")).ok()?;
        sessions.iter().all(|s| text.contains(s.as_str())).then_some(())
    });
    unsafe { libc::kill(server as i32, libc::SIGKILL) };
    // Their terminals hang up with the server; the old agents end before the new ones start.
    wait_for("the old panes' processes to end", || pids.iter().all(|p| !process_alive(*p)).then_some(()));
    let _ = shell;

    lab.ok(&["new", "-d", "-s", "fresh"]);
    let ls = lab.ok(&["ls", "--json"]);
    assert!(ls.contains("\"agents\"") && ls.contains("\"writer\"") && ls.contains("\"reviewer\""), "{ls}");
    for (label, sid, word) in [("writer", &sessions[0], "ALBATROSS-3"), ("reviewer", &sessions[1], "CORMORANT-5")] {
        lab.wait(label, "idle");
        assert_eq!(lab.agent(label)["session_id"], sid.as_str(), "{label} resumed its own session");
        let before = lab.stub.turns().len();
        lab.prompt_turn(label, "what do you remember");
        lab.wait(label, "idle");
        let turns = lab.stub.turns();
        let asked = turns[before..]
            .iter()
            .map(|t| t["body"].to_string())
            .find(|b| b.contains("what do you remember"))
            .unwrap_or_else(|| panic!("{label}: the stub never got the question"));
        assert!(asked.contains(word), "{label}: the earlier conversation reached the model");
        if label == "reviewer" {
            assert!(asked.contains("sbx-inbox") && asked.contains("91bd4"), "the mail sent before the crash arrived");
        }
    }
}

/// Prompt "who am i" (scripted to call bridge_whoami) and wait until the tool's answer, naming
/// `label` and the pane, reaches the model; confirms once if Claude asks first.
fn whoami_reaches_the_model(lab: &AgentLab, pane: &str, label: &str) {
    // Each request carries the whole conversation: an answer is new when a request holds more
    // tool results than any before it.
    let results = |t: &serde_json::Value| t["body"].to_string().matches("tool_result").count();
    let turns = lab.stub.turns();
    let (before, answered) = (turns.len(), turns.iter().map(results).max().unwrap_or(0));
    lab.ok(&["agent", "prompt", "-t", pane, "who am i"]);
    let mut confirmed = false;
    let start = std::time::Instant::now();
    wait_for("the tool call to finish", || {
        let turns = lab.stub.turns();
        let tail: Vec<String> = turns[before..]
            .iter()
            .map(|t| t["body"].to_string().chars().rev().take(1500).collect::<String>().chars().rev().collect())
            .collect();
        assert!(start.elapsed() < PATIENCE - std::time::Duration::from_secs(1), "{}\n{tail:#?}", lab.why(pane));
        if !confirmed && lab.agent(pane)["state"] == "waiting" {
            lab.ok(&["agent", "confirm", "-t", pane]);
            confirmed = true;
        }
        turns[before..]
            .iter()
            .any(|t| {
                let body = t["body"].to_string();
                results(t) > answered && body.contains(label) && body.contains(pane)
            })
            .then_some(())
    });
    lab.wait(pane, "idle");
}

/// `sbx upgrade` with a real Claude and a real Codex pane: the same processes go on as tracked
/// agents with their sessions, their hooks reach the new server (idle → working → idle), and
/// Claude's MCP server, connected to the old one, answers from the new one.
#[test]
fn agents_keep_their_sessions_hooks_and_bridge_across_an_upgrade() {
    let (lab, claude) = whoami_lab();
    let project = lab.project.display().to_string();
    let codex =
        lab.ok(&["split", "-t", &claude, "-c", &project, "--agent", "codex", "--label", "bob"]).trim().to_string();
    lab.wait(&codex, "idle");
    whoami_reaches_the_model(&lab, &claude, "alice");
    lab.prompt_turn(&codex, "first turn");
    lab.wait(&codex, "idle");
    let before: Vec<(serde_json::Value, serde_json::Value, serde_json::Value)> = [&claude, &codex]
        .iter()
        .map(|p| {
            let pane = lab.sbx.panes().into_iter().find(|q| q["id"] == p.as_str()).unwrap();
            (pane["pid"].clone(), pane["label"].clone(), lab.agent(p)["session_id"].clone())
        })
        .collect();

    let next = lab.sbx.next_binary();
    let out = lab.ok(&["upgrade", "--to", next.to_str().unwrap()]);
    assert!(out.contains("2 panes kept"), "{out}");
    for (pane, (pid, label, session)) in [&claude, &codex].iter().zip(&before) {
        let now = lab.sbx.panes().into_iter().find(|q| q["id"] == pane.as_str()).unwrap();
        assert_eq!((&now["pid"], &now["label"]), (pid, label), "{pane}: the same process and label");
        assert_eq!(&lab.agent(pane)["session_id"], session, "{pane}: the same session");
        // Each finished a turn nobody looked at: still done after the upgrade.
        assert_eq!(lab.agent(pane)["state"], "done");
    }
    // Hooks reach the new server: a turn is seen starting and ending.
    lab.prompt_turn(&codex, "second turn");
    lab.wait(&codex, "idle");
    // Claude's MCP server reconnects to the new server and still speaks for its pane.
    whoami_reaches_the_model(&lab, &claude, "alice");
}
