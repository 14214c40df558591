//! The caller's side of the bridge: one connection to the server carrying numbered calls, so
//! `sbx mcp` can have a `bridge_wait_for_message` open while other calls go on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::oneshot;

use super::BridgeOp;
use crate::config::paths::Paths;
use crate::protocol::{read_frame, write_frame, ClientMsg, Error, ServerMsg, Via};

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<String, Error>>>>>;

struct Conn {
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    pending: Pending,
}

pub struct Link {
    /// The server's socket.
    socket: std::path::PathBuf,
    /// Set when a missing server may be started (the CLI's writes); `sbx mcp` never starts one.
    start: Option<Paths>,
    /// Whom this caller says it speaks for (the server checks it against the process tree).
    claim: Option<String>,
    /// Who makes the calls: hints come back in their terms.
    via: Via,
    conn: tokio::sync::Mutex<Option<Arc<Conn>>>,
    next: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Link {
    /// A link to the server of `paths`, started when none runs.
    pub fn new(paths: Paths, claim: Option<String>) -> Link {
        Link {
            socket: paths.socket(),
            start: Some(paths),
            claim,
            via: Via::Cli,
            conn: tokio::sync::Mutex::new(None),
            next: AtomicU64::new(1),
        }
    }

    /// A link to the server on `socket`, which must be running, for calls made `via`.
    pub fn existing(socket: std::path::PathBuf, claim: Option<String>, via: Via) -> Link {
        Link { socket, start: None, claim, via, conn: tokio::sync::Mutex::new(None), next: AtomicU64::new(1) }
    }

    async fn connection(&self) -> Result<Arc<Conn>, Error> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let stream = match &self.start {
            Some(paths) => crate::connect::connect_or_start(paths).await?,
            None => crate::connect::connect_to(&self.socket).await?,
        };
        let (reader, writer) = stream.into_split();
        let pending: Pending = Arc::default();
        let conn = Arc::new(Conn { writer: tokio::sync::Mutex::new(writer), pending: pending.clone() });
        tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(reader);
            loop {
                match read_frame::<_, ServerMsg>(&mut reader).await {
                    Ok(Some(ServerMsg::Bridge { call, result })) => {
                        if let Some(tx) = lock(&pending).remove(&call) {
                            let _ = tx.send(result);
                        }
                    }
                    Ok(Some(ServerMsg::Error(e))) => {
                        // A refusal of the whole connection (another user's server, a version
                        // mismatch): every call waiting hears it.
                        for (_, tx) in lock(&pending).drain() {
                            let _ = tx.send(Err(e.clone()));
                        }
                        break;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            // Calls still waiting see their sender dropped: the connection is gone.
            lock(&pending).clear();
        });
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Make one call. A call whose request could not be written is retried once on a fresh
    /// connection (the server may have restarted); one that was written is never sent twice.
    pub async fn call(&self, op: BridgeOp) -> Result<String, Error> {
        for attempt in 0..2 {
            let conn = self.connection().await?;
            let call = self.next.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            lock(&conn.pending).insert(call, tx);
            let msg = ClientMsg::Bridge { call, claim: self.claim.clone(), via: self.via, op: op.clone() };
            let written = write_frame(&mut *conn.writer.lock().await, &msg).await;
            if written.is_err() {
                lock(&conn.pending).remove(&call);
                *self.conn.lock().await = None;
                if attempt == 0 {
                    continue;
                }
                return Err(Error::new("server_gone", "cannot reach the sbx server", "run sbx ls to check it"));
            }
            return match rx.await {
                Ok(Ok(json)) => Ok(json),
                Ok(Err(e)) => Err(e),
                Err(_) => {
                    *self.conn.lock().await = None;
                    Err(Error::new(
                        "server_gone",
                        "the sbx server went away during the call (it may or may not have been done)",
                        match self.via {
                            Via::Mcp => "check with bridge_list_inbox or bridge_search before repeating it",
                            Via::Cli => "check with sbx msg inbox --all or sbx search before repeating it",
                        },
                    ))
                }
            };
        }
        unreachable!("the loop returns")
    }
}
