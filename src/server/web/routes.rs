//! The endpoint's routes and the checks in front of them: the Host a request names (DNS
//! rebinding), the Origin a browser sends (a page of another site), the session cookie. Only
//! `/login` answers without a session, and it takes nothing but a one-time token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};

use super::auth::Refused;
use super::tls::Tls;
use super::{assets, cookie, dashboard, echokit, WebCtx, MAX_BODY};
use crate::pane::engine::lock;
use crate::protocol::SessionInfo;
use crate::relay::serve::LocalAddr;

pub fn router(ctx: Arc<WebCtx>) -> Router {
    let authed = Router::new()
        .route("/", get(assets::index))
        .route("/assets/{name}", get(assets::asset))
        .route("/api/panes", get(panes))
        .route("/api/events", get(events))
        .route("/api/bridge", get(dashboard::dashboard))
        .route("/api/bridge/messages/{id}", get(dashboard::message))
        .route("/ws/{id}", any(echokit::socket))
        .route("/api/{id}/input", post(echokit::http_input))
        .layer(middleware::from_fn_with_state(ctx.clone(), require_session));
    Router::new()
        .route("/login", get(login))
        .merge(authed)
        .layer(middleware::from_fn_with_state(ctx.clone(), check_host_and_origin))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(ctx)
}

/// A refusal as JSON: what is wrong and what to do.
pub fn refusal(status: StatusCode, code: &str, next: &str) -> Response {
    let body = serde_json::json!({ "error": code, "next": next });
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

async fn check_host_and_origin(State(ctx): State<Arc<WebCtx>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let local = req.extensions().get::<LocalAddr>().map(|l| l.0);
    if !local.is_some_and(|local| host_allowed(host, local, ctx.tls.as_deref())) {
        return refusal(StatusCode::MISDIRECTED_REQUEST, "unknown_host", "open the address sbx web printed");
    }
    // A browser names the page a request comes from; one of another site is refused (a
    // WebSocket is not bound by the same-origin rule, and its cookie would go with it).
    if let Some(origin) = headers.get(header::ORIGIN) {
        let scheme = if ctx.tls.is_some() { "https" } else { "http" };
        if origin.as_bytes() != format!("{scheme}://{host}").as_bytes() {
            return refusal(StatusCode::FORBIDDEN, "foreign_origin", "use the page sbx web serves");
        }
    }
    let tls = ctx.tls.is_some();
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if tls {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    response
}

/// Whether a request's Host names this endpoint: the port it listens on, and an IP address
/// the connection came in on, `localhost` on loopback, or a name its certificate is for. Any
/// other name may be an attacker's, resolving to us (DNS rebinding) — refused.
pub fn host_allowed(host: &str, local: SocketAddr, tls: Option<&Tls>) -> bool {
    let Ok(authority) = host.parse::<axum::http::uri::Authority>() else { return false };
    let default_port = if tls.is_some() { 443 } else { 80 };
    if authority.port_u16().unwrap_or(default_port) != local.port() {
        return false;
    }
    let name = authority.host().trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = name.parse::<std::net::IpAddr>() {
        return ip.to_canonical() == local.ip().to_canonical();
    }
    (name.eq_ignore_ascii_case("localhost") && local.ip().to_canonical().is_loopback())
        || tls.is_some_and(|t| t.serves_name(name))
}

async fn require_session(State(ctx): State<Arc<WebCtx>>, req: Request, next: Next) -> Response {
    let known = cookie(req.headers(), &ctx.cookie).is_some_and(|c| lock(&ctx.auth).check(c, Instant::now()).is_some());
    if !known {
        return refusal(StatusCode::UNAUTHORIZED, "not_logged_in", "open the link `sbx web` prints (it works once)");
    }
    next.run(req).await
}

async fn login(
    State(ctx): State<Arc<WebCtx>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let Some(token) = query.get("token") else {
        return refusal(StatusCode::UNAUTHORIZED, "no_token", "open the link `sbx web` prints");
    };
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let outcome = lock(&ctx.auth).login(token, peer.ip(), agent, Instant::now());
    match outcome {
        Ok(secret) => {
            let secure = if ctx.tls.is_some() { "; Secure" } else { "" };
            let cookie = format!("{}={secret}; HttpOnly; SameSite=Strict; Path=/{secure}", ctx.cookie);
            let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                headers.insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(Refused::Braked) => {
            tracing::warn!("web: logins from {} braked: too many failures this minute", peer.ip());
            refusal(StatusCode::TOO_MANY_REQUESTS, "too_many_logins", "wait a minute, then open a new link: sbx web")
        }
        Err(Refused::Unknown) => {
            tracing::info!("web: a login from {} with a token that is not (or no longer) valid", peer.ip());
            refusal(StatusCode::UNAUTHORIZED, "bad_token", "links work once and expire: get a new one with sbx web")
        }
    }
}

/// Sessions, tabs, panes and agent states: what `sbx ls --json` shows.
async fn panes(State(ctx): State<Arc<WebCtx>>) -> Response {
    let overview = ctx.overview.borrow().clone();
    Json(&*overview).into_response()
}

/// What changed, as server-sent events: `overview` first, then `pane_created`, `pane_exited`
/// and `agent_state` as they happen (each with the pane as `sbx ls --json` shows it), and
/// `bridge` when messages, reads or channels changed (fetch `/api/bridge` again).
async fn events(State(ctx): State<Arc<WebCtx>>) -> impl IntoResponse {
    let bridge = futures::stream::unfold(ctx.bridge_changes.clone(), |mut rx| async move {
        rx.changed().await.ok()?;
        let n = *rx.borrow_and_update();
        Some((vec![Event::default().event("bridge").data(n.to_string())], rx))
    });
    let mut overview = ctx.overview.clone();
    let first = overview.borrow_and_update().clone();
    let start = Event::default().event("overview").json_data(&*first).ok();
    let stream = futures::stream::unfold((overview, first, start), |(mut rx, last, pending)| async move {
        if let Some(event) = pending {
            return Some((vec![event], (rx, last, None)));
        }
        rx.changed().await.ok()?;
        let now = rx.borrow_and_update().clone();
        let events = changes(&last, &now);
        Some((events, (rx, now, None)))
    });
    let stream = futures::stream::select(stream, bridge);
    let stream = futures::StreamExt::flat_map(stream, |events| {
        futures::stream::iter(events.into_iter().map(Ok::<_, std::convert::Infallible>))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// The events between two overviews.
fn changes(before: &[SessionInfo], after: &[SessionInfo]) -> Vec<Event> {
    let panes = |o: &[SessionInfo]| -> std::collections::BTreeMap<String, serde_json::Value> {
        o.iter()
            .flat_map(|s| &s.tabs)
            .flat_map(|t| &t.panes)
            .filter_map(|p| serde_json::to_value(p).ok().map(|v| (p.id.clone(), v)))
            .collect()
    };
    let (old, new) = (panes(before), panes(after));
    let mut out = Vec::new();
    for (id, pane) in &new {
        let event = match old.get(id) {
            None => Some("pane_created"),
            Some(was) if was["alive"] == true && pane["alive"] == false => Some("pane_exited"),
            Some(was) if was["agent"] != pane["agent"] => Some("agent_state"),
            _ => None,
        };
        out.extend(event.and_then(|name| Event::default().event(name).json_data(pane).ok()));
    }
    for (id, pane) in &old {
        if !new.contains_key(id) && pane["alive"] == true {
            out.extend(Event::default().event("pane_exited").json_data(pane).ok());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::host_allowed;

    #[test]
    fn a_host_is_taken_only_if_it_names_this_endpoint() {
        let lo = "127.0.0.1:7681".parse().unwrap();
        assert!(host_allowed("127.0.0.1:7681", lo, None));
        assert!(host_allowed("localhost:7681", lo, None));
        assert!(host_allowed("LOCALHOST:7681", lo, None));
        assert!(!host_allowed("127.0.0.1:7682", lo, None), "another port");
        assert!(!host_allowed("127.0.0.1", lo, None), "port 80 implied");
        assert!(!host_allowed("evil.example:7681", lo, None), "a rebinding name");
        assert!(!host_allowed("10.0.0.1:7681", lo, None), "an address it did not come in on");
        assert!(!host_allowed("", lo, None));
        assert!(!host_allowed("127.0.0.1:7681/x", lo, None));
        let v6 = "[::1]:7681".parse().unwrap();
        assert!(host_allowed("[::1]:7681", v6, None));
        assert!(host_allowed("localhost:7681", v6, None));
        // Bound to every interface: a connection on the LAN address, by its address.
        let lan = "192.168.1.5:7681".parse().unwrap();
        assert!(host_allowed("192.168.1.5:7681", lan, None));
        assert!(!host_allowed("localhost:7681", lan, None), "localhost is not the LAN address");
        let mapped = "[::ffff:192.168.1.5]:7681".parse().unwrap();
        assert!(host_allowed("192.168.1.5:7681", mapped, None), "a dual-stack socket's mapped address");
    }
}
