//! The sbx server: one task runs the loop below and owns every part — the model (sessions,
//! panes, agents), the front (attached clients and their screens), the driver (prompts and
//! answers in progress) and the links (bridge, sharing). Pane threads and connection tasks talk
//! to it by messages. After each burst of events the loop takes what the model changed and
//! carries it out (geometry, redraws, the bridge), then draws.

mod actions;
mod arrange;
mod commands;
mod conn;
mod drive;
mod front;
mod links;
mod many;
mod model;
mod notify;
mod pacing;
mod persist;
mod restore;
mod upgrade;
mod web;

use std::os::unix::fs::OpenOptionsExt;
use std::time::Instant;

use anyhow::{Context, Result};
use tokio::net::UnixListener;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::bridge::BridgeNotice;
use crate::config::paths::Paths;
use crate::config::Config;
use crate::pane::PaneNotice;
use crate::protocol::{Error, ServerMsg};
use conn::{ClientId, ConnEvent};
use drive::Driver;
use front::terminal::{Outlet, Terminal, TerminalEvent};
use front::{Front, Shown};
use links::bridge::BridgeLink;
use links::share::{ShareLink, SharedView};
pub use model::snapshot::Snapshot;
use model::{Model, PtySpawner, Spawner};
use pacing::Pacing;

pub struct Server {
    model: Model,
    front: Front,
    driver: Driver,
    bridge: BridgeLink,
    share: ShareLink,
    /// Bridge messages to and from friends' machines.
    remote: Option<links::remote::RemoteLink>,
    pacing: Pacing,
    /// Where the server's own tasks hand back their results.
    internal: UnboundedSender<Internal>,
    /// Where the clients' terminals send their keys.
    terminals: UnboundedSender<TerminalEvent>,
    /// What the bridge knows of panes is out of date.
    bridge_dirty: bool,
    exiting: bool,
    /// What becomes of the snapshot when the server stops.
    stop: Stop,
    persist: persist::Persist,
    /// Said to the next client that attaches (a restore, a snapshot set aside).
    notice: Option<String>,
    /// Where config.toml, keymap.toml and theme.toml are (`sbx reload`).
    config_dir: std::path::PathBuf,
    /// Whether the pane that exited last was killed by a signal.
    last_exit_by_signal: bool,
    /// When each pane was last announced, per event (announcements are spaced).
    announced: notify::Announced,
    /// A snapshot found at start and not rebuilt then, for `sbx restore`.
    pending_restore: Option<model::snapshot::Snapshot>,
    /// A live upgrade in progress (`sbx upgrade`).
    upgrade: Option<upgrade::Upgrade>,
    /// Stops every pane's reader for a live upgrade.
    hold: crate::pane::Hold,
    /// The listening socket and the lock, which a live upgrade keeps open.
    kept_fds: Option<upgrade::KeptFds>,
    /// The browser endpoint (`sbx web`).
    web: web::WebFront,
}

/// How the server stops, for its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM (a shutdown, a reboot): as good as a crash, restored next time.
    Terminated,
    /// `sbx kill-server`: kept for `sbx restore`, not restored by itself.
    Keep,
    /// `sbx kill-server --forget`, or the last session ended: nothing to restore.
    Forget,
}

/// The snapshot the server on `paths`' socket keeps, as `sbx restore --list` shows it.
pub fn kept_snapshot(paths: &Paths) -> Result<Option<Snapshot>, Error> {
    let path = persist::snapshot_path(&paths.data, &paths.socket());
    match persist::peek(&persist::pending_path(&path))? {
        Some(waiting) => Ok(Some(waiting)),
        None => persist::peek(&path),
    }
}

/// What reaches the loop: requests, keys, pane output, bridge notices, tasks' results.
struct Inbound {
    conns: UnboundedReceiver<ConnEvent>,
    terminals: UnboundedReceiver<TerminalEvent>,
    notices: UnboundedReceiver<PaneNotice>,
    bridge: UnboundedReceiver<BridgeNotice>,
    internal: UnboundedReceiver<Internal>,
}

pub use upgrade::HANDOFF_FORMAT;

/// Run the server in this process until the last session ends or `kill-server`. With
/// `adopt`, take over the panes a server before this one handed over (`sbx upgrade`).
pub fn run(paths: Paths, adopt: Option<i32>) -> Result<()> {
    // One thread: the loop owns all state, and keeping connection tasks on the same thread
    // avoids a cross-thread wake on every keystroke. Pane I/O runs on threads of its own.
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(serve(paths, adopt))
}

async fn serve(paths: Paths, adopt: Option<i32>) -> Result<()> {
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
    let handoff = match adopt.map(upgrade::read_handoff) {
        Some(Ok(handoff)) => Some(handoff),
        Some(Err(e)) => anyhow::bail!("cannot read what the server before this one handed over: {e:#}"),
        None => None,
    };
    let (lock_file, listener) = match &handoff {
        // The same lock (held by the same open file) and the same listening socket: a client
        // that connected during the exec is in its backlog.
        Some(h) => {
            let lock = std::fs::File::from(upgrade::take_fd(h.lock));
            let listener = std::os::unix::net::UnixListener::from(upgrade::take_fd(h.listener));
            listener.set_nonblocking(true)?;
            (lock, UnixListener::from_std(listener)?)
        }
        None => bind(&socket)?,
    };
    let kept_fds = upgrade::KeptFds {
        listener: std::os::fd::AsRawFd::as_raw_fd(&listener),
        lock: std::os::fd::AsRawFd::as_raw_fd(&lock_file),
    };

    // Orphans of pane processes come to the server, not init: a process cannot leave its pane
    // unseen (see proc::origin), and the server reaps what it is given.
    crate::proc::become_subreaper();
    let (conn_tx, conn_rx) = unbounded_channel();
    let (notice_tx, notice_rx) = unbounded_channel();
    let (bridge_tx, bridge_rx) = unbounded_channel();
    let (internal_tx, internal_rx) = unbounded_channel();
    let (terminal_tx, terminal_rx) = unbounded_channel();
    let bridge =
        crate::bridge::spawn(paths.data.clone(), paths.config.clone(), config.settings.bridge.clone(), bridge_tx);
    let hold = crate::pane::Hold::default();
    tokio::spawn(conn::accept_loop(listener, conn_tx.clone(), bridge.clone(), hold.subscribe()));

    let spawner = Box::new(PtySpawner { notices: notice_tx, hold: hold.clone() });
    let remote = links::remote::RemoteLink::start(paths.clone(), bridge.clone());
    let mut server = Server::new(config, socket.clone(), spawner, bridge, paths, internal_tx, terminal_tx);
    server.remote = Some(remote);
    server.hold = hold;
    server.kept_fds = Some(kept_fds);
    server.web.conns = Some(conn_tx);
    match handoff {
        Some(handoff) => server.adopt(handoff),
        None => server.restore_at_start(),
    }
    server.settle();
    server.web_at_start();
    server.share.start_refresh();
    server
        .run(Inbound {
            conns: conn_rx,
            terminals: terminal_rx,
            notices: notice_rx,
            bridge: bridge_rx,
            internal: internal_rx,
        })
        .await;
    let _ = std::fs::remove_file(&socket);
    drop(lock_file);
    Ok(())
}

/// Take the lock (one server per socket) and listen on the socket.
fn bind(socket: &std::path::Path) -> Result<(std::fs::File, UnixListener)> {
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
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket).with_context(|| format!("cannot listen on {}", socket.display()))?;
    std::fs::set_permissions(socket, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok((lock_file, listener))
}

impl Server {
    fn new(
        config: Config,
        socket: std::path::PathBuf,
        spawner: Box<dyn Spawner>,
        bridge: crate::bridge::BridgeHandle,
        paths: Paths,
        internal: UnboundedSender<Internal>,
        terminals: UnboundedSender<TerminalEvent>,
    ) -> Server {
        let persist = persist::Persist::start(persist::snapshot_path(&paths.data, &socket));
        let config_dir = paths.config.clone();
        let web = web::WebFront::new(paths.data.join("web"));
        Server {
            model: Model::new(config, socket, spawner),
            front: Front::default(),
            driver: Driver::default(),
            bridge: BridgeLink::new(bridge),
            share: ShareLink::new(paths, internal.clone()),
            remote: None,
            pacing: Pacing::default(),
            persist,
            internal,
            terminals,
            bridge_dirty: false,
            exiting: false,
            stop: Stop::Terminated,
            notice: None,
            pending_restore: None,
            last_exit_by_signal: false,
            announced: Default::default(),
            config_dir,
            upgrade: None,
            hold: crate::pane::Hold::default(),
            kept_fds: None,
            web,
        }
    }

    async fn run(&mut self, inbound: Inbound) {
        let Inbound { mut conns, mut terminals, mut notices, mut bridge, mut internal } = inbound;
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let mut child_exited = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child()).ok();
        loop {
            let deadline = [
                self.pacing.next_deadline(&self.model),
                Some(self.persist.deadline()),
                self.front.next_flood_frame(&self.model),
                self.driver.next_deadline(),
                self.model.next_screen_check(),
                self.upgrade_deadline(),
            ]
            .into_iter()
            .flatten()
            .min();
            tokio::select! {
                Some(ev) = terminals.recv() => self.guarded("a key", |s| s.on_terminal(ev)),
                Some(ev) = conns.recv() => self.guarded("a request", |s| s.on_conn(ev)),
                Some(n) = notices.recv() => self.guarded("pane output", |s| s.on_notice(n)),
                Some(n) = bridge.recv() => self.guarded("a bridge notice", |s| s.on_bridge_notice(n)),
                Some(n) = internal.recv() => self.guarded("a bridge answer", |s| s.on_internal(n)),
                _ = sleep_until(deadline), if deadline.is_some() => self.guarded("a timer", |s| s.on_timer()),
                _ = async { terminate.as_mut().unwrap().recv().await }, if terminate.is_some() => self.exiting = true,
                _ = async { child_exited.as_mut().unwrap().recv().await }, if child_exited.is_some() => {
                    // A pane's first process is reaped by its pane; anything else was adopted.
                    let panes: std::collections::BTreeSet<u32> =
                        self.model.panes.values().filter_map(|p| p.pid).collect();
                    crate::proc::reap_children(|pid| panes.contains(&pid));
                }
            }
            // Take everything already queued before drawing, so a burst costs one frame.
            while let Ok(ev) = terminals.try_recv() {
                self.guarded("a key", |s| s.on_terminal(ev));
            }
            while let Ok(ev) = conns.try_recv() {
                self.guarded("a request", |s| s.on_conn(ev));
            }
            while let Ok(n) = notices.try_recv() {
                self.guarded("pane output", |s| s.on_notice(n));
            }
            self.guarded("settling", |s| s.settle());
            if self.exiting {
                match self.stop {
                    Stop::Terminated => self.persist.tick_now(&self.model),
                    Stop::Keep => self.persist.keep(&self.model),
                    Stop::Forget => self.persist.forget(),
                }
                // Each client's terminal is let go of before it is told to restore it.
                for (_, client) in std::mem::take(&mut self.front.clients) {
                    client.send(ServerMsg::Exit("[server exited]".into()));
                }
                // Give the writer tasks a moment to deliver the goodbyes.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                self.model.panes.clear();
                // The last write is on disk before the socket goes.
                self.persist.flush();
                return;
            }
            if self.upgrade_ready() {
                // Returns only when the exec failed; the server carries on.
                self.hand_over().await;
                continue;
            }
            if self.bridge_dirty {
                self.bridge_dirty = false;
                self.guarded("telling the bridge", |s| s.bridge.sync(&s.model));
                self.guarded("telling the web front", |s| s.web_publish());
            }
            self.guarded("drawing", |s| {
                let shown = Shown { overview: &s.bridge.overview, shared: &s.share.view };
                s.front.render_ready(&s.model, &shown);
            });
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
            for client in self.front.clients.values_mut() {
                client.redraw_all();
            }
        }
    }

    fn on_conn(&mut self, ev: ConnEvent) {
        match ev {
            ConnEvent::Message(id, msg, out, pid) => self.on_message(id, msg, out, pid),
            ConnEvent::Attach(id, request, tty, out) => match Terminal::open(id, tty, self.terminals.clone()) {
                Ok(terminal) => self.attach(id, request, Outlet::Terminal(terminal), out),
                Err(e) => {
                    let why = format!("cannot use the client's terminal: {e}");
                    let _ = out.send(ServerMsg::Error(conn::no_terminal(&why)));
                }
            },
            ConnEvent::Closed(id) => self.client_gone(id),
            ConnEvent::Upgrade(exe, answer) => self.begin_upgrade(exe, answer),
            ConnEvent::Watch(target, history, reply) => self.web_watch(target, history, reply),
        }
    }

    fn on_terminal(&mut self, event: TerminalEvent) {
        match event {
            TerminalEvent::Input(id, events) => {
                for event in events {
                    self.input(id, event);
                }
            }
            TerminalEvent::Written(id) => {
                if let Some(c) = self.front.clients.get_mut(&id) {
                    c.in_flight = false;
                }
            }
            TerminalEvent::HungUp(id) => self.client_gone(id),
        }
    }

    /// A client's connection or terminal went (both do, one after the other).
    fn client_gone(&mut self, id: ClientId) {
        if let Some(client) = self.front.clients.remove(&id) {
            self.reshape(&client.session);
        }
    }

    fn on_message(
        &mut self,
        id: conn::ClientId,
        msg: crate::protocol::ClientMsg,
        out: UnboundedSender<ServerMsg>,
        pid: u32,
    ) {
        use crate::protocol::ClientMsg;
        match msg {
            ClientMsg::Command(cmd) => self.command(cmd, out, pid),
            // The connection takes the terminal that comes with it and sends ConnEvent::Attach.
            ClientMsg::Attach(_) => {}
            ClientMsg::Resize { cols, rows } => {
                if let Some(session) = self.front.resize(id, cols, rows) {
                    self.reshape(&session);
                }
            }
            // Connections hand these to the bridge themselves.
            ClientMsg::Bridge { .. } => {}
        }
    }

    /// A key, a mouse event, a paste or a focus change from client `id`'s terminal.
    fn input(&mut self, id: ClientId, event: crossterm::event::Event) {
        let effects = self.front.event(id, event, &mut self.model, &self.bridge.overview);
        for effect in effects {
            self.apply(id, effect);
        }
    }

    fn on_notice(&mut self, notice: PaneNotice) {
        match notice {
            PaneNotice::Output(id) => {
                self.pacing.output(id, &self.model);
                self.front.pane_output(id, &self.model);
                if self.model.agents.contains_key(&id) {
                    self.model.check_agent_transcript(id);
                    self.model.check_agent_screen(id);
                }
                // A typed prompt may have just appeared on its agent's screen.
                if self.driver.watches(id) {
                    self.driver.check(&self.model);
                }
            }
            PaneNotice::Exited { id, by_signal } => {
                // A pane sbx closed is gone from the model already: this one ended by itself.
                self.last_exit_by_signal = by_signal;
                self.model.remove_pane(id);
                self.upgrade_pane_quiet(id);
            }
            PaneNotice::Held(id) => self.upgrade_pane_quiet(id),
        }
    }

    /// Read the config again, panes kept: keys and colours change at once, settings for new
    /// panes apply to the next ones; a broken file keeps what it replaced. What was ignored.
    fn reload_config(&mut self) -> Vec<String> {
        self.model.config = Config::reload(&self.config_dir, &self.model.config);
        for client in self.front.clients.values_mut() {
            client.redraw_all();
        }
        self.model.config.warnings.clone()
    }

    fn on_timer(&mut self) {
        self.upgrade_timer();
        self.persist.tick(&self.model);
        for pane in self.pacing.tick(&self.model) {
            self.redraw_pane(pane);
            // What a synchronized update or a flood pause held back is on screen only now,
            // with no output to follow it (Cline's first frame came so): read it again.
            if self.model.agents.contains_key(&pane) {
                self.model.check_agent_screen(pane);
            }
        }
        self.model.check_settled_screens();
        self.driver.wake(&self.model);
        self.driver.check(&self.model);
    }

    fn on_internal(&mut self, event: Internal) {
        match event {
            Internal::Shared(view) => {
                if view != self.share.view {
                    self.share.view = view;
                    self.front.mark_all_dirty();
                }
            }
            Internal::Message(id, message) => self.front.set_message(id, message),
            Internal::UpgradeChecked(result) => self.upgrade_checked(result),
            Internal::Opened(id, answer) => {
                let Some(client) = self.front.clients.get_mut(&id) else { return };
                if let front::modes::Mode::Inbox(view) = &mut client.mode {
                    view.opened(answer, &mut client.message);
                    client.dirty = true;
                }
            }
            Internal::Replied(id, answer) => {
                let message = match answer {
                    Ok(v) => format!("reply sent (#{})", v["id"]),
                    Err(e) => format!("reply not sent: {}", e.message),
                };
                self.front.set_message(id, message);
            }
        }
    }

    /// Carry out what the model changed, until nothing more follows.
    fn settle(&mut self) {
        loop {
            // Before the changes are taken: a turn that ended in a pane shown focused is seen.
            self.mark_seen();
            let changes = self.model.take_changes();
            let mut settled = true;
            for pane in changes.removed {
                settled = false;
                self.front.pane_gone(pane);
                self.pacing.forget(pane);
            }
            for (old, new) in &changes.renamed {
                self.front.session_renamed(old, new);
            }
            for session in &changes.ended {
                self.front.session_ended(session);
            }
            if changes.empty {
                tracing::info!("the last pane exited: the server stops");
                self.exiting = true;
                // The last pane exited: nothing to restore. Killed (a shutdown that reached
                // the panes before the server, a crash): as good as a crash of the server.
                self.stop = if self.last_exit_by_signal { Stop::Terminated } else { Stop::Forget };
            }
            if !changes.reshaped.is_empty()
                || changes.panes
                || !changes.switched.is_empty()
                || !changes.ended.is_empty()
            {
                self.persist.stale();
            }
            for session in &changes.switched {
                self.front.tab_switched(session);
            }
            for session in &changes.reshaped {
                settled = false;
                self.reshape(session);
            }
            for session in &changes.redraw {
                self.front.mark_dirty(session);
            }
            self.bridge_dirty |= changes.panes;
            for attention in &changes.attention {
                self.announce(attention);
            }
            for (pane, text) in changes.prompts {
                settled = false;
                self.driver.type_prompt(&self.model, pane, &text, None);
            }
            if changes.agents || !settled {
                self.driver.wake(&self.model);
                self.driver.check(&self.model);
            }
            if settled && !changes.agents {
                return;
            }
        }
    }

    /// Lay a session's panes out for its clients (the smallest of them), or for the size it had.
    fn reshape(&mut self, session: &str) {
        let Some(si) = self.model.session_index(session) else { return };
        let area = self.front.session_area(session, &self.model).unwrap_or(self.model.sessions[si].detached_size);
        self.model.apply_area(session, area);
        self.front.mark_dirty(session);
    }

    fn redraw_pane(&mut self, pane: crate::pane::PaneId) {
        if let Some(session) = self.model.session_name_of(pane) {
            self.front.mark_dirty(&session);
        }
    }
}

/// What the server's own tasks hand back to its loop: answers to the bridge calls it made for
/// a client, sharing refreshes, status lines.
#[derive(Debug)]
pub enum Internal {
    /// A message opened in a client's inbox popup (the bridge's answer to Read).
    Opened(ClientId, Result<serde_json::Value, Error>),
    /// The answer to a reply sent from a client's inbox popup.
    Replied(ClientId, Result<serde_json::Value, Error>),
    /// Friends and received sessions, refreshed.
    Shared(SharedView),
    /// A line for a client's status bar (the outcome of a send).
    Message(ClientId, String),
    /// Whether the binary a live upgrade goes to reads this server's handoff.
    UpgradeChecked(Result<(), String>),
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(d) = deadline {
        tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await;
    }
}

#[cfg(test)]
mod tests;
