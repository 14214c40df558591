//! The browser endpoint's options: config.toml's `[web]`.

use serde::{Deserialize, Serialize};

use crate::protocol::WebTls;

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
    /// Speak TLS with a certificate sbx makes on first use and keeps (pin its fingerprint).
    pub tls_self_signed: bool,
    /// Speak TLS with these PEM files (absolute paths; both or neither).
    pub tls_cert: String,
    pub tls_key: String,
}

impl WebSettings {
    /// The TLS these settings ask for (None: plain HTTP, loopback only).
    pub fn tls(&self) -> Result<Option<WebTls>, String> {
        match (self.tls_cert.is_empty(), self.tls_key.is_empty()) {
            (true, true) => Ok(self.tls_self_signed.then_some(WebTls::SelfSigned)),
            (false, false) => {
                for (name, path) in [("tls_cert", &self.tls_cert), ("tls_key", &self.tls_key)] {
                    if !std::path::Path::new(path).is_absolute() {
                        return Err(format!("web.{name} in config.toml must be an absolute path, not {path:?}"));
                    }
                }
                Ok(Some(WebTls::Files { cert: self.tls_cert.clone(), key: self.tls_key.clone() }))
            }
            _ => Err("web.tls_cert and web.tls_key in config.toml go together: set both, or neither".into()),
        }
    }
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            enabled: false,
            addr: "127.0.0.1:7681".into(),
            login_ttl_secs: 600,
            session_idle_secs: 7 * 24 * 3600,
            tls_self_signed: false,
            tls_cert: String::new(),
            tls_key: String::new(),
        }
    }
}
