//! Telling the user that an agent needs them. Every attached client of the server hears it,
//! whichever session it shows (a bell, a desktop notification escape), and the user's
//! `[notify] command` runs — unless the pane is muted or `[notify]` leaves the event out for
//! that agent. A turn that ends in a pane someone is looking at is no news, and says nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::model::{Attention, NeedEvent};
use super::Server;
use crate::agents::AgentState;
use crate::config::notify::Announcement;
use crate::pane::PaneId;

/// Notify commands running at once; past it an announcement runs none (a flood of finished
/// turns must not become a flood of processes).
const MAX_RUNNING: usize = 4;
/// A notify command still running after this is killed.
const COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// The same announcement (pane, event, reason) is made at most once in this long: an agent
/// whose state flaps (or that reports hooks of its own in a loop) rings once, not without end;
/// a new question (another tool, another input) is news at once.
const SPACING: Duration = Duration::from_secs(5);
/// The most of a reason or a label an announcement carries.
const MAX_TEXT: usize = 256;

/// When each announcement was last made.
#[derive(Default)]
pub struct Announced(HashMap<(PaneId, NeedEvent, String), Instant>);

impl Announced {
    /// Whether this announcement may be made now (and, if so, it is marked as made).
    fn take(&mut self, pane: PaneId, event: NeedEvent, reason: &str, now: Instant) -> bool {
        // Forget old marks first: the map holds only what was announced lately.
        self.0.retain(|_, at| now.duration_since(*at) < SPACING);
        match self.0.entry((pane, event, reason.to_string())) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(now);
                true
            }
        }
    }
}

impl Server {
    /// The pane each client shows focused, and each pane a browser follows, has been seen:
    /// `done` there turns back to idle.
    pub(super) fn mark_seen(&mut self) {
        let mut looked: Vec<_> = self
            .front
            .clients
            .values()
            .filter_map(|c| self.model.session_index(&c.session))
            .map(|si| self.model.sessions[si].tab().active)
            .collect();
        let unseen = self.model.agents.iter().filter(|(_, a)| a.unseen).map(|(p, _)| *p);
        let followed: Vec<_> = unseen
            .filter(|p| {
                self.model.panes.get(p).is_some_and(|pane| crate::pane::engine::lock(&pane.engine).viewers() > 0)
            })
            .collect();
        looked.extend(followed);
        for pane in looked {
            self.model.looked_at(pane);
        }
    }

    /// Announce that an agent needs the user, as `[notify]` says.
    pub(super) fn announce(&mut self, attention: &Attention) {
        let Some(agent) = self.model.agents.get(&attention.pane) else { return };
        // Seen the moment it ended (`mark_seen` ran first): not done, so not news. Nor is a
        // question already answered within the same burst.
        let still = match attention.event {
            NeedEvent::Done => agent.unseen,
            NeedEvent::Waiting => matches!(agent.state, AgentState::Waiting { .. }),
        };
        if !still {
            return;
        }
        let Some(pane) = self.model.panes.get(&attention.pane) else { return };
        let settings = &self.model.config.settings;
        let kind = agent.kind.name();
        if pane.muted || !settings.notify.announces(kind, attention.event.name()) {
            return;
        }
        if !self.announced.take(attention.pane, attention.event, &attention.reason, Instant::now()) {
            tracing::info!("notify: {} announced lately; not again", pane.name());
            return;
        }
        let session = self.model.session_name_of(attention.pane).unwrap_or_default();
        // Text from outside (a label, a tool's input) never reaches a terminal raw, nor at length.
        let clean = |text: &str| text.chars().filter(|c| !c.is_control()).take(MAX_TEXT).collect::<String>();
        let announcement = Announcement {
            pane: pane.name(),
            label: clean(pane.label.as_deref().unwrap_or_default()),
            agent: kind.to_string(),
            state: attention.event.name().to_string(),
            reason: clean(&attention.reason),
            session: clean(&session),
        };
        let who = match &pane.label {
            Some(_) => format!("{kind} {} ({})", announcement.label, announcement.pane),
            None => format!("{kind} in {}", announcement.pane),
        };
        let text = match attention.event {
            NeedEvent::Waiting => format!("{who} waits for {}", announcement.reason),
            NeedEvent::Done => format!("{who} is done"),
        };
        let mut bytes = Vec::new();
        if settings.notify_bell {
            bytes.push(0x07);
        }
        match settings.notify_desktop.as_str() {
            "osc9" => bytes.extend_from_slice(format!("\x1b]9;sbx: {text}\x07").as_bytes()),
            "osc777" => bytes.extend_from_slice(format!("\x1b]777;notify;sbx;{text}\x07").as_bytes()),
            _ => {}
        }
        self.front.send_to_all(&bytes);
        if !settings.notify.command.is_empty() {
            run_command(&settings.notify.command, &announcement);
        }
    }
}

/// Run the user's notify command for one announcement, off the loop: never through a shell,
/// its output discarded, killed if it hangs.
fn run_command(command: &[String], announcement: &Announcement) {
    let (argv, env) = announcement.command_line(command);
    let Some((program, args)) = argv.split_first() else { return };
    if RUNNING.fetch_add(1, Ordering::AcqRel) >= MAX_RUNNING {
        RUNNING.fetch_sub(1, Ordering::AcqRel);
        tracing::warn!("notify: {MAX_RUNNING} commands still run; this announcement runs none");
        return;
    }
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .envs(env)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        // Its own process group: a timeout ends whatever it started too.
        .process_group(0)
        .kill_on_drop(true);
    match crate::proc::spawn_waited(&mut cmd) {
        Ok(mut child) => {
            let pid = child.id();
            tokio::spawn(async move {
                match tokio::time::timeout(COMMAND_TIMEOUT, child.wait()).await {
                    Ok(Ok(status)) if !status.success() => tracing::warn!("notify: the command ended with {status}"),
                    Ok(_) => {}
                    Err(_) => {
                        tracing::warn!("notify: the command ran over {COMMAND_TIMEOUT:?}; killed");
                        if let Some(group) = pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
                            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                        }
                        let _ = child.kill().await;
                    }
                }
                pid.into_iter().for_each(crate::proc::waited);
                RUNNING.fetch_sub(1, Ordering::AcqRel);
            });
        }
        Err(e) => {
            RUNNING.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!("notify: cannot run {program:?}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_announcement_is_made_once_in_a_while_and_a_new_one_at_once() {
        let mut made = Announced::default();
        let t0 = Instant::now();
        assert!(made.take(1, NeedEvent::Done, "its turn ended", t0));
        assert!(!made.take(1, NeedEvent::Done, "its turn ended", t0 + Duration::from_millis(100)), "a flap");
        assert!(made.take(1, NeedEvent::Waiting, "permission (Bash: ls)", t0), "another event");
        assert!(made.take(1, NeedEvent::Waiting, "permission (Bash: rm x)", t0), "another question");
        assert!(made.take(2, NeedEvent::Done, "its turn ended", t0), "another pane");
        assert!(made.take(1, NeedEvent::Done, "its turn ended", t0 + SPACING), "in a while");
        assert!(made.0.len() <= 2, "old marks are forgotten");
    }

    #[tokio::test]
    async fn a_flood_of_announcements_runs_at_most_four_commands() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("ran");
        let announcement = Announcement {
            pane: "%1".into(),
            label: String::new(),
            agent: "claude".into(),
            state: "done".into(),
            reason: "its turn ended".into(),
            session: "main".into(),
        };
        // Each run leaves a line, then holds its place until the test lets it go.
        let gate = dir.path().join("gate");
        let script = format!(
            "echo \"$SBX_NOTIFY_PANE\" >> '{}'; while [ ! -e '{}' ]; do sleep 0.05; done",
            out.display(),
            gate.display()
        );
        let command = ["sh".to_string(), "-c".into(), script];
        for _ in 0..6 {
            run_command(&command, &announcement);
        }
        assert_eq!(RUNNING.load(Ordering::Acquire), MAX_RUNNING, "two announcements ran nothing");
        std::fs::write(&gate, "").unwrap();
        let start = std::time::Instant::now();
        while RUNNING.load(Ordering::Acquire) > 0 {
            assert!(start.elapsed() < std::time::Duration::from_secs(20), "the commands never ended");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let ran = std::fs::read_to_string(&out).unwrap();
        assert_eq!(ran.lines().collect::<Vec<_>>(), ["%1"; MAX_RUNNING]);
    }
}
