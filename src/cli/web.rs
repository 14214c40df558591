//! `sbx web`: the browser endpoint of the running server — start it and print a login link,
//! list or revoke the browsers logged in, stop it.

use super::output::CliResult;
use super::output::{outln, plain, print_json};
use super::{simple, unexpected};
use crate::config::paths::Paths;
use crate::protocol::{Command, Reply, WebOp, WebReport};

#[derive(clap::Subcommand)]
pub enum WebCmd {
    /// List the browsers logged in (ids, since when, from where); --revoke ends one or all.
    Tokens {
        /// End this browser session (an id from the list), or `all` (unused links too).
        #[arg(long, value_name = "ID|all")]
        revoke: Option<String>,
    },
    /// Stop the endpoint (every browser is disconnected).
    Stop,
}

pub async fn run(paths: &Paths, addr: Option<String>, action: Option<WebCmd>, json: bool) -> CliResult {
    let op = match action {
        None => WebOp::Start { addr },
        Some(WebCmd::Tokens { revoke: None }) => WebOp::Sessions,
        Some(WebCmd::Tokens { revoke: Some(id) }) => WebOp::Revoke { id: (id != "all").then_some(id) },
        Some(WebCmd::Stop) => WebOp::Stop,
    };
    let stopping = matches!(op, WebOp::Stop);
    let Reply::Web(report) = simple(paths, Command::Web(op)).await? else { return unexpected() };
    if json {
        print_json(&report);
        return Ok(());
    }
    show(&report, stopping);
    Ok(())
}

fn show(report: &WebReport, stopped: bool) {
    if stopped {
        outln!("the web endpoint stopped");
        return;
    }
    if let Some(url) = &report.url {
        outln!("{url}");
        let port = report.addr.as_deref().and_then(|a| a.rsplit(':').next()).unwrap_or("7681");
        outln!("open it in a browser on this machine; it logs in once, then the link is spent.");
        outln!("from another machine: ssh -L {port}:127.0.0.1:{port} THIS-HOST, then open the link there.");
        return;
    }
    if report.revoked > 0 {
        outln!("revoked {}", report.revoked);
    }
    match &report.addr {
        None => outln!("the web endpoint is not running (start it: sbx web)"),
        Some(addr) if report.sessions.is_empty() => outln!("listening on {addr}; no browser is logged in"),
        Some(addr) => {
            outln!("listening on {addr}; logged in:");
            for s in &report.sessions {
                outln!("  {}  since {}  from {}  {}", s.id, s.created, s.address, plain(&s.agent));
            }
        }
    }
}
