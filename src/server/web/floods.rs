//! Screens of a flooding pane, made once a frame for all its viewers.
//!
//! A pane writing faster than anyone reads (`yes`, a build log) is shown to a viewer as its
//! screen, a few times a second, not as the flood. Made per viewer, fifty viewers would cost
//! fifty screen dumps a frame on the server's loop; here the first viewer to see the flood
//! starts one producer for the pane, which dumps the screen once a frame, serializes the
//! message once, and publishes it on a watch channel every viewer of that pane reads. When a
//! frame passes with little output, it publishes `Calm` and stops: each viewer then takes a
//! fresh screen of its own (dump and subscription at one moment) and follows the output again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::watch;

use super::messages::{chunks, text_of, Outgoing};
use super::WebCtx;
use crate::pane::engine::lock;

/// More output than this in one 20 ms frame is a flood: its viewers get screens instead.
pub const FLOOD_PER_FRAME: usize = 32 * 1024;
/// How often a flooding pane's screen is sent: 20 a second is more than anyone reads.
const SCREEN_EVERY: Duration = Duration::from_millis(50);

#[derive(Clone)]
pub enum Screens {
    /// The producer has not made a screen yet.
    Starting,
    /// The screen now: the messages that draw it (after a reset), as sent.
    Screen(Arc<Vec<Utf8Bytes>>),
    /// The flood is over: follow the output again.
    Calm,
}

/// The producers running, by pane.
#[derive(Default)]
pub struct Floods {
    running: Mutex<HashMap<String, (u64, watch::Receiver<Screens>)>>,
    next: std::sync::atomic::AtomicU64,
}

impl Floods {
    /// The screens of `pane` while it floods (a producer is started when none runs).
    pub fn join(&self, ctx: &Arc<WebCtx>, pane: &str) -> watch::Receiver<Screens> {
        let mut running = lock(&self.running);
        if let Some((_, screens)) = running.get(pane) {
            if !matches!(*screens.borrow(), Screens::Calm) {
                return screens.clone();
            }
        }
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = watch::channel(Screens::Starting);
        running.insert(pane.to_string(), (id, rx.clone()));
        tokio::spawn(produce(ctx.clone(), pane.to_string(), id, tx));
        rx
    }

    fn done(&self, pane: &str, id: u64) {
        let mut running = lock(&self.running);
        if running.get(pane).is_some_and(|(mine, _)| *mine == id) {
            running.remove(pane);
        }
    }
}

async fn produce(ctx: Arc<WebCtx>, pane: String, id: u64, tx: watch::Sender<Screens>) {
    let mut tick = tokio::time::interval(SCREEN_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut measured = None;
    loop {
        tick.tick().await;
        // Nobody but the registry reads: the viewers left.
        if tx.receiver_count() <= 1 {
            break;
        }
        // The output since the last screen, to tell a flood from its end.
        if let Some(output) = &mut measured {
            if !still_flooding(output) {
                break;
            }
        }
        let Ok((screen, output)) = ctx.watch(pane.clone(), 0).await else { break };
        measured = Some(output);
        let messages = chunks(&format!("\x1bc{screen}"))
            .into_iter()
            .map(|output| text_of(&Outgoing::PtyOutput { output }))
            .collect();
        tx.send_replace(Screens::Screen(Arc::new(messages)));
    }
    tx.send_replace(Screens::Calm);
    ctx.floods.done(&pane, id);
}

/// Whether a frame's worth of output (or more than the ring holds) came since the last look.
fn still_flooding(output: &mut crate::pane::engine::Watching) -> bool {
    let mut bytes = 0;
    loop {
        match output.try_recv() {
            Ok(chunk) => bytes += chunk.len(),
            Err(TryRecvError::Lagged(_)) => return true,
            Err(TryRecvError::Empty) => return bytes >= FLOOD_PER_FRAME,
            Err(TryRecvError::Closed) => return false,
        }
    }
}
