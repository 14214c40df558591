//! The web front: an HTTP + WebSocket endpoint inside the server, for a browser or a phone.
//!
//! It owns nothing of the model. Every request is authenticated (`auth.rs`) and becomes what a
//! CLI connection would send — a `Command` on the loop's connection channel, answered on its
//! own channel — or a `Watch` of a pane (its screen as escapes, then its output as the engine
//! takes it). What changes (panes, agent states) the loop publishes as an overview that every
//! handler reads and waits on. So the loop never waits for a browser, and a browser that
//! stops reading costs a bounded ring per pane (`engine::Tap`), then a fresh screen.

mod assets;
pub mod auth;
mod dashboard;
mod echokit;
mod floods;
mod messages;
mod ops;
pub use ops::WebFront;
mod routes;
mod said;
mod tls;
mod viewer;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::{oneshot, watch};

use super::conn::ConnEvent;
use crate::bridge::{BridgeHandle, BridgeMsg, BridgeOp, Caller, Replier};
use crate::config::WebSettings;
use crate::pane::engine::Watching;
use crate::protocol::{ClientMsg, Command, Error, Reply, ServerMsg, SessionInfo, WebSession, WebTls};

/// History lines a new viewer gets before the live screen.
pub const VIEW_HISTORY: usize = 2000;

/// The largest request body (an echokit input message, a typed text).
pub const MAX_BODY: usize = 1024 * 1024;

/// The value of cookie `name` in a request's Cookie headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// What the handlers share: the way into the loop, the overview, who is logged in.
pub struct WebCtx {
    conns: UnboundedSender<ConnEvent>,
    pub overview: watch::Receiver<Arc<Vec<SessionInfo>>>,
    pub auth: Mutex<auth::Auth>,
    /// The certificate when it speaks TLS (its names are hosts it answers to).
    pub tls: Option<Arc<tls::Tls>>,
    bridge: BridgeHandle,
    /// Counts the bridge's changes (messages, reads, channels): the event stream says `bridge`.
    pub bridge_changes: watch::Receiver<u64>,
    /// The shared screens of panes that flood.
    pub floods: floods::Floods,
    /// The cookie's name: per port, as browsers share cookies between ports of one host.
    pub cookie: String,
}

impl WebCtx {
    /// A context on its own, its loop being `conns`' receiver (for tests of the handlers).
    #[cfg(test)]
    pub fn detached(conns: UnboundedSender<ConnEvent>) -> (Arc<WebCtx>, watch::Sender<Arc<Vec<SessionInfo>>>) {
        let (overview_tx, overview) = watch::channel(Arc::new(Vec::new()));
        let ctx = WebCtx {
            conns,
            overview,
            auth: Mutex::new(auth::Auth::new(Duration::from_secs(60), Duration::from_secs(60))),
            tls: None,
            bridge: BridgeHandle::detached(),
            bridge_changes: watch::channel(0).1,
            floods: floods::Floods::default(),
            cookie: "sbx_test".into(),
        };
        (Arc::new(ctx), overview_tx)
    }

    /// Run a command as the CLI would, and its answer.
    pub async fn call(&self, command: Command) -> Result<Reply, Error> {
        let (out, mut answers) = tokio::sync::mpsc::unbounded_channel();
        let id = super::conn::next_client_id();
        let sent = self.conns.send(ConnEvent::Message(id, ClientMsg::Command(command), out, 0));
        let gone = || Error::new("server_gone", "the server is stopping", "start it again: sbx");
        sent.map_err(|_| gone())?;
        let answer = answers.recv().await;
        let _ = self.conns.send(ConnEvent::Closed(id));
        match answer {
            Some(ServerMsg::Reply(reply)) => Ok(reply),
            Some(ServerMsg::Error(e)) => Err(e),
            _ => Err(gone()),
        }
    }

    /// Ask the bridge as the user (the owner of this server).
    pub async fn bridge(&self, op: BridgeOp) -> Result<serde_json::Value, Error> {
        let (reply, mut answer) = tokio::sync::mpsc::unbounded_channel();
        let caller = Caller::Endpoint(crate::bridge::USER.into());
        self.bridge.send(BridgeMsg::Call { caller, op, reply: Replier::Value(reply) });
        let gone = || Error::new("server_gone", "the bridge is stopping", "start it again: sbx");
        answer.recv().await.unwrap_or_else(|| Err(gone()))
    }

    /// Start watching a pane (a target as the CLI takes it).
    pub async fn watch(&self, target: String, history: usize) -> Result<(String, Watching), Error> {
        let (reply, answer) = oneshot::channel();
        let gone = || Error::new("server_gone", "the server is stopping", "start it again: sbx");
        self.conns.send(ConnEvent::Watch(target, history, reply)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The endpoint as the loop holds it.
pub struct Web {
    pub addr: SocketAddr,
    ctx: Arc<WebCtx>,
    overview: watch::Sender<Arc<Vec<SessionInfo>>>,
    bridge_changes: watch::Sender<u64>,
    stop: Option<oneshot::Sender<()>>,
}

impl Web {
    /// Listen on `addr` and serve until dropped. Other machines can reach anything but
    /// loopback, so anything else needs TLS: `tls` (or the config's); a generated
    /// certificate is kept in `dir`.
    pub fn start(
        addr: &str,
        tls: Option<&WebTls>,
        dir: &std::path::Path,
        settings: &WebSettings,
        conns: UnboundedSender<ConnEvent>,
        bridge: BridgeHandle,
        overview: Vec<SessionInfo>,
    ) -> Result<Web, Error> {
        let addr: SocketAddr = addr.parse().map_err(|_| {
            Error::new("bad_address", format!("{addr:?} is not HOST:PORT"), "give an address like 127.0.0.1:7681")
        })?;
        if !addr.ip().is_loopback() && tls.is_none() {
            return Err(Error::new(
                "needs_tls",
                format!("{addr} is reachable from other machines, and the web endpoint serves them only over TLS"),
                format!(
                    "add --tls (a certificate sbx makes and keeps; check its fingerprint in the browser once) or --tls-cert CERT --tls-key KEY; or listen on loopback and reach it through SSH: sbx web --addr 127.0.0.1:{port}, then on your machine ssh -L {port}:127.0.0.1:{port} HOST",
                    port = addr.port()
                ),
            ));
        }
        let tls = tls.map(|spec| tls::Tls::load(spec, dir, addr.ip())).transpose()?.map(Arc::new);
        let listener = std::net::TcpListener::bind(addr).map_err(|e| {
            Error::new(
                "cannot_listen",
                format!("cannot listen on {addr}: {e}"),
                "pick another port: sbx web --addr 127.0.0.1:PORT",
            )
        })?;
        let addr = listener.local_addr().map_err(|e| Error::new("cannot_listen", e.to_string(), "try again"))?;
        listener.set_nonblocking(true).map_err(|e| Error::new("cannot_listen", e.to_string(), "try again"))?;
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| Error::new("cannot_listen", e.to_string(), "try again"))?;
        let (overview_tx, overview_rx) = watch::channel(Arc::new(overview));
        let (bridge_tx, bridge_rx) = watch::channel(0);
        let ctx = Arc::new(WebCtx {
            conns,
            overview: overview_rx,
            auth: Mutex::new(auth::Auth::new(
                Duration::from_secs(settings.login_ttl_secs.max(1)),
                Duration::from_secs(settings.session_idle_secs.max(60)),
            )),
            tls: tls.clone(),
            bridge,
            bridge_changes: bridge_rx,
            floods: floods::Floods::default(),
            cookie: format!("sbx_{}", addr.port()),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let app = routes::router(ctx.clone());
        tokio::spawn(async move {
            let limits = crate::relay::serve::ServeLimits {
                per_ip: 0,
                grace: Duration::from_secs(1),
                upgrades: true,
                tls: tls.map(|t| t.config.clone()),
            };
            let stop = async {
                let _ = stop_rx.await;
            };
            if let Err(e) = crate::relay::serve::serve(listener, app, limits, stop).await {
                tracing::error!("web: the endpoint stopped: {e}");
            }
        });
        tracing::info!("web: listening on {addr}");
        Ok(Web { addr, ctx, overview: overview_tx, bridge_changes: bridge_tx, stop: Some(stop_tx) })
    }

    /// The certificate it serves, when it speaks TLS.
    pub fn tls(&self) -> Option<&tls::Tls> {
        self.ctx.tls.as_deref()
    }

    /// A login link (its token works once, for the configured time).
    pub fn login_url(&self) -> String {
        let token = crate::pane::engine::lock(&self.ctx.auth).new_login(Instant::now());
        let scheme = if self.ctx.tls.is_some() { "https" } else { "http" };
        // An address bound to every interface is reached, here, on loopback.
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("{scheme}://{addr}/login?token={token}")
    }

    /// What changed in the model, for every handler (only when it differs).
    pub fn publish(&self, overview: Vec<SessionInfo>) {
        self.overview.send_if_modified(|old| {
            let same = **old == overview;
            if !same {
                *old = Arc::new(overview);
            }
            !same
        });
    }

    /// Messages, reads or channels changed in the bridge.
    pub fn bridge_changed(&self) {
        self.bridge_changes.send_modify(|n| *n += 1);
    }

    pub fn sessions(&self) -> Vec<WebSession> {
        crate::pane::engine::lock(&self.ctx.auth)
            .sessions()
            .map(|s| WebSession {
                id: s.id.clone(),
                created: crate::protocol::rfc3339(
                    s.created.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64),
                ),
                agent: s.agent.clone(),
                address: s.address.to_string(),
            })
            .collect()
    }

    pub fn revoke(&self, id: Option<&str>) -> usize {
        crate::pane::engine::lock(&self.ctx.auth).revoke(id)
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
