//! The bridge's directory of panes and external agents, as the server and the agents' hooks
//! report them: panes that come, are labelled, resume a session or go; agents started outside
//! sbx; and when an endpoint was last seen.

use super::*;

impl Router {
    /// The pane endpoint whose first process is `pid`.
    pub(super) fn pane_with_pid(&self, pid: u32) -> Option<String> {
        self.dir.endpoints.values().find(|e| e.pane.is_some() && e.pid == Some(pid)).map(|e| e.row.id.clone())
    }

    pub(super) fn seen(&mut self, id: &str) {
        let now = now_ms();
        if let Some(e) = self.dir.endpoints.get_mut(id) {
            let stale = now - e.row.last_seen > SEEN_WRITE_EVERY_MS;
            e.row.last_seen = now;
            if stale {
                let _ = self.store.put_endpoint(&e.row);
            }
        }
    }

    pub(super) fn on_pane(&mut self, entry: PaneEntry) {
        let now = now_ms();
        // A session id is whatever the agent's hook said: one that another live endpoint
        // holds is not this pane's to take (its mail would follow the claim).
        let claimed = entry.agent_session.clone();
        let held = claimed.as_ref().and_then(|s| self.live_holder(s, &entry.endpoint));
        if let (Some(s), Some(other)) = (&claimed, &held) {
            tracing::warn!("bridge: pane {} claims session {s}, which {other} holds; ignored", entry.pane);
        }
        let e = self.dir.endpoints.entry(entry.endpoint.clone()).or_insert_with(|| Endpoint {
            row: EndpointRow { id: entry.endpoint.clone(), kind: "pane".into(), ..Default::default() },
            ..Default::default()
        });
        let before = e.row.clone();
        e.row.agent = entry.agent.clone().or(e.row.agent.take());
        if held.is_none() {
            e.row.agent_session = claimed;
        }
        e.row.label = entry.label.clone();
        e.row.cwd = Some(entry.cwd.clone());
        e.pane = Some(entry.pane.clone());
        e.session = Some(entry.session.clone());
        e.pid = entry.pid;
        e.state = entry.state.clone();
        if before.last_seen == 0 || e.row != (EndpointRow { last_seen: e.row.last_seen, ..before }) {
            e.row.last_seen = now;
            let _ = self.store.put_endpoint(&e.row);
        }
        self.overview_due.get_or_insert_with(Instant::now);
    }

    /// The live endpoint (other than `except`) that runs agent session `session`, by name.
    pub(super) fn live_holder(&self, session: &str, except: &str) -> Option<String> {
        let now = now_ms();
        self.dir
            .endpoints
            .values()
            .filter(|e| e.row.id != except && e.row.agent_session.as_deref() == Some(session))
            .find(|e| self.dir.live(e, now))
            .map(|e| e.name())
    }

    /// The server vouches that the agent in `endpoint`'s pane resumed `session`: the unread
    /// messages and channels of the session's old endpoint follow it — only from an endpoint
    /// that is gone (a pane that closed, an external agent that stopped), never from a live one.
    pub(super) fn on_resumed(&mut self, endpoint: &str, session: &str) {
        let now = now_ms();
        let previous: Vec<String> = self
            .dir
            .endpoints
            .values()
            .filter(|e| e.row.id != endpoint && e.row.agent_session.as_deref() == Some(session))
            .filter(|e| !self.dir.live(e, now))
            .map(|e| e.row.id.clone())
            .collect();
        for old in previous {
            if self.store.merge_endpoint(&old, endpoint).is_ok() {
                tracing::info!("bridge: session {session} resumed: {old}'s mail moves to {endpoint}");
                if let Some(e) = self.dir.endpoints.get_mut(&old) {
                    e.row.agent_session = None;
                    e.row.label = None;
                }
                self.woken.insert(endpoint.to_string());
            }
        }
        self.overview_due.get_or_insert_with(Instant::now);
    }

    pub(super) fn on_pane_gone(&mut self, endpoint: &str) {
        if let Some(e) = self.dir.endpoints.get_mut(endpoint) {
            e.pane = None;
            e.pid = None;
            e.state = None;
            e.row.last_seen = now_ms();
            let _ = self.store.put_endpoint(&e.row);
        }
        self.conns.retain(|_, id| id != endpoint);
        self.overview_due.get_or_insert_with(Instant::now);
    }

    pub(super) fn on_external_hook(&mut self, session_id: String, agent: String, cwd: Option<String>, pid: u32) {
        let lineage = proc::lineage(pid);
        // The hook process itself is gone by the next call; what stays is the agent above it.
        let above = &lineage[1.min(lineage.len())..];
        self.register_external(session_id.clone(), Some(agent), cwd, above);
    }

    pub(super) fn register_external(
        &mut self,
        id: String,
        agent: Option<String>,
        cwd: Option<String>,
        lineage: &[u32],
    ) {
        let now = now_ms();
        let e = self.dir.endpoints.entry(id.clone()).or_insert_with(|| Endpoint {
            row: EndpointRow {
                id: id.clone(),
                kind: "external".into(),
                agent_session: Some(id.clone()),
                ..Default::default()
            },
            ..Default::default()
        });
        if e.row.kind != "external" {
            return;
        }
        e.row.agent = agent.or(e.row.agent.take());
        e.row.cwd = cwd.or(e.row.cwd.take());
        e.row.last_seen = now;
        for p in lineage {
            if !e.hook_lineage.contains(p) {
                e.hook_lineage.push(*p);
            }
        }
        let _ = self.store.put_endpoint(&e.row);
        self.overview_due.get_or_insert_with(Instant::now);
    }

    pub(super) fn on_labelled(&mut self, endpoint: &str, label: Option<String>) {
        if let Some(e) = self.dir.endpoints.get_mut(endpoint) {
            e.row.label = label;
            let _ = self.store.put_endpoint(&e.row);
        }
        self.overview_due.get_or_insert_with(Instant::now);
    }
}
