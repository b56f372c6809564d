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
use super::extract::{ClientIp, basic_credentials, body_params};
use crate::grants::refresh_token::RequestContext;

pub fn router() -> Router<AppState> {
    Router::new().route("/oauth/revoke", post(revoke_post))
}

async fn revoke_post(
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
    match state.engine.revoke(basic, params, &ctx).await {
        Ok(()) => (StatusCode::OK, no_store()).into_response(),
        Err(e) => TokenError::new(e, tried_basic).into_response(),
    }
}
