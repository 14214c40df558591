//! The server's link to sharing: friends and received sessions kept for the sidebar and the
//! pickers, refreshed every minute (and after each send or open), and sessions sent to a
//! friend. The work is the same library calls the CLI makes (`share::send`, `share::inbox`),
//! run as tasks on the server's runtime: the network and the sealing never block the loop.

use tokio::sync::mpsc::UnboundedSender;

use super::super::Internal;
use crate::config::paths::Paths;

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

pub struct ShareLink {
    pub view: SharedView,
    paths: Paths,
    events: UnboundedSender<Internal>,
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

impl ShareLink {
    pub fn new(paths: Paths, events: UnboundedSender<Internal>) -> ShareLink {
        ShareLink { view: SharedView::default(), paths, events }
    }

    /// Refresh now, then every minute. Someone who has never made friends costs no network:
    /// a file check.
    pub fn start_refresh(&self) {
        let (events, paths) = (self.events.clone(), self.paths.clone());
        tokio::spawn(async move {
            loop {
                if paths.config.join("friends.toml").exists()
                    && events.send(Internal::Shared(fetch_shared(paths.clone()).await)).is_err()
                {
                    break;
                }
                if events.is_closed() {
                    break;
                }
                tokio::time::sleep(REFRESH).await;
            }
        });
    }

    pub fn refresh_once(&self) {
        let (events, paths) = (self.events.clone(), self.paths.clone());
        tokio::spawn(async move {
            let _ = events.send(Internal::Shared(fetch_shared(paths).await));
        });
    }

    /// Send the local agent session `session_id` to `friend`; the outcome is a status line
    /// for `client`.
    pub fn send(&self, client: u64, friend: String, session_id: String) {
        let (events, paths) = (self.events.clone(), self.paths.clone());
        tokio::spawn(async move {
            let message = send_session(paths, friend, session_id).await;
            let _ = events.send(Internal::Message(client, message));
        });
    }
}
