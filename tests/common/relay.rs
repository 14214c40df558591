//! A real `sbx relay` on 127.0.0.1 for the tests, in a folder of its own.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use super::SBX;

pub struct Relay {
    child: Child,
    pub url: String,
    db: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

pub fn start(args: &[&str]) -> Relay {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    start_on(dir, db, args)
}

pub fn start_on(dir: tempfile::TempDir, db: std::path::PathBuf, args: &[&str]) -> Relay {
    start_at("127.0.0.1:0", dir, db, args)
}

fn start_at(addr: &str, dir: tempfile::TempDir, db: std::path::PathBuf, args: &[&str]) -> Relay {
    let mut child = Command::new(SBX)
        .args(["relay", "--addr", addr, "--json", "--db"])
        .arg(&db)
        .args(args)
        .env("SBX_HOME", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    // Under --json the relay's first line is one JSON object naming where it listens.
    let said: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    let url = said["listening"].as_str().unwrap_or_default().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    Relay { child, url, db, _dir: dir }
}

impl Relay {
    pub fn db_path(&self) -> &std::path::Path {
        &self.db
    }

    /// Everything the relay's database holds on disk now (the file and its WAL), byte for byte.
    pub fn db_bytes(&self) -> Vec<u8> {
        let mut bytes = std::fs::read(&self.db).unwrap_or_default();
        bytes.extend(std::fs::read(self.db.with_extension("db-wal")).unwrap_or_default());
        bytes
    }

    /// Killed (SIGKILL: no goodbye, nothing flushed beyond what is on disk), `while_down`
    /// run, then started again on the same address and database.
    pub fn crash_and_restart(mut self, args: &[&str], while_down: impl FnOnce()) -> Relay {
        let _ = self.child.kill();
        let _ = self.child.wait();
        while_down();
        let addr = self.url.trim_start_matches("http://").to_string();
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().unwrap());
        start_at(&addr, dir, self.db.clone(), args)
    }

    /// SIGTERM, and wait for the graceful exit.
    pub fn stop(mut self) -> (tempfile::TempDir, std::path::PathBuf) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the relay exits cleanly on SIGTERM: {status:?}");
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().unwrap());
        (dir, self.db.clone())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
