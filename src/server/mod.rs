//! The sbx server: owns sessions, panes and attached clients. One task runs the loop
//! below and owns all state; pane threads and connection tasks talk to it by messages.

mod actions;
mod agents;
mod bridge;
mod client;
mod commands;
mod conn;
mod copy;
mod inbox_view;
pub mod layout;
mod mouse;
mod render;
mod share_view;
pub mod state;

use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use ratatui::layout::Rect;
use tokio::net::UnixListener;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::config::paths::Paths;
use crate::config::Config;
use crate::pane::engine::lock;
use crate::pane::{PaneId, PaneNotice};
use crate::protocol::{ClientMsg, Command, ServerMsg};
use client::{Client, Mode};
use conn::{ClientId, ConnEvent};
use state::State;

pub const STATUS_ROWS: u16 = 1;
/// While a pane floods (more than FLOOD_BYTES since its last frame), frames come at most this
/// often: drawing a screen nobody can read would only take the engine lock from the parser.
/// Quiet output (a keystroke echo) is drawn at once.
const FLOOD_FRAME: std::time::Duration = std::time::Duration::from_millis(16);
const FLOOD_BYTES: usize = 16 * 1024;
/// A pane quiet this long gives back the memory its engine keeps for scrolling.
const TRIM_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

pub struct Server {
    state: State,
    /// Panes that had output and have not been trimmed since: when each went quiet.
    quiet_since: BTreeMap<PaneId, Instant>,
    /// Flooding panes whose output notices are paused (re-armed after FLOOD_FRAME): the
    /// reader thread need not wake this loop for every read of a flood.
    held: BTreeMap<PaneId, Instant>,
    waiters: Vec<agents::Waiter>,
    typed: Vec<agents::Typed>,
    clients: BTreeMap<ClientId, Client>,
    notices: UnboundedSender<PaneNotice>,
    socket: PathBuf,
    exiting: bool,
    bridge: crate::bridge::BridgeHandle,
    /// Panes have changed in a way the bridge should hear about.
    bridge_dirty: bool,
    /// What the bridge was last told about each pane.
    published: BTreeMap<PaneId, crate::bridge::PaneEntry>,
    /// The bridge's view for the sidebar.
    overview: crate::bridge::Overview,
    /// Where answers to the loop's own bridge calls (and sharing commands) come back.
    internal: UnboundedSender<inbox_view::Internal>,
    /// Friends and received sessions, for the sidebar and the pickers.
    shared: share_view::SharedView,
    /// sbx's folders (the sharing workflows need the config and data ones).
    paths: Paths,
    /// Each pane's rows as drawn cells, shared by every client (the renderer's, not the engine's).
    views: std::collections::HashMap<PaneId, crate::ui::pane_view::ViewCache>,
}

/// Run the server in this process until the last session ends or `kill-server`.
pub fn run(paths: Paths) -> Result<()> {
    // One thread: the loop owns all state, and keeping connection tasks on the same thread
    // avoids a cross-thread wake on every keystroke. Pane I/O runs on threads of its own.
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(serve(paths))
}

async fn serve(paths: Paths) -> Result<()> {
    let config = Config::load(&paths.config);
    let _log = crate::log::init(&config.settings.log_level, Some(paths.runtime.join("server.log")));
    crate::config::paths::ensure_private_dir(&paths.runtime)?;
    let socket = paths.socket();
    match socket.parent() {
        // The default socket lives in sbx's own runtime folder; `$SBX_SOCKET` may name a
        // folder of the user's, whose mode is theirs.
        Some(parent) if parent != paths.runtime && !parent.as_os_str().is_empty() => {
            crate::config::paths::ensure_user_dir(parent, "the folder of $SBX_SOCKET")?
        }
        _ => {}
    }
    // One server per socket: the lock is held for the server's lifetime.
    let lock_path = socket.with_extension("lock");
    let lock_file = std::fs::OpenOptions::new()
        .mode(0o600)
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
    if lock_file.try_lock().is_err() {
        anyhow::bail!("another sbx server is running on {}", socket.display());
    }
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket).with_context(|| format!("cannot listen on {}", socket.display()))?;
    std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;

    // Orphans of pane processes come to the server, not init: a process cannot leave its pane
    // unseen (see proc::origin), and the server reaps what it is given.
    crate::proc::become_subreaper();
    let (conn_tx, conn_rx) = unbounded_channel();
    let (notice_tx, notice_rx) = unbounded_channel();
    let (bridge_tx, bridge_rx) = unbounded_channel();
    let (internal_tx, internal_rx) = unbounded_channel();
    let bridge = crate::bridge::spawn(paths.data.clone(), config.settings.bridge.clone(), bridge_tx);
    tokio::spawn(conn::accept_loop(listener, conn_tx, bridge.clone()));

    let mut server = Server {
        state: State::new(config),
        quiet_since: BTreeMap::new(),
        held: BTreeMap::new(),
        waiters: Vec::new(),
        typed: Vec::new(),
        clients: BTreeMap::new(),
        notices: notice_tx,
        socket: socket.clone(),
        exiting: false,
        bridge,
        bridge_dirty: false,
        published: BTreeMap::new(),
        overview: Default::default(),
        internal: internal_tx,
        shared: Default::default(),
        paths: paths.clone(),
        views: Default::default(),
    };
    server.start_share_refresh();
    server.run(conn_rx, notice_rx, bridge_rx, internal_rx).await;
    let _ = std::fs::remove_file(&socket);
    drop(lock_file);
    Ok(())
}

impl Server {
    async fn run(
        &mut self,
        mut conns: UnboundedReceiver<ConnEvent>,
        mut notices: UnboundedReceiver<PaneNotice>,
        mut bridge: UnboundedReceiver<crate::bridge::BridgeNotice>,
        mut internal: UnboundedReceiver<inbox_view::Internal>,
    ) {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let mut child_exited = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child()).ok();
        loop {
            let deadline = [
                self.next_sync_deadline(),
                self.next_flood_frame(),
                self.next_trim(),
                self.held.values().min().map(|t| *t + FLOOD_FRAME),
                self.next_agent_deadline(),
            ]
            .into_iter()
            .flatten()
            .min();
            tokio::select! {
                Some(ev) = conns.recv() => self.guarded("a request", |s| s.on_conn(ev)),
                Some(n) = notices.recv() => self.guarded("pane output", |s| s.on_notice(n)),
                Some(n) = bridge.recv() => self.guarded("a bridge notice", |s| s.on_bridge_notice(n)),
                Some(n) = internal.recv() => self.guarded("a bridge answer", |s| s.on_internal(n)),
                _ = sleep_until(deadline), if deadline.is_some() => self.guarded("a timer", |s| {
                    s.end_expired_syncs();
                    s.trim_quiet_panes();
                    s.rearm_held();
                    s.wake_waiters();
                    s.check_typed();
                }),
                _ = async { terminate.as_mut().unwrap().recv().await }, if terminate.is_some() => self.exiting = true,
                _ = async { child_exited.as_mut().unwrap().recv().await }, if child_exited.is_some() => {
                    // A pane's first process is reaped by its pane; anything else was adopted.
                    let panes: std::collections::BTreeSet<u32> = self.state.panes.values().filter_map(|p| p.pid).collect();
                    crate::proc::reap_children(|pid| panes.contains(&pid));
                }
            }
            // Take everything already queued before drawing, so a burst costs one frame.
            while let Ok(ev) = conns.try_recv() {
                self.guarded("a request", |s| s.on_conn(ev));
            }
            while let Ok(n) = notices.try_recv() {
                self.guarded("pane output", |s| s.on_notice(n));
            }
            if self.exiting {
                for client in self.clients.values() {
                    client.send(ServerMsg::Exit("[server exited]".into()));
                }
                // Give the writer tasks a moment to deliver the goodbyes.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                self.state.panes.clear();
                return;
            }
            if self.bridge_dirty {
                self.guarded("telling the bridge", |s| s.sync_bridge());
            }
            self.guarded("drawing", |s| s.render_ready());
        }
    }

    /// Run one step of the loop; a bug that panics in it is logged and the server goes on,
    /// because every pane of every session lives in this process.
    fn guarded(&mut self, what: &str, step: impl FnOnce(&mut Server)) {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(self)));
        if let Err(panic) = result {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!("a bug while handling {what}: {message}; carrying on");
            for client in self.clients.values_mut() {
                client.redraw_all();
            }
        }
    }

    fn on_conn(&mut self, ev: ConnEvent) {
        match ev {
            ConnEvent::Message(id, msg, out, pid) => {
                // A command may change what the bridge knows of panes (labels, new panes);
                // keystrokes and resizes do not (a split by key goes through spawn_pane).
                if matches!(msg, ClientMsg::Command(_)) {
                    self.bridge_dirty = true;
                }
                self.on_message(id, msg, out, pid)
            }
            ConnEvent::Written(id) => {
                if let Some(c) = self.clients.get_mut(&id) {
                    c.in_flight = false;
                }
            }
            ConnEvent::Closed(id) => {
                if self.clients.remove(&id).is_some() {
                    self.reconcile_all();
                }
            }
        }
    }

    fn on_message(&mut self, id: ClientId, msg: ClientMsg, out: UnboundedSender<ServerMsg>, pid: u32) {
        match msg {
            ClientMsg::Command(Command::Hook { pane, agent, hook }) => self.hook(pane, &agent, hook, pid, out),
            // Connections hand these to the bridge themselves.
            ClientMsg::Bridge { .. } => {}
            // These answer later: once the agent shows the prompt, or reaches the state.
            ClientMsg::Command(Command::AgentPrompt { target, text, queue }) => {
                self.agent_prompt(&target, text, queue, out)
            }
            ClientMsg::Command(Command::AgentKey { target, key }) => self.agent_key(&target, key, out),
            ClientMsg::Command(Command::AgentWait { target, until, timeout_ms }) => {
                self.agent_wait(&target, until, timeout_ms, out)
            }
            ClientMsg::Command(cmd) => {
                let reply = self.command(cmd);
                let _ = out.send(reply);
            }
            ClientMsg::Attach(req) => self.attach(id, req, out),
            ClientMsg::Resize { cols, rows } => {
                if let Some(c) = self.clients.get_mut(&id) {
                    c.resize(cols, rows);
                    let session = c.session.clone();
                    self.reconcile(&session);
                }
            }
            ClientMsg::Event(event) => self.on_event(id, event),
        }
    }

    fn on_notice(&mut self, notice: PaneNotice) {
        let output = match &notice {
            PaneNotice::Output(id) => Some(*id),
            PaneNotice::Exited(_) => None,
        };
        self.handle_notice(notice);
        if let Some(id) = output {
            if self.state.agents.contains_key(&id) {
                self.check_agent_transcript(id);
                self.check_agent_screen(id);
            }
            // A typed prompt may have just appeared on its agent's screen.
            if self.typed.iter().any(|t| t.pane() == id) {
                self.check_typed();
            }
        }
    }

    fn handle_notice(&mut self, notice: PaneNotice) {
        match notice {
            PaneNotice::Output(pane_id) => {
                let Some(pane) = self.state.panes.get(&pane_id) else { return };
                let now = Instant::now();
                if pane.unseen_bytes.load(std::sync::atomic::Ordering::Relaxed) > FLOOD_BYTES {
                    self.held.entry(pane_id).or_insert(now);
                } else {
                    pane.acknowledge_output();
                }
                self.quiet_since.insert(pane_id, now);
                let (bell, clips, title_changed) = {
                    let mut s = lock(&pane.signals);
                    let out = (s.bell, std::mem::take(&mut s.clipboard), s.title_changed);
                    s.bell = false;
                    s.title_changed = false;
                    out
                };
                let _ = title_changed;
                let Some((si, ti)) = self.state.locate(pane_id) else { return };
                let session = self.state.sessions[si].name.clone();
                let visible = self.state.sessions[si].active_tab == ti;
                for client in self.clients.values_mut().filter(|c| c.session == session) {
                    if visible {
                        client.dirty = true;
                    }
                    if bell {
                        client.pending.push(0x07);
                    }
                    for text in &clips {
                        client.pending.extend_from_slice(osc52(text).as_bytes());
                    }
                    if bell || !clips.is_empty() {
                        client.dirty = true;
                    }
                }
            }
            PaneNotice::Exited(pane_id) => self.remove_pane(pane_id),
        }
    }

    /// Resume output notices of flooding panes whose pause is over.
    fn rearm_held(&mut self) {
        let now = Instant::now();
        let due: Vec<PaneId> = self.held.iter().filter(|(_, t)| **t + FLOOD_FRAME <= now).map(|(p, _)| *p).collect();
        for id in due {
            self.held.remove(&id);
            if let Some(pane) = self.state.panes.get(&id) {
                pane.acknowledge_output();
            }
            // What arrived during the pause is on screen at the next frame.
            self.mark_pane_dirty(id);
        }
    }

    fn next_trim(&self) -> Option<Instant> {
        self.quiet_since.values().min().map(|t| *t + TRIM_AFTER)
    }

    /// Panes quiet for a while give back the memory they kept for scrolling.
    fn trim_quiet_panes(&mut self) {
        let now = Instant::now();
        let due: Vec<PaneId> =
            self.quiet_since.iter().filter(|(_, t)| **t + TRIM_AFTER <= now).map(|(p, _)| *p).collect();
        for id in &due {
            self.quiet_since.remove(id);
            if let Some(pane) = self.state.panes.get(id) {
                lock(&pane.engine).trim();
            }
        }
        if !due.is_empty() {
            // The freed rows are small blocks glibc keeps unless asked to return them.
            // SAFETY: malloc_trim only walks the allocator's own free lists.
            unsafe {
                libc::malloc_trim(0);
            }
        }
    }

    fn next_sync_deadline(&self) -> Option<Instant> {
        self.state.panes.values().filter_map(|p| lock(&p.engine).sync_deadline()).min()
    }

    fn end_expired_syncs(&mut self) {
        let mut ended = Vec::new();
        for pane in self.state.panes.values() {
            if lock(&pane.engine).end_expired_sync() {
                ended.push(pane.id);
            }
        }
        for id in ended {
            self.mark_pane_dirty(id);
        }
    }

    fn mark_pane_dirty(&mut self, pane: PaneId) {
        if let Some((si, _)) = self.state.locate(pane) {
            let name = self.state.sessions[si].name.clone();
            self.mark_session_dirty(&name);
        }
    }

    fn mark_session_dirty(&mut self, session: &str) {
        for c in self.clients.values_mut().filter(|c| c.session == session) {
            c.dirty = true;
        }
    }

    /// The area a client gives the tab layout: its terminal less the status line and sidebar.
    fn client_tab_area(&self, client: &Client) -> (u16, u16) {
        let sidebar = if client.sidebar { self.sidebar_width(client) + 1 } else { 0 };
        (client.cols.saturating_sub(sidebar), client.rows.saturating_sub(STATUS_ROWS))
    }

    fn sidebar_width(&self, client: &Client) -> u16 {
        self.state.config.settings.sidebar_width.min(client.cols / 2)
    }

    /// The tab area of a session: the smallest of its clients (every client sees all of
    /// every pane), or the size it was created with when nobody is attached.
    pub fn session_area(&self, si: usize) -> Rect {
        let name = &self.state.sessions[si].name;
        let sizes: Vec<(u16, u16)> =
            self.clients.values().filter(|c| &c.session == name).map(|c| self.client_tab_area(c)).collect();
        let (w, h) = if sizes.is_empty() {
            self.state.sessions[si].detached_size
        } else {
            (sizes.iter().map(|s| s.0).min().unwrap_or(80), sizes.iter().map(|s| s.1).min().unwrap_or(24))
        };
        Rect::new(0, 0, w.max(2), h.max(2))
    }

    /// Recompute the geometry of a session's panes and resize the ones whose size changed.
    pub fn reconcile(&mut self, session: &str) {
        let Some(si) = self.state.session_index(session) else { return };
        let area = self.session_area(si);
        self.state.sessions[si].detached_size = (area.width, area.height);
        for ti in 0..self.state.sessions[si].tabs.len() {
            self.state.apply_geometry(si, ti, area);
        }
        self.mark_session_dirty(session);
    }

    fn reconcile_all(&mut self) {
        let names: Vec<String> = self.state.sessions.iter().map(|s| s.name.clone()).collect();
        for name in names {
            self.reconcile(&name);
        }
    }

    /// A pane is gone (its child exited, or it was closed): take it out of its tab, the
    /// tab out of its session when empty, the session when it has no tabs left.
    pub fn remove_pane(&mut self, pane_id: PaneId) {
        self.agent_exited(pane_id);
        self.state.agents.remove(&pane_id);
        self.wake_waiters();
        self.check_typed();
        self.quiet_since.remove(&pane_id);
        self.held.remove(&pane_id);
        let location = self.state.locate(pane_id);
        self.state.panes.remove(&pane_id);
        self.views.remove(&pane_id);
        for client in self.clients.values_mut() {
            if matches!(&client.mode, Mode::Copy(c) if c.pane == pane_id) {
                client.mode = Mode::Normal;
            }
        }
        self.bridge_dirty = true;
        let Some((si, ti)) = location else { return };
        let session = &mut self.state.sessions[si];
        let tab = &mut session.tabs[ti];
        if tab.layout.remove(pane_id) {
            if tab.active == pane_id {
                tab.active = tab.layout.panes()[0];
            }
            tab.zoomed = false;
        } else {
            session.tabs.remove(ti);
            if session.active_tab >= session.tabs.len() && !session.tabs.is_empty() {
                session.active_tab = session.tabs.len() - 1;
            }
        }
        let name = session.name.clone();
        if session.tabs.is_empty() {
            self.state.sessions.remove(si);
            for client in self.clients.values().filter(|c| c.session == name) {
                client.send(ServerMsg::Exit("[exited]".into()));
            }
            self.clients.retain(|_, c| c.session != name);
            if self.state.sessions.is_empty() {
                self.exiting = true;
            }
            return;
        }
        self.reconcile(&name);
    }

    fn render_ready(&mut self) {
        let now = Instant::now();
        let ids: Vec<ClientId> = self
            .clients
            .iter()
            .filter(|(id, c)| c.dirty && !c.in_flight && self.flood_hold(**id).is_none_or(|until| until <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            self.render_client(*id);
            if let Some(c) = self.clients.get_mut(id) {
                c.last_frame = now;
            }
        }
        if !ids.is_empty() {
            for pane in self.state.panes.values() {
                pane.unseen_bytes.store(0, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    /// If a pane this client shows is flooding, the earliest moment of its next frame.
    fn flood_hold(&self, id: ClientId) -> Option<Instant> {
        let client = self.clients.get(&id)?;
        let si = self.state.session_index(&client.session)?;
        let flooding = self.state.sessions[si]
            .tab()
            .layout
            .panes()
            .iter()
            .filter_map(|p| self.state.panes.get(p))
            .any(|p| p.unseen_bytes.load(std::sync::atomic::Ordering::Relaxed) > FLOOD_BYTES);
        flooding.then(|| client.last_frame + FLOOD_FRAME)
    }

    fn next_flood_frame(&self) -> Option<Instant> {
        self.clients.iter().filter(|(_, c)| c.dirty && !c.in_flight).filter_map(|(id, _)| self.flood_hold(*id)).min()
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(d) = deadline {
        tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await;
    }
}

/// OSC 52: put text on the clipboard of the terminal the client runs in.
pub fn osc52(text: &str) -> String {
    use base64::Engine as _;
    format!("\x1b]52;c;{}\x07", base64::engine::general_purpose::STANDARD.encode(text))
}
