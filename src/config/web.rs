//! The browser endpoint's options: config.toml's `[web]`.

use serde::{Deserialize, Serialize};

/// The web endpoint (`sbx web`), from config.toml's `[web]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct WebSettings {
    /// Start the endpoint with the server.
    pub enabled: bool,
    /// Where it listens. Loopback unless TLS is set up: anything else is refused without it.
    pub addr: String,
    /// How long a printed login link can be used (once).
    pub login_ttl_secs: u64,
    /// How long a browser stays logged in without being used.
    pub session_idle_secs: u64,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            enabled: false,
            addr: "127.0.0.1:7681".into(),
            login_ttl_secs: 600,
            session_idle_secs: 7 * 24 * 3600,
        }
    }
}
