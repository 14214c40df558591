//! The relay's listener: HTTP/1 connections under limits a hostile client cannot stretch.
//!
//! - headers must arrive within HEADER_TIMEOUT, on a new connection and between the requests
//!   of a kept-alive one (a slowloris client is cut off, not waited for);
//! - a body that stops arriving is cut off by the API (`api::BODY_IDLE`);
//! - one client address holds at most `per_ip` connections at once, and the relay at most
//!   MAX_CONNECTIONS; a connection over either is closed at once;
//! - a graceful stop (SIGTERM) lets requests under way finish for at most `grace`, then ends.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower::ServiceExt;

pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_CONNECTIONS: usize = 4096;
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct ServeLimits {
    /// Connections one client address may hold at once (0: no limit; behind a proxy every
    /// client has the proxy's address, so the operator turns it off there).
    pub per_ip: usize,
    /// How long a graceful stop waits for requests under way.
    pub grace: Duration,
    /// Connections may become WebSockets (the web front). hyper cannot stop those gracefully:
    /// at the stop they are cut.
    pub upgrades: bool,
    /// Speak TLS with this configuration (the handshake, too, must finish in HEADER_TIMEOUT).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// The address a connection came in on, in each request's extensions: the web front takes a
/// Host naming an IP address only if it is this one (a name is what DNS rebinding forges).
#[derive(Debug, Clone, Copy)]
pub struct LocalAddr(pub SocketAddr);

/// Connections open now, per client address and in all.
#[derive(Default)]
struct Open {
    per_ip: HashMap<IpAddr, usize>,
    total: usize,
}

/// A place among the open connections, given back when the connection ends.
struct Slot {
    open: Arc<Mutex<Open>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total -= 1;
        if let Some(n) = open.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.per_ip.remove(&self.ip);
            }
        }
    }
}

fn admit(open: &Arc<Mutex<Open>>, ip: IpAddr, per_ip: usize) -> Option<Slot> {
    let mut o = open.lock().unwrap_or_else(|e| e.into_inner());
    let mine = o.per_ip.get(&ip).copied().unwrap_or(0);
    if o.total >= MAX_CONNECTIONS || (per_ip > 0 && mine >= per_ip) {
        return None;
    }
    o.total += 1;
    *o.per_ip.entry(ip).or_default() += 1;
    Some(Slot { open: open.clone(), ip })
}

/// Serve `app` on `listener` until `stop` resolves, then finish within `limits.grace`.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: ServeLimits,
    stop: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let open = Arc::new(Mutex::new(Open::default()));
    let mut upgradable = tokio::task::JoinSet::new();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).keep_alive(true);
    tokio::pin!(stop);
    let upgrades = limits.upgrades;
    let mut backoff = Duration::from_millis(10);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => {
                    backoff = Duration::from_millis(10);
                    pair
                }
                Err(e) => {
                    // Out of descriptors, usually: wait instead of spinning on the error.
                    tracing::warn!("relay: cannot accept ({e}); backing off");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let Some(slot) = admit(&open, peer.ip(), limits.per_ip) else {
            // Over the limit: closed at once, costing this relay nothing more.
            drop(stream);
            continue;
        };
        // Answers go out as they are written: with Nagle's algorithm a reply written in two
        // pieces waits for the client's delayed ACK (40 ms a request).
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or(peer);
        let service = app.clone().map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(axum::extract::ConnectInfo::<SocketAddr>(peer));
            req.extensions_mut().insert(LocalAddr(local));
            req
        });
        let service = hyper_util::service::TowerToHyperService::new(service);
        let tls = limits.tls.clone().map(tokio_rustls::TlsAcceptor::from);
        let http = http.clone();
        let watcher = graceful.watcher();
        let connection = async move {
            match tls {
                None => serve_one(stream, &http, service, upgrades, watcher).await,
                Some(tls) => match tokio::time::timeout(HEADER_TIMEOUT, tls.accept(stream)).await {
                    Ok(Ok(stream)) => serve_one(stream, &http, service, upgrades, watcher).await,
                    // Plain HTTP to a TLS port, a failed or stalled handshake: closed.
                    Ok(Err(e)) => tracing::debug!("a TLS handshake from {peer} failed: {e}"),
                    Err(_) => tracing::debug!("a TLS handshake from {peer} took too long"),
                },
            }
            drop(slot);
        };
        if upgrades {
            upgradable.spawn(connection);
            while upgradable.try_join_next().is_some() {}
        } else {
            tokio::spawn(connection);
        }
    }
    drop(listener);
    upgradable.abort_all();
    if tokio::time::timeout(limits.grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("relay: requests still under way after {:?}; stopping anyway", limits.grace);
    }
    Ok(())
}

/// One connection, plain or TLS, served to its end (or, without upgrades, to a graceful stop).
async fn serve_one<IO, S>(
    io: IO,
    http: &hyper::server::conn::http1::Builder,
    service: S,
    upgrades: bool,
    watcher: hyper_util::server::graceful::Watcher,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming> + Send + 'static,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = http.serve_connection(TokioIo::new(io), service);
    if upgrades {
        let _ = conn.with_upgrades().await;
    } else {
        let _ = watcher.watch(conn).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_counted_per_address_and_given_back() {
        let open = Arc::new(Mutex::new(Open::default()));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let first = admit(&open, a, 2).unwrap();
        let _second = admit(&open, a, 2).unwrap();
        assert!(admit(&open, a, 2).is_none(), "a third from one address");
        let _other = admit(&open, b, 2).unwrap();
        drop(first);
        assert!(admit(&open, a, 2).is_some(), "a place is given back when a connection ends");
        assert!(admit(&open, a, 0).is_some(), "0: no limit per address");
    }
}
