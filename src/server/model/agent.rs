//! Agent panes in the model: each one's state — from its hooks first, its transcript second,
//! its screen last — and the agent session it runs.

use std::time::{Duration, Instant};

use crate::agents::state::after_hook;
use crate::agents::Adapter as _;
use crate::agents::{AgentKind, AgentState, HookEvent};
use crate::pane::engine::lock;
use crate::pane::PaneId;
use crate::protocol::AgentInfo;

use super::{Attention, Model, NeedEvent};

/// How long a change read from an agent's screen must hold before it is believed. An agent
/// redraws a frame in more than one write, and a busy machine lets sbx read between them: the
/// half-drawn frame has lost the working marker, or the question, for a moment.
const SCREEN_SETTLE: Duration = Duration::from_millis(200);

/// Carried whole to a new server at a live upgrade (serde), so its state survives.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct PaneAgent {
    pub kind: AgentKind,
    pub session_id: Option<String>,
    /// The user's own arguments for the agent (what a restore passes again).
    pub args: Vec<String>,
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
    /// It finished a turn since anyone last looked at its pane (shown as `done`); cleared
    /// when a client shows the pane focused.
    #[serde(default)]
    pub unseen: bool,
    /// When it began to need the user (waiting, or done), in the model's clock: the jump to
    /// the next agent that needs you goes oldest first.
    #[serde(default)]
    pub needs_since: u64,
    /// Turns begun (entered working or waiting from idle): a typed prompt was taken if this
    /// moved, however short the turn.
    #[serde(default)]
    pub turns: u64,
    /// A change the screen asks for, and since when: applied once it has held for
    /// `SCREEN_SETTLE` (a frame read half-drawn asks for one that the rest of it takes back).
    #[serde(skip)]
    proposed: Option<(&'static str, Instant)>,
    /// Times a read of its screen found it busy (working or asking) where the read before had
    /// not: a turn too short to settle still shows here, so a typed prompt was taken.
    #[serde(skip)]
    pub busy_screens: u64,
    #[serde(skip)]
    screen_busy: bool,
}

impl PaneAgent {
    pub fn new(kind: AgentKind, session_id: Option<String>) -> PaneAgent {
        PaneAgent {
            kind,
            args: Vec::new(),
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
            unseen: false,
            needs_since: 0,
            turns: 0,
            proposed: None,
            busy_screens: 0,
            screen_busy: false,
        }
    }

    /// Its state as the user sees it: `done` is an idle agent whose finished turn nobody has
    /// looked at yet.
    pub fn shown_state(&self) -> &'static str {
        if self.unseen && self.state == AgentState::Idle {
            "done"
        } else {
            self.state.label()
        }
    }

    /// How much it needs the user, if at all: waiting (0) before done (1).
    pub fn need(&self) -> Option<u8> {
        match self.state {
            AgentState::Waiting { .. } => Some(0),
            AgentState::Idle if self.unseen => Some(1),
            _ => None,
        }
    }

    pub fn info(&self) -> AgentInfo {
        AgentInfo {
            kind: self.kind.name().into(),
            session_id: self.session_id.clone(),
            state: self.shown_state().into(),
            reason: self.state.reason().map(Into::into),
            tool: self.state.tool().map(Into::into),
            tool_input: self.state.tool_input().cloned(),
            transcript: self.transcript.as_ref().map(|p| p.display().to_string()),
            turns: self.turns,
        }
    }
}

impl Model {
    /// A hook from the agent in pane `id` (from process `pid`): its state, and its session. A
    /// new session id is taken only if no other pane's agent runs it; it comes back when the
    /// agent's own processes vouch for it (the session was resumed here, so its mail may follow).
    pub fn on_hook(&mut self, id: PaneId, kind: &str, mut hook: HookEvent, pid: u32) -> Option<String> {
        if let std::collections::btree_map::Entry::Vacant(entry) = self.agents.entry(id) {
            // An agent the user started by hand in a shell pane, with `sbx init`'s hooks:
            // from its first hook on, the pane is an agent pane like any other.
            let kind = crate::protocol::AgentKind::from_name(kind)?;
            entry.insert(PaneAgent::new(kind, None));
        }
        let claimed = hook.session_id.clone().filter(|s| !s.is_empty());
        let taken = claimed.as_ref().and_then(|sid| {
            self.agents
                .iter()
                .find(|(other, a)| {
                    **other != id && a.vouched && a.session_id.as_ref() == Some(sid) && a.state != AgentState::Exited
                })
                .map(|(other, _)| *other)
        });
        let pane_pid = self.panes.get(&id).and_then(|p| p.pid);
        let agent = self.agents.get_mut(&id)?;
        agent.kind.adapter().normalize_hook(&mut hook);
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
                    self.changes.panes = true;
                }
            }
            _ => {}
        }
        if let Some(sid) = &resumed {
            // Vouched for here: a pane that only claimed it does not keep it.
            for (other, a) in self.agents.iter_mut() {
                if *other != id && !a.vouched && a.session_id.as_ref() == Some(sid) {
                    a.session_id = None;
                    self.changes.panes = true;
                }
            }
        }
        let agent = self.agents.get_mut(&id)?;
        if let Some(path) = hook.transcript_path.as_ref().filter(|p| !p.is_empty()) {
            agent.transcript = Some(path.into());
        }
        // Its input is not up yet: the screen says when it is (`check_agent_screen`).
        let input_follows = hook.event == "SessionStart"
            && agent.state == AgentState::Starting
            && agent.kind.adapter().ready_after_session_start();
        if let Some(next) = after_hook(&agent.state, &hook).filter(|_| !input_follows) {
            self.set_agent_state(id, next);
        }
        if input_follows {
            // The input may be drawn already (the hook's report can come after it).
            self.check_agent_screen(id);
        }
        resumed
    }

    pub fn set_agent_state(&mut self, id: PaneId, next: AgentState) {
        let hint = self.agent_screen(id);
        let Some(agent) = self.agents.get_mut(&id) else { return };
        if agent.state == next {
            return;
        }
        tracing::info!("agent {}: {} -> {}", crate::pane::pane_name(id), agent.state.label(), next.label());
        self.changes.panes = true;
        self.changes.agents = true;
        let busy = |s: &AgentState| matches!(s, AgentState::Working { .. } | AgentState::Waiting { .. });
        let turn_ended = next == AgentState::Idle && busy(&agent.state);
        if busy(&next) && !busy(&agent.state) {
            agent.turns += 1;
        }
        agent.proposed = None;
        agent.state = next.clone();
        match &next {
            // Seen or not, a turn that ends is news; the server clears it at once for a pane
            // someone is looking at (and then says nothing).
            // A queued prompt is typed at once: the agent carries on, nothing to tell.
            AgentState::Idle if turn_ended && agent.queued.is_empty() => {
                self.clock += 1;
                (agent.unseen, agent.needs_since) = (true, self.clock);
                let reason = "its turn ended".to_string();
                self.changes.attention.push(Attention { pane: id, event: NeedEvent::Done, reason });
            }
            AgentState::Idle => {}
            AgentState::Waiting { .. } => {
                self.clock += 1;
                agent.needs_since = self.clock;
            }
            _ => agent.unseen = false,
        }
        agent.interruptions = hint.map_or(0, |h| h.interruptions);
        agent.transcript_from =
            agent.transcript.as_ref().and_then(|p| std::fs::metadata(p).ok()).map_or(0, |m| m.len());
        agent.transcript_len = agent.transcript_from;
        // Only a marker drawn after this moment counts (the screen may not have caught up).
        agent.marker_seen = false;
        if let AgentState::Waiting { reason, tool, input } = &next {
            let reason = waiting_reason(reason, tool.as_deref(), input.as_ref());
            self.changes.attention.push(Attention { pane: id, event: NeedEvent::Waiting, reason });
        }
        if next == AgentState::Idle && !agent.queued.is_empty() {
            // One prompt at a time: the rest wait for the next idle.
            let first = agent.queued.remove(0);
            self.changes.prompts.push((id, first));
        }
        if let Some(name) = self.session_name_of(id) {
            self.changes.redraw.insert(name);
        }
    }

    /// A client shows `pane` focused: a finished turn there has been seen.
    pub fn looked_at(&mut self, pane: PaneId) {
        if let Some(agent) = self.agents.get_mut(&pane).filter(|a| a.unseen) {
            agent.unseen = false;
            self.changes.panes = true;
            if let Some(name) = self.session_name_of(pane) {
                self.changes.redraw.insert(name);
            }
        }
    }

    /// How a session's agents stand: how many wait, work, are done.
    pub fn rollup(&self, si: usize) -> Rollup {
        let mut r = Rollup::default();
        for pane in self.sessions.get(si).map(|s| s.panes()).unwrap_or_default() {
            match self.agents.get(&pane).map(PaneAgent::shown_state) {
                Some("waiting") => r.waiting += 1,
                Some("working") => r.working += 1,
                Some("done") => r.done += 1,
                _ => {}
            }
        }
        r
    }

    /// The agents that need the user, most urgent first: waiting before done, oldest first.
    pub fn needing(&self) -> Vec<PaneId> {
        let mut out: Vec<(u8, u64, PaneId)> =
            self.agents.iter().filter_map(|(id, a)| a.need().map(|n| (n, a.needs_since, *id))).collect();
        out.sort();
        out.into_iter().map(|(_, _, id)| id).collect()
    }

    pub fn agent_exited(&mut self, id: PaneId) {
        if self.agents.contains_key(&id) {
            self.set_agent_state(id, AgentState::Exited);
        }
    }

    pub fn agent_screen(&self, id: PaneId) -> Option<crate::agents::ScreenHint> {
        let agent = self.agents.get(&id)?;
        let pane = self.panes.get(&id)?;
        let screen = lock(&pane.engine).capture(0).join("\n");
        Some(agent.kind.adapter().screen(&screen))
    }

    /// The transcript, second: a turn interrupted by the user fires no hook, but the agent
    /// writes it down. Read only when the file grew, and only its end.
    pub fn check_agent_transcript(&mut self, id: PaneId) {
        let Some(agent) = self.agents.get_mut(&id) else { return };
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
    pub fn check_agent_screen(&mut self, id: PaneId) {
        let Some(hint) = self.agent_screen(id) else { return };
        let Some(agent) = self.agents.get_mut(&id) else { return };
        agent.marker_seen |= hint.working;
        let busy = hint.working || hint.waiting;
        if busy && !agent.screen_busy {
            agent.busy_screens += 1;
        }
        agent.screen_busy = busy;
        let interrupted = hint.interruptions > agent.interruptions;
        let marker_gone = hint.marker_spans_turn && agent.marker_seen && !hint.working && !hint.waiting;
        let next = match &agent.state {
            AgentState::Working { .. } if marker_gone => Some(AgentState::Idle),
            // An agent that draws its input only after its SessionStart hook: ready once both.
            AgentState::Starting
                if hint.ready
                    && !hint.working
                    && !hint.waiting
                    && (agent.hooks_seen || !agent.kind.adapter().ready_after_session_start()) =>
            {
                Some(AgentState::Idle)
            }
            AgentState::Working { .. } | AgentState::Waiting { .. }
                if interrupted && !hint.working && !hint.waiting =>
            {
                Some(AgentState::Idle)
            }
            // Hooks that say nothing of a question leave it to the screen.
            AgentState::Working { tool, input } if hint.waiting && !agent.kind.adapter().hooks_report_waiting() => {
                Some(AgentState::Waiting { reason: "permission".into(), tool: tool.clone(), input: input.clone() })
            }
            _ if agent.hooks_seen => None,
            // The question answered and the work going on (an agent whose state is its screen).
            AgentState::Waiting { .. } if hint.working && !hint.waiting => {
                Some(AgentState::Working { tool: None, input: None })
            }
            AgentState::Idle if hint.waiting => {
                Some(AgentState::Waiting { reason: "permission".into(), tool: None, input: None })
            }
            AgentState::Idle if hint.working => Some(AgentState::Working { tool: None, input: None }),
            AgentState::Working { .. } | AgentState::Waiting { .. } if hint.ready && !hint.working && !hint.waiting => {
                Some(AgentState::Idle)
            }
            _ => None,
        };
        if let Some(next) = next {
            let now = Instant::now();
            match agent.proposed {
                Some((label, since)) if label == next.label() => {
                    if now < since + SCREEN_SETTLE {
                        return;
                    }
                }
                _ => {
                    agent.proposed = Some((next.label(), now));
                    return;
                }
            }
            if marker_gone && next == AgentState::Idle {
                tracing::info!("agent {}: working marker gone", crate::pane::pane_name(id));
            }
            self.set_agent_state(id, next);
        } else if std::mem::take(&mut agent.proposed).is_some() {
            // The rest of the frame took the change back.
        } else if hint.interruptions != agent.interruptions && !interrupted {
            // Notices scrolled away: count from what is on screen now.
            if let Some(a) = self.agents.get_mut(&id) {
                a.interruptions = hint.interruptions;
            }
        }
    }
}

impl Model {
    /// When a change read from a screen will have held long enough to be believed.
    pub fn next_screen_check(&self) -> Option<Instant> {
        self.agents.values().filter_map(|a| a.proposed.map(|(_, since)| since + SCREEN_SETTLE)).min()
    }

    /// Read again the screens whose changes have now held long enough (no output may follow
    /// the frame that settled them).
    pub fn check_settled_screens(&mut self) {
        let now = Instant::now();
        let due: Vec<PaneId> = self
            .agents
            .iter()
            .filter(|(_, a)| a.proposed.is_some_and(|(_, since)| since + SCREEN_SETTLE <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.check_agent_screen(id);
        }
    }
}

/// A session's agents at a glance (the sidebar, the status line).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rollup {
    pub waiting: usize,
    pub working: usize,
    pub done: usize,
}

impl Rollup {
    /// "1 waiting · 2 working" (`short`: "1 wait · 2 work"); empty when no agent does anything.
    pub fn text(&self, short: bool) -> String {
        let words = if short { ["wait", "work", "done"] } else { ["waiting", "working", "done"] };
        [self.waiting, self.working, self.done]
            .iter()
            .zip(words)
            .filter(|(n, _)| **n > 0)
            .map(|(n, w)| format!("{n} {w}"))
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

/// What a waiting agent waits for: the reason, and the tool with what it would do.
fn waiting_reason(reason: &str, tool: Option<&str>, input: Option<&crate::protocol::ToolInput>) -> String {
    match (tool, input) {
        (Some(tool), Some(input)) => format!("{reason} ({tool}: {})", input.summary(120)),
        (Some(tool), None) => format!("{reason} ({tool})"),
        (None, _) => reason.to_string(),
    }
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
