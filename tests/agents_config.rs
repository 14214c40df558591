//! `sbx init` / `sbx uninstall` / `sbx doctor` against agent configs that already hold the
//! user's own hooks and MCP servers.

mod common;

use common::*;

struct Homes {
    sbx: Sbx,
    claude: std::path::PathBuf,
    codex: std::path::PathBuf,
}

impl Homes {
    fn new() -> Homes {
        let sbx = Sbx::new();
        let claude = sbx.home().join("claude-home");
        let codex = sbx.home().join("codex-home");
        std::fs::create_dir_all(&claude).unwrap();
        std::fs::create_dir_all(&codex).unwrap();
        Homes { sbx, claude, codex }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        self.sbx
            .command()
            .env("CLAUDE_CONFIG_DIR", &self.claude)
            .env("CODEX_HOME", &self.codex)
            .args(args)
            .output()
            .unwrap()
    }
}

const USER_CLAUDE: &str = r#"{
    "model": "opus",
    "hooks": {
        "Stop": [ { "matcher": "", "hooks": [ { "type": "command", "command": "say done" } ] } ]
    },
    "mcpServers": { "mine": { "command": "my-mcp", "args": ["--fast"] } }
}
"#;

const USER_CODEX_CONFIG: &str = "model = \"o4\"   # mine\n\n[mcp_servers.docs]\ncommand = \"docs-mcp\"\n\n[hooks.state.\"/x/hooks.json:pre_tool_use:0:0\"]\ntrusted_hash = \"sha256:abc\"\n";

const USER_CODEX_HOOKS: &str = "{\"hooks\":{\"PreToolUse\":[{\"matcher\":\"Bash\",\"hooks\":[{\"type\":\"command\",\"command\":\"audit.sh\"}]}]}}\n";

#[test]
fn init_then_uninstall_leaves_the_users_files_byte_for_byte() {
    let h = Homes::new();
    let settings = h.claude.join("settings.json");
    let hooks = h.codex.join("hooks.json");
    std::fs::write(&settings, USER_CLAUDE).unwrap();
    std::fs::write(&hooks, USER_CODEX_HOOKS).unwrap();
    let codex_config = h.codex.join("config.toml");
    std::fs::write(&codex_config, USER_CODEX_CONFIG).unwrap();
    let claude_state = h.claude.join(".claude.json");
    let user_state = "{\"numStartups\": 3, \"mcpServers\": {\"mine\": {\"command\": \"my-mcp\"}}}";
    std::fs::write(&claude_state, user_state).unwrap();

    let out = h.run(&["init", "--provider", "claude", "--provider", "codex"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let installed: serde_json::Value = serde_json::from_slice(&std::fs::read(&settings).unwrap()).unwrap();
    assert_eq!(installed["model"], "opus");
    assert_eq!(installed["mcpServers"]["mine"]["command"], "my-mcp");
    let stop = installed["hooks"]["Stop"].as_array().unwrap();
    assert!(stop.iter().any(|g| g["hooks"][0]["command"] == "say done"), "the user's hook stays");
    assert!(stop.iter().any(|g| g["hooks"][0]["command"].as_str().unwrap().ends_with(" hook claude Stop")));
    for event in [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "PermissionRequest",
        "Notification",
        "SessionEnd",
    ] {
        assert!(installed["hooks"][event].is_array(), "{event} installed");
    }
    let codex: serde_json::Value = serde_json::from_slice(&std::fs::read(&hooks).unwrap()).unwrap();
    assert_eq!(codex["hooks"]["PreToolUse"].as_array().unwrap().len(), 2);
    // Codex runs only trusted hooks: init trusts sbx's, next to the user's own trust.
    let config: toml::Table = std::fs::read_to_string(&codex_config).unwrap().parse().unwrap();
    let state = config["hooks"]["state"].as_table().unwrap();
    assert!(state.contains_key("/x/hooks.json:pre_tool_use:0:0"));
    let key = format!("{}:pre_tool_use:1:0", hooks.display());
    assert!(state[&key]["trusted_hash"].as_str().unwrap().starts_with("sha256:"), "{state:?}");
    assert_eq!(config["mcp_servers"]["docs"]["command"].as_str(), Some("docs-mcp"));
    // The MCP server, with the variables Codex must forward to it.
    let sbx_mcp = &config["mcp_servers"]["sbx"];
    assert!(sbx_mcp["command"].as_str().unwrap().ends_with("/sbx"));
    assert_eq!(sbx_mcp["env_vars"].as_array().unwrap().len(), 3);
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(&claude_state).unwrap()).unwrap();
    assert_eq!(state["mcpServers"]["mine"]["command"], "my-mcp");
    assert_eq!(state["mcpServers"]["sbx"]["args"], serde_json::json!(["mcp"]));

    // Twice is the same as once.
    let again = std::fs::read(&settings).unwrap();
    assert!(h.run(&["init", "--provider", "claude"]).status.success());
    assert_eq!(std::fs::read(&settings).unwrap(), again);

    let doctor = h.run(&["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let claude = report["agents"].as_array().unwrap().iter().find(|a| a["agent"] == "claude").unwrap();
    assert_eq!(claude["files"][0]["present"], true);

    let out = h.run(&["uninstall", "--provider", "claude", "--provider", "codex"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), USER_CLAUDE);
    assert_eq!(std::fs::read_to_string(&hooks).unwrap(), USER_CODEX_HOOKS);
    assert_eq!(std::fs::read_to_string(&codex_config).unwrap(), USER_CODEX_CONFIG);
    assert_eq!(std::fs::read_to_string(&claude_state).unwrap(), user_state);
}

#[test]
fn a_file_sbx_created_is_removed_again_and_user_edits_survive() {
    let h = Homes::new();
    let settings = h.claude.join("settings.json");
    assert!(h.run(&["init", "--provider", "claude"]).status.success());
    assert!(settings.exists());
    assert!(h.run(&["uninstall", "--provider", "claude"]).status.success());
    assert!(!settings.exists(), "sbx created it, so sbx removes it");

    // Installed, then the user adds something: uninstall takes only sbx's entries out.
    assert!(h.run(&["init", "--provider", "claude"]).status.success());
    let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(&settings).unwrap()).unwrap();
    value["theme"] = "light".into();
    std::fs::write(&settings, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
    assert!(h.run(&["uninstall", "--provider", "claude"]).status.success());
    let after: serde_json::Value = serde_json::from_slice(&std::fs::read(&settings).unwrap()).unwrap();
    assert_eq!(after, serde_json::json!({"theme": "light"}));
}

#[test]
fn a_hook_never_waits_on_an_agent_that_keeps_its_stdin_open() {
    let h = Homes::new();
    let mut child = h
        .sbx
        .command()
        .env("SBX_PANE_ID", "%1")
        .args(["hook", "claude", "Stop"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _stdin = child.stdin.take(); // held open, never written
    let status = wait_for("the hook to end on its own", || child.try_wait().unwrap());
    assert!(status.success(), "a hook always exits 0");
}

#[test]
fn mcp_speaks_for_its_pane() {
    use std::io::{BufRead, Write};
    let h = Homes::new();
    let pane = h.sbx.ok(&["new", "-d", "--label", "worker"]).trim().to_string();
    let mut child = h
        .sbx
        .command()
        .env("SBX_PANE_ID", &pane)
        .arg("mcp")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut call = |msg: serde_json::Value| -> serde_json::Value {
        writeln!(stdin, "{msg}").unwrap();
        if msg.get("id").is_none() {
            return serde_json::Value::Null;
        }
        let line = lines.next().unwrap().unwrap();
        serde_json::from_str(&line).unwrap()
    };
    let init = call(serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}));
    assert!(init["result"]["capabilities"]["tools"].is_object(), "{init}");
    call(serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    let tools = call(serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    let names: Vec<&str> =
        tools["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"bridge_whoami") && names.contains(&"bridge_list_sessions"), "{names:?}");
    let me = call(
        serde_json::json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "bridge_whoami", "arguments": {}}}),
    );
    let text = me["result"]["content"][0]["text"].as_str().unwrap();
    let me: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(me["pane"], pane.as_str());
    assert_eq!(me["label"], "worker");
    drop(stdin);
    let _ = child.wait();
}

#[test]
fn a_malformed_config_is_refused_and_left_alone() {
    let h = Homes::new();
    let settings = h.claude.join("settings.json");
    let broken = "{\n  \"model\": \"opus\",\n  \"hooks\": { oops }\n}\n";
    std::fs::write(&settings, broken).unwrap();
    let out = h.run(&["init", "--provider", "claude"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("settings.json") && err.contains("line 3"), "{err}");
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), broken, "nothing changed");
    let doctor = h.run(&["doctor"]);
    assert!(String::from_utf8_lossy(&doctor.stdout).contains("problem"), "doctor says where");
}

#[test]
fn init_without_a_provider_needs_an_agent_on_path() {
    let h = Homes::new();
    let out = h
        .sbx
        .command()
        .env("PATH", "/usr/bin:/bin")
        .env("CLAUDE_CONFIG_DIR", &h.claude)
        .args(["init"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--provider"));
}

#[test]
fn a_missing_agent_binary_says_how_to_install_it() {
    let h = Homes::new();
    let out = h.sbx.command().env("PATH", "/usr/bin:/bin").args(["new", "-d", "--agent", "codex"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("npm install -g @openai/codex"), "{err}");
}
