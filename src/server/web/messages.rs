//! echokit_pty's messages (v1), as echokit spells them, and what a pane's state says in them.

use serde::{Deserialize, Serialize};

use crate::protocol::{PaneInfo, SessionInfo};

/// The most one `session_pty_output` carries; more output goes in the next.
pub const MAX_OUTPUT_MESSAGE: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
pub enum Incoming {
    #[serde(alias = "create_session")]
    CreateSession {},
    #[serde(alias = "get_current_state")]
    CurrentState {},
    #[serde(alias = "input")]
    Input { input: String },
    #[serde(alias = "bytes_input")]
    BytesInput { input: Vec<u8> },
    #[serde(alias = "cancel")]
    Cancel {},
    #[serde(alias = "confirm")]
    Confirm {},
    #[serde(alias = "select")]
    Select { index: usize },
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type")]
pub enum Outgoing {
    #[serde(rename = "session_pty_output")]
    PtyOutput { output: String },
    /// What the agent said (from its transcript): its text, or its thinking.
    #[serde(rename = "session_output")]
    Output { output: String, is_thinking: bool },
    #[serde(rename = "session_running")]
    Running { session_id: String },
    #[serde(rename = "session_idle")]
    Idle { session_id: String },
    #[serde(rename = "session_tool_request")]
    ToolRequest { session_id: String, tool_name: String, tool_input: serde_json::Value },
    #[serde(rename = "session_pending")]
    Pending { session_id: String, tool_name: String, tool_input: serde_json::Value },
    #[serde(rename = "session_ended")]
    Ended { session_id: String },
    #[serde(rename = "session_error")]
    Error {
        session_id: String,
        #[serde(flatten)]
        error: Failure,
    },
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "error_code")]
pub enum Failure {
    #[serde(rename = "session_not_found")]
    SessionNotFound,
    #[serde(rename = "invalid_input")]
    InvalidInput { error_message: String },
    #[serde(rename = "invalid_input_for_state")]
    InvalidInputForState { error_state: String, error_input: String },
    #[serde(rename = "internal_error")]
    InternalError { error_message: String },
}

/// The pane `id` names: an agent's session id, a pane id (with or without `%`), a label.
pub fn find<'a>(overview: &'a [SessionInfo], id: &str) -> Option<&'a PaneInfo> {
    let panes = || overview.iter().flat_map(|s| &s.tabs).flat_map(|t| &t.panes);
    panes()
        .find(|p| p.agent.as_ref().and_then(|a| a.session_id.as_deref()) == Some(id))
        .or_else(|| panes().find(|p| p.id == id || p.id.strip_prefix('%') == Some(id)))
        .or_else(|| panes().find(|p| p.label.as_deref() == Some(id)))
}

/// The pane with this sbx id.
pub fn by_pane_id<'a>(overview: &'a [SessionInfo], pane: &str) -> Option<&'a PaneInfo> {
    overview.iter().flat_map(|s| &s.tabs).flat_map(|t| &t.panes).find(|p| p.id == pane)
}

/// The id messages carry for a pane: its agent's session id, else the pane id.
pub fn session_id(pane: &PaneInfo) -> String {
    pane.agent.as_ref().and_then(|a| a.session_id.clone()).unwrap_or_else(|| pane.id.clone())
}

/// The pane's state as echokit says it. A pane with no agent is a shell: always ready.
pub fn state_message(pane: &PaneInfo) -> Outgoing {
    let session_id = session_id(pane);
    if !pane.alive {
        return Outgoing::Ended { session_id };
    }
    let Some(agent) = &pane.agent else { return Outgoing::Idle { session_id } };
    let input = || agent.tool_input.as_ref().map(|i| i.value()).unwrap_or(serde_json::Value::Null);
    match agent.state.as_str() {
        "idle" | "done" => Outgoing::Idle { session_id },
        "exited" => Outgoing::Ended { session_id },
        "waiting" => Outgoing::Pending {
            session_id,
            tool_name: agent.tool.clone().or_else(|| agent.reason.clone()).unwrap_or_default(),
            tool_input: input(),
        },
        _ => match &agent.tool {
            Some(tool) => Outgoing::ToolRequest { session_id, tool_name: tool.clone(), tool_input: input() },
            None => Outgoing::Running { session_id },
        },
    }
}

/// echokit's name for the state, in `invalid_input_for_state`.
pub fn state_name(pane: &PaneInfo) -> &'static str {
    match pane.agent.as_ref().map(|a| (a.state.as_str(), a.tool.is_some())) {
        None | Some(("idle" | "done", _)) => "idle",
        Some(("waiting", _)) => "pre_use_tool",
        Some(("working", true)) => "pre_use_tool",
        _ => "processing",
    }
}

pub fn invalid(session_id: String, message: impl Into<String>) -> Outgoing {
    Outgoing::Error { session_id, error: Failure::InvalidInput { error_message: message.into() } }
}

/// A message as the text a socket sends.
pub fn text_of(msg: &Outgoing) -> axum::extract::ws::Utf8Bytes {
    serde_json::to_string(msg).unwrap_or_default().into()
}

/// `text` in pieces of at most MAX_OUTPUT_MESSAGE bytes, cut at character boundaries.
pub fn chunks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(MAX_OUTPUT_MESSAGE);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        out.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_read_and_write_as_echokit_spells_them() {
        for (text, ok) in [
            (r#"{"type":"create_session"}"#, true),
            (r#"{"type":"CurrentState"}"#, true),
            (r#"{"type":"get_current_state"}"#, true),
            (r#"{"type":"input","input":"hi"}"#, true),
            (r#"{"type":"Select","index":1}"#, true),
            (r#"{"type":"bytes_input","input":[27,91,66]}"#, true),
            (r#"{"type":"select","index":-1}"#, false),
            (r#"{"type":"launch"}"#, false),
        ] {
            assert_eq!(serde_json::from_str::<Incoming>(text).is_ok(), ok, "{text}");
        }
        let pending = Outgoing::Pending {
            session_id: "s".into(),
            tool_name: "Bash".into(),
            tool_input: json!({"command": "ls"}),
        };
        assert_eq!(
            serde_json::to_string(&pending).unwrap(),
            r#"{"type":"session_pending","session_id":"s","tool_name":"Bash","tool_input":{"command":"ls"}}"#
        );
        let error = Outgoing::Error {
            session_id: "s".into(),
            error: Failure::InvalidInputForState { error_state: "processing".into(), error_input: "Cancel".into() },
        };
        assert_eq!(
            serde_json::to_string(&error).unwrap(),
            r#"{"type":"session_error","session_id":"s","error_code":"invalid_input_for_state","error_state":"processing","error_input":"Cancel"}"#
        );
    }
}
