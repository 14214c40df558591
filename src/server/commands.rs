//! Requests from connections, dispatched in one place: control commands (`sbx ls`, `split`,
//! `send-keys`…) answered at once, the agent commands and hooks that answer later, attaching a
//! client, and what the bridge asks of the server (labels, idle notices).

use tokio::sync::mpsc::UnboundedSender;

use super::conn::ClientId;
use super::front::terminal::Outlet;
use super::front::Client;
use super::model::Target;
use super::{Server, Stop};
use crate::agents::AgentState;
use crate::bridge::{BridgeMsg, BridgeNotice, Caller, Replier};
use crate::pane::{pane_name, PaneId};
use crate::protocol::{AttachRequest, BridgeOp, Command, Error, HookEvent, Reply, ServerMsg};

/// Hooks that run before the agent's next turn: the ones whose output becomes context.
fn takes_context(event: &str) -> bool {
    matches!(event, "UserPromptSubmit" | "SessionStart")
}

fn no_sessions() -> Error {
    Error::new("no_sessions", "there are no sessions", "start one with `sbx` or `sbx new`")
}

impl Server {
    /// A command from a connection; its answer goes to `out` (now, or once it can be given).
    /// `pid` is the process on the other end, from the kernel.
    pub(super) fn command(&mut self, cmd: Command, out: UnboundedSender<ServerMsg>, pid: u32) {
        let answer = match cmd {
            Command::Hook { pane, agent, hook } => return self.hook(pane, &agent, hook, pid, out),
            Command::AgentPrompt { target, text, queue } => {
                return self.driver.prompt(&mut self.model, &target, text, queue, out)
            }
            Command::AgentKey { target, key } => return self.driver.key(&self.model, &target, key, out),
            Command::AgentWait { target, until, timeout_ms } => {
                return self.driver.wait(&self.model, &target, until, timeout_ms, out)
            }
            Command::AgentPromptMany { agents, text } => return self.prompt_many(agents, text, out),
            cmd @ (Command::RenameSession { .. }
            | Command::RenameTab { .. }
            | Command::SwapPane { .. }
            | Command::MovePane { .. }
            | Command::Layout { .. }
            | Command::Mute { .. }) => self.arrange(cmd),
            Command::Ping => Ok(Reply::Pong { pid: std::process::id(), version: env!("CARGO_PKG_VERSION").into() }),
            Command::New(spec) => {
                self.model.create_session(spec).map(|(session, pane)| Reply::Created { session, pane: pane_name(pane) })
            }
            Command::List => Ok(Reply::List(self.model.list(|s| self.front.count(s)))),
            Command::Split { target, direction, pane } => (|| {
                let from = target.map(|t| self.model.resolve_pane(&t)).transpose()?;
                let id = self.model.split(from, direction, pane)?;
                Ok(Reply::Pane(self.model.pane_info(id).expect("pane just created")))
            })(),
            Command::NewTab { target, pane } => (|| {
                let si = match target {
                    Some(t) => {
                        let target = self.model.resolve(&t)?;
                        self.model.session_of(target)
                    }
                    None => self.model.default_session().ok_or_else(no_sessions)?,
                };
                let id = self.model.new_tab(si, pane)?;
                Ok(Reply::Pane(self.model.pane_info(id).expect("pane just created")))
            })(),
            Command::SendKeys { target, text, keys, enter } => (|| {
                let pane = &self.model.panes[&self.model.resolve_pane(&target)?];
                pane.send_keys(&text, &keys, enter).map_err(|e| {
                    Error::new(
                        "bad_key",
                        e,
                        "key names: Enter, Tab, Esc, BSpace, Up, Down, Left, Right, F1…F12, C-x, M-x",
                    )
                })?;
                Ok(Reply::Done)
            })(),
            Command::Capture { target, scrollback } => self
                .model
                .resolve_pane(&target)
                .map(|id| Reply::Capture(crate::pane::engine::lock(&self.model.panes[&id].engine).capture(scrollback))),
            Command::Kill { target } => self.model.resolve(&target).map(|target| {
                let panes = match target {
                    Target::Pane(id) => vec![id],
                    Target::Tab(si, ti) => self.model.sessions[si].tabs[ti].layout.panes(),
                    Target::Session(si) => self.model.sessions[si].panes(),
                };
                for id in panes {
                    self.model.close_pane(id);
                }
                Reply::Done
            }),
            Command::KillServer { forget } => {
                self.exiting = true;
                self.stop = if forget { Stop::Forget } else { Stop::Keep };
                Ok(Reply::Done)
            }
            Command::Restore => self.restore_kept(),
            Command::Reload => Ok(Reply::Reloaded { warnings: self.reload_config() }),
            Command::Detach { target } => (|| {
                let si = match target {
                    Some(t) => {
                        let target = self.model.resolve(&t)?;
                        self.model.session_of(target)
                    }
                    None => self.model.default_session().ok_or_else(no_sessions)?,
                };
                let session = self.model.sessions[si].name.clone();
                let ids: Vec<ClientId> =
                    self.front.clients.iter().filter(|(_, c)| c.session == session).map(|(id, _)| *id).collect();
                for id in &ids {
                    self.front.detach(*id, "[detached]");
                }
                self.reshape(&session);
                Ok(Reply::Detached(ids.len()))
            })(),
            Command::Label { target, label } => self
                .model
                .resolve_pane(&target)
                .and_then(|id| self.model.set_label(id, Some(label), &self.bridge.overview.external_labels))
                .map(|()| Reply::Done),
            Command::Web(op) => self.web_op(op),
            Command::Zoom { target, on } => {
                self.model.resolve_pane(&target).and_then(|id| self.model.zoom_pane(id, on)).and_then(|zoomed| {
                    if on && !zoomed {
                        return Err(Error::new(
                            "cannot_zoom",
                            "the pane is alone in its tab: there is nothing to zoom over",
                            "split it first (sbx split -t PANE)",
                        ));
                    }
                    Ok(Reply::Done)
                })
            }
        };
        let _ = out.send(match answer {
            Ok(reply) => ServerMsg::Reply(reply),
            Err(e) => ServerMsg::Error(e),
        });
    }

    /// A hook from an agent: its state (for a pane), its registration (outside sbx), and the
    /// unread messages to show before its next turn.
    fn hook(&mut self, pane: Option<String>, agent: &str, hook: HookEvent, pid: u32, out: UnboundedSender<ServerMsg>) {
        let event = hook.event.clone();
        let endpoint = match pane {
            Some(pane) => {
                let id = match self.model.resolve_pane(&pane) {
                    Ok(id) => id,
                    Err(e) => {
                        let _ = out.send(ServerMsg::Error(e));
                        return;
                    }
                };
                // A hook speaks for the pane it runs in, whatever its environment says.
                if crate::proc::origin(pid, |p| self.model.pane_with_pid(p)) != crate::proc::Origin::Pane(id) {
                    let _ = out.send(ServerMsg::Error(Error::new(
                        "identity_refused",
                        format!("this hook does not run in pane {pane}"),
                        "hooks report for the pane they run in; unset SBX_PANE_ID outside sbx panes",
                    )));
                    return;
                }
                let resumed = self.model.on_hook(id, agent, hook, pid);
                // The bridge hears of the pane's state and session before its inbox is asked.
                self.settle();
                self.bridge.sync(&self.model);
                let endpoint = self.model.panes.get(&id).map(|p| p.endpoint.clone());
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

    /// A client attaches: to its target (or the session used last), creating one if asked.
    pub(super) fn attach(&mut self, id: ClientId, req: AttachRequest, outlet: Outlet, out: UnboundedSender<ServerMsg>) {
        let session = match self.attach_target(&req) {
            Ok(name) => name,
            Err(e) => {
                let _ = out.send(ServerMsg::Error(e));
                return;
            }
        };
        if !req.colors.is_empty() {
            // The terminal this user looks at now: what programs that ask are told.
            crate::pane::engine::lock(&self.model.outer_colors).merge(&req.colors);
        }
        let config = &self.model.config;
        let mut client = Client::new(session.clone(), req.cols, req.rows, outlet, out, config.settings.sidebar);
        client.read_only = req.read_only;
        if let Some(notice) = self.notice.take() {
            client.message = Some(notice);
        } else if !config.warnings.is_empty() {
            let n = config.warnings.len();
            client.message = Some(format!(
                "config: {n} problem{} ignored, presets used; see `sbx config check`",
                if n == 1 { "" } else { "s" }
            ));
        }
        self.front.clients.insert(id, client);
        if let Some(si) = self.model.session_index(&session) {
            self.model.touch(si);
        }
        self.reshape(&session);
    }

    fn attach_target(&mut self, req: &AttachRequest) -> Result<String, Error> {
        if let Some(target) = &req.target {
            if let Ok(target) = self.model.resolve(target) {
                let si = self.model.session_of(target);
                match target {
                    Target::Tab(_, ti) => self.model.sessions[si].active_tab = ti,
                    Target::Pane(id) => {
                        let (_, ti) = self.model.locate(id).expect("resolved panes are placed");
                        self.model.sessions[si].active_tab = ti;
                        self.model.sessions[si].tabs[ti].active = id;
                    }
                    Target::Session(_) => {}
                }
                return Ok(self.model.sessions[si].name.clone());
            }
        } else if let Some(si) = self.model.default_session() {
            return Ok(self.model.sessions[si].name.clone());
        }
        match &req.create {
            Some(spec) => {
                let mut spec = spec.clone();
                if spec.name.is_none() {
                    spec.name = req.target.clone();
                }
                Ok(self.model.create_session(spec)?.0)
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

    pub(super) fn on_bridge_notice(&mut self, notice: BridgeNotice) {
        match notice {
            BridgeNotice::SetLabel { endpoint, pane, label, reply } => self.bridge_label(endpoint, pane, label, reply),
            BridgeNotice::Delivered { endpoint, from, subject } => self.notify_idle(&endpoint, &from, &subject),
            BridgeNotice::Overview(overview) => {
                self.bridge.overview = overview;
                self.front.mark_all_dirty();
                self.web_bridge_changed();
            }
            BridgeNotice::Outbox => {
                if let Some(remote) = &self.remote {
                    remote.wake();
                }
            }
        }
    }

    /// Labels are unique across panes, session names and external sessions; the server checks.
    fn bridge_label(&mut self, endpoint: String, pane: Option<String>, label: String, reply: Replier) {
        let taken_outside =
            self.bridge.overview.external_labels.contains(&label) && !self.bridge.has_label(&endpoint, &label);
        let result = if taken_outside {
            Err(Error::new(
                "label_taken",
                format!("the label {label:?} is taken by an agent session outside sbx"),
                "labels are unique; choose another",
            ))
        } else {
            match pane.as_deref().map(|p| self.model.resolve_pane(p)) {
                Some(Ok(id)) => self.model.set_label(id, Some(label.clone()), &[]),
                Some(Err(e)) => Err(e),
                None => {
                    if self.model.panes.values().any(|p| p.label.as_ref() == Some(&label))
                        || self.model.session_index(&label).is_some()
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
                self.front.mark_all_dirty();
                reply.send(Ok(serde_json::json!({ "label": label, "id": endpoint })));
            }
            Err(e) => reply.send(Err(Error { code: "label_taken".into(), ..e })),
        }
    }

    /// With `bridge.notify_idle`, a message for an idle agent pane is announced in its prompt:
    /// the agent's next turn then starts, and its prompt hook shows the message.
    fn notify_idle(&mut self, endpoint: &str, from: &str, subject: &str) {
        if !self.model.config.settings.bridge.notify_idle {
            return;
        }
        let Some(id) = self.bridge.pane_of(endpoint) else { return };
        if !self.model.agents.get(&id).is_some_and(|a| a.state == AgentState::Idle) {
            return;
        }
        let subject: String = subject.chars().filter(|c| !c.is_control()).take(80).collect();
        let from: String = from.chars().filter(|c| !c.is_control()).take(40).collect();
        let line = format!("[sbx] new message from {from}: \"{subject}\" (it is in your inbox)");
        self.driver.type_prompt(&self.model, id, &line, None);
    }

    /// Close every pane of the tab a client shows.
    pub(super) fn close_tab(&mut self, si: usize) {
        let panes: Vec<PaneId> = self.model.sessions[si].tab().layout.panes();
        for pane in panes {
            self.model.close_pane(pane);
        }
    }
}
