//! `POST /oauth/token` (RFC 6749 §3.2): parse, hand to the engine, answer JSON with no-store.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::AppState;
use super::error::{TokenError, no_store};
use super::extract::{ClientIp, basic_credentials, body_params};
use crate::grants::refresh_token::RequestContext;

pub fn router() -> Router<AppState> {
    Router::new().route("/oauth/token", post(token_post))
}

async fn token_post(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let basic = match basic_credentials(&headers) {
        Ok(basic) => basic,
        Err(e) => return TokenError::new(e, true).into_response(),
    };
    let tried_basic = basic.is_some();
    let params = match body_params(&headers, &body) {
        Ok(params) => params,
        Err(e) => return TokenError::new(e, tried_basic).into_response(),
    };
    let ctx = RequestContext {
        ip: ip.0,
        user_agent: headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
    };
    match state.engine.token(basic, params, &ctx).await {
        Ok(answer) => (no_store(), Json(answer)).into_response(),
        Err(e) => TokenError::new(e, tried_basic).into_response(),
    }
}
