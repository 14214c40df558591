//! What the bridge lets each endpoint keep on disk: the bytes of the messages it sent and the
//! artifacts it stored first, against a budget per endpoint and one for the whole store. A
//! refusal (`quota`) comes before anything is written, so one agent cannot fill the disk.

use std::collections::HashMap;

use super::store::Store;
use super::{BridgeResult, BridgeSettings, Error, USER};

#[derive(Debug, Default)]
pub struct Usage {
    per: HashMap<String, u64>,
    total: u64,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

impl Usage {
    /// What the store holds now, by whom.
    pub fn load(store: &Store) -> Usage {
        let mut usage = Usage::default();
        match store.usage() {
            Ok(rows) => {
                for (who, bytes) in rows {
                    usage.charge(&who, bytes);
                }
            }
            Err(e) => tracing::warn!("bridge: cannot count what the store holds: {e:#}"),
        }
        usage
    }

    pub fn charge(&mut self, who: &str, bytes: u64) {
        *self.per.entry(who.to_string()).or_default() += bytes;
        self.total += bytes;
    }

    /// May `who` store `bytes` more? The user at the keyboard has no budget of its own (the
    /// disk is theirs), only the store's.
    pub fn check(&self, who: &str, bytes: u64, limits: &BridgeSettings) -> BridgeResult<()> {
        let used = self.per.get(who).copied().unwrap_or(0);
        if who != USER && used + bytes > limits.max_bytes_per_endpoint {
            return Err(Error::new(
                "quota",
                format!(
                    "you keep {} of messages and artifacts in the bridge; {} more is over your budget of {}",
                    mib(used),
                    mib(bytes),
                    mib(limits.max_bytes_per_endpoint)
                ),
                "wait until your messages are read and collected (artifacts no message refers to go after \
                 bridge.orphan_artifact_secs), or raise bridge.max_bytes_per_endpoint in config.toml",
            ));
        }
        if self.total + bytes > limits.max_total_bytes {
            return Err(Error::new(
                "quota",
                format!(
                    "the bridge store holds {}; {} more is over its budget of {}",
                    mib(self.total),
                    mib(bytes),
                    mib(limits.max_total_bytes)
                ),
                "read and clear old messages, or raise bridge.max_total_bytes in config.toml",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_per_endpoint_and_in_total() {
        let limits = BridgeSettings { max_bytes_per_endpoint: 100, max_total_bytes: 250, ..Default::default() };
        let mut u = Usage::default();
        u.charge("a", 90);
        assert!(u.check("a", 10, &limits).is_ok());
        assert_eq!(u.check("a", 11, &limits).unwrap_err().code, "quota");
        u.charge("b", 100);
        u.charge(USER, 50);
        assert!(u.check(USER, 10, &limits).is_ok(), "the user has no budget of its own");
        let e = u.check(USER, 11, &limits).unwrap_err();
        assert!(e.message.contains("the bridge store holds"), "{}", e.message);
    }
}
