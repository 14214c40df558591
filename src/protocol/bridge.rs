//! A bridge call as it crosses the socket: what the caller asks. Every field is checked by
//! the bridge (limits, names), never trusted here.

use serde::{Deserialize, Serialize};

/// What a caller asks of the bridge. Every field is checked by the bridge (limits, names).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum BridgeOp {
    WhoAmI,
    ListSessions {
        all: bool,
    },
    Send {
        to: String,
        subject: String,
        body: String,
        artifacts: Vec<String>,
        reply_to: Option<i64>,
    },
    Broadcast {
        subject: String,
        body: String,
        ttl_secs: Option<u64>,
    },
    ListInbox {
        all: bool,
        limit: u32,
    },
    Read {
        id: i64,
    },
    MarkRead {
        ids: Vec<i64>,
    },
    PutArtifact {
        name: Option<String>,
        data: Vec<u8>,
    },
    GetArtifact {
        sha: String,
    },
    /// Answer with unread messages (newer than `after`, when given) as soon as there are any.
    Wait {
        timeout_ms: u64,
        after: Option<i64>,
    },
    Join {
        channel: String,
    },
    Leave {
        channel: String,
    },
    ListChannels,
    Thread {
        id: i64,
    },
    SetSummary {
        summary: String,
    },
    Search {
        query: String,
        limit: u32,
    },
    SetLabel {
        label: String,
    },
    /// The `<sbx-inbox>` block a prompt hook prints (marks what it shows as read).
    InboxBlock,
    /// The owner's read-only view: every session, channel and (the latest `limit`) message.
    Dashboard {
        limit: u32,
    },
    /// One message whole, with its thread and who read it, marking nothing read (the owner's).
    Peek {
        id: i64,
    },
    /// What a friend's sbx last said: whether they added you back, and the sessions they let
    /// you see.
    FriendSessions {
        friend: String,
    },
}

/// Who makes a call: a person or script through the CLI, or an agent through `sbx mcp`. The
/// bridge names the next step in the caller's own terms (a command, or a tool).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Via {
    #[default]
    Cli,
    Mcp,
}
