//! Sharing from the TUI: prefix `S` picks a friend and sends the focused agent pane's session;
//! prefix `O` picks a received session and opens it in a new pane that resumes it; the sidebar
//! lists friends and received sessions.
//!
//! The work is the same library calls the CLI makes (`share::send`, `share::inbox`), run on
//! the server's runtime (the network and the sealing never block this loop); opening runs
//! `sbx open --resume` as the new pane's own command.

use crossterm::event::{KeyCode, KeyEvent};

use super::client::Mode;
use super::conn::ClientId;
use super::inbox_view::Internal;
use super::Server;
use crate::protocol::{PaneSpec, SplitDirection};

/// Every refresh of friends and received sessions is this far apart (and after each send/open).
const REFRESH: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    pub blob: String,
    pub from: String,
    pub tool: String,
    pub title: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedView {
    pub friends: Vec<String>,
    pub received: Vec<Received>,
}

#[derive(Debug, Clone)]
pub enum PickAction {
    /// Send this agent session to the picked friend.
    SendTo { session_id: String },
    /// Open the picked blob in a new pane beside this one.
    Open { beside: String, dir: String },
}

#[derive(Debug, Clone)]
pub struct Picker {
    pub title: String,
    /// (value, what is shown)
    pub items: Vec<(String, String)>,
    pub selected: usize,
    pub action: PickAction,
}

async fn fetch_shared(paths: crate::config::paths::Paths) -> SharedView {
    let Ok(friends) = crate::share::friends::Friends::load(&paths) else { return SharedView::default() };
    let names = friends.friends.keys().cloned().collect();
    let (Ok(me), Ok(relay)) = (crate::share::me(&paths), crate::share::relay(&paths)) else {
        return SharedView { friends: names, received: Vec::new() };
    };
    let waiting = crate::share::inbox::waiting(&relay, &me, &friends, &paths).await.unwrap_or_default();
    let received = waiting
        .into_iter()
        .filter_map(|w| {
            let header = w.checked?.ok()?;
            let from = friends
                .by_echo_id(&header.sender_echo_id)
                .map_or_else(|| format!("unknown {}", header.sender_echo_id), |(name, _)| name.to_string());
            Some(Received { blob: w.blob.id, from, tool: header.tool, title: header.title })
        })
        .collect();
    SharedView { friends: names, received }
}

/// Send the local agent session `session_id` to `friend`; a line for the status bar.
async fn send_session(paths: crate::config::paths::Paths, friend: String, session_id: String) -> String {
    let found = tokio::task::spawn_blocking(move || {
        crate::share::sessions::list(None).into_iter().find(|s| s.id == session_id)
    })
    .await
    .ok()
    .flatten();
    let Some(session) = found else { return "not sent: the agent's session is not on disk yet".into() };
    match crate::share::send::send(&paths, &friend, session, |_, _| {}).await {
        Ok(sent) => format!("sent {} session to {friend}", sent.manifest.tool),
        Err(e) => format!("not sent: {}", e.message),
    }
}

impl Server {
    /// Refresh friends and received sessions now, then every minute (first call only). Someone
    /// who has never made friends costs no child process and no network: a file check.
    pub(super) fn start_share_refresh(&self) {
        let internal = self.internal.clone();
        let paths = self.paths.clone();
        tokio::spawn(async move {
            loop {
                if paths.config.join("friends.toml").exists()
                    && internal.send(Internal::Shared(fetch_shared(paths.clone()).await)).is_err()
                {
                    break;
                }
                if internal.is_closed() {
                    break;
                }
                tokio::time::sleep(REFRESH).await;
            }
        });
    }

    fn refresh_shared_once(&self) {
        let internal = self.internal.clone();
        let paths = self.paths.clone();
        tokio::spawn(async move {
            let _ = internal.send(Internal::Shared(fetch_shared(paths).await));
        });
    }

    pub(super) fn share_session(&mut self, id: ClientId, focused: crate::pane::PaneId) -> Result<(), String> {
        let Some(agent) = self.state.agents.get(&focused) else {
            return Err("this pane runs no agent; focus an agent pane, then prefix S".into());
        };
        let Some(session_id) = agent.session_id.clone() else {
            return Err("the agent has no session yet (Codex starts one with its first prompt)".into());
        };
        if self.shared.friends.is_empty() {
            self.refresh_shared_once();
            return Err("no friends yet: sbx friend add NAME ECHO-ID".into());
        }
        let items = self.shared.friends.iter().map(|f| (f.clone(), f.clone())).collect();
        let picker = Picker {
            title: format!("send {session_id:.8}… to"),
            items,
            selected: 0,
            action: PickAction::SendTo { session_id },
        };
        if let Some(c) = self.clients.get_mut(&id) {
            c.mode = Mode::Pick(picker);
        }
        Ok(())
    }

    pub(super) fn open_received(&mut self, id: ClientId, focused: crate::pane::PaneId) -> Result<(), String> {
        if self.shared.received.is_empty() {
            self.refresh_shared_once();
            return Err("no sessions received (sbx inbox checks the relay)".into());
        }
        let dir = self.state.pane_info(focused).map(|p| p.cwd).unwrap_or_else(|| "/".into());
        let items = self
            .shared
            .received
            .iter()
            .map(|r| (r.blob.clone(), format!("{} · {} · {}", r.from, r.tool, r.title)))
            .collect();
        let action = PickAction::Open { beside: crate::pane::pane_name(focused), dir };
        let picker = Picker { title: "open a received session".into(), items, selected: 0, action };
        if let Some(c) = self.clients.get_mut(&id) {
            c.mode = Mode::Pick(picker);
        }
        Ok(())
    }

    pub(super) fn pick_key(&mut self, id: ClientId, key: KeyEvent) {
        let Some(client) = self.clients.get_mut(&id) else { return };
        let Mode::Pick(p) = &mut client.mode else { return };
        client.dirty = true;
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => p.selected = (p.selected + 1).min(p.items.len().saturating_sub(1)),
            KeyCode::Up | KeyCode::Char('k') => p.selected = p.selected.saturating_sub(1),
            KeyCode::Enter => {
                let Some((value, _)) = p.items.get(p.selected).cloned() else { return };
                let action = p.action.clone();
                client.mode = Mode::Normal;
                self.picked(id, action, value);
            }
            _ => client.mode = Mode::Normal,
        }
    }

    fn picked(&mut self, id: ClientId, action: PickAction, value: String) {
        match action {
            PickAction::SendTo { session_id } => {
                self.set_message(id, format!("sending to {value}…"));
                let internal = self.internal.clone();
                let paths = self.paths.clone();
                tokio::spawn(async move {
                    let message = send_session(paths, value, session_id).await;
                    let _ = internal.send(Internal::Message(id, message));
                });
            }
            PickAction::Open { beside, dir } => {
                let exe = std::env::current_exe().unwrap_or_else(|_| "sbx".into()).display().to_string();
                // The pane itself opens (checks, installs) and then becomes the agent (--resume).
                let command = vec![exe, "open".into(), value, "--dir".into(), dir.clone(), "--resume".into()];
                let spec = PaneSpec { cwd: Some(dir.into()), command, ..Default::default() };
                match self.split(Some(&beside), SplitDirection::Right, spec) {
                    Ok(_) => self.set_message(id, "opening in a new pane".into()),
                    Err(e) => self.set_message(id, format!("cannot open: {}", e.message)),
                }
                self.shared.received.clear();
                self.refresh_shared_once();
            }
        }
    }

    pub(super) fn set_message(&mut self, id: ClientId, message: String) {
        if let Some(c) = self.clients.get_mut(&id) {
            c.message = Some(message);
            c.dirty = true;
        }
    }

    pub(super) fn pick_lines(&self, p: &Picker) -> (String, Vec<String>) {
        let mut lines: Vec<String> = p
            .items
            .iter()
            .enumerate()
            .map(|(i, (_, shown))| {
                let shown: String = shown.chars().filter(|c| !c.is_control()).take(70).collect();
                format!("{} {shown}", if i == p.selected { "▸" } else { " " })
            })
            .collect();
        lines.push(String::new());
        lines.push("↑↓ select · Enter · q cancel".into());
        (p.title.clone(), lines)
    }
}
