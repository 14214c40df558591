//! One prompt to many agents (`sbx agent prompt -t A,B | --all | --kind K`): typed into each
//! idle agent, queued for each busy one, and one answer that says what became of it in each.

use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use super::Server;
use crate::agents::AgentState;
use crate::pane::pane_name;
use crate::protocol::{AgentSelection, Error, PromptOutcome, Reply, ServerMsg};

impl Server {
    pub(super) fn prompt_many(&mut self, agents: AgentSelection, text: String, out: UnboundedSender<ServerMsg>) {
        let targets: Vec<String> = match &agents {
            AgentSelection::Targets(list) => list.clone(),
            // Agents that have exited take no prompts: not theirs to fail.
            AgentSelection::All => self
                .model
                .agents
                .iter()
                .filter(|(_, a)| a.state != AgentState::Exited)
                .map(|(p, _)| pane_name(*p))
                .collect(),
            AgentSelection::Kind(kind) => self
                .model
                .agents
                .iter()
                .filter(|(_, a)| a.kind == *kind && a.state != AgentState::Exited)
                .map(|(p, _)| pane_name(*p))
                .collect(),
        };
        if targets.is_empty() {
            let which = match agents {
                AgentSelection::Kind(kind) => format!("no {} agent runs", kind.name()),
                _ => "no agent runs".to_string(),
            };
            let _ = out.send(ServerMsg::Error(Error::new("no_agents", which, "start one: sbx split --agent claude")));
            return;
        }
        // A pane named twice (by id and by label) gets the prompt once.
        let mut seen = std::collections::BTreeSet::new();
        let targets: Vec<String> =
            targets.into_iter().filter(|t| self.model.resolve_pane(t).map_or(true, |p| seen.insert(p))).collect();
        // Each pane answers on its own channel, as a single prompt would; one task gathers.
        let mut answers = Vec::new();
        for target in targets {
            let (tx, rx) = unbounded_channel();
            let label = self.model.resolve_pane(&target).ok().and_then(|p| self.model.panes.get(&p)?.label.clone());
            let pane = self.model.resolve_pane(&target).map(pane_name).unwrap_or_else(|_| target.clone());
            self.driver.prompt(&mut self.model, &target, text.clone(), true, tx);
            answers.push((pane, label, rx));
        }
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for (pane, label, mut rx) in answers {
                let (outcome, error) = match rx.recv().await {
                    Some(ServerMsg::Reply(Reply::Queued)) => ("queued", None),
                    Some(ServerMsg::Reply(_)) => ("typed", None),
                    Some(ServerMsg::Error(e)) => ("failed", Some(e)),
                    _ => ("failed", Some(Error::new("server_gone", "the server stopped", "start it again: sbx"))),
                };
                outcomes.push(PromptOutcome { pane, label, outcome: outcome.into(), error });
            }
            let _ = out.send(ServerMsg::Reply(Reply::Prompted(outcomes)));
        });
    }
}
