//! What an agent pane's agent says, for echokit's `session_output` (its text, or its
//! thinking): read from the agent's transcript as it grows, by the agent's adapter, never
//! guessed from the screen. (A tool it runs, `session_tool_request`, comes with its state,
//! from its hooks: the transcript would say it again, and late.)
//!
//! Bounded: at most MAX_READ bytes are read per look, and a record longer than MAX_RECORD
//! (a huge tool result) is skipped whole, never held.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use super::messages::Outgoing;
use crate::agents::{Adapter, Said as Piece};
use crate::protocol::{AgentKind, PaneInfo};

const MAX_READ: u64 = 1024 * 1024;
const MAX_RECORD: usize = 4 * 1024 * 1024;

pub struct Said {
    kind: AgentKind,
    path: Option<PathBuf>,
    /// How far the transcript has been read.
    offset: u64,
    /// The start of a record not yet ended by its newline.
    partial: Vec<u8>,
    /// Inside a record too long to keep: dropped up to its newline.
    skipping: bool,
}

impl Said {
    /// Follow `pane`'s agent from now on: what it said before the viewer came is not sent.
    pub fn new(pane: &PaneInfo) -> Option<Said> {
        let kind = AgentKind::from_name(&pane.agent.as_ref()?.kind)?;
        let mut said = Said { kind, path: None, offset: 0, partial: Vec::new(), skipping: false };
        said.follow(pane, true);
        Some(said)
    }

    /// The transcript `pane`'s agent writes now. One known when the viewer came is read from
    /// its end; one that appears later (a new session) from its start.
    pub fn follow(&mut self, pane: &PaneInfo, from_end: bool) {
        let path = pane.agent.as_ref().and_then(|a| a.transcript.as_ref()).map(PathBuf::from);
        if path == self.path {
            return;
        }
        let end = path.as_ref().and_then(|p| std::fs::metadata(p).ok()).map_or(0, |m| m.len());
        self.offset = if from_end { end } else { 0 };
        self.path = path;
        self.partial.clear();
        self.skipping = false;
    }

    /// What was said since the last look, as the messages that say it.
    pub fn poll(&mut self) -> Vec<Outgoing> {
        let Some(path) = &self.path else { return Vec::new() };
        let Ok(mut file) = std::fs::File::open(path) else { return Vec::new() };
        let len = file.metadata().map_or(0, |m| m.len());
        if len < self.offset {
            // Rewritten from scratch: read it again.
            (self.offset, self.skipping) = (0, false);
            self.partial.clear();
        }
        if len == self.offset || file.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut bytes = Vec::new();
        if file.take(MAX_READ).read_to_end(&mut bytes).is_err() {
            return Vec::new();
        }
        self.offset += bytes.len() as u64;
        let mut out = Vec::new();
        let mut rest = bytes.as_slice();
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (line, after) = rest.split_at(end + 1);
            rest = after;
            if std::mem::take(&mut self.skipping) {
                continue;
            }
            self.partial.extend_from_slice(line);
            let record = std::mem::take(&mut self.partial);
            let text = String::from_utf8_lossy(&record);
            out.extend(self.kind.adapter().said(text.trim_end()).into_iter().map(message));
        }
        if !self.skipping {
            self.partial.extend_from_slice(rest);
            if self.partial.len() > MAX_RECORD {
                self.partial = Vec::new();
                self.skipping = true;
            }
        }
        out
    }
}

fn message(piece: Piece) -> Outgoing {
    Outgoing::Output { output: piece.text, is_thinking: piece.thinking }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pane(transcript: &std::path::Path) -> PaneInfo {
        let mut info: PaneInfo = serde_json::from_value(serde_json::json!({
            "id": "%1", "session": "s", "tab": 1, "label": null, "title": "", "command": [], "cwd": "/",
            "pid": null, "alive": true, "cols": 80, "rows": 24, "active": true,
            "agent": {"kind": "claude", "session_id": null, "state": "idle", "reason": null, "tool": null}
        }))
        .unwrap();
        info.agent.as_mut().unwrap().transcript = Some(transcript.display().to_string());
        info
    }

    fn record(text: &str) -> String {
        format!(
            "{}\n",
            serde_json::json!({"type": "assistant", "message": {"content": [{"type": "text", "text": text}]}})
        )
    }

    #[test]
    fn what_is_said_after_the_viewer_came_is_sent_once_and_a_huge_record_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, record("before")).unwrap();
        let mut said = Said::new(&pane(&path)).unwrap();
        assert!(said.poll().is_empty(), "what was said before the viewer came");
        let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        let whole = record("hello");
        let (first, second) = whole.split_at(10);
        file.write_all(first.as_bytes()).unwrap();
        assert!(said.poll().is_empty(), "half a record waits");
        file.write_all(second.as_bytes()).unwrap();
        assert_eq!(said.poll(), [Outgoing::Output { output: "hello".into(), is_thinking: false }]);
        assert!(said.poll().is_empty(), "said once");
        // A record of 6 MiB is dropped, not held; the next one is read.
        file.write_all(record(&"x".repeat(6 << 20)).as_bytes()).unwrap();
        file.write_all(record("after").as_bytes()).unwrap();
        let mut got = Vec::new();
        for _ in 0..10 {
            got.extend(said.poll());
            assert!(said.partial.len() <= MAX_RECORD + MAX_READ as usize);
        }
        assert_eq!(got, [Outgoing::Output { output: "after".into(), is_thinking: false }]);
    }
}
