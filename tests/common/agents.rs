//! The real agent CLIs in sbx panes, against the model API stub (tests/stub/model_stub.py)
//! on 127.0.0.1. Each test gets its own homes, so nothing of the user's is touched.
#![allow(dead_code)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::*;

/// Where scripts/test installed the pinned CLIs.
pub fn agents_bin() -> PathBuf {
    let dir = match std::env::var_os("SBX_TEST_AGENTS_BIN") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/sbx-test/npm/node_modules/.bin"),
    };
    assert!(
        dir.join("claude").exists() && dir.join("codex").exists(),
        "the agent CLIs are not installed in {}; run scripts/test (it installs them)",
        dir.display()
    );
    dir
}

pub struct Stub {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Stub {
    pub fn start(dir: &Path) -> Stub {
        let log = dir.join("stub.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stub/model_stub.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", "0", "--log"])
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the stub");
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        let port = first.trim().strip_prefix("PORT ").expect("the stub prints its port").parse().unwrap();
        Stub { child, port, log }
    }

    /// Tell the stub what to answer (see the script format at the top of model_stub.py).
    pub fn script(&self, script: serde_json::Value) {
        let body = script.to_string();
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        use std::io::{Read, Write};
        write!(
            stream,
            "POST /_stub/script HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reply = String::new();
        let _ = stream.read_to_string(&mut reply);
        assert!(reply.starts_with("HTTP/1.") && reply.contains(" 200 "), "{reply}");
    }

    /// The main-turn requests the stub received (not an agent's side requests), as JSON.
    pub fn turns(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| ["claude", "codex", "gemini", "chat"].iter().any(|k| v["kind"] == *k))
            .collect()
    }

    pub fn saw_prompt(&self, text: &str) -> bool {
        self.turns().iter().any(|t| t["body"].to_string().contains(text))
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An sbx whose server (and so its panes) sees the agents, their homes and the stub.
pub struct AgentLab {
    pub sbx: Sbx,
    pub stub: Stub,
    pub project: PathBuf,
    bin: PathBuf,
    env: Vec<(String, String)>,
}

impl AgentLab {
    pub fn new() -> AgentLab {
        let sbx = Sbx::new();
        let stub = Stub::start(sbx.home());
        let project = sbx.home().join("proj");
        std::fs::create_dir_all(&project).unwrap();
        // The agents' temporary files (Gemini's crash reports among them) are the lab's, and
        // shown when a test fails.
        std::fs::create_dir_all(sbx.home().join("tmp")).unwrap();
        let project = std::fs::canonicalize(&project).unwrap();
        let claude = sbx.home().join("claude");
        std::fs::create_dir_all(&claude).unwrap();
        // Past onboarding, the API-key question and the folder trust, as a set-up user would be.
        let state = serde_json::json!({
            "hasCompletedOnboarding": true,
            "customApiKeyResponses": {"approved": ["dummy"], "rejected": []},
            "projects": {project.display().to_string(): {"hasTrustDialogAccepted": true}},
        });
        std::fs::write(claude.join(".claude.json"), state.to_string()).unwrap();
        let codex = sbx.home().join("codex");
        std::fs::create_dir_all(&codex).unwrap();
        let config = format!(
            "model = \"stub-model\"\nmodel_provider = \"fake\"\n\n[model_providers.fake]\nname = \"fake\"\nbase_url = \"http://127.0.0.1:{}/v1\"\nwire_api = \"responses\"\nenv_key = \"STUB_KEY\"\n\n[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
            stub.port,
            project.display()
        );
        std::fs::write(codex.join("config.toml"), config).unwrap();
        // Gemini CLI: an API key (no Google login), no usage statistics; the stub is its API.
        let gemini = sbx.home().join("gemini").join(".gemini");
        std::fs::create_dir_all(&gemini).unwrap();
        let settings = serde_json::json!({
            "security": {"auth": {"selectedType": "gemini-api-key"}},
            "privacy": {"usageStatisticsEnabled": false},
            "general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false},
        });
        std::fs::write(gemini.join("settings.json"), settings.to_string()).unwrap();
        // Qwen Code: an OpenAI-compatible provider (the stub), asking before each tool rather
        // than asking the model (its default `auto` mode), no usage statistics.
        let qwen = sbx.home().join("qwen");
        std::fs::create_dir_all(&qwen).unwrap();
        let settings = serde_json::json!({
            "security": {"auth": {"selectedType": "openai"}},
            "model": {"name": "stub-model"},
            "tools": {"approvalMode": "default"},
            "privacy": {"usageStatisticsEnabled": false},
            "general": {"enableAutoUpdate": false},
            "ui": {"autoModeAcknowledged": true},
        });
        std::fs::write(qwen.join("settings.json"), settings.to_string()).unwrap();
        // opencode: an OpenAI-compatible provider (bundled in it), asking before a shell
        // command. Its config folder gets its plugin package from npm on every start unless one
        // is there: an empty node_modules and a lock that names it stand for it.
        let opencode = sbx.home().join(".config/opencode");
        std::fs::create_dir_all(opencode.join("node_modules")).unwrap();
        let lock = serde_json::json!({"packages": {"": {"dependencies": {"@opencode-ai/plugin": "1.18.33"}}}});
        std::fs::write(opencode.join("package-lock.json"), lock.to_string()).unwrap();
        let config = serde_json::json!({
            "$schema": "https://opencode.ai/config.json",
            "model": "stub/stub-model",
            "provider": {"stub": {
                "npm": "@ai-sdk/openai-compatible", "name": "Stub",
                "options": {"baseURL": format!("http://127.0.0.1:{}/v1", stub.port), "apiKey": "dummy"},
                "models": {"stub-model": {"name": "Stub Model", "tool_call": true}},
            }},
            "permission": {"bash": "ask"},
            "autoupdate": false,
        });
        std::fs::write(opencode.join("opencode.json"), config.to_string()).unwrap();
        // Cline: the stub as an OpenAI-compatible provider (as `cline auth -p openai -b URL`
        // writes it), asking before each tool (its TUI's default is to approve all), no
        // telemetry or updates, and its one-time notices (ClinePass, Cline Desktop) seen.
        let cline = sbx.home().join("cline/data/settings");
        std::fs::create_dir_all(&cline).unwrap();
        let providers = serde_json::json!({
            "version": 1, "lastUsedProvider": "openai-compatible", "modes": {},
            "providers": {"openai-compatible": {"settings": {
                "provider": "openai-compatible", "apiKey": "dummy", "model": "stub-model",
                "baseUrl": format!("http://127.0.0.1:{}/v1", stub.port),
            }, "updatedAt": "2026-12-01T00:00:00.000Z", "tokenSource": "manual"}},
        });
        std::fs::write(cline.join("providers.json"), providers.to_string()).unwrap();
        let settings =
            serde_json::json!({"toolAutoApprove": false, "telemetryOptOut": true, "autoUpdateEnabled": false});
        std::fs::write(cline.join("global-settings.json"), settings.to_string()).unwrap();
        let notices =
            serde_json::json!({"shown": {"cline-cli-cline-pass-intro": true, "cline-cli-desktop-launch": true}});
        std::fs::write(cline.join("cli-notices.json"), notices.to_string()).unwrap();
        AgentLab { sbx, stub, project, bin: agents_bin(), env: Vec::new() }
    }

    /// The same environment as a shell prefix, for an sbx started inside tmux.
    pub fn env_prefix(&self) -> String {
        let cmd = self.command();
        let mut out = String::from("env -u SBX_SOCKET -u SBX_PANE_ID");
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                out.push_str(&format!(" {}='{}'", k.to_string_lossy(), v.to_string_lossy().replace('\'', "'\\''")));
            }
        }
        out
    }

    pub fn command(&self) -> Command {
        let mut cmd = self.sbx.command();
        let path = format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap_or_default());
        cmd.env("PATH", path)
            .env("CLAUDE_CONFIG_DIR", self.sbx.home().join("claude"))
            .env("CODEX_HOME", self.sbx.home().join("codex"))
            .env("ANTHROPIC_BASE_URL", format!("http://127.0.0.1:{}", self.stub.port))
            .env("ANTHROPIC_API_KEY", "dummy")
            .env("DISABLE_TELEMETRY", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("STUB_KEY", "dummy")
            .env("GEMINI_CLI_HOME", self.sbx.home().join("gemini"))
            .env("GOOGLE_GEMINI_BASE_URL", format!("http://127.0.0.1:{}", self.stub.port))
            .env("GEMINI_API_KEY", "dummy")
            .env("GEMINI_CLI_TRUST_WORKSPACE", "true")
            .env("QWEN_HOME", self.sbx.home().join("qwen"))
            .env("CLINE_DIR", self.sbx.home().join("cline"))
            .env("GROK_BASE_URL", format!("http://127.0.0.1:{}/v1", self.stub.port))
            .env("GROK_API_KEY", "dummy")
            .env("GROK_MODEL", "stub-model")
            .env("OPENAI_BASE_URL", format!("http://127.0.0.1:{}/v1", self.stub.port))
            .env("OPENAI_API_KEY", "dummy")
            .env("TMPDIR", self.sbx.home().join("tmp"))
            .env("XDG_CONFIG_HOME", self.sbx.home().join(".config"))
            .env("XDG_DATA_HOME", self.sbx.home().join(".local/share"))
            .env("XDG_STATE_HOME", self.sbx.home().join(".local/state"))
            .env("XDG_CACHE_HOME", self.sbx.home().join(".cache"))
            .env("OPENCODE_DISABLE_MODELS_FETCH", "1")
            .env("OPENCODE_DISABLE_AUTOUPDATE", "1")
            // As on a CI runner, wherever this runs: Gemini takes these for "headless" and
            // exits at once, so a pane must keep them from it (CI caught that).
            .env("CI", "true")
            .env("GITHUB_ACTIONS", "true");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// One more variable for every command (and so for the server they start).
    pub fn with_env(mut self, key: &str, value: &str) -> AgentLab {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.command().args(args).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let context =
            if out.status.success() { String::new() } else { format!("\nserver log:\n{}", self.server_log()) };
        expect_success(args, out, &context)
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.sbx.home().join("run/server.log")).unwrap_or_default()
    }

    /// Everything that says why a step failed: the server's log, the pane's screen (when the
    /// pane is still there), and any crash report an agent left in the lab's temporary folder.
    pub fn why(&self, pane: &str) -> String {
        let out = self.run(&["capture", "-t", pane]);
        let screen = if out.status.success() {
            String::from_utf8_lossy(&out.stdout).into_owned()
        } else {
            format!("(no screen: {})", String::from_utf8_lossy(&out.stderr).trim())
        };
        let mut reports = String::new();
        for entry in std::fs::read_dir(self.sbx.home().join("tmp")).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().contains("error") {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                reports.push_str(&format!("\n{}:\n{}", entry.path().display(), &text[..text.len().min(8000)]));
            }
        }
        format!("server log:\n{}\nscreen of {pane}:\n{screen}{reports}", self.server_log())
    }

    pub fn agent(&self, pane: &str) -> serde_json::Value {
        self.sbx.panes().into_iter().find(|p| p["id"] == pane || p["label"] == pane).expect("pane listed")["agent"]
            .clone()
    }

    /// Type a prompt with `sbx agent prompt` and see the agent begin a turn on it.
    pub fn prompt_turn(&self, pane: &str, text: &str) {
        let before = self.turns(pane);
        self.ok(&["agent", "prompt", "-t", pane, text]);
        self.see_turn(pane, before);
    }

    /// The turns the agent has begun (as `sbx ls --json` reports them).
    pub fn turns(&self, pane: &str) -> u64 {
        self.agent(pane)["turns"].as_u64().expect("agents report their turns")
    }

    /// See the agent begin a turn after the `before`-th: its turn count moves, however short
    /// the turn (a fast stub answer can be over before a poll of `sbx ls` sees "working"; a
    /// slow one is what `see_state` is for).
    pub fn see_turn(&self, pane: &str, before: u64) {
        let start = std::time::Instant::now();
        while self.turns(pane) <= before {
            if start.elapsed() > PATIENCE {
                panic!("{pane} began no turn after its {before}th\n{}", self.why(pane));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Poll until `sbx ls` shows the state (for passing states like "working", which
    /// `agent wait` does not offer); the server log and screen on failure.
    pub fn see_state(&self, pane: &str, state: &str) {
        let start = std::time::Instant::now();
        while self.agent(pane)["state"] != state {
            if start.elapsed() > PATIENCE {
                panic!("{pane} never showed {state}\n{}", self.why(pane));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Wait until one of the agents' own transcripts (under this lab's Claude or Codex home)
    /// holds every one of `texts` (a prompt and its answer: the whole turn): Claude writes its
    /// transcript in batches, so a turn reported idle may not be on disk yet, and a resume
    /// reads the disk.
    pub fn wait_transcript(&self, texts: &[&str]) {
        fn holds(dir: &Path, texts: &[&str]) -> bool {
            let Ok(entries) = std::fs::read_dir(dir) else { return false };
            entries.flatten().any(|e| {
                let path = e.path();
                if path.is_dir() {
                    holds(&path, texts)
                } else {
                    path.extension().is_some_and(|x| x == "jsonl")
                        && std::fs::read_to_string(&path).is_ok_and(|t| texts.iter().all(|x| t.contains(x)))
                }
            })
        }
        let home = self.sbx.home();
        wait_for(&format!("{texts:?} in an agent's transcript"), || {
            (holds(&home.join("claude"), texts) || holds(&home.join("codex"), texts)).then_some(())
        });
    }

    /// Wait for a state, with the screen in the failure message.
    pub fn wait(&self, pane: &str, until: &str) {
        let out = self.run(&["agent", "wait", "-t", pane, "--until", until, "--timeout", "90"]);
        assert!(
            out.status.success(),
            "waiting for {until}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.why(pane)
        );
    }
}

/// Every file below `dir` (the agents' session trees), depth first.
pub fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
