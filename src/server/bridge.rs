//! The server's side of the bridge: it tells the bridge thread about panes (who runs where,
//! under which process), forwards prompt hooks for the `<sbx-inbox>` block, owns labels, and
//! keeps the bridge's overview for the sidebar.

use tokio::sync::mpsc::UnboundedSender;

use super::Server;
use crate::agents::{AgentState, HookEvent};
use crate::bridge::{BridgeMsg, BridgeNotice, BridgeOp, Caller, PaneEntry, Replier};
use crate::protocol::{Error, Reply, ServerMsg};

/// Hooks that run before the agent's next turn: the ones whose output becomes context.
fn takes_context(event: &str) -> bool {
    matches!(event, "UserPromptSubmit" | "SessionStart")
}

impl Server {
    /// Tell the bridge what changed about panes since last time.
    pub(super) fn sync_bridge(&mut self) {
        self.bridge_dirty = false;
        let mut current = std::collections::BTreeMap::new();
        for (id, pane) in &self.state.panes {
            let Some(info) = self.state.pane_info(*id) else { continue };
            let agent = info.agent.as_ref();
            let entry = PaneEntry {
                endpoint: pane.endpoint.clone(),
                pane: info.id.clone(),
                session: info.session.clone(),
                label: info.label.clone(),
                cwd: info.cwd.clone(),
                agent: agent.map(|a| a.kind.clone()),
                agent_session: agent.and_then(|a| a.session_id.clone()),
                state: agent.map(|a| a.state.clone()),
                pid: pane.pid,
            };
            current.insert(*id, entry);
        }
        for (id, entry) in &self.published {
            if !current.contains_key(id) {
                self.bridge.send(BridgeMsg::PaneGone { endpoint: entry.endpoint.clone() });
            }
        }
        for (id, entry) in &current {
            if self.published.get(id) != Some(entry) {
                self.bridge.send(BridgeMsg::Pane(entry.clone()));
            }
        }
        self.published = current;
    }

    /// A hook from an agent: its state (for a pane), its registration (outside sbx), and the
    /// unread messages to show before its next turn.
    pub(super) fn hook(
        &mut self,
        pane: Option<String>,
        agent: &str,
        hook: HookEvent,
        pid: u32,
        out: UnboundedSender<ServerMsg>,
    ) {
        let event = hook.event.clone();
        let endpoint = match pane {
            Some(pane) => {
                let id = match self.state.resolve_pane(&pane) {
                    Ok(id) => id,
                    Err(e) => {
                        let _ = out.send(ServerMsg::Error(e));
                        return;
                    }
                };
                // A hook speaks for the pane it runs in, whatever its environment says.
                let runs_in = crate::proc::origin(pid, |p| self.state.panes.values().find(|q| q.pid == Some(p)));
                if !matches!(runs_in, crate::proc::Origin::Pane(p) if p.id == id) {
                    let _ = out.send(ServerMsg::Error(Error::new(
                        "identity_refused",
                        format!("this hook does not run in pane {pane}"),
                        "hooks report for the pane they run in; unset SBX_PANE_ID outside sbx panes",
                    )));
                    return;
                }
                let resumed = match self.on_hook(id, agent, hook, pid) {
                    Ok(resumed) => resumed,
                    Err(e) => {
                        let _ = out.send(ServerMsg::Error(e));
                        return;
                    }
                };
                self.sync_bridge();
                let endpoint = self.state.panes.get(&id).map(|p| p.endpoint.clone());
                if let (Some(endpoint), Some(session)) = (&endpoint, resumed) {
                    self.bridge.send(BridgeMsg::Resumed { endpoint: endpoint.clone(), session });
                }
                endpoint
            }
            None => hook.session_id.clone().filter(|s| !s.is_empty()).inspect(|session_id| {
                self.bridge.send(BridgeMsg::ExternalHook {
                    session_id: session_id.clone(),
                    agent: agent.to_string(),
                    cwd: hook.cwd.clone(),
                    pid,
                });
            }),
        };
        match endpoint {
            Some(endpoint) if takes_context(&event) => self.bridge.send(BridgeMsg::Call {
                caller: Caller::Endpoint(endpoint),
                op: BridgeOp::InboxBlock,
                reply: Replier::once(out),
            }),
            _ => {
                let _ = out.send(ServerMsg::Reply(Reply::Done));
            }
        }
    }

    pub(super) fn on_bridge_notice(&mut self, notice: BridgeNotice) {
        match notice {
            BridgeNotice::SetLabel { endpoint, pane, label, reply } => self.bridge_label(endpoint, pane, label, reply),
            BridgeNotice::Delivered { endpoint, from, subject } => self.notify_idle(&endpoint, &from, &subject),
            BridgeNotice::Overview(overview) => {
                self.overview = overview;
                self.mark_chrome_dirty();
            }
        }
    }

    /// Labels are unique across panes, session names and external sessions; the server checks.
    fn bridge_label(&mut self, endpoint: String, pane: Option<String>, label: String, reply: Replier) {
        let taken_outside = self.overview.external_labels.contains(&label)
            && !self.published.values().any(|p| p.endpoint == endpoint && p.label.as_ref() == Some(&label));
        let result = if taken_outside {
            Err(Error::new(
                "label_taken",
                format!("the label {label:?} is taken by an agent session outside sbx"),
                "labels are unique; choose another",
            ))
        } else {
            match pane.as_deref().map(|p| self.state.resolve_pane(p)) {
                Some(Ok(id)) => self.set_label(id, Some(label.clone())),
                Some(Err(e)) => Err(e),
                None => {
                    if self.state.panes.values().any(|p| p.label.as_ref() == Some(&label))
                        || self.state.session_index(&label).is_some()
                    {
                        Err(Error::new(
                            "label_taken",
                            format!("the label {label:?} is taken"),
                            "labels are unique; choose another",
                        ))
                    } else {
                        self.bridge
                            .send(BridgeMsg::Labelled { endpoint: endpoint.clone(), label: Some(label.clone()) });
                        Ok(())
                    }
                }
            }
        };
        match result {
            Ok(()) => {
                self.bridge_dirty = true;
                self.mark_chrome_dirty();
                reply.send(Ok(serde_json::json!({ "label": label, "id": endpoint }).to_string()));
            }
            Err(e) => reply.send(Err(Error { code: "label_taken".into(), ..e })),
        }
    }

    /// With `bridge.notify_idle`, a message for an idle agent pane is announced in its prompt:
    /// the agent's next turn then starts, and its prompt hook shows the message.
    fn notify_idle(&mut self, endpoint: &str, from: &str, subject: &str) {
        if !self.state.config.settings.bridge.notify_idle {
            return;
        }
        let Some((&id, _)) = self.published.iter().find(|(_, p)| p.endpoint == endpoint) else { return };
        let idle = self.state.agents.get(&id).is_some_and(|a| a.state == AgentState::Idle);
        if !idle {
            return;
        }
        let subject: String = subject.chars().filter(|c| !c.is_control()).take(80).collect();
        let from: String = from.chars().filter(|c| !c.is_control()).take(40).collect();
        let line = format!("[sbx] new message from {from}: \"{subject}\" (it is in your inbox)");
        self.type_prompt(id, &line, None);
    }

    fn mark_chrome_dirty(&mut self) {
        for c in self.clients.values_mut() {
            c.dirty = true;
        }
    }
}
