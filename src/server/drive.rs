//! Driving agents from commands: a prompt typed and submitted once it shows, an answer sent
//! once the question is drawn, a prompt queued for the next idle, and commands that wait for
//! a state. Each answers its caller later, on the connection it came from.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::model::Model;
use crate::agents::Adapter as _;
use crate::agents::AgentState;
use crate::pane::engine::lock;
use crate::pane::PaneId;
use crate::protocol::{AgentKey, Error, Reply, ServerMsg};

/// How long a typed prompt may take to show on screen before sbx gives up submitting it.
const PROMPT_ECHO: Duration = Duration::from_secs(10);

/// How long a submitted prompt may leave the agent idle before its Enter is pressed again,
/// and how many times.
const RESUBMIT: Duration = Duration::from_millis(1500);
const RESUBMITS: usize = 2;

/// The pause between the keys of an answer, for an agent that takes one read as one key.
const KEY_GAP: Duration = Duration::from_millis(80);

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
    /// The keys wait until then: once the text shows (the agent's `submit_settle`), or a
    /// moment after the key before them.
    not_before: Option<Instant>,
    /// Keys to send after these, each in its own write (`Agent::one_key_per_read`); for a
    /// submitted prompt, the Enters to press again if the agent does not start.
    rest: Vec<Vec<u8>>,
    out: Option<UnboundedSender<ServerMsg>>,
}

enum Ready {
    /// This piece of the prompt is on screen once more than it was before typing.
    Shows { needle: String, before: usize },
    /// The agent took the submitted prompt (it left idle): only then does `prompt` answer,
    /// so a script's next `agent wait --until idle` waits for this turn. `turns` is how many
    /// it had begun before, `busy_screens` how often its screen had turned busy: a turn
    /// shorter than the moments between reads, or than a screen change takes to be believed,
    /// still counts.
    Started { turns: u64, busy_screens: u64 },
    /// The agent's question is on screen.
    Question,
}

/// The prompts, answers and waiters in progress.
#[derive(Default)]
pub struct Driver {
    waiters: Vec<Waiter>,
    typed: Vec<Typed>,
}

impl Driver {
    /// Whether keys wait for this pane's screen (its output may be what they wait for).
    pub fn watches(&self, pane: PaneId) -> bool {
        self.typed.iter().any(|t| t.pane == pane)
    }

    pub fn prompt(
        &mut self,
        model: &mut Model,
        target: &str,
        text: String,
        queue: bool,
        out: UnboundedSender<ServerMsg>,
    ) {
        let result = (|| {
            let id = model.resolve_pane(target)?;
            let agent = model.agents.get_mut(&id).ok_or_else(|| not_an_agent(target))?;
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
            Ok(Some(id)) => self.type_prompt(model, id, &text, Some(out)),
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
    pub fn type_prompt(&mut self, model: &Model, id: PaneId, text: &str, out: Option<UnboundedSender<ServerMsg>>) {
        let Some(pane) = model.panes.get(&id) else { return };
        let last_line = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        let needle: String = last_line.chars().rev().take(24).collect::<Vec<_>>().into_iter().rev().collect();
        // The same words may be on screen already (an earlier prompt): wait for one more.
        let before = {
            let engine = lock(&pane.engine);
            let screen = engine.capture(0).join("\n");
            shown(&screen, &needle)
        };
        pane.paste(text);
        let typed = Typed {
            pane: id,
            ready: Ready::Shows { needle, before },
            keys: b"\r".to_vec(),
            deadline: Instant::now() + PROMPT_ECHO,
            not_before: None,
            rest: Vec::new(),
            out,
        };
        self.typed.push(typed);
        self.check(model);
    }

    /// Submit typed prompts that now show; give up on those that never did.
    pub fn check(&mut self, model: &Model) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.typed.len() {
            let t = &self.typed[i];
            let shown = model.panes.get(&t.pane).map(|p| {
                let screen = lock(&p.engine).capture(0).join("\n");
                match &t.ready {
                    // A long paste may be shown folded ("[Pasted text #1 +12 lines]").
                    Ready::Shows { needle, before } => shown(&screen, needle) > *before,
                    Ready::Started { turns, busy_screens } => model.agents.get(&t.pane).is_some_and(|a| {
                        a.turns > *turns
                            // A screen's word only where no hook is on its way: a hooked
                            // agent's screen turns busy before its hook, and a prompt answered
                            // then would let a script's `wait --until idle` pass at once.
                            || (!a.kind.adapter().has_hooks() && a.busy_screens > *busy_screens)
                            || !matches!(a.state, AgentState::Idle | AgentState::Starting)
                    }),
                    Ready::Question => {
                        model.agents.get(&t.pane).is_some_and(|a| a.kind.adapter().screen(&screen).waiting)
                    }
                }
            });
            // An agent that takes an Enter right after typed text as a new line (Gemini CLI)
            // gets its Enter a moment after the text shows.
            let settle = match (&t.ready, shown) {
                (Ready::Shows { .. }, Some(true)) => {
                    model.agents.get(&t.pane).map_or(Duration::ZERO, |a| a.kind.adapter().submit_settle())
                }
                _ => Duration::ZERO,
            };
            if !settle.is_zero() {
                self.typed[i].not_before.get_or_insert(now + settle);
            }
            let t = &mut self.typed[i];
            let due = t.not_before.is_none_or(|not_before| now >= not_before);
            if matches!(t.ready, Ready::Started { .. }) && shown == Some(false) && due && !t.rest.is_empty() {
                // Still idle with the prompt typed: its Enter met an input that had not caught
                // up with the text (Ink swaps its key handler in after each frame, and a busy
                // machine delays that), so press it again. An input already submitted is
                // empty, and an Enter there does nothing.
                tracing::info!("pane {}: the prompt did not start; Enter again", crate::pane::pane_name(t.pane));
                if let Some(p) = model.panes.get(&t.pane) {
                    p.write(t.rest.remove(0));
                }
                t.not_before = Some(now + RESUBMIT);
            }
            if !due && !matches!(t.ready, Ready::Started { .. }) {
                i += 1;
                continue;
            }
            match shown {
                Some(true) => {
                    let mut t = self.typed.remove(i);
                    if let Some(p) = model.panes.get(&t.pane) {
                        p.write(std::mem::take(&mut t.keys));
                    }
                    // A started prompt's `rest` are Enters to press again had it not started:
                    // spent keys now, and pressed into a question it went on to ask, an answer.
                    if matches!(t.ready, Ready::Question) && !t.rest.is_empty() {
                        // The next key of the answer, a moment later, while the question shows.
                        let keys = t.rest.remove(0);
                        self.typed.insert(i, Typed { keys, not_before: Some(now + KEY_GAP), ..t });
                        i += 1;
                        continue;
                    }
                    if matches!(t.ready, Ready::Shows { .. }) {
                        // Submitted: answer once the agent has taken it.
                        let deadline = Instant::now() + PROMPT_ECHO;
                        let (turns, busy_screens) =
                            model.agents.get(&t.pane).map_or((0, 0), |a| (a.turns, a.busy_screens));
                        self.typed.insert(
                            i,
                            Typed {
                                pane: t.pane,
                                ready: Ready::Started { turns, busy_screens },
                                keys: Vec::new(),
                                deadline,
                                not_before: Some(now + RESUBMIT),
                                rest: vec![b"\r".to_vec(); RESUBMITS],
                                out: t.out,
                            },
                        );
                        i += 1;
                        continue;
                    }
                    let reply = match model.agents.get(&t.pane) {
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
                        Ready::Started { .. } => "the prompt was submitted but the agent did not start on it",
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
    pub fn key(&mut self, model: &Model, target: &str, key: AgentKey, out: UnboundedSender<ServerMsg>) {
        let checked = (|| {
            let id = model.resolve_pane(target)?;
            let agent = model.agents.get(&id).ok_or_else(|| not_an_agent(target))?;
            if !matches!(agent.state, AgentState::Waiting { .. }) {
                return Err(Error::new(
                    "agent_busy",
                    format!("the agent is {}, not waiting for an answer", agent.state.label()),
                    format!("wait for a question: sbx agent wait -t {target} --until waiting"),
                ));
            }
            let adapter = agent.kind.adapter();
            let keys = adapter.answer(key);
            Ok((id, if adapter.one_key_per_read() { key_strokes(&keys) } else { vec![keys] }))
        })();
        match checked {
            Ok((id, mut strokes)) => {
                let keys = strokes.remove(0);
                let deadline = Instant::now() + PROMPT_ECHO;
                self.typed.push(Typed {
                    pane: id,
                    ready: Ready::Question,
                    keys,
                    deadline,
                    not_before: None,
                    rest: strokes,
                    out: Some(out),
                });
                self.check(model);
            }
            Err(e) => {
                let _ = out.send(ServerMsg::Error(e));
            }
        }
    }

    pub fn wait(
        &mut self,
        model: &Model,
        target: &str,
        until: String,
        timeout_ms: u64,
        out: UnboundedSender<ServerMsg>,
    ) {
        let pane = match model.resolve_pane(target) {
            Ok(id) if model.agents.contains_key(&id) => id,
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
        self.wake(model);
    }

    /// Answer the waiters whose state has come (or whose time is up).
    pub fn wake(&mut self, model: &Model) {
        let now = Instant::now();
        let agents = &model.agents;
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
    pub fn next_deadline(&self) -> Option<Instant> {
        let waiters = self.waiters.iter().filter_map(|w| w.deadline);
        let typed = self.typed.iter().map(|t| t.not_before.map_or(t.deadline, |n| n.min(t.deadline)));
        waiters.chain(typed).min()
    }
}

/// Keys one at a time: an escape sequence (ESC `[` … its final byte) is one key, any other
/// byte one (answers are ASCII).
fn key_strokes(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut strokes = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len = match bytes[at..] {
            [0x1b, b'[', ref tail @ ..] => {
                tail.iter().position(|b| (0x40..=0x7e).contains(b)).map_or(bytes.len() - at, |p| p + 3)
            }
            _ => 1,
        };
        strokes.push(bytes[at..at + len].to_vec());
        at += len;
    }
    if strokes.is_empty() {
        strokes.push(Vec::new());
    }
    strokes
}

/// How often a typed prompt shows: its last words, or a folded long paste
/// ("[Pasted text #1 +12 lines]").
fn shown(screen: &str, needle: &str) -> usize {
    screen.matches(needle).count() + screen.matches("[Pasted text").count()
}

fn not_an_agent(target: &str) -> Error {
    Error::new(
        "not_an_agent",
        format!("{target} is not an agent pane"),
        "start one with sbx split --agent claude (or codex); sbx ls --json shows which panes are agents",
    )
}

#[cfg(test)]
mod tests {
    use super::key_strokes;

    #[test]
    fn an_answer_splits_into_whole_keys() {
        let keys = |s: &[u8]| key_strokes(s);
        assert_eq!(keys(b"\x1b[B\x1b[B\r"), vec![b"\x1b[B".to_vec(), b"\x1b[B".to_vec(), b"\r".to_vec()]);
        assert_eq!(keys(b"\x1b"), vec![b"\x1b".to_vec()]);
        assert_eq!(keys(b"y"), vec![b"y".to_vec()]);
        assert_eq!(keys(b"\x1b[1;5"), vec![b"\x1b[1;5".to_vec()], "an unfinished sequence stays whole");
        assert_eq!(keys(b""), vec![Vec::<u8>::new()]);
    }
}
