//! The bridge thread: takes calls and directory changes in bursts, runs a burst's writes in one
//! transaction (group commit), answers only after the commit, then wakes the waiters the burst
//! delivered to. It never blocks the server loop: the loop only sends to it.

mod panes;

use std::collections::{BTreeSet, HashMap};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::address::{Directory, Endpoint, USER};
use super::quota::Usage;
use super::store::{EndpointRow, Store};
use super::{
    now_ms, BridgeHandle, BridgeMsg, BridgeNotice, BridgeOp, BridgeResult, BridgeSettings, Caller, Error, Overview,
    PaneEntry, Replier,
};
use crate::proc;
use crate::protocol::Via;

/// A burst larger than this is split, so a flood of calls still gets answers steadily.
const MAX_BATCH: usize = 512;
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// The sidebar's view is recomputed at most this often.
const OVERVIEW_EVERY: Duration = Duration::from_millis(100);
/// A persisted `last_seen` is refreshed at most this often (presence needs minutes, not ms).
const SEEN_WRITE_EVERY_MS: i64 = 30_000;

pub(super) struct Waiter {
    pub endpoint: String,
    pub after: Option<i64>,
    pub deadline: Instant,
    pub reply: Replier,
}

pub(super) enum Outcome {
    Reply(BridgeResult<serde_json::Value>),
    /// Someone else answers: a waiter, or the server loop (labels).
    Later,
}

pub(super) struct Router {
    pub store: Store,
    pub dir: Directory,
    /// Who makes the call being run: hints name its next step in its terms.
    pub via: Via,
    pub settings: BridgeSettings,
    pub notices: UnboundedSender<BridgeNotice>,
    /// Where friends.toml is (a message to FRIEND/ADDRESS is checked against it when sent).
    pub config_dir: std::path::PathBuf,
    pub waiters: Vec<Waiter>,
    /// The endpoint each connection was found to speak for (a connection's process is fixed).
    pub conns: HashMap<u64, String>,
    /// Endpoints that received messages in this burst.
    pub woken: BTreeSet<String>,
    /// "New message" notices of this burst, sent once it has committed.
    pub delivered: Vec<BridgeNotice>,
    /// The bytes each endpoint keeps in the store, against its budget.
    pub usage: Usage,
    overview_due: Option<Instant>,
    last_overview: Overview,
    next_sweep: Instant,
}

/// Start the bridge thread. When its store cannot be opened, the thread still answers every
/// call, with the reason, so panes work and the user learns what to fix.
pub fn spawn(
    data_dir: std::path::PathBuf,
    config_dir: std::path::PathBuf,
    settings: BridgeSettings,
    notices: UnboundedSender<BridgeNotice>,
) -> BridgeHandle {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("sbx-bridge".into())
        .spawn(move || {
            let opened = lock_store(&data_dir.join("bridge")).and_then(|lock| {
                let store = Store::open(&data_dir.join("bridge"), settings.sync == "full")
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let endpoints = store.endpoints().map_err(|e| anyhow::anyhow!("{e}"))?;
                Ok((lock, store, endpoints))
            });
            match opened {
                Ok((_lock, store, rows)) => {
                    let mut router = Router::new(store, rows, settings, notices, config_dir);
                    router.run(rx);
                }
                Err(e) => {
                    tracing::error!("bridge: store unavailable: {e:#}");
                    refuse_all(rx, &format!("{e:#}"));
                }
            }
        })
        .expect("cannot start the bridge thread");
    BridgeHandle { tx }
}

/// One writer per store: two servers (on two sockets) sharing a data folder would otherwise
/// both write it. The lock lives as long as the bridge thread.
fn lock_store(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    crate::config::paths::ensure_private_dir(dir)?;
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(&path)?;
    if file.try_lock().is_err() {
        anyhow::bail!("another sbx server owns the store in {}", dir.display());
    }
    Ok(file)
}

fn refuse_all(rx: Receiver<BridgeMsg>, why: &str) {
    while let Ok(msg) = rx.recv() {
        if let BridgeMsg::Call { reply, .. } = msg {
            reply.send(Err(Error::new(
                "store_unavailable",
                format!("the bridge store cannot be opened: {why}"),
                "fix or move the store folder (sbx doctor shows where), then sbx kill-server",
            )));
        }
    }
}

impl Router {
    fn new(
        store: Store,
        rows: Vec<EndpointRow>,
        settings: BridgeSettings,
        notices: UnboundedSender<BridgeNotice>,
        config_dir: std::path::PathBuf,
    ) -> Router {
        let mut dir = Directory { offline_after_ms: settings.offline_after_secs as i64 * 1000, ..Default::default() };
        for row in rows {
            dir.endpoints.insert(row.id.clone(), Endpoint { row, ..Default::default() });
        }
        let mut router = Router {
            store,
            dir,
            settings,
            notices,
            config_dir,
            waiters: Vec::new(),
            conns: HashMap::new(),
            woken: BTreeSet::new(),
            delivered: Vec::new(),
            via: Via::Cli,
            usage: Usage::default(),
            overview_due: Some(Instant::now()),
            last_overview: Overview::default(),
            next_sweep: Instant::now(),
        };
        router.usage = Usage::load(&router.store);
        if !router.dir.endpoints.contains_key(USER) {
            let row = EndpointRow { id: USER.into(), kind: "user".into(), last_seen: now_ms(), ..Default::default() };
            if router.store.put_endpoint(&row).is_ok() {
                router.dir.endpoints.insert(USER.into(), Endpoint { row, ..Default::default() });
            }
        }
        router
    }

    fn run(&mut self, rx: Receiver<BridgeMsg>) {
        loop {
            let wake = [Some(self.next_sweep), self.waiters.iter().map(|w| w.deadline).min(), self.overview_due]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or_else(|| Instant::now() + SWEEP_EVERY);
            let first = match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            if let Some(first) = first {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(msg) => batch.push(msg),
                        Err(_) => break,
                    }
                }
                self.run_batch(batch);
            }
            self.expire_waiters();
            if Instant::now() >= self.next_sweep {
                self.sweep();
            }
            if self.overview_due.is_some_and(|t| Instant::now() >= t) {
                self.publish_overview();
            }
        }
    }

    /// Run a burst; a bug that panics in it undoes the burst and answers its callers, and the
    /// thread goes on (every later call would hang if it died).
    fn run_batch(&mut self, batch: Vec<BridgeMsg>) {
        let waiting: Vec<Replier> = batch
            .iter()
            .filter_map(|m| match m {
                BridgeMsg::Call { reply, .. } | BridgeMsg::Remote { reply, .. } => Some(reply.clone()),
                _ => None,
            })
            .collect();
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_burst(batch)));
        if ran.is_err() {
            tracing::error!("bridge: a bug while handling a burst of {} calls; undone", waiting.len());
            self.store.rollback();
            self.woken.clear();
            self.delivered.clear();
            self.usage = Usage::load(&self.store);
            for reply in waiting {
                reply.send(Err(Error::new(
                    "internal_error",
                    "the bridge failed on this call",
                    "try again; the server log says more",
                )));
            }
        }
    }

    fn run_burst(&mut self, batch: Vec<BridgeMsg>) {
        let mut replies: Vec<(Replier, BridgeResult<serde_json::Value>)> = Vec::new();
        // Without a transaction nothing may run: each write would commit on its own, and a
        // caller told "not stored" could find it stored.
        let began = self.store.begin().map_err(|e| format!("{e:#}"));
        if let Err(why) = &began {
            tracing::error!("bridge: cannot begin a transaction: {why}");
        }
        for msg in batch {
            match msg {
                BridgeMsg::Call { caller, op, reply } => {
                    self.via = match &caller {
                        Caller::Peer { via, .. } => *via,
                        Caller::Endpoint(_) => Via::Cli,
                    };
                    let outcome = match (&began, self.identify(&caller)) {
                        (Err(why), _) => Outcome::Reply(Err(not_stored(why))),
                        (Ok(()), Ok(me)) => self.store_op(&me, op, &reply),
                        (Ok(()), Err(e)) => Outcome::Reply(Err(e)),
                    };
                    if let Outcome::Reply(result) = outcome {
                        replies.push((reply, result));
                    }
                }
                BridgeMsg::Pane(entry) => self.on_pane(entry),
                BridgeMsg::PaneGone { endpoint } => self.on_pane_gone(&endpoint),
                BridgeMsg::ExternalHook { session_id, agent, cwd, pid } => {
                    self.on_external_hook(session_id, agent, cwd, pid)
                }
                BridgeMsg::Labelled { endpoint, label } => self.on_labelled(&endpoint, label),
                BridgeMsg::Resumed { endpoint, session } => self.on_resumed(&endpoint, &session),
                BridgeMsg::ConnClosed(conn) => {
                    self.conns.remove(&conn);
                }
                BridgeMsg::Remote { msg, reply } => {
                    let result = match &began {
                        Err(why) => Err(not_stored(why)),
                        Ok(()) => self.remote_store_op(msg),
                    };
                    replies.push((reply, result));
                }
            }
        }
        if began.is_err() {
            for (reply, result) in replies {
                reply.send(result);
            }
            return;
        }
        if let Err(e) = self.store.commit() {
            self.store.rollback();
            tracing::error!("bridge: commit failed: {e:#}");
            // Nothing of this burst is stored: nobody may hear "sent", no agent "new message".
            self.woken.clear();
            self.delivered.clear();
            self.usage = Usage::load(&self.store);
            let why = format!("{e:#}");
            for (reply, _) in replies {
                reply.send(Err(not_stored(&why)));
            }
            return;
        }
        for (reply, result) in replies {
            reply.send(result);
        }
        // Committed: only now may an idle agent be told a message came.
        for notice in std::mem::take(&mut self.delivered) {
            let _ = self.notices.send(notice);
        }
        if !self.woken.is_empty() {
            self.wake_waiters();
            self.overview_due.get_or_insert_with(|| Instant::now() + OVERVIEW_EVERY);
        }
    }

    /// A remote link's request, its writes whole or not at all.
    fn remote_store_op(&mut self, msg: super::RemoteMsg) -> BridgeResult<serde_json::Value> {
        if let Err(e) = self.store.begin_op() {
            return Err(not_stored(&format!("{e:#}")));
        }
        let (woken_before, delivered_before) = (self.woken.clone(), self.delivered.len());
        let result = self.remote_op(msg);
        match &result {
            Err(_) => {
                self.store.rollback_op();
                self.woken = woken_before;
                self.delivered.truncate(delivered_before);
            }
            Ok(_) => self.store.release_op(),
        }
        result
    }

    /// Run one op so that its writes land whole or not at all.
    fn store_op(&mut self, me: &str, op: BridgeOp, reply: &Replier) -> Outcome {
        if let Err(e) = self.store.begin_op() {
            return Outcome::Reply(Err(not_stored(&format!("{e:#}"))));
        }
        let woken_before = self.woken.clone();
        let delivered_before = self.delivered.len();
        let outcome = self.op(me, op, reply);
        match &outcome {
            Outcome::Reply(Err(_)) => {
                self.store.rollback_op();
                self.woken = woken_before;
                self.delivered.truncate(delivered_before);
            }
            _ => self.store.release_op(),
        }
        outcome
    }

    /// Who is calling. A process inside a pane speaks for that pane and nothing else; outside
    /// panes, `claim` says who (the user acting as a pane, or an agent's session id); with no
    /// claim, an agent whose hooks registered it, else the user.
    pub(super) fn identify(&mut self, caller: &Caller) -> BridgeResult<String> {
        let (conn, pid, claim) = match caller {
            Caller::Endpoint(id) => return Ok(id.clone()),
            Caller::Peer { conn, pid, claim, .. } => (*conn, *pid, claim.as_deref().filter(|c| !c.is_empty())),
        };
        if let Some(id) = self.conns.get(&conn) {
            if self.dir.endpoints.contains_key(id) {
                let id = id.clone();
                self.seen(&id);
                return Ok(id);
            }
        }
        let lineage = proc::lineage(pid);
        let inside = match proc::origin(pid, |p| self.pane_with_pid(p)) {
            proc::Origin::Pane(me) => Some(me),
            proc::Origin::Outside => None,
            proc::Origin::LeftPane => {
                return Err(Error::new(
                    "identity_refused",
                    "this process was started in an sbx pane and left it (its parent is gone and it \
                     runs in a session of its own), so sbx cannot tell whom it speaks for",
                    "run it in the pane, without detaching it from the pane's shell",
                ))
            }
        };
        let now = now_ms();
        let id = match (inside, claim) {
            (Some(me), None) => me,
            (Some(me), Some(claim)) => {
                let e = &self.dir.endpoints[&me];
                let matches = e.pane.as_deref() == Some(claim)
                    || e.row.label.as_deref() == Some(claim)
                    || e.row.id == claim
                    || e.row.agent_session.as_deref() == Some(claim);
                if !matches {
                    return Err(Error::new(
                        "identity_refused",
                        format!("this process runs in pane {} and cannot speak as {claim:?}", e.name()),
                        "drop --as (or the SBX_PANE_ID you set): inside a pane you are that pane",
                    ));
                }
                me
            }
            (None, Some(claim)) => match self.dir.resolve(claim, now, self.via) {
                Ok(super::address::Target::Endpoint(id)) => id,
                Ok(super::address::Target::Channel(_)) => {
                    return Err(Error::new(
                        "identity_refused",
                        "a channel cannot be a caller",
                        "act as a pane id, label or session id",
                    ))
                }
                // An agent outside sbx names itself by its session id before any hook said so.
                Err(e) if e.code == "unknown_address" && looks_like_session_id(claim) => {
                    let parent = lineage.get(1).copied().unwrap_or(pid);
                    self.register_external(
                        claim.to_string(),
                        None,
                        proc::cwd(parent),
                        &lineage[1.min(lineage.len())..],
                    );
                    claim.to_string()
                }
                Err(e) => return Err(e),
            },
            (None, None) => {
                let parent = lineage.get(1).copied();
                parent
                    .and_then(|p| {
                        self.dir
                            .endpoints
                            .values()
                            .find(|e| e.row.kind == "external" && e.hook_lineage.contains(&p))
                            .map(|e| e.row.id.clone())
                    })
                    .unwrap_or_else(|| USER.to_string())
            }
        };
        // Not a guess that may change: an agent outside sbx can call before its first hook
        // registered it, and must not stay "user" for the rest of its connection.
        if id != USER || claim.is_some() {
            self.conns.insert(conn, id.clone());
        }
        self.seen(&id);
        Ok(id)
    }

    fn expire_waiters(&mut self) {
        let now = Instant::now();
        self.waiters.retain(|w| {
            if w.reply.is_closed() {
                return false;
            }
            if w.deadline <= now {
                w.reply.send(Ok(serde_json::json!({ "messages": [], "timed_out": true })));
                return false;
            }
            true
        });
    }

    fn wake_waiters(&mut self) {
        let woken = std::mem::take(&mut self.woken);
        let now = now_ms();
        let mut keep = Vec::new();
        for w in std::mem::take(&mut self.waiters) {
            if !woken.contains(&w.endpoint) {
                keep.push(w);
                continue;
            }
            match self.unread_after(&w.endpoint, w.after, now) {
                Ok(messages) if !messages.is_empty() => {
                    w.reply.send(Ok(serde_json::json!({ "messages": messages, "timed_out": false })));
                }
                _ => keep.push(w),
            }
        }
        self.waiters = keep;
    }

    fn sweep(&mut self) {
        self.next_sweep = Instant::now() + SWEEP_EVERY;
        let now = now_ms();
        let before = now - self.settings.keep_read_days as i64 * 24 * 3600 * 1000;
        let orphans = now - self.settings.orphan_artifact_secs as i64 * 1000;
        match self.store.collect(now, before, orphans) {
            Ok((messages, artifacts)) if messages + artifacts > 0 => {
                tracing::info!("bridge: collected {messages} messages, {artifacts} artifacts");
                self.overview_due.get_or_insert_with(Instant::now);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("bridge: collection failed: {e:#}"),
        }
        self.store.checkpoint();
        self.usage = Usage::load(&self.store);
    }

    fn publish_overview(&mut self) {
        self.overview_due = None;
        let now = now_ms();
        let unread = self.store.unread_counts(now).unwrap_or_default();
        let inbox = self
            .store
            .recent(USER, 20, now)
            .unwrap_or_default()
            .into_iter()
            .map(|m| (m.id, m.from_name, m.subject, m.read == Some(true)))
            .collect();
        let channels = self
            .store
            .channels()
            .unwrap_or_default()
            .into_iter()
            .map(|(c, members)| (c, members.iter().map(|m| self.dir.name_of(m)).collect()))
            .collect();
        let external_labels = self
            .dir
            .endpoints
            .values()
            .filter(|e| e.row.kind == "external")
            .filter_map(|e| e.row.label.clone())
            .collect();
        let overview = Overview { unread, inbox, channels, external_labels };
        if overview != self.last_overview {
            self.last_overview = overview.clone();
            let _ = self.notices.send(BridgeNotice::Overview(overview));
        }
    }
}

/// A call whose writes could not be stored (the disk is full, the file is damaged).
fn not_stored(why: &str) -> Error {
    Error::new(
        "store_error",
        format!("not stored: {why}"),
        "free some disk space (sbx doctor shows where the store is), then try again",
    )
}

/// An agent's session id: a UUID (Claude and Codex both use them).
fn looks_like_session_id(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}
