//! The server's link to the bridge thread: it tells the bridge about panes (who runs where,
//! under which process), keeps the bridge's overview for the sidebar, and asks the bridge as
//! the user (the inbox popup), the answer coming back as a value.

use std::collections::BTreeMap;

use tokio::sync::mpsc::UnboundedSender;

use super::super::model::Model;
use crate::bridge::{BridgeHandle, BridgeMsg, BridgeOp, Caller, Overview, PaneEntry, Replier};
use crate::pane::PaneId;
use crate::protocol::Error;

pub struct BridgeLink {
    handle: BridgeHandle,
    /// What the bridge was last told about each pane.
    published: BTreeMap<PaneId, PaneEntry>,
    /// The bridge's view for the sidebar.
    pub overview: Overview,
}

impl BridgeLink {
    pub fn new(handle: BridgeHandle) -> BridgeLink {
        BridgeLink { handle, published: BTreeMap::new(), overview: Overview::default() }
    }

    pub fn send(&self, msg: BridgeMsg) {
        self.handle.send(msg);
    }

    /// A handle of its own for another part of the server (the web front).
    pub fn handle(&self) -> BridgeHandle {
        self.handle.clone()
    }

    /// Tell the bridge what changed about panes since last time.
    pub fn sync(&mut self, model: &Model) {
        let mut current = BTreeMap::new();
        for (id, pane) in &model.panes {
            let Some(info) = model.pane_info(*id) else { continue };
            let agent = info.agent.as_ref();
            let entry = PaneEntry {
                endpoint: pane.endpoint.clone(),
                pane: info.id.clone(),
                session: info.session.clone(),
                label: info.label.clone(),
                cwd: info.cwd.clone(),
                agent: agent.map(|a| a.kind.clone()),
                agent_session: agent.and_then(|a| a.session_id.clone()),
                // Done is news for the user, not for other agents or friends: to them it is idle.
                state: agent.map(|a| if a.state == "done" { "idle".into() } else { a.state.clone() }),
                pid: pane.pid,
            };
            current.insert(*id, entry);
        }
        for (id, entry) in &self.published {
            if !current.contains_key(id) {
                self.handle.send(BridgeMsg::PaneGone { endpoint: entry.endpoint.clone() });
            }
        }
        for (id, entry) in &current {
            if self.published.get(id) != Some(entry) {
                self.handle.send(BridgeMsg::Pane(entry.clone()));
            }
        }
        self.published = current;
    }

    /// The pane whose endpoint this is (as last published).
    pub fn pane_of(&self, endpoint: &str) -> Option<PaneId> {
        self.published.iter().find(|(_, p)| p.endpoint == endpoint).map(|(id, _)| *id)
    }

    /// Whether this endpoint's pane was published with this label.
    pub fn has_label(&self, endpoint: &str, label: &str) -> bool {
        self.published.values().any(|p| p.endpoint == endpoint && p.label.as_deref() == Some(label))
    }

    /// Call the bridge as the user (the person at the keyboard); the answer, a value, comes
    /// back on `answer`.
    pub fn as_user(&self, op: BridgeOp, answer: UnboundedSender<Result<serde_json::Value, Error>>) {
        self.handle.send(BridgeMsg::Call {
            caller: Caller::Endpoint(crate::bridge::USER.into()),
            op,
            reply: Replier::Value(answer),
        });
    }
}
