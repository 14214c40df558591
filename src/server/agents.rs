//! Agent panes as the server sees them: their state (from hooks first, the transcript second,
//! the screen last), notifications when one starts waiting, prompts typed and submitted once
//! they show, answers sent once the question is drawn, and commands that wait for a state.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::Server;
use crate::agents::state::after_hook;
use crate::agents::Adapter as _;
use crate::agents::{AgentKind, AgentState, HookEvent};
use crate::pane::engine::lock;
use crate::pane::input::encode_paste;
use crate::pane::PaneId;
use crate::protocol::{AgentInfo, AgentKey, Error, Reply, ServerMsg};

/// How long a typed prompt may take to show on screen before sbx gives up submitting it.
const PROMPT_ECHO: Duration = Duration::from_secs(10);

pub struct PaneAgent {
    pub kind: AgentKind,
    pub session_id: Option<String>,
    /// The session id is known for sure: sbx chose it at launch, or the agent's own processes
    /// vouch for what a hook said (see `agents::vouches`). A claim no process backs is shown
    /// but never keeps another pane from its session.
    pub vouched: bool,
    pub state: AgentState,
    /// Prompts waiting for the agent to be idle (`agent prompt --queue`).
    pub queued: Vec<String>,
    /// Whether any hook has reported for this pane; without hooks the screen decides.
    pub hooks_seen: bool,
    /// "Interrupted" notices on screen when the current state began.
    pub interruptions: usize,
    /// The working marker has shown during the current turn.
    marker_seen: bool,
    /// The agent's transcript (from its hooks); what it appended since the current state
    /// began is what says how the state ends.
    pub transcript: Option<std::path::PathBuf>,
    transcript_from: u64,
    transcript_len: u64,
}

impl PaneAgent {
    pub fn new(kind: AgentKind, session_id: Option<String>) -> PaneAgent {
        PaneAgent {
            kind,
            vouched: session_id.is_some(),
            session_id,
            state: AgentState::Starting,
            queued: Vec::new(),
            hooks_seen: false,
            interruptions: 0,
            marker_seen: false,
            transcript: None,
            transcript_from: 0,
            transcript_len: 0,
        }
    }

    pub fn info(&self) -> AgentInfo {
        AgentInfo {
            kind: self.kind.name().into(),
            session_id: self.session_id.clone(),
            state: self.state.label().into(),
            reason: self.state.reason().map(Into::into),
            tool: self.state.tool().map(Into::into),
        }
    }
}

/// A command waiting for an agent's state.
pub struct Waiter {
    pane: PaneId,
    until: String,
    deadline: Option<Instant>,
    out: UnboundedSender<ServerMsg>,
}

/// Keys held back until the agent's screen is ready for them: Enter once a typed prompt
/// shows (pressed earlier, it can be lost), an answer once the question is drawn (the
/// permission hook comes before the dialog).
pub struct Typed {
    pane: PaneId,
    ready: Ready,
    keys: Vec<u8>,
    deadline: Instant,
    out: Option<UnboundedSender<ServerMsg>>,
}

enum Ready {
    /// This piece of the prompt is on screen once more than it was before typing.
    Shows { needle: String, before: usize },
    /// The agent took the submitted prompt (it left idle): only then does `prompt` answer,
    /// so a script's next `agent wait --until idle` waits for this turn.
    Started,
    /// The agent's question is on screen.
    Question,
}

impl Typed {
    pub fn pane(&self) -> PaneId {
        self.pane
    }
}

impl Server {
    /// A hook from the agent in pane `id` (from process `pid`): its state, and its session. A
    /// new session id is taken only if no other pane's agent runs it; it comes back when the
    /// agent's own processes vouch for it (the session was resumed here, so its mail may follow).
    pub(super) fn on_hook(
        &mut self,
        id: PaneId,
        kind: &str,
        hook: HookEvent,
        pid: u32,
    ) -> Result<Option<String>, Error> {
        if let std::collections::btree_map::Entry::Vacant(entry) = self.state.agents.entry(id) {
            // An agent the user started by hand in a shell pane, with `sbx init`'s hooks:
            // from its first hook on, the pane is an agent pane like any other.
            let Some(kind) = crate::protocol::AgentKind::from_name(kind) else {
                return Ok(None);
            };
            entry.insert(PaneAgent::new(kind, None));
        }
        let claimed = hook.session_id.clone().filter(|s| !s.is_empty());
        let taken = claimed.as_ref().and_then(|sid| {
            self.state
                .agents
                .iter()
                .find(|(other, a)| {
                    **other != id && a.vouched && a.session_id.as_ref() == Some(sid) && a.state != AgentState::Exited
                })
                .map(|(other, _)| *other)
        });
        let pane_pid = self.state.panes.get(&id).and_then(|p| p.pid);
        let Some(agent) = self.state.agents.get_mut(&id) else {
            return Ok(None);
        };
        // The server's log says what moved each agent (no prompt text, no tool input).
        tracing::info!("agent {}: hook {} (state {})", crate::pane::pane_name(id), hook.event, agent.state.label());
        agent.hooks_seen = true;
        let mut resumed = None;
        match (claimed, taken) {
            (Some(sid), Some(other)) => tracing::warn!(
                "agent {}: a hook claims session {sid}, which the agent in {} runs; not taken",
                crate::pane::pane_name(id),
                crate::pane::pane_name(other)
            ),
            (Some(sid), None) => {
                let fresh = agent.session_id.as_ref() != Some(&sid);
                if fresh || !agent.vouched {
                    let own = pane_pid
                        .map(|root| crate::agents::agent_processes(agent.kind, &crate::proc::lineage(pid), root));
                    let vouched = own.is_some_and(|own| crate::agents::vouches(agent.kind, &own, &sid));
                    if vouched {
                        resumed = Some(sid.clone());
                    }
                    agent.vouched = vouched;
                    agent.session_id = Some(sid);
                }
            }
            _ => {}
        }
        if let Some(sid) = &resumed {
            // Vouched for here: a pane that only claimed it does not keep it.
            for (other, a) in self.state.agents.iter_mut() {
                if *other != id && !a.vouched && a.session_id.as_ref() == Some(sid) {
                    a.session_id = None;
                    self.bridge_dirty = true;
                }
            }
        }
        let Some(agent) = self.state.agents.get_mut(&id) else {
            return Ok(None);
        };
        if let Some(path) = hook.transcript_path.as_ref().filter(|p| !p.is_empty()) {
            agent.transcript = Some(path.into());
        }
        if let Some(next) = after_hook(&agent.state, &hook) {
            self.set_agent_state(id, next);
        }
        Ok(resumed)
    }

    pub(super) fn set_agent_state(&mut self, id: PaneId, next: AgentState) {
        let hint = self.agent_screen(id);
        let Some(agent) = self.state.agents.get_mut(&id) else { return };
        if agent.state == next {
            return;
        }
        tracing::info!("agent {}: {} -> {}", crate::pane::pane_name(id), agent.state.label(), next.label());
        self.bridge_dirty = true;
        agent.state = next.clone();
        agent.interruptions = hint.map_or(0, |h| h.interruptions);
        agent.transcript_from =
            agent.transcript.as_ref().and_then(|p| std::fs::metadata(p).ok()).map_or(0, |m| m.len());
        agent.transcript_len = agent.transcript_from;
        // Only a marker drawn after this moment counts (the screen may not have caught up).
        agent.marker_seen = false;
        let kind = agent.kind;
        if let AgentState::Waiting { reason, tool } = &next {
            self.notify_waiting(id, kind, reason, tool.as_deref());
        }
        if next == AgentState::Idle {
            let queued = self.state.agents.get_mut(&id).map(|a| std::mem::take(&mut a.queued)).unwrap_or_default();
            if !queued.is_empty() {
                // One prompt at a time: the rest wait for the next idle.
                let mut rest = queued.into_iter();
                let first = rest.next().expect("not empty");
                if let Some(a) = self.state.agents.get_mut(&id) {
                    a.queued = rest.collect();
                }
                self.type_prompt(id, &first, None);
            }
        }
        self.wake_waiters();
        self.check_typed();
        self.mark_pane_dirty(id);
    }

    fn agent_screen(&self, id: PaneId) -> Option<crate::agents::ScreenHint> {
        let agent = self.state.agents.get(&id)?;
        let pane = self.state.panes.get(&id)?;
        let screen = lock(&pane.engine).capture(0).join("\n");
        Some(agent.kind.adapter().screen(&screen))
    }

    /// The transcript, second: a turn interrupted by the user fires no hook, but the agent
    /// writes it down. Read only when the file grew, and only its end.
    pub(super) fn check_agent_transcript(&mut self, id: PaneId) {
        let Some(agent) = self.state.agents.get_mut(&id) else { return };
        if !matches!(agent.state, AgentState::Working { .. } | AgentState::Waiting { .. }) {
            return;
        }
        let Some(path) = agent.transcript.clone() else { return };
        let Ok(meta) = std::fs::metadata(&path) else { return };
        if meta.len() == agent.transcript_len {
            return;
        }
        agent.transcript_len = meta.len();
        let Some(tail) = read_since(&path, agent.transcript_from, meta.len()) else { return };
        if agent.kind.adapter().turn_ended(&tail) == Some(true) {
            tracing::info!("agent {}: the transcript says the turn ended", crate::pane::pane_name(id));
            self.set_agent_state(id, AgentState::Idle);
        }
    }

    /// The screen, last: what the hooks cannot say. A turn ended by an interruption or a
    /// refused permission fires no hook; Codex says nothing until its first prompt; and an
    /// agent whose hooks do not reach sbx is read from its screen alone.
    pub(super) fn check_agent_screen(&mut self, id: PaneId) {
        let Some(hint) = self.agent_screen(id) else { return };
        let Some(agent) = self.state.agents.get_mut(&id) else { return };
        agent.marker_seen |= hint.working;
        let interrupted = hint.interruptions > agent.interruptions;
        let marker_gone = hint.marker_spans_turn && agent.marker_seen && !hint.working && !hint.waiting;
        let next = match &agent.state {
            AgentState::Working { .. } if marker_gone => {
                tracing::info!("agent {}: working marker gone", crate::pane::pane_name(id));
                Some(AgentState::Idle)
            }
            AgentState::Starting if hint.ready && !hint.working && !hint.waiting => Some(AgentState::Idle),
            AgentState::Working { .. } | AgentState::Waiting { .. }
                if interrupted && !hint.working && !hint.waiting =>
            {
                Some(AgentState::Idle)
            }
            _ if agent.hooks_seen => None,
            AgentState::Idle if hint.waiting => Some(AgentState::Waiting { reason: "permission".into(), tool: None }),
            AgentState::Idle if hint.working => Some(AgentState::Working { tool: None }),
            AgentState::Working { .. } | AgentState::Waiting { .. } if hint.ready && !hint.working && !hint.waiting => {
                Some(AgentState::Idle)
            }
            _ => None,
        };
        if let Some(next) = next {
            self.set_agent_state(id, next);
        } else if hint.interruptions != agent.interruptions && !interrupted {
            // Notices scrolled away: count from what is on screen now.
            if let Some(a) = self.state.agents.get_mut(&id) {
                a.interruptions = hint.interruptions;
            }
        }
    }

    /// A bell and a desktop notification escape for the clients of the pane's session.
    fn notify_waiting(&mut self, id: PaneId, kind: AgentKind, reason: &str, tool: Option<&str>) {
        let Some((si, _)) = self.state.locate(id) else { return };
        let session = self.state.sessions[si].name.clone();
        let what = match tool {
            Some(tool) => format!("{} in {} waits for {reason} ({tool})", kind.name(), crate::pane::pane_name(id)),
            None => format!("{} in {} waits for {reason}", kind.name(), crate::pane::pane_name(id)),
        };
        let settings = &self.state.config.settings;
        let mut bytes = Vec::new();
        if settings.notify_bell {
            bytes.push(0x07);
        }
        // Control characters in a tool name must not end the escape early.
        let clean: String = what.chars().filter(|c| !c.is_control()).collect();
        match settings.notify_desktop.as_str() {
            "osc9" => bytes.extend_from_slice(format!("\x1b]9;sbx: {clean}\x07").as_bytes()),
            "osc777" => bytes.extend_from_slice(format!("\x1b]777;notify;sbx;{clean}\x07").as_bytes()),
            _ => {}
        }
        for client in self.clients.values_mut().filter(|c| c.session == session) {
            client.pending.extend_from_slice(&bytes);
            client.dirty = true;
        }
    }

    pub(super) fn agent_prompt(&mut self, target: &str, text: String, queue: bool, out: UnboundedSender<ServerMsg>) {
        let result = (|| {
            let id = self.state.resolve_pane(target)?;
            let agent = self.state.agents.get_mut(&id).ok_or_else(|| not_an_agent(target))?;
            match &agent.state {
                AgentState::Idle => Ok(Some(id)),
                AgentState::Exited => {
                    Err(Error::new("agent_exited", "the agent has exited", "start a new one: sbx split --agent ..."))
                }
                state if queue => {
                    let _ = state;
                    agent.queued.push(text.clone());
                    Ok(None)
                }
                state => Err(Error::new(
                    "agent_busy",
                    format!("the agent is {}; the prompt was not typed", state.label()),
                    format!("wait for it (sbx agent wait -t {target} --until idle) or pass --queue"),
                )),
            }
        })();
        match result {
            Ok(Some(id)) => self.type_prompt(id, &text, Some(out)),
            Ok(None) => {
                let _ = out.send(ServerMsg::Reply(Reply::Queued));
            }
            Err(e) => {
                let _ = out.send(ServerMsg::Error(e));
            }
        }
    }

    /// Type the prompt (as a paste when the agent takes pastes) and remember to press Enter
    /// once it shows: pressing Enter before the agent has drawn the text can lose it.
    pub(super) fn type_prompt(&mut self, id: PaneId, text: &str, out: Option<UnboundedSender<ServerMsg>>) {
        let Some(pane) = self.state.panes.get(&id) else { return };
        let last_line = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        let needle: String = last_line.chars().rev().take(24).collect::<Vec<_>>().into_iter().rev().collect();
        // The same words may be on screen already (an earlier prompt): wait for one more.
        let before = {
            let engine = lock(&pane.engine);
            let screen = engine.capture(0).join("\n");
            shown(&screen, &needle)
        };
        let mode = lock(&pane.engine).mode();
        pane.write(encode_paste(text, mode));
        let typed = Typed {
            pane: id,
            ready: Ready::Shows { needle, before },
            keys: b"\r".to_vec(),
            deadline: Instant::now() + PROMPT_ECHO,
            out,
        };
        self.typed.push(typed);
        self.check_typed();
    }

    /// Submit typed prompts that now show; give up on those that never did.
    pub(super) fn check_typed(&mut self) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.typed.len() {
            let t = &self.typed[i];
            let shown = self.state.panes.get(&t.pane).map(|p| {
                let screen = lock(&p.engine).capture(0).join("\n");
                match &t.ready {
                    // A long paste may be shown folded ("[Pasted text #1 +12 lines]").
                    Ready::Shows { needle, before } => shown(&screen, needle) > *before,
                    Ready::Started => self
                        .state
                        .agents
                        .get(&t.pane)
                        .is_some_and(|a| !matches!(a.state, AgentState::Idle | AgentState::Starting)),
                    Ready::Question => {
                        self.state.agents.get(&t.pane).is_some_and(|a| a.kind.adapter().screen(&screen).waiting)
                    }
                }
            });
            match shown {
                Some(true) => {
                    let t = self.typed.remove(i);
                    if let Some(p) = self.state.panes.get(&t.pane) {
                        p.write(t.keys);
                    }
                    if matches!(t.ready, Ready::Shows { .. }) {
                        // Submitted: answer once the agent has taken it.
                        let deadline = Instant::now() + PROMPT_ECHO;
                        self.typed.insert(
                            i,
                            Typed { pane: t.pane, ready: Ready::Started, keys: Vec::new(), deadline, out: t.out },
                        );
                        i += 1;
                        continue;
                    }
                    let reply = match self.state.agents.get(&t.pane) {
                        Some(a) if matches!(t.ready, Ready::Question) => Reply::Agent(a.info()),
                        _ => Reply::Done,
                    };
                    if let Some(out) = t.out {
                        let _ = out.send(ServerMsg::Reply(reply));
                    }
                }
                None => {
                    let t = self.typed.remove(i);
                    if let Some(out) = t.out {
                        let _ = out.send(ServerMsg::Error(Error::new("pane_closed", "the pane closed", "run sbx ls")));
                    }
                }
                Some(false) if t.deadline <= now => {
                    let t = self.typed.remove(i);
                    let what = match t.ready {
                        Ready::Shows { .. } => "the prompt never showed on the agent's screen; it was not submitted",
                        Ready::Started => "the prompt was submitted but the agent did not start on it",
                        Ready::Question => "the agent's question never showed on its screen; nothing was answered",
                    };
                    if let Some(out) = t.out {
                        let _ = out.send(ServerMsg::Error(Error::new(
                            "not_shown",
                            what,
                            format!("look at the pane: sbx capture -t {}", crate::pane::pane_name(t.pane)),
                        )));
                    }
                }
                Some(false) => i += 1,
            }
        }
    }

    /// Answer the agent's question once it is drawn; replies when the keys are sent.
    pub(super) fn agent_key(&mut self, target: &str, key: AgentKey, out: UnboundedSender<ServerMsg>) {
        let checked = (|| {
            let id = self.state.resolve_pane(target)?;
            let agent = self.state.agents.get(&id).ok_or_else(|| not_an_agent(target))?;
            if !matches!(agent.state, AgentState::Waiting { .. }) {
                return Err(Error::new(
                    "agent_busy",
                    format!("the agent is {}, not waiting for an answer", agent.state.label()),
                    format!("wait for a question: sbx agent wait -t {target} --until waiting"),
                ));
            }
            Ok((id, agent.kind.adapter().answer(key)))
        })();
        match checked {
            Ok((id, keys)) => {
                let deadline = Instant::now() + PROMPT_ECHO;
                self.typed.push(Typed { pane: id, ready: Ready::Question, keys, deadline, out: Some(out) });
                self.check_typed();
            }
            Err(e) => {
                let _ = out.send(ServerMsg::Error(e));
            }
        }
    }

    pub(super) fn agent_wait(&mut self, target: &str, until: String, timeout_ms: u64, out: UnboundedSender<ServerMsg>) {
        let pane = match self.state.resolve_pane(target) {
            Ok(id) if self.state.agents.contains_key(&id) => id,
            Ok(_) => {
                let _ = out.send(ServerMsg::Error(not_an_agent(target)));
                return;
            }
            Err(e) => {
                let _ = out.send(ServerMsg::Error(e));
                return;
            }
        };
        let deadline = (timeout_ms != u64::MAX).then(|| Instant::now() + Duration::from_millis(timeout_ms));
        self.waiters.push(Waiter { pane, until, deadline, out });
        self.wake_waiters();
    }

    /// Answer the waiters whose state has come (or whose time is up).
    pub(super) fn wake_waiters(&mut self) {
        let now = Instant::now();
        let agents = &self.state.agents;
        self.waiters.retain(|w| {
            let state = agents.get(&w.pane).map(|a| (a.state.label(), a.info()));
            let reply = match state {
                Some((label, info)) if label == w.until => Some(ServerMsg::Reply(Reply::Agent(info))),
                Some(("exited", _)) | None => Some(ServerMsg::Error(Error::new(
                    "agent_exited",
                    "the agent exited before that",
                    "start a new one: sbx split --agent ...",
                ))),
                Some((label, _)) if w.deadline.is_some_and(|d| d <= now) => Some(ServerMsg::Error(Error::new(
                    "timeout",
                    format!("timed out; the agent is {label}"),
                    "wait longer (--timeout S) or look at the pane: sbx capture -t PANE",
                ))),
                _ => None,
            };
            match reply {
                Some(msg) => {
                    let _ = w.out.send(msg);
                    false
                }
                None => true,
            }
        });
    }

    /// The earliest moment a waiter or a typed prompt times out.
    pub(super) fn next_agent_deadline(&self) -> Option<Instant> {
        let waiters = self.waiters.iter().filter_map(|w| w.deadline);
        let typed = self.typed.iter().map(|t| t.deadline);
        waiters.chain(typed).min()
    }

    pub(super) fn agent_exited(&mut self, id: PaneId) {
        if self.state.agents.contains_key(&id) {
            self.set_agent_state(id, AgentState::Exited);
        }
    }
}

/// How often a typed prompt shows: its last words, or a folded long paste
/// ("[Pasted text #1 +12 lines]").
fn shown(screen: &str, needle: &str) -> usize {
    screen.matches(needle).count() + screen.matches("[Pasted text").count()
}

/// What a file gained from `from` to `len` (at most its last 256 KiB, from a whole line).
fn read_since(path: &std::path::Path, from: u64, len: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    const MAX: u64 = 256 * 1024;
    if len <= from {
        return None;
    }
    let mut file = std::fs::File::open(path).ok()?;
    let start = from.max(len.saturating_sub(MAX));
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::with_capacity((len - start) as usize);
    file.take(len - start).read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Some(if start > from { text.split_once('\n').map(|(_, rest)| rest.to_string()).unwrap_or_default() } else { text })
}

fn not_an_agent(target: &str) -> Error {
    Error::new(
        "not_an_agent",
        format!("{target} is not an agent pane"),
        "start one with sbx split --agent claude (or codex); sbx ls --json shows which panes are agents",
    )
}
