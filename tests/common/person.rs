//! Someone with an sbx home of their own (agent homes inside it) and a relay in the
//! environment, so their server (started by their first command) uses it: the two sides of
//! sharing and of messages between friends' machines.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::relay::Relay;
use super::{expect_success, Sbx};

pub struct Person {
    pub sbx: Sbx,
    relay: String,
}

impl Person {
    pub fn new(relay: &Relay) -> Person {
        Person::on(&relay.url)
    }
    /// With a relay at `url` (one that may not be there).
    pub fn on(url: &str) -> Person {
        Person { sbx: Sbx::new(), relay: url.to_string() }
    }
    pub fn claude(&self) -> PathBuf {
        self.sbx.home().join("claude")
    }
    pub fn codex(&self) -> PathBuf {
        self.sbx.home().join("codex")
    }
    pub fn qwen(&self) -> PathBuf {
        self.sbx.home().join("qwen")
    }
    /// `GEMINI_CLI_HOME`: Gemini's folder is `.gemini` inside it.
    pub fn gemini(&self) -> PathBuf {
        self.sbx.home().join("gemini")
    }
    pub fn command(&self) -> Command {
        let mut c = self.sbx.command();
        c.env("SBX_RELAY", &self.relay)
            .env("CLAUDE_CONFIG_DIR", self.claude())
            .env("CODEX_HOME", self.codex())
            .env("QWEN_HOME", self.qwen())
            .env("GEMINI_CLI_HOME", self.gemini());
        c
    }
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.command().args(args).output().unwrap()
    }
    pub fn ok(&self, args: &[&str]) -> String {
        expect_success(args, self.run(args), "")
    }
    /// A command with `--json`, its answer parsed.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).unwrap()
    }
    pub fn id(&self) -> Value {
        self.json(&["id"])
    }
    pub fn echo_id(&self) -> String {
        self.id()["echo_id"].as_str().unwrap().to_string()
    }
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.sbx.home().join("run/server.log")).unwrap_or_default()
    }
}
