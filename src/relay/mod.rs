//! `sbx relay`: the zero-knowledge mailbox server (ciphertext only, addressed by echo-id),
//! speaking the echos relay API; and the client the rest of sbx uses to reach one.

pub mod api;
pub mod client;
pub mod serve;
pub mod store;
pub mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

#[derive(Debug, Clone)]
pub struct RelayOptions {
    pub addr: SocketAddr,
    pub db: PathBuf,
    pub limits: api::Limits,
    pub serve: serve::ServeLimits,
    pub sweep_every: Duration,
}

/// Serve until SIGTERM or Ctrl-C; requests under way are finished first. `listening` hears the
/// address it listens on (the port may have been 0) before any request is served.
pub async fn run(options: RelayOptions, listening: impl FnOnce(SocketAddr)) -> Result<()> {
    let store = store::SqliteStore::open(&options.db)?;
    let relay = api::Relay::new(Arc::new(store), options.limits.clone());
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .with_context(|| format!("cannot listen on {}", options.addr))?;
    let addr = listener.local_addr()?;
    listening(addr);
    tracing::info!(
        "relay: store {}, ttl {} s, max blob {} bytes, {} posts/min per client",
        options.db.display(),
        options.limits.ttl_secs,
        options.limits.max_blob,
        options.limits.posts_per_minute
    );
    let sweeper = relay.clone();
    let every = options.sweep_every;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let n = sweeper.sweep().await;
            if n > 0 {
                tracing::info!("relay: swept {n} expired blobs");
            }
        }
    });
    let app = api::router(relay.clone());
    let stopping = async move {
        shutdown().await;
        relay.close();
    };
    serve::serve(listener, app, options.serve.clone(), stopping).await.context("the relay stopped")?;
    tracing::info!("relay: stopped");
    Ok(())
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = async { term.as_mut().unwrap().recv().await }, if term.is_some() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("relay: shutting down");
}
