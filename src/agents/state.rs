//! An agent pane's state, from the agent's own hooks first, its screen last.

pub use crate::protocol::HookEvent;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AgentState {
    Starting,
    Working {
        tool: Option<String>,
        /// The running tool's input, from the hook.
        #[serde(default)]
        input: Option<crate::protocol::ToolInput>,
    },
    /// Waiting for the user: a permission (with the tool) or a question.
    Waiting {
        reason: String,
        tool: Option<String>,
        /// What the tool would do, from the hook (its `tool_input`).
        #[serde(default)]
        input: Option<crate::protocol::ToolInput>,
    },
    Idle,
    Exited,
}

impl AgentState {
    pub fn tool(&self) -> Option<&str> {
        match self {
            AgentState::Working { tool, .. } | AgentState::Waiting { tool, .. } => tool.as_deref(),
            _ => None,
        }
    }

    /// What the tool it runs, or waits on, would do.
    pub fn tool_input(&self) -> Option<&crate::protocol::ToolInput> {
        match self {
            AgentState::Working { input, .. } | AgentState::Waiting { input, .. } => input.as_ref(),
            _ => None,
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            AgentState::Waiting { reason, .. } => Some(reason),
            _ => None,
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            AgentState::Starting => "starting",
            AgentState::Working { .. } => "working",
            AgentState::Waiting { .. } => "waiting",
            AgentState::Idle => "idle",
            AgentState::Exited => "exited",
        }
    }
}

/// The state a hook event moves an agent to (None: no change).
pub fn after_hook(current: &AgentState, hook: &HookEvent) -> Option<AgentState> {
    let next = match hook.event.as_str() {
        // Claude starts a session at launch (and again after /clear, following SessionEnd);
        // Codex only with its first prompt, when the turn is already under way.
        "SessionStart" if matches!(current, AgentState::Starting | AgentState::Exited) => AgentState::Idle,
        "SessionStart" => return None,
        "UserPromptSubmit" => AgentState::Working { tool: None, input: None },
        "PreToolUse" | "PostToolUse" => {
            // A tool running after a permission was granted means the wait is over.
            AgentState::Working { tool: hook.tool_name.clone(), input: hook.tool_input.clone() }
        }
        "PermissionRequest" => AgentState::Waiting {
            reason: "permission".into(),
            tool: hook.tool_name.clone(),
            input: hook.tool_input.clone(),
        },
        "Notification" => match hook.notification_type.as_deref() {
            // Claude's, and Gemini CLI's (which reports its tool's confirmation as a notice).
            Some("permission_prompt") | Some("ToolPermission") => {
                // The permission notice comes late; keep the tool PermissionRequest gave.
                let (tool, input) = match current {
                    AgentState::Waiting { tool, input, .. } => (tool.clone(), input.clone()),
                    AgentState::Working { tool, input } => (tool.clone(), input.clone()),
                    _ => (None, None),
                };
                AgentState::Waiting { reason: "permission".into(), tool, input }
            }
            Some("idle_prompt") | Some("elicitation_dialog") if matches!(current, AgentState::Working { .. }) => {
                AgentState::Waiting { reason: "question".into(), tool: None, input: None }
            }
            _ => return None,
        },
        "Stop" => AgentState::Idle,
        "SessionEnd" => AgentState::Exited,
        _ => return None,
    };
    (next != *current).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(event: &str, tool: Option<&str>) -> HookEvent {
        HookEvent { event: event.into(), tool_name: tool.map(Into::into), ..Default::default() }
    }

    #[test]
    fn a_turn_with_a_permission() {
        let mut s = AgentState::Starting;
        for (event, tool, expect) in [
            ("SessionStart", None, "idle"),
            ("UserPromptSubmit", None, "working"),
            ("PreToolUse", Some("Bash"), "working"),
            ("PermissionRequest", Some("Bash"), "waiting"),
            ("PostToolUse", Some("Bash"), "working"),
            ("Stop", None, "idle"),
            ("SessionEnd", None, "exited"),
        ] {
            if let Some(next) = after_hook(&s, &hook(event, tool)) {
                s = next;
            }
            assert_eq!(s.label(), expect, "after {event}");
        }
    }

    #[test]
    fn a_session_start_inside_a_turn_keeps_it_working() {
        let working = AgentState::Working { tool: None, input: None };
        assert_eq!(after_hook(&working, &hook("SessionStart", None)), None);
        assert_eq!(after_hook(&AgentState::Exited, &hook("SessionStart", None)), Some(AgentState::Idle));
    }

    #[test]
    fn the_late_permission_notice_keeps_the_tool() {
        let s = AgentState::Waiting { reason: "permission".into(), tool: Some("Bash".into()), input: None };
        let mut n = hook("Notification", None);
        n.notification_type = Some("permission_prompt".into());
        assert_eq!(after_hook(&s, &n), None);
    }
}
