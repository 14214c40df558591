//! The bridge's limits and options: config.toml's `[bridge]`.

use serde::{Deserialize, Serialize};

/// The bridge's limits, from config.toml's `[bridge]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BridgeSettings {
    pub max_body_bytes: usize,
    pub max_subject_chars: usize,
    pub max_artifact_bytes: usize,
    pub broadcast_ttl_secs: u64,
    pub max_broadcast_ttl_secs: u64,
    pub offline_after_secs: u64,
    pub inbox_block_chars: usize,
    /// Read messages older than this are collected.
    pub keep_read_days: u64,
    /// Type a one-line notice into an idle agent's prompt when a message arrives.
    pub notify_idle: bool,
    /// "normal" (survives a crash of the server) or "full" (survives a power cut too).
    pub sync: String,
    /// The bytes of messages and artifacts one endpoint may keep in the store.
    pub max_bytes_per_endpoint: u64,
    /// The bytes the whole store may keep.
    pub max_total_bytes: u64,
    /// An artifact no message refers to is collected this long after it was stored.
    pub orphan_artifact_secs: u64,
}

impl Default for BridgeSettings {
    fn default() -> Self {
        BridgeSettings {
            max_body_bytes: 64 * 1024,
            max_subject_chars: 200,
            max_artifact_bytes: 10 * 1024 * 1024,
            broadcast_ttl_secs: 3600,
            max_broadcast_ttl_secs: 7 * 24 * 3600,
            offline_after_secs: 600,
            inbox_block_chars: 8000,
            keep_read_days: 7,
            notify_idle: false,
            sync: "normal".into(),
            max_bytes_per_endpoint: 256 * 1024 * 1024,
            max_total_bytes: 2 * 1024 * 1024 * 1024,
            orphan_artifact_secs: 3600,
        }
    }
}
