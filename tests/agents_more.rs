//! The agent CLIs beyond Claude Code and Codex (Gemini CLI, Qwen Code, opencode, Cline, Grok CLI), the real ones from the
//! npm registry, in sbx panes against the model API stub (speaking each one's API).

mod common;

use common::agents::*;
use common::*;
use serde_json::json;

/// A Gemini pane in the lab's project, once its input prompt is up.
fn gemini_pane(lab: &AgentLab, label: &str) -> String {
    let project = lab.project.display().to_string();
    let pane = lab
        .ok(&["new", "-d", "--size", "160x50", "-c", &project, "--agent", "gemini", "--label", label])
        .trim()
        .to_string();
    lab.wait(&pane, "idle");
    pane
}

/// Gemini CLI's requests that carry `text` in a function response (a tool's answer to the model).
fn gemini_tool_answers(lab: &AgentLab, text: &str) -> usize {
    lab.stub
        .turns()
        .iter()
        .filter(|t| {
            t["kind"] == "gemini"
                && t["body"]["contents"].as_array().and_then(|c| c.last()).is_some_and(|last| {
                    last["parts"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| p.get("functionResponse").is_some_and(|r| r.to_string().contains(text)))
                })
        })
        .count()
}

#[test]
fn gemini_idle_working_idle_a_confirmed_permission_and_sbx_over_mcp() {
    let lab = AgentLab::new();
    lab.stub.script(json!({
        "rules": [
            {"match": "take your time", "reply": {"text": "Pondering.", "delay": 4}},
            {"match": "make a file", "reply": {"tool": {"name": "run_shell_command", "input": {"command": "touch made-by-gemini", "description": "make a file"}}}},
            {"match": "who am i", "reply": {"tool": {"name": "mcp_sbx_bridge_whoami", "input": {}}}}
        ],
        "default": {"text": "Hello from the stub."},
        "after_tool": {"text": "Done."}
    }));
    let pane = gemini_pane(&lab, "gem");
    let sid = wait_for("SessionStart to tell sbx the session id", || {
        lab.agent(&pane)["session_id"].as_str().map(str::to_string)
    });
    assert_eq!(sid.len(), 36);

    // A prompt typed by sbx: its hooks take the pane to working, then back to idle.
    let out = lab.run(&["agent", "prompt", "-t", &pane, "please take your time"]);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stderr), lab.why(&pane));
    lab.see_state(&pane, "working");
    lab.wait(&pane, "idle");
    assert!(lab.stub.saw_prompt("please take your time"), "the prompt reached the model");

    // A shell command asks first; sbx answers the question.
    lab.ok(&["agent", "prompt", "-t", &pane, "make a file please"]);
    lab.wait(&pane, "waiting");
    assert_eq!(lab.agent(&pane)["tool"], "run_shell_command");
    lab.ok(&["agent", "confirm", "-t", &pane]);
    lab.wait(&pane, "idle");
    wait_for("the approved command to run", || lab.project.join("made-by-gemini").exists().then_some(()));

    // sbx's MCP server, given per launch: Gemini asks before an MCP tool runs, and the answer
    // (this pane's label and id) goes back to the model.
    lab.ok(&["agent", "prompt", "-t", &pane, "who am i"]);
    lab.wait(&pane, "waiting");
    lab.ok(&["agent", "confirm", "-t", &pane]);
    wait_for("bridge_whoami's answer in a request to the model", || {
        (gemini_tool_answers(&lab, &pane) > 0 && gemini_tool_answers(&lab, "gem") > 0).then_some(())
    });
    lab.wait(&pane, "idle");

    // Gemini keeps the session where its resume finds it.
    let chats = lab.sbx.home().join("gemini/.gemini/tmp");
    wait_for("the session's chat record", || {
        walk(&chats)
            .iter()
            .any(|p| p.to_string_lossy().contains(&sid[..8]) && p.extension().is_some_and(|x| x == "jsonl"))
            .then_some(())
    });
}

#[test]
fn gemini_init_then_uninstall_leaves_the_users_files_byte_identical() {
    let lab = AgentLab::new();
    let gemini = lab.sbx.home().join("gemini/.gemini");
    // The user's own settings, with a hook and an MCP server of their own and odd spacing,
    // and an extension of their own.
    let mine = "{\n  \"security\": {\"auth\": {\"selectedType\": \"gemini-api-key\"}},\n  \"hooks\": {\"AfterAgent\": [{\"matcher\": \"*\", \"hooks\": [{\"type\": \"command\", \"command\": \"echo mine\"}]}]},\n  \"mcpServers\": {\"other\": {\"command\": \"other-server\"}}\n}\n";
    std::fs::write(gemini.join("settings.json"), mine).unwrap();
    std::fs::create_dir_all(gemini.join("extensions/theirs")).unwrap();
    std::fs::write(gemini.join("extensions/theirs/gemini-extension.json"), "{\"name\": \"theirs\"}").unwrap();
    let before = snapshot(&gemini);

    lab.ok(&["init", "--provider", "gemini"]);
    let ext = gemini.join("extensions/sbx");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ext.join("gemini-extension.json")).unwrap()).unwrap();
    assert_eq!(manifest["name"], "sbx");
    assert!(manifest["mcpServers"]["sbx"]["command"].as_str().unwrap().ends_with("sbx"));
    let hooks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ext.join("hooks/hooks.json")).unwrap()).unwrap();
    assert!(hooks["hooks"]["AfterAgent"].to_string().contains("hook gemini Stop"));
    assert_eq!(hooks["hooks"]["AfterAgent"][0]["hooks"][0]["timeout"], 10_000, "milliseconds, as Gemini counts");
    assert_eq!(std::fs::read_to_string(gemini.join("settings.json")).unwrap(), mine, "the user's settings untouched");
    let listed: serde_json::Value = serde_json::from_str(&lab.ok(&["init", "--list", "--json"])).unwrap();
    let entry = listed["agents"].as_array().unwrap().iter().find(|a| a["agent"] == "gemini").unwrap().clone();
    assert_eq!(entry["installed"], true);
    assert!(entry["binary"].as_str().is_some_and(|b| b.ends_with("/gemini")), "{entry}");

    lab.ok(&["uninstall", "--provider", "gemini"]);
    assert_eq!(snapshot(&gemini), before, "every file of the user's as it was, and nothing of sbx's left");
    let listed: serde_json::Value = serde_json::from_str(&lab.ok(&["init", "--list", "--json"])).unwrap();
    assert!(listed["agents"].as_array().unwrap().iter().any(|a| a["agent"] == "gemini" && a["installed"] == false));

    // A folder named sbx that is someone else's is neither written over nor removed.
    std::fs::create_dir_all(&ext).unwrap();
    std::fs::write(ext.join("gemini-extension.json"), "{\"name\": \"sbx\", \"mcpServers\": {}}").unwrap();
    let out = lab.run(&["init", "--provider", "gemini"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not sbx's"));
    lab.ok(&["uninstall", "--provider", "gemini"]);
    assert!(ext.join("gemini-extension.json").exists());
}

/// Qwen Code's requests whose last message is a tool's answer holding `text`.
fn chat_tool_answers(lab: &AgentLab, text: &str) -> usize {
    lab.stub
        .turns()
        .iter()
        .filter(|t| {
            t["kind"] == "chat"
                && t["body"]["messages"]
                    .as_array()
                    .and_then(|m| m.last())
                    .is_some_and(|last| last["role"] == "tool" && last["content"].to_string().contains(text))
        })
        .count()
}

#[test]
fn qwen_idle_working_idle_a_confirmed_permission_and_sbx_over_mcp() {
    let lab = AgentLab::new();
    lab.stub.script(json!({
        "rules": [
            {"match": "take your time", "reply": {"text": "Pondering.", "delay": 4}},
            {"match": "make a file", "reply": {"tool": {"name": "run_shell_command", "input": {"command": "touch made-by-qwen", "description": "make a file"}}}},
            {"match": "who am i", "reply": {"tool": {"name": "mcp__sbx__bridge_whoami", "input": {}}}}
        ],
        "default": {"text": "Hello from the stub."},
        "after_tool": {"text": "Done."}
    }));
    let project = lab.project.display().to_string();
    let pane = lab
        .ok(&["new", "-d", "--size", "160x50", "-c", &project, "--agent", "qwen", "--label", "qw"])
        .trim()
        .to_string();
    lab.wait(&pane, "idle");
    // sbx chose the session id at launch.
    let sid = lab.agent(&pane)["session_id"].as_str().expect("the session id sbx chose").to_string();

    let out = lab.run(&["agent", "prompt", "-t", &pane, "please take your time"]);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stderr), lab.why(&pane));
    lab.see_state(&pane, "working");
    lab.wait(&pane, "idle");
    assert!(lab.stub.saw_prompt("please take your time"), "the prompt reached the model");

    lab.ok(&["agent", "prompt", "-t", &pane, "make a file please"]);
    lab.wait(&pane, "waiting");
    assert_eq!(lab.agent(&pane)["tool"], "run_shell_command");
    lab.ok(&["agent", "confirm", "-t", &pane]);
    lab.wait(&pane, "idle");
    wait_for("the approved command to run", || lab.project.join("made-by-qwen").exists().then_some(()));

    lab.ok(&["agent", "prompt", "-t", &pane, "who am i"]);
    lab.wait(&pane, "waiting");
    lab.ok(&["agent", "confirm", "-t", &pane]);
    wait_for("bridge_whoami's answer in a request to the model", || {
        (chat_tool_answers(&lab, &pane) > 0 && chat_tool_answers(&lab, "qw") > 0).then_some(())
    });
    lab.wait(&pane, "idle");

    // Its chat record, under the id sbx chose, where `qwen --resume ID` finds it.
    let chats = lab.sbx.home().join("qwen/projects");
    wait_for("the session's chat record", || {
        walk(&chats).iter().any(|p| p.to_string_lossy().ends_with(&format!("{sid}.jsonl"))).then_some(())
    });
}

#[test]
fn qwen_init_then_uninstall_leaves_the_users_settings_byte_identical() {
    let lab = AgentLab::new();
    let settings = lab.sbx.home().join("qwen/settings.json");
    let mine = "{\n  \"hooks\": {\"Stop\": [{\"matcher\": \"*\", \"hooks\": [{\"type\": \"command\", \"command\": \"echo mine\"}]}]},\n  \"mcpServers\": {\"other\": {\"command\": \"other-server\"}}\n}\n";
    std::fs::write(&settings, mine).unwrap();
    lab.ok(&["init", "--provider", "qwen"]);
    let installed: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert!(installed["mcpServers"]["sbx"]["command"].as_str().unwrap().ends_with("sbx"));
    assert_eq!(installed["mcpServers"]["other"]["command"], "other-server");
    let stop = installed["hooks"]["Stop"].to_string();
    assert!(stop.contains("echo mine") && stop.contains("hook qwen Stop"), "{stop}");
    lab.ok(&["uninstall", "--provider", "qwen"]);
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), mine, "byte for byte");
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = walk(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

/// Qwen's prompt hook is Claude's: its `UserPromptSubmit` answer is the turn's context.
#[test]
fn qwen_sees_its_inbox_before_its_next_turn() {
    sees_its_inbox_once("qwen", "qinbox", "chat");
}

/// Gemini's `BeforeAgent` hook (sbx's `UserPromptSubmit`) answers with the inbox block as
/// additional context: Gemini adds it to the turn's request (its `<` and `>` escaped).
#[test]
fn gemini_sees_its_inbox_before_its_next_turn() {
    sees_its_inbox_once("gemini", "ginbox", "gemini");
}

/// opencode's plugin (sbx's, given per launch) reports its state; sbx's MCP server reaches it
/// per launch too. Its permission dialog takes Enter for "Allow once".
#[test]
fn opencode_idle_working_idle_a_confirmed_permission_and_sbx_over_mcp() {
    let lab = AgentLab::new();
    lab.stub.script(json!({
        "rules": [
            {"match": "take your time", "reply": {"text": "Pondering.", "delay": 4}},
            {"match": "make a file", "reply": {"tool": {"name": "bash", "input": {"command": "touch made-by-opencode", "description": "make a file"}}}},
            {"match": "another file", "reply": {"tool": {"name": "bash", "input": {"command": "touch refused-by-opencode", "description": "another file"}}}},
            {"match": "who am i", "reply": {"tool": {"name": "sbx_bridge_whoami", "input": {}}}},
            {"match": "never mind", "reply": {"text": "Still going.", "delay": 30}}
        ],
        "default": {"text": "Hello from the stub."},
        "after_tool": {"text": "Done."}
    }));
    let project = lab.project.display().to_string();
    let pane = lab
        .ok(&["new", "-d", "--size", "160x50", "-c", &project, "--agent", "opencode", "--label", "oc"])
        .trim()
        .to_string();
    lab.wait(&pane, "idle");

    let out = lab.run(&["agent", "prompt", "-t", &pane, "please take your time"]);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stderr), lab.why(&pane));
    lab.see_state(&pane, "working");
    lab.wait(&pane, "idle");
    assert!(lab.stub.saw_prompt("please take your time"), "the prompt reached the model");
    // The session opencode made at the first prompt, as its plugin reported it.
    let sid = lab.agent(&pane)["session_id"].as_str().expect("the plugin reports the session").to_string();
    assert!(sid.starts_with("ses_"), "{sid}");

    lab.ok(&["agent", "prompt", "-t", &pane, "make a file please"]);
    lab.wait(&pane, "waiting");
    assert_eq!(lab.agent(&pane)["tool"], "bash");
    lab.ok(&["agent", "confirm", "-t", &pane]);
    wait_for("the approved command to run", || lab.project.join("made-by-opencode").exists().then_some(()));
    lab.wait(&pane, "idle");

    lab.ok(&["agent", "prompt", "-t", &pane, "who am i"]);
    wait_for("bridge_whoami's answer in a request to the model", || {
        (chat_tool_answers(&lab, &pane) > 0 && chat_tool_answers(&lab, "oc") > 0).then_some(())
    });
    lab.wait(&pane, "idle");

    // Refused: Esc rejects the tool, which never runs, and the turn ends with no hook of its own.
    lab.ok(&["agent", "prompt", "-t", &pane, "another file please"]);
    lab.wait(&pane, "waiting");
    lab.ok(&["agent", "cancel", "-t", &pane]);
    lab.wait(&pane, "idle");
    assert!(!lab.project.join("refused-by-opencode").exists(), "the refused command did not run");

    // Interrupted: Esc, then Esc again as it asks, stops a slow turn. An Esc hard on the
    // heels of the prompt can be taken by its input box: pressed until it asks again.
    lab.ok(&["agent", "prompt", "-t", &pane, "never mind"]);
    lab.see_state(&pane, "working");
    wait_for("Esc, Esc to stop the turn", || {
        if lab.ok(&["capture", "-t", &pane]).contains("· interrupted") {
            return Some(());
        }
        // The first press, or the second once it asks for one.
        lab.ok(&["send-keys", "-t", &pane, "--key", "Esc"]);
        std::thread::sleep(std::time::Duration::from_millis(300));
        None
    });
    lab.wait(&pane, "idle");

    // Resumed in a new pane (`--resume`, opencode's `--session`): the next request carries
    // the old turns, and the pane knows the session from the start.
    resumes_in_a_new_pane(&lab, &pane, "opencode", &sid, "please take your time");
}

/// opencode's prompt hook is sbx's plugin: a waiting message goes before the prompt as a part
/// of its own, once.
#[test]
fn opencode_sees_its_inbox_before_its_next_turn() {
    sees_its_inbox_once("opencode", "ocinbox", "chat");
}

/// `sbx init --provider opencode` adds sbx's MCP server to the user's opencode.json and its
/// plugin to opencode's plugin folder; uninstall takes both away, the file byte for byte.
#[test]
fn opencode_init_then_uninstall_leaves_the_users_config_byte_identical() {
    let lab = AgentLab::new();
    let config = lab.sbx.home().join(".config/opencode/opencode.json");
    let mine = std::fs::read_to_string(&config).unwrap();
    lab.ok(&["init", "--provider", "opencode"]);
    let installed: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let command = installed["mcp"]["sbx"]["command"].as_array().unwrap_or_else(|| panic!("{installed}"));
    assert!(command[0].as_str().unwrap().ends_with("sbx") && command[1] == "mcp", "{installed}");
    assert_eq!(installed["model"], "stub/stub-model", "the user's entries stay");
    let plugin = lab.sbx.home().join(".config/opencode/plugins/sbx.js");
    assert!(std::fs::read_to_string(&plugin).unwrap().contains("hook\", \"opencode\""));
    let list: serde_json::Value = serde_json::from_str(&lab.ok(&["init", "--list", "--json"])).unwrap();
    let row = list["agents"].as_array().unwrap().iter().find(|r| r["agent"] == "opencode").expect("opencode is listed");
    assert_eq!(row["installed"], true, "{row}");
    lab.ok(&["uninstall", "--provider", "opencode"]);
    assert_eq!(std::fs::read_to_string(&config).unwrap(), mine, "byte for byte");
    assert!(!plugin.exists(), "sbx's plugin is gone");
}

/// A message waiting for an agent's pane reaches the model before its next turn, framed as
/// sbx's inbox block, and only once. `api` is the stub's name for the agent's model API.
/// Idle means the agent's input takes keys (after its SessionStart hook): the prompt goes at once.
fn sees_its_inbox_once(agent: &str, label: &str, api: &str) {
    let lab = AgentLab::new();
    lab.stub.script(json!({"default": {"text": "Read it."}}));
    let project = lab.project.display().to_string();
    let pane = lab
        .ok(&["new", "-d", "--size", "150x45", "-c", &project, "--agent", agent, "--label", label])
        .trim()
        .to_string();
    lab.wait(&pane, "idle");
    let token = format!("the token is {label}-5e1c9");
    lab.ok(&["msg", "send", label, "from the user", "--body", &token]);
    lab.ok(&["agent", "prompt", "-t", &pane, "anything new?"]);
    wait_for("a request with the inbox", || {
        lab.stub
            .turns()
            .iter()
            .filter(|t| t["kind"] == api)
            .any(|t| {
                let body = t["body"].to_string();
                body.contains("sbx-inbox") && body.contains(&token) && body.contains("anything new?")
            })
            .then_some(())
    });
    lab.wait(&pane, "idle");
    let v: serde_json::Value = serde_json::from_str(&lab.ok(&["msg", "inbox", "--as", label, "--json"])).unwrap();
    assert!(v["messages"].as_array().unwrap().is_empty(), "delivered once: {v}");
}

/// `--resume SID` in a new pane (the old one killed): the pane knows the session from the
/// start, and the request its next prompt makes carries the old conversation (`earlier`).
fn resumes_in_a_new_pane(lab: &AgentLab, old: &str, agent: &str, sid: &str, earlier: &str) {
    let project = lab.project.display().to_string();
    let again = lab
        .ok(&["new", "-d", "--size", "160x50", "-c", &project, "--agent", agent, "--resume", sid])
        .trim()
        .to_string();
    lab.ok(&["kill", "-t", old]);
    assert_eq!(lab.agent(&again)["session_id"].as_str(), Some(sid));
    lab.wait(&again, "idle");
    lab.ok(&["agent", "prompt", "-t", &again, "resumed check"]);
    wait_for("a request with the old conversation", || {
        lab.stub
            .turns()
            .iter()
            .any(|t| {
                let body = t["body"].to_string();
                body.contains("resumed check") && body.contains(earlier)
            })
            .then_some(())
    });
    lab.wait(&again, "idle");
}

/// The tool names offered in the chat requests the stub received (for a failing step's message).
fn offered_tools(lab: &AgentLab) -> Vec<String> {
    let turns = lab.stub.turns();
    let last = turns.iter().rev().find(|t| t["kind"] == "chat");
    let tools = last.and_then(|t| t["body"]["tools"].as_array().cloned()).unwrap_or_default();
    tools.iter().filter_map(|t| t["function"]["name"].as_str().map(str::to_string)).collect()
}

/// Cline runs its session in its own process in a pane (not in its shared hub), so its hook
/// files report for the pane; its permission question is read from the screen; sbx's MCP
/// server comes in a settings file of the pane's own. Deny and interrupt end the turn too, and
/// `--resume` (Cline's `--id`) carries the conversation on in a new pane.
#[test]
fn cline_idle_working_idle_a_confirmed_permission_and_sbx_over_mcp() {
    let lab = AgentLab::new();
    lab.stub.script(json!({
        "rules": [
            {"match": "take your time", "reply": {"text": "Pondering.", "delay": 4}},
            {"match": "make a file", "reply": {"tool": {"name": "run_commands", "input": {"commands": ["touch made-by-cline"]}}}},
            {"match": "another file", "reply": {"tool": {"name": "run_commands", "input": {"commands": ["touch refused-by-user"]}}}},
            {"match": "who am i", "reply": {"tool": {"name": "sbx__bridge_whoami", "input": {}}}},
            {"match": "never mind", "reply": {"text": "Still going.", "delay": 30}}
        ],
        "default": {"text": "Hello from the stub."},
        "after_tool": {"text": "Done."}
    }));
    let project = lab.project.display().to_string();
    let pane = lab
        .ok(&["new", "-d", "--size", "160x50", "-c", &project, "--agent", "cline", "--label", "cl"])
        .trim()
        .to_string();
    lab.wait(&pane, "idle");

    let out = lab.run(&["agent", "prompt", "-t", &pane, "please take your time"]);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stderr), lab.why(&pane));
    lab.see_state(&pane, "working");
    lab.wait(&pane, "idle");
    assert!(lab.stub.saw_prompt("please take your time"), "the prompt reached the model");
    // The session Cline made, as its hooks reported it.
    let sid = lab.agent(&pane)["session_id"].as_str().expect("the hooks report the session").to_string();
    assert!(sid.contains('_'), "{sid}");

    lab.ok(&["agent", "prompt", "-t", &pane, "make a file please"]);
    lab.wait(&pane, "waiting");
    assert_eq!(lab.agent(&pane)["tool"], "run_commands", "the tool its PreToolUse hook named");
    lab.ok(&["agent", "confirm", "-t", &pane]);
    wait_for("the approved command to run", || lab.project.join("made-by-cline").exists().then_some(()));
    lab.wait(&pane, "idle");

    lab.ok(&["agent", "prompt", "-t", &pane, "another file please"]);
    lab.wait(&pane, "waiting");
    lab.ok(&["agent", "cancel", "-t", &pane]);
    lab.wait(&pane, "idle");
    assert!(!lab.project.join("refused-by-user").exists(), "the refused command did not run");

    let out = lab.run(&["agent", "prompt", "-t", &pane, "who am i"]);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stderr), lab.why(&pane));
    lab.wait(&pane, "waiting");
    lab.ok(&["agent", "confirm", "-t", &pane]);
    let tools = offered_tools(&lab);
    assert!(tools.iter().any(|t| t == "sbx__bridge_whoami"), "{tools:?}");
    wait_for("bridge_whoami's answer in a request to the model", || {
        (chat_tool_answers(&lab, &pane) > 0 && chat_tool_answers(&lab, "cl") > 0).then_some(())
    });
    lab.wait(&pane, "idle");

    // Esc interrupts a turn: its SessionShutdown hook ends it.
    lab.ok(&["agent", "prompt", "-t", &pane, "never mind"]);
    lab.see_state(&pane, "working");
    lab.ok(&["send-keys", "-t", &pane, "--key", "Esc"]);
    lab.wait(&pane, "idle");

    resumes_in_a_new_pane(&lab, &pane, "cline", &sid, "please take your time");
    // The session ran in the pane's own process (its hooks were taken for the pane), and the
    // hub Cline tries to start beside it cannot bind and ends: none outlives the panes.
    wait_for("Cline's hub daemons to end", || cline_hubs(&lab.sbx.home().join("cline")).is_empty().then_some(()));
}

/// The processes running Cline's hub daemon with `cline_dir` as their Cline folder.
fn cline_hubs(cline_dir: &std::path::Path) -> Vec<u32> {
    let want = format!("CLINE_DIR={}", cline_dir.display());
    let procs = std::fs::read_dir("/proc").unwrap().flatten();
    procs
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains("--cline-hub-daemon")
                && environ.split(|b| *b == 0).any(|v| v == want.as_bytes())
        })
        .collect()
}

/// `sbx init --provider cline` puts sbx's hook files beside the user's own and its MCP server
/// in Cline's MCP settings; uninstall takes exactly those away, the settings byte for byte.
#[test]
fn cline_init_then_uninstall_leaves_the_users_files_byte_identical() {
    let lab = AgentLab::new();
    let cline = lab.sbx.home().join("cline");
    let settings = cline.join("data/settings/cline_mcp_settings.json");
    let mine =
        "{\n  \"mcpServers\": {\"other\": {\"transport\": {\"type\": \"stdio\", \"command\": \"other-server\"}}}\n}\n";
    std::fs::write(&settings, mine).unwrap();
    std::fs::create_dir_all(cline.join("hooks")).unwrap();
    std::fs::write(cline.join("hooks/TaskStart"), "#!/bin/sh\necho mine\n").unwrap();
    let before = snapshot(&cline.join("hooks"));
    lab.ok(&["init", "--provider", "cline"]);
    let installed: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert!(installed["mcpServers"]["sbx"]["transport"]["command"].as_str().unwrap().ends_with("sbx"), "{installed}");
    assert_eq!(installed["mcpServers"]["other"]["transport"]["command"], "other-server");
    let ours = std::fs::read_to_string(cline.join("hooks/TaskStart.sh")).unwrap();
    assert!(ours.contains("hook cline TaskStart"), "{ours}");
    let list: serde_json::Value = serde_json::from_str(&lab.ok(&["init", "--list", "--json"])).unwrap();
    let row = list["agents"].as_array().unwrap().iter().find(|r| r["agent"] == "cline").expect("cline is listed");
    assert_eq!(row["installed"], true, "{row}");
    lab.ok(&["uninstall", "--provider", "cline"]);
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), mine, "byte for byte");
    assert_eq!(snapshot(&cline.join("hooks")), before, "only sbx's hook files went");
}

/// Grok CLI has no hooks and keeps no sessions: its state is its screen alone. sbx's MCP
/// server reaches it through the project's `.grok/settings.json`, where the launch put it. Its
/// dialog takes one key per read, so `select` moves down to an option a key at a time.
#[test]
fn grok_idle_working_idle_a_confirmed_permission_and_sbx_over_mcp() {
    let lab = AgentLab::new();
    lab.stub.script(json!({
        "rules": [
            {"match": "take your time", "reply": {"text": "Pondering.", "delay": 4}},
            {"match": "make a file", "reply": {"tool": {"name": "bash", "input": {"command": "touch made-by-grok"}}}},
            {"match": "another file", "reply": {"tool": {"name": "bash", "input": {"command": "touch refused-by-select"}}}},
            {"match": "third file", "reply": {"tool": {"name": "bash", "input": {"command": "touch refused-by-cancel"}}}},
            {"match": "who am i", "reply": {"tool": {"name": "mcp__sbx__bridge_whoami", "input": {}}}},
            {"match": "never mind", "reply": {"text": "Still going.", "delay": 30}}
        ],
        "default": {"text": "Hello from the stub."},
        "after_tool": {"text": "Done."}
    }));
    let project = lab.project.display().to_string();
    let pane = lab
        .ok(&["new", "-d", "--size", "160x50", "-c", &project, "--agent", "grok", "--label", "gk"])
        .trim()
        .to_string();
    lab.wait(&pane, "idle");
    let settings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lab.project.join(".grok/settings.json")).unwrap()).unwrap();
    assert!(settings["mcpServers"]["sbx"]["transport"]["command"].as_str().unwrap().ends_with("sbx"), "{settings}");

    let out = lab.run(&["agent", "prompt", "-t", &pane, "please take your time"]);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stderr), lab.why(&pane));
    lab.see_state(&pane, "working");
    lab.wait(&pane, "idle");
    assert!(lab.stub.saw_prompt("please take your time"), "the prompt reached the model");
    assert!(lab.agent(&pane)["session_id"].is_null(), "Grok keeps no sessions");

    lab.ok(&["agent", "prompt", "-t", &pane, "make a file please"]);
    lab.wait(&pane, "waiting");
    lab.ok(&["agent", "confirm", "-t", &pane]);
    wait_for("the approved command to run", || lab.project.join("made-by-grok").exists().then_some(()));
    lab.wait(&pane, "idle");

    // Option 3 is "No": three keys, one read each.
    lab.ok(&["agent", "prompt", "-t", &pane, "another file please"]);
    lab.wait(&pane, "waiting");
    lab.ok(&["agent", "select", "-t", &pane, "3"]);
    wait_for("the refusal in a request to the model", || {
        (chat_tool_answers(&lab, "Operation cancelled by user") > 0).then_some(())
    });
    lab.wait(&pane, "idle");
    lab.ok(&["agent", "prompt", "-t", &pane, "a third file please"]);
    lab.wait(&pane, "waiting");
    lab.ok(&["agent", "cancel", "-t", &pane]);
    wait_for("the cancel in a request to the model", || (chat_tool_answers(&lab, "pressed Escape") > 0).then_some(()));
    lab.wait(&pane, "idle");
    assert!(!lab.project.join("refused-by-select").exists() && !lab.project.join("refused-by-cancel").exists());

    lab.ok(&["agent", "prompt", "-t", &pane, "who am i"]);
    wait_for("bridge_whoami's answer in a request to the model", || {
        (chat_tool_answers(&lab, &pane) > 0 && chat_tool_answers(&lab, "gk") > 0).then_some(())
    });
    let tools = offered_tools(&lab);
    assert!(tools.iter().any(|t| t == "mcp__sbx__bridge_whoami"), "{tools:?}");
    lab.wait(&pane, "idle");

    // Esc interrupts a turn: its working line goes, and with it the turn.
    lab.ok(&["agent", "prompt", "-t", &pane, "never mind"]);
    lab.see_state(&pane, "working");
    lab.ok(&["send-keys", "-t", &pane, "--key", "Esc"]);
    lab.wait(&pane, "idle");

    let out = lab.run(&["new", "-d", "-c", &project, "--agent", "grok", "--resume", "anything"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("keeps no sessions"), "{out:?}");
}

/// `sbx init --provider grok` in a project adds sbx's server to its settings beside the
/// user's; a pane started in another project adds it there. Uninstall gives both back: the
/// user's file byte for byte, the other project without the file sbx made.
#[test]
fn grok_init_then_uninstall_leaves_the_users_files_byte_identical() {
    let lab = AgentLab::new();
    let settings = lab.project.join(".grok/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let mine = "{\n  \"model\": \"grok-4\",\n  \"mcpServers\": {\"other\": {\"name\": \"other\", \"transport\": {\"type\": \"stdio\", \"command\": \"other-server\"}}}\n}\n";
    std::fs::write(&settings, mine).unwrap();
    let init = lab.command().current_dir(&lab.project).args(["init", "--provider", "grok"]).output().unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let installed: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert!(installed["mcpServers"]["sbx"]["transport"]["command"].as_str().unwrap().ends_with("sbx"), "{installed}");
    assert_eq!(installed["mcpServers"]["other"]["transport"]["command"], "other-server");
    let list = lab.command().current_dir(&lab.project).args(["init", "--list", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let row = list["agents"].as_array().unwrap().iter().find(|r| r["agent"] == "grok").expect("grok is listed");
    assert_eq!(row["installed"], true, "{row}");

    let other = lab.sbx.home().join("other-project");
    std::fs::create_dir_all(&other).unwrap();
    let pane = lab
        .ok(&["new", "-d", "--size", "120x40", "-c", &other.display().to_string(), "--agent", "grok"])
        .trim()
        .to_string();
    lab.wait(&pane, "idle");
    assert!(std::fs::read_to_string(other.join(".grok/settings.json")).unwrap().contains("\"sbx\""));
    lab.ok(&["kill", "-t", &pane]);

    let out = lab.command().current_dir(&lab.project).args(["uninstall", "--provider", "grok"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), mine, "byte for byte");
    assert!(!other.join(".grok").exists(), "the file (and folder) sbx made went");
}
