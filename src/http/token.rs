//! `POST /oauth/token` (RFC 6749 §3.2): parse, hand to the engine, answer JSON with no-store.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::AppState;
use super::error::{TokenError, no_store};
use super::extract::{ClientIp, OAuthRequest};

pub fn router() -> Router<AppState> {
    Router::new().route("/oauth/token", post(token_post))
}

async fn token_post(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = match OAuthRequest::parse(ip, &headers, &body) {
        Ok(req) => req,
        Err(e) => return e.into_response(),
    };
    let tried_basic = req.tried_basic();
    match state.engine.token(req.basic, req.params, &req.ctx).await {
        Ok(answer) => (no_store(), Json(answer)).into_response(),
        Err(e) => TokenError::new(e, tried_basic).into_response(),
    }
}
