//! echokit_pty's WebSocket protocol at `/ws/{id}` and its `POST /api/{id}/input`, message for
//! message (v1, the set its README and browser page speak), over sbx panes.
//!
//! `{id}` is an agent's session id (as echokit uses Claude's), an sbx pane id (`%3` or `3`)
//! or a pane label. In: `create_session`, `get_current_state`, `input`, `bytes_input` (and
//! every binary frame), `cancel`, `confirm`, `select{index}`, each tag also in echokit's
//! PascalCase spelling. Out: `session_pty_output` (the pane's screen first, then its output as
//! it comes; a viewer that falls behind gets a fresh screen), the state as `session_running`,
//! `session_idle`, `session_tool_request`, `session_pending` (with the tool's name and input),
//! `session_ended`, and `session_error` with echokit's codes.

use std::sync::Arc;

use super::messages::{by_pane_id, find, invalid, session_id, state_message, state_name, Failure, Incoming, Outgoing};
use super::viewer::{view, Out};
use super::WebCtx;
use crate::protocol::{AgentKey, AgentKind, Command, NewSpec, PaneSpec, SessionInfo};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// What a message asks, as a command for the loop (or an answer without one).
enum Step {
    Answer(Outgoing),
    Run(Command, String),
    /// Start watching (a session was created or its state asked for).
    Watch(Outgoing),
}

fn plan(overview: &[SessionInfo], id: &str, msg: Incoming) -> Step {
    let pane = find(overview, id);
    let target = pane.map(|p| p.id.clone()).unwrap_or_default();
    let sid = pane.map(session_id).unwrap_or_else(|| id.to_string());
    let for_state = |input: &str| {
        let p = pane.expect("checked");
        Step::Answer(Outgoing::Error {
            session_id: session_id(p),
            error: Failure::InvalidInputForState { error_state: state_name(p).into(), error_input: input.into() },
        })
    };
    match (msg, pane) {
        (Incoming::CreateSession {}, Some(p)) | (Incoming::CurrentState {}, Some(p)) => Step::Watch(state_message(p)),
        (Incoming::CurrentState {}, None) => {
            Step::Answer(Outgoing::Error { session_id: sid, error: Failure::SessionNotFound })
        }
        (Incoming::CreateSession {}, None) => match uuid::Uuid::parse_str(id) {
            // A new Claude Code pane on that session id, as echokit starts one.
            Ok(uuid) => {
                let pane = PaneSpec {
                    agent: Some(AgentKind::Claude),
                    command: vec!["--session-id".into(), uuid.to_string()],
                    ..PaneSpec::default()
                };
                let spec = NewSpec { name: None, pane, pair: false, cols: 120, rows: 40 };
                Step::Run(Command::New(spec), "create_session".into())
            }
            Err(e) => Step::Answer(invalid(sid, format!("Invalid UUID format: {e} (or name a pane: its id or label)"))),
        },
        (_, None) => Step::Answer(Outgoing::Error { session_id: sid, error: Failure::SessionNotFound }),
        (Incoming::Input { input }, Some(p)) => match p.agent.as_ref().map(|a| a.state.as_str()) {
            // A shell takes a line and Enter; an idle agent a prompt, typed then submitted.
            None => Step::Run(Command::SendKeys { target, text: input, keys: vec![], enter: true }, "input".into()),
            Some("idle" | "done") => {
                Step::Run(Command::AgentPrompt { target, text: input, queue: false }, "input".into())
            }
            Some(_) => for_state(&input),
        },
        (Incoming::BytesInput { input }, Some(_)) => Step::Run(
            Command::SendKeys {
                target,
                text: String::from_utf8_lossy(&input).into_owned(),
                keys: vec![],
                enter: false,
            },
            "bytes_input".into(),
        ),
        (Incoming::Cancel {}, Some(p)) => match p.agent.as_ref().map(|a| a.state.as_str()) {
            Some("waiting") => Step::Run(Command::AgentKey { target, key: AgentKey::Cancel }, "Cancel".into()),
            // A turn under way is interrupted as the user would: Esc.
            Some("working") | Some("starting") => Step::Run(
                Command::SendKeys { target, text: String::new(), keys: vec!["Esc".into()], enter: false },
                "Cancel".into(),
            ),
            _ => for_state("Cancel"),
        },
        (Incoming::Confirm {}, Some(p)) => match p.agent.as_ref().map(|a| a.state.as_str()) {
            Some("waiting") => Step::Run(Command::AgentKey { target, key: AgentKey::Confirm }, "Confirm".into()),
            _ => for_state("Confirm"),
        },
        (Incoming::Select { index }, Some(p)) => match p.agent.as_ref().map(|a| a.state.as_str()) {
            Some("waiting") if index < 9 => {
                Step::Run(Command::AgentKey { target, key: AgentKey::Select(index as u8 + 1) }, "Select".into())
            }
            Some("waiting") => Step::Answer(invalid(session_id(p), format!("option {index} does not exist (0 to 8)"))),
            _ => for_state("Select"),
        },
    }
}

/// Carry out one message; what to send back (state answers, errors), and whether to watch.
async fn handle(ctx: &WebCtx, id: &str, msg: Incoming) -> (Option<Outgoing>, Option<String>) {
    let overview = ctx.overview.borrow().clone();
    match plan(&overview, id, msg) {
        Step::Answer(out) => (Some(out), None),
        Step::Watch(out) => (Some(out), find(&overview, id).map(|p| p.id.clone())),
        Step::Run(command, what) => {
            let sid = find(&overview, id).map(session_id).unwrap_or_else(|| id.to_string());
            match ctx.call(command).await {
                Ok(crate::protocol::Reply::Created { pane, .. }) => {
                    // The new pane's state as soon as the overview has it.
                    let mut rx = ctx.overview.clone();
                    let found = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                        loop {
                            if let Some(p) = by_pane_id(&rx.borrow_and_update(), &pane) {
                                return Some(state_message(p));
                            }
                            rx.changed().await.ok()?;
                        }
                    })
                    .await
                    .ok()
                    .flatten();
                    (found, Some(pane))
                }
                // What was typed is seen echoed: the socket follows the pane from now on.
                Ok(_) => (None, find(&overview, id).map(|p| p.id.clone())),
                Err(e) if matches!(e.code.as_str(), "agent_busy" | "not_an_agent" | "agent_exited") => {
                    let state = find(&overview, id).map(state_name).unwrap_or("idle");
                    let error = Failure::InvalidInputForState { error_state: state.into(), error_input: what };
                    (Some(Outgoing::Error { session_id: sid, error }), None)
                }
                Err(e) => {
                    let error = Failure::InternalError { error_message: e.message };
                    (Some(Outgoing::Error { session_id: sid, error }), None)
                }
            }
        }
    }
}

pub async fn socket(
    State(ctx): State<Arc<WebCtx>>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // The session it was opened with: checked again while it lasts (a revoke ends it).
    let session = super::cookie(&headers, &ctx.cookie).unwrap_or_default().to_string();
    ws.max_message_size(super::MAX_BODY).on_upgrade(move |socket| serve(ctx, id, session, socket))
}

/// How often an open socket's session is checked again.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Resolves when the endpoint stops (its overview's sender is dropped).
async fn stopped(mut overview: tokio::sync::watch::Receiver<Arc<Vec<SessionInfo>>>) {
    while overview.changed().await.is_ok() {}
}

async fn serve(ctx: Arc<WebCtx>, id: String, session: String, socket: WebSocket) {
    use futures::{SinkExt, StreamExt};
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = Out::channel();
    let writer = tokio::spawn(async move {
        while let Some(text) = out_rx.recv().await {
            if sink.send(Message::Text(text)).await.is_err() {
                break;
            }
        }
    });
    let mut viewer: Option<tokio::task::JoinHandle<()>> = None;
    let stop = stopped(ctx.overview.clone());
    tokio::pin!(stop);
    let mut recheck = tokio::time::interval(RECHECK);
    loop {
        let frame = tokio::select! {
            frame = stream.next() => frame,
            _ = &mut stop => break,
            _ = recheck.tick() => {
                if crate::pane::engine::lock(&ctx.auth).check(&session, std::time::Instant::now()).is_none() {
                    break;
                }
                continue;
            }
        };
        let Some(Ok(frame)) = frame else { break };
        let msg = match frame {
            Message::Text(text) => match serde_json::from_str::<Incoming>(&text) {
                Ok(msg) => msg,
                Err(_) => {
                    let _ = out_tx.send(&invalid(String::new(), "Failed to parse input message")).await;
                    continue;
                }
            },
            Message::Binary(bytes) => Incoming::BytesInput { input: bytes.to_vec() },
            Message::Close(_) => break,
            _ => continue,
        };
        let (answer, watch) = handle(&ctx, &id, msg).await;
        if let Some(answer) = answer {
            if !out_tx.send(&answer).await {
                break;
            }
        }
        if let (Some(pane), None) = (watch, &viewer) {
            viewer = Some(tokio::spawn(view(ctx.clone(), pane, out_tx.clone())));
        }
    }
    if let Some(viewer) = viewer {
        viewer.abort();
    }
    drop(out_tx);
    let _ = writer.await;
}

/// `POST /api/{id}/input`: one message, as on the socket; the answer is the first message it
/// brings (its state, or an error), or for typed input the state it leads to.
pub async fn http_input(
    State(ctx): State<Arc<WebCtx>>,
    Path(id): Path<String>,
    body: Result<Json<Incoming>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(msg)) = body else {
        return Json(invalid(String::new(), "Failed to parse input message")).into_response();
    };
    let mut overview = ctx.overview.clone();
    let before = {
        let o = overview.borrow_and_update();
        find(&o, &id).map(state_message)
    };
    let (answer, _) = handle(&ctx, &id, msg).await;
    if let Some(answer) = answer {
        return Json(answer).into_response();
    }
    // Typed into the pane: the state that follows (or, after a while, the one it is in).
    let next = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            overview.changed().await.ok()?;
            let now = find(&overview.borrow_and_update(), &id).map(state_message);
            if now != before {
                return now;
            }
        }
    })
    .await
    .ok()
    .flatten();
    let now = next.or_else(|| find(&ctx.overview.borrow(), &id).map(state_message));
    match now {
        Some(state) => Json(state).into_response(),
        None => Json(Outgoing::Error { session_id: id, error: Failure::SessionNotFound }).into_response(),
    }
}
