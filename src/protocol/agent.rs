//! The agent types on the wire: which agent, what its hook reported, how to answer it, and
//! what `sbx ls` shows of it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AgentKind {
    Claude,
    Codex,
    Gemini,
    Qwen,
    Opencode,
    Cline,
    Grok,
}

impl AgentKind {
    pub const ALL: &'static [AgentKind] = &[
        AgentKind::Claude,
        AgentKind::Codex,
        AgentKind::Gemini,
        AgentKind::Qwen,
        AgentKind::Opencode,
        AgentKind::Cline,
        AgentKind::Grok,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AgentKind::Claude => "claude",
            AgentKind::Codex => "codex",
            AgentKind::Gemini => "gemini",
            AgentKind::Qwen => "qwen",
            AgentKind::Opencode => "opencode",
            AgentKind::Cline => "cline",
            AgentKind::Grok => "grok",
        }
    }

    pub fn from_name(name: &str) -> Option<AgentKind> {
        AgentKind::ALL.iter().copied().find(|k| k.name() == name)
    }
}

/// What a hook reports (the fields sbx uses from the agent's hook input).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HookEvent {
    pub event: String,
    pub session_id: Option<String>,
    pub tool_name: Option<String>,
    /// What the tool is about to do (its `tool_input`), bounded.
    pub tool_input: Option<super::ToolInput>,
    pub notification_type: Option<String>,
    pub transcript_path: Option<String>,
    pub cwd: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentKey {
    Confirm,
    Cancel,
    Select(u8),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub kind: String,
    pub session_id: Option<String>,
    pub state: String,
    pub reason: Option<String>,
    pub tool: Option<String>,
    /// What the tool it waits on would do (a permission's command, file, …).
    #[serde(default)]
    pub tool_input: Option<super::ToolInput>,
    /// The session's transcript, the agent's own record (once sbx knows where it is).
    #[serde(default)]
    pub transcript: Option<String>,
    /// Turns it has begun in this pane (a script that saw the number knows a new one began,
    /// however short, without having to see it working).
    #[serde(default)]
    pub turns: u64,
}
