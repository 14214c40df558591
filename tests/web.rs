//! The web front (`sbx web`): who gets in, and echokit's WebSocket protocol spoken by an
//! independent client (Python's `websockets`) over a shell pane and a real Claude Code pane.

mod common;

use std::time::Duration;

use common::web::{echokit_client, Web};
use common::*;
use serde_json::Value;

#[test]
fn every_request_needs_a_session_and_a_login_link_works_once() {
    let sbx = Sbx::new();
    let web = Web::start(&sbx);
    // Nothing without a session: no data in the refusal.
    for path in ["/api/panes", "/api/events", "/ws/box"] {
        let response = web.get(path, None);
        assert_eq!(response.status(), 401, "{path}");
        let body = response.text().unwrap();
        assert!(!body.contains(&web.pane) && body.contains("sbx web"), "{path}: {body}");
    }
    assert_eq!(web.login("0".repeat(64).as_str()).status(), 401, "a wrong token");
    assert_eq!(web.get("/login", None).status(), 401, "no token");
    let token = web.token();
    assert_eq!(web.login(&token).status(), 303);
    assert_eq!(web.login(&token).status(), 401, "a link works once");

    let cookie = web.session();
    let panes = web.get("/api/panes", Some(&cookie));
    assert_eq!(panes.status(), 200);
    let panes: Value = panes.json().unwrap();
    assert_eq!(panes[0]["tabs"][0]["panes"][0]["id"], web.pane.as_str());
    assert_eq!(panes[0]["tabs"][0]["panes"][0]["label"], "box");

    // A cookie another sbx server gave is not one of ours.
    let other_sbx = Sbx::new();
    let other = Web::start(&other_sbx);
    let foreign = other.session();
    assert_eq!(web.get("/api/panes", Some(&foreign)).status(), 401);
    // A Host this endpoint is not (DNS rebinding) is refused, even with a session.
    let rebound = web
        .http
        .get(format!("{}/api/panes", web.base))
        .header("host", "attacker.example:80")
        .header("cookie", format!("{}={cookie}", web.cookie_name()))
        .send()
        .unwrap();
    assert_eq!(rebound.status(), 421);

    // `sbx web tokens` lists the sessions (never a secret) and revokes them.
    let listed = web.sbx.ok(&["web", "tokens", "--json"]);
    assert!(!listed.contains(&cookie), "a secret in the listing");
    let sessions: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 2);
    web.sbx.ok(&["web", "tokens", "--revoke", "all"]);
    assert_eq!(web.get("/api/panes", Some(&cookie)).status(), 401, "revoked");
    // Neither token nor cookie reaches the server's log.
    let log = std::fs::read_to_string(web.sbx.home().join("run/server.log")).unwrap();
    assert!(log.contains("web: listening"), "the log this checks: {log}");
    assert!(!log.contains(&token) && !log.contains(&cookie), "{log}");
}

#[test]
fn a_websocket_from_a_foreign_page_is_refused() {
    let sbx = Sbx::new();
    let web = Web::start(&sbx);
    let cookie = web.session();
    let upgrade = |origin: &str| {
        web.http
            .get(format!("{}/ws/box", web.base))
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("origin", origin)
            .header("cookie", format!("{}={cookie}", web.cookie_name()))
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(upgrade("http://evil.example"), 403);
    let port = web.base.rsplit(':').next().unwrap();
    assert_eq!(upgrade(&format!("http://127.0.0.1.evil.example:{port}")), 403, "a look-alike host");
    assert_eq!(upgrade(&web.base), 101, "the page's own origin");
}

#[test]
fn only_loopback_without_tls_and_an_expired_link_is_refused() {
    let sbx = Sbx::new();
    std::fs::create_dir_all(sbx.home().join("config")).unwrap();
    std::fs::write(sbx.home().join("config/config.toml"), "[web]\nlogin_ttl_secs = 1\n").unwrap();
    sbx.ok(&["new", "-d", "-s", "first"]);
    let out = sbx.run(&["web", "--addr", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs_tls") && err.contains("--tls") && err.contains("ssh -L"), "{err}");
    let web = Web::start(&sbx);
    let token = web.token();
    // Time passing is the point here: the link lives one second.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(web.login(&token).status(), 401, "an expired link");
}

#[test]
fn a_thousand_bad_logins_are_braked_and_the_server_still_serves() {
    let sbx = Sbx::new();
    let web = Web::start(&sbx);
    let cookie = web.session();
    let mut braked = 0;
    for i in 0..1000 {
        match web.login(&format!("{i:064x}")).status().as_u16() {
            429 => braked += 1,
            401 => {}
            other => panic!("login {i}: {other}"),
        }
    }
    assert!(braked >= 990, "only {braked} of 1000 braked");
    // Even the right token waits out the minute; a logged-in browser is served meanwhile.
    assert_eq!(web.login(&web.token()).status(), 429);
    assert_eq!(web.get("/api/panes", Some(&cookie)).status(), 200);
    web.sbx.ok(&["ls"]);
}

#[test]
fn echokit_clients_drive_a_shell_pane_and_get_each_error_for_bad_input() {
    let sbx = Sbx::new();
    // The server's PATH has no Claude Code (so a new session cannot start); another session
    // keeps it up when the shell pane exits at the end.
    let out = sbx.command().env("PATH", "/usr/bin:/bin").args(["new", "-d", "-s", "keep"]).output().unwrap();
    assert!(out.status.success());
    let web = Web::start(&sbx);
    let cookie = web.session();
    let seen = echokit_client(&web, &cookie, "shell");
    // Every message, as echokit spells it.
    assert_eq!(seen["not_found"]["type"], "session_error");
    assert_eq!(seen["not_found"]["error_code"], "session_not_found");
    assert_eq!(seen["unparsable"]["error_code"], "invalid_input");
    assert_eq!(seen["bad_uuid"]["error_code"], "invalid_input");
    assert_eq!(seen["cannot_start"]["error_code"], "internal_error", "{seen}");
    assert!(seen["cannot_start"]["error_message"].as_str().unwrap().contains("claude"), "{seen}");
    assert_eq!(seen["state"]["type"], "session_idle");
    assert_eq!(seen["state"]["session_id"], web.pane.as_str());
    assert_eq!(seen["confirm"]["error_code"], "invalid_input_for_state");
    assert_eq!(seen["confirm"]["error_input"], "Confirm");
    assert_eq!(seen["confirm"]["error_state"], "idle");
    assert!(seen["echo"].as_str().unwrap().contains("typed-over-ws-42"), "{}", seen["echo"]);
    assert!(seen["bytes_echo"].as_str().unwrap().contains("bytes-9"), "{}", seen["bytes_echo"]);
    assert_eq!(seen["http"]["type"], "session_idle", "POST /api/ID/input");
    assert_eq!(seen["http_not_found"]["error_code"], "session_not_found");
    assert_eq!(seen["ended"]["type"], "session_ended", "{seen}");
    assert_eq!(seen["ended"]["session_id"], web.pane.as_str());
}

/// Viewers of a flooding pane are sent its screen a few times a second (made once for all of
/// them), not the flood; after it each follows the output again, in order.
#[test]
fn viewers_of_a_flood_get_screens_and_then_the_output_again() {
    let sbx = Sbx::new();
    let web = Web::start(&sbx);
    let cookie = web.session();
    let seen = echokit_client(&web, &cookie, "flood");
    for viewer in seen["flood"].as_array().unwrap() {
        assert!(viewer["resets"].as_u64().unwrap() >= 2, "no screens during the flood: {seen}");
        assert!(viewer["received"].as_u64().unwrap() < 1_500_000, "sent the flood, not screens: {seen}");
    }
    assert!(seen["after"].as_array().unwrap().iter().all(|n| n.is_u64()), "still screens after the flood: {seen}");
}

/// A real Claude Code pane (model stub) driven over echokit's protocol: a prompt typed in,
/// the Bash command it asks to run shown with its input, confirmed, run, back to idle; then
/// one cancelled (not run) and one allowed by selecting the dialog's second option.
#[test]
fn echokit_clients_see_a_real_claudes_permission_with_its_command_and_confirm_it() {
    let (lab, pane) = claude_writer(
        &[
            ("make a file", "touch made-over-ws"),
            ("try another file", "touch cancelled-over-ws"),
            ("pick for me", "touch selected-over-ws"),
        ],
        "160x50",
    );
    let web = Web::start(&lab.sbx);
    let cookie = web.session();
    let seen = echokit_client(&web, &cookie, "claude");
    let session = lab.agent(&pane)["session_id"].as_str().unwrap().to_string();
    assert_eq!(seen["state"]["type"], "session_idle", "{seen}");
    assert_eq!(seen["state"]["session_id"], session.as_str(), "messages carry Claude's session id");
    assert_eq!(seen["busy"]["error_code"], "invalid_input_for_state", "{seen}");
    assert_eq!(seen["pending"]["type"], "session_pending", "{seen}");
    let between: Vec<&str> = seen["between"].as_array().unwrap().iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert!(between.contains(&"session_running"), "working before the permission: {seen}");
    assert_eq!(seen["pending"]["tool_name"], "Bash");
    assert_eq!(seen["pending"]["tool_input"]["command"], "touch made-over-ws");
    assert_eq!(seen["after"]["type"], "session_idle", "{seen}");
    assert!(lab.project.join("made-over-ws").exists(), "the confirmed command ran");
    // What Claude said, from its transcript: the tool it called, its thinking, its answer.
    let said = seen["said"].as_array().unwrap();
    let has = |want: Value| said.iter().any(|m| want.as_object().unwrap().iter().all(|(k, v)| &m[k] == v));
    assert!(
        has(serde_json::json!({"type": "session_tool_request", "tool_name": "Bash", "session_id": session})),
        "{seen}"
    );
    assert!(has(serde_json::json!({"type": "session_output", "output": "Made it.", "is_thinking": false})), "{seen}");
    assert!(
        has(serde_json::json!({"type": "session_output", "output": "the command ran", "is_thinking": true})),
        "{seen}"
    );
    let request = said.iter().find(|m| m["type"] == "session_tool_request").unwrap();
    assert_eq!(request["tool_input"]["command"], "touch made-over-ws", "{said:?}");
    assert_eq!(seen["pending_cancel"]["tool_input"]["command"], "touch cancelled-over-ws", "{seen}");
    assert_eq!(seen["after_cancel"]["type"], "session_idle");
    assert!(!lab.project.join("cancelled-over-ws").exists(), "the cancelled command ran");
    assert_eq!(seen["pending_select"]["tool_input"]["command"], "touch selected-over-ws", "{seen}");
    assert_eq!(seen["select_out_of_range"]["error_code"], "invalid_input", "{seen}");
    assert_eq!(seen["after_select"]["type"], "session_idle");
    assert!(lab.project.join("selected-over-ws").exists(), "the selected option (allow) ran it");
    // The second option, not the first: for a command that edits files it is "allow all
    // edits this session", and Claude shows that mode.
    let screen = lab.sbx.capture(&pane);
    assert!(screen.contains("accept edits on"), "{screen}");
    // The same session by its id, over HTTP.
    let by_id = web
        .http
        .post(format!("{}/api/{session}/input", web.base))
        .header("cookie", format!("{}={cookie}", web.cookie_name()))
        .json(&serde_json::json!({"type": "get_current_state"}))
        .send()
        .unwrap();
    let by_id: Value = by_id.json().unwrap();
    assert_eq!(by_id["type"], "session_idle", "{by_id}");
}

/// The page in a real headless Chromium: logged in by the link, the panes listed, typing into
/// the terminal reaches the shell and its echo shows in the page.
#[test]
fn the_page_lists_the_panes_and_its_terminal_types_into_a_shell() {
    use common::browser::Browser;
    let sbx = Sbx::new();
    let web = Web::start(&sbx);
    sbx.shell(&web.pane, "echo ready");
    let browser = Browser::start(1200, 800);
    browser.go(&format!("{}/login?token={}", web.base, web.token()));
    browser.wait("the pane list", "return document.querySelector('#panes li[data-pane]')?.innerText.includes('box')");
    browser.wait("the shell's screen", "return document.querySelector('.xterm-rows')?.innerText.includes('ready')");
    browser.type_into(".xterm-helper-textarea", "echo typed-in-page-$((5*5))\u{E007}");
    browser.wait("the echo", "return document.querySelector('.xterm-rows')?.innerText.includes('typed-in-page-25')");
    assert!(sbx.capture(&web.pane).contains("typed-in-page-25"));
    // Queries a program sends are answered once, by sbx's engine, not again by the page; and
    // a key with the bytes of a reply (Shift+F3 is ESC [ 1 ; 2 R) still reaches the pane.
    browser.type_into(
        ".xterm-helper-textarea",
        "stty raw -echo; printf 'Q\\033[6n\\033[c\\033]11;?\\033\\\\'; cat -v\u{E007}",
    );
    sbx.wait_capture(&web.pane, "rgb:");
    browser.type_into(".xterm-helper-textarea", "\u{E008}\u{E033}\u{E000}.");
    let screen = sbx.wait_capture(&web.pane, "R.");
    let replies = &screen[screen.rfind('Q').unwrap()..];
    assert_eq!(replies.matches("rgb:").count(), 1, "a colour reply twice: {replies}");
    assert_eq!(replies.matches("^[[?").count(), 1, "device attributes twice: {replies}");
    assert_eq!(replies.matches('R').count(), 2, "a cursor report and Shift+F3: {replies}");
    assert!(replies.contains("^[[1;2R."), "Shift+F3 lost: {replies}");
    browser.screenshot(sbx.home(), "page");
}

/// A real Claude pane asks to run a Bash command: the page shows a card with the command,
/// Confirm runs it and the state goes back to idle. On a phone-sized screen the same controls
/// are there and fit.
#[test]
fn the_page_shows_a_waiting_agents_command_and_confirm_runs_it_on_a_phone_too() {
    use common::browser::Browser;
    let (lab, pane) = claude_writer(&[("make a file", "touch made-in-browser")], "120x40");
    let web = Web::start(&lab.sbx);
    for (width, height) in [(1200, 800), (390, 844)] {
        let browser = Browser::start(width, height);
        browser.go(&format!("{}/login?token={}", web.base, web.token()));
        browser.wait("the agent pane", &format!("return document.querySelector('#panes li[data-pane=\"{pane}\"]')"));
        browser.eval(&format!("document.querySelector('#panes li[data-pane=\"{pane}\"]').click()"));
        browser.wait("the agent idle", "return document.querySelector('#state').textContent === 'idle'");
        // Every control is on the screen, inside its width.
        let fits = browser.eval(
            "return ['#prompt-text', '#send', '#title', '#state'].map(s => document.querySelector(s))
                .every(e => e && e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().right <= window.innerWidth + 1)",
        );
        assert_eq!(fits, true, "{width}x{height}");
        if width < 700 {
            let menu = browser.eval("return getComputedStyle(document.querySelector('#menu')).display");
            assert_ne!(menu, "none", "the pane menu shows on a phone");
        }
        let file = format!("made-in-browser-{width}");
        lab.stub.script(serde_json::json!({
            "rules": [{"match": "make a file", "reply": {"tool": {"name": "Bash", "input": {"command": format!("touch {file}"), "description": "make it"}}}}],
            "default": {"text": "Done."},
            "after_tool": {"text": "Made it."}
        }));
        browser.type_into("#prompt-text", "make a file please");
        browser.click("#send");
        let shown = browser.wait(
            "the card",
            "return !document.querySelector('#card').hidden && document.querySelector('#card-input').textContent",
        );
        assert_eq!(shown, format!("touch {file}").as_str());
        assert_eq!(browser.eval("return document.querySelector('#card-tool').textContent"), "Bash");
        browser.screenshot(lab.sbx.home(), &format!("card-{width}"));
        browser.click("#confirm");
        browser.wait("the card to go", "return document.querySelector('#card').hidden");
        browser.wait("idle again", "return document.querySelector('#state').textContent === 'idle'");
        wait_for("the confirmed command to run", || lab.project.join(&file).exists().then_some(()));
    }
}

/// `/api/events`: the overview first, then what happens — a pane created, an agent's state,
/// a pane that exits — as server-sent events.
#[test]
fn the_event_stream_tells_of_panes_created_and_exited() {
    use std::io::{BufRead, BufReader};
    let sbx = Sbx::new();
    let web = Web::start(&sbx);
    let cookie = web.session();
    let stream = web
        .http
        .get(format!("{}/api/events", web.base))
        .header("cookie", format!("{}={cookie}", web.cookie_name()))
        .timeout(Duration::from_secs(60))
        .send()
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut lines = BufReader::new(stream).lines();
    let mut next_event = |name: &str| -> Value {
        let mut current = String::new();
        loop {
            let line = lines.next().expect("the stream ended").unwrap();
            if let Some(event) = line.strip_prefix("event: ") {
                current = event.to_string();
            } else if let Some(data) = line.strip_prefix("data: ") {
                if current == name {
                    return serde_json::from_str(data).unwrap();
                }
            }
        }
    };
    let overview = next_event("overview");
    assert_eq!(overview[0]["tabs"][0]["panes"][0]["id"], web.pane.as_str());
    let second =
        sbx.ok(&["split", "-t", &web.pane, "--label", "second", "--", "sh", "-c", "read x"]).trim().to_string();
    let created = next_event("pane_created");
    assert_eq!(created["id"], second.as_str());
    assert_eq!(created["label"], "second");
    sbx.ok(&["send-keys", "-t", &second, "--enter", "bye"]);
    let exited = next_event("pane_exited");
    assert_eq!(exited["id"], second.as_str());
    // A message between agents: the page is told to fetch the bridge's view again.
    sbx.ok(&["msg", "send", "user", "news", "--as", "box"]);
    next_event("bridge");
}

/// Agents' messages, the user's inbox and the channels, read-only: what the dashboard shows
/// is every message, and looking marks nothing read.
#[test]
fn the_bridge_dashboard_shows_every_message_and_reading_it_marks_nothing() {
    let sbx = Sbx::new();
    let web = Web::start(&sbx);
    sbx.ok(&["split", "-t", &web.pane, "--label", "peer"]);
    let plan =
        json_of(&sbx.ok(&["msg", "send", "peer", "the plan", "--body", "step <b>one</b>", "--as", "box", "--json"]));
    let plan_id = plan["id"].as_i64().unwrap();
    sbx.ok(&[
        "msg",
        "send",
        "box",
        "re: the plan",
        "--body",
        "agreed",
        "--reply-to",
        &plan_id.to_string(),
        "--as",
        "peer",
    ]);
    sbx.ok(&["msg", "send", "user", "for you", "--body", "done", "--as", "box"]);
    sbx.ok(&["channel", "join", "ops", "--as", "box"]);

    assert_eq!(web.get("/api/bridge", None).status(), 401, "no session, no messages");
    let cookie = web.session();
    let view: Value = web.get("/api/bridge", Some(&cookie)).json().unwrap();
    let subjects: Vec<&str> =
        view["messages"].as_array().unwrap().iter().map(|m| m["subject"].as_str().unwrap()).collect();
    assert_eq!(subjects, ["for you", "re: the plan", "the plan"], "everyone's, newest first: {view}");
    assert_eq!(view["inbox"]["unread"], 1);
    assert_eq!(view["inbox"]["messages"][0]["subject"], "for you");
    assert_eq!(view["channels"][0]["channel"], "#ops");
    assert_eq!(view["channels"][0]["members"], serde_json::json!(["box"]));
    assert!(view["sessions"].as_array().unwrap().len() >= 2, "{view}");

    let shown: Value = web.get(&format!("/api/bridge/messages/{plan_id}"), Some(&cookie)).json().unwrap();
    assert_eq!(shown["message"]["body"], "step <b>one</b>");
    assert_eq!(shown["messages"].as_array().unwrap().len(), 2, "the thread: {shown}");
    assert_eq!(shown["delivered"][0]["to"], "peer");
    assert_eq!(shown["delivered"][0]["read"], false);
    // Nothing was marked read by the dashboard.
    let peer = json_of(&sbx.ok(&["msg", "inbox", "--as", "peer", "--json"]));
    assert_eq!(peer["messages"][0]["read"], false, "{peer}");
    assert_eq!(json_of(&sbx.ok(&["msg", "inbox", "--json"]))["unread"], 1);

    assert_eq!(web.get("/api/bridge/messages/999999", Some(&cookie)).status(), 404);
    assert_eq!(web.get("/api/bridge/messages/x", Some(&cookie)).status(), 400);
    assert_eq!(
        web.get("/api/bridge?limit=1", Some(&cookie)).json::<Value>().unwrap()["messages"].as_array().unwrap().len(),
        1
    );
}

/// The page's sidebar: the inbox with its unread count, channels, messages between agents;
/// a message opens with its thread, its text as text.
#[test]
fn the_page_shows_the_inbox_channels_and_a_thread() {
    use common::browser::Browser;
    let sbx = Sbx::new();
    let web = Web::start(&sbx);
    sbx.ok(&["split", "-t", &web.pane, "--label", "peer"]);
    sbx.ok(&["msg", "send", "user", "for you", "--body", "<img src=x onerror=alert(1)> done", "--as", "box"]);
    sbx.ok(&["channel", "join", "ops", "--as", "peer"]);
    let browser = Browser::start(1200, 800);
    browser.go(&format!("{}/login?token={}", web.base, web.token()));
    browser
        .wait("the inbox", "return document.querySelector('#inbox li[data-message]')?.innerText.includes('for you')");
    assert_eq!(browser.eval("return document.querySelector('#inbox-unread').textContent"), "1");
    browser.wait("the channel", "return document.querySelector('#channels li')?.innerText.includes('#ops')");
    // A message between agents arrives while the page is open: the event stream brings it.
    sbx.ok(&["msg", "send", "peer", "handing over", "--body", "over to you", "--as", "box"]);
    browser.wait("the new message", "return document.querySelector('#messages')?.innerText.includes('handing over')");
    browser.eval("document.querySelector('#inbox li[data-message]').click(); return true");
    browser.wait("the letter", "return !document.querySelector('#letter').hidden && document.querySelector('#letter-thread').innerText.includes('done')");
    assert_eq!(
        browser.eval("return document.querySelector('#letter-thread img') === null"),
        true,
        "markup became an element"
    );
    assert_eq!(browser.eval("return document.querySelector('#terminal').hidden"), true);
    browser.screenshot(sbx.home(), "dashboard");
    browser.eval("document.querySelector('#letter-close').click(); return true");
    assert_eq!(browser.eval("return document.querySelector('#terminal').hidden"), false);
    // Reading it on the page marked nothing read.
    assert_eq!(json_of(&sbx.ok(&["msg", "inbox", "--json"]))["unread"], 1);
}

/// A real Claude Code pane labelled `writer` (model stub), idle: each prompt matching a rule's
/// text asks to run that rule's Bash command; any other prompt is answered "Done.".
fn claude_writer(rules: &[(&str, &str)], size: &str) -> (common::agents::AgentLab, String) {
    let lab = common::agents::AgentLab::new();
    let rules: Vec<Value> = rules
        .iter()
        .map(|(prompt, command)| {
            serde_json::json!({"match": prompt, "reply": {"tool": {"name": "Bash", "input": {"command": command, "description": "make it"}}}})
        })
        .collect();
    lab.stub.script(serde_json::json!({ "rules": rules, "default": {"text": "Done."}, "after_tool": {"thinking": "the command ran", "text": "Made it."} }));
    let project = lab.project.display().to_string();
    let args = ["new", "-d", "-s", "agents", "--size", size, "-c", &project, "--agent", "claude", "--label", "writer"];
    let pane = lab.ok(&args).trim().to_string();
    lab.wait(&pane, "idle");
    (lab, pane)
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}
