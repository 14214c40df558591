//! Who needs you: real agents (Claude Code against the model stub) in several sessions, a
//! client attached elsewhere, and what it is told — the done state, the jump to the next agent
//! that needs you, announcements to every client and the user's notify command, the sidebar's
//! roll-ups — and one prompt to many agents.

mod common;

use common::agents::*;
use common::*;
use serde_json::json;

fn claude(lab: &AgentLab, session: &str, label: &str) -> String {
    let project = lab.project.display().to_string();
    let args = ["new", "-d", "-s", session, "--size", "150x45", "-c", &project, "--agent", "claude", "--label", label];
    let pane = lab.ok(&args).trim().to_string();
    lab.wait(&pane, "idle");
    pane
}

/// The session a client shows.
fn client_session(lab: &AgentLab) -> Option<String> {
    lab.sbx.ls().as_array()?.iter().find(|s| s["clients"] == 1).map(|s| s["name"].as_str().unwrap().to_string())
}

fn focused_pane(lab: &AgentLab) -> Option<String> {
    let session = client_session(lab)?;
    let panes = lab.sbx.panes();
    panes
        .iter()
        .find(|p| p["session"] == session.as_str() && p["active"] == true)
        .map(|p| p["id"].as_str().unwrap().into())
}

#[test]
fn waiting_and_done_agents_are_announced_everywhere_and_visited_in_order() {
    let lab = AgentLab::new();
    lab.stub.script(json!({
        "rules": [
            {"match": "first file", "reply": {"tool": {"name": "Bash", "input": {"command": "touch first-file", "description": "x"}}}},
            {"match": "second file", "reply": {"tool": {"name": "Bash", "input": {"command": "touch second-file", "description": "x"}}}},
            {"match": "third file", "reply": {"tool": {"name": "Bash", "input": {"command": "touch third-file", "description": "x"}}}},
            {"match": "fourth file", "reply": {"tool": {"name": "Bash", "input": {"command": "touch fourth-file", "description": "x"}}}}
        ],
        "default": {"text": "Hello from the stub."}
    }));
    // The user's notify command: a program run directly, given the values as words and in
    // its environment (never through a shell string built from them).
    let record = lab.sbx.home().join("notified.txt");
    let script = lab.sbx.home().join("record-notify");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s|' \"$@\" >> '{0}'\necho \"env=$SBX_NOTIFY_PANE,$SBX_NOTIFY_STATE\" >> '{0}'\n",
            record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let config = lab.sbx.home().join("config");
    std::fs::create_dir_all(&config).unwrap();
    let toml = format!(
        "[notify]\non = [\"waiting\", \"done\"]\ncommand = [{:?}, \"{{pane}}\", \"{{label}}\", \"{{agent}}\", \"{{state}}\", \"{{reason}}\", \"{{session}}\"]\n",
        script.display().to_string()
    );
    std::fs::write(config.join("config.toml"), toml).unwrap();

    let alpha = claude(&lab, "alpha", "ant");
    let beta = claude(&lab, "beta", "bee");
    let home = lab.ok(&["new", "-d", "-s", "home", "--size", "150x45"]).trim().to_string();
    let tmux = Tmux::new("attention");
    tmux.start("outer", 150, 45, &format!("{} {SBX} attach -t home", lab.env_prefix()));
    let raw = lab.sbx.home().join("client-output.bin");
    tmux.ok(&["pipe-pane", "-o", "-t", "outer", &format!("cat >> '{}'", raw.display())]);
    tmux.wait_screen("outer", " home ");

    // Two agents in two other sessions ask for permission, alpha first.
    lab.ok(&["agent", "prompt", "-t", &alpha, "the first file please"]);
    lab.wait(&alpha, "waiting");
    lab.ok(&["agent", "prompt", "-t", &beta, "the second file please"]);
    lab.wait(&beta, "waiting");
    // The client in "home" hears both, and the notify command ran for each with the pane,
    // its label and what waits.
    let heard = wait_for("both notifications at the client in another session", || {
        let text = String::from_utf8_lossy(&std::fs::read(&raw).unwrap_or_default()).into_owned();
        (text.contains(&format!("\x1b]9;sbx: claude ant ({alpha}) waits for permission (Bash: touch first-file)\x07"))
            && text
                .contains(&format!("\x1b]9;sbx: claude bee ({beta}) waits for permission (Bash: touch second-file)")))
        .then_some(text)
    });
    assert!(heard.contains('\x07'));
    let notified = wait_for("the notify command to run twice", || {
        let text = std::fs::read_to_string(&record).unwrap_or_default();
        (text.lines().filter(|l| l.contains("env=")).count() >= 2).then_some(text)
    });
    let expected = format!("{alpha}|ant|claude|waiting|permission (Bash: touch first-file)|alpha|");
    assert!(notified.contains(&expected), "{notified}");
    assert!(notified.contains(&format!("env={alpha},waiting")), "{notified}");
    // The status line counts them; the sidebar shows the labelled panes' states.
    tmux.wait_screen("outer", "elsewhere 2 waiting");
    tmux.send("outer", &["C-b", "s"]);
    let screen = tmux.wait_screen("outer", "bee · claude waiting");
    assert!(screen.contains("ant · claude waiting") && screen.contains("1 wait"), "{screen}");

    // The jump chord: alpha (waiting longest), then beta, then round again.
    tmux.send("outer", &["C-b", "u"]);
    wait_for("the client at alpha", || (focused_pane(&lab).as_deref() == Some(alpha.as_str())).then_some(()));
    tmux.send("outer", &["C-b", "u"]);
    wait_for("the client at beta", || (focused_pane(&lab).as_deref() == Some(beta.as_str())).then_some(()));
    tmux.send("outer", &["C-b", "u"]);
    wait_for("the client back at alpha", || (focused_pane(&lab).as_deref() == Some(alpha.as_str())).then_some(()));

    // Alpha's question is answered while the client looks at it: idle, not done. Beta's
    // turn ends while nobody looks: done, announced, until the client goes there.
    lab.ok(&["agent", "cancel", "-t", &alpha]);
    lab.wait(&alpha, "idle");
    lab.ok(&["agent", "cancel", "-t", &beta]);
    lab.wait(&beta, "idle");
    wait_for("beta to show done", || (lab.agent(&beta)["state"] == "done").then_some(()));
    assert_eq!(lab.agent(&alpha)["state"], "idle", "a turn that ended in view is not news");
    wait_for("done to be announced", || {
        String::from_utf8_lossy(&std::fs::read(&raw).unwrap_or_default())
            .contains(&format!("\x1b]9;sbx: claude bee ({beta}) is done\x07"))
            .then_some(())
    });
    let notified = std::fs::read_to_string(&record).unwrap();
    assert!(notified.contains(&format!("{beta}|bee|claude|done|")), "{notified}");
    assert!(!notified.contains(&format!("{alpha}|ant|claude|done|")), "nothing for the turn in view: {notified}");
    tmux.wait_screen("outer", "bee · claude done");
    tmux.send("outer", &["C-b", "u"]);
    wait_for("the client at beta", || (focused_pane(&lab).as_deref() == Some(beta.as_str())).then_some(()));
    wait_for("done to clear once looked at", || (lab.agent(&beta)["state"] == "idle").then_some(()));
    tmux.send("outer", &["C-b", "u"]);
    tmux.wait_screen("outer", "no agent needs you");

    // A muted pane is not announced.
    lab.ok(&["mute", "-t", &alpha]);
    assert_eq!(lab.sbx.panes().iter().find(|p| p["id"] == alpha.as_str()).unwrap()["muted"], true);
    let before = std::fs::read_to_string(&record).unwrap().lines().count();
    // A new question (announced at once were it not muted), then one of beta's after it.
    lab.ok(&["agent", "prompt", "-t", &alpha, "the third file please"]);
    lab.wait(&alpha, "waiting");
    lab.ok(&["agent", "cancel", "-t", &alpha]);
    lab.wait(&alpha, "idle");
    // Beta is announced after alpha would have been: once beta's line is there, alpha's would be.
    lab.ok(&["agent", "prompt", "-t", &beta, "the fourth file please"]);
    lab.wait(&beta, "waiting");
    let _ = home;
    let notified = wait_for("beta's announcement", || {
        let text = std::fs::read_to_string(&record).unwrap_or_default();
        (text.lines().count() > before).then_some(text)
    });
    let new: Vec<&str> = notified.lines().skip(before).collect();
    assert!(new.iter().all(|l| !l.contains(&alpha)), "a muted pane was announced: {new:?}");
}

#[test]
fn one_prompt_reaches_every_agent_typed_or_queued() {
    let lab = AgentLab::new();
    lab.stub.script(json!({
        "rules": [{"match": "take your time", "reply": {"text": "Pondering.", "delay": 5}}],
        "default": {"text": "Hello from the stub."}
    }));
    let panes: Vec<String> = ["one", "two", "three"].iter().map(|l| claude(&lab, &format!("in-{l}"), l)).collect();
    lab.ok(&["agent", "prompt", "-t", &panes[0], "please take your time"]);
    lab.see_state(&panes[0], "working");
    let out = lab.ok(&["agent", "prompt", "--all", "--json", "hello to all of you"]);
    let outcomes: serde_json::Value = serde_json::from_str(&out).unwrap();
    let by_pane = |p: &str| outcomes.as_array().unwrap().iter().find(|o| o["pane"] == p).unwrap()["outcome"].clone();
    assert_eq!(by_pane(&panes[0]), "queued", "{outcomes}");
    assert_eq!((by_pane(&panes[1]), by_pane(&panes[2])), (json!("typed"), json!("typed")), "{outcomes}");
    for pane in &panes {
        lab.wait(pane, "idle");
    }
    let count = || lab.stub.turns().iter().filter(|t| t["body"].to_string().contains("hello to all of you")).count();
    // The queued one is typed when its slow turn ends; each agent's request carries the
    // prompt (a later request of the same agent repeats it in its history, so count agents).
    wait_for("the queued prompt to reach the model", || (count() >= 3).then_some(()));
    let sessions: std::collections::BTreeSet<String> = lab
        .stub
        .turns()
        .iter()
        .filter(|t| t["body"].to_string().contains("hello to all of you"))
        .map(|t| t["body"]["metadata"]["user_id"].to_string())
        .collect();
    assert_eq!(sessions.len(), 3, "three agents each sent the prompt: {sessions:?}");
    // Text lines per pane without --json; a kind with no agent is an error that says so.
    let out = lab.run(&["agent", "prompt", "--kind", "codex", "anyone"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no codex agent runs"));
    let out = lab.ok(&["agent", "prompt", "-t", &format!("{},{}", panes[1], panes[2]), "just you two"]);
    assert_eq!(out.lines().filter(|l| l.ends_with(": typed")).count(), 2, "{out}");
    for pane in &panes[1..] {
        lab.wait(pane, "idle");
    }
    // A pane named twice (its id and its label) is prompted once; an unknown one fails alone.
    let out = lab.run(&["agent", "prompt", "-t", &format!("{},two,nobody", panes[1]), "only once"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("1 of 2 panes"), "{text}");
    assert_eq!(text.lines().filter(|l| l.ends_with(": typed")).count(), 1, "{text}");
    assert!(text.contains("nobody: failed"), "{text}");
}
