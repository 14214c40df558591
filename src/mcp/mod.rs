//! `sbx mcp`: the MCP server an agent CLI starts (stdio). It speaks for the pane it runs in
//! (`SBX_PANE_ID`) and answers from the sbx server. This first part knows who it is and
//! which agent sessions sbx runs; messaging, channels and artifacts come with the bridge.

use rmcp::{tool, tool_router, ErrorData, ServiceExt};
use serde_json::json;

use crate::cli::output::{CliError, CliResult};
use crate::config::paths::Paths;
use crate::protocol::{Command, PaneInfo, Reply};

#[derive(Clone)]
pub struct Bridge {
    paths: Paths,
    pane: Option<String>,
}

/// Errors say how to recover, as every sbx error does.
fn error(message: impl Into<String>, next: &str) -> ErrorData {
    ErrorData::internal_error(format!("{}; next: {next}", message.into()), None)
}

impl Bridge {
    async fn panes(&self) -> Result<Vec<PaneInfo>, ErrorData> {
        let stream = crate::cli::connect::connect_or_start(&self.paths)
            .await
            .map_err(|e| error(e.message, "check that sbx is installed; run sbx doctor"))?;
        match crate::cli::connect::request(stream, Command::List).await {
            Ok(Reply::List(sessions)) => Ok(sessions.into_iter().flat_map(|s| s.tabs).flat_map(|t| t.panes).collect()),
            Ok(_) => Err(error("the sbx server answered something unexpected", "restart it: sbx kill-server")),
            Err(e) => Err(error(e.message, "run sbx ls to see the server's state")),
        }
    }
}

fn describe(p: &PaneInfo) -> serde_json::Value {
    json!({
        "pane": p.id,
        "label": p.label,
        "session": p.session,
        "agent": p.agent.as_ref().map(|a| a.kind.clone()),
        "session_id": p.agent.as_ref().and_then(|a| a.session_id.clone()),
        "state": p.agent.as_ref().map(|a| a.state.clone()),
        "cwd": p.cwd,
    })
}

#[tool_router(server_handler)]
impl Bridge {
    #[tool(description = "Who am I, as sbx sees this agent: pane id, label, agent kind, agent session id, \
state and working directory. Other agents can address you by pane id or label.")]
    async fn bridge_whoami(&self) -> Result<String, ErrorData> {
        let Some(pane) = &self.pane else {
            return Err(error(
                "this agent does not run in an sbx pane",
                "start it in sbx (sbx new --agent claude) to be addressable",
            ));
        };
        let panes = self.panes().await?;
        let me = panes
            .iter()
            .find(|p| &p.id == pane)
            .ok_or_else(|| error(format!("sbx has no pane {pane}"), "the pane may have closed; run sbx ls"))?;
        Ok(describe(me).to_string())
    }

    #[tool(description = "List the agent sessions sbx runs on this machine: pane id, label, agent kind, \
state (starting, working, waiting, idle, exited), agent session id and working directory.")]
    async fn bridge_list_sessions(&self) -> Result<String, ErrorData> {
        let panes = self.panes().await?;
        let agents: Vec<serde_json::Value> = panes.iter().filter(|p| p.agent.is_some()).map(describe).collect();
        Ok(json!({ "sessions": agents }).to_string())
    }
}

/// Serve MCP on stdin/stdout until the agent closes it.
pub async fn serve(paths: Paths) -> CliResult {
    let pane = std::env::var("SBX_PANE_ID").ok().filter(|p| !p.is_empty());
    let service = Bridge { paths, pane }
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| CliError::new(format!("MCP start-up failed: {e}"), "the agent must speak MCP on stdio"))?;
    let _ = service.waiting().await;
    Ok(())
}
