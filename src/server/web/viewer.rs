//! One viewer of a pane (a WebSocket following it): its screen, then its output as the engine
//! takes it, coalesced to the viewer's pace, and its state as it changes.
//!
//! - Output waits for the next 20 ms frame after a large message (what came meanwhile goes
//!   with it); a key's echo goes at once.
//! - A flood (more than 32 KiB in a frame) is not sent at all: the viewer joins the pane's
//!   shared screens (`floods.rs`, one screen a frame made for every viewer at once), and when
//!   the flood is over takes a fresh screen of its own and follows the output again.
//! - A viewer whose socket or ring falls behind gets a fresh screen, never a backlog.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{mpsc, watch};

use super::floods::{Screens, FLOOD_PER_FRAME};
use super::messages::{by_pane_id, chunks, state_message, text_of, Outgoing};
use super::said::Said;
use super::WebCtx;
use crate::protocol::SessionInfo;

/// A viewer gets at most one output message per frame.
const FRAME: std::time::Duration = std::time::Duration::from_millis(20);
/// A message this small (an echo, a prompt redrawn) does not wait for the next frame.
const SMALL: usize = 4096;
/// Messages waiting for one viewer's socket; past it the viewer is behind (and resyncs).
const OUTGOING: usize = 8;
/// How often an agent's transcript is looked at for what it said.
const SAID_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// A socket's outgoing queue: messages as the JSON text they are sent as (a screen shared by
/// many viewers is serialized once).
#[derive(Clone)]
pub struct Out(mpsc::Sender<Utf8Bytes>);

pub enum Full {
    Behind,
    Closed,
}

impl Out {
    pub fn channel() -> (Out, mpsc::Receiver<Utf8Bytes>) {
        let (tx, rx) = mpsc::channel(OUTGOING);
        (Out(tx), rx)
    }

    /// Queue a message, waiting for room; false when the socket is gone.
    pub async fn send(&self, msg: &Outgoing) -> bool {
        self.0.send(text_of(msg)).await.is_ok()
    }

    /// Queue text now, or say why not.
    pub fn try_send(&self, text: Utf8Bytes) -> Result<(), Full> {
        self.0.try_send(text).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Full::Behind,
            mpsc::error::TrySendError::Closed(_) => Full::Closed,
        })
    }
}

/// What a change of the overview means for a viewer.
enum Followed {
    Same,
    Sent,
    Gone,
}

/// The pane's state, sent when it changed (`session_ended` when the pane is gone).
async fn follow_state(
    overview: &mut watch::Receiver<Arc<Vec<SessionInfo>>>,
    pane: &str,
    last: &mut Option<Outgoing>,
    out: &Out,
) -> Followed {
    let now = by_pane_id(&overview.borrow_and_update(), pane).map(state_message);
    let now = now.or_else(|| Some(Outgoing::Ended { session_id: pane.to_string() }));
    if now == *last {
        return Followed::Same;
    }
    let ended = matches!(now, Some(Outgoing::Ended { .. }));
    if let Some(msg) = &now {
        if !out.send(msg).await || ended {
            return Followed::Gone;
        }
    }
    *last = now;
    Followed::Sent
}

/// After the pane's output: its state until the overview says it is gone (then
/// `session_ended`), or the socket is.
async fn until_gone(
    overview: &mut watch::Receiver<Arc<Vec<SessionInfo>>>,
    pane: &str,
    last: &mut Option<Outgoing>,
    out: &Out,
) {
    loop {
        if let Followed::Gone = follow_state(overview, pane, last, out).await {
            return;
        }
        if overview.changed().await.is_err() {
            return;
        }
    }
}

/// Follow a pane for one viewer until it or the socket is gone.
pub async fn view(ctx: Arc<WebCtx>, pane: String, out: Out) {
    let mut overview = ctx.overview.clone();
    let mut last = by_pane_id(&overview.borrow_and_update(), &pane).map(state_message);
    // What the agent says, from its transcript (echokit's session_output).
    let mut said = by_pane_id(&overview.borrow(), &pane).and_then(Said::new);
    let mut look = tokio::time::interval(SAID_EVERY);
    let mut history = super::VIEW_HISTORY;
    let (mut last_sent, mut paced) = (tokio::time::Instant::now(), false);
    'fresh: loop {
        // The history once; a viewer that fell behind is given the screen alone.
        let (start, mut output) = match ctx.watch(pane.clone(), history).await {
            Ok(watching) => watching,
            // The pane went between the message that opened this view and the view (a shell
            // told to exit, under load): the socket is told it ended, as it would have been.
            Err(e) if e.code != "server_gone" => {
                let _ = out.send(&Outgoing::Ended { session_id: pane }).await;
                return;
            }
            Err(_) => return,
        };
        history = 0;
        // A reset first: a viewer that fell behind starts from a clean terminal.
        for piece in chunks(&format!("\x1bc{start}")) {
            if !out.send(&Outgoing::PtyOutput { output: piece }).await {
                return;
            }
        }
        let mut decoder = Utf8Carry::default();
        loop {
            tokio::select! {
                chunk = output.recv() => match chunk {
                    Ok(bytes) => {
                        let mut text = decoder.push(&bytes);
                        // After a large message, at most one a frame: what came since goes in
                        // the next. A key's echo (small) goes at once.
                        if paced {
                            tokio::time::sleep_until(last_sent + FRAME).await;
                        }
                        while text.len() < FLOOD_PER_FRAME {
                            match output.try_recv() {
                                Ok(more) => text.push_str(&decoder.push(&more)),
                                Err(TryRecvError::Lagged(_)) => continue 'fresh,
                                Err(_) => break,
                            }
                        }
                        if text.len() >= FLOOD_PER_FRAME {
                            drop(output);
                            if !flooded(&ctx, &pane, &out, &mut overview, &mut last).await {
                                return;
                            }
                            continue 'fresh;
                        }
                        (last_sent, paced) = (tokio::time::Instant::now(), text.len() > SMALL);
                        match out.try_send(text_of(&Outgoing::PtyOutput { output: text })) {
                            Ok(()) => {}
                            // The socket is not keeping up: drop the backlog, start again from the screen.
                            Err(Full::Behind) => continue 'fresh,
                            Err(Full::Closed) => return,
                        }
                    }
                    Err(RecvError::Lagged(_)) => continue 'fresh,
                    // The pane's output ended before the overview says it is gone: the
                    // socket still hears how it ended.
                    Err(RecvError::Closed) => return until_gone(&mut overview, &pane, &mut last, &out).await,
                },
                changed = overview.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if let Followed::Gone = follow_state(&mut overview, &pane, &mut last, &out).await {
                        return;
                    }
                    if let (Some(said), Some(info)) = (&mut said, by_pane_id(&overview.borrow(), &pane)) {
                        said.follow(info, false);
                    }
                }
                _ = look.tick(), if said.is_some() => {
                    for msg in said.as_mut().map(Said::poll).unwrap_or_default() {
                        if !out.send(&msg).await {
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// While the pane floods: the shared screens, as many as the socket takes. False when the
/// viewer is done (socket or pane gone); true when the flood is over.
async fn flooded(
    ctx: &Arc<WebCtx>,
    pane: &str,
    out: &Out,
    overview: &mut watch::Receiver<Arc<Vec<SessionInfo>>>,
    last: &mut Option<Outgoing>,
) -> bool {
    let mut screens = ctx.floods.join(ctx, pane);
    loop {
        tokio::select! {
            changed = screens.changed() => {
                if changed.is_err() {
                    return true;
                }
                let now = screens.borrow_and_update().clone();
                match now {
                    Screens::Starting => {}
                    Screens::Calm => return true,
                    Screens::Screen(messages) => {
                        for message in messages.iter() {
                            match out.try_send(message.clone()) {
                                Ok(()) => {}
                                // Behind: this screen is dropped; the next is whole again.
                                Err(Full::Behind) => break,
                                Err(Full::Closed) => return false,
                            }
                        }
                    }
                }
            }
            changed = overview.changed() => {
                if changed.is_err() {
                    return false;
                }
                if let Followed::Gone = follow_state(overview, pane, last, out).await {
                    return false;
                }
            }
        }
    }
}

/// Output bytes as text, a character cut between two reads carried to the next.
#[derive(Default)]
struct Utf8Carry {
    held: Vec<u8>,
}

impl Utf8Carry {
    fn push(&mut self, bytes: &[u8]) -> String {
        self.held.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.held) {
            Ok(_) => self.held.len(),
            // An incomplete character at the end waits (at most 3 bytes); anything invalid
            // is replaced.
            Err(e) if e.error_len().is_none() && self.held.len() - e.valid_up_to() < 4 => e.valid_up_to(),
            Err(_) => self.held.len(),
        };
        let rest = self.held.split_off(valid);
        let text = String::from_utf8_lossy(&self.held).into_owned();
        self.held = rest;
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::conn::ConnEvent;

    #[tokio::test]
    async fn a_view_of_a_pane_gone_before_it_started_says_it_ended() {
        let (conns, mut loop_side) = tokio::sync::mpsc::unbounded_channel();
        let (ctx, _overview) = WebCtx::detached(conns);
        // The loop, as it answers a pane that exited before the view asked for it.
        tokio::spawn(async move {
            while let Some(event) = loop_side.recv().await {
                if let ConnEvent::Watch(_, _, reply) = event {
                    let _ = reply.send(Err(crate::protocol::Error::new("no_pane", "that pane is gone", "sbx ls")));
                }
            }
        });
        let (out, mut sent) = Out::channel();
        view(ctx, "%7".into(), out).await;
        let first = sent.recv().await.expect("the view says something before it ends");
        let msg: serde_json::Value = serde_json::from_str(&first).unwrap();
        assert_eq!(msg["type"], "session_ended", "{msg}");
        assert_eq!(msg["session_id"], "%7");
    }

    /// The pane's output ends (its shell exited) before the overview has caught up: the view
    /// waits for the overview and then says the session ended, never going quiet.
    #[tokio::test]
    async fn a_view_whose_output_ends_first_says_it_ended_once_the_pane_is_gone() {
        let (conns, mut loop_side) = tokio::sync::mpsc::unbounded_channel();
        let (ctx, overview) = WebCtx::detached(conns);
        let pane: crate::protocol::PaneInfo = serde_json::from_value(serde_json::json!({
            "id": "%7", "session": "s", "tab": 1, "label": null, "title": "", "command": [], "cwd": "/",
            "pid": null, "alive": true, "cols": 80, "rows": 24, "active": true, "agent": null
        }))
        .unwrap();
        let tab: crate::protocol::TabInfo = serde_json::from_value(serde_json::json!({
            "index": 1, "name": "t", "active": true, "zoomed": false, "panes": [pane]
        }))
        .unwrap();
        overview.send_replace(Arc::new(vec![SessionInfo { name: "s".into(), clients: 0, tabs: vec![tab] }]));
        // The loop hands out a watch whose output is already over.
        tokio::spawn(async move {
            while let Some(event) = loop_side.recv().await {
                if let ConnEvent::Watch(_, _, reply) = event {
                    let (tx, rx) = tokio::sync::broadcast::channel(4);
                    drop(tx);
                    let _ = reply.send(Ok(("$ ".to_string(), rx)));
                }
            }
        });
        let (out, mut sent) = Out::channel();
        let viewer = tokio::spawn(view(ctx, "%7".into(), out));
        let first: serde_json::Value = serde_json::from_str(&sent.recv().await.unwrap()).unwrap();
        assert_eq!(first["type"], "session_pty_output", "{first}");
        overview.send_replace(Arc::new(Vec::new()));
        let next: serde_json::Value = serde_json::from_str(&sent.recv().await.expect("the view speaks again")).unwrap();
        assert_eq!((next["type"].as_str(), next["session_id"].as_str()), (Some("session_ended"), Some("%7")), "{next}");
        viewer.await.unwrap();
    }

    #[test]
    fn characters_cut_between_reads_arrive_whole() {
        let mut carry = Utf8Carry::default();
        let snow = "☃".as_bytes();
        assert_eq!(carry.push(&[b'a', snow[0]]), "a");
        assert_eq!(carry.push(&snow[1..]), "☃");
        assert_eq!(carry.push(&[0xff, b'b']), "\u{fffd}b", "invalid bytes are replaced, not held");
        let long = "é".repeat(super::super::messages::MAX_OUTPUT_MESSAGE);
        assert!(chunks(&long).iter().all(|c| c.len() <= super::super::messages::MAX_OUTPUT_MESSAGE && !c.is_empty()));
        assert_eq!(chunks(&long).concat(), long);
    }
}
