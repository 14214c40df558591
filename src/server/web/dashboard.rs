//! The bridge, read-only, for the page: every session, channel and message (`/api/bridge`),
//! one message with its thread (`/api/bridge/messages/{id}`). Asked of the bridge thread as
//! the user, as the TUI's inbox asks; reading here marks nothing read.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::WebCtx;
use crate::protocol::{BridgeOp, Error};

#[derive(serde::Deserialize)]
pub struct Limit {
    limit: Option<u32>,
}

/// How many messages the dashboard lists unless asked.
const DEFAULT_LIMIT: u32 = 50;

pub async fn dashboard(State(ctx): State<Arc<WebCtx>>, Query(q): Query<Limit>) -> Response {
    answer(ctx.bridge(BridgeOp::Dashboard { limit: q.limit.unwrap_or(DEFAULT_LIMIT) }).await)
}

pub async fn message(State(ctx): State<Arc<WebCtx>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return answer(Err(Error::new(
            "bad_id",
            format!("{id:?} is not a message id"),
            "use a number from /api/bridge",
        )));
    };
    answer(ctx.bridge(BridgeOp::Peek { id }).await)
}

fn answer(result: Result<serde_json::Value, Error>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(e) => {
            let status = match e.code.as_str() {
                "unknown_message" => StatusCode::NOT_FOUND,
                "bad_id" => StatusCode::BAD_REQUEST,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            let body = serde_json::json!({ "error": e.code, "message": e.message, "next": e.next });
            (status, Json(body)).into_response()
        }
    }
}
