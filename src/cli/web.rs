//! `sbx web`: the browser endpoint of the running server — start it and print a login link,
//! list or revoke the browsers logged in, stop it.

use super::output::CliResult;
use super::output::{outln, plain, print_json};
use super::{simple, unexpected};
use crate::config::paths::Paths;
use crate::protocol::{Command, Reply, WebOp, WebReport, WebTls};

/// How the endpoint speaks TLS (default: config.toml's web.tls_*; none on loopback).
#[derive(clap::Args)]
pub struct TlsArgs {
    /// Speak TLS with a certificate sbx makes on first use and keeps (its fingerprint is
    /// printed: check it in the browser once).
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    tls: bool,
    /// Speak TLS with this PEM certificate (chain).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
}

impl TlsArgs {
    /// What to ask of the server; file paths made absolute here, where they were typed.
    fn spec(self) -> CliResult<Option<WebTls>> {
        if self.tls {
            return Ok(Some(WebTls::SelfSigned));
        }
        let (Some(cert), Some(key)) = (self.tls_cert, self.tls_key) else { return Ok(None) };
        let absolute = |p: std::path::PathBuf| {
            std::path::absolute(&p).map(|p| p.display().to_string()).map_err(|e| {
                crate::protocol::Error::new(
                    "bad_path",
                    format!("cannot use {}: {e}", p.display()),
                    "give the file's full path",
                )
            })
        };
        Ok(Some(WebTls::Files { cert: absolute(cert)?, key: absolute(key)? }))
    }
}

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

pub async fn run(paths: &Paths, addr: Option<String>, tls: TlsArgs, action: Option<WebCmd>, json: bool) -> CliResult {
    let op = match action {
        None => WebOp::Start { addr, tls: tls.spec()? },
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
        let addr = report.addr.as_deref().unwrap_or("127.0.0.1:7681");
        let port = addr.rsplit(':').next().unwrap_or("7681");
        let loopback = addr.parse::<std::net::SocketAddr>().is_ok_and(|a| a.ip().is_loopback());
        outln!("open it in a browser on this machine; it logs in once, then the link is spent.");
        match &report.fingerprint {
            Some(fingerprint) => {
                if !loopback {
                    outln!("from another machine: put this machine's name or address in the link.");
                }
                outln!("the certificate's SHA-256 fingerprint (check the browser shows this one before you trust it):");
                outln!("  {fingerprint}");
                if let Some(pin) = &report.pin {
                    outln!("its key, for scripts: curl --pinnedpubkey '{pin}' -k ...");
                }
            }
            None => outln!("from another machine: ssh -L {port}:127.0.0.1:{port} THIS-HOST, then open the link there."),
        }
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
