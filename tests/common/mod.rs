//! Shared helpers for the end-to-end tests: an isolated sbx (its own SBX_HOME, so its own
//! server and socket) and an isolated tmux (its own -L socket) used as the outer terminal.
#![allow(dead_code)]

pub mod agents;
pub mod browser;
pub mod person;
pub mod relay;
pub mod web;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const SBX: &str = env!("CARGO_BIN_EXE_sbx");

/// How long to wait for something a person would see "at once". Generous: CI machines are
/// slow and loaded; the tests assert outcomes, timing goals live in scripts/bench.
pub const PATIENCE: Duration = Duration::from_secs(20);

static NEXT_MARK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub struct Sbx {
    pub home: tempfile::TempDir,
}

impl Sbx {
    pub fn new() -> Sbx {
        let home = tempfile::Builder::new().prefix("sbx-test-").tempdir().expect("temp dir");
        Sbx { home }
    }

    /// An sbx whose home is inside `dir` (a small filesystem the test made, say).
    pub fn in_dir(dir: &Path) -> Sbx {
        let home = tempfile::Builder::new().prefix("sbx-test-").tempdir_in(dir).expect("temp dir");
        Sbx { home }
    }

    /// Type a shell command line into a pane running a shell and wait until it has run
    /// (it ends by printing a marker the typed line itself does not show).
    pub fn shell(&self, pane: &str, line: &str) {
        let n = NEXT_MARK.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let full = format!("{line}; echo DO\"\"NE-{n}.");
        self.ok(&["send-keys", "-t", pane, &full, "--enter"]);
        self.wait_capture(pane, &format!("DONE-{n}."));
    }

    /// The server's pid: the parent of the first pane's process.
    pub fn server_pid(&self) -> u32 {
        let pid = self.panes()[0]["pid"].as_u64().unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        stat[stat.rfind(')').unwrap() + 1..].split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// A copy of sbx at another path, for `sbx upgrade --to`: "the new binary" (the same code
    /// in a different file, so the server's executable visibly changes).
    pub fn next_binary(&self) -> std::path::PathBuf {
        let path = self.home().join("sbx-next");
        std::fs::copy(SBX, &path).unwrap();
        std::fs::canonicalize(path).unwrap()
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(SBX);
        cmd.env("SBX_HOME", self.home())
            .env_remove("SBX_SOCKET")
            .env_remove("SBX_PANE_ID")
            .env("SHELL", "/bin/bash")
            .env("HOME", self.home());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run sbx")
    }

    /// Run and expect success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        expect_success(args, self.run(args), "")
    }

    pub fn ls(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["ls", "--json"])).expect("ls --json is JSON")
    }

    pub fn panes(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for s in self.ls().as_array().unwrap() {
            for t in s["tabs"].as_array().unwrap() {
                out.extend(t["panes"].as_array().unwrap().iter().cloned());
            }
        }
        out
    }

    pub fn capture(&self, target: &str) -> String {
        self.ok(&["capture", "-t", target])
    }

    /// The environment line that makes a shell command use this sbx.
    pub fn env_prefix(&self) -> String {
        format!(
            "env -u SBX_SOCKET -u SBX_PANE_ID SBX_HOME={} SHELL=/bin/bash HOME={}",
            self.home().display(),
            self.home().display()
        )
    }

    pub fn wait_capture(&self, target: &str, needle: &str) -> String {
        wait_for(&format!("{needle:?} in sbx pane {target}"), || {
            let out = self.run(&["capture", "-t", target]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.contains(needle).then_some(text)
        })
    }
}

impl Drop for Sbx {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").output();
    }
}

/// A tmux server of the test's own, to act as the user's terminal.
pub struct Tmux {
    pub socket: String,
}

impl Tmux {
    pub fn new(name: &str) -> Tmux {
        let socket = format!("sbx-test-{}-{name}", std::process::id());
        Tmux { socket }
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux").arg("-L").arg(&self.socket).arg("-f").arg("/dev/null").args(args).output().expect("tmux")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A detached tmux session of the given size running `command` (through sh). The shell
    /// stays after the command ends, so what it printed last stays on screen.
    pub fn start(&self, session: &str, cols: u16, rows: u16, command: &str) {
        let command = format!("{command}; sleep 3600");
        self.ok(&["new-session", "-d", "-s", session, "-x", &cols.to_string(), "-y", &rows.to_string(), &command]);
        self.ok(&["set-option", "-t", session, "status", "off"]);
    }

    /// The pid of the program started by `start` (the child of the pane's shell).
    pub fn program_pid(&self, target: &str) -> u32 {
        let shell = self.pane_pid(target);
        wait_for("the pane's program", || child_of(shell))
    }

    pub fn capture(&self, target: &str) -> String {
        self.ok(&["capture-pane", "-p", "-t", target])
    }

    pub fn send(&self, target: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", target];
        args.extend_from_slice(keys);
        self.ok(&args);
    }

    pub fn pane_pid(&self, target: &str) -> u32 {
        self.ok(&["display-message", "-p", "-t", target, "#{pane_pid}"]).trim().parse().expect("pid")
    }

    pub fn wait_screen(&self, target: &str, needle: &str) -> String {
        wait_for(&format!("{needle:?} on the tmux screen {target}"), || {
            let text = self.capture(target);
            text.contains(needle).then_some(text)
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// Stdout of a successful `sbx` run; on failure, everything that says why (plus `context`).
pub fn expect_success(args: &[&str], out: Output, context: &str) -> String {
    assert!(
        out.status.success(),
        "sbx {args:?} failed ({:?}):\nstdout: {}\nstderr: {}{context}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Poll until `f` yields, or fail the test with what was awaited.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > PATIENCE {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn process_alive(pid: u32) -> bool {
    // A zombie is dead for our purposes, but only once all its threads are: a killed process's
    // leader turns zombie first while the other threads finish exiting, and until the last one
    // has, its files (a server's listening socket) are still open.
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
    tasks.flatten().any(|task| {
        std::fs::read_to_string(task.path().join("stat"))
            .map(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
            .unwrap_or(false)
    })
}

pub fn child_of(parent: u32) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let ppid: u32 = stat.rsplit(')').next()?.split_whitespace().nth(1)?.parse().ok()?;
        (ppid == parent).then_some(pid)
    })
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")
}

/// Screen text for comparison: trailing blanks and trailing empty lines dropped.
pub fn normalise(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}
