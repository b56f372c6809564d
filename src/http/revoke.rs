//! `POST /oauth/revoke` (RFC 7009 §2): 200 with an empty body when the token was revoked, is
//! unknown or belongs to another client; 400 `invalid_request`; 401 `invalid_client`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::AppState;
use super::error::{TokenError, no_store};
use super::extract::{ClientIp, OAuthRequest};

pub fn router() -> Router<AppState> {
    Router::new().route("/oauth/revoke", post(revoke_post))
}

async fn revoke_post(
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
    match state.engine.revoke(req.basic, req.params, &req.ctx).await {
        Ok(()) => (StatusCode::OK, no_store()).into_response(),
        Err(e) => TokenError::new(e, tried_basic).into_response(),
    }
}
