//! The web view's files, built into the binary (no CDN, nothing read from disk at run time):
//! the page, its script and style, and xterm.js vendored from the npm registry
//! (assets/web/vendor/SOURCES.md).

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../../../assets/web/index.html");

/// Scripts only from this endpoint; xterm.js sets styles inline, so styles may be inline.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn file(name: &str) -> Option<(&'static str, &'static [u8])> {
    Some(match name {
        "app.js" => ("text/javascript; charset=utf-8", include_bytes!("../../../assets/web/app.js")),
        "app.css" => ("text/css; charset=utf-8", include_bytes!("../../../assets/web/app.css")),
        "xterm.js" => ("text/javascript; charset=utf-8", include_bytes!("../../../assets/web/vendor/xterm.js")),
        "xterm.css" => ("text/css; charset=utf-8", include_bytes!("../../../assets/web/vendor/xterm.css")),
        "LICENSE-xterm" => ("text/plain; charset=utf-8", include_bytes!("../../../assets/web/vendor/LICENSE-xterm")),
        _ => return None,
    })
}

pub async fn index() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CONTENT_SECURITY_POLICY, POLICY)], INDEX)
        .into_response()
}

pub async fn asset(Path(name): Path<String>) -> Response {
    match file(&name) {
        Some((kind, body)) => {
            ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")], body).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
