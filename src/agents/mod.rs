//! Agents sbx knows: one adapter per agent CLI behind one trait — how to launch it so it can
//! reach sbx, how to install and remove sbx's hooks (and MCP server) in its config, and how
//! to read its state. Adding gemini-cli or opencode is one new module and one line in `ALL`.

mod claude;
mod cline;
mod codex;
pub mod config_edit;
mod gemini;
mod grok;
mod opencode;
mod qwen;
pub mod state;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use crate::protocol::{AgentKind, HookEvent};
pub use cline::{cline_sessions_dir, is_session_id as is_cline_session_id};
pub use gemini::gemini_dir;
pub use state::AgentState;

/// The adapter for an agent kind (the kind itself is a wire type, in `protocol`).
pub trait Adapter {
    fn adapter(self) -> &'static dyn Agent;
}

impl Adapter for AgentKind {
    fn adapter(self) -> &'static dyn Agent {
        match self {
            AgentKind::Claude => &claude::Claude,
            AgentKind::Codex => &codex::Codex,
            AgentKind::Cline => &cline::Cline,
            AgentKind::Grok => &grok::Grok,
            AgentKind::Gemini => &gemini::Gemini,
            AgentKind::Qwen => &qwen::Qwen,
            AgentKind::Opencode => &opencode::Opencode,
        }
    }
}

pub const ALL: &[AgentKind] = AgentKind::ALL;

/// How to start an agent in a pane.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Variables of the server's environment the agent must not see.
    pub unset: Vec<String>,
    /// The session id sbx chose at launch, when the agent lets it choose.
    pub session_id: Option<String>,
}

/// What an agent's screen says, for when its hooks are silent (an interrupted turn or a
/// refused permission fires no hook in either agent; Codex reports nothing until the first prompt).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScreenHint {
    pub working: bool,
    pub waiting: bool,
    /// The input prompt is shown and usable.
    pub ready: bool,
    /// How many "interrupted" notices are on screen; one more means a turn just ended early.
    pub interruptions: usize,
    /// The agent shows its working marker for the whole of a turn, so its going away means
    /// the turn ended (Claude); Codex hides its marker while text streams.
    pub marker_spans_turn: bool,
}

/// Read a screen with the agent's own markers.
pub fn read_screen(
    screen: &str,
    working: &[&str],
    waiting: &[&str],
    ready: &[&str],
    interrupted: &[&str],
) -> ScreenHint {
    ScreenHint {
        working: working.iter().any(|m| screen.contains(m)),
        waiting: waiting.iter().any(|m| screen.contains(m)),
        ready: ready.iter().any(|m| screen.contains(m)),
        interruptions: interrupted.iter().map(|m| screen.matches(m).count()).sum(),
        marker_spans_turn: false,
    }
}

/// What sbx knows when launching: its own binary (for hooks), its server's socket (for the
/// MCP server, whose environment the agent may not pass on) and the user's extra arguments.
pub struct LaunchCtx<'a> {
    pub sbx: &'a Path,
    pub socket: &'a Path,
    pub args: &'a [String],
    /// Resume this session of the agent's instead of starting one.
    pub resume: Option<&'a str>,
    /// The folder the pane starts in (an agent whose settings are per project reads them there).
    pub cwd: &'a Path,
}

/// The session a user's own arguments resume (`--resume ID`, `-r ID`, `--resume=ID`), if any.
pub fn resumed_in_args<'a>(args: &'a [String], flags: &[&str]) -> Option<&'a str> {
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if flags.contains(&arg.as_str()) {
            return it.next().map(String::as_str).filter(|v| !v.starts_with('-'));
        }
        if let Some(v) = flags.iter().find_map(|f| arg.strip_prefix(f).and_then(|rest| rest.strip_prefix('='))) {
            return Some(v);
        }
    }
    None
}

/// The session a launch runs, for agents that take Claude's flags (Claude Code, Qwen Code):
/// sbx's resume (`--resume ID` added), the user's own `--session-id`, `--resume`/`-r` (the
/// user's id; a `--fork-session` gets a new one the hooks report), `--continue`/`-c` (known
/// once a hook says), else a new id sbx chooses (`--session-id` added). Both refuse a
/// `--session-id` beside the user's own resume or continue.
pub fn choose_session(ctx: &LaunchCtx, command: &mut Vec<String>) -> Option<String> {
    let own_resume = resumed_in_args(ctx.args, &["--resume", "-r"]);
    let continues = ctx.args.iter().any(|a| matches!(a.as_str(), "--continue" | "-c" | "--resume" | "-r"))
        || ctx.args.iter().any(|a| a.starts_with("--resume="));
    let forks = ctx.args.iter().any(|a| a == "--fork-session");
    // A session id the user chose (`-- --session-id ID`, as the web front's create_session
    // passes): that is the session, and sbx adds none of its own.
    let own_id = ctx.args.iter().position(|a| a == "--session-id").and_then(|i| ctx.args.get(i + 1));
    match (ctx.resume, own_resume) {
        (None, None) if own_id.is_some() => own_id.cloned(),
        (Some(id), _) => {
            command.extend(["--resume".to_string(), id.to_string()]);
            Some(id.to_string())
        }
        (None, Some(id)) if !forks => Some(id.to_string()),
        (None, _) if continues => None,
        (None, _) => {
            let id = uuid::Uuid::new_v4().to_string();
            command.extend(["--session-id".to_string(), id.clone()]);
            Some(id)
        }
    }
}

/// One file an install touches, for `doctor` and `uninstall`.
#[derive(Debug, Clone, Serialize)]
pub struct Installed {
    pub path: PathBuf,
    pub what: String,
    pub present: bool,
}

/// A piece of what an agent said, read from its transcript: its answer's text, or
/// (`thinking`) its reasoning. (The tools it calls come from its hooks, with the state.)
#[derive(Debug, Clone, PartialEq)]
pub struct Said {
    pub text: String,
    pub thinking: bool,
}

pub trait Agent: Sync {
    /// The program's name on PATH.
    fn program(&self) -> &'static str;
    /// What to run when it is missing.
    fn install_hint(&self) -> &'static str;
    /// The command and environment for a pane running this agent.
    fn launch(&self, ctx: &LaunchCtx) -> Launch;
    /// Install sbx's hooks and MCP server into the agent's user config, merging.
    fn install(&self, sbx: &Path) -> anyhow::Result<Vec<Installed>>;
    /// Remove exactly what `install` added.
    fn uninstall(&self) -> anyhow::Result<Vec<Installed>>;
    /// What is installed now.
    fn status(&self, sbx: &Path) -> anyhow::Result<Vec<Installed>>;
    /// Read the agent's screen (the last resort after hooks).
    fn screen(&self, screen: &str) -> ScreenHint;
    /// From the end of the session's transcript: has the last turn ended (Some(true)), is one
    /// under way (Some(false)), or cannot it tell (None)? Covers what fires no hook: a turn
    /// the user interrupted.
    fn turn_ended(&self, tail: &str) -> Option<bool>;
    /// What the agent said in one record of its transcript: its text, its thinking (empty for
    /// records that are not the agent's, or an agent that keeps none).
    fn said(&self, _record: &str) -> Vec<Said> {
        Vec::new()
    }
    /// The session a running agent process says it is in, from the agent's own records of its
    /// processes (Claude keeps `sessions/<pid>.json`); None when the agent keeps none.
    fn running_session(&self, _pid: u32) -> Option<String> {
        None
    }
    /// Whether the agent draws its input only once its `SessionStart` hook has finished (keys
    /// sent before are lost): it is idle when its input shows after that hook, not at the hook.
    fn ready_after_session_start(&self) -> bool {
        false
    }
    /// What a hook's input (JSON on stdin) says, in the fields sbx uses. Claude's shape
    /// (`session_id`, `tool_name`, `tool_input`…), which most agents' hooks take.
    fn hook_input(&self, event: &str, input: &serde_json::Value) -> HookEvent {
        let field = |k: &str| input.get(k).and_then(|v| v.as_str()).map(str::to_string);
        HookEvent {
            event: event.to_string(),
            session_id: field("session_id"),
            tool_name: field("tool_name"),
            tool_input: input.get("tool_input").map(crate::protocol::ToolInput::bounded),
            notification_type: field("notification_type"),
            transcript_path: field("transcript_path"),
            cwd: field("cwd"),
        }
    }
    /// Read a hook as the event it means, where the agent's word differs from Claude's.
    fn normalize_hook(&self, _hook: &mut HookEvent) {}
    /// Whether a hook reports the agent's questions (a permission asked): when none does, the
    /// screen says it is waiting, whatever hooks came before.
    fn hooks_report_waiting(&self) -> bool {
        true
    }
    /// Whether the agent reports its turns by hook (or plugin): one with none is read from its
    /// screen alone, where a turn too short to be believed (`SCREEN_SETTLE`) still shows.
    fn has_hooks(&self) -> bool {
        true
    }
    /// How long after a typed prompt shows before Enter submits it: an agent that reads an
    /// Enter hard on the heels of typed text as a new line needs a moment.
    fn submit_settle(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
    /// Whether the agent takes each read of its input as one key (Ink 4 parses a whole chunk
    /// as one keypress): the keys of an answer then go one write at a time.
    fn one_key_per_read(&self) -> bool {
        false
    }
    /// Whether the agent keeps sessions sbx can resume (`--resume`, `sbx sessions`).
    fn keeps_sessions(&self) -> bool {
        true
    }
    /// The keys that answer the agent's question.
    fn answer(&self, key: crate::protocol::AgentKey) -> Vec<u8> {
        use crate::protocol::AgentKey;
        match key {
            // The highlighted first option is "yes" in both agents' dialogs.
            AgentKey::Confirm => b"\r".to_vec(),
            AgentKey::Cancel => b"\x1b".to_vec(),
            AgentKey::Select(n) => vec![b'0' + n.min(9)],
        }
    }
}

/// An option of a row or column of options picked by keys: `arrow` n−1 times (n is 1-based,
/// at most `count`), then Enter.
fn pick_option(arrow: &[u8], n: u8, count: u8) -> Vec<u8> {
    let mut keys = arrow.repeat(n.clamp(1, count) as usize - 1);
    keys.push(b'\r');
    keys
}

/// Whether a command line runs `program`: as itself (`codex`), or as a script of Node's
/// (`node …/claude-code/cli.js`). A shell whose command mentions the program does not.
fn runs_program(argv: &[String], program: &str) -> bool {
    let base = |a: &String| std::path::Path::new(a).file_name().map(|n| n.to_string_lossy().into_owned());
    match argv.first().and_then(base) {
        Some(first) if first == program => true,
        Some(first) if first.starts_with("node") => argv.get(1).is_some_and(|script| script.contains(program)),
        _ => false,
    }
}

/// The agent's own processes above a hook: from the pane's first process down the hook's
/// ancestry (`lineage`, nearest first), the unbroken run of processes that run the agent's
/// program (a shell as the pane's first process is passed over). Processes the agent started
/// — a tool's shell and whatever it runs — come after the run and are never part of it.
pub fn agent_processes(kind: AgentKind, lineage: &[u32], pane_root: u32) -> Vec<u32> {
    let Some(root) = lineage.iter().position(|p| *p == pane_root) else { return Vec::new() };
    let mut run = Vec::new();
    for (depth, pid) in lineage[..=root].iter().rev().enumerate() {
        if runs_program(&crate::proc::cmdline(*pid), kind.adapter().program()) {
            run.push(*pid);
        } else if depth > 0 || !run.is_empty() {
            break;
        }
    }
    run
}

/// Whether the agent's own processes back a claim that they run session `id`: one was started
/// for it (`--resume ID`, `resume ID`, `--session-id ID`), holds its transcript open, or is
/// recorded by the agent as running it. A process the agent started cannot make its parent
/// say any of these, so a tool's shell cannot claim another pane's session.
pub fn vouches(kind: AgentKind, agent: &[u32], id: &str) -> bool {
    agent.iter().any(|&pid| {
        crate::proc::cmdline(pid).iter().any(|arg| arg == id)
            || crate::proc::open_files(pid).iter().any(|f| {
                let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                name.ends_with(".jsonl") && name.contains(id)
            })
            || kind.adapter().running_session(pid).as_deref() == Some(id)
    })
}

/// Find a program on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
    })
}

/// The agent's home folder: `$VAR` when set, else `~/DEFAULT`.
pub fn home_dir(var: &str, default: &str) -> PathBuf {
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(default),
    }
}

/// The MCP server entry both agents take: `<sbx> mcp`, with the server's socket when sbx
/// launches the agent itself (the entry `sbx init` installs finds the server on its own).
fn mcp_entry(sbx: &Path, socket: Option<&Path>) -> serde_json::Value {
    serde_json::json!({ "type": "stdio", "command": sbx.display().to_string(), "args": mcp_args(socket) })
}

fn mcp_args(socket: Option<&Path>) -> Vec<String> {
    let mut args = vec!["mcp".to_string()];
    if let Some(socket) = socket {
        args.push("--socket".into());
        args.push(socket.display().to_string());
    }
    args
}

/// The hook command line sbx installs: `<sbx> hook <agent> <Event>`.
fn hook_command(sbx: &Path, kind: AgentKind, event: &str) -> String {
    format!("{} hook {} {}", shell_quote(&sbx.display().to_string()), kind.name(), event)
}

/// A word for a POSIX shell: as is when plain, else single-quoted.
pub(crate) fn shell_quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_program_itself_runs_it() {
        let v = |s: &[&str]| s.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        assert!(runs_program(&v(&["/usr/bin/codex", "resume", "x"]), "codex"));
        assert!(runs_program(&v(&["node", "/lib/node_modules/@anthropic-ai/claude-code/cli.js"]), "claude"));
        assert!(!runs_program(&v(&["bash", "-c", "sbx hook claude SessionStart"]), "claude"));
        assert!(!runs_program(&v(&["/usr/bin/sbx", "hook", "codex", "Stop"]), "codex"));
        assert!(!runs_program(&[], "codex"));
    }

    #[test]
    fn hook_commands_quote_odd_paths() {
        assert_eq!(hook_command(Path::new("/usr/bin/sbx"), AgentKind::Claude, "Stop"), "/usr/bin/sbx hook claude Stop");
        assert_eq!(
            hook_command(Path::new("/opt/my tools/sbx"), AgentKind::Codex, "Stop"),
            "'/opt/my tools/sbx' hook codex Stop"
        );
    }

    /// Resuming never asks an agent for a new session id as well (Claude Code refuses
    /// `--session-id` beside `--resume`), and the pane knows the resumed session's id.
    #[test]
    fn a_resumed_agent_keeps_its_session_and_gets_no_new_one() {
        let v = |s: &[&str]| s.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let (sbx, socket) = (Path::new("/usr/bin/sbx"), Path::new("/run/s.sock"));
        let launch = |kind: AgentKind, args: &[String], resume: Option<&str>| {
            kind.adapter().launch(&LaunchCtx { sbx, socket, args, resume, cwd: Path::new("/nonexistent") })
        };
        let id = "0b6c3f8e-1d2a-4c5b-9e7f-000000000001";

        let fresh = launch(AgentKind::Claude, &[], None);
        assert_eq!(fresh.command[1], "--session-id");
        assert_eq!(fresh.session_id.as_deref(), Some(fresh.command[2].as_str()));

        let resumed = launch(AgentKind::Claude, &[], Some(id));
        assert_eq!(resumed.command[..3], v(&["claude", "--resume", id])[..]);
        assert!(!resumed.command.iter().any(|a| a == "--session-id"), "{:?}", resumed.command);
        assert_eq!(resumed.session_id.as_deref(), Some(id));

        // The user's own flags, after `--`: the same rule (`choose_session`, which Qwen's
        // launch uses too; its launch writes a settings file, so the rule is checked alone).
        let session = |args: &[String], resume: Option<&str>| {
            let mut command = Vec::new();
            let id =
                choose_session(&LaunchCtx { sbx, socket, args, resume, cwd: Path::new("/nonexistent") }, &mut command);
            (command, id)
        };
        for own in [v(&["--resume", id]), v(&[&format!("--resume={id}")]), v(&["-r", id])] {
            let l = launch(AgentKind::Claude, &own, None);
            assert!(!l.command.iter().any(|a| a == "--session-id"), "{:?}", l.command);
            assert_eq!(l.session_id.as_deref(), Some(id), "{own:?}");
            assert_eq!(session(&own, None), (Vec::new(), Some(id.to_string())));
        }
        let continued = launch(AgentKind::Claude, &v(&["--continue"]), None);
        assert!(!continued.command.iter().any(|a| a == "--session-id"));
        assert_eq!(continued.session_id, None, "the hooks say which session it continued");
        let forked = launch(AgentKind::Claude, &v(&["--resume", id, "--fork-session"]), None);
        assert_eq!(forked.session_id, None, "a fork is a new session");
        let chosen = launch(AgentKind::Claude, &v(&["--session-id", id]), None);
        assert_eq!(chosen.command.iter().filter(|a| *a == "--session-id").count(), 1, "{:?}", chosen.command);
        assert_eq!(chosen.session_id.as_deref(), Some(id), "the user's own id");
        assert_eq!(session(&[], Some(id)), (v(&["--resume", id]), Some(id.to_string())));

        let codex = launch(AgentKind::Codex, &[], Some(id));
        assert_eq!(codex.command[..3], v(&["codex", "resume", id])[..]);
        assert_eq!(codex.session_id.as_deref(), Some(id));
        assert_eq!(launch(AgentKind::Codex, &[], None).command[1], "--no-daemon");
    }
}
