//! Control commands (`sbx ls`, `split`, `send-keys`…) and attaching: each turns a request
//! into a change of state and one reply.

use std::path::PathBuf;

use super::client::Client;
use super::conn::ClientId;
use super::layout::Layout;
use super::state::{validate_label, validate_session_name, Session, Tab, Target};
use super::Server;
use crate::agents::Adapter as _;
use crate::pane::engine::{lock, Size};
use crate::pane::input::{encode_named_key, encode_paste};
use crate::pane::{Pane, PaneId, SpawnSpec};
use crate::protocol::{AttachRequest, Command, Error, NewSpec, PaneSpec, Reply, ServerMsg, SplitDirection};

impl Server {
    pub(super) fn command(&mut self, cmd: Command) -> ServerMsg {
        match self.run_command(cmd) {
            Ok(reply) => ServerMsg::Reply(reply),
            Err(e) => ServerMsg::Error(e),
        }
    }

    fn run_command(&mut self, cmd: Command) -> Result<Reply, Error> {
        match cmd {
            Command::Ping => Ok(Reply::Pong { pid: std::process::id(), version: env!("CARGO_PKG_VERSION").into() }),
            Command::New(spec) => {
                let (session, pane) = self.create_session(spec)?;
                Ok(Reply::Created { session, pane: crate::pane::pane_name(pane) })
            }
            Command::List => {
                let counts = |si: usize| {
                    let name = &self.state.sessions[si].name;
                    self.clients.values().filter(|c| &c.session == name).count()
                };
                Ok(Reply::List(self.state.list(counts)))
            }
            Command::Split { target, direction, pane } => {
                let id = self.split(target.as_deref(), direction, pane)?;
                Ok(Reply::Pane(self.state.pane_info(id).expect("pane just created")))
            }
            Command::NewTab { target, pane } => {
                let si = match target {
                    Some(t) => match self.state.resolve(&t)? {
                        Target::Session(si) | Target::Tab(si, _) => si,
                        Target::Pane(id) => self.state.locate(id).expect("resolved panes are placed").0,
                    },
                    None => self.state.default_session().ok_or_else(no_sessions)?,
                };
                let id = self.new_tab(si, pane)?;
                Ok(Reply::Pane(self.state.pane_info(id).expect("pane just created")))
            }
            Command::SendKeys { target, text, keys, enter } => {
                let id = self.state.resolve_pane(&target)?;
                let pane = &self.state.panes[&id];
                let mode = lock(&pane.engine).mode();
                let mut bytes = Vec::new();
                if !text.is_empty() {
                    // Typed text is not a paste: send it as keystrokes would arrive.
                    bytes.extend_from_slice(&encode_paste(
                        &text,
                        mode - alacritty_terminal::term::TermMode::BRACKETED_PASTE,
                    ));
                }
                for key in &keys {
                    bytes.extend(encode_named_key(key, mode).map_err(|e| {
                        Error::new(
                            "bad_key",
                            e,
                            "key names: Enter, Tab, Esc, BSpace, Up, Down, Left, Right, F1…F12, C-x, M-x",
                        )
                    })?);
                }
                if enter {
                    bytes.push(b'\r');
                }
                pane.write(bytes);
                Ok(Reply::Done)
            }
            Command::Capture { target, scrollback } => {
                let id = self.state.resolve_pane(&target)?;
                let lines = lock(&self.state.panes[&id].engine).capture(scrollback);
                Ok(Reply::Capture(lines))
            }
            Command::Kill { target } => {
                match self.state.resolve(&target)? {
                    Target::Pane(id) => self.close_pane(id),
                    Target::Tab(si, ti) => {
                        for id in self.state.sessions[si].tabs[ti].layout.panes() {
                            self.close_pane(id);
                        }
                    }
                    Target::Session(si) => {
                        let ids: Vec<PaneId> =
                            self.state.sessions[si].tabs.iter().flat_map(|t| t.layout.panes()).collect();
                        for id in ids {
                            self.close_pane(id);
                        }
                    }
                }
                Ok(Reply::Done)
            }
            Command::KillServer => {
                self.exiting = true;
                Ok(Reply::Done)
            }
            Command::Detach { target } => {
                let session = match target {
                    Some(t) => match self.state.resolve(&t)? {
                        Target::Session(si) | Target::Tab(si, _) => self.state.sessions[si].name.clone(),
                        Target::Pane(id) => {
                            let (si, _) = self.state.locate(id).expect("resolved panes are placed");
                            self.state.sessions[si].name.clone()
                        }
                    },
                    None => {
                        let si = self.state.default_session().ok_or_else(no_sessions)?;
                        self.state.sessions[si].name.clone()
                    }
                };
                let ids: Vec<ClientId> =
                    self.clients.iter().filter(|(_, c)| c.session == session).map(|(id, _)| *id).collect();
                for id in &ids {
                    self.detach_client(*id, "[detached]");
                }
                Ok(Reply::Detached(ids.len()))
            }
            // Handled with the connection's pid, before commands (see Server::hook).
            Command::Hook { .. } => Ok(Reply::Done),
            Command::AgentPrompt { .. } | Command::AgentWait { .. } | Command::AgentKey { .. } => {
                unreachable!("answered later, dispatched in on_message")
            }
            Command::Label { target, label } => {
                let id = self.state.resolve_pane(&target)?;
                self.set_label(id, Some(label))?;
                self.mark_pane_dirty(id);
                Ok(Reply::Done)
            }
        }
    }

    pub(super) fn set_label(&mut self, id: PaneId, label: Option<String>) -> Result<(), Error> {
        if let Some(label) = &label {
            validate_label(label)?;
            if let Some(other) = self.state.panes.values().find(|p| p.id != id && p.label.as_ref() == Some(label)) {
                return Err(Error::new(
                    "label_taken",
                    format!("the label {label:?} is taken by pane {}", other.name()),
                    "labels are unique; choose another, or free it with `sbx label -t <that pane> <new name>`",
                ));
            }
            if self.state.session_index(label).is_some() {
                return Err(Error::new(
                    "name_taken",
                    format!("{label:?} is already a session name"),
                    "choose a label that is not a session name, so targets stay unambiguous",
                ));
            }
            if self.overview.external_labels.contains(label) {
                return Err(Error::new(
                    "label_taken",
                    format!("the label {label:?} is taken by an agent session outside sbx"),
                    "labels are unique; choose another",
                ));
            }
        }
        if let Some(pane) = self.state.panes.get_mut(&id) {
            pane.label = label;
        }
        self.bridge_dirty = true;
        Ok(())
    }

    pub(super) fn detach_client(&mut self, id: ClientId, why: &str) {
        if let Some(client) = self.clients.remove(&id) {
            client.send(ServerMsg::Exit(why.into()));
            let session = client.session.clone();
            self.reconcile(&session);
        }
    }

    /// Close a pane now: hang up its child and take it out of the layout.
    pub(super) fn close_pane(&mut self, id: PaneId) {
        if let Some(pane) = self.state.panes.get_mut(&id) {
            pane.hang_up();
        }
        self.remove_pane(id);
    }

    fn spawn_pane(
        &mut self,
        spec: &PaneSpec,
        default_cwd: PathBuf,
        size: Size,
        session: &str,
    ) -> Result<PaneId, Error> {
        let cwd = spec.cwd.clone().unwrap_or(default_cwd);
        if !cwd.is_dir() {
            return Err(Error::new(
                "not_a_directory",
                format!("{} is not a directory", cwd.display()),
                "pass an existing directory with -c DIR",
            ));
        }
        if let Some(label) = &spec.label {
            validate_label(label)?;
            if self.state.panes.values().any(|p| p.label.as_ref() == Some(label)) {
                return Err(Error::new(
                    "label_taken",
                    format!("the label {label:?} is taken"),
                    "labels are unique; run `sbx ls` to see them and choose another",
                ));
            }
        }
        let id = self.state.allocate_pane_id();
        let mut env = vec![
            ("SBX_SOCKET".to_string(), self.socket.display().to_string()),
            ("SBX_SESSION".to_string(), session.to_string()),
        ];
        env.extend(spec.env.iter().cloned());
        let mut command = spec.command.clone();
        let mut agent = None;
        let mut endpoint = None;
        if let Some(kind) = spec.agent {
            let adapter = kind.adapter();
            if crate::agents::which(adapter.program()).is_none() {
                return Err(Error::new(
                    "not_installed",
                    format!("{} is not installed (not found on the sbx server's PATH)", adapter.program()),
                    format!(
                        "install it: {}; then restart the server (sbx kill-server) if PATH changed",
                        adapter.install_hint()
                    ),
                ));
            }
            let sbx = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("sbx"));
            let launch =
                adapter.launch(&crate::agents::LaunchCtx { sbx: &sbx, socket: &self.socket, args: &spec.command });
            command = launch.command;
            env.extend(launch.env);
            endpoint = launch.session_id.clone();
            agent = Some(super::agents::PaneAgent::new(kind, launch.session_id));
        }
        let settings = &self.state.config.settings;
        let shell = (!settings.shell.is_empty()).then(|| settings.shell.clone());
        let spawn = SpawnSpec { command, cwd, env, shell, size, scrollback: settings.scrollback };
        let mut pane = Pane::spawn(id, spawn, self.notices.clone()).map_err(|e| {
            Error::new("spawn_failed", format!("{e:#}"), "check the command and the directory, then try again")
        })?;
        pane.label = spec.label.clone();
        if let Some(endpoint) = endpoint {
            pane.endpoint = endpoint;
        }
        self.state.panes.insert(id, pane);
        self.bridge_dirty = true;
        if let Some(agent) = agent {
            self.state.agents.insert(id, agent);
        }
        Ok(id)
    }

    pub(super) fn create_session(&mut self, spec: NewSpec) -> Result<(String, PaneId), Error> {
        let name = match spec.name {
            Some(name) => {
                validate_session_name(&name)?;
                if self.state.session_index(&name).is_some() {
                    return Err(Error::new(
                        "name_taken",
                        format!("a session named {name:?} exists"),
                        format!("attach to it with `sbx attach -t {name}`, or choose another name"),
                    ));
                }
                if self.state.panes.values().any(|p| p.label.as_deref() == Some(name.as_str())) {
                    return Err(Error::new(
                        "name_taken",
                        format!("{name:?} is a pane label"),
                        "choose another session name",
                    ));
                }
                name
            }
            None => self.state.fresh_session_name(),
        };
        let (cols, rows) = (if spec.cols == 0 { 80 } else { spec.cols }, if spec.rows == 0 { 24 } else { spec.rows });
        let (cols, rows) = (cols.min(crate::pane::engine::MAX_COLS), rows.min(crate::pane::engine::MAX_ROWS));
        let size = Size::clamped(cols, rows.saturating_sub(1 + super::STATUS_ROWS));
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"));
        let id = self.spawn_pane(&spec.pane, home, size, &name)?;
        let tab = Tab { name: tab_name(&self.state.panes[&id]), layout: Layout::Pane(id), active: id, zoomed: false };
        self.state.sessions.push(Session {
            name: name.clone(),
            tabs: vec![tab],
            active_tab: 0,
            detached_size: (cols, rows.saturating_sub(super::STATUS_ROWS)),
            last_used: 0,
        });
        let si = self.state.sessions.len() - 1;
        self.state.touch(si);
        self.reconcile(&name);
        if spec.pair {
            let right = PaneSpec {
                cwd: Some(self.state.panes[&id].initial_cwd.clone()),
                agent: Some(crate::agents::AgentKind::Codex),
                ..Default::default()
            };
            if let Err(e) = self.split(Some(&crate::pane::pane_name(id)), SplitDirection::Right, right) {
                // No half-made pair: take the session down again.
                self.close_pane(id);
                return Err(e);
            }
            self.focus_pane(id);
        }
        Ok((name, id))
    }

    pub(super) fn split(&mut self, target: Option<&str>, dir: SplitDirection, spec: PaneSpec) -> Result<PaneId, Error> {
        let from = match target {
            Some(t) => self.state.resolve_pane(t)?,
            None => {
                let si = self.state.default_session().ok_or_else(no_sessions)?;
                self.state.sessions[si].tab().active
            }
        };
        let (si, ti) = self.state.locate(from).expect("resolved panes are placed");
        let cwd = self.state.panes[&from].cwd();
        let size = self.state.panes[&from].size();
        let session = self.state.sessions[si].name.clone();
        let id = self.spawn_pane(&spec, cwd, size, &session)?;
        let tab = &mut self.state.sessions[si].tabs[ti];
        tab.layout.split(from, id, dir);
        tab.active = id;
        tab.zoomed = false;
        self.reconcile(&session);
        Ok(id)
    }

    pub(super) fn new_tab(&mut self, si: usize, spec: PaneSpec) -> Result<PaneId, Error> {
        let session = self.state.sessions[si].name.clone();
        let active = self.state.sessions[si].tab().active;
        let cwd = self.state.panes.get(&active).map(|p| p.cwd()).unwrap_or_else(|| PathBuf::from("/"));
        let size = self.state.panes.get(&active).map(|p| p.size()).unwrap_or(Size { cols: 80, rows: 22 });
        let id = self.spawn_pane(&spec, cwd, size, &session)?;
        let s = &mut self.state.sessions[si];
        s.tabs.push(Tab {
            name: tab_name(&self.state.panes[&id]),
            layout: Layout::Pane(id),
            active: id,
            zoomed: false,
        });
        s.active_tab = s.tabs.len() - 1;
        self.reconcile(&session);
        Ok(id)
    }

    pub(super) fn attach(
        &mut self,
        id: ClientId,
        req: AttachRequest,
        out: tokio::sync::mpsc::UnboundedSender<ServerMsg>,
    ) {
        let session = match self.attach_target(&req) {
            Ok(name) => name,
            Err(e) => {
                let _ = out.send(ServerMsg::Error(e));
                return;
            }
        };
        let sidebar = self.state.config.settings.sidebar;
        let mut client = Client::new(session.clone(), req.cols, req.rows, out, sidebar);
        if !self.state.config.warnings.is_empty() {
            let n = self.state.config.warnings.len();
            client.message = Some(format!(
                "config: {n} problem{} ignored, presets used; see `sbx config check`",
                if n == 1 { "" } else { "s" }
            ));
        }
        self.clients.insert(id, client);
        if let Some(si) = self.state.session_index(&session) {
            self.state.touch(si);
        }
        self.reconcile(&session);
    }

    fn attach_target(&mut self, req: &AttachRequest) -> Result<String, Error> {
        if let Some(target) = &req.target {
            if let Ok(target) = self.state.resolve(target) {
                let si = match target {
                    Target::Session(si) => si,
                    Target::Tab(si, ti) => {
                        self.state.sessions[si].active_tab = ti;
                        si
                    }
                    Target::Pane(id) => {
                        let (si, ti) = self.state.locate(id).expect("resolved panes are placed");
                        self.state.sessions[si].active_tab = ti;
                        self.state.sessions[si].tabs[ti].active = id;
                        si
                    }
                };
                return Ok(self.state.sessions[si].name.clone());
            }
        } else if let Some(si) = self.state.default_session() {
            return Ok(self.state.sessions[si].name.clone());
        }
        match &req.create {
            Some(spec) => {
                let mut spec = spec.clone();
                if spec.name.is_none() {
                    spec.name = req.target.clone();
                }
                Ok(self.create_session(spec)?.0)
            }
            None => Err(match &req.target {
                Some(t) => Error::new(
                    "unknown_target",
                    format!("no session {t:?}"),
                    "run `sbx ls` to see the sessions, or `sbx new -s NAME`",
                ),
                None => no_sessions(),
            }),
        }
    }
}

fn tab_name(pane: &Pane) -> String {
    let cmd = pane.display_command();
    let first = cmd.first().map(String::as_str).unwrap_or("shell");
    std::path::Path::new(first).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| first.into())
}

fn no_sessions() -> Error {
    Error::new("no_sessions", "there are no sessions", "start one with `sbx` or `sbx new`")
}
