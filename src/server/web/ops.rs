//! The loop's side of the web front: `sbx web` commands, watches, and the overview published
//! after each settle.

use std::path::PathBuf;

use tokio::sync::mpsc::UnboundedSender;

use super::{Web, VIEW_HISTORY};
use crate::protocol::{Error, Reply, WebOp, WebReport};
use crate::server::conn::{ConnEvent, WatchReply};
use crate::server::Server;

/// The web front as the server holds it: the endpoint while it runs, and what starting it
/// takes.
pub struct WebFront {
    running: Option<Web>,
    /// Where connections' events go: the web front sends its requests the same way.
    pub conns: Option<UnboundedSender<ConnEvent>>,
    /// Where a generated certificate is kept.
    dir: PathBuf,
}

impl WebFront {
    pub fn new(dir: PathBuf) -> WebFront {
        WebFront { running: None, conns: None, dir }
    }
}

impl Server {
    pub(in crate::server) fn web_op(&mut self, op: WebOp) -> Result<Reply, Error> {
        let mut report =
            WebReport { addr: None, url: None, sessions: Vec::new(), revoked: 0, fingerprint: None, pin: None };
        let web = &mut self.web;
        match op {
            WebOp::Start { addr, tls } => {
                if web.running.is_none() {
                    let conns = web.conns.clone().ok_or_else(not_running)?;
                    let settings = &self.model.config.settings.web;
                    let addr = addr.unwrap_or_else(|| settings.addr.clone());
                    let tls = match tls {
                        Some(tls) => Some(tls),
                        None => settings.tls().map_err(|e| Error::new("bad_config", e, "mend config.toml's [web]"))?,
                    };
                    let overview = self.model.list(|s| self.front.count(s));
                    let bridge = self.bridge.handle();
                    web.running = Some(Web::start(&addr, tls.as_ref(), &web.dir, settings, conns, bridge, overview)?);
                } else if let Some(asked) =
                    addr.filter(|a| !web.running.as_ref().is_some_and(|w| same_place(a, w.addr)))
                {
                    let running = web.running.as_ref().map(|w| w.addr.to_string()).unwrap_or_default();
                    return Err(Error::new(
                        "web_running",
                        format!("the web endpoint already listens on {running}, not {asked}"),
                        "stop it first: sbx web stop",
                    ));
                }
                report.url = web.running.as_ref().map(Web::login_url);
            }
            WebOp::Sessions => {}
            WebOp::Revoke { id } => {
                let running = web.running.as_ref().ok_or_else(not_running)?;
                report.revoked = running.revoke(id.as_deref());
                if id.is_some() && report.revoked == 0 {
                    return Err(Error::new(
                        "unknown_session",
                        "no browser session has that id",
                        "list them: sbx web tokens",
                    ));
                }
            }
            WebOp::Stop => {
                web.running.take().ok_or_else(not_running)?;
                return Ok(Reply::Web(report));
            }
        }
        if let Some(running) = &web.running {
            report.addr = Some(running.addr.to_string());
            report.sessions = running.sessions();
            report.fingerprint = running.tls().map(|t| t.fingerprint.clone());
            report.pin = running.tls().map(|t| t.pin.clone());
        }
        Ok(Reply::Web(report))
    }

    /// Start the endpoint with the server when the config says so (a failure is logged and
    /// said to the first client; the server runs on).
    pub(in crate::server) fn web_at_start(&mut self) {
        if self.model.config.settings.web.enabled {
            if let Err(e) = self.web_op(WebOp::Start { addr: None, tls: None }) {
                tracing::warn!("web: not started: {}", e.message);
                self.notice = Some(format!("web endpoint not started: {}", e.message));
            }
        }
    }

    /// A viewer starts on a pane: its screen and the output after it.
    pub(in crate::server) fn web_watch(&mut self, target: String, history: usize, reply: WatchReply) {
        let watched = self.model.resolve_pane(&target).and_then(|id| {
            let pane = self.model.panes.get(&id).ok_or_else(|| Error::new("no_pane", "that pane is gone", "sbx ls"))?;
            Ok(pane.watch(history.min(VIEW_HISTORY)))
        });
        let _ = reply.send(watched);
    }

    /// The bridge's view changed: browsers refetch the dashboard.
    pub(in crate::server) fn web_bridge_changed(&self) {
        if let Some(web) = &self.web.running {
            web.bridge_changed();
        }
    }

    /// What the web front shows changed: publish the overview (it sends only differences).
    pub(in crate::server) fn web_publish(&self) {
        if let Some(web) = &self.web.running {
            web.publish(self.model.list(|s| self.front.count(s)));
        }
    }
}

/// Whether `asked` names where the endpoint listens (port 0: any port there).
fn same_place(asked: &str, running: std::net::SocketAddr) -> bool {
    asked
        .parse::<std::net::SocketAddr>()
        .is_ok_and(|a| a.ip() == running.ip() && (a.port() == 0 || a.port() == running.port()))
}

fn not_running() -> Error {
    Error::new("web_not_running", "the web endpoint is not running", "start it: sbx web")
}
