//! `POST /delegation` (Auth0's legacy endpoint, seeds 000 and 001): form or JSON, answers JSON
//! `{id_token, token_type, expires_in}` or an RFC 6749 §5.2 error, always with no-store.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::AppState;
use super::error::{TokenError, no_store};
use super::extract::{ClientIp, basic_credentials, body_params, request_context};

pub fn router() -> Router<AppState> {
    Router::new().route("/delegation", post(delegation_post))
}

async fn delegation_post(
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
    let ctx = request_context(ip, &headers);
    match state.engine.delegation(basic, params, &ctx).await {
        Ok(answer) => (no_store(), Json(answer)).into_response(),
        Err(e) => TokenError::new(e, tried_basic).into_response(),
    }
}
